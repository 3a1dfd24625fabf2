//! `sim dock` through a real Mosquitto, played against by a scripted Cloud API client (the
//! cloud's side, as triage speaks it) with the wayline served by a tiny HTTP server: the
//! dock announces its aircraft, refuses a wayline whose MD5 is not its fingerprint, flies a
//! prepared task as live RTP video with OSD on the rendered trajectory and progress answered
//! event by event, refuses what it must, and keeps each flight's recording.

use std::collections::HashSet;
use std::io::{BufRead as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::cloudapi::{
    Envelope, FlighttaskPrepare, Progress, Service, TaskFile, TaskStatus, TaskType, Topology,
    WaylineType,
};
use argus_core::geodesy::GeoPoint;
use argus_core::topics::DockTopic;
use argus_flightplan::formats::Format;
use argus_flightplan::formats::wpml::fingerprint;
use argus_sim::district::District;
use argus_sim::district::generate::{DistrictOptions, generate};
use argus_sim::dock::tasks::result;
use argus_sim::dock::{Dock, DockOptions};
use argus_sim::flight::route::{Route, Waypoint};
use argus_testkit::services::{Mosquitto, free_port};
use gstreamer as gst;
use gstreamer::prelude::*;
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

const SN: &str = "7CTDM12345";
const AIRCRAFT: &str = "1581F5BKD225D00B";
const FPS: u32 = 10;
const OSD_HZ: f64 = 2.0;

fn tmp_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The default district, written once.
fn district() -> (District, PathBuf) {
    let d = generate(&DistrictOptions::default()).unwrap();
    let dir = argus_testkit::cached(&tmp_root().join("dock-district-v1"), |dir| {
        argus_sim::district::geojson::write(&d, dir).unwrap();
    });
    (d, dir)
}

/// A short wayline east of the district's centre, at 30 m and 10 m/s: a 80 × 60 m loop
/// (the whole dock flight is about 45 s).
fn wayline(d: &District) -> Route {
    let f = d.frame();
    let wp = |e: f64, n: f64| {
        let g = f.ground_to_geo(e, n);
        Waypoint {
            lat: g.lat,
            lon: g.lon,
            alt_m: None,
            gimbal_pitch_deg: None,
            speed_mps: None,
            hover_s: None,
        }
    };
    Route {
        altitude_m: 30.0,
        speed_mps: 10.0,
        gimbal_pitch_deg: -90.0,
        gimbal_yaw_offset_deg: 0.0,
        home: None,
        waypoints: vec![
            wp(30.0, 0.0),
            wp(110.0, 0.0),
            wp(110.0, 60.0),
            wp(30.0, 60.0),
        ],
    }
}

/// The wayline's KMZ, written once: the writer stamps its creation time, so a KMZ written
/// again has another MD5 and would be rendered again.
fn kmz(d: &District) -> Vec<u8> {
    let dir = argus_testkit::cached(&tmp_root().join("dock-kmz-v1"), |dir| {
        let bytes = Format::Kmz
            .write(&wayline(d).to_mission().unwrap())
            .unwrap();
        std::fs::write(dir.join("wayline.kmz"), bytes).unwrap();
    });
    std::fs::read(dir.join("wayline.kmz")).unwrap()
}

/// Serves `body` at `/wayline.kmz` (anything else: 404); returns the URL.
fn serve_kmz(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut line = String::new();
            let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // The rest of the request head.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let found = line.starts_with("GET /wayline.kmz ");
            let (status, body): (&str, &[u8]) = if found {
                ("200 OK", &body)
            } else {
                ("404 Not Found", b"")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/vnd.google-earth.kmz\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        }
    });
    format!("http://127.0.0.1:{port}/wayline.kmz")
}

/// A message the cloud received: topic, payload, when (Unix s).
#[derive(Debug, Clone)]
struct Got {
    topic: String,
    payload: Vec<u8>,
    at: f64,
}

/// The cloud's side: a client on the dock's topics and its aircraft's OSD, answering every
/// event that asks for a reply (and noting which it answered).
struct Cloud {
    client: Client,
    got: Arc<Mutex<Vec<Got>>>,
    answered: Arc<Mutex<HashSet<String>>>,
}

