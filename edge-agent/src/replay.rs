//! Sources set up from files: a recording, its telemetry sidecar or camera calibration, the map;
//! and `edge-agent replay`, which runs them through the analysis as fast as the machine allows.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use argus_core::camera::{Intrinsics, Pose};
use argus_core::catalog::Catalog;
use argus_core::dem::Dem;
use argus_core::geodesy::LocalFrame;
use argus_core::hit::{Hit, ModelRef, Source};
use argus_core::map::Map;
use argus_core::srt;
use argus_core::telemetry::{self, PoseDefaults, PoseTimeline};
use argus_infer::{Detector, DetectorOptions};
use argus_video::{FrameReader, ReadOptions, VideoSource};
use serde::Deserialize;

use crate::config::{AgentConfig, SourceConfig};
use argus_analysis::{AnalysisOptions, Analyzer, Geometry, SourceSetup, drive};
use argus_core::clock;

/// A fixed camera's calibration file (`sim camera` writes one).
#[derive(Debug, Clone, Deserialize)]
pub struct CameraFile {
    /// The surveyed pose.
    pub pose: Pose,
    /// Intrinsics.
    pub camera: Intrinsics,
    /// Ground control points; four or more (not on one line) calibrate the camera's ground
    /// homography, which then places what it sees.
    #[serde(default)]
    pub gcps: Vec<argus_core::homography::Gcp>,
}

/// What the agent knows of the place, shared by all its sources: the map and the terrain.
#[derive(Debug, Clone)]
pub struct World {
    /// The map (rules, building roofs).
    pub map: Option<Arc<Map>>,
    /// The terrain; without it the ground is flat.
    pub dem: Option<Arc<Dem>>,
    /// The class catalog.
    pub catalog: Arc<Catalog>,
}

impl World {
    /// Reads the agent's `map` and `dem` files.
    pub fn load(agent: &AgentConfig) -> Result<Self> {
        let map = agent.map.as_deref().map(load_map).transpose()?;
        let dem = match agent.dem.as_deref() {
            None => None,
            Some(path) => {
                let dem = Dem::from_geotiff(path).context("reading the DEM")?;
                let (lo, hi) = dem.range();
                tracing::info!(path = %path.display(), lo, hi, "DEM loaded");
                Some(Arc::new(dem))
            }
        };
        let catalog = Arc::new(Catalog::load(agent.classes.as_deref())?);
        Ok(Self { map, dem, catalog })
    }
}

impl Default for World {
    /// No map, no terrain, the built-in class catalog.
    fn default() -> Self {
        Self {
            map: None,
            dem: None,
            catalog: Arc::new(Catalog::builtin()),
        }
    }
}

/// Reads a map file.
pub fn load_map(path: &Path) -> Result<Arc<Map>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading map {}", path.display()))?;
    let map = Map::from_geojson(&text).with_context(|| format!("map {}", path.display()))?;
    tracing::info!(areas = map.len(), path = %path.display(), "map loaded");
    Ok(Arc::new(map))
}

/// A source ready to analyse.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Everything the analysis needs of it.
    pub setup: SourceSetup,
    /// A live dock drone's poses, which the OSD listener feeds.
    pub live: Option<crate::osd::LivePoses>,
}

/// Builds a source's setup from its files. The SRT's first wall-clock line dates the video
/// (read as local time); otherwise the video starts now.
pub fn setup(agent: &AgentConfig, s: &SourceConfig, world: &World) -> Result<Prepared> {
    let mut live = None;
    let map = world.map.clone();
    let offset_s = f64::from(agent.utc_offset_min) * 60.0;
    let mut start_unix_s = clock::now_unix_s();
    let (geometry, intrinsics) = match (&s.telemetry, &s.camera) {
        (None, None) if s.osd_sn.is_some() => {
            if map.is_none() {
                bail!(
                    "source {}: a live drone (`osd_sn`) needs the agent's `map` to place what it sees",
                    s.id
                );
            }
            let poses = crate::osd::LivePoses::new(start_unix_s);
            live = Some(poses.clone());
            (Geometry::Moving(Arc::new(poses)), None)
        }
        (Some(srt_path), _) => {
            let text = std::fs::read_to_string(srt_path)
                .with_context(|| format!("reading telemetry {}", srt_path.display()))?;
            let records =
                srt::parse(&text).with_context(|| format!("telemetry {}", srt_path.display()))?;
            let samples = telemetry::samples(&records)
                .with_context(|| format!("telemetry {}", srt_path.display()))?;
            if let Some(t) = records
                .iter()
                .find_map(|r| r.datetime.as_deref().and_then(clock::parse_datetime))
            {
                start_unix_s = t - offset_s - records[0].start_s;
            }
            let tl = PoseTimeline::new(&samples, &PoseDefaults::default())
                .with_context(|| format!("telemetry {}", srt_path.display()))?;
            (Geometry::telemetry(tl), None)
        }
        (None, Some(cam_path)) => {
            let text = std::fs::read_to_string(cam_path)
                .with_context(|| format!("reading camera calibration {}", cam_path.display()))?;
            let cam: CameraFile = serde_json::from_str(&text)
                .with_context(|| format!("camera calibration {}", cam_path.display()))?;
            if cam.gcps.is_empty() {
                (Geometry::Fixed(cam.pose), Some(cam.camera))
            } else {
                let frame = map
                    .as_deref()
                    .map_or_else(|| LocalFrame::new(cam.pose.position()), |m| *m.frame());
                let h = argus_calib::fit(&cam.gcps, &frame)
                    .with_context(|| format!("camera calibration {}: gcps", cam_path.display()))?;
                tracing::info!(source = %s.id, points = h.points, rms_m = h.rms_m, "ground homography from control points");
                (
                    Geometry::Homography {
                        h,
                        frame,
                        pose: cam.pose,
                    },
                    Some(cam.camera),
                )
            }
        }
        (None, None) => bail!(
            "source {}: needs `telemetry` (a drone's SRT), `osd_sn` (a live dock drone) or `camera` (a fixed camera's calibration) to place what it sees",
            s.id
        ),
    };
    let setup = SourceSetup {
        agent_id: agent.id.clone(),
        source: Source {
            kind: s.kind,
            id: s.id.clone(),
            flight_id: s.flight_id.clone(),
        },
        intrinsics,
        geometry,
        map,
        catalog: world.catalog.clone(),
        dem: world.dem.clone(),
        start_unix_s,
        utc_offset_s: offset_s,
    };
    Ok(Prepared { setup, live })
}

