//! Geolocation accuracy on simulated patrols with the simulator's default telemetry noise (a
//! dock drone's RTK fix, σ 0.3° gimbal): 100 m up, looking straight down and at 45°.
//!
//! The chain measured is the agent's: the SRT read back into poses, each object's box geotagged
//! onto the ground or a roof of the map, and the track's weighted mean position. Boxes are the
//! truth's, jittered by 4 % of their size per edge as a detector's are, so the figure isolates
//! geolocation from detection (the agent tests cover detection). Goals: median error ≤ 1 m at
//! nadir, ≤ 3 m at 45°; the stated 90 % radius covers the truth for ≥ 90 % of objects.
//!
//! Then hilly ground, where the flat-plane assumption breaks: single views at 45° of objects on
//! a DEM's terrain, placed once on the flat plane and once on the DEM.
//!
//! Run: `cargo bench --bench geolocation`.

use std::collections::BTreeMap;

use argus_core::camera::{Camera, Intrinsics, Pose};
use argus_core::dem::{Dem, Terrain};
use argus_core::geodesy::{GeoPoint, LocalFrame, haversine_m};
use argus_core::geotag::{Ground, PoseSigma, geotag};
use argus_core::linalg::Vec3;
use argus_core::map::Map;
use argus_core::telemetry::{PoseDefaults, PoseTimeline};
use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::flight::{FlightOptions, fly};
use argus_sim::truth::FrameTruth;
use argus_truth::scoring::median;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

struct Result {
    objects: usize,
    median_m: f64,
    p90_m: f64,
    coverage: f64,
}

fn run(pitch: f64) -> Result {
    let d = generate(&DistrictOptions::default()).expect("default district");
    let tmp = tempfile::tempdir().expect("temp dir");
    let map_path = argus_sim::district::geojson::write(&d, tmp.path()).expect("district file");
    let map = Map::from_geojson(&std::fs::read_to_string(map_path).unwrap()).unwrap();
    let catalog = argus_core::catalog::Catalog::builtin();
    let mut opts = FlightOptions::new(&d);
    opts.video = false;
    opts.fps = 10;
    opts.duration_s = Some(150.0);
    opts.route.gimbal_pitch_deg = pitch;
    let out = fly(&d, &opts, &tmp.path().join("flight")).expect("flight");
    let timeline = PoseTimeline::from_srt(
        &std::fs::read_to_string(&out.srt).unwrap(),
        &PoseDefaults::default(),
    )
    .unwrap();
    let ground = Ground::flat(0.0, Some(&map));
    let sigma = PoseSigma::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let jitter = Normal::new(0.0, 0.04).unwrap();
    // Per object: weighted sum of positions, weight, best (smallest) uncertainty, truth.
    let mut tracks: BTreeMap<String, ([f64; 2], f64, f64, GeoPoint, u32)> = BTreeMap::new();
    for (k, line) in std::fs::read_to_string(&out.truth)
        .unwrap()
        .lines()
        .enumerate()
    {
        if k % 2 != 0 {
            continue; // the agent analyses 5 of every 10 frames by default
        }
        let t: FrameTruth = serde_json::from_str(line).unwrap();
        let Some(pose) = timeline.at(t.pts_s, 1.0) else {
            continue;
        };
        for o in &t.objects {
            let b = o.bbox;
            let (w, h) = (b[2] - b[0], b[3] - b[1]);
            if w.max(h) < 12.0
                || b[0] <= 0.0
                || b[1] <= 0.0
                || b[2] >= f64::from(t.camera.width)
                || b[3] >= f64::from(t.camera.height)
            {
                continue; // too small to detect, or cut by the frame's edge
            }
            let mut j = |s: f64| jitter.sample(&mut rng) * s;
            let bb = [b[0] + j(w), b[1] + j(h), b[2] + j(w), b[3] + j(h)];
            let Some(g) = geotag(
                t.camera,
                map.frame(),
                &pose,
                bb,
                catalog.height_m(&o.object_class),
                &ground,
                &sigma,
            ) else {
                continue;
            };
            let wgt = 1.0 / g.uncertainty_m.max(0.1).powi(2);
            let e = tracks.entry(o.id.clone()).or_insert((
                [0.0; 2],
                0.0,
                f64::INFINITY,
                GeoPoint {
                    lat: o.lat,
                    lon: o.lon,
                },
                0,
            ));
            e.0[0] += wgt * g.local[0];
            e.0[1] += wgt * g.local[1];
            e.1 += wgt;
            e.2 = e.2.min(g.uncertainty_m);
            e.4 += 1;
        }
    }
    let mut errors = Vec::new();
    let mut covered = 0;
    for (acc, w, unc, truth, n) in tracks.values() {
        if *n < 3 {
            continue; // never a confirmed track
        }
        let p = map.frame().ground_to_geo(acc[0] / w, acc[1] / w);
        let e = haversine_m(p, *truth);
        errors.push(e);
        covered += usize::from(e <= *unc);
    }
    let mut sorted = errors.clone();
    sorted.sort_by(f64::total_cmp);
    Result {
        objects: errors.len(),
        median_m: median(&errors),
        p90_m: sorted
            .get(sorted.len() * 9 / 10)
            .copied()
            .unwrap_or(f64::NAN),
        coverage: covered as f64 / errors.len().max(1) as f64,
    }
}

