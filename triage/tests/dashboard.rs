//! The dashboard in real headless Chromium (Debian's `chromium`, driven by Playwright): a
//! triage with its embedded broker and the default district takes hits on some of the
//! district's violations; the page shows the basemap's units and the tickets, filters them,
//! opens a ticket from the review queue with its evidence and sightings, and dispatches it.
//! The screenshot lands in the target folder (`dashboard.png`). The patrol views (a plan's
//! schedule and runs, a run's route and tickets, the operator's buttons) are checked on a
//! triage with patrols (`patrols.png`).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use argus_sim::district::generate::{DistrictOptions, generate};
use argus_testkit::hits::{hit, hit_id, publish_hit};
use argus_testkit::services::{free_port, http, start_triage};
use argus_triage::store::{Sqlite, Store};
use base64::Engine as _;
use rumqttc::{Client, MqttOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

const OPERATOR: &str = "operator-token-dashboard-0123";

/// A real JPEG of a coloured patch, as evidence.
fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([seed.wrapping_mul(40), (x * 2) as u8, (y * 3) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// `(id, class, object_class, lat, lon)` of the district's violations: each polygon's first
/// corner is within a few metres of its centre, close enough for a ticket.
fn violations(district: &Value) -> Vec<(String, String, String, f64, f64)> {
    district["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["properties"]["layer"] == "violation")
        .map(|f| {
            let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
            let n = (ring.len() - 1) as f64;
            let (mut lon, mut lat) = (0.0, 0.0);
            for p in &ring[..ring.len() - 1] {
                lon += p[0].as_f64().unwrap() / n;
                lat += p[1].as_f64().unwrap() / n;
            }
            let s = |k: &str| f["properties"][k].as_str().unwrap().to_string();
            (s("id"), s("class"), s("object_class"), lat, lon)
        })
        .collect()
}

/// The Playwright script `name`, once Playwright and Chromium are there; a folder with the
/// default district written into it, its file and its GeoJSON.
fn set_up(name: &str) -> (PathBuf, tempfile::TempDir, PathBuf, Value) {
    let root = argus_testkit::repo_root();
    let script = root.join("triage/web/test").join(name);
    assert!(
        root.join("triage/web/test/node_modules/playwright-core")
            .exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "Playwright or Chromium is not installed: run scripts/bootstrap.sh (scripts/test.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let d = generate(&DistrictOptions::default()).unwrap();
    argus_sim::district::geojson::write(&d, &tmp.path().join("district")).unwrap();
    let district_file = tmp.path().join("district/district.geojson");
    let district: Value =
        serde_json::from_str(&std::fs::read_to_string(&district_file).unwrap()).unwrap();
    (script, tmp, district_file, district)
}

/// The JSON line a Playwright script prints of what it saw.
fn page_saw(stdout: &[u8]) -> Value {
    let line = stdout
        .split(|b| *b == b'\n')
        .find(|l| l.starts_with(b"{"))
        .expect("the script printed what it saw");
    serde_json::from_slice(line).expect("a JSON line")
}

#[test]
fn the_dashboard_shows_filters_opens_and_dispatches_tickets_in_chromium() {
    let (script, tmp, district_file, district) = set_up("dashboard.mjs");
    let tokens = tmp.path().join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{OPERATOR}\n")).unwrap();
    let (port, mqtt) = (free_port(), free_port());
    let db = tmp.path().join("t.db");
    let log = tmp.path().join("triage.log");
    let args = [
        "serve".to_string(),
        "--http".into(),
        format!("127.0.0.1:{port}"),
        "--broker-listen".into(),
        format!("127.0.0.1:{mqtt}"),
        "--db".into(),
        format!("sqlite:{}", db.display()),
        "--district".into(),
        district_file.display().to_string(),
        "--tokens".into(),
        tokens.display().to_string(),
    ];
    let mut triage = start_triage(env!("CARGO_BIN_EXE_triage"), &args, &log);
    // Twelve violations seen once each: high scores dispatch themselves, the others wait for
    // review.
    let (client, mut conn) = Client::new(MqttOptions::new("test-dock", "127.0.0.1", mqtt), 100);
    std::thread::spawn(move || for _ in conn.iter() {});
    // Four of each class, each its own ticket (60 m apart).
    let mut targets: Vec<(String, String, String, f64, f64)> = Vec::new();
    for v in violations(&district) {
        let far = targets.iter().all(|t| {
            let p = |lat, lon| argus_core::geodesy::GeoPoint { lat, lon };
            argus_core::geodesy::haversine_m(p(t.3, t.4), p(v.3, v.4)) > 60.0
        });
        if far && targets.iter().filter(|t| t.1 == v.1).count() < 4 {
            targets.push(v);
        }
    }
    assert_eq!(
        targets.len(),
        12,
        "the default district has four of each class"
    );
    for (k, (id, class, object_class, lat, lon)) in targets.iter().enumerate() {
        let mut h = hit(
            &hit_id(&format!("dash-{id}")),
            "dock-1",
            class,
            *lat,
            if k % 2 == 0 { 0.9 } else { 0.45 },
        );
        h.position.lon = *lon;
        h.object_class = object_class.clone();
        let jpeg = jpeg(k as u8);
        h.evidence.sha256 = format!("{:x}", Sha256::digest(&jpeg));
        h.evidence.jpeg_base64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
        publish_hit(&client, &h);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while Sqlite::open(&db).unwrap().counts().unwrap().1 < 12 {
        assert!(
            Instant::now() < until,
            "the hits did not become tickets: {:?}\n{}",
            Sqlite::open(&db).unwrap().counts().unwrap(),
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The page itself needs no token; the API behind it does.
    let (status, page) = http(port, "GET", "/", &[], b"").unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("/ui/leaflet.js"));
    assert_eq!(
        http(port, "GET", "/api/v1/basemap", &[], b"").unwrap().0,
        401
    );

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(OPERATOR)
        .arg(&shot)
        .output()
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = triage.kill();
    let _ = triage.wait();
    assert!(
        out.status.success(),
        "{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = page_saw(&out.stdout);
    eprintln!("dashboard saw {seen}; screenshot {}", shot.display());
    let vending = 4;
    assert_eq!(seen["rows"], 12, "{seen}");
    assert_eq!(seen["open_text"], "12 open", "{seen}");
    assert_eq!(seen["vending_rows"], vending, "{seen}");
    assert_eq!(seen["review_rows"], 6, "{seen}");
    assert!(
        seen["unit_options"].as_u64().unwrap() >= 4,
        "units from the basemap: {seen}"
    );
    assert_eq!(
        seen["token_in_url"], false,
        "the token stays out of the address bar"
    );
    assert_eq!(seen["evidence_images"], 1, "{seen}");
    assert_eq!(seen["sightings"], 1, "{seen}");
    assert!(
        seen["sla_text"].as_str().unwrap().ends_with("left")
            || seen["sla_text"].as_str().unwrap().ends_with("late"),
        "{seen}"
    );
    assert_eq!(
        seen["errors"].as_array().unwrap().len(),
        0,
        "page errors: {seen}"
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    // The dispatch from the page is in the store, by the operator.
    let moved = seen["moved"].as_str().unwrap();
    let mut store = Sqlite::open(&db).unwrap();
    let t = store.ticket(moved).unwrap().unwrap();
    assert_eq!(t.state.as_str(), "dispatched");
    let audit = store.audit(moved).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.event == "transition" && e.actor.starts_with("operator")),
        "{audit:?}"
    );
}

/// Strings that would run as script if the page put them into HTML.
const PAYLOADS: [&str; 3] = [
    "<img src=x onerror=\"window.__pwned='img'\">",
    "</script><script>window.__pwned='script'</script>",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
];

/// Categories, unit names, source ids and rule reasons carrying script payloads (a category is
/// configuration, a unit comes from the district file, a source id and a reason from an agent;
/// a class is a checked id, so none gets in that way): the dashboard, driven in Chromium, runs
/// none of them and shows them literally; every response carries the Content-Security-Policy.
#[test]
fn hostile_strings_reach_the_dashboard_as_text_and_run_no_script() {
    let (script, tmp, district_file, mut district) = set_up("xss.mjs");
    // Units named with payloads.
    let mut k = 0;
    for f in district["features"].as_array_mut().unwrap() {
        if f["properties"]["layer"] == "jurisdiction" {
            f["properties"]["id"] = format!("{}{k}", PAYLOADS[k % 3]).into();
            f["properties"]["name"] = PAYLOADS[(k + 1) % 3].into();
            k += 1;
        }
    }
    std::fs::write(&district_file, district.to_string()).unwrap();
    let tokens = tmp.path().join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{OPERATOR}\n")).unwrap();
    let (port, mqtt) = (free_port(), free_port());
    let db = tmp.path().join("t.db");
    let config = tmp.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\ndistrict = \"{}\"\nhttp = \"127.0.0.1:{port}\"\ntokens = \"{}\"\n\
             [mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
             [rules]\ncategories = {{ construction_waste = {:?} }}\n",
            db.display(),
            district_file.display(),
            tokens.display(),
            PAYLOADS[2],
        ),
    )
    .unwrap();
    let log = tmp.path().join("triage.log");
    let args = [
        "serve".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let mut triage = start_triage(env!("CARGO_BIN_EXE_triage"), &args, &log);
    let (client, mut conn) = Client::new(MqttOptions::new("test-dock", "127.0.0.1", mqtt), 100);
    std::thread::spawn(move || for _ in conn.iter() {});
    let units: Vec<(f64, f64)> = violations(&district)
        .iter()
        .map(|v| (v.3, v.4))
        .step_by(4)
        .take(3)
        .collect();
    for (k, (lat, lon)) in units.iter().enumerate() {
        let mut h = hit(
            &hit_id(&format!("xss-{k}")),
            "dock-1",
            "construction_waste",
            *lat,
            0.45,
        );
        h.position.lon = *lon;
        h.source.id = PAYLOADS[(k + 1) % 3].into();
        h.rule.reason = PAYLOADS[(k + 2) % 3].into();
        publish_hit(&client, &h);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while Sqlite::open(&db).unwrap().counts().unwrap().1 < 3 {
        assert!(
            Instant::now() < until,
            "the hostile hits did not become tickets: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(OPERATOR)
        .output()
        .expect("node runs");
    let _ = triage.kill();
    let _ = triage.wait();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = page_saw(&out.stdout);
    eprintln!("the page saw {seen}");
    assert_eq!(seen["pwned"], Value::Null, "an injected script ran: {seen}");
    assert_eq!(seen["injected_images"], 0, "{seen}");
    assert_eq!(seen["rows"], 3, "{seen}");
    // The list shows each ticket's unit, named with a payload, literally.
    let list = seen["list_text"].as_str().unwrap();
    assert!(
        PAYLOADS.iter().any(|p| list.contains(p)),
        "the list does not show the units' names literally: {list}"
    );
    let labels = seen["unit_labels"].to_string();
    assert!(labels.contains("<img src=x"), "unit labels: {labels}");
    assert!(
        seen["detail_text"].as_str().unwrap().contains("</script>")
            || seen["detail_text"].as_str().unwrap().contains("<"),
        "{seen}"
    );
    assert!(seen["responses"].as_u64().unwrap() >= 5, "{seen}");
    assert_eq!(
        seen["without_csp"].as_array().unwrap().len(),
        0,
        "responses without a Content-Security-Policy: {seen}"
    );
    assert_eq!(seen["errors"].as_array().unwrap().len(), 0, "{seen}");
}

/// The patrols panel lists the plan with its cron, its next three runs in the plan's local time
/// and its last runs with their state; a run's page draws its route and lists its tickets, each
/// a link to the ticket, which names the flight that saw it; run-now and cancel are an
/// operator's only.
#[test]
fn the_dashboard_shows_patrols_runs_routes_and_an_operators_buttons_in_chromium() {
    let (script, _tmp, district_file, _) = set_up("patrols.mjs");
    let rig = support::start(
        env!("CARGO_BIN_EXE_triage"),
        &format!("district = \"{}\"", district_file.display()),
    );
    let now = argus_core::clock::now_unix_s();
    use argus_triage::store::{RunKind, RunState};
    let flown = rig.insert_run(RunKind::Scheduled, now - 7200.0, RunState::Ok, None);
    rig.insert_run(
        RunKind::Scheduled,
        now - 3600.0,
        RunState::Failed,
        Some("no reply from dock-1 in 20 s"),
    );
    // An open run (the dispatcher sends it to the silent dock, where it waits).
    let open = rig.insert_run(RunKind::Manual, now + 86_400.0, RunState::Scheduled, None);
    let ticket = rig.hit_on_flight(
        "dash-run",
        &flown.run_id,
        "construction_waste",
        30.7027,
        121.0175,
    );

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patrols.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{}/", rig.port))
        .arg(support::VIEWER)
        .arg(support::OPERATOR)
        .arg(&flown.run_id)
        .arg(&open.run_id)
        .arg(&shot)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let seen = page_saw(&out.stdout);
    eprintln!("the patrol views saw {seen}; screenshot {}", shot.display());
    assert_eq!(seen["errors"].as_array().unwrap().len(), 0, "{seen}");
    // The panel: the plan, its cron and zone, three next runs in its local time, its runs.
    assert_eq!(seen["plans"], 1, "{seen}");
    let schedule = seen["schedule"].as_str().unwrap();
    assert!(
        schedule.starts_with(&format!("{} (Asia/Shanghai)", support::CRON))
            && schedule.contains("12:00-13:30"),
        "{seen}"
    );
    let next: Vec<&str> = seen["next"].as_str().unwrap().split(" · ").collect();
    assert_eq!(next.len(), 3, "{seen}");
    assert!(next.iter().all(|n| n.ends_with(" CST")), "{seen}");
    let states: Vec<&str> = seen["last_states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    // The open run is sent to the dock at once (its page's state is the store's).
    assert!(["scheduled", "preparing"].contains(&states[0]), "{seen}");
    assert_eq!(states[1..], ["failed", "ok"], "{seen}");
    let colours: Vec<&str> = seen["last_states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["colour"].as_str().unwrap())
        .collect();
    assert!(
        colours[1] != colours[2],
        "a failure and a success look alike: {seen}"
    );
    assert!(
        seen["last_runs"][1]
            .as_str()
            .unwrap()
            .contains("no reply from dock-1"),
        "{seen}"
    );
    assert!(seen["docks"].as_str().unwrap().contains("dock-1"), "{seen}");
    // The run's page: its route drawn, its events, its ticket.
    assert_eq!(seen["route_paths"], 1, "{seen}");
    assert!(seen["route_points"].as_u64().unwrap() >= 4, "{seen}");
    assert!(
        seen["run_title"].as_str().unwrap().contains("u03-area"),
        "{seen}"
    );
    assert_eq!(seen["run_events"], 2, "{seen}");
    let run_text = seen["run_text"].as_str().unwrap();
    assert!(
        !run_text.contains("null")
            && !run_text.contains("undefined")
            && !run_text.contains("not loaded"),
        "{run_text}"
    );
    assert_eq!(seen["run_tickets"], 1, "{seen}");
    assert_eq!(seen["ticket"], ticket.as_str(), "{seen}");
    assert_eq!(
        seen["ticket_flights"],
        serde_json::json!([flown.run_id]),
        "{seen}"
    );
    assert!(
        seen["ticket_flight_text"]
            .as_str()
            .unwrap()
            .contains("saw it"),
        "{seen}"
    );
    assert_eq!(seen["route_after_ticket"], 0, "{seen}");
    // The buttons: an operator's only; none on a run already over.
    assert_eq!(seen["viewer_run_now"], 0, "{seen}");
    assert_eq!(seen["viewer_cancel"], 0, "{seen}");
    assert_eq!(seen["operator_run_now"], 1, "{seen}");
    assert_eq!(seen["flown_cancel"], 0, "{seen}");
    assert_eq!(seen["open_cancel"], 1, "{seen}");
    assert_eq!(seen["after_cancel"], "canceled", "{seen}");
    assert_eq!(seen["cancel_after"], 0, "{seen}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    // The cancel from the page is in the store, by the operator's role.
    let mut store = Sqlite::open(&rig.db).unwrap();
    let run = store.run(&open.run_id).unwrap().unwrap();
    assert_eq!(run.state, RunState::Canceled);
    assert_eq!(run.reason.as_deref(), Some("canceled by operator"));
}
