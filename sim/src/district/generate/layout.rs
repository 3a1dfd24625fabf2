//! The district's ground: streets and their lanes, blocks with buildings, plazas, parks,
//! construction sites, vending zones, jurisdictions and grid cells.

use super::Builder;
use crate::district::{Area, Building, Lane, ObjectKind, Region, RoofType, VendingZone};
use crate::geom::{self, P2, rect};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
pub(super) struct Street {
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

pub(super) fn streets(rng: &mut ChaCha8Rng, half: f64) -> Vec<Street> {
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

impl Builder {
    pub(super) fn lay_streets(&mut self, vs: &[Street], hs: &[Street], half: f64) {
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

    pub(super) fn lay_blocks(&mut self, vs: &[Street], hs: &[Street], half: f64) {
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

    pub(super) fn vending_zone(&mut self, ring: Vec<P2>) {
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

    pub(super) fn ground(&mut self, kind: &str, ring: Vec<P2>) {
        let id = format!("G{:04}", self.d.grounds.len() + 1);
        self.d.grounds.push(Area {
            id,
            kind: kind.into(),
            ring,
        });
    }

    pub(super) fn plaza(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
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

    pub(super) fn park(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
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

    pub(super) fn construction(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
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

    pub(super) fn building(&mut self, footprint: Vec<P2>, height: f64, roof: RoofType) {
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

    pub(super) fn built(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
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

    pub(super) fn lay_regions(&mut self, vs: &[Street], hs: &[Street], half: f64) {
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
}
