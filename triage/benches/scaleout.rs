//! Scaling out: hits/s into one PostgreSQL through one Mosquitto with one, two and three
//! `triage serve` instances (release builds, their own processes) sharing `$share/triage`.
//! The publisher is this process: 20,000 hits spread over a district (each its own ticket) at
//! QoS 1 with a window of 1,000, timed from the first publish until every hit is a sighting in
//! the database. The ratios are to one instance in the same run; the median of three rounds,
//! each round running the three cases in turn.
//!
//! Every instance places in one transaction under the locks of the areas its hits touch, so
//! instances add throughput only where the database and the cores have room: read the figures
//! with the machine's core count (printed).
//!
//! Run: `cargo bench -p argus-triage --bench scaleout` (`ARGUS_BENCH_HITS`, default 20,000).

use std::time::{Duration, Instant};

use argus_testkit::bench::median_by;
use argus_testkit::hits::{bench_publisher, payloads};
use argus_testkit::services::{Mosquitto, Postgres, free_port, start_triage};
use rumqttc::QoS;

/// The hits topic of the benchmarks' agent.
static TOPIC: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| argus_core::topics::AgentTopic::Hits.topic("dock-1"));

/// One run: seconds to store `n` hits with `instances` triages on a new database.
fn run(
    broker: &Mosquitto,
    pg: &Postgres,
    tmp: &std::path::Path,
    n: usize,
    tag: &str,
    instances: usize,
) -> f64 {
    let db = pg.create_db(&format!("scale_{}", tag.replace('-', "_")));
    let config = tmp.join(format!("scale-{tag}.toml"));
    std::fs::write(
        &config,
        format!("db = \"{db}\"\n[mqtt]\nurl = \"{}\"\n", broker.url()),
    )
    .unwrap();
    let mut children: Vec<_> = (0..instances)
        .map(|k| {
            start_triage(
                env!("CARGO_BIN_EXE_triage"),
                &[
                    "serve".to_string(),
                    "--config".into(),
                    config.display().to_string(),
                    "--http".into(),
                    format!("127.0.0.1:{}", free_port()),
                ],
                &tmp.join(format!("scale-{tag}-{k}.log")),
            )
        })
        .collect();
    let mut count = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let stored = |c: &mut postgres::Client| -> i64 {
        c.query_one("SELECT count(*) FROM sightings", &[])
            .map(|r| r.get(0))
            .unwrap_or(0)
    };
    // Every instance has joined the group before the clock starts.
    std::thread::sleep(Duration::from_secs(2));
    let p = bench_publisher(broker.port, &format!("bench-scale-{tag}"));
    let msgs = payloads(n, tag);
    let started = Instant::now();
    for (_, m) in msgs {
        p.publish(&*TOPIC, QoS::AtLeastOnce, false, m).unwrap();
    }
    let deadline = started + Duration::from_secs(600);
    while stored(&mut count) < n as i64 {
        assert!(
            Instant::now() < deadline,
            "{tag}: the hits were not all stored in 10 min"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed().as_secs_f64();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    took
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let n = argus_testkit::bench::size("ARGUS_BENCH_HITS", 20_000);
    let rounds = 3;
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let pg = Postgres::start(&tmp.path().join("pg"));
    let cases = [1usize, 2, 3];
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for k in 0..rounds {
        for (c, instances) in cases.iter().enumerate() {
            runs[c].push(run(
                &broker,
                &pg,
                tmp.path(),
                n,
                &format!("{instances}-{k}"),
                *instances,
            ));
        }
    }
    let took: Vec<f64> = runs.into_iter().map(|v| median_by(v, |t| *t)).collect();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("{n} hits into PostgreSQL through Mosquitto, {cores} cores (median of {rounds})");
    for (instances, t) in cases.iter().zip(&took) {
        println!(
            "  {instances} instance(s)  {t:6.2} s  {:7.0} hits/s  {:5.2}× one instance",
            n as f64 / t,
            took[0] / t
        );
    }
}
