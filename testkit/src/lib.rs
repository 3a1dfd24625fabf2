//! The test kit: what the tests and benchmarks of every package share, and nothing a product
//! ships. Process harnesses for the real services ([`services`]: Mosquitto, PostgreSQL, the
//! `triage` binary, free ports, an HTTP client), hits for tests ([`hits`]), the repository's
//! folders and cached fixtures. It depends on no Argus package but the core, so any package's
//! tests may use it without a dependency cycle.
//!
//! ```no_run
//! let tmp = tempfile::tempdir().unwrap();
//! let broker = argus_testkit::services::Mosquitto::start(tmp.path());
//! let hit = argus_testkit::hits::hit(&argus_testkit::hits::hit_id("a"), "dock-1", "construction_waste", 30.7, 0.9);
//! let client = argus_testkit::hits::bench_publisher(broker.port, "test");
//! argus_testkit::hits::publish_hit(&client, &hit);
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub mod bench;
pub mod hits;
pub mod services;

/// The repository root.
pub fn repo_root() -> PathBuf {
    let kit = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    kit.parent().map_or(kit.clone(), Path::to_path_buf)
}

/// `../shared/data/<sub>` beside the repository, when it exists. When it does not (a plain clone
/// outside CI), prints why the caller is skipping and returns `None`.
pub fn shared_data(sub: &str) -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data").join(sub);
    if dir.exists() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} is absent (the real test material lives in ../shared/data beside the repository)",
            dir.display()
        );
        None
    }
}

/// A folder built once and reused: `build` fills `dir` unless a previous run finished it. A file
/// lock keeps parallel test processes from building it twice.
pub fn cached(dir: &std::path::Path, build: impl FnOnce(&std::path::Path)) -> PathBuf {
    std::fs::create_dir_all(dir).expect("creating a fixture folder");
    let lock = std::fs::File::create(dir.join(".lock")).expect("fixture lock file");
    lock.lock().expect("locking the fixture");
    if !dir.join(".done").exists() {
        build(dir);
        std::fs::write(dir.join(".done"), b"").expect("marking the fixture done");
    }
    dir.to_path_buf()
}

/// A simulated recording laid out as the tests and benchmarks write it:
/// `district/district.geojson` and `flight/{flight.mp4, flight.SRT, truth.jsonl}`.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Its folder.
    pub dir: PathBuf,
}

impl Recording {
    /// The video.
    pub fn video(&self) -> PathBuf {
        self.dir.join("flight/flight.mp4")
    }
    /// The DJI SRT telemetry.
    pub fn srt(&self) -> PathBuf {
        self.dir.join("flight/flight.SRT")
    }
    /// The per-frame truth.
    pub fn truth(&self) -> PathBuf {
        self.dir.join("flight/truth.jsonl")
    }
    /// The district map.
    pub fn map(&self) -> PathBuf {
        self.dir.join("district/district.geojson")
    }
}

/// Runs a Python baseline script (path relative to the repository) with the project's `.venv`
/// and returns its standard output; `None`, saying why, when it cannot run.
pub fn python_baseline<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Option<String> {
    let root = repo_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join(script))
        .args(args)
        .output()
        .map_err(|e| eprintln!("python baseline {script} could not start: {e}"))
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "python baseline {script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
