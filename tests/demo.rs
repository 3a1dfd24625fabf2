//! The README's demo, end to end on the default seed: a simulated district, a 90 s patrol and
//! two street cameras → edge agent → triage's embedded broker → tickets. Its summary must
//! find at least 90 % of the violations the sources showed, ticket no legal look-alike and
//! route every ticket to the unit whose polygon holds it.

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
    assert_eq!(s["false_tickets"], 0, "{s}");
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
}
