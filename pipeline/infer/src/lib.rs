//! The ONNX Runtime adapter: finds and loads `libonnxruntime.so`, loads a detector with its
//! manifest (checking names, shapes and class count before the first frame), and runs batches
//! of frames through it. Letterboxing, decoding and NMS are the pure functions of
//! [`argus_core::detect`].
//!
//! ```no_run
//! use argus_infer::{Detector, DetectorOptions, FrameRef};
//!
//! let mut det = Detector::load("models/argus-det".as_ref(), &DetectorOptions::default())?;
//! let rgb = vec![0u8; 1920 * 1080 * 3];
//! let found = det.detect(&[FrameRef { rgb: &rgb, width: 1920, height: 1080 }])?;
//! for d in &found[0] {
//!     println!("{} {:.2} {:?}", det.manifest().classes[d.class], d.score, d.bbox);
//! }
//! # Ok::<(), argus_infer::InferError>(())
//! ```
#![deny(missing_docs)]

mod detector;
mod error;
mod manifest;
mod runtime;

pub use detector::{Detector, DetectorOptions, FrameRef};
pub use error::InferError;
pub use manifest::Manifest;
pub use runtime::{RUNTIME_ENV, find_runtime, init_runtime};
