//! `/health` (JSON) and `/metrics` (Prometheus text, by the `prometheus` crate) over HTTP/1.1
//! (axum on hyper).
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

/// A metric family: its name, help, whether it counts (else it gauges), and its samples by
/// label value (`None`: one sample without labels).
type Family<'a> = (&'a str, &'a str, bool, Vec<(Option<String>, f64)>);

/// The agent's numbers in the Prometheus text format, through the `prometheus` crate (names,
/// escaping and layout are the library's): the counters and gauges of [`AgentState`] as they
/// stand at the scrape.
fn metrics_text(s: &AgentState) -> String {
    let up_s = s.started.elapsed().as_secs_f64().max(1e-9);
    let per = |f: &dyn Fn(&SourceStats, &FrameQueue) -> f64| -> Vec<(Option<String>, f64)> {
        s.sources
            .iter()
            .map(|(id, q, st)| (Some(id.clone()), f(st, q)))
            .collect()
    };
    let one = |v: f64| vec![(None, v)];
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let flag = |b: &std::sync::atomic::AtomicBool| f64::from(u8::from(b.load(Ordering::Relaxed)));
    let mut families: Vec<(&str, Family<'_>)> = vec![
        (
            "source",
            (
                "argus_frames_decoded_total",
                "Frames decoded per source.",
                true,
                per(&|st, _| n(&st.decoded)),
            ),
        ),
        (
            "source",
            (
                "argus_frames_analysed_total",
                "Frames run through the detector per source.",
                true,
                per(&|st, _| n(&st.analysed)),
            ),
        ),
        (
            "source",
            (
                "argus_source_fps",
                "Decoded frames per second since start.",
                false,
                per(&|st, _| n(&st.decoded) / up_s),
            ),
        ),
        (
            "source",
            (
                "argus_frames_dropped_total",
                "Live frames dropped because the worker fell behind (or waited for disk space).",
                true,
                per(&|_, q| n(&q.dropped)),
            ),
        ),
        (
            "source",
            (
                "argus_queue_depth",
                "Frames waiting for the detector.",
                false,
                per(&|_, q| q.depth() as f64),
            ),
        ),
        (
            "source",
            (
                "argus_inference_ms",
                "Mean analysis time per analysed frame, milliseconds.",
                false,
                per(&|st, _| n(&st.infer_us) / 1000.0 / n(&st.analysed).max(1.0)),
            ),
        ),
        (
            "source",
            (
                "argus_hits_total",
                "Hits made per source.",
                true,
                per(&|st, _| n(&st.hits)),
            ),
        ),
        (
            "source",
            (
                "argus_source_errors_total",
                "Source failures and reconnects.",
                true,
                per(&|st, _| n(&st.errors)),
            ),
        ),
        (
            "",
            (
                "argus_outbox_depth",
                "Hits waiting for triage's receipt.",
                false,
                one(s.outbox.len() as f64),
            ),
        ),
        (
            "",
            (
                "argus_outbox_oldest_seconds",
                "Age of the oldest hit without a receipt, seconds.",
                false,
                one(s.outbox.oldest_age().map_or(0.0, |d| d.as_secs_f64())),
            ),
        ),
        (
            "",
            (
                "argus_disk_free_bytes",
                "Free space where the outbox lives, bytes.",
                false,
                one(s.disk.free_bytes().unwrap_or(0) as f64),
            ),
        ),
        (
            "",
            (
                "argus_disk_full",
                "1 while hits wait in memory for disk space.",
                false,
                one(flag(&s.disk.full)),
            ),
        ),
    ];
    let offsets: Vec<(Option<String>, f64)> = [
        ("docks", s.clock.offset_s()),
        (
            "triage",
            s.publish.as_ref().and_then(|p| p.clock.offset_s()),
        ),
    ]
    .into_iter()
    .filter_map(|(r, o)| Some((Some(r.to_string()), o?)))
    .collect();
    if !offsets.is_empty() {
        families.push(("reference", ("argus_clock_offset_seconds", "This agent's clock minus its reference's (the docks' OSD, triage's receipts), seconds.", false, offsets)));
    }
    if let Some(p) = &s.publish {
        families.extend([
            (
                "",
                (
                    "argus_hits_acked_total",
                    "Hits the broker acknowledged.",
                    true,
                    one(n(&p.acked)),
                ),
            ),
            (
                "",
                (
                    "argus_hits_receipted_total",
                    "Hits triage confirmed stored.",
                    true,
                    one(n(&p.receipted)),
                ),
            ),
            (
                "",
                (
                    "argus_hits_refused_total",
                    "Hits triage refused (dead letters).",
                    true,
                    one(n(&p.refused)),
                ),
            ),
            (
                "",
                (
                    "argus_hits_resent_total",
                    "Hits sent again for want of a receipt.",
                    true,
                    one(n(&p.resent)),
                ),
            ),
            (
                "",
                (
                    "argus_broker_connected",
                    "1 when connected to the broker.",
                    false,
                    one(flag(&p.connected)),
                ),
            ),
        ]);
    }
    let registry = prometheus::Registry::new();
    for (label, family) in families {
        let name = family.0;
        if let Err(e) = register(&registry, label, family) {
            tracing::error!(metric = name, error = %e, "a metric could not be made");
        }
    }
    let mut out = String::new();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut out) {
        tracing::error!(error = %e, "the metrics could not be written");
    }
    out
}

