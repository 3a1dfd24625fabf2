//! Pinhole cameras with optional radial distortion, posed in DJI's angle convention.
//!
//! Axes (see `shared/reference/formats.md` §5.3): a camera ray is `(x right, y down, z forward)`;
//! the gimbal frame is forward-right-down; the gimbal is rotated into north-east-down by
//! `Rz(yaw)·Ry(pitch)·Rx(roll)`, with yaw in degrees clockwise from true north, pitch 0 at the
//! horizon and −90 looking straight down; the result is expressed in the local east-north-up frame
//! of [`crate::geodesy::LocalFrame`].

use serde::{Deserialize, Serialize};

use crate::geodesy::{GeoPoint, LocalFrame};
use crate::linalg::{Mat3, Vec3};

/// Camera intrinsics in pixels, with Brown radial distortion coefficients `k1`, `k2`
/// (both 0 for an ideal pinhole). Pixel centres are at half-integers: the image spans
/// `[0, width] × [0, height]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
    /// First radial distortion coefficient.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub k1: f64,
    /// Second radial distortion coefficient.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub k2: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Intrinsics {
    /// An ideal camera with square pixels, the principal point at the centre and the given
    /// horizontal field of view.
    pub fn from_hfov(width: u32, height: u32, hfov_deg: f64) -> Self {
        let fx = f64::from(width) / 2.0 / (hfov_deg.to_radians() / 2.0).tan();
        Self {
            width,
            height,
            fx,
            fy: fx,
            cx: f64::from(width) / 2.0,
            cy: f64::from(height) / 2.0,
            k1: 0.0,
            k2: 0.0,
        }
    }

    /// An ideal camera from a physical sensor width and focal length (millimetres).
    pub fn from_sensor(width: u32, height: u32, sensor_width_mm: f64, focal_mm: f64) -> Self {
        let hfov = 2.0 * (sensor_width_mm / (2.0 * focal_mm)).atan();
        Self::from_hfov(width, height, hfov.to_degrees())
    }

    /// The 35 mm-equivalent focal length of this camera's horizontal field of view, as DJI
    /// writes it in `focal_len` (the frame's share of the 43.27 mm full-frame diagonal).
    pub fn focal_35mm_equivalent(&self) -> f64 {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let w35 = 43.27 * w / (w * w + h * h).sqrt();
        w35 / 2.0 / (w / 2.0 / self.fx)
    }

    /// An ideal camera from DJI's 35 mm-equivalent `focal_len` (the inverse of
    /// [`Intrinsics::focal_35mm_equivalent`]).
    pub fn from_focal_35mm(width: u32, height: u32, focal_35mm: f64) -> Self {
        let (w, h) = (f64::from(width), f64::from(height));
        let w35 = 43.27 * w / (w * w + h * h).sqrt();
        let hfov = 2.0 * (w35 / 2.0 / focal_35mm).atan();
        Self::from_hfov(width, height, hfov.to_degrees())
    }

    /// Horizontal field of view, degrees (ignoring distortion).
    pub fn hfov_deg(&self) -> f64 {
        2.0 * (f64::from(self.width) / 2.0 / self.fx).atan().to_degrees()
    }

    /// Whether distortion coefficients are set.
    pub fn is_distorted(&self) -> bool {
        self.k1 != 0.0 || self.k2 != 0.0
    }

    /// Applies radial distortion to ideal normalised coordinates.
    pub fn distort(&self, x: f64, y: f64) -> (f64, f64) {
        let r2 = x * x + y * y;
        let f = 1.0 + self.k1 * r2 + self.k2 * r2 * r2;
        (x * f, y * f)
    }

    /// Removes radial distortion from normalised coordinates (fixed-point iteration; exact to
    /// well under a hundredth of a pixel for the moderate distortion of drone cameras).
    pub fn undistort(&self, xd: f64, yd: f64) -> (f64, f64) {
        if !self.is_distorted() {
            return (xd, yd);
        }
        let (mut x, mut y) = (xd, yd);
        for _ in 0..20 {
            let r2 = x * x + y * y;
            let f = 1.0 + self.k1 * r2 + self.k2 * r2 * r2;
            x = xd / f;
            y = yd / f;
        }
        (x, y)
    }

    /// Pixel to ideal (undistorted) normalised coordinates.
    pub fn pixel_to_normalized(&self, u: f64, v: f64) -> (f64, f64) {
        self.undistort((u - self.cx) / self.fx, (v - self.cy) / self.fy)
    }

    /// Ideal normalised coordinates to a pixel (distortion applied).
    pub fn normalized_to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let (x, y) = self.distort(x, y);
        (self.cx + self.fx * x, self.cy + self.fy * y)
    }

    /// Whether a pixel position lies inside the image.
    pub fn contains(&self, u: f64, v: f64) -> bool {
        u >= 0.0 && v >= 0.0 && u < f64::from(self.width) && v < f64::from(self.height)
    }
}

