//! Camera-triggered verification (air–ground linkage): a street camera's ticket that qualifies
//! (`[verification]`: its class, its score, waiting for review or any new one) sends the
//! nearest online, idle dock in range to look. Triage plans a point inspection over the
//! ticket, claims a `verification` run for it and sends an immediate task; the drone's hit
//! joins the same ticket through the usual dedup, and the usual two-sighting rule dispatches it.
//!
//! The ticket's audit tells the story: `verification_requested` (the run, its dock and
//! distance), `verification_flown` (how the flight ended), then `verification_seen` (the
//! flight's hit joined the ticket) or `verification_not_seen` (it did not: the ticket stays as
//! it was); or `verification_skipped` with the reason (a blackout, cooldown, rate limit, no dock
//! in range, no dock free within `max_wait_s`, the ticket no longer waiting).
//!
//! Blackouts are the verification's own (`blackout_hours`, `blackout_dates` in `timezone`, as a
//! plan's `[schedule]` writes them, read by the same parser): a patrol plan's blackouts say when
//! its area is not worth flying, not when its dock may not fly, so they do not hold a
//! verification back. A request met in a blackout is skipped, naming the window: its ticket
//! goes on as it would without docks, rather than waiting for the blackout's end.
//!
//! What is decided lives in the store (runs, audit): a restarted triage watches the runs it
//! sent and looks again at tickets it had not decided.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use argus_core::geodesy::{GeoPoint, haversine_m};
use argus_flightplan::schedule::{Schedule, ScheduleSpec};
use serde::Deserialize;
use serde_json::json;

use crate::dispatch::Dispatcher;
use crate::engine::State;
use crate::patrols::Patrol;
use crate::store::{
    AuditEvent, Run, RunFilter, RunKind, RunState, StoreError, Ticket, TicketFilter,
};

/// Which camera tickets call a drone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Camera tickets waiting for a person's review.
    Review,
    /// Every new camera ticket.
    Opened,
}

/// `[verification]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// The hit classes worth a flight.
    #[serde(default = "default_classes")]
    pub classes: Vec<String>,
    /// Which tickets: waiting for review, or every new one.
    #[serde(default = "default_on")]
    pub on: Trigger,
    /// The camera's best score at least.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Height of the look, metres above the dock (transit and hover, camera straight down).
    #[serde(default = "default_altitude")]
    pub altitude_m: f64,
    /// Hover over the ticket, seconds.
    #[serde(default = "default_hover")]
    pub hover_s: f64,
    /// No second flight to a place within `cooldown_radius_m` for this long, seconds.
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
    /// See `cooldown_s`, metres.
    #[serde(default = "default_cooldown_radius")]
    pub cooldown_radius_m: f64,
    /// Verification flights one dock flies in an hour, at most.
    #[serde(default = "default_per_hour")]
    pub max_per_dock_per_hour: u32,
    /// How long a request waits for a dock to be online and idle, seconds.
    #[serde(default = "default_max_wait")]
    pub max_wait_s: f64,
    /// The IANA zone `blackout_hours` and `blackout_dates` are read in; UTC by default.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Local hours in which no verification flight is sent, as a plan's `[schedule]` writes
    /// them (`12:00-13:30,22:00-24:00`; a night is two windows: `22:00-24:00,00:00-06:00`).
    #[serde(default)]
    pub blackout_hours: Option<String>,
    /// Local dates without verification flights: `2026-10-01` or `2026-10-01/2026-10-07`.
    #[serde(default)]
    pub blackout_dates: Vec<String>,
}

fn default_classes() -> Vec<String> {
    vec!["construction_waste".into(), "vending_in_lane".into()]
}
fn default_on() -> Trigger {
    Trigger::Review
}
fn default_min_score() -> f32 {
    0.3
}
fn default_altitude() -> f64 {
    60.0
}
fn default_hover() -> f64 {
    15.0
}
fn default_cooldown() -> f64 {
    1800.0
}
fn default_cooldown_radius() -> f64 {
    50.0
}
fn default_per_hour() -> u32 {
    4
}
fn default_max_wait() -> f64 {
    600.0
}
fn default_timezone() -> String {
    "UTC".into()
}