impl Cloud {
    fn connect(broker: &Mosquitto, name: &str) -> Self {
        let mut mo = MqttOptions::new(format!("cloud-{name}"), "127.0.0.1", broker.port);
        mo.set_keep_alive(Duration::from_secs(5));
        // A persistent session: what the dock says while the cloud reconnects is kept.
        mo.set_clean_session(false);
        // Room for the hostile test's oversized message (rumqttc's default is 10 kB).
        mo.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(mo, 256);
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let answered: Arc<Mutex<HashSet<String>>> = Arc::default();
        let (g, a, c) = (got.clone(), answered.clone(), client.clone());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for f in [
                            format!("thing/product/{SN}/+"),
                            format!("sys/product/{SN}/+"),
                            DockTopic::Osd.topic(AIRCRAFT),
                        ] {
                            c.subscribe(f, QoS::AtLeastOnce).unwrap();
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.topic == DockTopic::Events.topic(SN) {
                            let e = Envelope::parse(&p.payload, SN).unwrap();
                            if e.needs_reply() {
                                c.publish(
                                    DockTopic::EventsReply.topic(SN),
                                    QoS::AtLeastOnce,
                                    false,
                                    e.result_reply(now_ms(), 0).to_json(),
                                )
                                .unwrap();
                                a.lock().unwrap().insert(e.tid.clone());
                            }
                        }
                        g.lock().unwrap().push(Got {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            at: argus_core::clock::now_unix_s(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        for _ in 0..3 {
            ready.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        Self {
            client,
            got,
            answered,
        }
    }

    fn on(&self, topic: &str) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.topic == topic)
            .cloned()
            .collect()
    }

    /// The messages on `topic` once `done` holds for them (panics after `secs`).
    fn wait(&self, topic: &str, secs: u64, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.on(topic);
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < until,
                "waited {secs} s on {topic}: {} messages",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a service and returns the dock's `data.result`.
    fn call(&self, service: &Service, secs: u64) -> i64 {
        let e = service.envelope(now_ms());
        self.client
            .publish(
                DockTopic::Services.topic(SN),
                QoS::AtLeastOnce,
                false,
                e.to_json(),
            )
            .unwrap();
        let replies = self.wait(&DockTopic::ServicesReply.topic(SN), secs, |g| {
            g.iter().any(|r| reply_tid(r) == e.tid)
        });
        let r = replies.iter().find(|r| reply_tid(r) == e.tid).unwrap();
        let r = Envelope::parse(&r.payload, SN).unwrap();
        assert_eq!(
            (r.bid.as_str(), r.method.as_str()),
            (e.bid.as_str(), e.method.as_str())
        );
        r.result().unwrap()
    }

    /// Waits (up to 10 min) for a flight's final progress.
    fn wait_landed(&self) {
        self.wait(&DockTopic::Events.topic(SN), 600, |g| {
            g.iter().any(|m| {
                Envelope::parse(&m.payload, SN)
                    .ok()
                    .and_then(|e| Progress::read(&e).ok())
                    .is_some_and(|p| p.status.is_final())
            })
        });
    }

    fn progress(&self) -> Vec<(Envelope, Progress)> {
        self.on(&DockTopic::Events.topic(SN))
            .iter()
            .map(|g| {
                let e = Envelope::parse(&g.payload, SN).unwrap();
                let p = Progress::read(&e).unwrap();
                (e, p)
            })
            .collect()
    }
}

fn reply_tid(g: &Got) -> String {
    Envelope::parse(&g.payload, SN)
        .map(|e| e.tid)
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    (argus_core::clock::now_unix_s() * 1000.0) as i64
}

fn prepare(flight_id: &str, url: &str, fingerprint: &str) -> Service {
    Service::Prepare(FlighttaskPrepare {
        flight_id: flight_id.into(),
        execute_time_ms: now_ms(),
        task_type: TaskType::Immediate,
        wayline_type: WaylineType::Waypoint,
        file: TaskFile {
            url: url.into(),
            fingerprint: fingerprint.into(),
        },
        rth_altitude_m: 100,
        out_of_control_action: 0,
        exit_wayline_when_rc_lost: 1,
    })
}

fn execute(flight_id: &str) -> Service {
    Service::Execute {
        flight_id: flight_id.into(),
    }
}

/// A dock on `broker` at the district's centre, 640×360 at 10 fps, renders cached for all
/// tests; `video` is its UDP port.
fn dock_options(
    broker: &Mosquitto,
    district: &Path,
    out: &Path,
    video: u16,
    d: &District,
) -> DockOptions {
    let mut o = DockOptions::new(
        district.to_path_buf(),
        SN,
        AIRCRAFT,
        d.frame().origin(),
        &broker.url(),
        ("127.0.0.1".into(), video),
        out.to_path_buf(),
    );
    o.size = (640, 360);
    o.fps = FPS;
    o.osd_hz = OSD_HZ;
    o.cache = Some(tmp_root().join("dock-renders"));
    o
}

/// Starts a dock and waits until it says it is online (subscribed: what the cloud sends
/// from then on reaches it, as triage waits for a dock's topology).
fn start(cloud: &Cloud, opts: DockOptions) -> Dock {
    let dock = Dock::start(opts).unwrap();
    cloud.wait(&DockTopic::Status.topic(SN), 30, |g| !g.is_empty());
    dock
}

/// Receives the dock's RTP video and counts the frames it decodes.
struct Receiver {
    pipeline: gst::Pipeline,
    frames: Arc<AtomicU64>,
}

impl Receiver {
    fn start(port: u16) -> Self {
        gst::init().unwrap();
        let pipeline = gst::parse::launch(&format!(
            "udpsrc port={port} buffer-size=4194304 caps=\"application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96\" \
             ! rtph264depay ! h264parse ! avdec_h264 ! fakesink name=sink sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let frames = Arc::new(AtomicU64::new(0));
        let n = frames.clone();
        pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                n.fetch_add(1, Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
        pipeline.set_state(gst::State::Playing).unwrap();
        Self { pipeline, frames }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// What every dock test starts with: the district (its folder), a scratch folder, a broker and
/// the scripted cloud on it (`name` its client).
struct Rig {
    d: District,
    dir: PathBuf,
    tmp: tempfile::TempDir,
    broker: Mosquitto,
    cloud: Cloud,
}

fn rig(name: &str) -> Rig {
    let (d, dir) = district();
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let cloud = Cloud::connect(&broker, name);
    Rig {
        d,
        dir,
        tmp,
        broker,
        cloud,
    }
}

#[test]
fn on_connect_the_dock_announces_its_aircraft_and_reconnects_after_a_broker_restart() {
    let Rig {
        d,
        dir,
        tmp,
        mut broker,
        cloud,
    } = rig("topo");
    let dock = Dock::start(dock_options(&broker, &dir, tmp.path(), free_port(), &d)).unwrap();
    let status = DockTopic::Status.topic(SN);
    let topo = cloud.wait(&status, 20, |g| !g.is_empty());
    let e = Envelope::parse(&topo[0].payload, SN).unwrap();
    assert_eq!(e.gateway.as_deref(), Some(SN));
    assert_eq!(
        Topology::read(&e).unwrap(),
        Topology {
            online: true,
            sub_devices: vec![AIRCRAFT.into()]
        }
    );
    // Its own OSD: where it stands, the aircraft home.
    let osd = cloud.wait(&DockTopic::Osd.topic(SN), 20, |g| !g.is_empty());
    let v: serde_json::Value = serde_json::from_slice(&osd[0].payload).unwrap();
    let o = d.frame().origin();
    assert_eq!(
        (
            v["data"]["latitude"].as_f64(),
            v["data"]["longitude"].as_f64()
        ),
        (Some(o.lat), Some(o.lon))
    );
    assert_eq!(
        (&v["data"]["drone_in_dock"], &v["data"]["mode_code"]),
        (&serde_json::json!(1), &serde_json::json!(0))
    );

    // The broker restarts: the dock comes back and says so again.
    broker.stop();
    broker.restart();
    let online = |g: &[Got]| {
        g.iter()
            .filter(|m| {
                Envelope::parse(&m.payload, SN)
                    .ok()
                    .and_then(|e| Topology::read(&e).ok())
                    .is_some_and(|t| t.online)
            })
            .count()
    };
    cloud.wait(&status, 30, |g| online(g) >= 2);
    // Still serving: a service is answered.
    assert_eq!(
        cloud.call(&execute("nothing-prepared"), 20),
        result::NOT_PREPARED
    );
    // Stopped, it says it is offline.
    dock.stop();
    cloud.wait(&status, 10, |g| {
        g.iter().any(|m| {
            Envelope::parse(&m.payload, SN)
                .ok()
                .and_then(|e| Topology::read(&e).ok())
                .is_some_and(|t| !t.online)
        })
    });
}

#[test]
fn a_wrong_fingerprint_is_refused_and_so_is_the_prepare_it_is_told_to_reject() {
    let Rig {
        d,
        dir,
        tmp,
        broker,
        cloud,
    } = rig("fp");
    let mut opts = dock_options(&broker, &dir, tmp.path(), free_port(), &d);
    opts.reject_next = true;
    let dock = start(&cloud, opts);
    let body = kmz(&d);
    let md5 = fingerprint(&body);
    let url = serve_kmz(body);
    // The first prepare is refused as asked, the next served.
    assert_eq!(
        cloud.call(&prepare("fp-0", &url, &md5), 30),
        result::REJECTED
    );
    // A fingerprint that is not the KMZ's MD5, a URL that is not found.
    assert_eq!(
        cloud.call(&prepare("fp-1", &url, &"0".repeat(32)), 30),
        result::BAD_WAYLINE
    );
    let missing = url.replace("wayline.kmz", "other.kmz");
    assert_eq!(
        cloud.call(&prepare("fp-2", &missing, &md5), 30),
        result::BAD_WAYLINE
    );
    // Refused tasks are not prepared.
    assert_eq!(cloud.call(&execute("fp-1"), 10), result::NOT_PREPARED);
    // The right one is prepared, and an undo drops it.
    assert_eq!(cloud.call(&prepare("fp-3", &url, &md5), 30), result::OK);
    let undo = Service::Undo {
        flight_ids: vec!["fp-3".into()],
    };
    assert_eq!(cloud.call(&undo, 10), result::OK);
    assert_eq!(cloud.call(&execute("fp-3"), 10), result::NOT_PREPARED);
    dock.stop();
}

#[test]
fn hostile_messages_are_ignored_and_the_dock_keeps_serving() {
    let Rig {
        d,
        dir,
        tmp,
        broker,
        cloud,
    } = rig("hostile");
    let dock = start(
        &cloud,
        dock_options(&broker, &dir, tmp.path(), free_port(), &d),
    );
    let services = DockTopic::Services.topic(SN);
    let big = vec![b'{'; 200_000];
    let mut hostile: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[1,2,3]".to_vec(),
        b"{}".to_vec(),
        big,
        vec![0xff, 0xfe, 0x00],
    ];
    // Envelopes that read, with services that do not: each answered with a refusal.
    let mut refused = Vec::new();
    for data in [
        serde_json::json!({ "flight_id": "../../etc" }),
        serde_json::json!({ "flight_id": 7 }),
        serde_json::json!({ "flight_ids": [] }),
    ] {
        let method = if data.get("flight_ids").is_some() {
            "flighttask_undo"
        } else {
            "flighttask_execute"
        };
        let e = Envelope::new(method, now_ms(), data);
        refused.push(e.tid.clone());
        hostile.push(e.to_json());
    }
    let mut odd = Envelope::new("flighttask_pause", now_ms(), serde_json::json!({}));
    refused.push(odd.tid.clone());
    hostile.push(odd.to_json());
    odd.gateway = Some("OTHER1".into());
    hostile.push(odd.to_json());
    for h in hostile {
        cloud
            .client
            .publish(services.as_str(), QoS::AtLeastOnce, false, h)
            .unwrap();
    }
    for topic in [
        DockTopic::EventsReply.topic(SN),
        DockTopic::StatusReply.topic(SN),
    ] {
        cloud
            .client
            .publish(topic, QoS::AtLeastOnce, false, b"\x00garbage".to_vec())
            .unwrap();
    }
    let replies = cloud.wait(&DockTopic::ServicesReply.topic(SN), 20, |g| {
        refused
            .iter()
            .all(|tid| g.iter().any(|r| &reply_tid(r) == tid))
    });
    for tid in &refused {
        let r = replies
            .iter()
            .find(|r| &reply_tid(r) == tid)
            .unwrap_or_else(|| {
                let got: Vec<String> = replies
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
                    .collect();
                panic!("no reply to {tid}: {got:#?}")
            });
        let code = Envelope::parse(&r.payload, SN).unwrap().result().unwrap();
        assert_eq!(code, result::BAD_MESSAGE);
    }
    // Still serving.
    assert_eq!(
        cloud.call(&execute("never-prepared"), 10),
        result::NOT_PREPARED
    );
    // Each answered once, and nothing unreadable was answered.
    assert_eq!(
        cloud.on(&DockTopic::ServicesReply.topic(SN)).len(),
        refused.len() + 1
    );
    dock.stop();
}

/// Distance in metres from `p` to the polyline `line` (ground metres).
fn to_polyline(p: (f64, f64), line: &[(f64, f64)]) -> f64 {
    line.windows(2)
        .map(|w| {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let f = if len2 > 0.0 {
                (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (p.0 - a.0 - f * dx).hypot(p.1 - a.1 - f * dy)
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn a_prepared_flight_streams_video_osd_and_progress_and_is_recorded() {
    let Rig {
        d,
        dir,
        tmp,
        broker,
        cloud,
    } = rig("flight");
    let video = free_port();
    let out = tmp.path().join("flights");
    let dock = start(&cloud, dock_options(&broker, &dir, &out, video, &d));
    let body = kmz(&d);
    let md5 = fingerprint(&body);
    let url = serve_kmz(body);
    let id = "0192d7a0-8c4e-7a35-9f00-5a1b2c3d4e5f";
    assert_eq!(cloud.call(&prepare(id, &url, &md5), 30), result::OK);
    let rx = Receiver::start(video);
    // Executed at once: the dock waits for its render, then flies.
    assert_eq!(cloud.call(&execute(id), 10), result::OK);
    // A second execute of the same task is refused, so is one of a task never prepared.
    assert_eq!(cloud.call(&execute(id), 10), result::ALREADY_EXECUTED);
    assert_eq!(
        cloud.call(&execute("not-prepared-1"), 10),
        result::NOT_PREPARED
    );
    cloud.wait_landed();
    // The last packets are decoded.
    std::thread::sleep(Duration::from_secs(2));

    // Progress: sent, in_progress through every wayline waypoint in order, ok; each asked
    // for a reply and was answered.
    let progress = cloud.progress();
    let statuses: Vec<TaskStatus> = progress.iter().map(|(_, p)| p.status).collect();
    assert_eq!(statuses.first(), Some(&TaskStatus::Sent), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&TaskStatus::Ok), "{statuses:?}");
    assert!(
        statuses[1..statuses.len() - 1]
            .iter()
            .all(|s| *s == TaskStatus::InProgress),
        "{statuses:?}"
    );
    let indices: Vec<u32> = progress
        .iter()
        .filter_map(|(_, p)| p.current_waypoint_index)
        .collect();
    assert!(indices.windows(2).all(|w| w[0] <= w[1]), "{indices:?}");
    let seen: HashSet<u32> = indices.iter().copied().collect();
    assert_eq!(seen, (0..4).collect(), "{indices:?}");
    let percents: Vec<f64> = progress.iter().filter_map(|(_, p)| p.percent).collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert_eq!(percents.last(), Some(&100.0));
    let answered = cloud.answered.lock().unwrap().clone();
    for (e, p) in &progress {
        assert!(e.needs_reply() && answered.contains(&e.tid), "{p:?}");
        assert_eq!((p.flight_id.as_str(), p.result), (id, 0));
    }

    // The recording.
    let rec = out.join(id);
    for f in ["flight.mp4", "flight.SRT", "truth.jsonl"] {
        assert!(rec.join(f).metadata().unwrap().len() > 0, "{f}");
    }
    let truth = argus_truth::read_jsonl(&rec.join("truth.jsonl")).unwrap();
    assert!(truth.len() > 300, "{} frames", truth.len());
    let duration = truth.len() as f64 / f64::from(FPS);

    // The video: every frame decoded, give or take 2 %.
    let frames = rx.frames.load(Ordering::SeqCst) as f64;
    let expected = duration * f64::from(FPS);
    eprintln!("video: {frames} frames decoded of {expected}");
    assert!(
        (frames - expected).abs() <= expected * 0.02,
        "{frames} frames decoded, {expected} sent"
    );

    // OSD: `osd_hz` a second for the whole flight, each the pose of a rendered frame,
    // stamped with that frame's stream time, on the route.
    let osd = cloud.on(&DockTopic::Osd.topic(AIRCRAFT));
    let samples: Vec<_> = osd
        .iter()
        .map(|g| (argus_core::osd::parse(&g.payload).unwrap(), g.at))
        .collect();
    let n = samples.len() as f64;
    eprintln!("osd: {n} messages over {duration:.1} s");
    assert!(
        (n - duration * OSD_HZ).abs() <= 2.0,
        "{n} OSD over {duration} s"
    );
    let t0 = samples[0].0.t_s;
    let f = d.frame();
    let ground = |lat: f64, lon: f64| f.geo_to_ground(GeoPoint { lat, lon });
    let w = wayline(&d);
    let dock_at = ground(f.origin().lat, f.origin().lon);
    let mut route = vec![dock_at];
    route.extend(w.waypoints.iter().map(|p| ground(p.lat, p.lon)));
    route.push(dock_at);
    for (k, (s, arrived)) in samples.iter().enumerate() {
        // Half a second apart on the stream's clock.
        let t = s.t_s - t0;
        assert!((t - k as f64 / OSD_HZ).abs() < 0.002, "OSD {k} at {t}");
        // The pose of the frame shown then (truth has the true pose).
        let frame = &truth[(t * f64::from(FPS)).round() as usize];
        let (a, b) = (ground(s.lat, s.lon), ground(frame.pose.lat, frame.pose.lon));
        assert!((a.0 - b.0).hypot(a.1 - b.1) < 0.01, "OSD {k}");
        assert!((s.height_m.unwrap() - frame.pose.alt_m).abs() < 0.01);
        // Sent when that frame was, not long after.
        assert!(
            *arrived >= s.t_s - 0.05 && *arrived - s.t_s < 0.5,
            "OSD {k} stamped {} arrived {arrived}",
            s.t_s
        );
        let off = to_polyline(a, &route);
        assert!(off < 3.0, "OSD {k} is {off:.1} m off the route");
    }
    // Per second, as many as asked (the first and last seconds may be cut).
    let span = samples.last().unwrap().1 - samples[0].1;
    let rate = (n - 1.0) / span;
    assert!((rate - OSD_HZ).abs() < 0.1, "{rate} OSD a second");
    dock.stop();
}

#[test]
fn a_flight_told_to_fail_reports_failed_at_its_waypoint() {
    let Rig {
        d,
        dir,
        tmp,
        broker,
        cloud,
    } = rig("fail");
    // Something listening for the video.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let video = sink.local_addr().unwrap().port();
    let mut opts = dock_options(&broker, &dir, tmp.path(), video, &d);
    opts.fail_at_waypoint = Some(1);
    let dock = start(&cloud, opts);
    let body = kmz(&d);
    let md5 = fingerprint(&body);
    let url = serve_kmz(body);
    assert_eq!(cloud.call(&prepare("fail-1", &url, &md5), 30), result::OK);
    assert_eq!(cloud.call(&execute("fail-1"), 10), result::OK);
    cloud.wait_landed();
    let progress = cloud.progress();
    let (_, last) = progress.last().unwrap();
    assert_eq!(last.status, TaskStatus::Failed, "{progress:?}");
    assert_eq!(last.current_waypoint_index, Some(1));
    assert_ne!(last.result, 0);
    // Never beyond it, and the video stopped: no more OSD a second later.
    assert!(
        progress
            .iter()
            .all(|(_, p)| p.current_waypoint_index <= Some(1))
    );
    let osd = cloud.on(&DockTopic::Osd.topic(AIRCRAFT)).len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cloud.on(&DockTopic::Osd.topic(AIRCRAFT)).len(), osd);
    // A failed task does not fly again.
    assert_eq!(cloud.call(&execute("fail-1"), 10), result::ALREADY_EXECUTED);
    dock.stop();
}

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let (d, dir) = district();
    let tmp = tempfile::tempdir().unwrap();
    let o = d.frame().origin();
    let run = |extra: &[&str]| {
        let mut flags: Vec<(String, String)> = [
            ("--district", dir.display().to_string()),
            ("--out", tmp.path().display().to_string()),
            ("--sn", SN.into()),
            ("--aircraft-sn", AIRCRAFT.into()),
            ("--at", format!("{},{}", o.lat, o.lon)),
            ("--mqtt", "mqtt://127.0.0.1:1".into()),
            ("--video", "udp://127.0.0.1:5600".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for pair in extra.chunks(2) {
            flags.retain(|(k, _)| k != pair[0]);
            flags.push((pair[0].into(), pair[1].into()));
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
            .arg("dock")
            .args(flags.iter().flat_map(|(k, v)| [k, v]))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let outside = format!("{},{}", o.lat + 0.05, o.lon);
    for (extra, flag) in [
        (&["--at", "91,0"][..], "--at"),
        (&["--at", outside.as_str()][..], "--at"),
        (&["--video", "tcp://1.2.3.4:5"][..], "--video"),
        (&["--osd-hz", "0"][..], "--osd-hz"),
        (&["--fps", "0"][..], "--fps"),
        (&["--size", "641x360"][..], "--size"),
        (&["--mqtt", "http://x"][..], "--mqtt"),
        (&["--sn", "7CTDM/1"][..], "--sn"),
        (&["--aircraft-sn", SN][..], "--aircraft-sn"),
    ] {
        let err = run(extra);
        eprintln!("{extra:?}: {}", err.trim());
        assert!(err.contains(flag), "{extra:?}: {err}");
    }
}
