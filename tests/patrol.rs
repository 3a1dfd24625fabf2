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
//! Mosquitto is restarted mid-flight: the end is still recorded. The recording the dock writes
//! beside the flight (`flights/{flight_id}/`: `flight.mp4`, `flight.SRT`, `truth.jsonl`)
//! replays through `edge-agent replay` into the same violations the live agent found, every
//! one its truth shows (scored by `argus_truth::scoring`).
//!
//! A dock told to fail at wayline waypoint 3 (`--fail-at-waypoint 3`) ends its run `failed`
//! with the waypoint in its reason and its last event, in the store and through
//! `GET /api/v1/runs/{id}`.
//!
//! Triage down across an instant — killed once the prepare reply is stored, or before the
//! prepare is due — and back 3 s after the instant, within the plan's `catch_up_s`: it
//! executes the run late, once, and the run ends `ok`. Back after `catch_up_s`, the run is
//! `missed` with the reason and nothing is sent for it, though the dock is online.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use argus_core::cloudapi::{Progress, Service};
use argus_core::hit::Hit;
use argus_sim::dock::tasks::result;
use argus_testkit::services::{Mosquitto, free_port, http, start_triage, workspace_bin};
use argus_triage::store::RunState;
use argus_truth::scoring::{self, ScoreRules};
use chrono::{Timelike, Utc};
use common::{
    Wire, district, dock_source, of_flight, plan, point_plan, schedule_at, spawn_agent, spawn_dock,
    status, triage_config, triage_http_port, unanswered,
};

const LEAD_S: f64 = 15.0;

#[test]
fn a_scheduled_patrol_flies_from_the_simulated_dock_its_hits_become_tickets_and_its_recording_replays_into_the_same_violations()
 {
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

    // The recording the dock wrote beside the flight replays through `edge-agent replay`
    // (with the live agent's config) into the same violations the live analysis found: those
    // the flight's truth shows.
    let rec = dir.join("flights").join(&flight);
    let replay_out = dir.join("replay.jsonl");
    let started = Instant::now();
    let replay = Command::new(workspace_bin("edge-agent"))
        .arg("replay")
        .arg(rec.join("flight.mp4"))
        .arg("--telemetry")
        .arg(rec.join("flight.SRT"))
        .arg("--config")
        .arg(dir.join("agent.toml"))
        .arg("--out")
        .arg(&replay_out)
        .env("RUST_LOG", "info,ort=warn")
        .env("NO_COLOR", "1")
        .current_dir(argus_testkit::repo_root())
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "replay failed:\n{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let seen = scoring::seen_objects(&rec.join("truth.jsonl")).unwrap();
    let replayed = ScoreRules::default().score(&scoring::read_hits(&replay_out).unwrap(), &seen);
    let mut live_hits: Vec<Hit> = Vec::new();
    for id in &tickets {
        for s in store.sightings(id).unwrap() {
            if s.flight_id.as_deref() == Some(flight.as_str()) {
                live_hits.push(serde_json::from_str(&s.payload).unwrap());
            }
        }
    }
    let live = ScoreRules::default().score(&live_hits, &seen);
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    eprintln!(
        "replayed in {:.0} s: {} hits finding {:?} of {:?}, on legal {:?}, {} false; live: {} hits finding {:?}, on legal {:?}, {} false",
        started.elapsed().as_secs_f64(),
        replayed.hits.len(),
        sorted(&replayed.found),
        sorted(&replayed.violations),
        replayed.on_legal,
        replayed.false_hits,
        live.hits.len(),
        sorted(&live.found),
        live.on_legal,
        live.false_hits
    );
    assert!(!replayed.found.is_empty(), "the replay found nothing");
    assert_eq!(
        sorted(&replayed.found),
        sorted(&live.found),
        "violations found on replay and live"
    );
    assert_eq!(
        sorted(&replayed.found),
        sorted(&replayed.violations),
        "violations the recording shows, and found"
    );
    // Nothing else: no replayed hit on a legal look-alike or on nothing.
    assert_eq!(
        (replayed.on_legal.len(), replayed.false_hits),
        (0, 0),
        "{:#?}",
        replayed.hits
    );
}

