//! The patrol API: the plans with their schedules and last runs, a run with its events, route
//! and the tickets its flight found, the docks' live state, and an operator's run-now and
//! cancel (through the [`Dispatcher`], which owns every change to a run).
//!
//! Reads go through the read pool like every other read; only the docks' live state and the
//! two changes take the dispatcher's lock, on a blocking thread (its tick holds the lock while
//! it writes to the store). Every id in a path is checked by its pattern before any lookup, and
//! a message never repeats an id that failed it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use argus_core::clock;
use argus_flightplan::formats::Format;
use argus_flightplan::plan::Kind;
use axum::Json;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Shared, query, read, require};
use crate::auth::Role;
use crate::dispatch::{Dispatcher, RunRequestError};
use crate::patrols::{Patrol, Patrols};
use crate::store::{Run, RunFilter, Sighting, Store, StoreError};

/// Next instants listed per plan.
const NEXT_INSTANTS: usize = 3;
/// Last runs listed per plan in the overview.
const LAST_RUNS: usize = 5;
/// Runs a list gives by default, and at most.
const DEFAULT_RUNS: usize = 50;
const MAX_RUNS: usize = 1000;
/// Tickets one run's detail lists, at most (a flight over a busy market finds dozens).
const MAX_RUN_TICKETS: usize = 500;
/// Flights one ticket's detail looks up, at most.
const MAX_TICKET_FLIGHTS: usize = 50;

impl From<RunRequestError> for ApiError {
    fn from(e: RunRequestError) -> Self {
        match e {
            RunRequestError::UnknownPlan(_) | RunRequestError::UnknownRun(_) => {
                ApiError(StatusCode::NOT_FOUND, e.to_string())
            }
            RunRequestError::NoSerial(_) | RunRequestError::Over { .. } => {
                ApiError(StatusCode::CONFLICT, e.to_string())
            }
            RunRequestError::Store(e) => e.into(),
        }
    }
}

fn no_plan() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such patrol".into())
}

fn no_run() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such run".into())
}

/// A plan id as plans spell them (1–64 letters, digits and `-`), or a 404.
fn plan_id(id: &str) -> ApiResult<&str> {
    argus_flightplan::dock::is_id(id)
        .then_some(id)
        .ok_or_else(no_plan)
}

/// A run id (a canonical UUIDv7), or a 404.
fn run_id(id: &str) -> ApiResult<&str> {
    argus_core::hit::is_uuid7(id)
        .then_some(id)
        .ok_or_else(no_run)
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Area => "area",
        Kind::Corridor => "corridor",
        Kind::Points => "points",
    }
}

/// A run as the API shows it: times in RFC 3339.
pub(super) fn run_json(r: &Run) -> Value {
    json!({
        "run_id": r.run_id, "plan_id": r.plan_id, "plan_sha256": r.plan_sha256,
        "dock_id": r.dock_id, "kind": r.kind, "state": r.state, "over": r.state.is_final(),
        "reason": r.reason, "kmz_md5": r.kmz_md5, "ticket_id": r.ticket_id,
        "scheduled_at": clock::rfc3339(r.scheduled_at),
        "updated_at": clock::rfc3339(r.updated_at),
    })
}

/// An instant in UTC and in the plan's zone, with the zone's abbreviation.
fn instant_json<Tz: chrono::TimeZone>(t: DateTime<Utc>, tz: &Tz) -> Value
where
    Tz::Offset: std::fmt::Display,
{
    let local = t.with_timezone(tz);
    json!({
        "at": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "local": local.format("%Y-%m-%d %H:%M %Z").to_string(),
        "local_iso": local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
    })
}

