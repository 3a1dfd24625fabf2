//! Procedural generation of a [`District`] from a seed.
//!
//! The street grid is laid out axis-aligned in a "grid frame", then the whole district is rotated
//! by a seeded angle so streets do not line up with north. Placement is deterministic: the same
//! options give the same district, bit for bit.

use argus_core::geodesy::GeoPoint;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Area, Building, District, Lane, Object, ObjectKind, Region, RoofType, VendingZone};
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

#[derive(Debug, Clone, Copy)]
struct Street {
    pos: f64,
    /// Half width of the carriageway.
    cw: f64,
    /// Footway width.
    fw: f64,
    lanes_per_dir: usize,
    lane_w: f64,
}

impl Street {
    fn outer(&self) -> f64 {
        self.cw + self.fw
    }
}

fn streets(rng: &mut ChaCha8Rng, half: f64) -> Vec<Street> {
    let mut out = Vec::new();
    let mut pos = -half + rng.random_range(55.0..90.0);
    while pos < half - 55.0 {
        let main = rng.random_bool(0.35) || (out.is_empty() && pos > -half + 200.0);
        let (lanes_per_dir, lane_w, fw) = if main { (2, 3.5, 4.0) } else { (1, 3.25, 2.5) };
        out.push(Street {
            pos,
            cw: lanes_per_dir as f64 * lane_w,
            fw,
            lanes_per_dir,
            lane_w,
        });
        pos += rng.random_range(115.0..185.0);
    }
    out
}

/// Spans between consecutive streets: `(inner start, inner end)` of each block along one axis,
/// plus the extents of road segments between cross streets.
fn blocks_along(streets: &[Street], half: f64) -> Vec<(f64, f64)> {
    let mut edges = vec![-half];
    for s in streets {
        edges.push(s.pos - s.outer());
        edges.push(s.pos + s.outer());
    }
    edges.push(half);
    edges.chunks(2).map(|c| (c[0], c[1])).collect()
}

