//! Dispatch: a patrol run from its scheduled instant to the dock and back, over the DJI Cloud
//! API (`formats.md` §1.4). One [`Dispatcher`] per triage instance; the store is the truth
//! between instances and across restarts:
//!
//! - **Claim.** `prepare_lead_s` before each instant of a plan's schedule the run is claimed
//!   (the insert on plan + instant: of several instances one wins). An instant in a blackout, a
//!   dock offline or busy, or one passed beyond `catch_up_s` (triage was away) is claimed
//!   straight into `skipped` / `missed` with the reason, and nothing goes to the dock.
//! - **Prepare.** The move `scheduled → preparing` is the guard; then `flighttask_prepare`
//!   (timed, `execute_time` = the instant, the KMZ's URL and MD5) goes out and its `tid` is
//!   written with the run's event, so a restarted triage still knows the reply.
//! - **Execute.** At the instant, `prepared → executing`, then `flighttask_execute`, once: a run
//!   found `executing` after a restart is not executed again.
//! - **Progress.** `flighttask_progress` events move the run (`in_progress`, then `ok`,
//!   `partially_done`, `failed`, …) and each is answered on `events_reply` when the dock asks.
//! - **Silence.** No reply within `reply_timeout_s` fails the run naming the dock and the wait;
//!   a flight that never reports its end times out after the dock's `max_flight_s` and a margin.
//!
//! A message that cannot be used (not JSON, unknown serial number or method, a reply to a `tid`
//! not sent, progress of an unknown flight, a `gateway` unlike its topic) is a dead letter with
//! its topic and reason; no run changes.

use std::collections::HashMap;
use std::sync::Arc;

use argus_core::cloudapi::{
    self, CloudApiError, Envelope, FlighttaskPrepare, Progress, Service, TaskFile, TaskStatus,
    TaskType, Topology,
};
use argus_core::topics::DockTopic;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::patrols::{Patrol, Patrols, PatrolsConfig};
use crate::store::{
    DEAD_LETTER_KEEP, NewDeadLetter, Run, RunEvent, RunFilter, RunKind, RunState, Store, StoreError,
};

/// Where messages to docks go (an MQTT client at QoS 1; a list in unit tests).
pub trait Publish {
    /// Publishes `payload` on `topic`.
    fn publish(&mut self, topic: String, payload: Vec<u8>);
}

/// Seconds past a dock's `max_flight_s` before a flight that never reported its end times out.
pub const FLIGHT_MARGIN_S: f64 = 600.0;

/// How long a wayline URL stays valid, seconds.
pub const URL_TTL_S: f64 = 3600.0;

/// How often a tick looks in the store for services another instance (or this one before a
/// restart) sent and nobody answered, seconds.
pub const STORE_SCAN_S: f64 = 1.0;

/// Most wayline URLs held at once (older ones are forgotten first).
pub const MAX_URLS: usize = 10_000;

/// A service sent and not yet answered.
#[derive(Debug, Clone, PartialEq)]
struct Waiting {
    run_id: String,
    method: &'static str,
    sent_at: f64,
}

/// A dock heard from within this many seconds (its own OSD comes every few seconds) is online,
/// unless its last topology said it went offline.
pub const ONLINE_WINDOW_S: f64 = 60.0;

/// How long a starting dispatcher waits to hear from a dock (its own OSD comes every 2 s or
/// so) before it takes the dock's silence for its being offline: a triage restarted just before
/// an instant would otherwise skip the run as `dock offline` while the dock is there.
pub const DOCK_HEARD_GRACE_S: f64 = 10.0;

/// Instants one plan claims in one tick, at most (a long absence is recorded over a few ticks).
pub const MAX_CLAIMS_PER_TICK: usize = 1000;

/// How far back a dispatcher starting up looks for instants passed while triage was away.
pub const MAX_LOOKBACK_S: f64 = 7.0 * 86_400.0;

/// How long a run asked for now (run-now, verification) may take to be prepared and started,
/// seconds: past it the run is `missed`, as a scheduled one past its catch-up window.
pub const IMMEDIATE_WINDOW_S: f64 = 60.0;

