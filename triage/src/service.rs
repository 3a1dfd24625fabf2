//! Triage as a running service: the store, the broker (embedded or external), the supervised
//! ingest thread, and the HTTP API on a runtime of its own. `triage serve` is a thin command
//! line over [`Service::start`]; tests and the demo run the same service in-process.
//!
//! ```no_run
//! use argus_triage::config::Config;
//! use argus_triage::service::Service;
//!
//! let cfg = Config {
//!     db: "sqlite:/tmp/triage.db".into(),
//!     http: "127.0.0.1:0".into(),
//!     ..Config::default()
//! };
//! let service = Service::start(cfg)?;
//! println!("API at http://{}", service.http_addr());
//! service.wait_subscribed(std::time::Duration::from_secs(10));
//! service.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use argus_core::map::Map;

use crate::api;
use crate::auth::{Tokens, TokensError};
use crate::broker::{BrokerError, EmbeddedBroker};
use crate::config::{BrokerChoice, Config, ConfigError};
use crate::dashboard::{self, BasemapError};
use crate::engine::Routing;
use crate::ingest::Ingest;
use argus_net::mqtt::{Login, MqttError};

use crate::mqtt::{self, IngestStatus, ListenOptions};
use crate::store::{self, Pool, READ_NICE, StoreError};

/// Live-feed events held for slow readers (a batch of 500 hits makes 1,000 or more).
const FEED_CAPACITY: usize = 16_384;

/// The HTTP listener's bounds: headers within 10 s, 2,048 connections at once and 128 from one
/// address (a dashboard holds a live feed and a few requests; an office behind one address
/// holds a few dozen dashboards), so slow or idle sockets cannot take the descriptors the
/// broker and the stores need. No bound on a whole exchange: live feeds stay open.
const HTTP_LISTEN: argus_net::Listen = argus_net::Listen {
    max_connections: 2048,
    per_client: 128,
    header_timeout: Duration::from_secs(10),
    exchange_timeout: None,
    max_head: 64 * 1024,
    keep_alive: true,
};

/// Reads served at once (each on a connection of its own).
const READ_POOL: usize = 8;

