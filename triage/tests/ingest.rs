//! `triage serve` against a real Mosquitto: hits delivered again, a triage killed mid-stream and
//! restarted (what it had not stored comes back from the agent for want of a receipt),
//! malformed and oversized payloads — nothing lost, nothing doubled, the service keeps running.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::hit::HitId;
use argus_core::receipt::Receipt;
use argus_testkit::hits::{hit, hit_id, publish_hit};
use argus_testkit::services::Mosquitto;
use argus_triage::store::{Sqlite, Store};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

const TRIAGE: &str = env!("CARGO_BIN_EXE_triage");

fn spawn(url: &str, db: &Path, log: &Path) -> Child {
    Command::new(TRIAGE)
        .args(["serve", "--http", "127.0.0.1:0", "--mqtt", url, "--db"])
        .arg(format!("sqlite:{}", db.display()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subscribed(log: &Path, times: usize) -> bool {
    std::fs::read_to_string(log).is_ok_and(|t| t.matches("subscribed to hits").count() >= times)
}

/// (tickets, sightings, dead letters, sum of the tickets' sighting counts).
fn counts(db: &Path) -> (u64, u64, u64, u64) {
    let mut s = Sqlite::open(db).unwrap();
    let (t, h, d) = s.counts().unwrap();
    let sum = s
        .tickets(
            &argus_triage::store::TicketFilter::default(),
            usize::MAX >> 1,
        )
        .unwrap()
        .iter()
        .map(|t| u64::from(t.sightings))
        .sum();
    (t, h, d, sum)
}

/// A Mosquitto and a `triage serve` on it, subscribed to hits: (broker, store, log, triage).
fn triage_on_mosquitto(dir: &Path) -> (Mosquitto, PathBuf, PathBuf, Child) {
    let broker = Mosquitto::start(&dir.join("broker"));
    let db = dir.join("triage.db");
    let log = dir.join("triage.log");
    let triage = spawn(&broker.url(), &db, &log);
    wait_for("the subscription", Duration::from_secs(30), || {
        subscribed(&log, 1)
    });
    (broker, db, log, triage)
}

fn publisher(port: u16) -> Client {
    let mut mo = MqttOptions::new("test-dock-1", "127.0.0.1", port);
    mo.set_max_packet_size(8 << 20, 8 << 20).set_inflight(100);
    let (client, mut conn) = Client::new(mo, 1000);
    std::thread::spawn(move || for _ in conn.iter() {});
    client
}

/// An agent as the protocol wants one: it subscribes to its receipts, and sends again every
/// hit without one (here: on demand).
struct Agent {
    client: Client,
    receipted: Arc<Mutex<HashMap<HitId, String>>>,
}

impl Agent {
    fn start(port: u16, agent: &str) -> Self {
        let mut mo = MqttOptions::new(format!("test-{agent}"), "127.0.0.1", port);
        mo.set_max_packet_size(8 << 20, 8 << 20).set_inflight(100);
        let (client, mut conn) = Client::new(mo, 1000);
        let receipted: Arc<Mutex<HashMap<HitId, String>>> = Arc::default();
        let (sink, sub, topic) = (
            receipted.clone(),
            client.clone(),
            argus_core::topics::AgentTopic::Receipts.topic(agent),
        );
        let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ready.clone();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = sub.try_subscribe(topic.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => flag.store(true, Ordering::SeqCst),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let r: Receipt = serde_json::from_slice(&p.payload).unwrap();
                        let mut m = sink.lock().unwrap();
                        for h in r.hits {
                            m.insert(h.hit_id, format!("{:?}", h.status));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        wait_for("the receipts subscription", Duration::from_secs(20), || {
            ready.load(Ordering::SeqCst)
        });
        Self { client, receipted }
    }

    fn receipted(&self, id: &str) -> bool {
        self.receipted.lock().unwrap().contains_key(id)
    }
}

#[test]
fn repeated_hits_and_a_killed_triage_lose_nothing_and_double_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (broker, db, log, mut triage) = triage_on_mosquitto(tmp.path());
    let agent = Agent::start(broker.port, "dock-1");
    let topic = "argus/v1/agents/dock-1/hits";
    // 2,000 hits 110 m apart (each its own ticket); the first 100 sent three times.
    let id = |i: usize| hit_id(&format!("hit-{i:05}"));
    let payload = |i: usize| {
        let mut h = hit(
            &id(i),
            "dock-1",
            "construction_waste",
            30.6 + (i % 40) as f64 * 0.001,
            0.9,
        );
        h.position.lon = 121.0 + (i / 40) as f64 * 0.00115;
        serde_json::to_vec(&h).unwrap()
    };
    let send = |i: usize| {
        agent
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload(i))
            .unwrap()
    };
    for round in 0..3 {
        (0..100).for_each(send);
        if round == 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    (100..1000).for_each(send);
    // Killed mid-stream, as a power cut would; hits keep coming while it is away (and, on
    // clean sessions, no one keeps them: only the agent's resending brings them back).
    wait_for("the first hits stored", Duration::from_secs(60), || {
        counts(&db).1 > 300
    });
    Command::new("kill")
        .arg("-9")
        .arg(triage.id().to_string())
        .status()
        .unwrap();
    let _ = triage.wait();
    let at_kill = counts(&db).1;
    (1000..2000).for_each(send);
    let mut triage = spawn(&broker.url(), &db, &log);
    // (A new log: the restarted triage's own.)
    wait_for("the new subscription", Duration::from_secs(30), || {
        subscribed(&log, 1)
    });
    // Garbage and an oversized payload in between (sent to a running triage: with no hit id,
    // no receipt can name them, and no agent would send them again).
    agent
        .client
        .publish(
            topic,
            QoS::AtLeastOnce,
            false,
            b"{\"schema\":\"argus.hit/1\",".to_vec(),
        )
        .unwrap();
    agent
        .client
        .publish(topic, QoS::AtLeastOnce, false, vec![b'x'; 3 << 20])
        .unwrap();

    // Every receipt names a stored hit; what has none is sent again until it has.
    let mut resent = 0;
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let missing: Vec<usize> = (0..2000).filter(|&i| !agent.receipted(&id(i))).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < until,
            "{} hits never receipted",
            missing.len()
        );
        resent += missing.len();
        missing.into_iter().for_each(send);
        std::thread::sleep(Duration::from_secs(2));
    }
    wait_for("the dead letters", Duration::from_secs(30), || {
        counts(&db).2 >= 2
    });
    // Still serving after them.
    send(2000);
    wait_for(
        "a hit after the dead letters",
        Duration::from_secs(30),
        || counts(&db).1 == 2001,
    );
    let (tickets, sightings, dead, sum) = counts(&db);
    eprintln!(
        "killed at {at_kill} stored; {resent} resent for want of a receipt; now {tickets} tickets, {sightings} sightings, {dead} dead letters"
    );
    assert_eq!((tickets, sightings, dead, sum), (2001, 2001, 2, 2001));
    let mut store = Sqlite::open(&db).unwrap();
    let letters = store.dead_letters(10).unwrap();
    assert!(
        letters
            .iter()
            .any(|d| d.reason.contains("limit") && d.size == 3 << 20),
        "{letters:?}"
    );
    assert!(
        letters.iter().any(|d| d.reason.contains("not JSON")),
        "{letters:?}"
    );
    let _ = triage.kill();
    let _ = triage.wait();
}

/// With no broker configured, triage runs its own: agents publish straight to it, and the
/// same hit sent twice is still one sighting.
#[test]
fn the_embedded_broker_takes_hits_when_no_broker_is_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = tmp.path().join("triage.db");
    let log = tmp.path().join("triage.log");
    let mut triage = Command::new(TRIAGE)
        .args(["serve", "--http", "127.0.0.1:0", "--broker-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(format!("sqlite:{}", db.display()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the subscription", Duration::from_secs(30), || {
        subscribed(&log, 1)
    });
    let client = publisher(port);
    // A topic that starts with a multi-byte character once killed the broker's router.
    client
        .publish("é/x", QoS::AtLeastOnce, false, b"x".to_vec())
        .unwrap();
    for i in [0, 1, 2, 0] {
        let h = hit(
            &hit_id(&format!("hit-{i}")),
            "cam-1",
            "vending_in_lane",
            30.6 + i as f64 * 0.01,
            0.9,
        );
        publish_hit(&client, &h);
    }
    wait_for("three hits stored", Duration::from_secs(30), || {
        counts(&db).1 == 3
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(counts(&db), (3, 3, 0, 3));
    // A second triage on the same port says why it cannot start.
    let out = Command::new(TRIAGE)
        .args(["serve", "--http", "127.0.0.1:0", "--broker-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(format!("sqlite:{}", tmp.path().join("other.db").display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("cannot listen on"),
        "{err}"
    );
    let _ = triage.kill();
    let _ = triage.wait();
}

/// The contract says readers ignore unknown fields: a newer agent's hit, with a field of its own
/// in `pose`, `rule`, `position`, `source`, `model` and at the top, becomes a ticket; a hit
/// missing a required field is a dead letter whose reason is the refusal's text, sent back in
/// its receipt too.
#[test]
fn a_newer_agents_fields_are_ignored_and_a_missing_one_is_a_dead_letter() {
    let tmp = tempfile::tempdir().unwrap();
    let (broker, db, _log, mut triage) = triage_on_mosquitto(tmp.path());
    let agent = Agent::start(broker.port, "dock-9");
    let topic = argus_core::topics::AgentTopic::Hits.topic("dock-9");
    let mut newer = serde_json::to_value(hit(
        &hit_id("newer"),
        "dock-9",
        "construction_waste",
        30.61,
        0.9,
    ))
    .unwrap();
    newer["wind_mps"] = 3.5.into();
    for part in ["pose", "rule", "position", "source", "model"] {
        newer[part]["added_in_v1_7"] = serde_json::json!({"gimbal_mode": "free"});
    }
    let mut missing = serde_json::to_value(hit(
        &hit_id("missing"),
        "dock-9",
        "construction_waste",
        30.62,
        0.9,
    ))
    .unwrap();
    missing.as_object_mut().unwrap().remove("pose");
    for v in [&newer, &missing] {
        agent
            .client
            .publish(
                topic.as_str(),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(v).unwrap(),
            )
            .unwrap();
    }
    wait_for("both receipts", Duration::from_secs(30), || {
        agent.receipted(&hit_id("newer")) && agent.receipted(&hit_id("missing"))
    });
    let receipts = agent.receipted.lock().unwrap().clone();
    assert_eq!(receipts[&hit_id("newer")], "Stored");
    assert_eq!(receipts[&hit_id("missing")], "Dead");
    assert_eq!(counts(&db), (1, 1, 1, 1));
    let letters = Sqlite::open(&db).unwrap().dead_letters(10).unwrap();
    let want = argus_triage::check::check(
        &topic,
        &serde_json::to_vec(&missing).unwrap(),
        &argus_triage::check::Limits::default(),
        argus_core::clock::now_unix_s(),
    )
    .unwrap_err()
    .to_string();
    assert!(want.contains("missing field `pose`"), "{want}");
    assert_eq!(letters[0].reason, want);
    let _ = triage.kill();
    let _ = triage.wait();
}
