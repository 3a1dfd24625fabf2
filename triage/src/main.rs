//! `triage`: the Argus central service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use argus_core::map::Map;
use argus_triage::auth::Tokens;
use argus_triage::broker::EmbeddedBroker;
use argus_triage::config::{BrokerChoice, Config};
use argus_triage::engine::Routing;
use argus_triage::ingest::Ingest;
use argus_triage::mqtt::{self, IngestStatus, ListenOptions};
use argus_triage::store::{self, Pool};
use argus_triage::{api, dashboard};
use axum::serve::ListenerExt as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "triage", version, about = "Argus triage: hits in, tickets out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: take hits from the broker into tickets.
    Serve(Flags),
}

/// Live-feed events held for slow readers (a batch of 500 hits makes 1,000 or more).
const FEED_CAPACITY: usize = 16_384;

/// `triage serve`'s flags; each overrides its key in the config.
#[derive(Args, Debug)]
struct Flags {
    /// TOML config (flags override its keys).
    #[arg(long)]
    config: Option<PathBuf>,
    /// An external broker, `mqtt://host:port` or `mqtts://host:port`.
    #[arg(long, conflicts_with = "broker_listen")]
    mqtt: Option<String>,
    /// Run the embedded broker on this address (the default, on 127.0.0.1:1883, when no
    /// external broker is configured).
    #[arg(long)]
    broker_listen: Option<String>,
    /// Store, `sqlite:PATH` or `postgres://user@host:port/db`.
    #[arg(long)]
    db: Option<String>,
    /// District GeoJSON whose `jurisdiction` and `grid_cell` layers route tickets.
    #[arg(long)]
    district: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long)]
    http: Option<String>,
    /// Bearer tokens, one `role:token` a line (viewer, operator, admin).
    #[arg(long)]
    tokens: Option<PathBuf>,
}

