//! The independent checks of the files Argus writes, sharing no code with its writers or
//! readers: `python/check_wpml.py` (DJI's WPML reference pages and the import check of DJI's
//! Cloud API Demo) on every KMZ the example plans make, and `schemas/qgc-plan.schema.json`
//! (QGroundControl's plan format and loader) on every `.plan`. Both accept the real files DJI's
//! and QGroundControl's software made, and refuse hand-broken ones, naming what is wrong.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use argus_flightplan::formats::{read_file, write_file};
use argus_flightplan::mission::Action;
use serde_json::Value;

mod common;

use common::{example_missions, root, shared};

/// What the checker said about some files.
#[derive(Debug)]
struct Verdict {
    passed: bool,
    /// Its `FILE: PATH: WHAT` lines as (path, what).
    problems: Vec<(String, String)>,
    output: String,
}

/// Runs `python3 python/check_wpml.py FILES…`. Python is part of the Debian base image: its
/// absence fails the test, it is not skipped.
fn check_wpml(files: &[&Path]) -> Verdict {
    let script = root().join("python/check_wpml.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run python3 ({e}): the WPML checker {} needs it (apt-get install python3)",
                script.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)) && stderr.is_empty(),
        "the checker crashed or was misused (exit {code:?}):\n{stdout}\n{stderr}"
    );
    let mut problems = Vec::new();
    for line in stdout.lines().filter(|l| !l.starts_with("ok ")) {
        let rest = files
            .iter()
            .map(|f| format!("{}: ", f.display()))
            .find_map(|prefix| line.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("an output line names no file: {line:?}"));
        let (path, what) = rest
            .split_once(": ")
            .unwrap_or_else(|| panic!("an output line is not FILE: PATH: WHAT: {line:?}"));
        problems.push((path.to_string(), what.to_string()));
    }
    assert_eq!(
        code == Some(0),
        problems.is_empty(),
        "exit code and output disagree:\n{stdout}"
    );
    Verdict {
        passed: code == Some(0),
        problems,
        output: stdout,
    }
}

#[test]
fn every_kmz_argus_writes_passes_the_wpml_checker() {
    let dir = tempfile::tempdir().unwrap();
    let mut missions = example_missions();
    assert!(
        missions.len() >= 3,
        "the example plans make {} sorties",
        missions.len()
    );
    // QGroundControl's own plan, converted.
    if let Some(path) = shared("qgc_plan/simple_square.plan") {
        missions.push(("simple_square.plan".into(), read_file(&path).unwrap()));
    }
    let mut files = Vec::new();
    for (k, (name, m)) in missions.iter().enumerate() {
        let path = dir.path().join(format!("m{k}.kmz"));
        write_file(m, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
        files.push(path);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let verdict = check_wpml(&refs);
    assert!(
        verdict.passed && verdict.problems.is_empty(),
        "the WPML checker refuses what Argus writes:\n{:#?}\n(full output:\n{})",
        verdict.problems,
        verdict.output
    );
    // The checker read every file.
    for f in &files {
        assert!(
            verdict.output.contains(&format!("{}", f.display())),
            "{} is not in the output:\n{}",
            f.display(),
            verdict.output
        );
    }
}

/// The entries of a KMZ, in order.
fn entries(kmz: &Path) -> Vec<(String, String)> {
    let mut a = zip::ZipArchive::new(std::fs::File::open(kmz).unwrap()).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().unwrap().into_owned(), s)
        })
        .collect()
}

fn rezip(path: &Path, entries: &[(String, String)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap();
}

/// `body` with the first `from` replaced by `to`, if `from` is there.
fn replace_first(body: &str, from: &str, to: &str) -> Option<String> {
    body.contains(from).then(|| body.replacen(from, to, 1))
}

/// `body` without its first `<tag>…</tag>` element.
fn cut(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))?;
    let end = body[start..].find(&format!("</{tag}>"))? + start + tag.len() + 3;
    Some(format!("{}{}", &body[..start], &body[end..]))
}

/// One hand-made fault: the entry it edits, the edit (`None` from the edit: the entry is
/// removed), and what the checker must then say.
struct Fault {
    what: &'static str,
    entry: &'static str,
    edit: fn(&str) -> Option<String>,
    path_has: &'static str,
    says: &'static str,
}