/// A plan's overview, at `now`, with its last runs.
fn patrol_json(p: &Patrol, last: &[Run], now: DateTime<Utc>) -> Value {
    let spec = p.plan.file.schedule.as_ref();
    let next: Vec<Value> = p.schedule().map_or_else(Vec::new, |s| {
        std::iter::successors(s.next_after(now), |t| s.next_after(*t))
            .take(NEXT_INSTANTS)
            .map(|t| instant_json(t, &s.tz))
            .collect()
    });
    json!({
        "id": p.id(), "kind": kind_name(p.plan.file.kind), "dock": p.plan.file.dock,
        "schedule": spec.map(|s| json!({
            "cron": s.cron, "timezone": s.timezone,
            "blackout_hours": s.blackout_hours, "blackout_dates": s.blackout_dates,
        })),
        "next": next,
        "last_runs": last.iter().map(run_json).collect::<Vec<_>>(),
    })
}

/// A plan's route as its dock flies it: the KMZ's waypoints as a GeoJSON LineString (the dock
/// in its properties); `as_flown` says whether the plan is still the version the run flew.
fn route_json(p: &Patrol, run: &Run) -> Value {
    match Format::Kmz.read(&p.kmz) {
        Ok(m) => json!({
            "type": "Feature",
            "geometry": {"type": "LineString",
                         "coordinates": m.waypoints.iter().map(|w| [w.lon, w.lat]).collect::<Vec<_>>()},
            "properties": {"plan_id": p.id(), "home": [m.home.lon, m.home.lat],
                           "as_flown": p.plan_sha256 == run.plan_sha256},
        }),
        Err(e) => {
            tracing::error!(plan = p.id(), error = %e, "a loaded plan's KMZ does not read back");
            Value::Null
        }
    }
}

/// Runs the closure on the dispatcher, on a blocking thread (its tick holds the lock while it
/// writes to the store); a 404 when no patrols are configured.
async fn with_dispatcher<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&mut Dispatcher) -> T + Send + 'static,
) -> ApiResult<T> {
    let d = app.dispatcher.clone().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "no patrols are configured ([patrols])".into(),
        )
    })?;
    tokio::task::spawn_blocking(move || {
        f(&mut d.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a dispatcher request failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    })
}

fn patrols_of(app: &Shared) -> Option<Arc<Patrols>> {
    app.patrols.clone()
}

/// `GET /api/v1/patrols`: every plan (an empty list when `[patrols]` is not configured).
pub(super) async fn list(AxState(app): AxState<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let Some(patrols) = patrols_of(&app) else {
        return Ok(Json(json!([])).into_response());
    };
    let body = read(&app, move |s| {
        let now = Utc::now();
        let mut out = Vec::with_capacity(patrols.patrols.len());
        for p in &patrols.patrols {
            let last = s.runs(
                &RunFilter {
                    plan_id: Some(p.id().into()),
                    ..RunFilter::default()
                },
                LAST_RUNS,
            )?;
            out.push(patrol_json(p, &last, now));
        }
        Ok(Value::Array(out))
    })
    .await?;
    Ok(Json(body).into_response())
}

/// `?limit=N`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    limit: Option<usize>,
}

