//! What the flight-plan tests share: the crate's folder, the shared real files, the example
//! plans' missions.

use std::path::{Path, PathBuf};

use argus_flightplan::dock::Docks;
use argus_flightplan::mission::Mission;
use argus_flightplan::plan::load_dir;

/// The crate's folder (`flight-plans/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `../shared/data/telemetry/…`, or `None` (with a message) when the shared data is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = root().join("../../shared/data/telemetry").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is absent (the shared data folder is not here)",
            p.display()
        );
        None
    }
}

/// Every sortie of every example plan, named `PLAN-ID#K`.
pub fn example_missions() -> Vec<(String, Mission)> {
    let docks = Docks::load(&root().join("docks.toml")).unwrap();
    load_dir(&root().join("plans"), &docks)
        .unwrap()
        .iter()
        .flat_map(|p| {
            p.missions()
                .unwrap()
                .into_iter()
                .enumerate()
                .map(|(k, m)| (format!("{}#{k}", p.file.id), m))
        })
        .collect()
}
