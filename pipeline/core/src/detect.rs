//! Detector-independent detection logic: letterboxing frames into the model's square input and
//! mapping boxes back, decoding a CenterNet-style output, and class-aware non-maximum
//! suppression. Pure arithmetic, so the ONNX Runtime adapter stays thin.

/// How a `width`×`height` image sits in the model's `size`×`size` input: scaled by `scale` to fit,
/// aligned top-left, the rest padded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source image width.
    pub width: u32,
    /// Source image height.
    pub height: u32,
    /// Model input side.
    pub size: u32,
    /// Source pixels → model pixels.
    pub scale: f64,
}

impl Letterbox {
    /// The letterbox of an image into a square input.
    pub fn new(width: u32, height: u32, size: u32) -> Self {
        let scale = f64::from(size) / f64::from(width.max(height));
        Self {
            width,
            height,
            size,
            scale,
        }
    }

    /// Width and height of the scaled image inside the input (the rest is padding).
    pub fn content(&self) -> (u32, u32) {
        let w = (f64::from(self.width) * self.scale).round() as u32;
        let h = (f64::from(self.height) * self.scale).round() as u32;
        (w.clamp(1, self.size), h.clamp(1, self.size))
    }

    /// A box in model pixels to source pixels, clipped to the image.
    pub fn to_image(&self, b: [f32; 4]) -> [f32; 4] {
        let s = self.scale as f32;
        let (w, h) = (self.width as f32, self.height as f32);
        [
            (b[0] / s).clamp(0.0, w),
            (b[1] / s).clamp(0.0, h),
            (b[2] / s).clamp(0.0, w),
            (b[3] / s).clamp(0.0, h),
        ]
    }

    /// A box in source pixels to model pixels.
    pub fn to_model(&self, b: [f32; 4]) -> [f32; 4] {
        let s = self.scale as f32;
        [b[0] * s, b[1] * s, b[2] * s, b[3] * s]
    }

    /// Writes packed RGB `src` into `out` (`3 × size × size`, planar RGB, values × `norm`),
    /// resized bilinearly with pixel centres aligned, padded with `pad` (0–255) × `norm`.
    pub fn fill_nchw(&self, src: &[u8], norm: f32, pad: u8, out: &mut [f32]) {
        let n = self.size as usize;
        assert_eq!(
            src.len(),
            self.width as usize * self.height as usize * 3,
            "source is not width×height RGB"
        );
        assert_eq!(out.len(), 3 * n * n, "output is not 3×size×size");
        out.fill(f32::from(pad) * norm);
        let (cw, ch) = self.content();
        let (sw, sh) = (self.width as usize, self.height as usize);
        let inv = 1.0 / self.scale as f32;
        // Per output column: the two source columns and the weight of the right one.
        let cols: Vec<(usize, usize, f32)> = (0..cw as usize)
            .map(|x| {
                let fx = ((x as f32 + 0.5) * inv - 0.5).clamp(0.0, (sw - 1) as f32);
                let x0 = fx as usize;
                (x0, (x0 + 1).min(sw - 1), fx - x0 as f32)
            })
            .collect();
        let plane = n * n;
        for y in 0..ch as usize {
            let fy = ((y as f32 + 0.5) * inv - 0.5).clamp(0.0, (sh - 1) as f32);
            let y0 = fy as usize;
            let (y1, wy) = ((y0 + 1).min(sh - 1), fy - y0 as f32);
            let (r0, r1) = (
                &src[y0 * sw * 3..(y0 + 1) * sw * 3],
                &src[y1 * sw * 3..(y1 + 1) * sw * 3],
            );
            for (x, &(x0, x1, wx)) in cols.iter().enumerate() {
                for c in 0..3 {
                    let top =
                        f32::from(r0[x0 * 3 + c]) * (1.0 - wx) + f32::from(r0[x1 * 3 + c]) * wx;
                    let bottom =
                        f32::from(r1[x0 * 3 + c]) * (1.0 - wx) + f32::from(r1[x1 * 3 + c]) * wx;
                    out[c * plane + y * n + x] = (top * (1.0 - wy) + bottom * wy) * norm;
                }
            }
        }
    }
}

