//! Telemetry samples from every DJI SRT dialect, and the pose timeline built from them.
//!
//! [`samples`] reads the fields each family of aircraft writes (see `formats.md` §3):
//!
//! | family | position | height | attitude |
//! |---|---|---|---|
//! | modern bracket | `[latitude: …] [longitude: …]` (or `longtitude`) | `rel_alt`, else `altitude` (absolute) | `gb_yaw gb_pitch gb_roll` |
//! | legacy tuple (Mavic Pro) | `GPS(lon,lat,sats)` | `BAROMETER:h` or `Hb:h` | — |
//! | Matrice 300 legacy | `GPS(lat,lon,altM)` (metres suffix) | `BAROMETER:hM` | — |
//! | compact (P4, Mini, P4 RTK) | `GPS (lon, lat, sats)` | `H 85.80m` | `G.PRY (p, r, y)` gimbal, `F.PRY` aircraft |
//!
//! [`PoseTimeline`] interpolates those samples to any frame time.

use crate::camera::Pose;
use crate::srt::{self, SrtRecord};

/// A camera attitude in DJI's convention, degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attitude {
    /// Yaw, clockwise from true north.
    pub yaw_deg: f64,
    /// Pitch, 0 = horizon, −90 = straight down.
    pub pitch_deg: f64,
    /// Roll.
    pub roll_deg: f64,
}

/// What one telemetry record says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds from the start of the video.
    pub t_s: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height above the take-off point, metres, when the record has one.
    pub height_m: Option<f64>,
    /// Absolute (barometric or GNSS) altitude, metres, when the record has one.
    pub abs_alt_m: Option<f64>,
    /// Gimbal attitude, when recorded.
    pub gimbal: Option<Attitude>,
    /// 35 mm-equivalent focal length divided by the digital zoom, when recorded.
    pub focal_35mm: Option<f64>,
}

/// Errors turning an SRT file into telemetry.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The file is not a readable SRT.
    #[error(transparent)]
    Srt(#[from] srt::SrtError),
    /// The records carry no position at all (a camera-settings-only file).
    #[error("none of the {records} records has a position (latitude/longitude or GPS(...))")]
    NoPosition {
        /// How many records were read.
        records: usize,
    },
    /// A position outside the globe.
    #[error("line {line}: position {lat}, {lon} is not a latitude/longitude")]
    BadPosition {
        /// The record's line.
        line: usize,
        /// Latitude read.
        lat: f64,
        /// Longitude read.
        lon: f64,
    },
}

/// A number with an optional unit suffix (`0.0M`, `85.80m`, `-8.9°`, `2.35m/s`).
fn number(s: &str) -> Option<(f64, bool)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.')))
        .unwrap_or(s.len());
    let v = s[..end].parse().ok()?;
    Some((v, s[end..].trim_start().starts_with(['m', 'M'])))
}

/// The values of the first `NAME(a, b, c)` or `NAME (a, b, c)` tuple in `body`, with whether
/// the last value carried a metres suffix.
fn tuple(body: &str, name: &str) -> Option<(Vec<f64>, bool)> {
    let mut from = 0;
    while let Some(k) = body[from..].find(name) {
        let at = from + k;
        from = at + name.len();
        let before = body[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
            continue; // `HOME` is not `ME`, `G.PRY` is not `PRY`
        }
        let rest = body[from..].trim_start();
        let Some(inner) = rest.strip_prefix('(').and_then(|r| r.split(')').next()) else {
            continue;
        };
        let parsed: Option<Vec<(f64, bool)>> = inner.split(',').map(number).collect();
        let parsed = parsed?;
        let metres = parsed.last().is_some_and(|p| p.1);
        return Some((parsed.into_iter().map(|p| p.0).collect(), metres));
    }
    None
}

/// The value of a compact-dialect item `KEY 85.80m` (items separated by commas).
fn item(body: &str, key: &str) -> Option<f64> {
    body.split([',', '\n']).find_map(|it| {
        let it = it.trim();
        let v = it.strip_prefix(key)?;
        v.starts_with(' ').then(|| number(v).map(|n| n.0)).flatten()
    })
}

