//! The Argus simulator: a synthetic district with placed violations and exact ground truth,
//! rendered drone flights (video + DJI SRT) and street cameras (file or live RTSP), and dataset
//! export for training the detectors.
#![deny(missing_docs)]

pub mod camera;
pub mod cli;
pub mod dataset;
pub mod district;
pub mod flight;
pub mod geom;
pub mod progress;
pub mod render;
pub mod rtsp;
pub mod truth;
