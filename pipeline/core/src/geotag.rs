//! Geotagging: a detection's box → the place on the ground (or on a roof) it shows, with an
//! uncertainty in metres propagated from the pose's errors.
//!
//! The box centre is taken as the projection of the object's 3-D centre, half the class's
//! typical height (the class catalog's) above the surface its ray meets first: the ground plane, or the roof of a
//! building footprint from the map (so a rooftop shed lands on its roof, not where its ray
//! meets the street behind). The uncertainty is the radius of the circle that holds the true
//! position with 90 % probability under a Gaussian error model: GPS, height and angle errors,
//! the box centre's pixel error and the object-height guess, each carried through by finite
//! differences of the same ray cast.

use serde::{Deserialize, Serialize};

use crate::camera::{Camera, Intrinsics, Pose};
use crate::dem::Terrain;
use crate::geodesy::LocalFrame;
use crate::linalg::Vec3;
use crate::map::Map;

/// One-sigma errors of the pose, as the telemetry source states or as measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoseSigma {
    /// Horizontal GPS error per axis, metres.
    pub gps_m: f64,
    /// Height error, metres.
    pub alt_m: f64,
    /// Gimbal angle error per axis, degrees.
    pub angle_deg: f64,
}

impl Default for PoseSigma {
    fn default() -> Self {
        // A dock drone: RTK-fixed position and a stabilised gimbal (the simulator's default).
        Self {
            gps_m: 0.1,
            alt_m: 0.2,
            angle_deg: 0.3,
        }
    }
}

/// The surfaces rays can meet: a ground plane or the terrain of a DEM and, optionally, the map's
/// building roofs.
#[derive(Debug, Clone, Copy)]
pub struct Ground<'a> {
    /// Height of the ground plane in the local frame, metres (where there is no terrain).
    pub plane_z: f64,
    /// Building footprints (`building` layer, `height_m`) to place things on roofs.
    pub map: Option<&'a Map>,
    /// The terrain, when a DEM is given: it replaces the plane, and buildings stand on it.
    pub terrain: Option<Terrain<'a>>,
}

/// Where a ray meets a surface.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit3 {
    /// The local point.
    pub point: Vec3,
    /// The building whose roof it is on, if any.
    pub building: Option<String>,
}

impl<'a> Ground<'a> {
    /// A flat ground at `plane_z`, with the map's roofs when there is a map.
    pub fn flat(plane_z: f64, map: Option<&'a Map>) -> Self {
        Self {
            plane_z,
            map,
            terrain: None,
        }
    }

    /// The first surface the ray from `origin` along `dir` meets.
    pub fn cast(&self, origin: Vec3, dir: Vec3) -> Option<Hit3> {
        let ground = match &self.terrain {
            Some(terrain) => terrain.cast(origin, dir)?,
            None => {
                let t = (self.plane_z - origin.z) / dir.z;
                if !(t.is_finite() && t > 0.0) {
                    return None;
                }
                origin + dir * t
            }
        };
        let mut best = Hit3 {
            point: ground,
            building: None,
        };
        let Some(map) = self.map else {
            return Some(best);
        };
        // Along the ray, in units of `dir`: the ground's distance, and each roof's.
        let t_of = |z: f64| (z - origin.z) / dir.z;
        let mut best_t = t_of(ground.z);
        for b in map.along("building", [origin.x, origin.y], [ground.x, ground.y]) {
            let Some(h) = b.height_m else { continue };
            // The roof stands on the ground under the building: the plane, or the terrain below
            // where the ray passes a roof that height above the ray's own ground point.
            let base = match &self.terrain {
                None => self.plane_z,
                Some(terrain) => {
                    let p = origin + dir * t_of(ground.z + h);
                    terrain.z(p.x, p.y).unwrap_or(ground.z)
                }
            };
            let t = t_of(base + h);
            if !(t > 0.0 && t < best_t) {
                continue;
            }
            let p = origin + dir * t;
            if b.contains([p.x, p.y]) {
                best_t = t;
                best = Hit3 {
                    point: p,
                    building: Some(b.id.clone()),
                };
            }
        }
        Some(best)
    }

    /// Where the box centre `(u, v)` of an object `height_m` tall is: its base point on the
    /// surface, and the building it stands on.
    pub fn locate(&self, cam: &Camera, u: f64, v: f64, height_m: f64) -> Option<Hit3> {
        let dir = cam.ray(u, v);
        let surface = self.cast(cam.position, dir)?;
        let mid_z = surface.point.z + height_m / 2.0;
        let t = (mid_z - cam.position.z) / dir.z;
        if !(t.is_finite() && t > 0.0) {
            return Some(surface);
        }
        let p = cam.position + dir * t;
        Some(Hit3 {
            point: Vec3::new(p.x, p.y, surface.point.z),
            building: surface.building,
        })
    }
}

