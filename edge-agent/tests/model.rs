//! The shipped detector on the held-out test district: `edge-agent detect` then `edge-agent eval`
//! (the Rust path, through ONNX Runtime) reach the AP50 goal for every class, and the model card's
//! figures (pycocotools on the same images) are the ones a user gets.

use std::path::PathBuf;
use std::process::Command;

use argus_sim::dataset::{DatasetOptions, render};

const AGENT: &str = env!("CARGO_BIN_EXE_edge-agent");
/// The goal every class must reach on the unseen district.
const GOAL_AP50: f64 = 0.85;

/// The test split of the training recipe's dataset (`sim dataset --seed 1 --images 8000`), the
/// same 800 images the card is scored on, rendered once into the target folder.
fn test_split() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sim-v3-seed1-8000-test");
    argus_testkit::cached(&dir, |dir| {
        let opts = DatasetOptions {
            seed: 1,
            images: 8000,
            width: 640,
            height: 640,
            quality: 92,
            progress: false,
            umbrella_share: 0.0,
            patrol_share: 0.0,
            only: Some("test".into()),
        };
        render(&opts, dir).unwrap();
    })
    .join("test")
}

fn run(args: &[&std::ffi::OsStr]) {
    let out = Command::new(AGENT).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "edge-agent {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_shipped_detector_reaches_the_goal_on_the_held_out_district() {
    let model = argus_testkit::repo_root().join("models/argus-det");
    let split = test_split();
    let work = tempfile::tempdir().unwrap();
    let (ann, dets, eval) = (
        split.join("annotations.json"),
        work.path().join("dets.json"),
        work.path().join("eval"),
    );
    run(&[
        "detect".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--coco".as_ref(),
        ann.as_os_str(),
        "--images".as_ref(),
        split.join("images").as_os_str(),
        "--out".as_ref(),
        dets.as_os_str(),
    ]);
    run(&[
        "eval".as_ref(),
        "--coco".as_ref(),
        ann.as_os_str(),
        "--detections".as_ref(),
        dets.as_os_str(),
        "--out".as_ref(),
        eval.as_os_str(),
    ]);
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    };
    let ours = read(eval.join("metrics.json"));
    let card = read(model.join("metrics.json"));
    let card = &card["results"]["sim_test"];
    assert_eq!(card["images"], 800, "the card is scored on the same split");
    for class in ["stall", "waste_pile", "steel_shed"] {
        let ap = ours["classes"][class]["AP50"].as_f64().unwrap();
        let stated = card["metrics"][class]["AP50"].as_f64().unwrap();
        assert!(
            ap >= GOAL_AP50,
            "{class}: AP50 {ap:.3} on the held-out district, goal {GOAL_AP50}"
        );
        assert!(
            (ap - stated).abs() <= 0.005,
            "{class}: AP50 {ap:.4} through the agent, {stated:.4} on the model card"
        );
    }
}
