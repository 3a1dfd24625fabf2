//! The edge agent against a real Mosquitto, on a simulated patrol flight over a busy corner of
//! the default district: it reports each violation it passes over once and no legal look-alike;
//! it loses nothing when the broker goes away for a minute or when it is killed; and a bad
//! source fails alone.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::flight::route::Waypoint;
use argus_sim::flight::{FlightOptions, Route, fly};
use argus_testkit::Recording;
use argus_testkit::services::Mosquitto;
use argus_truth::scoring::{self, SeenObject};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

const AGENT: &str = env!("CARGO_BIN_EXE_edge-agent");

/// The flight every test here uses, rendered once into the target folder.
fn flight() -> Recording {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-flight-v3");
    let dir = argus_testkit::cached(&dir, |dir| {
        let d = generate(&DistrictOptions::default()).unwrap();
        argus_sim::district::geojson::write(&d, &dir.join("district")).unwrap();
        // The 350 m square around a violation holding the most violations and look-alikes.
        let half = 175.0;
        let objects: Vec<[f64; 2]> = d.detectable().map(|(_, o, _)| o.center).collect();
        let limit = d.size_m / 2.0 - half - 20.0;
        let best = objects
            .iter()
            .map(|c| [c[0].clamp(-limit, limit), c[1].clamp(-limit, limit)])
            .max_by_key(|c| {
                objects
                    .iter()
                    .filter(|o| (o[0] - c[0]).abs() < half && (o[1] - c[1]).abs() < half)
                    .count()
            })
            .unwrap();
        // A three-line serpentine at 100 m, nadir: the 157 m wide footprint covers the square.
        let frame = d.frame();
        let mut waypoints = Vec::new();
        for (k, dx) in [-110.0, 0.0, 110.0].into_iter().enumerate() {
            let (y0, y1) = if k % 2 == 0 {
                (-half, half)
            } else {
                (half, -half)
            };
            for y in [y0, y1] {
                let g = frame.ground_to_geo(best[0] + dx, best[1] + y);
                waypoints.push(Waypoint {
                    lat: g.lat,
                    lon: g.lon,
                    alt_m: None,
                    gimbal_pitch_deg: None,
                    speed_mps: None,
                    hover_s: None,
                });
            }
        }
        let mut opts = FlightOptions::new(&d);
        opts.fps = 10;
        opts.route = Route {
            altitude_m: 100.0,
            speed_mps: 12.0,
            gimbal_pitch_deg: -90.0,
            gimbal_yaw_offset_deg: 0.0,
            home: None,
            waypoints,
        };
        fly(&d, &opts, &dir.join("flight")).unwrap();
    });
    Recording { dir }
}

fn seen(f: &Recording) -> Vec<SeenObject> {
    scoring::seen_objects(&f.truth()).unwrap()
}

/// A subscriber that keeps every hit, across broker restarts (persistent session, QoS 1).
/// What the broker carried of one agent's hits (every copy), beside a real triage that stores
/// them and sends the receipts the agent waits for.
struct Collector {
    hits: Arc<Mutex<Vec<Value>>>,
    _triage: argus_triage::service::Service,
}

