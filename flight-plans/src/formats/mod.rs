//! The files other software reads and writes, each writer paired with a reader, chosen by
//! extension: `.kmz` (DJI WPML), `.plan` (QGroundControl), `.waypoints` / `.txt`
//! (`QGC WPL 110`), `.json` (the simulator's route).
//!
//! Reading never panics on a hostile file: it gives a [`Mission`] or an error naming the place
//! (a JSON pointer, a line, an XML element path) and the value. Writing goes to a temporary
//! file renamed into place, so a failed write leaves nothing half-written. An action the
//! target format cannot express is refused, naming the waypoint and the action.

pub mod mavlink;
pub mod qgc;
pub mod route;
pub mod wpl;
pub mod wpml;
mod xml;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::mission::Mission;

/// Largest file read, bytes (a 10,000-waypoint KMZ is about 5 MB).
pub const MAX_FILE: u64 = 64 << 20;

/// What is wrong with a file's content (the file is named by [`FileError`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// A value at a place (JSON pointer, `line N`, element path) is missing or wrong.
    #[error("{at}: {message}")]
    At {
        /// Where.
        at: String,
        /// What.
        message: String,
    },
    /// An action the format cannot express.
    #[error("waypoint {waypoint}: {format} cannot express the action {action:?}")]
    Unsupported {
        /// The format.
        format: &'static str,
        /// The waypoint's index.
        waypoint: usize,
        /// The action.
        action: String,
    },
}

impl FormatError {
    /// An error at a place.
    pub fn at(at: &str, message: &str) -> Self {
        Self::At {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// A file that cannot be read or written, named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (shown in the message, so not chained again).
        error: std::io::Error,
    },
    /// The content is wrong.
    #[error("{path}: {error}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What and where.
        error: FormatError,
    },
    /// An extension no format has.
    #[error("{0}: unknown extension (.kmz, .plan, .waypoints, .txt or .json)")]
    Extension(PathBuf),
    /// Over [`MAX_FILE`].
    #[error("{path}: {bytes} bytes is over the {MAX_FILE}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
}

/// The formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// DJI WPML KMZ.
    Kmz,
    /// QGroundControl `.plan`.
    Plan,
    /// `QGC WPL 110`.
    Wpl,
    /// The simulator's route JSON.
    Route,
}

impl Format {
    /// The format of a file name, by extension.
    pub fn of(path: &Path) -> Result<Self, FileError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("kmz") => Ok(Self::Kmz),
            Some("plan") => Ok(Self::Plan),
            Some("waypoints" | "txt") => Ok(Self::Wpl),
            Some("json") => Ok(Self::Route),
            _ => Err(FileError::Extension(path.into())),
        }
    }

    /// Reads a mission from a file's bytes (a text file's UTF-8 byte-order mark, as some
    /// Windows editors write, is skipped).
    pub fn read(self, bytes: &[u8]) -> Result<Mission, FormatError> {
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let bytes = if self == Self::Kmz { bytes } else { text };
        match self {
            Self::Kmz => wpml::read(bytes),
            Self::Plan => qgc::read(bytes),
            Self::Wpl => wpl::read(bytes),
            Self::Route => route::read(bytes),
        }
    }

    /// A mission as a file's bytes.
    pub fn write(self, m: &Mission) -> Result<Vec<u8>, FormatError> {
        match self {
            Self::Kmz => wpml::write(m),
            Self::Plan => qgc::write(m),
            Self::Wpl => wpl::write(m),
            Self::Route => route::write(m),
        }
    }
}

/// Reads a mission file of any format (by extension).
pub fn read_file(path: &Path) -> Result<Mission, FileError> {
    let format = Format::of(path)?;
    let io = |error| FileError::Io {
        path: path.into(),
        error,
    };
    let bytes = std::fs::metadata(path).map_err(io)?.len();
    if bytes > MAX_FILE {
        return Err(FileError::TooLarge {
            path: path.into(),
            bytes,
        });
    }
    let data = std::fs::read(path).map_err(io)?;
    format.read(&data).map_err(|error| FileError::Format {
        path: path.into(),
        error,
    })
}

/// Writes a mission file of any format (by extension): to a temporary file beside it, then
/// renamed into place.
pub fn write_file(m: &Mission, path: &Path) -> Result<(), FileError> {
    let format = Format::of(path)?;
    let data = format.write(m).map_err(|error| FileError::Format {
        path: path.into(),
        error,
    })?;
    write_atomic(path, &data).map_err(|error| FileError::Io {
        path: path.into(),
        error,
    })
}

/// Writes `data` to a temporary file in `path`'s folder (made if missing), syncs it and
/// renames it to `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks a read speed: in (0, 30] m/s.
pub(crate) fn check_speed(at: &str, v: f64) -> Result<(), FormatError> {
    if v.is_finite() && v > 0.0 && v <= 30.0 {
        Ok(())
    } else {
        Err(FormatError::at(
            at,
            &format!("speed {v} m/s is outside (0, 30]"),
        ))
    }
}

/// Checks a read hover: in [0, 3600] s.
pub(crate) fn check_hover(at: &str, v: f64) -> Result<(), FormatError> {
    if v.is_finite() && (0.0..=3600.0).contains(&v) {
        Ok(())
    } else {
        Err(FormatError::at(
            at,
            &format!("hover {v} s is outside [0, 3600]"),
        ))
    }
}

/// Checks a read gimbal pitch: in [-90, 30]°.
pub(crate) fn check_pitch(at: &str, v: f64) -> Result<(), FormatError> {
    if v.is_finite() && (-90.0..=30.0).contains(&v) {
        Ok(())
    } else {
        Err(FormatError::at(
            at,
            &format!("gimbal pitch {v}° is outside [-90, 30]"),
        ))
    }
}

/// Checks a read return-to-home height: in [0, 1500] m.
pub(crate) fn check_rth(at: &str, v: f64) -> Result<(), FormatError> {
    if v.is_finite() && (0.0..=1500.0).contains(&v) {
        Ok(())
    } else {
        Err(FormatError::at(
            at,
            &format!("return height {v} m is outside [0, 1500]"),
        ))
    }
}

/// Checks a read waypoint's numbers: a position, a height within ±10 km.
pub(crate) fn check_position(at: &str, lat: f64, lon: f64, height: f64) -> Result<(), FormatError> {
    if !(lat.is_finite() && lon.is_finite() && lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        return Err(FormatError::at(
            at,
            &format!("{lat}, {lon} is not a latitude, longitude"),
        ));
    }
    if !(height.is_finite() && height.abs() <= 10_000.0) {
        return Err(FormatError::at(
            at,
            &format!("height {height} m is out of range"),
        ));
    }
    Ok(())
}