impl Default for VerificationConfig {
    fn default() -> Self {
        Self {
            classes: default_classes(),
            on: default_on(),
            min_score: default_min_score(),
            altitude_m: default_altitude(),
            hover_s: default_hover(),
            cooldown_s: default_cooldown(),
            cooldown_radius_m: default_cooldown_radius(),
            max_per_dock_per_hour: default_per_hour(),
            max_wait_s: default_max_wait(),
            timezone: default_timezone(),
            blackout_hours: None,
            blackout_dates: Vec::new(),
        }
    }
}

impl VerificationConfig {
    /// Checks the values serde cannot.
    pub fn check(&self) -> Result<(), String> {
        for (key, v, lo, hi) in [
            ("min_score", f64::from(self.min_score), 0.0, 1.0),
            ("altitude_m", self.altitude_m, 10.0, 500.0),
            ("hover_s", self.hover_s, 0.0, 600.0),
            ("cooldown_s", self.cooldown_s, 0.0, 7.0 * 86_400.0),
            ("cooldown_radius_m", self.cooldown_radius_m, 0.0, 10_000.0),
            ("max_wait_s", self.max_wait_s, 0.0, 86_400.0),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(format!("verification.{key} = {v} is outside {lo}..{hi}"));
            }
        }
        if !(1..=1000).contains(&self.max_per_dock_per_hour) {
            return Err(format!(
                "verification.max_per_dock_per_hour = {} is outside 1..1000",
                self.max_per_dock_per_hour
            ));
        }
        if self.classes.is_empty() {
            return Err("verification.classes is empty".into());
        }
        if let Some(c) = self
            .classes
            .iter()
            .find(|c| !argus_core::hit::is_agent_id(c))
        {
            return Err(format!("verification.classes: {c:?} is not a class name"));
        }
        self.blackouts()?;
        Ok(())
    }

    /// The blackouts, read by a plan schedule's parser (a cron that matches every minute
    /// stands in for the schedule: only its windows are asked); `None` without any.
    pub fn blackouts(&self) -> Result<Option<Schedule>, String> {
        let spec = ScheduleSpec {
            cron: "* * * * *".into(),
            timezone: self.timezone.clone(),
            blackout_hours: self.blackout_hours.clone(),
            blackout_dates: self.blackout_dates.clone(),
            catch_up_s: 0.0,
        };
        // Its messages name `schedule.KEY`; here the keys are `[verification]`'s.
        let schedule = spec.parse().map_err(|e| {
            let e = e.to_string();
            format!("verification.{}", e.strip_prefix("schedule.").unwrap_or(&e))
        })?;
        let any = self
            .blackout_hours
            .as_deref()
            .is_some_and(|h| !h.trim().is_empty())
            || !self.blackout_dates.is_empty();
        Ok(any.then_some(schedule))
    }
}

/// How long after its flight ends a verification waits for the drone's hit, seconds.
pub const SEEN_GRACE_S: f64 = 30.0;

/// Tickets looked at per scan, at most.
const SCAN_LIMIT: usize = 500;

/// How far back the scan looks for tickets, seconds (older ones were decided, or waited past
/// any sensible `max_wait_s`).
const SCAN_BACK_S: f64 = 3600.0;

/// A verification flight sent: when, where, from which dock.
#[derive(Debug, Clone)]
struct Flown {
    at: f64,
    lat: f64,
    lon: f64,
    dock_id: String,
}

/// A camera ticket waiting for a dock.
#[derive(Debug, Clone)]
struct Pending {
    ticket_id: String,
    since: f64,
}

/// What the verifier keeps between ticks.
#[derive(Debug)]
pub(crate) struct Verifier {
    cfg: VerificationConfig,
    /// `cfg`'s blackouts, read once.
    blackouts: Option<Schedule>,
    /// Tickets decided (a run sent, or skipped), with when: not looked at again.
    decided: HashMap<String, f64>,
    pending: VecDeque<Pending>,
    /// Verification runs whose outcome is still to be written: run → ticket, and whether
    /// `verification_flown` was written.
    watching: HashMap<String, (String, bool)>,
    /// Flights sent in the last hour or cooldown, oldest first.
    flown: VecDeque<Flown>,
    /// The dispatcher's start (tickets from a little before it are looked at).
    started: f64,
    /// Whether the flights sent before the start were looked up.
    resumed: bool,
}

