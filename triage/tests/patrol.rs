//! A scheduled patrol through a real Mosquitto: triage prepares the run `prepare_lead_s`
//! before its instant, the dock downloads the KMZ from the URL it was given (its MD5 is the
//! fingerprint; any other token is a 404), executes it at its instant (± 1 s), and its progress
//! ends the run `ok`, every event answered with its `tid` and `bid`. The test plays the dock
//! with a plain MQTT client speaking the Cloud API.

use std::time::{Duration, Instant};

mod common;

use argus_core::cloudapi::{Progress, Service, TaskStatus};
use argus_testkit::services::{Mosquitto, http};
use argus_triage::store::{RunFilter, RunState};
use common::{SN, ScriptedDock, ms, now_s};

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