/// Why an operator's request about a run cannot be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunRequestError {
    /// No plan of that id is loaded.
    #[error("no patrol {0:?}")]
    UnknownPlan(String),
    /// No run of that id.
    #[error("no run {0:?}")]
    UnknownRun(String),
    /// The plan's dock has no Cloud API serial number, so it cannot be commanded.
    #[error("dock {0} has no `sn` (its Cloud API serial number) in the docks file")]
    NoSerial(String),
    /// The run is over.
    #[error("run {run_id} is already {state}")]
    Over {
        /// The run.
        run_id: String,
        /// Its final state.
        state: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What triage knows of a dock from its own messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DockLive {
    /// What its gateway's last topology (`update_topo`) said, if one came.
    pub online: Option<bool>,
    /// Its aircraft is among the gateway's devices.
    pub aircraft: bool,
    /// Its last message, Unix seconds.
    pub last_seen: Option<f64>,
}

impl DockLive {
    /// Whether the dock can be reached at `now`: it said it is online, or (after triage's
    /// restart, before its next topology) it was heard from within [`ONLINE_WINDOW_S`], unless
    /// it last said it went offline. A dock never heard is offline.
    pub fn online_at(&self, now: f64) -> bool {
        match self.online {
            Some(online) => online,
            None => self.last_seen.is_some_and(|t| now - t <= ONLINE_WINDOW_S),
        }
    }
}

/// Runs patrols through their docks.
pub struct Dispatcher {
    patrols: Arc<Patrols>,
    cfg: PatrolsConfig,
    store: Box<dyn Store>,
    /// The next instant to look at, per scheduled plan.
    next: HashMap<String, DateTime<Utc>>,
    waiting: HashMap<String, Waiting>,
    docks: HashMap<String, DockLive>,
    /// Wayline URL tokens: run and expiry.
    urls: Urls,
    /// When the store's unanswered services were last looked at, Unix seconds.
    scanned_at: f64,
    /// Plans made on the spot (verification flights), by plan id.
    adhoc: HashMap<String, Arc<Patrol>>,
    /// Messages asked for between ticks (a cancel from the API), for the link to send.
    queued: Queued,
    /// Camera-triggered verification flights (`[verification]`), when on.
    pub(crate) verifier: Option<crate::verify::Verifier>,
    /// When the verifier last looked at the store, Unix seconds.
    verified_at: f64,
    /// When this dispatcher started, Unix seconds.
    started_at: f64,
}

/// Messages waiting for the link (bounded: the link takes them every tick).
#[derive(Debug, Default)]
struct Queued(Vec<(String, Vec<u8>)>);

/// Most messages waiting for the link.
const MAX_QUEUED: usize = 1000;

impl Publish for Queued {
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        if self.0.len() >= MAX_QUEUED {
            tracing::warn!(
                topic,
                "the dock link is not taking messages; oldest dropped"
            );
            self.0.remove(0);
        }
        self.0.push((topic, payload));
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("plans", &self.patrols.patrols.len())
            .field("waiting", &self.waiting.len())
            .finish()
    }
}

pub(crate) fn utc(unix_s: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt((unix_s * 1000.0).round() as i64)
        .single()
        .unwrap_or_default()
}

fn unix(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn ms(unix_s: f64) -> i64 {
    (unix_s * 1000.0).round() as i64
}

/// A fresh unguessable token (128 random bits, hex).
fn token() -> String {
    format!("{:032x}", uuid::Uuid::new_v4().as_u128())
}

/// Wayline URL tokens: the run and the expiry (Unix seconds).
type Urls = HashMap<String, (String, f64)>;

/// The runs not over yet (at most 10,000).
fn open_runs(store: &mut dyn Store) -> Result<Vec<Run>, StoreError> {
    store.runs(
        &RunFilter {
            open: Some(true),
            ..RunFilter::default()
        },
        10_000,
    )
}

/// The service a run sent and has not had answered, from its events: its `tid` and what waits.
fn waiting_in(run: &Run, events: &[RunEvent]) -> Option<(String, Waiting)> {
    if !matches!(run.state, RunState::Preparing | RunState::Executing) {
        return None;
    }
    let k = events.iter().rposition(|e| e.event.ends_with("_sent"))?;
    let tid_of = |e: &RunEvent| {
        e.detail
            .get("tid")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    };
    let tid = tid_of(&events[k])?;
    // Answered already: a later event carries its tid.
    if events[k + 1..]
        .iter()
        .any(|e| tid_of(e).as_deref() == Some(tid.as_str()))
    {
        return None;
    }
    let method = if run.state == RunState::Preparing {
        "flighttask_prepare"
    } else {
        "flighttask_execute"
    };
    Some((
        tid,
        Waiting {
            run_id: run.run_id.clone(),
            method,
            sent_at: events[k].at,
        },
    ))
}

/// The wayline URL tokens a run's prepares handed out and still valid at `now`, with their
/// expiry.
fn urls_in(events: &[RunEvent], now: f64) -> impl Iterator<Item = (String, f64)> + '_ {
    events
        .iter()
        .filter(move |e| e.event == "flighttask_prepare_sent" && now - e.at <= URL_TTL_S)
        .filter_map(|e| {
            let token = e
                .detail
                .pointer("/data/file/url")
                .and_then(|u| u.as_str())
                .and_then(|u| u.rsplit('/').next())
                .and_then(|f| f.strip_suffix(".kmz"))
                .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))?;
            Some((token.to_string(), e.at + URL_TTL_S))
        })
}

