//! Plans: the committed examples plan within their dock's limits; every mistake is refused
//! with the file, the key and the value.

use std::path::{Path, PathBuf};

use argus_flightplan::coverage::{covered_share, footprint};
use argus_flightplan::dock::Docks;
use argus_flightplan::mission::Action;
use argus_flightplan::plan::{Plan, load_dir};
use geo::{BooleanOps, Coord, MultiPolygon};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn docks() -> Docks {
    Docks::load(&root().join("docks.toml")).unwrap()
}

#[test]
fn the_example_plans_fly_within_their_docks_limits() {
    let docks = docks();
    let plans = load_dir(&root().join("plans"), &docks).unwrap();
    let kinds: Vec<String> = plans.iter().map(|p| format!("{:?}", p.file.kind)).collect();
    for k in ["Area", "Corridor", "Points"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} plan: {kinds:?}");
    }
    for p in &plans {
        let missions = p.missions().unwrap();
        assert_eq!(missions.len(), 1, "{}", p.file.id);
        let m = &missions[0];
        let c = m.cost();
        assert!(c.duration_s <= p.dock.max_flight_s && c.range_m <= p.dock.max_range_m);
        // From the dock and back to it.
        for w in [&m.waypoints[0], m.waypoints.last().unwrap()] {
            assert!((w.lat - p.dock.lat).abs() < 1e-9 && (w.lon - p.dock.lon).abs() < 1e-9);
        }
        assert!(p.schedule.is_some(), "{} has no schedule", p.file.id);
    }
    // Points are looked at from close by: down, gimbal, hover, up.
    let points = plans
        .iter()
        .find(|p| p.file.id == "tidal-zones-points")
        .unwrap();
    let m = &points.missions().unwrap()[0];
    let hovers = m
        .waypoints
        .iter()
        .filter(|w| {
            w.actions
                .iter()
                .any(|a| matches!(a, Action::Hover { seconds } if *seconds == 15.0))
        })
        .count();
    assert_eq!(hovers, 2);
}

fn plan_text(body: &str) -> String {
    format!(
        "schema = \"argus.plan/1\"\nid = \"t\"\ndock = \"dock-1\"\nkind = \"area\"\n{body}\n[camera]\npreset = \"sim-1080p\"\n"
    )
}

const SQUARE: &str = "[geometry]\npolygon = [[30.700, 121.020], [30.700, 121.024], [30.703, 121.024], [30.703, 121.020]]\n";

fn refused(text: &str) -> String {
    Plan::parse(text, &root().join("plans/t.toml"), &docks())
        .map(|_| String::new())
        .unwrap_or_else(|e| e)
}

#[test]
fn mistakes_are_named_with_key_and_value() {
    let ok = plan_text(SQUARE);
    assert_eq!(refused(&ok), "");
    for (text, says) in [
        (
            ok.replace("kind = \"area\"", "kind = \"area\"\nsplitt = true"),
            "unknown field `splitt`",
        ),
        (ok.replace("dock-1", "dock-9"), "dock \"dock-9\" is not in"),
        (
            ok.replace("[camera]", "[flight]\naltitude_m = 130\n[camera]"),
            "flight.altitude_m = 130 is outside (2, 120]",
        ),
        (
            ok.replace("[camera]", "[flight]\naltitude_m = 2\n[camera]"),
            "flight.altitude_m = 2",
        ),
        (
            plan_text("[geometry]\npolygon = [[30.70, 121.02], [30.70, 121.03]]\n"),
            "geometry.polygon: an area needs at least 3 points, not 2",
        ),
        (
            plan_text(
                "[geometry]\npolygon = [[121.02, 30.70], [121.03, 30.70], [121.03, 30.71]]\n",
            ),
            "geometry.polygon[0] = [121.02, 30.7] is not a latitude, longitude (swapped?",
        ),
        (
            plan_text(
                "[geometry]\npolygon = [[30.700, 121.020], [30.703, 121.024], [30.700, 121.024], [30.703, 121.020]]\n",
            ),
            "self-intersecting",
        ),
        (
            format!("{ok}[schedule]\ncron = \"0 8 * * *\"\ntimezone = \"Asia/Shangai\"\n"),
            "schedule.timezone: \"Asia/Shangai\" is not an IANA time zone",
        ),
        (
            format!("{ok}[schedule]\ncron = \"61 8 * * *\"\n"),
            "schedule.cron: \"61 8 * * *\" does not parse",
        ),
        (
            format!("{ok}[schedule]\ncron = \"0 8 * * *\\n\"\n"),
            "it holds a control character",
        ),
        (
            format!("{ok}[flight]\nangle_deg = 1e308\n"),
            "angle_deg 100000000",
        ),
        (
            plan_text(
                "[geometry]\npolygon = [[30.700, 121.020], [30.700, 121.024, 5.0], [30.703, 121.024]]\n",
            ),
            "point 1 has 3 numbers; a point is [lat, lon]",
        ),
        (
            ok.replace("preset = \"sim-1080p\"", "preset = \"gopro\""),
            "camera.preset: \"gopro\" is not a camera preset",
        ),
    ] {
        let e = refused(&text);
        assert!(e.contains(says), "expected {says:?} in {e:?}");
    }
}

