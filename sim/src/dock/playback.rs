//! One flight in the air: waits for its render, writes the recording, streams the video in real
//! time and, on the stream's clock, publishes the aircraft's OSD and the task's
//! `flighttask_progress` (`sent`, `in_progress` at every wayline waypoint and every few
//! seconds, then `ok` at landing, or `failed`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use argus_core::cloudapi::{AircraftOsd, Progress, TaskStatus};
use argus_core::topics::DockTopic;
use rumqttc::QoS;

use super::Context;
use super::flight::{RenderSlot, Rendered, record};
use super::stream::{Ended, RtpSender};
use super::tasks::result;

/// Longest wait for the first packet to leave once the sender started.
const FIRST_PACKET_TIMEOUT: Duration = Duration::from_secs(15);
/// How often progress is reported between waypoints.
const PROGRESS_PERIOD: Duration = Duration::from_secs(2);
/// How often the loop looks at the clock.
const STEP: Duration = Duration::from_millis(10);

/// How a flight ended: its last status and the waypoint it was at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// `ok` or `failed` (`canceled` when the dock stopped).
    pub status: TaskStatus,
    /// The last wayline waypoint reached.
    pub waypoint: Option<u32>,
}

/// A flight being flown.
pub struct Playback {
    pub(super) ctx: Arc<Context>,
    pub(super) flight_id: String,
    pub(super) slot: Arc<RenderSlot>,
}

impl Playback {
    fn progress(&self, status: TaskStatus, waypoint: Option<u32>, percent: f64, code: i64) {
        let p = Progress {
            flight_id: self.flight_id.clone(),
            status,
            current_waypoint_index: waypoint,
            percent: Some((percent * 10.0).round() / 10.0),
            result: code,
        };
        let e = p.envelope(&self.ctx.opts.sn, &self.flight_id, super::now_ms());
        self.ctx.out.send(
            DockTopic::Events.topic(&self.ctx.opts.sn),
            QoS::AtLeastOnce,
            e.to_json(),
        );
        let waypoint = waypoint.map_or_else(|| "-".to_string(), |w| w.to_string());
        tracing::info!(
            flight_id = %self.flight_id,
            status = status.as_str(),
            waypoint = %waypoint,
            percent = format!("{percent:.0}"),
            result = code,
            "progress"
        );
    }

    fn fail(&self, waypoint: Option<u32>, percent: f64, why: &str) -> Outcome {
        tracing::error!(flight_id = %self.flight_id, reason = why, "the flight failed");
        self.progress(TaskStatus::Failed, waypoint, percent, result::FLIGHT_FAILED);
        Outcome {
            status: TaskStatus::Failed,
            waypoint,
        }
    }

    /// Flies: returns once landed, failed or stopped.
    pub fn fly(&self) -> Outcome {
        self.progress(TaskStatus::Sent, None, 0.0, result::OK);
        let rendered = match self.slot.wait(&self.ctx.stop) {
            None => return self.stopped(None),
            Some(Err(why)) => return self.fail(None, 0.0, &format!("no render: {why}")),
            Some(Ok(r)) => r,
        };
        match record(&rendered, &self.ctx.opts.out, &self.flight_id) {
            Ok(dir) => {
                tracing::info!(flight_id = %self.flight_id, dir = %dir.display(), "recording written")
            }
            Err(why) => {
                tracing::error!(flight_id = %self.flight_id, error = why, "cannot write the recording")
            }
        }
        let video = rendered.dir.join("flight.mp4");
        let (host, port) = (&self.ctx.opts.video.0, self.ctx.opts.video.1);
        let sender = match RtpSender::start(&video, host, port) {
            Ok(s) => s,
            Err(why) => return self.fail(None, 0.0, &why),
        };
        let waited = Instant::now();
        let t0 = loop {
            if let Some(t0) = sender.t0() {
                break t0;
            }
            if let Some(Ended::Error(why)) = sender.ended() {
                return self.fail(None, 0.0, &why);
            }
            if self.ctx.stop.load(Ordering::SeqCst) {
                return self.stopped(None);
            }
            if waited.elapsed() > FIRST_PACKET_TIMEOUT {
                return self.fail(None, 0.0, "the video did not start");
            }
            std::thread::sleep(STEP);
        };
        tracing::info!(
            flight_id = %self.flight_id,
            to = format!("udp://{host}:{port}"),
            seconds = format!("{:.1}", rendered.phases.duration_s),
            "streaming"
        );
        self.stream(&sender, &rendered, t0)
    }

