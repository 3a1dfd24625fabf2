//! A scheduled patrol end to end, every part a real process: `triage` schedules a plan whose
//! cron fires about 25 s after the start, `sim dock` (the simulated DJI dock) takes the timed
//! task, renders and flies it as live RTP video with aircraft OSD, and the dock's `edge-agent`
//! analyses the video, stamping its hits with the run's `flight_id`. A test client on the
//! broker hears every Cloud API message.
//!
//! Shown: the task prepared `prepare_lead_s` ahead and executed at its instant ± 1 s, its
//! progress `sent → in_progress → ok`, every `need_reply` event answered with its `tid` and
//! `bid`, the violations under the route ticketed with the run's `flight_id`, each ticket
//! opened before the run's landing event. Triage is killed with SIGKILL once the prepare
//! reply is stored and started again: the dock hears one execute, and the run ends `ok` once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argus_core::cloudapi::{Envelope, Service};
use argus_testkit::services::{Mosquitto, free_port, start_triage, workspace_bin};
use argus_triage::store::RunState;
use chrono::{Timelike, Utc};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

const SN: &str = "7CTDM12345";
const AIRCRAFT: &str = "1581F5BKD225D00B";
const LEAD_S: f64 = 15.0;

/// The simulator's default district, made once.
fn district() -> PathBuf {
    argus_testkit::cached(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patrol-district-seed1"),
        |dir| {
            let ok = Command::new(workspace_bin("sim"))
                .args(["district", "--seed", "1", "--out"])
                .arg(dir)
                .status()
                .unwrap()
                .success();
            assert!(ok, "sim district failed");
        },
    )
}

/// A small area north of dock-1 (a spoil heap and three sheds of the default district under
/// it), flown at 80 m, at the instant `at` (UTC, whole seconds).
fn plan(dir: &Path, at: chrono::DateTime<Utc>) {
    let plans = dir.join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::copy(
        argus_testkit::repo_root().join("flight-plans/docks.toml"),
        dir.join("docks.toml"),
    )
    .unwrap();
    let (s, m, h) = (at.second(), at.minute(), at.hour());
    std::fs::write(
        plans.join("north.toml"),
        format!(
            "schema = \"argus.plan/1\"\nid = \"north\"\ndock = \"dock-1\"\nkind = \"area\"\n\n\
             [geometry]\npolygon = [[30.70054, 121.01864], [30.70054, 121.02157], [30.70252, 121.02157], [30.70252, 121.01864]]\n\n\
             [camera]\npreset = \"sim-1080p\"\n\n\
             [flight]\naltitude_m = 80\nspeed_mps = 12\ngimbal_pitch_deg = -90\nside_overlap = 0.2\nangle_deg = 0\nturnaround_m = 0\n\n\
             [schedule]\ncron = \"{s} {m} {h} * * *\"\ntimezone = \"UTC\"\ncatch_up_s = 60\n"
        ),
    )
    .unwrap();
}

/// Every Cloud API message on the dock's topics, with when it was heard.
struct Wire {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, Envelope, f64)>>>,
}

