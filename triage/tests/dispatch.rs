//! The dispatcher's decisions, message by message, on a real SQLite store: a run is claimed
//! once per instant, prepared `prepare_lead_s` ahead, executed once at its instant (also after a
//! restart), moved by the dock's progress; blackouts, an offline dock, silence, refusals and
//! downtime end it with the reason; what a dock sends that cannot be used is a dead letter. (The
//! same protocol over a real broker with the simulated dock is `tests/patrol.rs`.)

use std::path::Path;
use std::sync::Arc;

use argus_core::cloudapi::{Envelope, Progress, Service, TaskStatus, TaskType, Topology};
use argus_core::topics::DockTopic;
use argus_triage::dispatch::{DOCK_HEARD_GRACE_S, Dispatcher, Publish};
use argus_triage::patrols::{Patrols, PatrolsConfig};
use argus_triage::store::{self, RunFilter, RunState, Store};

const SN: &str = "7CTDM12345";
const AIRCRAFT: &str = "1581F5BKD225D00B";
/// 2026-12-02T10:00:00Z.
const T10: f64 = 1_796_205_600.0;

#[derive(Default)]
struct Wire(Vec<(String, Vec<u8>)>);

impl Publish for Wire {
    fn publish(&mut self, topic: String, payload: Vec<u8>) {
        self.0.push((topic, payload));
    }
}

impl Wire {
    /// The messages sent on a topic since the last look, read.
    fn take(&mut self, topic: &str) -> Vec<Envelope> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(t, _)| t == topic);
        self.0 = rest;
        mine.iter()
            .map(|(_, p)| Envelope::parse(p, SN).unwrap())
            .collect()
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    db: String,
    patrols: Arc<Patrols>,
    cfg: PatrolsConfig,
}

/// The example dock and the U03 plan flown every hour on the hour (UTC), with a blackout
/// `blackout` (e.g. 12:00-13:30).
fn rig(blackout: &str) -> Rig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flight-plans");
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::copy(root.join("docks.toml"), dir.path().join("docks.toml")).unwrap();
    let plan = std::fs::read_to_string(root.join("plans/u03-area.toml")).unwrap();
    let head = &plan[..plan.find("[schedule]").unwrap()];
    std::fs::write(
        plans.join("u03-area.toml"),
        format!(
            "{head}[schedule]\ncron = \"0 * * * *\"\ntimezone = \"UTC\"\nblackout_hours = \"{blackout}\"\ncatch_up_s = 600\n"
        ),
    )
    .unwrap();
    let cfg = PatrolsConfig {
        plans,
        docks: None,
        prepare_lead_s: 120.0,
        reply_timeout_s: 20.0,
        public_url: "http://10.0.0.2:8080".into(),
        client_id: "triage-docks".into(),
    };
    let patrols = Arc::new(Patrols::load(&cfg).unwrap());
    let db = format!("sqlite:{}", dir.path().join("t.db").display());
    Rig {
        _dir: dir,
        db,
        patrols,
        cfg,
    }
}

impl Rig {
    fn dispatcher(&self, now: f64) -> Dispatcher {
        Dispatcher::new(
            self.patrols.clone(),
            self.cfg.clone(),
            store::open(&self.db).unwrap(),
            now,
        )
        .unwrap()
    }
}

fn topic(kind: &str) -> String {
    let k = DockTopic::ALL
        .into_iter()
        .find(|k| k.topic(SN).ends_with(&format!("/{kind}")))
        .unwrap();
    k.topic(SN)
}

/// The dock says it is online with its aircraft.
fn online(d: &mut Dispatcher, wire: &mut Wire, now: f64) {
    let t = Topology {
        online: true,
        sub_devices: vec![AIRCRAFT.into()],
    };
    d.on_message(
        &DockTopic::Status.topic(SN),
        &t.envelope((now * 1000.0) as i64).to_json(),
        now,
        wire,
    )
    .unwrap();
    assert_eq!(
        wire.take(&format!("sys/product/{SN}/status_reply")).len(),
        1
    );
}