impl Collector {
    fn start(broker: &Mosquitto, dir: &Path, agent: &str) -> Self {
        let port = broker.port;
        let mut mo = MqttOptions::new(format!("test-collector-{agent}"), "127.0.0.1", port);
        mo.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut conn) = Client::new(mo, 100);
        let hits = Arc::new(Mutex::new(Vec::new()));
        let topic = argus_core::topics::AgentTopic::Hits.topic(agent);
        let sink = hits.clone();
        let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = subscribed.clone();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe(topic.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst)
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                            sink.lock().unwrap().push(v);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
        // The broker keeps this persistent session's subscription from now on, even across its
        // restarts: wait for it before anything is published.
        wait_for(
            "the collector's subscription",
            Duration::from_secs(20),
            || subscribed.load(std::sync::atomic::Ordering::SeqCst),
        );
        let triage = argus_triage::testing::triage_on(&broker.url(), &dir.join("triage"), None);
        Self {
            hits,
            _triage: triage,
        }
    }

    /// Every copy the broker carried (a hit sent again after an outage arrives twice).
    fn copies(&self) -> Vec<Value> {
        self.hits.lock().unwrap().clone()
    }

    /// The distinct hits, by `hit_id`, in order of arrival.
    fn hits(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        self.copies()
            .into_iter()
            .filter(|h| seen.insert(h["hit_id"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    fn ids(&self) -> std::collections::BTreeSet<String> {
        self.hits()
            .iter()
            .filter_map(|h| h["hit_id"].as_str().map(str::to_string))
            .collect()
    }
}

/// The hits as the contract's type (each must be one).
fn typed(hits: &[Value]) -> Vec<argus_core::hit::Hit> {
    hits.iter()
        .map(|h| serde_json::from_value(h.clone()).expect("an argus.hit/1"))
        .collect()
}

fn write_config(dir: &Path, agent: &str, url: &str, sources: &str) -> PathBuf {
    let path = dir.join(format!("{agent}.toml"));
    std::fs::write(
        &path,
        format!(
            "[agent]\nid = \"{agent}\"\nmodel = \"{}\"\nmap = \"{}\"\n\n[mqtt]\nurl = \"{url}\"\noutbox = \"{}\"\n\n{sources}",
            argus_testkit::repo_root().join("models/argus-det").display(),
            flight().map().display(),
            dir.join(format!("{agent}-outbox")).display(),
        ),
    )
    .unwrap();
    path
}

fn drone_source(f: &Recording) -> String {
    format!(
        "[[source]]\nid = \"patrol\"\nkind = \"drone\"\nuri = \"{}\"\ntelemetry = \"{}\"\n",
        f.video().display(),
        f.srt().display()
    )
}

fn spawn_agent(config: &Path, log: &Path) -> Child {
    Command::new(AGENT)
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info,ort=warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .current_dir(argus_testkit::repo_root())
        .spawn()
        .unwrap()
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + timeout;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < until,
            "the agent did not finish in {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small tmpfs mounted on a folder for one test (root only), unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn outbox_ids(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".json")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_patrol_reports_each_violation_it_passes_once_and_no_look_alike() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-a");
    let cfg = write_config(tmp.path(), "dock-a", &broker.url(), &drone_source(&f));
    let log = tmp.path().join("agent.log");
    let status = wait_exit(&mut spawn_agent(&cfg, &log), Duration::from_secs(900));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "agent failed:\n{text}");
    std::thread::sleep(Duration::from_secs(1));
    let hits = collector.hits();
    // Every hit is a valid argus.hit/1 from this agent.
    for h in &hits {
        assert_eq!(h["schema"], "argus.hit/1");
        assert_eq!(h["agent_id"], "dock-a");
        assert_eq!(h["evidence"]["sha256"].as_str().unwrap().len(), 64);
    }
    // …and valid against the published JSON Schema (checked by the reference validator).
    let file = tmp.path().join("hits.json");
    std::fs::write(&file, serde_json::to_string(&hits).unwrap()).unwrap();
    let check = Command::new(argus_testkit::repo_root().join(".venv/bin/python"))
        .arg("-c")
        .arg("import json,sys,jsonschema; s=json.load(open(sys.argv[1])); [jsonschema.validate(h, s) for h in json.load(open(sys.argv[2]))]")
        .arg(argus_testkit::repo_root().join("schemas/hit.v1.schema.json"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "hits break the schema: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let seen = seen(&f);
    let s = scoring::ScoreRules::default().score(&typed(&hits), &seen);
    eprintln!(
        "{} hits; violations passed {:?}, found {:?}; on look-alikes {:?}; false {}",
        hits.len(),
        s.violations,
        s.found,
        s.on_legal,
        s.false_hits
    );
    assert!(!s.violations.is_empty(), "the flight passes no violation");
    assert_eq!(
        s.found.len(),
        s.violations.len(),
        "missed: {:?}",
        s.violations
            .iter()
            .filter(|v| !s.found.contains(v))
            .collect::<Vec<_>>()
    );
    assert!(
        s.on_legal.is_empty(),
        "hits on legal look-alikes: {:?}",
        s.on_legal
    );
    // One hit per violation per pass: updates refer to their first hit instead of repeating it.
    let mut per_object = std::collections::BTreeMap::<String, usize>::new();
    for h in s.hits.iter().filter(|h| h.on_violation) {
        *per_object.entry(h.object.clone().unwrap()).or_default() += 1;
    }
    let repeated: Vec<_> = per_object.iter().filter(|(_, n)| **n > 2).collect();
    assert!(
        repeated.is_empty(),
        "violations reported repeatedly: {repeated:?}"
    );
}

#[test]
fn a_broker_outage_of_a_minute_loses_no_hit_and_doubles_none() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-b");
    let cfg = write_config(tmp.path(), "dock-b", &broker.url(), &drone_source(&f));
    let outbox = tmp.path().join("dock-b-outbox");
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&cfg, &log);
    // Mid-flight: once the first hit has arrived, the broker goes away for 60 s.
    wait_for("the first hit", Duration::from_secs(600), || {
        !collector.hits().is_empty()
    });
    broker.stop();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let waiting = outbox_ids(&outbox);
    broker.restart();
    let status = wait_exit(&mut agent, Duration::from_secs(900));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "agent failed:\n{text}");
    assert!(
        text.contains("lost the broker"),
        "the outage was noticed:\n{text}"
    );
    assert!(
        outbox_ids(&outbox).is_empty(),
        "hits left behind in the outbox"
    );
    wait_for(
        "the hits held during the outage",
        Duration::from_secs(30),
        || {
            let got = collector.ids();
            waiting.iter().all(|w| got.contains(w))
        },
    );
    let hits = collector.copies();
    let made = text.matches(" hit ").count();
    assert!(made > 0);
    assert_eq!(
        collector.ids().len(),
        made,
        "every hit the agent made arrived (by hit_id)"
    );
    let per_id = hits.len() - collector.ids().len();
    eprintln!(
        "{made} hits made; {} delivered; {per_id} redelivered copies (dropped by triage by hit_id)",
        hits.len()
    );
}

