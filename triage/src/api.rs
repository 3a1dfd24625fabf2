//! The HTTP API (axum): tickets (list, filter, detail with sightings and audit, transitions),
//! the review queue, evidence images, a GeoJSON export, Open311 GeoReport v2 (`services`,
//! `requests` GET and POST), a live feed (server-sent events), health and Prometheus metrics;
//! the patrols, their runs and docks ([`patrols`]).
//!
//! Reads need a `viewer` token when tokens are configured (Open311 reads are public, as city
//! tools expect); every change needs `operator` or `admin`: 401 without a known token, 403 with
//! a weaker one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use argus_core::clock;
use argus_core::geodesy::GeoPoint;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Role, Tokens};
use crate::dashboard;
use crate::engine::State;
use crate::ingest::{ChangeError, Counters, Ingest};
use crate::mqtt::IngestStatus;
use crate::store::{Pool, Store, StoreError, Ticket, TicketFilter};

mod patrols;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The ingest: every change goes through it (and its lock).
    pub ingest: Arc<Mutex<Ingest>>,
    /// Reads go through stores of their own, never the ingest's lock.
    pub reads: Arc<Pool>,
    /// Reads of the operators' probes (`/health`, `/metrics`): a pool of their own, so a
    /// crowd of public readers never makes a liveness probe wait.
    pub probes: Arc<Pool>,
    /// The ingest's counters.
    pub counters: Arc<Counters>,
    /// How intake is doing.
    pub status: Arc<IngestStatus>,
    /// Whether the broker triage listens on is alive (the embedded broker's thread runs).
    pub broker_alive: Arc<AtomicBool>,
    /// Known tokens.
    pub tokens: Tokens,
    /// The live feed (see [`Ingest::set_feed`]).
    pub feed: tokio::sync::broadcast::Sender<String>,
    /// The dashboard's basemap ([`crate::dashboard::basemap`]), when a district is configured.
    pub basemap: Option<axum::body::Bytes>,
    /// The class catalog: the Open311 services are its violations.
    pub catalog: Arc<argus_core::catalog::Catalog>,
    /// Serve the test-only routes that panic (feature `testsuite`, and only when the test kit
    /// asks: the `triage` binary never does, whatever features a workspace build unified).
    pub testsuite_routes: bool,
    /// The patrol dispatcher (`[patrols]`): its wayline URLs are served here, and runs are
    /// asked for and cancelled through it.
    pub dispatcher: Option<crate::docklink::SharedDispatcher>,
    /// The patrols as loaded (`[patrols]`): their schedules, routes and docks.
    pub patrols: Option<Arc<crate::patrols::Patrols>>,
}

type Shared = Arc<App>;

/// An API error: a status and a message, as JSON.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        let status = if e.is_transient() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self(status, "store failure".into())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The headers every response carries: no script or style but the page's own files, no
/// framing, no sniffing, no referrer.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// Whether a request target, percent-decoded, holds a control character (a NUL no store takes,
/// an escape no log should print).
fn has_control(target: &str) -> bool {
    percent_encoding::percent_decode_str(target).any(|b| b < 0x20 || b == 0x7f)
}

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or("", axum::http::uri::PathAndQuery::as_str);
    let mut response = if has_control(target) {
        ApiError(
            StatusCode::BAD_REQUEST,
            "the path or query holds a control character".into(),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    for (k, v) in SECURITY_HEADERS {
        h.insert(k, HeaderValue::from_static(v));
    }
    response
}

/// Runs a change through the ingest on a blocking thread of the runtime (the store blocks);
/// a poisoned lock (a panic during an earlier change) is taken over, not propagated.
async fn change<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&mut Ingest) -> T + Send + 'static,
) -> ApiResult<T> {
    let ingest = app.ingest.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = ingest.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "a change failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    })
}

/// A handler that panics (feature `testsuite`: tests show it costs only its own request).
#[cfg(feature = "testsuite")]
async fn testsuite_panic() -> &'static str {
    panic!("a test-only handler panicked")
}

