//! A scheduled patrol through a real Mosquitto: triage prepares the run `prepare_lead_s`
//! before its instant, the dock downloads the KMZ from the URL it was given (its MD5 is the
//! fingerprint; any other token is a 404), executes it at its instant (± 1 s), and its progress
//! ends the run `ok`, every event answered with its `tid` and `bid`.
//!
//! The dock is played twice: by a plain MQTT client speaking the Cloud API as the test
//! scripts it, and by the simulated dock of argus-sim's library ([`argus_sim::dock::Dock`]),
//! which downloads and checks the KMZ, renders the flight (tiny, and cached) and flies it in
//! real time. With the simulated dock, on SQLite and on PostgreSQL: the prepare answered by
//! its `tid`, the execute at the instant ± 1 s, the progress `sent → in_progress → ok` stored
//! in order, every `need_reply` event answered with its `tid` and `bid`; and a KMZ changed on
//! its way to the dock (its MD5 no longer the fingerprint) refused, the run `rejected`.

use std::io::{BufRead as _, Write as _};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use argus_core::cloudapi::{Envelope, Progress, Service, TaskStatus};
use argus_core::geodesy::GeoPoint;
use argus_sim::dock::tasks::result;
use argus_sim::dock::{Dock, DockOptions};
use argus_testkit::services::{Mosquitto, Postgres, http};
use argus_triage::store::{RunFilter, RunState};
use common::{AIRCRAFT, Received, SN, ScriptedDock, ms, now_s};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

#[test]
fn a_scheduled_patrol_is_prepared_ahead_downloaded_executed_on_time_and_flown() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    // The U03 plan every 20 s (a seconds field), prepared 5 s ahead.
    let (cfg, http_port) = common::patrol_config(
        tmp.path(),
        broker.url(),
        Some("[schedule]\ncron = \"*/20 * * * * *\"\ntimezone = \"UTC\"\ncatch_up_s = 5\n"),
        None,
        5.0,
        5.0,
    );
    // Started 6–11 s after an instant: the last one beyond its catch_up_s, the next one at
    // least 9 s away. A start within an instant's lead or catch-up window would claim it at
    // once and prepare it late, once it has heard from the dock.
    let into = now_s() % 20.0;
    if !(6.0..=11.0).contains(&into) {
        std::thread::sleep(Duration::from_secs_f64((26.5 - into) % 20.0));
    }
    let triage = argus_triage::service::Service::start(cfg).unwrap();

    let mut dock = ScriptedDock::connect(broker.port);
    let deadline = Instant::now() + Duration::from_secs(60);

    // Prepared 5 s ahead of an instant.
    let (prep_msg, prep_at) = dock.expect("prepare", "services", deadline);
    let Service::Prepare(prep) = Service::read(&prep_msg).unwrap() else {
        panic!("{prep_msg:?}")
    };
    let instant = prep.execute_time_ms as f64 / 1000.0;
    assert!(
        (instant - prep_at - 5.0).abs() < 1.0,
        "prepared {:.2} s before its instant",
        instant - prep_at
    );
    // The KMZ at the URL it was given, its MD5 the fingerprint.
    let path = prep
        .file
        .url
        .strip_prefix(&format!("http://127.0.0.1:{http_port}"))
        .unwrap()
        .to_string();
    let (status, kmz) = http(http_port, "GET", &path, &[], b"").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        argus_flightplan::formats::wpml::fingerprint(&kmz),
        prep.file.fingerprint
    );
    let wrong = format!("/api/v1/waylines/{}.kmz", "0".repeat(32));
    assert_eq!(http(http_port, "GET", &wrong, &[], b"").unwrap().0, 404);
    assert_eq!(
        http(http_port, "GET", "/api/v1/waylines/x.kmz", &[], b"")
            .unwrap()
            .0,
        404
    );
    dock.publish("services_reply", &prep_msg.result_reply(ms(now_s()), 0));
    // Executed at its instant.
    let (exec_msg, exec_at) = dock.expect("execute", "services", deadline);
    assert_eq!(
        Service::read(&exec_msg).unwrap(),
        Service::Execute {
            flight_id: prep.flight_id.clone()
        }
    );
    assert!(
        (exec_at - instant).abs() <= 1.0,
        "executed {:.2} s from its instant",
        exec_at - instant
    );
    dock.publish("services_reply", &exec_msg.result_reply(ms(now_s()), 0));
    // Progress, each event answered.
    for (k, status) in [TaskStatus::InProgress, TaskStatus::Ok]
        .into_iter()
        .enumerate()
    {
        let ev = Progress {
            flight_id: prep.flight_id.clone(),
            status,
            current_waypoint_index: Some(k as u32 * 5),
            percent: Some(50.0 * (k + 1) as f64),
            result: 0,
        }
        .envelope(SN, "bid-1", ms(now_s()));
        dock.publish("events", &ev);
        let (r, _) = dock.expect("events_reply", "events_reply", deadline);
        assert_eq!((&r.tid, &r.bid, r.result()), (&ev.tid, &ev.bid, Ok(0)));
    }
    // The run is over, ok, and the store says so.
    let mut store =
        argus_triage::store::open(&format!("sqlite:{}", tmp.path().join("t.db").display()))
            .unwrap();
    let run = store.run(&prep.flight_id).unwrap().unwrap();
    assert_eq!(run.state, RunState::Ok);
    assert_eq!(run.scheduled_at, instant);
    assert!(store.dead_letters(10).unwrap().is_empty());
    assert_eq!(
        store
            .runs(&RunFilter::default(), 10)
            .unwrap()
            .iter()
            .filter(|r| r.state == RunState::Ok)
            .count(),
        1
    );
    triage.shutdown().unwrap();
}