#[test]
fn a_killed_agent_replays_its_outbox_on_restart() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-c");
    // First run: the broker is down, so hits pile up in the outbox; then kill -9.
    broker.stop();
    let cfg = write_config(tmp.path(), "dock-c", &broker.url(), &drone_source(&f));
    let outbox = tmp.path().join("dock-c-outbox");
    let log1 = tmp.path().join("agent1.log");
    let mut agent = spawn_agent(&cfg, &log1);
    wait_for("hits in the outbox", Duration::from_secs(600), || {
        outbox_ids(&outbox).len() >= 2
    });
    Command::new("kill")
        .arg("-9")
        .arg(agent.id().to_string())
        .status()
        .unwrap();
    let _ = agent.wait();
    let accepted = outbox_ids(&outbox);
    // Second run with the broker back: the outbox goes out first.
    broker.restart();
    let log2 = tmp.path().join("agent2.log");
    let mut agent = spawn_agent(&cfg, &log2);
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let got = collector.ids();
        if accepted.iter().all(|a| got.contains(a)) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the first run's {} hits did not all arrive ({} received, {} still in the outbox); agent log:\n{}\nbroker log:\n{}",
            accepted.len(),
            got.len(),
            outbox_ids(&outbox).len(),
            std::fs::read_to_string(&log2).unwrap_or_default(),
            std::fs::read_to_string(tmp.path().join("broker/mosquitto.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(
        text.contains("outbox holds hits from a previous run"),
        "{text}"
    );
    let _ = agent.kill();
    let _ = agent.wait();
}

