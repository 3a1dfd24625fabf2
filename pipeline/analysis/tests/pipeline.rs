//! The full frame → hit path with the scripted detector: what the edge agent publishes follows
//! `schemas/hit.v1.schema.json`, frames without timestamps are timed by one rule, and one
//! detector serves several sources' loops at once.

use std::sync::Arc;

use argus_analysis::scripted::{ColourKey, ColourKeyDetector};
use argus_analysis::{
    AnalysisOptions, Analyzer, Frame, Geometry, Shared, SourceSetup, UNTIMED_FPS, drive,
};
use argus_core::camera::{Intrinsics, Pose};
use argus_core::catalog::Catalog;
use argus_core::hit::{Hit, ModelRef, Source, SourceKind};
use argus_core::map::Map;

const W: u32 = 640;
const H: u32 = 360;
const RED: [u8; 3] = [255, 0, 0];

/// A lane 30 m wide under a drone hovering 40 m over (30.7, 121.02).
const LANE: &str = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
  "properties":{"layer":"lane","id":"L1"},"geometry":{"type":"Polygon",
  "coordinates":[[[121.0199,30.6999],[121.0201,30.6999],[121.0201,30.7001],[121.0199,30.7001],[121.0199,30.6999]]]}}]}"#;

fn analyzer(source: &str) -> Analyzer {
    let setup = SourceSetup {
        agent_id: "district-1".into(),
        source: Source {
            kind: SourceKind::Drone,
            id: source.into(),
            flight_id: Some("f-1".into()),
        },
        intrinsics: Some(Intrinsics::from_hfov(W, H, 70.0)),
        geometry: Geometry::Fixed(Pose::nadir(30.7, 121.02, 40.0)),
        map: Some(Arc::new(Map::from_geojson(LANE).unwrap())),
        catalog: Arc::new(Catalog::builtin()),
        dem: None,
        start_unix_s: 1_780_000_000.0,
        utc_offset_s: 0.0,
    };
    let model = ModelRef {
        name: "scripted".into(),
        version: "1".into(),
    };
    Analyzer::new(setup, AnalysisOptions::default(), model)
}

fn detector() -> ColourKeyDetector {
    ColourKeyDetector::new(
        vec![ColourKey {
            class: "stall".into(),
            rgb: RED,
            score: 0.9,
        }],
        640,
    )
}

/// A frame with a 24 × 16 px red stall in its middle.
fn frame(index: u64, pts_s: Option<f64>) -> Frame {
    let mut rgb = vec![90u8; (W * H * 3) as usize];
    for y in 172..188 {
        for x in 308..332 {
            let i = ((y * W + x) * 3) as usize;
            rgb[i..i + 3].copy_from_slice(&RED);
        }
    }
    Frame {
        index,
        pts_s,
        rgb,
        width: W,
        height: H,
    }
}

fn run<D: argus_core::detect::Detect>(
    analyzer: &mut Analyzer,
    det: &mut D,
    frames: Vec<Frame>,
) -> Vec<Hit> {
    let mut hits = Vec::new();
    drive(
        frames.into_iter().map(Ok::<_, std::convert::Infallible>),
        analyzer,
        det,
        |_, made| {
            hits.extend(made);
            Ok(())
        },
    )
    .unwrap();
    hits
}

#[test]
fn the_hits_made_from_frames_follow_the_published_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/hit.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let frames = (0..10).map(|i| frame(i, Some(i as f64 / 5.0))).collect();
    let hits = run(&mut analyzer("dock-1"), &mut detector(), frames);
    assert_eq!(hits.len(), 1);
    let json = serde_json::to_value(&hits[0]).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema is not a rubber stamp: a hit without its evidence, or with a NaN-free but
    // impossible latitude, is refused.
    let mut broken = json.clone();
    broken.as_object_mut().unwrap().remove("evidence");
    assert!(!validator.is_valid(&broken));
    let mut broken = json;
    broken["position"]["lat"] = serde_json::json!(91.0);
    assert!(!validator.is_valid(&broken));
}

#[test]
fn frames_without_timestamps_are_timed_by_their_index() {
    // 60 untimed frames are two seconds at 30 frames/s; at 5 detections a second every sixth
    // is analysed, and the hit's frame carries the time the rule gave it.
    let mut a = analyzer("dock-1");
    let frames = (0..60).map(|i| frame(i, None)).collect();
    let hits = run(&mut a, &mut detector(), frames);
    assert_eq!(a.counters.frames, 60);
    assert_eq!(a.counters.analysed, 10);
    assert_eq!(hits.len(), 1);
    let f = &hits[0].frame;
    assert_eq!(f.index % 6, 0);
    assert!(
        (f.pts_s - f.index as f64 / UNTIMED_FPS).abs() < 1e-9,
        "{f:?}"
    );
}

#[test]
fn one_detector_serves_several_sources_at_once() {
    let shared = Shared::new(detector());
    let hits: Vec<Vec<Hit>> = std::thread::scope(|s| {
        let runs: Vec<_> = ["cam-a", "cam-b", "cam-c"]
            .into_iter()
            .map(|id| {
                let mut det = shared.clone();
                s.spawn(move || {
                    let frames = (0..10).map(|i| frame(i, Some(i as f64 / 5.0))).collect();
                    run(&mut analyzer(id), &mut det, frames)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (h, id) in hits.iter().zip(["cam-a", "cam-b", "cam-c"]) {
        assert_eq!(h.len(), 1, "{id}");
        assert_eq!(h[0].source.id, id);
    }
}
