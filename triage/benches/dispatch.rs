//! Dispatch latency over a real Mosquitto, the dock played by this process (a plain Cloud API
//! client answering at once):
//!
//! - scheduled instant → `flighttask_execute` received by the dock (goal ≤ 1 s), a plan every
//!   5 s prepared 2 s ahead;
//! - camera ticket opened → verification `flighttask_prepare` received (goal ≤ 30 s, the
//!   303024 dispatch limit), camera tickets 200 m apart within the dock's range, each flight
//!   refused at once so the dock is free for the next;
//! - scheduled `flighttask_prepare` → its `services_reply`, the dock being the simulator's
//!   (`argus_sim::dock`) rather than this process: it downloads the KMZ from triage's wayline
//!   URL, checks its MD5 and its route over the district, then answers. Both heard by one
//!   listener on the broker; each prepared run is canceled (`flighttask_undo`) so the dock is
//!   free for the next. The first prepare renders the flight into a cache and is not counted;
//!   the render is kept in the target folder;
//! - the baseline, measured in the same run: one message from this process to itself through
//!   the broker, without Nagle's algorithm (what no dispatcher can beat).
//!
//! p50 and p99 of each, and the ratio of the p50 to the baseline's.
//!
//! Run: `cargo bench -p argus-triage --bench dispatch` (`ARGUS_BENCH_RUNS`, default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::cloudapi::{Envelope, Service};
use argus_core::geodesy::GeoPoint;
use argus_core::hit::SourceKind;
use argus_core::topics::DockTopic;
use argus_sim::dock::{Dock, DockOptions};
use argus_testkit::hits::{hit, hit_id, publish_hit};
use argus_testkit::services::Mosquitto;
use argus_triage::verify::{Trigger, VerificationConfig};
use common::{AIRCRAFT, Received, SN, ScriptedDock, ms, now_s};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn triage(
    broker: &Mosquitto,
    dir: &std::path::Path,
    cron: Option<&str>,
) -> argus_triage::service::Service {
    let schedule =
        cron.map(|c| format!("[schedule]\ncron = \"{c}\"\ntimezone = \"UTC\"\ncatch_up_s = 2\n"));
    let (mut cfg, _) =
        common::patrol_config(dir, broker.url(), schedule.as_deref(), None, 2.0, 5.0);
    if cron.is_none() {
        cfg.verification = Some(VerificationConfig {
            on: Trigger::Opened,
            max_per_dock_per_hour: 1000,
            cooldown_s: 0.0,
            ..VerificationConfig::default()
        });
    }
    argus_triage::service::Service::start(cfg).unwrap()
}

/// Scheduled instant → execute at the dock, seconds, `n` runs.
fn scheduled(broker: &Mosquitto, n: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let t = triage(broker, dir.path(), Some("*/5 * * * * *"));
    let mut dock = ScriptedDock::connect(broker.port);
    let mut took = Vec::with_capacity(n);
    let mut instant = None;
    let until = Instant::now() + Duration::from_secs(10 * n as u64 + 30);
    while took.len() < n {
        let Some((kind, e, at)) = dock.next(until) else {
            panic!("the dock heard nothing");
        };
        if kind != "services" {
            continue;
        }
        match Service::read(&e) {
            Ok(Service::Prepare(p)) => {
                instant = Some(p.execute_time_ms as f64 / 1000.0);
                dock.publish("services_reply", &e.result_reply(ms(now_s()), 0));
            }
            Ok(Service::Execute { .. }) => {
                if let Some(i) = instant.take() {
                    took.push(at - i);
                }
                // Refused, so the dock is free for the next instant.
                dock.publish("services_reply", &e.result_reply(ms(now_s()), 1));
            }
            _ => {}
        }
    }
    t.shutdown().unwrap();
    took
}

