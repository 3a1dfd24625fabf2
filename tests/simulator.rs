//! The simulator's contract with everything tested on it: determinism, exact truth, decodable
//! video, and telemetry that reads back to the poses flown.

use std::path::Path;

use argus_core::camera::{Camera, Intrinsics};
use argus_core::geodesy::GeoPoint;
use argus_core::linalg::Vec3;
use argus_core::srt;
use argus_sim::district::{self, District, generate::DistrictOptions};
use argus_sim::flight::{FlightOptions, Route, TelemetryNoise, fly, route::Waypoint};
use argus_sim::render::{DEFAULT_TEXEL_M, GroundTexture, Lighting, Renderer, Scene};
use argus_sim::truth::FrameTruth;

fn district_in(dir: &Path, seed: u64) -> District {
    let d = district::generate::generate(&DistrictOptions {
        seed,
        ..Default::default()
    })
    .unwrap();
    district::geojson::write(&d, dir).unwrap();
    district::geojson::read(dir).unwrap()
}

/// A route through up to `n` violations, nearest first, at 100 m.
fn route_over_violations(d: &District, n: usize, pitch: f64) -> Route {
    let mut left: Vec<[f64; 2]> = d
        .objects
        .iter()
        .filter(|o| o.violation && o.elev == 0.0)
        .map(|o| o.center)
        .collect();
    let mut path = vec![left.remove(0)];
    while path.len() < n && !left.is_empty() {
        let last = *path.last().unwrap();
        let (k, _) = left
            .iter()
            .enumerate()
            .min_by(|a, b| {
                let da = (a.1[0] - last[0]).hypot(a.1[1] - last[1]);
                let db = (b.1[0] - last[0]).hypot(b.1[1] - last[1]);
                da.total_cmp(&db)
            })
            .unwrap();
        path.push(left.remove(k));
    }
    let f = d.frame();
    Route {
        altitude_m: 100.0,
        speed_mps: 15.0,
        gimbal_pitch_deg: pitch,
        gimbal_yaw_offset_deg: 0.0,
        home: None,
        waypoints: path
            .iter()
            .map(|p| {
                let g = f.ground_to_geo(p[0], p[1]);
                Waypoint {
                    lat: g.lat,
                    lon: g.lon,
                    alt_m: None,
                    gimbal_pitch_deg: None,
                    speed_mps: None,
                    hover_s: None,
                }
            })
            .collect(),
    }
}

fn read_truth(path: &Path) -> Vec<FrameTruth> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn quick_flight(
    d: &District,
    route: Route,
    size: (u32, u32),
    fps: u32,
    secs: f64,
    video: bool,
) -> FlightOptions {
    let mut o = FlightOptions::new(d);
    (o.width, o.height, o.fps, o.duration_s, o.video, o.route) =
        (size.0, size.1, fps, Some(secs), video, route);
    o
}

#[test]
fn same_seed_gives_byte_identical_district_and_truth() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (da, db) = (district_in(a.path(), 42), district_in(b.path(), 42));
    let bytes = |p: &Path| std::fs::read(p.join("district.geojson")).unwrap();
    assert_eq!(bytes(a.path()), bytes(b.path()));
    let other = tempfile::tempdir().unwrap();
    district_in(other.path(), 43);
    assert_ne!(
        bytes(a.path()),
        bytes(other.path()),
        "another seed must give another district"
    );
    for (d, dir) in [(&da, a.path()), (&db, b.path())] {
        let opts = quick_flight(
            d,
            route_over_violations(d, 3, -90.0),
            (320, 180),
            5,
            6.0,
            false,
        );
        fly(d, &opts, &dir.join("f")).unwrap();
    }
    for name in ["truth.jsonl", "flight.SRT"] {
        assert_eq!(
            std::fs::read(a.path().join("f").join(name)).unwrap(),
            std::fs::read(b.path().join("f").join(name)).unwrap(),
            "{name}"
        );
    }
}

fn check_truth_projects_into_boxes(pitch: f64) {
    let dir = tempfile::tempdir().unwrap();
    let d = district_in(dir.path(), 1);
    let opts = quick_flight(
        &d,
        route_over_violations(&d, 5, pitch),
        (640, 360),
        5,
        40.0,
        false,
    );
    let out = fly(&d, &opts, &dir.path().join("f")).unwrap();
    let truth = read_truth(&out.truth);
    assert_eq!(truth.len() as u64, out.frames);
    let frame = d.frame();
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for ft in &truth {
        let cam = Camera::new(ft.camera, &frame, &ft.pose);
        for o in ft.objects.iter().filter(|o| o.violation) {
            let (e, n) = frame.geo_to_ground(GeoPoint {
                lat: o.lat,
                lon: o.lon,
            });
            let (u, v) = cam
                .project(Vec3::new(e, n, o.elev_m))
                .expect("a labelled object is in front of the camera");
            if !ft.camera.contains(u, v) {
                continue; // its centre is off the edge; the box is clipped to the image
            }
            let b = o.bbox;
            assert!(
                u >= b[0] && u <= b[2] && v >= b[1] && v <= b[3],
                "frame {} {}: ({u:.1}, {v:.1}) outside {b:?}",
                ft.frame,
                o.id
            );
            checked += 1;
            seen.insert(o.id.clone());
        }
    }
    assert!(
        seen.len() >= 3 && checked >= 20,
        "pitch {pitch}: only {checked} checks on {} violations",
        seen.len()
    );
}

