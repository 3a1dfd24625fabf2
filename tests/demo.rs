//! The README's demo, end to end on the default seed: a simulated district; triage schedules a
//! patrol 20 s ahead that `sim dock` flies over the Cloud API, and a live street camera's stall
//! sends the dock's drone to look; the edge agent analyses both → triage's embedded broker →
//! tickets. Its summary must show the patrol run `ok` and the verification's drone sighting on
//! the camera's ticket, find at least 90 % of the violations the camera and the flights showed,
//! ticket no legal look-alike and route every ticket to the unit whose polygon holds it.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_finds_the_violations_and_routes_every_ticket() {
    // Renders are reused between runs (argus-demo keeps them unless its arguments change).
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo");
    let _ = std::fs::remove_file(out.join("summary.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_argus-demo"))
        .arg("--out")
        .arg(&out)
        .args(["--http", "127.0.0.1:0", "--broker", "127.0.0.1:0", "--exit"])
        // Its own deadline inside nextest's 15 minutes, so a flight that never ends is named.
        .args(["--max-wait-s", "780"])
        .current_dir(argus_testkit::repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "the demo failed:\n{stderr}\n{stdout}");
    eprintln!("{stdout}");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "recall",
        "false_tickets",
        "median_geo_error_m",
        "tickets_by_class",
        "tickets_by_unit",
        "sighting_to_ticket_s",
    ] {
        assert!(s.get(key).is_some(), "summary.json lacks {key}: {s}");
    }
    let shown = s["violations_shown"].as_array().unwrap().len();
    assert!(
        shown >= 10,
        "the sources show too few violations to judge: {s}"
    );
    assert!(s["recall"].as_f64().unwrap() >= 0.9, "recall: {s}");
    assert_eq!(s["look_alike_tickets"], serde_json::json!([]), "{s}");
    // A false ticket may only wait for a person's review (a low-scored hit on a passer-by),
    // a few at most: none is sent to a crew.
    assert_eq!(s["false_tickets"], s["false_tickets_in_review"], "{s}");
    assert!(s["false_tickets"].as_u64().unwrap() <= 5, "{s}");
    assert_eq!(s["misrouted"], serde_json::json!([]), "{s}");
    assert!(s["median_geo_error_m"].as_f64().unwrap() < 3.0, "{s}");
    let by_class: u64 = s["tickets_by_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let by_unit: u64 = s["tickets_by_unit"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        (by_class, by_unit),
        (
            s["tickets"].as_u64().unwrap(),
            s["tickets"].as_u64().unwrap()
        )
    );
    assert!(
        !s["tickets_by_unit"]
            .as_object()
            .unwrap()
            .contains_key("none"),
        "a ticket outside every unit: {s}"
    );
    let (p50, p99) = (
        s["sighting_to_ticket_s"]["p50"].as_f64().unwrap(),
        s["sighting_to_ticket_s"]["p99"].as_f64().unwrap(),
    );
    assert!(0.0 <= p50 && p50 <= p99, "{s}");
    assert!(
        stdout.contains("recall:") && stdout.contains("tickets by unit:"),
        "{stdout}"
    );

    // The scheduled patrol flew and landed, and its tickets were opened before the landing.
    let runs = s["patrol_runs"].as_array().unwrap();
    let ok = runs
        .iter()
        .find(|r| r["status"] == "ok")
        .unwrap_or_else(|| panic!("no patrol run ended ok: {s}"));
    assert_eq!(ok["plan"], "demo-patrol", "{s}");
    assert!(
        ok["take_off_at"].is_string() && ok["landed_at"].is_string(),
        "{s}"
    );
    assert!(!ok["tickets"].as_array().unwrap().is_empty(), "{s}");
    let margin = ok["min_ticket_margin_s"].as_f64();
    assert!(
        margin.is_some_and(|m| m > 0.0),
        "a ticket opened after the landing: {s}"
    );
    // The camera's ticket called the dock's drone, whose sighting joined that ticket.
    let v = &s["verification"];
    assert_eq!(v["outcome"], "verification_seen", "{s}");
    assert_eq!(v["same_ticket"], true, "{s}");
    for key in ["camera_hit_at", "requested_at", "drone_hit_at"] {
        assert!(v[key].is_string(), "verification lacks {key}: {s}");
    }
    // The loop's parts, each in its order: the request waited within the dispatch, the dock
    // readied the flight within the take-off, and the hit came after the stall was in view.
    let part = |k: &str| {
        v["loop_s"][k]
            .as_f64()
            .unwrap_or_else(|| panic!("loop_s.{k}: {s}"))
    };
    for k in [
        "dispatch",
        "waiting_for_dock",
        "take_off_and_transit",
        "on_the_ground",
        "detection",
    ] {
        assert!(part(k) >= 0.0, "loop_s.{k} < 0: {s}");
    }
    assert!(part("waiting_for_dock") <= part("dispatch"), "{s}");
    assert!(part("on_the_ground") <= part("take_off_and_transit"), "{s}");
    assert!(
        v["dock_distance_m"].as_f64().is_some_and(|d| d > 0.0),
        "{s}"
    );
}
