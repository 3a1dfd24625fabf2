//! What the whole-system patrol and verification tests share: the default district, a plan
//! near dock-1, triage's config, `sim dock` and the edge agent as processes, and a listener
//! that hears every Cloud API message on the dock's topics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argus_core::cloudapi::Envelope;
use argus_testkit::services::{Mosquitto, free_port, workspace_bin};
use chrono::{Timelike, Utc};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// dock-1's gateway serial number (`flight-plans/docks.toml`).
pub const SN: &str = "7CTDM12345";
/// Its aircraft's.
pub const AIRCRAFT: &str = "1581F5BKD225D00B";

/// The simulator's default district, made once.
pub fn district() -> PathBuf {
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

/// `dir/plans`, made, beside the repository's `docks.toml` (copied to `dir`).
fn plans_dir(dir: &Path) -> PathBuf {
    let plans = dir.join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::copy(
        argus_testkit::repo_root().join("flight-plans/docks.toml"),
        dir.join("docks.toml"),
    )
    .unwrap();
    plans
}

/// Plan `id`: a small area north of dock-1 (a spoil heap and three sheds of the default
/// district under it), flown at 80 m, at the instant `at` (UTC, whole seconds), with `extra`
/// lines in its `[schedule]`.
pub fn plan(dir: &Path, id: &str, at: chrono::DateTime<Utc>, extra: &str) {
    let plans = plans_dir(dir);
    let (s, m, h) = (at.second(), at.minute(), at.hour());
    std::fs::write(
        plans.join(format!("{id}.toml")),
        format!(
            "schema = \"argus.plan/1\"\nid = \"{id}\"\ndock = \"dock-1\"\nkind = \"area\"\n\n\
             [geometry]\npolygon = [[30.70054, 121.01864], [30.70054, 121.02157], [30.70252, 121.02157], [30.70252, 121.01864]]\n\n\
             [camera]\npreset = \"sim-1080p\"\n\n\
             [flight]\naltitude_m = 80\nspeed_mps = 12\ngimbal_pitch_deg = -90\nside_overlap = 0.2\nangle_deg = 0\nturnaround_m = 0\n\n\
             [schedule]\ncron = \"{s} {m} {h} * * *\"\ntimezone = \"UTC\"\ncatch_up_s = 60\n{extra}"
        ),
    )
    .unwrap();
}

/// Every Cloud API message on the dock's topics, with when it was heard.
pub struct Wire {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, Envelope, f64)>>>,
}