/// A read that panics on its reader thread (feature `testsuite`).
#[cfg(feature = "testsuite")]
async fn testsuite_panic_read(AxState(app): AxState<Shared>) -> ApiResult<Response> {
    read_json(&app, |_| -> Result<(), StoreError> {
        panic!("a test-only read panicked")
    })
    .await
}

/// A change that panics holding the ingest's lock (feature `testsuite`).
#[cfg(feature = "testsuite")]
async fn testsuite_panic_change(AxState(app): AxState<Shared>) -> ApiResult<&'static str> {
    change(&app, |_| -> &'static str {
        panic!("a test-only change panicked")
    })
    .await
}

/// Reads through the read pool.
async fn read<T: Send + 'static>(
    app: &Shared,
    f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    Ok(app.reads.read(f).await?)
}

/// Reads through the read pool and answers with the JSON of what `f` made, serialised on the
/// reader thread too (a list of a thousand tickets is work best done at the readers' priority).
async fn read_json<T: serde::Serialize>(
    app: &Shared,
    f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<Response> {
    let body = read(app, move |s| {
        serde_json::to_vec(&f(s)?).map_err(|e| StoreError::Corrupt {
            table: "tickets",
            what: format!("cannot serialise: {e}"),
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The routes, each client held to `limits`.
pub fn router_limited(app: Shared, limits: crate::limits::ClientLimits) -> Router {
    router(app).layer(axum::middleware::from_fn_with_state(
        crate::limits::Limiter::new(limits),
        crate::limits::limit,
    ))
}

/// The routes.
pub fn router(app: Shared) -> Router {
    let testsuite_routes = app.testsuite_routes;
    let mut r = Router::new();
    for path in dashboard::asset_paths() {
        r = r.route(path, get(move || async move { dashboard::asset(path) }));
    }
    let r = r
        .route("/health", get(health))
        .route("/api/v1/basemap", get(basemap))
        .route("/metrics", get(metrics))
        .route("/api/v1/tickets", get(tickets))
        .route("/api/v1/tickets.geojson", get(geojson))
        .route("/api/v1/tickets/{id}", get(ticket))
        .route("/api/v1/tickets/{id}/transition", post(transition))
        .route("/api/v1/review", get(review))
        .route("/api/v1/feed", get(feed))
        .route("/api/v1/evidence/{sha256}", get(evidence))
        .route("/api/v1/waylines/{file}", get(wayline))
        .route("/api/v1/whoami", get(patrols::whoami))
        .route("/api/v1/patrols", get(patrols::list))
        .route("/api/v1/patrols/{id}/runs", get(patrols::runs))
        .route("/api/v1/patrols/{id}/run", post(patrols::run_now))
        .route("/api/v1/runs/{id}", get(patrols::run))
        .route("/api/v1/runs/{id}/cancel", post(patrols::cancel))
        .route("/api/v1/docks", get(patrols::docks))
        .route("/open311/v2/services.json", get(services))
        .route(
            "/open311/v2/requests.json",
            get(requests).post(file_request),
        )
        .route("/open311/v2/requests/{file}", get(request));
    #[cfg(not(feature = "testsuite"))]
    let _ = testsuite_routes;
    #[cfg(feature = "testsuite")]
    let r = if !testsuite_routes {
        r
    } else {
        r.route("/api/v1/testsuite/panic", get(testsuite_panic))
            .route("/api/v1/testsuite/panic-read", get(testsuite_panic_read))
            .route(
                "/api/v1/testsuite/panic-change",
                get(testsuite_panic_change),
            )
    };
    r.layer(axum::middleware::from_fn(security_headers))
        .with_state(app)
}

fn role(app: &App, headers: &HeaderMap, extra: Option<&str>) -> Option<Role> {
    let h = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    app.tokens.role(h.or(extra))
}

/// The caller's role if it is at least `need`: 401 unknown, 403 too weak. Reads are open when
/// no token is configured.
fn require(app: &App, headers: &HeaderMap, need: Role, extra: Option<&str>) -> ApiResult<Role> {
    if need == Role::Viewer && app.tokens.is_empty() {
        return Ok(Role::Viewer);
    }
    match role(app, headers, extra) {
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "a bearer token is needed".into(),
        )),
        Some(r) if r < need => Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("this needs the {} role", need.as_str()),
        )),
        Some(r) => Ok(r),
    }
}

/// Intake is up: connected to the broker, the store taking batches, the broker alive.
async fn health(AxState(app): AxState<Shared>) -> Response {
    let st = &app.status;
    let connected = st.connected.load(Ordering::SeqCst);
    let mut store_ok = st.store_ok.load(Ordering::SeqCst);
    let broker = app.broker_alive.load(Ordering::SeqCst);
    let counts = app.probes.read(|s| s.counts()).await;
    store_ok &= counts.is_ok();
    let (tickets, sightings, dead) = counts.unwrap_or_default();
    let last_ms = st.last_batch_at_ms.load(Ordering::SeqCst);
    let up = connected && store_ok && broker;
    let body = json!({
        "status": if up { "ok" } else { "down" },
        "ingest": {"connected": connected,
                   "last_batch_at": (last_ms > 0).then(|| clock::rfc3339(last_ms as f64 / 1e3)),
                   "waiting": st.waiting.load(Ordering::Relaxed)},
        "broker": {"alive": broker},
        "store": {"ok": store_ok},
        "tickets": tickets, "sightings": sightings, "dead_letters": dead,
    });
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn metrics(AxState(app): AxState<Shared>) -> ApiResult<Response> {
    let (opened, joined, repeats, dead_hits) = app.counters.get();
    let ((tickets, sightings, dead), patrol) = app
        .probes
        .read(|s| Ok((s.counts()?, s.patrol_counts()?)))
        .await?;
    let up = u8::from(app.status.connected.load(Ordering::SeqCst));
    let store_ok = u8::from(app.status.store_ok.load(Ordering::SeqCst));
    let mut text = format!(
        "# HELP triage_hits_total Hit messages by outcome.\n# TYPE triage_hits_total counter\n\
         triage_hits_total{{outcome=\"opened\"}} {opened}\ntriage_hits_total{{outcome=\"joined\"}} {joined}\n\
         triage_hits_total{{outcome=\"repeat\"}} {repeats}\ntriage_hits_total{{outcome=\"dead\"}} {dead_hits}\n\
         # HELP triage_tickets Tickets stored.\n# TYPE triage_tickets gauge\ntriage_tickets {tickets}\n\
         # HELP triage_sightings Sightings stored.\n# TYPE triage_sightings gauge\ntriage_sightings {sightings}\n\
         # HELP triage_dead_letters Dead letters stored.\n# TYPE triage_dead_letters gauge\ntriage_dead_letters {dead}\n\
         # HELP triage_ingest_connected 1 when subscribed to the broker.\n# TYPE triage_ingest_connected gauge\ntriage_ingest_connected {up}\n\
         # HELP triage_store_ok 1 when the store took the last batch.\n# TYPE triage_store_ok gauge\ntriage_store_ok {store_ok}\n",
    );
    text += &format!(
        "# HELP argus_dock_dead_letters_total Dead letters from docks (Cloud API topics), stored.\n\
         # TYPE argus_dock_dead_letters_total counter\nargus_dock_dead_letters_total {}\n\
         # HELP argus_patrol_runs Patrol runs stored, by state.\n# TYPE argus_patrol_runs gauge\n",
        patrol.dock_dead_letters
    );
    // Every state, a run or not: a series that appears only with its first run breaks rates.
    for state in crate::store::RunState::ALL {
        let n = patrol
            .runs
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n);
        text += &format!("argus_patrol_runs{{state=\"{}\"}} {n}\n", state.as_str());
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `?state=&unit=&category=&class=&bbox=&since=&cursor=&limit=`: `state` is a state or a
/// group, `open` or `finished`; `bbox` is `south,west,north,east` in degrees; `since` an RFC 3339 time
/// (opened then or later); `cursor` the previous page's (its `Link: <…>; rel="next"`).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bbox: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
}

/// A query string's parameters, or a 400 in the API's JSON words.
fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> ApiResult<T> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| bad(format!("query string: {e}")))
}

/// The link to the page after `cursor` of the list `f` asked for (every filter kept, the
/// cursor replaced).
fn next_link(path: &str, f: &Filter, cursor: &crate::store::Cursor) -> Option<HeaderValue> {
    let rest = Filter {
        cursor: Some(cursor.encode()),
        state: f.state.clone(),
        unit: f.unit.clone(),
        category: f.category.clone(),
        class: f.class.clone(),
        bbox: f.bbox.clone(),
        since: f.since.clone(),
        limit: f.limit,
    };
    let q = serde_urlencoded::to_string(&rest).ok()?;
    HeaderValue::from_str(&format!("<{path}?{q}>; rel=\"next\"")).ok()
}

fn parse_state(s: &str) -> ApiResult<State> {
    State::parse(s).ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")))
}

fn bad(what: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, what)
}

