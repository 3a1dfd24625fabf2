//! The dock's side of the Cloud API: every message from the cloud read and answered, the
//! workers' reports (a wayline checked, a flight landed) turned into replies, and the gateway's
//! own OSD. Runs on the link's thread; downloads, renders and flights run on their own.
//!
//! Every payload goes through [`Envelope::parse`] and [`Service::read`]: a message that cannot
//! be read is logged and ignored (or answered with [`result::BAD_MESSAGE`] when its `tid` is
//! known), never a panic.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use argus_core::cloudapi::{DockOsd, Envelope, FlighttaskPrepare, Service, Topology};
use argus_core::topics::DockTopic;
use rumqttc::QoS;

use super::flight::{self, RenderSlot};
use super::playback::{Outcome, Playback};
use super::tasks::{Tasks, result};
use super::{Context, now_ms};

/// How often the gateway publishes its own OSD (DJI docks: 0.5 Hz).
pub const GATEWAY_OSD_PERIOD: Duration = Duration::from_secs(2);

/// What a worker thread reports back to the service.
#[derive(Debug)]
pub enum Report {
    /// A prepared task's wayline was downloaded and checked (`Ok`: its waypoint count).
    Checked {
        /// The prepare, to answer.
        request: Envelope,
        /// The task.
        flight_id: String,
        /// The waypoints of its wayline, or why it cannot be flown.
        result: Result<usize, String>,
    },
    /// A flight is over.
    Landed {
        /// The task.
        flight_id: String,
        /// How it ended.
        outcome: Outcome,
    },
}

/// The dock's protocol state.
pub struct DockService {
    ctx: Arc<Context>,
    tasks: Tasks,
    slots: HashMap<String, Arc<RenderSlot>>,
    reject_next: bool,
    reports_tx: SyncSender<Report>,
    reports: Receiver<Report>,
    last_osd: Option<Instant>,
}

impl DockService {
    /// A dock with no task.
    pub fn new(ctx: Arc<Context>) -> Self {
        let (reports_tx, reports) = std::sync::mpsc::sync_channel(64);
        Self {
            reject_next: ctx.opts.reject_next,
            ctx,
            tasks: Tasks::default(),
            slots: HashMap::new(),
            reports_tx,
            reports,
            last_osd: None,
        }
    }

    fn sn(&self) -> &str {
        &self.ctx.opts.sn
    }

    /// The topology message: online with the aircraft, or offline (the last will).
    pub fn topology(&self, online: bool) -> Vec<u8> {
        let mut e = Topology {
            online,
            sub_devices: if online {
                vec![self.ctx.opts.aircraft_sn.clone()]
            } else {
                vec![]
            },
        }
        .envelope(now_ms());
        e.gateway = Some(self.sn().to_string());
        e.to_json()
    }

    /// Connected (again): says it is online with its aircraft.
    pub fn on_connected(&mut self) {
        self.ctx.out.send(
            DockTopic::Status.topic(self.sn()),
            QoS::AtLeastOnce,
            self.topology(true),
        );
        tracing::info!(
            sn = self.sn(),
            aircraft = %self.ctx.opts.aircraft_sn,
            "online: topology announced"
        );
        self.gateway_osd();
    }

    /// Leaving: says it is offline.
    pub fn on_leaving(&mut self) {
        self.ctx.out.send(
            DockTopic::Status.topic(self.sn()),
            QoS::AtLeastOnce,
            self.topology(false),
        );
    }

    fn reply(&self, request: &Envelope, code: i64) {
        self.ctx.out.send(
            DockTopic::ServicesReply.topic(self.sn()),
            QoS::AtLeastOnce,
            request.result_reply(now_ms(), code).to_json(),
        );
    }

