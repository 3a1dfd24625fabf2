//! The detector adapter against the real ONNX Runtime and the committed model.

use std::path::{Path, PathBuf};

use argus_infer::{Detector, DetectorOptions, FrameRef, InferError};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/argus-det")
}

/// A copy of the committed model in a temp dir, to break on purpose.
fn copy_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["manifest.json", "model.onnx"] {
        std::fs::copy(model_dir().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn batches_of_frames_of_any_size_come_back_per_frame_in_their_pixels() {
    let mut det = Detector::load(
        &model_dir(),
        &DetectorOptions {
            score_threshold: Some(0.01),
            ..Default::default()
        },
    )
    .unwrap();
    let sizes = [(1920u32, 1080u32), (640, 640), (333, 500)];
    let frames: Vec<Vec<u8>> = sizes
        .iter()
        .map(|&(w, h)| (0..w * h * 3).map(|i| (i % 251) as u8).collect())
        .collect();
    let refs: Vec<FrameRef> = frames
        .iter()
        .zip(sizes)
        .map(|(f, (w, h))| FrameRef {
            rgb: f,
            width: w,
            height: h,
        })
        .collect();
    let out = det.detect(&refs).unwrap();
    assert_eq!(out.len(), 3);
    for (dets, (w, h)) in out.iter().zip(sizes) {
        for d in dets {
            assert!(
                d.bbox[0] >= 0.0
                    && d.bbox[1] >= 0.0
                    && d.bbox[2] <= w as f32
                    && d.bbox[3] <= h as f32,
                "{d:?} outside {w}x{h}"
            );
            assert!(d.class < det.manifest().classes.len() && (0.0..=1.0).contains(&d.score));
        }
    }
    // One frame alone gives what it gave in the batch.
    let alone = det.detect(&refs[1..2]).unwrap();
    assert_eq!(alone[0].len(), out[1].len());
    let bad = det
        .detect(&[FrameRef {
            rgb: &[0; 10],
            width: 4,
            height: 4,
        }])
        .unwrap_err();
    assert!(matches!(bad, InferError::Frame { index: 0, .. }), "{bad}");
}

#[test]
fn a_corrupt_model_is_a_clear_error() {
    let dir = copy_model();
    std::fs::write(
        dir.path().join("model.onnx"),
        b"\x08\x07this is not a protobuf graph",
    )
    .unwrap();
    let e = Detector::load(dir.path(), &DetectorOptions::default()).unwrap_err();
    assert!(matches!(e, InferError::Model { .. }), "{e}");
    assert!(e.to_string().contains("model.onnx"), "{e}");
}

#[test]
fn a_model_that_disagrees_with_its_manifest_is_refused() {
    let dir = copy_model();
    edit_manifest(dir.path(), |v| {
        v["classes"].as_array_mut().unwrap().push("extra".into())
    });
    let e = Detector::load(dir.path(), &DetectorOptions::default()).unwrap_err();
    assert!(
        matches!(e, InferError::Mismatch { .. }) && e.to_string().contains("heatmap"),
        "{e}"
    );

    let dir = copy_model();
    edit_manifest(dir.path(), |v| {
        v["input"]["shape"] = serde_json::json!(["batch", 3, 512, 512])
    });
    let e = Detector::load(dir.path(), &DetectorOptions::default()).unwrap_err();
    assert!(
        matches!(e, InferError::Mismatch { .. }) && e.to_string().contains("512"),
        "{e}"
    );

    let dir = copy_model();
    edit_manifest(dir.path(), |v| v["decoder"]["kind"] = "yolo".into());
    let e = Detector::load(dir.path(), &DetectorOptions::default()).unwrap_err();
    assert!(
        matches!(e, InferError::Manifest { .. }) && e.to_string().contains("decoder.kind"),
        "{e}"
    );
}

#[derive(serde::Deserialize)]
struct FixtureBox {
    class: String,
    score: Option<f32>,
    bbox: [f32; 4],
}

#[derive(serde::Deserialize)]
struct Fixture {
    image: String,
    threshold: f32,
    reference: Vec<FixtureBox>,
    truth: Vec<FixtureBox>,
}

#[test]
fn the_fixture_image_gives_the_reference_boxes() {
    let dir = model_dir().join("fixture");
    let fx: Fixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).unwrap()).unwrap();
    let img = image::open(dir.join(&fx.image)).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let mut det = Detector::load(
        &model_dir(),
        &DetectorOptions {
            score_threshold: Some(fx.threshold),
            ..Default::default()
        },
    )
    .unwrap();
    let found = det
        .detect(&[FrameRef {
            rgb: img.as_raw(),
            width: w,
            height: h,
        }])
        .unwrap()
        .remove(0);
    let classes = det.manifest().classes.clone();
    // Every reference detection (Python ONNX Runtime path, same pixels) is reproduced…
    for r in &fx.reference {
        let m = found.iter().find(|d| {
            classes[d.class] == r.class && (0..4).all(|k| (d.bbox[k] - r.bbox[k]).abs() <= 1.0)
        });
        let m = m.unwrap_or_else(|| {
            panic!(
                "reference {} {:?} not reproduced in {found:?}",
                r.class, r.bbox
            )
        });
        assert!(
            (m.score - r.score.unwrap()).abs() <= 0.01,
            "{} score {} vs {:?}",
            r.class,
            m.score,
            r.score
        );
    }
    // …and nothing else; NMS may only merge near-duplicates the Python reference kept.
    assert!(
        found.len() <= fx.reference.len(),
        "{} found, {} in the reference",
        found.len(),
        fx.reference.len()
    );
    // The fixture is one the model gets right: most truth boxes are found.
    let hit = fx
        .truth
        .iter()
        .filter(|t| {
            found.iter().any(|d| {
                classes[d.class] == t.class && argus_core::detect::iou(d.bbox, t.bbox) >= 0.5
            })
        })
        .count();
    assert!(
        hit * 4 >= fx.truth.len() * 3,
        "{hit} of {} truth boxes found",
        fx.truth.len()
    );
}