/// `south,west,north,east`, finite, in range, south ≤ north and west ≤ east.
fn parse_bbox(s: &str) -> ApiResult<[f64; 4]> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("bbox {s:?}: four numbers, south,west,north,east")))?;
    match v[..] {
        [south, west, north, east]
            if v.iter().all(|x| x.is_finite())
                && (-90.0..=90.0).contains(&south)
                && (-90.0..=90.0).contains(&north)
                && (-180.0..=180.0).contains(&west)
                && (-180.0..=180.0).contains(&east)
                && south <= north
                && west <= east =>
        {
            Ok([south, west, north, east])
        }
        _ => Err(bad(format!(
            "bbox {s:?}: south,west,north,east in degrees, south ≤ north, west ≤ east"
        ))),
    }
}

/// The tickets a filter asks for, filtered in the store before the limit: the store's filter
/// and the limit.
fn filtered(f: &Filter) -> ApiResult<(TicketFilter, usize)> {
    let (state, open) = match f.state.as_deref() {
        None => (None, None),
        Some("open") => (None, Some(true)),
        Some("finished") => (None, Some(false)),
        Some(s) => (Some(parse_state(s)?), None),
    };
    if f.limit == Some(0) {
        return Err(bad("limit 0: a page holds 1 to 10000 tickets".into()));
    }
    let filter = TicketFilter {
        state,
        open,
        unit: f.unit.clone(),
        category: f.category.clone(),
        class: f.class.clone(),
        bbox: f.bbox.as_deref().map(parse_bbox).transpose()?,
        since: f
            .since
            .as_deref()
            .map(|t| {
                argus_core::clock::parse_rfc3339(t)
                    .ok_or_else(|| bad(format!("since {t:?}: an RFC 3339 time")))
            })
            .transpose()?,
        after: f
            .cursor
            .as_deref()
            .map(|c| {
                crate::store::Cursor::parse(c)
                    .ok_or_else(|| bad(format!("cursor {c:?}: not one this API gave")))
            })
            .transpose()?,
        ..TicketFilter::default()
    };
    Ok((filter, f.limit.unwrap_or(1000).clamp(1, 10_000)))
}