fn reply(d: &mut Dispatcher, wire: &mut Wire, to: &Envelope, result: i64, now: f64) {
    let r = to.result_reply((now * 1000.0) as i64, result);
    d.on_message(&topic("services_reply"), &r.to_json(), now, wire)
        .unwrap();
}

fn progress(
    d: &mut Dispatcher,
    wire: &mut Wire,
    flight_id: &str,
    status: TaskStatus,
    waypoint: u32,
    now: f64,
) -> Envelope {
    let p = Progress {
        flight_id: flight_id.into(),
        status,
        current_waypoint_index: Some(waypoint),
        percent: None,
        result: 0,
    };
    let e = p.envelope(SN, "bid-flight", (now * 1000.0) as i64);
    d.on_message(&topic("events"), &e.to_json(), now, wire)
        .unwrap();
    e
}

/// A dispatcher started at 09:50 with the dock online, at 09:58 when the 10:00 run is
/// prepared: it, and the prepare it sent.
fn prepared(rig: &Rig, wire: &mut Wire) -> (Dispatcher, Envelope) {
    let mut d = rig.dispatcher(T10 - 600.0);
    online(&mut d, wire, T10 - 600.0);
    d.tick(T10 - 120.0, wire).unwrap();
    let mut sent = wire.take(&topic("services"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    (d, sent.remove(0))
}

fn only_run(s: &mut dyn Store) -> argus_triage::store::Run {
    let runs = s.runs(&RunFilter::default(), 10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.into_iter().next().unwrap()
}

#[test]
fn a_scheduled_run_is_prepared_ahead_executed_once_and_flown() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    let mut d = rig.dispatcher(T10 - 600.0);
    online(&mut d, &mut wire, T10 - 600.0);
    // Not yet: more than the lead before 10:00.
    d.tick(T10 - 121.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    assert!(
        d.store()
            .runs(&RunFilter::default(), 10)
            .unwrap()
            .is_empty()
    );
    // The lead: claimed and prepared, timed for the instant.
    d.tick(T10 - 120.0, &mut wire).unwrap();
    let sent = wire.take(&topic("services"));
    assert_eq!(sent.len(), 1);
    let Service::Prepare(prep) = Service::read(&sent[0]).unwrap() else {
        panic!("{sent:?}")
    };
    let run = only_run(d.store());
    assert_eq!(run.state, RunState::Preparing);
    assert_eq!(prep.flight_id, run.run_id);
    assert!(argus_triage::check::is_uuid7(&run.run_id));
    assert_eq!(prep.execute_time_ms, (T10 * 1000.0) as i64);
    let patrol = rig.patrols.get("u03-area").unwrap();
    assert_eq!(prep.file.fingerprint, patrol.kmz_md5);
    assert_eq!(run.kmz_md5.as_deref(), Some(patrol.kmz_md5.as_str()));
    // The URL serves the KMZ; another token serves nothing.
    let token = prep
        .file
        .url
        .strip_prefix("http://10.0.0.2:8080/api/v1/waylines/")
        .and_then(|t| t.strip_suffix(".kmz"))
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 32);
    assert_eq!(
        d.wayline(&token, T10 - 119.0).unwrap(),
        Some(patrol.kmz.clone())
    );
    assert_eq!(d.wayline(&"0".repeat(32), T10 - 119.0).unwrap(), None);
    // A second tick claims nothing more.
    d.tick(T10 - 119.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    reply(&mut d, &mut wire, &sent[0], 0, T10 - 118.0);
    assert_eq!(only_run(d.store()).state, RunState::Prepared);
    // Executed at the instant, once.
    d.tick(T10 - 0.5, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    d.tick(T10, &mut wire).unwrap();
    let exec = wire.take(&topic("services"));
    assert_eq!(exec.len(), 1);
    assert_eq!(
        Service::read(&exec[0]).unwrap(),
        Service::Execute {
            flight_id: run.run_id.clone()
        }
    );
    d.tick(T10 + 1.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    reply(&mut d, &mut wire, &exec[0], 0, T10 + 1.0);
    // Progress moves it; every event asked for is answered with its tid and bid.
    let mut events = Vec::new();
    for (k, status) in [
        TaskStatus::Sent,
        TaskStatus::InProgress,
        TaskStatus::InProgress,
        TaskStatus::Ok,
    ]
    .into_iter()
    .enumerate()
    {
        events.push(progress(
            &mut d,
            &mut wire,
            &run.run_id,
            status,
            k as u32,
            T10 + 10.0 * k as f64,
        ));
    }
    let replies = wire.take(&topic("events_reply"));
    assert_eq!(replies.len(), events.len());
    for (e, r) in events.iter().zip(&replies) {
        assert_eq!((&r.tid, &r.bid, r.result()), (&e.tid, &e.bid, Ok(0)));
    }
    let done = only_run(d.store());
    assert_eq!((done.state, done.reason), (RunState::Ok, None));
    let names: Vec<String> = d
        .store()
        .run_events(&run.run_id)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        names,
        [
            "claimed",
            "preparing",
            "flighttask_prepare_sent",
            "prepared",
            "executing",
            "flighttask_execute_sent",
            "services_reply",
            "flighttask_progress",
            "in_progress",
            "flighttask_progress",
            "ok"
        ]
    );
}

#[test]
fn a_restart_after_the_prepare_reply_executes_once() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    let (mut d, prep) = prepared(&rig, &mut wire);
    reply(&mut d, &mut wire, &prep, 0, T10 - 119.0);
    drop(d);
    // Back 30 s before the instant.
    let mut d = rig.dispatcher(T10 - 30.0);
    online(&mut d, &mut wire, T10 - 30.0);
    for k in 0..5 {
        d.tick(T10 - 30.0 + 10.0 * k as f64, &mut wire).unwrap();
    }
    let exec = wire.take(&topic("services"));
    assert_eq!(exec.len(), 1, "{exec:?}");
    assert_eq!(exec[0].method, "flighttask_execute");
    // And again after the execute went out: it is not sent twice.
    drop(d);
    let mut d = rig.dispatcher(T10 + 15.0);
    d.tick(T10 + 15.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    // The reply to the execute sent before the restart is still known.
    reply(&mut d, &mut wire, &exec[0], 0, T10 + 16.0);
    let run = only_run(d.store());
    assert_eq!(run.state, RunState::Executing);
    assert!(d.store().dead_letters(10).unwrap().is_empty());
}

#[test]
fn runs_that_cannot_fly_end_with_the_reason_and_nothing_sent() {
    // A blackout over 10:00.
    let rig1 = rig("09:30-10:30");
    let mut wire = Wire::default();
    let mut d = rig1.dispatcher(T10 - 600.0);
    online(&mut d, &mut wire, T10 - 600.0);
    d.tick(T10 - 120.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    let run = only_run(d.store());
    assert_eq!(run.state, RunState::Skipped);
    assert_eq!(run.reason.as_deref(), Some("blackout 09:30-10:30 UTC"));

    // A dock that never said it is online.
    let rig2 = rig("12:00-13:30");
    let mut d = rig2.dispatcher(T10 - 600.0);
    d.tick(T10 - 120.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    let run = only_run(d.store());
    assert_eq!(
        (run.state, run.reason.as_deref()),
        (RunState::Skipped, Some("dock dock-1 offline"))
    );

    // A dock that does not answer, and one that refuses.
    for (answer, state, says) in [
        (None, RunState::Failed, "no reply from dock-1 in 20 s"),
        (
            Some(314_000),
            RunState::Rejected,
            "dock-1 refused the task (result 314000)",
        ),
    ] {
        let rig = rig("12:00-13:30");
        let (mut d, prep) = prepared(&rig, &mut wire);
        if let Some(r) = answer {
            reply(&mut d, &mut wire, &prep, r, T10 - 110.0);
        }
        d.tick(T10 - 99.0, &mut wire).unwrap();
        let run = only_run(d.store());
        assert_eq!((run.state, run.reason.as_deref()), (state, Some(says)));
        // Nothing more goes to the dock for it.
        d.tick(T10 + 1.0, &mut wire).unwrap();
        assert!(wire.take(&topic("services")).is_empty());
    }

    // The dock reports a failure mid-flight: failed at the waypoint it reached.
    let rig3 = rig("12:00-13:30");
    let (mut d, prep) = prepared(&rig3, &mut wire);
    reply(&mut d, &mut wire, &prep, 0, T10 - 119.0);
    d.tick(T10, &mut wire).unwrap();
    let run = only_run(d.store());
    progress(
        &mut d,
        &mut wire,
        &run.run_id,
        TaskStatus::InProgress,
        1,
        T10 + 5.0,
    );
    progress(
        &mut d,
        &mut wire,
        &run.run_id,
        TaskStatus::Failed,
        3,
        T10 + 30.0,
    );
    let run = only_run(d.store());
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        run.reason.as_deref(),
        Some("the dock reports failed at waypoint 3 (result 0)")
    );
}

/// Flies the run just prepared: the dock takes it, it is executed at its instant (or now, if
/// that passed), and it ends `ok`.
fn fly(d: &mut Dispatcher, wire: &mut Wire, prep: &Envelope, now: f64) {
    let Service::Prepare(p) = Service::read(prep).unwrap() else {
        panic!("{prep:?}")
    };
    reply(d, wire, prep, 0, now);
    let at = (p.execute_time_ms as f64 / 1000.0).max(now);
    d.tick(at, wire).unwrap();
    let exec = wire.take(&topic("services"));
    assert_eq!(exec.len(), 1, "{exec:?}");
    reply(d, wire, &exec[0], 0, at);
    progress(d, wire, &p.flight_id, TaskStatus::Ok, 9, at + 60.0);
}

#[test]
fn downtime_within_the_catch_up_window_flies_late_and_beyond_it_is_missed() {
    let rig = rig("12:30-13:30");
    let mut wire = Wire::default();
    // 10:00 is flown; triage is away from 10:30 until 11:05: 11:00, 300 s late (within
    // catch_up_s = 600), is flown late …
    let (mut d, prep) = prepared(&rig, &mut wire);
    fly(&mut d, &mut wire, &prep, T10 - 119.0);
    drop(d);
    let mut d = rig.dispatcher(T10 + 3900.0);
    online(&mut d, &mut wire, T10 + 3900.0);
    d.tick(T10 + 3900.0, &mut wire).unwrap();
    let prep = wire.take(&topic("services")).remove(0);
    fly(&mut d, &mut wire, &prep, T10 + 3901.0);
    drop(d);
    // … then away from 11:10 until 13:20: 12:00 is missed, 13:00 falls in the blackout.
    let back = T10 + 3.0 * 3600.0 + 1200.0;
    let mut d = rig.dispatcher(back);
    online(&mut d, &mut wire, back);
    d.tick(back, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    let runs = d.store().runs(&RunFilter::default(), 10).unwrap();
    let by_hour: Vec<(f64, RunState)> = runs
        .iter()
        .map(|r| ((r.scheduled_at - T10) / 3600.0, r.state))
        .collect();
    assert_eq!(
        by_hour,
        [
            (3.0, RunState::Skipped),
            (2.0, RunState::Missed),
            (1.0, RunState::Ok),
            (0.0, RunState::Ok)
        ]
    );
    assert!(
        runs[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("4800 s late") && r.contains("catch_up_s = 600")),
        "{:?}",
        runs[1]
    );
    assert_eq!(runs[0].reason.as_deref(), Some("blackout 12:30-13:30 UTC"));
}

#[test]
fn a_prepared_run_whose_instant_passed_while_triage_was_away_is_dropped() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    let (mut d, prep) = prepared(&rig, &mut wire);
    reply(&mut d, &mut wire, &prep, 0, T10 - 119.0);
    drop(d);
    // Back at 10:20: too late to fly 10:00; the dock is told to drop it.
    let mut d = rig.dispatcher(T10 + 1200.0);
    online(&mut d, &mut wire, T10 + 1200.0);
    d.tick(T10 + 1200.0, &mut wire).unwrap();
    let run = only_run(d.store());
    assert_eq!(run.state, RunState::Missed);
    let undo = wire.take(&topic("services"));
    assert_eq!(undo.len(), 1);
    assert_eq!(
        Service::read(&undo[0]).unwrap(),
        Service::Undo {
            flight_ids: vec![run.run_id]
        }
    );
}

#[test]
fn what_a_dock_sends_that_cannot_be_used_is_a_dead_letter() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    let (mut d, _) = prepared(&rig, &mut wire);
    let before = only_run(d.store());
    let unknown_tid = Service::Execute {
        flight_id: before.run_id.clone(),
    }
    .envelope(0)
    .result_reply(1_796_205_500_000, 0);
    let strange_progress = Progress {
        flight_id: "0192d7a0-8c4e-7a35-9f00-5a1b2c3d4e5f".into(),
        status: TaskStatus::Ok,
        current_waypoint_index: None,
        percent: None,
        result: 0,
    }
    .envelope(SN, "b", 1_796_205_500_000);
    let mut wrong_gateway = Progress {
        flight_id: before.run_id.clone(),
        status: TaskStatus::Ok,
        current_waypoint_index: None,
        percent: None,
        result: 0,
    }
    .envelope(SN, "b", 1_796_205_500_000);
    wrong_gateway.gateway = Some("OTHER1".into());
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            topic("events"),
            b"not json".to_vec(),
            "not a Cloud API message",
        ),
        (
            "thing/product/NOTADOCK1/events".into(),
            strange_progress.to_json(),
            "serial number NOTADOCK1 is no [[dock]]",
        ),
        (
            topic("services_reply"),
            unknown_tid.to_json(),
            "did not send",
        ),
        (
            topic("events"),
            strange_progress.to_json(),
            "unknown flight_id",
        ),
        (topic("events"), wrong_gateway.to_json(), "gateway"),
        (
            topic("events"),
            Envelope::new("hms", 1_796_205_500_000, serde_json::json!({})).to_json(),
            "unknown event method `hms`",
        ),
    ];
    for (t, payload, _) in &cases {
        d.on_message(t, payload, T10 - 100.0, &mut wire).unwrap();
    }
    let mut dead = d.store().dead_letters(20).unwrap();
    dead.reverse();
    assert_eq!(dead.len(), cases.len(), "{dead:?}");
    for (dl, (t, _, says)) in dead.iter().zip(&cases) {
        assert_eq!(&dl.topic, t);
        assert!(dl.reason.contains(says), "{}: {}", dl.reason, says);
    }
    // No run moved.
    assert_eq!(only_run(d.store()), before);
}

#[test]
fn two_instances_on_one_sqlite_prepare_and_execute_each_instant_once() {
    two_instances(rig("12:00-13:30"));
}

#[test]
fn two_instances_on_one_postgres_prepare_and_execute_each_instant_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = argus_testkit::services::Postgres::start(&dir.path().join("pg"));
    let mut r = rig("12:00-13:30");
    r.db = pg.create_db("dispatch");
    two_instances(r);
}

fn two_instances(rig: Rig) {
    let (mut wire_a, mut wire_b) = (Wire::default(), Wire::default());
    let mut a = rig.dispatcher(T10 - 600.0);
    let mut b = rig.dispatcher(T10 - 600.0);
    online(&mut a, &mut wire_a, T10 - 600.0);
    online(&mut b, &mut wire_b, T10 - 600.0);
    for now in [T10 - 120.0, T10 - 119.5, T10 - 119.0] {
        a.tick(now, &mut wire_a).unwrap();
        b.tick(now, &mut wire_b).unwrap();
    }
    let (pa, pb) = (
        wire_a.take(&topic("services")),
        wire_b.take(&topic("services")),
    );
    assert_eq!(pa.len() + pb.len(), 1, "{pa:?} {pb:?}");
    let prep = pa.into_iter().chain(pb).next().unwrap();
    // The dock's reply reaches either instance (a shared subscription): both know its tid;
    // the second copy finds it answered.
    reply(&mut b, &mut wire_b, &prep, 0, T10 - 118.0);
    reply(&mut a, &mut wire_a, &prep, 0, T10 - 118.0);
    assert_eq!(only_run(a.store()).state, RunState::Prepared);
    for now in [T10, T10 + 0.2, T10 + 0.4] {
        b.tick(now, &mut wire_b).unwrap();
        a.tick(now, &mut wire_a).unwrap();
    }
    let (ea, eb) = (
        wire_a.take(&topic("services")),
        wire_b.take(&topic("services")),
    );
    assert_eq!(ea.len() + eb.len(), 1, "{ea:?} {eb:?}");
    // The second copy of the reply moved nothing.
    let run = only_run(a.store());
    let prepared = a
        .store()
        .run_events(&run.run_id)
        .unwrap()
        .iter()
        .filter(|e| e.event == "prepared")
        .count();
    assert_eq!(prepared, 1);
}

#[test]
fn a_dock_heard_from_lately_is_online_until_it_says_it_is_not() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    // After a restart no topology has come yet, but the dock's own OSD has.
    let mut d = rig.dispatcher(T10 - 600.0);
    // As a dock sends it: no method.
    let osd = serde_json::to_vec(&serde_json::json!({
        "tid": "t", "bid": "b", "timestamp": 1_796_205_470_000_i64, "gateway": SN,
        "data": { "mode_code": 0, "latitude": 30.7, "longitude": 121.02 },
    }))
    .unwrap();
    d.on_message(&topic("osd"), &osd, T10 - 130.0, &mut wire)
        .unwrap();
    d.tick(T10 - 120.0, &mut wire).unwrap();
    assert_eq!(wire.take(&topic("services")).len(), 1);
    assert_eq!(only_run(d.store()).state, RunState::Preparing);
    // Its last will says it went: the next instant is skipped, however recent its OSD.
    let gone = Topology {
        online: false,
        sub_devices: vec![],
    };
    d.on_message(
        &DockTopic::Status.topic(SN),
        &gone.envelope(((T10 + 3000.0) * 1000.0) as i64).to_json(),
        T10 + 3000.0,
        &mut wire,
    )
    .unwrap();
    d.on_message(&topic("osd"), &osd, T10 + 3470.0, &mut wire)
        .unwrap();
    d.tick(T10 + 3480.0, &mut wire).unwrap();
    let runs = d.store().runs(&RunFilter::default(), 5).unwrap();
    assert_eq!(runs[0].reason.as_deref(), Some("dock dock-1 offline"));
}

