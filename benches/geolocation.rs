//! Geolocation accuracy on simulated patrols with the simulator's default telemetry noise (a
//! dock drone's RTK fix, σ 0.3° gimbal): 100 m up, looking straight down and at 45°.
//!
//! The chain measured is the agent's: the SRT read back into poses, each object's box geotagged
//! onto the ground or a roof of the map, and the track's weighted mean position. Boxes are the
//! truth's, jittered by 4 % of their size per edge as a detector's are, so the figure isolates
//! geolocation from detection (the agent tests cover detection). Goals: median error ≤ 1 m at
//! nadir, ≤ 3 m at 45°; the stated 90 % radius covers the truth for ≥ 90 % of objects.
//!
//! Run: `cargo bench --bench geolocation`.

use std::collections::BTreeMap;

use argus::scoring::median;
use argus_core::geodesy::{GeoPoint, haversine_m};
use argus_core::geotag::{Ground, PoseSigma, geotag};
use argus_core::map::Map;
use argus_core::telemetry::{PoseDefaults, PoseTimeline};
use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::flight::{FlightOptions, fly};
use argus_sim::truth::FrameTruth;
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
    let ground = Ground {
        plane_z: 0.0,
        map: Some(&map),
    };
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
                &o.object_class,
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
}