fn sample(r: &SrtRecord) -> Result<Option<Sample>, TelemetryError> {
    let body = r.body.as_str();
    let (mut lat, mut lon) = (r.get("latitude"), r.get("longitude"));
    let mut height = r
        .get("rel_alt")
        .or_else(|| r.get("barometer"))
        .or_else(|| r.get("hb"))
        .or_else(|| item(body, "H"));
    let mut abs_alt = r.get("abs_alt").or_else(|| r.get("altitude"));
    if lat.is_none()
        && let Some((v, metres)) = tuple(body, "GPS").filter(|(v, _)| v.len() >= 2)
    {
        // Matrice 300 writes (lat, lon, alt M); every other family (lon, lat, satellites).
        if metres {
            (lat, lon) = (Some(v[0]), Some(v[1]));
            abs_alt = abs_alt.or(v.get(2).copied());
        } else {
            (lat, lon) = (Some(v[1]), Some(v[0]));
        }
        if height.is_none() && metres {
            height = tuple(body, "BAROMETER").map(|t| t.0[0]);
        }
    }
    let (Some(lat), Some(lon)) = (lat, lon) else {
        return Ok(None);
    };
    if lat == 0.0 && lon == 0.0 {
        return Ok(None); // no fix yet
    }
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(TelemetryError::BadPosition {
            line: r.line,
            lat,
            lon,
        });
    }
    let gimbal = match (r.get("gb_yaw"), r.get("gb_pitch"), r.get("gb_roll")) {
        (Some(yaw_deg), Some(pitch_deg), roll) => Some(Attitude {
            yaw_deg,
            pitch_deg,
            roll_deg: roll.unwrap_or(0.0),
        }),
        _ => tuple(body, "G.PRY")
            .filter(|(v, _)| v.len() == 3)
            .map(|(v, _)| Attitude {
                pitch_deg: v[0],
                roll_deg: v[1],
                yaw_deg: v[2],
            }),
    };
    let focal_35mm = r
        .get("focal_len")
        .map(|f| if f > 100.0 { f / 10.0 } else { f }) // Air 2S writes 240 for 24 mm
        .map(|f| f / r.get("dzoom_ratio").unwrap_or(1.0).max(1.0));
    Ok(Some(Sample {
        t_s: r.start_s,
        lat,
        lon,
        height_m: height,
        abs_alt_m: abs_alt,
        gimbal,
        focal_35mm,
    }))
}

/// The telemetry samples of an SRT file's records, in time order; records without a position
/// (no fix yet) are skipped.
pub fn samples(records: &[SrtRecord]) -> Result<Vec<Sample>, TelemetryError> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        if let Some(s) = sample(r)? {
            out.push(s);
        }
    }
    if out.is_empty() {
        return Err(TelemetryError::NoPosition {
            records: records.len(),
        });
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    Ok(out)
}

/// Reads an SRT file's text into samples.
pub fn read_srt(text: &str) -> Result<Vec<Sample>, TelemetryError> {
    samples(&srt::parse(text)?)
}

/// How to fill what a telemetry dialect does not record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseDefaults {
    /// Gimbal attitude when the records have none (a fixed mount): DJI docks fly nadir.
    pub gimbal: Attitude,
    /// Height of the take-off point above the ground plane (a dock on a roof), metres.
    pub takeoff_height_m: f64,
    /// When records give only an absolute altitude: the ground plane's absolute altitude.
    pub ground_abs_alt_m: Option<f64>,
}

impl Default for PoseDefaults {
    fn default() -> Self {
        Self {
            gimbal: Attitude {
                yaw_deg: 0.0,
                pitch_deg: -90.0,
                roll_deg: 0.0,
            },
            takeoff_height_m: 0.0,
            ground_abs_alt_m: None,
        }
    }
}

/// Camera poses over time, interpolated linearly (angles along the shorter way round).
#[derive(Debug, Clone, PartialEq)]
pub struct PoseTimeline {
    times: Vec<f64>,
    poses: Vec<Pose>,
    focal_35mm: Vec<Option<f64>>,
}

/// Why a timeline cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PoseError {
    /// No height: neither a relative height nor an absolute altitude with a ground altitude.
    #[error(
        "the telemetry has no height above take-off; set the ground's absolute altitude \
         (`ground_abs_alt_m`) to use its absolute altitude ({abs_alt_m:?})"
    )]
    NoHeight {
        /// The first absolute altitude read, if any.
        abs_alt_m: Option<f64>,
    },
}

fn lerp_angle(a: f64, b: f64, f: f64) -> f64 {
    let d = (b - a + 540.0).rem_euclid(360.0) - 180.0;
    let v = a + d * f;
    (v + 540.0).rem_euclid(360.0) - 180.0
}

