//! A scripted detector for tests and examples: it "detects" every patch of an exact colour,
//! one class per colour, at a fixed score. A test paints its objects into plain frames and the
//! whole analysis — tiling, geotagging, tracking, rules, hits — runs as it does on a real
//! model, with no native runtime.

use std::collections::VecDeque;

use argus_core::detect::{Detect, Detection, FrameRef};

/// One object class and the colour that stands for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColourKey {
    /// The class name (the model's object class).
    pub class: String,
    /// The exact RGB of its pixels.
    pub rgb: [u8; 3],
    /// The score it is detected with.
    pub score: f32,
}

/// Detects each 4-connected patch of a key's colour as one box of its class.
#[derive(Debug, Clone)]
pub struct ColourKeyDetector {
    keys: Vec<ColourKey>,
    classes: Vec<String>,
    input_size: u32,
    /// Frames seen, over all batches.
    pub frames_seen: u64,
}

/// The scripted detector cannot fail; its error type has no value.
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub enum Never {}

impl ColourKeyDetector {
    /// A detector of `keys` whose "model" takes `input_size`-pixel squares (the analysis tiles
    /// frames larger than twice that).
    pub fn new(keys: Vec<ColourKey>, input_size: u32) -> Self {
        Self {
            classes: keys.iter().map(|k| k.class.clone()).collect(),
            keys,
            input_size: input_size.max(1),
            frames_seen: 0,
        }
    }

    fn boxes(&self, f: &FrameRef<'_>) -> Vec<Detection> {
        let (w, h) = (f.width as usize, f.height as usize);
        if f.rgb.len() != w * h * 3 {
            return Vec::new();
        }
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        for start in 0..w * h {
            if seen[start] {
                continue;
            }
            let px = |i: usize| [f.rgb[3 * i], f.rgb[3 * i + 1], f.rgb[3 * i + 2]];
            let Some(class) = self.keys.iter().position(|k| k.rgb == px(start)) else {
                continue;
            };
            let colour = self.keys[class].rgb;
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            let mut queue = VecDeque::from([start]);
            seen[start] = true;
            while let Some(i) = queue.pop_front() {
                let (x, y) = (i % w, i / w);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
                let next = [
                    (x > 0).then(|| i - 1),
                    (x + 1 < w).then_some(i + 1),
                    (y > 0).then(|| i - w),
                    (y + 1 < h).then_some(i + w),
                ];
                for j in next.into_iter().flatten() {
                    if !seen[j] && px(j) == colour {
                        seen[j] = true;
                        queue.push_back(j);
                    }
                }
            }
            out.push(Detection {
                class,
                score: self.keys[class].score,
                bbox: [x0 as f32, y0 as f32, (x1 + 1) as f32, (y1 + 1) as f32],
            });
        }
        out
    }
}

impl Detect for ColourKeyDetector {
    type Error = Never;

    fn input_size(&self) -> u32 {
        self.input_size
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn detect(&mut self, frames: &[FrameRef<'_>]) -> Result<Vec<Vec<Detection>>, Never> {
        self.frames_seen += frames.len() as u64;
        Ok(frames.iter().map(|f| self.boxes(f)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_patch_of_a_key_colour_is_one_box_of_its_class() {
        let (w, h) = (40u32, 20u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let mut paint = |x0: u32, y0: u32, x1: u32, y1: u32, c: [u8; 3]| {
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = ((y * w + x) * 3) as usize;
                    rgb[i..i + 3].copy_from_slice(&c);
                }
            }
        };
        paint(2, 3, 6, 8, [255, 0, 0]);
        paint(20, 10, 30, 12, [255, 0, 0]);
        paint(10, 1, 12, 19, [0, 0, 255]);
        paint(33, 0, 35, 2, [1, 2, 3]);
        let mut det = ColourKeyDetector::new(
            vec![
                ColourKey {
                    class: "stall".into(),
                    rgb: [255, 0, 0],
                    score: 0.8,
                },
                ColourKey {
                    class: "banner".into(),
                    rgb: [0, 0, 255],
                    score: 0.6,
                },
            ],
            16,
        );
        let found = det
            .detect(&[FrameRef {
                rgb: &rgb,
                width: w,
                height: h,
            }])
            .unwrap();
        let mut got: Vec<_> = found[0].iter().map(|d| (d.class, d.bbox)).collect();
        got.sort_by(|a, b| a.1[0].total_cmp(&b.1[0]));
        assert_eq!(
            got,
            vec![
                (0, [2.0, 3.0, 6.0, 8.0]),
                (1, [10.0, 1.0, 12.0, 19.0]),
                (0, [20.0, 10.0, 30.0, 12.0]),
            ]
        );
        assert_eq!(det.classes(), ["stall", "banner"]);
        assert_eq!(det.frames_seen, 1);
    }
}