#[test]
fn a_geojson_feature_is_found_or_the_present_ones_listed() {
    let dir = tempfile::tempdir().unwrap();
    let gj = r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"id":"U01"},"geometry":{"type":"Polygon","coordinates":[[[121.02,30.70],[121.024,30.70],[121.024,30.703],[121.02,30.703],[121.02,30.70]]]}},
        {"type":"Feature","id":"U02","properties":{},"geometry":{"type":"Polygon","coordinates":[[[121.02,30.70],[121.021,30.70],[121.021,30.701],[121.02,30.70]]]}}]}"#;
    std::fs::write(dir.path().join("d.geojson"), gj).unwrap();
    let plan_at = |feature: &str| {
        let text = plan_text(&format!(
            "[geometry]\ngeojson = \"d.geojson\"\nfeature = \"{feature}\"\n"
        ));
        Plan::parse(&text, &dir.path().join("p.toml"), &docks())
    };
    let p = plan_at("U01").unwrap();
    assert_eq!(p.shape.len(), 4);
    assert!((p.shape[0][0] - 30.70).abs() < 1e-12 && (p.shape[0][1] - 121.02).abs() < 1e-12);
    assert!(plan_at("U02").is_ok());
    let e = plan_at("J3").unwrap_err();
    assert!(
        e.contains("\"J3\" is not in") && e.contains("U01, U02"),
        "{e}"
    );
}

#[test]
fn two_plans_with_one_id_are_refused_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), plan_text(SQUARE)).unwrap();
    std::fs::write(dir.path().join("b.toml"), plan_text(SQUARE)).unwrap();
    let e = load_dir(dir.path(), &docks()).unwrap_err().to_string();
    assert!(e.contains("b.toml") && e.contains("a.toml"), "{e}");
}

#[test]
fn a_plan_over_its_limits_is_refused_or_split_into_sorties_that_keep_them() {
    // A 1.6 × 1.4 km block: about 30 minutes of flying, over the dock's 25.
    let big = "[geometry]\npolygon = [[30.693, 121.012], [30.693, 121.028], [30.7055, 121.028], [30.7055, 121.012]]\n";
    let text = plan_text(big);
    let docks = docks();
    let plan = Plan::parse(&text, &root().join("plans/t.toml"), &docks).unwrap();
    let e = plan.missions().unwrap_err().to_string();
    assert!(
        e.contains("over dock-1's max_flight_s of 1500 s") && e.contains("split = true"),
        "{e}"
    );
    let split = Plan::parse(
        &text.replace("kind = \"area\"", "kind = \"area\"\nsplit = true"),
        &root().join("plans/t.toml"),
        &docks,
    )
    .unwrap();
    let sorties = split.missions().unwrap();
    assert!(sorties.len() >= 2, "{}", sorties.len());
    // Each keeps the limits; together they cover the block.
    let frame = split.frame();
    let f = &split.file.flight;
    let mut cover = MultiPolygon::new(vec![]);
    for m in &sorties {
        let c = m.cost();
        assert!(c.duration_s <= 1500.0 && c.range_m <= 3000.0, "{c:?}");
        // The work: every waypoint but take-off and return, at the working height.
        let path: Vec<Coord> = m.waypoints[1..m.waypoints.len() - 1]
            .iter()
            .map(|w| {
                let (x, y) = frame.geo_to_ground(w.point());
                Coord { x, y }
            })
            .collect();
        // Camera on along the transects only (pairs of waypoints).
        for leg in path.chunks(2) {
            cover = cover.union(&footprint(
                leg,
                split.camera.swath_m(f.altitude_m),
                split.camera.frontal_m(f.altitude_m),
            ));
        }
    }
    let share = covered_share(&split.local_polygon(), &cover);
    assert!(share >= 0.99, "{share}");
    // Out of range is refused whatever split says.
    let far =
        plan_text("[geometry]\npolygon = [[30.75, 121.02], [30.75, 121.024], [30.753, 121.024]]\n")
            .replace("kind = \"area\"", "kind = \"area\"\nsplit = true");
    let e = Plan::parse(&far, &root().join("plans/t.toml"), &docks)
        .unwrap()
        .missions()
        .unwrap_err()
        .to_string();
    assert!(e.contains("beyond its max_range_m of 3000 m"), "{e}");
}

