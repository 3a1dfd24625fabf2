//! The demo's air half: dock-1 flies a scheduled patrol north of itself, and a live street
//! camera's stall sends its drone to look. What triage is told (its `[patrols]`, `[verification]`
//! and the plan) and what `summary.json` says of the flights, read from triage's API as an
//! operator sees them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use argus_core::clock;
use argus_core::geodesy::{GeoPoint, haversine_m};
use serde::Serialize;
use serde_json::Value;

use crate::Api;

/// The patrol plan's id.
pub const PLAN_ID: &str = "demo-patrol";
/// The area it sweeps, `[lat, lon]`: 245 m × 530 m just north of dock-1, the district's centre
/// (in the default district a spoil heap and six sheds).
pub const PLAN_AREA: [[f64; 2]; 4] = [
    [30.7004, 121.0185],
    [30.7004, 121.0240],
    [30.7026, 121.0240],
    [30.7026, 121.0185],
];
/// The height the drone sent to a camera's ticket looks from: the patrol's, the scale the
/// detector is trained for at 1080p (lower, it takes people and cars for what they are not).
pub const VERIFY_ALTITUDE_M: f64 = 100.0;
/// Seconds from writing the plan to its scheduled instant.
pub const PATROL_DELAY_S: i64 = 20;
/// The camera tickets that send a drone.
pub const VERIFIED_CLASSES: [&str; 1] = ["vending_in_lane"];
/// The audit events that end a verification.
pub const VERIFICATION_ENDS: [&str; 3] = [
    "verification_seen",
    "verification_not_seen",
    "verification_skipped",
];
/// The docks (dock-1 at the default district's centre, its serial numbers), as the
/// repository's flight plans have them.
pub const DOCKS: &str = include_str!("../../../flight-plans/docks.toml");

/// dock-1 as `DOCKS` defines it: its gateway and aircraft serial numbers and where it stands
/// (`LAT,LON`), what `sim dock` plays and the edge agent listens to.
pub fn dock() -> Result<(String, String, String)> {
    let docks = argus_flightplan::dock::Docks::parse(DOCKS, Path::new("flight-plans/docks.toml"))?;
    let d = docks
        .get("dock-1")
        .context("flight-plans/docks.toml has no dock-1")?;
    let (Some(sn), Some(aircraft)) = (d.sn.clone(), d.aircraft_sn.clone()) else {
        anyhow::bail!("flight-plans/docks.toml: dock-1 needs sn and aircraft_sn");
    };
    Ok((sn, aircraft, format!("{},{}", d.lat, d.lon)))
}

/// The plan: `PLAN_AREA` swept from 100 m (a 1080p camera's view, as the detector is trained
/// for) at 15 m/s, once, at `at` (Unix seconds, whole).
pub fn plan_toml(at: i64) -> Result<String> {
    let t = chrono::DateTime::from_timestamp(at, 0).context("the patrol's instant")?;
    let cron = t.format("%-S %-M %-H %-d %-m *");
    Ok(format!(
        "schema = \"argus.plan/1\"\nid = \"{PLAN_ID}\"\ndock = \"dock-1\"\nkind = \"area\"\n\n\
         [geometry]\npolygon = {PLAN_AREA:?}\n\n\
         [camera]\npreset = \"sim-1080p\"\n\n\
         [flight]\naltitude_m = 100\nspeed_mps = 15\ngimbal_pitch_deg = -90\nside_overlap = 0.2\n\
         angle_deg = \"auto\"\nturnaround_m = 10\n\n\
         [schedule]\ncron = \"{cron}\"\ntimezone = \"UTC\"\ncatch_up_s = 60\n"
    ))
}

/// Triage's `[patrols]` (plans in `plans`, wayline URLs on `http`) and `[verification]`.
pub fn triage_toml(plans: &Path, http: std::net::SocketAddr) -> String {
    format!(
        "[patrols]\nplans = {}\nprepare_lead_s = 120\nreply_timeout_s = 20\npublic_url = \"http://{http}\"\n\n\
         [verification]\nclasses = {VERIFIED_CLASSES:?}\non = \"opened\"\naltitude_m = {VERIFY_ALTITUDE_M}\n",
        toml_string(&plans.display().to_string())
    )
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A time the API gives as Unix seconds or RFC 3339.
fn time_of(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| clock::parse_rfc3339(v.as_str()?))
}

