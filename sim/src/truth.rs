//! Ground truth of rendered frames: which objects a frame shows, where, and what they are.

use argus_core::camera::{Camera, Pose};
pub use argus_truth::{FrameTruth, TruthObject};

use crate::district::{DetClass, District};
use crate::render::ObjectView;

/// An object is labelled in a frame when at least this share of it is unoccluded…
pub const MIN_VISIBLE_FRACTION: f64 = 0.3;
/// …and it covers at least this many pixels.
pub const MIN_VISIBLE_PIXELS: u32 = 12;

fn round(v: f64, k: f64) -> f64 {
    (v * k).round() / k
}

/// Whether a view passes the labelling rule.
fn labelled(v: &ObjectView) -> bool {
    v.visible >= MIN_VISIBLE_PIXELS && v.visible_fraction() >= MIN_VISIBLE_FRACTION
}

/// Detector objects the frame shows a little of but that fail the labelling rule: their class
/// and pixel box. Datasets mark them "ignore".
pub fn unlabelled(district: &District, views: &[ObjectView]) -> Vec<(DetClass, [f64; 4])> {
    views
        .iter()
        .filter(|v| v.visible > 0 && !labelled(v))
        .filter_map(|v| Some((district.objects[v.object].kind.det_class()?, v.bbox)))
        .collect()
}

/// The labelled objects of a frame, from what the renderer reports.
pub fn label(district: &District, views: &[ObjectView]) -> Vec<TruthObject> {
    let frame = district.frame();
    let mut out: Vec<TruthObject> = views
        .iter()
        .filter(|v| labelled(v))
        .filter_map(|v| {
            let o = &district.objects[v.object];
            let (class, det) = (o.kind.violation_class()?, o.kind.det_class()?);
            let g = frame.ground_to_geo(o.center[0], o.center[1]);
            Some(TruthObject {
                id: o.id.clone(),
                class: class.as_str().into(),
                object_class: det.as_str().into(),
                kind: serde_json::to_value(o.kind).ok()?.as_str()?.to_string(),
                bbox: v.bbox.map(|c| round(c, 100.0)),
                lat: round(g.lat, 1e9),
                lon: round(g.lon, 1e9),
                elev_m: round(o.elev, 1000.0),
                violation: o.violation,
                visible: round(v.visible_fraction().min(1.0), 1000.0),
            })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// A frame's truth record.
pub fn frame_truth(
    district: &District,
    frame: u64,
    pts_s: f64,
    pose: Pose,
    camera: &Camera,
    views: &[ObjectView],
) -> FrameTruth {
    let pose = Pose {
        lat: round(pose.lat, 1e9),
        lon: round(pose.lon, 1e9),
        alt_m: round(pose.alt_m, 1e4),
        yaw_deg: round(pose.yaw_deg, 1e4),
        pitch_deg: round(pose.pitch_deg, 1e4),
        roll_deg: round(pose.roll_deg, 1e4),
    };
    FrameTruth {
        frame,
        pts_s: round(pts_s, 1e6),
        pose,
        camera: camera.intrinsics,
        objects: label(district, views),
    }
}
