//! Projection, banded rasterisation and the final shading pass.

use argus_core::camera::{Camera, Intrinsics};
use argus_core::linalg::Vec3;
use rayon::prelude::*;

use super::Scene;
use super::paint::{Paint, hash, unpack, value_noise};
use super::solids::BUILDING;

/// Rows per parallel band.
const BAND: usize = 16;
const NONE: u32 = u32::MAX;
/// Near clipping distance along the optical axis, metres.
const NEAR: f64 = 0.05;
/// Depth at which haze reaches its full strength, metres.
const HAZE_FULL_M: f32 = 2500.0;

/// What one rendered frame shows of one object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectView {
    /// Index of the object in the district.
    pub object: usize,
    /// Bounding box of its projected solids, clipped to the image: `[x0, y0, x1, y1]` pixels.
    pub bbox: [f64; 4],
    /// Pixels its camera-facing faces cover, occluded or not.
    pub fragments: u32,
    /// Pixels where it is what the camera sees.
    pub visible: u32,
}

impl ObjectView {
    /// The share of the object that is not hidden behind something else.
    pub fn visible_fraction(&self) -> f64 {
        if self.fragments == 0 {
            0.0
        } else {
            f64::from(self.visible) / f64::from(self.fragments)
        }
    }
}

/// Normalised ray coordinates `(x, y)` of a pixel (camera frame, z = 1).
trait Rays: Sync {
    fn xy(&self, i: usize, j: usize) -> (f32, f32);
}

struct Pinhole {
    fx_inv: f32,
    fy_inv: f32,
    cx: f32,
    cy: f32,
}

impl Rays for Pinhole {
    #[inline(always)]
    fn xy(&self, i: usize, j: usize) -> (f32, f32) {
        (
            (i as f32 + 0.5 - self.cx) * self.fx_inv,
            (j as f32 + 0.5 - self.cy) * self.fy_inv,
        )
    }
}

struct Lut<'a> {
    xy: &'a [[f32; 2]],
    width: usize,
}

impl Rays for Lut<'_> {
    #[inline(always)]
    fn xy(&self, i: usize, j: usize) -> (f32, f32) {
        let p = self.xy[j * self.width + i];
        (p[0], p[1])
    }
}

struct ProjFace {
    pts: Vec<[f32; 2]>,
    y0: usize,
    y1: usize,
    k: [f32; 3],
    num: f32,
    face: u32,
    owner: u32,
}

/// Renders frames of one size; keeps its buffers between frames.
#[derive(Debug)]
pub struct Renderer {
    intr: Intrinsics,
    lut: Option<Vec<[f32; 2]>>,
    depth: Vec<f32>,
    face: Vec<u32>,
    ids: Vec<u32>,
    rgb: Vec<u8>,
}

impl Renderer {
    /// A renderer for images of these intrinsics.
    pub fn new(intr: Intrinsics) -> Self {
        let n = intr.width as usize * intr.height as usize;
        let lut = intr.is_distorted().then(|| {
            (0..n)
                .map(|p| {
                    let (i, j) = (p % intr.width as usize, p / intr.width as usize);
                    let (x, y) = intr.pixel_to_normalized(i as f64 + 0.5, j as f64 + 0.5);
                    [x as f32, y as f32]
                })
                .collect()
        });
        Self {
            intr,
            lut,
            depth: vec![0.0; n],
            face: vec![0; n],
            ids: vec![0; n],
            rgb: vec![0; n * 3],
        }
    }

    /// The intrinsics this renderer draws.
    pub fn intrinsics(&self) -> &Intrinsics {
        &self.intr
    }

    /// The last frame, packed RGB.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// What each pixel of the last frame shows: 0 ground or sky, `object index + 1` for
    /// objects, `1 << 31 | building index` for buildings.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Distortion with a monotone extension far outside the image, where the polynomial folds.
    fn to_pixel(&self, x: f64, y: f64) -> [f32; 2] {
        let i = &self.intr;
        let (mut x, mut y) = (x, y);
        if i.is_distorted() {
            let rmax2 = 2.0 * ((i.cx / i.fx).powi(2) + (i.cy / i.fy).powi(2));
            let r2 = x * x + y * y;
            if r2 > rmax2 {
                let f = 1.0 + i.k1 * rmax2 + i.k2 * rmax2 * rmax2;
                return [(i.cx + i.fx * x * f) as f32, (i.cy + i.fy * y * f) as f32];
            }
            (x, y) = i.distort(x, y);
        }
        [(i.cx + i.fx * x) as f32, (i.cy + i.fy * y) as f32]
    }