fn audit(ticket_id: &str, now: f64, event: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        seq: 0,
        ticket_id: ticket_id.into(),
        at: now,
        actor: "triage".into(),
        event: event.into(),
        detail,
    }
}

/// The plan id of a ticket's verification flight.
fn plan_id(ticket_id: &str) -> String {
    format!("verify-{ticket_id}")
}

impl Verifier {
    pub(crate) fn new(cfg: VerificationConfig, now: f64) -> Self {
        // `Config::check` has read them; a config built without it and wrong here flies
        // without blackouts, and says so.
        let blackouts = cfg.blackouts().unwrap_or_else(|e| {
            tracing::error!(error = %e, "verification blackouts ignored");
            None
        });
        Self {
            cfg,
            blackouts,
            decided: HashMap::new(),
            pending: VecDeque::new(),
            watching: HashMap::new(),
            flown: VecDeque::new(),
            started: now,
            resumed: false,
        }
    }
}

impl Dispatcher {
    /// The point inspection over a ticket from a dock, as a patrol (its plan made here: the
    /// same ticket and dock give the same KMZ, also after a restart).
    pub(crate) fn verification_plan(
        &self,
        ticket: &Ticket,
        dock_id: &str,
        cfg: &VerificationConfig,
    ) -> Result<Patrol, String> {
        let id = plan_id(&ticket.ticket_id);
        let text = format!(
            "schema = \"argus.plan/1\"\nid = \"{id}\"\ndock = \"{dock_id}\"\nkind = \"points\"\n\
             [geometry]\npoints = [[{lat}, {lon}]]\n[camera]\npreset = \"sim-1080p\"\n\
             [flight]\naltitude_m = {alt}\ngimbal_pitch_deg = -90\ninspect_height_m = {alt}\n\
             hover_s = {hover}\ninspect_pitch_deg = -90\n",
            lat = ticket.lat,
            lon = ticket.lon,
            alt = cfg.altitude_m,
            hover = cfg.hover_s,
        );
        let path = PathBuf::from(format!("verification/{id}.toml"));
        let plan = argus_flightplan::plan::Plan::parse(&text, &path, &self.patrols().docks)?;
        Patrol::build(plan, text.as_bytes(), &self.patrols().docks).map_err(|e| e.to_string())
    }

    /// Looks at new camera tickets, sends or skips the waiting requests, and writes how sent
    /// flights ended, at `now`.
    pub(crate) fn verify(&mut self, now: f64) -> Result<(), StoreError> {
        let Some(mut v) = self.verifier.take() else {
            return Ok(());
        };
        let r = self.verify_with(&mut v, now);
        self.verifier = Some(v);
        r
    }

    fn verify_with(&mut self, v: &mut Verifier, now: f64) -> Result<(), StoreError> {
        if !v.resumed {
            self.resume(v, now)?;
            v.resumed = true;
        }
        self.find_requests(v, now)?;
        self.serve_requests(v, now)?;
        self.watch_flights(v, now)?;
        let keep = v.cfg.cooldown_s.max(3600.0);
        while v.flown.front().is_some_and(|f| now - f.at > keep) {
            v.flown.pop_front();
        }
        v.decided.retain(|_, at| now - *at <= 2.0 * SCAN_BACK_S);
        Ok(())
    }

    /// After a start: the verification flights of the last hour (cooldown and rate) and those
    /// whose outcome is not written yet.
    fn resume(&mut self, v: &mut Verifier, now: f64) -> Result<(), StoreError> {
        let keep = v.cfg.cooldown_s.max(3600.0);
        let mut runs: Vec<Run> = self
            .store()
            .runs(&RunFilter::default(), 10_000)?
            .into_iter()
            .filter(|r| r.kind == RunKind::Verification && now - r.scheduled_at <= keep)
            .collect();
        runs.sort_by(|a, b| a.scheduled_at.total_cmp(&b.scheduled_at));
        for r in runs {
            let Some(tid) = r.ticket_id.clone() else {
                continue;
            };
            let Some(t) = self.store().ticket(&tid)? else {
                continue;
            };
            v.flown.push_back(Flown {
                at: r.scheduled_at,
                lat: t.lat,
                lon: t.lon,
                dock_id: r.dock_id.clone(),
            });
            v.decided.insert(tid.clone(), r.scheduled_at);
            let told = self.store().audit(&tid)?;
            let over = told.iter().any(|e| {
                matches!(
                    e.event.as_str(),
                    "verification_seen" | "verification_not_seen"
                )
            });
            if !over {
                let flown = told.iter().any(|e| e.event == "verification_flown");
                v.watching.insert(r.run_id.clone(), (tid, flown));
                // Its KMZ, should the dock ask again.
                if let Ok(p) = self.verification_plan(&t, &r.dock_id, &v.cfg) {
                    self.add_adhoc(p);
                }
            }
        }
        Ok(())
    }

