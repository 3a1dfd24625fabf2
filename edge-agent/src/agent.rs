//! `edge-agent run`: the site daemon. Per source, a decoding thread feeds a bounded frame queue
//! and an analysis thread drives it through [`argus_analysis::drive`]; one ONNX session serves
//! every source's batches in turn ([`argus_analysis::Shared`]); hits go to the durable outbox,
//! which the MQTT publisher drains.
//!
//! Live sources (RTSP, RTP/UDP) keep only their newest frames when the worker falls behind and
//! reconnect with backoff when they drop; files never lose a frame and end at their end. A
//! source that fails is logged with its id and the reason, and the others keep running.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argus_core::hit::Hit;
use argus_core::redact;
use argus_video::{FrameReader, ReadOptions, VideoSource};

use argus_analysis::{Analyzer, Shared, drive};

use crate::config::Config;
use crate::health;
use crate::osd::OsdListener;
use crate::outbox::{Entry, Outbox};
use crate::publish::{Publisher, PublisherOptions};
use crate::replay::{World, check_classes, load_detector, setup};
pub use crate::state::{AgentState, ClockStatus, DiskStatus, FrameQueue, SourceStats};

/// Decodes one source into its queue until it ends (files) or forever (live, reconnecting).
fn source_loop(
    src: VideoSource,
    fps: f64,
    queue: Arc<FrameQueue>,
    stats: Arc<SourceStats>,
    id: String,
    epoch: Instant,
) {
    let mut backoff = Duration::from_millis(500);
    // Frames decoded so far, over all connections: indices go on across reconnects.
    let mut decoded = 0u64;
    // The detect_fps limit is applied inside the decoding pipeline: skipped frames are never
    // converted nor copied.
    let read = ReadOptions {
        max_fps: Some(fps).filter(|f| *f > 0.0),
    };
    loop {
        let base = decoded;
        let result = FrameReader::open_with(&src, &read).and_then(|reader| {
            for frame in reader {
                let mut frame = frame?;
                // Live streams restart their timestamps on every reconnect: they are timed by
                // the wall clock since the source started (`epoch`) at the moment they reached
                // this machine, so that live telemetry poses them right. (Timed when the reader
                // got them instead, less the jitter buffer's latency, a drone's frames were
                // posed 0.17 s early: 2 m behind at 12 m/s.)
                if src.is_live() {
                    frame.pts = Some(frame.arrived.map_or_else(
                        || epoch.elapsed().saturating_sub(src.latency()),
                        |at| at.saturating_duration_since(epoch),
                    ));
                }
                let index = base + frame.index;
                stats.up.store(true, Ordering::Relaxed);
                stats
                    .decoded
                    .fetch_add(index + 1 - decoded, Ordering::Relaxed);
                decoded = index + 1;
                queue.push(index, frame, src.is_live());
                backoff = Duration::from_millis(500);
            }
            Ok(())
        });
        stats.up.store(false, Ordering::Relaxed);
        match result {
            Ok(()) if !src.is_live() => {
                tracing::info!(source = %id, frames = decoded, "source ended");
                break;
            }
            Ok(()) => tracing::warn!(source = %id, "stream ended; reconnecting"),
            Err(e) => {
                // The error may name the URI, and an RTSP URI its password.
                let e = redact::text(&e.to_string());
                stats.errors.fetch_add(1, Ordering::Relaxed);
                *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                if !src.is_live() {
                    tracing::error!(source = %id, error = %e, "source failed; the other sources keep running");
                    break;
                }
                tracing::warn!(source = %id, error = %e, retry_in_s = backoff.as_secs_f64(), "camera unreachable; retrying");
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    queue.end();
}

/// A decoded frame as the analysis takes it.
pub fn analysis_frame(f: argus_video::Frame) -> argus_analysis::Frame {
    argus_analysis::Frame {
        index: f.index,
        pts_s: f.pts.map(|p| p.as_secs_f64()),
        rgb: f.rgb,
        width: f.width,
        height: f.height,
    }
}

/// Puts an accepted hit in the outbox, whatever it takes: never dropped. While the outbox is
/// full (the broker or triage is away) or the disk refuses the write (full, or failing), the
/// hit waits here in memory, retried with backoff; the worker waits with it, so live sources
/// drop frames meanwhile and files pause. `/health` says so.
fn keep(outbox: &Outbox, entry: &Entry, disk: &DiskStatus) {
    let mut backoff = Duration::from_millis(200);
    let mut said = false;
    loop {
        match outbox.put_waiting(entry, Duration::from_secs(10)) {
            Ok(()) => break,
            Err(crate::outbox::OutboxError::Full { max }) => {
                tracing::warn!(
                    max,
                    "outbox full; waiting for triage's receipts (live sources drop frames meanwhile)"
                )
            }
            Err(e) => {
                if !said {
                    disk.held.fetch_add(1, Ordering::Relaxed);
                    disk.full.store(true, Ordering::SeqCst);
                    tracing::error!(error = %e, free_bytes = disk.free_bytes(), hit = %entry.id, "cannot write a hit to the outbox; holding it in memory and retrying (live sources drop frames meanwhile)");
                    said = true;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    if said {
        disk.held.fetch_sub(1, Ordering::Relaxed);
        disk.full.store(false, Ordering::SeqCst);
        tracing::info!(hit = %entry.id, "the outbox is writable again");
    }
}

/// Runs the agent until every source has ended (live sources never do).
pub fn run(cfg: Config) -> Result<()> {
    if cfg.sources.is_empty() {
        bail!("the config has no [[source]]");
    }
    let Some(mqtt) = cfg.mqtt.clone() else {
        bail!("`run` publishes hits: the config needs an [mqtt] table (or use `replay --out`)");
    };
    let world = World::load(&cfg.agent)?;
    let (det, model) = load_detector(&cfg.agent)?;
    check_classes(&det, &world.catalog, world.map.as_deref());
    let det = Shared::new(det);
    let outbox = Arc::new(Outbox::open(&mqtt.outbox, mqtt.outbox_max)?);
    if !outbox.is_empty() {
        tracing::info!(
            waiting = outbox.len(),
            "outbox holds hits from a previous run; publishing them first"
        );
    }
    let login = argus_net::mqtt::Login {
        username: mqtt.username.as_deref(),
        password: mqtt.password.as_deref(),
        password_file: mqtt.password_file.as_deref(),
        ca_file: mqtt.ca_file.as_deref(),
    };
    let connection = PublisherOptions {
        connection: login.connection(mqtt.url.clone())?,
        agent_id: cfg.agent.id.clone(),
        keep_alive: Duration::from_secs(mqtt.keep_alive_s),
        receipt_timeout: Duration::from_secs_f64(mqtt.receipt_timeout_s),
    };
    let publisher = Publisher::spawn(connection.clone(), outbox.clone())?;

    // Sources whose set-up fails are reported and skipped; the rest run.
    let mut analyzers = Vec::new();
    let mut sources = Vec::new();
    let mut aircraft = Vec::new();
    let mut docks = Vec::new();
    let mut flights = Vec::new();
    for s in &cfg.sources {
        let prepared = setup(&cfg.agent, s, &world)
            .and_then(|st| Ok((st, VideoSource::parse(&s.uri, !s.rtsp_udp)?)));
        let (prepared, video) = match prepared {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(source = %s.id, error = redact::text(&format!("{e:#}")), "source not started");
                continue;
            }
        };
        // The setup dated the source now; live frames count from here.
        let epoch = Instant::now();
        if let (Some(poses), Some(sn)) = (&prepared.live, &s.osd_sn) {
            aircraft.push((sn.clone(), poses.clone()));
        }
        let flight = s.dock_sn.as_ref().map(|sn| {
            let t = crate::osd::FlightTracker::default();
            docks.push((sn.clone(), t.clone()));
            t
        });
        let mut opts = cfg.analysis.clone();
        let fps = s.detect_fps.unwrap_or(opts.detect_fps);
        // The source thread already paces frames; the analyzer takes every frame it is given.
        opts.detect_fps = 0.0;
        let queue = Arc::new(FrameQueue::new(4));
        let stats = Arc::new(SourceStats::default());
        {
            let (queue, stats, id) = (queue.clone(), stats.clone(), s.id.clone());
            std::thread::Builder::new()
                .name(format!("src-{}", s.id))
                .spawn(move || source_loop(video, fps, queue, stats, id, epoch))
                .context("spawning a source thread")?;
        }
        analyzers.push(Analyzer::new(prepared.setup, opts, model.clone()));
        sources.push((s.id.clone(), queue, stats));
        flights.push(flight);
    }
    if sources.is_empty() {
        bail!("no source could be started (see the errors above)");
    }
    let clock = Arc::new(ClockStatus::default());
    let _osd = (!aircraft.is_empty() || !docks.is_empty())
        .then(|| {
            OsdListener::spawn(
                &connection,
                aircraft,
                docks,
                clock.clone(),
                cfg.agent.max_clock_skew_s,
            )
        })
        .transpose()?;
    let disk = Arc::new(DiskStatus::new(mqtt.outbox.clone()));
    let state = Arc::new(AgentState {
        agent_id: cfg.agent.id.clone(),
        sources: sources.clone(),
        outbox: outbox.clone(),
        publish: Some(publisher.stats.clone()),
        started: Instant::now(),
        disk: disk.clone(),
        clock: clock.clone(),
    });
    if let Some(h) = &cfg.health {
        health::serve(&h.listen, state.clone())?;
    }
    let topic = argus_core::topics::AgentTopic::Hits.topic(&cfg.agent.id);
    let accept = |hits: Vec<Hit>,
                  stats: &SourceStats,
                  flight: &Option<crate::osd::FlightTracker>|
     -> Result<()> {
        for mut h in hits {
            // A dock's drone: the task flying now (none between flights).
            if let Some(f) = flight {
                h.source.flight_id = f.current();
            }
            let payload = serde_json::to_vec(&h)?;
            let entry = Entry {
                id: h.hit_id.to_string(),
                topic: topic.clone(),
                payload,
            };
            keep(&outbox, &entry, &disk);
            stats.hits.fetch_add(1, Ordering::Relaxed);
            tracing::info!(hit = %h.hit_id, class = %h.class, source = %h.source.id, lat = h.position.lat, lon = h.position.lon, "hit");
        }
        Ok(())
    };
    std::thread::scope(|scope| {
        for ((mut analyzer, (id, queue, stats)), flight) in
            analyzers.into_iter().zip(&sources).zip(&flights)
        {
            let (mut det, accept) = (det.clone(), &accept);
            let mut analysis = move || {
                let frames = std::iter::from_fn(|| queue.next()).map(|(index, f)| {
                    Ok::<_, anyhow::Error>(analysis_frame(argus_video::Frame { index, ..f }))
                });
                drive(frames, &mut analyzer, &mut det, |step, hits| {
                    if let Some(step) = step {
                        stats
                            .infer_us
                            .fetch_add(step.took.as_micros() as u64, Ordering::Relaxed);
                        stats.analysed.fetch_add(1, Ordering::Relaxed);
                    }
                    accept(hits, stats, flight)
                })
            };
            let spawned = std::thread::Builder::new()
                .name(format!("analyse-{id}"))
                .spawn_scoped(scope, move || {
                    if let Err(e) = analysis() {
                        tracing::error!(source = %id, error = format!("{e:#}"), "the source's analysis stopped");
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(source = %id, error = %e, "could not start the source's analysis");
            }
        }
    });
    tracing::info!(
        waiting = outbox.len(),
        "all sources ended; publishing what is left"
    );
    publisher.shutdown(&outbox, Duration::from_secs(mqtt.drain_s));
    if !outbox.is_empty() {
        tracing::warn!(
            waiting = outbox.len(),
            "the broker did not take every hit; they stay in the outbox for the next run"
        );
    }
    Ok(())
}
