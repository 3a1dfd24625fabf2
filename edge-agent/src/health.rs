//! `/health` (JSON) and `/metrics` (Prometheus text) on a small HTTP/1.1 listener.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};

use crate::agent::AgentState;

/// Starts serving on `listen` (`ADDR:PORT`) in a thread; returns the bound address.
pub fn serve(listen: &str, state: Arc<AgentState>) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(listen).with_context(|| format!("health.listen {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "health and metrics at http://{addr}/health and /metrics");
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer(conn, &state);
            }
        })?;
    Ok(addr)
}

fn answer(mut conn: TcpStream, state: &AgentState) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, kind, body) = match path {
        "/health" => ("200 OK", "application/json", health(state)),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics(state)),
        _ => (
            "404 Not Found",
            "text/plain",
            "try /health or /metrics\n".to_string(),
        ),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn health(s: &AgentState) -> String {
    let sources: Vec<serde_json::Value> = s
        .sources
        .iter()
        .map(|(id, q, st)| {
            serde_json::json!({
                "id": id,
                "up": st.up.load(Ordering::Relaxed),
                "ended": q.ended.load(Ordering::Relaxed),
                "frames": st.decoded.load(Ordering::Relaxed),
                "last_error": st.last_error.lock().map(|e| e.clone()).unwrap_or_default(),
            })
        })
        .collect();
    let connected = s
        .publish
        .as_ref()
        .is_some_and(|p| p.connected.load(Ordering::Relaxed));
    serde_json::json!({
        "agent_id": s.agent_id,
        "status": if connected { "ok" } else { "degraded" },
        "broker_connected": connected,
        "outbox": s.outbox.len(),
        "sources": sources,
    })
    .to_string()
}

fn metrics(s: &AgentState) -> String {
    let mut out = String::new();
    let up_s = s.started.elapsed().as_secs_f64().max(1e-9);
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, f64)>| {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in rows {
            out += &format!("{name}{labels} {v}\n");
        }
    };
    let per = |f: &dyn Fn(&crate::agent::SourceStats, &crate::agent::FrameQueue) -> f64| -> Vec<(String, f64)> {
        s.sources.iter().map(|(id, q, st)| (format!("{{source=\"{id}\"}}"), f(st, q))).collect()
    };
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
        "Live frames dropped because the worker fell behind.",
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
        "Hits waiting for the broker's acknowledgement.",
        "gauge",
        vec![(String::new(), s.outbox.len() as f64)],
    );
    if let Some(p) = &s.publish {
        metric(
            "argus_hits_acked_total",
            "Hits the broker acknowledged.",
            "counter",
            vec![(String::new(), p.acked.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "argus_broker_connected",
            "1 when connected to the broker.",
            "gauge",
            vec![(
                String::new(),
                f64::from(u8::from(p.connected.load(Ordering::Relaxed))),
            )],
        );
    }
    out
}
