//! A dock's flight of a wayline: take-off at the dock, the climb to the wayline's first height,
//! the transit to its first waypoint, the wayline, the return at its last height and the
//! landing; rendered once per wayline and settings into a cache, and copied per flight into
//! the recordings folder.
//!
//! The render is the simulator's ordinary flight ([`crate::flight::fly`]): `flight.mp4`,
//! `flight.SRT`, `truth.jsonl`. What the dock needs at run time — the pose of every frame and
//! when each wayline waypoint is reached — is read back from the truth and the trajectory.

use std::io::Read as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use argus_core::camera::Pose;
use argus_core::geodesy::GeoPoint;
use argus_flightplan::formats::Format;
use argus_flightplan::formats::wpml::fingerprint;
use argus_flightplan::mission::VERTICAL_SPEED_MPS;

use crate::district::District;
use crate::flight::route::{self, Route, RouteHome, Trajectory, Waypoint};
use crate::flight::{FlightOptions, fly};

/// Height of the camera when the aircraft sits in the dock, metres (a route's lowest allowed
/// height is above 2 m: the dock's roof and the aircraft's legs).
pub const DOCK_HEIGHT_M: f64 = 3.0;

/// Largest KMZ downloaded, bytes (as large as any flight-plan file read).
pub const MAX_KMZ_BYTES: u64 = argus_flightplan::formats::MAX_FILE;

/// Longest a KMZ download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Bumped when the render of a dock flight changes, so old cache entries are not reused.
const RENDER_VERSION: u32 = 1;

/// A dock's flight: the whole route and where the wayline's waypoints are in it.
#[derive(Debug, Clone, PartialEq)]
pub struct DockFlight {
    /// Dock → climb → transit → wayline → return → landing.
    pub route: Route,
    /// The wayline's waypoints among the route's.
    pub wayline: Range<usize>,
}

impl DockFlight {
    /// The flight of `wayline` from a dock at `dock`: straight up at
    /// [`VERTICAL_SPEED_MPS`] to the first waypoint's height, across at the wayline's speed,
    /// the wayline as written, back at the last waypoint's height (as a mission's cost counts
    /// it) and straight down.
    pub fn new(dock: GeoPoint, wayline: &Route) -> Self {
        let here = |alt: f64, speed: f64| Waypoint {
            lat: dock.lat,
            lon: dock.lon,
            alt_m: Some(alt),
            gimbal_pitch_deg: None,
            speed_mps: Some(speed),
            hover_s: None,
        };
        let first_alt = wayline
            .waypoints
            .first()
            .and_then(|w| w.alt_m)
            .unwrap_or(wayline.altitude_m);
        let last_alt = wayline
            .waypoints
            .iter()
            .fold(wayline.altitude_m, |alt, w| w.alt_m.unwrap_or(alt));
        let mut waypoints = vec![
            here(DOCK_HEIGHT_M, VERTICAL_SPEED_MPS),
            here(first_alt, wayline.speed_mps),
        ];
        let start = waypoints.len();
        waypoints.extend(wayline.waypoints.iter().cloned());
        let end = waypoints.len();
        waypoints.push(here(last_alt, VERTICAL_SPEED_MPS));
        waypoints.push(here(DOCK_HEIGHT_M, VERTICAL_SPEED_MPS));
        Self {
            route: Route {
                altitude_m: wayline.altitude_m,
                speed_mps: wayline.speed_mps,
                gimbal_pitch_deg: wayline.gimbal_pitch_deg,
                gimbal_yaw_offset_deg: 0.0,
                home: Some(RouteHome {
                    lat: dock.lat,
                    lon: dock.lon,
                    elevation_m: 0.0,
                }),
                waypoints,
            },
            wayline: start..end,
        }
    }