#[test]
fn run_now_flies_an_immediate_task_and_cancel_undoes_or_calls_home() {
    let rig = rig("12:00-13:30");
    let mut wire = Wire::default();
    // 09:10: nothing scheduled is due before 09:58.
    let now = T10 - 3000.0;
    let mut d = rig.dispatcher(now - 10.0);
    online(&mut d, &mut wire, now - 10.0);
    let e = d.run_now("nope", now, "ops").unwrap_err();
    assert!(e.to_string().contains("no patrol \"nope\""), "{e}");
    // Run now: an immediate task with its execute time now, executed once prepared.
    let run = d.run_now("u03-area", now, "ops").unwrap();
    assert_eq!(
        (run.kind.as_str(), run.state),
        ("manual", RunState::Scheduled)
    );
    d.tick(now + 0.2, &mut wire).unwrap();
    let prep = wire.take(&topic("services"));
    assert_eq!(prep.len(), 1);
    let Service::Prepare(p) = Service::read(&prep[0]).unwrap() else {
        panic!("{prep:?}")
    };
    assert_eq!(p.flight_id, run.run_id);
    assert_eq!(p.task_type, TaskType::Immediate);
    assert_eq!(p.execute_time_ms, (now * 1000.0).round() as i64);
    reply(&mut d, &mut wire, &prep[0], 0, now + 1.0);
    d.tick(now + 1.2, &mut wire).unwrap();
    let exec = wire.take(&topic("services"));
    assert_eq!(exec[0].method, "flighttask_execute");
    reply(&mut d, &mut wire, &exec[0], 0, now + 2.0);
    progress(
        &mut d,
        &mut wire,
        &run.run_id,
        TaskStatus::InProgress,
        2,
        now + 5.0,
    );
    // A second run now while it flies: the dock is busy, said at once.
    let busy = d.run_now("u03-area", now + 6.0, "ops").unwrap();
    assert_eq!(busy.state, RunState::Skipped);
    assert!(busy.reason.unwrap().contains("busy"));
    // Cancel in flight: the aircraft is called home, the run ends canceled naming who.
    let c = d.cancel(&run.run_id, now + 10.0, "ops").unwrap();
    wire.0.extend(d.take_queued());
    assert_eq!(c.state, RunState::Canceled);
    assert_eq!(c.reason.as_deref(), Some("canceled by ops"));
    let home = wire.take(&topic("services"));
    assert_eq!(home.len(), 1);
    assert_eq!(home[0].method, "return_home");
    // Over: a second cancel is refused naming the state, and late progress changes nothing.
    let e = d.cancel(&run.run_id, now + 11.0, "ops").unwrap_err();
    assert!(e.to_string().contains("already canceled"), "{e}");
    progress(
        &mut d,
        &mut wire,
        &run.run_id,
        TaskStatus::Ok,
        9,
        now + 60.0,
    );
    assert_eq!(
        d.store().run(&run.run_id).unwrap().unwrap().state,
        RunState::Canceled
    );
    // A prepared scheduled run canceled: flighttask_undo, and no execute at its instant.
    let (mut d2, prep) = prepared(&rig, &mut wire);
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!()
    };
    reply(&mut d2, &mut wire, &prep, 0, T10 - 110.0);
    d2.cancel(&p.flight_id, T10 - 100.0, "ops").unwrap();
    wire.0.extend(d2.take_queued());
    let undo = wire.take(&topic("services"));
    assert_eq!(
        Service::read(&undo[0]).unwrap(),
        Service::Undo {
            flight_ids: vec![p.flight_id.clone()]
        }
    );
    d2.tick(T10 + 1.0, &mut wire).unwrap();
    assert!(wire.take(&topic("services")).is_empty());
    // An unknown run.
    let e = d.cancel("0190aaaa-0000-7000-8000-000000000000", now, "ops");
    assert!(e.unwrap_err().to_string().contains("no run"));
}

