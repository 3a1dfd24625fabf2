//! The patrol API of a running `triage serve` with the example dock and plan: every endpoint's
//! shape, roles on run-now and cancel, a cancel of a run already over naming its state, unknown
//! and hostile ids, and the patrol series of `/metrics`. (The dispatcher behind run-now and
//! cancel is `tests/dispatch.rs`'s.)

mod support;

use std::time::{Duration, Instant};

use argus_triage::store::{RunKind, RunState};
use rumqttc::QoS;
use serde_json::{Value, json};
use support::{OPERATOR, PLAN, VIEWER};

/// Asks until `ok` holds of the answer, for up to 20 s.
fn eventually(rig: &support::Rig, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = rig.json("GET", path, Some(VIEWER));
        if s == 200 && ok(&v) {
            return v;
        }
        assert!(Instant::now() < until, "{path}: {s} {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn patrols_runs_and_docks_over_http_with_roles_and_hostile_ids() {
    let rig = support::start(env!("CARGO_BIN_EXE_triage"), "");
    let now = argus_core::clock::now_unix_s();
    let flown = rig.insert_run(RunKind::Scheduled, now - 7200.0, RunState::Ok, None);
    let skipped = rig.insert_run(
        RunKind::Scheduled,
        now - 3600.0,
        RunState::Skipped,
        Some("blackout 12:00-13:30 Asia/Shanghai"),
    );
    let ticket = rig.hit_on_flight("pa-1", &flown.run_id, "construction_waste", 30.702, 121.017);

    // The plans: schedule, the next three instants in UTC and local time, the last runs.
    assert_eq!(rig.json("GET", "/api/v1/patrols", None).0, 401);
    let (s, plans) = rig.json("GET", "/api/v1/patrols", Some(VIEWER));
    assert_eq!(s, 200, "{plans}");
    let p = &plans[0];
    assert_eq!(
        (&p["id"], &p["kind"], &p["dock"]),
        (&json!(PLAN), &json!("area"), &json!("dock-1"))
    );
    assert_eq!(p["schedule"]["cron"], support::CRON);
    assert_eq!(p["schedule"]["timezone"], "Asia/Shanghai");
    assert_eq!(p["schedule"]["blackout_hours"], "12:00-13:30");
    assert_eq!(
        p["schedule"]["blackout_dates"],
        json!(["2026-10-01/2026-10-07"])
    );
    let next = p["next"].as_array().unwrap();
    assert_eq!(next.len(), 3, "{p}");
    for n in next {
        let local = n["local"].as_str().unwrap();
        assert!(n["at"].as_str().unwrap().ends_with('Z'), "{n}");
        assert!(local.ends_with(" CST"), "{n}");
        assert!(
            local.contains("-02-29 08:00 ") || local.contains("-02-29 15:00 "),
            "{n}"
        );
        assert!(n["local_iso"].as_str().unwrap().ends_with("+08:00"), "{n}");
    }
    let last: Vec<(&str, &str)> = p["last_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["run_id"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        last,
        [
            (skipped.run_id.as_str(), "skipped"),
            (flown.run_id.as_str(), "ok")
        ]
    );
    assert_eq!(
        p["last_runs"][0]["reason"],
        "blackout 12:00-13:30 Asia/Shanghai"
    );
    for k in ["kind", "scheduled_at", "updated_at"] {
        assert!(p["last_runs"][0][k].is_string(), "{k}: {p}");
    }

    // A plan's runs, newest first, `limit` checked.
    let path = format!("/api/v1/patrols/{PLAN}/runs?limit=1");
    let (s, runs) = rig.json("GET", &path, Some(VIEWER));
    assert_eq!((s, runs.as_array().unwrap().len()), (200, 1));
    assert_eq!(runs[0]["run_id"], skipped.run_id.as_str());
    for bad in ["limit=0", "limit=1001", "limit=x", "colour=red"] {
        let path = format!("/api/v1/patrols/{PLAN}/runs?{bad}");
        let (s, v) = rig.json("GET", &path, Some(VIEWER));
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(v["error"].is_string());
    }

    // A run: its events, its route as a GeoJSON LineString, the tickets its flight found.
    let (s, run) = rig.json(
        "GET",
        &format!("/api/v1/runs/{}", flown.run_id),
        Some(VIEWER),
    );
    assert_eq!(s, 200, "{run}");
    assert_eq!(
        (&run["run"]["state"], &run["run"]["over"]),
        (&json!("ok"), &json!(true))
    );
    let events: Vec<&str> = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["claimed", "ok"]);
    assert_eq!(run["route"]["type"], "Feature");
    assert_eq!(run["route"]["geometry"]["type"], "LineString");
    let line = run["route"]["geometry"]["coordinates"].as_array().unwrap();
    assert!(line.len() >= 4, "{run}");
    // [lon, lat], over the U03 area.
    let (lon, lat) = (line[0][0].as_f64().unwrap(), line[0][1].as_f64().unwrap());
    assert!(
        (121.0..121.03).contains(&lon) && (30.69..30.71).contains(&lat),
        "{run}"
    );
    assert_eq!(run["route"]["properties"]["as_flown"], true);
    let t = &run["tickets"][0];
    assert_eq!(t["ticket_id"], ticket.as_str());
    assert_eq!(t["class"], "construction_waste");
    assert!(
        t["state"].is_string() && t["lat"].is_f64() && t["lon"].is_f64(),
        "{t}"
    );

    // A ticket knows the flight that saw it.
    let (_, detail) = rig.json("GET", &format!("/api/v1/tickets/{ticket}"), Some(VIEWER));
    assert_eq!(detail["runs"][0]["run_id"], flown.run_id.as_str());
    assert_eq!(detail["runs"][0]["relation"], "sighted");
    assert_eq!(detail["sightings"][0]["flight_id"], flown.run_id.as_str());

    // The dock, never heard: offline, not busy.
    let (s, docks) = rig.json("GET", "/api/v1/docks", Some(VIEWER));
    assert_eq!(s, 200);
    assert_eq!(
        docks,
        json!([{"id": "dock-1", "sn": support::SN, "lat": 30.70, "lon": 121.02,
                "online": false, "aircraft": false, "last_seen": null,
                "busy": false, "busy_run_id": null}])
    );

    // Who the caller is, for the dashboard's buttons.
    assert_eq!(
        rig.json("GET", "/api/v1/whoami", Some(VIEWER)).1["role"],
        "viewer"
    );
    assert_eq!(
        rig.json("GET", "/api/v1/whoami", Some(OPERATOR)).1["role"],
        "operator"
    );
    assert_eq!(rig.json("GET", "/api/v1/whoami", None).0, 401);

    // Run now: an operator's; an offline dock is a 409 naming the reason, the run recorded.
    let run_now = format!("/api/v1/patrols/{PLAN}/run");
    assert_eq!(rig.json("POST", &run_now, None).0, 401);
    assert_eq!(rig.json("POST", &run_now, Some(VIEWER)).0, 403);
    let (s, v) = rig.json("POST", &run_now, Some(OPERATOR));
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("dock dock-1 offline"),
        "{v}"
    );
    assert_eq!(v["run"]["state"], "skipped");
    assert_eq!(v["run"]["kind"], "manual");
    // Online: 201, then the dispatcher sends it and the dock is busy with it.
    rig.dock_online();
    eventually(&rig, "/api/v1/docks", |d| d[0]["online"] == true);
    let (s, asked) = rig.json("POST", &run_now, Some(OPERATOR));
    assert_eq!(s, 201, "{asked}");
    assert_eq!(
        (&asked["state"], &asked["kind"]),
        (&json!("scheduled"), &json!("manual"))
    );
    let id = asked["run_id"].as_str().unwrap().to_string();
    let docks = eventually(&rig, "/api/v1/docks", |d| d[0]["busy"] == true);
    assert_eq!(docks[0]["busy_run_id"], id.as_str());
    assert_eq!(docks[0]["aircraft"], true);
    assert!(docks[0]["last_seen"].as_str().unwrap().ends_with('Z'));
    let (_, events) = rig.json("GET", &format!("/api/v1/runs/{id}"), Some(VIEWER));
    let requested = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "requested")
        .cloned()
        .unwrap();
    // By the role, never the token.
    assert_eq!(requested["detail"]["by"], "operator");

    // Cancel: an operator's; a run over is a 409 naming its state.
    let cancel = format!("/api/v1/runs/{id}/cancel");
    assert_eq!(rig.json("POST", &cancel, None).0, 401);
    assert_eq!(rig.json("POST", &cancel, Some(VIEWER)).0, 403);
    let (s, v) = rig.json("POST", &cancel, Some(OPERATOR));
    assert_eq!((s, &v["state"]), (200, &json!("canceled")), "{v}");
    assert_eq!(v["reason"], "canceled by operator");
    let (s, v) = rig.json("POST", &cancel, Some(OPERATOR));
    assert_eq!(s, 409);
    assert_eq!(v["error"], format!("run {id} is already canceled"));
    let (s, v) = rig.json(
        "POST",
        &format!("/api/v1/runs/{}/cancel", flown.run_id),
        Some(OPERATOR),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (
            409,
            Some(format!("run {} is already ok", flown.run_id).as_str())
        )
    );

    // Unknown ids are 404s; hostile ones 404s or 400s that repeat nothing of them.
    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    let long = "a".repeat(10_000);
    for (method, path, want) in [
        ("GET", format!("/api/v1/runs/{unknown}"), 404),
        ("POST", format!("/api/v1/runs/{unknown}/cancel"), 404),
        ("GET", "/api/v1/patrols/no-such-plan/runs".into(), 404),
        ("POST", "/api/v1/patrols/no-such-plan/run".into(), 404),
        ("GET", "/api/v1/runs/..%2Fx".into(), 404),
        ("GET", "/api/v1/patrols/..%2F..%2Fetc/runs".into(), 404),
        ("POST", "/api/v1/runs/..%2Fx/cancel".into(), 404),
        ("GET", format!("/api/v1/runs/{long}"), 404),
        ("POST", format!("/api/v1/patrols/{long}/run"), 404),
        ("GET", "/api/v1/runs/%01%1b%5b31m".into(), 400),
        ("POST", "/api/v1/patrols/u03%00area/run".into(), 400),
    ] {
        let (s, body) = rig.raw(method, &path, Some(OPERATOR));
        assert_eq!(s, want, "{method} {}", &path[..path.len().min(80)]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let e = v["error"].as_str().unwrap();
        assert!(
            !e.contains(&long) && !e.contains("..") && !e.chars().any(char::is_control),
            "{e}"
        );
    }

    // /metrics: runs by state (every state), and the docks' dead letters apart.
    let unusable = "thing/product/0000000000/events";
    rig.client
        .publish(unusable, QoS::AtLeastOnce, false, b"{not json".to_vec())
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let (s, body) = rig.raw("GET", "/metrics", None);
        let text = String::from_utf8(body).unwrap();
        if s == 200 && text.contains("argus_dock_dead_letters_total 1\n") {
            break text;
        }
        assert!(Instant::now() < until, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for line in [
        "argus_patrol_runs{state=\"ok\"} 1\n",
        "argus_patrol_runs{state=\"skipped\"} 2\n",
        "argus_patrol_runs{state=\"canceled\"} 1\n",
        "argus_patrol_runs{state=\"in_progress\"} 0\n",
        "triage_dead_letters 1\n",
    ] {
        assert!(text.contains(line), "{line}{text}");
    }
    // Tokens are never logged.
    let log = std::fs::read_to_string(&rig.log).unwrap();
    assert!(!log.contains(OPERATOR) && !log.contains(VIEWER));
}

#[test]
fn without_patrols_the_lists_are_empty_and_runs_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, mqtt) = (
        argus_testkit::services::free_port(),
        argus_testkit::services::free_port(),
    );
    let args = [
        "serve".to_string(),
        "--broker-listen".into(),
        format!("127.0.0.1:{mqtt}"),
        "--http".into(),
        format!("127.0.0.1:{port}"),
        "--db".into(),
        format!("sqlite:{}", tmp.path().join("t.db").display()),
    ];
    let mut triage = argus_testkit::services::start_triage(
        env!("CARGO_BIN_EXE_triage"),
        &args,
        &tmp.path().join("triage.log"),
    );
    let get = |method: &str, path: &str| {
        let (s, b) = argus_testkit::services::http(port, method, path, &[], b"").unwrap();
        (
            s,
            serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
        )
    };
    assert_eq!(get("GET", "/api/v1/patrols"), (200, json!([])));
    assert_eq!(get("GET", "/api/v1/docks"), (200, json!([])));
    // Reads are open without tokens; nobody may change anything.
    assert_eq!(
        get("GET", "/api/v1/whoami"),
        (200, json!({"role": "viewer"}))
    );
    assert_eq!(get("POST", "/api/v1/patrols/u03-area/run").0, 401);
    assert_eq!(get("GET", "/api/v1/patrols/u03-area/runs").0, 404);
    assert_eq!(
        get("GET", "/api/v1/runs/01890a5d-ac96-774b-bcce-b302099a8057").0,
        404
    );
    let _ = triage.kill();
    let _ = triage.wait();
}
