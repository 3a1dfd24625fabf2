//! Telemetry errors of a consumer drone, as first-order Gauss–Markov processes: slowly wandering
//! GPS, barometric height and gimbal attitude errors with the given standard deviations.

use argus_core::geodesy::LocalFrame;
use argus_core::srt::Telemetry;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::route::{State, wrap_deg};

/// Standard deviations of the telemetry errors written into the SRT.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TelemetryNoise {
    /// Horizontal GPS error per axis, metres.
    pub gps_sigma_m: f64,
    /// Height error, metres.
    pub alt_sigma_m: f64,
    /// Gimbal yaw, pitch and roll error, degrees.
    pub attitude_sigma_deg: f64,
}

/// The default is a dock drone's: RTK-fixed positions (DJI docks carry an RTK module; σ 0.1 m
/// horizontally, 0.2 m in height) and a stabilised gimbal (σ 0.3°). A consumer drone's plain
/// GNSS is about σ 1.5 m and its barometer σ 0.5 m.
impl Default for TelemetryNoise {
    fn default() -> Self {
        Self {
            gps_sigma_m: 0.1,
            alt_sigma_m: 0.2,
            attitude_sigma_deg: 0.3,
        }
    }
}

/// Correlation times: GPS and barometer drift slowly, the gimbal jitters faster.
const GPS_TAU_S: f64 = 20.0;
const ATTITUDE_TAU_S: f64 = 2.0;

struct Markov {
    value: f64,
    a: f64,
    b: f64,
}

impl Markov {
    fn new(sigma: f64, tau: f64, dt: f64, rng: &mut ChaCha8Rng) -> Self {
        let a = (-dt / tau).exp();
        let n: f64 = StandardNormal.sample(rng);
        Self {
            value: sigma * n,
            a,
            b: sigma * (1.0 - a * a).sqrt(),
        }
    }

    fn step(&mut self, rng: &mut ChaCha8Rng) -> f64 {
        let n: f64 = StandardNormal.sample(rng);
        self.value = self.a * self.value + self.b * n;
        self.value
    }
}

/// The running error processes of one flight.
pub(super) struct NoiseState {
    rng: ChaCha8Rng,
    east: Markov,
    north: Markov,
    alt: Markov,
    yaw: Markov,
    pitch: Markov,
    roll: Markov,
}

impl NoiseState {
    pub(super) fn new(seed: u64, n: &TelemetryNoise, fps: u32) -> Self {
        let dt = 1.0 / f64::from(fps);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5352_545f_6e6f_6973);
        let east = Markov::new(n.gps_sigma_m, GPS_TAU_S, dt, &mut rng);
        let north = Markov::new(n.gps_sigma_m, GPS_TAU_S, dt, &mut rng);
        let alt = Markov::new(n.alt_sigma_m, GPS_TAU_S, dt, &mut rng);
        let yaw = Markov::new(n.attitude_sigma_deg, ATTITUDE_TAU_S, dt, &mut rng);
        let pitch = Markov::new(n.attitude_sigma_deg, ATTITUDE_TAU_S, dt, &mut rng);
        let roll = Markov::new(n.attitude_sigma_deg, ATTITUDE_TAU_S, dt, &mut rng);
        Self {
            rng,
            east,
            north,
            alt,
            yaw,
            pitch,
            roll,
        }
    }

    /// The telemetry a drone would log for the true state `s` (focal length left at 0).
    pub(super) fn apply(&mut self, frame: &LocalFrame, s: State) -> Telemetry {
        let r = &mut self.rng;
        let g = frame.ground_to_geo(
            s.ground[0] + self.east.step(r),
            s.ground[1] + self.north.step(r),
        );
        let rel_alt = s.alt_m + self.alt.step(r);
        Telemetry {
            lat: g.lat,
            lon: g.lon,
            rel_alt,
            abs_alt: rel_alt + super::TAKEOFF_ABS_ALT_M,
            gb_yaw: wrap_deg(s.yaw_deg + self.yaw.step(r)),
            gb_pitch: (s.pitch_deg + self.pitch.step(r)).clamp(-90.0, 30.0),
            gb_roll: self.roll.step(r),
            focal_len: 0.0,
        }
    }
}
