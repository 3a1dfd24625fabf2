//! Camera-triggered verification over a real Mosquitto, the dock played by the test: a street
//! camera's ticket sends the dock an immediate point inspection over it, the drone's hit joins
//! the same ticket, and the audit tells the story; a second request near the first within the
//! cooldown flies nothing; with `on = "review"` a ticket dispatched at once calls no drone, and
//! a drone that sees nothing leaves the ticket waiting for review; a request met in one of
//! `[verification]`'s blackouts (hours or dates, in its zone) is skipped naming the window and
//! sends nothing. (The same loop with a live RTSP camera, the simulated dock and the edge agent
//! is the root `tests/verification.rs`.)

mod common;

use std::time::{Duration, Instant};

use argus_core::cloudapi::{Progress, Service, TaskStatus, TaskType};
use argus_core::hit::{Hit, SourceKind};
use argus_testkit::hits::{hit, hit_id, publish_hit};
use argus_testkit::services::{Mosquitto, Postgres, http};
use argus_triage::store::{self, RunKind, RunState, Store};
use argus_triage::verify::{Trigger, VerificationConfig};
use common::{SN, ScriptedDock, ms, now_s};

/// Where the camera sees its pile: 1.7 km west of the example dock.
const LAT: f64 = 30.7000;
const LON: f64 = 121.0;

struct Rig {
    _tmp: tempfile::TempDir,
    broker: Mosquitto,
    triage: Option<argus_triage::service::Service>,
    http_port: u16,
    db: String,
    cameras: rumqttc::Client,
    cfg: argus_triage::config::Config,
}

/// Triage with the example dock (and an unscheduled plan) and `[verification]` as given.
fn rig(db: Option<String>, verification: VerificationConfig) -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let (mut cfg, http_port) = common::patrol_config(tmp.path(), broker.url(), None, db, 5.0, 5.0);
    let db = cfg.db.clone();
    cfg.verification = Some(verification);
    let triage = Some(argus_triage::service::Service::start(cfg.clone()).unwrap());
    let cameras = argus_testkit::hits::bench_publisher(broker.port, "street-cams");
    Rig {
        _tmp: tmp,
        broker,
        triage,
        http_port,
        db,
        cameras,
        cfg,
    }
}

/// A hit seen now by street camera `cam-1`.
fn camera_hit(name: &str, lat: f64, score: f32) -> Hit {
    let mut h = hit(&hit_id(name), "cams", "construction_waste", lat, score);
    h.source.kind = SourceKind::Camera;
    h.source.id = "cam-1".into();
    h.position.lon = LON;
    h.observed_at = argus_core::clock::Timestamp::now();
    h
}

impl Rig {
    fn store(&self) -> Box<dyn Store> {
        store::open(&self.db).unwrap()
    }