    /// New camera tickets that qualify join the waiting requests.
    fn find_requests(&mut self, v: &mut Verifier, now: f64) -> Result<(), StoreError> {
        let since = (v.started - 600.0).max(now - SCAN_BACK_S);
        let tickets = self.store().tickets(
            &TicketFilter {
                open: Some(true),
                since: Some(since),
                ..TicketFilter::default()
            },
            SCAN_LIMIT,
        )?;
        for t in tickets {
            if v.decided.contains_key(&t.ticket_id)
                || v.pending.iter().any(|p| p.ticket_id == t.ticket_id)
                || !self.qualifies(&v.cfg, &t)
            {
                continue;
            }
            // Decided before a restart?
            if self
                .store()
                .audit(&t.ticket_id)?
                .iter()
                .any(|e| e.event.starts_with("verification_"))
            {
                v.decided.insert(t.ticket_id.clone(), now);
                continue;
            }
            if !self.seen_by_camera(&t.ticket_id)? {
                v.decided.insert(t.ticket_id.clone(), now);
                continue;
            }
            tracing::info!(ticket = %t.ticket_id, class = %t.class, "camera ticket: a drone is asked to look");
            v.pending.push_back(Pending {
                ticket_id: t.ticket_id.clone(),
                since: now,
            });
        }
        Ok(())
    }

    fn qualifies(&self, cfg: &VerificationConfig, t: &Ticket) -> bool {
        cfg.classes.contains(&t.class)
            && t.best_score >= cfg.min_score
            && match cfg.on {
                // Any new camera ticket, dispatched at once or waiting.
                Trigger::Opened => matches!(t.state, State::New | State::Dispatched),
                Trigger::Review => t.state == State::New && t.review,
            }
    }

    /// Whether a ticket's first sighting came from a street camera.
    fn seen_by_camera(&mut self, ticket_id: &str) -> Result<bool, StoreError> {
        let sightings = self.store().sightings(ticket_id)?;
        let first = sightings
            .iter()
            .min_by(|a, b| a.received_at.total_cmp(&b.received_at));
        Ok(first.is_some_and(|s| {
            s.flight_id.is_none()
                && serde_json::from_str::<serde_json::Value>(&s.payload)
                    .ok()
                    .and_then(|p| {
                        p.pointer("/source/kind")
                            .and_then(|k| k.as_str())
                            .map(str::to_owned)
                    })
                    .is_some_and(|k| k == "camera")
        }))
    }

    fn skip(
        &mut self,
        v: &mut Verifier,
        ticket_id: &str,
        reason: String,
        now: f64,
    ) -> Result<(), StoreError> {
        tracing::info!(ticket = %ticket_id, reason = %reason, "verification skipped");
        v.decided.insert(ticket_id.into(), now);
        self.store().add_audit(&[audit(
            ticket_id,
            now,
            "verification_skipped",
            json!({ "reason": reason }),
        )])
    }