/// A page of tickets and, when it is full, the cursor of the next (its link carries the query
/// with the last ticket's cursor).
fn page_of(
    s: &mut dyn Store,
    filter: &TicketFilter,
    limit: usize,
) -> Result<(Vec<crate::ticket::Ticket>, Option<crate::store::Cursor>), StoreError> {
    let page = s.tickets(filter, limit)?;
    let next = (page.len() == limit)
        .then(|| page.last().map(crate::store::Cursor::after))
        .flatten();
    Ok((page, next))
}

async fn tickets(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let f: Filter = query(raw.as_deref())?;
    let (filter, limit) = filtered(&f)?;
    let (body, next) = read(&app, move |s| {
        let (page, next) = page_of(s, &filter, limit)?;
        let body = serde_json::to_vec(&page).map_err(|e| StoreError::Corrupt {
            table: "tickets",
            what: format!("cannot serialise: {e}"),
        })?;
        Ok((body, next))
    })
    .await?;
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(link) = next.and_then(|c| next_link("/api/v1/tickets", &f, &c)) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

async fn review(AxState(app): AxState<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let f = TicketFilter {
        review: Some(true),
        ..TicketFilter::state(State::New)
    };
    read_json(&app, move |s| s.tickets(&f, 10_000)).await
}

async fn geojson(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let f: Filter = query(raw.as_deref())?;
    let (filter, limit) = filtered(&f)?;
    let (body, next) = read(&app, move |s| {
        let (page, next) = page_of(s, &filter, limit)?;
        let features: Vec<Value> = page
            .into_iter()
            .map(|t| {
                json!({"type": "Feature", "id": t.ticket_id,
                       "geometry": {"type": "Point", "coordinates": [t.lon, t.lat]},
                       "properties": t})
            })
            .collect();
        Ok((
            json!({"type": "FeatureCollection", "features": features}),
            next,
        ))
    })
    .await?;
    let mut r = Json(body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    if let Some(link) = next.and_then(|c| next_link("/api/v1/tickets.geojson", &f, &c)) {
        r.headers_mut().insert(header::LINK, link);
    }
    Ok(r)
}

async fn ticket(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require(&app, &headers, Role::Viewer, None)?;
    let key = id.clone();
    let found = read(&app, move |s| {
        let Some(t) = s.ticket(&key)? else {
            return Ok(None);
        };
        let sightings = s.sightings(&key)?;
        let runs = patrols::ticket_runs(s, &key, &sightings)?;
        Ok(Some((t, sightings, s.audit(&key)?, runs)))
    })
    .await?;
    let Some((t, sightings, audit, runs)) = found else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no ticket {id:?}")));
    };
    let sightings: Vec<Value> = sightings
        .into_iter()
        .map(|s| {
            let hit: Value = serde_json::from_str(&s.payload).unwrap_or(Value::Null);
            json!({"hit_id": s.hit_id, "agent_id": s.agent_id, "class": s.class, "score": s.score,
                   "observed_at": clock::rfc3339(s.observed_at),
                   "received_at": clock::rfc3339(s.received_at), "lat": s.lat, "lon": s.lon,
                   "uncertainty_m": s.uncertainty_m, "update_of": s.update_of,
                   "flight_id": s.flight_id,
                   "evidence_url": format!("/api/v1/evidence/{}", s.evidence_sha256), "hit": hit})
        })
        .collect();
    Ok(Json(
        json!({"ticket": t, "sightings": sightings, "audit": audit, "runs": runs}),
    ))
}

/// `POST /api/v1/tickets/{id}/transition` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Move {
    to: String,
    #[serde(default)]
    note: Option<String>,
}