/// The services sent and not yet answered, from the open runs' events: a restarted triage, or
/// another instance, knows a reply's `tid`. With `urls_at`, also the wayline URLs handed to
/// docks and still valid then (a dock told a URL before triage restarted can still download
/// from it).
fn from_store(
    store: &mut dyn Store,
    urls_at: Option<f64>,
) -> Result<(HashMap<String, Waiting>, Urls), StoreError> {
    let (mut waiting, mut urls) = (HashMap::new(), HashMap::new());
    for run in open_runs(store)? {
        let wants_urls = urls_at.is_some();
        if !wants_urls && !matches!(run.state, RunState::Preparing | RunState::Executing) {
            continue;
        }
        let events = store.run_events(&run.run_id)?;
        waiting.extend(waiting_in(&run, &events));
        if let Some(now) = urls_at {
            urls.extend(urls_in(&events, now).map(|(t, exp)| (t, (run.run_id.clone(), exp))));
        }
    }
    Ok((waiting, urls))
}

impl Dispatcher {
    /// A dispatcher over `store`, at `now`: each plan goes on after its latest stored run (so
    /// instants passed while triage was away are found), or from `now` less its catch-up
    /// window; `tid`s sent before a restart are known again from the runs' events.
    pub fn new(
        patrols: Arc<Patrols>,
        cfg: PatrolsConfig,
        mut store: Box<dyn Store>,
        now: f64,
    ) -> Result<Self, StoreError> {
        let mut next = HashMap::new();
        for p in &patrols.patrols {
            let Some(s) = p.schedule() else { continue };
            let last = store
                .runs(
                    &RunFilter {
                        plan_id: Some(p.id().into()),
                        ..RunFilter::default()
                    },
                    100,
                )?
                .into_iter()
                .find(|r| r.kind == RunKind::Scheduled)
                .map(|r| r.scheduled_at);
            let from = match last {
                Some(t) if now - t > MAX_LOOKBACK_S => {
                    tracing::warn!(
                        plan = p.id(),
                        days = (now - t) / 86_400.0,
                        "triage was away longer than the look-back: instants before it are not recorded as missed"
                    );
                    now - MAX_LOOKBACK_S
                }
                Some(t) => t,
                None => now - s.catch_up_s.max(0.0) - 1e-3,
            };
            if let Some(t) = s.instant_after(utc(from)) {
                next.insert(p.id().to_string(), t);
            }
        }
        let (waiting, urls) = from_store(store.as_mut(), Some(now))?;
        Ok(Self {
            patrols,
            cfg,
            store,
            next,
            waiting,
            docks: HashMap::new(),
            urls,
            scanned_at: now,
            adhoc: HashMap::new(),
            queued: Queued::default(),
            verifier: None,
            verified_at: f64::NEG_INFINITY,
            started_at: now,
        })
    }

    /// Sends drones to look at street cameras' tickets (`[verification]`).
    pub fn verifying(mut self, cfg: crate::verify::VerificationConfig, now: f64) -> Self {
        self.verifier = Some(crate::verify::Verifier::new(cfg, now));
        self
    }

    /// The patrols and docks it flies.
    pub fn patrols(&self) -> &Patrols {
        &self.patrols
    }

    /// Why a dock cannot take a run now, if it cannot (offline, or busy with a run).
    pub(crate) fn dock_unavailable(
        &mut self,
        dock_id: &str,
        now: f64,
    ) -> Result<Option<String>, StoreError> {
        self.unavailable(dock_id, "", now)
    }

    /// Claims a verification run of a point inspection over `ticket_id`, now.
    pub(crate) fn claim_verification(
        &mut self,
        p: &Patrol,
        ticket_id: &str,
        now: f64,
    ) -> Result<Option<Run>, StoreError> {
        self.claim_for(
            p,
            now,
            RunKind::Verification,
            RunState::Scheduled,
            None,
            Some(ticket_id),
            now,
        )
    }

    /// The store (for reads).
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// What triage knows of a dock.
    pub fn dock(&self, dock_id: &str) -> Option<&DockLive> {
        self.docks.get(dock_id)
    }

    /// The plan of a run: a loaded patrol, or one made on the spot.
    fn patrol(&self, plan_id: &str) -> Option<&Patrol> {
        self.patrols
            .get(plan_id)
            .or_else(|| self.adhoc.get(plan_id).map(|p| p.as_ref()))
    }

    /// Adds a plan made on the spot (a verification flight's point inspection).
    pub(crate) fn add_adhoc(&mut self, patrol: Patrol) {
        self.adhoc.insert(patrol.id().to_string(), Arc::new(patrol));
    }

    /// How long after its instant a run may still be prepared and started, seconds.
    fn start_window(&self, run: &Run) -> f64 {
        match run.kind {
            RunKind::Scheduled => self
                .patrol(&run.plan_id)
                .and_then(|p| p.schedule())
                .map_or(0.0, |s| s.catch_up_s),
            _ => IMMEDIATE_WINDOW_S,
        }
    }

