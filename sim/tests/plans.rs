//! Flight plans over the simulator's districts: the committed example plans still match the
//! default district, every jurisdiction of five districts is covered, and `sim flight --route`
//! flies the files other software wrote, through every waypoint.

use std::path::{Path, PathBuf};
use std::process::Command;

use argus_core::geodesy::{GeoPoint, LocalFrame, haversine_m};
use argus_core::map::Map;
use argus_flightplan::camera::CameraSpec;
use argus_flightplan::coverage::sweep;
use argus_flightplan::dock::{Dock, Docks};
use argus_flightplan::formats::{read_file, write_file};
use argus_flightplan::plan::{FlightSpec, GeometrySpec, Kind, Plan, load_dir};
use argus_sim::district::District;
use argus_sim::district::generate::{DistrictOptions, generate};
use chrono::{TimeZone, Timelike, Utc};
use geo::{Area, ConvexHull};

fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../flight-plans")
}

fn district(seed: u64) -> District {
    generate(&DistrictOptions {
        seed,
        ..DistrictOptions::default()
    })
    .unwrap()
}

fn geo_ring(d: &District, ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let f = d.frame();
    ring.iter()
        .map(|p| {
            let g = f.ground_to_geo(p[0], p[1]);
            [g.lat, g.lon]
        })
        .collect()
}

