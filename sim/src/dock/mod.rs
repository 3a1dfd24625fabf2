//! A simulated DJI dock on the Cloud API (`formats.md` §1): what triage's patrol dispatcher
//! talks to and what an edge agent watches, without hardware.
//!
//! - On connecting it announces its aircraft (`update_topo` on `sys/product/{sn}/status`); its
//!   last will is the empty topology (offline). It publishes its own OSD every
//!   [`service::GATEWAY_OSD_PERIOD`].
//! - `flighttask_prepare`: downloads the KMZ (capped at [`flight::MAX_KMZ_BYTES`], within
//!   [`flight::DOWNLOAD_TIMEOUT`]), refuses it unless its MD5 is the `fingerprint`, and renders
//!   the dock flight (take-off, climb, transit, wayline, return, landing) into the render cache,
//!   keyed by the KMZ's MD5 and the render settings. It answers once the KMZ checked out.
//! - `flighttask_execute`: streams the render in real time as H.264 RTP to the video address,
//!   with the aircraft's OSD (`thing/product/{aircraft_sn}/osd`, stamped with the stream time
//!   of the frame showing that pose) and `flighttask_progress` events; the flight is also
//!   written to `out/{flight_id}/` (`flight.mp4`, `flight.SRT`, `truth.jsonl`).
//! - `flighttask_undo`: drops prepared tasks. One flight at a time; a task flies once.
//!
//! Refusals carry the codes of [`tasks::result`].
//!
//! ```no_run
//! use argus_sim::dock::{Dock, DockOptions};
//! let opts = DockOptions::new(
//!     "out/district".into(), "7CTDM12345", "1581F5BKD225D00B",
//!     argus_core::geodesy::GeoPoint { lat: 30.70, lon: 121.02 },
//!     "mqtt://127.0.0.1:1883", ("127.0.0.1".into(), 5600), "out/flights".into(),
//! );
//! let dock = Dock::start(opts)?;
//! dock.join();
//! # Ok::<(), argus_sim::dock::DockError>(())
//! ```

pub mod flight;
mod link;
mod playback;
mod service;
mod stream;
pub mod tasks;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use argus_core::cloudapi::is_sn;
use argus_core::geodesy::GeoPoint;

use crate::district::District;
use flight::RenderSettings;
use link::Out;
use service::DockService;

/// Default frame size.
pub const DEFAULT_SIZE: (u32, u32) = (1280, 720);
/// Default frame rate.
pub const DEFAULT_FPS: u32 = 10;
/// Default aircraft OSD rate, per second.
pub const DEFAULT_OSD_HZ: f64 = 2.0;

/// Everything a simulated dock is told.
#[derive(Debug, Clone)]
pub struct DockOptions {
    /// District folder or `district.geojson`.
    pub district: PathBuf,
    /// The dock's (gateway's) serial number.
    pub sn: String,
    /// Its aircraft's serial number.
    pub aircraft_sn: String,
    /// Where the dock stands.
    pub at: GeoPoint,
    /// The broker, `mqtt://host:port`.
    pub mqtt: String,
    /// Where the video goes: host and UDP port.
    pub video: (String, u16),
    /// The recordings folder: `out/{flight_id}/`.
    pub out: PathBuf,
    /// Frame size.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: u32,
    /// Aircraft OSD messages per second while flying.
    pub osd_hz: f64,
    /// The render cache (default: `out/.renders`).
    pub cache: Option<PathBuf>,
    /// Refuse the next prepare.
    pub reject_next: bool,
    /// Fail on reaching this wayline waypoint (0-based).
    pub fail_at_waypoint: Option<u32>,
}

impl DockOptions {
    /// A dock with the default size, rate and OSD rate.
    pub fn new(
        district: PathBuf,
        sn: &str,
        aircraft_sn: &str,
        at: GeoPoint,
        mqtt: &str,
        video: (String, u16),
        out: PathBuf,
    ) -> Self {
        Self {
            district,
            sn: sn.into(),
            aircraft_sn: aircraft_sn.into(),
            at,
            mqtt: mqtt.into(),
            video,
            out,
            size: DEFAULT_SIZE,
            fps: DEFAULT_FPS,
            osd_hz: DEFAULT_OSD_HZ,
            cache: None,
            reject_next: false,
            fail_at_waypoint: None,
        }
    }
}

