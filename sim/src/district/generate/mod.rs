//! Procedural generation of a [`District`] from a seed: [`layout`] lays the streets, blocks,
//! buildings and regions; [`placement`] puts the objects — violations, look-alikes and
//! distractors — where each belongs.
//!
//! The street grid is laid out axis-aligned in a "grid frame", then the whole district is rotated
//! by a seeded angle so streets do not line up with north. Placement is deterministic: the same
//! options give the same district, bit for bit.

use argus_core::geodesy::GeoPoint;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::District;
use crate::geom::{self, P2, rect};

/// The default anchor: 30.70 N, 121.02 E.
pub const DEFAULT_ORIGIN: GeoPoint = GeoPoint {
    lat: 30.70,
    lon: 121.02,
};
/// The default district side, metres.
pub const DEFAULT_SIZE_M: f64 = 1000.0;
/// The default scene time, 10:00.
pub const DEFAULT_SCENE_MINUTE: u32 = 10 * 60;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DistrictOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// WGS84 centre of the district.
    pub origin: GeoPoint,
    /// Side of the square district, metres (300–3000).
    pub size_m: f64,
    /// Local time of the scene, minutes after midnight (decides which vending zones are open).
    pub scene_minute: u32,
}

impl Default for DistrictOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            origin: DEFAULT_ORIGIN,
            size_m: DEFAULT_SIZE_M,
            scene_minute: DEFAULT_SCENE_MINUTE,
        }
    }
}

/// Options that cannot make a district.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum OptionsError {
    /// The origin is not a valid lat/lon.
    #[error("origin: {lat}, {lon} is not a valid latitude/longitude")]
    Origin {
        /// Latitude given.
        lat: f64,
        /// Longitude given.
        lon: f64,
    },
    /// The size is out of range.
    #[error("size_m: {0} m is outside 300–3000 m")]
    Size(f64),
    /// The scene time is out of range.
    #[error("scene time: minute {0} is not within a day")]
    SceneTime(u32),
}

mod layout;
mod placement;

use layout::streets;

struct Builder {
    rng: ChaCha8Rng,
    d: District,
    occupied: Vec<(P2, f64)>,
    next: [u32; 3],
    /// Kerb lanes (index into d.lanes) for parking and dumping.
    kerb_lanes: Vec<usize>,
}

/// Generates a district.
pub fn generate(opts: &DistrictOptions) -> Result<District, OptionsError> {
    if !opts.origin.is_valid() {
        return Err(OptionsError::Origin {
            lat: opts.origin.lat,
            lon: opts.origin.lon,
        });
    }
    if !(300.0..=3000.0).contains(&opts.size_m) {
        return Err(OptionsError::Size(opts.size_m));
    }
    if opts.scene_minute >= 24 * 60 {
        return Err(OptionsError::SceneTime(opts.scene_minute));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let rotation_deg = rng.random_range(-25.0..25.0);
    let half = opts.size_m / 2.0;
    // Laid out axis-aligned, rotated at the end (outline included).
    let d = District::empty(
        opts.seed,
        opts.origin,
        opts.size_m,
        rotation_deg,
        opts.scene_minute,
        rect(-half, -half, half, half),
    );
    let mut b = Builder {
        rng,
        d,
        occupied: vec![],
        next: [0; 3],
        kerb_lanes: vec![],
    };
    let vs = streets(&mut b.rng, half);
    let hs = streets(&mut b.rng, half);
    b.lay_streets(&vs, &hs, half);
    b.lay_blocks(&vs, &hs, half);
    b.lay_regions(&vs, &hs, half);
    b.place_objects();
    b.rotate(rotation_deg.to_radians());
    Ok(b.d)
}

impl Builder {
    fn id(&mut self, slot: usize, prefix: &str) -> String {
        self.next[slot] += 1;
        format!("{prefix}{:04}", self.next[slot])
    }

    fn rotate(&mut self, a: f64) {
        let d = &mut self.d;
        let rot_ring = |r: &mut Vec<P2>| r.iter_mut().for_each(|p| *p = geom::rotate(*p, a));
        rot_ring(&mut d.boundary);
        for area in d
            .roads
            .iter_mut()
            .chain(d.footways.iter_mut())
            .chain(d.grounds.iter_mut())
        {
            rot_ring(&mut area.ring);
        }
        for l in &mut d.lanes {
            l.start = geom::rotate(l.start, a);
            l.end = geom::rotate(l.end, a);
        }
        for b in &mut d.buildings {
            rot_ring(&mut b.footprint);
        }
        for z in &mut d.vending_zones {
            rot_ring(&mut z.ring);
        }
        for r in d
            .construction_sites
            .iter_mut()
            .chain(d.baseline.iter_mut())
            .chain(d.jurisdictions.iter_mut())
            .chain(d.grid_cells.iter_mut())
        {
            rot_ring(&mut r.ring);
        }
        for o in &mut d.objects {
            o.center = geom::rotate(o.center, a);
            // Rotating the scene counter-clockwise turns headings (clockwise) back by `a`.
            o.yaw -= a;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::district::{DetClass, ObjectKind};

    #[test]
    fn a_district_has_every_layer_and_class() {
        let d = generate(&DistrictOptions::default()).unwrap();
        assert!(d.roads.len() > 10 && d.lanes.len() > 20 && d.footways.len() > 20);
        assert!(d.buildings.len() > 40, "{}", d.buildings.len());
        assert!(!d.vending_zones.is_empty() && !d.construction_sites.is_empty());
        assert!((4..=8).contains(&d.jurisdictions.len()));
        for class in DetClass::ALL {
            let violations = d
                .detectable()
                .filter(|(_, o, c)| *c == class && o.violation)
                .count();
            let legal = d
                .detectable()
                .filter(|(_, o, c)| *c == class && !o.violation)
                .count();
            assert!(violations >= 5, "{class:?}: {violations} violations");
            assert!(legal >= 2, "{class:?}: {legal} look-alikes");
        }
        assert!(
            d.objects
                .iter()
                .any(|o| o.kind == ObjectKind::Shed && o.elev > 0.0 && o.violation)
        );
    }

    #[test]
    fn legal_stalls_stand_in_open_zones_and_legal_piles_on_sites() {
        let d = generate(&DistrictOptions {
            seed: 7,
            ..Default::default()
        })
        .unwrap();
        for (_, o, c) in d.detectable().filter(|(_, o, _)| !o.violation) {
            match c {
                DetClass::Stall => assert!(
                    d.vending_zones
                        .iter()
                        .any(|z| z.is_open(d.scene_minute) && geom::contains(&z.ring, o.center))
                ),
                DetClass::WastePile => assert!(
                    d.construction_sites
                        .iter()
                        .any(|s| geom::contains(&s.ring, o.center))
                ),
                DetClass::SteelShed => assert!(o.rule.starts_with("baseline_structure")),
            }
        }
        for (_, o, _) in d
            .detectable()
            .filter(|(_, o, c)| o.violation && *c == DetClass::WastePile)
        {
            assert!(
                !d.construction_sites
                    .iter()
                    .any(|s| geom::contains(&s.ring, o.center)),
                "{}",
                o.id
            );
        }
    }

    #[test]
    fn bad_options_name_the_field() {
        let e = generate(&DistrictOptions {
            size_m: 10.0,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("size_m"));
        let e = generate(&DistrictOptions {
            origin: GeoPoint {
                lat: 95.0,
                lon: 0.0,
            },
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("origin"));
    }
}