#[test]
fn a_spiky_star_is_planned_without_a_panic() {
    // 1,000 spikes 900 m long around a 50 m core: fragments shorter than the minimum one,
    // whose inset ends once rounded past each other (a clamp with min > max).
    let n = 2000;
    let pts: Vec<String> = (0..n)
        .map(|i| {
            let r = if i % 2 == 1 { 0.008 } else { 0.0005 };
            let a = std::f64::consts::TAU * f64::from(i) / f64::from(n);
            format!("[{:.9}, {:.9}]", 30.70 + r * a.sin(), 121.02 + r * a.cos())
        })
        .collect();
    let text = plan_text(&format!("[geometry]\npolygon = [{}]\n", pts.join(", ")))
        .replace("kind = \"area\"", "kind = \"area\"\nsplit = true");
    let plan = Plan::parse(&text, &root().join("plans/t.toml"), &docks()).unwrap();
    assert!(!plan.missions().unwrap().is_empty());
}

#[test]
fn every_split_sortie_keeps_the_flight_time_or_the_plan_is_refused() {
    // U03 under a dock allowed 150 s: its later lines, farther from the dock, each take
    // longer than that alone (they were once flown as sorties of their own, over the limit).
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("docks.toml"))
        .unwrap()
        .replace("max_flight_s = 1500", "max_flight_s = 150");
    let short = Docks::parse(&text, &dir.path().join("docks.toml")).unwrap();
    let plan = std::fs::read_to_string(root().join("plans/u03-area.toml"))
        .unwrap()
        .replace("kind = \"area\"", "kind = \"area\"\nsplit = true");
    let p = Plan::parse(&plan, &dir.path().join("u03.toml"), &short).unwrap();
    match p.missions() {
        Ok(sorties) => {
            for m in &sorties {
                assert!(m.cost().duration_s <= 150.0, "{:?}", m.cost());
            }
        }
        Err(e) => assert!(
            e.to_string().contains("one leg alone takes 1")
                && e.to_string().contains("max_flight_s of 150 s"),
            "{e}"
        ),
    }
}

#[test]
fn an_area_beyond_the_docks_range_is_refused_before_it_is_swept() {
    use argus_flightplan::camera::CameraSpec;
    use argus_flightplan::dock::Dock;
    use argus_flightplan::plan::{FlightSpec, GeometrySpec, Kind};
    // A continent from a dock reaching 100 km, at 500 m: 4,800 lines 3,000 km long, whose
    // fill once took the sweep hours before the range was even looked at.
    let started = std::time::Instant::now();
    let plan = Plan::adhoc(
        Kind::Area,
        GeometrySpec {
            polygon: Some(vec![
                [20.0, 100.0],
                [20.0, 130.0],
                [45.0, 130.0],
                [45.0, 100.0],
            ]),
            ..GeometrySpec::default()
        },
        CameraSpec {
            preset: Some("sim-1080p".into()),
            ..CameraSpec::default()
        },
        FlightSpec {
            altitude_m: 500.0,
            ..FlightSpec::default()
        },
        Dock::unlimited(20.0, 100.0),
    )
    .unwrap();
    let e = plan.missions().unwrap_err().to_string();
    assert!(
        e.contains("the area reaches") && e.contains("beyond its max_range_m of 100000 m"),
        "{e}"
    );
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[test]
fn hostile_shapes_and_geojson_files_are_refused_by_name() {
    // More points than a plan may have.
    let many: Vec<String> = (0..10_001)
        .map(|i| {
            let a = std::f64::consts::TAU * f64::from(i) / 10_001.0;
            format!(
                "[{:.9}, {:.9}]",
                30.70 + 0.005 * a.sin(),
                121.02 + 0.005 * a.cos()
            )
        })
        .collect();
    let e = refused(&plan_text(&format!(
        "[geometry]\npolygon = [{}]\n",
        many.join(", ")
    )));
    assert!(
        e.contains("geometry.polygon: 10001 points, over the 10000"),
        "{e}"
    );
    // A feature id with control characters is listed escaped.
    let dir = tempfile::tempdir().unwrap();
    let gj = r#"{"type":"FeatureCollection","features":[{"type":"Feature","id":"X\u001b[31m","properties":{},"geometry":null}]}"#;
    std::fs::write(dir.path().join("d.geojson"), gj).unwrap();
    let text = plan_text("[geometry]\ngeojson = \"d.geojson\"\nfeature = \"J3\"\n");
    let e = Plan::parse(&text, &dir.path().join("p.toml"), &docks()).unwrap_err();
    assert!(e.contains("X\\u{1b}[31m") && !e.contains('\u{1b}'), "{e}");
    // A GeoJSON file over the size limit is not read.
    let big = std::fs::File::create(dir.path().join("big.geojson")).unwrap();
    big.set_len(argus_flightplan::formats::MAX_FILE + 1)
        .unwrap();
    let text = plan_text("[geometry]\ngeojson = \"big.geojson\"\nfeature = \"J3\"\n");
    let e = Plan::parse(&text, &dir.path().join("p.toml"), &docks()).unwrap_err();
    assert!(e.contains("big.geojson") && e.contains("over the"), "{e}");
}
