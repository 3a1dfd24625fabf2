//! The README's "Flight plans" walkthrough, run as written: a new user plans a patrol for the
//! simulator's default district, exports `.kmz` and `.plan`, checks them and flies one with
//! `sim flight --route`, with only the commands the README gives.

use std::path::Path;
use std::process::Command;

use argus_testkit::services::workspace_bin;

/// The shell block under a README heading, its lines without comments.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("the README has no {heading:?}"));
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("{heading:?} has no sh block"));
    block
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
    // A fresh working copy's view: the plans as committed, nothing made yet.
    std::os::unix::fs::symlink(root.join("flight-plans"), dir.path().join("flight-plans")).unwrap();
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
    // the same of the KMZ it wrote.
    let summary = |label: &str| {
        // The last: `check`'s, after what `plan` said writing the file.
        said.lines()
            .rev()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} line in:\n{said}"))
            .to_string()
    };
    let planned = summary("u03-area sortie 1: ");
    assert!(
        planned.contains(" waypoints, ")
            && planned.contains(" km, ")
            && planned.contains(" min of flight"),
        "{planned}"
    );
    assert_eq!(summary("var/u03.kmz: "), planned);
    let coverage: f64 = summary("coverage: ")
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
