//! `argus-score`: hits from a replay scored against the recording's truth, as an analyst reads
//! them after retraining a detector or changing the tracker.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

/// Twelve frames showing two violations and a legal look-alike, each 20 px across.
fn write_truth(dir: &Path) -> std::path::PathBuf {
    let object = |id: &str, violation: bool, lat: f64| argus_truth::TruthObject {
        id: id.into(),
        class: "construction_waste".into(),
        object_class: "waste_pile".into(),
        kind: "spoil".into(),
        bbox: [100.0, 100.0, 120.0, 115.0],
        lat,
        lon: 121.0,
        elev_m: 0.0,
        violation,
        visible: 1.0,
    };
    let lines: Vec<String> = (0..12)
        .map(|k| {
            let frame = argus_truth::FrameTruth {
                frame: k,
                pts_s: k as f64 / 30.0,
                pose: argus_core::camera::Pose::nadir(30.0, 121.0, 100.0),
                camera: argus_core::camera::Intrinsics::from_hfov(1920, 1080, 80.0),
                objects: vec![
                    object("V0001", true, 30.0),
                    object("V0002", true, 30.001),
                    object("L0001", false, 30.002),
                ],
            };
            serde_json::to_string(&frame).unwrap()
        })
        .collect();
    let path = dir.join("truth.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// A hit named `name` (its id is the test kit's UUIDv7 of the name).
fn hit(name: &str, lat: f64, update_of: Option<&str>) -> String {
    let id = argus_testkit::hits::hit_id(name);
    let mut h = argus_testkit::hits::hit(&id, "dock-1", "construction_waste", lat, 0.9);
    h.object_class = "waste_pile".into();
    h.position.uncertainty_m = 5.0;
    h.update_of = update_of.map(argus_testkit::hits::hit_id);
    serde_json::to_string(&h).unwrap()
}

fn score(truth: &Path, hits: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_argus-score"))
        .arg("--truth")
        .arg(truth)
        .arg("--hits")
        .arg(hits)
        .arg("--json")
        .output()
        .unwrap()
}

#[test]
fn hits_are_matched_to_violations_look_alikes_and_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = write_truth(tmp.path());
    let hits = tmp.path().join("hits.jsonl");
    // 3.3 m from V0001, then its update 1.1 m away; one on the look-alike; one 220 m from all.
    let lines = [
        hit("h1", 30.00003, None),
        hit("h2", 30.00001, Some("h1")),
        hit("h3", 30.002, None),
        String::new(),
        hit("h4", 29.998, None),
    ];
    std::fs::write(&hits, lines.join("\n")).unwrap();
    let out = score(&truth, &hits);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["found"], json!(["V0001"]));
    assert_eq!(s["missed"], json!(["V0002"]));
    assert_eq!(s["recall"], json!(0.5));
    assert_eq!(s["on_look_alikes"], json!(["L0001"]));
    assert_eq!(s["false_hits"], json!(1));
    // The update replaces its first hit: three hits are scored, and the error is the update's.
    assert_eq!(s["hits"], json!(3));
    let err = s["median_error_m"].as_f64().unwrap();
    assert!((err - 1.11).abs() < 0.05, "median error {err} m");
}

#[test]
fn a_broken_hits_line_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = write_truth(tmp.path());
    let hits = tmp.path().join("hits.jsonl");
    std::fs::write(&hits, hit("h1", 30.0, None) + "\n{\"hit_id\": \n").unwrap();
    let out = score(&truth, &hits);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hits.jsonl line 2: not an argus.hit/1"),
        "unclear error: {err}"
    );
}
