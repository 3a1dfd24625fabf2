//! The HTTP API (axum): tickets (list, filter, detail with sightings and audit, transitions),
//! the review queue, evidence images, a GeoJSON export, Open311 GeoReport v2 (`services`,
//! `requests` GET and POST), a live feed (server-sent events), health and Prometheus metrics.
//!
//! Reads need a `viewer` token when tokens are configured (Open311 reads are public, as city
//! tools expect); every change needs `operator` or `admin`: 401 without a known token, 403 with
//! a weaker one.

use std::sync::{Arc, Mutex};

use argus_core::clock;
use argus_core::geodesy::GeoPoint;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Role, Tokens};
use crate::dashboard;
use crate::engine::State;
use crate::ingest::{ChangeError, Ingest};
use crate::store::Ticket;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The ingest (and through it the store).
    pub ingest: Arc<Mutex<Ingest>>,
    /// Known tokens.
    pub tokens: Tokens,
    /// The live feed (see [`Ingest::set_feed`]).
    pub feed: tokio::sync::broadcast::Sender<String>,
    /// The dashboard's basemap ([`crate::dashboard::basemap`]), when a district is configured.
    pub basemap: Option<axum::body::Bytes>,
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

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        Self(StatusCode::INTERNAL_SERVER_ERROR, "store failure".into())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The routes.
pub fn router(app: Shared) -> Router {
    let mut r = Router::new();
    for path in dashboard::asset_paths() {
        r = r.route(path, get(move || async move { dashboard::asset(path) }));
    }
    r.route("/health", get(health))
        .route("/api/v1/basemap", get(basemap))
        .route("/metrics", get(metrics))
        .route("/api/v1/tickets", get(tickets))
        .route("/api/v1/tickets.geojson", get(geojson))
        .route("/api/v1/tickets/{id}", get(ticket))
        .route("/api/v1/tickets/{id}/transition", post(transition))
        .route("/api/v1/review", get(review))
        .route("/api/v1/feed", get(feed))
        .route("/api/v1/evidence/{sha256}", get(evidence))
        .route("/open311/v2/services.json", get(services))
        .route(
            "/open311/v2/requests.json",
            get(requests).post(file_request),
        )
        .route("/open311/v2/requests/{file}", get(request))
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

/// Runs `f` on a plain thread: the store's PostgreSQL client blocks on a runtime of its own,
/// which must not run on the HTTP runtime's threads.
async fn off<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("the store thread ended")
}

fn lock(app: &App) -> std::sync::MutexGuard<'_, Ingest> {
    app.ingest.lock().expect("ingest lock")
}

async fn health(a0: AxState<Shared>) -> ApiResult<Json<Value>> {
    off(move || health_now(a0)).await
}

fn health_now(AxState(app): AxState<Shared>) -> ApiResult<Json<Value>> {
    let (tickets, sightings, dead) = lock(&app).store().counts()?;
    Ok(Json(
        json!({"status": "ok", "tickets": tickets, "sightings": sightings, "dead_letters": dead}),
    ))
}

async fn metrics(a0: AxState<Shared>) -> ApiResult<Response> {
    off(move || metrics_now(a0)).await
}

