//! Argus flight plans: coverage planning for patrols, and the files docks and ground stations
//! read — DJI WPML KMZ, QGroundControl `.plan`, `QGC WPL 110` and the simulator's route JSON.
//!
//! A plan (`argus.plan/1`, TOML) names a dock, an area, corridor or points, a camera and how to
//! fly; [`plan`] turns it into [`mission::Mission`]s (one per sortie), which every format
//! writes and reads. Pure Rust: no native library.
//!
//! ```
//! use argus_flightplan::camera::CameraSpec;
//! use argus_flightplan::coverage::{SweepOptions, sweep};
//! use geo::{LineString, Polygon};
//!
//! // QGroundControl's worked example: a 17.3 mm sensor behind a 12.29 mm lens, 3840 px wide,
//! // at 100 m: 3.67 cm/px and a 141 m swath.
//! let cam = CameraSpec {
//!     sensor_mm: Some([17.3, 13.0]),
//!     focal_mm: Some(12.29),
//!     image_px: Some([3840, 2880]),
//!     ..CameraSpec::default()
//! }
//! .camera()?;
//! assert!((cam.gsd_cm(100.0) - 3.67).abs() < 0.01);
//! assert!((cam.swath_m(100.0) - 141.0).abs() < 0.5);
//! // A 600 × 300 m field, lines 20 % overlapped: they run along its long side.
//! let field = Polygon::new(
//!     LineString::from(vec![(0.0, 0.0), (600.0, 0.0), (600.0, 300.0), (0.0, 300.0)]),
//!     vec![],
//! );
//! let s = sweep(&field, &SweepOptions {
//!     swath_m: cam.swath_m(100.0),
//!     spacing_m: cam.spacing_m(100.0, 0.2),
//!     bearing_deg: None,
//!     turnaround_m: 20.0,
//!     evenly: false,
//!     entry: None,
//!     frontal_m: Some(cam.frontal_m(100.0)),
//!     end_inset_m: 0.0,
//! })?;
//! assert_eq!(s.bearing_deg, 90.0);
//! assert_eq!(s.lines, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod camera;
pub mod coverage;
pub mod dock;
pub mod formats;
pub mod mission;
pub mod plan;
pub mod schedule;
