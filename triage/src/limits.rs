//! Per-client limits on the HTTP API, so one client (a script polling too fast, a scraper, an
//! attacker) cannot starve the others or the ingest: each client address gets a token bucket
//! of requests per second and a bound on requests in flight; past either it is told `429 Too
//! Many Requests` with a `Retry-After`. A live feed counts while it is being opened, not while
//! it streams.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How much one client may ask.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimits {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests at once above the sustained rate (the bucket's size).
    pub burst: f64,
    /// Requests in flight at once.
    pub concurrent: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 200.0,
            concurrent: 16,
        }
    }
}

#[derive(Debug)]
struct Client {
    tokens: f64,
    at: Instant,
    in_flight: usize,
}

/// Clients tracked at most; idle ones are forgotten first.
const MAX_CLIENTS: usize = 10_000;

/// The limiter's state, shared by every request.
#[derive(Debug)]
pub struct Limiter {
    limits: ClientLimits,
    clients: Mutex<HashMap<IpAddr, Client>>,
}

impl Limiter {
    /// A limiter enforcing `limits` per client address.
    pub fn new(limits: ClientLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a request of `ip`: its slot, given back when dropped (the request answered, or
    /// its client gone mid-way), or `Err(seconds to wait)` when over a limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, f64> {
        let l = self.limits;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&ip) {
            clients.retain(|_, c| c.in_flight > 0 || c.at.elapsed().as_secs_f64() < 60.0);
        }
        let c = clients.entry(ip).or_insert(Client {
            tokens: l.burst,
            at: Instant::now(),
            in_flight: 0,
        });
        let now = Instant::now();
        c.tokens = (c.tokens + now.duration_since(c.at).as_secs_f64() * l.per_second).min(l.burst);
        c.at = now;
        if c.in_flight >= l.concurrent {
            return Err(1.0);
        }
        if c.tokens < 1.0 {
            return Err((1.0 - c.tokens) / l.per_second.max(1e-3));
        }
        c.tokens -= 1.0;
        c.in_flight += 1;
        Ok(Slot {
            limiter: self.clone(),
            ip,
        })
    }

    fn done(&self, ip: IpAddr) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get_mut(&ip) {
            c.in_flight = c.in_flight.saturating_sub(1);
        }
    }
}

/// A request in flight. Dropping it gives its place back, also when the client goes away before
/// the answer and the request's future is dropped half-way.
#[derive(Debug)]
struct Slot {
    limiter: Arc<Limiter>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.done(self.ip);
    }
}

/// The middleware: admits or refuses each request by its client's address.
pub async fn limit(
    State(limiter): State<Arc<Limiter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    match limiter.admit(ip) {
        Ok(_slot) => next.run(request).await,
        Err(wait_s) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(serde_json::json!({"error": "too many requests from this client"})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{}", wait_s.ceil().max(1.0))) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_past_its_rate_or_its_concurrency_waits_and_others_do_not() {
        let l = Limiter::new(ClientLimits {
            per_second: 10.0,
            burst: 5.0,
            concurrent: 3,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let held: Vec<Slot> = (0..3).map(|_| l.admit(a).unwrap()).collect();
        assert!(l.admit(a).is_err(), "a fourth request in flight");
        assert!(l.admit(b).is_ok(), "another client is not held up");
        // Answered, or abandoned by their client: either way the places come back.
        drop(held);
        // Two tokens left of five; then the bucket is empty.
        drop(l.admit(a).unwrap());
        drop(l.admit(a).unwrap());
        let wait = l.admit(a).unwrap_err();
        assert!(wait > 0.0 && wait <= 0.1, "{wait}");
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert!(l.admit(a).is_ok(), "refilled at 10/s");
    }
}
