//! `argus-demo`: the whole mission on one machine, on embedded defaults. A simulated district,
//! a patrol flight and two street cameras → edge agent → triage's embedded broker → tickets;
//! then a summary against the simulator's truth (`summary.json`), and triage left serving.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argus_core::geodesy::GeoPoint;
use argus_core::hit::HitId;
use argus_core::map::Map;
use argus_triage::engine::Routing;
use argus_truth::scoring;
use argus_truth::summary::{self, Summary, TicketView};
use clap::Parser;

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
    /// Seconds of the patrol to fly.
    #[arg(long, default_value_t = 90.0)]
    patrol_seconds: f64,
    /// Seconds each street camera records.
    #[arg(long, default_value_t = 20.0)]
    camera_seconds: f64,
    /// Seed of the district, the flight and the cameras.
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

    /// GETs `path` as JSON, whatever the status (`/health` answers 503 with a body).
    fn get(&self, path: &str) -> Result<serde_json::Value> {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("GET {path}"))?;
        r.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_json()
            .with_context(|| format!("GET {path}: not JSON"))
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = &cli.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    let p = |s: &str| out.join(s).display().to_string();
    let seed = cli.seed.to_string();

    // 1. The district and what flies and watches over it.
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
    render(
        &out.join("patrol"),
        &[
            "flight".into(),
            "--district".into(),
            p("district"),
            "--seed".into(),
            seed.clone(),
            "--duration".into(),
            cli.patrol_seconds.to_string(),
            "--out".into(),
            p("patrol"),
        ],
        "patrol flight (1080p, 100 m)",
    )?;
    let cameras = ["cam-1", "cam-2"];
    for (k, cam) in cameras.iter().enumerate() {
        let cam_seed = (cli.seed + k as u64).to_string();
        render(
            &out.join(cam),
            &[
                "camera".into(),
                "--district".into(),
                p("district"),
                "--seed".into(),
                cam_seed,
                "--duration".into(),
                cli.camera_seconds.to_string(),
                "--out".into(),
                p(cam),
            ],
            &format!("street camera {cam}"),
        )?;
    }
    let district = out.join("district/district.geojson");

    // 2. Triage with its embedded broker, on a fresh store.
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let db = out.join("triage.db");
    for f in ["triage.db", "triage.db-wal", "triage.db-shm"] {
        let _ = std::fs::remove_file(out.join(f));
    }
    let _ = std::fs::remove_dir_all(out.join("agent-outbox"));
    let http = free_or_other(cli.http, "dashboard")?;
    let broker = free_or_other(cli.broker, "broker")?;
    let operator = random_token()?;
    let tokens = out.join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{operator}\n"))?;
    let triage_log = logs.join("triage.log");
    let mut triage = Command::new(tool("triage")?)
        .args([
            "serve",
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
        .arg(&tokens)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&triage_log)?)
        .spawn()
        .context("starting triage")?;
    let api = Api::new(http, &operator);
    let result = mission(
        &cli,
        &out,
        &district,
        &api,
        broker,
        &mut triage,
        &triage_log,
    );
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = triage.kill();
            return Err(e);
        }
    };
    print_summary(&summary, &out);
    let url = format!("http://{http}/");
    if cli.exit {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(triage.id().to_string())
            .status();
        let _ = triage.wait();
        return Ok(());
    }
    eprintln!(
        "\nDashboard: {url}#token={operator}\n\
         (the operator token is in {}; the API wants it as `Authorization: Bearer …`)\n\
         API: {url}api/v1/tickets   Open311: {url}open311/v2/requests.json\n\
         Triage keeps serving; Ctrl-C stops it.",
        out.join("tokens.txt").display()
    );
    let status = triage.wait()?;
    if !status.success() {
        eprintln!("triage stopped ({status}); see {}", triage_log.display());
    }
    Ok(())
}