#[test]
fn a_corrupt_file_a_dead_camera_and_broken_telemetry_fail_alone() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-d");
    let corrupt = tmp.path().join("corrupt.mp4");
    std::fs::write(
        &corrupt,
        (0..200_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let bad_srt = tmp.path().join("bad.SRT");
    std::fs::write(&bad_srt, "1\n00:00:00,000 --> banana\n[latitude: 1]\n").unwrap();
    let camera = tmp.path().join("cam.json");
    std::fs::write(
        &camera,
        r#"{"pose":{"lat":30.7,"lon":121.02,"alt_m":8,"yaw_deg":0,"pitch_deg":-24,"roll_deg":0},"camera":{"width":1280,"height":720,"fx":900,"fy":900,"cx":640,"cy":360}}"#,
    )
    .unwrap();
    let dead_port = argus_testkit::services::free_port();
    let sources = format!(
        "{}\n[[source]]\nid = \"broken-file\"\nkind = \"drone\"\nuri = \"{}\"\ntelemetry = \"{}\"\n\n\
         [[source]]\nid = \"dead-camera\"\nkind = \"camera\"\nuri = \"rtsp://127.0.0.1:{dead_port}/cam\"\ncamera = \"{}\"\n\n\
         [[source]]\nid = \"bad-telemetry\"\nkind = \"drone\"\nuri = \"{}\"\ntelemetry = \"{}\"\n\n[health]\nlisten = \"127.0.0.1:0\"\n",
        drone_source(&f),
        corrupt.display(),
        f.srt().display(),
        camera.display(),
        f.video().display(),
        bad_srt.display(),
    );
    let cfg = write_config(tmp.path(), "dock-d", &broker.url(), &sources);
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&cfg, &log);
    // The dead camera keeps retrying, so the agent never ends by itself: wait for the good
    // source to finish and its hits to arrive.
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the patrol source to end", Duration::from_secs(900), || {
        read().contains("source=patrol") && read().contains("source ended")
    });
    wait_for("hits", Duration::from_secs(30), || {
        !collector.hits().is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    let _ = agent.kill();
    let _ = agent.wait();
    let text = read();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .map(str::to_string)
    };
    let broken = line("source=broken-file")
        .unwrap_or_else(|| panic!("no word about the corrupt file:\n{text}"));
    assert!(broken.contains("corrupt.mp4"), "{broken}");
    let dead = line("source=dead-camera")
        .unwrap_or_else(|| panic!("no word about the dead camera:\n{text}"));
    assert!(dead.contains("retry"), "{dead}");
    let bad = line("source=bad-telemetry")
        .unwrap_or_else(|| panic!("no word about the bad SRT:\n{text}"));
    assert!(bad.contains("bad.SRT") && bad.contains("line 2"), "{bad}");
    assert!(
        collector
            .hits()
            .iter()
            .all(|h| h["source"]["id"] == "patrol")
    );
}

