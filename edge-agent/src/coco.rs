//! COCO annotation files and COCO detection results, and their evaluation exactly as
//! `pycocotools`' `COCOeval` does it for boxes (area "all", 100 detections an image, IoU
//! thresholds 0.50:0.05:0.95, 101 recall points), so analysts get the same numbers without Python.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// An image entry of an annotation file.
#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    /// Image id.
    pub id: u64,
    /// File name, relative to the images folder.
    pub file_name: String,
}

/// A ground-truth box.
#[derive(Debug, Clone, Deserialize)]
pub struct Annotation {
    /// The image.
    pub image_id: u64,
    /// The category.
    pub category_id: u64,
    /// `[x, y, width, height]`.
    pub bbox: [f64; 4],
    /// Crowd regions are ignored by the matching.
    #[serde(default)]
    pub iscrowd: u8,
}

/// A category.
#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    /// Category id.
    pub id: u64,
    /// Name (matched to the model's class names).
    pub name: String,
}

/// The parts of a COCO annotation file that detection and evaluation need.
#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    /// Images.
    pub images: Vec<Image>,
    /// Ground truth.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// Categories.
    pub categories: Vec<Category>,
}

impl Dataset {
    /// Reads an annotation file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a COCO annotation file", path.display()))
    }
}

/// One detection in the COCO results format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Result_ {
    /// The image.
    pub image_id: u64,
    /// The category.
    pub category_id: u64,
    /// `[x, y, width, height]`.
    pub bbox: [f64; 4],
    /// Confidence.
    pub score: f64,
}

/// Per-class evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    /// Ground-truth boxes.
    pub ground_truth: usize,
    /// Detections.
    pub detections: usize,
    /// AP at IoU 0.5.
    #[serde(rename = "AP50")]
    pub ap50: f64,
    /// AP averaged over IoU 0.50:0.95.
    #[serde(rename = "AP50_95")]
    pub ap50_95: f64,
    /// Precision at IoU 0.5 of the detections scoring at least the report threshold.
    pub precision: f64,
    /// Recall at IoU 0.5 of the detections scoring at least the report threshold.
    pub recall: f64,
    /// The precision/recall curve at IoU 0.5: `(recall, precision)` at the 101 recall points.
    #[serde(skip)]
    pub pr_curve: Vec<(f64, f64)>,
}

fn iou(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let iw = ((d[0] + d[2]).min(g[0] + g[2]) - d[0].max(g[0])).max(0.0);
    let ih = ((d[1] + d[3]).min(g[1] + g[3]) - d[1].max(g[1])).max(0.0);
    let inter = iw * ih;
    // pycocotools: for crowd regions the union is the detection's own area.
    let union = if crowd {
        d[2] * d[3]
    } else {
        d[2] * d[3] + g[2] * g[3] - inter
    };
    if union <= 0.0 { 0.0 } else { inter / union }
}

const MAX_DETS: usize = 100;

/// Matches of one image and category at each IoU threshold: for each detection (score order),
/// whether it matched, and whether it matched a crowd (ignored) region.
fn evaluate_image(
    dets: &[&Result_],
    gts: &[&Annotation],
    thresholds: &[f64],
) -> Vec<Vec<(bool, bool)>> {
    // Non-crowd ground truth first, as pycocotools sorts them.
    let mut g: Vec<&Annotation> = gts.to_vec();
    g.sort_by_key(|a| a.iscrowd);
    thresholds
        .iter()
        .map(|&t| {
            let mut taken = vec![false; g.len()];
            dets.iter()
                .map(|d| {
                    let mut best: Option<usize> = None;
                    let mut best_iou = t.min(1.0 - 1e-10);
                    for (k, gt) in g.iter().enumerate() {
                        let crowd = gt.iscrowd != 0;
                        if taken[k] && !crowd {
                            continue;
                        }
                        // Once matched to a real box, do not move to a crowd one.
                        if best.is_some_and(|b| g[b].iscrowd == 0) && crowd {
                            break;
                        }
                        let v = iou(&d.bbox, &gt.bbox, crowd);
                        if v < best_iou {
                            continue;
                        }
                        best_iou = v;
                        best = Some(k);
                    }
                    match best {
                        Some(k) => {
                            taken[k] = true;
                            (true, g[k].iscrowd != 0)
                        }
                        None => (false, false),
                    }
                })
                .collect()
        })
        .collect()
}

