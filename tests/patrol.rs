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
//! Mosquitto is restarted mid-flight: the end is still recorded.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use argus_core::cloudapi::Service;
use argus_testkit::services::{Mosquitto, free_port, start_triage, workspace_bin};
use argus_triage::store::RunState;
use chrono::{Timelike, Utc};
use common::{Wire, district, dock_source, plan, spawn_agent, spawn_dock, status, triage_config};

const LEAD_S: f64 = 15.0;

#[test]
fn a_scheduled_patrol_flies_from_the_simulated_dock_and_its_hits_become_tickets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let instant = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::seconds(40);
    plan(dir, "north", instant, "");
    let db = dir.join("triage.db");
    let triage_args = triage_config(dir, &broker, LEAD_S, 20.0);
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-1.log"));
    // The dock and its edge agent.
    let udp = free_port();
    let mut dock = spawn_dock(dir, &district, &broker, udp, &[]);
    let mut agent = spawn_agent(dir, &district, &broker, &dock_source(udp));
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

    // Mid-flight the broker restarts: nothing the dock reports is lost.
    wire.wait("in_progress", Duration::from_secs(120), |m| {
        m.0 == "events" && status(&m.1) == Some("in_progress")
    });
    broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    broker.restart();

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

/// The run of a plan, once it is over.
fn run_of(db: &Path, plan_id: &str, within: Duration) -> argus_triage::store::Run {
    let until = Instant::now() + within;
    let mut store = argus_triage::store::open(&format!("sqlite:{}", db.display())).unwrap();
    loop {
        let runs = store
            .runs(
                &argus_triage::store::RunFilter {
                    plan_id: Some(plan_id.into()),
                    ..Default::default()
                },
                10,
            )
            .unwrap();
        if let Some(r) = runs.into_iter().find(|r| r.state.is_final()) {
            return r;
        }
        assert!(Instant::now() < until, "{plan_id}: no run ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_blackout_a_refusal_and_a_silent_dock_each_end_their_run_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let now = Utc::now().with_nanosecond(0).unwrap();
    let s = chrono::Duration::seconds;
    // Blacked out all day today (and tomorrow, should the test cross midnight).
    let days = format!(
        "blackout_dates = [\"{}/{}\"]\n",
        now.format("%Y-%m-%d"),
        (now + chrono::Duration::days(1)).format("%Y-%m-%d")
    );
    plan(dir, "dark", now + s(15), &days);
    plan(dir, "refused", now + s(20), "");
    plan(dir, "silent", now + s(40), "");
    let triage_args = triage_config(dir, &broker, 5.0, 2.0);
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage.log"));
    let mut dock = spawn_dock(dir, &district, &broker, free_port(), &["--reject-next"]);
    let db = dir.join("triage.db");
    // The blackout: skipped naming its window, nothing sent for it.
    let dark = run_of(&db, "dark", Duration::from_secs(60));
    assert_eq!(dark.state, RunState::Skipped, "{dark:?}");
    assert!(
        dark.reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("blackout "),
        "{dark:?}"
    );
    // Refused by the dock (--reject-next).
    let refused = run_of(&db, "refused", Duration::from_secs(60));
    assert_eq!(refused.state, RunState::Rejected, "{refused:?}");
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("refused the task"),
        "{refused:?}"
    );
    // The dock stops answering just before the last prepare (frozen: its connection stays
    // open, and its last will, 7.5 s later, comes after the reply is given up on).
    let freeze_at = (now + s(40 - 5)).timestamp() as f64 - 1.5;
    let wait = freeze_at - argus_core::clock::now_unix_s();
    assert!(
        wait > 0.0,
        "the refused run ended too late to freeze the dock in time"
    );
    std::thread::sleep(Duration::from_secs_f64(wait));
    let frozen = Command::new("kill")
        .args(["-STOP", &dock.id().to_string()])
        .status()
        .unwrap();
    assert!(frozen.success());
    let silent = run_of(&db, "silent", Duration::from_secs(60));
    let _ = Command::new("kill")
        .args(["-CONT", &dock.id().to_string()])
        .status();
    assert_eq!(silent.state, RunState::Failed, "{silent:?}");
    assert_eq!(
        silent.reason.as_deref(),
        Some("no reply from dock-1 in 2 s"),
        "{silent:?}"
    );
    // On the wire: prepares for the refused and the silent runs only.
    let prepared: Vec<String> = wire
        .all()
        .iter()
        .filter(|m| m.0 == "services" && m.1.method == "flighttask_prepare")
        .filter_map(|m| m.1.data["flight_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(prepared, [refused.run_id.clone(), silent.run_id.clone()]);
    for c in [&mut dock, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