/// Camera ticket opened → verification prepare at the dock, seconds, `n` tickets.
fn verification(broker: &Mosquitto, n: usize) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let t = triage(broker, dir.path(), None);
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    let mut dock = ScriptedDock::connect(broker.port);
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    let cams = argus_testkit::hits::bench_publisher(broker.port, "bench-cams");
    let mut store = argus_triage::store::open(&db).unwrap();
    let mut took = Vec::with_capacity(n);
    for k in 0..n {
        let mut h = hit(
            &hit_id(&format!("bench-cam-{k}")),
            "cams",
            "construction_waste",
            // 200 m apart, north and south of the dock's latitude, all within its range.
            30.70 + ((k % 20) as f64 - 10.0) * 0.0018,
            0.7,
        );
        h.source.kind = SourceKind::Camera;
        h.source.id = "cam-1".into();
        h.position.lon = 121.0;
        h.observed_at = argus_core::clock::Timestamp::now();
        publish_hit(&cams, &h);
        let (prep, at) = dock.expect(
            "verification prepare",
            "services",
            Instant::now() + Duration::from_secs(60),
        );
        dock.publish("services_reply", &prep.result_reply(ms(now_s()), 1));
        let ticket = store
            .tickets(&Default::default(), 1)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        took.push(at - ticket.opened_at);
    }
    t.shutdown().unwrap();
    took
}

