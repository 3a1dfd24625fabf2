//! End-to-end speed of the agent's pipeline on a 30 s, 1080p, 30 frames/s simulated patrol, with
//! its default settings (detection at 5 frames/s on two tiles per frame), measured side by side:
//!
//! - decode only: GStreamer decoding every frame to RGB, nothing else (and, for reference, decoding
//!   as the agent reads: every frame decoded, only the analysed ones converted to RGB);
//! - inference only: tiling, ONNX Runtime and decoding on the analysed frames, already in memory,
//!   expressed per video frame (the time the detector needs per second of video);
//! - end to end: `replay` (decode, detect, geotag, track, rules, evidence, hits);
//! - the plain Python loop (`benches/agent_loop.py`: OpenCV + onnxruntime, same tiling and rate).
//!
//! Goals: end to end ≥ 0.8 × the slower of decode and inference (the stages overlap), and faster
//! than the Python loop. Then the agent's peak RSS running four camera sources at once.
//! Medians of `ARGUS_BENCH_REPS` runs (default 3).
//!
//! Run: `cargo bench -p argus-edge-agent --bench pipeline`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use argus_analysis::{AnalysisOptions, Analyzer};
use argus_core::hit::SourceKind;
use argus_edge_agent::config::{AgentConfig, SourceConfig};
use argus_edge_agent::replay::{self, ReplayArgs};
use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::flight::{FlightOptions, fly};
use argus_testkit::Recording;
use argus_video::{FrameReader, ReadOptions, VideoSource};

fn median(v: Vec<f64>) -> f64 {
    argus_testkit::bench::median_by(v, |x| *x)
}

fn fixture() -> Recording {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-flight-v1");
    let dir = argus_testkit::cached(&dir, |dir| {
        eprintln!("rendering the 30 s benchmark flight once…");
        let d = generate(&DistrictOptions::default()).unwrap();
        argus_sim::district::geojson::write(&d, &dir.join("district")).unwrap();
        let mut opts = FlightOptions::new(&d);
        opts.duration_s = Some(30.0);
        fly(&d, &opts, &dir.join("flight")).unwrap();
    });
    Recording { dir }
}

fn agent_config(f: &Recording) -> AgentConfig {
    AgentConfig {
        model: argus_testkit::repo_root().join("models/argus-det"),
        map: Some(f.map()),
        ..AgentConfig::default()
    }
}

fn source(f: &Recording) -> SourceConfig {
    SourceConfig {
        id: "patrol".into(),
        kind: SourceKind::Drone,
        uri: f.video().display().to_string(),
        telemetry: Some(f.srt()),
        camera: None,
        flight_id: None,
        detect_fps: None,
        rtsp_udp: false,
        osd_sn: None,
        dock_sn: None,
    }
}

/// Video frames decoded per second: every frame to RGB, or (with `max_fps`) as the agent reads,
/// converting only the frames it will analyse.
fn decode_fps(video: &Path, max_fps: Option<f64>) -> (f64, u64) {
    let started = Instant::now();
    let mut n = 0u64;
    let read = ReadOptions { max_fps };
    for f in FrameReader::open_with(&VideoSource::File(video.into()), &read).unwrap() {
        n = f.unwrap().index + 1;
    }
    (n as f64 / started.elapsed().as_secs_f64(), n)
}

/// Seconds of detector work per analysed frame, on frames already decoded.
fn inference_s_per_frame(f: &Recording, opts: &AnalysisOptions) -> f64 {
    let agent = agent_config(f);
    let (mut det, model) = replay::load_detector(&agent).unwrap();
    let setup = replay::setup(&agent, &source(f), &replay::World::default())
        .unwrap()
        .setup;
    let analyzer = Analyzer::new(setup, opts.clone(), model);
    let step = (30.0 / opts.detect_fps).round() as usize;
    let frames: Vec<_> = FrameReader::open(&f.video())
        .unwrap()
        .map(|f| argus_edge_agent::agent::analysis_frame(f.unwrap()))
        .step_by(step)
        .take(40)
        .collect();
    let _ = analyzer.detect(&mut det, &frames[0].as_input()); // warm-up
    let started = Instant::now();
    for fr in &frames {
        let _ = analyzer.detect(&mut det, &fr.as_input()).unwrap();
    }
    started.elapsed().as_secs_f64() / frames.len() as f64
}

