//! `/health` (JSON) and `/metrics` (Prometheus text) over HTTP/1.1 (axum on hyper).
//!
//! The listener is small but hostile-proof ([`argus_net::serve`]): each connection is a task of
//! its own (a slow client never holds up another), request headers must arrive within 5 s and
//! fit in 16 KiB, a whole exchange takes at most 10 s, and at most 64 connections are served at
//! once, 16 of them from one address. Nothing it
//! shows carries a secret: source URIs are shown with their passwords hidden.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::{AgentState, FrameQueue, SourceStats};

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// Time for a client to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole exchange.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Starts serving on `listen` (`ADDR:PORT`) in a thread; returns the bound address.
pub fn serve(listen: &str, state: Arc<AgentState>) -> Result<SocketAddr> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the health runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("health.listen {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "health and metrics at http://{addr}/health and /metrics");
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "try /health or /metrics\n") })
        .with_state(state);
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            let limits = argus_net::Listen {
                max_connections: MAX_CONNECTIONS,
                per_client: MAX_CONNECTIONS / 4,
                header_timeout: HEADER_TIMEOUT,
                exchange_timeout: Some(EXCHANGE_TIMEOUT),
                max_head: MAX_HEAD,
                keep_alive: false,
            };
            runtime.block_on(argus_net::serve(
                listener,
                app,
                limits,
                std::future::pending(),
            ))
        })?;
    Ok(addr)
}

async fn health(State(s): State<Arc<AgentState>>) -> impl IntoResponse {
    let body = health_json(&s);
    let code = if body["status"] == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body))
}

async fn metrics(State(s): State<Arc<AgentState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_text(&s),
    )
}

fn health_json(s: &AgentState) -> serde_json::Value {
    let sources: Vec<serde_json::Value> = s
        .sources
        .iter()
        .map(|(id, q, st)| {
            serde_json::json!({
                "id": id,
                "up": st.up.load(Ordering::Relaxed),
                "ended": q.ended.load(Ordering::Relaxed),
                "frames": st.decoded.load(Ordering::Relaxed),
                "dropped": q.dropped.load(Ordering::Relaxed),
                "last_error": st.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
            })
        })
        .collect();
    let connected = s
        .publish
        .as_ref()
        .is_some_and(|p| p.connected.load(Ordering::Relaxed));
    let disk_full = s.disk.full.load(Ordering::Relaxed);
    let oldest = s.outbox.oldest_age().map(|d| d.as_secs_f64());
    let ok = connected && !disk_full;
    serde_json::json!({
        "agent_id": s.agent_id,
        "status": if ok { "ok" } else { "degraded" },
        "broker_connected": connected,
        "outbox": s.outbox.len(),
        "outbox_oldest_unreceipted_s": oldest,
        "disk": {
            "full": disk_full,
            "free_bytes": s.disk.free_bytes(),
            "held_hits": s.disk.held.load(Ordering::Relaxed),
        },
        "clock": {
            "docks": s.clock.json(),
            "triage": s.publish.as_ref().map(|p| p.clock.json()),
        },
        "sources": sources,
    })
}

fn metrics_text(s: &AgentState) -> String {
    let mut out = String::new();
    let up_s = s.started.elapsed().as_secs_f64().max(1e-9);
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in rows {
            out += &format!("{name}{labels} {v}\n");
        }
    };
    let per = |f: &dyn Fn(&SourceStats, &FrameQueue) -> f64| -> Vec<(String, f64)> {
        s.sources
            .iter()
            .map(|(id, q, st)| (format!("{{source=\"{id}\"}}"), f(st, q)))
            .collect()
    };
    let one = |v: f64| vec![(String::new(), v)];
    metric(
        "argus_frames_decoded_total",
        "Frames decoded per source.",
        "counter",
        per(&|st, _| st.decoded.load(Ordering::Relaxed) as f64),
    );
    metric(
        "argus_frames_analysed_total",
        "Frames run through the detector per source.",
        "counter",
        per(&|st, _| st.analysed.load(Ordering::Relaxed) as f64),
    );
    metric(
        "argus_source_fps",
        "Decoded frames per second since start.",
        "gauge",
        per(&|st, _| st.decoded.load(Ordering::Relaxed) as f64 / up_s),
    );
    metric(
        "argus_frames_dropped_total",
        "Live frames dropped because the worker fell behind (or waited for disk space).",
        "counter",
        per(&|_, q| q.dropped.load(Ordering::Relaxed) as f64),
    );
    metric(
        "argus_queue_depth",
        "Frames waiting for the detector.",
        "gauge",
        per(&|_, q| q.depth() as f64),
    );
    metric(
        "argus_inference_ms",
        "Mean analysis time per analysed frame, milliseconds.",
        "gauge",
        per(&|st, _| {
            st.infer_us.load(Ordering::Relaxed) as f64
                / 1000.0
                / (st.analysed.load(Ordering::Relaxed).max(1)) as f64
        }),
    );
    metric(
        "argus_hits_total",
        "Hits made per source.",
        "counter",
        per(&|st, _| st.hits.load(Ordering::Relaxed) as f64),
    );
    metric(
        "argus_source_errors_total",
        "Source failures and reconnects.",
        "counter",
        per(&|st, _| st.errors.load(Ordering::Relaxed) as f64),
    );
    metric(
        "argus_outbox_depth",
        "Hits waiting for triage's receipt.",
        "gauge",
        one(s.outbox.len() as f64),
    );
    metric(
        "argus_outbox_oldest_seconds",
        "Age of the oldest hit without a receipt, seconds.",
        "gauge",
        one(s.outbox.oldest_age().map_or(0.0, |d| d.as_secs_f64())),
    );
    metric(
        "argus_disk_free_bytes",
        "Free space where the outbox lives, bytes.",
        "gauge",
        one(s.disk.free_bytes().unwrap_or(0) as f64),
    );
    metric(
        "argus_disk_full",
        "1 while hits wait in memory for disk space.",
        "gauge",
        one(f64::from(u8::from(s.disk.full.load(Ordering::Relaxed)))),
    );
    let offsets: Vec<(String, f64)> = [
        ("docks", s.clock.offset_s()),
        (
            "triage",
            s.publish.as_ref().and_then(|p| p.clock.offset_s()),
        ),
    ]
    .into_iter()
    .filter_map(|(r, o)| Some((format!("{{reference=\"{r}\"}}"), o?)))
    .collect();
    if !offsets.is_empty() {
        metric(
            "argus_clock_offset_seconds",
            "This agent's clock minus its reference's (the docks' OSD, triage's receipts), seconds.",
            "gauge",
            offsets,
        );
    }
    if let Some(p) = &s.publish {
        let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        metric(
            "argus_hits_acked_total",
            "Hits the broker acknowledged.",
            "counter",
            one(c(&p.acked)),
        );
        metric(
            "argus_hits_receipted_total",
            "Hits triage confirmed stored.",
            "counter",
            one(c(&p.receipted)),
        );
        metric(
            "argus_hits_refused_total",
            "Hits triage refused (dead letters).",
            "counter",
            one(c(&p.refused)),
        );
        metric(
            "argus_hits_resent_total",
            "Hits sent again for want of a receipt.",
            "counter",
            one(c(&p.resent)),
        );
        metric(
            "argus_broker_connected",
            "1 when connected to the broker.",
            "gauge",
            one(f64::from(u8::from(p.connected.load(Ordering::Relaxed)))),
        );
    }
    out
}
