//! The district's 3-D content as solids (footprint prisms and frusta) and their planar faces.

use argus_core::linalg::Vec3;

use super::Lighting;
use super::paint::{Paint, Rgb};
use crate::district::{District, Object, ObjectKind};
use crate::geom::{self, P2};

/// Owner tag of building faces: `BUILDING | building index`. Object faces carry the object index.
pub const BUILDING: u32 = 1 << 31;

/// A footprint polygon extruded from `z0` to `z1`, its top scaled about the centroid by
/// `top_scale` (1 = prism, < 1 = frustum, for piles and canopies).
#[derive(Debug, Clone)]
pub struct Solid {
    /// Counter-clockwise footprint, local metres.
    pub base: Vec<P2>,
    /// Base height.
    pub z0: f64,
    /// Top height.
    pub z1: f64,
    /// Scale of the top outline relative to the base.
    pub top_scale: f64,
    /// Paint of the top face.
    pub top: Paint,
    /// Paint of the side faces.
    pub side: Paint,
    /// Who owns it (see [`BUILDING`]).
    pub owner: u32,
    /// Height of the surface it stands on (its shadow falls there).
    pub ground: f64,
}

impl Solid {
    fn top_ring(&self) -> Vec<P2> {
        let c = geom::centroid(&self.base);
        self.base
            .iter()
            .map(|p| {
                [
                    c[0] + (p[0] - c[0]) * self.top_scale,
                    c[1] + (p[1] - c[1]) * self.top_scale,
                ]
            })
            .collect()
    }

    /// Every corner of the solid.
    pub fn corners(&self) -> impl Iterator<Item = Vec3> + '_ {
        let top = self.top_ring();
        self.base
            .iter()
            .map(|p| Vec3::new(p[0], p[1], self.z0))
            .chain(top.into_iter().map(|p| Vec3::new(p[0], p[1], self.z1)))
    }
}

/// One planar, convex face.
#[derive(Debug, Clone)]
pub struct Face {
    /// Corners, counter-clockwise seen from outside.
    pub verts: Vec<Vec3>,
    /// Outward unit normal.
    pub normal: Vec3,
    /// Plane offset: `normal · p = plane_d` on the face.
    pub plane_d: f64,
    /// How it is painted.
    pub paint: Paint,
    /// Lighting multiplier per channel.
    pub light: Rgb,
    /// Owner tag.
    pub owner: u32,
    /// Origin and unit direction of the wall's base edge (for window rows).
    pub along: (P2, P2),
}

fn rgb(r: u8, g: u8, b: u8) -> Rgb {
    [f32::from(r), f32::from(g), f32::from(b)]
}

fn pick(palette: &[Rgb], variant: u32) -> Rgb {
    palette[variant as usize % palette.len()]
}

