//! The README's walkthroughs, run as written, with only the commands they give: "Flight plans"
//! (a new user plans a patrol for the simulator's default district, exports `.kmz` and `.plan`,
//! checks them and flies one with `sim flight --route`) and "Patrols" (a plan over one unit of
//! the simulator's district, its `.kmz` and `.plan` written and checked, its next runs, and
//! triage scheduling it: `GET /api/v1/patrols` lists it with the runs `flightplan next` gave).

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argus_flightplan::dock::Docks;
use argus_flightplan::formats::read_file;
use argus_flightplan::plan::Plan;
use argus_testkit::services::workspace_bin;
use serde_json::Value;

/// The shell block under a README heading, as written.
fn block<'a>(readme: &'a str, heading: &str) -> &'a str {
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"));
    section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("{heading:?} has no sh block"))
}

/// The shell block under a README heading, its lines without comments.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    block(readme, heading)
        .lines()
        .map(|l| {
            l.split_once("  #")
                .map_or(l, |(cmd, _)| cmd)
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The rest of the last line of `said` that starts with `label`.
fn last_line(said: &str, label: &str) -> String {
    said.lines()
        .rev()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{said}"))
        .to_string()
}

/// A fresh working copy's view of `dir`: the flight plans as committed, nothing made yet.
fn fresh_copy(dir: &Path) {
    let root = argus_testkit::repo_root();
    std::os::unix::fs::symlink(root.join("flight-plans"), dir.join("flight-plans")).unwrap();
}

#[test]
fn the_flight_plans_walkthrough_works_as_written() {
    let root = argus_testkit::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = commands(&readme, "## Flight plans");
    // The build line builds what the test build has built already; `B` is where it put them.
    assert!(lines[0].starts_with("cargo build --release"), "{lines:?}");
    assert_eq!(lines[1], "B=target/release", "{lines:?}");
    let bin = workspace_bin("flightplan");
    assert!(workspace_bin("sim").exists());
    let dir = tempfile::tempdir().unwrap();
    fresh_copy(dir.path());
    let mut said = String::new();
    for line in &lines[2..] {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", line])
            .env("B", bin.parent().unwrap())
            .current_dir(dir.path())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "`{line}` failed:\n{stderr}\n{stdout}");
        said.push_str(&format!("$ {line}\n{stdout}"));
    }
    eprintln!("{said}");
    let made = |rel: &str| {
        let p = dir.path().join(rel);
        assert!(p.exists(), "{rel} was not made:\n{said}");
        p
    };
    let kmz = made("var/u03.kmz");
    made("var/u03.plan");
    // `check` told the user what the plan flies (waypoints, length, duration, coverage), and
    // the same of the KMZ it wrote (the last line of each: `check`'s, after what `plan` said
    // writing the file).
    let planned = last_line(&said, "u03-area sortie 1: ");
    assert!(
        planned.contains(" waypoints, ")
            && planned.contains(" km, ")
            && planned.contains(" min of flight"),
        "{planned}"
    );
    assert_eq!(last_line(&said, "var/u03.kmz: "), planned);
    let coverage: f64 = last_line(&said, "coverage: ")
        .trim_end_matches(" %")
        .parse()
        .unwrap();
    assert!(coverage >= 99.0, "{coverage} %");
    // The flight went through the KMZ's waypoints: its truth has frames.
    let truth = std::fs::read_dir(made("var/u03-flight"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap_or_else(|| panic!("no per-frame truth in var/u03-flight:\n{said}"));
    let frames = std::fs::read_to_string(&truth).unwrap().lines().count();
    assert!(frames > 100, "{frames} frames in {}", truth.display());
    assert!(Path::new(&kmz).metadata().unwrap().len() > 1000);
}

/// The packages that build the binaries a block runs as `$B/NAME`.
const PACKAGES: [(&str, &str); 3] = [
    ("flightplan", "argus-flightplan"),
    ("sim", "argus-sim"),
    ("triage", "argus-triage"),
];

/// A script run by bash in a process group of its own: the group (the script's background
/// jobs too, a triage left running by a failed step) is killed when it is dropped.
struct Script(Child);

impl Script {
    /// Waits for the script to end, `within` at most.
    fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "the walkthrough ran over {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// The `127.0.0.1:PORT` addresses a script names, their ports.
fn ports(script: &str) -> Vec<u16> {
    let mut out: Vec<u16> = script
        .split("127.0.0.1:")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `flightplan next`'s lines, `2026-12-03 09:30:00 CST Thu  Asia/Shanghai  (2026-12-03T01:30:00Z)`,
/// as the API writes the same instants: (`2026-12-03 09:30 CST`, `2026-12-03T01:30:00Z`).
fn next_runs(said: &str) -> Vec<(String, String)> {
    said.lines()
        .filter_map(|l| {
            let (head, utc) = l.strip_suffix(')')?.rsplit_once("  (")?;
            let (local, _zone) = head.split_once("  ")?;
            let [date, time, abbr, _weekday] = local.split(' ').collect::<Vec<_>>()[..] else {
                return None;
            };
            chrono::DateTime::parse_from_rfc3339(utc).ok()?;
            Some((format!("{date} {} {abbr}", time.get(..5)?), utc.to_string()))
        })
        .collect()
}

#[test]
fn the_patrols_walkthrough_plans_checks_and_schedules_as_written() {
    let root = argus_testkit::repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = block(&readme, "## Patrols");
    let (build, rest) = block.split_once('\n').unwrap();
    let (b, script) = rest.split_once('\n').unwrap();
    // The build line builds every binary the block runs (the test build has built them
    // already); `B` is where the test build put them.
    assert!(build.starts_with("cargo build --release "), "{build}");
    assert_eq!(b, "B=target/release");
    for (bin, package) in PACKAGES {
        if script.contains(&format!("$B/{bin} ")) {
            assert!(
                build.contains(&format!("-p {package} ")),
                "{build} builds no {bin}"
            );
        }
    }
    let bin = workspace_bin("triage");
    assert!(workspace_bin("flightplan").exists() && workspace_bin("sim").exists());
    // The walkthrough's fixed ports: one run of this test at a time on a machine, and a clear
    // word when something else listens there.
    let lock_dir = std::env::temp_dir().join("argus-test-ports");
    std::fs::create_dir_all(&lock_dir).unwrap();
    let lock = std::fs::File::create(lock_dir.join("readme-patrols")).unwrap();
    lock.lock().unwrap();
    let ports = ports(script);
    assert!(ports.len() >= 2, "{ports:?}");
    for port in &ports {
        assert!(
            TcpListener::bind(("127.0.0.1", *port)).is_ok(),
            "port {port}, which the README's patrol walkthrough uses, is taken: stop what \
             listens there"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    fresh_copy(dir.path());
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    // The block as one script, as a user pastes it into a shell (its heredocs, its variables,
    // the triage it starts in the background and stops at the end).
    let started = Instant::now();
    let mut run = Script(
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .env("B", bin.parent().unwrap())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let status = run.wait(Duration::from_secs(300));
    let said = std::fs::read_to_string(&out).unwrap();
    let errs = std::fs::read_to_string(&err).unwrap();
    let log = std::fs::read_to_string(dir.path().join("var/patrols/triage.log"))
        .unwrap_or_else(|e| format!("({e})"));
    assert!(
        status.success(),
        "the walkthrough failed ({status}):\n{errs}\n{said}\ntriage's log:\n{log}"
    );
    drop(run);
    eprintln!(
        "the walkthrough took {:.1} s:\n{said}",
        started.elapsed().as_secs_f64()
    );
    let made = |rel: &str| {
        let p = dir.path().join(rel);
        assert!(p.exists(), "{rel} was not made:\n{said}");
        p
    };
    let plan_path = made("var/patrols/plans/u04-area.toml");
    let docks = Docks::load(&made("var/patrols/docks.toml")).unwrap();
    let plan = Plan::load(&plan_path, &docks).unwrap();
    let dock = docks.get("dock-1").unwrap();

    // The patrol is over unit U04 of the district `sim district` made.
    let district: Value = serde_json::from_str(
        &std::fs::read_to_string(made("var/district/district.geojson")).unwrap(),
    )
    .unwrap();
    let u04: Vec<[f64; 2]> = district["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["id"] == "U04" && f["properties"]["layer"] == "jurisdiction")
        .expect("the district has unit U04")["geometry"]["coordinates"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[1].as_f64().unwrap(), p[0].as_f64().unwrap()])
        .collect();
    let (lats, lons): (Vec<f64>, Vec<f64>) = u04.iter().map(|p| (p[0], p[1])).unzip();
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // A line runs on past the edge to turn (20 m) and the dock sits just outside a corner.
    let margin_deg = 100.0 / 111_000.0;
    let near_u04 = |lat: f64, lon: f64| {
        (min(&lats) - margin_deg..=max(&lats) + margin_deg).contains(&lat)
            && (min(&lons) - margin_deg / 0.86..=max(&lons) + margin_deg / 0.86).contains(&lon)
    };

    // `check` said what the plan flies, and the KMZ and the .plan read back as that sortie.
    let planned = last_line(&said, "u04-area sortie 1: ");
    let waypoints: usize = planned
        .split_once(" waypoints, ")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{planned}"));
    assert!(
        planned.contains(" km, ") && planned.contains(" min of flight"),
        "{planned}"
    );
    assert_eq!(last_line(&said, "var/u04.kmz: "), planned);
    assert_eq!(last_line(&said, "var/u04.plan: "), planned);
    let coverage: f64 = last_line(&said, "coverage: ")
        .trim_end_matches(" %")
        .parse()
        .unwrap();
    assert!(coverage >= 99.0, "{coverage} %");
    // DJI's rules, checked independently.
    assert!(
        said.lines().any(|l| l == "ok var/u04.kmz"),
        "check_wpml.py did not pass var/u04.kmz:\n{said}"
    );

    // The KMZ opens with the reader: the sortie over U04, from dock-1.
    let kmz = read_file(&made("var/u04.kmz")).unwrap();
    assert_eq!(kmz.waypoints.len(), waypoints);
    assert_eq!((kmz.home.lat, kmz.home.lon), (dock.lat, dock.lon));
    for w in &kmz.waypoints {
        assert!(near_u04(w.lat, w.lon), "{w:?} is not over U04 {u04:?}");
    }
    // The .plan is QGroundControl's JSON: the mission from the dock, U04 as the inclusion
    // fence, the dock as the rally point; and it reads back as the same sortie.
    let qgc_path = made("var/u04.plan");
    let qgc: Value = serde_json::from_str(&std::fs::read_to_string(&qgc_path).unwrap()).unwrap();
    assert_eq!(
        (&qgc["fileType"], &qgc["version"]),
        (&"Plan".into(), &1.into())
    );
    let mission = &qgc["mission"];
    assert_eq!(mission["version"], 2);
    assert_eq!(mission["plannedHomePosition"][0], dock.lat);
    assert_eq!(mission["plannedHomePosition"][1], dock.lon);
    let items = mission["items"].as_array().unwrap();
    assert!(items.len() > waypoints, "{items:?}");
    for item in items {
        assert!(item["command"].is_u64(), "{item}");
        assert_eq!(item["type"], "SimpleItem");
        assert_eq!(item["params"].as_array().map(Vec::len), Some(7), "{item}");
    }
    let fence = &qgc["geoFence"]["polygons"][0];
    assert_eq!(fence["inclusion"], true);
    let fence: Vec<[f64; 2]> = serde_json::from_value(fence["polygon"].clone()).unwrap();
    assert_eq!(fence, u04[..u04.len() - 1]);
    assert_eq!(qgc["rallyPoints"]["points"][0][0], dock.lat);
    assert_eq!(read_file(&qgc_path).unwrap().waypoints.len(), waypoints);

    // `flightplan next` gave the next three runs, and triage lists the plan with those runs.
    let next = next_runs(&said);
    assert_eq!(next.len(), 3, "{said}");
    let listing = said
        .rsplit_once("\n[\n")
        .map(|(_, json)| format!("[\n{json}"))
        .unwrap_or_else(|| panic!("no JSON list from /api/v1/patrols in:\n{said}"));
    let patrols: Value = serde_json::from_str(&listing).unwrap();
    let [p] = patrols.as_array().unwrap().as_slice() else {
        panic!("one plan in the folder, one listed: {patrols:#}")
    };
    assert_eq!(p["id"], "u04-area");
    assert_eq!((&p["kind"], &p["dock"]), (&"area".into(), &"dock-1".into()));
    let schedule = plan.file.schedule.as_ref().unwrap();
    assert_eq!(p["schedule"]["cron"], schedule.cron.as_str());
    assert_eq!(p["schedule"]["timezone"], schedule.timezone.as_str());
    assert_eq!(
        p["schedule"]["blackout_dates"],
        serde_json::json!(schedule.blackout_dates)
    );
    let listed: Vec<(String, String)> = p["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["local"].as_str().unwrap().to_string(),
                n["at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(listed, next, "triage's next runs are not flightplan's");
    assert_eq!(p["last_runs"], serde_json::json!([]));
}