async fn transition(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(m): Json<Move>,
) -> ApiResult<Json<Ticket>> {
    let r = require(&app, &headers, Role::Operator, None)?;
    let to = parse_state(&m.to)?;
    if m.note.as_ref().is_some_and(|n| n.len() > 4096) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "note is over 4096 bytes".into(),
        ));
    }
    let key = id.clone();
    let done = change(&app, move |ing| {
        ing.transition(&key, to, r.as_str(), m.note.as_deref(), clock::now_unix_s())
    })
    .await?;
    match done {
        Ok(t) => Ok(Json(t)),
        Err(ChangeError::NotFound(_)) => {
            Err(ApiError(StatusCode::NOT_FOUND, format!("no ticket {id:?}")))
        }
        Err(e @ ChangeError::NotAllowed { .. }) => {
            Err(ApiError(StatusCode::CONFLICT, e.to_string()))
        }
        Err(ChangeError::Store(e)) => Err(e.into()),
    }
}

/// The dashboard's basemap (GeoJSON).
async fn basemap(AxState(app): AxState<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    match &app.basemap {
        Some(b) => {
            Ok(([(header::CONTENT_TYPE, "application/geo+json")], b.clone()).into_response())
        }
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            "no district is configured (--district)".into(),
        )),
    }
}

