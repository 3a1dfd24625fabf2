//! `edge-agent eval` agrees with pycocotools (the reference) within 0.005 on every class.

use std::path::Path;
use std::process::Command;

/// A deterministic pseudo-random stream (no dependency needed for a test's data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Ground truth on 40 images in 3 categories, and detections with jitter, misses, duplicates
/// and false positives at all scores.
fn synthetic(dir: &Path) {
    let mut rng = Lcg(7);
    let (mut images, mut anns, mut dets) = (vec![], vec![], vec![]);
    for img in 1..=40u64 {
        images.push(serde_json::json!({"id": img, "file_name": format!("{img}.jpg"), "width": 640, "height": 640}));
        for _ in 0..(rng.next() * 6.0) as usize {
            let cat = 1 + (rng.next() * 3.0) as u64;
            let (x, y) = (rng.next() * 560.0, rng.next() * 560.0);
            let (w, h) = (8.0 + rng.next() * 70.0, 8.0 + rng.next() * 70.0);
            anns.push(serde_json::json!({"id": anns.len() + 1, "image_id": img, "category_id": cat, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}));
            if rng.next() < 0.8 {
                let s = 0.3 + rng.next() * 0.7;
                let mut j = |v: f64, s: f64| v + (rng.next() - 0.5) * s;
                let bbox = [j(x, w * 0.4), j(y, h * 0.4), j(w, w * 0.4), j(h, h * 0.4)];
                dets.push(serde_json::json!({"image_id": img, "category_id": cat, "bbox": bbox, "score": s}));
                if rng.next() < 0.15 {
                    dets.push(serde_json::json!({"image_id": img, "category_id": cat, "bbox": [x + 2.0, y + 1.0, w, h], "score": s * 0.5}));
                }
            }
        }
        for _ in 0..(rng.next() * 3.0) as usize {
            let cat = 1 + (rng.next() * 3.0) as u64;
            dets.push(serde_json::json!({"image_id": img, "category_id": cat, "bbox": [rng.next() * 600.0, rng.next() * 600.0, 20.0, 20.0], "score": rng.next()}));
        }
    }
    let cats: Vec<_> = ["stall", "waste_pile", "steel_shed"]
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"id": i + 1, "name": n}))
        .collect();
    let coco = serde_json::json!({"images": images, "annotations": anns, "categories": cats});
    std::fs::write(dir.join("gt.json"), coco.to_string()).unwrap();
    std::fs::write(
        dir.join("dets.json"),
        serde_json::Value::Array(dets).to_string(),
    )
    .unwrap();
}

#[test]
fn eval_matches_pycocotools_within_half_a_point() {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if !python.exists() {
        eprintln!(
            "skipping: {} is absent (run scripts/bootstrap.sh)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    synthetic(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["eval", "--coco"])
        .arg(dir.path().join("gt.json"))
        .arg("--detections")
        .arg(dir.path().join("dets.json"))
        .arg("--out")
        .arg(dir.path().join("eval"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("eval/metrics.json")).unwrap(),
    )
    .unwrap();
    assert!(dir.path().join("eval/pr_curve.png").exists());
    let reference = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/detector/coco_eval.py"))
        .arg(dir.path().join("gt.json"))
        .arg(dir.path().join("dets.json"))
        .output()
        .unwrap();
    assert!(
        reference.status.success(),
        "{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&reference.stdout).unwrap();
    let classes = reference.as_object().unwrap();
    assert_eq!(classes.len(), 3);
    for (class, r) in classes {
        for key in ["AP50", "AP50_95"] {
            let (a, b) = (
                ours["classes"][class][key].as_f64().unwrap(),
                r[key].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() <= 0.005,
                "{class} {key}: ours {a:.4}, pycocotools {b:.4}"
            );
            assert!(
                b > 0.1 && b < 0.99,
                "{class} {key} {b}: the data should make AP non-trivial"
            );
        }
    }
}
