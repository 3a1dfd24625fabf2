//! The objects: violations where the rules make them one, look-alikes where they are legal,
//! and distractors — each where its kind stands (kerbs, roofs, yards).

use super::Builder;
use crate::district::{Object, ObjectKind, Region, VendingZone};
use crate::geom::{self, P2};
use rand::Rng;

impl Builder {
    pub(super) fn size_of(&mut self, kind: ObjectKind) -> (f64, f64, f64) {
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
    pub(super) fn try_place(
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

    pub(super) fn random_in(&mut self, ring: &[P2], margin: f64) -> P2 {
        let b = geom::bounds(ring);
        [
            self.rng
                .random_range(b[0] + margin..(b[2] - margin).max(b[0] + margin + 1e-6)),
            self.rng
                .random_range(b[1] + margin..(b[3] - margin).max(b[1] + margin + 1e-6)),
        ]
    }

    pub(super) fn in_any_zone(&self, p: P2) -> bool {
        self.d
            .vending_zones
            .iter()
            .any(|z| geom::contains(&z.ring, p))
    }

    pub(super) fn in_site(&self, p: P2) -> bool {
        self.d
            .construction_sites
            .iter()
            .any(|s| geom::contains(&s.ring, p))
    }

    /// A point in a kerb lane, with the lane's heading: `(point, yaw, lane id)`.
    pub(super) fn kerb_spot(&mut self, lateral: f64) -> (P2, f64, String) {
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

    pub(super) fn place_objects(&mut self) {
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
    pub(super) fn shed_spot(&mut self) -> Option<(P2, f64, f64)> {
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

    pub(super) fn place_distractors(&mut self) {
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
}