    /// Asks for a run of `plan_id` now, on behalf of `by` (an operator). The run is claimed
    /// `scheduled` and goes to its dock as an immediate task on the next tick; a dock that
    /// cannot take it now gives a run `skipped` with the reason.
    pub fn run_now(&mut self, plan_id: &str, now: f64, by: &str) -> Result<Run, RunRequestError> {
        let p = self
            .patrols
            .get(plan_id)
            .cloned()
            .ok_or_else(|| RunRequestError::UnknownPlan(plan_id.into()))?;
        if self.dock_sn(&p.plan.file.dock).is_none() {
            return Err(RunRequestError::NoSerial(p.plan.file.dock.clone()));
        }
        // Two requests within one millisecond are one run.
        let mut at = (now * 1000.0).round() / 1000.0;
        loop {
            if let Some(run) =
                self.claim(&p, at, RunKind::Manual, RunState::Scheduled, None, now)?
            {
                self.store.add_run_event(&RunEvent::new(
                    &run.run_id,
                    now,
                    "requested",
                    json!({ "by": by }),
                ))?;
                return Ok(run);
            }
            at += 0.001;
        }
    }

    /// Cancels a run on behalf of `by`: one not yet sent is dropped, a prepared task is undone
    /// on the dock (`flighttask_undo`), and an aircraft in flight is called home
    /// (`return_home`). A run already over is refused, naming its state.
    /// What it sends waits for the link's next tick ([`Dispatcher::take_queued`]).
    pub fn cancel(&mut self, run_id: &str, now: f64, by: &str) -> Result<Run, RunRequestError> {
        let mut out = std::mem::take(&mut self.queued);
        let r = self.cancel_into(run_id, now, by, &mut out);
        self.queued = out;
        r
    }

