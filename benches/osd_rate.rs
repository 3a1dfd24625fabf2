//! What the aircraft's OSD rate costs a live dock analysis (issue 19): the same simulated dock
//! flight flown live three times, with its OSD pushed at 0.5 messages a second (the rate DJI
//! documents for `thing/product/{sn}/osd`), 2 and 5, each analysed live by the edge agent
//! (`edge-agent run` with a dock source: RTP video posed from the OSD), and next to each the
//! same flight's recording (`flight.mp4` with its 10 Hz `flight.SRT`) through `edge-agent
//! replay`: the baseline no live OSD can beat, measured in the same run.
//!
//! Every part is real: a Mosquitto broker, triage (in this process) scheduling an area plan
//! 125 m north of dock-1 (a spoil heap and a shed under it, swept at 40 m; under a minute from
//! take-off to landing, and each is seen as the aircraft turns), the simulated dock of
//! `argus_sim::dock` downloading triage's KMZ and flying it, and the agent as a child process
//! of this benchmark running `agent::run` as `edge-agent run` does. The flight is rendered once
//! (960×540, 10 frames/s) and cached in the target folder.
//!
//! The two pose sources differ in more than their rate: the dock's OSD carries the render's
//! poses as they are, the recording's SRT the simulator's telemetry noise (a few decimetres, a
//! few tenths of a degree). The live agent poses a frame from the messages around it, or
//! carries the last one on for up to a second: at 0.5 Hz some frames have no pose at all.
//!
//! Per rate: recall (violations found ÷ violations the recording shows, as `argus-score`
//! counts them from its `truth.jsonl`) and the median geolocation error of hits on violations,
//! live and replayed, and the ratio of the live median to the replay's; the OSD messages heard,
//! and the frames the live agent analysed and dropped (a live agent that fell behind would
//! lose recall whatever the OSD rate).
//!
//! Run: `cargo bench -p argus --bench osd_rate` (about 6 minutes; the first run renders).
//! `ARGUS_BENCH_OSD_HZ=0.5,5` flies other rates, `ARGUS_BENCH_RUNS=3` each rate three times
//! (errors pooled: two violations make a small sample); `ARGUS_BENCH_KEEP=1` keeps the logs
//! (triage's and the dock's in `bench.log`, each agent's in `osd-{hz}-{run}/agent.log`) and
//! the recordings.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::geodesy::GeoPoint;
use argus_core::hit::{Hit, SourceKind};
use argus_core::topics::{AgentTopic, DockTopic};
use argus_edge_agent::config::{Config, SourceConfig};
use argus_edge_agent::replay::{ReplayArgs, replay};
use argus_sim::dock::{Dock, DockOptions};
use argus_testkit::services::{Mosquitto, free_port};
use argus_triage::store::{RunFilter, RunState};
use argus_truth::scoring::{self, ScoreRules};
use chrono::{Timelike, Utc};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// The OSD rates flown, messages per second.
const RATES: [f64; 3] = [0.5, 2.0, 5.0];
/// dock-1 (`flight-plans/docks.toml`): gateway and aircraft serial numbers, position.
const SN: &str = "7CTDM12345";
const AIRCRAFT: &str = "1581F5BKD225D00B";
const DOCK: GeoPoint = GeoPoint {
    lat: 30.70,
    lon: 121.02,
};
/// The agent's id (`docks.toml`'s `agent` of dock-1).
const AGENT: &str = "district-1";
/// Set in the agent child process: its config file.
const AGENT_ENV: &str = "ARGUS_OSD_RATE_AGENT";
/// The plan: an area around the spoil heap V0020 and the shed V0025 of the default district,
/// 125 m north of the dock, swept at 40 m. Its legs are short steps north and south: the
/// aircraft turns (its heading jumps) right over the heap and again over the shed, where a pose
/// interpolated between sparse messages is furthest off.
const PLAN: &str = "schema = \"argus.plan/1\"\nid = \"osd-rate\"\ndock = \"dock-1\"\nkind = \"area\"\n\n\
    [geometry]\npolygon = [[30.70095, 121.0196], [30.70095, 121.0215], [30.70130, 121.0215], [30.70130, 121.0196]]\n\n\
    [camera]\npreset = \"sim-1080p\"\n\n\
    [flight]\naltitude_m = 40\nspeed_mps = 12\ngimbal_pitch_deg = -90\nside_overlap = 0.2\nangle_deg = 0\nturnaround_m = 0\n\n";
/// From triage's start to the plan's instant, and how long before it the dock is prepared.
const START_IN_S: i64 = 25;
const LEAD_S: f64 = 15.0;