/// `GET /api/v1/patrols/{id}/runs?limit=N`: a plan's runs, newest instant first.
pub(super) async fn runs(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Value>> {
    require(&app, &headers, Role::Viewer, None)?;
    let id = plan_id(&id)?.to_string();
    let q: RunsQuery = query(raw.as_deref())?;
    let limit = q.limit.unwrap_or(DEFAULT_RUNS);
    if !(1..=MAX_RUNS).contains(&limit) {
        return Err(super::bad(format!(
            "limit {limit} is outside 1..={MAX_RUNS}"
        )));
    }
    if patrols_of(&app).is_none_or(|p| p.get(&id).is_none()) {
        return Err(no_plan());
    }
    let runs = read(&app, move |s| {
        s.runs(
            &RunFilter {
                plan_id: Some(id),
                ..RunFilter::default()
            },
            limit,
        )
    })
    .await?;
    Ok(Json(runs.iter().map(run_json).collect()))
}

/// `GET /api/v1/runs/{run_id}`: the run, its events, its route (null when its plan is not
/// loaded) and the tickets its flight found.
pub(super) async fn run(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require(&app, &headers, Role::Viewer, None)?;
    let id = run_id(&id)?.to_string();
    let patrols = patrols_of(&app);
    let found = read(&app, move |s| {
        let Some(run) = s.run(&id)? else {
            return Ok(None);
        };
        let events = s.run_events(&id)?;
        let mut tickets = Vec::new();
        for t in s.flight_tickets(&id)?.into_iter().take(MAX_RUN_TICKETS) {
            if let Some(t) = s.ticket(&t)? {
                tickets.push(
                    json!({"ticket_id": t.ticket_id, "state": t.state, "class": t.class,
                                    "lat": t.lat, "lon": t.lon}),
                );
            }
        }
        let route = patrols
            .as_deref()
            .and_then(|p| p.get(&run.plan_id))
            .map_or(Value::Null, |p| route_json(p, &run));
        Ok(Some(json!({
            "run": run_json(&run),
            "events": events.iter().map(|e| json!({"seq": e.seq, "at": clock::rfc3339(e.at),
                                                   "event": e.event, "detail": e.detail}))
                            .collect::<Vec<_>>(),
            "route": route,
            "tickets": tickets,
        })))
    })
    .await?;
    found.map(Json).ok_or_else(no_run)
}

/// `POST /api/v1/patrols/{id}/run` (operator): a run now. 201 with the run; 409 naming the
/// reason when the dock cannot take it now (the run is recorded `skipped`, and given too).
pub(super) async fn run_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let role = require(&app, &headers, Role::Operator, None)?;
    let id = plan_id(&id)?.to_string();
    let run = with_dispatcher(&app, move |d| {
        d.run_now(&id, clock::now_unix_s(), role.as_str())
    })
    .await??;
    if run.state.is_final() {
        let why = run.reason.as_deref().unwrap_or(run.state.as_str());
        let body = json!({"error": format!("run {} {}: {why}", run.run_id, run.state.as_str()),
                          "run": run_json(&run)});
        return Ok((StatusCode::CONFLICT, Json(body)).into_response());
    }
    Ok((StatusCode::CREATED, Json(run_json(&run))).into_response())
}

/// `POST /api/v1/runs/{run_id}/cancel` (operator): 200 with the run canceled; 409 naming the
/// state of a run already over.
pub(super) async fn cancel(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let role = require(&app, &headers, Role::Operator, None)?;
    let id = run_id(&id)?.to_string();
    let run = with_dispatcher(&app, move |d| {
        d.cancel(&id, clock::now_unix_s(), role.as_str())
    })
    .await??;
    Ok(Json(run_json(&run)))
}

