//! Drone flights over a district: routes, poses along them, telemetry noise, and the render loop
//! that writes `flight.mp4`, `flight.SRT` (DJI bracket dialect) and `truth.jsonl`.

pub mod route;
mod telemetry;

use std::io::Write;
use std::path::{Path, PathBuf};

use argus_core::camera::{Camera, Intrinsics, Pose};
use argus_core::srt;
use argus_video::{VideoWriter, WriterOptions};

pub use route::{Route, RouteError, Trajectory, serpentine};
pub use telemetry::TelemetryNoise;

use crate::district::District;
use crate::render::{self, GroundTexture, Lighting, Renderer, Scene};
use crate::truth;

/// Default horizontal field of view of the simulated drone camera (a 24 mm-equivalent lens).
pub const DEFAULT_HFOV_DEG: f64 = 76.3;
/// Height of the take-off point above the barometric datum, written as `abs_alt − rel_alt`.
pub const TAKEOFF_ABS_ALT_M: f64 = 4.5;

/// Everything about a flight except the district.
#[derive(Debug, Clone)]
pub struct FlightOptions {
    /// Seed of the telemetry noise and sensor noise.
    pub seed: u64,
    /// Frame size in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Seconds to fly; `None`: the whole route.
    pub duration_s: Option<f64>,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Radial distortion `(k1, k2)`, if any.
    pub distortion: Option<(f64, f64)>,
    /// Telemetry noise written into the SRT (never into the truth).
    pub noise: TelemetryNoise,
    /// Local time of the flight (sun position); `None`: the district's scene time.
    pub minute: Option<u32>,
    /// The route.
    pub route: Route,
    /// Whether to encode the video (truth and SRT are always written).
    pub video: bool,
    /// Whether to draw a progress bar on the terminal.
    pub progress: bool,
}

impl FlightOptions {
    /// Defaults for a district: 1920×1080 at 30 fps over the default serpentine.
    pub fn new(district: &District) -> Self {
        Self {
            seed: 1,
            width: 1920,
            height: 1080,
            fps: 30,
            duration_s: None,
            hfov_deg: DEFAULT_HFOV_DEG,
            distortion: None,
            noise: TelemetryNoise::default(),
            minute: None,
            route: serpentine(district, DEFAULT_HFOV_DEG),
            video: true,
            progress: false,
        }
    }

    /// The camera intrinsics of this flight.
    pub fn intrinsics(&self) -> Intrinsics {
        let mut i = Intrinsics::from_hfov(self.width, self.height, self.hfov_deg);
        if let Some((k1, k2)) = self.distortion {
            i.k1 = k1;
            i.k2 = k2;
        }
        i
    }
}

/// Why a flight could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlightError {
    /// The route is invalid.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// Writing an output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encoding the video failed.
    #[error(transparent)]
    Video(#[from] argus_video::VideoError),
    /// A bad option.
    #[error("{0}")]
    Options(String),
}

/// What a flight wrote.
#[derive(Debug, Clone)]
pub struct FlightOutputs {
    /// `flight.mp4`, when video was on.
    pub video: Option<PathBuf>,
    /// `flight.SRT`.
    pub srt: PathBuf,
    /// `truth.jsonl`.
    pub truth: PathBuf,
    /// Frames rendered.
    pub frames: u64,
    /// Distinct violations labelled in at least one frame.
    pub violations_seen: usize,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FlightError + '_ {
    move |source| FlightError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Renders a flight into `out`.
pub fn fly(
    district: &District,
    opts: &FlightOptions,
    out: &Path,
) -> Result<FlightOutputs, FlightError> {
    route::validate(&opts.route, district)?;
    if opts.fps == 0 || opts.fps > 120 {
        return Err(FlightError::Options(format!(
            "fps: {} is outside 1–120",
            opts.fps
        )));
    }
    let traj = Trajectory::new(&opts.route, district);
    let duration = opts
        .duration_s
        .unwrap_or_else(|| traj.duration_s())
        .min(traj.duration_s());
    if duration.is_nan() || duration <= 0.0 {
        return Err(FlightError::Options(format!(
            "duration: {duration} s is not positive"
        )));
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let frames = (duration * f64::from(opts.fps)).floor() as u64;
    let intr = opts.intrinsics();
    let frame = district.frame();
    let albedo = GroundTexture::build(district, render::DEFAULT_TEXEL_M);
    let minute = opts.minute.unwrap_or(district.scene_minute);
    let scene = Scene::new(district, &albedo, Lighting::at_minute(minute));
    drop(albedo);
    let mut renderer = Renderer::new(intr);

    let video_path = out.join("flight.mp4");
    let mut video = if opts.video {
        Some(VideoWriter::create(
            &video_path,
            intr.width,
            intr.height,
            opts.fps,
            &WriterOptions::default(),
        )?)
    } else {
        None
    };
    let srt_path = out.join("flight.SRT");
    let truth_path = out.join("truth.jsonl");
    let mut truth_out =
        std::io::BufWriter::new(std::fs::File::create(&truth_path).map_err(io_err(&truth_path))?);
    let mut srt_text = String::new();
    let mut noise = telemetry::NoiseState::new(opts.seed, &opts.noise, opts.fps);
    let bar = crate::progress::bar(frames, "rendering flight", opts.progress);
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..frames {
        let t = k as f64 / f64::from(opts.fps);
        let s = traj.at(t);
        let g = frame.ground_to_geo(s.ground[0], s.ground[1]);
        let pose = Pose {
            lat: g.lat,
            lon: g.lon,
            alt_m: s.alt_m,
            yaw_deg: s.yaw_deg,
            pitch_deg: s.pitch_deg,
            roll_deg: 0.0,
        };
        let cam = Camera::new(intr, &frame, &pose);
        let views = renderer.render(
            &scene,
            &cam,
            opts.seed.wrapping_mul(1_000_003).wrapping_add(k),
        );
        let ft = truth::frame_truth(district, k, t, pose, &cam, &views);
        seen.extend(
            ft.objects
                .iter()
                .filter(|o| o.violation)
                .map(|o| o.id.clone()),
        );
        serde_json::to_writer(&mut truth_out, &ft).map_err(|e| FlightError::Io {
            path: truth_path.clone(),
            source: e.into(),
        })?;
        truth_out.write_all(b"\n").map_err(io_err(&truth_path))?;
        let noisy = noise.apply(&frame, s);
        let clock = minute as f64 * 60.0 + t;
        let datetime = format!(
            "2026-05-27 {:02}:{:02}:{:02}.{:03}",
            (clock / 3600.0) as u32 % 24,
            (clock / 60.0) as u32 % 60,
            clock as u32 % 60,
            ((clock.fract()) * 1000.0) as u32
        );
        srt::write_record(
            &mut srt_text,
            k as u32 + 1,
            t,
            (k + 1) as f64 / f64::from(opts.fps),
            &datetime,
            &srt::Telemetry {
                focal_len: intr.focal_35mm_equivalent(),
                ..noisy
            },
        );
        if let Some(v) = video.as_mut() {
            v.push_rgb(renderer.rgb())?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    truth_out.flush().map_err(io_err(&truth_path))?;
    std::fs::write(&srt_path, srt_text).map_err(io_err(&srt_path))?;
    if let Some(v) = video {
        v.finish()?;
    }
    Ok(FlightOutputs {
        video: opts.video.then_some(video_path),
        srt: srt_path,
        truth: truth_path,
        frames,
        violations_seen: seen.len(),
    })
}
