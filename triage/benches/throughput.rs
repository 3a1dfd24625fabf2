//! Triage throughput and latency through a real Mosquitto, side by side in one run:
//!
//! - the broker alone: the same messages from a publisher to a plain QoS 1 subscriber;
//! - hits/s from the publisher into tickets, SQLite and PostgreSQL (a `triage serve` process);
//! - p50/p99 hit → ticket latency at a steady 1,000 hits/s (publish → the ticket's event on the
//!   live feed, i.e. committed and visible), SQLite.
//!
//! Goals on these 2 cores: ≥ 20,000 hits/s with SQLite, p99 ≤ 50 ms at 1,000 hits/s. Hits are
//! `testing::hit`s (a small evidence blob: the cost measured is triage's, not the JPEG's). The
//! broker is configured as README recommends for triage: `set_tcp_nodelay true`,
//! `max_inflight_messages 1000`.
//! Run: `cargo bench -p argus-triage --bench throughput` (`ARGUS_BENCH_HITS`, default 20,000).

use argus_core::hit::HitId;
use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_testkit::hits::{bench_publisher as publisher, payloads};
use argus_testkit::services::{Mosquitto, Postgres, free_port, http, start_triage};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// The hits topic of the benchmarks' agent.
static TOPIC: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| argus_core::topics::AgentTopic::Hits.topic("dock-1"));