fn darker(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// An irregular, convex-ish blob footprint (ellipse with jittered radii) for piles.
fn blob(o: &Object, n: usize) -> Vec<P2> {
    let pts: Vec<P2> = (0..n)
        .map(|i| {
            let a = std::f64::consts::TAU * i as f64 / n as f64;
            let j = 0.85 + 0.15 * f64::from(super::paint::unit(i as i32, 0, o.variant));
            let (lx, ly) = (a.cos() * o.width / 2.0 * j, a.sin() * o.length / 2.0 * j);
            let (s, c) = o.yaw.sin_cos();
            [o.center[0] + lx * c + ly * s, o.center[1] - lx * s + ly * c]
        })
        .collect();
    geom::convex_hull(&pts)
}

fn object_solids(i: usize, o: &Object, out: &mut Vec<Solid>) {
    let owner = i as u32;
    let rect = |l: f64, w: f64| geom::oriented_rect(o.center, l, w, o.yaw);
    let z0 = o.elev;
    let v = o.variant;
    let mut push = |base: Vec<P2>, lo: f64, hi: f64, top_scale: f64, top: Paint, side: Paint| {
        out.push(Solid {
            base,
            z0: z0 + lo,
            z1: z0 + hi,
            top_scale,
            top,
            side,
            owner,
            ground: z0,
        });
    };
    match o.kind {
        ObjectKind::Stall => {
            let palettes = [
                (rgb(206, 40, 36), rgb(240, 236, 230)),
                (rgb(36, 96, 190), rgb(240, 240, 236)),
                (rgb(40, 150, 70), rgb(236, 236, 228)),
                (rgb(238, 160, 30), rgb(200, 50, 40)),
            ];
            let (a, b) = palettes[v as usize % palettes.len()];
            let yaw = o.yaw as f32;
            push(
                rect(o.length, o.width),
                0.0,
                o.height,
                0.92,
                Paint::Stripes {
                    a,
                    b,
                    period: 0.6,
                    yaw,
                },
                Paint::Flat(darker(a, 0.8)),
            );
        }
        ObjectKind::Cart | ObjectKind::Person => {
            // One-colour boxes: carts in painted sheet metal, people in their clothes.
            let (palette, top_scale): (&[Rgb], f64) = if o.kind == ObjectKind::Cart {
                (
                    &[
                        rgb(230, 230, 225),
                        rgb(60, 120, 200),
                        rgb(220, 90, 40),
                        rgb(250, 200, 40),
                    ],
                    1.0,
                )
            } else {
                (
                    &[
                        rgb(40, 40, 50),
                        rgb(200, 60, 60),
                        rgb(60, 90, 160),
                        rgb(230, 230, 220),
                        rgb(90, 80, 60),
                    ],
                    0.8,
                )
            };
            let c = pick(palette, v);
            push(
                rect(o.length, o.width),
                0.0,
                o.height,
                top_scale,
                Paint::Flat(c),
                Paint::Flat(darker(c, 0.7)),
            );
        }
        ObjectKind::Goods => {
            let seed = v;
            let a = pick(
                &[
                    rgb(220, 60, 60),
                    rgb(60, 170, 220),
                    rgb(240, 210, 60),
                    rgb(160, 90, 200),
                ],
                v,
            );
            let b = pick(
                &[rgb(250, 250, 240), rgb(40, 140, 60), rgb(230, 120, 40)],
                v / 7,
            );
            push(
                rect(o.length, o.width),
                0.0,
                o.height,
                1.0,
                Paint::Blobs {
                    a,
                    b,
                    grain: 0.35,
                    seed,
                },
                Paint::Flat(darker(a, 0.6)),
            );
        }
        ObjectKind::Spoil | ObjectKind::Rubble => {
            let (base, amp, ts) = if o.kind == ObjectKind::Spoil {
                (
                    pick(&[rgb(150, 112, 70), rgb(170, 140, 90), rgb(120, 90, 60)], v),
                    0.25,
                    0.25,
                )
            } else {
                (
                    pick(
                        &[rgb(150, 146, 140), rgb(130, 120, 112), rgb(170, 160, 150)],
                        v,
                    ),
                    0.45,
                    0.35,
                )
            };
            let paint = Paint::Speckle {
                base,
                amp,
                grain: 0.12,
            };
            push(blob(o, 11), 0.0, o.height, ts, paint, paint);
        }
        ObjectKind::Bags => {
            let (a, b) = (
                pick(&[rgb(30, 30, 34), rgb(40, 60, 130), rgb(30, 30, 34)], v),
                pick(&[rgb(225, 225, 220), rgb(60, 60, 64)], v / 3),
            );
            let paint = Paint::Blobs {
                a,
                b,
                grain: 0.3,
                seed: v,
            };
            push(
                blob(o, 10),
                0.0,
                o.height,
                0.55,
                paint,
                Paint::Flat(darker(a, 0.9)),
            );
        }
        ObjectKind::Shed => {
            let (a, b) = if v.is_multiple_of(4) {
                (rgb(150, 172, 196), rgb(120, 140, 166))
            } else {
                (rgb(46, 98, 190), rgb(34, 78, 160))
            };
            let yaw = (o.yaw + std::f64::consts::FRAC_PI_2) as f32;
            push(
                rect(o.length, o.width),
                0.0,
                o.height,
                1.0,
                Paint::Stripes {
                    a,
                    b,
                    period: 0.35,
                    yaw,
                },
                Paint::Flat(darker(a, 0.85)),
            );
        }
        ObjectKind::Car | ObjectKind::Truck => {
            let body = pick(
                &[
                    rgb(235, 235, 232),
                    rgb(30, 30, 34),
                    rgb(160, 164, 170),
                    rgb(170, 30, 30),
                    rgb(40, 70, 140),
                    rgb(200, 200, 196),
                ],
                v,
            );
            let glass = rgb(40, 48, 58);
            if o.kind == ObjectKind::Car {
                push(
                    rect(o.length, o.width),
                    0.0,
                    o.height * 0.55,
                    1.0,
                    Paint::Flat(body),
                    Paint::Flat(darker(body, 0.75)),
                );
                push(
                    rect(o.length * 0.5, o.width * 0.88),
                    0.0,
                    o.height,
                    0.9,
                    Paint::Flat(glass),
                    Paint::Flat(glass),
                );
            } else {
                let cargo = pick(
                    &[rgb(200, 200, 196), rgb(60, 110, 60), rgb(190, 150, 60)],
                    v / 5,
                );
                let (s, c) = o.yaw.sin_cos();
                let shift = |d: f64| [o.center[0] + s * d, o.center[1] + c * d];
                push(
                    geom::oriented_rect(shift(o.length * 0.38), o.length * 0.22, o.width, o.yaw),
                    0.0,
                    o.height * 0.8,
                    1.0,
                    Paint::Flat(body),
                    Paint::Flat(darker(body, 0.8)),
                );
                push(
                    geom::oriented_rect(shift(-o.length * 0.12), o.length * 0.74, o.width, o.yaw),
                    0.0,
                    o.height,
                    1.0,
                    Paint::Flat(cargo),
                    Paint::Flat(darker(cargo, 0.8)),
                );
            }
        }
        ObjectKind::Umbrella => {
            let c = pick(
                &[
                    rgb(240, 240, 236),
                    rgb(40, 120, 70),
                    rgb(200, 40, 40),
                    rgb(230, 200, 60),
                ],
                v,
            );
            push(
                geom::ngon(o.center, 0.05, 4, 0.0),
                0.0,
                2.0,
                1.0,
                Paint::Flat(rgb(80, 80, 80)),
                Paint::Flat(rgb(80, 80, 80)),
            );
            push(
                geom::ngon(o.center, o.length / 2.0, 8, o.yaw),
                2.0,
                2.35,
                0.25,
                Paint::Flat(c),
                Paint::Flat(darker(c, 0.85)),
            );
        }
        ObjectKind::Tree => {
            let green = pick(&[rgb(52, 96, 40), rgb(64, 110, 46), rgb(44, 84, 38)], v);
            push(
                geom::ngon(o.center, 0.2, 5, 0.0),
                0.0,
                2.5,
                1.0,
                Paint::Flat(rgb(90, 70, 50)),
                Paint::Flat(rgb(90, 70, 50)),
            );
            let paint = Paint::Speckle {
                base: green,
                amp: 0.35,
                grain: 0.4,
            };
            push(
                geom::ngon(o.center, o.length / 2.0, 9, o.yaw),
                2.5,
                o.height,
                0.55,
                paint,
                paint,
            );
        }
    }
}

/// Every solid of the district: buildings, then objects.
pub fn solids(d: &District) -> Vec<Solid> {
    let mut out = Vec::with_capacity(d.buildings.len() + d.objects.len() * 2);
    for (i, b) in d.buildings.iter().enumerate() {
        let wall = pick(
            &[
                [196.0, 190.0, 180.0],
                [170.0, 160.0, 150.0],
                [210.0, 206.0, 196.0],
                [150.0, 140.0, 130.0],
                [186.0, 170.0, 150.0],
            ],
            b.variant,
        );
        let mut base = b.footprint.clone();
        if geom::signed_area(&base) < 0.0 {
            base.reverse();
        }
        out.push(Solid {
            base,
            z0: 0.0,
            z1: b.height,
            top_scale: 1.0,
            top: Paint::Texture,
            side: Paint::Windows {
                wall,
                glass: [70.0, 84.0, 100.0],
            },
            owner: BUILDING | i as u32,
            ground: 0.0,
        });
    }
    for (i, o) in d.objects.iter().enumerate() {
        object_solids(i, o, &mut out);
    }
    out
}

/// The faces of solids, lit. Bottoms are left out: the camera is always above them.
pub fn faces(solids: &[Solid], light: &Lighting) -> Vec<Face> {
    let mut out = Vec::with_capacity(solids.len() * 6);
    for s in solids {
        let top = s.top_ring();
        let n = s.base.len();
        let up = Vec3::new(0.0, 0.0, 1.0);
        let top_verts: Vec<Vec3> = top.iter().map(|p| Vec3::new(p[0], p[1], s.z1)).collect();
        out.push(Face {
            plane_d: s.z1,
            verts: top_verts,
            normal: up,
            paint: s.top,
            light: light.face_light(up),
            owner: s.owner,
            along: ([0.0, 0.0], [1.0, 0.0]),
        });
        for i in 0..n {
            let j = (i + 1) % n;
            let (a, b) = (s.base[i], s.base[j]);
            let (ta, tb) = (top[i], top[j]);
            let verts = vec![
                Vec3::new(a[0], a[1], s.z0),
                Vec3::new(b[0], b[1], s.z0),
                Vec3::new(tb[0], tb[1], s.z1),
                Vec3::new(ta[0], ta[1], s.z1),
            ];
            let normal = (verts[1] - verts[0])
                .cross(verts[3] - verts[0])
                .normalized();
            if !normal.x.is_finite() {
                continue;
            }
            let len = (b[0] - a[0]).hypot(b[1] - a[1]).max(1e-9);
            out.push(Face {
                plane_d: normal.dot(verts[0]),
                verts,
                normal,
                paint: s.side,
                light: light.face_light(normal),
                owner: s.owner,
                along: (a, [(b[0] - a[0]) / len, (b[1] - a[1]) / len]),
            });
        }
    }
    out
}

/// Shadow outlines on the plane each solid stands on: `(ring, falls on a roof)`.
pub fn shadows(solids: &[Solid], light: &Lighting) -> Vec<(Vec<P2>, bool)> {
    let s = light.sun_dir();
    let (kx, ky) = (s.x / s.z, s.y / s.z);
    solids
        .iter()
        .map(|sol| {
            let (h0, h1) = (sol.z0 - sol.ground, sol.z1 - sol.ground);
            let mut pts: Vec<P2> = sol
                .base
                .iter()
                .map(|p| [p[0] - h0 * kx, p[1] - h0 * ky])
                .collect();
            pts.extend(
                sol.top_ring()
                    .iter()
                    .map(|p| [p[0] - h1 * kx, p[1] - h1 * ky]),
            );
            (geom::convex_hull(&pts), sol.ground > 0.01)
        })
        .collect()
}
