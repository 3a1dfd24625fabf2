//! `argus-demo`: the whole mission on one machine, on embedded defaults. A simulated district;
//! triage with its embedded broker, one dock and a patrol plan scheduled 20 s after the start;
//! `sim dock` flies it over the Cloud API and streams its drone's video live, and `sim camera`
//! serves a street camera live over RTSP whose stall sends the dock's drone to look; one edge
//! agent analyses both → tickets. Then a summary against the simulator's truth
//! (`summary.json`, with the patrol runs and the verification), and triage left serving.

mod air;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argus_core::clock;
use argus_core::geodesy::GeoPoint;
use argus_core::hit::HitId;
use argus_core::map::Map;
use argus_triage::engine::Routing;
use argus_truth::scoring;
use argus_truth::summary::{self, Summary, TicketView};
use clap::Parser;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "argus-demo",
    version,
    about = "Run the whole Argus mission on a simulated district"
)]
struct Cli {
    /// Output folder.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Seed of the district and the street camera.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Detector folder (model.onnx and its manifest): try a retrained model on the same patrol
    /// [default: the shipped models/argus-det].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Dashboard and API address (a free port is taken if this one is busy).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// Embedded broker address (a free port is taken if this one is busy).
    #[arg(long, default_value = "127.0.0.1:1883")]
    broker: SocketAddr,
    /// Exit after the summary instead of leaving triage serving.
    #[arg(long)]
    exit: bool,
    /// Give up when the patrol and the verification have not ended after this many seconds.
    #[arg(long, default_value_t = 1200.0)]
    max_wait_s: f64,
}

/// The sibling binaries (`cargo build --release` puts them together).
fn tool(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating argus-demo")?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p argus-sim -p argus-edge-agent -p argus-triage -p argus` (scripts/demo.sh does)",
            p.display()
        );
    }
    Ok(p)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Renders into `dir` unless a previous run made the same thing (`args` recorded in `.done`).
fn render(dir: &Path, args: &[String], what: &str) -> Result<()> {
    let stamp = dir.join(".done");
    let key = args.join(" ");
    if std::fs::read_to_string(&stamp).is_ok_and(|k| k == key) {
        eprintln!("{what}: reusing {}", dir.display());
        return Ok(());
    }
    eprintln!("{what}…");
    run(Command::new(tool("sim")?).args(args), what)?;
    std::fs::write(&stamp, key).with_context(|| format!("writing {}", stamp.display()))
}

/// `want`, or a free port on the same interface when it is taken.
fn free_or_other(want: SocketAddr, what: &str) -> Result<SocketAddr> {
    if want.port() != 0 && TcpListener::bind(want).is_ok() {
        return Ok(want);
    }
    let other = TcpListener::bind(SocketAddr::new(want.ip(), 0))
        .and_then(|l| l.local_addr())
        .with_context(|| format!("finding a free port for the {what}"))?;
    if want.port() != 0 {
        eprintln!("{want} is busy: the {what} uses {other}");
    }
    Ok(other)
}

fn random_token() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The repository (the demo's models and configs live there).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Triage's HTTP API, as the operator the demo made: the demo reads triage only through it.
#[derive(Debug)]
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(http: SocketAddr, token: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base: format!("http://{http}"),
            token: token.to_string(),
            agent,
        }
    }

    /// GETs `path` as JSON; a status other than 2xx is an error naming it and the body, but
    /// for `/health`, which answers 503 with its body while something is wrong.
    fn get(&self, path: &str) -> Result<serde_json::Value> {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("GET {path}"))?;
        let status = r.status();
        if !status.is_success() && path != "/health" {
            let body = r.body_mut().read_to_string().unwrap_or_default();
            bail!(
                "GET {path}: {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        r.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_json()
            .with_context(|| format!("GET {path}: not JSON"))
    }

    /// The tickets, each as `GET /api/v1/tickets/{id}` shows it (sightings, audit, runs).
    fn ticket_details(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        let tickets = self.get("/api/v1/tickets?limit=10000")?;
        let mut out = BTreeMap::new();
        for t in tickets
            .as_array()
            .context("the ticket list is not a list")?
        {
            let id = t["ticket_id"].as_str().context("a ticket without an id")?;
            out.insert(id.to_string(), self.get(&format!("/api/v1/tickets/{id}"))?);
        }
        Ok(out)
    }

    /// (tickets, sightings) as `/health` counts them.
    fn counts(&self) -> Option<(u64, u64)> {
        let h = self.get("/health").ok()?;
        Some((h["tickets"].as_u64()?, h["sightings"].as_u64()?))
    }
}

