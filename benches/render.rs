//! Frames rendered per second at 1920×1080, nadir and 45° oblique from 100 m, on the default
//! district. The goal is real time (30 frames/s) so a 10-minute patrol renders in under 10 minutes.
//! After criterion's own report, a summary prints the median frames/s, its ratio to that goal, and
//! its ratio to the same run's baseline: H.264 encoding of the same frames through the same
//! GStreamer path `sim flight` uses, the other stage of writing a flight.
//!
//! Run: `cargo bench --bench render` (add `-- --quick` for a short run).

use argus_core::camera::{Camera, Intrinsics};
use argus_core::linalg::Vec3;
use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::render::{DEFAULT_TEXEL_M, GroundTexture, Lighting, Renderer, Scene};
use criterion::{Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let d = generate(&DistrictOptions::default()).expect("default district");
    let albedo = GroundTexture::build(&d, DEFAULT_TEXEL_M);
    let scene = Scene::new(&d, &albedo, Lighting::at_minute(d.scene_minute));
    let intr = Intrinsics::from_hfov(1920, 1080, 76.3);
    let mut renderer = Renderer::new(intr);
    let mut group = c.benchmark_group("render_1080p");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    let poses = [("nadir_100m", -90.0), ("oblique45_100m", -45.0)];
    for (name, pitch) in poses {
        let cam = Camera::from_local(intr, Vec3::new(35.0, -60.0, 100.0), 20.0, pitch, 0.0);
        let mut k = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                k += 1;
                renderer.render(&scene, &cam, k).len()
            })
        });
    }
    group.finish();
    // Same-run summary: medians per pose, against the 30 fps goal and against encoding.
    // Only under `cargo bench` (which passes `--bench`), not when test runners list or smoke-run it.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut writer = argus_video::VideoWriter::create(
        &dir.path().join("b.mp4"),
        1920,
        1080,
        30,
        &Default::default(),
    )
    .expect("encoder");
    // Frames along a flight line at 12 m/s (0.4 m a frame), as `sim flight` encodes them.
    let frames: Vec<Vec<u8>> = (0..24)
        .map(|k| {
            let cam = Camera::from_local(
                intr,
                Vec3::new(35.0, -60.0 + 0.4 * k as f64, 100.0),
                20.0,
                -90.0,
                0.0,
            );
            renderer.render(&scene, &cam, k);
            renderer.rgb().to_vec()
        })
        .collect();
    // Warm the encoder up (its lookahead fills first), then time pushes of whole batches.
    for f in &frames {
        writer.push_rgb(f).expect("push");
    }
    let mut enc: Vec<f64> = (0..5)
        .map(|_| {
            let t = std::time::Instant::now();
            for f in &frames {
                writer.push_rgb(f).expect("push");
            }
            t.elapsed().as_secs_f64() / frames.len() as f64
        })
        .collect();
    writer.finish().expect("finish");
    enc.sort_by(f64::total_cmp);
    let encode_fps = 1.0 / enc[enc.len() / 2];
    println!("summary baseline x264 encode 1080p: median {encode_fps:.1} frames/s");
    for (name, pitch) in poses {
        let cam = Camera::from_local(intr, Vec3::new(35.0, -60.0, 100.0), 20.0, pitch, 0.0);
        let mut times: Vec<f64> = (0..15)
            .map(|k| {
                let t = std::time::Instant::now();
                renderer.render(&scene, &cam, k);
                t.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let fps = 1.0 / times[times.len() / 2];
        println!(
            "summary render_1080p/{name}: median {fps:.1} frames/s = {:.2}x the 30 frames/s goal, {:.2}x encode",
            fps / 30.0,
            fps / encode_fps
        );
    }
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