/// Hilly ground: objects on terrain rising 8 m per 100 m eastwards with 6 m swells, seen at 45°
/// from 100 m above the take-off point, geotagged on the flat plane and on the DEM. Poses carry
/// the simulator's default noise; boxes are jittered as above.
fn hills() -> (Result, Result) {
    let frame = LocalFrame::new(GeoPoint {
        lat: 30.7,
        lon: 121.0,
    });
    let height = |e: f64, n: f64| 40.0 + 0.08 * e + 6.0 * (n / 60.0).sin();
    let dem = Dem::from_fn(30.706, 120.994, 0.0001, (121, 121), |p| {
        let (e, n) = frame.geo_to_ground(p);
        height(e, n)
    })
    .expect("grid");
    let terrain = Terrain {
        dem: &dem,
        frame: &frame,
        reference_m: height(0.0, 0.0),
    };
    let on_dem = Ground {
        terrain: Some(terrain),
        ..Ground::flat(0.0, None)
    };
    let flat = Ground::flat(0.0, None);
    let intr = Intrinsics::from_hfov(1920, 1080, 70.0);
    let sigma = PoseSigma::default();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let unit = Normal::new(0.0, 1.0).unwrap();
    let mut errors = (Vec::new(), Vec::new());
    let mut covered = (0, 0);
    while errors.0.len() < 400 {
        let mut n = || -> f64 { unit.sample(&mut rng) };
        // An object somewhere within 300 m, and a drone 100 m up looking at it from the side.
        let (e, no) = (150.0 * n().clamp(-2.0, 2.0), 150.0 * n().clamp(-2.0, 2.0));
        let base = Vec3::new(e, no, terrain.z(e, no).expect("on the DEM"));
        let yaw = 180.0 * n().clamp(-1.0, 1.0);
        let reach = 100.0 - base.z + 20.0 * n();
        let (sy, cy) = yaw.to_radians().sin_cos();
        let at = frame.ground_to_geo(base.x - reach * sy, base.y - reach * cy);
        let truth_pose = Pose {
            lat: at.lat,
            lon: at.lon,
            alt_m: 100.0,
            yaw_deg: yaw,
            pitch_deg: -45.0,
            roll_deg: 0.0,
        };
        let cam = Camera::new(intr, &frame, &truth_pose);
        let Some((u, v)) = cam.project(base + Vec3::new(0.0, 0.0, 0.5)) else {
            continue;
        };
        if !(u > 20.0 && v > 20.0 && u < 1900.0 && v < 1060.0) {
            continue;
        }
        // The pose as the telemetry reports it.
        let gps = frame.geo_to_ground(at);
        let noisy = frame.ground_to_geo(gps.0 + sigma.gps_m * n(), gps.1 + sigma.gps_m * n());
        let pose = Pose {
            lat: noisy.lat,
            lon: noisy.lon,
            alt_m: 100.0 + sigma.alt_m * n(),
            yaw_deg: yaw + sigma.angle_deg * n(),
            pitch_deg: -45.0 + sigma.angle_deg * n(),
            roll_deg: sigma.angle_deg * n(),
        };
        let half = 12.0;
        let mut j = || 0.04 * 2.0 * half * n();
        let bbox = [
            u - half + j(),
            v - half + j(),
            u + half + j(),
            v + half + j(),
        ];
        let tag = |g: &Ground<'_>| geotag(intr, &frame, &pose, bbox, 1.0, g, &sigma);
        let (Some(a), Some(b)) = (tag(&flat), tag(&on_dem)) else {
            continue;
        };
        let err = |g: &argus_core::geotag::Geotag| (g.local[0] - base.x).hypot(g.local[1] - base.y);
        errors.0.push(err(&a));
        errors.1.push(err(&b));
        covered.0 += usize::from(err(&a) <= a.uncertainty_m);
        covered.1 += usize::from(err(&b) <= b.uncertainty_m);
    }
    let summary = |errors: &[f64], covered: usize| {
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        Result {
            objects: errors.len(),
            median_m: median(errors),
            p90_m: sorted[sorted.len() * 9 / 10],
            coverage: covered as f64 / errors.len() as f64,
        }
    };
    (summary(&errors.0, covered.0), summary(&errors.1, covered.1))
}

fn main() {
    // `cargo test --benches` smoke-runs benches without `--bench`: nothing to do then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("geolocation, default telemetry noise, 100 m, 150 s of patrol each");
    println!(
        "{:<10} {:>8} {:>10} {:>8} {:>6} {:>9} {:>6}",
        "view", "objects", "median m", "p90 m", "goal", "covered", "goal"
    );
    for (name, pitch, goal) in [("nadir", -90.0, 1.0), ("oblique45", -45.0, 3.0)] {
        let r = run(pitch);
        println!(
            "{name:<10} {:>8} {:>10.2} {:>8.2} {:>6.1} {:>8.0}% {:>5}%  median {:.2}x under the goal",
            r.objects,
            r.median_m,
            r.p90_m,
            goal,
            r.coverage * 100.0,
            90,
            goal / r.median_m
        );
    }
    let (flat, dem) = hills();
    println!("\nhilly ground (8 % slope, 6 m swells), 45° from 100 m, single views");
    for (name, r) in [("flat plane", flat), ("DEM", dem)] {
        println!(
            "{name:<10} {:>8} {:>10.2} {:>8.2} {:>6} {:>8.0}%",
            r.objects,
            r.median_m,
            r.p90_m,
            "",
            r.coverage * 100.0,
        );
    }
}