#[test]
fn the_wpml_checker_refuses_hand_broken_copies_naming_the_element() {
    // The points plan: a waypoint template, gimbal turns and hovers.
    let (name, mission) = example_missions()
        .into_iter()
        .find(|(_, m)| {
            m.waypoints
                .iter()
                .any(|w| w.actions.iter().any(|a| matches!(a, Action::Hover { .. })))
        })
        .expect("an example plan hovers");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.kmz");
    write_file(&mission, &base).unwrap();
    let before = check_wpml(&[&base]).problems;
    assert!(before.is_empty(), "{name}: {before:#?}");
    let original = entries(&base);
    let faults = [
        Fault {
            what: "template.kml missing",
            entry: "wpmz/template.kml",
            edit: |_| None,
            path_has: "wpmz/template.kml",
            says: "is not in the KMZ",
        },
        Fault {
            what: "droneInfo removed",
            entry: "wpmz/template.kml",
            edit: |b| cut(b, "wpml:droneInfo"),
            path_has: "wpml:missionConfig/wpml:droneInfo",
            says: "is missing",
        },
        Fault {
            what: "templateType not in the enumeration",
            entry: "wpmz/template.kml",
            edit: |b| {
                replace_first(
                    b,
                    "<wpml:templateType>waypoint<",
                    "<wpml:templateType>waypoints<",
                )
            },
            path_has: "Folder[0]/wpml:templateType",
            says: "'waypoints' is not one of",
        },
        Fault {
            what: "finishAction not in the enumeration",
            entry: "wpmz/waylines.wpml",
            edit: |b| {
                replace_first(
                    b,
                    "<wpml:finishAction>goHome<",
                    "<wpml:finishAction>returnHome<",
                )
            },
            path_has: "wpml:missionConfig/wpml:finishAction",
            says: "'returnHome' is not one of",
        },
        Fault {
            what: "executeHeight not a number",
            entry: "wpmz/waylines.wpml",
            edit: |b| replace_first(b, "<wpml:executeHeight>", "<wpml:executeHeight>high"),
            path_has: "Placemark[0]/wpml:executeHeight",
            says: "is not a number",
        },
        Fault {
            what: "coordinates lat,lon instead of lon,lat",
            entry: "wpmz/waylines.wpml",
            edit: |b| {
                let start = b.find("<coordinates>")? + "<coordinates>".len();
                let end = b[start..].find('<')? + start;
                let (lon, lat) = b[start..end].split_once(',')?;
                Some(format!("{}{lat},{lon}{}", &b[..start], &b[end..]))
            },
            path_has: "Placemark[0]/Point/coordinates",
            says: "is outside [-90, 90] (latitude first? coordinates are lon,lat)",
        },
        Fault {
            what: "index not sequential",
            entry: "wpmz/waylines.wpml",
            edit: |b| {
                replace_first(
                    b,
                    "<wpml:index>1</wpml:index>",
                    "<wpml:index>2</wpml:index>",
                )
            },
            path_has: "Placemark[1]/wpml:index",
            says: "2 where 1 comes next",
        },
        Fault {
            what: "hover without hoverTime",
            entry: "wpmz/waylines.wpml",
            edit: |b| cut(b, "wpml:hoverTime"),
            path_has: "wpml:actionActuatorFuncParam/wpml:hoverTime",
            says: "is missing",
        },
    ];
    for (k, f) in faults.iter().enumerate() {
        let mut broken = original.clone();
        let at = broken.iter().position(|(n, _)| n == f.entry).unwrap();
        match (f.edit)(&broken[at].1) {
            Some(body) => {
                assert_ne!(body, broken[at].1, "{}: the edit changed nothing", f.what);
                broken[at].1 = body;
            }
            None if f.what == "template.kml missing" => {
                broken.remove(at);
            }
            None => panic!("{}: the edit does not apply to {}", f.what, f.entry),
        }
        let path = dir.path().join(format!("broken-{k}.kmz"));
        rezip(&path, &broken);
        let verdict = check_wpml(&[&path]);
        assert!(!verdict.passed, "{}: accepted", f.what);
        let new: Vec<_> = verdict
            .problems
            .iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert!(
            new.iter().any(|(p, w)| p.starts_with(f.entry)
                && p.contains(f.path_has)
                && w.contains(f.says)),
            "{}: expected {} …{}: …{}, got:\n{}",
            f.what,
            f.entry,
            f.path_has,
            f.says,
            verdict.output
        );
    }
}

#[test]
fn the_kmzs_djis_own_software_made_pass_the_wpml_checker() {
    let Some(dir) = shared("dji_wpml") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kmz"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let verdict = check_wpml(&refs);
    assert!(verdict.passed, "{}", verdict.output);
}

fn qgc_validator() -> jsonschema::Validator {
    let path = root().join("../schemas/qgc-plan.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, plan: &Value) -> Vec<String> {
    validator
        .iter_errors(plan)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

#[test]
fn every_plan_argus_writes_and_qgroundcontrols_own_follow_the_plan_schema() {
    let validator = qgc_validator();
    let dir = tempfile::tempdir().unwrap();
    for (k, (name, m)) in example_missions().iter().enumerate() {
        let path = dir.path().join(format!("m{k}.plan"));
        write_file(m, &path).unwrap();
        let plan: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let errors = schema_errors(&validator, &plan);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    if let Some(path) = shared("qgc_plan/simple_square.plan") {
        let plan: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let errors = schema_errors(&validator, &plan);
        assert!(errors.is_empty(), "QGroundControl's own plan: {errors:#?}");
    }
}

/// An edit that breaks a plan.
type Breaker = fn(&mut Value);

#[test]
fn the_plan_schema_refuses_what_qgroundcontrols_loader_refuses() {
    let validator = qgc_validator();
    let (_, mission) = example_missions().into_iter().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.plan");
    write_file(&mission, &path).unwrap();
    let plan: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(validator.is_valid(&plan));
    let broken: [(&str, Breaker); 6] = [
        ("no plannedHomePosition", |p| {
            p["mission"]
                .as_object_mut()
                .unwrap()
                .remove("plannedHomePosition");
        }),
        ("no items", |p| {
            p["mission"].as_object_mut().unwrap().remove("items");
        }),
        ("firmwareType a string", |p| {
            p["mission"]["firmwareType"] = Value::from("12");
        }),
        ("params of 6 entries", |p| {
            p["mission"]["items"][0]["params"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("fileType not Plan", |p| {
            p["fileType"] = Value::from("Mission");
        }),
        ("home at latitude 121", |p| {
            p["mission"]["plannedHomePosition"][0] = Value::from(121.02);
        }),
    ];
    for (what, break_it) in broken {
        let mut p = plan.clone();
        break_it(&mut p);
        assert!(!validator.is_valid(&p), "{what}: accepted");
    }
}