    /// Each waiting request: skipped with the reason, sent to the nearest free dock, or left
    /// waiting for one.
    fn serve_requests(&mut self, v: &mut Verifier, now: f64) -> Result<(), StoreError> {
        let waiting: Vec<Pending> = v.pending.drain(..).collect();
        for p in waiting {
            let Some(t) = self.store().ticket(&p.ticket_id)? else {
                continue;
            };
            if !self.qualifies(&v.cfg, &t) {
                let why = format!(
                    "the ticket no longer qualifies (it is {}{})",
                    t.state.as_str(),
                    if t.review { ", waiting for review" } else { "" }
                );
                self.skip(v, &t.ticket_id, why, now)?;
                continue;
            }
            if let Some(w) = v
                .blackouts
                .as_ref()
                .and_then(|b| b.blackout(crate::dispatch::utc(now)))
            {
                self.skip(v, &t.ticket_id, format!("blackout {w}"), now)?;
                continue;
            }
            let here = GeoPoint {
                lat: t.lat,
                lon: t.lon,
            };
            if let Some((f, d)) = v
                .flown
                .iter()
                .filter(|f| now - f.at <= v.cfg.cooldown_s)
                .map(|f| {
                    (
                        f,
                        haversine_m(
                            here,
                            GeoPoint {
                                lat: f.lat,
                                lon: f.lon,
                            },
                        ),
                    )
                })
                .find(|(_, d)| *d <= v.cfg.cooldown_radius_m)
            {
                let why = format!(
                    "cooldown: a drone looked {d:.0} m away {:.0} s ago (cooldown_s = {}, \
                     cooldown_radius_m = {})",
                    now - f.at,
                    v.cfg.cooldown_s,
                    v.cfg.cooldown_radius_m
                );
                self.skip(v, &t.ticket_id, why, now)?;
                continue;
            }
            // Docks that can reach it, nearest first.
            let mut docks: Vec<(String, f64, f64)> = self
                .patrols()
                .docks
                .docks
                .iter()
                .filter(|d| d.sn.is_some())
                .map(|d| {
                    (
                        d.id.clone(),
                        haversine_m(
                            here,
                            GeoPoint {
                                lat: d.lat,
                                lon: d.lon,
                            },
                        ),
                        d.max_range_m,
                    )
                })
                .collect();
            docks.sort_by(|a, b| a.1.total_cmp(&b.1));
            let in_range: Vec<&(String, f64, f64)> =
                docks.iter().filter(|(_, d, r)| d <= r).collect();
            if in_range.is_empty() {
                let why = match docks.first() {
                    Some((id, d, r)) => format!(
                        "no dock in range (the nearest, {id}, is {d:.0} m away; its max_range_m is {r:.0})"
                    ),
                    None => "no dock in range (no dock has a serial number)".into(),
                };
                self.skip(v, &t.ticket_id, why, now)?;
                continue;
            }
            let per_hour = |id: &str| {
                v.flown
                    .iter()
                    .filter(|f| f.dock_id == id && now - f.at <= 3600.0)
                    .count()
            };
            let allowed: Vec<&&(String, f64, f64)> = in_range
                .iter()
                .filter(|(id, _, _)| per_hour(id) < v.cfg.max_per_dock_per_hour as usize)
                .collect();
            if allowed.is_empty() {
                let why = format!(
                    "rate limit: {} flew {} verifications in the last hour (max_per_dock_per_hour = {})",
                    in_range[0].0,
                    per_hour(&in_range[0].0),
                    v.cfg.max_per_dock_per_hour
                );
                self.skip(v, &t.ticket_id, why, now)?;
                continue;
            }
            let mut busy = Vec::new();
            let mut chosen = None;
            for (id, d, _) in allowed {
                match self.dock_unavailable(id, now)? {
                    Some(why) => busy.push(why),
                    None => {
                        chosen = Some((id.clone(), *d));
                        break;
                    }
                }
            }
            let Some((dock_id, distance)) = chosen else {
                if now - p.since > v.cfg.max_wait_s {
                    let why = format!(
                        "no dock free within max_wait_s = {} s ({})",
                        v.cfg.max_wait_s,
                        busy.join("; ")
                    );
                    self.skip(v, &t.ticket_id, why, now)?;
                } else {
                    v.pending.push_back(p);
                }
                continue;
            };
            let patrol = match self.verification_plan(&t, &dock_id, &v.cfg) {
                Ok(p) => p,
                Err(e) => {
                    self.skip(v, &t.ticket_id, format!("cannot be flown: {e}"), now)?;
                    continue;
                }
            };
            let Some(run) = self.claim_verification(&patrol, &t.ticket_id, now)? else {
                continue;
            };
            self.add_adhoc(patrol);
            tracing::info!(ticket = %t.ticket_id, run = %run.run_id, dock = %dock_id, distance_m = distance.round(), "verification flight sent");
            self.store().add_audit(&[audit(
                &t.ticket_id,
                now,
                "verification_requested",
                json!({
                    "run_id": run.run_id,
                    "dock": dock_id,
                    "distance_m": distance.round(),
                    "waited_s": (now - p.since).max(0.0).round(),
                }),
            )])?;
            v.decided.insert(t.ticket_id.clone(), now);
            v.watching
                .insert(run.run_id.clone(), (t.ticket_id.clone(), false));
            v.flown.push_back(Flown {
                at: now,
                lat: t.lat,
                lon: t.lon,
                dock_id,
            });
        }
        Ok(())
    }

