//! Live poses for a dock's drone: its DJI Cloud API OSD messages (`DockTopic::Osd`,
//! parsed by [`argus_core::osd`]) arrive over MQTT while its video arrives over RTSP or RTP, and
//! each frame is posed from the messages around its arrival time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use argus_core::camera::Pose;
use argus_core::osd;
use argus_core::telemetry::{PoseDefaults, PoseTimeline};
use rumqttc::{Client, Event, Packet, QoS};

use argus_net::mqtt::Backoff;

use crate::publish::{PublishError, PublisherOptions};
use crate::state::ClockStatus;

/// Seconds of telemetry a live timeline keeps.
const KEEP_S: f64 = 120.0;

/// One live drone's pose timeline, in seconds since its source started (`origin_unix_s`),
/// filled by the OSD listener and read by the analysis.
#[derive(Debug, Clone)]
pub struct LivePoses {
    timeline: Arc<Mutex<PoseTimeline>>,
    origin_unix_s: f64,
    /// Messages taken, and refused (malformed, no position, no height).
    pub taken: Arc<AtomicU64>,
    /// See `taken`.
    pub refused: Arc<AtomicU64>,
}

impl LivePoses {
    /// An empty timeline for a source that started at `origin_unix_s`.
    pub fn new(origin_unix_s: f64) -> Self {
        Self {
            timeline: Arc::new(Mutex::new(
                PoseTimeline::new(&[], &PoseDefaults::default()).expect("no sample, no error"),
            )),
            origin_unix_s,
            taken: Arc::default(),
            refused: Arc::default(),
        }
    }

    /// Takes one OSD message received at `now_unix_s`. Dock messages and messages without a
    /// fix are skipped quietly; broken ones, and ones dated more than `max_skew_s` from this
    /// agent's clock (one future-dated message would otherwise hold every later one back as
    /// "late"), are an error for the caller to report. Returns this agent's clock minus the
    /// message's, seconds, for a message taken.
    pub fn take(
        &self,
        payload: &[u8],
        now_unix_s: f64,
        max_skew_s: f64,
    ) -> Result<Option<f64>, String> {
        let sample = match osd::parse(payload) {
            Ok(s) => s,
            Err(osd::OsdError::NoPosition) => return Ok(None),
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(e.to_string());
            }
        };
        let offset = now_unix_s - sample.t_s;
        if offset.is_nan() || offset.abs() > max_skew_s {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "timestamp {:.3} is {offset:+.1} s from this agent's clock (at most ±{max_skew_s} s: check both clocks' NTP)",
                sample.t_s
            ));
        }
        let mut local = sample;
        local.t_s -= self.origin_unix_s;
        let mut tl = self.timeline.lock().unwrap_or_else(|p| p.into_inner());
        match tl.push(&local, &PoseDefaults::default()) {
            Ok(_) => {
                tl.trim_before(local.t_s - KEEP_S);
                self.taken.fetch_add(1, Ordering::Relaxed);
                Ok(Some(offset))
            }
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(e.to_string())
            }
        }
    }

    /// The pose `t_s` seconds after the source started (see [`PoseTimeline::at`]).
    pub fn at(&self, t_s: f64, hold_s: f64) -> Option<Pose> {
        self.timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .at(t_s, hold_s)
    }
}

impl argus_analysis::PoseSource for LivePoses {
    fn pose_at(&self, t_s: f64, hold_s: f64) -> Option<Pose> {
        self.at(t_s, hold_s)
    }
}

/// The task a dock is flying, from its `flighttask_progress` events: hits of its drone carry
/// its `flight_id` while it flies, and none between flights.
#[derive(Debug, Clone, Default)]
pub struct FlightTracker {
    current: Arc<Mutex<Option<String>>>,
}