    /// A message on one of the dock's topics.
    pub fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let Some((sn, kind)) = DockTopic::parse(topic) else {
            tracing::warn!(topic, "ignored a message on a topic that is not the dock's");
            return;
        };
        if sn != self.sn() {
            tracing::warn!(topic, "ignored a message for another device");
            return;
        }
        let e = match Envelope::parse(payload, sn) {
            Ok(e) => e,
            Err(why) => {
                tracing::warn!(topic, error = %why, "ignored a message that is not Cloud API");
                return;
            }
        };
        match kind {
            DockTopic::Services => self.on_service(&e),
            DockTopic::EventsReply => match e.result() {
                Ok(code) => tracing::info!(
                    method = %e.method,
                    tid = %e.tid,
                    result = code,
                    "the cloud answered an event"
                ),
                Err(why) => {
                    tracing::warn!(tid = %e.tid, error = %why, "an unreadable events_reply")
                }
            },
            DockTopic::StatusReply => {
                tracing::info!(method = %e.method, "the cloud acknowledged the topology")
            }
            _ => tracing::debug!(topic, "ignored"),
        }
    }

    fn on_service(&mut self, e: &Envelope) {
        let service = match Service::read(e) {
            Ok(s) => s,
            Err(why) => {
                tracing::warn!(method = %e.method, tid = %e.tid, error = %why, "refused a service that cannot be read");
                self.reply(e, result::BAD_MESSAGE);
                return;
            }
        };
        match service {
            Service::Prepare(p) => self.prepare(e, p),
            Service::Execute { flight_id } => self.execute(e, &flight_id),
            Service::Undo { flight_ids } => {
                let dropped = self.tasks.undo(&flight_ids);
                for id in &dropped {
                    self.slots.remove(id);
                }
                tracing::info!(asked = ?flight_ids, dropped = ?dropped, "undo");
                self.reply(e, result::OK);
            }
            Service::ReturnHome => {
                // The simulated aircraft flies its recorded flight to the end: refused, so the
                // cloud knows it was not called home.
                tracing::warn!(tid = %e.tid, "refused return_home: the simulated dock does not fly it");
                self.reply(e, result::REJECTED);
            }
        }
    }

    fn prepare(&mut self, e: &Envelope, p: FlighttaskPrepare) {
        let id = p.flight_id.clone();
        if std::mem::take(&mut self.reject_next) {
            tracing::warn!(flight_id = %id, "refused the prepare as asked (--reject-next)");
            self.reply(e, result::REJECTED);
            return;
        }
        if let Err(why) = self.tasks.prepare(&id) {
            tracing::warn!(flight_id = %id, reason = %why, "refused a prepare");
            self.reply(e, why.code());
            return;
        }
        tracing::info!(
            flight_id = %id,
            url = %argus_core::redact::url(&p.file.url),
            execute_time = %argus_core::clock::rfc3339(p.execute_time_ms as f64 / 1000.0),
            "preparing: downloading the wayline"
        );
        let slot = Arc::new(RenderSlot::default());
        self.slots.insert(id.clone(), slot.clone());
        let ctx = self.ctx.clone();
        let tx = self.reports_tx.clone();
        let request = e.clone();
        let spawned =
            std::thread::Builder::new()
                .name("dock-prepare".into())
                .spawn(move || {
                    let checked = flight::download(
                        &p.file.url,
                        flight::MAX_KMZ_BYTES,
                        flight::DOWNLOAD_TIMEOUT,
                    )
                    .map_err(|e| format!("downloading the KMZ: {e}"))
                    .and_then(|kmz| {
                        flight::check_wayline(&kmz, &p.file.fingerprint, ctx.opts.at, &ctx.district)
                    });
                    let flight = match checked {
                        Ok(f) => f,
                        Err(why) => {
                            slot.set(Err(why.clone()));
                            let _ = tx.send(Report::Checked {
                                request,
                                flight_id: p.flight_id,
                                result: Err(why),
                            });
                            return;
                        }
                    };
                    let _ = tx.send(Report::Checked {
                        request,
                        flight_id: p.flight_id,
                        result: Ok(flight.wayline.len()),
                    });
                    let key = ctx.settings.key(&p.file.fingerprint);
                    slot.set(flight::render_cached(
                        &ctx.district,
                        &flight,
                        &ctx.settings,
                        &ctx.cache,
                        &key,
                    ));
                });
        if let Err(why) = spawned {
            tracing::error!(error = %why, "cannot start a thread to prepare a task");
            self.tasks.checked(&id, false);
            self.reply(e, result::BAD_WAYLINE);
        }
    }

    fn execute(&mut self, e: &Envelope, id: &str) {
        if let Err(why) = self.tasks.execute(id) {
            tracing::warn!(flight_id = %id, reason = %why, result = why.code(), "refused an execute");
            self.reply(e, why.code());
            return;
        }
        let Some(slot) = self.slots.get(id).cloned() else {
            // Prepared tasks always have a slot; a dock without one refuses rather than flies.
            tracing::error!(flight_id = %id, "a prepared task has no render");
            self.tasks.landed(id);
            self.reply(e, result::NOT_PREPARED);
            return;
        };
        self.reply(e, result::OK);
        tracing::info!(flight_id = %id, "executing: taking off");
        let playback = Playback {
            ctx: self.ctx.clone(),
            flight_id: id.to_string(),
            slot,
        };
        let tx = self.reports_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("dock-flight".into())
            .spawn(move || {
                let outcome = playback.fly();
                let _ = tx.send(Report::Landed {
                    flight_id: playback.flight_id,
                    outcome,
                });
            });
        if let Err(why) = spawned {
            tracing::error!(error = %why, "cannot start a thread to fly");
            self.tasks.landed(id);
        }
    }

    /// Takes the workers' reports and publishes the gateway OSD when due.
    pub fn tick(&mut self) {
        while let Ok(report) = self.reports.try_recv() {
            match report {
                Report::Checked {
                    request,
                    flight_id,
                    result: checked,
                } => {
                    self.tasks.checked(&flight_id, checked.is_ok());
                    match checked {
                        Ok(n) => {
                            tracing::info!(flight_id = %flight_id, waypoints = n, "prepared: the wayline checked out");
                            self.reply(&request, result::OK);
                        }
                        Err(why) => {
                            tracing::warn!(flight_id = %flight_id, reason = %why, "refused a prepare");
                            self.slots.remove(&flight_id);
                            self.reply(&request, result::BAD_WAYLINE);
                        }
                    }
                }
                Report::Landed { flight_id, outcome } => {
                    self.tasks.landed(&flight_id);
                    self.slots.remove(&flight_id);
                    let waypoint = outcome
                        .waypoint
                        .map_or_else(|| "-".to_string(), |w| w.to_string());
                    tracing::info!(
                        flight_id = %flight_id,
                        status = outcome.status.as_str(),
                        waypoint = %waypoint,
                        "flight over"
                    );
                }
            }
        }
        if self
            .last_osd
            .is_none_or(|t| t.elapsed() >= GATEWAY_OSD_PERIOD)
        {
            self.gateway_osd();
        }
    }

    fn gateway_osd(&mut self) {
        self.last_osd = Some(Instant::now());
        let flying = self.tasks.flying().is_some();
        let osd = DockOsd {
            lat: self.ctx.opts.at.lat,
            lon: self.ctx.opts.at.lon,
            height_m: crate::flight::TAKEOFF_ABS_ALT_M,
            mode_code: if flying { 4 } else { 0 },
            drone_in_dock: !flying,
        };
        self.ctx.out.send(
            DockTopic::Osd.topic(self.sn()),
            QoS::AtMostOnce,
            osd.message(self.sn(), now_ms()),
        );
    }
}