/// Registers one family, each sample as the library's counter or gauge set to its value.
fn register(
    registry: &prometheus::Registry,
    label: &str,
    (name, help, counts, samples): Family<'_>,
) -> Result<(), prometheus::Error> {
    let opts = prometheus::Opts::new(name, help);
    let labels: &[&str] = if label.is_empty() { &[] } else { &[label] };
    fn values(value: &Option<String>) -> Vec<&str> {
        value.iter().map(String::as_str).collect()
    }
    if counts {
        let c = prometheus::CounterVec::new(opts, labels)?;
        for (value, v) in &samples {
            c.get_metric_with_label_values(&values(value))?
                .inc_by(v.max(0.0));
        }
        registry.register(Box::new(c))
    } else {
        let g = prometheus::GaugeVec::new(opts, labels)?;
        for (value, v) in &samples {
            g.get_metric_with_label_values(&values(value))?.set(*v);
        }
        registry.register(Box::new(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ClockStatus, DiskStatus};

    #[test]
    fn metrics_are_prometheus_text_with_escaped_labels() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(SourceStats::default());
        stats.hits.store(3, Ordering::Relaxed);
        stats.decoded.store(120, Ordering::Relaxed);
        let state = AgentState {
            agent_id: "district-1".into(),
            sources: vec![
                ("cam-1".into(), Arc::new(FrameQueue::new(4)), stats),
                // A label value that must be escaped to stay one sample.
                (
                    "odd\"id\\".into(),
                    Arc::new(FrameQueue::new(4)),
                    Arc::default(),
                ),
            ],
            outbox: Arc::new(crate::outbox::Outbox::open(&dir.path().join("o"), 10).unwrap()),
            publish: None,
            started: std::time::Instant::now(),
            disk: Arc::new(DiskStatus::new(dir.path().to_path_buf())),
            clock: Arc::new(ClockStatus::default()),
        };
        let text = metrics_text(&state);
        assert!(text.contains("# TYPE argus_hits_total counter"), "{text}");
        assert!(
            text.contains("argus_hits_total{source=\"cam-1\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("argus_frames_decoded_total{source=\"cam-1\"} 120\n"),
            "{text}"
        );
        assert!(
            text.contains("argus_hits_total{source=\"odd\\\"id\\\\\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE argus_outbox_depth gauge\nargus_outbox_depth 0\n"),
            "{text}"
        );
        assert!(
            !text.contains("argus_broker_connected"),
            "no publisher, no broker metrics"
        );
    }
}