fn wait_for_log(log: &Path, needle: &str, child: &mut Child, what: &str) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains(needle)) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited ({status}); see {}", log.display());
        }
        if Instant::now() > until {
            bail!("{what} did not start in 30 s; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processes the demo started, stopped (interrupted, then killed) when it ends or fails.
#[derive(Default)]
struct Procs(Vec<(&'static str, Child, PathBuf)>);

impl Procs {
    fn spawn(&mut self, what: &'static str, cmd: &mut Command, log: &Path) -> Result<()> {
        let child = cmd
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,ort=warn".into()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(log)
                    .with_context(|| format!("creating {}", log.display()))?,
            )
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        self.0.push((what, child, log.to_path_buf()));
        Ok(())
    }

    fn child(&mut self, what: &str) -> Option<&mut Child> {
        self.0.iter_mut().find(|p| p.0 == what).map(|p| &mut p.1)
    }

    /// An error naming the first process that has exited, and its log.
    fn check(&mut self) -> Result<()> {
        for (what, child, log) in &mut self.0 {
            if let Some(status) = child.try_wait()? {
                bail!("{what} exited ({status}); see {}", log.display());
            }
        }
        Ok(())
    }

    /// SIGINT to `what`, then its end (killed after `grace`).
    fn stop(&mut self, what: &str, grace: Duration) {
        let Some(i) = self.0.iter().position(|p| p.0 == what) else {
            return;
        };
        let (_, mut child, _) = self.0.remove(i);
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child, _) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = &cli.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    let p = |s: &str| out.join(s).display().to_string();
    let seed = cli.seed.to_string();

    // 1. The district.
    render(
        &out.join("district"),
        &[
            "district".into(),
            "--seed".into(),
            seed.clone(),
            "--out".into(),
            p("district"),
        ],
        "district",
    )?;
    let district = out.join("district/district.geojson");
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut procs = Procs::default();

    // 2. The street camera, live: its stall arrives 12 s after it starts serving, its spoil
    // at 30 s; the street as it stands then is what the dock's drone will see.
    let cam = out.join("cam-1");
    let after = cam.join("district-after/district.geojson");
    let _ = std::fs::remove_dir_all(&cam);
    let rtsp = free_or_other(SocketAddr::from(([127, 0, 0, 1], 0)), "street camera")?;
    eprintln!("street camera cam-1: rtsp://{rtsp}/camera (log: logs/camera.log)");
    procs.spawn(
        "the street camera",
        Command::new(tool("sim")?)
            .args(["camera", "--seed", &seed, "--district"])
            .arg(&district)
            .arg("--out")
            .arg(&cam)
            .args(["--rtsp", &rtsp.to_string()]),
        &logs.join("camera.log"),
    )?;
    let until = Instant::now() + Duration::from_secs(180);
    while !after.exists() || std::net::TcpStream::connect(rtsp).is_err() {
        procs.check()?;
        if Instant::now() > until {
            bail!("the street camera did not serve in 180 s; see logs/camera.log");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // 3. Triage with its embedded broker on a fresh store, dock-1 and the patrol plan.
    let db = out.join("triage.db");
    for f in ["triage.db", "triage.db-wal", "triage.db-shm"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    let _ = std::fs::remove_dir_all(out.join("agent-outbox"));
    let _ = std::fs::remove_dir_all(out.join("flights"));
    let http = free_or_other(cli.http, "dashboard")?;
    let broker = free_or_other(cli.broker, "broker")?;
    let operator = random_token()?;
    let tokens = out.join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{operator}\n"))?;
    let plans = out.join("plans");
    let _ = std::fs::remove_dir_all(&plans);
    std::fs::create_dir_all(&plans)?;
    std::fs::write(out.join("docks.toml"), air::DOCKS)?;
    let instant = clock::now_unix_s().ceil() as i64 + air::PATROL_DELAY_S;
    std::fs::write(
        plans.join(format!("{}.toml", air::PLAN_ID)),
        air::plan_toml(instant)?,
    )?;
    let triage_toml = out.join("triage.toml");
    std::fs::write(&triage_toml, air::triage_toml(&plans, http))?;
    let triage_log = logs.join("triage.log");
    procs.spawn(
        "triage",
        Command::new(tool("triage")?)
            .arg("serve")
            .arg("--config")
            .arg(&triage_toml)
            .args([
                "--http",
                &http.to_string(),
                "--broker-listen",
                &broker.to_string(),
            ])
            .arg("--db")
            .arg(format!("sqlite:{}", db.display()))
            .arg("--district")
            .arg(&district)
            .arg("--tokens")
            .arg(&tokens),
        &triage_log,
    )?;
    let api = Api::new(http, &operator);
    let summary = mission(
        &cli,
        &out,
        (&district, &after),
        &api,
        (broker, rtsp, instant),
        &mut procs,
    )?;
    print_summary(&summary, &out);
    // Triage alone goes on serving.
    procs.stop("the edge agent", Duration::from_secs(20));
    procs.stop("the dock", Duration::from_secs(5));
    procs.stop("the street camera", Duration::from_secs(5));
    let url = format!("http://{http}/");
    if cli.exit {
        procs.stop("triage", Duration::from_secs(20));
        return Ok(());
    }
    eprintln!(
        "\nDashboard: {url}#token={operator}\n\
         (the operator token is in {}; the API wants it as `Authorization: Bearer …`)\n\
         API: {url}api/v1/tickets   Patrols: {url}api/v1/patrols   Open311: {url}open311/v2/requests.json\n\
         Triage keeps serving; Ctrl-C stops it.",
        out.join("tokens.txt").display()
    );
    if let Some(triage) = procs.child("triage") {
        let status = triage.wait()?;
        if !status.success() {
            eprintln!("triage stopped ({status}); see {}", triage_log.display());
        }
    }
    Ok(())
}

/// The demo's summary: the scores against the truth, the patrol runs and the verification.
#[derive(Debug, Serialize)]
struct DemoSummary {
    #[serde(flatten)]
    scores: Summary,
    patrol_runs: Vec<air::PatrolRun>,
    verification: Option<air::Verification>,
}

fn mission(
    cli: &Cli,
    out: &Path,
    (district, after): (&Path, &Path),
    api: &Api,
    (broker, rtsp, instant): (SocketAddr, SocketAddr, i64),
    procs: &mut Procs,
) -> Result<DemoSummary> {
    let triage_log = out.join("logs/triage.log");
    if let Some(triage) = procs.child("triage") {
        wait_for_log(&triage_log, "subscribed to hits", triage, "triage")?;
    }

    // 4. dock-1, flying over the street as the camera's scenario leaves it.
    let video = free_or_other(SocketAddr::from(([127, 0, 0, 1], 0)), "dock's video")?;
    let (dock_sn, aircraft_sn, dock_at) = air::dock()?;
    procs.spawn(
        "the dock",
        Command::new(tool("sim")?)
            .args([
                "dock",
                "--sn",
                &dock_sn,
                "--aircraft-sn",
                &aircraft_sn,
                "--at",
                &dock_at,
                // The detector's scale at 100 m; 5 frames a second, the rate it looks at.
                "--size",
                "1920x1080",
                "--fps",
                "5",
            ])
            .arg("--district")
            .arg(after)
            .args(["--mqtt", &format!("mqtt://{broker}")])
            .args(["--video", &format!("udp://{video}")])
            .arg("--out")
            .arg(out.join("flights"))
            .arg("--cache")
            .arg(out.join("dock-renders")),
        &out.join("logs/dock.log"),
    )?;

    // 5. One edge agent for the dock's drone and the street camera, its clock put at the
    // district's scene time (which vending zones are open).
    let model = cli
        .model
        .clone()
        .unwrap_or_else(|| repo_root().join("models/argus-det"));
    let model = std::path::absolute(&model)
        .with_context(|| format!("detector folder {}", model.display()))?;
    let map =
        Map::from_geojson(&std::fs::read_to_string(district)?).context("reading the district")?;
    let offset =
        clock::utc_offset_min_for(map.scene_minute.unwrap_or(10 * 60), clock::now_unix_s());
    let path = |p: &Path| air::toml_string(&p.display().to_string());
    let cfg = format!(
        "[agent]\nid = \"district-1\"\nmodel = {}\nmap = {}\nutc_offset_min = {offset}\n\n\
         [mqtt]\nurl = \"mqtt://{broker}\"\noutbox = {}\n\n\
         [[source]]\nid = \"dock-1\"\nkind = \"drone\"\nuri = \"udp://@:{}\"\nosd_sn = \"{}\"\ndock_sn = \"{}\"\n\n\
         [[source]]\nid = \"cam-1\"\nkind = \"camera\"\nuri = \"rtsp://{rtsp}/camera\"\ncamera = {}\n",
        path(&model),
        path(district),
        path(&out.join("agent-outbox")),
        video.port(),
        aircraft_sn,
        dock_sn,
        path(&out.join("cam-1/camera.json")),
    );
    let cfg_path = out.join("agent.toml");
    std::fs::write(&cfg_path, cfg)?;
    procs.spawn(
        "the edge agent",
        Command::new(tool("edge-agent")?)
            .args(["run", "--config"])
            .arg(&cfg_path)
            .current_dir(repo_root()),
        &out.join("logs/agent.log"),
    )?;
    eprintln!(
        "patrol {} from dock-1 at {}; edge agent: dock-1 + cam-1 → triage (logs: {})",
        air::PLAN_ID,
        clock::rfc3339(instant as f64),
        out.join("logs").display()
    );

    // 6. Until the patrol has landed and the drone sent to the camera's ticket has looked.
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    loop {
        procs.check()?;
        let state = air::AirState::read(api).unwrap_or_default();
        let (t, h) = api.counts().unwrap_or((0, 0));
        let line = format!(
            "  {:>4.0} s  sightings {h:>4}  tickets {t:>4}  {}",
            started.elapsed().as_secs_f64(),
            state.line()
        );
        if tty {
            eprint!("\r{line}\x1b[K");
            std::io::stderr().flush()?;
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        if state.done() {
            break;
        }
        if started.elapsed().as_secs_f64() > cli.max_wait_s {
            bail!(
                "the patrol and the verification had not ended after {:.0} s ({}); see {}",
                cli.max_wait_s,
                state.line(),
                out.join("logs").display()
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    if tty {
        eprintln!();
    }
    // The agent flushes what it holds when interrupted; triage files it within a batch or two
    // (waited for until the counts hold 2 s, 30 s at most).
    procs.stop("the edge agent", Duration::from_secs(20));
    let mut last = api.counts();
    let mut stable_since = Instant::now();
    let settled_by = Instant::now() + Duration::from_secs(30);
    while stable_since.elapsed() < Duration::from_secs(2) && Instant::now() < settled_by {
        std::thread::sleep(Duration::from_millis(200));
        let now = api.counts();
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }

    // 7. Score the tickets against what the camera and the flights showed.
    let details = api.ticket_details()?;
    let patrol_runs = air::patrol_runs(api, &details)?;
    let verification = air::verification(api, &details, &out.join("flights"))?;
    let mut sources = vec![("cam-1".to_string(), out.join("cam-1/truth.jsonl"))];
    let flights = patrol_runs
        .iter()
        .map(|r| r.run_id.clone())
        .chain(verification.iter().filter_map(|v| v.run_id.clone()));
    for id in flights {
        let truth = out.join("flights").join(&id).join("truth.jsonl");
        if truth.exists() {
            sources.push((id, truth));
        }
    }
    let mut shown = Vec::new();
    for (src, truth) in sources {
        let objects = scoring::seen_objects(&truth)
            .with_context(|| format!("reading {}", truth.display()))?;
        shown.push((src, objects));
    }
    let shown = summary::merge_shown(shown);
    let routing = Routing::new(Some(map));
    let mut views = Vec::new();
    for (id, detail) in &details {
        let t = &detail["ticket"];
        let sightings = detail["sightings"].as_array().cloned().unwrap_or_default();
        let point = |v: &serde_json::Value| -> Option<GeoPoint> {
            Some(GeoPoint {
                lat: v["lat"].as_f64()?,
                lon: v["lon"].as_f64()?,
            })
        };
        let delays_s = sightings
            .iter()
            .filter_map(|s| {
                let made = s["hit_id"].as_str()?.parse::<HitId>().ok()?.unix_ms() as f64 / 1000.0;
                let received = clock::parse_rfc3339(s["received_at"].as_str()?)?;
                Some(received - made)
            })
            .collect();
        views.push(TicketView {
            ticket_id: id.clone(),
            class: t["class"].as_str().unwrap_or_default().to_string(),
            at: point(t).context("a ticket without a place")?,
            sightings: sightings.iter().filter_map(point).collect(),
            unit: t["unit"].as_str().map(str::to_string),
            delays_s,
            review: t["review"].as_bool().unwrap_or(false),
        });
    }
    let scores = summary::summarize(&views, &shown, |p| routing.route(p).0);
    let s = DemoSummary {
        scores,
        patrol_runs,
        verification,
    };
    let json = serde_json::to_string_pretty(&s)?;
    std::fs::write(out.join("summary.json"), json + "\n")?;
    Ok(s)
}

fn print_summary(d: &DemoSummary, out: &Path) {
    let s = &d.scores;
    let table = |title: &str, m: &BTreeMap<String, usize>| {
        println!("{title}");
        for (k, v) in m {
            println!("  {k:<22} {v:>4}");
        }
    };
    println!("\nArgus demo — {} tickets", s.tickets);
    table("tickets by class:", &s.tickets_by_class);
    table("tickets by unit:", &s.tickets_by_unit);
    println!(
        "recall:              {:.2}  ({} of {} violations shown)",
        s.recall,
        s.violations_found.len(),
        s.violations_shown.len()
    );
    println!(
        "false tickets:       {}  (on legal look-alikes: {}; held for review, not sent to a crew: {})",
        s.false_tickets,
        s.look_alike_tickets.len(),
        s.false_tickets_in_review
    );
    println!("median geo error:    {:.2} m", s.median_geo_error_m);
    println!(
        "hit → ticket:        p50 {:.3} s, p99 {:.3} s",
        s.sighting_to_ticket_s.p50, s.sighting_to_ticket_s.p99
    );
    println!("misrouted tickets:   {}", s.misrouted.len());
    for r in &d.patrol_runs {
        let margin = r
            .min_ticket_margin_s
            .map(|m| format!(", the last opened {m:.1} s before the landing"))
            .unwrap_or_default();
        let reason = r
            .reason
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default();
        println!(
            "patrol run:          {} {} {}{reason} — {} tickets{margin}",
            r.plan,
            r.run_id,
            r.status,
            r.tickets.len()
        );
    }
    match &d.verification {
        None => println!("verification:        no camera ticket called a drone"),
        Some(v) => {
            let seen = if v.same_ticket {
                ", the drone's hit on the camera's ticket"
            } else {
                ""
            };
            println!(
                "verification:        {} {} → {}{seen}{}",
                v.class,
                v.ticket_id,
                v.outcome.as_deref().unwrap_or("not ended"),
                v.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            if let Some(l) = &v.loop_s {
                println!(
                    "camera hit → drone hit: {:.1} s (dispatch {:.1} s, of it waiting for the dock {:.1} s; \
                     take-off and transit {:.1} s over {:.0} m, of it on the ground {:.1} s; detection {:.1} s)",
                    l.total,
                    l.dispatch,
                    l.waiting_for_dock,
                    l.take_off_and_transit,
                    v.dock_distance_m.unwrap_or(f64::NAN),
                    l.on_the_ground,
                    l.detection
                );
            }
        }
    }
    println!(
        "summary:             {}",
        out.join("summary.json").display()
    );
}
