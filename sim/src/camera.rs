//! Street cameras: a fixed, surveyed camera on a pole overlooking a street, with ground control
//! points, and a scenario in which violations arrive while it watches (a stall is set up in the
//! kerb lane, a pile of spoil is dumped at the roadside).

use std::path::{Path, PathBuf};

use argus_core::camera::{Camera, Intrinsics, Pose};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::district::{District, Object, ObjectKind};
use crate::render::{GroundTexture, Lighting, Scene};

/// Default camera frame size (a typical substream).
pub const DEFAULT_SIZE: (u32, u32) = (1280, 720);
/// Default camera frame rate.
pub const DEFAULT_FPS: u32 = 15;

/// A ground control point: a pixel and where it is (`argus-calib` fits the camera's ground
/// homography from them).
pub use argus_core::homography::Gcp as GroundControlPoint;

/// A violation that appears during the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    /// Seconds after the start when it appears.
    pub at_s: f64,
    /// The district object id it adds.
    pub id: String,
    /// Its violation class.
    pub class: String,
}

/// `camera.json`: everything an installer would record about the camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraSetup {
    /// Camera id.
    pub camera_id: String,
    /// Surveyed pose.
    pub pose: Pose,
    /// Calibrated intrinsics.
    pub camera: Intrinsics,
    /// Ground control points (pixel ↔ lat/lon), at least four.
    pub gcps: Vec<GroundControlPoint>,
    /// Violations that arrive during the scenario.
    pub arrivals: Vec<Arrival>,
}

/// A camera with its scene, ready to render frames at any scenario time.
#[derive(Debug)]
pub struct StreetCamera {
    /// The district with the arriving objects added.
    pub district: District,
    /// The setup written to `camera.json`.
    pub setup: CameraSetup,
    /// The posed camera.
    pub camera: Camera,
    scene: Scene,
    /// `(object index, at_s)` of each arrival.
    arrivals: Vec<(usize, f64)>,
}

impl StreetCamera {
    /// Places a camera in `district` (seeded), with arrivals spread over `duration_s`.
    pub fn new(district: &District, seed: u64, size: (u32, u32), duration_s: f64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xca3e_7a11);
        let mut d = district.clone();
        // A long kerb lane to watch; the camera stands on the footway at its right.
        let lanes: Vec<usize> = (0..d.lanes.len())
            .filter(|&i| {
                let l = &d.lanes[i];
                l.right_is_kerb && (l.end[0] - l.start[0]).hypot(l.end[1] - l.start[1]) > 90.0
            })
            .collect();
        let lane = d.lanes[lanes[rng.random_range(0..lanes.len())]].clone();
        let (dx, dy) = (lane.end[0] - lane.start[0], lane.end[1] - lane.start[1]);
        let len = dx.hypot(dy);
        let (ux, uy) = (dx / len, dy / len);
        let (rx, ry) = (uy, -ux); // right of travel
        let at = |along: f64, right: f64| {
            [
                lane.start[0] + ux * along + rx * right,
                lane.start[1] + uy * along + ry * right,
            ]
        };
        let base = at(15.0, lane.width / 2.0 + 1.0);
        let heading = dx.atan2(dy).to_degrees();
        let pose_local = (base, 8.0, heading - 12.0, -24.0);
        let frame = d.frame();
        let g = frame.ground_to_geo(pose_local.0[0], pose_local.0[1]);
        let pose = Pose {
            lat: g.lat,
            lon: g.lon,
            alt_m: pose_local.1,
            yaw_deg: pose_local.2,
            pitch_deg: pose_local.3,
            roll_deg: 0.0,
        };
        let intr = Intrinsics::from_hfov(size.0, size.1, 70.0);
        let camera = Camera::new(intr, &frame, &pose);
        // Arrivals: a stall in the kerb lane, then spoil at the roadside, in clear view.
        let yaw = dx.atan2(dy);
        let mut arrivals = Vec::new();
        for (k, (kind, along, right, len_m, wid_m, h_m, frac)) in [
            (ObjectKind::Stall, 38.0, 0.0, 2.6, 1.8, 2.3, 0.2),
            (
                ObjectKind::Spoil,
                55.0,
                lane.width / 2.0 + 1.2,
                4.5,
                3.5,
                1.6,
                0.5,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let c = at(along, right);
            // Clear the spot of anything already there.
            d.objects
                .retain(|o| (o.center[0] - c[0]).hypot(o.center[1] - c[1]) > 6.0 || o.elev > 0.0);
            let id = format!("V9{:03}", k + 1);
            let o = Object {
                id: id.clone(),
                kind,
                violation: true,
                rule: format!("arrives during camera scenario: lane {}", lane.id),
                center: c,
                yaw,
                length: len_m,
                width: wid_m,
                height: h_m,
                elev: 0.0,
                variant: rng.random(),
            };
            d.objects.push(o);
            arrivals.push((d.objects.len() - 1, frac * duration_s));
        }
        let gcps = ground_control_points(&camera, &frame);
        let setup = CameraSetup {
            camera_id: format!("cam-{seed}"),
            pose,
            camera: intr,
            gcps,
            arrivals: arrivals
                .iter()
                .map(|&(i, at_s)| Arrival {
                    at_s,
                    id: d.objects[i].id.clone(),
                    class: d.objects[i]
                        .kind
                        .violation_class()
                        .map_or("", |c| c.as_str())
                        .into(),
                })
                .collect(),
        };
        let mut hidden = vec![false; d.objects.len()];
        for &(i, _) in &arrivals {
            hidden[i] = true;
        }
        let albedo = GroundTexture::build(&d, crate::render::DEFAULT_TEXEL_M);
        let scene = Scene::with_hidden(&d, &albedo, Lighting::at_minute(d.scene_minute), hidden);
        Self {
            district: d,
            setup,
            camera,
            scene,
            arrivals,
        }
    }