    fn project_faces(&self, scene: &Scene, cam: &Camera) -> Vec<ProjFace> {
        let rt = cam.rotation.transpose();
        let c = cam.position;
        let (w, h) = (self.intr.width as f32, self.intr.height as f32);
        let mut out = Vec::new();
        let mut cv: Vec<Vec3> = Vec::with_capacity(8);
        let mut clipped: Vec<Vec3> = Vec::with_capacity(10);
        for (fi, f) in scene.faces.iter().enumerate() {
            if f.normal.dot(c - f.verts[0]) <= 0.0 || scene.is_hidden(f.owner) {
                continue;
            }
            cv.clear();
            cv.extend(f.verts.iter().map(|v| rt.apply(*v - c)));
            if cv.iter().all(|p| p.z < NEAR) {
                continue;
            }
            clipped.clear();
            for k in 0..cv.len() {
                let (p, q) = (cv[k], cv[(k + 1) % cv.len()]);
                if p.z >= NEAR {
                    clipped.push(p);
                }
                if (p.z >= NEAR) != (q.z >= NEAR) {
                    let t = (NEAR - p.z) / (q.z - p.z);
                    clipped.push(p + (q - p) * t);
                }
            }
            if clipped.len() < 3 {
                continue;
            }
            let pts: Vec<[f32; 2]> = clipped
                .iter()
                .map(|p| self.to_pixel(p.x / p.z, p.y / p.z))
                .collect();
            let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
            for p in &pts {
                (x0, x1, y0, y1) = (x0.min(p[0]), x1.max(p[0]), y0.min(p[1]), y1.max(p[1]));
            }
            if x1 < 0.0 || y1 < 0.0 || x0 > w || y0 > h {
                continue;
            }
            let k = rt.apply(f.normal);
            out.push(ProjFace {
                pts,
                y0: (y0 - 0.5).ceil().max(0.0) as usize,
                y1: ((y1 - 0.5).ceil().max(0.0) as usize).min(self.intr.height as usize),
                k: [k.x as f32, k.y as f32, k.z as f32],
                num: (f.plane_d - f.normal.dot(c)) as f32,
                face: fi as u32,
                owner: f.owner,
            });
        }
        out
    }

    /// Renders one frame. `seed` varies the sensor noise between frames.
    pub fn render(&mut self, scene: &Scene, cam: &Camera, seed: u64) -> Vec<ObjectView> {
        assert_eq!(
            cam.intrinsics, self.intr,
            "renderer built for other intrinsics"
        );
        let proj = self.project_faces(scene, cam);
        let lut = self.lut.take();
        let counts = match &lut {
            Some(xy) => self.draw(
                scene,
                cam,
                &proj,
                seed,
                &Lut {
                    xy,
                    width: self.intr.width as usize,
                },
            ),
            None => {
                let i = &self.intr;
                let rays = Pinhole {
                    fx_inv: (1.0 / i.fx) as f32,
                    fy_inv: (1.0 / i.fy) as f32,
                    cx: i.cx as f32,
                    cy: i.cy as f32,
                };
                self.draw(scene, cam, &proj, seed, &rays)
            }
        };
        self.lut = lut;
        let (w, h) = (f64::from(self.intr.width), f64::from(self.intr.height));
        counts
            .into_iter()
            .enumerate()
            .filter(|(_, (frag, vis))| *frag > 0 || *vis > 0)
            .filter_map(|(o, (fragments, visible))| {
                let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                for p in &scene.object_corners[o] {
                    let (u, v) = cam.project(*p)?;
                    b = [b[0].min(u), b[1].min(v), b[2].max(u), b[3].max(v)];
                }
                let bbox = [b[0].max(0.0), b[1].max(0.0), b[2].min(w), b[3].min(h)];
                (bbox[2] > bbox[0] && bbox[3] > bbox[1]).then_some(ObjectView {
                    object: o,
                    bbox,
                    fragments,
                    visible,
                })
            })
            .collect()
    }

