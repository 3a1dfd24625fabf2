//! Surface appearance: integer hash noise and the paints of faces.

/// A colour, 0–255 per channel, as floats so shading can scale it.
pub type Rgb = [f32; 3];

/// A well-mixed 32-bit hash of two integers and a seed.
#[inline]
pub fn hash(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x8da6_b343)
        ^ (y as u32).wrapping_mul(0xd816_3841)
        ^ seed.wrapping_mul(0xcb1a_b31f);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297a_2d39);
    h ^ (h >> 15)
}

/// A hash as a float in [0, 1).
#[inline]
pub fn unit(x: i32, y: i32, seed: u32) -> f32 {
    (hash(x, y, seed) >> 8) as f32 / (1u32 << 24) as f32
}

/// Smooth value noise in [0, 1) with unit lattice spacing.
pub fn value_noise(x: f64, y: f64, seed: u32) -> f32 {
    let (fx, fy) = (ffloor(x), ffloor(y));
    let (ix, iy) = (fx as i32, fy as i32);
    let (tx, ty) = ((x - fx) as f32, (y - fy) as f32);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = unit(ix, iy, seed) + (unit(ix + 1, iy, seed) - unit(ix, iy, seed)) * sx;
    let b = unit(ix, iy + 1, seed) + (unit(ix + 1, iy + 1, seed) - unit(ix, iy + 1, seed)) * sx;
    a + (b - a) * sy
}

/// Scales a colour.
#[inline]
pub fn scale(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// Packs a colour (clamped) into `0x00RRGGBB`-style bytes, with `flag` in the top byte.
#[inline]
pub fn pack(c: Rgb, flag: u8) -> u32 {
    let q = |v: f32| v.clamp(0.0, 255.0) as u32;
    (u32::from(flag) << 24) | (q(c[0]) << 16) | (q(c[1]) << 8) | q(c[2])
}

/// Unpacks a colour packed by [`pack`].
#[inline]
pub fn unpack(p: u32) -> Rgb {
    [
        ((p >> 16) & 0xff) as f32,
        ((p >> 8) & 0xff) as f32,
        (p & 0xff) as f32,
    ]
}

/// The fractional part, in [0, 1) for any sign (much cheaper than `rem_euclid(1.0)`).
#[inline(always)]
pub fn fract01(v: f64) -> f64 {
    v - ffloor(v)
}

/// `floor` without a libm call (the baseline x86-64 target has no rounding instruction).
/// Exact for |v| < 2^52.
#[inline(always)]
pub fn ffloor(v: f64) -> f64 {
    let t = v as i64 as f64;
    if t > v { t - 1.0 } else { t }
}

/// How a face is coloured at a world point `(x, y, z)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Paint {
    /// One colour.
    Flat(Rgb),
    /// The ground texture (roofs are baked into it).
    Texture,
    /// Stripes of two colours, `period` metres, across the direction `yaw` (radians).
    Stripes {
        /// First colour.
        a: Rgb,
        /// Second colour.
        b: Rgb,
        /// Stripe period, metres.
        period: f32,
        /// Direction the stripes advance along, radians clockwise from north.
        yaw: f32,
    },
    /// A colour with grainy world-space noise of relative amplitude `amp` at `scale` metres.
    Speckle {
        /// Base colour.
        base: Rgb,
        /// Relative amplitude.
        amp: f32,
        /// Grain size, metres.
        grain: f32,
    },
    /// Two colours in blobs of `grain` metres (rubbish bags, goods).
    Blobs {
        /// First colour.
        a: Rgb,
        /// Second colour.
        b: Rgb,
        /// Blob size, metres.
        grain: f32,
        /// Pattern seed.
        seed: u32,
    },
    /// A wall with rows of windows every `floor` metres.
    Windows {
        /// Wall colour.
        wall: Rgb,
        /// Glass colour.
        glass: Rgb,
    },
}

impl Paint {
    /// The colour at a world point (before lighting).
    #[inline]
    pub fn at(&self, x: f64, y: f64, z: f64, along: f64) -> Rgb {
        match *self {
            Paint::Flat(c) => c,
            Paint::Texture => [128.0; 3],
            Paint::Stripes { a, b, period, yaw } => {
                let s = x * f64::from(yaw.sin()) + y * f64::from(yaw.cos());
                if fract01(s / f64::from(period)) < 0.5 {
                    a
                } else {
                    b
                }
            }
            Paint::Speckle { base, amp, grain } => {
                let g = f64::from(grain);
                let n = unit(
                    ffloor(x / g) as i32,
                    ffloor(y / g) as i32,
                    (z * 4.0) as i32 as u32,
                ) - 0.5;
                scale(base, 1.0 + amp * 2.0 * n)
            }
            Paint::Blobs { a, b, grain, seed } => {
                let g = f64::from(grain);
                if value_noise(x / g, y / g, seed) > 0.5 {
                    a
                } else {
                    b
                }
            }
            Paint::Windows { wall, glass } => {
                let (fz, fa) = (fract01(z / 3.2), fract01(along / 2.6));
                if z > 1.0 && (0.3..0.75).contains(&fz) && (0.2..0.8).contains(&fa) {
                    glass
                } else {
                    wall
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_clamps() {
        assert_eq!(unpack(pack([12.0, 200.0, 255.0], 1)), [12.0, 200.0, 255.0]);
        assert_eq!(unpack(pack([-5.0, 300.0, 7.9], 0)), [0.0, 255.0, 7.0]);
        assert_eq!(pack([0.0; 3], 1) >> 24, 1);
    }

    #[test]
    fn noise_is_deterministic_and_in_range() {
        for i in 0..1000 {
            let v = value_noise(i as f64 * 0.37, i as f64 * 0.11, 9);
            assert!((0.0..1.0).contains(&v));
            assert_eq!(v, value_noise(i as f64 * 0.37, i as f64 * 0.11, 9));
        }
        assert_ne!(hash(1, 2, 3), hash(2, 1, 3));
    }
}