#[test]
fn violations_project_into_their_boxes_at_nadir() {
    check_truth_projects_into_boxes(-90.0);
}

#[test]
fn violations_project_into_their_boxes_at_45_degrees_oblique() {
    check_truth_projects_into_boxes(-45.0);
}

#[test]
fn each_violation_is_drawn_where_its_truth_says() {
    // Independent of the truth file: the renderer's own id buffer at the projected centre.
    let d = district::generate::generate(&DistrictOptions::default()).unwrap();
    let albedo = GroundTexture::build(&d, DEFAULT_TEXEL_M);
    let scene = Scene::new(&d, &albedo, Lighting::at_minute(12 * 60));
    let mut intr = Intrinsics::from_hfov(640, 480, 70.0);
    (intr.k1, intr.k2) = (-0.08, 0.01);
    let mut r = Renderer::new(intr);
    let (mut hits, mut total) = (0, 0);
    for (i, o) in d.objects.iter().enumerate().filter(|(_, o)| o.violation) {
        for (pitch, back) in [(-90.0, 0.0), (-45.0, 60.0)] {
            let yaw = 30.0_f64;
            let pos = Vec3::new(
                o.center[0] - back * yaw.to_radians().sin(),
                o.center[1] - back * yaw.to_radians().cos(),
                o.elev + 60.0,
            );
            let cam = Camera::from_local(intr, pos, yaw, pitch, 0.0);
            r.render(&scene, &cam, 0);
            let (u, v) = cam
                .project(Vec3::new(o.center[0], o.center[1], o.elev + 0.05))
                .unwrap();
            total += 1;
            let id = r.ids()[v as usize * 640 + u as usize];
            hits += usize::from(id == i as u32 + 1);
        }
    }
    // Trees and umbrellas may stand over a few; every other one must be exactly there.
    assert!(
        hits * 10 >= total * 9,
        "{hits}/{total} violations drawn at their projected centre"
    );
}

#[test]
fn rendered_video_decodes_to_the_expected_frames() {
    let dir = tempfile::tempdir().unwrap();
    let d = district_in(dir.path(), 5);
    let opts = quick_flight(
        &d,
        argus_sim::flight::serpentine(&d, argus_sim::flight::DEFAULT_HFOV_DEG),
        (320, 176),
        10,
        3.0,
        true,
    );
    let out = fly(&d, &opts, &dir.path().join("f")).unwrap();
    let frames: Vec<_> = argus_video::FrameReader::open(out.video.as_ref().unwrap())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(frames.len(), 30);
    assert!(frames.iter().all(|f| (f.width, f.height) == (320, 176)));
}

fn angle_diff(a: f64, b: f64) -> f64 {
    argus_sim::flight::route::wrap_deg(a - b).abs()
}

#[test]
fn srt_reads_back_to_the_poses_flown_within_the_noise_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = district_in(dir.path(), 2);
    for (noise, tag) in [
        (
            TelemetryNoise {
                gps_sigma_m: 0.0,
                alt_sigma_m: 0.0,
                attitude_sigma_deg: 0.0,
            },
            "exact",
        ),
        (TelemetryNoise::default(), "noisy"),
    ] {
        let mut opts = quick_flight(
            &d,
            route_over_violations(&d, 3, -60.0),
            (320, 180),
            10,
            8.0,
            false,
        );
        opts.noise = noise;
        let out = fly(&d, &opts, &dir.path().join(tag)).unwrap();
        let truth = read_truth(&out.truth);
        let recs = srt::parse(&std::fs::read_to_string(&out.srt).unwrap()).unwrap();
        assert_eq!(recs.len(), truth.len());
        let f = d.frame();
        // Five standard deviations, plus the SRT's rounding (1e-7° ≈ 1 cm, 0.1° for angles).
        let (pos_tol, alt_tol, ang_tol) = (
            5.0 * noise.gps_sigma_m * 2f64.sqrt() + 0.05,
            5.0 * noise.alt_sigma_m + 0.01,
            5.0 * noise.attitude_sigma_deg + 0.06,
        );
        for (r, t) in recs.iter().zip(&truth) {
            assert_eq!(r.frame_cnt, Some(t.frame as u32 + 1));
            assert!((r.start_s - t.pts_s).abs() < 1e-3);
            let (e, n) = f.geo_to_ground(GeoPoint {
                lat: r.get("latitude").unwrap(),
                lon: r.get("longitude").unwrap(),
            });
            let (te, tn) = f.geo_to_ground(t.pose.position());
            assert!(
                (e - te).hypot(n - tn) <= pos_tol,
                "{tag} frame {}: {:.2} m",
                t.frame,
                (e - te).hypot(n - tn)
            );
            assert!((r.get("rel_alt").unwrap() - t.pose.alt_m).abs() <= alt_tol);
            assert!(
                angle_diff(r.get("gb_yaw").unwrap(), t.pose.yaw_deg) <= ang_tol,
                "{tag} yaw"
            );
            assert!(
                (r.get("gb_pitch").unwrap() - t.pose.pitch_deg).abs() <= ang_tol,
                "{tag} pitch"
            );
        }
    }
}