/// The run of a plan, once it is over.
fn run_of(db: &Path, plan_id: &str, within: Duration) -> argus_triage::store::Run {
    ended_run(db, plan_id, within, |_| true)
}

/// The run of a plan that `which` picks, once it is over.
fn ended_run(
    db: &Path,
    plan_id: &str,
    within: Duration,
    which: impl Fn(&argus_triage::store::Run) -> bool,
) -> argus_triage::store::Run {
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
        if let Some(r) = runs.into_iter().find(|r| r.state.is_final() && which(r)) {
            return r;
        }
        assert!(Instant::now() < until, "{plan_id}: no run ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sleeps until the Unix time `t`.
fn sleep_until(t: f64) {
    let wait = t - argus_core::clock::now_unix_s();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
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

#[test]
fn a_flight_the_dock_fails_at_waypoint_3_ends_its_run_failed_naming_the_waypoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let instant = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::seconds(20);
    plan(dir, "north", instant, "");
    let triage_args = triage_config(dir, &broker, 10.0, 20.0);
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage.log"));
    let udp = free_port();
    let mut dock = spawn_dock(dir, &district, &broker, udp, &["--fail-at-waypoint", "3"]);
    let mut agent = spawn_agent(dir, &district, &broker, &dock_source(udp));

    // The dock's last word: failed, at wayline waypoint 3.
    let (last, failed_at) = wire.wait("failed", Duration::from_secs(300), |m| {
        m.0 == "events" && status(&m.1) == Some("failed")
    });
    let p = Progress::read(&last).unwrap();
    assert_eq!(
        (p.current_waypoint_index, p.result),
        (Some(3), result::FLIGHT_FAILED),
        "{p:?}"
    );
    let flight = p.flight_id;
    let run = run_of(&dir.join("triage.db"), "north", Duration::from_secs(10));
    assert_eq!(run.run_id, flight);
    let reason = format!(
        "the dock reports failed at waypoint 3 (result {})",
        result::FLIGHT_FAILED
    );
    assert_eq!(
        (run.state, run.reason.as_deref()),
        (RunState::Failed, Some(reason.as_str())),
        "{run:?}"
    );
    // Triage's API says the same, the failure its last event.
    let port = triage_http_port(dir);
    let (code, body) = http(port, "GET", &format!("/api/v1/runs/{flight}"), &[], b"").unwrap();
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&v["run"]["state"], &v["run"]["reason"]),
        (&serde_json::json!("failed"), &serde_json::json!(reason)),
        "{v:#}"
    );
    let events = v["events"].as_array().unwrap();
    let end = events.last().unwrap();
    assert_eq!(end["event"], "failed", "{v:#}");
    assert_eq!(end["detail"]["current_waypoint_index"], 3, "{v:#}");
    assert_eq!(end["detail"]["reason"], serde_json::json!(reason), "{v:#}");
    eprintln!(
        "failed at waypoint 3 {:.1} s after its instant",
        failed_at - instant.timestamp() as f64
    );

    // On the wire: one execute; sent, then in_progress up to waypoint 3, never beyond, then
    // failed; every event answered.
    std::thread::sleep(Duration::from_secs(2));
    let msgs = wire.all();
    let execs = of_flight(&msgs, "services", &flight)
        .iter()
        .filter(|e| e.method == "flighttask_execute")
        .count();
    assert_eq!(execs, 1, "executes sent");
    let progress: Vec<Progress> = of_flight(&msgs, "events", &flight)
        .iter()
        .map(|e| Progress::read(e).unwrap())
        .collect();
    let statuses: Vec<&str> = progress.iter().map(|p| p.status.as_str()).collect();
    assert_eq!(statuses.first(), Some(&"sent"), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&"failed"), "{statuses:?}");
    assert!(
        statuses[1..statuses.len() - 1]
            .iter()
            .all(|s| *s == "in_progress"),
        "{statuses:?}"
    );
    let reached: Vec<u32> = progress
        .iter()
        .filter_map(|p| p.current_waypoint_index)
        .collect();
    assert!(
        reached.contains(&2) && reached.iter().all(|&k| k <= 3),
        "{reached:?}"
    );
    assert_eq!(unanswered(&msgs), [], "unanswered events");
    // The agent watched the flight up to its failure: what it saw was seen before it.
    let mut store =
        argus_triage::store::open(&format!("sqlite:{}", dir.join("triage.db").display())).unwrap();
    let tickets = store.flight_tickets(&flight).unwrap();
    eprintln!("the failed flight's tickets: {tickets:?}");
    for id in &tickets {
        for s in store.sightings(id).unwrap() {
            if s.flight_id.as_deref() == Some(flight.as_str()) {
                assert!(
                    s.observed_at <= failed_at,
                    "{} seen {:.1} s after the failure",
                    s.hit_id,
                    s.observed_at - failed_at
                );
            }
        }
    }
    for c in [&mut agent, &mut dock, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn a_triage_down_across_an_instant_it_prepared_and_back_within_catch_up_s_flies_it_once() {
    down_across_an_instant(true);
}

#[test]
fn a_triage_down_from_before_an_instants_prepare_and_back_within_catch_up_s_flies_it_once() {
    down_across_an_instant(false);
}

/// Triage is SIGKILLed before an instant — once the prepare reply is stored when `prepared`,
/// else before the prepare is due — and started again 3 s after it, within `catch_up_s`: the
/// run is executed late, once, and flown.
fn down_across_an_instant(prepared: bool) {
    const LEAD_S: f64 = 5.0;
    const CATCH_UP_S: f64 = 10.0;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let instant = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::seconds(20);
    let at = instant.timestamp() as f64;
    point_plan(dir, "look", &schedule_at(&[instant], CATCH_UP_S));
    let db = dir.join("triage.db");
    let triage_args = triage_config(dir, &broker, LEAD_S, 20.0);
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-1.log"));
    let mut dock = spawn_dock(dir, &district, &broker, free_port(), &[]);
    let services = |wire: &Wire| -> Vec<String> {
        wire.all()
            .iter()
            .filter(|m| m.0 == "services")
            .map(|m| m.1.method.clone())
            .collect()
    };
    if prepared {
        let until = Instant::now() + Duration::from_secs(30);
        let mut store = argus_triage::store::open(&format!("sqlite:{}", db.display())).unwrap();
        while !store
            .runs(&argus_triage::store::RunFilter::default(), 10)
            .unwrap()
            .iter()
            .any(|r| r.state == RunState::Prepared)
        {
            assert!(Instant::now() < until, "the prepare reply was not stored");
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        sleep_until(at - LEAD_S - 3.0);
    }
    triage.kill().unwrap();
    triage.wait().unwrap();
    let before = services(&wire);
    assert!(
        argus_core::clock::now_unix_s() < at,
        "triage was stopped after the instant"
    );
    sleep_until(at + 3.0);
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-2.log"));

    // Back within catch_up_s: the run is not given up …
    let until = Instant::now() + Duration::from_secs(10);
    let mut store = argus_triage::store::open(&format!("sqlite:{}", db.display())).unwrap();
    let claimed = loop {
        let runs = store
            .runs(&argus_triage::store::RunFilter::default(), 10)
            .unwrap();
        if let Some(r) = runs.into_iter().next() {
            break r;
        }
        assert!(Instant::now() < until, "no run claimed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!claimed.state.is_final(), "{claimed:?}");
    // … but executed late, once, and flown.
    let (prep, _) = wire.wait("prepare", Duration::from_secs(30), |m| {
        m.0 == "services" && m.1.method == "flighttask_prepare"
    });
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!("{prep:?}")
    };
    assert_eq!(p.execute_time_ms, instant.timestamp_millis());
    let flight = p.flight_id;
    let (_, exec_at) = wire.wait("execute", Duration::from_secs(30), |m| {
        m.0 == "services" && m.1.method == "flighttask_execute"
    });
    assert!(
        exec_at > at && exec_at - at <= CATCH_UP_S,
        "executed {:.2} s after its instant",
        exec_at - at
    );
    wire.wait("ok", Duration::from_secs(300), |m| {
        m.0 == "events" && status(&m.1) == Some("ok")
    });
    std::thread::sleep(Duration::from_secs(3));
    let msgs = wire.all();
    let expected_before: &[&str] = if prepared {
        &["flighttask_prepare"]
    } else {
        &[]
    };
    assert_eq!(before, expected_before, "sent before triage went down");
    assert_eq!(
        services(&wire),
        ["flighttask_prepare", "flighttask_execute"]
    );
    assert_eq!(of_flight(&msgs, "services", &flight).len(), 2);
    let statuses: Vec<&str> = msgs
        .iter()
        .filter(|m| m.0 == "events")
        .filter_map(|m| status(&m.1))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "sent").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&"ok"), "{statuses:?}");
    assert_eq!(unanswered(&msgs), [], "unanswered events");
    let run = run_of(&db, "look", Duration::from_secs(10));
    assert_eq!(
        (run.run_id.as_str(), run.state, run.scheduled_at),
        (flight.as_str(), RunState::Ok, at),
        "{run:?}"
    );
    let events = store.run_events(&flight).unwrap();
    assert_eq!(
        events.iter().filter(|e| e.event == "ok").count(),
        1,
        "{events:?}"
    );
    let runs = store
        .runs(&argus_triage::store::RunFilter::default(), 10)
        .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    eprintln!("executed {:.2} s after its instant", exec_at - at);
    for c in [&mut dock, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn a_triage_back_after_catch_up_s_records_the_instant_missed_and_sends_nothing_for_it() {
    const LEAD_S: f64 = 3.0;
    const CATCH_UP_S: f64 = 4.0;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    let now = Utc::now().with_nanosecond(0).unwrap();
    let (first, second) = (
        now + chrono::Duration::seconds(12),
        now + chrono::Duration::seconds(24),
    );
    point_plan(dir, "look", &schedule_at(&[first, second], CATCH_UP_S));
    let db = dir.join("triage.db");
    let triage_args = triage_config(dir, &broker, LEAD_S, 20.0);
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-1.log"));
    let mut dock = spawn_dock(dir, &district, &broker, free_port(), &["--reject-next"]);
    // The first instant is refused by the dock (nothing flies): its run tells the restarted
    // triage where the plan was.
    let refused = run_of(&db, "look", Duration::from_secs(30));
    assert_eq!(
        (refused.state, refused.scheduled_at),
        (RunState::Rejected, first.timestamp() as f64),
        "{refused:?}"
    );
    // Down from before the second instant's prepare time until after its catch-up window.
    let at = second.timestamp() as f64;
    assert!(
        argus_core::clock::now_unix_s() < at - LEAD_S - 1.0,
        "the first run ended too late to stop triage in time"
    );
    triage.kill().unwrap();
    triage.wait().unwrap();
    sleep_until(at + CATCH_UP_S + 2.0);
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage-2.log"));

    // Missed, with the reason, as soon as triage is back.
    let missed = ended_run(&db, "look", Duration::from_secs(10), |r| {
        r.scheduled_at == at
    });
    assert_eq!(missed.state, RunState::Missed, "{missed:?}");
    let reason = missed.reason.clone().unwrap_or_default();
    assert!(
        reason.ends_with(&format!(
            "s late (triage was not running at its instant), over catch_up_s = {CATCH_UP_S}"
        )),
        "{missed:?}"
    );
    // The dock was there all along (its OSD keeps coming), yet nothing goes to it for the
    // missed run: the only service on the wire is the first run's prepare.
    std::thread::sleep(Duration::from_secs(4));
    let msgs = wire.all();
    let sent: Vec<(String, Option<String>)> = msgs
        .iter()
        .filter(|m| m.0 == "services")
        .map(|m| {
            (
                m.1.method.clone(),
                m.1.data["flight_id"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [(
            "flighttask_prepare".to_string(),
            Some(refused.run_id.clone())
        )]
    );
    assert!(of_flight(&msgs, "services", &missed.run_id).is_empty());
    let port = triage_http_port(dir);
    let (code, body) = http(port, "GET", "/api/v1/docks", &[], b"").unwrap();
    let docks: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (code, &docks[0]["id"], &docks[0]["online"]),
        (200, &serde_json::json!("dock-1"), &serde_json::json!(true)),
        "{docks:#}"
    );
    eprintln!("missed: {reason}");
    for c in [&mut dock, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