/// A frame of packed RGB.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    /// `width * height * 3` bytes.
    pub rgb: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A detector: batches of frames in, boxes out. `argus-infer`'s ONNX detector is one; the
/// analysis is written against this trait, so it runs (and is tested) without a native runtime.
pub trait Detect {
    /// Why a batch failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The side of the square input the model sees (the analysis tiles frames for it).
    fn input_size(&self) -> u32;
    /// The model's object classes; [`Detection::class`] indexes them.
    fn classes(&self) -> &[String];
    /// Detects objects in each frame; boxes in each frame's own pixels.
    fn detect(&mut self, frames: &[FrameRef<'_>]) -> Result<Vec<Vec<Detection>>, Self::Error>;
}

/// Tiles `[x, y, w, h]` of side `tile` covering a `width` × `height` frame with even overlap:
/// a frame much larger than the model's input is detected tile by tile, each at the scale the
/// model was trained at, where letterboxing the whole frame would shrink small objects away.
pub fn tiles(width: u32, height: u32, tile: u32) -> Vec<[u32; 4]> {
    let axis = |len: u32| -> Vec<(u32, u32)> {
        if len <= tile {
            return vec![(0, len)];
        }
        let n = len.div_ceil(tile) as u64;
        let step = (len - tile) as u64 / (n - 1).max(1);
        (0..n)
            .map(|k| ((k * step).min((len - tile) as u64) as u32, tile))
            .collect()
    };
    let (xs, ys) = (axis(width), axis(height));
    ys.iter()
        .flat_map(|&(y, h)| xs.iter().map(move |&(x, w)| [x, y, w, h]))
        .collect()
}

/// One detected object, in the pixels of whichever space its caller says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Class index into the model's class list.
    pub class: usize,
    /// Confidence, 0–1.
    pub score: f32,
    /// `[x0, y0, x1, y1]`.
    pub bbox: [f32; 4],
}

/// Intersection over union of two boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Class-aware non-maximum suppression: within each class, keeps the best-scoring box of every
/// group overlapping by more than `iou_threshold`. Output is sorted by descending score.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        if kept
            .iter()
            .all(|k| k.class != d.class || iou(k.bbox, d.bbox) <= iou_threshold)
        {
            kept.push(d);
        }
    }
    kept
}

/// The tensors of one image of a CenterNet-style output, each `[channels, h, w]` row-major.
#[derive(Debug, Clone, Copy)]
pub struct CenterNetOutput<'a> {
    /// Class heatmaps (probabilities), `classes × h × w`.
    pub heatmap: &'a [f32],
    /// Box width and height in cells, `2 × h × w`.
    pub size: &'a [f32],
    /// Sub-cell centre offsets, `2 × h × w`.
    pub offset: &'a [f32],
    /// Number of classes.
    pub classes: usize,
    /// Map height.
    pub h: usize,
    /// Map width.
    pub w: usize,
    /// Input pixels per cell.
    pub stride: f32,
}

