//! The simulator's ground truth and what is measured against it (pure Rust: no native
//! library). A rendered recording's `truth.jsonl` holds one [`FrameTruth`] a frame; the
//! [`scoring`] module scores hits against the objects it shows, and [`summary`] scores the
//! demo's tickets. The simulator writes these types, and the tests, the benchmarks, the demo and
//! `argus-score` read them.
//!
//! ```
//! use argus_truth::FrameTruth;
//! let line = r#"{"frame": 0, "pts_s": 0.0,
//!   "pose": {"lat": 30.7, "lon": 121.0, "alt_m": 100.0, "yaw_deg": 0.0, "pitch_deg": -90.0, "roll_deg": 0.0},
//!   "camera": {"width": 1920, "height": 1080, "fx": 1400.0, "fy": 1400.0, "cx": 960.0, "cy": 540.0},
//!   "objects": []}"#;
//! let f: FrameTruth = serde_json::from_str(line).unwrap();
//! assert!(f.objects.is_empty());
//! ```

use std::path::Path;

use argus_core::camera::{Intrinsics, Pose};
use serde::{Deserialize, Serialize};

pub mod scoring;
pub mod summary;

/// One object seen in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthObject {
    /// District object id.
    pub id: String,
    /// Violation class (`vending_in_lane`, …), also for legal look-alikes.
    pub class: String,
    /// Detector class (`stall`, `waste_pile`, `steel_shed`).
    pub object_class: String,
    /// What it is (`stall`, `cart`, `spoil`, …).
    pub kind: String,
    /// Pixel box `[x0, y0, x1, y1]` of its projected solids, clipped to the image.
    pub bbox: [f64; 4],
    /// Latitude of its footprint centre.
    pub lat: f64,
    /// Longitude of its footprint centre.
    pub lon: f64,
    /// Height of its base above the ground plane (a roof's height for rooftop sheds).
    pub elev_m: f64,
    /// Whether it is a violation.
    pub violation: bool,
    /// Unoccluded share of it in this frame.
    pub visible: f64,
}

/// One frame's truth: a line of `truth.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTruth {
    /// Frame index from 0.
    pub frame: u64,
    /// Presentation time, seconds.
    pub pts_s: f64,
    /// The true camera pose (no telemetry noise).
    pub pose: Pose,
    /// The camera intrinsics.
    pub camera: Intrinsics,
    /// The labelled objects.
    pub objects: Vec<TruthObject>,
}

/// Reads a `truth.jsonl`: one [`FrameTruth`] a line (blank lines skipped); a line that is not
/// one is an error naming its number.
pub fn read_jsonl(path: &Path) -> std::io::Result<Vec<FrameTruth>> {
    read_lines(path, "a frame's truth")
}

/// Reads a file of JSON values one a line (blank lines skipped); a line that is not a `what`
/// is an error naming its number.
pub(crate) fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> std::io::Result<Vec<T>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            serde_json::from_str(l).map_err(|e| {
                std::io::Error::other(format!(
                    "{} line {}: not {what}: {e}",
                    path.display(),
                    k + 1
                ))
            })
        })
        .collect()
}
