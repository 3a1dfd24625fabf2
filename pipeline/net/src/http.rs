//! An HTTP/1.1 listener for an axum [`Router`] that a hostile or unlucky client cannot take
//! down.
//!
//! Each connection is a task of its own, so a slow client never holds up another. Request
//! headers must arrive within [`Listen::header_timeout`] and fit in [`Listen::max_head`]; a
//! whole exchange may be bounded too ([`Listen::exchange_timeout`], off for live feeds). At
//! most [`Listen::max_connections`] connections are served at once, and at most
//! [`Listen::per_client`] from one address (past it a new connection is closed at once), so
//! neither one client nor a crowd of idle sockets can take every file descriptor. A failing
//! `accept` (out of descriptors) waits a little instead of spinning. A handler that panics
//! answers `500` and costs only its own request. Handlers see the peer's address as axum's
//! `ConnectInfo<SocketAddr>`.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use axum::{Router, routing::get};
//! let app = Router::new().route("/health", get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! argus_net::serve(listener, app, argus_net::Listen::default(), std::future::pending()).await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse as _;
use futures_util::FutureExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

/// The listener's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections at once from one address.
    pub per_client: usize,
    /// Time for a client to send its request headers.
    pub header_timeout: Duration,
    /// Time for a whole connection, if bounded (not for live feeds).
    pub exchange_timeout: Option<Duration>,
    /// Largest request head read, bytes.
    pub max_head: usize,
    /// Whether a connection may carry several requests.
    pub keep_alive: bool,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            per_client: 64,
            header_timeout: Duration::from_secs(10),
            exchange_timeout: None,
            max_head: 16 * 1024,
            keep_alive: true,
        }
    }
}

/// Connections open per client address.
#[derive(Debug, Default)]
struct Clients(Mutex<HashMap<IpAddr, usize>>);

impl Clients {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Visit> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Visit {
            clients: self.clone(),
            ip,
        })
    }
}

/// One open connection of a client; dropping it counts it out.
#[derive(Debug)]
struct Visit {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Drop for Visit {
    fn drop(&mut self) {
        let mut m = self.clients.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves (connections still
/// open then are dropped with the runtime).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Listen,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let clients = Arc::new(Clients::default());
    let mut last_error: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = &mut shutdown => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => return,
        };
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "HTTP listener: accept failed (retrying every 100 ms; said once in 10 s)");
                    last_error = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(visit) = clients.enter(peer.ip(), limits.per_client) else {
            // Over its share: closed at once.
            continue;
        };
        // Small writes (live-feed events) leave at once.
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let (method, path) = (req.method().clone(), req.uri().path().to_string());
                    let app = app.clone();
                    // A handler that panics answers 500 and costs only its own request.
                    async move {
                        match AssertUnwindSafe(app.oneshot(req)).catch_unwind().await {
                            Ok(answer) => answer,
                            Err(_) => {
                                tracing::error!(%method, path = %path.escape_debug(), "a request handler panicked; answered 500");
                                Ok((StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                                    .into_response())
                            }
                        }
                    }
                },
            );
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(limits.max_head.max(8192))
                .keep_alive(limits.keep_alive);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            match limits.exchange_timeout {
                Some(t) => {
                    let _ = tokio::time::timeout(t, conn).await;
                }
                None => {
                    let _ = conn.await;
                }
            }
            drop((permit, visit));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn get(addr: SocketAddr, path: &str) -> Option<String> {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.ok()?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .ok()?
            .ok()?;
        (!out.is_empty()).then_some(out)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_and_greedy_clients_do_not_shut_out_others() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/ip",
                axum::routing::get(|ConnectInfo(p): ConnectInfo<SocketAddr>| async move {
                    p.ip().to_string()
                }),
            )
            .route(
                "/bug",
                axum::routing::get(
                    |axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                        // A handler that trips over an input it did not expect.
                        let n: u32 = q.unwrap_or_default().parse().unwrap_or(0);
                        (10 / n).to_string()
                    },
                ),
            );
        let limits = Listen {
            per_client: 4,
            header_timeout: Duration::from_secs(2),
            ..Listen::default()
        };
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        // Handlers see the peer.
        assert!(get(addr, "/ip").await.unwrap().ends_with("127.0.0.1"));
        // A handler that panics answers 500, and the next request is served.
        assert!(get(addr, "/bug").await.unwrap().starts_with("HTTP/1.1 500"));
        assert!(get(addr, "/ip").await.unwrap().starts_with("HTTP/1.1 200"));
        // Four slow-loris sockets fill this address's share: a fifth is closed at once...
        let mut slow = Vec::new();
        for _ in 0..4 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /ip HTTP/1.1\r\n").await.unwrap();
            slow.push(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            get(addr, "/ip").await,
            None,
            "a fifth connection from one address"
        );
        // ...until their headers time out and their places come back.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(get(addr, "/ip").await.is_some(), "the share came back");
    }
}
