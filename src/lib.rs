//! Support for the whole-system tests in `tests/` and the benchmarks in `benches/`.
//!
//! The crates themselves live in `pipeline/`, `sim/` and (later) `edge-agent/` and `triage/`;
//! this package only exercises them together.
#![deny(missing_docs)]

use std::path::PathBuf;

pub mod scoring;
pub mod services;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