impl Wire {
    pub fn listen(port: u16) -> Self {
        // A session the broker keeps across its restart, so nothing said meanwhile is missed.
        let mut mo = MqttOptions::new("test-wire", "127.0.0.1", port);
        mo.set_clean_session(false);
        let (c, mut conn) = Client::new(mo, 256);
        for k in ["services", "services_reply", "events", "events_reply"] {
            c.subscribe(format!("thing/product/{SN}/{k}"), QoS::AtLeastOnce)
                .unwrap();
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let _keep = c;
            for ev in conn.iter() {
                if ev.is_err() {
                    // The broker is away: try again shortly.
                    std::thread::sleep(Duration::from_millis(200));
                }
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

    pub fn all(&self) -> Vec<(String, Envelope, f64)> {
        self.seen.lock().unwrap().clone()
    }

    pub fn wait(
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

/// A progress event's status (either DJI shape).
pub fn status(e: &Envelope) -> Option<&str> {
    e.data
        .pointer("/output/status")
        .or_else(|| e.data.get("status"))
        .and_then(|s| s.as_str())
}

pub fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
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

/// Triage's config for the plans in `dir/plans` (its database `dir/triage.db`); the arguments
/// that serve it.
pub fn triage_config(
    dir: &Path,
    broker: &Mosquitto,
    lead_s: f64,
    reply_timeout_s: f64,
) -> Vec<String> {
    triage_config_with(dir, broker, lead_s, reply_timeout_s, "")
}

/// [`triage_config`] with more tables (`[verification]`, …) after `[patrols]`.
pub fn triage_config_with(
    dir: &Path,
    broker: &Mosquitto,
    lead_s: f64,
    reply_timeout_s: f64,
    extra: &str,
) -> Vec<String> {
    let http = free_port();
    let config = dir.join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\nhttp = \"127.0.0.1:{http}\"\n[mqtt]\nurl = \"{}\"\n[patrols]\nplans = \"{}\"\nprepare_lead_s = {lead_s}\nreply_timeout_s = {reply_timeout_s}\npublic_url = \"http://127.0.0.1:{http}\"\n{extra}",
            dir.join("triage.db").display(),
            broker.url(),
            dir.join("plans").display()
        ),
    )
    .unwrap();
    vec![
        "serve".to_string(),
        "--config".into(),
        config.display().to_string(),
    ]
}

/// `sim dock` as dock-1, streaming to `udp`, renders cached across runs, with `flags`.
pub fn spawn_dock(
    dir: &Path,
    district: &Path,
    broker: &Mosquitto,
    udp: u16,
    flags: &[&str],
) -> Child {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("patrol-dock-renders");
    let mut args: Vec<String> = [
        "dock",
        "--sn",
        SN,
        "--aircraft-sn",
        AIRCRAFT,
        "--at",
        "30.70,121.02",
        "--size",
        "960x540",
        "--fps",
        "10",
    ]
    .map(String::from)
    .to_vec();
    for (k, v) in [
        ("--district", district.display().to_string()),
        ("--mqtt", broker.url()),
        ("--video", format!("udp://127.0.0.1:{udp}")),
        ("--out", dir.join("flights").display().to_string()),
        ("--cache", cache.display().to_string()),
    ] {
        args.push(k.into());
        args.push(v);
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    spawn("sim", &args, &dir.join("dock.log"))
}

/// The edge agent `district-1` with `sources` (TOML `[[source]]` tables), its local clock put
/// where it is now the district's scene time (10:00), as the recordings were made.
pub fn spawn_agent(dir: &Path, district: &Path, broker: &Mosquitto, sources: &str) -> Child {
    let offset = argus_core::clock::utc_offset_min_for(600, argus_core::clock::now_unix_s());
    let cfg = dir.join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[agent]\nid = \"district-1\"\nmodel = \"{}\"\nmap = \"{}\"\nutc_offset_min = {offset}\n\n[mqtt]\nurl = \"{}\"\noutbox = \"{}\"\n\n{sources}",
            argus_testkit::repo_root().join("models/argus-det").display(),
            district.join("district.geojson").display(),
            broker.url(),
            dir.join("outbox").display(),
        ),
    )
    .unwrap();
    spawn(
        "edge-agent",
        &["run".into(), "--config".into(), cfg.display().to_string()],
        &dir.join("agent.log"),
    )
}

/// dock-1's drone as an agent source: its video on `udp`, posed by its OSD, its flights named
/// by its dock's progress.
pub fn dock_source(udp: u16) -> String {
    format!(
        "[[source]]\nid = \"dock-1\"\nkind = \"drone\"\nuri = \"udp://@:{udp}\"\nosd_sn = \"{AIRCRAFT}\"\ndock_sn = \"{SN}\"\n"
    )
}

/// The HTTP port of the triage configured in `dir` by [`triage_config`].
pub fn triage_http_port(dir: &Path) -> u16 {
    let config = std::fs::read_to_string(dir.join("triage.toml")).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("http = \"127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('"').parse().ok())
        .expect("triage.toml names its HTTP port")
}

/// The Cloud API messages of `flight_id` heard on `kind` (`services`, `events`, …).
pub fn of_flight(msgs: &[(String, Envelope, f64)], kind: &str, flight_id: &str) -> Vec<Envelope> {
    msgs.iter()
        .filter(|m| m.0 == kind)
        .filter(|m| {
            m.1.data.get("flight_id").and_then(|f| f.as_str()) == Some(flight_id)
                || m.1
                    .data
                    .pointer("/output/ext/flight_id")
                    .and_then(|f| f.as_str())
                    == Some(flight_id)
        })
        .map(|m| m.1.clone())
        .collect()
}

/// The events that asked for a reply and got none with their `tid` and `bid` (method and
/// `tid` of each).
pub fn unanswered(msgs: &[(String, Envelope, f64)]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|m| m.0 == "events" && m.1.needs_reply())
        .filter(|(_, e, _)| {
            !msgs
                .iter()
                .any(|(k, r, _)| k == "events_reply" && r.tid == e.tid && r.bid == e.bid)
        })
        .map(|(_, e, _)| (e.method.clone(), e.tid.clone()))
        .collect()
}

/// A `[schedule]` table (UTC) firing at each of `at` (whole seconds) with `catch_up_s`. Its
/// cron fires at every combination of their seconds, minutes and hours: none falls between
/// instants less than a minute apart.
pub fn schedule_at(at: &[chrono::DateTime<Utc>], catch_up_s: f64) -> String {
    let field = |f: fn(&chrono::DateTime<Utc>) -> u32| {
        let mut v: Vec<u32> = at.iter().map(f).collect();
        v.sort_unstable();
        v.dedup();
        v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
    };
    format!(
        "[schedule]\ncron = \"{} {} {} * * *\"\ntimezone = \"UTC\"\ncatch_up_s = {catch_up_s}\n",
        field(|t| t.second()),
        field(|t| t.minute()),
        field(|t| t.hour())
    )
}

/// Plan `id`: one look, from 30 m, at a point 70 m north of dock-1 (a flight of about half a
/// minute), with `schedule` (a `[schedule]` table, see [`schedule_at`]).
pub fn point_plan(dir: &Path, id: &str, schedule: &str) {
    let plans = plans_dir(dir);
    std::fs::write(
        plans.join(format!("{id}.toml")),
        format!(
            "schema = \"argus.plan/1\"\nid = \"{id}\"\ndock = \"dock-1\"\nkind = \"points\"\n\n\
             [geometry]\npoints = [[30.70063, 121.02]]\n\n\
             [camera]\npreset = \"sim-1080p\"\n\n\
             [flight]\naltitude_m = 40\nspeed_mps = 12\ninspect_height_m = 30\nhover_s = 2\ninspect_pitch_deg = -90\n\n\
             {schedule}"
        ),
    )
    .unwrap();
}