/// Where a camera is and where it looks: lat/lon, height above the ground plane, and the
/// gimbal's absolute angles in DJI's convention (degrees). It travels in every hit, so like
/// the hit it ignores fields it does not know (a newer agent may send more).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height of the camera above the ground plane, metres.
    pub alt_m: f64,
    /// Yaw, degrees clockwise from true north.
    pub yaw_deg: f64,
    /// Pitch, degrees: 0 = horizon, −90 = nadir.
    pub pitch_deg: f64,
    /// Roll, degrees.
    pub roll_deg: f64,
}

impl Pose {
    /// A camera at (`lat`, `lon`), `alt_m` above the ground, looking straight down with its
    /// top to the north.
    pub fn nadir(lat: f64, lon: f64, alt_m: f64) -> Self {
        Self {
            lat,
            lon,
            alt_m,
            yaw_deg: 0.0,
            pitch_deg: -90.0,
            roll_deg: 0.0,
        }
    }

    /// The position as a [`GeoPoint`].
    pub fn position(&self) -> GeoPoint {
        GeoPoint {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// The rotation taking camera-frame rays `(x right, y down, z forward)` to local ENU.
pub fn camera_to_enu(yaw_deg: f64, pitch_deg: f64, roll_deg: f64) -> Mat3 {
    // Camera → gimbal forward-right-down: forward = z, right = x, down = y.
    let cam_to_frd = Mat3([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    let frd_to_ned = Mat3::rot_z(yaw_deg.to_radians())
        * Mat3::rot_y(pitch_deg.to_radians())
        * Mat3::rot_x(roll_deg.to_radians());
    // NED → ENU: east = ned.y, north = ned.x, up = −ned.z.
    let ned_to_enu = Mat3([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]);
    ned_to_enu * frd_to_ned * cam_to_frd
}

/// A posed camera in a local ENU frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// The intrinsics.
    pub intrinsics: Intrinsics,
    /// Position of the optical centre, local ENU metres (z = height above the ground plane).
    pub position: Vec3,
    /// Rotation from camera-frame rays to ENU.
    pub rotation: Mat3,
}

impl Camera {
    /// A camera at a geodetic pose, expressed in `frame`.
    pub fn new(intrinsics: Intrinsics, frame: &LocalFrame, pose: &Pose) -> Self {
        let (e, n) = frame.geo_to_ground(pose.position());
        Self::from_local(
            intrinsics,
            Vec3::new(e, n, pose.alt_m),
            pose.yaw_deg,
            pose.pitch_deg,
            pose.roll_deg,
        )
    }

    /// A camera at a local position with the given angles (degrees).
    pub fn from_local(
        intrinsics: Intrinsics,
        position: Vec3,
        yaw_deg: f64,
        pitch_deg: f64,
        roll_deg: f64,
    ) -> Self {
        Self {
            intrinsics,
            position,
            rotation: camera_to_enu(yaw_deg, pitch_deg, roll_deg),
        }
    }

    /// The ENU direction (not normalised; its camera-frame z is 1) of the ray through a pixel.
    pub fn ray(&self, u: f64, v: f64) -> Vec3 {
        let (x, y) = self.intrinsics.pixel_to_normalized(u, v);
        self.rotation.apply(Vec3::new(x, y, 1.0))
    }

    /// A local point in camera coordinates `(x right, y down, z forward)`.
    pub fn to_camera(&self, p: Vec3) -> Vec3 {
        self.rotation.transpose().apply(p - self.position)
    }

    /// The pixel a local point projects to, or `None` when it is not in front of the camera.
    /// The pixel may lie outside the image.
    pub fn project(&self, p: Vec3) -> Option<(f64, f64)> {
        let c = self.to_camera(p);
        if c.z <= 1e-6 {
            return None;
        }
        Some(self.intrinsics.normalized_to_pixel(c.x / c.z, c.y / c.z))
    }

    /// Where the ray through a pixel meets the horizontal plane at height `plane_z`, or `None`
    /// when the ray never reaches it (it points above the horizon, or away from the plane).
    pub fn ground_point(&self, u: f64, v: f64, plane_z: f64) -> Option<Vec3> {
        let d = self.ray(u, v);
        let t = (plane_z - self.position.z) / d.z;
        (t.is_finite() && t > 0.0).then(|| self.position + d * t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cam(yaw: f64, pitch: f64) -> Camera {
        Camera::from_local(
            Intrinsics::from_hfov(1920, 1080, 70.0),
            Vec3::new(10.0, 20.0, 100.0),
            yaw,
            pitch,
            0.0,
        )
    }

    #[test]
    fn focal_35mm_round_trips() {
        let a = Intrinsics::from_hfov(1920, 1080, 76.3);
        let b = Intrinsics::from_focal_35mm(1920, 1080, a.focal_35mm_equivalent());
        assert!((a.fx - b.fx).abs() < 1e-9, "{a:?} {b:?}");
    }

    #[test]
    fn nadir_looks_down_with_image_top_towards_heading() {
        let c = cam(0.0, -90.0);
        let centre = c.ground_point(960.0, 540.0, 0.0).unwrap();
        assert!((centre - Vec3::new(10.0, 20.0, 0.0)).norm() < 1e-9);
        // The top of the image is ahead of the aircraft: north at yaw 0, east at yaw 90.
        let top = c.ground_point(960.0, 0.0, 0.0).unwrap();
        assert!(top.y > 20.0 + 35.0 && (top.x - 10.0).abs() < 1e-9);
        let top_east = cam(90.0, -90.0).ground_point(960.0, 0.0, 0.0).unwrap();
        assert!(top_east.x > 45.0 && (top_east.y - 20.0).abs() < 1e-9);
        // Image right is to the right of the heading: east at yaw 0.
        let right = c.ground_point(1919.0, 540.0, 0.0).unwrap();
        assert!(right.x > 10.0 + 60.0);
    }

    #[test]
    fn oblique_centre_ray_hits_ground_at_altitude_over_tan() {
        let c = cam(0.0, -45.0);
        let p = c.ground_point(960.0, 540.0, 0.0).unwrap();
        assert!((p.y - 20.0 - 100.0).abs() < 1e-9, "{p:?}");
        assert!(cam(0.0, 10.0).ground_point(960.0, 540.0, 0.0).is_none());
    }

    #[test]
    fn project_inverts_ground_point_with_distortion() {
        let mut c = cam(33.0, -60.0);
        c.intrinsics.k1 = -0.12;
        c.intrinsics.k2 = 0.03;
        for (u, v) in [(5.0, 7.0), (960.0, 540.0), (1900.0, 1000.0), (300.0, 900.0)] {
            let p = c.ground_point(u, v, 3.0).unwrap();
            let (pu, pv) = c.project(p).unwrap();
            assert!(
                (pu - u).abs() < 1e-6 && (pv - v).abs() < 1e-6,
                "{u},{v} -> {pu},{pv}"
            );
        }
    }

    #[test]
    fn points_behind_the_camera_do_not_project() {
        let c = cam(0.0, -90.0);
        assert!(c.project(Vec3::new(10.0, 20.0, 150.0)).is_none());
    }

    #[test]
    fn focal_equivalent_matches_dji_wide_camera() {
        // A 24 mm-equivalent 16:9 frame has a horizontal field of view of about 76°.
        let i = Intrinsics::from_hfov(1920, 1080, 76.3);
        assert!((i.focal_35mm_equivalent() - 24.0).abs() < 0.2);
    }
}
