//! Cameras and their footprints: QGroundControl's `CameraCalc` arithmetic (formats.md §5.4),
//! for a nadir camera over flat ground.
//!
//! ```text
//! ImageDensity [cm/px] = DistanceToSurface · SensorWidth · 100 / (ImageWidth · FocalLength)
//! FootprintSide        = ImageWidth  · ImageDensity / 100
//! FootprintFrontal     = ImageHeight · ImageDensity / 100
//! transect spacing     = FootprintSide · (1 − side overlap)
//! ```
//!
//! A camera is given by its sensor and lens (`sensor_mm`, `focal_mm`, `image_px`) or by its
//! horizontal field of view (`hfov_deg`, with `image_px` for the frame's shape); named presets
//! live in `flight-plans/cameras.toml`, built in.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The built-in presets (`flight-plans/cameras.toml`).
pub const PRESETS_TOML: &str = include_str!("../cameras.toml");

/// A camera as a plan or a preset writes it: a preset name, or sensor and lens, or a field of
/// view. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// A preset of `cameras.toml` (e.g. `sim-1080p`, the simulator's camera).
    #[serde(default)]
    pub preset: Option<String>,
    /// Sensor width and height, millimetres.
    #[serde(default)]
    pub sensor_mm: Option<[f64; 2]>,
    /// Focal length, millimetres (the real one, not 35 mm-equivalent).
    #[serde(default)]
    pub focal_mm: Option<f64>,
    /// Image width and height, pixels.
    #[serde(default)]
    pub image_px: Option<[u32; 2]>,
    /// Horizontal field of view, degrees (instead of sensor and lens).
    #[serde(default)]
    pub hfov_deg: Option<f64>,
}

/// A camera that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// No preset of that name.
    #[error("camera.preset: {name:?} is not a camera preset (known: {known})")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The presets there are.
        known: String,
    },
    /// A preset together with other keys, or neither way of giving a camera.
    #[error(
        "camera: give a preset, or sensor_mm + focal_mm + image_px, or hfov_deg (+ image_px); {0}"
    )]
    Ambiguous(&'static str),
    /// A value out of range.
    #[error("camera.{key}: {value} is out of range ({range})")]
    Range {
        /// The key.
        key: &'static str,
        /// Its value.
        value: f64,
        /// What is allowed.
        range: &'static str,
    },
    /// The presets file does not parse.
    #[error("camera presets: {0}")]
    Presets(String),
}

/// A camera reduced to what coverage needs: the ground swath per metre of height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Image width and height, pixels.
    pub image_px: [u32; 2],
    /// Sensor width over focal length (= 2 · tan(hfov / 2)).
    pub width_per_m: f64,
    /// Sensor width and focal length when the camera was given that way (for the QGC
    /// `CameraCalc` written into `.plan` files).
    pub sensor: Option<Sensor>,
}

/// A camera given by its sensor and lens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensor {
    /// Sensor width and height, millimetres.
    pub size_mm: [f64; 2],
    /// Focal length, millimetres.
    pub focal_mm: f64,
}

/// The built-in presets by name.
pub fn presets() -> Result<BTreeMap<String, CameraSpec>, CameraError> {
    toml::from_str(PRESETS_TOML).map_err(|e| CameraError::Presets(e.to_string()))
}

fn range(key: &'static str, value: f64, lo: f64, hi: f64) -> Result<f64, CameraError> {
    if value.is_finite() && value > lo && value <= hi {
        Ok(value)
    } else {
        Err(CameraError::Range {
            key,
            value,
            range: match key {
                "hfov_deg" => "(0, 170] degrees",
                "focal_mm" => "(0, 2000] mm",
                "sensor_mm" => "(0, 100] mm",
                _ => "(0, 100000] px",
            },
        })
    }
}