    /// Rasterises and shades; returns per-object (fragments, visible) counts.
    fn draw<R: Rays>(
        &mut self,
        scene: &Scene,
        cam: &Camera,
        proj: &[ProjFace],
        seed: u64,
        rays: &R,
    ) -> Vec<(u32, u32)> {
        let w = self.intr.width as usize;
        let n_obj = scene.object_count();
        // Pass 1: depth and face index per pixel, band by band in parallel.
        let frags: Vec<Vec<u32>> = self
            .depth
            .par_chunks_mut(BAND * w)
            .zip(self.face.par_chunks_mut(BAND * w))
            .enumerate()
            .map(|(b, (depth, face))| {
                depth.fill(f32::INFINITY);
                face.fill(NONE);
                let r0 = b * BAND;
                let r1 = r0 + depth.len() / w;
                let mut frag = vec![0u32; n_obj];
                for pf in proj.iter().filter(|pf| pf.y1 > r0 && pf.y0 < r1) {
                    for j in pf.y0.max(r0)..pf.y1.min(r1) {
                        let y = j as f32 + 0.5;
                        let (mut xl, mut xr) = (f32::MAX, f32::MIN);
                        let n = pf.pts.len();
                        for e in 0..n {
                            let (p, q) = (pf.pts[e], pf.pts[(e + 1) % n]);
                            if (p[1] <= y) != (q[1] <= y) {
                                let x = p[0] + (y - p[1]) * (q[0] - p[0]) / (q[1] - p[1]);
                                xl = xl.min(x);
                                xr = xr.max(x);
                            }
                        }
                        if xl >= xr {
                            continue;
                        }
                        let i0 = (xl - 0.5).ceil().max(0.0) as usize;
                        let i1 = ((xr - 0.5).ceil().max(0.0) as usize).min(w);
                        if i1 <= i0 {
                            continue;
                        }
                        if pf.owner & BUILDING == 0 {
                            frag[pf.owner as usize] += (i1 - i0) as u32;
                        }
                        let row = (j - r0) * w;
                        for i in i0..i1 {
                            let (x, y) = rays.xy(i, j);
                            let t = pf.num / (pf.k[0] * x + pf.k[1] * y + pf.k[2]);
                            let d = &mut depth[row + i];
                            if t > 0.0 && t < *d {
                                *d = t;
                                face[row + i] = pf.face;
                            }
                        }
                    }
                }
                frag
            })
            .collect();
        // Pass 2: shade every pixel once, add haze and noise, record ids.
        let r = cam.rotation.0.map(|row| row.map(|v| v as f32));
        let c = [
            cam.position.x as f32,
            cam.position.y as f32,
            cam.position.z as f32,
        ];
        let light = scene.lighting;
        let (haze, haze_c, noise) = (light.haze, light.haze_colour(), light.noise / 104.0);
        let tex = &scene.texture;
        let a = tex.affine().map(|v| v as f32);
        let bg_seed = scene.background_seed;
        let seed = (seed as u32) ^ ((seed >> 32) as u32).wrapping_mul(0x9e37_79b9);
        let vis: Vec<Vec<u32>> = self
            .rgb
            .par_chunks_mut(BAND * w * 3)
            .zip(self.ids.par_chunks_mut(BAND * w))
            .zip(
                self.depth
                    .par_chunks(BAND * w)
                    .zip(self.face.par_chunks(BAND * w)),
            )
            .enumerate()
            .map(|(b, ((rgb, ids), (depth, face)))| {
                let mut vis = vec![0u32; n_obj];
                let r0 = b * BAND;
                for (jr, (rgb_row, id_row)) in rgb
                    .chunks_exact_mut(w * 3)
                    .zip(ids.chunks_exact_mut(w))
                    .enumerate()
                {
                    let j = r0 + jr;
                    let (depth_row, face_row) =
                        (&depth[jr * w..(jr + 1) * w], &face[jr * w..(jr + 1) * w]);
                    for i in 0..w {
                        let (x, y) = rays.xy(i, j);
                        let d = [
                            r[0][0] * x + r[0][1] * y + r[0][2],
                            r[1][0] * x + r[1][1] * y + r[1][2],
                            r[2][0] * x + r[2][1] * y + r[2][2],
                        ];
                        // Haze grows with depth along the optical axis (close enough to distance
                        // within a camera's field of view, and free of a square root).
                        let (mut col, depth_m, id) = if face_row[i] != NONE {
                            let t = depth_row[i];
                            let f = &scene.faces[face_row[i] as usize];
                            let wp = [c[0] + d[0] * t, c[1] + d[1] * t, c[2] + d[2] * t];
                            let col = if let Paint::Texture = f.paint {
                                tex.at(
                                    a[0] * wp[0] + a[1] * wp[1] + a[2],
                                    a[3] * wp[0] + a[4] * wp[1] + a[5],
                                )
                                .map_or([128.0; 3], unpack)
                            } else {
                                let along = (f64::from(wp[0]) - f.along.0[0]) * f.along.1[0]
                                    + (f64::from(wp[1]) - f.along.0[1]) * f.along.1[1];
                                let c = f.paint.at(
                                    f64::from(wp[0]),
                                    f64::from(wp[1]),
                                    f64::from(wp[2]),
                                    along,
                                );
                                [c[0] * f.light[0], c[1] * f.light[1], c[2] * f.light[2]]
                            };
                            let id = if f.owner & BUILDING == 0 {
                                vis[f.owner as usize] += 1;
                                f.owner + 1
                            } else {
                                f.owner
                            };
                            (col, t, id)
                        } else if d[2] < -1e-6 {
                            let t = -c[2] / d[2];
                            let (wx, wy) = (c[0] + d[0] * t, c[1] + d[1] * t);
                            let col = match tex
                                .at(a[0] * wx + a[1] * wy + a[2], a[3] * wx + a[4] * wy + a[5])
                            {
                                Some(tx) => unpack(tx),
                                None => background(wx, wy, bg_seed, &light),
                            };
                            (col, t, 0)
                        } else {
                            (
                                light.sky(d[2] / (x * x + y * y + 1.0).sqrt()),
                                HAZE_FULL_M,
                                0,
                            )
                        };
                        let hz = haze * (depth_m * (1.0 / HAZE_FULL_M)).min(1.0);
                        for k in 0..3 {
                            col[k] += (haze_c[k] - col[k]) * hz;
                        }
                        let hsh = hash(i as i32, j as i32, seed);
                        let o = i * 3;
                        for k in 0..3 {
                            let tri = ((hsh >> (8 * k)) & 0xff) as f32
                                + ((hsh >> (8 * k + 8)) & 0xff) as f32
                                - 255.0;
                            rgb_row[o + k] = (col[k] + tri * noise).clamp(0.0, 255.0) as u8;
                        }
                        id_row[i] = id;
                    }
                }
                vis
            })
            .collect();
        let mut counts = vec![(0u32, 0u32); n_obj];
        for f in &frags {
            for (c, v) in counts.iter_mut().zip(f) {
                c.0 += v;
            }
        }
        for v in &vis {
            for (c, x) in counts.iter_mut().zip(v) {
                c.1 += x;
            }
        }
        counts
    }
}

/// Fields and scrub beyond the district's edge.
fn background(x: f32, y: f32, seed: u32, light: &super::Lighting) -> [f32; 3] {
    let n = value_noise(f64::from(x) / 35.0, f64::from(y) / 35.0, seed);
    let c = if n < 0.45 {
        [86.0, 116.0, 58.0]
    } else if n < 0.7 {
        [122.0, 132.0, 70.0]
    } else {
        [140.0, 118.0, 84.0]
    };
    let l = light.sunlit();
    [c[0] * l[0], c[1] * l[1], c[2] * l[2]]
}
