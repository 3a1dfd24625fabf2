//! Sun position, sky and exposure for a time of day.

use argus_core::linalg::Vec3;

use super::paint::Rgb;

/// Lighting and atmosphere of a rendered scene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Local time, minutes after midnight (only the sun's position depends on it).
    pub minute: u32,
    /// Sun azimuth, degrees clockwise from north.
    pub sun_azimuth_deg: f64,
    /// Sun elevation above the horizon, degrees (kept ≥ 8: no night scenes).
    pub sun_elevation_deg: f64,
    /// Haze strength, 0 (clear) to 1 (thick).
    pub haze: f32,
    /// Sensor noise, standard deviation in 8-bit levels.
    pub noise: f32,
}

impl Lighting {
    /// Daylight at a local time, with a light haze and mild sensor noise.
    pub fn at_minute(minute: u32) -> Self {
        let h = f64::from(minute % (24 * 60)) / 60.0;
        // A mid-latitude day from 06:00 to 18:00: east at dawn, south at noon, west at dusk.
        let day = ((h - 6.0) / 12.0).clamp(0.0, 1.0);
        let elevation = (65.0 * (std::f64::consts::PI * day).sin()).max(8.0);
        let azimuth = 90.0 + 180.0 * day;
        Self {
            minute,
            sun_azimuth_deg: azimuth,
            sun_elevation_deg: elevation,
            haze: 0.25,
            noise: 2.5,
        }
    }

    /// Unit vector towards the sun, local ENU.
    pub fn sun_dir(&self) -> Vec3 {
        let (az, el) = (
            self.sun_azimuth_deg.to_radians(),
            self.sun_elevation_deg.to_radians(),
        );
        Vec3::new(az.sin() * el.cos(), az.cos() * el.cos(), el.sin())
    }

    fn sun_colour(&self) -> Rgb {
        // Warmer when low.
        let w = (1.0 - (self.sun_elevation_deg / 40.0).min(1.0)) as f32;
        [1.0, 1.0 - 0.15 * w, 1.0 - 0.32 * w]
    }

    fn ambient(&self) -> Rgb {
        [0.36, 0.39, 0.46]
    }

    /// Camera exposure: brings sunlit ground to about its albedo, as auto-exposure would.
    fn exposure(&self) -> f32 {
        let lum = 0.4 + 0.7 * self.sun_dir().z as f32;
        (1.0 / lum).powf(0.7)
    }

    fn lit(&self, cos: f64) -> Rgb {
        let (s, a, e) = (self.sun_colour(), self.ambient(), self.exposure());
        let d = 0.7 * cos.max(0.0) as f32;
        [
            (a[0] + d * s[0]) * e,
            (a[1] + d * s[1]) * e,
            (a[2] + d * s[2]) * e,
        ]
    }

    /// Light multiplier of sunlit ground.
    pub fn sunlit(&self) -> Rgb {
        self.lit(self.sun_dir().z)
    }

    /// Light multiplier in shadow.
    pub fn shaded(&self) -> Rgb {
        self.lit(0.0)
    }

    /// Light multiplier of a surface with normal `n`.
    pub fn face_light(&self, n: Vec3) -> Rgb {
        // Walls also catch light bounced from the ground.
        let bounce = 0.08 * (1.0 - n.z.abs());
        let mut l = self.lit(n.dot(self.sun_dir()));
        for c in &mut l {
            *c += bounce as f32;
        }
        l
    }

    /// Sky colour for a ray whose elevation sine is `up` (0 at the horizon, 1 at the zenith).
    pub fn sky(&self, up: f32) -> Rgb {
        let t = up.clamp(0.0, 1.0).sqrt();
        let (h, z) = ([206.0, 214.0, 222.0], [110.0, 150.0, 205.0]);
        [
            h[0] + (z[0] - h[0]) * t,
            h[1] + (z[1] - h[1]) * t,
            h[2] + (z[2] - h[2]) * t,
        ]
    }

    /// The colour haze fades distant things to.
    pub fn haze_colour(&self) -> Rgb {
        [196.0, 204.0, 214.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sun_rises_east_and_culminates_south() {
        let morning = Lighting::at_minute(8 * 60);
        let noon = Lighting::at_minute(12 * 60);
        assert!(morning.sun_dir().x > 0.3, "{:?}", morning.sun_dir());
        assert!(noon.sun_dir().y < -0.3 && noon.sun_elevation_deg > 60.0);
        assert!(noon.sunlit()[0] > noon.shaded()[0] * 1.5);
    }
}
