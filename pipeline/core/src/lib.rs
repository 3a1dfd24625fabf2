//! The pure core of Argus: everything about where things are, with no native dependency.
//!
//! - [`clock`]: RFC 3339 timestamps and DJI date-time lines; [`config`]: reading a service's
//!   TOML config file.
//! - [`geodesy`]: WGS84 ⇄ a local east-north-up tangent plane anchored at an origin.
//! - [`camera`]: pinhole intrinsics with optional radial distortion, and camera poses in DJI's
//!   angle convention (yaw clockwise from true north, pitch 0 = horizon, −90 = nadir).
//! - [`srt`]: DJI `.SRT` telemetry sidecars, written in the modern bracket dialect and read back;
//!   [`telemetry`] reads every real dialect into samples and interpolates poses; [`osd`] reads
//!   DJI Cloud API aircraft OSD messages into the same samples.
//! - [`detect`]: the [`detect::Detect`] trait every detector implements, letterboxing, CenterNet
//!   decoding and class-aware NMS; [`homography`]: a fixed camera's fitted image → ground map.
//! - [`map`] and [`rules`]: GeoJSON layers and the rules that make a sighting a violation;
//!   [`catalog`]: which detector class becomes which violation, by which rule — configuration.
//! - [`geotag`]: pixel → ground, terrain (a [`dem`] GeoTIFF) or roof, with a 90 % uncertainty;
//!   [`track`]: one track per object per pass; [`hit`]: the `argus.hit/1` wire type.
//!
//! Both the simulator and the edge agent use these types, so a pose written by one is read by the
//! other through exactly the same maths.
//!
//! ```
//! use argus_core::{camera::{Camera, Intrinsics, Pose}, geodesy::{GeoPoint, LocalFrame}};
//!
//! let frame = LocalFrame::new(GeoPoint { lat: 30.70, lon: 121.02 });
//! let intrinsics = Intrinsics::from_hfov(1920, 1080, 70.0);
//! // 100 m above the origin, looking straight down, nose to the north.
//! let pose = Pose { lat: 30.70, lon: 121.02, alt_m: 100.0, yaw_deg: 0.0, pitch_deg: -90.0, roll_deg: 0.0 };
//! let camera = Camera::new(intrinsics, &frame, &pose);
//! let centre = camera.ground_point(960.0, 540.0, 0.0).unwrap();
//! assert!(centre.x.abs() < 1e-6 && centre.y.abs() < 1e-6);
//! ```
#![deny(missing_docs)]

pub mod broker;
pub mod camera;
pub mod catalog;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod cloudapi;
pub mod config;
pub mod dem;
pub mod detect;
pub mod geodesy;
pub mod geotag;
pub mod hit;
pub mod homography;
pub mod linalg;
pub mod map;
pub mod osd;
pub mod receipt;
pub mod redact;
pub mod rules;
pub mod srt;
pub mod telemetry;
pub mod topics;
pub mod track;