/// Evaluates `results` against `data`, per category name. `report_threshold` is the score at
/// which precision and recall are reported.
pub fn evaluate(
    data: &Dataset,
    results: &[Result_],
    report_threshold: f64,
) -> BTreeMap<String, ClassMetrics> {
    let thresholds: Vec<f64> = (0..10).map(|i| 0.5 + 0.05 * f64::from(i)).collect();
    let rec_thrs: Vec<f64> = (0..=100).map(|i| f64::from(i) / 100.0).collect();
    let mut out = BTreeMap::new();
    for cat in &data.categories {
        let gts: Vec<&Annotation> = data
            .annotations
            .iter()
            .filter(|a| a.category_id == cat.id)
            .collect();
        let npos = gts.iter().filter(|a| a.iscrowd == 0).count();
        if npos == 0 {
            continue;
        }
        let cat_dets: Vec<&Result_> = results.iter().filter(|r| r.category_id == cat.id).collect();
        // Per image: its top-100 detections by score, matched.
        let mut scored: Vec<(f64, Vec<(bool, bool)>)> = Vec::new(); // score, per-threshold (matched, ignored)
        for img in &data.images {
            let mut d: Vec<&Result_> = cat_dets
                .iter()
                .copied()
                .filter(|r| r.image_id == img.id)
                .collect();
            d.sort_by(|a, b| b.score.total_cmp(&a.score));
            d.truncate(MAX_DETS);
            let g: Vec<&Annotation> = gts
                .iter()
                .copied()
                .filter(|a| a.image_id == img.id)
                .collect();
            let m = evaluate_image(&d, &g, &thresholds);
            for (i, det) in d.iter().enumerate() {
                scored.push((det.score, m.iter().map(|row| row[i]).collect()));
            }
        }
        // Stable sort by descending score across images (numpy mergesort in pycocotools).
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut aps = Vec::with_capacity(thresholds.len());
        let mut curve50 = Vec::new();
        let (mut p_at, mut r_at) = (0.0, 0.0);
        for t in 0..thresholds.len() {
            let (mut tp, mut fp) = (0.0f64, 0.0f64);
            let mut recall = Vec::new();
            let mut precision = Vec::new();
            let (mut tp_at, mut n_at) = (0.0, 0.0);
            for (score, m) in &scored {
                let (matched, ignored) = m[t];
                if ignored {
                    continue;
                }
                if matched {
                    tp += 1.0
                } else {
                    fp += 1.0
                }
                recall.push(tp / npos as f64);
                precision.push(tp / (tp + fp).max(f64::EPSILON));
                if *score >= report_threshold {
                    tp_at = tp;
                    n_at = tp + fp;
                }
            }
            for i in (1..precision.len()).rev() {
                if precision[i] > precision[i - 1] {
                    precision[i - 1] = precision[i];
                }
            }
            let sampled: Vec<f64> = rec_thrs
                .iter()
                .map(|&r| {
                    let i = recall.partition_point(|&x| x < r);
                    precision.get(i).copied().unwrap_or(0.0)
                })
                .collect();
            aps.push(sampled.iter().sum::<f64>() / sampled.len() as f64);
            if t == 0 {
                curve50 = rec_thrs.iter().copied().zip(sampled).collect();
                p_at = if n_at > 0.0 { tp_at / n_at } else { 0.0 };
                r_at = tp_at / npos as f64;
            }
        }
        out.insert(
            cat.name.clone(),
            ClassMetrics {
                ground_truth: npos,
                detections: cat_dets.len(),
                ap50: aps[0],
                ap50_95: aps.iter().sum::<f64>() / aps.len() as f64,
                precision: p_at,
                recall: r_at,
                pr_curve: curve50,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Dataset {
        serde_json::from_value(serde_json::json!({
            "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "annotations": [
                {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]},
                {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10]},
                {"image_id": 2, "category_id": 1, "bbox": [0, 0, 20, 20]},
            ],
            "categories": [{"id": 1, "name": "stall"}, {"id": 2, "name": "waste_pile"}],
        }))
        .unwrap()
    }

    fn r(image_id: u64, bbox: [f64; 4], score: f64) -> Result_ {
        Result_ {
            image_id,
            category_id: 1,
            bbox,
            score,
        }
    }

    #[test]
    fn perfect_detections_score_one_and_classes_without_truth_are_left_out() {
        let res = vec![
            r(1, [0.0, 0.0, 10.0, 10.0], 0.9),
            r(1, [50.0, 50.0, 10.0, 10.0], 0.8),
            r(2, [0.0, 0.0, 20.0, 20.0], 0.7),
        ];
        let m = evaluate(&data(), &res, 0.5);
        assert_eq!(m.len(), 1);
        assert!((m["stall"].ap50 - 1.0).abs() < 1e-12 && (m["stall"].ap50_95 - 1.0).abs() < 1e-12);
        assert_eq!((m["stall"].precision, m["stall"].recall), (1.0, 1.0));
    }

    #[test]
    fn a_false_positive_above_the_true_ones_costs_precision() {
        // Highest-scoring detection is wrong; then two right; one box missed.
        let res = vec![
            r(1, [200.0, 200.0, 10.0, 10.0], 0.95),
            r(1, [0.0, 0.0, 10.0, 10.0], 0.9),
            r(2, [1.0, 1.0, 20.0, 20.0], 0.6),
        ];
        let m = &evaluate(&data(), &res, 0.7)["stall"];
        // Recall reaches 2/3; precision after interpolation is 2/3 up to that recall.
        let expected = (67.0 * (2.0 / 3.0)) / 101.0;
        assert!((m.ap50 - expected).abs() < 1e-9, "{} vs {expected}", m.ap50);
        assert_eq!(
            m.recall,
            1.0 / 3.0,
            "at score 0.7 only one true box is found"
        );
        assert_eq!(m.precision, 0.5);
    }
}