/// Not a test on its own: when `ARGUS_RTSP_CHILD_PORT` is set, this process serves a live RTSP
/// camera on that port until killed (the reconnect test runs it as a separate process, so that
/// killing it drops the camera the way a power cut does).
#[test]
fn helper_rtsp_camera_process() {
    let Ok(port) = std::env::var("ARGUS_RTSP_CHILD_PORT") else {
        return;
    };
    let cam = argus_sim::rtsp::RtspCamera::start(
        "127.0.0.1",
        port.parse().unwrap(),
        "/cam",
        640,
        360,
        10,
    )
    .unwrap();
    let frame = vec![90u8; 640 * 360 * 3];
    loop {
        cam.push(&frame);
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_camera(port: u16) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_rtsp_camera_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ARGUS_RTSP_CHILD_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn get_health(port: u16) -> Option<Value> {
    let (_, body) = argus_testkit::services::http(port, "GET", "/health", &[], b"")?;
    serde_json::from_slice(&body).ok()
}

#[test]
fn a_camera_that_drops_is_reconnected_when_it_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let cam_port = argus_testkit::services::free_port();
    let mut camera = spawn_camera(cam_port);
    assert!(
        argus_testkit::services::wait_port(cam_port, Duration::from_secs(20)),
        "the test camera did not start"
    );
    let calib = tmp.path().join("cam.json");
    std::fs::write(
        &calib,
        r#"{"pose":{"lat":30.7,"lon":121.02,"alt_m":8,"yaw_deg":0,"pitch_deg":-24,"roll_deg":0},"camera":{"width":640,"height":360,"fx":450,"fy":450,"cx":320,"cy":180}}"#,
    )
    .unwrap();
    let health_port = argus_testkit::services::free_port();
    let sources = format!(
        "[[source]]\nid = \"cam\"\nkind = \"camera\"\nuri = \"rtsp://127.0.0.1:{cam_port}/cam\"\ncamera = \"{}\"\n\n[health]\nlisten = \"127.0.0.1:{health_port}\"\n",
        calib.display()
    );
    let cfg = write_config(tmp.path(), "dock-e", &broker.url(), &sources);
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&cfg, &log);
    let frames = || {
        get_health(health_port)
            .and_then(|h| h["sources"][0]["frames"].as_u64())
            .unwrap_or(0)
    };
    wait_for("frames from the camera", Duration::from_secs(60), || {
        frames() > 10
    });
    // A slow client (a request line that never ends) holds up no one, and is cut off.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", health_port)).unwrap();
    slow.write_all(b"GET /hea").unwrap();
    let asked = Instant::now();
    assert!(
        get_health(health_port).is_some(),
        "a slow client blocked /health"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "the slow client was kept {:?}",
        asked.elapsed()
    );
    // The camera loses power…
    Command::new("kill")
        .arg("-9")
        .arg(camera.id().to_string())
        .status()
        .unwrap();
    let _ = camera.wait();
    wait_for("the agent to notice", Duration::from_secs(60), || {
        get_health(health_port).is_some_and(|h| h["sources"][0]["up"] == false)
    });
    let before = frames();
    // …and comes back on the same address.
    let mut camera = spawn_camera(cam_port);
    wait_for(
        "frames after the camera's return",
        Duration::from_secs(90),
        || frames() > before + 10,
    );
    let h = get_health(health_port).unwrap();
    assert_eq!(h["sources"][0]["up"], true, "{h}");
    let _ = camera.kill();
    let _ = camera.wait();
    let _ = agent.kill();
    let _ = agent.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("source=cam"), "{text}");
}

/// Publishes the flight's true poses as DJI Cloud API aircraft OSD messages at 2 Hz, each when
/// its frame is due on a stream that started at `t0_unix_s`, stamped with that time.
fn publish_osd(port: u16, sn: &str, f: &Recording, t0_unix_s: f64) -> std::thread::JoinHandle<u64> {
    let lines = argus_truth::read_jsonl(&f.truth()).unwrap();
    let topic = argus_core::topics::DockTopic::Osd.topic(sn);
    std::thread::spawn(move || {
        let (client, mut conn) =
            Client::new(MqttOptions::new("test-dock-osd", "127.0.0.1", port), 64);
        std::thread::spawn(move || for _ in conn.iter() {});
        let mut sent = 0;
        for l in lines.iter().step_by(5) {
            let t = t0_unix_s + l.pts_s;
            let now = argus_core::clock::now_unix_s();
            if t > now {
                std::thread::sleep(Duration::from_secs_f64(t - now));
            }
            let p = &l.pose;
            let msg = serde_json::json!({
                "tid": "t", "bid": "b", "gateway": "DOCK-TEST",
                "timestamp": (t * 1000.0).round() as u64,
                "data": {
                    "latitude": p.lat, "longitude": p.lon, "elevation": p.alt_m,
                    "height": p.alt_m, "attitude_head": p.yaw_deg, "mode_code": 5,
                    "66-0-0": {"payload_index": "66-0-0", "gimbal_pitch": p.pitch_deg,
                               "gimbal_roll": p.roll_deg, "gimbal_yaw": p.yaw_deg}
                }
            });
            client
                .publish(&topic, QoS::AtMostOnce, false, msg.to_string())
                .unwrap();
            sent += 1;
        }
        sent
    })
}