impl PoseTimeline {
    /// Builds the timeline from samples (in time order).
    pub fn new(samples: &[Sample], defaults: &PoseDefaults) -> Result<Self, PoseError> {
        let mut t = Self {
            times: Vec::with_capacity(samples.len()),
            poses: Vec::with_capacity(samples.len()),
            focal_35mm: Vec::with_capacity(samples.len()),
        };
        for s in samples {
            t.push(s, defaults)?;
        }
        Ok(t)
    }

    /// Appends a sample (live telemetry). One older than the last sample is ignored and
    /// `Ok(false)` returned: live messages can arrive out of order.
    pub fn push(&mut self, s: &Sample, defaults: &PoseDefaults) -> Result<bool, PoseError> {
        if self.times.last().is_some_and(|&last| s.t_s <= last) {
            return Ok(false);
        }
        let alt_m = match (s.height_m, s.abs_alt_m, defaults.ground_abs_alt_m) {
            (Some(h), _, _) => h + defaults.takeoff_height_m,
            (None, Some(a), Some(g)) => a - g,
            (None, abs_alt_m, _) => return Err(PoseError::NoHeight { abs_alt_m }),
        };
        let g = s.gimbal.unwrap_or(defaults.gimbal);
        self.times.push(s.t_s);
        self.focal_35mm.push(s.focal_35mm);
        self.poses.push(Pose {
            lat: s.lat,
            lon: s.lon,
            alt_m,
            yaw_deg: g.yaw_deg,
            pitch_deg: g.pitch_deg,
            roll_deg: g.roll_deg,
        });
        Ok(true)
    }

    /// Forgets the samples before `t_s` but the last one of them (live telemetry keeps a
    /// bounded window).
    pub fn trim_before(&mut self, t_s: f64) {
        let k = self.times.partition_point(|&x| x < t_s).saturating_sub(1);
        self.times.drain(..k);
        self.poses.drain(..k);
        self.focal_35mm.drain(..k);
    }

    /// Reads an SRT file's text into a timeline.
    pub fn from_srt(text: &str, defaults: &PoseDefaults) -> Result<Self, SrtPoseError> {
        Ok(Self::new(&read_srt(text)?, defaults)?)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The time span covered, seconds.
    pub fn span(&self) -> Option<(f64, f64)> {
        Some((*self.times.first()?, *self.times.last()?))
    }

    /// The pose at `t_s`: interpolated between samples; up to `hold_s` outside them, held before
    /// the first and carried on at the last velocity after the last;
    /// `None` further out.
    pub fn at(&self, t_s: f64, hold_s: f64) -> Option<Pose> {
        let (first, last) = self.span()?;
        if t_s < first - hold_s || t_s > last + hold_s {
            return None;
        }
        let k = self.times.partition_point(|&x| x <= t_s);
        if k == 0 {
            return Some(self.poses[0]);
        }
        if k == self.times.len() {
            return Some(self.extrapolated(t_s));
        }
        let (t0, t1) = (self.times[k - 1], self.times[k]);
        let (a, b) = (&self.poses[k - 1], &self.poses[k]);
        let f = if t1 > t0 { (t_s - t0) / (t1 - t0) } else { 0.0 };
        let l = |x: f64, y: f64| x + (y - x) * f;
        Some(Pose {
            lat: l(a.lat, b.lat),
            lon: l(a.lon, b.lon),
            alt_m: l(a.alt_m, b.alt_m),
            yaw_deg: lerp_angle(a.yaw_deg, b.yaw_deg, f),
            pitch_deg: l(a.pitch_deg, b.pitch_deg),
            roll_deg: l(a.roll_deg, b.roll_deg),
        })
    }

    /// Past the last sample: its attitude, and its position moved on at the velocity between
    /// the last two samples (a live drone's telemetry arrives after the frames it describes).
    fn extrapolated(&self, t_s: f64) -> Pose {
        let n = self.times.len();
        let mut p = self.poses[n - 1];
        if n >= 2 && self.times[n - 1] > self.times[n - 2] {
            let a = &self.poses[n - 2];
            let f = (t_s - self.times[n - 1]) / (self.times[n - 1] - self.times[n - 2]);
            p.lat += (p.lat - a.lat) * f;
            p.lon += (p.lon - a.lon) * f;
            p.alt_m += (p.alt_m - a.alt_m) * f;
        }
        p
    }

    /// The 35 mm-equivalent focal length recorded nearest before `t_s`, if any.
    pub fn focal_35mm_at(&self, t_s: f64) -> Option<f64> {
        let k = self.times.partition_point(|&x| x <= t_s).max(1) - 1;
        *self.focal_35mm.get(k)?
    }
}

/// Either half of reading an SRT into poses.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SrtPoseError {
    /// Reading the samples failed.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// Building poses failed.
    #[error(transparent)]
    Pose(#[from] PoseError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_interpolate_the_short_way_round() {
        assert!((lerp_angle(170.0, -170.0, 0.5).abs() - 180.0).abs() < 1e-9);
        assert!((lerp_angle(-10.0, 10.0, 0.25) + 5.0).abs() < 1e-9);
    }

