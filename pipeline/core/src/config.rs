//! Reading a service's TOML config file: the same errors (which file, which key, which line)
//! and the same rule for relative paths (taken from the file's folder) for every Argus
//! service. Unknown keys are refused by the services' own types (`deny_unknown_fields`).
//!
//! ```
//! use argus_core::config::ConfigFile;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Cfg { map: std::path::PathBuf }
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("agent.toml");
//! std::fs::write(&path, "map = \"district.geojson\"\n")?;
//! let file = ConfigFile::<Cfg>::read(&path)?;
//! let mut map = file.value.map.clone();
//! file.resolve(&mut map);
//! assert_eq!(map, dir.path().join("district.geojson"));
//! assert!(file.written(&["map"]) && !file.written(&["dem"]));
//! std::fs::write(&path, "mapp = 1\n")?;
//! let err = ConfigFile::<Cfg>::read(&path).err().unwrap().to_string();
//! assert!(err.contains("agent.toml") && err.contains("mapp"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a config file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key or a wrong value; the message names the key and the line.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What and where.
        message: String,
    },
}

/// A config read from its file.
#[derive(Debug, Clone)]
pub struct ConfigFile<T> {
    /// The config.
    pub value: T,
    /// The file as written (to tell a key written from a default).
    pub table: toml::Table,
    /// The file, as errors name it.
    pub path: String,
    /// Its folder, from which relative paths in it are taken.
    pub base: PathBuf,
}

/// Parses config text; `path` names it in errors.
pub fn parse<T: DeserializeOwned>(text: &str, path: &str) -> Result<T, FileError> {
    toml::from_str(text).map_err(|e| FileError::Parse {
        path: path.into(),
        message: e.to_string().trim_end().to_string(),
    })
}

impl<T: DeserializeOwned> ConfigFile<T> {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, FileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: shown.clone(),
            source,
        })?;
        Ok(Self {
            value: parse(&text, &shown)?,
            table: text.parse().unwrap_or_default(),
            base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path: shown,
        })
    }
}

impl<T> ConfigFile<T> {
    /// Whether the file writes the key at `keys` (`["agent", "model"]` is `[agent] model`).
    pub fn written(&self, keys: &[&str]) -> bool {
        let Some((last, tables)) = keys.split_last() else {
            return false;
        };
        let mut t = &self.table;
        for k in tables {
            match t.get(*k).and_then(toml::Value::as_table) {
                Some(inner) => t = inner,
                None => return false,
            }
        }
        t.contains_key(*last)
    }

    /// Takes a relative path written in the file from the file's folder.
    pub fn resolve(&self, p: &mut PathBuf) {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = self.base.join(&*p);
        }
    }
}
