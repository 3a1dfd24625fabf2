//! The Argus analysis pipeline, pure: frames → detections (tiled to the model's input) →
//! geotags → tracks → map rules → `argus.hit/1` hits with their evidence. It runs against any
//! [`Detect`](argus_core::detect::Detect) — `argus-infer`'s ONNX detector in the edge agent, the
//! [`scripted`] colour-key detector in tests — and asks a [`PoseSource`] where the camera was,
//! so it holds neither ONNX Runtime, GStreamer, OpenCV nor MQTT.
//!
//! - [`Analyzer`]: one source's analysis state; [`drive`]: the one frame loop, used by
//!   `edge-agent run` and `edge-agent replay` alike; [`Shared`]: one detector for many sources.
//! - [`Geometry`] and [`PoseSource`]: where poses come from (telemetry, live OSD, a fixed or
//!   homography-calibrated camera).
//! - [`evidence`]: the JPEG cut around a sighting, with its SHA-256.
//!
//! A drone hovering 40 m over a lane sees a stall (painted red for the scripted detector) for
//! two seconds; the analysis makes one hit of it:
//!
//! ```
//! use std::sync::Arc;
//! use argus_analysis::scripted::{ColourKey, ColourKeyDetector};
//! use argus_analysis::{AnalysisOptions, Analyzer, Frame, Geometry, SourceSetup, drive};
//! use argus_core::camera::{Intrinsics, Pose};
//! use argus_core::catalog::Catalog;
//! use argus_core::hit::{ModelRef, Source, SourceKind};
//! use argus_core::map::Map;
//!
//! let lane = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
//!   "properties":{"layer":"lane","id":"L1"},"geometry":{"type":"Polygon",
//!   "coordinates":[[[121.0199,30.6999],[121.0201,30.6999],[121.0201,30.7001],[121.0199,30.7001],[121.0199,30.6999]]]}}]}"#;
//! let setup = SourceSetup {
//!     agent_id: "district-1".into(),
//!     source: Source { kind: SourceKind::Drone, id: "dock-1".into(), flight_id: None },
//!     intrinsics: Some(Intrinsics::from_hfov(640, 360, 70.0)),
//!     geometry: Geometry::Fixed(Pose::nadir(30.7, 121.02, 40.0)),
//!     map: Some(Arc::new(Map::from_geojson(lane)?)),
//!     catalog: Arc::new(Catalog::builtin()),
//!     dem: None,
//!     start_unix_s: 1_780_000_000.0,
//!     utc_offset_s: 0.0,
//! };
//! let model = ModelRef { name: "scripted".into(), version: "1".into() };
//! let mut analyzer = Analyzer::new(setup, AnalysisOptions::default(), model);
//! let mut det = ColourKeyDetector::new(
//!     vec![ColourKey { class: "stall".into(), rgb: [255, 0, 0], score: 0.9 }],
//!     640,
//! );
//! // Ten frames at 5 frames/s, a 24 × 16 px red stall in the middle of each.
//! let frames = (0..10u64).map(|index| {
//!     let mut rgb = vec![90u8; 640 * 360 * 3];
//!     for y in 172..188 {
//!         for x in 308..332 {
//!             rgb[(y * 640 + x) * 3..][..3].copy_from_slice(&[255, 0, 0]);
//!         }
//!     }
//!     Ok::<_, std::convert::Infallible>(Frame { index, pts_s: Some(index as f64 / 5.0), rgb, width: 640, height: 360 })
//! });
//! let mut hits = Vec::new();
//! drive(frames, &mut analyzer, &mut det, |_, made| {
//!     hits.extend(made);
//!     Ok(())
//! })?;
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].class, "vending_in_lane");
//! assert_eq!(hits[0].rule.feature_id.as_deref(), Some("L1"));
//! assert!((hits[0].position.lat - 30.7).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod analyze;
mod drive;
pub mod evidence;
mod poses;
pub mod scripted;

pub use analyze::{
    AnalysisOptions, AnalyzeError, Analyzer, CAMERA_MIN_BEST_SCORE, CAMERA_MIN_DWELL_S, Counters,
    FrameIn, SourceSetup, camera_tracker, geotag_homography,
};
pub use drive::{Analysed, Frame, Shared, UNTIMED_FPS, drive};
pub use poses::{Geometry, PoseSource};
