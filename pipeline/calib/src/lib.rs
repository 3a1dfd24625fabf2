//! Fixed-camera calibration from ground control points: the homography taking image pixels to
//! the ground plane (local east/north metres), fitted with OpenCV's `findHomography`, and its
//! error in metres at the control points.
//!
//! A street camera is surveyed once: a few pixels whose ground positions are known (kerb
//! corners, lane markings). Where the ground is flat, the homography places the foot of a
//! detection on the map without knowing the camera's pose. The fitted [`GroundHomography`] is
//! `argus-core`'s, so what uses it needs no OpenCV.
//!
//! ```no_run
//! use argus_core::geodesy::{GeoPoint, LocalFrame};
//! use argus_calib::Gcp;
//!
//! let frame = LocalFrame::new(GeoPoint { lat: 30.7, lon: 121.02 });
//! let gcps: Vec<Gcp> = serde_json::from_str(&std::fs::read_to_string("camera-gcps.json")?)?;
//! let h = argus_calib::fit(&gcps, &frame)?;
//! println!("{} points, {:.2} m RMS; the image centre is at {:?}", h.points, h.rms_m, h.to_ground(640.0, 360.0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use argus_core::geodesy::{GeoPoint, LocalFrame};
pub use argus_core::homography::{Gcp, GroundHomography};
use opencv::core::{Mat, Point2d, Vector};
use opencv::prelude::*;

/// Calibration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibError {
    /// Fewer than four points.
    #[error("a homography needs at least 4 ground control points, got {0}")]
    TooFew(usize),
    /// The points do not determine a homography (collinear, repeated).
    #[error("the ground control points are degenerate (collinear or repeated): no homography")]
    Degenerate,
    /// OpenCV failed.
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Whether points lie (nearly) on one line: the smaller principal spread is under 0.1 % of the
/// larger.
fn collinear(p: &[[f64; 2]]) -> bool {
    let n = p.len() as f64;
    let (mx, my) = (
        p.iter().map(|q| q[0]).sum::<f64>() / n,
        p.iter().map(|q| q[1]).sum::<f64>() / n,
    );
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for q in p {
        let (x, y) = (q[0] - mx, q[1] - my);
        a += x * x;
        b += x * y;
        c += y * y;
    }
    let root = (((a - c) / 2.0).powi(2) + b * b).sqrt();
    let (big, small) = ((a + c) / 2.0 + root, (a + c) / 2.0 - root);
    big <= 0.0 || small <= 1e-6 * big
}

/// Fits the homography to control points (least squares over all of them), in `frame`.
pub fn fit(gcps: &[Gcp], frame: &LocalFrame) -> Result<GroundHomography, CalibError> {
    if gcps.len() < 4 {
        return Err(CalibError::TooFew(gcps.len()));
    }
    let src: Vector<Point2d> = gcps
        .iter()
        .map(|g| Point2d::new(g.pixel[0], g.pixel[1]))
        .collect();
    let ground: Vec<[f64; 2]> = gcps
        .iter()
        .map(|g| {
            let (e, n) = frame.geo_to_ground(GeoPoint {
                lat: g.lat,
                lon: g.lon,
            });
            [e, n]
        })
        .collect();
    let pixels: Vec<[f64; 2]> = gcps.iter().map(|g| g.pixel).collect();
    if collinear(&pixels) || collinear(&ground) {
        return Err(CalibError::Degenerate);
    }
    let dst: Vector<Point2d> = ground.iter().map(|p| Point2d::new(p[0], p[1])).collect();
    let mut mask = Mat::default();
    let m = opencv::calib3d::find_homography(&src, &dst, &mut mask, 0, 3.0)?;
    if m.rows() != 3 || m.cols() != 3 {
        return Err(CalibError::Degenerate);
    }
    let mut h = [0.0; 9];
    for r in 0..3 {
        for c in 0..3 {
            h[(r * 3 + c) as usize] = *m.at_2d::<f64>(r, c)?;
        }
    }
    GroundHomography::from_matrix(h, gcps, frame).ok_or(CalibError::Degenerate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::camera::{Camera, Intrinsics, Pose};
    use argus_core::linalg::Vec3;

    fn setup() -> (LocalFrame, Camera) {
        let frame = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.02,
        });
        let pose = Pose {
            lat: 30.7,
            lon: 121.02,
            alt_m: 8.0,
            yaw_deg: 20.0,
            pitch_deg: -25.0,
            roll_deg: 0.0,
        };
        (
            frame,
            Camera::new(Intrinsics::from_hfov(1280, 720, 70.0), &frame, &pose),
        )
    }

    fn gcp(frame: &LocalFrame, cam: &Camera, e: f64, n: f64) -> Gcp {
        Gcp::of_ground(cam, frame, e, n).unwrap()
    }

    #[test]
    fn a_fitted_homography_places_ground_pixels_where_the_camera_sees_them() {
        let (frame, cam) = setup();
        let pts = [
            (0.0, 15.0),
            (8.0, 16.0),
            (-4.0, 30.0),
            (12.0, 35.0),
            (3.0, 22.0),
            (-6.0, 18.0),
        ];
        let gcps: Vec<Gcp> = pts.iter().map(|&(e, n)| gcp(&frame, &cam, e, n)).collect();
        let h = fit(&gcps, &frame).unwrap();
        assert!(h.rms_m < 0.01, "{}", h.rms_m);
        // A point that is not a control point.
        let (u, v) = cam.project(Vec3::new(5.0, 27.0, 0.0)).unwrap();
        let p = h.to_ground(u, v).unwrap();
        assert!(
            (p[0] - 5.0).abs() < 0.02 && (p[1] - 27.0).abs() < 0.02,
            "{p:?}"
        );
        assert!(h.metres_per_pixel(u, v).unwrap() > 0.01);
        // Above the horizon line (here 66 px above the image) nothing maps to the ground.
        assert_eq!(h.to_ground(640.0, -200.0), None);
    }

    #[test]
    fn too_few_or_degenerate_points_are_refused() {
        let (frame, cam) = setup();
        let three: Vec<Gcp> = [(0.0, 15.0), (8.0, 16.0), (-4.0, 30.0)]
            .iter()
            .map(|&(e, n)| gcp(&frame, &cam, e, n))
            .collect();
        assert!(matches!(fit(&three, &frame), Err(CalibError::TooFew(3))));
        let line: Vec<Gcp> = (0..5)
            .map(|k| gcp(&frame, &cam, 0.0, 15.0 + 3.0 * f64::from(k)))
            .collect();
        assert!(fit(&line, &frame).is_err());
    }
}