fn map_of(d: &District) -> Map {
    let dir = tempfile::tempdir().unwrap();
    let p = argus_sim::district::geojson::write(d, dir.path()).unwrap();
    Map::from_geojson(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn the_example_plans_still_match_the_default_district() {
    let d = district(1);
    let map = map_of(&d);
    let docks = Docks::load(&plans_dir().join("docks.toml")).unwrap();
    let plans = load_dir(&plans_dir().join("plans"), &docks).unwrap();
    // The dock stands at the district's centre.
    let dock = docks.get("dock-1").unwrap();
    assert!(
        (dock.lat - d.frame().origin().lat).abs() < 1e-9
            && (dock.lon - d.frame().origin().lon).abs() < 1e-9
    );
    let close = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6;
    for p in &plans {
        match p.file.kind {
            // A jurisdiction's outline, corner by corner.
            Kind::Area => {
                let j = d
                    .jurisdictions
                    .iter()
                    .find(|j| {
                        let ring = geo_ring(&d, &j.ring);
                        ring.len() == p.shape.len()
                            && ring.iter().zip(&p.shape).all(|(a, b)| close(*a, *b))
                    })
                    .unwrap_or_else(|| panic!("{}: no jurisdiction has this outline", p.file.id));
                eprintln!("{}: jurisdiction {}", p.file.id, j.id);
            }
            // A street: every metre of the line on a carriageway (its ends are the carriageway's
            // ends, so they are checked a metre in).
            Kind::Corridor => {
                let frame = map.frame();
                let (a, b) = (p.shape[0], p.shape[p.shape.len() - 1]);
                let (pa, pb) = (
                    frame.geo_to_ground(GeoPoint {
                        lat: a[0],
                        lon: a[1],
                    }),
                    frame.geo_to_ground(GeoPoint {
                        lat: b[0],
                        lon: b[1],
                    }),
                );
                let len = (pb.0 - pa.0).hypot(pb.1 - pa.1);
                for k in 1..len as usize {
                    let f = k as f64 / len;
                    let at = [pa.0 + (pb.0 - pa.0) * f, pa.1 + (pb.1 - pa.1) * f];
                    assert!(
                        map.find("road", at).is_some(),
                        "{}: {at:?} is off the road",
                        p.file.id
                    );
                }
            }
            // The tidal vending zones' centres, flown while they are closed.
            Kind::Points => {
                let zones: Vec<_> = map
                    .areas()
                    .iter()
                    .filter(|a| a.layer == "vending_zone")
                    .filter(|z| {
                        let c = z.centroid();
                        let g = map.frame().ground_to_geo(c[0], c[1]);
                        p.shape.iter().any(|s| close(*s, [g.lat, g.lon]))
                    })
                    .collect();
                assert_eq!(
                    zones.len(),
                    p.shape.len(),
                    "{}: points off their zones",
                    p.file.id
                );
                let schedule = p.schedule.as_ref().unwrap();
                let from = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
                let runs = schedule.runs(from, from + chrono::Duration::days(14));
                assert!(runs.len() >= 14);
                for r in runs {
                    let local = r.with_timezone(&schedule.tz);
                    let minute = local.hour() * 60 + local.minute();
                    for z in &zones {
                        assert!(
                            !z.hours.is_empty() && !z.open_at(minute),
                            "{}: {local} is in {}'s open hours",
                            p.file.id,
                            z.id
                        );
                    }
                }
            }
        }
    }
}

fn area_plan(d: &District, ring: Vec<[f64; 2]>) -> Plan {
    let origin = d.frame().origin();
    Plan::adhoc(
        Kind::Area,
        GeometrySpec {
            polygon: Some(ring),
            ..GeometrySpec::default()
        },
        CameraSpec {
            preset: Some("sim-1080p".into()),
            ..CameraSpec::default()
        },
        FlightSpec::default(),
        Dock::unlimited(origin.lat, origin.lon),
    )
    .unwrap()
}

#[test]
fn every_jurisdiction_of_five_districts_is_covered() {
    for seed in 1..=5 {
        let d = district(seed);
        for j in &d.jurisdictions {
            let plan = area_plan(&d, geo_ring(&d, &j.ring));
            let missions = plan.missions().unwrap();
            let share = plan.coverage(&missions).unwrap();
            // The jurisdictions are convex: the path keeps within the bound.
            let area = plan.local_polygon();
            assert!(area.unsigned_area() / area.convex_hull().unsigned_area() > 0.999);
            let s = sweep(&area, &plan.sweep_options()).unwrap();
            let ratio = s.path_m()
                / (area.unsigned_area() / s.spacing_m + (s.lines as f64 - 1.0) * s.spacing_m);
            eprintln!(
                "seed {seed} {}: {:.2} % covered, path {ratio:.3} × the bound",
                j.id,
                share * 100.0
            );
            assert!(share >= 0.99, "seed {seed} {}: {share}", j.id);
            assert!(
                ratio <= 1.15,
                "seed {seed} {}: path {ratio} × the bound",
                j.id
            );
        }
    }
}

/// Each street of a district (its carriageway segments `{road}-{n}`): the centre line from end
/// to end, local metres.
fn streets(d: &District) -> Vec<(String, [f64; 2], [f64; 2])> {
    let mut ends: std::collections::BTreeMap<String, Vec<[f64; 2]>> = Default::default();
    for r in d.roads.iter().filter(|r| r.kind == "carriageway") {
        let Some((road, _)) = r.id.rsplit_once('-') else {
            continue;
        };
        // A rectangle's centre line joins the middles of its short sides.
        let c = &r.ring;
        let mid = |a: [f64; 2], b: [f64; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        let len = |a: [f64; 2], b: [f64; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        let (m0, m1) = if len(c[0], c[1]) < len(c[1], c[2]) {
            (mid(c[0], c[1]), mid(c[2], c[3]))
        } else {
            (mid(c[1], c[2]), mid(c[3], c[0]))
        };
        ends.entry(road.to_string()).or_default().extend([m0, m1]);
    }
    ends.into_iter()
        .map(|(road, pts)| {
            let mut best = (0.0, pts[0], pts[0]);
            for a in &pts {
                for b in &pts {
                    let l = (a[0] - b[0]).hypot(a[1] - b[1]);
                    if l > best.0 {
                        best = (l, *a, *b);
                    }
                }
            }
            (road, best.1, best.2)
        })
        .collect()
}

#[test]
fn a_60_m_corridor_along_each_street_is_covered() {
    let d = district(1);
    let frame = d.frame();
    let geo = |p: [f64; 2]| {
        let g = frame.ground_to_geo(p[0], p[1]);
        [g.lat, g.lon]
    };
    let all = streets(&d);
    assert!(all.len() >= 4, "{} streets", all.len());
    // At 80 m one pass sees the whole width; at 30 m it takes two.
    for ((road, a, b), altitude_m) in all.into_iter().flat_map(|s| [(s.clone(), 80.0), (s, 30.0)]) {
        let plan = Plan::adhoc(
            Kind::Corridor,
            GeometrySpec {
                line: Some(vec![geo(a), geo(b)]),
                width_m: Some(60.0),
                ..GeometrySpec::default()
            },
            CameraSpec {
                preset: Some("sim-1080p".into()),
                ..CameraSpec::default()
            },
            FlightSpec {
                altitude_m,
                ..FlightSpec::default()
            },
            Dock::unlimited(frame.origin().lat, frame.origin().lon),
        )
        .unwrap();
        let missions = plan.missions().unwrap();
        let share = plan.coverage(&missions).unwrap();
        // A straight street: two waypoints a pass, between take-off and return.
        let passes: usize = missions.iter().map(|m| (m.waypoints.len() - 2) / 2).sum();
        assert_eq!(
            passes,
            if altitude_m > 50.0 { 1 } else { 2 },
            "{road} at {altitude_m} m"
        );
        let length = (a[0] - b[0]).hypot(a[1] - b[1]);
        eprintln!(
            "{road} at {altitude_m} m: {length:.0} m, {passes} passes, {:.2} % of its 60 m corridor",
            share * 100.0
        );
        assert!(share >= 0.99, "{road} at {altitude_m} m: {share}");
    }
}

/// Runs `sim flight --route FILE` over the district in `dir`; returns the true camera
/// positions, local metres and height, one per frame.
fn fly(dir: &Path, route: &Path, fps: u32) -> Vec<(f64, f64, f64)> {
    let out = dir.join(format!(
        "flight-{}",
        route.extension().unwrap().to_string_lossy()
    ));
    let status = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "flight",
            "--no-video",
            "--size",
            "320x180",
            "--fps",
            &fps.to_string(),
            "--district",
        ])
        .arg(dir)
        .arg("--route")
        .arg(route)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let truth = argus_truth::read_jsonl(&out.join("truth.jsonl")).unwrap();
    let d = argus_sim::district::geojson::read(dir).unwrap();
    let frame = d.frame();
    truth
        .iter()
        .map(|t| {
            let (e, n) = frame.geo_to_ground(GeoPoint {
                lat: t.pose.lat,
                lon: t.pose.lon,
            });
            (e, n, t.pose.alt_m)
        })
        .collect()
}

/// How close the flight came to each waypoint of a mission file, metres (3D).
fn misses(dir: &Path, file: &Path, path: &[(f64, f64, f64)]) -> Vec<f64> {
    let m = read_file(file).unwrap();
    let d = argus_sim::district::geojson::read(dir).unwrap();
    let frame: &LocalFrame = &d.frame();
    m.waypoints
        .iter()
        .map(|w| {
            let (e, n) = frame.geo_to_ground(w.point());
            path.iter()
                .map(|&(x, y, h)| {
                    ((x - e).powi(2) + (y - n).powi(2) + (h - w.height_m).powi(2)).sqrt()
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

#[test]
fn qgroundcontrols_own_plan_is_flown_through_every_waypoint() {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/telemetry/qgc_plan/simple_square.plan");
    if !plan.exists() {
        eprintln!(
            "skipped: {} is absent (the shared data folder is not here)",
            plan.display()
        );
        return;
    }
    let m = read_file(&plan).unwrap();
    assert_eq!(m.waypoints.len(), 5, "take-off and four waypoints");
    let dir = tempfile::tempdir().unwrap();
    // A district around the plan's home.
    let status = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["district", "--size", "400", "--out"])
        .arg(dir.path())
        .args([
            "--lat",
            &m.home.lat.to_string(),
            "--lon",
            &m.home.lon.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // As QGroundControl wrote it, and converted to a DJI KMZ.
    let kmz = dir.path().join("square.kmz");
    write_file(&m, &kmz).unwrap();
    for file in [plan, kmz] {
        let path = fly(dir.path(), &file, 30);
        let miss = misses(dir.path(), &file, &path);
        eprintln!(
            "{}: closest approach to each waypoint {miss:.2?} m",
            file.display()
        );
        assert!(
            miss.iter().all(|&m| m <= 1.0),
            "{}: {miss:?}",
            file.display()
        );
    }
    let _ = haversine_m;
}

#[test]
fn an_example_plan_is_flown_from_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["district", "--seed", "1", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(status.status.success());
    let docks = Docks::load(&plans_dir().join("docks.toml")).unwrap();
    let plan = Plan::load(&plans_dir().join("plans/tidal-zones-points.toml"), &docks).unwrap();
    let m = &plan.missions().unwrap()[0];
    for ext in ["kmz", "plan", "waypoints", "json"] {
        let file = dir.path().join(format!("tidal.{ext}"));
        write_file(m, &file).unwrap();
        let path = fly(dir.path(), &file, 5);
        let miss = misses(dir.path(), &file, &path);
        // At 5 frames a second and 12 m/s, a frame lands within 1.2 m of any point passed.
        assert!(miss.iter().all(|&m| m <= 1.3), ".{ext}: {miss:?}");
        // The hovers are flown: 15 s still over each zone.
        let still = path
            .windows(2)
            .filter(|w| {
                (w[0].0 - w[1].0).abs() < 1e-6
                    && (w[0].1 - w[1].1).abs() < 1e-6
                    && (w[0].2 - w[1].2).abs() < 1e-6
            })
            .count();
        assert!(still >= 2 * 15 * 5 - 4, ".{ext}: {still} still frames");
    }
}