/// Why a dock cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockError {
    /// An option is wrong, named by its command-line flag.
    #[error("--{flag}: {message}")]
    Option {
        /// The flag, without dashes.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The district cannot be read.
    #[error(transparent)]
    District(#[from] crate::district::geojson::DistrictFileError),
    /// A folder cannot be made.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn bad(flag: &'static str, message: impl Into<String>) -> DockError {
    DockError::Option {
        flag,
        message: message.into(),
    }
}

/// What the dock's threads share.
#[derive(Debug)]
pub(crate) struct Context {
    opts: DockOptions,
    district: District,
    settings: RenderSettings,
    cache: PathBuf,
    out: Out,
    stop: Arc<AtomicBool>,
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    (argus_core::clock::now_unix_s() * 1000.0).round() as i64
}

/// A running dock.
#[derive(Debug)]
pub struct Dock {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Dock {
    /// Checks the options (naming the flag at fault), reads the district and starts serving.
    /// The broker need not be up: the dock connects when it is.
    pub fn start(opts: DockOptions) -> Result<Self, DockError> {
        for (flag, sn) in [("sn", &opts.sn), ("aircraft-sn", &opts.aircraft_sn)] {
            if !is_sn(sn) {
                return Err(bad(
                    flag,
                    format!("{sn:?} is not a serial number (letters and digits, 1–64)"),
                ));
            }
        }
        if opts.sn == opts.aircraft_sn {
            return Err(bad("aircraft-sn", "is the dock's own serial number"));
        }
        if !(1..=60).contains(&opts.fps) {
            return Err(bad("fps", format!("{} is outside 1–60", opts.fps)));
        }
        if !(opts.osd_hz > 0.0 && opts.osd_hz <= f64::from(opts.fps)) {
            return Err(bad(
                "osd-hz",
                format!("{} is not in (0, fps = {}]", opts.osd_hz, opts.fps),
            ));
        }
        if opts.video.1 == 0 || opts.video.0.is_empty() {
            return Err(bad("video", "needs a host and a port other than 0"));
        }
        let connection = argus_net::mqtt::Connection {
            url: opts.mqtt.clone(),
            credentials: None,
            ca_pem: None,
        };
        connection.check().map_err(|e| bad("mqtt", e.to_string()))?;
        let district_file = if opts.district.is_dir() {
            opts.district.join("district.geojson")
        } else {
            opts.district.clone()
        };
        let district = crate::district::geojson::read(&district_file)?;
        let district_md5 = std::fs::read(&district_file)
            .map(|b| argus_flightplan::formats::wpml::fingerprint(&b))
            .map_err(|source| DockError::Io {
                path: district_file.clone(),
                source,
            })?;
        if !opts.at.is_valid() {
            return Err(bad("at", format!("{:?} is not a position", opts.at)));
        }
        let (e, n) = district.frame().geo_to_ground(opts.at);
        if !district.contains([e, n]) {
            return Err(bad(
                "at",
                format!(
                    "{:.6},{:.6} is outside the district {}",
                    opts.at.lat,
                    opts.at.lon,
                    district_file.display()
                ),
            ));
        }
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| DockError::Io { path, source }
        };
        std::fs::create_dir_all(&opts.out).map_err(io(&opts.out))?;
        let cache = opts
            .cache
            .clone()
            .unwrap_or_else(|| opts.out.join(".renders"));
        std::fs::create_dir_all(&cache).map_err(io(&cache))?;
        argus_video::init().map_err(|e| bad("video", format!("GStreamer: {e}")))?;

        let stop = Arc::new(AtomicBool::new(false));
        // The will is made before the context: both need the serial numbers only.
        let will = {
            let mut e = argus_core::cloudapi::Topology {
                online: false,
                sub_devices: vec![],
            }
            .envelope(now_ms());
            e.gateway = Some(opts.sn.clone());
            e.to_json()
        };
        let mo =
            link::options(&connection, &opts.sn, will).map_err(|e| bad("mqtt", e.to_string()))?;
        let (out, client, mut conn) = link::client(mo);
        let settings = RenderSettings {
            size: opts.size,
            fps: opts.fps,
            district_md5,
            dock: opts.at,
        };
        tracing::info!(
            sn = %opts.sn,
            aircraft = %opts.aircraft_sn,
            at = format!("{:.6},{:.6}", opts.at.lat, opts.at.lon),
            broker = %argus_core::redact::url(&opts.mqtt),
            video = format!("udp://{}:{}", opts.video.0, opts.video.1),
            "dock starting"
        );
        let sn = opts.sn.clone();
        let ctx = Arc::new(Context {
            opts,
            district,
            settings,
            cache,
            out,
            stop: stop.clone(),
        });
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dock-link".into())
            .spawn(move || {
                let mut service = DockService::new(ctx);
                link::run(&mut service, &client, &mut conn, &sn, &flag);
            })
            .map_err(|source| DockError::Io {
                path: PathBuf::from("(thread)"),
                source,
            })?;
        Ok(Self { stop, thread })
    }

    /// Stops: a flight in the air ends, the dock says it is offline and disconnects.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }

    /// Serves until the process ends.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}
