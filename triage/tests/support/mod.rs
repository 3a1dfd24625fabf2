//! A `triage serve` with patrols for the patrol API and dashboard tests: the example dock and
//! the U03 plan (flown at 08:00 and 15:00 in Asia/Shanghai, not over lunch, on leap days only),
//! the embedded broker, a viewer's and an operator's token, and runs written straight
//! into its store.

// Each test binary uses what it needs of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use argus_core::cloudapi::Topology;
use argus_core::topics::DockTopic;
use argus_testkit::services::{free_port, http, start_triage};
use argus_triage::patrols::{Patrols, PatrolsConfig};
use argus_triage::store::{Run, RunEvent, RunKind, RunState, Sqlite, Store};
use rumqttc::{Client, MqttOptions, QoS};
use serde_json::Value;

pub const VIEWER: &str = "viewer-token-patrols-0123";
pub const OPERATOR: &str = "operator-token-patrols-0123";
pub const SN: &str = "7CTDM12345";
pub const AIRCRAFT: &str = "1581F5BKD225D00B";
pub const PLAN: &str = "u03-area";
/// The plan's cron in the tests: 08:00 and 15:00 (Asia/Shanghai) on 29 February.
pub const CRON: &str = "0 8,15 29 2 *";

/// A running triage with patrols.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub mqtt: u16,
    pub db: PathBuf,
    pub log: PathBuf,
    pub patrols: Patrols,
    pub triage: Child,
    pub client: Client,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Triage (the binary at `exe`) with the example dock and plan; `extra` is added to its
/// config file (a `district = …` line).
pub fn start(exe: &str, extra: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = repo().join("flight-plans");
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::copy(root.join("docks.toml"), dir.path().join("docks.toml")).unwrap();
    // Its own schedule's hours and zone, on leap days only: an instant due while a test runs
    // would add a run of its own to the lists the tests check.
    let plan = std::fs::read_to_string(root.join("plans/u03-area.toml")).unwrap();
    let plan = plan.replace("cron = \"0 8,15 * * 1-5\"", &format!("cron = \"{CRON}\""));
    assert!(plan.contains(CRON), "the example plan's cron changed");
    std::fs::write(plans.join("u03-area.toml"), plan).unwrap();
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, format!("viewer:{VIEWER}\noperator:{OPERATOR}\n")).unwrap();
    let (port, mqtt) = (free_port(), free_port());
    let db = dir.path().join("t.db");
    let config = dir.path().join("triage.toml");
    // No reply is waited for long: a run sent to the (silent) dock stays open for the test.
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\nhttp = \"127.0.0.1:{port}\"\ntokens = \"{}\"\n{extra}\n\
             [mqtt]\nlisten = \"127.0.0.1:{mqtt}\"\n\
             [patrols]\nplans = \"{}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             reply_timeout_s = 600\n",
            db.display(),
            tokens.display(),
            plans.display(),
        ),
    )
    .unwrap();
    let patrols = Patrols::load(&PatrolsConfig {
        plans,
        docks: None,
        prepare_lead_s: 120.0,
        reply_timeout_s: 600.0,
        public_url: format!("http://127.0.0.1:{port}"),
        client_id: "triage-docks".into(),
    })
    .unwrap();
    let log = dir.path().join("triage.log");
    let triage = start_triage(
        exe,
        &[
            "serve".to_string(),
            "--config".into(),
            config.display().to_string(),
        ],
        &log,
    );
    let (client, mut conn) = Client::new(MqttOptions::new("test-dock", "127.0.0.1", mqtt), 100);
    std::thread::spawn(move || for _ in conn.iter() {});
    Rig {
        dir,
        port,
        mqtt,
        db,
        log,
        patrols,
        triage,
        client,
    }
}

impl Rig {
    /// Writes a run of the plan at `at` (Unix seconds) in `state` with its claim event.
    pub fn insert_run(&self, kind: RunKind, at: f64, state: RunState, reason: Option<&str>) -> Run {
        let p = self.patrols.get(PLAN).unwrap();
        let run = Run {
            run_id: uuid::Uuid::now_v7().to_string(),
            plan_id: PLAN.into(),
            plan_sha256: p.plan_sha256.clone(),
            dock_id: "dock-1".into(),
            kind,
            scheduled_at: at,
            state,
            reason: reason.map(str::to_string),
            kmz_md5: Some(p.kmz_md5.clone()),
            ticket_id: None,
            updated_at: at + 600.0,
        };
        let mut store = Sqlite::open(&self.db).unwrap();
        let ev = RunEvent::new(&run.run_id, at - 120.0, "claimed", serde_json::json!({}));
        assert!(store.claim_run(&run, &ev).unwrap());
        if state.is_final() {
            let ev = RunEvent::new(
                &run.run_id,
                at + 600.0,
                state.as_str(),
                serde_json::json!({}),
            );
            store.add_run_event(&ev).unwrap();
        }
        run
    }

    /// A hit seen on `flight`, at (`lat`, `lon`); waits until it is a ticket, and gives its id.
    pub fn hit_on_flight(
        &self,
        name: &str,
        flight: &str,
        class: &str,
        lat: f64,
        lon: f64,
    ) -> String {
        let mut h = argus_testkit::hits::hit(
            &argus_testkit::hits::hit_id(name),
            "district-1",
            class,
            lat,
            0.9,
        );
        h.position.lon = lon;
        h.source.flight_id = Some(flight.into());
        argus_testkit::hits::publish_hit(&self.client, &h);
        let until = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found = Sqlite::open(&self.db)
                .unwrap()
                .flight_tickets(flight)
                .unwrap();
            if let Some(t) = found.first() {
                return t.clone();
            }
            assert!(
                std::time::Instant::now() < until,
                "the flight's hit made no ticket"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The dock says it is online with its aircraft (as its gateway does every few seconds).
    pub fn dock_online(&self) {
        let t = Topology {
            online: true,
            sub_devices: vec![AIRCRAFT.into()],
        };
        let ms = (argus_core::clock::now_unix_s() * 1000.0) as i64;
        self.client
            .publish(
                DockTopic::Status.topic(SN),
                QoS::AtLeastOnce,
                false,
                t.envelope(ms).to_json(),
            )
            .unwrap();
    }

    /// A request with a token; the status and the body as JSON (null when it is not).
    pub fn json(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let (status, body) = self.raw(method, path, token);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A request with a token; the status and the body.
    pub fn raw(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        http(self.port, method, path, &headers, b"").expect("triage answers")
    }

    /// Stops triage.
    pub fn stop(&mut self) {
        let _ = self.triage.kill();
        let _ = self.triage.wait();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop();
    }
}