impl CameraSpec {
    /// The camera this spec names, with presets resolved.
    pub fn camera(&self) -> Result<Camera, CameraError> {
        if let Some(name) = &self.preset {
            if self.sensor_mm.is_some()
                || self.focal_mm.is_some()
                || self.image_px.is_some()
                || self.hfov_deg.is_some()
            {
                return Err(CameraError::Ambiguous("a preset takes no other key"));
            }
            let all = presets()?;
            let spec = all.get(name).ok_or_else(|| CameraError::UnknownPreset {
                name: name.clone(),
                known: all.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
            if spec.preset.is_some() {
                return Err(CameraError::Presets(format!(
                    "{name}: a preset names a preset"
                )));
            }
            return spec.camera();
        }
        let image_px = self.image_px.unwrap_or([1920, 1080]);
        for px in image_px {
            range("image_px", f64::from(px), 0.0, 1e5)?;
        }
        match (self.sensor_mm, self.focal_mm, self.hfov_deg) {
            (Some(size), Some(f), None) => {
                if self.image_px.is_none() {
                    return Err(CameraError::Ambiguous(
                        "sensor_mm and focal_mm need image_px",
                    ));
                }
                range("sensor_mm", size[0], 0.0, 100.0)?;
                range("sensor_mm", size[1], 0.0, 100.0)?;
                range("focal_mm", f, 0.0, 2000.0)?;
                Ok(Camera {
                    image_px,
                    width_per_m: size[0] / f,
                    sensor: Some(Sensor {
                        size_mm: size,
                        focal_mm: f,
                    }),
                })
            }
            (None, None, Some(h)) => {
                range("hfov_deg", h, 0.0, 170.0)?;
                Ok(Camera {
                    image_px,
                    width_per_m: 2.0 * (h.to_radians() / 2.0).tan(),
                    sensor: None,
                })
            }
            (None, None, None) => Err(CameraError::Ambiguous("none was given")),
            _ => Err(CameraError::Ambiguous(
                "both ways were given, or half of one",
            )),
        }
    }
}

impl Camera {
    /// Ground sample distance at `height_m` above flat ground, centimetres per pixel.
    pub fn gsd_cm(&self, height_m: f64) -> f64 {
        height_m * self.width_per_m * 100.0 / f64::from(self.image_px[0])
    }

    /// The footprint across the track (image width, landscape), metres.
    pub fn swath_m(&self, height_m: f64) -> f64 {
        height_m * self.width_per_m
    }

    /// The footprint along the track (image height), metres.
    pub fn frontal_m(&self, height_m: f64) -> f64 {
        self.swath_m(height_m) * f64::from(self.image_px[1]) / f64::from(self.image_px[0])
    }

    /// Transect spacing for a side overlap in [0, 1): the swath less the overlap.
    pub fn spacing_m(&self, height_m: f64, side_overlap: f64) -> f64 {
        self.swath_m(height_m) * (1.0 - side_overlap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_a_camera() {
        for (name, _) in presets().unwrap() {
            let spec = CameraSpec {
                preset: Some(name.clone()),
                ..CameraSpec::default()
            };
            let c = spec.camera().unwrap();
            assert!(c.swath_m(100.0) > 10.0, "{name}");
        }
        let e = CameraSpec {
            preset: Some("gopro".into()),
            ..CameraSpec::default()
        }
        .camera()
        .unwrap_err();
        assert!(e.to_string().contains("sim-1080p"), "{e}");
    }

    #[test]
    fn a_camera_is_given_one_way_only() {
        let both = CameraSpec {
            sensor_mm: Some([17.3, 13.0]),
            focal_mm: Some(12.29),
            image_px: Some([3840, 2160]),
            hfov_deg: Some(70.0),
            ..CameraSpec::default()
        };
        assert!(matches!(both.camera(), Err(CameraError::Ambiguous(_))));
        let nan = CameraSpec {
            hfov_deg: Some(f64::NAN),
            ..CameraSpec::default()
        };
        assert!(nan.camera().unwrap_err().to_string().contains("hfov_deg"));
    }
}