#[test]
fn a_live_dock_stream_over_rtp_is_placed_by_its_osd_telemetry() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-f");
    let udp = argus_testkit::services::free_port();
    let sources = format!(
        "[[source]]\nid = \"dock-live\"\nkind = \"drone\"\nuri = \"udp://@:{udp}\"\nosd_sn = \"1581F5BKD225D00B\"\n"
    );
    let cfg = write_config(tmp.path(), "dock-f", &broker.url(), &sources);
    // Vending hours are judged on the local clock: put the agent in the time zone where it is
    // now the district's scene time (10:00), as when the flight was recorded.
    let now_min = (argus_core::clock::now_unix_s() / 60.0) as i64 % 1440;
    let offset = (600 - now_min + 1440 + 720).rem_euclid(1440) - 720;
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "[agent]\n",
            &format!("[agent]\nutc_offset_min = {offset}\n"),
        ),
    )
    .unwrap();
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&cfg, &log);
    wait_for(
        "the agent's OSD subscription",
        Duration::from_secs(120),
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("listening to OSD telemetry")),
    );
    // The dock streams the flight's video in real time over RTP/UDP (as recorded, no
    // re-encoding) while its aircraft reports where it is.
    let mut sender = Command::new("gst-launch-1.0")
        .arg("-v")
        .arg("filesrc")
        .arg(format!("location={}", f.video().display()))
        .args([
            "!",
            "qtdemux",
            "!",
            "h264parse",
            "!",
            "rtph264pay",
            "config-interval=1",
            "pt=96",
        ])
        // `identity` paces the packets and says when the first one leaves.
        .args([
            "!",
            "identity",
            "sync=true",
            "silent=false",
            "!",
            "udpsink",
            "host=127.0.0.1",
        ])
        .arg(format!("port={udp}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(sender.stdout.take().unwrap()));
    for line in lines.by_ref() {
        if line.unwrap().contains("last-message = chain") {
            break;
        }
    }
    let started = argus_core::clock::now_unix_s();
    std::thread::spawn(move || for _ in lines {});
    let osd = publish_osd(broker.port, "1581F5BKD225D00B", &f, started);
    let streamed = wait_exit(&mut sender, Duration::from_secs(300));
    assert!(streamed.success(), "the RTP sender failed");
    assert!(osd.join().unwrap() > 100);
    // A live source never ends: give the last tracks time to close, then stop the agent.
    std::thread::sleep(Duration::from_secs(5));
    let _ = agent.kill();
    let _ = agent.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let hits = collector.hits();
    let s = scoring::ScoreRules::default().score(&typed(&hits), &seen(&f));
    eprintln!(
        "live: {} hits; violations passed {:?}, found {:?}; on look-alikes {:?}; false {}",
        hits.len(),
        s.violations,
        s.found,
        s.on_legal,
        s.false_hits
    );
    // Placed by OSD poses alone (no SRT): most violations are found within 8 m, and no hit
    // lands on a look-alike.
    assert!(
        s.found.len() * 4 >= s.violations.len() * 3,
        "found {:?} of {:?}\n{text}",
        s.found,
        s.violations
    );
    assert!(
        s.on_legal.is_empty(),
        "hits on look-alikes: {:?}",
        s.on_legal
    );
    // Each frame is posed at the moment it reached the agent: a drone at 12 m/s puts its hits
    // within a metre or so of the truth (posed when the reader got them, less the jitter
    // buffer's latency, they were 2 m behind).
    let mut errors = s.errors_m();
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    eprintln!(
        "live: median geolocation error {median:.2} m over {} hits",
        errors.len()
    );
    assert!(median < 1.2, "median geolocation error {median:.2} m");
    assert!(hits.iter().all(|h| h["source"]["id"] == "dock-live"));
}

#[test]
fn the_agent_connects_over_tls_with_its_password_and_says_why_a_wrong_one_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start_secure(&tmp.path().join("broker"), "dock-g", "s3cret pass");
    let sec = broker.secure().unwrap().clone();
    let calib = tmp.path().join("cam.json");
    std::fs::write(
        &calib,
        r#"{"pose":{"lat":30.7,"lon":121.02,"alt_m":8,"yaw_deg":0,"pitch_deg":-24,"roll_deg":0},"camera":{"width":640,"height":360,"fx":450,"fy":450,"cx":320,"cy":180}}"#,
    )
    .unwrap();
    let dead = argus_testkit::services::free_port();
    let config = |agent: &str, password: &str| {
        let path = tmp.path().join(format!("{agent}.toml"));
        std::fs::write(
            &path,
            format!(
                "[agent]\nid = \"{agent}\"\nmodel = \"{}\"\n\n[mqtt]\nurl = \"{}\"\nca_file = \"{}\"\nusername = \"dock-g\"\npassword = \"{password}\"\noutbox = \"{}\"\n\n\
                 [[source]]\nid = \"cam\"\nkind = \"camera\"\nuri = \"rtsp://127.0.0.1:{dead}/cam\"\ncamera = \"{}\"\n",
                argus_testkit::repo_root().join("models/argus-det").display(),
                broker.url(),
                sec.ca_file.display(),
                tmp.path().join(format!("{agent}-outbox")).display(),
                calib.display(),
            ),
        )
        .unwrap();
        path
    };
    // The retained status says `online` once the agent is in: read it with the reference client.
    let status = |agent: &str| {
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &broker.port.to_string()])
            .arg("--cafile")
            .arg(&sec.ca_file)
            .args(["-u", &sec.user, "-P", &sec.password])
            .args([
                "-t",
                &format!("argus/v1/agents/{agent}/status"),
                "-C",
                "1",
                "-W",
                "3",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    };
    let good_log = tmp.path().join("good.log");
    let mut good = spawn_agent(&config("dock-g", &sec.password), &good_log);
    wait_for(
        "the agent's online status over TLS",
        Duration::from_secs(60),
        || status("dock-g").contains("online"),
    );
    let bad_log = tmp.path().join("bad.log");
    let mut bad = spawn_agent(&config("dock-h", "wrong"), &bad_log);
    wait_for("the refusal in the log", Duration::from_secs(60), || {
        std::fs::read_to_string(&bad_log).is_ok_and(|t| t.contains("cannot connect to the broker"))
    });
    let text = std::fs::read_to_string(&bad_log).unwrap();
    assert!(
        text.contains("Connection refused")
            || text.contains("NotAuthorized")
            || text.contains("BadUserNamePassword"),
        "the log should say the broker refused the password:\n{text}"
    );
    assert!(
        !text.contains("wrong"),
        "the password must not be logged:\n{text}"
    );
    assert!(status("dock-h").is_empty());
    for c in [&mut good, &mut bad] {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn replay_writes_the_patrols_hits_standing_on_the_dems_terrain() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    // Terrain 35 m high over the whole district, with the drone's heights measured from 30 m:
    // the ground the patrol sees is 5 m above its take-off point.
    let map =
        argus_core::map::Map::from_geojson(&std::fs::read_to_string(f.map()).unwrap()).unwrap();
    let o = map.frame().origin();
    let posts = 41;
    let dem = argus_core::dem::Dem::new(
        o.lat + 0.02,
        o.lon - 0.02,
        0.001,
        0.001,
        posts,
        vec![35.0; posts * posts],
    )
    .unwrap();
    let dem_path = tmp.path().join("terrain.tif");
    dem.write_geotiff(&dem_path).unwrap();
    let cfg = tmp.path().join("replay.toml");
    std::fs::write(
        &cfg,
        "[agent]\ndem = \"terrain.tif\"\n\n[analysis]\ndetect_fps = 2\ntakeoff_elevation_m = 30\n",
    )
    .unwrap();
    let out = tmp.path().join("hits.jsonl");
    let run = Command::new(AGENT)
        .arg("replay")
        .arg(f.video())
        .arg("--telemetry")
        .arg(f.srt())
        .arg("--map")
        .arg(f.map())
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .env("RUST_LOG", "info,ort=warn")
        .env("NO_COLOR", "1")
        .current_dir(argus_testkit::repo_root())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "replay failed:\n{log}");
    assert!(
        log.contains("DEM loaded") && log.contains("reference_m=30"),
        "{log}"
    );
    let hits: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains(&format!("{} hits", hits.len())), "{stdout}");
    assert!(!hits.is_empty(), "{log}");
    // Every hit stands on the terrain (5 m up); a shed may stand on a roof above it.
    for h in &hits {
        let z = h["position"]["elevation_m"].as_f64().unwrap();
        assert!(z > 4.99, "{h}");
        if h["object_class"] != "steel_shed" {
            assert!((z - 5.0).abs() < 0.01, "{h}");
        }
    }
}

