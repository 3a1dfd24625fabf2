//! Ticket lists stay fast on a big store while hits arrive: 1,000,000 tickets seeded (20
//! units, a year of them, most closed — the newest open), hits arriving through a real
//! Mosquitto at 1,000/s, and one operator's lists asked back to back, in turn —
//! `GET /api/v1/tickets?unit=U07&state=open&limit=50` (every open stage) and `…&state=new…`
//! (one stage, the list earlier versions could answer) — on SQLite and on PostgreSQL. Prints
//! each list's p50 and p99 latency (every page must hold its 50 tickets) and the hits ingested
//! per second against the 1,000 offered. Goal: p99 ≤ 50 ms while ingest keeps up.
//!
//! Run: `cargo bench -p argus-triage --bench tickets` (`ARGUS_BENCH_TICKETS`, default
//! 1,000,000; `ARGUS_BENCH_SECONDS`, default 20; `ARGUS_BENCH_STATES`, default `open,new`).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argus_core::geodesy::GeoPoint;
use argus_testkit::hits::{bench_publisher, payloads};
use argus_testkit::services::{Mosquitto, Postgres, bench_triage, free_port, http};
use argus_triage::engine::cell_key;
use rumqttc::QoS;

const UNITS: usize = 20;
const RATE: u64 = 1_000;

/// The `k`-th seeded ticket: its id, unit, state, position, opened_at and cell.
struct Seed {
    id: String,
    unit: String,
    state: &'static str,
    lat: f64,
    lon: f64,
    opened_at: f64,
    cell: i64,
}

/// Seeded tickets: `n` over the year before `now`, oldest first; the newest 3 % open (new,
/// dispatched, in progress, resolved), the rest closed, verified, rejected or duplicates.
fn seeds(n: usize, now: f64) -> impl Iterator<Item = Seed> {
    const OPEN: [&str; 4] = ["new", "dispatched", "in_progress", "resolved"];
    const CLOSED: [&str; 4] = ["closed", "verified", "rejected", "duplicate"];
    (0..n).map(move |k| {
        let x = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let lat = 30.60 + (x % 20_000) as f64 * 1e-5;
        let lon = 120.90 + ((x >> 20) % 20_000) as f64 * 1e-5;
        let open = k * 100 >= n * 97;
        Seed {
            id: format!("T{k:09}"),
            unit: format!("U{:02}", 1 + (x >> 40) as usize % UNITS),
            state: if open { OPEN[k % 4] } else { CLOSED[k % 4] },
            lat,
            lon,
            opened_at: now - 365.0 * 86_400.0 * (n - k) as f64 / n as f64,
            cell: cell_key(GeoPoint { lat, lon }),
        }
    })
}