/// The instants the dispatcher claims for `cron` in `tz` (blackouts `blackout`), ticking every
/// 20 minutes from `from` to `until`, and the runs `flightplan next` lists for the plan
/// (`Schedule::runs`, the function it prints) over the same span.
fn claimed_and_listed(
    cron: &str,
    tz: &str,
    blackout: &str,
    from: &str,
    until: &str,
) -> (Vec<String>, Vec<String>, usize) {
    let r = rig("12:00-13:30");
    let text = std::fs::read_to_string(r.cfg.plans.join("u03-area.toml")).unwrap();
    let head = &text[..text.find("[schedule]").unwrap()];
    let plan = format!(
        "{head}[schedule]\ncron = \"{cron}\"\ntimezone = \"{tz}\"\n{blackout}catch_up_s = 600\n"
    );
    std::fs::write(r.cfg.plans.join("u03-area.toml"), &plan).unwrap();
    let patrols = Arc::new(Patrols::load(&r.cfg).unwrap());
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp() as f64;
    let (from, until) = (t(from), t(until));
    let mut d = Dispatcher::new(
        patrols.clone(),
        r.cfg.clone(),
        store::open(&r.db).unwrap(),
        from,
    )
    .unwrap();
    let mut wire = Wire::default();
    let mut now = from;
    while now <= until {
        d.tick(now, &mut wire).unwrap();
        now += 1200.0;
    }
    let fmt = |t: f64| {
        chrono::DateTime::from_timestamp(t as i64, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let runs = d.store().runs(&RunFilter::default(), 10_000).unwrap();
    let blacked = runs
        .iter()
        .filter(|r| {
            r.reason
                .as_deref()
                .is_some_and(|x| x.starts_with("blackout"))
        })
        .count();
    // Every claimed instant is one run (the dock is offline: skipped, saying so).
    let mut claimed: Vec<String> = runs
        .iter()
        .filter(|r| {
            r.scheduled_at <= until
                && !r
                    .reason
                    .as_deref()
                    .is_some_and(|x| x.starts_with("blackout"))
        })
        .map(|r| fmt(r.scheduled_at))
        .collect();
    claimed.sort();
    let mut all: Vec<f64> = runs.iter().map(|r| r.scheduled_at).collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    assert_eq!(all.len(), runs.len(), "an instant claimed twice");
    let s = patrols.patrols[0].schedule().unwrap();
    let listed = s
        // `runs` lists (from, until]; the dispatcher started at `from` claims an instant at it.
        .runs(
            chrono::DateTime::from_timestamp(from as i64 - 1, 0).unwrap(),
            chrono::DateTime::from_timestamp(until as i64, 0).unwrap(),
        )
        .into_iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    (claimed, listed, blacked)
}

#[test]
fn the_scheduler_claims_the_runs_flightplan_next_lists_over_a_month_and_across_clock_changes() {
    // Shanghai's working days at 08:00 and 15:00 over December 2026, Christmas blacked out.
    let (claimed, listed, blacked) = claimed_and_listed(
        "0 8,15 * * 1-5",
        "Asia/Shanghai",
        "blackout_dates = [\"2026-12-25/2026-12-25\"]\n",
        "2026-11-30T16:00:00Z",
        "2026-12-31T15:59:59Z",
    );
    assert_eq!(claimed, listed);
    assert_eq!((claimed.len(), blacked), (44, 2), "{claimed:?}");
    assert_eq!(claimed[0], "2026-12-01T00:00:00Z");
    // Berlin's spring change: the 02:30 of 28 March 2027 does not exist and is flown at 03:00
    // CEST (01:00Z), once.
    let (claimed, listed, _) = claimed_and_listed(
        "30 2 * * *",
        "Europe/Berlin",
        "",
        "2027-03-26T00:00:00Z",
        "2027-03-30T00:00:00Z",
    );
    assert_eq!(claimed, listed);
    assert_eq!(
        claimed,
        [
            "2027-03-26T01:30:00Z",
            "2027-03-27T01:30:00Z",
            "2027-03-28T01:00:00Z",
            "2027-03-29T00:30:00Z"
        ]
    );
    // Autumn: an hourly plan flies 25 times on 31 October 2027, 02:00 CEST and 02:00 CET each once.
    let (claimed, listed, _) = claimed_and_listed(
        "0 * * * *",
        "Europe/Berlin",
        "",
        "2027-10-30T22:00:00Z",
        "2027-10-31T22:59:59Z",
    );
    assert_eq!(claimed, listed);
    assert_eq!(claimed.len(), 25);
    assert!(
        claimed.contains(&"2027-10-31T00:00:00Z".to_string())
            && claimed.contains(&"2027-10-31T01:00:00Z".to_string())
    );
}

#[test]
fn a_restarted_triage_waits_for_its_dock_to_be_heard_before_calling_it_offline() {
    let first = rig("12:00-13:30");
    let mut wire = Wire::default();
    // Started inside the prepare lead: the dock, there all along, is heard 3 s later.
    let lead = first.cfg.prepare_lead_s;
    let start = T10 - lead + 5.0;
    let mut d = first.dispatcher(start);
    d.tick(start, &mut wire).unwrap();
    d.tick(start + 1.0, &mut wire).unwrap();
    assert!(
        d.store()
            .runs(&RunFilter::default(), 10)
            .unwrap()
            .is_empty(),
        "claimed before the dock could be heard"
    );
    online(&mut d, &mut wire, start + 3.0);
    d.tick(start + 3.2, &mut wire).unwrap();
    let run = only_run(d.store());
    assert_ne!(run.state, RunState::Skipped, "{run:?}");
    assert_eq!(wire.take(&topic("services")).len(), 1, "one prepare");

    // A dock still unheard once the grace is over is offline, and the run says so.
    let rig2 = rig("12:00-13:30");
    let mut d = rig2.dispatcher(start);
    for k in 0..=(DOCK_HEARD_GRACE_S as usize) {
        d.tick(start + k as f64, &mut wire).unwrap();
    }
    let run = only_run(d.store());
    assert_eq!(
        (run.state, run.reason.as_deref()),
        (RunState::Skipped, Some("dock dock-1 offline"))
    );
    assert!(wire.take(&topic("services")).is_empty());
}