/// A geotagged detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Geotag {
    /// Local east/north of the object's base centre, metres.
    pub local: [f64; 2],
    /// Height of the surface it stands on above the ground plane, metres.
    pub elevation_m: f64,
    /// Radius of the 90 % circle, metres.
    pub uncertainty_m: f64,
    /// The building it stands on, if on a roof.
    pub building: Option<String>,
}

/// √(−2 ln 0.1): the 90 % radius of a circular Gaussian in units of σ.
pub const R90: f64 = 2.1460;

/// Geotags the box `[x0, y0, x1, y1]` of an object of typical height `height_m` (the class
/// catalog's, [`crate::catalog::Catalog::height_m`]) seen by a camera at `pose`.
pub fn geotag(
    intrinsics: Intrinsics,
    frame: &LocalFrame,
    pose: &Pose,
    bbox: [f64; 4],
    height_m: f64,
    ground: &Ground<'_>,
    sigma: &PoseSigma,
) -> Option<Geotag> {
    let (u, v) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let h = height_m;
    let cam = Camera::new(intrinsics, frame, pose);
    let base = ground.locate(&cam, u, v, h)?;
    let at = |pose: &Pose, u: f64, v: f64, h: f64| -> Option<[f64; 2]> {
        let p = ground
            .locate(&Camera::new(intrinsics, frame, pose), u, v, h)?
            .point;
        Some([p.x, p.y])
    };
    let p0 = [base.point.x, base.point.y];
    // Covariance of the horizontal position: Σ = Σ_gps + Σ_k J_k σ_k² J_kᵀ.
    let mut cov = [sigma.gps_m.powi(2), 0.0, sigma.gps_m.powi(2)]; // xx, xy, yy
    let mut add = |q: Option<[f64; 2]>, step: f64, s: f64| {
        // An unreachable perturbed ray (over the horizon) counts as a 100 m error.
        let (dx, dy) = q.map_or((100.0, 100.0), |q| {
            ((q[0] - p0[0]) / step * s, (q[1] - p0[1]) / step * s)
        });
        cov[0] += dx * dx;
        cov[1] += dx * dy;
        cov[2] += dy * dy;
    };
    let da = 0.1_f64;
    let tweak = |f: &dyn Fn(&mut Pose)| {
        let mut p = *pose;
        f(&mut p);
        p
    };
    add(at(&tweak(&|p| p.alt_m += 0.1), u, v, h), 0.1, sigma.alt_m);
    add(
        at(&tweak(&|p| p.yaw_deg += da), u, v, h),
        da,
        sigma.angle_deg,
    );
    add(
        at(&tweak(&|p| p.pitch_deg += da), u, v, h),
        da,
        sigma.angle_deg,
    );
    add(
        at(&tweak(&|p| p.roll_deg += da), u, v, h),
        da,
        sigma.angle_deg,
    );
    // The box centre is good to about a tenth of the box; the height guess to 40 %.
    let px = 0.1 * (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]).max(2.0) / 2.0;
    add(at(pose, u + 1.0, v, h), 1.0, px);
    add(at(pose, u, v + 1.0, h), 1.0, px);
    add(at(pose, u, v, h + 0.1), 0.1, 0.4 * h);
    let (a, b, c) = (cov[0], cov[1], cov[2]);
    let lambda_max = (a + c) / 2.0 + (((a - c) / 2.0).powi(2) + b * b).sqrt();
    Some(Geotag {
        local: p0,
        elevation_m: base.point.z,
        uncertainty_m: R90 * lambda_max.sqrt(),
        building: base.building,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::GeoPoint;
    use crate::map::Area;

    fn setup() -> (Intrinsics, LocalFrame) {
        (
            Intrinsics::from_hfov(1920, 1080, 80.0),
            LocalFrame::new(GeoPoint {
                lat: 30.7,
                lon: 121.0,
            }),
        )
    }

    fn pose(pitch: f64) -> Pose {
        Pose {
            lat: 30.7,
            lon: 121.0,
            alt_m: 100.0,
            yaw_deg: 30.0,
            pitch_deg: pitch,
            roll_deg: 0.0,
        }
    }

    #[test]
    fn box_centre_is_the_objects_middle_not_its_top() {
        let (intr, frame) = setup();
        let p = pose(-45.0);
        let cam = Camera::new(intr, &frame, &p);
        // A 2 m stall standing at (20, 80): its centre is 1 m up.
        let (u, v) = cam.project(Vec3::new(20.0, 80.0, 1.0)).unwrap();
        let g = geotag(
            intr,
            &frame,
            &p,
            [u - 5.0, v - 5.0, u + 5.0, v + 5.0],
            2.0,
            &Ground::flat(0.0, None),
            &PoseSigma::default(),
        )
        .unwrap();
        assert!(
            (g.local[0] - 20.0).abs() < 1e-6 && (g.local[1] - 80.0).abs() < 1e-6,
            "{g:?}"
        );
        assert_eq!(g.elevation_m, 0.0);
    }

    #[test]
    fn on_a_slope_the_terrain_places_what_the_flat_plane_misplaces() {
        let (intr, frame) = setup();
        let p = pose(-45.0);
        let cam = Camera::new(intr, &frame, &p);
        let dem = crate::dem::tests::slope(&frame);
        let terrain = Terrain {
            dem: &dem,
            frame: &frame,
            reference_m: 50.0,
        };
        // A 2 m stall at (20, 80) on ground 2 m above the take-off point's.
        let base_z = terrain.z(20.0, 80.0).unwrap();
        assert!((base_z - 2.0).abs() < 0.01, "{base_z}");
        let (u, v) = cam.project(Vec3::new(20.0, 80.0, base_z + 1.0)).unwrap();
        let tag = |ground: &Ground<'_>| {
            geotag(
                intr,
                &frame,
                &p,
                [u - 5.0, v - 5.0, u + 5.0, v + 5.0],
                2.0,
                ground,
                &PoseSigma::default(),
            )
            .unwrap()
        };
        let on_terrain = tag(&Ground {
            terrain: Some(terrain),
            ..Ground::flat(0.0, None)
        });
        let err = |g: &Geotag| (g.local[0] - 20.0).hypot(g.local[1] - 80.0);
        assert!(err(&on_terrain) < 0.05, "{on_terrain:?}");
        assert!(
            (on_terrain.elevation_m - 2.0).abs() < 0.05,
            "{on_terrain:?}"
        );
        assert!(on_terrain.uncertainty_m.is_finite() && on_terrain.uncertainty_m < 3.0);
        // The flat plane puts it 2 m too low, so about 2 m too far at 45°.
        let flat = tag(&Ground::flat(0.0, None));
        assert!(err(&flat) > 1.5, "{flat:?}");
    }

    #[test]
    fn a_rooftop_object_lands_on_its_roof() {
        let (intr, frame) = setup();
        let p = pose(-50.0);
        let cam = Camera::new(intr, &frame, &p);
        let mut map = Map::empty(frame.origin());
        let mut building = Area::new(
            "B1",
            "building",
            vec![[30.0, 60.0], [60.0, 60.0], [60.0, 90.0], [30.0, 90.0]],
        );
        building.height_m = Some(20.0);
        map.push(building);
        let (u, v) = cam.project(Vec3::new(45.0, 75.0, 21.4)).unwrap();
        let bbox = [u - 4.0, v - 4.0, u + 4.0, v + 4.0];
        let roof = geotag(
            intr,
            &frame,
            &p,
            bbox,
            2.8,
            &Ground::flat(0.0, Some(&map)),
            &PoseSigma::default(),
        )
        .unwrap();
        assert_eq!(roof.building.as_deref(), Some("B1"));
        assert!(
            (roof.local[0] - 45.0).abs() < 1e-6 && (roof.local[1] - 75.0).abs() < 1e-6,
            "{roof:?}"
        );
        assert_eq!(roof.elevation_m, 20.0);
        // Without the building the same ray lands tens of metres further on, in the street.
        let flat = geotag(
            intr,
            &frame,
            &p,
            bbox,
            2.8,
            &Ground::flat(0.0, None),
            &PoseSigma::default(),
        )
        .unwrap();
        let d = ((flat.local[0] - 45.0).powi(2) + (flat.local[1] - 75.0).powi(2)).sqrt();
        assert!(d > 15.0, "{d}");
    }

    #[test]
    fn uncertainty_grows_with_obliqueness_and_matches_the_rule_of_thumb() {
        let (intr, frame) = setup();
        let s = PoseSigma {
            gps_m: 0.0,
            alt_m: 0.0,
            angle_deg: 1.0,
        };
        let g = |pitch: f64| {
            geotag(
                intr,
                &frame,
                &pose(pitch),
                [955.0, 535.0, 965.0, 545.0],
                1.0,
                &Ground::flat(0.0, None),
                &s,
            )
            .unwrap()
        };
        let (nadir, oblique) = (g(-90.0), g(-45.0));
        assert!(
            oblique.uncertainty_m > 2.0 * nadir.uncertainty_m,
            "{nadir:?} {oblique:?}"
        );
        // formats.md §5.5: 1° of pitch at 45° from 100 m ≈ 3.5 m; yaw adds D·δψ ≈ 1.7 m.
        let pitch_only = 100.0 * 1f64.to_radians() / 0.5;
        assert!(
            oblique.uncertainty_m > R90 * pitch_only * 0.9,
            "{oblique:?}"
        );
        assert!(
            oblique.uncertainty_m < R90 * pitch_only * 1.5,
            "{oblique:?}"
        );
    }
}