impl FlightTracker {
    /// The flight in progress, if any.
    pub fn current(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes one message from the dock `sn`'s events topic: progress of a flying task makes it
    /// current; its end (any final status) clears it. Other events are skipped; a broken
    /// message is an error for the caller to report.
    pub fn take(&self, payload: &[u8], sn: &str) -> Result<(), String> {
        use argus_core::cloudapi::{Envelope, Progress};
        let e = Envelope::parse(payload, sn).map_err(|e| e.to_string())?;
        if e.method != "flighttask_progress" {
            return Ok(());
        }
        let p = Progress::read(&e).map_err(|e| e.to_string())?;
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if !p.status.is_final() {
            if cur.as_deref() != Some(p.flight_id.as_str()) {
                tracing::info!(dock = sn, flight = %p.flight_id, "flight in progress");
            }
            *cur = Some(p.flight_id);
        } else if cur.as_deref() == Some(p.flight_id.as_str()) {
            tracing::info!(dock = sn, flight = %p.flight_id, status = p.status.as_str(), "flight over");
            *cur = None;
        }
        Ok(())
    }
}

/// Subscribes to the OSD topics of the given aircraft and feeds their timelines, and to the
/// events of the given docks and feeds their flight trackers, reconnecting as long as it runs.
#[derive(Debug)]
pub struct OsdListener {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl OsdListener {
    /// Starts listening with the agent's MQTT settings (its own client id); the docks' clock
    /// offsets go to `clock`, and messages more than `max_skew_s` off are refused.
    pub fn spawn(
        opts: &PublisherOptions,
        aircraft: Vec<(String, LivePoses)>,
        docks: Vec<(String, FlightTracker)>,
        clock: Arc<ClockStatus>,
        max_skew_s: f64,
    ) -> Result<Self, PublishError> {
        let mut mo = opts.mqtt_options(&format!("{}-osd", opts.agent_id))?;
        mo.set_clean_session(true)
            .set_max_packet_size(1 << 20, 1 << 20);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("osd-listener".into())
            .spawn(move || listen(mo, &aircraft, &docks, &flag, &clock, max_skew_s))
            .map_err(PublishError::Spawn)?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for OsdListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn listen(
    mo: rumqttc::MqttOptions,
    aircraft: &[(String, LivePoses)],
    docks: &[(String, FlightTracker)],
    stop: &AtomicBool,
    clock: &ClockStatus,
    max_skew_s: f64,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    while !stop.load(Ordering::SeqCst) {
        let (client, mut conn) = Client::new(mo.clone(), 16);
        loop {
            if stop.load(Ordering::SeqCst) {
                let _ = client.disconnect();
                return;
            }
            match conn.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    backoff.reset();
                    for (sn, _) in aircraft {
                        let _ = client.try_subscribe(
                            argus_core::topics::DockTopic::Osd.topic(sn),
                            QoS::AtMostOnce,
                        );
                    }
                    for (sn, _) in docks {
                        let _ = client.try_subscribe(
                            argus_core::topics::DockTopic::Events.topic(sn),
                            QoS::AtLeastOnce,
                        );
                    }
                    tracing::info!(
                        aircraft = aircraft.len(),
                        docks = docks.len(),
                        "listening to OSD telemetry and dock events"
                    );
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    if let Some((sn, argus_core::topics::DockTopic::Events)) =
                        argus_core::topics::DockTopic::parse(&p.topic)
                    {
                        for (_, t) in docks.iter().filter(|(s, _)| s == sn) {
                            if let Err(e) = t.take(&p.payload, sn) {
                                tracing::warn!(topic = %p.topic, error = %e, "dock event refused");
                            }
                        }
                        continue;
                    }
                    let Some(sn) = osd::topic_sn(&p.topic) else {
                        continue;
                    };
                    let now = argus_core::clock::now_unix_s();
                    for (_, poses) in aircraft.iter().filter(|(s, _)| s == sn) {
                        match poses.take(&p.payload, now, max_skew_s) {
                            Ok(Some(offset)) => clock.record(offset),
                            Ok(None) => {}
                            Err(e) => {
                                if e.contains("from this agent's clock") {
                                    clock.refused.fetch_add(1, Ordering::Relaxed);
                                }
                                // Report the first refusal and then one in a hundred.
                                if poses.refused.load(Ordering::Relaxed) % 100 == 1 {
                                    tracing::warn!(topic = %p.topic, error = %e, refused = poses.refused.load(Ordering::Relaxed), "OSD message refused");
                                }
                            }
                        }
                    }
                }
                Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_in_s = backoff.next().as_secs_f64(), "OSD telemetry connection lost");
                    break;
                }
                Err(rumqttc::RecvTimeoutError::Disconnected) => break,
            }
        }
        backoff.wait(stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docks_progress_events_say_which_flight_is_flying() {
        use argus_core::cloudapi::{Envelope, Progress, TaskStatus};
        let t = FlightTracker::default();
        let sn = "7CTDM12345";
        let progress = |flight: &str, status| {
            Progress {
                flight_id: flight.into(),
                status,
                current_waypoint_index: Some(1),
                percent: None,
                result: 0,
            }
            .envelope(sn, "b", 1_796_205_600_000)
            .to_json()
        };
        assert_eq!(t.current(), None);
        t.take(&progress("f-1", TaskStatus::Sent), sn).unwrap();
        t.take(&progress("f-1", TaskStatus::InProgress), sn)
            .unwrap();
        assert_eq!(t.current().as_deref(), Some("f-1"));
        // Another task's end does not end this one; its own does.
        t.take(&progress("f-0", TaskStatus::Canceled), sn).unwrap();
        assert_eq!(t.current().as_deref(), Some("f-1"));
        t.take(&progress("f-1", TaskStatus::Ok), sn).unwrap();
        assert_eq!(t.current(), None);
        // Other events are skipped; broken ones and another gateway's are refused.
        let hms = Envelope::new("hms", 1_796_205_600_000, serde_json::json!({})).to_json();
        assert!(t.take(&hms, sn).is_ok());
        assert!(t.take(b"{", sn).is_err());
        assert!(
            t.take(&progress("f-2", TaskStatus::InProgress), "OTHER1")
                .is_err()
        );
        assert_eq!(t.current(), None);
    }

    fn msg(unix_ms: u64, lat: f64) -> String {
        format!(
            r#"{{"timestamp":{unix_ms},"data":{{"latitude":{lat},"longitude":121.0,"elevation":100.0,
               "66-0-0":{{"gimbal_pitch":-90.0,"gimbal_roll":0.0,"gimbal_yaw":12.0}}}}}}"#
        )
    }

    #[test]
    fn osd_messages_pose_frames_in_source_time() {
        let poses = LivePoses::new(1_700_000_000.0);
        let take = |m: &[u8]| poses.take(m, 1_700_000_001.2, 30.0);
        assert_eq!(poses.at(0.0, 1.0), None, "no message yet, no pose");
        take(msg(1_700_000_000_000, 30.0).as_bytes()).unwrap();
        let offset = take(msg(1_700_000_001_000, 30.001).as_bytes()).unwrap();
        assert!((offset.unwrap() - 0.2).abs() < 1e-6, "{offset:?}");
        let p = poses.at(0.5, 1.0).unwrap();
        assert!((p.lat - 30.0005).abs() < 1e-9);
        assert_eq!((p.yaw_deg, p.pitch_deg, p.alt_m), (12.0, -90.0, 100.0));
        // A frame newer than the last message: carried on at the aircraft's velocity.
        assert!((poses.at(1.5, 1.0).unwrap().lat - 30.0015).abs() < 1e-9);
        // A dock's own OSD is skipped; a broken message is refused and counted.
        let dock = br#"{"timestamp":1700000002000,"data":{"mode_code":0}}"#;
        assert!(take(dock).is_ok());
        let err = take(b"{\"timestamp\":1,").unwrap_err();
        assert!(err.contains("envelope"), "{err}");
        // One message dated an hour ahead is refused, and the next good one still poses.
        let err = take(msg(1_700_003_600_000, 31.0).as_bytes()).unwrap_err();
        assert!(err.contains("from this agent's clock"), "{err}");
        assert!(take(msg(1_700_000_001_100, 30.0011).as_bytes()).is_ok());
        assert_eq!(poses.taken.load(Ordering::Relaxed), 3);
        assert_eq!(poses.refused.load(Ordering::Relaxed), 2);
    }
}
