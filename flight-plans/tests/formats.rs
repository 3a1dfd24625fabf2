//! Files other software reads: round trips keep every waypoint and action; real files made by
//! DJI's and QGroundControl's software import; hostile files give errors, never panics.
//! (The independent checks — `python/check_wpml.py` and the `.plan` JSON Schema — are in
//! `tests/checkers.rs`.)

use argus_flightplan::formats::{Format, FormatError, read_file, write_file};
use argus_flightplan::mission::{Action, Mission};

mod common;

use common::shared;

fn example_missions() -> Vec<Mission> {
    common::example_missions()
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// The speed flown from each waypoint on.
fn speeds(m: &Mission) -> Vec<f64> {
    let mut s = m.speed_mps;
    m.waypoints
        .iter()
        .map(|w| {
            s = w.speed_mps.unwrap_or(s);
            s
        })
        .collect()
}

/// Every waypoint within 1e-7° and 1 cm, every speed and every action kept.
fn assert_same(a: &Mission, b: &Mission, what: &str) {
    assert_eq!(
        a.waypoints.len(),
        b.waypoints.len(),
        "{what}: waypoint count"
    );
    for (i, (x, y)) in a.waypoints.iter().zip(&b.waypoints).enumerate() {
        assert!(
            (x.lat - y.lat).abs() < 1e-7 && (x.lon - y.lon).abs() < 1e-7,
            "{what}: waypoint {i} moved: {x:?} vs {y:?}"
        );
        assert!(
            (x.height_m - y.height_m).abs() < 0.01,
            "{what}: waypoint {i} height"
        );
        assert_eq!(x.actions, y.actions, "{what}: waypoint {i} actions");
    }
    assert_eq!(speeds(a), speeds(b), "{what}: speeds");
    assert!((a.home.lat - b.home.lat).abs() < 1e-7 && (a.home.lon - b.home.lon).abs() < 1e-7);
}

#[test]
fn plan_to_kmz_to_plan_to_wpl_to_json_keeps_every_waypoint_and_action() {
    let dir = tempfile::tempdir().unwrap();
    for (k, m) in example_missions().iter().enumerate() {
        let mut current = m.clone();
        for ext in ["kmz", "plan", "waypoints", "json", "kmz"] {
            let path = dir.path().join(format!("m{k}.{ext}"));
            write_file(&current, &path).unwrap();
            let back = read_file(&path).unwrap();
            assert_same(m, &back, &format!("mission {k} through .{ext}"));
            current = back;
        }
        // The hover and gimbal actions made it through (the points plan has both).
        let hovers = current
            .waypoints
            .iter()
            .flat_map(|w| &w.actions)
            .filter(|a| matches!(a, Action::Hover { .. }))
            .count();
        let planned = m
            .waypoints
            .iter()
            .flat_map(|w| &w.actions)
            .filter(|a| matches!(a, Action::Hover { .. }))
            .count();
        assert_eq!(hovers, planned);
    }
}

#[test]
fn qgroundcontrols_own_plan_imports_and_converts() {
    let Some(path) = shared("qgc_plan/simple_square.plan") else {
        return;
    };
    let m = read_file(&path).unwrap();
    // Take-off and four waypoints, 20 m above home.
    assert_eq!(m.waypoints.len(), 5);
    assert!(m.waypoints.iter().all(|w| (w.height_m - 20.0).abs() < 1e-9));
    assert_eq!(
        (m.home.lat, m.home.lon, m.home.elevation_m),
        (47.397742, 8.545594, 488.0)
    );
    let dir = tempfile::tempdir().unwrap();
    let kmz = dir.path().join("square.kmz");
    write_file(&m, &kmz).unwrap();
    assert_same(&m, &read_file(&kmz).unwrap(), "QGC plan through KMZ");
}

#[test]
fn djis_own_kmz_files_import() {
    let Some(dir) = shared("dji_wpml") else {
        return;
    };
    let mut seen = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "kmz") {
            let m = read_file(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(m.waypoints.len() >= 2, "{}", p.display());
            seen += 1;
            // Their camera actions (photos, focus, zoom) are kept by name, so a format that has
            // no words for them refuses them instead of dropping them.
            let others = m
                .waypoints
                .iter()
                .flat_map(|w| &w.actions)
                .filter(|a| matches!(a, Action::Other { .. }))
                .count();
            if others > 0 {
                let e = Format::Plan.write(&m).unwrap_err();
                assert!(matches!(e, FormatError::Unsupported { .. }), "{e}");
                assert!(e.to_string().starts_with("waypoint "), "{e}");
            }
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn broken_files_are_named_errors() {
    let m = &example_missions()[0];
    let kmz = Format::Kmz.write(m).unwrap();
    let plan = String::from_utf8(Format::Plan.write(m).unwrap()).unwrap();
    let wpl = String::from_utf8(Format::Wpl.write(m).unwrap()).unwrap();
    let cases: Vec<(Format, Vec<u8>, &str)> = vec![
        (Format::Kmz, b"PK not a zip".to_vec(), "not a zip archive"),
        (
            Format::Kmz,
            zip_with(&[("wpmz/template.kml", "<kml/>")]),
            "wpmz/waylines.wpml: is not in the KMZ",
        ),
        (
            Format::Kmz,
            zip_with(&[("wpmz/waylines.wpml", "<kml><Document>")]),
            "line 1, column",
        ),
        (
            Format::Kmz,
            zip_with(&[(
                "wpmz/waylines.wpml",
                &waylines_of(&kmz).replace("<wpml:executeHeight>", "<wpml:executeHeight>x"),
            )]),
            "wpml:executeHeight: \"x",
        ),
        (
            Format::Kmz,
            zip_with(&[(
                "wpmz/waylines.wpml",
                &waylines_of(&kmz).replace("<coordinates>", "<coordinates>200"),
            )]),
            "Point/coordinates",
        ),
        (
            Format::Plan,
            plan.replace("\"firmwareType\"", "\"firmwareTipe\"")
                .into_bytes(),
            "/mission/firmwareType",
        ),
        (
            Format::Plan,
            plan.replacen(
                "\"type\": \"SimpleItem\"",
                "\"type\": \"ComplexItem\", \"complexItemType\": \"spiral\"",
                1,
            )
            .into_bytes(),
            "/mission/items/0/complexItemType",
        ),
        (
            Format::Plan,
            plan.replacen("\"params\": [", "\"params\": [\"x\", ", 1)
                .into_bytes(),
            "/mission/items/0/params",
        ),
        (
            Format::Wpl,
            wpl.replacen("\t1\n", "\n", 2).into_bytes(),
            "line 2: 11 columns, not 12",
        ),
        (Format::Wpl, b"QGC WPL 999\n".to_vec(), "line 1"),
    ];
    for (format, bytes, says) in cases {
        let e = format.read(&bytes).unwrap_err().to_string();
        assert!(e.contains(says), "{format:?}: expected {says:?} in {e:?}");
    }
}

fn zip_with(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

fn waylines_of(kmz: &[u8]) -> String {
    use std::io::Read as _;
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(kmz)).unwrap();
    let mut s = String::new();
    a.by_name("wpmz/waylines.wpml")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// A tiny deterministic generator (no dependency needed for seeded mutations).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte flips, truncations and deleted spans of a file's text.
fn mutate(rng: &mut Lcg, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    match rng.below(3) {
        0 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(d.len());
                if let Some(b) = d.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        1 => d.truncate(rng.below(d.len())),
        _ => {
            let a = rng.below(d.len());
            let b = (a + rng.below(200)).min(d.len());
            d.drain(a..b);
        }
    }
    d
}

#[test]
fn ten_thousand_mutations_parse_to_a_value_or_an_error() {
    let m = &example_missions()[2];
    let mut samples: Vec<(Format, Vec<u8>)> = vec![
        (Format::Plan, Format::Plan.write(m).unwrap()),
        (Format::Wpl, Format::Wpl.write(m).unwrap()),
        (Format::Route, Format::Route.write(m).unwrap()),
        // The XML inside the KMZ, mutated and re-zipped (a mutated zip mostly fails its CRC).
        (
            Format::Kmz,
            waylines_of(&Format::Kmz.write(m).unwrap()).into_bytes(),
        ),
    ];
    if let Some(p) = shared("qgc_plan/simple_square.plan") {
        samples.push((Format::Plan, std::fs::read(p).unwrap()));
    }
    if let Some(dir) = shared("dji_wpml") {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "kmz") {
                samples.push((
                    Format::Kmz,
                    waylines_of(&std::fs::read(&p).unwrap()).into_bytes(),
                ));
                samples.push((Format::Kmz, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut rng = Lcg(0x5eed);
    let (mut ok, mut refused) = (0, 0);
    for k in 0..10_000 {
        let (format, data) = &samples[k % samples.len()];
        let mutated = mutate(&mut rng, data);
        let is_zip = data.starts_with(b"PK");
        let bytes = if *format == Format::Kmz && !is_zip {
            let text = String::from_utf8_lossy(&mutated).into_owned();
            zip_with(&[("wpmz/waylines.wpml", &text)])
        } else {
            mutated
        };
        match format.read(&bytes) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    eprintln!("10,000 mutations: {ok} still read, {refused} refused");
    assert!(refused > 1000 && ok > 100, "{ok} read, {refused} refused");
}

#[test]
fn numbers_out_of_range_in_any_format_are_named_errors() {
    let m = &example_missions()[0];
    let kmz = Format::Kmz.write(m).unwrap();
    let plan = String::from_utf8(Format::Plan.write(m).unwrap()).unwrap();
    let wpl = String::from_utf8(Format::Wpl.write(m).unwrap()).unwrap();
    let route = r#"{"home": {"lat": 30.7, "lon": 121.02}, "waypoints": [{"lat": 30.7, "lon": 121.02}, {"lat": 30.701, "lon": 121.02}]}"#;
    let wayline = waylines_of(&kmz);
    let plan_with = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&plan).unwrap();
        change(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let speed = format!(
        "<wpml:autoFlightSpeed>{}</wpml:autoFlightSpeed>",
        m.speed_mps
    );
    let cases: Vec<(Format, Vec<u8>, &str)> = vec![
        (
            Format::Kmz,
            zip_with(&[(
                "wpmz/waylines.wpml",
                &wayline.replace(&speed, "<wpml:autoFlightSpeed>0</wpml:autoFlightSpeed>"),
            )]),
            "wpml:autoFlightSpeed: speed 0 m/s",
        ),
        (
            Format::Plan,
            plan_with(&|v| v["mission"]["cruiseSpeed"] = serde_json::json!(-3)),
            "/mission/cruiseSpeed: speed -3 m/s",
        ),
        (
            Format::Plan,
            plan_with(&|v| {
                // The first NAV_WAYPOINT's hold time.
                let items = v["mission"]["items"].as_array_mut().unwrap();
                let wp = items.iter_mut().find(|i| i["command"] == 16).unwrap();
                wp["params"][0] = serde_json::json!(5000);
            }),
            "/params/0: hover 5000 s",
        ),
        (
            Format::Plan,
            plan_with(&|v| v["rallyPoints"]["points"][0][2] = serde_json::json!(-1e300)),
            "/rallyPoints/points/0/2: return height",
        ),
        (
            Format::Wpl,
            wpl.replacen("\t3\t22\t0\t", "\t3\t16\tNaN\t", 1)
                .into_bytes(),
            "line 3 parameter 1: is not a number",
        ),
        (
            Format::Route,
            route
                .replace("\"home\"", "\"speed_mps\": 0, \"home\"")
                .into_bytes(),
            "/speed_mps: speed 0 m/s",
        ),
        (
            Format::Route,
            route
                .replace("\"lon\": 121.02}]", "\"lon\": 121.02, \"hover_s\": -10}]")
                .into_bytes(),
            "/waypoints/1/hover_s: hover -10 s",
        ),
        (
            Format::Route,
            route
                .replace(
                    "\"lat\": 30.7, \"lon\": 121.02}, \"way",
                    "\"lat\": 1000, \"lon\": 121.02}, \"way",
                )
                .into_bytes(),
            "/home: 1000, 121.02 is not a latitude",
        ),
        (
            Format::Route,
            route
                .replace("\"home\"", "\"gimbal_pitch_deg\": 1e9, \"home\"")
                .into_bytes(),
            "/gimbal_pitch_deg: gimbal pitch 1000000000°",
        ),
    ];
    for (format, bytes, says) in cases {
        let e = format
            .read(&bytes)
            .map(|m| format!("read: {m:?}"))
            .unwrap_or_else(|e| e.to_string());
        assert!(e.contains(says), "{format:?}: expected {says:?} in {e:?}");
    }
}

#[test]
fn a_byte_order_mark_before_a_text_file_is_skipped() {
    let m = &example_missions()[0];
    for format in [Format::Plan, Format::Wpl, Format::Route] {
        let bytes = format.write(m).unwrap();
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), &bytes].concat();
        assert_eq!(
            format.read(&with_bom).unwrap().waypoints.len(),
            format.read(&bytes).unwrap().waypoints.len(),
            "{format:?}"
        );
    }
}