fn rfc3339(t: Option<f64>) -> Option<String> {
    t.map(clock::rfc3339)
}

/// Where the flights stand, for the progress line and the end of the wait.
#[derive(Debug, Default)]
pub struct AirState {
    /// The patrol run's state (`None`: not yet claimed).
    pub patrol: Option<String>,
    /// The patrol run is over.
    pub patrol_over: bool,
    /// Camera tickets with a verification asked or decided, and whether it ended.
    pub verifications: Vec<(String, Option<String>)>,
}

impl AirState {
    pub fn read(api: &Api) -> Result<Self> {
        let runs = api.get(&format!("/api/v1/patrols/{PLAN_ID}/runs?limit=5"))?;
        let last = runs.as_array().and_then(|r| r.first());
        let mut s = Self {
            patrol: last.and_then(|r| r["state"].as_str()).map(str::to_string),
            patrol_over: last.is_some_and(|r| r["over"].as_bool() == Some(true)),
            verifications: Vec::new(),
        };
        let tickets = api.get("/api/v1/tickets?limit=10000")?;
        for t in tickets.as_array().into_iter().flatten() {
            let class = t["class"].as_str().unwrap_or_default();
            if !VERIFIED_CLASSES.contains(&class) {
                continue;
            }
            let Some(id) = t["ticket_id"].as_str() else {
                continue;
            };
            let detail = api.get(&format!("/api/v1/tickets/{id}"))?;
            let events: Vec<&str> = audit(&detail)
                .filter_map(|e| e["event"].as_str())
                .filter(|e| e.starts_with("verification_"))
                .collect();
            if events.is_empty() {
                continue;
            }
            let end = events
                .iter()
                .find(|e| VERIFICATION_ENDS.contains(e))
                .map(|e| e.to_string());
            s.verifications.push((id.to_string(), end));
        }
        Ok(s)
    }

    /// The patrol has flown and every verification asked has ended (one at least).
    pub fn done(&self) -> bool {
        self.patrol_over
            && !self.verifications.is_empty()
            && self.verifications.iter().all(|(_, end)| end.is_some())
    }