    /// When the flight passes from one phase to the next, over `district`.
    pub fn phases(&self, district: &District) -> Phases {
        let traj = Trajectory::new(&self.route, district);
        let arrivals = traj.arrivals_s();
        let at = |k: usize| {
            arrivals
                .get(k)
                .copied()
                .unwrap_or_else(|| traj.duration_s())
        };
        Phases {
            climbed_s: at(1),
            wayline_s: self.wayline.clone().map(at).collect(),
            home_s: at(self.wayline.end),
            duration_s: traj.duration_s(),
        }
    }
}

/// The times of a dock flight, seconds from take-off.
#[derive(Debug, Clone, PartialEq)]
pub struct Phases {
    /// At the first waypoint's height above the dock.
    pub climbed_s: f64,
    /// Each wayline waypoint reached.
    pub wayline_s: Vec<f64>,
    /// Back above the dock.
    pub home_s: f64,
    /// Landed.
    pub duration_s: f64,
}

impl Phases {
    /// The index of the last wayline waypoint reached at `t` (none before the first).
    pub fn waypoint_at(&self, t: f64) -> Option<u32> {
        let reached = self.wayline_s.partition_point(|&a| a <= t);
        reached.checked_sub(1).map(|k| k as u32)
    }

    /// The aircraft's `mode_code` at `t`: 4 take-off, 5 wayline (and the transit to it),
    /// 9 return home, 10 landing.
    pub fn mode_code(&self, t: f64) -> u8 {
        let wayline_end = self.wayline_s.last().copied().unwrap_or(self.climbed_s);
        if t < self.climbed_s {
            4
        } else if t < wayline_end {
            5
        } else if t < self.home_s {
            9
        } else {
            10
        }
    }
}

/// What decides a render besides the wayline: frame size and rate, the district, the dock.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    /// Frame size.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: u32,
    /// The district file's MD5.
    pub district_md5: String,
    /// Where the dock stands.
    pub dock: GeoPoint,
}

impl RenderSettings {
    /// The cache entry of a wayline (by its KMZ's MD5) with these settings.
    pub fn key(&self, kmz_md5: &str) -> String {
        fingerprint(
            format!(
                "dock-render v{RENDER_VERSION} kmz {kmz_md5} size {}x{} fps {} district {} at {:.8},{:.8}",
                self.size.0,
                self.size.1,
                self.fps,
                self.district_md5,
                self.dock.lat,
                self.dock.lon
            )
            .as_bytes(),
        )
    }
}

/// One rendered frame's true pose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FramePose {
    /// Presentation time, seconds.
    pub pts_s: f64,
    /// The camera's pose.
    pub pose: Pose,
}

/// A rendered dock flight.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The cache folder holding `flight.mp4`, `flight.SRT` and `truth.jsonl`.
    pub dir: PathBuf,
    /// Every frame's pose.
    pub frames: Vec<FramePose>,
    /// Frames per second.
    pub fps: u32,
    /// The flight's phases.
    pub phases: Phases,
}

/// The files of a recording.
pub const RECORDING: [&str; 3] = ["flight.mp4", "flight.SRT", "truth.jsonl"];

/// Renders a dock flight into `cache/{key}` unless a finished render is there, and reads it.
/// A lock file keeps two renders of one entry (two processes, two prepares) from racing.
pub fn render_cached(
    district: &District,
    flight: &DockFlight,
    settings: &RenderSettings,
    cache: &Path,
    key: &str,
) -> Result<Rendered, String> {
    let io = |what: &str, path: &Path, e: std::io::Error| format!("{what} {}: {e}", path.display());
    std::fs::create_dir_all(cache).map_err(|e| io("creating", cache, e))?;
    let dir = cache.join(key);
    let lock_path = cache.join(format!("{key}.lock"));
    let lock = std::fs::File::create(&lock_path).map_err(|e| io("creating", &lock_path, e))?;
    lock.lock().map_err(|e| io("locking", &lock_path, e))?;
    let done = dir.join(".done");
    if !done.exists() {
        // A render cut short leaves no `.done`: start it again.
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = FlightOptions::new(district);
        opts.route = flight.route.clone();
        (opts.width, opts.height, opts.fps) = (settings.size.0, settings.size.1, settings.fps);
        opts.video = true;
        let started = std::time::Instant::now();
        let out = fly(district, &opts, &dir).map_err(|e| format!("rendering the flight: {e}"))?;
        std::fs::write(&done, b"").map_err(|e| io("writing", &done, e))?;
        tracing::info!(
            frames = out.frames,
            secs = format!("{:.1}", started.elapsed().as_secs_f64()),
            dir = %dir.display(),
            "rendered the flight"
        );
    }
    let truth = dir.join("truth.jsonl");
    let frames = argus_truth::read_jsonl(&truth)
        .map_err(|e| io("reading", &truth, e))?
        .into_iter()
        .map(|f| FramePose {
            pts_s: f.pts_s,
            pose: f.pose,
        })
        .collect::<Vec<_>>();
    if frames.is_empty() {
        return Err(format!("{}: the render has no frames", truth.display()));
    }
    Ok(Rendered {
        dir,
        frames,
        fps: settings.fps,
        phases: flight.phases(district),
    })
}