impl Wire {
    fn listen(port: u16) -> Self {
        let (c, mut conn) = Client::new(MqttOptions::new("test-wire", "127.0.0.1", port), 256);
        for k in ["services", "services_reply", "events", "events_reply"] {
            c.subscribe(format!("thing/product/{SN}/{k}"), QoS::AtLeastOnce)
                .unwrap();
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let _keep = c;
            for ev in conn.iter() {
                if let Ok(Event::Incoming(Packet::Publish(p))) = ev
                    && let Ok(e) = Envelope::parse(&p.payload, SN)
                {
                    let kind = p.topic.rsplit('/').next().unwrap_or_default().to_string();
                    s.lock()
                        .unwrap()
                        .push((kind, e, argus_core::clock::now_unix_s()));
                }
            }
        });
        Self { seen }
    }

    fn all(&self) -> Vec<(String, Envelope, f64)> {
        self.seen.lock().unwrap().clone()
    }

    fn wait(
        &self,
        what: &str,
        within: Duration,
        f: impl Fn(&(String, Envelope, f64)) -> bool,
    ) -> (Envelope, f64) {
        let until = Instant::now() + within;
        loop {
            if let Some((_, e, at)) = self.all().into_iter().find(|m| f(m)) {
                return (e, at);
            }
            assert!(
                Instant::now() < until,
                "no {what}: {:#?}",
                self.all()
                    .iter()
                    .map(|m| (&m.0, &m.1.method))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
    Command::new(workspace_bin(bin))
        .args(args)
        .env("RUST_LOG", "info,ort=warn")
        .env("NO_COLOR", "1")
        .current_dir(argus_testkit::repo_root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn a_scheduled_patrol_flies_from_the_simulated_dock_and_its_hits_become_tickets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let instant = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::seconds(40);
    plan(dir, instant);
    let http = free_port();
    let db = dir.join("triage.db");
    let config = dir.join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\nhttp = \"127.0.0.1:{http}\"\n[mqtt]\nurl = \"{}\"\n[patrols]\nplans = \"{}\"\nprepare_lead_s = {LEAD_S}\nreply_timeout_s = 20\npublic_url = \"http://127.0.0.1:{http}\"\n",
            db.display(),
            broker.url(),
            dir.join("plans").display()
        ),
    )
    .unwrap();
    let triage_args = vec![
        "serve".to_string(),
        "--config".into(),
        config.display().to_string(),
    ];
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-1.log"));
    // The dock and its edge agent.
    let udp = free_port();
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patrol-dock-renders");
    let mut dock = spawn(
        "sim",
        &[
            "dock".into(),
            "--district".into(),
            district.display().to_string(),
            "--sn".into(),
            SN.into(),
            "--aircraft-sn".into(),
            AIRCRAFT.into(),
            "--at".into(),
            "30.70,121.02".into(),
            "--mqtt".into(),
            broker.url(),
            "--video".into(),
            format!("udp://127.0.0.1:{udp}"),
            "--out".into(),
            dir.join("flights").display().to_string(),
            "--size".into(),
            "960x540".into(),
            "--fps".into(),
            "10".into(),
            "--cache".into(),
            cache.display().to_string(),
        ],
        &dir.join("dock.log"),
    );
    let agent_cfg = dir.join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "[agent]\nid = \"district-1\"\nmodel = \"{}\"\nmap = \"{}\"\n\n[mqtt]\nurl = \"{}\"\noutbox = \"{}\"\n\n\
             [[source]]\nid = \"dock-1\"\nkind = \"drone\"\nuri = \"udp://@:{udp}\"\nosd_sn = \"{AIRCRAFT}\"\ndock_sn = \"{SN}\"\n",
            argus_testkit::repo_root().join("models/argus-det").display(),
            district.join("district.geojson").display(),
            broker.url(),
            dir.join("outbox").display(),
        ),
    )
    .unwrap();
    let mut agent = spawn(
        "edge-agent",
        &[
            "run".into(),
            "--config".into(),
            agent_cfg.display().to_string(),
        ],
        &dir.join("agent.log"),
    );
    let at = instant.timestamp() as f64;

    // Prepared prepare_lead_s ahead, the KMZ checked by the dock, the reply stored.
    let (prep, prep_at) = wire.wait("prepare", Duration::from_secs(60), |m| {
        m.1.method == "flighttask_prepare" && m.0 == "services"
    });
    assert!(
        (at - prep_at - LEAD_S).abs() < 1.5,
        "prepared {:.2} s ahead",
        at - prep_at
    );
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!()
    };
    let flight = p.flight_id.clone();
    wire.wait("prepare reply", Duration::from_secs(20), |m| {
        m.0 == "services_reply" && m.1.tid == prep.tid
    });
    let stored = Instant::now() + Duration::from_secs(10);
    let mut store = argus_triage::store::open(&format!("sqlite:{}", db.display())).unwrap();
    while store.run(&flight).unwrap().unwrap().state != RunState::Prepared {
        assert!(Instant::now() < stored, "the prepare reply was not stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL now, and back: one execute, at the instant.
    triage.kill().unwrap();
    triage.wait().unwrap();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-2.log"));
    let (_, exec_at) = wire.wait("execute", Duration::from_secs(60), |m| {
        m.1.method == "flighttask_execute" && m.0 == "services"
    });
    assert!(
        (exec_at - at).abs() <= 1.0,
        "executed {:.2} s from its instant",
        exec_at - at
    );

    // The flight: progress to ok, within the flight's time and a margin.
    let (_, landed_at) = wire.wait("ok", Duration::from_secs(300), |m| {
        m.0 == "events"
            && m.1
                .data
                .pointer("/output/status")
                .or_else(|| m.1.data.get("status"))
                .and_then(|s| s.as_str())
                == Some("ok")
    });
    std::thread::sleep(Duration::from_secs(5));
    let msgs = wire.all();
    let execs = msgs
        .iter()
        .filter(|m| m.0 == "services" && m.1.method == "flighttask_execute")
        .count();
    assert_eq!(execs, 1, "executes sent");
    let statuses: Vec<String> = msgs
        .iter()
        .filter(|m| m.0 == "events")
        .filter_map(|m| {
            m.1.data
                .pointer("/output/status")
                .or_else(|| m.1.data.get("status"))
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("sent"),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s == "in_progress"), "{statuses:?}");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("ok"),
        "{statuses:?}"
    );
    for (_, e, _) in msgs.iter().filter(|m| m.0 == "events" && m.1.needs_reply()) {
        assert!(
            msgs.iter()
                .any(|(k, r, _)| k == "events_reply" && r.tid == e.tid && r.bid == e.bid),
            "event {} {} unanswered",
            e.method,
            e.tid
        );
    }
    let run = store.run(&flight).unwrap().unwrap();
    assert_eq!(run.state, RunState::Ok, "{run:?}");
    let events = store.run_events(&flight).unwrap();
    assert_eq!(
        events.iter().filter(|e| e.event == "ok").count(),
        1,
        "{events:?}"
    );
    // Its tickets carry its flight id, each opened before the landing.
    let tickets = store.flight_tickets(&flight).unwrap();
    assert!(
        !tickets.is_empty(),
        "the flight found nothing; see {}",
        dir.join("agent.log").display()
    );
    for id in &tickets {
        let t = store.ticket(id).unwrap().unwrap();
        eprintln!(
            "ticket {id} {} opened {:.1} s before landing",
            t.class,
            landed_at - t.opened_at
        );
        assert!(t.opened_at < landed_at, "{id} opened after the landing");
    }
    for c in [&mut agent, &mut dock, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
