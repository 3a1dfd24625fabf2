//! Evidence images: the region around a detection with context, the box drawn, as a JPEG with
//! its SHA-256.

use argus_core::hit::Evidence;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// How evidence is cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceOptions {
    /// The region is the box grown by this factor (context around it).
    pub context: f64,
    /// …but at least this many pixels on its longer side.
    pub min_side: u32,
    /// The JPEG is scaled down to at most this on its longer side.
    pub max_side: u32,
    /// JPEG quality.
    pub quality: u8,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        Self {
            context: 4.0,
            min_side: 240,
            max_side: 480,
            quality: 85,
        }
    }
}

/// A cut-out of a frame kept until its evidence is needed: raw RGB, the box within it.
#[derive(Debug, Clone, PartialEq)]
pub struct Crop {
    /// RGB bytes.
    pub rgb: Vec<u8>,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// The detection's box in crop pixels.
    pub bbox: [f64; 4],
}

/// Copies the rectangle `[x, y, w, h]` (inside the frame) out of a packed RGB frame `width`
/// pixels wide.
pub fn crop_rgb(rgb: &[u8], width: u32, rect: [u32; 4]) -> Vec<u8> {
    let [x, y, w, h] = rect;
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let a = ((row * width + x) * 3) as usize;
        out.extend_from_slice(&rgb[a..a + (w * 3) as usize]);
    }
    out
}

/// Cuts the region around `bbox` out of an RGB frame.
pub fn cut(rgb: &[u8], width: u32, height: u32, bbox: [f64; 4], o: &EvidenceOptions) -> Crop {
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let side = ((bbox[2] - bbox[0]).max(bbox[3] - bbox[1]) * o.context)
        .max(f64::from(o.min_side))
        .min(f64::from(width.max(height)));
    let clampx = |v: f64| v.clamp(0.0, f64::from(width)) as u32;
    let clampy = |v: f64| v.clamp(0.0, f64::from(height)) as u32;
    let (x0, x1) = (clampx(cx - side / 2.0), clampx(cx + side / 2.0));
    let (y0, y1) = (clampy(cy - side / 2.0), clampy(cy + side / 2.0));
    let (x0, y0) = (x0.min(width - 1), y0.min(height - 1));
    let (w, h) = (
        (x1.saturating_sub(x0)).clamp(1, width - x0),
        (y1.saturating_sub(y0)).clamp(1, height - y0),
    );
    let out = crop_rgb(rgb, width, [x0, y0, w, h]);
    Crop {
        rgb: out,
        width: w,
        height: h,
        bbox: [
            bbox[0] - f64::from(x0),
            bbox[1] - f64::from(y0),
            bbox[2] - f64::from(x0),
            bbox[3] - f64::from(y0),
        ],
    }
}

/// Draws the box (red, 2 px) on the crop, scales it down and encodes the evidence.
pub fn encode(crop: &Crop, o: &EvidenceOptions) -> Result<(Evidence, Vec<u8>), image::ImageError> {
    let mut img = image::RgbImage::from_raw(crop.width, crop.height, crop.rgb.clone())
        .expect("a crop's buffer matches its size");
    let [x0, y0, x1, y1] = crop.bbox.map(|v| v.round() as i64);
    let (w, h) = (i64::from(crop.width), i64::from(crop.height));
    for t in 0..2 {
        for x in x0.max(0)..=x1.min(w - 1) {
            for y in [y0 - t, y1 + t] {
                if (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, image::Rgb([255, 0, 0]));
                }
            }
        }
        for y in y0.max(0)..=y1.min(h - 1) {
            for x in [x0 - t, x1 + t] {
                if (0..w).contains(&x) {
                    img.put_pixel(x as u32, y as u32, image::Rgb([255, 0, 0]));
                }
            }
        }
    }
    let longer = crop.width.max(crop.height);
    if longer > o.max_side {
        let s = f64::from(o.max_side) / f64::from(longer);
        let (nw, nh) = (
            ((f64::from(crop.width) * s).round() as u32).max(1),
            ((f64::from(crop.height) * s).round() as u32).max(1),
        );
        img = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, o.quality).encode_image(&img)?;
    let evidence = Evidence {
        sha256: hex(&Sha256::digest(&jpeg)),
        jpeg_base64: base64::engine::general_purpose::STANDARD.encode(&jpeg),
        width: img.width(),
        height: img.height(),
    };
    Ok((evidence, jpeg))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_holds_the_box_in_context_and_its_hash_matches() {
        let (w, h) = (640u32, 360u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let o = EvidenceOptions::default();
        // Near the corner: the region is clipped to the frame, the box kept inside it.
        let c = cut(&rgb, w, h, [10.0, 20.0, 30.0, 40.0], &o);
        assert_eq!((c.width, c.height), (140, 150));
        assert_eq!(c.bbox, [10.0, 20.0, 30.0, 40.0]);
        assert_eq!(&c.rgb[..3], &rgb[..3]);
        let c = cut(&rgb, w, h, [300.0, 150.0, 340.0, 190.0], &o);
        assert_eq!((c.width, c.height), (240, 240));
        assert_eq!(c.bbox, [100.0, 100.0, 140.0, 140.0]);
        let (e, jpeg) = encode(&c, &o).unwrap();
        assert_eq!(e.sha256, hex(&Sha256::digest(&jpeg)));
        let back = base64::engine::general_purpose::STANDARD
            .decode(&e.jpeg_base64)
            .unwrap();
        assert_eq!(back, jpeg);
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (240, 240));
        let px = img.get_pixel(120, 100);
        assert!(px[0] > 200 && px[1] < 80, "the box is drawn: {px:?}");
    }
}