    /// Messages asked for between ticks, to send now.
    pub fn take_queued(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.queued.0)
    }

    fn cancel_into(
        &mut self,
        run_id: &str,
        now: f64,
        by: &str,
        out: &mut dyn Publish,
    ) -> Result<Run, RunRequestError> {
        // Another instance or a dock message may move the run meanwhile: try again on the state
        // found, a few times.
        for _ in 0..5 {
            let run = self
                .store
                .run(run_id)?
                .ok_or_else(|| RunRequestError::UnknownRun(run_id.into()))?;
            if run.state.is_final() {
                return Err(RunRequestError::Over {
                    run_id: run.run_id,
                    state: run.state.as_str(),
                });
            }
            let reason = format!("canceled by {by}");
            if !self.move_to(
                &run,
                run.state,
                RunState::Canceled,
                Some(&reason),
                now,
                json!({ "by": by, "from": run.state.as_str() }),
            )? {
                continue;
            }
            match run.state {
                RunState::Preparing | RunState::Prepared => {
                    let undo = Service::Undo {
                        flight_ids: vec![run.run_id.clone()],
                    };
                    self.send(&run, &undo, now, out)?;
                }
                RunState::Executing | RunState::InProgress => {
                    self.send(&run, &Service::ReturnHome, now, out)?;
                }
                _ => {}
            }
            // The dock's answer to the undo or return is not waited for: the run is over.
            self.waiting.retain(|_, w| w.run_id != run.run_id);
            return Ok(self.store.run(run_id)?.unwrap_or(run));
        }
        let run = self
            .store
            .run(run_id)?
            .ok_or_else(|| RunRequestError::UnknownRun(run_id.into()))?;
        Err(RunRequestError::Over {
            run_id: run.run_id,
            state: run.state.as_str(),
        })
    }

    /// The KMZ of a wayline URL's token, while it is valid.
    pub fn wayline(&mut self, token: &str, now: f64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((run_id, expires)) = self.urls.get(token).cloned() else {
            return Ok(None);
        };
        if now > expires {
            self.urls.remove(token);
            return Ok(None);
        }
        let Some(run) = self.store.run(&run_id)? else {
            return Ok(None);
        };
        Ok(self.patrol(&run.plan_id).map(|p| p.kmz.clone()))
    }

    /// A fresh URL for a run's KMZ.
    fn url_for(&mut self, run: &Run, now: f64) -> String {
        if self.urls.len() >= MAX_URLS {
            self.urls.retain(|_, (_, exp)| *exp >= now);
            if self.urls.len() >= MAX_URLS
                && let Some(oldest) = self
                    .urls
                    .iter()
                    .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
                    .map(|(k, _)| k.clone())
            {
                self.urls.remove(&oldest);
            }
        }
        let t = token();
        self.urls
            .insert(t.clone(), (run.run_id.clone(), now + URL_TTL_S));
        format!(
            "{}/api/v1/waylines/{t}.kmz",
            self.cfg.public_url.trim_end_matches('/')
        )
    }

    fn dock_sn(&self, dock_id: &str) -> Option<String> {
        self.patrols.docks.get(dock_id).and_then(|d| d.sn.clone())
    }

    /// Why a dock cannot take a run now, if it cannot.
    fn unavailable(
        &mut self,
        dock_id: &str,
        run_id: &str,
        now: f64,
    ) -> Result<Option<String>, StoreError> {
        if !self.docks.get(dock_id).is_some_and(|d| d.online_at(now)) {
            return Ok(Some(format!("dock {dock_id} offline")));
        }
        let busy = self
            .store
            .runs(
                &RunFilter {
                    dock_id: Some(dock_id.into()),
                    open: Some(true),
                    ..RunFilter::default()
                },
                10,
            )?
            .into_iter()
            .find(|r| r.run_id != run_id && r.state.occupies_dock());
        Ok(busy.map(|r| format!("dock {dock_id} busy with run {}", r.run_id)))
    }

    /// Claims every instant whose prepare time has come, prepares, executes and times out
    /// runs, at `now` (Unix seconds).
    pub fn tick(&mut self, now: f64, out: &mut dyn Publish) -> Result<(), StoreError> {
        // Services a dock never answered, this instance's or (from the store, looked at once
        // a second rather than every tick) another's.
        if now - self.scanned_at >= STORE_SCAN_S {
            self.scanned_at = now;
            for (tid, w) in from_store(self.store.as_mut(), None)?.0 {
                self.waiting.entry(tid).or_insert(w);
            }
        }
        let timeout = self.cfg.reply_timeout_s;
        let silent: Vec<(String, Waiting)> = self
            .waiting
            .iter()
            .filter(|(_, w)| now - w.sent_at > timeout)
            .map(|(t, w)| (t.clone(), w.clone()))
            .collect();
        for (tid, w) in silent {
            self.waiting.remove(&tid);
            let Some(run) = self.store.run(&w.run_id)? else {
                continue;
            };
            let from = match w.method {
                "flighttask_prepare" => RunState::Preparing,
                _ => RunState::Executing,
            };
            let reason = format!("no reply from {} in {timeout:.0} s", run.dock_id);
            self.move_to(
                &run,
                from,
                RunState::Failed,
                Some(&reason),
                now,
                json!({ "tid": tid, "method": w.method }),
            )?;
        }
        if self.verifier.is_some() && now - self.verified_at >= STORE_SCAN_S {
            self.verified_at = now;
            self.verify(now)?;
        }
        let patrols = self.patrols.clone();
        for p in &patrols.patrols {
            let Some(s) = p.schedule() else { continue };
            let mut claimed = 0;
            while let Some(&t) = self.next.get(p.id()) {
                if unix(t) - self.cfg.prepare_lead_s > now || claimed >= MAX_CLAIMS_PER_TICK {
                    break;
                }
                let late = now - unix(t);
                let blackout = s.blackout(t);
                // Not heard from its dock yet, just after the start: wait a little for it.
                if blackout.is_none()
                    && late <= s.catch_up_s
                    && now - self.started_at < DOCK_HEARD_GRACE_S
                    && !self.docks.contains_key(&p.plan.file.dock)
                {
                    break;
                }
                claimed += 1;
                match s.instant_after(t) {
                    Some(n) => self.next.insert(p.id().to_string(), n),
                    None => self.next.remove(p.id()),
                };
                // A blackout says why it never would have flown; lateness, why it did not.
                let (state, reason) = if let Some(w) = blackout {
                    (RunState::Skipped, Some(format!("blackout {w}")))
                } else if late > s.catch_up_s {
                    (
                        RunState::Missed,
                        Some(format!(
                            "{late:.0} s late (triage was not running at its instant), over \
                             catch_up_s = {}",
                            s.catch_up_s
                        )),
                    )
                } else {
                    (RunState::Scheduled, None)
                };
                self.claim(p, unix(t), RunKind::Scheduled, state, reason, now)?;
            }
        }
        let open = open_runs(self.store.as_mut())?;
        for run in open {
            self.advance(&run, now, out)?;
        }
        Ok(())
    }

    /// Claims a run of `p` at `at`; a run claimed `scheduled` whose dock cannot take it is
    /// claimed skipped instead.
    fn claim(
        &mut self,
        p: &Patrol,
        at: f64,
        kind: RunKind,
        state: RunState,
        reason: Option<String>,
        now: f64,
    ) -> Result<Option<Run>, StoreError> {
        self.claim_for(p, at, kind, state, reason, None, now)
    }

    /// [`Self::claim`], for a ticket when it is a verification.
    #[allow(clippy::too_many_arguments)]
    fn claim_for(
        &mut self,
        p: &Patrol,
        at: f64,
        kind: RunKind,
        mut state: RunState,
        mut reason: Option<String>,
        ticket_id: Option<&str>,
        now: f64,
    ) -> Result<Option<Run>, StoreError> {
        let run_id = uuid::Uuid::now_v7().to_string();
        let dock_id = p.plan.file.dock.clone();
        if state == RunState::Scheduled
            && let Some(why) = self.unavailable(&dock_id, &run_id, now)?
        {
            (state, reason) = (RunState::Skipped, Some(why));
        }
        let run = Run {
            run_id,
            plan_id: p.id().into(),
            plan_sha256: p.plan_sha256.clone(),
            dock_id,
            kind,
            scheduled_at: at,
            state,
            reason: reason.clone(),
            kmz_md5: Some(p.kmz_md5.clone()),
            ticket_id: ticket_id.map(str::to_owned),
            updated_at: now,
        };
        let ev = RunEvent::new(
            &run.run_id,
            now,
            "claimed",
            json!({ "state": state.as_str(), "reason": reason }),
        );
        if !self.store.claim_run(&run, &ev)? {
            return Ok(None);
        }
        match state {
            RunState::Scheduled => {
                tracing::info!(run = %run.run_id, plan = %run.plan_id, at = %utc(at), "run claimed")
            }
            _ => {
                tracing::warn!(run = %run.run_id, plan = %run.plan_id, at = %utc(at), state = state.as_str(), reason = reason.as_deref().unwrap_or(""), "run not flown")
            }
        }
        Ok(Some(run))
    }

    /// Moves a run and records why; `false` if it was no longer in `from`.
    fn move_to(
        &mut self,
        run: &Run,
        from: RunState,
        to: RunState,
        reason: Option<&str>,
        now: f64,
        detail: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let mut detail = detail;
        if let Some(r) = reason {
            detail["reason"] = json!(r);
        }
        let ev = RunEvent::new(&run.run_id, now, to.as_str(), detail);
        let moved = self.store.move_run(&run.run_id, from, to, reason, &ev)?;
        if moved && to.is_final() && to != RunState::Ok {
            tracing::warn!(run = %run.run_id, plan = %run.plan_id, state = to.as_str(), reason = reason.unwrap_or(""), "run ended");
        } else if moved {
            tracing::info!(run = %run.run_id, plan = %run.plan_id, state = to.as_str(), "run moved");
        }
        Ok(moved)
    }

    /// Sends a service for a run and remembers its `tid` (in memory and in the run's events).
    fn send(
        &mut self,
        run: &Run,
        service: &Service,
        now: f64,
        out: &mut dyn Publish,
    ) -> Result<(), StoreError> {
        let Some(sn) = self.dock_sn(&run.dock_id) else {
            return Ok(());
        };
        let e = service.envelope(ms(now));
        self.store.add_run_event(&RunEvent::new(
            &run.run_id,
            now,
            &format!("{}_sent", service.method()),
            json!({ "tid": e.tid, "bid": e.bid, "data": e.data }),
        ))?;
        self.waiting.insert(
            e.tid.clone(),
            Waiting {
                run_id: run.run_id.clone(),
                method: service.method(),
                sent_at: now,
            },
        );
        out.publish(DockTopic::Services.topic(&sn), e.to_json());
        Ok(())
    }

    /// One open run's next step at `now`.
    fn advance(&mut self, run: &Run, now: f64, out: &mut dyn Publish) -> Result<(), StoreError> {
        let max_flight_s = self
            .patrols
            .docks
            .get(&run.dock_id)
            .map_or(1800.0, |d| d.max_flight_s);
        match run.state {
            RunState::Scheduled => {
                let Some(p) = self.patrol(&run.plan_id).cloned() else {
                    self.move_to(
                        run,
                        run.state,
                        RunState::Skipped,
                        Some("its plan is no longer loaded"),
                        now,
                        json!({}),
                    )?;
                    return Ok(());
                };
                if now > run.scheduled_at + self.start_window(run) {
                    self.move_to(
                        run,
                        run.state,
                        RunState::Missed,
                        Some("not prepared before its catch-up window closed"),
                        now,
                        json!({}),
                    )?;
                    return Ok(());
                }
                if self.move_to(
                    run,
                    RunState::Scheduled,
                    RunState::Preparing,
                    None,
                    now,
                    json!({}),
                )? {
                    let dock = self.patrols.docks.get(&run.dock_id).cloned();
                    let prepare = Service::Prepare(FlighttaskPrepare {
                        flight_id: run.run_id.clone(),
                        execute_time_ms: ms(run.scheduled_at),
                        task_type: match run.kind {
                            RunKind::Scheduled => TaskType::Timed,
                            _ => TaskType::Immediate,
                        },
                        wayline_type: p.wayline_type,
                        file: TaskFile {
                            url: self.url_for(run, now),
                            fingerprint: p.kmz_md5.clone(),
                        },
                        rth_altitude_m: dock.map_or(100, |d| d.rth_altitude_m.round() as i64),
                        out_of_control_action: 0,
                        exit_wayline_when_rc_lost: 1,
                    });
                    self.send(run, &prepare, now, out)?;
                }
            }
            RunState::Prepared if now > run.scheduled_at + self.start_window(run) + 1.0 => {
                // Triage was away at its instant: the dock is told to drop the task.
                let reason = "not executed before its catch-up window closed (triage was away)";
                if self.move_to(
                    run,
                    RunState::Prepared,
                    RunState::Missed,
                    Some(reason),
                    now,
                    json!({}),
                )? {
                    let undo = Service::Undo {
                        flight_ids: vec![run.run_id.clone()],
                    };
                    self.send(run, &undo, now, out)?;
                    self.waiting.retain(|_, w| w.run_id != run.run_id);
                }
            }
            RunState::Prepared if now >= run.scheduled_at => {
                // The move is the guard: of a restart or two instances, one sends the execute.
                let moved = self.move_to(
                    run,
                    RunState::Prepared,
                    RunState::Executing,
                    None,
                    now,
                    json!({}),
                )?;
                if moved {
                    let exec = Service::Execute {
                        flight_id: run.run_id.clone(),
                    };
                    self.send(run, &exec, now, out)?;
                }
            }
            RunState::Executing | RunState::InProgress
                if now > run.scheduled_at.max(run.updated_at) + max_flight_s + FLIGHT_MARGIN_S =>
            {
                let reason = format!(
                    "no end reported within max_flight_s = {max_flight_s:.0} s and {FLIGHT_MARGIN_S:.0} s more"
                );
                self.move_to(
                    run,
                    run.state,
                    RunState::Timeout,
                    Some(&reason),
                    now,
                    json!({}),
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Keeps a message that cannot be used.
    fn dead_letter(
        &mut self,
        topic: &str,
        payload: &[u8],
        reason: String,
        now: f64,
    ) -> Result<(), StoreError> {
        tracing::warn!(topic, reason = %reason, "dock message refused");
        self.store.apply(
            &[],
            &[NewDeadLetter {
                at: now,
                topic: topic.chars().take(256).collect(),
                reason,
                payload: payload[..payload.len().min(DEAD_LETTER_KEEP)].to_vec(),
                size: payload.len(),
            }],
        )
    }

    /// Takes one message from a dock's topics at `now`.
    pub fn on_message(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: f64,
        out: &mut dyn Publish,
    ) -> Result<(), StoreError> {
        let Some((sn, kind)) = DockTopic::parse(topic) else {
            return self.dead_letter(topic, payload, "not a dock topic".into(), now);
        };
        let Some(dock) = self.patrols.dock_by_sn(sn).cloned() else {
            // Aircraft OSD is the edge agent's; anything else from an unknown device is kept.
            if kind == DockTopic::Osd
                && self
                    .patrols
                    .docks
                    .docks
                    .iter()
                    .any(|d| d.aircraft_sn.as_deref() == Some(sn))
            {
                return Ok(());
            }
            return self.dead_letter(
                topic,
                payload,
                format!("serial number {sn} is no [[dock]]"),
                now,
            );
        };
        // The gateway's own OSD and state carry no method: that one came is what counts (what
        // they say is the edge agents' business).
        if matches!(kind, DockTopic::Osd | DockTopic::State) {
            if payload.len() > cloudapi::MAX_MESSAGE_BYTES
                || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(payload)
                    .is_err()
            {
                return self.dead_letter(topic, payload, "not a JSON object".into(), now);
            }
            self.docks.entry(dock.id.clone()).or_default().last_seen = Some(now);
            return Ok(());
        }
        let e = match Envelope::parse(payload, sn) {
            Ok(e) => e,
            Err(why) => return self.dead_letter(topic, payload, why.to_string(), now),
        };
        self.docks.entry(dock.id.clone()).or_default().last_seen = Some(now);
        let result = match kind {
            DockTopic::ServicesReply => self.on_reply(&e, now)?,
            DockTopic::Events => {
                let r = self.on_event(&e, now);
                if e.needs_reply() {
                    out.publish(
                        DockTopic::EventsReply.topic(sn),
                        e.result_reply(ms(now), 0).to_json(),
                    );
                }
                r
            }
            DockTopic::Requests => match cloudapi::read_resource_get(&e) {
                Ok(flight_id) => match self.store.run(&flight_id)? {
                    Some(run) => {
                        let Some(p) = self.patrol(&run.plan_id) else {
                            return Ok(());
                        };
                        let fingerprint = p.kmz_md5.clone();
                        let file = TaskFile {
                            url: self.url_for(&run, now),
                            fingerprint,
                        };
                        out.publish(
                            DockTopic::RequestsReply.topic(sn),
                            cloudapi::resource_reply(&e, ms(now), &file).to_json(),
                        );
                        Ok(())
                    }
                    None => Err(format!(
                        "flighttask_resource_get for unknown flight_id {flight_id}"
                    )),
                },
                Err(why) => Err(why.to_string()),
            },
            DockTopic::Status => match Topology::read(&e) {
                Ok(t) => {
                    let live = self.docks.entry(dock.id.clone()).or_default();
                    live.online = Some(t.online);
                    live.aircraft = dock
                        .aircraft_sn
                        .as_ref()
                        .is_some_and(|a| t.sub_devices.contains(a));
                    tracing::info!(dock = %dock.id, online = t.online, aircraft = live.aircraft, "dock topology");
                    out.publish(
                        DockTopic::StatusReply.topic(sn),
                        e.result_reply(ms(now), 0).to_json(),
                    );
                    Ok(())
                }
                Err(why) => Err(why.to_string()),
            },
            _ => Err(format!("triage does not take messages on {topic}")),
        };
        match result {
            Ok(()) => Ok(()),
            Err(reason) => self.dead_letter(topic, payload, reason, now),
        }
    }

    /// A `services_reply`: the dock took or refused a task.
    fn on_reply(&mut self, e: &Envelope, now: f64) -> Result<Result<(), String>, StoreError> {
        let Some(w) = self.waiting.remove(&e.tid) else {
            return Ok(Err(format!(
                "a reply to tid {} triage did not send (or no longer waits for)",
                e.tid
            )));
        };
        let result = match e.result() {
            Ok(r) => r,
            Err(why) => {
                self.waiting.insert(e.tid.clone(), w);
                return Ok(Err(why.to_string()));
            }
        };
        let Some(run) = self.store.run(&w.run_id)? else {
            return Ok(Ok(()));
        };
        let detail = json!({ "tid": e.tid, "method": e.method, "result": result });
        match (w.method, result) {
            ("flighttask_prepare", 0) => {
                self.move_to(
                    &run,
                    RunState::Preparing,
                    RunState::Prepared,
                    None,
                    now,
                    detail,
                )?;
            }
            ("flighttask_prepare", r) => {
                let reason = format!("{} refused the task (result {r})", run.dock_id);
                self.move_to(
                    &run,
                    RunState::Preparing,
                    RunState::Rejected,
                    Some(&reason),
                    now,
                    detail,
                )?;
            }
            (_, 0) => {
                self.store.add_run_event(&RunEvent::new(
                    &run.run_id,
                    now,
                    "services_reply",
                    detail,
                ))?;
            }
            (_, r) => {
                let reason = format!("{} refused to execute (result {r})", run.dock_id);
                self.move_to(
                    &run,
                    RunState::Executing,
                    RunState::Rejected,
                    Some(&reason),
                    now,
                    detail,
                )?;
            }
        }
        Ok(Ok(()))
    }

    /// An event: `flighttask_progress` moves its run.
    fn on_event(&mut self, e: &Envelope, now: f64) -> Result<(), String> {
        let p = Progress::read(e).map_err(|why| match why {
            CloudApiError::UnknownMethod(m) => format!("unknown event method `{m}`"),
            other => other.to_string(),
        })?;
        let run = self
            .store
            .run(&p.flight_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("progress for unknown flight_id {}", p.flight_id))?;
        let detail = json!({
            "status": p.status.as_str(),
            "current_waypoint_index": p.current_waypoint_index,
            "percent": p.percent,
            "result": p.result,
        });
        let to = match p.status {
            TaskStatus::Sent | TaskStatus::Paused => None,
            TaskStatus::InProgress => {
                (run.state != RunState::InProgress).then_some(RunState::InProgress)
            }
            TaskStatus::Ok => Some(RunState::Ok),
            TaskStatus::PartiallyDone => Some(RunState::PartiallyDone),
            TaskStatus::Failed => Some(RunState::Failed),
            TaskStatus::Rejected => Some(RunState::Rejected),
            TaskStatus::Canceled => Some(RunState::Canceled),
            TaskStatus::Timeout => Some(RunState::Timeout),
        };
        let moved = match to {
            Some(to) if run.state.can_move_to(to) => {
                let reason = (to.is_final() && to != RunState::Ok).then(|| {
                    format!(
                        "the dock reports {}{} (result {})",
                        p.status.as_str(),
                        p.current_waypoint_index
                            .map(|i| format!(" at waypoint {i}"))
                            .unwrap_or_default(),
                        p.result
                    )
                });
                self.move_to(&run, run.state, to, reason.as_deref(), now, detail.clone())
                    .map_err(|e| e.to_string())?
            }
            _ => false,
        };
        if !moved {
            self.store
                .add_run_event(&RunEvent::new(
                    &run.run_id,
                    now,
                    "flighttask_progress",
                    detail,
                ))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