impl CenterNetOutput<'_> {
    /// Local maxima of the heatmap (3×3 window) scoring at least their class's threshold, as
    /// boxes in model-input pixels, best first, at most `top_k`.
    pub fn decode(&self, thresholds: &[f32], top_k: usize) -> Vec<Detection> {
        let (h, w) = (self.h, self.w);
        let plane = h * w;
        let mut out = Vec::new();
        for c in 0..self.classes {
            let heat = &self.heatmap[c * plane..(c + 1) * plane];
            let t = thresholds.get(c).copied().unwrap_or(0.5);
            for y in 0..h {
                for x in 0..w {
                    let v = heat[y * w + x];
                    if v < t {
                        continue;
                    }
                    let is_peak = (y.saturating_sub(1)..(y + 2).min(h)).all(|yy| {
                        (x.saturating_sub(1)..(x + 2).min(w)).all(|xx| heat[yy * w + xx] <= v)
                    });
                    if !is_peak {
                        continue;
                    }
                    let i = y * w + x;
                    let cx = (x as f32 + self.offset[i]) * self.stride;
                    let cy = (y as f32 + self.offset[plane + i]) * self.stride;
                    let bw = self.size[i].max(0.0) * self.stride;
                    let bh = self.size[plane + i].max(0.0) * self.stride;
                    out.push(Detection {
                        class: c,
                        score: v,
                        bbox: [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0],
                    });
                }
            }
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(top_k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        assert_eq!(
            tiles(1920, 1080, 1280),
            vec![[0, 0, 1280, 1080], [640, 0, 1280, 1080]]
        );
        assert_eq!(tiles(640, 480, 640), vec![[0, 0, 640, 480]]);
        let t = tiles(1920, 1080, 640);
        assert_eq!(t.len(), 6);
        assert!(t.iter().all(|r| r[0] + r[2] <= 1920 && r[1] + r[3] <= 1080));
        assert_eq!(t.last().unwrap(), &[1280, 440, 640, 640]);
    }

    #[test]
    fn letterboxed_boxes_map_back_exactly() {
        let lb = Letterbox::new(1920, 1080, 640);
        assert_eq!(lb.content(), (640, 360));
        let b = [100.0, 200.5, 1500.25, 1079.0];
        let back = lb.to_image(lb.to_model(b));
        for k in 0..4 {
            assert!((back[k] - b[k]).abs() < 1e-3, "{back:?}");
        }
        // A box in the padding maps to the image edge, never outside.
        assert_eq!(lb.to_image([0.0, 600.0, 10.0, 640.0])[3], 1080.0);
    }

    #[test]
    fn letterbox_fill_scales_and_pads() {
        // A 4×2 image, left half black, right half white, into 4×4: rows 2–3 are padding.
        let mut src = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 2..4 {
                src[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3].fill(255);
            }
        }
        let lb = Letterbox::new(4, 2, 4);
        let mut out = vec![0.0; 3 * 16];
        lb.fill_nchw(&src, 1.0 / 255.0, 114, &mut out);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[3], 1.0);
        assert!((out[2 * 4] - 114.0 / 255.0).abs() < 1e-6, "padding");
        assert!(
            (out[32 + 15] - 114.0 / 255.0).abs() < 1e-6,
            "padding in the last plane"
        );
    }

    #[test]
    fn nms_keeps_the_best_of_each_class_group() {
        let d = |class, score, x| Detection {
            class,
            score,
            bbox: [x, 0.0, x + 10.0, 10.0],
        };
        let kept = nms(
            vec![
                d(0, 0.5, 0.0),
                d(0, 0.9, 1.0),
                d(1, 0.8, 1.0),
                d(0, 0.7, 30.0),
            ],
            0.5,
        );
        assert_eq!(kept, vec![d(0, 0.9, 1.0), d(1, 0.8, 1.0), d(0, 0.7, 30.0)]);
        assert!((iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn centernet_peaks_decode_to_boxes() {
        let (h, w) = (4, 5);
        let mut heat = vec![0.0f32; 2 * h * w];
        heat[w + 2] = 0.9; // class 0 at (2, 1)
        heat[w + 3] = 0.6; // its neighbour: not a peak
        heat[h * w + 3 * w + 4] = 0.4; // class 1 at (4, 3)
        let mut size = vec![0.0f32; 2 * h * w];
        let mut offset = vec![0.0f32; 2 * h * w];
        size[w + 2] = 2.0;
        size[h * w + w + 2] = 1.0;
        offset[w + 2] = 0.5;
        offset[h * w + w + 2] = 0.25;
        let out = CenterNetOutput {
            heatmap: &heat,
            size: &size,
            offset: &offset,
            classes: 2,
            h,
            w,
            stride: 4.0,
        };
        let dets = out.decode(&[0.3, 0.3], 10);
        assert_eq!(dets.len(), 2);
        assert_eq!(
            dets[0],
            Detection {
                class: 0,
                score: 0.9,
                bbox: [6.0, 3.0, 14.0, 7.0]
            }
        );
        assert_eq!(dets[1].class, 1);
        assert!(
            out.decode(&[0.3, 0.5], 10).iter().all(|d| d.class == 0),
            "per-class thresholds apply"
        );
    }
}