#[test]
fn a_full_disk_holds_hits_in_memory_and_loses_none_when_space_returns() {
    let f = flight();
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("dock-z-outbox");
    let Some(_disk) = SmallDisk::mount(&outbox, "2m") else {
        eprintln!("skipping: cannot mount a small tmpfs for the outbox (needs root)");
        return;
    };
    // Fill it to the last byte.
    let filler = outbox.join("filler");
    {
        let mut fill = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while fill.write_all(&block).is_ok() {}
        while fill.write_all(&block[..512]).is_ok() {}
    }
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let collector = Collector::start(&broker, tmp.path(), "dock-z");
    let health_port = argus_testkit::services::free_port();
    let sources = format!(
        "{}\n[health]\nlisten = \"127.0.0.1:{health_port}\"\n",
        drone_source(&f)
    );
    let cfg = write_config(tmp.path(), "dock-z", &broker.url(), &sources);
    let log = tmp.path().join("agent.log");
    let mut agent = spawn_agent(&cfg, &log);
    wait_for(
        "a hit held for want of space",
        Duration::from_secs(600),
        || get_health(health_port).is_some_and(|h| h["disk"]["full"] == true),
    );
    let h = get_health(health_port).unwrap();
    assert_eq!(h["status"], "degraded", "{h}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.try_wait().unwrap().is_none(),
        "the agent exited on a full disk"
    );
    // Space returns: the held hits go out, and their receipts tell the agent triage's clock.
    std::fs::remove_file(&filler).unwrap();
    wait_for("a receipt's clock offset", Duration::from_secs(120), || {
        get_health(health_port).is_some_and(|h| h["clock"]["triage"]["offset_s"].as_f64().is_some())
    });
    let h = get_health(health_port).unwrap();
    let offset = h["clock"]["triage"]["offset_s"].as_f64().unwrap();
    assert!(offset.abs() < 2.0, "one machine, one clock: {h}");
    let status = wait_exit(&mut agent, Duration::from_secs(900));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "agent failed:\n{text}");
    assert!(text.contains("holding it in memory"), "{text}");
    assert!(text.contains("the outbox is writable again"), "{text}");
    assert!(
        outbox_ids(&outbox).is_empty(),
        "hits left behind in the outbox"
    );
    let made = text.matches(" hit hit=").count();
    assert!(made > 0, "{text}");
    wait_for("every hit at triage", Duration::from_secs(30), || {
        collector.ids().len() == made
    });
    eprintln!("{made} hits made while the disk was full or after; all arrived once");
}