fn mission(
    cli: &Cli,
    out: &Path,
    district: &Path,
    api: &Api,
    broker: SocketAddr,
    triage: &mut Child,
    triage_log: &Path,
) -> Result<Summary> {
    wait_for_log(triage_log, "subscribed to hits", triage, "triage")?;

    // 3. One edge agent for the dock and both cameras.
    let model = cli
        .model
        .clone()
        .unwrap_or_else(|| repo_root().join("models/argus-det"));
    let model = std::path::absolute(&model)
        .with_context(|| format!("detector folder {}", model.display()))?;
    let mut cfg = format!(
        "[agent]\nid = \"district-1\"\nmodel = \"{}\"\nmap = \"{}\"\n\n[mqtt]\nurl = \"mqtt://{broker}\"\noutbox = \"{}\"\n\n\
         [[source]]\nid = \"patrol\"\nkind = \"drone\"\nuri = \"{}\"\ntelemetry = \"{}\"\nflight_id = \"patrol-{}\"\n",
        model.display(),
        district.display(),
        out.join("agent-outbox").display(),
        out.join("patrol/flight.mp4").display(),
        out.join("patrol/flight.SRT").display(),
        cli.seed,
    );
    for cam in ["cam-1", "cam-2"] {
        cfg += &format!(
            "\n[[source]]\nid = \"{cam}\"\nkind = \"camera\"\nuri = \"{}\"\ncamera = \"{}\"\n",
            out.join(cam).join("camera.mp4").display(),
            out.join(cam).join("camera.json").display()
        );
    }
    let cfg_path = out.join("agent.toml");
    std::fs::write(&cfg_path, cfg)?;
    let agent_log = out.join("logs/agent.log");
    eprintln!(
        "edge agent: patrol + 2 cameras → triage (log: {})",
        agent_log.display()
    );
    let started = Instant::now();
    let mut agent = Command::new(tool("edge-agent")?)
        .args(["run", "--config"])
        .arg(&cfg_path)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .env("NO_COLOR", "1")
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&agent_log)?)
        .spawn()
        .context("starting the edge agent")?;
    let tty = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    let status = loop {
        if let Some(s) = agent.try_wait()? {
            break s;
        }
        if let Some(s) = triage.try_wait()? {
            let _ = agent.kill();
            bail!("triage exited ({s}); see {}", triage_log.display());
        }
        let (t, h) = api.counts().unwrap_or((0, 0));
        let line = format!(
            "  {:>4.0} s  sightings {h:>4}  tickets {t:>4}",
            started.elapsed().as_secs_f64()
        );
        if tty {
            eprint!("\r{line}");
            std::io::stderr().flush()?;
        } else if last_line.elapsed() >= Duration::from_secs(10) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if tty {
        eprintln!();
    }
    if !status.success() {
        bail!(
            "the edge agent failed ({status}); see {}",
            agent_log.display()
        );
    }
    // The agent exits once the broker has every hit; triage files them within a batch or two.
    let mut last = api.counts();
    let mut stable_since = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(200));
        let now = api.counts();
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }

    // 4. Score the tickets against what the sources showed.
    let mut shown = Vec::new();
    for (src, truth) in [
        ("patrol", "patrol/truth.jsonl"),
        ("cam-1", "cam-1/truth.jsonl"),
        ("cam-2", "cam-2/truth.jsonl"),
    ] {
        let objects =
            scoring::seen_objects(&out.join(truth)).with_context(|| format!("reading {truth}"))?;
        shown.push((src.to_string(), objects));
    }
    let shown = summary::merge_shown(shown);
    let map_text = std::fs::read_to_string(district)?;
    let routing = Routing::new(Some(
        Map::from_geojson(&map_text).context("reading the district")?,
    ));
    // The tickets and their sightings, as the API shows them to an operator.
    let mut views = Vec::new();
    let tickets = api.get("/api/v1/tickets?limit=10000")?;
    for t in tickets
        .as_array()
        .context("the ticket list is not a list")?
    {
        let id = t["ticket_id"].as_str().context("a ticket without an id")?;
        let detail = api.get(&format!("/api/v1/tickets/{id}"))?;
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
                let received = argus_core::clock::parse_rfc3339(s["received_at"].as_str()?)?;
                Some(received - made)
            })
            .collect();
        views.push(TicketView {
            ticket_id: id.to_string(),
            class: t["class"].as_str().unwrap_or_default().to_string(),
            at: point(t).context("a ticket without a place")?,
            sightings: sightings.iter().filter_map(point).collect(),
            unit: t["unit"].as_str().map(str::to_string),
            delays_s,
        });
    }
    let summary = summary::summarize(&views, &shown, |p| routing.route(p).0);
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(out.join("summary.json"), json + "\n")?;
    Ok(summary)
}

fn print_summary(s: &Summary, out: &Path) {
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
        "false tickets:       {}  (on legal look-alikes: {})",
        s.false_tickets,
        s.look_alike_tickets.len()
    );
    println!("median geo error:    {:.2} m", s.median_geo_error_m);
    println!(
        "hit → ticket:        p50 {:.3} s, p99 {:.3} s",
        s.sighting_to_ticket_s.p50, s.sighting_to_ticket_s.p99
    );
    println!("misrouted tickets:   {}", s.misrouted.len());
    println!(
        "summary:             {}",
        out.join("summary.json").display()
    );
}