/// Server-sent events: one `data:` line of JSON per audit event (`opened`, `sighting`,
/// `dispatched`, `transition`, `sla_breach`, …) as it is committed.
async fn feed(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>>> {
    require(&app, &headers, Role::Viewer, None)?;
    let rx = app.feed.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(line) => return Some((Ok(Event::default().data(line)), rx)),
                // A slow reader skips what it missed.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn evidence(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError(StatusCode::NOT_FOUND, "no such evidence".into()));
    }
    let key = sha.clone();
    let jpeg = read(&app, move |s| s.evidence(&key))
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no evidence {sha}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            // Evidence is for the signed-in: kept by the browser, never by a shared cache.
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        jpeg,
    )
        .into_response())
}

/// A patrol run's wayline KMZ, for its dock, at the unguessable URL handed out in its
/// `flighttask_prepare` (no token: docks download without one). Anything else is a 404.
async fn wayline(AxState(app): AxState<Shared>, Path(file): Path<String>) -> ApiResult<Response> {
    let missing = || ApiError(StatusCode::NOT_FOUND, "no such wayline".into());
    let token = file
        .strip_suffix(".kmz")
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(missing)?
        .to_string();
    let d = app.dispatcher.clone().ok_or_else(missing)?;
    let kmz = tokio::task::spawn_blocking(move || {
        d.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .wayline(&token, argus_core::clock::now_unix_s())
    })
    .await
    .map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "wayline lookup failed".into(),
        )
    })??
    .ok_or_else(missing)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.google-earth.kmz"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        kmz,
    )
        .into_response())
}

/// The Open311 services: one per violation of the class catalog.
async fn services(AxState(app): AxState<Shared>) -> Json<Value> {
    Json(Value::Array(
        app.catalog
            .violations
            .iter()
            .map(|v| {
                json!({"service_code": v.id, "service_name": v.service_name, "description": v.description,
                       "metadata": false, "type": "realtime", "keywords": "argus,violation",
                       "group": "street order"})
            })
            .collect(),
    ))
}

fn open311(catalog: &argus_core::catalog::Catalog, t: &Ticket) -> Value {
    let name = catalog
        .violation(&t.class)
        .map_or(t.class.as_str(), |v| v.service_name.as_str());
    let status = if t.state.is_open() { "open" } else { "closed" };
    json!({
        "service_request_id": t.ticket_id,
        "status": status,
        "status_notes": t.state.as_str(),
        "service_name": name,
        "service_code": t.class,
        "description": format!("{name}: {} sighting(s), best score {:.2}", t.sightings, t.best_score),
        "agency_responsible": t.unit,
        "service_notice": "",
        "requested_datetime": clock::rfc3339(t.opened_at),
        "updated_datetime": clock::rfc3339(t.state_since),
        "expected_datetime": t.due_at.map(clock::rfc3339),
        "address": "",
        "address_id": "",
        "zipcode": "",
        "lat": t.lat,
        "long": t.lon,
        "media_url": "",
    })
}

/// Ids one `GET /requests.json` may name.
const MAX_REQUEST_IDS: usize = 100;

/// `GET /requests.json` parameters.
#[derive(Debug, Deserialize)]
struct RequestsQuery {
    service_request_id: Option<String>,
    service_code: Option<String>,
    status: Option<String>,
    #[allow(dead_code)]
    jurisdiction_id: Option<String>,
}

