//! The `sim` command line, run as users run it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn sim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sim"))
}

/// Runs a command that must succeed; returns its standard output.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn district(dir: &Path) {
    let stdout = run_ok(sim().args(["district", "--seed", "4", "--out"]).arg(dir));
    assert!(stdout.contains("district.geojson"));
}

fn route(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("route.json");
    std::fs::write(&p, text).unwrap();
    p
}

fn flight_error(dir: &Path, route_text: &str) -> String {
    let r = route(dir, route_text);
    let out = sim()
        .args(["flight", "--no-video", "--duration", "1", "--district"])
        .arg(dir)
        .arg("--out")
        .arg(dir.join("f"))
        .arg("--route")
        .arg(r)
        .output()
        .unwrap();
    assert!(!out.status.success(), "an invalid route must be refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn invalid_routes_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    district(dir.path());
    let inside = r#"{"lat": 30.7, "lon": 121.02}"#;
    let e = flight_error(
        dir.path(),
        &format!(r#"{{"waypoints": [{inside}, {inside}], "altitud_m": 50}}"#),
    );
    assert!(e.contains("unknown field `altitud_m`"), "{e}");
    let e = flight_error(
        dir.path(),
        &format!(r#"{{"waypoints": [{inside}, {{"lat": 31.5, "lon": 121.02}}]}}"#),
    );
    assert!(
        e.contains("waypoints[1]") && e.contains("outside the district"),
        "{e}"
    );
    let e = flight_error(
        dir.path(),
        &format!(r#"{{"altitude_m": -20, "waypoints": [{inside}, {inside}]}}"#),
    );
    assert!(e.contains("altitude_m"), "{e}");
}

#[test]
fn a_bad_district_file_names_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    district(dir.path());
    let p = dir.path().join("district.geojson");
    let text = std::fs::read_to_string(&p).unwrap().replacen(
        "\"layer\": \"road\"",
        "\"layer\": \"river\"",
        1,
    );
    std::fs::write(&p, text).unwrap();
    let out = sim()
        .args(["still", "--size", "64x64", "--district"])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("x.png"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("features[") && e.contains("river"),
        "{e}"
    );
}

#[test]
fn a_plain_gst_launch_rtspsrc_client_reads_the_live_camera() {
    let dir = tempfile::tempdir().unwrap();
    district(dir.path());
    let mut server = sim()
        .args([
            "camera",
            "--duration",
            "120",
            "--size",
            "320x180",
            "--fps",
            "10",
            "--rtsp",
            "127.0.0.1:0",
            "--district",
        ])
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("cam"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep reading the server's standard output for as long as it runs: a closed pipe would make
    // its later lines fail.
    let (url_tx, url_rx) = std::sync::mpsc::sync_channel(1);
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("serving ") {
                let _ = url_tx.try_send(url.to_string());
            }
        }
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the camera prints its URL");
    assert!(
        url.starts_with("rtsp://127.0.0.1:") && !url.contains(":0/"),
        "{url}"
    );
    let mut client = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "rtspsrc",
            &format!("location={url}"),
            "protocols=tcp",
            "!",
            "rtph264depay",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "fakesink",
            "num-buffers=20",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the client's messages as they come (a full pipe would stall it) and keep them for
    // the failure message.
    let stderr = client.stderr.take().unwrap();
    let messages = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = client.try_wait().unwrap() {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = server.kill();
    let _ = server.wait();
    let messages = messages.join().unwrap();
    let status =
        status.unwrap_or_else(|| panic!("the client got no 20 frames within 60 s: {messages}"));
    assert!(status.success(), "gst-launch failed: {status}: {messages}");
    let setup: serde_json::Value = read_json(&dir.path().join("cam/camera.json"));
    assert!(setup["gcps"].as_array().unwrap().len() >= 4);
}

#[test]
fn the_camera_scenario_brings_violations_in_over_time() {
    let dir = tempfile::tempdir().unwrap();
    district(dir.path());
    run_ok(
        sim()
            .args([
                "camera",
                "--duration",
                "6",
                "--size",
                "320x180",
                "--fps",
                "5",
                "--district",
            ])
            .arg(dir.path())
            .arg("--out")
            .arg(dir.path().join("cam")),
    );
    let setup: serde_json::Value = read_json(&dir.path().join("cam/camera.json"));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("cam/truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    for a in setup["arrivals"].as_array().unwrap() {
        let (id, at) = (a["id"].as_str().unwrap(), a["at_s"].as_f64().unwrap());
        for l in &lines {
            let seen = l["objects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["id"] == id);
            let t = l["pts_s"].as_f64().unwrap();
            assert_eq!(
                seen,
                t >= at,
                "{id} arrives at {at} s; frame at {t} s says seen={seen}"
            );
        }
    }
    assert!(
        std::fs::metadata(dir.path().join("cam/camera.mp4"))
            .unwrap()
            .len()
            > 1000
    );
    // The district once the arrivals are in: each arrival is one of its violations, where the
    // camera saw it, for a drone sent to look.
    let after = argus_sim::district::geojson::read(&dir.path().join("cam/district-after")).unwrap();
    for a in setup["arrivals"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        let o = after
            .objects
            .iter()
            .find(|o| o.id == id)
            .unwrap_or_else(|| panic!("{id}"));
        assert!(o.violation, "{id}");
        let seen = lines.last().unwrap()["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id);
        assert!(seen, "{id} is in view at the end");
    }
    let before = argus_sim::district::geojson::read(dir.path()).unwrap();
    assert!(setup["arrivals"].as_array().unwrap().iter().all(|a| {
        !before
            .objects
            .iter()
            .any(|o| o.id == a["id"].as_str().unwrap())
    }));
}

#[test]
fn a_dataset_has_matching_yolo_and_coco_labels_and_disjoint_districts() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        sim()
            .args([
                "dataset", "--images", "20", "--size", "320x320", "--seed", "3", "--out",
            ])
            .arg(dir.path()),
    );
    let manifest: serde_json::Value = read_json(&dir.path().join("dataset.json"));
    let mut all_seeds = std::collections::BTreeSet::new();
    let (mut images, mut crowd) = (0, 0);
    for split in ["train", "val", "test"] {
        for s in manifest["splits"][split]["district_seeds"]
            .as_array()
            .unwrap()
        {
            assert!(
                all_seeds.insert(s.as_u64().unwrap()),
                "district seed {s} is in two splits"
            );
        }
        let coco: serde_json::Value = read_json(&dir.path().join(split).join("annotations.json"));
        let names: Vec<&str> = coco["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["stall", "waste_pile", "steel_shed"]);
        for img in coco["images"].as_array().unwrap() {
            images += 1;
            let file = img["file_name"].as_str().unwrap();
            assert!(
                dir.path().join(split).join("images").join(file).exists(),
                "{file}"
            );
            let stem = file.trim_end_matches(".jpg");
            let yolo = std::fs::read_to_string(
                dir.path()
                    .join(split)
                    .join("labels")
                    .join(format!("{stem}.txt")),
            )
            .unwrap();
            let anns: Vec<&serde_json::Value> = coco["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["image_id"] == img["id"] && a["iscrowd"] == 0)
                .collect();
            // Labelled objects are at least 10 px on their longer side; smaller or hidden ones
            // are ignore regions (COCO `iscrowd`), absent from the YOLO labels.
            for a in &anns {
                let b = &a["bbox"];
                let side = b[2].as_f64().unwrap().max(b[3].as_f64().unwrap());
                assert!(side >= 10.0, "{file}: a labelled box of {side} px");
            }
            crowd += coco["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["image_id"] == img["id"] && a["iscrowd"] == 1)
                .count();
            assert_eq!(
                yolo.lines().count(),
                anns.len(),
                "{file}: YOLO and COCO disagree"
            );
            for (line, a) in yolo.lines().zip(&anns) {
                let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
                let b: Vec<f64> = a["bbox"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                assert_eq!(v[0] as u64 + 1, a["category_id"].as_u64().unwrap());
                assert!(
                    (v[1] * 320.0 - (b[0] + b[2] / 2.0)).abs() < 0.01
                        && (v[3] * 320.0 - b[2]).abs() < 0.01
                );
            }
        }
    }
    assert_eq!(images, 20);
    let labelled: usize = ["train", "val", "test"]
        .iter()
        .map(|s| manifest["splits"][s]["annotations"].as_u64().unwrap() as usize)
        .sum();
    assert!(
        labelled >= 20,
        "images aimed at objects must carry labels: {labelled}"
    );
    let ignored: usize = ["train", "val", "test"]
        .iter()
        .map(|s| manifest["splits"][s]["ignore_regions"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(ignored, crowd, "dataset.json counts the ignore regions");
}

/// The images of one split, by file name.
fn split_images(dir: &Path, split: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join(split).join("images"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// The umbrella and patrol shares re-aim or re-pose training views only; `--split` renders one
/// split as the full render would.
#[test]
fn view_shares_change_the_training_split_only() {
    let render = |option: &str, share: &str| {
        let dir = tempfile::tempdir().unwrap();
        run_ok(
            sim()
                .args([
                    "dataset", "--images", "6", "--size", "160x160", "--seed", "5",
                ])
                .args([option, share, "--out"])
                .arg(dir.path()),
        );
        dir
    };
    let plain = render("--umbrella-share", "0");
    // One split alone is the same as in the full render.
    let test_only = render("--split", "test");
    assert_eq!(
        split_images(plain.path(), "test"),
        split_images(test_only.path(), "test")
    );
    assert!(!test_only.path().join("train").exists());
    for (option, key) in [
        ("--umbrella-share", "umbrella_share"),
        ("--patrol-share", "patrol_share"),
    ] {
        let shared = render(option, "1");
        assert_eq!(read_json(&shared.path().join("dataset.json"))[key], 1.0);
        for split in ["val", "test"] {
            assert_eq!(
                split_images(plain.path(), split),
                split_images(shared.path(), split),
                "{split} changed with {option}"
            );
        }
        let (a, b) = (
            split_images(plain.path(), "train"),
            split_images(shared.path(), "train"),
        );
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter().filter(|(f, bytes)| b[*f] != **bytes).count() > a.len() / 2,
            "{option}: most training views should be aimed or posed elsewhere"
        );
        // A share outside 0–1 is refused, naming it.
        let out = sim()
            .args(["dataset", option, "1.5", "--out"])
            .arg(plain.path().join("bad"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let name = key.replace('_', " ");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("{name}: 1.5")),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