/// Segments of a street between its cross streets' carriageways: `(from, to)` along the street.
/// Footways use the same spans, so the corner squares belong to the footway along this axis.
fn segments(cross: &[Street], half: f64) -> Vec<(f64, f64)> {
    let mut edges = vec![-half];
    for s in cross {
        edges.push(s.pos - s.cw);
        edges.push(s.pos + s.cw);
    }
    edges.push(half);
    edges.chunks(2).map(|c| (c[0], c[1])).collect()
}

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

    fn lay_streets(&mut self, vs: &[Street], hs: &[Street], half: f64) {
        let mut road_no = 0;
        // Vertical streets run north-south (x = pos); horizontal ones east-west (y = pos).
        for (vertical, streets, cross) in [(true, vs, hs), (false, hs, vs)] {
            for s in streets {
                road_no += 1;
                let road = format!("R{road_no:03}");
                for (a, b) in segments(cross, half) {
                    let seg = self.d.roads.len();
                    let r = if vertical {
                        rect(s.pos - s.cw, a, s.pos + s.cw, b)
                    } else {
                        rect(a, s.pos - s.cw, b, s.pos + s.cw)
                    };
                    self.d.roads.push(Area {
                        id: format!("{road}-{seg}"),
                        kind: "carriageway".into(),
                        ring: r,
                    });
                    let n = s.lanes_per_dir;
                    for k in 0..2 * n {
                        let off = -s.cw + (k as f64 + 0.5) * s.lane_w;
                        // Right-hand traffic: lanes east (north) of the centre line run north (east).
                        let forward = k >= n;
                        let (p0, p1) = if vertical {
                            ([s.pos + off, a], [s.pos + off, b])
                        } else {
                            ([a, s.pos - off], [b, s.pos - off])
                        };
                        let (start, end) = if forward { (p0, p1) } else { (p1, p0) };
                        let lane = Lane {
                            id: String::new(),
                            road: road.clone(),
                            start,
                            end,
                            width: s.lane_w,
                            left_is_centre: k == n || k + 1 == n,
                            right_is_kerb: k == 0 || k == 2 * n - 1,
                        };
                        if lane.right_is_kerb && (b - a) > 30.0 {
                            self.kerb_lanes.push(self.d.lanes.len());
                        }
                        let id = self.id(0, "L");
                        self.d.lanes.push(Lane { id, ..lane });
                    }
                }
                // Footways stop at the cross carriageways, so the corner squares are theirs.
                for (a, b) in segments(cross, half) {
                    for side in [-1.0, 1.0] {
                        let (i0, i1) = (s.pos + side * s.cw, s.pos + side * s.outer());
                        let (lo, hi) = (i0.min(i1), i0.max(i1));
                        let (a2, b2) = if vertical {
                            (a, b)
                        } else {
                            // East-west footways stop at the north-south footways.
                            let shrink = |v: f64, dir: f64| {
                                cross
                                    .iter()
                                    .find(|c| (c.pos + dir * c.cw - v).abs() < 1e-9)
                                    .map_or(v, |c| v + dir * c.fw)
                            };
                            (shrink(a, 1.0), shrink(b, -1.0))
                        };
                        if b2 - a2 < 1.0 {
                            continue;
                        }
                        let r = if vertical {
                            rect(lo, a2, hi, b2)
                        } else {
                            rect(a2, lo, b2, hi)
                        };
                        let id = format!("F{:04}", self.d.footways.len() + 1);
                        self.d.footways.push(Area {
                            id,
                            kind: "footway".into(),
                            ring: r,
                        });
                    }
                }
            }
        }
        for v in vs {
            for h in hs {
                let id = format!("J{:03}", self.d.roads.len());
                self.d.roads.push(Area {
                    id,
                    kind: "junction".into(),
                    ring: rect(v.pos - v.cw, h.pos - h.cw, v.pos + v.cw, h.pos + h.cw),
                });
            }
        }
    }

    fn lay_blocks(&mut self, vs: &[Street], hs: &[Street], half: f64) {
        let xs = blocks_along(vs, half);
        let ys = blocks_along(hs, half);
        let n = xs.len() * ys.len();
        // Guarantee some of each special block type, the rest mostly built up.
        let mut kinds: Vec<u8> = (0..n).map(|_| 0).collect();
        let specials = [1u8, 1, 2, 2, 3];
        for (k, s) in specials.iter().enumerate() {
            let i = (k * 7 + self.rng.random_range(0..n)) % n;
            kinds[i] = *s;
        }
        let mut i = 0;
        for &(x0, x1) in &xs {
            for &(y0, y1) in &ys {
                let kind = kinds[i];
                i += 1;
                if x1 - x0 < 12.0 || y1 - y0 < 12.0 {
                    continue;
                }
                match kind {
                    1 => self.plaza(x0, y0, x1, y1),
                    2 => self.construction(x0, y0, x1, y1),
                    3 => self.park(x0, y0, x1, y1),
                    _ => self.built(x0, y0, x1, y1),
                }
            }
        }
        // Some main-road footways carry a vending zone.
        let wide: Vec<usize> = (0..self.d.footways.len())
            .filter(|&i| {
                let b = geom::bounds(&self.d.footways[i].ring);
                (b[2] - b[0]).min(b[3] - b[1]) > 3.5 && (b[2] - b[0]).max(b[3] - b[1]) > 40.0
            })
            .collect();
        for _ in 0..4.min(wide.len()) {
            let f = wide[self.rng.random_range(0..wide.len())];
            let b = geom::bounds(&self.d.footways[f].ring);
            let along_x = b[2] - b[0] > b[3] - b[1];
            let len = self.rng.random_range(12.0..30.0);
            let r = if along_x {
                let s = self.rng.random_range(b[0] + 5.0..b[2] - len - 5.0);
                rect(s, b[1] + 0.3, s + len, b[3] - 0.3)
            } else {
                let s = self.rng.random_range(b[1] + 5.0..b[3] - len - 5.0);
                rect(b[0] + 0.3, s, b[2] - 0.3, s + len)
            };
            self.vending_zone(r);
        }
        // Every district shows both sides of the rule: zones open and closed at the scene time.
        let minute = self.d.scene_minute;
        let open = self
            .d
            .vending_zones
            .iter()
            .filter(|z| z.is_open(minute))
            .count();
        let zones = self.d.vending_zones.len();
        for (k, z) in self.d.vending_zones.iter_mut().enumerate() {
            if open < 2 && k < 2 {
                z.hours = vec![(0, 24 * 60)];
            } else if open == zones && k + 1 == zones {
                z.hours = vec![(
                    (minute + 120) % (24 * 60),
                    ((minute + 120) % (24 * 60) + 180).min(24 * 60),
                )];
            }
        }
    }

    fn vending_zone(&mut self, ring: Vec<P2>) {
        const HOURS: [&[(u32, u32)]; 5] = [
            &[(0, 24 * 60)],
            &[(9 * 60, 18 * 60)],
            &[(6 * 60, 9 * 60)],
            &[(17 * 60, 22 * 60)],
            &[(6 * 60 + 30, 9 * 60), (17 * 60, 21 * 60 + 30)],
        ];
        let hours = HOURS[self.rng.random_range(0..HOURS.len())].to_vec();
        let id = format!("Z{:03}", self.d.vending_zones.len() + 1);
        self.d.vending_zones.push(VendingZone { id, ring, hours });
    }

    fn ground(&mut self, kind: &str, ring: Vec<P2>) {
        let id = format!("G{:04}", self.d.grounds.len() + 1);
        self.d.grounds.push(Area {
            id,
            kind: kind.into(),
            ring,
        });
    }

    fn plaza(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        self.ground("plaza", rect(x0, y0, x1, y1));
        let (w, h) = (x1 - x0, y1 - y0);
        let (zw, zh) = ((w * 0.4).clamp(10.0, 35.0), (h * 0.3).clamp(8.0, 25.0));
        let (cx, cy) = (x0 + w * 0.5, y0 + h * 0.5);
        self.vending_zone(rect(
            cx - zw / 2.0,
            cy - zh / 2.0,
            cx + zw / 2.0,
            cy + zh / 2.0,
        ));
        if self.rng.random_bool(0.5) {
            self.vending_zone(rect(
                x0 + 3.0,
                y0 + 3.0,
                x0 + 3.0 + zw * 0.6,
                y0 + 3.0 + zh * 0.6,
            ));
        }
    }

    fn park(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        self.ground("grass", rect(x0, y0, x1, y1));
        let n = ((x1 - x0) * (y1 - y0) / 250.0) as usize;
        for _ in 0..n.min(60) {
            let c = [
                self.rng.random_range(x0 + 3.0..x1 - 3.0),
                self.rng.random_range(y0 + 3.0..y1 - 3.0),
            ];
            self.try_place(ObjectKind::Tree, c, 0.0, 0.0, false, "distractor");
        }
    }

    fn construction(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        let r = rect(x0 + 1.0, y0 + 1.0, x1 - 1.0, y1 - 1.0);
        self.ground("dirt", r.clone());
        let id = format!("S{:03}", self.d.construction_sites.len() + 1);
        self.d.construction_sites.push(Region {
            id,
            name: "registered construction site".into(),
            ring: r,
        });
        // A half-finished building on site.
        let (w, h) = (x1 - x0, y1 - y0);
        if w > 40.0 && h > 40.0 {
            let bx = [x0 + w * 0.55, y0 + h * 0.5, x1 - 8.0, y1 - 8.0];
            let h = self.rng.random_range(6.0..15.0);
            self.building(rect(bx[0], bx[1], bx[2], bx[3]), h, RoofType::Concrete);
        }
    }

    fn building(&mut self, footprint: Vec<P2>, height: f64, roof: RoofType) {
        let id = format!("B{:04}", self.d.buildings.len() + 1);
        let variant = self.rng.random();
        self.d.baseline.push(Region {
            id: format!("BL{}", &id[1..]),
            name: "building".into(),
            ring: footprint.clone(),
        });
        let c = geom::centroid(&footprint);
        let b = geom::bounds(&footprint);
        self.occupied
            .push((c, ((b[2] - b[0]).hypot(b[3] - b[1])) / 2.0));
        self.d.buildings.push(Building {
            id,
            footprint,
            height,
            roof,
            variant,
        });
    }

    fn built(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        let yard = if self.rng.random_bool(0.5) {
            "grass"
        } else {
            "paving"
        };
        self.ground(yard, rect(x0, y0, x1, y1));
        let mut lots = vec![[x0, y0, x1, y1]];
        let mut done = vec![];
        while let Some(l) = lots.pop() {
            let (w, h) = (l[2] - l[0], l[3] - l[1]);
            if w.max(h) < 45.0 || (w.max(h) < 70.0 && self.rng.random_bool(0.4)) {
                done.push(l);
                continue;
            }
            let t = self.rng.random_range(0.35..0.65);
            if w > h {
                let m = l[0] + w * t;
                lots.push([l[0], l[1], m, l[3]]);
                lots.push([m, l[1], l[2], l[3]]);
            } else {
                let m = l[1] + h * t;
                lots.push([l[0], l[1], l[2], m]);
                lots.push([l[0], m, l[2], l[3]]);
            }
        }
        done.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        for l in done {
            let s = self.rng.random_range(1.5..5.0);
            let (bx0, by0, bx1, by1) = (l[0] + s, l[1] + s, l[2] - s, l[3] - s);
            if bx1 - bx0 < 8.0 || by1 - by0 < 8.0 || self.rng.random_bool(0.12) {
                continue; // an open yard
            }
            // Mostly low-rise, with the odd tower.
            let floors = if self.rng.random_bool(0.05) {
                self.rng.random_range(10..18)
            } else {
                1 + (self.rng.random::<f64>().powi(2) * 8.0) as u32
            };
            let roof = match self.rng.random_range(0..10) {
                0..=3 => RoofType::Concrete,
                4..=5 => RoofType::Gravel,
                6 => RoofType::Tile,
                7 => RoofType::Green,
                _ => RoofType::Metal,
            };
            self.building(
                rect(bx0, by0, bx1, by1),
                3.2 * f64::from(floors) + 0.6,
                roof,
            );
        }
    }

    fn lay_regions(&mut self, vs: &[Street], hs: &[Street], half: f64) {
        const NAMES: [&str; 8] = [
            "Xinhua",
            "Jiangnan",
            "Binhe",
            "Dongsheng",
            "Nanhu",
            "Qiaoxi",
            "Fengqiao",
            "Huating",
        ];
        let (cols, rows) = [(2, 2), (3, 2), (2, 3), (4, 2), (2, 4)][self.rng.random_range(0..5)];
        let cuts = |streets: &[Street], k: usize| -> Vec<f64> {
            let mut c = vec![-half];
            for i in 1..k {
                let target = -half + i as f64 * 2.0 * half / k as f64;
                let best = streets
                    .iter()
                    .map(|s| s.pos)
                    .min_by(|a, b| (a - target).abs().total_cmp(&(b - target).abs()));
                c.push(
                    best.filter(|p| *p > *c.last().unwrap() + 50.0)
                        .unwrap_or(target),
                );
            }
            c.push(half);
            c
        };
        let (cx, cy) = (cuts(vs, cols), cuts(hs, rows));
        for r in 0..rows {
            for c in 0..cols {
                let i = self.d.jurisdictions.len();
                self.d.jurisdictions.push(Region {
                    id: format!("U{:02}", i + 1),
                    name: format!("{} Subdistrict Enforcement Team", NAMES[i % NAMES.len()]),
                    ring: rect(cx[c], cy[r], cx[c + 1], cy[r + 1]),
                });
            }
        }
        let n = (2.0 * half / 100.0).ceil() as usize;
        let step = 2.0 * half / n as f64;
        for r in 0..n {
            for c in 0..n {
                let (x0, y0) = (-half + c as f64 * step, -half + r as f64 * step);
                self.d.grid_cells.push(Region {
                    id: format!("C{r:02}{c:02}"),
                    name: "grid cell".into(),
                    ring: rect(x0, y0, x0 + step, y0 + step),
                });
            }
        }
    }

    fn size_of(&mut self, kind: ObjectKind) -> (f64, f64, f64) {
        let r = &mut self.rng;
        match kind {
            ObjectKind::Stall => (
                r.random_range(2.0..3.0),
                r.random_range(1.5..2.0),
                r.random_range(2.0..2.5),
            ),
            ObjectKind::Cart => (
                r.random_range(1.5..2.0),
                r.random_range(0.9..1.2),
                r.random_range(1.1..1.5),
            ),
            ObjectKind::Goods => (
                r.random_range(2.2..4.0),
                r.random_range(1.6..2.5),
                r.random_range(0.2..0.4),
            ),
            ObjectKind::Spoil => (
                r.random_range(3.5..7.0),
                r.random_range(3.0..6.0),
                r.random_range(1.0..2.5),
            ),
            ObjectKind::Rubble => (
                r.random_range(2.5..5.0),
                r.random_range(2.0..4.0),
                r.random_range(0.6..1.5),
            ),
            ObjectKind::Bags => (
                r.random_range(1.6..3.0),
                r.random_range(1.3..2.5),
                r.random_range(0.5..0.8),
            ),
            ObjectKind::Shed => (
                r.random_range(3.5..8.0),
                r.random_range(3.0..6.0),
                r.random_range(2.4..3.2),
            ),
            ObjectKind::Car => (
                r.random_range(4.2..4.9),
                r.random_range(1.75..1.9),
                r.random_range(1.4..1.6),
            ),
            ObjectKind::Truck => (
                r.random_range(7.0..10.0),
                r.random_range(2.4..2.6),
                r.random_range(3.0..3.6),
            ),
            ObjectKind::Person => (0.5, 0.4, r.random_range(1.6..1.85)),
            ObjectKind::Umbrella => {
                let d = r.random_range(2.4..3.2);
                (d, d, 2.3)
            }
            ObjectKind::Tree => {
                let d = r.random_range(4.0..8.0);
                (d, d, r.random_range(5.0..10.0))
            }
        }
    }

    /// Places an object if its footprint is free; returns whether it was placed.
    fn try_place(
        &mut self,
        kind: ObjectKind,
        c: P2,
        yaw: f64,
        elev: f64,
        violation: bool,
        rule: &str,
    ) -> bool {
        let (length, width, height) = self.size_of(kind);
        let radius = length.hypot(width) / 2.0;
        // Rooftop objects only collide with other rooftop objects.
        let clear = self
            .occupied
            .iter()
            .all(|&(o, r)| (o[0] - c[0]).hypot(o[1] - c[1]) > r + radius + 0.3);
        let rooftop = elev > 0.0;
        if !rooftop && !clear {
            return false;
        }
        if rooftop
            && self.d.objects.iter().any(|o| {
                o.elev > 0.0 && (o.center[0] - c[0]).hypot(o.center[1] - c[1]) < radius + 4.0
            })
        {
            return false;
        }
        if !rooftop {
            self.occupied.push((c, radius));
        }
        let id = match (kind.det_class(), violation) {
            (Some(_), true) => self.id(1, "V"),
            (Some(_), false) => self.id(2, "N"),
            (None, _) => {
                self.next[2] += 1;
                format!("D{:05}", self.next[2])
            }
        };
        let variant = self.rng.random();
        self.d.objects.push(Object {
            id,
            kind,
            violation,
            rule: rule.into(),
            center: c,
            yaw,
            length,
            width,
            height,
            elev,
            variant,
        });
        true
    }

    fn random_in(&mut self, ring: &[P2], margin: f64) -> P2 {
        let b = geom::bounds(ring);
        [
            self.rng
                .random_range(b[0] + margin..(b[2] - margin).max(b[0] + margin + 1e-6)),
            self.rng
                .random_range(b[1] + margin..(b[3] - margin).max(b[1] + margin + 1e-6)),
        ]
    }

    fn in_any_zone(&self, p: P2) -> bool {
        self.d
            .vending_zones
            .iter()
            .any(|z| geom::contains(&z.ring, p))
    }

    fn in_site(&self, p: P2) -> bool {
        self.d
            .construction_sites
            .iter()
            .any(|s| geom::contains(&s.ring, p))
    }

    /// A point in a kerb lane, with the lane's heading: `(point, yaw, lane id)`.
    fn kerb_spot(&mut self, lateral: f64) -> (P2, f64, String) {
        let l = &self.d.lanes[self.kerb_lanes[self.rng.random_range(0..self.kerb_lanes.len())]];
        let (dx, dy) = (l.end[0] - l.start[0], l.end[1] - l.start[1]);
        let len = dx.hypot(dy);
        let t = self.rng.random_range(8.0 / len..1.0 - 8.0 / len);
        let (ux, uy) = (dx / len, dy / len);
        // Right of the direction of travel is (uy, −ux).
        let off = lateral * l.width;
        let p = [
            l.start[0] + dx * t + uy * off,
            l.start[1] + dy * t - ux * off,
        ];
        (p, dx.atan2(dy), l.id.clone())
    }

    fn place_objects(&mut self) {
        let minute = self.d.scene_minute;
        let hm = format!("{:02}:{:02}", minute / 60, minute % 60);
        let stall_kinds = [
            ObjectKind::Stall,
            ObjectKind::Stall,
            ObjectKind::Cart,
            ObjectKind::Goods,
        ];
        let waste_kinds = [ObjectKind::Spoil, ObjectKind::Rubble, ObjectKind::Bags];
        let mut tries = 0;
        // Legal look-alikes first, so violations never crowd them out: stalls in open zones…
        let zones = self.d.vending_zones.clone();
        for z in &zones {
            let n = if z.is_open(minute) {
                self.rng.random_range(2..4)
            } else {
                0
            };
            for _ in 0..n {
                let k = stall_kinds[self.rng.random_range(0..4)];
                let c = self.random_in(&z.ring, 1.5);
                let yaw = self.rng.random_range(0.0..std::f64::consts::PI);
                self.try_place(
                    k,
                    c,
                    yaw,
                    0.0,
                    false,
                    &format!("vending_zone {} open {} at {hm}", z.id, z.hours_text()),
                );
            }
        }
        // …material inside construction sites…
        let sites = self.d.construction_sites.clone();
        for s in &sites {
            for _ in 0..self.rng.random_range(3..6) {
                let k = waste_kinds[self.rng.random_range(0..2)];
                let c = self.random_in(&s.ring, 5.0);
                let yaw = self.rng.random_range(0.0..std::f64::consts::PI);
                self.try_place(
                    k,
                    c,
                    yaw,
                    0.0,
                    false,
                    &format!("construction_site {}", s.id),
                );
            }
            for _ in 0..2 {
                let c = self.random_in(&s.ring, 6.0);
                let yaw = self.rng.random_range(0.0..6.3);
                self.try_place(ObjectKind::Truck, c, yaw, 0.0, false, "distractor");
            }
        }
        // …and sheds that the baseline survey recorded.
        let mut legal_sheds = 0;
        while legal_sheds < 5 && tries < 500 {
            tries += 1;
            if let Some((c, yaw, elev)) = self.shed_spot()
                && self.try_place(ObjectKind::Shed, c, yaw, elev, false, "")
            {
                let o = self.d.objects.last_mut().expect("just placed");
                let ring = geom::oriented_rect(o.center, o.length, o.width, o.yaw);
                let id = format!("BS{:03}", legal_sheds + 1);
                o.rule = format!("baseline_structure {id}");
                self.d.baseline.push(Region {
                    id,
                    name: "shed".into(),
                    ring,
                });
                legal_sheds += 1;
            }
        }
        // Violations: stalls in kerb lanes, on footways outside zones, or in closed zones.
        let (mut stalls, mut waste, mut sheds) = (0, 0, 0);
        tries = 0;
        while stalls < 12 && tries < 2000 {
            tries += 1;
            let k = stall_kinds[self.rng.random_range(0..4)];
            let placed = match self.rng.random_range(0..3) {
                0 => {
                    let lateral = self.rng.random_range(-0.15..0.15);
                    let (c, yaw, lane) = self.kerb_spot(lateral);
                    !self.in_any_zone(c)
                        && self.try_place(k, c, yaw, 0.0, true, &format!("lane {lane}"))
                }
                1 => {
                    let f = self.rng.random_range(0..self.d.footways.len());
                    let ring = self.d.footways[f].ring.clone();
                    let c = self.random_in(&ring, 1.2);
                    let id = self.d.footways[f].id.clone();
                    geom::contains(&ring, c) && !self.in_any_zone(c) && {
                        let yaw = self.rng.random_range(0.0..3.2);
                        self.try_place(k, c, yaw, 0.0, true, &format!("footway {id}"))
                    }
                }
                _ => {
                    let closed: Vec<&VendingZone> =
                        zones.iter().filter(|z| !z.is_open(minute)).collect();
                    if closed.is_empty() {
                        false
                    } else {
                        let z = closed[self.rng.random_range(0..closed.len())].clone();
                        let c = self.random_in(&z.ring, 1.5);
                        let yaw = self.rng.random_range(0.0..3.2);
                        self.try_place(
                            k,
                            c,
                            yaw,
                            0.0,
                            true,
                            &format!(
                                "vending_zone {} closed at {hm} (open {})",
                                z.id,
                                z.hours_text()
                            ),
                        )
                    }
                }
            };
            stalls += usize::from(placed);
        }
        // Dumped waste: at the kerb, on footways, in yards and parks — never on a site.
        tries = 0;
        while waste < 10 && tries < 2000 {
            tries += 1;
            let k = waste_kinds[self.rng.random_range(0..3)];
            let (c, rule) = match self.rng.random_range(0..3) {
                0 => {
                    let (c, _, lane) = self.kerb_spot(0.25);
                    (c, format!("lane {lane}: outside any construction site"))
                }
                1 => {
                    let f = self.rng.random_range(0..self.d.footways.len());
                    let ring = self.d.footways[f].ring.clone();
                    (
                        self.random_in(&ring, 1.0),
                        format!(
                            "footway {}: outside any construction site",
                            self.d.footways[f].id
                        ),
                    )
                }
                _ => {
                    let g: Vec<usize> = (0..self.d.grounds.len())
                        .filter(|&i| self.d.grounds[i].kind != "dirt")
                        .collect();
                    let i = g[self.rng.random_range(0..g.len())];
                    let ring = self.d.grounds[i].ring.clone();
                    (
                        self.random_in(&ring, 4.0),
                        format!(
                            "ground {}: outside any construction site",
                            self.d.grounds[i].id
                        ),
                    )
                }
            };
            if self.in_site(c) {
                continue;
            }
            let yaw = self.rng.random_range(0.0..std::f64::consts::PI);
            waste += usize::from(self.try_place(k, c, yaw, 0.0, true, &rule));
        }
        // Sheds absent from the baseline, on roofs and in yards.
        tries = 0;
        while sheds < 8 && tries < 2000 {
            tries += 1;
            if let Some((c, yaw, elev)) = self.shed_spot() {
                sheds += usize::from(self.try_place(
                    ObjectKind::Shed,
                    c,
                    yaw,
                    elev,
                    true,
                    "absent from baseline_structure",
                ));
            }
        }
        self.place_distractors();
    }

    /// A spot for a shed: on a roof (60 %) or in a yard. `(centre, yaw, base elevation)`.
    fn shed_spot(&mut self) -> Option<(P2, f64, f64)> {
        if self.rng.random_bool(0.6) {
            let i = self.rng.random_range(0..self.d.buildings.len());
            let b = &self.d.buildings[i];
            let bb = geom::bounds(&b.footprint);
            if (bb[2] - bb[0]).min(bb[3] - bb[1]) < 14.0 {
                return None;
            }
            let (h, ring) = (b.height, b.footprint.clone());
            let c = self.random_in(&ring, 5.5);
            Some((
                c,
                self.rng.random_range(0..2) as f64 * std::f64::consts::FRAC_PI_2,
                h,
            ))
        } else {
            let g: Vec<usize> = (0..self.d.grounds.len())
                .filter(|&i| matches!(self.d.grounds[i].kind.as_str(), "grass" | "paving"))
                .collect();
            if g.is_empty() {
                return None;
            }
            let ring = self.d.grounds[g[self.rng.random_range(0..g.len())]]
                .ring
                .clone();
            let c = self.random_in(&ring, 5.0);
            let inside_building = self.d.buildings.iter().any(|b| {
                let bb = geom::bounds(&b.footprint);
                c[0] > bb[0] - 5.0 && c[0] < bb[2] + 5.0 && c[1] > bb[1] - 5.0 && c[1] < bb[3] + 5.0
            });
            (!inside_building).then(|| (c, self.rng.random_range(0.0..std::f64::consts::PI), 0.0))
        }
    }

    fn place_distractors(&mut self) {
        // Parked and moving traffic.
        for _ in 0..160 {
            let lateral = self.rng.random_range(-0.1..0.1);
            let (c, yaw, _) = self.kerb_spot(lateral);
            self.try_place(ObjectKind::Car, c, yaw, 0.0, false, "distractor");
        }
        for _ in 0..10 {
            let (c, yaw, _) = self.kerb_spot(0.0);
            self.try_place(ObjectKind::Truck, c, yaw, 0.0, false, "distractor");
        }
        let lanes = self.d.lanes.len();
        for _ in 0..60 {
            let l = self.d.lanes[self.rng.random_range(0..lanes)].clone();
            let t = self.rng.random_range(0.05..0.95);
            let c = [
                l.start[0] + (l.end[0] - l.start[0]) * t,
                l.start[1] + (l.end[1] - l.start[1]) * t,
            ];
            let yaw = (l.end[0] - l.start[0]).atan2(l.end[1] - l.start[1]);
            self.try_place(ObjectKind::Car, c, yaw, 0.0, false, "distractor");
        }
        // People, café umbrellas and street trees on footways and plazas.
        let walkable: Vec<Vec<P2>> = self
            .d
            .footways
            .iter()
            .map(|f| f.ring.clone())
            .chain(
                self.d
                    .grounds
                    .iter()
                    .filter(|g| g.kind == "plaza")
                    .map(|g| g.ring.clone()),
            )
            .collect();
        for (kind, n, margin) in [
            (ObjectKind::Person, 140, 0.4),
            (ObjectKind::Umbrella, 24, 1.6),
            (ObjectKind::Tree, 170, 1.0),
        ] {
            for _ in 0..n {
                let ring = walkable[self.rng.random_range(0..walkable.len())].clone();
                let c = self.random_in(&ring, margin);
                let yaw = self.rng.random_range(0.0..std::f64::consts::TAU);
                if geom::contains(&ring, c) {
                    self.try_place(kind, c, yaw, 0.0, false, "distractor");
                }
            }
        }
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
    use crate::district::DetClass;

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
