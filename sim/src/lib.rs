//! The Argus simulator: a synthetic district with placed violations and exact ground truth,
//! rendered drone flights (video + DJI SRT) and street cameras (file or live RTSP), and dataset
//! export for training the detectors.
//!
//! The same seed gives the same district, byte for byte; its map is what the edge agent and
//! triage read:
//!
//! ```no_run
//! use argus_sim::district::generate::{DistrictOptions, generate};
//!
//! let district = generate(&DistrictOptions::default())?;
//! println!("{} objects placed around {:?}", district.objects.len(), district.origin);
//! let map = argus_sim::district::geojson::write(&district, "out/district".as_ref())?;
//! println!("the map is {}", map.display());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod camera;
pub mod cli;
pub mod dataset;
pub mod district;
pub mod dock;
pub mod flight;
pub mod geom;
pub mod progress;
pub mod render;
pub mod rtsp;
pub mod truth;
