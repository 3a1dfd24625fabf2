//! Air–ground linkage end to end, every part a real process: a street camera served live over
//! RTSP by `sim camera` sees a stall set up in its lane; the edge agent's camera hit opens a
//! ticket; triage (`[verification] on = "opened"`) sends dock-1 an immediate point inspection
//! within 30 s of the opening (303024's dispatch limit); `sim dock` flies it over the street as
//! it stands once the stall is there, and the drone's hit, carrying the verification's
//! `flight_id`, joins the same ticket, which ends dispatched. A second camera sighting 20 m
//! away (a new ticket, within the 50 m cooldown radius) sends no second flight.

mod common;

use std::time::{Duration, Instant};

use argus_core::cloudapi::Service;
use argus_core::hit::SourceKind;
use argus_testkit::hits::{hit, hit_id, publish_hit};
use argus_testkit::services::{Mosquitto, free_port, start_triage, workspace_bin};
use chrono::Utc;
use common::{
    Wire, district, dock_source, plan, spawn, spawn_agent, spawn_dock, triage_config_with,
};

#[test]
fn a_street_cameras_stall_sends_the_dock_and_the_drones_hit_joins_the_same_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let broker = Mosquitto::start(&dir.join("broker"));
    let wire = Wire::listen(broker.port);
    let district = district();
    // A plan of dock-1's, due 12 h from now and 12 h ago (its cron fires daily): the dock's only
    // flight is the verification. (A day ahead is the time of day of now, an instant triage
    // would fly at once.)
    plan(dir, "north", Utc::now() + chrono::Duration::hours(12), "");
    let triage_args = triage_config_with(
        dir,
        &broker,
        15.0,
        20.0,
        "[verification]\nclasses = [\"vending_in_lane\"]\non = \"opened\"\n",
    );
    let triage_exe = workspace_bin("triage").display().to_string();
    let mut triage = start_triage(&triage_exe, &triage_args, &dir.join("triage.log"));
    // The camera, live: its stall arrives 12 s in.
    let rtsp = free_port();
    let cam_dir = dir.join("cam");
    let mut camera = spawn(
        "sim",
        &[
            "camera".into(),
            "--district".into(),
            district.display().to_string(),
            "--seed".into(),
            "1".into(),
            "--duration".into(),
            "60".into(),
            "--fps".into(),
            "10".into(),
            "--out".into(),
            cam_dir.display().to_string(),
            "--rtsp".into(),
            format!("127.0.0.1:{rtsp}"),
        ],
        &dir.join("camera.log"),
    );
    let after = cam_dir.join("district-after/district.geojson");
    // Placing the camera and texturing its street takes a while before it serves.
    let until = Instant::now() + Duration::from_secs(180);
    while !after.exists() || !argus_testkit::services::wait_port(rtsp, Duration::from_millis(100)) {
        assert!(
            Instant::now() < until,
            "the camera did not start: {}",
            std::fs::read_to_string(dir.join("camera.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let udp = free_port();
    let mut dock = spawn_dock(dir, after.parent().unwrap(), &broker, udp, &[]);
    let sources = format!(
        "{}\n[[source]]\nid = \"cam-1\"\nkind = \"camera\"\nuri = \"rtsp://127.0.0.1:{rtsp}/camera\"\ncamera = \"{}\"\n",
        dock_source(udp),
        cam_dir.join("camera.json").display()
    );
    let mut agent = spawn_agent(dir, &district, &broker, &sources);

    // The verification task, within 30 s of the camera's ticket.
    let (prep, prep_at) = wire.wait("verification prepare", Duration::from_secs(180), |m| {
        m.0 == "services" && m.1.method == "flighttask_prepare"
    });
    let Service::Prepare(p) = Service::read(&prep).unwrap() else {
        panic!()
    };
    let db = format!("sqlite:{}", dir.join("triage.db").display());
    let mut store = argus_triage::store::open(&db).unwrap();
    let run = store.run(&p.flight_id).unwrap().unwrap();
    assert_eq!(run.kind.as_str(), "verification");
    let ticket_id = run.ticket_id.clone().unwrap();
    let ticket = store.ticket(&ticket_id).unwrap().unwrap();
    assert_eq!(ticket.class, "vending_in_lane");
    eprintln!(
        "camera ticket opened → verification prepare: {:.2} s",
        prep_at - ticket.opened_at
    );
    assert!(prep_at - ticket.opened_at <= 30.0);

    // The drone's hit joins the ticket; the audit says it was seen.
    let until = Instant::now() + Duration::from_secs(400);
    let story = loop {
        let story: Vec<String> = store
            .audit(&ticket_id)
            .unwrap()
            .into_iter()
            .filter(|e| e.event.starts_with("verification_"))
            .map(|e| e.event)
            .collect();
        if story
            .iter()
            .any(|e| e == "verification_seen" || e == "verification_not_seen")
        {
            break story;
        }
        assert!(
            Instant::now() < until,
            "the verification did not end: {story:?}; see {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        story,
        [
            "verification_requested",
            "verification_flown",
            "verification_seen"
        ],
        "see {}",
        dir.join("agent.log").display()
    );
    let sightings = store.sightings(&ticket_id).unwrap();
    let drone: Vec<_> = sightings
        .iter()
        .filter(|s| s.flight_id.as_deref() == Some(p.flight_id.as_str()))
        .collect();
    assert!(!drone.is_empty(), "{sightings:?}");
    assert!(
        sightings.iter().any(|s| s.flight_id.is_none()),
        "the camera's sighting"
    );
    assert_eq!(
        store.ticket(&ticket_id).unwrap().unwrap().state.as_str(),
        "dispatched"
    );

    // A camera sighting 20 m away within the cooldown: a ticket of its own, no second flight.
    let cams = argus_testkit::hits::bench_publisher(broker.port, "test-cams");
    let mut h = hit(
        &hit_id("cam-near"),
        "district-1",
        "vending_in_lane",
        ticket.lat + 20.0 / 111_200.0,
        0.8,
    );
    h.source.kind = SourceKind::Camera;
    h.source.id = "cam-1".into();
    h.position.lon = ticket.lon;
    h.pose.lon = ticket.lon;
    h.object_class = "stall".into();
    h.observed_at = argus_core::clock::Timestamp::now();
    publish_hit(&cams, &h);
    let until = Instant::now() + Duration::from_secs(30);
    let skipped = loop {
        let t = store
            .tickets(&Default::default(), 100)
            .unwrap()
            .into_iter()
            .find(|t| {
                store
                    .sightings(&t.ticket_id)
                    .unwrap()
                    .iter()
                    .any(|s| s.hit_id == h.hit_id.to_string())
            });
        if let Some(t) = t
            && let Some(e) = store
                .audit(&t.ticket_id)
                .unwrap()
                .into_iter()
                .find(|e| e.event == "verification_skipped")
        {
            break e;
        }
        assert!(
            Instant::now() < until,
            "no verification_skipped for the near sighting"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        skipped.detail["reason"]
            .as_str()
            .unwrap()
            .starts_with("cooldown"),
        "{skipped:?}"
    );
    let prepares = wire
        .all()
        .iter()
        .filter(|m| m.0 == "services" && m.1.method == "flighttask_prepare")
        .count();
    assert_eq!(prepares, 1);
    for c in [&mut agent, &mut dock, &mut camera, &mut triage] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