/// What a listener on the dock's `services` and `services_reply` heard, with when.
struct Heard {
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Heard {
    /// Listens from now on: returns once subscribed.
    fn start(port: u16) -> Self {
        let (c, mut conn) = Client::new(MqttOptions::new("bench-services", "127.0.0.1", port), 64);
        // A listener's own acknowledgements must not hold the broker's next message back.
        conn.eventloop.network_options.set_tcp_nodelay(true);
        for kind in [DockTopic::Services, DockTopic::ServicesReply] {
            c.subscribe(kind.topic(SN), QoS::AtLeastOnce).unwrap();
        }
        let until = Instant::now() + Duration::from_secs(10);
        let mut acks = 0;
        while acks < 2 {
            assert!(
                Instant::now() < until,
                "the broker did not acknowledge the subscriptions"
            );
            if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
                conn.recv_timeout(Duration::from_secs(1))
            {
                acks += 1;
            }
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let _keep = c;
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let at = now_s();
                        if let Ok(e) = Envelope::parse(&p.payload, SN) {
                            let kind = p.topic.rsplit('/').next().unwrap_or_default();
                            s.lock().unwrap().push((kind.to_string(), e, at));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Self { seen }
    }

    /// The first message heard that `f` accepts, waiting for it until `until`.
    fn wait(&self, until: Instant, f: impl Fn(&Received) -> bool) -> (Envelope, f64) {
        loop {
            if let Some((_, e, at)) = self.seen.lock().unwrap().iter().find(|m| f(m)) {
                return (e.clone(), *at);
            }
            assert!(Instant::now() < until, "not heard in time");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Scheduled `flighttask_prepare` → the simulated dock's `services_reply`, seconds, `n`
/// prepares after one not counted.
fn sim_dock_prepare(broker: &Mosquitto, n: usize) -> Vec<f64> {
    const OPERATOR: &str = "operator-token-dispatch-0123";
    let dir = tempfile::tempdir().unwrap();
    let schedule = "[schedule]\ncron = \"*/5 * * * * *\"\ntimezone = \"UTC\"\ncatch_up_s = 2\n";
    let (mut cfg, http) =
        common::patrol_config(dir.path(), broker.url(), Some(schedule), None, 2.0, 20.0);
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{OPERATOR}\n")).unwrap();
    cfg.tokens = Some(tokens);
    let heard = Heard::start(broker.port);
    let t = argus_triage::service::Service::start(cfg).unwrap();
    let target = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let district = argus_testkit::cached(&target.join("dispatch-district-seed1"), |d| {
        let district = argus_sim::district::generate::generate(&Default::default()).unwrap();
        argus_sim::district::geojson::write(&district, d).unwrap();
    });
    let mut opts = DockOptions::new(
        district,
        SN,
        AIRCRAFT,
        GeoPoint {
            lat: 30.70,
            lon: 121.02,
        },
        &broker.url(),
        ("127.0.0.1".into(), argus_testkit::services::free_port()),
        dir.path().join("flights"),
    );
    // Small frames: the render only has to exist (no flight is executed).
    (opts.size, opts.fps) = ((320, 180), 2);
    let cache = target.join("dispatch-dock-renders");
    opts.cache = Some(cache.clone());
    let dock = Dock::start(opts).unwrap();
    let auth = format!("Bearer {OPERATOR}");
    let mut took = Vec::with_capacity(n);
    let until = Instant::now() + Duration::from_secs(10 * n as u64 + 600);
    let mut seen = std::collections::HashSet::new();
    while took.len() < n {
        let (prep, prep_at) = heard.wait(until, |(kind, e, _)| {
            kind == "services" && e.method == "flighttask_prepare" && !seen.contains(&e.tid)
        });
        seen.insert(prep.tid.clone());
        let (reply, reply_at) = heard.wait(until, |(kind, e, _)| {
            kind == "services_reply" && e.tid == prep.tid
        });
        assert!(
            matches!(reply.result(), Ok(0)),
            "the dock refused a prepare: {reply:?}"
        );
        let Ok(Service::Prepare(p)) = Service::read(&prep) else {
            unreachable!("a flighttask_prepare reads as one")
        };
        let path = format!("/api/v1/runs/{}/cancel", p.flight_id);
        let (status, body) = argus_testkit::services::http(
            http,
            "POST",
            &path,
            &[("Authorization", auth.as_str())],
            b"",
        )
        .expect("triage answers");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        if seen.len() == 1 {
            // The first prepare rendered the flight: wait for it, so no render runs while
            // the counted prepares are timed.
            while !std::fs::read_dir(&cache)
                .unwrap()
                .flatten()
                .any(|e| e.path().join(".done").exists())
            {
                assert!(Instant::now() < until, "the dock's render did not end");
                std::thread::sleep(Duration::from_millis(200));
            }
            continue;
        }
        took.push(reply_at - prep_at);
    }
    dock.stop();
    t.shutdown().unwrap();
    took
}

/// One message from this process to itself through the broker, seconds, `n` times.
fn baseline(broker: &Mosquitto, n: usize) -> Vec<f64> {
    let (c, mut conn) = Client::new(MqttOptions::new("bench-echo", "127.0.0.1", broker.port), 16);
    // One socket publishes and acknowledges: with Nagle's algorithm each publish waits for the
    // broker's delayed ACK of the previous PUBACK, and the floor reads 44 ms instead of 0.1.
    conn.eventloop.network_options.set_tcp_nodelay(true);
    c.subscribe("bench/echo", QoS::AtLeastOnce).unwrap();
    let mut took = Vec::with_capacity(n);
    let mut subscribed = false;
    while !subscribed {
        if let Ok(Ok(Event::Incoming(Packet::SubAck(_)))) =
            conn.recv_timeout(Duration::from_secs(5))
        {
            subscribed = true;
        }
    }
    for _ in 0..n {
        let sent = now_s();
        let e = Envelope::new("echo", ms(sent), serde_json::json!({}));
        c.publish("bench/echo", QoS::AtLeastOnce, false, e.to_json())
            .unwrap();
        loop {
            if let Ok(Ok(Event::Incoming(Packet::Publish(_)))) =
                conn.recv_timeout(Duration::from_secs(5))
            {
                took.push(now_s() - sent);
                break;
            }
        }
    }
    took
}

fn main() {
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let n = argus_testkit::bench::size("ARGUS_BENCH_RUNS", 20);
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let mut base = baseline(&broker, 100);
    let mut sched = scheduled(&broker, n);
    let mut verify = verification(&broker, n);
    let mut sim_prepare = sim_dock_prepare(&broker, n);
    let b50 = percentile(&mut base, 0.5);
    println!("dispatch latency through Mosquitto, {n} runs each (p50, p99; × the baseline's p50)");
    println!(
        "  baseline: a message through the broker   {:8.3} ms  {:8.3} ms",
        b50 * 1e3,
        percentile(&mut base, 0.99) * 1e3
    );
    for (what, v, goal) in [
        ("scheduled instant → execute", &mut sched, 1.0),
        ("camera ticket → verification prepare", &mut verify, 30.0),
        // Triage's default `reply_timeout_s`: a dock slower than this fails its run.
        (
            "prepare → sim dock's reply (KMZ fetched)",
            &mut sim_prepare,
            20.0,
        ),
    ] {
        let (p50, p99) = (percentile(v, 0.5), percentile(v, 0.99));
        println!(
            "  {what:<38} {:8.1} ms  {:8.1} ms  {:6.0}×  (goal ≤ {goal} s: {})",
            p50 * 1e3,
            p99 * 1e3,
            p50 / b50,
            if p99 <= goal { "met" } else { "MISSED" }
        );
    }
}