    /// One line: the patrol's state and the verifications'.
    pub fn line(&self) -> String {
        let v = match self.verifications.as_slice() {
            [] => "none sent yet".to_string(),
            vs => vs
                .iter()
                .map(|(_, end)| end.as_deref().unwrap_or("flying or waiting"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        format!(
            "patrol {}  verification {v}",
            self.patrol.as_deref().unwrap_or("scheduled")
        )
    }
}

fn audit(ticket_detail: &Value) -> impl Iterator<Item = &Value> {
    ticket_detail["audit"].as_array().into_iter().flatten()
}

/// A patrol run as `summary.json` has it.
#[derive(Debug, Clone, Serialize)]
pub struct PatrolRun {
    pub run_id: String,
    pub plan: String,
    pub status: String,
    pub reason: Option<String>,
    pub scheduled_at: Option<String>,
    pub take_off_at: Option<String>,
    pub landed_at: Option<String>,
    /// The tickets its hits opened or joined.
    pub tickets: Vec<String>,
    /// The smallest margin between one of its tickets being opened and its landing, seconds.
    pub min_ticket_margin_s: Option<f64>,
}

/// The first event of a run (`GET /api/v1/runs/{id}`) that `f` picks, and when.
fn run_event_at(run: &Value, f: impl Fn(&Value) -> bool) -> Option<f64> {
    run["events"]
        .as_array()?
        .iter()
        .find(|e| f(e))
        .and_then(|e| time_of(&e["at"]))
}

/// The scheduled runs of the demo's plan; `details` are the tickets as the API showed them
/// (their opening times).
pub fn patrol_runs(api: &Api, details: &BTreeMap<String, Value>) -> Result<Vec<PatrolRun>> {
    let runs = api.get(&format!("/api/v1/patrols/{PLAN_ID}/runs"))?;
    let mut out = Vec::new();
    for r in runs.as_array().context("the plan's runs are not a list")? {
        let id = r["run_id"].as_str().context("a run without an id")?;
        let d = api.get(&format!("/api/v1/runs/{id}"))?;
        let state = r["state"].as_str().unwrap_or_default().to_string();
        let take_off = run_event_at(&d, |e| e["event"] == "in_progress");
        let landed = (r["over"].as_bool() == Some(true))
            .then(|| run_event_at(&d, |e| e["event"] == state.as_str()))
            .flatten();
        let tickets: Vec<String> = d["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["ticket_id"].as_str().map(str::to_string))
            .collect();
        let last_opened = tickets
            .iter()
            .filter_map(|t| time_of(&details.get(t)?["ticket"]["opened_at"]))
            .max_by(f64::total_cmp);
        out.push(PatrolRun {
            run_id: id.to_string(),
            plan: r["plan_id"].as_str().unwrap_or(PLAN_ID).to_string(),
            status: state,
            reason: r["reason"].as_str().map(str::to_string),
            scheduled_at: r["scheduled_at"].as_str().map(str::to_string),
            take_off_at: rfc3339(take_off),
            landed_at: rfc3339(landed),
            min_ticket_margin_s: landed
                .zip(last_opened)
                .map(|(l, o)| ((l - o) * 10.0).round() / 10.0),
            tickets,
        });
    }
    Ok(out)
}

/// The air–ground loop's seconds.
#[derive(Debug, Clone, Serialize)]
pub struct LoopSeconds {
    /// Camera hit → drone hit.
    pub total: f64,
    /// Camera hit → the task sent to the dock (`executing`).
    pub dispatch: f64,
    /// …of it, camera hit → the request (the dock was busy, or the ticket not yet open).
    pub waiting_for_dock: f64,
    /// Task sent → the ticket's violation in the drone's view (the drone's hit less the
    /// detection).
    pub take_off_and_transit: f64,
    /// …of it, task sent → take-off (the dock readying the flight; the simulated one renders it).
    pub on_the_ground: f64,
    /// In view (its first frame in the flight's recorded truth) → the frame of the drone's hit.
    pub detection: f64,
}

/// The camera-triggered verification as `summary.json` has it.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub ticket_id: String,
    pub class: String,
    pub run_id: Option<String>,
    /// `verification_seen`, `verification_not_seen` or `verification_skipped` (none yet: null).
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub camera_hit_at: Option<String>,
    pub requested_at: Option<String>,
    pub drone_hit_at: Option<String>,
    /// The drone's sighting is on the camera's ticket.
    pub same_ticket: bool,
    pub dock_distance_m: Option<f64>,
    pub loop_s: Option<LoopSeconds>,
}

/// The verification of the first camera ticket that called a drone (one that flew, if any).
/// `flights` is where the dock keeps its recordings (`{flight_id}/truth.jsonl`).
pub fn verification(
    api: &Api,
    details: &BTreeMap<String, Value>,
    flights: &Path,
) -> Result<Option<Verification>> {
    let mut found: Vec<Verification> = Vec::new();
    for (id, d) in details {
        let Some(requested) = audit(d).find(|e| {
            e["event"] == "verification_requested" || e["event"] == "verification_skipped"
        }) else {
            continue;
        };
        let end = audit(d).find(|e| {
            e["event"]
                .as_str()
                .is_some_and(|x| VERIFICATION_ENDS.contains(&x))
        });
        let run_id = requested["detail"]["run_id"].as_str().map(str::to_string);
        let sightings: Vec<&Value> = d["sightings"].as_array().into_iter().flatten().collect();
        let first_at = |f: &dyn Fn(&Value) -> bool| {
            sightings
                .iter()
                .filter(|s| f(s))
                .filter_map(|s| time_of(&s["observed_at"]))
                .min_by(f64::total_cmp)
        };
        let camera_hit = first_at(&|s| s["hit"]["source"]["kind"] == "camera");
        let drone_hit = run_id
            .as_deref()
            .and_then(|r| first_at(&|s| s["flight_id"].as_str() == Some(r)));
        let requested_at = (requested["event"] == "verification_requested")
            .then(|| time_of(&requested["at"]))
            .flatten();
        let loop_s = match (&run_id, camera_hit, requested_at, drone_hit) {
            (Some(r), Some(cam), Some(req), Some(drone)) => {
                let run = api.get(&format!("/api/v1/runs/{r}"))?;
                let sent = run_event_at(&run, |e| e["event"] == "executing");
                let take_off = run_event_at(&run, |e| e["event"] == "in_progress");
                let place = GeoPoint {
                    lat: d["ticket"]["lat"].as_f64().unwrap_or(f64::NAN),
                    lon: d["ticket"]["lon"].as_f64().unwrap_or(f64::NAN),
                };
                let class = d["ticket"]["class"].as_str().unwrap_or_default();
                let hit_pose = sightings
                    .iter()
                    .filter(|s| s["flight_id"].as_str() == Some(r.as_str()))
                    .min_by(|a, b| {
                        let t = |s: &&&Value| time_of(&s["observed_at"]).unwrap_or(f64::INFINITY);
                        t(a).total_cmp(&t(b))
                    })
                    .map(|s| s["hit"]["pose"].clone())
                    .unwrap_or_default();
                let detection = in_view_to_hit(&flights.join(r), class, place, &hit_pose)?;
                match (sent, take_off, detection) {
                    (Some(sent), Some(take_off), Some(detection)) => Some(LoopSeconds {
                        total: round2(drone - cam),
                        dispatch: round2(sent - cam),
                        waiting_for_dock: round2(req - cam),
                        take_off_and_transit: round2(drone - detection - sent),
                        on_the_ground: round2(take_off - sent),
                        detection: round2(detection),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        found.push(Verification {
            ticket_id: id.clone(),
            class: d["ticket"]["class"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            run_id,
            outcome: end.and_then(|e| e["event"].as_str()).map(str::to_string),
            reason: end
                .and_then(|e| e["detail"]["reason"].as_str())
                .map(str::to_string),
            camera_hit_at: rfc3339(camera_hit),
            requested_at: rfc3339(requested_at),
            drone_hit_at: rfc3339(drone_hit),
            same_ticket: drone_hit.is_some(),
            dock_distance_m: requested["detail"]["distance_m"].as_f64(),
            loop_s,
        });
    }
    // A flight that saw its ticket first, then one that flew, then any.
    found.sort_by_key(|v| (!v.same_ticket, v.requested_at.is_none()));
    Ok(found.into_iter().next())
}

/// From the moment a violation of `class` within 15 m of `place` is first in view in the flight
/// recorded in `dir` to the frame the drone's hit came from (the recorded frame whose pose is
/// nearest the hit's, the first of a hover), seconds on the recording's own clock; `None`
/// when the recording or either frame is missing.
fn in_view_to_hit(
    dir: &Path,
    class: &str,
    place: GeoPoint,
    hit_pose: &Value,
) -> Result<Option<f64>> {
    let path = dir.join("truth.jsonl");
    let (Some(lat), Some(lon), Some(alt)) = (
        hit_pose["lat"].as_f64(),
        hit_pose["lon"].as_f64(),
        hit_pose["alt_m"].as_f64(),
    ) else {
        return Ok(None);
    };
    if !path.exists() {
        return Ok(None);
    }
    let frames =
        argus_truth::read_jsonl(&path).with_context(|| format!("reading {}", path.display()))?;
    let in_view = frames.iter().find(|f| {
        f.objects.iter().any(|o| {
            o.violation
                && o.class == class
                && haversine_m(
                    place,
                    GeoPoint {
                        lat: o.lat,
                        lon: o.lon,
                    },
                ) <= 15.0
        })
    });
    let off = |f: &argus_truth::FrameTruth| {
        let h = haversine_m(
            GeoPoint { lat, lon },
            GeoPoint {
                lat: f.pose.lat,
                lon: f.pose.lon,
            },
        );
        h.hypot(f.pose.alt_m - alt)
    };
    let nearest = frames.iter().map(off).fold(f64::INFINITY, f64::min);
    let hit_frame = frames.iter().find(|f| off(f) <= nearest + 0.5);
    Ok(in_view.zip(hit_frame).map(|(v, h)| h.pts_s - v.pts_s))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