/// Copies a rendered flight to `out/{flight_id}/`. The id must be a Cloud API id (letters,
/// digits, `-`): it names a folder.
pub fn record(rendered: &Rendered, out: &Path, flight_id: &str) -> Result<PathBuf, String> {
    if !argus_core::cloudapi::is_id(flight_id) {
        return Err(format!("{flight_id:?} is not a flight id"));
    }
    let dir = out.join(flight_id);
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for name in RECORDING {
        let (from, to) = (rendered.dir.join(name), dir.join(name));
        std::fs::copy(&from, &to)
            .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(dir)
}

/// Downloads a KMZ: at most `max` bytes within `timeout`, any HTTP error status refused.
pub fn download(url: &str, max: u64, timeout: Duration) -> Result<Vec<u8>, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(3)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(max + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > max {
        return Err(format!("more than {max} bytes"));
    }
    Ok(body)
}

/// A downloaded wayline, checked: its MD5 is the fingerprint, it reads as a mission a route can
/// fly, and its dock flight stays in the district.
pub fn check_wayline(
    kmz: &[u8],
    expected_md5: &str,
    dock: GeoPoint,
    district: &District,
) -> Result<DockFlight, String> {
    let md5 = fingerprint(kmz);
    if md5 != expected_md5 {
        return Err(format!(
            "the KMZ's MD5 {md5} is not the fingerprint {expected_md5}"
        ));
    }
    let mission = Format::Kmz
        .read(kmz)
        .map_err(|e| format!("the KMZ cannot be read: {e}"))?;
    let wayline =
        Route::from_mission(&mission).map_err(|e| format!("the KMZ cannot be flown: {e}"))?;
    let flight = DockFlight::new(dock, &wayline);
    route::validate(&flight.route, district).map_err(|e| format!("the flight: {e}"))?;
    Ok(flight)
}

/// A render on its way: set once by the preparing thread, waited for by the flight.
#[derive(Debug, Default)]
pub struct RenderSlot {
    value: Mutex<Option<Result<Arc<Rendered>, String>>>,
    ready: Condvar,
}

impl RenderSlot {
    /// Sets the render (or why it failed).
    pub fn set(&self, r: Result<Rendered, String>) {
        let mut v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        *v = Some(r.map(Arc::new));
        self.ready.notify_all();
    }

    /// Waits for the render; `None` when `stop` is set first.
    pub fn wait(&self, stop: &AtomicBool) -> Option<Result<Arc<Rendered>, String>> {
        let mut v = self.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = v.as_ref() {
                return Some(r.clone());
            }
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            v = self
                .ready
                .wait_timeout(v, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::generate::{DistrictOptions, generate};

    fn wayline(d: &District) -> Route {
        let f = d.frame();
        let wp = |e: f64, n: f64, hover: Option<f64>| {
            let g = f.ground_to_geo(e, n);
            Waypoint {
                lat: g.lat,
                lon: g.lon,
                alt_m: Some(40.0),
                gimbal_pitch_deg: None,
                speed_mps: None,
                hover_s: hover,
            }
        };
        Route {
            altitude_m: 40.0,
            speed_mps: 10.0,
            gimbal_pitch_deg: -90.0,
            gimbal_yaw_offset_deg: 0.0,
            home: None,
            waypoints: vec![
                wp(50.0, 0.0, None),
                wp(150.0, 0.0, Some(2.0)),
                wp(150.0, 100.0, None),
            ],
        }
    }

    #[test]
    fn a_dock_flight_climbs_flies_the_wayline_and_lands_at_the_dock() {
        let d = generate(&DistrictOptions::default()).unwrap();
        let dock = d.frame().origin();
        let w = wayline(&d);
        let f = DockFlight::new(dock, &w);
        route::validate(&f.route, &d).unwrap();
        assert_eq!(f.wayline, 2..5);
        assert_eq!(&f.route.waypoints[f.wayline.clone()], &w.waypoints[..]);
        let p = f.phases(&d);
        // 37 m up at 4 m/s, 50 m across at 10 m/s, 100 m, a 2 s hover, 100 m, back ~180 m,
        // 37 m down.
        assert!((p.climbed_s - 37.0 / 4.0).abs() < 1e-6, "{p:?}");
        assert!((p.wayline_s[0] - (9.25 + 5.0)).abs() < 1e-6, "{p:?}");
        assert!((p.wayline_s[1] - (14.25 + 10.0)).abs() < 1e-6, "{p:?}");
        assert!(
            (p.wayline_s[2] - (24.25 + 2.0 + 10.0)).abs() < 1e-6,
            "{p:?}"
        );
        let back = 150.0_f64.hypot(100.0) / 10.0;
        assert!((p.home_s - (36.25 + back)).abs() < 1e-3, "{p:?}");
        assert!((p.duration_s - (p.home_s + 9.25)).abs() < 1e-6, "{p:?}");
        assert_eq!(
            [0.0, 10.0, 14.25, 30.0, 40.0, 60.0].map(|t| (p.waypoint_at(t), p.mode_code(t))),
            [
                (None, 4),
                (None, 5),
                (Some(0), 5),
                (Some(1), 5),
                (Some(2), 9),
                (Some(2), 10)
            ]
        );
    }

    #[test]
    fn a_wayline_is_checked_by_fingerprint_and_by_the_district() {
        let d = generate(&DistrictOptions::default()).unwrap();
        let dock = d.frame().origin();
        let kmz = Format::Kmz
            .write(&wayline(&d).to_mission().unwrap())
            .unwrap();
        let md5 = fingerprint(&kmz);
        let f = check_wayline(&kmz, &md5, dock, &d).unwrap();
        assert_eq!(f.wayline.len(), 3);
        let e = check_wayline(&kmz, &"0".repeat(32), dock, &d).unwrap_err();
        assert!(e.contains("is not the fingerprint"), "{e}");
        let e = check_wayline(b"not a zip", &fingerprint(b"not a zip"), dock, &d).unwrap_err();
        assert!(e.contains("cannot be read"), "{e}");
        let far = GeoPoint {
            lat: dock.lat + 0.1,
            lon: dock.lon,
        };
        let e = check_wayline(&kmz, &md5, far, &d).unwrap_err();
        assert!(e.contains("outside the district"), "{e}");
    }

    #[test]
    fn cache_keys_change_with_every_setting() {
        let s = RenderSettings {
            size: (640, 360),
            fps: 10,
            district_md5: "d".into(),
            dock: GeoPoint {
                lat: 30.7,
                lon: 121.0,
            },
        };
        let k = s.key("a");
        assert_eq!(k, s.key("a"));
        assert_ne!(k, s.key("b"));
        let mut t = s.clone();
        t.fps = 30;
        assert_ne!(k, t.key("a"));
        let mut t = s.clone();
        t.dock.lat += 1e-6;
        assert_ne!(k, t.key("a"));
    }
}
