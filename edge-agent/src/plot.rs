//! A precision/recall plot as a PNG, drawn directly (no plotting dependency).

use std::path::Path;

use image::{Rgb, RgbImage};

const W: u32 = 640;
const H: u32 = 480;
const M: u32 = 48;
const COLOURS: [[u8; 3]; 6] = [
    [214, 39, 40],
    [31, 119, 180],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
];

fn to_px(r: f64, p: f64) -> (i64, i64) {
    let x = M as f64 + r.clamp(0.0, 1.0) * f64::from(W - 2 * M);
    let y = f64::from(H - M) - p.clamp(0.0, 1.0) * f64::from(H - 2 * M);
    (x.round() as i64, y.round() as i64)
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < W && (y as u32) < H {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

fn line(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), c: [u8; 3], thick: i64) {
    let n = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
    for i in 0..=n {
        let x = a.0 + (b.0 - a.0) * i / n;
        let y = a.1 + (b.1 - a.1) * i / n;
        for dx in -thick / 2..=thick / 2 {
            for dy in -thick / 2..=thick / 2 {
                put(img, x + dx, y + dy, c);
            }
        }
    }
}

/// Draws one curve per class (`(recall, precision)` points) with axes, a 0.1 grid and a colour key
/// (a swatch per class, in the order given; the legend is in `metrics.json`).
pub fn pr_curves(path: &Path, curves: &[(&str, &[(f64, f64)])]) -> image::ImageResult<()> {
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    for k in 0..=10 {
        let v = f64::from(k) / 10.0;
        line(&mut img, to_px(v, 0.0), to_px(v, 1.0), [230, 230, 230], 1);
        line(&mut img, to_px(0.0, v), to_px(1.0, v), [230, 230, 230], 1);
    }
    line(&mut img, to_px(0.0, 0.0), to_px(1.0, 0.0), [0, 0, 0], 2);
    line(&mut img, to_px(0.0, 0.0), to_px(0.0, 1.0), [0, 0, 0], 2);
    for (i, (_, pts)) in curves.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        for w in pts.windows(2) {
            line(&mut img, to_px(w[0].0, w[0].1), to_px(w[1].0, w[1].1), c, 3);
        }
        // Key: a swatch per class along the top.
        let x0 = i64::from(M) + 90 * i as i64;
        line(&mut img, (x0, 16), (x0 + 60, 16), c, 8);
    }
    img.save(path)
}
