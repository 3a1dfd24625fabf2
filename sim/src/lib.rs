//! The Argus simulator: a synthetic district with placed violations and exact ground truth,
//! rendered drone flights (video + DJI SRT) and street cameras (file or live RTSP), and dataset
//! export for training the detectors.
#![deny(missing_docs)]

pub mod cli;
pub mod district;
pub mod flight;
pub mod geom;
pub mod progress;
pub mod render;
pub mod truth;
