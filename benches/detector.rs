//! Detector speed: ms per 1080p frame (letterbox + inference + decoding + NMS) at batch 1 and 4
//! on the committed model, 2 intra-op threads, against the ONNX Runtime Python API on the same
//! model and inputs measured in the same run (`benches/detector.py`, run from the project's
//! `.venv`). The goal is ≥ 15 frames/s at batch 1, and the Rust path no slower than Python.
//!
//! Run: `cargo bench -p argus --bench detector`.

use std::path::Path;

use argus_infer::{Detector, DetectorOptions, FrameRef};
use criterion::{BenchmarkId, Criterion, Throughput};

const THREADS: usize = 2;

fn bench(c: &mut Criterion) {
    let root = argus_testkit::repo_root();
    let model = root.join("models/argus-det");
    let mut det = Detector::load(
        &model,
        &DetectorOptions {
            threads: THREADS,
            ..Default::default()
        },
    )
    .expect("committed model");
    let (w, h) = (1920u32, 1080u32);
    let frame: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    let batch_of = |n: usize| -> Vec<FrameRef> {
        (0..n)
            .map(|_| FrameRef {
                rgb: &frame,
                width: w,
                height: h,
            })
            .collect()
    };
    let mut group = c.benchmark_group("detector_1080p");
    group.sample_size(20);
    for batch in [1usize, 4] {
        let refs = batch_of(batch);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("rust", batch), &refs, |b, refs| {
            b.iter(|| det.detect(refs).expect("runs"))
        });
    }
    group.finish();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // Same-run summary: medians of Rust and of Python on the same model and frames.
    for batch in [1usize, 4] {
        let refs = batch_of(batch);
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let t = std::time::Instant::now();
                det.detect(&refs).expect("runs");
                t.elapsed().as_secs_f64() * 1000.0 / batch as f64
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let rust = times[times.len() / 2];
        let python = python_ms(&model, batch);
        match python {
            Some(py) => println!(
                "summary detector_1080p batch {batch}: rust {rust:.1} ms/frame ({:.1} frames/s), python onnxruntime {py:.1} ms/frame; rust/python speed {:.2}x",
                1000.0 / rust,
                py / rust
            ),
            None => println!(
                "summary detector_1080p batch {batch}: rust {rust:.1} ms/frame ({:.1} frames/s); python baseline unavailable",
                1000.0 / rust
            ),
        }
    }
}

fn python_ms(model: &Path, batch: usize) -> Option<f64> {
    let args = [
        model.display().to_string(),
        batch.to_string(),
        THREADS.to_string(),
        "20".into(),
    ];
    argus_testkit::python_baseline("benches/detector.py", &args)?
        .trim()
        .parse()
        .ok()
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
