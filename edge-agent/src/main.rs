//! `edge-agent`: the Argus site daemon (`run`), the recording replay for analysts (`replay`),
//! and the tools that run the same detector on labelled images (`detect`, `eval`).

use argus_edge_agent::{agent, coco, config, plot, replay};

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use argus_infer::{Detector, DetectorOptions, FrameRef};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "edge-agent",
    version,
    about = "The Argus edge agent and its analysis tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a detector over the images of a COCO annotation file and write COCO results.
    Detect {
        /// Model folder (model.onnx + manifest.json).
        #[arg(long)]
        model: PathBuf,
        /// COCO annotation file naming the images (ids and categories are taken from it).
        #[arg(long)]
        coco: PathBuf,
        /// Folder holding the images.
        #[arg(long)]
        images: PathBuf,
        /// Output: detections in the COCO results format.
        #[arg(long)]
        out: PathBuf,
        /// Keep detections scoring at least this (low, for AP; the manifest's thresholds are for alerts).
        #[arg(long, default_value_t = 0.05)]
        threshold: f32,
        /// Images per inference batch.
        #[arg(long, default_value_t = 4)]
        batch: usize,
        /// Inference threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Score COCO results against a COCO annotation file: per-class precision, recall, AP50 and
    /// AP50-95 (as pycocotools computes them), a PR-curve plot, and the detections.
    Eval {
        /// COCO annotation file (ground truth).
        #[arg(long)]
        coco: PathBuf,
        /// Detections in the COCO results format.
        #[arg(long)]
        detections: PathBuf,
        /// Output folder: metrics.json, pr_curve.png, detections.json.
        #[arg(long)]
        out: PathBuf,
        /// Score at which precision and recall are reported.
        #[arg(long, default_value_t = 0.3)]
        report_threshold: f64,
    },
    /// Run the agent's pipeline over a recording as fast as the machine allows and write one
    /// hit per line (JSON Lines, the `argus.hit/1` schema).
    Replay(ReplayFlags),
    /// Run the agent: analyse every configured source and publish hits over MQTT.
    Run {
        /// Agent config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
}

/// `edge-agent replay`'s flags.
#[derive(Debug, clap::Args)]
struct ReplayFlags {
    /// The video file (MP4, MKV, MPEG-TS; H.264, H.265, …).
    video: PathBuf,
    /// DJI SRT telemetry of a drone recording.
    #[arg(long, conflicts_with = "camera")]
    telemetry: Option<PathBuf>,
    /// A fixed camera's calibration (`camera.json`).
    #[arg(long)]
    camera: Option<PathBuf>,
    /// The map (GeoJSON layers); overrides the config's `agent.map`.
    #[arg(long)]
    map: Option<PathBuf>,
    /// Terrain heights (a DEM GeoTIFF in WGS84); overrides the config's `agent.dem`.
    #[arg(long)]
    dem: Option<PathBuf>,
    /// Agent config (TOML); its `[agent]` and `[analysis]` apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Model folder; overrides the config's `agent.model`.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output: hits, one JSON object per line.
    #[arg(long)]
    out: PathBuf,
    /// Source id written into the hits.
    #[arg(long, default_value = "replay")]
    source_id: String,
}

fn detect(
    model: PathBuf,
    coco_path: PathBuf,
    images: PathBuf,
    out: PathBuf,
    threshold: f32,
    batch: usize,
    threads: usize,
) -> Result<()> {
    let data = coco::Dataset::load(&coco_path)?;
    let mut det = Detector::load(
        &model,
        &DetectorOptions {
            threads,
            score_threshold: Some(threshold),
            ..Default::default()
        },
    )?;
    let classes = det.manifest().classes.clone();
    // Model class index → the annotation file's category id, by name.
    let ids: Vec<Option<u64>> = classes
        .iter()
        .map(|c| data.categories.iter().find(|k| &k.name == c).map(|k| k.id))
        .collect();
    if ids.iter().all(Option::is_none) {
        anyhow::bail!(
            "none of the model's classes {classes:?} is a category of {}",
            coco_path.display()
        );
    }
    let bar = argus_edge_agent::progress_bar(data.images.len() as u64, "detecting", true);
    let mut results = Vec::new();
    for chunk in data.images.chunks(batch.max(1)) {
        let decoded: Vec<image::RgbImage> = chunk
            .iter()
            .map(|im| {
                let p = images.join(&im.file_name);
                image::open(&p)
                    .map(|i| i.to_rgb8())
                    .with_context(|| format!("reading {}", p.display()))
            })
            .collect::<Result<_>>()?;
        let frames: Vec<FrameRef> = decoded
            .iter()
            .map(|i| FrameRef {
                rgb: i.as_raw(),
                width: i.width(),
                height: i.height(),
            })
            .collect();
        for (im, dets) in chunk.iter().zip(det.detect(&frames)?) {
            for d in dets {
                let Some(category_id) = ids[d.class] else {
                    continue;
                };
                let b = d.bbox.map(f64::from);
                results.push(coco::Result_ {
                    image_id: im.id,
                    category_id,
                    bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    score: f64::from(d.score),
                });
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    std::fs::write(&out, serde_json::to_string(&results)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{} detections on {} images -> {}",
        results.len(),
        data.images.len(),
        out.display()
    );
    Ok(())
}

fn eval(
    coco_path: PathBuf,
    detections: PathBuf,
    out: PathBuf,
    report_threshold: f64,
) -> Result<()> {
    let data = coco::Dataset::load(&coco_path)?;
    let text = std::fs::read_to_string(&detections)
        .with_context(|| format!("reading {}", detections.display()))?;
    let results: Vec<coco::Result_> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not COCO results", detections.display()))?;
    let metrics = coco::evaluate(&data, &results, report_threshold);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let curves: Vec<(&str, &[(f64, f64)])> = metrics
        .iter()
        .map(|(k, m)| (k.as_str(), m.pr_curve.as_slice()))
        .collect();
    plot::pr_curves(&out.join("pr_curve.png"), &curves).context("writing pr_curve.png")?;
    let summary = serde_json::json!({
        "report_threshold": report_threshold,
        "classes": metrics,
    });
    std::fs::write(
        out.join("metrics.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    std::fs::write(
        out.join("detections.json"),
        serde_json::to_string(&results)?,
    )?;
    println!(
        "{:<12} {:>6} {:>6} {:>7} {:>7} {:>9} {:>7}",
        "class", "truth", "dets", "AP50", "AP50-95", "precision", "recall"
    );
    for (k, m) in &metrics {
        println!(
            "{k:<12} {:>6} {:>6} {:>7.3} {:>7.3} {:>9.3} {:>7.3}",
            m.ground_truth, m.detections, m.ap50, m.ap50_95, m.precision, m.recall
        );
    }
    println!("-> {}", out.display());
    Ok(())
}

fn replay_cmd(flags: ReplayFlags) -> Result<()> {
    let ReplayFlags {
        video,
        telemetry,
        camera,
        map,
        dem,
        config,
        model,
        out,
        source_id,
    } = flags;
    let mut cfg = match &config {
        Some(p) => config::Config::load(p)?,
        None => config::Config::default(),
    };
    cfg.agent.map = map.or(cfg.agent.map);
    cfg.agent.dem = dem.or(cfg.agent.dem);
    if let Some(m) = model {
        cfg.agent.model = m;
    }
    let kind = if camera.is_some() {
        argus_core::hit::SourceKind::Camera
    } else {
        argus_core::hit::SourceKind::Drone
    };
    let args = replay::ReplayArgs {
        source: config::SourceConfig {
            id: source_id,
            kind,
            uri: video.display().to_string(),
            telemetry,
            camera,
            flight_id: None,
            detect_fps: None,
            rtsp_udp: false,
            osd_sn: None,
            dock_sn: None,
        },
        video,
        out: out.clone(),
        progress: true,
    };
    let s = replay::replay(&cfg.agent, &cfg.analysis, &args)?;
    println!(
        "{} frames in {:.1} s ({:.1} frames/s): {} hits -> {}",
        s.frames,
        s.seconds,
        s.frames as f64 / s.seconds.max(1e-9),
        s.hits,
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    argus_core::cli::main("edge-agent", "info,ort=warn", || {
        // TLS to the broker uses rustls with the ring provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        match Cli::parse().command {
            Command::Detect {
                model,
                coco,
                images,
                out,
                threshold,
                batch,
                threads,
            } => detect(model, coco, images, out, threshold, batch, threads),
            Command::Eval {
                coco,
                detections,
                out,
                report_threshold,
            } => eval(coco, detections, out, report_threshold),
            Command::Replay(flags) => replay_cmd(flags),
            Command::Run { config } => config::Config::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(agent::run),
        }
    })
}