    /// The scene as it is at `t` seconds into the scenario.
    pub fn scene_at(&mut self, t: f64) -> &Scene {
        for &(i, at_s) in &self.arrivals {
            self.scene.set_hidden(i, t < at_s);
        }
        &self.scene
    }

    /// Writes `camera.json` into `dir`.
    pub fn write_setup(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("camera.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&self.setup).expect("serialisable") + "\n",
        )?;
        Ok(path)
    }
}

/// Eight ground points spread over the lower part of the image, where the ground is.
fn ground_control_points(
    cam: &Camera,
    frame: &argus_core::geodesy::LocalFrame,
) -> Vec<GroundControlPoint> {
    let (w, h) = (
        f64::from(cam.intrinsics.width),
        f64::from(cam.intrinsics.height),
    );
    [0.6, 0.9]
        .iter()
        .flat_map(|fy| [0.15, 0.4, 0.65, 0.9].map(|fx| (w * fx, h * fy)))
        .filter_map(|(u, v)| GroundControlPoint::at_pixel(cam, frame, u, v))
        .collect()
}

/// Renders the scenario from `start_s` for `frames` frames, calling `sink` with each frame's
/// pixels and truth. Rendering and labelling are shared by the file and the live modes.
pub fn run_frames(
    cam: &mut StreetCamera,
    fps: u32,
    frames: Option<u64>,
    mut sink: impl FnMut(&[u8], &crate::truth::FrameTruth) -> anyhow::Result<bool>,
) -> anyhow::Result<u64> {
    let mut renderer = crate::render::Renderer::new(cam.camera.intrinsics);
    let mut k = 0u64;
    while frames.is_none_or(|n| k < n) {
        let t = k as f64 / f64::from(fps);
        let camera = cam.camera;
        let pose = cam.setup.pose;
        let views = renderer.render(cam.scene_at(t), &camera, k);
        let truth = crate::truth::frame_truth(&cam.district, k, t, pose, &camera, &views);
        if !sink(renderer.rgb(), &truth)? {
            break;
        }
        k += 1;
    }
    Ok(k)
}
