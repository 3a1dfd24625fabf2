//! Reads do not stall writes: ingest of 5,000 hits (SQLite, through a real Mosquitto into a
//! `triage serve` process) timed alone, then under 50 concurrent Open311/API readers each
//! polling once a second (50 requests/s in all), then under the same 50 readers polling as fast
//! as they can — the ratios to the baseline of the same run, and the CPU share the readers made
//! triage spend. Goal: ≤ 1.2× the baseline at 50 requests/s. The median of seven rounds, each
//! round running the three cases in turn.
//!
//! Run: `cargo bench -p argus-triage --bench readers` (`ARGUS_BENCH_HITS`, default 5,000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_testkit::bench::median_by;
use argus_testkit::hits::{bench_publisher, payloads};
use argus_testkit::services::{Mosquitto, bench_triage, free_port, http};
use rumqttc::QoS;

/// The hits topic of the benchmarks' agent.
static TOPIC: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| argus_core::topics::AgentTopic::Hits.topic("dock-1"));
const READERS: usize = 50;

/// What the readers ask, in turn.
const PATHS: [&str; 4] = [
    "/open311/v2/requests.json",
    "/api/v1/tickets?limit=50",
    "/api/v1/tickets?state=dispatched&limit=50",
    "/open311/v2/services.json",
];

/// CPU seconds a process has used (user + system), from /proc.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |k: usize| {
        fields
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// One run: seconds to store `n` hits with `readers` (None: no readers; Some(pause): each
/// reader waits `pause` between requests), the requests served and triage's CPU seconds.
fn run(
    broker: &Mosquitto,
    tmp: &std::path::Path,
    n: usize,
    tag: &str,
    readers: Option<Duration>,
) -> (f64, u64, f64) {
    let port = free_port();
    let db = format!("sqlite:{}", tmp.join(format!("readers-{tag}.db")).display());
    let mut triage = bench_triage(
        env!("CARGO_BIN_EXE_triage"),
        &db,
        port,
        &broker.url(),
        tmp,
        &format!("readers-{tag}"),
    );
    // A district's worth of tickets to read first.
    let p = bench_publisher(broker.port, &format!("bench-pub-{tag}"));
    let stored = |port: u16| {
        http(port, "GET", "/health", &[], b"")
            .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["sightings"].as_u64())
            .unwrap_or(0)
    };
    for (_, m) in payloads(1000, &format!("{tag}-seed")) {
        p.publish(&*TOPIC, QoS::AtLeastOnce, false, m).unwrap();
    }
    while stored(port) < 1000 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = readers
        .map(|pause| {
            (0..READERS)
                .map(|k| {
                    let (stop, served) = (stop.clone(), served.clone());
                    std::thread::spawn(move || {
                        // Spread over the period: 50 readers at 1/s are 50 requests in every
                        // second, not a burst of 50 once a second.
                        std::thread::sleep(pause * k as u32 / READERS as u32);
                        let mut i = k;
                        while !stop.load(Ordering::Relaxed) {
                            if http(port, "GET", PATHS[i % PATHS.len()], &[], b"")
                                .is_some_and(|(s, _)| s == 200)
                            {
                                served.fetch_add(1, Ordering::Relaxed);
                            }
                            i += 1;
                            std::thread::sleep(pause);
                        }
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    std::thread::sleep(Duration::from_millis(1500));
    let cpu0 = cpu_s(triage.id());
    let served0 = served.load(Ordering::Relaxed);
    let msgs = payloads(n, tag);
    let started = Instant::now();
    for (_, m) in msgs {
        p.publish(&*TOPIC, QoS::AtLeastOnce, false, m).unwrap();
    }
    while stored(port) < (1000 + n) as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed().as_secs_f64();
    let cpu = cpu_s(triage.id()) - cpu0;
    let served = served.load(Ordering::Relaxed) - served0;
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = triage.kill();
    let _ = triage.wait();
    (took, served, cpu)
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let n = argus_testkit::bench::size("ARGUS_BENCH_HITS", 5_000);
    // Rounds interleave the three cases, so a drift of the machine touches all alike; a run of
    // 5,000 hits is a fraction of a second, so the median is of seven.
    let rounds = 7;
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let cases = [
        ("no readers", None),
        ("50 readers at 1/s", Some(Duration::from_secs(1))),
        ("50 readers flat out", Some(Duration::ZERO)),
    ];
    let mut runs: Vec<Vec<(f64, u64, f64)>> = vec![Vec::new(); cases.len()];
    for k in 0..rounds {
        for (c, (_, readers)) in cases.iter().enumerate() {
            runs[c].push(run(&broker, tmp.path(), n, &format!("{c}-{k}"), *readers));
        }
    }
    let rows: Vec<(&str, (f64, u64, f64))> = cases
        .iter()
        .zip(runs)
        .map(|((name, _), v)| (*name, median_by(v, |r| r.0)))
        .collect();
    let base = rows[0].1.0;
    println!("ingest of {n} hits into SQLite under readers (median of {rounds})");
    for (name, (took, served, cpu)) in &rows {
        println!(
            "  {name:22} {took:6.2} s  {:5.2}× baseline  {:7.0} requests/s served  triage CPU {:5.1} %",
            took / base,
            *served as f64 / took,
            100.0 * cpu / took
        );
    }
    let ratio = rows[1].1.0 / base;
    println!(
        "  goal ≤ 1.2× at 50 requests/s: {}",
        if ratio <= 1.2 { "met" } else { "missed" }
    );
}
