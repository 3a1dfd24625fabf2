//! A fixed camera's image → ground homography, once fitted: where a pixel meets the ground
//! (local east/north metres), how many metres a pixel spans there, and the fit's error at its
//! control points. Fitting it (OpenCV's `findHomography`) is `argus-calib`'s; using it is pure
//! arithmetic, so the analysis places a street camera's sightings without a native library.
//!
//! ```
//! use argus_core::geodesy::{GeoPoint, LocalFrame};
//! use argus_core::homography::{Gcp, GroundHomography};
//!
//! let frame = LocalFrame::new(GeoPoint { lat: 30.7, lon: 121.02 });
//! // A camera looking straight down: one pixel is 5 cm, the image centre is the origin.
//! let h = [0.05, 0.0, -32.0, 0.0, -0.05, 18.0, 0.0, 0.0, 1.0];
//! let gcps: Vec<Gcp> = [(0.0, 0.0), (1280.0, 0.0), (0.0, 720.0), (1280.0, 720.0)]
//!     .iter()
//!     .map(|&(u, v)| {
//!         let g = frame.ground_to_geo(0.05 * u - 32.0, 18.0 - 0.05 * v);
//!         Gcp { pixel: [u, v], lat: g.lat, lon: g.lon }
//!     })
//!     .collect();
//! let hom = GroundHomography::from_matrix(h, &gcps, &frame).unwrap();
//! assert!(hom.rms_m < 0.01);
//! let p = hom.to_ground(640.0, 360.0).unwrap();
//! assert!(p[0].abs() < 1e-9 && p[1].abs() < 1e-9);
//! ```

use serde::{Deserialize, Serialize};

use crate::camera::Camera;
use crate::geodesy::{GeoPoint, LocalFrame};
use crate::linalg::Vec3;

/// A ground control point: a pixel and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gcp {
    /// Pixel `[u, v]`.
    pub pixel: [f64; 2],
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

impl Gcp {
    /// The control point of ground point `(e, n)` (local metres in `frame`, on the ground
    /// plane) as `cam` sees it; `None` when it is behind the camera.
    pub fn of_ground(cam: &Camera, frame: &LocalFrame, e: f64, n: f64) -> Option<Self> {
        let (u, v) = cam.project(Vec3::new(e, n, 0.0))?;
        let g = frame.ground_to_geo(e, n);
        Some(Self {
            pixel: [u, v],
            lat: g.lat,
            lon: g.lon,
        })
    }

    /// The control point of pixel `(u, v)`: where its ray meets the ground plane of `frame`;
    /// `None` at or above the horizon.
    pub fn at_pixel(cam: &Camera, frame: &LocalFrame, u: f64, v: f64) -> Option<Self> {
        let p = cam.ground_point(u, v, 0.0)?;
        let g = frame.ground_to_geo(p.x, p.y);
        Some(Self {
            pixel: [u, v],
            lat: g.lat,
            lon: g.lon,
        })
    }
}

/// The image → ground homography of a fixed camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundHomography {
    h: [f64; 9],
    /// The sign of the projective scale on the ground side of the horizon (taken at a GCP).
    ground_sign: f64,
    /// Root-mean-square distance between the control points and where the homography puts
    /// their pixels, metres.
    pub rms_m: f64,
    /// Control points used.
    pub points: usize,
}

impl GroundHomography {
    /// The homography of the row-major matrix `h` (pixel → local metres in `frame`) fitted to
    /// `gcps`, with its error there. `None` when the matrix is not finite, is zero, or puts a
    /// control point beyond the horizon.
    pub fn from_matrix(h: [f64; 9], gcps: &[Gcp], frame: &LocalFrame) -> Option<Self> {
        if !h.iter().all(|v| v.is_finite()) || h.iter().all(|v| v.abs() < 1e-12) {
            return None;
        }
        let p0 = gcps.first()?.pixel;
        let ground_sign = (h[6] * p0[0] + h[7] * p0[1] + h[8]).signum();
        let mut hom = Self {
            h,
            ground_sign,
            rms_m: 0.0,
            points: gcps.len(),
        };
        let mut sq = 0.0;
        for g in gcps {
            let (e, n) = frame.geo_to_ground(GeoPoint {
                lat: g.lat,
                lon: g.lon,
            });
            let q = hom.to_ground(g.pixel[0], g.pixel[1])?;
            sq += (q[0] - e).powi(2) + (q[1] - n).powi(2);
        }
        hom.rms_m = (sq / gcps.len() as f64).sqrt();
        Some(hom)
    }

    /// The ground point (local metres) of a pixel, or `None` at or above the horizon line.
    pub fn to_ground(&self, u: f64, v: f64) -> Option<[f64; 2]> {
        let h = &self.h;
        let w = h[6] * u + h[7] * v + h[8];
        // Beyond the horizon line the projective scale changes sign: the sky has no ground.
        if w.abs() < 1e-12 || w.signum() != self.ground_sign {
            return None;
        }
        Some([
            (h[0] * u + h[1] * v + h[2]) / w,
            (h[3] * u + h[4] * v + h[5]) / w,
        ])
    }

    /// Metres on the ground per pixel near `(u, v)` (the larger of the two directions).
    pub fn metres_per_pixel(&self, u: f64, v: f64) -> Option<f64> {
        let p = self.to_ground(u, v)?;
        let a = self.to_ground(u + 1.0, v)?;
        let b = self.to_ground(u, v + 1.0)?;
        let d = |q: [f64; 2]| ((q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2)).sqrt();
        Some(d(a).max(d(b)))
    }
}