/// Seeds SQLite in one transaction.
fn seed_sqlite(path: &std::path::Path, n: usize, now: f64) {
    drop(argus_triage::store::open(&format!("sqlite:{}", path.display())).expect("the store"));
    let mut db = rusqlite::Connection::open(path).unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut q = tx
            .prepare(
                "INSERT INTO tickets (ticket_id, category, class, state, lat, lon, uncertainty_m, \
                 unit, grid_cell, sightings, best_score, min_score, review, opened_at, state_since, \
                 due_at, first_observed_at, recurs, breached, version, cell) \
                 VALUES (?1, 'construction_waste', 'construction_waste', ?2, ?3, ?4, 3.0, ?5, NULL, \
                 1, 0.9, 0.9, 0, ?6, ?6, NULL, ?6, NULL, 0, 1, ?7)",
            )
            .unwrap();
        for s in seeds(n, now) {
            q.execute(rusqlite::params![
                s.id,
                s.state,
                s.lat,
                s.lon,
                s.unit,
                s.opened_at,
                s.cell
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    db.execute_batch("ANALYZE").unwrap();
}

/// Seeds PostgreSQL with COPY.
fn seed_postgres(url: &str, n: usize, now: f64) {
    drop(argus_triage::store::open(url).expect("the store"));
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut w = db
        .copy_in(
            "COPY tickets (ticket_id, category, class, state, lat, lon, uncertainty_m, unit, \
             sightings, best_score, min_score, review, opened_at, state_since, first_observed_at, \
             breached, version, cell) FROM STDIN",
        )
        .unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    for s in seeds(n, now) {
        writeln!(
            buf,
            "{}\tconstruction_waste\tconstruction_waste\t{}\t{}\t{}\t3\t{}\t1\t0.9\t0.9\tf\t{}\t{}\t{}\tf\t1\t{}",
            s.id, s.state, s.lat, s.lon, s.unit, s.opened_at, s.opened_at, s.opened_at, s.cell
        )
        .unwrap();
        if buf.len() > 1 << 20 {
            w.write_all(&buf).unwrap();
            buf.clear();
        }
    }
    w.write_all(&buf).unwrap();
    w.finish().unwrap();
    db.batch_execute("ANALYZE tickets").unwrap();
}

/// What one backend measured: per list, its path and p50, p99 and count of latencies; the
/// hits ingested per second.
struct Measured {
    lists: Vec<(String, f64, f64, usize)>,
    ingested_per_s: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `triage serve` on `db`, offers hits at [`RATE`] for `seconds`, and times the lists.
fn measure(
    broker: &Mosquitto,
    tmp: &std::path::Path,
    tag: &str,
    db: &str,
    seconds: u64,
    paths: &[String],
) -> Measured {
    let port = free_port();
    let mut triage = bench_triage(
        env!("CARGO_BIN_EXE_triage"),
        db,
        port,
        &broker.url(),
        tmp,
        tag,
    );
    let sightings = || {
        http(port, "GET", "/health", &[], b"")
            .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["sightings"].as_u64())
            .unwrap_or(0)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let offered = Arc::new(AtomicU64::new(0));
    // Hits at RATE a second, in the seeded area (they join and open tickets among the seeds).
    let publisher = {
        let (stop, offered) = (stop.clone(), offered.clone());
        let p = bench_publisher(broker.port, &format!("bench-{tag}"));
        let topic = argus_core::topics::AgentTopic::Hits.topic("dock-1");
        let msgs = payloads((RATE * (seconds + 5)) as usize, tag);
        std::thread::spawn(move || {
            let started = Instant::now();
            for (k, (_, m)) in msgs.into_iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let due = Duration::from_secs_f64(k as f64 / RATE as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
                p.publish(&topic, QoS::AtLeastOnce, false, m).unwrap();
                offered.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let s0 = sightings();
    let started = Instant::now();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut k = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        let path = &paths[k % paths.len()];
        let t = Instant::now();
        let (status, body) = http(port, "GET", path, &[], b"").expect("triage answers");
        latencies[k % paths.len()].push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        let page: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            page.len(),
            50,
            "{path}: a filtered page holds its limit when that many match"
        );
        assert!(page.iter().all(|t| t["unit"] == "U07"));
        k += 1;
    }
    let ingested = (sightings() - s0) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = publisher.join();
    let _ = triage.kill();
    let _ = triage.wait();
    Measured {
        lists: paths
            .iter()
            .zip(latencies)
            .map(|(p, mut l)| {
                l.sort_by(f64::total_cmp);
                (
                    p.clone(),
                    percentile(&l, 0.5),
                    percentile(&l, 0.99),
                    l.len(),
                )
            })
            .collect(),
        ingested_per_s: ingested,
    }
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let n = argus_testkit::bench::size("ARGUS_BENCH_TICKETS", 1_000_000);
    let seconds = argus_testkit::bench::size("ARGUS_BENCH_SECONDS", 20) as u64;
    let paths: Vec<String> = std::env::var("ARGUS_BENCH_STATES")
        .unwrap_or_else(|_| "open,new".into())
        .split(',')
        .map(|s| format!("/api/v1/tickets?unit=U07&state={}&limit=50", s.trim()))
        .collect();
    let now = argus_core::clock::now_unix_s();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let mut rows = Vec::new();

    let sqlite = tmp.path().join("tickets.db");
    let t = Instant::now();
    seed_sqlite(&sqlite, n, now);
    eprintln!(
        "seeded {n} tickets into SQLite in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    rows.push((
        "SQLite",
        measure(
            &broker,
            tmp.path(),
            "sqlite",
            &format!("sqlite:{}", sqlite.display()),
            seconds,
            &paths,
        ),
    ));

    let pg = Postgres::start(&tmp.path().join("postgres"));
    let url = pg.create_db("tickets");
    let t = Instant::now();
    seed_postgres(&url, n, now);
    eprintln!(
        "seeded {n} tickets into PostgreSQL in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    rows.push((
        "PostgreSQL",
        measure(&broker, tmp.path(), "postgres", &url, seconds, &paths),
    ));

    println!("an operator's lists on {n} tickets, hits offered at {RATE}/s");
    for (name, m) in &rows {
        println!(
            "  {name}: ingest {:.0} hits/s of {RATE} offered",
            m.ingested_per_s
        );
        for (path, p50, p99, count) in &m.lists {
            println!(
                "    GET {path:45}  p50 {p50:6.2} ms  p99 {p99:6.2} ms  ({count} lists)  goal p99 ≤ 50 ms: {}",
                if *p99 <= 50.0 { "met" } else { "missed" }
            );
        }
    }
}