/// Why the service cannot start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The config does not fit together.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The tokens file.
    #[error(transparent)]
    Tokens(#[from] TokensError),
    /// The class catalog.
    #[error("{0}")]
    Catalog(String),
    /// A config value out of range, or not fitting the catalog.
    #[error("config: {0}")]
    Values(String),
    /// The patrols (plans, docks) cannot be flown.
    #[error("[patrols]: {0}")]
    Patrols(#[from] crate::patrols::PatrolError),
    /// The store cannot be opened.
    #[error("opening the store {url}: {source}")]
    Store {
        /// The URL, password hidden.
        url: String,
        /// Why.
        source: StoreError,
    },
    /// A file the config names.
    #[error("{what} {path}: {source}")]
    File {
        /// Which key.
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The district map.
    #[error("district {path}: {why}")]
    District {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The basemap.
    #[error(transparent)]
    Basemap(#[from] BasemapError),
    /// The embedded broker.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The broker URL or its TLS set-up.
    #[error(transparent)]
    Listen(#[from] MqttError),
    /// The HTTP address.
    #[error("listening on {addr}: {source}")]
    Http {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A thread or runtime could not start.
    #[error("starting {what}: {source}")]
    Spawn {
        /// Which.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A supervised part stopped for good.
    #[error("{0}")]
    Failed(String),
}

/// Why the service stopped on its own, once it has.
#[derive(Debug, Default)]
struct Failure {
    why: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Failure {
    fn set(&self, why: String) {
        tracing::error!(error = %why, "a supervised part of triage stopped for good");
        self.why
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(why);
        self.notify.notify_one();
    }

    fn get(&self) -> Option<String> {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A running triage.
#[derive(Debug)]
pub struct Service {
    http: SocketAddr,
    broker_url: String,
    status: Arc<IngestStatus>,
    stop: Arc<AtomicBool>,
    failure: Arc<Failure>,
    http_stop: Option<tokio::sync::oneshot::Sender<()>>,
    http_thread: Option<JoinHandle<()>>,
    supervisor: Option<JoinHandle<()>>,
    sweeper: Option<JoinHandle<()>>,
    // The embedded broker lives as long as the service.
    _broker: Option<Arc<EmbeddedBroker>>,
    patrols: Option<Arc<crate::patrols::Patrols>>,
    dock_link: Option<JoinHandle<()>>,
}

fn read_file(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ServiceError> {
    std::fs::read(path).map_err(|source| ServiceError::File {
        what,
        path: path.display().to_string(),
        source,
    })
}

impl Service {
    /// Starts every part and returns once the HTTP API listens (the broker subscription
    /// follows: [`Service::wait_subscribed`]).
    pub fn start(mut cfg: Config) -> Result<Self, ServiceError> {
        let catalog = Arc::new(
            argus_core::catalog::Catalog::load(cfg.classes.as_deref())
                .map_err(|e| ServiceError::Catalog(e.to_string()))?,
        );
        cfg.check().map_err(ServiceError::Values)?;
        if cfg.intake.classes_listed {
            // Only the catalog's violations can be taken: a class it lacks has no category,
            // radius or Open311 service.
            if let Some(c) = cfg
                .intake
                .classes
                .iter()
                .find(|c| catalog.violation(c).is_none())
            {
                return Err(ServiceError::Values(format!(
                    "[intake] classes: {c:?} is not a violation of the class catalog ({})",
                    catalog
                        .violations
                        .iter()
                        .map(|v| v.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        } else {
            cfg.intake.classes = catalog.violations.iter().map(|v| v.id.clone()).collect();
        }
        cfg.rules.catalog = catalog.clone();
        let tokens = match &cfg.tokens {
            Some(p) => Tokens::load(p)?,
            None => {
                tracing::warn!("no tokens file: reads are open and every change is refused");
                Tokens::default()
            }
        };
        // Every plan is read and planned before anything starts: one that cannot be flown
        // stops triage, naming its file.
        let patrols = match &cfg.patrols {
            Some(p) => {
                let loaded = crate::patrols::Patrols::load(p)?;
                tracing::info!(
                    plans = loaded.patrols.len(),
                    docks = loaded.docks.docks.len(),
                    "patrols loaded"
                );
                Some(Arc::new(loaded))
            }
            None => None,
        };
        let db_shown = argus_core::redact::url(&cfg.db);
        let store = store::open(&cfg.db).map_err(|source| ServiceError::Store {
            url: db_shown.clone(),
            source,
        })?;
        let (map, basemap) = match &cfg.district {
            Some(p) => {
                let text = String::from_utf8_lossy(&read_file("district", p)?).into_owned();
                let map = Map::from_geojson(&text).map_err(|e| ServiceError::District {
                    path: p.display().to_string(),
                    why: e.to_string(),
                })?;
                (Some(map), Some(dashboard::basemap(&text)?.into()))
            }
            None => (None, None),
        };
        if map.is_none() {
            tracing::warn!("no district map: tickets are not routed to units");
        }
        let mut ingest = Ingest::new(
            store,
            cfg.rules.clone(),
            cfg.intake.clone(),
            Routing::new(map),
        )
        .map_err(|source| ServiceError::Store {
            url: db_shown.clone(),
            source,
        })?;
        let failure = Arc::new(Failure::default());
        let broker_alive = Arc::new(AtomicBool::new(true));
        let (url, shared, broker, logins) = match cfg.mqtt.broker()? {
            BrokerChoice::External(url) => (url, true, None, None),
            BrokerChoice::Embedded(addr) => {
                let logins = crate::broker::Logins::read(
                    cfg.mqtt.credentials.as_deref(),
                    cfg.mqtt.acl.as_deref(),
                )?;
                let b = Arc::new(EmbeddedBroker::start(addr, logins.clone())?);
                (b.url(), false, Some(b), logins)
            }
        };
        let mut connection = Login {
            username: cfg.mqtt.username.as_deref(),
            password: None,
            password_file: cfg.mqtt.password_file.as_deref(),
            ca_file: cfg.mqtt.ca_file.as_deref(),
        }
        .connection(url.clone())?;
        if let Some(logins) = &logins {
            // Triage logs in to its own broker as `triage`, with that user's password unless
            // the config gives one.
            let (user, password) = connection
                .credentials
                .get_or_insert_with(|| ("triage".into(), String::new()));
            if cfg.mqtt.password_file.is_none() {
                *password = logins
                    .passwords
                    .get(user.as_str())
                    .cloned()
                    .unwrap_or_default();
            }
        }
        let opts = ListenOptions {
            connection,
            client_id: cfg.mqtt.client_id.clone(),
            shared,
            ..ListenOptions::default()
        };
        // A TLS or URL mistake is reported now, not by an ingest thread that never connects.
        opts.connection.check()?;
        // Room for a few full batches of events: a reader that falls further behind skips ahead.
        let (feed, _) = tokio::sync::broadcast::channel(FEED_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        ingest.set_feed(feed.clone());
        let counters = ingest.counters.clone();
        let ingest = Arc::new(Mutex::new(ingest));
        let status = Arc::new(IngestStatus::new());
        // SLA deadlines are checked every second on a connection and a thread of their own,
        // whatever the broker's state.
        let sweeper = {
            let store = store::open(&cfg.db).map_err(|source| ServiceError::Store {
                url: db_shown.clone(),
                source,
            })?;
            let mut sweeper = Ingest::new(
                store,
                cfg.rules.clone(),
                cfg.intake.clone(),
                Routing::new(None),
            )
            .map_err(|source| ServiceError::Store {
                url: db_shown.clone(),
                source,
            })?;
            sweeper.set_feed(feed.clone());
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("sla-sweeper".into())
                .spawn(move || {
                    let mut failing = false;
                    while !stop.load(Ordering::SeqCst) {
                        match sweeper.sweep(argus_core::clock::now_unix_s()) {
                            Ok(_) => failing = false,
                            Err(e) if !failing => {
                                tracing::error!(error = %e, "SLA sweep failed; retrying every second");
                                failing = true;
                            }
                            Err(_) => {}
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
                .map_err(|source| ServiceError::Spawn {
                    what: "the SLA sweeper",
                    source,
                })?
        };
        // The dock link uses the broker as the ingest does.
        let (link_connection, link_shared) = (opts.connection.clone(), opts.shared);
        let supervisor = supervise_ingest(
            opts,
            ingest.clone(),
            stop.clone(),
            status.clone(),
            failure.clone(),
        )?;
        if let Some(b) = &broker {
            let (b, alive, failure) = (b.clone(), broker_alive.clone(), failure.clone());
            std::thread::Builder::new()
                .name("broker-watch".into())
                .spawn(move || {
                    let why = b.wait();
                    alive.store(false, Ordering::SeqCst);
                    failure.set(format!("the embedded broker stopped: {why}"));
                })
                .map_err(|source| ServiceError::Spawn {
                    what: "the broker watch",
                    source,
                })?;
        }
        // Patrols: the dispatcher on a store connection of its own, linked to the docks'
        // broker on a session of its own.
        let (dispatcher, dock_link) = match (&patrols, &cfg.patrols) {
            (Some(p), Some(pc)) => {
                let store = store::open(&cfg.db).map_err(|source| ServiceError::Store {
                    url: db_shown.clone(),
                    source,
                })?;
                let d = crate::dispatch::Dispatcher::new(
                    p.clone(),
                    pc.clone(),
                    store,
                    argus_core::clock::now_unix_s(),
                )
                .map_err(|source| ServiceError::Store {
                    url: db_shown.clone(),
                    source,
                })?;
                let d = match &cfg.verification {
                    Some(v) => d.verifying(v.clone(), argus_core::clock::now_unix_s()),
                    None => d,
                };
                let d = Arc::new(Mutex::new(d));
                let link = crate::docklink::LinkOptions {
                    connection: link_connection,
                    client_id: pc.client_id.clone(),
                    shared: link_shared,
                    gateways: p.docks.docks.iter().filter_map(|d| d.sn.clone()).collect(),
                };
                let (d2, stop2, failure2) = (d.clone(), stop.clone(), failure.clone());
                let h = std::thread::Builder::new()
                    .name("dock-link".into())
                    .spawn(move || {
                        if let Err(e) = crate::docklink::serve(&link, &d2, &stop2) {
                            failure2.set(format!("the dock link cannot start: {e}"));
                        }
                    })
                    .map_err(|source| ServiceError::Spawn {
                        what: "the dock link",
                        source,
                    })?;
                (Some(d), Some(h))
            }
            _ => (None, None),
        };
        let spawn = |what| move |source| ServiceError::Spawn { what, source };
        let reads = Pool::new(&cfg.db, READ_POOL, READ_NICE).map_err(spawn("the readers"))?;
        let probes = Pool::new(&cfg.db, 1, 0).map_err(spawn("the probes' reader"))?;
        let app = Arc::new(api::App {
            ingest,
            reads,
            probes,
            counters,
            status: status.clone(),
            broker_alive,
            tokens,
            feed,
            basemap,
            catalog,
            testsuite_routes: cfg.testsuite_routes,
            dispatcher,
            patrols: patrols.clone(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Changes run on blocking threads (the stores block; reads have threads of their
            // own): bounded.
            .max_blocking_threads(8)
            .thread_name("triage-http")
            .enable_all()
            .build()
            .map_err(|source| ServiceError::Spawn {
                what: "the HTTP runtime",
                source,
            })?;
        let socket = match runtime.block_on(tokio::net::TcpListener::bind(&cfg.http)) {
            Ok(s) => s,
            Err(source) => {
                // The threads started so far stop with the service that never was.
                stop.store(true, Ordering::SeqCst);
                return Err(ServiceError::Http {
                    addr: cfg.http.clone(),
                    source,
                });
            }
        };
        let http = socket.local_addr().map_err(|source| ServiceError::Http {
            addr: cfg.http.clone(),
            source,
        })?;
        tracing::info!(http = %http, db = %db_shown, mqtt = %argus_core::redact::url(&url), "triage serving");
        let client_limits = cfg.http_limits;
        let (http_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let http_thread = std::thread::Builder::new()
            .name("triage-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let router = api::router_limited(app, client_limits);
                    argus_net::serve(socket, router, HTTP_LISTEN, async move {
                        let _ = stopped.await;
                    })
                    .await;
                });
                // Open feeds and slow readers do not hold the exit up.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|source| ServiceError::Spawn {
                what: "the HTTP thread",
                source,
            })?;
        Ok(Self {
            http,
            broker_url: url,
            status,
            stop,
            failure,
            http_stop: Some(http_stop),
            http_thread: Some(http_thread),
            supervisor: Some(supervisor),
            sweeper: Some(sweeper),
            _broker: broker,
            patrols,
            dock_link,
        })
    }

    /// The patrols it flies (`[patrols]`), as loaded at start.
    pub fn patrols(&self) -> Option<&crate::patrols::Patrols> {
        self.patrols.as_deref()
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The broker triage listens on (`mqtt://…`).
    pub fn broker_url(&self) -> &str {
        &self.broker_url
    }

    /// How intake is doing.
    pub fn status(&self) -> &IngestStatus {
        &self.status
    }

    /// Waits until subscribed to hits; false after `timeout`.
    pub fn wait_subscribed(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while !self.status.connected.load(Ordering::SeqCst) {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Blocks until a supervised part stops for good, or `interrupt` resolves; says which.
    pub fn run_until<F: std::future::Future<Output = ()>>(
        &self,
        interrupt: F,
    ) -> Result<(), ServiceError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ServiceError::Spawn {
                what: "the signal runtime",
                source,
            })?;
        let failure = self.failure.clone();
        rt.block_on(async move {
            tokio::select! {
                _ = interrupt => {}
                _ = failure.notify.notified() => {}
            }
        });
        match self.failure.get() {
            Some(why) => Err(ServiceError::Failed(why)),
            None => Ok(()),
        }
    }

    /// Stops every part: the API, then the ingest (its batch committed or left for the broker
    /// to send again). Says why if a part had failed.
    pub fn shutdown(mut self) -> Result<(), ServiceError> {
        self.stop_all();
        match self.failure.get() {
            Some(why) => Err(ServiceError::Failed(why)),
            None => Ok(()),
        }
    }

    fn stop_all(&mut self) {
        if let Some(s) = self.http_stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.http_thread.take() {
            let _ = h.join();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.supervisor.take() {
            let _ = h.join();
        }
        if let Some(h) = self.sweeper.take() {
            let _ = h.join();
        }
        if let Some(h) = self.dock_link.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Runs the ingest thread, starting it again after a panic (a bug, never bad input: that is a
/// dead letter) up to five times in ten minutes; after that, or when listening cannot start,
/// the service is told to stop.
fn supervise_ingest(
    opts: ListenOptions,
    ingest: Arc<Mutex<Ingest>>,
    stop: Arc<AtomicBool>,
    status: Arc<IngestStatus>,
    failure: Arc<Failure>,
) -> Result<JoinHandle<()>, ServiceError> {
    std::thread::Builder::new()
        .name("ingest-supervisor".into())
        .spawn(move || {
            let mut restarts: Vec<Instant> = Vec::new();
            loop {
                let run = {
                    let (opts, ingest, stop, status) =
                        (opts.clone(), ingest.clone(), stop.clone(), status.clone());
                    std::thread::Builder::new()
                        .name("mqtt-ingest".into())
                        .spawn(move || mqtt::listen(&opts, &ingest, &stop, &status))
                };
                let outcome = match run {
                    Ok(h) => h.join(),
                    Err(e) => return failure.set(format!("cannot start the ingest thread: {e}")),
                };
                match outcome {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => return failure.set(e.to_string()),
                    Err(_) if stop.load(Ordering::SeqCst) => return,
                    Err(_) => {
                        status.connected.store(false, Ordering::SeqCst);
                        restarts.retain(|t| t.elapsed() < Duration::from_secs(600));
                        restarts.push(Instant::now());
                        if restarts.len() > 5 {
                            return failure
                                .set("the ingest thread panicked six times in ten minutes".into());
                        }
                        tracing::error!(
                            restarts = restarts.len(),
                            "the ingest thread panicked; starting it again"
                        );
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })
        .map_err(|source| ServiceError::Spawn {
            what: "the ingest supervisor",
            source,
        })
}