/// Messages/s from a publisher to a plain QoS 1 subscriber.
fn broker_alone(port: u16, msgs: &[(HitId, Vec<u8>)]) -> f64 {
    let got = Arc::new(AtomicU64::new(0));
    let mut mo = MqttOptions::new("bench-sub", "127.0.0.1", port);
    mo.set_max_packet_size(1 << 20, 1 << 20).set_inflight(1000);
    let (sub, mut conn) = Client::new(mo, 10_000);
    sub.subscribe("bench/alone", QoS::AtLeastOnce).unwrap();
    let counter = got.clone();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            if let Ok(Event::Incoming(Packet::Publish(_))) = ev {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let p = publisher(port, "bench-pub-alone");
    let started = Instant::now();
    for (_, m) in msgs {
        p.publish("bench/alone", QoS::AtLeastOnce, false, m.clone())
            .unwrap();
    }
    while got.load(Ordering::Relaxed) < msgs.len() as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    msgs.len() as f64 / started.elapsed().as_secs_f64()
}

/// Ends a killed triage's persistent session: left alone, it stays in the shared subscription
/// group and Mosquitto keeps queueing its share of every later stage's hits for it.
fn forget_session(port: u16, client_id: &str) {
    let mut mo = MqttOptions::new(client_id, "127.0.0.1", port);
    mo.set_clean_session(true);
    let (client, mut conn) = Client::new(mo, 10);
    for ev in conn.iter() {
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.disconnect();
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

fn spawn_triage(broker: &Mosquitto, db: &str, http_port: u16, log: &std::path::Path) -> Child {
    // A session of its own: what an earlier stage's killed triage left queued is not this one's.
    let config = log.with_extension("toml");
    std::fs::write(
        &config,
        format!("[mqtt]\nclient_id = \"bench-{http_port}\"\n"),
    )
    .unwrap();
    let args = [
        "serve".to_string(),
        "--mqtt".into(),
        broker.url(),
        "--db".into(),
        db.to_string(),
        "--config".into(),
        config.display().to_string(),
        "--http".into(),
        format!("127.0.0.1:{http_port}"),
    ];
    start_triage(env!("CARGO_BIN_EXE_triage"), &args, log)
}

fn sightings(http_port: u16) -> u64 {
    http(http_port, "GET", "/health", &[], b"")
        .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["sightings"].as_u64())
        .unwrap_or(0)
}

/// Hits/s from the publisher into stored tickets.
fn into_tickets(
    broker: &Mosquitto,
    db: &str,
    tmp: &std::path::Path,
    msgs: &[(HitId, Vec<u8>)],
) -> f64 {
    let port = free_port();
    let mut triage = spawn_triage(broker, db, port, &tmp.join(format!("triage-{port}.log")));
    let p = publisher(broker.port, &format!("bench-pub-{port}"));
    let started = Instant::now();
    for (_, m) in msgs {
        p.publish(&*TOPIC, QoS::AtLeastOnce, false, m.clone())
            .unwrap();
    }
    while sightings(port) < msgs.len() as u64 {
        std::thread::sleep(Duration::from_millis(2));
    }
    let rate = msgs.len() as f64 / started.elapsed().as_secs_f64();
    let _ = triage.kill();
    let _ = triage.wait();
    forget_session(broker.port, &format!("bench-{port}"));
    rate
}

/// (p50, p99) ms from publish to the ticket's event on the live feed, at `rate` hits/s.
fn latency(
    broker: &Mosquitto,
    db: &str,
    tmp: &std::path::Path,
    msgs: &[(HitId, Vec<u8>)],
    rate: f64,
) -> (f64, f64) {
    let port = free_port();
    let mut triage = spawn_triage(broker, db, port, &tmp.join("triage-latency.log"));
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    {
        let seen = seen.clone();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /api/v1/feed HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(s).lines().map_while(Result::ok) {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                    continue;
                };
                if let Some(id) = v["detail"]["hit_id"].as_str() {
                    seen.lock()
                        .unwrap()
                        .entry(id.to_string())
                        .or_insert_with(Instant::now);
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    let p = publisher(broker.port, "bench-pub-latency");
    let mut sent = Vec::with_capacity(msgs.len());
    let started = Instant::now();
    for (k, (id, m)) in msgs.iter().enumerate() {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        sent.push((id.clone(), Instant::now()));
        p.publish(&*TOPIC, QoS::AtLeastOnce, false, m.clone())
            .unwrap();
    }
    let until = Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().len() < msgs.len() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.lock().unwrap();
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(id, t)| {
            seen.get(id.as_str())
                .map(|s| s.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    assert_eq!(ms.len(), msgs.len(), "hits missing from the feed");
    ms.sort_by(f64::total_cmp);
    let q = |f: f64| ms[((ms.len() - 1) as f64 * f).round() as usize];
    let _ = triage.kill();
    let _ = triage.wait();
    forget_session(broker.port, &format!("bench-{port}"));
    (q(0.5), q(0.99))
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let n = argus_testkit::bench::size("ARGUS_BENCH_HITS", 20_000);
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let pg = Postgres::start(&tmp.path().join("pg"));
    println!("triage throughput, {n} hits through Mosquitto on this machine");
    let alone = broker_alone(broker.port, &payloads(n, "alone"));
    println!("  broker alone (QoS 1 subscriber)   {alone:9.0} messages/s");
    // The publisher, the broker and triage share the 2 cores: the median of three runs.
    let mut runs: Vec<f64> = (0..3)
        .map(|k| {
            let db = format!(
                "sqlite:{}",
                tmp.path().join(format!("bench-{k}.db")).display()
            );
            into_tickets(
                &broker,
                &db,
                tmp.path(),
                &payloads(n, &format!("sqlite{k}")),
            )
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let sqlite = runs[1];
    println!(
        "  into tickets, SQLite               {sqlite:9.0} hits/s = {:.2} × the broker (goal ≥ 20,000 hits/s; median of {:.0}, {:.0}, {:.0})",
        sqlite / alone,
        runs[0],
        runs[1],
        runs[2]
    );
    let lat_db = format!("sqlite:{}", tmp.path().join("latency.db").display());
    let (p50, p99) = latency(
        &broker,
        &lat_db,
        tmp.path(),
        &payloads(10_000, "lat"),
        1000.0,
    );
    println!(
        "  hit → ticket at 1,000 hits/s (SQLite): p50 {p50:.1} ms, p99 {p99:.1} ms (goal p99 ≤ 50 ms)"
    );
    let postgres = into_tickets(
        &broker,
        &pg.create_db("bench"),
        tmp.path(),
        &payloads(n, "pg"),
    );
    println!(
        "  into tickets, PostgreSQL           {postgres:9.0} hits/s = {:.2} × the broker",
        postgres / alone
    );
}
