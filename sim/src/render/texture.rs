//! The ground texture: the district's surfaces (roads, markings, footways, yards, roofs) painted
//! into a raster in the street-grid frame, then lit for a time of day with shadows cast.
//!
//! Texels are stored in 8×8 tiles so that the rotated, perspective access of a camera stays in
//! cache. The top byte of a texel flags roofs, so ground shadows skip them.

use rayon::prelude::*;

use super::paint::{Rgb, fract01, pack, scale, unit, unpack, value_noise};
use crate::district::{District, RoofType};
use crate::geom::{self, P2};

/// Texel flag: part of a roof.
pub const ROOF: u8 = 1;

/// A square raster over the district, in its street-grid frame.
#[derive(Debug, Clone)]
pub struct GroundTexture {
    /// Metres per texel.
    pub res: f64,
    /// Texels per side (a multiple of 8).
    pub size: usize,
    half: f64,
    cos: f64,
    sin: f64,
    texels: Vec<u32>,
}

/// Fills the texels of a polygon (in texel coordinates) within rows `[row0, row0 + 8)`, calling
/// `paint(grid_x, grid_y)` with the texel centre in grid-frame metres.
fn fill_rows(
    tex: &GroundTexture,
    block: &mut [u32],
    row0: usize,
    ring: &[P2],
    mut paint: impl FnMut(f64, f64, u32) -> Option<u32>,
) {
    let b = geom::bounds(ring);
    let (r0, r1) = (
        (b[1] - 0.5).ceil().max(row0 as f64) as usize,
        ((b[3] - 0.5).floor() as isize + 1).min(row0 as isize + 8),
    );
    let mut xs: Vec<f64> = Vec::with_capacity(8);
    for ty in r0..r1.max(r0 as isize) as usize {
        let y = ty as f64 + 0.5;
        xs.clear();
        let n = ring.len();
        for i in 0..n {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            if (p[1] > y) != (q[1] > y) {
                xs.push(p[0] + (y - p[1]) * (q[0] - p[0]) / (q[1] - p[1]));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks(2) {
            if pair.len() < 2 {
                break;
            }
            let x0 = (pair[0] - 0.5).ceil().max(0.0) as usize;
            let x1 = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(tex.size);
            for tx in x0..x1 {
                let (gx, gy) = tex.texel_to_grid(tx, ty);
                let i = tex.local_index(tx, ty - row0);
                if let Some(c) = paint(gx, gy, block[i]) {
                    block[i] = c;
                }
            }
        }
    }
}

fn tint(c: Rgb, variant: u32) -> Rgb {
    let k = 0.9 + 0.2 * ((variant % 97) as f32 / 96.0);
    scale(c, k)
}

fn tiles(gx: f64, gy: f64, size: f64, base: Rgb, grout: Rgb, seed: u32) -> Rgb {
    let (u, v) = (fract01(gx / size), fract01(gy / size));
    if u < 0.06 || v < 0.06 {
        return grout;
    }
    let k = 0.92 + 0.16 * unit((gx / size).floor() as i32, (gy / size).floor() as i32, seed);
    scale(base, k)
}

/// Surface colour of a ground kind at grid point `(gx, gy)`.
fn surface(kind: &str, gx: f64, gy: f64) -> Rgb {
    let fine = unit((gx * 8.0).floor() as i32, (gy * 8.0).floor() as i32, 7) - 0.5;
    let low = value_noise(gx / 6.0, gy / 6.0, 11) - 0.5;
    match kind {
        "carriageway" | "junction" => scale([74.0, 74.0, 78.0], 1.0 + 0.12 * fine + 0.15 * low),
        "footway" => tiles(gx, gy, 0.5, [168.0, 160.0, 152.0], [120.0, 116.0, 110.0], 3),
        "plaza" => tiles(gx, gy, 1.0, [188.0, 176.0, 160.0], [140.0, 132.0, 120.0], 5),
        "paving" => tiles(gx, gy, 0.6, [150.0, 148.0, 142.0], [110.0, 108.0, 104.0], 9),
        "dirt" => scale([146.0, 116.0, 80.0], 1.0 + 0.25 * low + 0.15 * fine),
        _ => scale([78.0, 112.0, 54.0], 1.0 + 0.3 * low + 0.2 * fine), // grass and anything else
    }
}

fn roof(kind: RoofType, variant: u32, gx: f64, gy: f64, edge: f64) -> Rgb {
    let fine = unit((gx * 8.0).floor() as i32, (gy * 8.0).floor() as i32, 13) - 0.5;
    let low = value_noise(gx / 4.0, gy / 4.0, 17) - 0.5;
    if edge < 0.5 {
        return tint([205.0, 200.0, 192.0], variant); // parapet
    }
    let c = match kind {
        RoofType::Concrete => scale([182.0, 180.0, 174.0], 1.0 + 0.1 * fine + 0.12 * low),
        RoofType::Gravel => scale([150.0, 140.0, 126.0], 1.0 + 0.35 * fine),
        RoofType::Tile => {
            if fract01(gy / 0.3) < 0.2 {
                [120.0, 58.0, 44.0]
            } else {
                scale([170.0, 84.0, 62.0], 1.0 + 0.1 * fine)
            }
        }
        RoofType::Green => scale([84.0, 124.0, 62.0], 1.0 + 0.3 * low + 0.2 * fine),
        RoofType::Metal => {
            if fract01(gx / 0.25) < 0.15 {
                [140.0, 146.0, 152.0]
            } else {
                [178.0, 184.0, 190.0]
            }
        }
    };
    tint(c, variant)
}

/// Distance from a point inside an axis-aligned ring's bounds to the nearest edge.
fn edge_distance(b: &[f64; 4], gx: f64, gy: f64) -> f64 {
    (gx - b[0]).min(b[2] - gx).min(gy - b[1]).min(b[3] - gy)
}

impl GroundTexture {
    /// Paints the district at `res` metres per texel.
    pub fn build(d: &District, res: f64) -> Self {
        let half = d.size_m / 2.0;
        let size = ((d.size_m / res).ceil() as usize).div_ceil(8) * 8;
        let a = -d.rotation_deg.to_radians();
        let mut tex = Self {
            res,
            size,
            half,
            cos: a.cos(),
            sin: a.sin(),
            texels: vec![0; size * size],
        };
        let to_grid = |ring: &[P2]| -> Vec<P2> {
            ring.iter().map(|p| tex.world_to_grid(p[0], p[1])).collect()
        };
        let to_tex = |ring: &[P2]| -> Vec<P2> {
            ring.iter()
                .map(|p| [(p[0] + half) / res, (p[1] + half) / res])
                .collect()
        };
        // Every layer as (texel ring, grid ring bounds, painter). Later layers paint over earlier.
        type Painter<'a> = Box<dyn Fn(f64, f64) -> Option<Rgb> + Sync + 'a>;
        let mut layers: Vec<(Vec<P2>, Painter, u8)> = Vec::new();
        let whole = geom::rect(-half, -half, half, half);
        layers.push((
            to_tex(&whole),
            Box::new(|gx, gy| Some(surface("grass", gx, gy))),
            0,
        ));
        for a in d.grounds.iter().chain(&d.roads).chain(&d.footways) {
            let kind = a.kind.clone();
            layers.push((
                to_tex(&to_grid(&a.ring)),
                Box::new(move |gx, gy| Some(surface(&kind, gx, gy))),
                0,
            ));
        }
        for a in d.roads.iter().filter(|r| r.kind == "junction") {
            // Zebra crossings along each side of a junction.
            let b = geom::bounds(&to_grid(&a.ring));
            layers.push((
                to_tex(&to_grid(&a.ring)),
                Box::new(move |gx, gy| {
                    let (dx, dy) = ((gx - b[0]).min(b[2] - gx), (gy - b[1]).min(b[3] - gy));
                    let (band, along) = if dx < dy { (dx, gy) } else { (dy, gx) };
                    (band > 0.5 && band < 3.5 && fract01(along / 0.6) < 0.5)
                        .then_some([226.0, 226.0, 220.0])
                }),
                0,
            ));
        }
        for l in &d.lanes {
            let (s, e) = (
                tex.world_to_grid(l.start[0], l.start[1]),
                tex.world_to_grid(l.end[0], l.end[1]),
            );
            let len = (e[0] - s[0]).hypot(e[1] - s[1]);
            let (ux, uy) = ((e[0] - s[0]) / len, (e[1] - s[1]) / len);
            let (w, centre, kerb) = (l.width, l.left_is_centre, l.right_is_kerb);
            layers.push((
                to_tex(&to_grid(&l.ring())),
                Box::new(move |gx, gy| {
                    let (rx, ry) = (gx - s[0], gy - s[1]);
                    let along = rx * ux + ry * uy;
                    // Lateral offset, positive to the right of travel.
                    let lat = rx * uy - ry * ux + w / 2.0;
                    let left = lat < 0.15;
                    let right = lat > w - 0.15;
                    if left && centre {
                        Some([214.0, 176.0, 40.0])
                    } else if (left && fract01(along / 9.0) < 0.4) || (right && kerb) {
                        Some([230.0, 230.0, 224.0])
                    } else {
                        None
                    }
                }),
                0,
            ));
        }
        for z in &d.vending_zones {
            let g = to_grid(&z.ring);
            let b = geom::bounds(&g);
            layers.push((
                to_tex(&g),
                Box::new(move |gx, gy| {
                    let e = edge_distance(&b, gx, gy);
                    (e < 0.15 && fract01((gx + gy) / 0.8) < 0.6).then_some([232.0, 196.0, 40.0])
                }),
                0,
            ));
        }
        for s in &d.construction_sites {
            let g = to_grid(&s.ring);
            let b = geom::bounds(&g);
            layers.push((
                to_tex(&g),
                Box::new(move |gx, gy| {
                    (edge_distance(&b, gx, gy) < 0.3).then_some([44.0, 96.0, 168.0])
                }),
                0,
            ));
        }
        for bld in &d.buildings {
            let g = to_grid(&bld.footprint);
            let b = geom::bounds(&g);
            let (kind, variant) = (bld.roof, bld.variant);
            layers.push((
                to_tex(&g),
                Box::new(move |gx, gy| {
                    Some(roof(kind, variant, gx, gy, edge_distance(&b, gx, gy)))
                }),
                ROOF,
            ));
        }
        let layer_bounds: Vec<[f64; 4]> = layers.iter().map(|l| geom::bounds(&l.0)).collect();
        let block_row = tex.size * 8;
        let mut texels = std::mem::take(&mut tex.texels);
        texels
            .par_chunks_mut(block_row)
            .enumerate()
            .for_each(|(br, block)| {
                let row0 = br * 8;
                for ((ring, painter, flag), b) in layers.iter().zip(&layer_bounds) {
                    if b[3] < row0 as f64 || b[1] > (row0 + 8) as f64 {
                        continue;
                    }
                    fill_rows(&tex, block, row0, ring, |gx, gy, _| {
                        painter(gx, gy).map(|c| pack(c, *flag))
                    });
                }
            });
        tex.texels = texels;
        tex
    }

    #[inline]
    fn local_index(&self, tx: usize, local_ty: usize) -> usize {
        (((tx >> 3) << 6) | (local_ty << 3)) | (tx & 7)
    }

    #[inline]
    fn index(&self, tx: usize, ty: usize) -> usize {
        (ty >> 3) * self.size * 8 + self.local_index(tx, ty & 7)
    }

    fn texel_to_grid(&self, tx: usize, ty: usize) -> (f64, f64) {
        (
            (tx as f64 + 0.5) * self.res - self.half,
            (ty as f64 + 0.5) * self.res - self.half,
        )
    }

    /// World (local east/north) to the street-grid frame.
    pub fn world_to_grid(&self, x: f64, y: f64) -> P2 {
        [self.cos * x - self.sin * y, self.sin * x + self.cos * y]
    }

    /// The affine map world → continuous texel coordinates: `tx = a·x + b·y + c`,
    /// `ty = d·x + e·y + f`, returned as `[a, b, c, d, e, f]`.
    pub fn affine(&self) -> [f64; 6] {
        let k = 1.0 / self.res;
        [
            self.cos * k,
            -self.sin * k,
            self.half * k,
            self.sin * k,
            self.cos * k,
            self.half * k,
        ]
    }

    /// The texel at continuous texel coordinates, or `None` outside the district.
    #[inline]
    pub fn at(&self, tx: f32, ty: f32) -> Option<u32> {
        if tx < 0.0 || ty < 0.0 {
            return None;
        }
        let (x, y) = (tx as usize, ty as usize);
        (x < self.size && y < self.size).then(|| self.texels[self.index(x, y)])
    }

    /// The texel under a world point, or `None` outside the district.
    pub fn sample(&self, x: f64, y: f64) -> Option<u32> {
        let a = self.affine();
        self.at(
            (a[0] * x + a[1] * y + a[2]) as f32,
            (a[3] * x + a[4] * y + a[5]) as f32,
        )
    }

    /// A copy lit by `light` (direct where `shadows` do not fall, ambient where they do).
    /// Each shadow is a world polygon with whether it falls on roofs (`true`) or the ground.
    pub fn lit(&self, light: &super::Lighting, shadows: &[(Vec<P2>, bool)]) -> Self {
        let (sun, shade) = (light.sunlit(), light.shaded());
        let lit = |t: u32, k: &Rgb| {
            let c = unpack(t);
            pack([c[0] * k[0], c[1] * k[1], c[2] * k[2]], (t >> 24) as u8)
        };
        let mut out = self.clone();
        out.texels
            .par_iter_mut()
            .zip(&self.texels)
            .for_each(|(o, &t)| *o = lit(t, &sun));
        let half = self.half;
        let rings: Vec<(Vec<P2>, [f64; 4], bool)> = shadows
            .iter()
            .map(|(r, on_roof)| {
                let t: Vec<P2> = r
                    .iter()
                    .map(|p| {
                        let g = self.world_to_grid(p[0], p[1]);
                        [(g[0] + half) / self.res, (g[1] + half) / self.res]
                    })
                    .collect();
                let b = geom::bounds(&t);
                (t, b, *on_roof)
            })
            .collect();
        let block_row = self.size * 8;
        out.texels
            .par_chunks_mut(block_row)
            .enumerate()
            .for_each(|(br, block)| {
                let row0 = br * 8;
                for (ring, b, on_roof) in &rings {
                    if b[3] < row0 as f64 || b[1] > (row0 + 8) as f64 {
                        continue;
                    }
                    fill_rows(self, block, row0, ring, |_, _, cur| {
                        let is_roof = (cur >> 24) as u8 & ROOF != 0;
                        (is_roof == *on_roof)
                            .then(|| {
                                // Recompute from the albedo so overlapping shadows darken once.
                                let c = unpack(cur);
                                pack(
                                    [
                                        c[0] * shade[0] / sun[0],
                                        c[1] * shade[1] / sun[1],
                                        c[2] * shade[2] / sun[2],
                                    ],
                                    (cur >> 24) as u8 | 0x80,
                                )
                            })
                            .filter(|_| cur >> 31 == 0)
                    });
                }
            });
        out
    }
}