fn metrics_now(AxState(app): AxState<Shared>) -> ApiResult<Response> {
    let mut ing = lock(&app);
    let c = ing.counters;
    let (tickets, sightings, dead) = ing.store().counts()?;
    let text = format!(
        "# HELP triage_hits_total Hit messages by outcome.\n# TYPE triage_hits_total counter\n\
         triage_hits_total{{outcome=\"opened\"}} {}\ntriage_hits_total{{outcome=\"joined\"}} {}\n\
         triage_hits_total{{outcome=\"repeat\"}} {}\ntriage_hits_total{{outcome=\"dead\"}} {}\n\
         # HELP triage_tickets Tickets stored.\n# TYPE triage_tickets gauge\ntriage_tickets {tickets}\n\
         # HELP triage_sightings Sightings stored.\n# TYPE triage_sightings gauge\ntriage_sightings {sightings}\n\
         # HELP triage_dead_letters Dead letters stored.\n# TYPE triage_dead_letters gauge\ntriage_dead_letters {dead}\n",
        c.opened, c.joined, c.repeats, c.dead
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `?state=&unit=&category=&limit=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    state: Option<String>,
    unit: Option<String>,
    category: Option<String>,
    limit: Option<usize>,
}

fn filtered(app: &App, f: &Filter) -> ApiResult<Vec<Ticket>> {
    let state = match &f.state {
        None => None,
        Some(s) => Some(
            State::parse(s)
                .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("unknown state {s:?}")))?,
        ),
    };
    let limit = f.limit.unwrap_or(1000).min(10_000);
    let mut all = lock(app).store().tickets(state, limit)?;
    all.retain(|t| {
        f.unit.as_ref().is_none_or(|u| t.unit.as_ref() == Some(u))
            && f.category.as_ref().is_none_or(|c| &t.category == c)
    });
    Ok(all)
}

async fn tickets(
    a0: AxState<Shared>,
    a1: HeaderMap,
    a2: Query<Filter>,
) -> ApiResult<Json<Vec<Ticket>>> {
    off(move || tickets_now(a0, a1, a2)).await
}

fn tickets_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> ApiResult<Json<Vec<Ticket>>> {
    require(&app, &headers, Role::Viewer, None)?;
    Ok(Json(filtered(&app, &f)?))
}

async fn review(a0: AxState<Shared>, a1: HeaderMap) -> ApiResult<Json<Vec<Ticket>>> {
    off(move || review_now(a0, a1)).await
}

fn review_now(AxState(app): AxState<Shared>, headers: HeaderMap) -> ApiResult<Json<Vec<Ticket>>> {
    require(&app, &headers, Role::Viewer, None)?;
    let mut all = lock(&app).store().tickets(Some(State::New), 10_000)?;
    all.retain(|t| t.review);
    Ok(Json(all))
}

async fn geojson(a0: AxState<Shared>, a1: HeaderMap, a2: Query<Filter>) -> ApiResult<Response> {
    off(move || geojson_now(a0, a1, a2)).await
}

fn geojson_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Query(f): Query<Filter>,
) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let features: Vec<Value> = filtered(&app, &f)?
        .into_iter()
        .map(|t| {
            json!({"type": "Feature", "id": t.ticket_id,
                   "geometry": {"type": "Point", "coordinates": [t.lon, t.lat]},
                   "properties": t})
        })
        .collect();
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        Json(json!({"type": "FeatureCollection", "features": features})),
    )
        .into_response())
}

async fn ticket(a0: AxState<Shared>, a1: HeaderMap, a2: Path<String>) -> ApiResult<Json<Value>> {
    off(move || ticket_now(a0, a1, a2)).await
}

fn ticket_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    require(&app, &headers, Role::Viewer, None)?;
    let mut ing = lock(&app);
    let t = ing
        .store()
        .ticket(&id)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no ticket {id}")))?;
    let sightings: Vec<Value> = ing
        .store()
        .sightings(&id)?
        .into_iter()
        .map(|s| {
            let hit: Value = serde_json::from_str(&s.payload).unwrap_or(Value::Null);
            json!({"hit_id": s.hit_id, "agent_id": s.agent_id, "class": s.class, "score": s.score,
                   "observed_at": clock::rfc3339(s.observed_at), "lat": s.lat, "lon": s.lon,
                   "uncertainty_m": s.uncertainty_m, "update_of": s.update_of,
                   "evidence_url": format!("/api/v1/evidence/{}", s.evidence_sha256), "hit": hit})
        })
        .collect();
    let audit = ing.store().audit(&id)?;
    Ok(Json(
        json!({"ticket": t, "sightings": sightings, "audit": audit}),
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
    a0: AxState<Shared>,
    a1: HeaderMap,
    a2: Path<String>,
    a3: Json<Move>,
) -> ApiResult<Json<Ticket>> {
    off(move || transition_now(a0, a1, a2, a3)).await
}

fn transition_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(m): Json<Move>,
) -> ApiResult<Json<Ticket>> {
    let r = require(&app, &headers, Role::Operator, None)?;
    let to = State::parse(&m.to)
        .ok_or_else(|| ApiError(StatusCode::BAD_REQUEST, format!("unknown state {:?}", m.to)))?;
    let done = lock(&app).transition(&id, to, r.as_str(), m.note.as_deref(), clock::now_unix_s());
    match done {
        Ok(t) => Ok(Json(t)),
        Err(ChangeError::NotFound(_)) => {
            Err(ApiError(StatusCode::NOT_FOUND, format!("no ticket {id}")))
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

async fn evidence(a0: AxState<Shared>, a1: HeaderMap, a2: Path<String>) -> ApiResult<Response> {
    off(move || evidence_now(a0, a1, a2)).await
}

fn evidence_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    require(&app, &headers, Role::Viewer, None)?;
    let jpeg = lock(&app)
        .store()
        .evidence(&sha)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no evidence {sha}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        jpeg,
    )
        .into_response())
}

/// The Open311 services: one per violation class.
const SERVICES: [(&str, &str, &str); 3] = [
    (
        "vending_in_lane",
        "Street vending in a lane",
        "A stall, cart or goods spread occupying a traffic lane or footway, or trading outside a permitted zone's hours",
    ),
    (
        "construction_waste",
        "Dumped construction waste",
        "Spoil, rubble or bagged rubbish left outside a registered construction site",
    ),
    (
        "illegal_structure",
        "Illegal structure",
        "A shed or structure absent from the building baseline",
    ),
];

async fn services() -> Json<Value> {
    Json(Value::Array(
        SERVICES
            .iter()
            .map(|(code, name, description)| {
                json!({"service_code": code, "service_name": name, "description": description,
                       "metadata": false, "type": "realtime", "keywords": "argus,violation",
                       "group": "street order"})
            })
            .collect(),
    ))
}

fn open311(t: &Ticket) -> Value {
    let name = SERVICES
        .iter()
        .find(|s| s.0 == t.class)
        .map_or(t.class.as_str(), |s| s.1);
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

/// `GET /requests.json` parameters.
#[derive(Debug, Deserialize)]
struct RequestsQuery {
    service_request_id: Option<String>,
    service_code: Option<String>,
    status: Option<String>,
    #[allow(dead_code)]
    jurisdiction_id: Option<String>,
}

async fn requests(a0: AxState<Shared>, a1: Query<RequestsQuery>) -> ApiResult<Json<Value>> {
    off(move || requests_now(a0, a1)).await
}

fn requests_now(
    AxState(app): AxState<Shared>,
    Query(q): Query<RequestsQuery>,
) -> ApiResult<Json<Value>> {
    let mut ing = lock(&app);
    let all = match &q.service_request_id {
        Some(ids) => {
            let mut v = Vec::new();
            for id in ids.split(',') {
                if let Some(t) = ing.store().ticket(id.trim())? {
                    v.push(t);
                }
            }
            v
        }
        None => ing.store().tickets(None, 1000)?,
    };
    let wanted: Option<Vec<&str>> = q.status.as_deref().map(|s| s.split(',').collect());
    Ok(Json(Value::Array(
        all.iter()
            .filter(|t| q.service_code.as_ref().is_none_or(|c| &t.class == c))
            .map(open311)
            .filter(|r| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.contains(&r["status"].as_str().unwrap_or("")))
            })
            .collect(),
    )))
}

async fn request(a0: AxState<Shared>, a1: Path<String>) -> ApiResult<Json<Value>> {
    off(move || request_now(a0, a1)).await
}

fn request_now(AxState(app): AxState<Shared>, Path(file): Path<String>) -> ApiResult<Json<Value>> {
    let id = file.strip_suffix(".json").ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            "only the .json format is served".into(),
        )
    })?;
    let t = lock(&app)
        .store()
        .ticket(id)?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no request {id}")))?;
    Ok(Json(Value::Array(vec![open311(&t)])))
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
    a0: AxState<Shared>,
    a1: HeaderMap,
    a2: Form<NewRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    off(move || file_request_now(a0, a1, a2)).await
}

fn file_request_now(
    AxState(app): AxState<Shared>,
    headers: HeaderMap,
    Form(r): Form<NewRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = require(&app, &headers, Role::Operator, r.api_key.as_deref())?;
    if !SERVICES.iter().any(|s| s.0 == r.service_code) {
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
    let t = lock(&app).file(
        &r.service_code,
        GeoPoint { lat, lon },
        r.description.as_deref().unwrap_or(""),
        &format!("open311:{}", role.as_str()),
        clock::now_unix_s(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(json!([{"service_request_id": t.ticket_id,
                     "service_notice": "queued for review", "account_id": null}])),
    ))
}