    #[test]
    fn tuples_respect_names_and_units() {
        let body =
            "HOME(149.0251,-20.2532) 2017.08.05 14:11:51\nGPS(149.0251,-20.2533,16) BAROMETER:1.9";
        assert_eq!(
            tuple(body, "GPS"),
            Some((vec![149.0251, -20.2533, 16.0], false))
        );
        let m300 = "GPS(36.6146,-6.1120,0.0M) BAROMETER:0.3M";
        assert!(tuple(m300, "GPS").unwrap().1);
        let p4 = "F.PRY (-8.9°, 2.9°, -75.0°), G.PRY (-27.3°, 0.0°, -76.0°)";
        assert_eq!(tuple(p4, "G.PRY").unwrap().0, vec![-27.3, 0.0, -76.0]);
        assert_eq!(tuple(p4, "PRY"), None);
        assert_eq!(item("D 153.32m, H 17.39m, H.S 1.84m/s", "H"), Some(17.39));
    }

    #[test]
    fn timeline_interpolates_between_and_carries_on_past_the_ends() {
        let s = |t: f64, lat: f64, yaw: f64| Sample {
            t_s: t,
            lat,
            lon: 121.0,
            height_m: Some(100.0),
            abs_alt_m: None,
            gimbal: Some(Attitude {
                yaw_deg: yaw,
                pitch_deg: -90.0,
                roll_deg: 0.0,
            }),
            focal_35mm: None,
        };
        let tl = PoseTimeline::new(
            &[s(0.0, 30.0, 170.0), s(1.0, 30.001, -170.0)],
            &PoseDefaults::default(),
        )
        .unwrap();
        let p = tl.at(0.5, 0.0).unwrap();
        assert!((p.lat - 30.0005).abs() < 1e-12);
        assert!((p.yaw_deg.abs() - 180.0).abs() < 1e-9);
        // Before the first sample: held; after the last: on at the last velocity.
        assert_eq!(tl.at(-0.2, 0.5).unwrap().lat, 30.0);
        assert!((tl.at(1.2, 0.5).unwrap().lat - 30.0012).abs() < 1e-12);
        assert_eq!(tl.at(2.0, 0.5), None);
    }

    #[test]
    fn a_live_timeline_grows_ignores_late_samples_and_keeps_a_window() {
        let s = |t: f64| Sample {
            t_s: t,
            lat: 30.0 + t * 1e-4,
            lon: 121.0,
            height_m: Some(100.0),
            abs_alt_m: None,
            gimbal: None,
            focal_35mm: None,
        };
        let d = PoseDefaults::default();
        let mut tl = PoseTimeline::new(&[], &d).unwrap();
        assert_eq!(tl.at(0.0, 1.0), None);
        for t in 0..10 {
            assert!(tl.push(&s(f64::from(t)), &d).unwrap());
        }
        assert!(!tl.push(&s(4.5), &d).unwrap(), "late samples are dropped");
        assert_eq!(tl.len(), 10);
        tl.trim_before(6.5);
        assert_eq!(tl.span(), Some((6.0, 9.0)));
        assert!((tl.at(6.5, 0.0).unwrap().lat - 30.00065).abs() < 1e-12);
    }

    #[test]
    fn absolute_altitude_needs_a_ground_altitude() {
        let s = Sample {
            t_s: 0.0,
            lat: 41.4,
            lon: 2.2,
            height_m: None,
            abs_alt_m: Some(117.0),
            gimbal: None,
            focal_35mm: Some(24.0),
        };
        let err = PoseTimeline::new(&[s], &PoseDefaults::default()).unwrap_err();
        assert!(err.to_string().contains("ground_abs_alt_m"), "{err}");
        let d = PoseDefaults {
            ground_abs_alt_m: Some(17.0),
            ..Default::default()
        };
        let tl = PoseTimeline::new(&[s], &d).unwrap();
        assert_eq!(tl.at(0.0, 0.0).unwrap().alt_m, 100.0);
        assert_eq!(tl.at(0.0, 0.0).unwrap().pitch_deg, -90.0);
    }
}