fn serve(flags: Flags) -> Result<()> {
    let Flags {
        config,
        mqtt: mqtt_url,
        broker_listen,
        db,
        district,
        http,
        tokens,
    } = flags;
    let mut cfg = match &config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(u) = mqtt_url {
        cfg.mqtt.url = Some(u);
        cfg.mqtt.listen = None;
    }
    if let Some(l) = broker_listen {
        cfg.mqtt.listen = Some(l);
        cfg.mqtt.url = None;
    }
    if let Some(d) = db {
        cfg.db = d;
    }
    if let Some(d) = district {
        cfg.district = Some(d);
    }
    if let Some(h) = http {
        cfg.http = h;
    }
    if let Some(t) = tokens {
        cfg.tokens = Some(t);
    }
    let tokens = match &cfg.tokens {
        Some(p) => Tokens::load(p)?,
        None => {
            tracing::warn!("no tokens file: reads are open and every change is refused");
            Tokens::default()
        }
    };
    let db_shown = argus_core::redact::url(&cfg.db);
    let store = store::open(&cfg.db).with_context(|| format!("opening the store {db_shown}"))?;
    let (map, basemap) = match &cfg.district {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading district {}", p.display()))?;
            let map =
                Map::from_geojson(&text).with_context(|| format!("district {}", p.display()))?;
            (Some(map), Some(dashboard::basemap(&text)?.into()))
        }
        None => (None, None),
    };
    if map.is_none() {
        tracing::warn!("no district map: tickets are not routed to units");
    }
    let ingest = Ingest::new(
        store,
        cfg.rules.clone(),
        cfg.intake.clone(),
        Routing::new(map),
    )?;
    let broker_alive = Arc::new(AtomicBool::new(true));
    let (url, shared, broker) = match cfg.mqtt.broker()? {
        BrokerChoice::External(url) => (url, true, None),
        BrokerChoice::Embedded(addr) => {
            let b = EmbeddedBroker::start(addr)?;
            (b.url(), false, Some(b))
        }
    };
    let password = cfg
        .mqtt
        .password_file
        .as_ref()
        .map(|f| {
            std::fs::read_to_string(f)
                .map(|s| s.trim_end().to_string())
                .with_context(|| format!("mqtt.password_file {}", f.display()))
        })
        .transpose()?;
    let ca_pem = cfg
        .mqtt
        .ca_file
        .as_ref()
        .map(|f| std::fs::read(f).with_context(|| format!("mqtt.ca_file {}", f.display())))
        .transpose()?;
    let opts = ListenOptions {
        url: url.clone(),
        client_id: cfg.mqtt.client_id.clone(),
        credentials: cfg
            .mqtt
            .username
            .clone()
            .map(|u| (u, password.unwrap_or_default())),
        ca_pem,
        shared,
        ..ListenOptions::default()
    };
    // A TLS or URL mistake is reported now, not by an ingest thread that never connects.
    opts.check()?;
    // Room for a few full batches of events: a reader that falls further behind skips ahead.
    let (feed, _) = tokio::sync::broadcast::channel(FEED_CAPACITY);
    let mut ingest = ingest;
    ingest.set_feed(feed.clone());
    let counters = ingest.counters.clone();
    let ingest = Arc::new(Mutex::new(ingest));
    let stop = Arc::new(AtomicBool::new(false));
    let status = Arc::new(IngestStatus::new());
    // Set when a supervised thread is gone for good: the service stops and exits non-zero.
    let failed = Arc::new(tokio::sync::Notify::new());
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let supervisor = supervise_ingest(
        opts,
        ingest.clone(),
        stop.clone(),
        status.clone(),
        failed.clone(),
        failure.clone(),
    )?;
    if let Some(b) = broker {
        let (alive, failed, failure) = (broker_alive.clone(), failed.clone(), failure.clone());
        std::thread::Builder::new()
            .name("broker-watch".into())
            .spawn(move || {
                let why = b.wait();
                alive.store(false, Ordering::SeqCst);
                tracing::error!(error = %why, "the embedded broker stopped; triage exits");
                *failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("the embedded broker stopped: {why}"));
                failed.notify_one();
            })
            .context("spawning the broker watch")?;
    }
    let app = Arc::new(api::App {
        ingest,
        reads: Pool::new(&cfg.db, READ_POOL),
        counters,
        status,
        broker_alive,
        tokens,
        feed,
        basemap,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Reads and changes run on blocking threads (the stores block): bounded.
        .max_blocking_threads(READ_POOL + 8)
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let addr = cfg.http.clone();
    runtime.block_on(async move {
        let socket = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        tracing::info!(http = %addr, db = %db_shown, mqtt = %url, "triage serving");
        // Live-feed events are small writes: sent at once, not after the reader's delayed ACK.
        let socket = socket.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(socket, api::router(app))
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = failed.notified() => {}
                }
            })
            .await
            .context("HTTP server")
    })?;
    stop.store(true, Ordering::SeqCst);
    supervisor
        .join()
        .map_err(|_| anyhow::anyhow!("the ingest supervisor panicked"))?;
    if let Some(why) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        anyhow::bail!("{why}");
    }
    Ok(())
}

/// Reads served at once (each on a connection of its own).
const READ_POOL: usize = 8;

/// Runs the ingest thread, starting it again after a panic (a bug, never bad input: that is a
/// dead letter) up to five times in ten minutes; after that, or when listening cannot start,
/// the service is told to stop and exit non-zero.
fn supervise_ingest(
    opts: ListenOptions,
    ingest: Arc<Mutex<argus_triage::ingest::Ingest>>,
    stop: Arc<AtomicBool>,
    status: Arc<IngestStatus>,
    failed: Arc<tokio::sync::Notify>,
    failure: Arc<Mutex<Option<String>>>,
) -> Result<std::thread::JoinHandle<()>> {
    let give_up = move |why: String| {
        tracing::error!(error = %why, "ingest stopped for good; triage exits");
        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        failed.notify_one();
    };
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
                    Err(e) => return give_up(format!("cannot start the ingest thread: {e}")),
                };
                match outcome {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => return give_up(e.to_string()),
                    Err(_) if stop.load(Ordering::SeqCst) => return,
                    Err(_) => {
                        status.connected.store(false, Ordering::SeqCst);
                        restarts.retain(|t| t.elapsed() < Duration::from_secs(600));
                        restarts.push(Instant::now());
                        if restarts.len() > 5 {
                            return give_up(
                                "the ingest thread panicked six times in ten minutes".into(),
                            );
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
        .context("spawning the ingest supervisor")
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = match Cli::parse().command {
        Command::Serve(flags) => serve(flags),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("triage: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