/// `GET /api/v1/docks`: every dock of the docks file with what triage knows of it now.
pub(super) async fn docks(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    require(&app, &headers, Role::Viewer, None)?;
    let Some(patrols) = patrols_of(&app) else {
        return Ok(Json(json!([])));
    };
    let ids: Vec<String> = patrols.docks.docks.iter().map(|d| d.id.clone()).collect();
    let live = with_dispatcher(&app, move |d| {
        ids.iter()
            .map(|id| d.dock(id).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    })
    .await?;
    // The open runs, each dock's first one that holds it (one query for every dock).
    let open = read(&app, |s| {
        s.runs(
            &RunFilter {
                open: Some(true),
                ..RunFilter::default()
            },
            MAX_RUNS,
        )
    })
    .await?;
    let mut busy: BTreeMap<&str, &str> = BTreeMap::new();
    for r in open.iter().filter(|r| r.state.occupies_dock()) {
        busy.entry(r.dock_id.as_str()).or_insert(r.run_id.as_str());
    }
    let now = clock::now_unix_s();
    let out: Vec<Value> = patrols
        .docks
        .docks
        .iter()
        .zip(&live)
        .map(|(d, l)| {
            let run = busy.get(d.id.as_str());
            json!({"id": d.id, "sn": d.sn, "lat": d.lat, "lon": d.lon,
                   "online": l.online_at(now), "aircraft": l.aircraft,
                   "last_seen": l.last_seen.map(clock::rfc3339),
                   "busy": run.is_some(), "busy_run_id": run})
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// The patrol runs of a ticket: verification flights sent to it (`relation: verification`)
/// and the flights whose hits sighted it (`relation: sighted`), newest instant first.
pub(super) fn ticket_runs(
    s: &mut dyn Store,
    ticket_id: &str,
    sightings: &[Sighting],
) -> Result<Vec<Value>, StoreError> {
    let mut runs: Vec<(Run, &str)> = s
        .runs(
            &RunFilter {
                ticket_id: Some(ticket_id.into()),
                ..RunFilter::default()
            },
            MAX_TICKET_FLIGHTS,
        )?
        .into_iter()
        .map(|r| (r, "verification"))
        .collect();
    let mut seen: HashSet<String> = runs.iter().map(|(r, _)| r.run_id.clone()).collect();
    let flights: Vec<&str> = sightings
        .iter()
        .filter_map(|x| x.flight_id.as_deref())
        .filter(|f| argus_core::hit::is_uuid7(f))
        .collect();
    for f in flights {
        if seen.len() >= MAX_TICKET_FLIGHTS || !seen.insert(f.to_string()) {
            continue;
        }
        if let Some(r) = s.run(f)? {
            runs.push((r, "sighted"));
        }
    }
    runs.sort_by(|a, b| b.0.scheduled_at.total_cmp(&a.0.scheduled_at));
    Ok(runs
        .into_iter()
        .map(|(r, relation)| {
            let mut v = run_json(&r);
            v["relation"] = relation.into();
            v
        })
        .collect())
}

/// `GET /api/v1/whoami`: the caller's role (the dashboard shows an operator's buttons only to
/// an operator; the API checks every change regardless).
pub(super) async fn whoami(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    // With no tokens configured reads are open (a viewer), and nobody may change anything.
    let role = require(&app, &headers, Role::Viewer, None)?;
    Ok(Json(json!({"role": role.as_str()})))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn instants_are_given_in_utc_and_in_the_plan_zone_with_its_abbreviation() {
        let t = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap();
        let v = instant_json(t, &chrono_tz_shanghai());
        assert_eq!(v["at"], "2026-12-03T00:00:00Z");
        assert_eq!(v["local"], "2026-12-03 08:00 CST");
        assert_eq!(v["local_iso"], "2026-12-03T08:00:00+08:00");
    }

    /// Asia/Shanghai, as a plan's schedule reads it.
    fn chrono_tz_shanghai() -> impl chrono::TimeZone<Offset: std::fmt::Display> {
        argus_flightplan::schedule::ScheduleSpec {
            cron: "0 8 * * *".into(),
            timezone: "Asia/Shanghai".into(),
            blackout_hours: None,
            blackout_dates: Vec::new(),
            catch_up_s: 600.0,
        }
        .parse()
        .unwrap()
        .tz
    }

    #[test]
    fn ids_are_checked_by_pattern_before_any_lookup() {
        assert!(plan_id("u03-area").is_ok());
        for bad in ["", "../x", "a/b", "a b", "é", &"a".repeat(65)] {
            assert_eq!(
                plan_id(bad).unwrap_err().0,
                StatusCode::NOT_FOUND,
                "{bad:?}"
            );
        }
        assert!(run_id("01890a5d-ac96-774b-bcce-b302099a8057").is_ok());
        for bad in [
            "01890A5D-AC96-774B-BCCE-B302099A8057",
            "01890a5d-ac96-474b-bcce-b302099a8057",
            "../x",
            &"0".repeat(10_000),
        ] {
            let e = run_id(bad).unwrap_err();
            assert_eq!(e.0, StatusCode::NOT_FOUND);
            assert!(
                !e.1.contains(bad),
                "the message repeats what failed the pattern"
            );
        }
    }
}