async fn requests(AxState(app): AxState<Shared>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q: RequestsQuery = query(raw.as_deref())?;
    // At most 100 ids a request, each once, in the order asked.
    let ids: Option<Vec<String>> = match q.service_request_id.as_deref() {
        None => None,
        Some(ids) => {
            let mut seen = std::collections::HashSet::new();
            let v: Vec<String> = ids
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty() && seen.insert(*i))
                .map(str::to_string)
                .collect();
            if v.len() > MAX_REQUEST_IDS {
                return Err(ApiError(
                    StatusCode::BAD_REQUEST,
                    format!("at most {MAX_REQUEST_IDS} service_request_id values a request"),
                ));
            }
            Some(v)
        }
    };
    // `status=open`, `closed` or both: filtered in the store, before the limit.
    let mut open = None;
    if let Some(wanted) = q.status.as_deref() {
        let (mut opened, mut closed) = (false, false);
        for w in wanted.split(',').map(str::trim) {
            match w {
                "open" => opened = true,
                "closed" => closed = true,
                other => {
                    return Err(ApiError(
                        StatusCode::BAD_REQUEST,
                        format!("unknown status {other:?}: open or closed"),
                    ));
                }
            }
        }
        open = (opened != closed).then_some(opened);
    }
    let filter = TicketFilter {
        class: q.service_code.clone(),
        open,
        ..TicketFilter::default()
    };
    let catalog = app.catalog.clone();
    read_json(&app, move |s| {
        // The list is filtered in the store; tickets named by id are filtered here.
        let tickets = match ids {
            Some(ids) => {
                let mut v = Vec::new();
                for id in ids {
                    if let Some(t) = s.ticket(&id)?
                        && filter.class.as_ref().is_none_or(|c| &t.class == c)
                        && filter.open.is_none_or(|o| t.state.is_open() == o)
                    {
                        v.push(t);
                    }
                }
                v
            }
            None => s.tickets(&filter, 1000)?,
        };
        Ok(tickets
            .iter()
            .map(|t| open311(&catalog, t))
            .collect::<Vec<Value>>())
    })
    .await
}

async fn request(
    AxState(app): AxState<Shared>,
    Path(file): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = file
        .strip_suffix(".json")
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                "only the .json format is served".into(),
            )
        })?
        .to_string();
    let key = id.clone();
    let t = read(&app, move |s| s.ticket(&key))
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no request {id:?}")))?;
    Ok(Json(Value::Array(vec![open311(&app.catalog, &t)])))
}

/// `POST /requests.json` form fields.
#[derive(Debug, Deserialize)]
struct NewRequest {
    service_code: String,
    lat: Option<f64>,
    long: Option<f64>,
    description: Option<String>,
    api_key: Option<String>,
    #[allow(dead_code)]
    jurisdiction_id: Option<String>,
}

async fn file_request(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Form(r): Form<NewRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = require(&app, &headers, Role::Operator, r.api_key.as_deref())?;
    if app.catalog.violation(&r.service_code).is_none() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("unknown service_code {:?}", r.service_code),
        ));
    }
    let (Some(lat), Some(lon)) = (r.lat, r.long) else {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "lat and long are required (address_string is not supported)".into(),
        ));
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("{lat}, {lon} is not a place"),
        ));
    }
    let description = r.description.unwrap_or_default();
    if description.len() > 4096 || description.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "description is over 4096 bytes or holds control characters".into(),
        ));
    }
    let t = change(&app, move |ing| {
        ing.file(
            &r.service_code,
            GeoPoint { lat, lon },
            &description,
            &format!("open311:{}", role.as_str()),
            clock::now_unix_s(),
        )
    })
    .await??;
    Ok((
        StatusCode::CREATED,
        Json(json!([{"service_request_id": t.ticket_id,
                     "service_notice": "queued for review", "account_id": null}])),
    ))
}
