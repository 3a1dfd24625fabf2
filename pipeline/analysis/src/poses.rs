//! Where a source's camera is when a frame is taken: recorded telemetry, a live drone's OSD, a
//! fixed camera's surveyed pose, or a fixed camera's ground homography. The analysis asks a
//! [`PoseSource`] and never knows how the poses arrive (a file, MQTT, a test).

use std::sync::Arc;

use argus_core::camera::Pose;
use argus_core::geodesy::{GeoPoint, LocalFrame};
use argus_core::homography::GroundHomography;
use argus_core::telemetry::PoseTimeline;

/// Poses over a moving source's time.
pub trait PoseSource: Send + Sync + std::fmt::Debug {
    /// The camera's pose `t_s` seconds into the source; held `hold_s` past either end of what
    /// is known, `None` beyond.
    fn pose_at(&self, t_s: f64, hold_s: f64) -> Option<Pose>;
    /// The lens's 35 mm-equivalent focal length at `t_s`, when the telemetry says it.
    fn focal_35mm_at(&self, _t_s: f64) -> Option<f64> {
        None
    }
    /// Where the source starts, when known before its first frame (anchors the local frame
    /// of a source analysed without a map).
    fn origin(&self) -> Option<GeoPoint> {
        None
    }
}

impl PoseSource for PoseTimeline {
    fn pose_at(&self, t_s: f64, hold_s: f64) -> Option<Pose> {
        self.at(t_s, hold_s)
    }

    fn focal_35mm_at(&self, t_s: f64) -> Option<f64> {
        PoseTimeline::focal_35mm_at(self, t_s)
    }

    fn origin(&self) -> Option<GeoPoint> {
        self.span()
            .and_then(|(t0, _)| self.at(t0, 0.0))
            .map(|p| p.position())
    }
}

/// How a source's sightings are placed.
// One per source, made once: the homography variant's size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Geometry {
    /// A moving camera (a drone: recorded telemetry or live OSD): each box's ray is cast from
    /// the pose of its frame.
    Moving(Arc<dyn PoseSource>),
    /// A fixed, surveyed camera: rays from one pose.
    Fixed(Pose),
    /// A fixed camera calibrated from ground control points: the image → ground homography in
    /// `frame` (the map's, when there is a map), and its surveyed pose for the record.
    Homography {
        /// Pixel → local ground metres.
        h: GroundHomography,
        /// The frame it maps into.
        frame: LocalFrame,
        /// The camera's pose, reported in hits.
        pose: Pose,
    },
}

impl Geometry {
    /// A recorded flight's poses.
    pub fn telemetry(timeline: PoseTimeline) -> Self {
        Self::Moving(Arc::new(timeline))
    }

    /// The pose at `t_s`.
    pub fn pose_at(&self, t_s: f64, hold_s: f64) -> Option<Pose> {
        match self {
            Self::Moving(p) => p.pose_at(t_s, hold_s),
            Self::Fixed(p) | Self::Homography { pose: p, .. } => Some(*p),
        }
    }

    /// The lens's 35 mm-equivalent focal length at `t_s`, when known.
    pub fn focal_35mm_at(&self, t_s: f64) -> Option<f64> {
        match self {
            Self::Moving(p) => p.focal_35mm_at(t_s),
            Self::Fixed(_) | Self::Homography { .. } => None,
        }
    }

    /// Where the source is before its first frame, when known.
    pub fn origin(&self) -> Option<GeoPoint> {
        match self {
            Self::Moving(p) => p.origin(),
            Self::Fixed(p) | Self::Homography { pose: p, .. } => Some(p.position()),
        }
    }
}