/// One flight flown live.
struct Flown {
    flight_id: String,
    recording: PathBuf,
    live: Vec<Hit>,
    osd_messages: usize,
    /// The live agent's frames analysed and dropped (it fell behind).
    analysed: u64,
    dropped: u64,
}

/// Recall and geolocation errors of some flights' hits against their recordings' truth.
#[derive(Default)]
struct Scored {
    found: usize,
    shown: usize,
    errors_m: Vec<f64>,
    hits: usize,
}

impl Scored {
    /// Adds one flight: its hits scored against its `truth.jsonl`.
    fn add(&mut self, hits: &[Hit], truth: &Path) {
        let seen = scoring::seen_objects(truth).expect("the recording's truth");
        let s = ScoreRules::default().score(hits, &seen);
        self.found += s.found.len();
        self.shown += s.violations.len();
        self.errors_m.extend(s.errors_m());
        self.hits += s.hits.len();
    }

    fn recall(&self) -> f64 {
        self.found as f64 / self.shown.max(1) as f64
    }

    fn median_m(&self) -> f64 {
        scoring::median(&self.errors_m)
    }
}

/// The default district, written once into the target folder.
fn district() -> PathBuf {
    argus_testkit::cached(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("osd-rate-district-seed1"),
        |dir| {
            let d = argus_sim::district::generate::generate(&Default::default())
                .expect("the default district");
            argus_sim::district::geojson::write(&d, dir).expect("writing the district");
        },
    )
}

/// The agent's config: the dock's drone on `udp`, `/metrics` on `health`, its local clock put
/// where it is now the district's scene time (10:00), as the recordings were made.
fn agent_config(dir: &Path, district: &Path, broker: &Mosquitto, udp: u16, health: u16) -> PathBuf {
    let now_min = (argus_core::clock::now_unix_s() / 60.0) as i64 % 1440;
    let offset = (600 - now_min + 1440 + 720).rem_euclid(1440) - 720;
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\nid = \"{AGENT}\"\nmodel = \"{}\"\nmap = \"{}\"\nutc_offset_min = {offset}\n\n\
             [mqtt]\nurl = \"{}\"\noutbox = \"{}\"\n\n[health]\nlisten = \"127.0.0.1:{health}\"\n\n\
             [[source]]\nid = \"dock-1\"\nkind = \"drone\"\nuri = \"udp://@:{udp}\"\nosd_sn = \"{AIRCRAFT}\"\ndock_sn = \"{SN}\"\n",
            argus_testkit::repo_root().join("models/argus-det").display(),
            district.join("district.geojson").display(),
            broker.url(),
            dir.join("outbox").display(),
        ),
    )
    .expect("writing the agent's config");
    path
}

/// This benchmark again, as the agent (`edge-agent run --config CONFIG`).
fn spawn_agent(config: &Path, log: &Path) -> Child {
    Command::new(std::env::current_exe().expect("the benchmark's path"))
        .env(AGENT_ENV, config)
        .env("RUST_LOG", "info,ort=warn")
        .current_dir(argus_testkit::repo_root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("the agent's log"))
        .spawn()
        .expect("starting the agent")
}