/// Says which of the model's classes the catalog makes nothing of (their detections are never
/// violations): a model trained on a class the city has not configured, or a misspelling; and
/// which layers the catalog's rules read that the map does not have (a misspelt layer makes
/// every sighting of its class a violation, or none).
pub fn check_classes(det: &Detector, catalog: &Catalog, map: Option<&Map>) {
    for class in &det.manifest().classes {
        if catalog.object(class).is_none() {
            tracing::warn!(
                class,
                "the model detects a class the class catalog has no rule for: its sightings are never violations"
            );
        }
    }
    if let Some(map) = map {
        let present: std::collections::BTreeSet<&str> =
            map.areas().iter().map(|a| a.layer.as_str()).collect();
        for layer in catalog.rule_layers() {
            if !present.contains(layer) {
                tracing::warn!(
                    layer,
                    "a rule of the class catalog reads a layer the map does not have: it is judged as empty (misspelt?)"
                );
            }
        }
    }
}

/// Loads the detector named by the agent config.
pub fn load_detector(agent: &AgentConfig) -> Result<(Detector, ModelRef)> {
    let det = Detector::load(
        &agent.model,
        &DetectorOptions {
            threads: agent.threads,
            runtime: agent.onnxruntime.clone(),
            ..Default::default()
        },
    )?;
    let m = det.manifest();
    let model = ModelRef {
        name: m.name.clone(),
        version: m.version.clone(),
    };
    Ok((det, model))
}

/// What `replay` was asked to do.
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    /// The recording.
    pub video: PathBuf,
    /// Its source description (id, kind, telemetry or camera file).
    pub source: SourceConfig,
    /// Output JSON Lines file.
    pub out: PathBuf,
    /// Draw a progress bar.
    pub progress: bool,
}

/// Summary of a replay.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySummary {
    /// Frames decoded.
    pub frames: u64,
    /// Hits written.
    pub hits: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Runs a recording through the pipeline and writes one hit per line.
pub fn replay(
    agent: &AgentConfig,
    analysis: &AnalysisOptions,
    args: &ReplayArgs,
) -> Result<ReplaySummary> {
    let started = std::time::Instant::now();
    let world = World::load(agent)?;
    let mut source = args.source.clone();
    source.uri = args.video.display().to_string();
    let setup = setup(agent, &source, &world)?.setup;
    let mut opts = analysis.clone();
    if let Some(fps) = source.detect_fps {
        opts.detect_fps = fps;
    }
    let (mut det, model) = load_detector(agent)?;
    check_classes(&det, &world.catalog, world.map.as_deref());
    let read = ReadOptions {
        max_fps: Some(opts.detect_fps).filter(|f| *f > 0.0),
    };
    let reader = FrameReader::open_with(&VideoSource::File(args.video.clone()), &read)
        .with_context(|| format!("opening {}", args.video.display()))?;
    // The bar counts video milliseconds: a file's length is known before its frame count.
    let total_ms = reader.duration().map_or(0, |d| d.as_millis() as u64);
    let bar = crate::progress_bar(total_ms, "replaying (video ms)", args.progress);
    let mut analyzer = Analyzer::new(setup, opts, model);
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?,
    );
    let mut write = |hits: Vec<Hit>| -> Result<u64> {
        for h in &hits {
            serde_json::to_writer(&mut out, h)?;
            out.write_all(b"\n")?;
        }
        Ok(hits.len() as u64)
    };
    let (mut frames, mut hits) = (0u64, 0u64);
    let decoded = reader.map(|frame| {
        let f = frame.with_context(|| format!("decoding {}", args.video.display()))?;
        frames = f.index + 1;
        Ok::<_, anyhow::Error>(crate::agent::analysis_frame(f))
    });
    drive(decoded, &mut analyzer, &mut det, |step, made| {
        hits += write(made)?;
        if let Some(step) = step {
            bar.set_position((step.t_s * 1000.0) as u64);
        }
        Ok(())
    })?;
    out.flush()?;
    bar.finish_and_clear();
    let c = analyzer.counters;
    if c.no_pose > 0 {
        tracing::warn!(
            detections = c.no_pose,
            "detections outside the telemetry's time span were not placed"
        );
    }
    if c.unplaced > 0 {
        tracing::warn!(
            detections = c.unplaced,
            "detections whose ray met no ground (over the horizon or off the DEM) were not placed"
        );
    }
    if c.failed > 0 {
        bail!(
            "{} of {} analysed frames could not be analysed (see the errors above); {hits} hits were written to {}",
            c.failed,
            c.analysed,
            args.out.display()
        );
    }
    tracing::info!(
        frames,
        analysed = c.analysed,
        detections = c.detections,
        legal = c.legal,
        hits,
        "replay done"
    );
    Ok(ReplaySummary {
        frames,
        hits,
        seconds: started.elapsed().as_secs_f64(),
    })
}