fn python_fps(f: &Recording, opts: &AnalysisOptions) -> Option<f64> {
    let args = [
        f.video().display().to_string(),
        argus_testkit::repo_root()
            .join("models/argus-det")
            .display()
            .to_string(),
        opts.detect_fps.to_string(),
        opts.tile_scale.to_string(),
        "2".into(),
    ];
    let v: serde_json::Value = serde_json::from_str(&argus_testkit::python_baseline(
        "benches/agent_loop.py",
        &args,
    )?)
    .ok()?;
    Some(v["frames"].as_f64()? / v["seconds"].as_f64()?)
}

/// Peak RSS (MiB) of `edge-agent run` with four camera sources on the same recording.
fn peak_rss_4_cameras(f: &Recording) -> Option<f64> {
    let tmp = tempfile::tempdir().ok()?;
    let broker = argus_testkit::services::Mosquitto::start(&tmp.path().join("broker"));
    let cam = tmp.path().join("camera.json");
    std::fs::write(
        &cam,
        r#"{"pose":{"lat":30.7,"lon":121.02,"alt_m":8,"yaw_deg":0,"pitch_deg":-24,"roll_deg":0},"camera":{"width":1920,"height":1080,"fx":1222,"fy":1222,"cx":960,"cy":540}}"#,
    )
    .ok()?;
    let mut cfg = format!(
        "[agent]\nid = \"rss\"\nmodel = \"{}\"\nmap = \"{}\"\n[mqtt]\nurl = \"{}\"\noutbox = \"{}\"\n",
        argus_testkit::repo_root()
            .join("models/argus-det")
            .display(),
        f.map().display(),
        broker.url(),
        tmp.path().join("outbox").display()
    );
    for k in 0..4 {
        cfg += &format!(
            "[[source]]\nid = \"cam{k}\"\nkind = \"camera\"\nuri = \"{}\"\ncamera = \"{}\"\n",
            f.video().display(),
            cam.display()
        );
    }
    let path = tmp.path().join("agent.toml");
    std::fs::write(&path, cfg).ok()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .args(["run", "--config"])
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut peak_kb = 0.0_f64;
    while child.try_wait().ok()?.is_none() {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            for l in s.lines().filter(|l| l.starts_with("VmHWM:")) {
                peak_kb = peak_kb.max(
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(peak_kb / 1024.0)
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let reps = argus_testkit::bench::size("ARGUS_BENCH_REPS", 3);
    let f = fixture();
    let opts = AnalysisOptions::default();
    let agent = agent_config(&f);
    let (mut dec, mut paced, mut inf, mut e2e, mut py) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut frames = 0;
    for _ in 0..reps {
        let (fps, n) = decode_fps(&f.video(), None);
        frames = n;
        dec.push(fps);
        paced.push(decode_fps(&f.video(), Some(opts.detect_fps)).0);
        let s = inference_s_per_frame(&f, &opts);
        // Per second of 30 frames/s video, the detector runs detect_fps times.
        inf.push(30.0 / (s * opts.detect_fps));
        let out = tempfile::NamedTempFile::new().unwrap();
        let args = ReplayArgs {
            video: f.video(),
            source: source(&f),
            out: out.path().into(),
            progress: false,
        };
        let r = replay::replay(&agent, &opts, &args).unwrap();
        e2e.push(r.frames as f64 / r.seconds);
        if let Some(p) = python_fps(&f, &opts) {
            py.push(p);
        }
    }
    let (dec, paced, inf, e2e) = (median(dec), median(paced), median(inf), median(e2e));
    let slower = dec.min(inf);
    println!(
        "edge-agent pipeline, {frames} frames of 1080p30 patrol, detect_fps {}, tile scale {}, median of {reps}",
        opts.detect_fps, opts.tile_scale
    );
    println!("  decode only (GStreamer → RGB)      {dec:7.1} frames/s");
    println!(
        "  decode as the agent reads          {paced:7.1} frames/s (RGB only for the frames analysed)"
    );
    println!("  inference only (per video frame)   {inf:7.1} frames/s");
    println!(
        "  end to end (replay)                {e2e:7.1} frames/s = {:.2} × the slower stage (goal ≥ 0.80)",
        e2e / slower
    );
    if !py.is_empty() {
        let py = median(py);
        println!(
            "  Python OpenCV + onnxruntime loop   {py:7.1} frames/s → Rust end to end {:.2}× faster (goal > 1)",
            e2e / py
        );
    }
    if let Some(mb) = peak_rss_4_cameras(&f) {
        println!("  peak RSS, `run` with 4 camera sources: {mb:.0} MiB");
    }
}