    /// Writes how each watched flight ended and whether its drone saw the ticket.
    fn watch_flights(&mut self, v: &mut Verifier, now: f64) -> Result<(), StoreError> {
        let runs: Vec<(String, String, bool)> = v
            .watching
            .iter()
            .map(|(r, (t, f))| (r.clone(), t.clone(), *f))
            .collect();
        for (run_id, ticket_id, flown_told) in runs {
            let Some(run) = self.store().run(&run_id)? else {
                v.watching.remove(&run_id);
                continue;
            };
            if !run.state.is_final() {
                continue;
            }
            let seen = self.store().flight_tickets(&run_id)?.contains(&ticket_id);
            if !flown_told {
                self.store().add_audit(&[audit(
                    &ticket_id,
                    now,
                    "verification_flown",
                    json!({ "run_id": run_id, "state": run.state.as_str(), "reason": run.reason }),
                )])?;
                if let Some(w) = v.watching.get_mut(&run_id) {
                    w.1 = true;
                }
            }
            let flew = !matches!(
                run.state,
                RunState::Rejected | RunState::Missed | RunState::Skipped
            );
            if seen {
                tracing::info!(ticket = %ticket_id, run = %run_id, "verification: the drone saw it");
                self.store().add_audit(&[audit(
                    &ticket_id,
                    now,
                    "verification_seen",
                    json!({ "run_id": run_id }),
                )])?;
                v.watching.remove(&run_id);
            } else if !flew || now - run.updated_at > SEEN_GRACE_S {
                tracing::info!(ticket = %ticket_id, run = %run_id, state = run.state.as_str(), "verification: the drone did not see it");
                self.store().add_audit(&[audit(
                    &ticket_id,
                    now,
                    "verification_not_seen",
                    json!({ "run_id": run_id, "state": run.state.as_str() }),
                )])?;
                v.watching.remove(&run_id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
        rfc3339.parse().unwrap()
    }

    #[test]
    fn blackouts_are_read_in_their_zone_and_named_as_written() {
        let cfg = VerificationConfig {
            timezone: "Asia/Shanghai".into(),
            blackout_hours: Some("12:00-13:30,22:00-24:00,00:00-06:00".into()),
            blackout_dates: vec!["2026-10-01/2026-10-07".into()],
            ..VerificationConfig::default()
        };
        let b = cfg.blackouts().unwrap().unwrap();
        // 12:30 and 14:00 in Shanghai (UTC+8).
        assert_eq!(
            b.blackout(at("2026-12-03T04:30:00Z")).as_deref(),
            Some("12:00-13:30 Asia/Shanghai")
        );
        assert_eq!(b.blackout(at("2026-12-03T06:00:00Z")), None);
        // 23:00 and 05:59 local: the night's two windows.
        assert_eq!(
            b.blackout(at("2026-12-03T15:00:00Z")).as_deref(),
            Some("22:00-24:00 Asia/Shanghai")
        );
        assert_eq!(
            b.blackout(at("2026-12-03T21:59:00Z")).as_deref(),
            Some("00:00-06:00 Asia/Shanghai")
        );
        // 2026-10-01 begins at 16:00 UTC the day before, local time.
        assert_eq!(
            b.blackout(at("2026-09-30T15:59:00Z")).as_deref(),
            Some("22:00-24:00 Asia/Shanghai")
        );
        assert_eq!(
            b.blackout(at("2026-09-30T16:00:00Z")).as_deref(),
            Some("2026-10-01/2026-10-07")
        );
        assert_eq!(b.blackout(at("2026-10-08T08:00:00Z")), None);
        // In UTC by default.
        let utc = VerificationConfig {
            blackout_hours: Some("12:00-13:30".into()),
            ..VerificationConfig::default()
        };
        assert_eq!(
            utc.blackouts()
                .unwrap()
                .unwrap()
                .blackout(at("2026-12-03T12:30:00Z"))
                .as_deref(),
            Some("12:00-13:30 UTC")
        );
        assert!(VerificationConfig::default().blackouts().unwrap().is_none());
    }
}