/// The agent child process: what `edge-agent run` does.
fn agent_process(config: &str) -> ! {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let ran = Config::load(config.as_ref())
        .map_err(anyhow::Error::from)
        .and_then(argus_edge_agent::agent::run);
    if let Err(e) = ran {
        eprintln!("edge agent: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

/// Every hit the agent publishes (by id) and the aircraft OSD messages counted, heard on the
/// broker next to triage until dropped.
struct Ears {
    hits: Arc<Mutex<Vec<Hit>>>,
    osd: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
}

impl Ears {
    fn listen(broker: &Mosquitto) -> Self {
        let mut mo = MqttOptions::new("bench-ears", "127.0.0.1", broker.port);
        // Hits carry their evidence JPEG: far over rumqttc's default 10 kB.
        mo.set_max_packet_size(1 << 22, 1 << 22);
        mo.set_clean_session(false);
        let (c, mut conn) = Client::new(mo, 256);
        c.subscribe(AgentTopic::Hits.topic(AGENT), QoS::AtLeastOnce)
            .expect("subscribing to the hits");
        c.subscribe(DockTopic::Osd.topic(AIRCRAFT), QoS::AtMostOnce)
            .expect("subscribing to the OSD");
        let ears = Self {
            hits: Arc::default(),
            osd: Arc::default(),
            stop: Arc::default(),
        };
        let (hits, osd, stop) = (ears.hits.clone(), ears.osd.clone(), ears.stop.clone());
        std::thread::spawn(move || {
            let _keep = c;
            for ev in conn.iter() {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(_) if stop.load(Ordering::SeqCst) => break,
                    Err(e) => {
                        eprintln!("the bench's listener lost the broker: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                let Event::Incoming(Packet::Publish(p)) = ev else {
                    continue;
                };
                if p.topic.ends_with("/osd") {
                    *osd.lock().unwrap() += 1;
                } else if let Ok(hit) = serde_json::from_slice::<Hit>(&p.payload) {
                    let mut hits = hits.lock().unwrap();
                    // QoS 1 may deliver twice, and the agent resends until triage's receipt.
                    if !hits.iter().any(|x| x.hit_id == hit.hit_id) {
                        hits.push(hit);
                    }
                }
            }
        });
        ears
    }
}

impl Drop for Ears {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The plan flown at `osd_hz`, triage scheduling it, the agent analysing it live.
fn fly(osd_hz: f64, district: &Path, dir: &Path) -> Flown {
    std::fs::create_dir_all(dir.join("plans")).unwrap();
    std::fs::copy(
        argus_testkit::repo_root().join("flight-plans/docks.toml"),
        dir.join("docks.toml"),
    )
    .unwrap();
    let at = Utc::now().with_nanosecond(0).unwrap() + chrono::Duration::seconds(START_IN_S);
    std::fs::write(
        dir.join("plans/osd-rate.toml"),
        format!(
            "{PLAN}[schedule]\ncron = \"{} {} {} * * *\"\ntimezone = \"UTC\"\ncatch_up_s = 60\n",
            at.second(),
            at.minute(),
            at.hour()
        ),
    )
    .unwrap();
    let broker = Mosquitto::start(&dir.join("broker"));
    let ears = Ears::listen(&broker);
    let http = free_port();
    let db = format!("sqlite:{}", dir.join("triage.db").display());
    let mut cfg = argus_triage::config::Config {
        db: db.clone(),
        http: format!("127.0.0.1:{http}"),
        ..Default::default()
    };
    cfg.mqtt.url = Some(broker.url());
    cfg.patrols = Some(argus_triage::patrols::PatrolsConfig {
        plans: dir.join("plans"),
        docks: None,
        prepare_lead_s: LEAD_S,
        reply_timeout_s: 20.0,
        public_url: format!("http://127.0.0.1:{http}"),
        client_id: "triage-docks".into(),
    });
    let triage = argus_triage::service::Service::start(cfg).expect("triage");

    let udp = free_port();
    let mut opts = DockOptions::new(
        district.to_path_buf(),
        SN,
        AIRCRAFT,
        DOCK,
        &broker.url(),
        ("127.0.0.1".into(), udp),
        dir.join("flights"),
    );
    opts.size = (960, 540);
    opts.fps = 10;
    opts.osd_hz = osd_hz;
    opts.cache = Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("osd-rate-renders"));
    let dock = Dock::start(opts).expect("the simulated dock");
    let health = free_port();
    let mut agent = spawn_agent(
        &agent_config(dir, district, &broker, udp, health),
        &dir.join("agent.log"),
    );

    // The run, once over (the first one waits for the render).
    let mut store = argus_triage::store::open(&db).expect("triage's store");
    let until = Instant::now() + Duration::from_secs(600);
    let run = loop {
        let runs = store
            .runs(
                &RunFilter {
                    plan_id: Some("osd-rate".into()),
                    ..Default::default()
                },
                1,
            )
            .expect("runs");
        if let Some(r) = runs.into_iter().find(|r| r.state.is_final()) {
            break r;
        }
        assert!(
            Instant::now() < until,
            "no run of osd-rate ended in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(run.state, RunState::Ok, "{run:?}");
    // The tracks ended over the dock; their last updates are on their way.
    std::thread::sleep(Duration::from_secs(5));
    let metrics = argus_testkit::services::http(health, "GET", "/metrics", &[], b"")
        .map(|(_, body)| String::from_utf8_lossy(&body).into_owned())
        .unwrap_or_default();
    let _ = agent.kill();
    let _ = agent.wait();
    dock.stop();
    triage.shutdown().expect("triage stopped cleanly");
    let live = ears.hits.lock().unwrap().clone();
    let osd_messages = *ears.osd.lock().unwrap();
    Flown {
        recording: dir.join("flights").join(&run.run_id),
        flight_id: run.run_id,
        live,
        osd_messages,
        analysed: counter(&metrics, "argus_frames_analysed_total"),
        dropped: counter(&metrics, "argus_frames_dropped_total"),
    }
}

/// The dock source's value of a counter in the agent's `/metrics` (0 when absent).
fn counter(metrics: &str, name: &str) -> u64 {
    let prefix = format!("{name}{{source=\"dock-1\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// `edge-agent replay` of a recording with its SRT, with the live agent's config.
fn replayed(flown: &Flown, config: &Path, out: &Path) -> Vec<Hit> {
    let cfg = Config::load(config).expect("the agent's config");
    let args = ReplayArgs {
        video: flown.recording.join("flight.mp4"),
        source: SourceConfig {
            id: "replay".into(),
            kind: SourceKind::Drone,
            uri: String::new(),
            telemetry: Some(flown.recording.join("flight.SRT")),
            osd_sn: None,
            camera: None,
            flight_id: Some(flown.flight_id.clone()),
            dock_sn: None,
            detect_fps: None,
            rtsp_udp: false,
        },
        out: out.to_path_buf(),
        progress: false,
    };
    replay(&cfg.agent, &cfg.analysis, &args).expect("replay");
    scoring::read_hits(out).expect("the replay's hits")
}

fn main() {
    if let Ok(config) = std::env::var(AGENT_ENV) {
        agent_process(&config);
    }
    if !argus_testkit::bench::asked() {
        return; // a test run lists no test here (`cargo bench` runs it)
    }
    let district = district();
    let tmp = tempfile::tempdir().unwrap();
    // Triage's and the dock's logs (they run in this process), next to the agents' logs.
    let log = std::fs::File::create(tmp.path().join("bench.log")).unwrap();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(Mutex::new(log))
        .with_ansi(false)
        .init();
    let rates: Vec<f64> = std::env::var("ARGUS_BENCH_OSD_HZ").map_or(RATES.to_vec(), |v| {
        v.split(',')
            .map(|r| {
                r.trim()
                    .parse()
                    .expect("ARGUS_BENCH_OSD_HZ: rates, comma-separated")
            })
            .collect()
    });
    let runs = argus_testkit::bench::size("ARGUS_BENCH_RUNS", 1);
    let mut rows = Vec::new();
    let mut seconds = 0.0;
    for hz in rates {
        let (mut live, mut replay) = (Scored::default(), Scored::default());
        let (mut osd, mut analysed, mut dropped) = (0, 0, 0);
        for k in 0..runs {
            let dir = tmp.path().join(format!("osd-{hz}-{k}"));
            let flown = fly(hz, &district, &dir);
            let truth = flown.recording.join("truth.jsonl");
            seconds = argus_truth::read_jsonl(&truth).expect("the truth").len() as f64 / 10.0;
            live.add(&flown.live, &truth);
            (osd, analysed, dropped) = (
                osd + flown.osd_messages,
                analysed + flown.analysed,
                dropped + flown.dropped,
            );
            eprintln!(
                "{hz} Hz: flight {} ({}): {} OSD messages, {} frames analysed live, {} dropped, {} hits",
                flown.flight_id,
                flown.recording.display(),
                flown.osd_messages,
                flown.analysed,
                flown.dropped,
                flown.live.len()
            );
            if k == 0 {
                // Every flight of one plan is the same render: one replay stands for all.
                let started = Instant::now();
                let again = replayed(&flown, &dir.join("agent.toml"), &dir.join("replay.jsonl"));
                replay.add(&again, &truth);
                eprintln!(
                    "{hz} Hz: replayed in {:.0} s, {} hits",
                    started.elapsed().as_secs_f64(),
                    again.len()
                );
            }
        }
        rows.push((hz, osd, analysed, dropped, live, replay));
    }
    if std::env::var_os("ARGUS_BENCH_KEEP").is_some() {
        eprintln!("logs and recordings kept in {}", tmp.keep().display());
    }
    println!(
        "OSD rate vs a live dock analysis: a {seconds:.0} s flight of dock-1 (960×540, 10 frames/s), {runs} live flight{} per rate (RTP + OSD) vs its recording replayed (10 Hz SRT)",
        if runs == 1 { "" } else { "s" }
    );
    println!(
        "  {:>6}  {:>5}  {:>14}  {:>12}  {:>12}  {:>10}  {:>10}  {:>11}",
        "OSD Hz",
        "OSD",
        "frames (drop)",
        "recall live",
        "replay",
        "error live",
        "replay",
        "live÷replay"
    );
    for (hz, osd, analysed, dropped, live, replay) in &rows {
        println!(
            "  {hz:>6}  {osd:>5}  {analysed:>7} ({dropped:>3})  {:>5.2} ({}/{})  {:>5.2} ({}/{})  {:>8.2} m  {:>8.2} m  {:>10.2}×   ({} and {} hits)",
            live.recall(),
            live.found,
            live.shown,
            replay.recall(),
            replay.found,
            replay.shown,
            live.median_m(),
            replay.median_m(),
            live.median_m() / replay.median_m(),
            live.hits,
            replay.hits
        );
    }
}
