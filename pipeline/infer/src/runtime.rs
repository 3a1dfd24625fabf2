//! Finding and loading the ONNX Runtime shared library (the `load-dynamic` set-up).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::InferError;

/// Environment variable naming the library file, looked at first.
pub const RUNTIME_ENV: &str = "ORT_DYLIB_PATH";

/// `.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*` below `dir`.
fn in_venv(dir: &Path) -> Option<PathBuf> {
    let lib = dir.join(".venv/lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| {
            std::fs::read_dir(e.path().join("site-packages/onnxruntime/capi"))
                .into_iter()
                .flatten()
        })
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Finds `libonnxruntime.so`: the [`RUNTIME_ENV`] variable, then `configured` (a config file's
/// value), then a project virtualenv `.venv` in the current directory or an ancestor of it or of
/// the executable.
pub fn find_runtime(configured: Option<&Path>) -> Result<PathBuf, InferError> {
    let mut searched = Vec::new();
    if let Some(p) = std::env::var_os(RUNTIME_ENV).map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        searched.push(format!("${RUNTIME_ENV}={}", p.display()));
    }
    if let Some(p) = configured {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        searched.push(format!("config {}", p.display()));
    }
    let starts = [
        std::env::current_dir().ok(),
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf)),
    ];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            if let Some(p) = in_venv(dir) {
                return Ok(p);
            }
        }
        searched.push(format!("{}/.venv and its parents", start.display()));
    }
    Err(InferError::RuntimeNotFound {
        searched: searched.join("; "),
    })
}

static RUNTIME: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> =
    OnceLock::new();

/// Loads ONNX Runtime from `path` and creates the process's environment, once. Later calls
/// return the first result (the library cannot be swapped in a running process).
pub fn init_runtime(path: &Path) -> Result<ort::environment::Environment, InferError> {
    let r = RUNTIME.get_or_init(|| {
        let builder = ort::init_from(path).map_err(|e| e.to_string())?;
        let env = builder
            .with_name("argus")
            .build()
            .map_err(|e| e.to_string())?;
        tracing::info!(library = %path.display(), "onnx runtime loaded");
        Ok((path.to_path_buf(), env))
    });
    match r {
        Ok((_, env)) => Ok(env.clone()),
        Err(message) => Err(InferError::RuntimeLoad {
            path: path.to_path_buf(),
            message: message.clone(),
        }),
    }
}