    /// The ticket a hit went to, once it is stored.
    fn ticket_of(&self, hit_id: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        let mut s = self.store();
        loop {
            let tickets = s.tickets(&Default::default(), 100).unwrap();
            for t in tickets {
                if s.sightings(&t.ticket_id)
                    .unwrap()
                    .iter()
                    .any(|x| x.hit_id == hit_id)
                {
                    return t.ticket_id;
                }
            }
            assert!(Instant::now() < until, "hit {hit_id} made no ticket");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The verification events of a ticket's audit, waiting until `last` is among them.
    fn story(
        &self,
        ticket: &str,
        last: &str,
        within: Duration,
    ) -> Vec<(String, serde_json::Value)> {
        let until = Instant::now() + within;
        let mut s = self.store();
        loop {
            let events: Vec<_> = s
                .audit(ticket)
                .unwrap()
                .into_iter()
                .filter(|e| e.event.starts_with("verification_"))
                .map(|e| (e.event, e.detail))
                .collect();
            if events.iter().any(|(e, _)| e == last) || Instant::now() > until {
                return events;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The dock takes the immediate task it was sent, flies it (the test's drone hit published in
/// flight, if any) and lands; returns the flight id.
fn fly(
    rig: &Rig,
    dock: &mut ScriptedDock,
    prep_msg: &argus_core::cloudapi::Envelope,
    drone_hit: Option<Hit>,
) -> String {
    let Service::Prepare(prep) = Service::read(prep_msg).unwrap() else {
        panic!("{prep_msg:?}")
    };
    assert_eq!(prep.task_type, TaskType::Immediate);
    // The KMZ is a point inspection over the ticket.
    let path = prep
        .file
        .url
        .strip_prefix(&format!("http://127.0.0.1:{}", rig.http_port))
        .unwrap()
        .to_string();
    let (status, kmz) = http(rig.http_port, "GET", &path, &[], b"").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        argus_flightplan::formats::wpml::fingerprint(&kmz),
        prep.file.fingerprint
    );
    let mission = argus_flightplan::formats::Format::Kmz.read(&kmz).unwrap();
    assert!(mission.waypoints.iter().any(|w| {
        argus_core::geodesy::haversine_m(
            argus_core::geodesy::GeoPoint {
                lat: w.lat,
                lon: w.lon,
            },
            argus_core::geodesy::GeoPoint { lat: LAT, lon: LON },
        ) < 5.0
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    dock.publish("services_reply", &prep_msg.result_reply(ms(now_s()), 0));
    let (exec, _) = dock.expect("execute", "services", deadline);
    assert_eq!(exec.method, "flighttask_execute");
    dock.publish("services_reply", &exec.result_reply(ms(now_s()), 0));
    for (k, status) in [TaskStatus::InProgress, TaskStatus::Ok]
        .into_iter()
        .enumerate()
    {
        if status == TaskStatus::Ok
            && let Some(mut h) = drone_hit.clone()
        {
            h.source.flight_id = Some(prep.flight_id.clone());
            publish_hit(&rig.cameras, &h);
            std::thread::sleep(Duration::from_secs(1));
        }
        let ev = Progress {
            flight_id: prep.flight_id.clone(),
            status,
            current_waypoint_index: Some(k as u32 * 2),
            percent: Some(50.0 * (k + 1) as f64),
            result: 0,
        }
        .envelope(SN, "bid-v", ms(now_s()));
        dock.publish("events", &ev);
        let (r, _) = dock.expect("events_reply", "events_reply", deadline);
        assert_eq!((&r.tid, &r.bid), (&ev.tid, &ev.bid));
    }
    prep.flight_id
}

/// Triage with `on = "opened"`, the dock online, and a camera's pile (hit `name`) at LAT: the
/// rig, the dock, the ticket, and the verification prepare the dock got (and when).
fn opened_ticket(
    db: Option<String>,
    name: &str,
) -> (
    Rig,
    ScriptedDock,
    String,
    argus_core::cloudapi::Envelope,
    f64,
) {
    let rig = rig(
        db,
        VerificationConfig {
            on: Trigger::Opened,
            ..VerificationConfig::default()
        },
    );
    let mut dock = ScriptedDock::connect(rig.broker.port);
    // Let triage hear the dock is online.
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    let cam = camera_hit(name, LAT, 0.7);
    publish_hit(&rig.cameras, &cam);
    let ticket = rig.ticket_of(cam.hit_id.as_ref());
    let (prep, prep_at) = dock.expect(
        "prepare",
        "services",
        Instant::now() + Duration::from_secs(30),
    );
    (rig, dock, ticket, prep, prep_at)
}

fn opened_loop(db: Option<String>) {
    let (mut rig, mut dock, ticket, prep, prep_at) = opened_ticket(db, "cam-a");
    let opened_at = rig.store().ticket(&ticket).unwrap().unwrap().opened_at;
    // An immediate task for the dock within 30 s of the opening (303024's dispatch limit).
    eprintln!(
        "ticket opened → verification prepare: {:.2} s",
        prep_at - opened_at
    );
    assert!(prep_at - opened_at <= 30.0);
    let mut drone = hit(
        &hit_id("drone-a"),
        "district-1",
        "construction_waste",
        LAT + 0.00002,
        0.8,
    );
    drone.position.lon = LON;
    drone.observed_at = argus_core::clock::Timestamp::now();
    let flight = fly(&rig, &mut dock, &prep, Some(drone.clone()));
    // The drone's hit is on the same ticket, which is dispatched; the audit tells the story.
    let story = rig.story(&ticket, "verification_seen", Duration::from_secs(20));
    let names: Vec<&str> = story.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "verification_requested",
            "verification_flown",
            "verification_seen"
        ],
        "{story:?}"
    );
    assert_eq!(story[0].1["run_id"], flight.as_str());
    assert_eq!(story[0].1["dock"], "dock-1");
    let mut s = rig.store();
    let sightings = s.sightings(&ticket).unwrap();
    assert_eq!(sightings.len(), 2, "{sightings:?}");
    assert!(
        sightings
            .iter()
            .any(|x| x.flight_id.as_deref() == Some(flight.as_str()))
    );
    let run = s.run(&flight).unwrap().unwrap();
    assert_eq!(
        (run.kind, run.state, run.ticket_id.as_deref()),
        (RunKind::Verification, RunState::Ok, Some(ticket.as_str()))
    );
    assert_eq!(
        s.ticket(&ticket).unwrap().unwrap().state.as_str(),
        "dispatched"
    );
    // A second camera ticket 40 m away within the cooldown: skipped, nothing sent.
    let near = camera_hit("cam-b", LAT + 0.00036, 0.7);
    publish_hit(&rig.cameras, &near);
    let second = rig.ticket_of(near.hit_id.as_ref());
    assert_ne!(second, ticket);
    let story = rig.story(&second, "verification_skipped", Duration::from_secs(10));
    assert_eq!(story.len(), 1, "{story:?}");
    let reason = story[0].1["reason"].as_str().unwrap();
    assert!(reason.starts_with("cooldown"), "{reason}");
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    rig.triage.take().unwrap().shutdown().unwrap();
}

#[test]
fn a_camera_ticket_sends_the_dock_and_the_drones_hit_joins_it_on_sqlite() {
    opened_loop(None);
}

#[test]
fn a_camera_ticket_sends_the_dock_and_the_drones_hit_joins_it_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"));
    opened_loop(Some(pg.create_db("verification")));
}

/// The pile `n` hundred metres north of the first, waiting for review.
fn unsure(rig: &Rig, name: &str, north_m: f64) -> String {
    let h = camera_hit(name, LAT + north_m / 111_200.0, 0.5);
    publish_hit(&rig.cameras, &h);
    rig.ticket_of(h.hit_id.as_ref())
}

/// The reason of a ticket's `verification_skipped`, once written.
fn skipped(rig: &Rig, ticket: &str, within: Duration) -> String {
    let story = rig.story(ticket, "verification_skipped", within);
    assert_eq!(story.len(), 1, "{story:?}");
    assert_eq!(story[0].0, "verification_skipped");
    story[0].1["reason"].as_str().unwrap().to_string()
}

#[test]
fn on_review_only_tickets_waiting_for_review_call_a_drone_and_every_other_request_says_why_not() {
    let mut rig = rig(
        None,
        VerificationConfig {
            max_wait_s: 3.0,
            max_per_dock_per_hour: 2,
            ..VerificationConfig::default()
        },
    );
    let mut dock = ScriptedDock::connect(rig.broker.port);
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    // Sure at once: dispatched, no flight.
    let sure = camera_hit("cam-sure", LAT, 0.9);
    publish_hit(&rig.cameras, &sure);
    let sure_ticket = rig.ticket_of(sure.hit_id.as_ref());
    assert!(dock.next(Instant::now() + Duration::from_secs(3)).is_none());
    assert!(rig.story(&sure_ticket, "-", Duration::ZERO).is_empty());
    // Unsure, 1 km north: waits for review, and a drone goes to look at that pile.
    let ticket = unsure(&rig, "cam-unsure", 1000.0);
    let (prep, _) = dock.expect(
        "prepare",
        "services",
        Instant::now() + Duration::from_secs(30),
    );
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!()
    };
    let (_, kmz) = http(
        rig.http_port,
        "GET",
        p.file
            .url
            .split_once(&format!(":{}", rig.http_port))
            .unwrap()
            .1,
        &[],
        b"",
    )
    .unwrap();
    let m = argus_flightplan::formats::Format::Kmz.read(&kmz).unwrap();
    assert!(
        m.waypoints
            .iter()
            .any(|w| (w.lat - (LAT + 1000.0 / 111_200.0)).abs() < 1e-5)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    dock.publish("services_reply", &prep.result_reply(ms(now_s()), 0));
    let (exec, _) = dock.expect("execute", "services", deadline);
    dock.publish("services_reply", &exec.result_reply(ms(now_s()), 0));
    // While it flies, another pile 500 m away waits for the busy dock, then is skipped.
    let waiting = unsure(&rig, "cam-wait", 1500.0);
    let reason = skipped(&rig, &waiting, Duration::from_secs(15));
    assert!(
        reason.starts_with("no dock free within max_wait_s = 3 s (dock dock-1 busy"),
        "{reason}"
    );
    // The drone sees nothing: after the grace, not seen, and the ticket still waits for review.
    let ev = Progress {
        flight_id: p.flight_id.clone(),
        status: TaskStatus::Ok,
        current_waypoint_index: Some(3),
        percent: Some(100.0),
        result: 0,
    }
    .envelope(SN, "bid-r", ms(now_s()));
    dock.publish("events", &ev);
    dock.expect("events_reply", "events_reply", deadline);
    // Out of the dock's reach (its max_range_m is 3,000 m).
    let far = unsure(&rig, "cam-far", 20_000.0);
    let reason = skipped(&rig, &far, Duration::from_secs(10));
    assert!(
        reason.starts_with("no dock in range (the nearest, dock-1, is 2"),
        "{reason}"
    );
    // A second flight this hour is allowed, a third is not.
    let second = unsure(&rig, "cam-second", -500.0);
    let (prep2, _) = dock.expect(
        "prepare",
        "services",
        Instant::now() + Duration::from_secs(30),
    );
    let Service::Prepare(p2) = Service::read(&prep2).unwrap() else {
        panic!()
    };
    dock.publish("services_reply", &prep2.result_reply(ms(now_s()), 0));
    let third = unsure(&rig, "cam-third", -1200.0);
    let reason = skipped(&rig, &third, Duration::from_secs(10));
    assert!(
        reason.starts_with("rate limit: dock-1 flew 2 verifications"),
        "{reason}"
    );
    let story = rig.story(
        &ticket,
        "verification_not_seen",
        Duration::from_secs_f64(argus_triage::verify::SEEN_GRACE_S + 15.0),
    );
    let names: Vec<&str> = story.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "verification_requested",
            "verification_flown",
            "verification_not_seen"
        ],
        "{story:?}"
    );
    let t = rig.store().ticket(&ticket).unwrap().unwrap();
    assert!(t.review && t.state.as_str() == "new", "{t:?}");
    let mut s = rig.store();
    assert_eq!(
        s.run(&p2.flight_id).unwrap().unwrap().ticket_id.as_deref(),
        Some(second.as_str())
    );
    rig.triage.take().unwrap().shutdown().unwrap();
}

#[test]
fn a_triage_restarted_while_the_drone_flies_still_tells_what_it_saw() {
    let (mut rig, mut dock, ticket, prep, _) = opened_ticket(None, "cam-r");
    // Triage goes away and comes back before the dock answers.
    rig.triage.take().unwrap().shutdown().unwrap();
    rig.triage = Some(argus_triage::service::Service::start(rig.cfg.clone()).unwrap());
    let mut drone = hit(
        &hit_id("drone-r"),
        "district-1",
        "construction_waste",
        LAT,
        0.8,
    );
    drone.position.lon = LON;
    drone.observed_at = argus_core::clock::Timestamp::now();
    let flight = fly(&rig, &mut dock, &prep, Some(drone));
    let story = rig.story(&ticket, "verification_seen", Duration::from_secs(20));
    let names: Vec<&str> = story.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "verification_requested",
            "verification_flown",
            "verification_seen"
        ],
        "{story:?}"
    );
    assert_eq!(story[2].1["run_id"], flight.as_str());
    rig.triage.take().unwrap().shutdown().unwrap();
}

/// `HH:MM-HH:MM` windows 20 minutes either side of `now` read `offset_h` hours east of UTC
/// (two windows when they pass midnight), and the one holding now.
fn hours_around(now: chrono::DateTime<chrono::Utc>, offset_h: i64) -> (String, String) {
    use chrono::Timelike as _;
    let local = now + chrono::Duration::hours(offset_h);
    let minute = i64::from(local.hour() * 60 + local.minute());
    let hm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let (from, to) = (minute - 20, minute + 21);
    let windows: Vec<(i64, i64)> = if from < 0 {
        vec![(0, to), (1440 + from, 1440)]
    } else if to > 1440 {
        vec![(from, 1440), (0, to - 1440)]
    } else {
        vec![(from, to)]
    };
    let written: Vec<String> = windows
        .iter()
        .map(|&(a, b)| format!("{}-{}", hm(a), hm(b)))
        .collect();
    let holding = windows
        .iter()
        .position(|&(a, b)| (a..b).contains(&minute))
        .unwrap();
    (written.join(","), written[holding].clone())
}

/// Triage restarted with `[verification]` as given, the dock heard by it again.
fn restart(rig: &mut Rig, dock: &mut ScriptedDock, v: VerificationConfig) {
    rig.triage.take().unwrap().shutdown().unwrap();
    rig.cfg.verification = Some(v);
    rig.triage = Some(argus_triage::service::Service::start(rig.cfg.clone()).unwrap());
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
}

/// A camera's pile `north_m` north of the first, its ticket's verification events once `last`
/// is among them.
fn pile(
    rig: &Rig,
    name: &str,
    north_m: f64,
    last: &str,
) -> (String, Vec<(String, serde_json::Value)>) {
    let h = camera_hit(name, LAT + north_m / 111_200.0, 0.7);
    publish_hit(&rig.cameras, &h);
    let ticket = rig.ticket_of(h.hit_id.as_ref());
    let story = rig.story(&ticket, last, Duration::from_secs(15));
    (ticket, story)
}

fn blackout_loop(db: Option<String>) {
    // Shanghai is UTC+8 all year.
    let zone = |hours: String, dates: Vec<String>| VerificationConfig {
        on: Trigger::Opened,
        timezone: "Asia/Shanghai".into(),
        blackout_hours: Some(hours),
        blackout_dates: dates,
        ..VerificationConfig::default()
    };
    let now = chrono::Utc::now();
    let today = (now + chrono::Duration::hours(8)).date_naive();
    let (day, days) = (chrono::Days::new(1), chrono::Days::new(7));
    // Blackout hours around the local time now, and a holiday long past.
    let (hours, window) = hours_around(now, 8);
    let past = format!("{}/{}", today - days - days, today - days);
    let mut rig = rig(db, zone(hours, vec![past.clone()]));
    let mut dock = ScriptedDock::connect(rig.broker.port);
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    // A request met in the hours: skipped naming the window, nothing sent.
    let (_, story) = pile(&rig, "cam-night", 0.0, "verification_skipped");
    let names: Vec<&str> = story.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["verification_skipped"], "{story:?}");
    assert_eq!(
        story[0].1["reason"],
        format!("blackout {window} Asia/Shanghai")
    );
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    // On a blackout date (from today to tomorrow, local): skipped naming the dates.
    let (utc_hours, _) = hours_around(now, 0);
    let holiday = format!("{today}/{}", today + day);
    restart(
        &mut rig,
        &mut dock,
        zone(utc_hours.clone(), vec![holiday.clone()]),
    );
    let (_, story) = pile(&rig, "cam-holiday", 300.0, "verification_skipped");
    assert_eq!(story.len(), 1, "{story:?}");
    assert_eq!(story[0].1["reason"], format!("blackout {holiday}"));
    assert!(dock.next(Instant::now() + Duration::from_secs(2)).is_none());
    // Outside every window in Shanghai's time (the hours are now's in UTC, the date is
    // yesterday's there): the dock is sent.
    let yesterday = (today - day).to_string();
    restart(&mut rig, &mut dock, zone(utc_hours, vec![yesterday, past]));
    let (ticket, story) = pile(&rig, "cam-day", 600.0, "verification_requested");
    let names: Vec<&str> = story.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["verification_requested"], "{story:?}");
    let (prep, _) = dock.expect(
        "prepare",
        "services",
        Instant::now() + Duration::from_secs(30),
    );
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!("{prep:?}")
    };
    assert_eq!(story[0].1["run_id"], p.flight_id.as_str());
    let run = rig.store().run(&p.flight_id).unwrap().unwrap();
    assert_eq!(run.ticket_id.as_deref(), Some(ticket.as_str()));
    rig.triage.take().unwrap().shutdown().unwrap();
}

#[test]
fn a_request_in_a_blackout_is_skipped_naming_its_window_on_sqlite() {
    blackout_loop(None);
}

#[test]
fn a_request_in_a_blackout_is_skipped_naming_its_window_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"));
    blackout_loop(Some(pg.create_db("verification_blackout")));
}