/// The simulated dock's prepare lead, seconds.
const LEAD_S: f64 = 5.0;

/// Every Cloud API message on dock-1's services, events and their replies, with when it was
/// heard.
struct Wire {
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Wire {
    /// Listens on the broker on `port`; returns once subscribed.
    fn listen(port: u16) -> Self {
        let (client, mut conn) = Client::new(MqttOptions::new("test-wire", "127.0.0.1", port), 256);
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let s = seen.clone();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => client
                        .subscribe(format!("thing/product/{SN}/+"), QoS::AtLeastOnce)
                        .unwrap(),
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let kind = p.topic.rsplit('/').next().unwrap_or_default().to_string();
                        if ["services", "services_reply", "events", "events_reply"]
                            .contains(&kind.as_str())
                        {
                            let e = Envelope::parse(&p.payload, SN).unwrap();
                            s.lock().unwrap().push((kind, e, now_s()));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(10)).unwrap();
        Self { seen }
    }

    fn all(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The first message `f` picks, waiting for it up to `within`.
    fn wait(&self, what: &str, within: Duration, f: impl Fn(&Received) -> bool) -> Received {
        let until = Instant::now() + within;
        loop {
            if let Some(m) = self.all().into_iter().find(|m| f(m)) {
                return m;
            }
            assert!(
                Instant::now() < until,
                "no {what}: {:?}",
                self.all()
                    .iter()
                    .map(|m| (&m.0, &m.1.method))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The services triage sent, by method.
    fn services(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter(|m| m.0 == "services")
            .map(|m| m.1.method.clone())
            .collect()
    }
}

/// The simulator's default district (dock-1 at its centre), written once.
fn district() -> PathBuf {
    argus_testkit::cached(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("triage-dock-district-v1"),
        |dir| {
            let d = argus_sim::district::generate::generate(&Default::default()).unwrap();
            argus_sim::district::geojson::write(&d, dir).unwrap();
        },
    )
}

/// Plan `look` of dock-1 in `dir/plans`: one look from 30 m at a point 70 m north of the dock
/// (a flight of about half a minute), at the instant `at` (whole Unix seconds) only.
fn look_plan(dir: &Path, at: i64) {
    let t = chrono::DateTime::from_timestamp(at, 0).unwrap();
    let cron = t.format("%-S %-M %-H %-d %-m *");
    std::fs::write(
        dir.join("plans/look.toml"),
        format!(
            "schema = \"argus.plan/1\"\nid = \"look\"\ndock = \"dock-1\"\nkind = \"points\"\n\n\
             [geometry]\npoints = [[30.70063, 121.02]]\n\n\
             [camera]\npreset = \"sim-1080p\"\n\n\
             [flight]\naltitude_m = 40\nspeed_mps = 12\ninspect_height_m = 30\nhover_s = 2\ninspect_pitch_deg = -90\n\n\
             [schedule]\ncron = \"{cron}\"\ntimezone = \"UTC\"\ncatch_up_s = 5\n"
        ),
    )
    .unwrap();
}

/// dock-1 played by `sim dock`'s library on `broker`: 320×180 at 5 fps, renders cached across
/// runs, recordings in `out`. The socket takes its video.
fn sim_dock(broker: &Mosquitto, out: &Path) -> (Dock, UdpSocket) {
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut o = DockOptions::new(
        district(),
        SN,
        AIRCRAFT,
        GeoPoint {
            lat: 30.70,
            lon: 121.02,
        },
        &broker.url(),
        ("127.0.0.1".into(), sink.local_addr().unwrap().port()),
        out.to_path_buf(),
    );
    (o.size, o.fps, o.osd_hz) = ((320, 180), 5, 1.0);
    o.cache = Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("triage-dock-renders"));
    (Dock::start(o).unwrap(), sink)
}

/// A scratch folder, a broker and the wire on it, triage's config for plan `look` at an instant
/// 12 s from now (with the example U03 plan, on demand only), and that instant.
struct Rig {
    tmp: tempfile::TempDir,
    broker: Mosquitto,
    wire: Wire,
    cfg: argus_triage::config::Config,
    http_port: u16,
    at: i64,
}

fn rig(db: Option<String>) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let wire = Wire::listen(broker.port);
    let (cfg, http_port) = common::patrol_config(tmp.path(), broker.url(), None, db, LEAD_S, 10.0);
    let at = now_s() as i64 + 12;
    look_plan(tmp.path(), at);
    Rig {
        tmp,
        broker,
        wire,
        cfg,
        http_port,
        at,
    }
}

fn flown_by_the_simulated_dock(db: Option<String>) {
    let Rig {
        tmp,
        broker,
        wire,
        cfg,
        at,
        ..
    } = rig(db);
    let db = cfg.db.clone();
    let triage = argus_triage::service::Service::start(cfg).unwrap();
    let (dock, _video) = sim_dock(&broker, &tmp.path().join("flights"));
    let at = at as f64;

    // Prepared LEAD_S ahead; the dock's reply carries the prepare's tid and bid.
    let (_, prep, prep_at) = wire.wait("prepare", Duration::from_secs(30), |m| {
        m.0 == "services" && m.1.method == "flighttask_prepare"
    });
    assert!(
        (at - prep_at - LEAD_S).abs() < 1.0,
        "prepared {:.2} s before its instant",
        at - prep_at
    );
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!("{prep:?}")
    };
    let flight = p.flight_id;
    let (_, reply, _) = wire.wait("prepare reply", Duration::from_secs(30), |m| {
        m.0 == "services_reply" && m.1.tid == prep.tid
    });
    assert_eq!(
        (&reply.bid, &reply.method, reply.result()),
        (&prep.bid, &prep.method, Ok(result::OK))
    );
    // Executed at its instant, and taken.
    let (_, exec, exec_at) = wire.wait("execute", Duration::from_secs(30), |m| {
        m.0 == "services" && m.1.method == "flighttask_execute"
    });
    assert!(
        (exec_at - at).abs() <= 1.0,
        "executed {:.2} s from its instant",
        exec_at - at
    );
    let (_, reply, _) = wire.wait("execute reply", Duration::from_secs(10), |m| {
        m.0 == "services_reply" && m.1.tid == exec.tid
    });
    assert_eq!(reply.result(), Ok(result::OK));
    // Flown: the landing reported, and answered.
    wire.wait("ok", Duration::from_secs(300), |m| {
        m.0 == "events" && Progress::read(&m.1).is_ok_and(|p| p.status == TaskStatus::Ok)
    });
    std::thread::sleep(Duration::from_secs(1));
    let msgs = wire.all();
    for (_, e, _) in msgs.iter().filter(|m| m.0 == "events" && m.1.needs_reply()) {
        assert!(
            msgs.iter().any(|(k, r, _)| k == "events_reply"
                && (&r.tid, &r.bid, &r.method) == (&e.tid, &e.bid, &e.method)
                && r.result() == Ok(0)),
            "event {} {} unanswered",
            e.method,
            e.tid
        );
    }
    assert_eq!(
        wire.services(),
        ["flighttask_prepare", "flighttask_execute"]
    );

    // Stored: the run ok at its instant, moved through every state, with the progress in
    // the order the dock sent it.
    let mut store = argus_triage::store::open(&db).unwrap();
    let run = store.run(&flight).unwrap().unwrap();
    assert_eq!((run.state, run.scheduled_at), (RunState::Ok, at), "{run:?}");
    let events = store.run_events(&flight).unwrap();
    let states: Vec<&str> = events
        .iter()
        .map(|e| e.event.as_str())
        .filter(|e| RunState::parse(e).is_some())
        .collect();
    assert_eq!(
        states,
        ["preparing", "prepared", "executing", "in_progress", "ok"],
        "{events:#?}"
    );
    let prepared = events.iter().find(|e| e.event == "prepared").unwrap();
    assert_eq!(prepared.detail["tid"], prep.tid.as_str());
    let progress: Vec<&str> = events
        .iter()
        .filter_map(|e| e.detail.get("status").and_then(|s| s.as_str()))
        .collect();
    assert_eq!(progress.first(), Some(&"sent"), "{progress:?}");
    assert_eq!(progress.last(), Some(&"ok"), "{progress:?}");
    assert!(
        progress.len() > 2
            && progress[1..progress.len() - 1]
                .iter()
                .all(|s| *s == "in_progress"),
        "{progress:?}"
    );
    let sent = msgs
        .iter()
        .filter(|m| m.0 == "events" && Progress::read(&m.1).is_ok())
        .count();
    assert_eq!(progress.len(), sent, "progress stored, of {sent} sent");
    assert!(store.dead_letters(10).unwrap().is_empty());
    dock.stop();
    triage.shutdown().unwrap();
}

/// An HTTP server forwarding each GET to triage on `port` and changing one byte of what
/// comes back; its port, and the status of each answer it forwarded.
fn tampering_proxy(port: u16) -> (u16, Arc<Mutex<Vec<u16>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    let forwarded: Arc<Mutex<Vec<u16>>> = Arc::default();
    let statuses = forwarded.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, mut body) = http(port, "GET", &path, &[], b"").unwrap_or((502, vec![]));
            statuses.lock().unwrap().push(status);
            let middle = body.len() / 2;
            if let Some(b) = body.get_mut(middle) {
                *b ^= 0x01;
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status} Forwarded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    (own, forwarded)
}

fn refused_by_the_simulated_dock(db: Option<String>) {
    let Rig {
        tmp,
        broker,
        wire,
        mut cfg,
        http_port,
        ..
    } = rig(db);
    let db = cfg.db.clone();
    let (proxy, forwarded) = tampering_proxy(http_port);
    cfg.patrols.as_mut().unwrap().public_url = format!("http://127.0.0.1:{proxy}");
    let triage = argus_triage::service::Service::start(cfg).unwrap();
    let (dock, _video) = sim_dock(&broker, &tmp.path().join("flights"));

    let (_, prep, _) = wire.wait("prepare", Duration::from_secs(30), |m| {
        m.0 == "services" && m.1.method == "flighttask_prepare"
    });
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!("{prep:?}")
    };
    let (_, reply, _) = wire.wait("prepare reply", Duration::from_secs(30), |m| {
        m.0 == "services_reply" && m.1.tid == prep.tid
    });
    assert_eq!(reply.result(), Ok(result::BAD_WAYLINE));
    // The dock downloaded the KMZ (triage served it) and refused it for its MD5.
    assert_eq!(*forwarded.lock().unwrap(), [200]);
    let mut store = argus_triage::store::open(&db).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let run = loop {
        let run = store.run(&p.flight_id).unwrap().unwrap();
        if run.state.is_final() || Instant::now() > until {
            break run;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let reason = format!("dock-1 refused the task (result {})", result::BAD_WAYLINE);
    assert_eq!(
        (run.state, run.reason.as_deref()),
        (RunState::Rejected, Some(reason.as_str())),
        "{run:?}"
    );
    // Nothing more goes to the dock for it.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(wire.services(), ["flighttask_prepare"]);
    dock.stop();
    triage.shutdown().unwrap();
}

#[test]
fn with_the_simulated_dock_a_patrol_is_prepared_executed_on_time_and_flown_on_sqlite() {
    flown_by_the_simulated_dock(None);
}

#[test]
fn with_the_simulated_dock_a_patrol_is_prepared_executed_on_time_and_flown_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"));
    flown_by_the_simulated_dock(Some(pg.create_db("patrol")));
}

#[test]
fn a_kmz_changed_on_its_way_is_refused_by_the_simulated_dock_and_the_run_rejected_on_sqlite() {
    refused_by_the_simulated_dock(None);
}

#[test]
fn a_kmz_changed_on_its_way_is_refused_by_the_simulated_dock_and_the_run_rejected_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"));
    refused_by_the_simulated_dock(Some(pg.create_db("patrol")));
}