    fn stopped(&self, waypoint: Option<u32>) -> Outcome {
        tracing::warn!(flight_id = %self.flight_id, "the dock stopped during the flight");
        Outcome {
            status: TaskStatus::Canceled,
            waypoint,
        }
    }

    /// The flight on the stream's clock, `t0` being the Unix time of its time 0.
    fn stream(&self, sender: &RtpSender, r: &Rendered, t0: f64) -> Outcome {
        let opts = &self.ctx.opts;
        let phases = &r.phases;
        let duration = phases.duration_s;
        let percent = |t: f64| (t / duration * 100.0).clamp(0.0, 100.0);
        let mut osd_n: u64 = 0;
        let mut waypoint = None;
        let mut last_progress = Instant::now();
        loop {
            if self.ctx.stop.load(Ordering::SeqCst) {
                return self.stopped(waypoint);
            }
            let t = argus_core::clock::now_unix_s() - t0;
            // The aircraft's OSD, `osd_hz` a second, each the pose of the frame on screen
            // then, stamped with that frame's instant.
            loop {
                let due = osd_n as f64 / opts.osd_hz;
                let k = (due * f64::from(r.fps)).floor() as usize;
                let Some(frame) = r.frames.get(k).filter(|f| f.pts_s <= t) else {
                    break;
                };
                let p = frame.pose;
                let osd = AircraftOsd {
                    lat: p.lat,
                    lon: p.lon,
                    height_m: p.alt_m + crate::flight::TAKEOFF_ABS_ALT_M,
                    elevation_m: p.alt_m,
                    heading_deg: p.yaw_deg,
                    gimbal_pitch_deg: p.pitch_deg,
                    gimbal_roll_deg: p.roll_deg,
                    gimbal_yaw_deg: p.yaw_deg,
                    mode_code: phases.mode_code(frame.pts_s),
                };
                self.ctx.out.send(
                    DockTopic::Osd.topic(&opts.aircraft_sn),
                    QoS::AtMostOnce,
                    osd.message(&opts.sn, ((t0 + frame.pts_s) * 1000.0).round() as i64),
                );
                osd_n += 1;
            }
            let reached = phases.waypoint_at(t);
            if let (Some(n), Some(fail_at)) = (reached, opts.fail_at_waypoint)
                && n >= fail_at
            {
                // Stops the video (the sender is dropped by the caller).
                return self.fail(
                    Some(fail_at),
                    percent(t),
                    &format!("failing at wayline waypoint {fail_at} as asked"),
                );
            }
            if reached != waypoint || last_progress.elapsed() >= PROGRESS_PERIOD {
                waypoint = reached;
                last_progress = Instant::now();
                self.progress(TaskStatus::InProgress, waypoint, percent(t), result::OK);
            }
            match sender.ended() {
                Some(Ended::Eos) => {
                    let last = phases.wayline_s.len().checked_sub(1).map(|k| k as u32);
                    self.progress(TaskStatus::Ok, last, 100.0, result::OK);
                    return Outcome {
                        status: TaskStatus::Ok,
                        waypoint: last,
                    };
                }
                Some(Ended::Error(why)) => return self.fail(waypoint, percent(t), &why),
                None => {}
            }
            std::thread::sleep(STEP);
        }
    }
}
