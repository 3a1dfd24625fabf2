//! Scoring hits against the simulator's truth: which placed violations were found, which hits
//! fall on legal look-alikes or on nothing, and how far each hit is from the truth.

use std::collections::BTreeMap;
use std::path::Path;

use argus_core::geodesy::{GeoPoint, haversine_m};
use serde_json::Value;

/// One object of the flight's truth, summed over the frames that show it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenObject {
    /// District object id.
    pub id: String,
    /// Detector class.
    pub object_class: String,
    /// Violation class (also for look-alikes).
    pub class: String,
    /// Whether it is a violation.
    pub violation: bool,
    /// Footprint centre.
    pub lat: f64,
    /// Footprint centre.
    pub lon: f64,
    /// Frames that label it.
    pub frames: u32,
    /// Its largest box side over the flight, pixels.
    pub max_side_px: f64,
}

/// Reads `truth.jsonl` into the objects the flight showed.
pub fn seen_objects(truth_jsonl: &Path) -> std::io::Result<Vec<SeenObject>> {
    let text = std::fs::read_to_string(truth_jsonl)?;
    let mut by_id: BTreeMap<String, SeenObject> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(std::io::Error::other)?;
        for o in v["objects"].as_array().into_iter().flatten() {
            let b: Vec<f64> = o["bbox"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            let side = if b.len() == 4 {
                (b[2] - b[0]).max(b[3] - b[1])
            } else {
                0.0
            };
            let s = |k: &str| o[k].as_str().unwrap_or_default().to_string();
            let e = by_id.entry(s("id")).or_insert_with(|| SeenObject {
                id: s("id"),
                object_class: s("object_class"),
                class: s("class"),
                violation: o["violation"].as_bool().unwrap_or(false),
                lat: o["lat"].as_f64().unwrap_or(0.0),
                lon: o["lon"].as_f64().unwrap_or(0.0),
                frames: 0,
                max_side_px: 0.0,
            });
            e.frames += 1;
            e.max_side_px = e.max_side_px.max(side);
        }
    }
    Ok(by_id.into_values().collect())
}

/// One hit as scored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredHit {
    /// Its id.
    pub hit_id: String,
    /// Its violation class.
    pub class: String,
    /// The nearest object of the same detector class within the match radius, if any.
    pub object: Option<String>,
    /// Whether that object is a violation.
    pub on_violation: bool,
    /// Distance to it, metres.
    pub error_m: f64,
    /// The hit's stated 90 % radius.
    pub uncertainty_m: f64,
}

/// The score of a set of hits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Score {
    /// Every hit (the latest estimate of each track), scored.
    pub hits: Vec<ScoredHit>,
    /// Violations the flight showed well enough to count (`frames`, `min_side_px`).
    pub violations: Vec<String>,
    /// Those with at least one hit.
    pub found: Vec<String>,
    /// Hits on legal look-alikes: their object ids.
    pub on_legal: Vec<String>,
    /// Hits near nothing of their class.
    pub false_hits: usize,
}

impl Score {
    /// Found share of the counted violations.
    pub fn recall(&self) -> f64 {
        if self.violations.is_empty() {
            return 1.0;
        }
        self.found.len() as f64 / self.violations.len() as f64
    }

    /// Geolocation errors of hits on violations, metres.
    pub fn errors_m(&self) -> Vec<f64> {
        self.hits
            .iter()
            .filter(|h| h.on_violation)
            .map(|h| h.error_m)
            .collect()
    }

    /// Share of hits on violations whose stated uncertainty covers the truth.
    pub fn coverage(&self) -> f64 {
        let on: Vec<&ScoredHit> = self.hits.iter().filter(|h| h.on_violation).collect();
        if on.is_empty() {
            return 1.0;
        }
        on.iter().filter(|h| h.error_m <= h.uncertainty_m).count() as f64 / on.len() as f64
    }
}

/// The median of some values (NaN for none).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A violation counts as shown when labelled in at least this many frames…
pub const MIN_FRAMES: u32 = 10;
/// …at this size or more (largest box side, pixels).
pub const MIN_SIDE_PX: f64 = 16.0;
/// A hit matches the nearest object of its detector class within this distance, metres.
pub const HIT_RADIUS_M: f64 = 8.0;

/// What counts when hits are scored: which violations a recording showed well enough to be
/// found, and how near a hit must fall to its object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRules {
    /// A violation counts when shown in at least this many frames…
    pub min_frames: u32,
    /// …with a largest box side of at least this many pixels.
    pub min_side_px: f64,
    /// A hit matches the nearest object of its detector class within this distance, metres.
    pub radius_m: f64,
}

impl Default for ScoreRules {
    fn default() -> Self {
        Self {
            min_frames: MIN_FRAMES,
            min_side_px: MIN_SIDE_PX,
            radius_m: HIT_RADIUS_M,
        }
    }
}

impl ScoreRules {
    /// Scores hits (JSON values of `argus.hit/1`) against what the recording showed.
    pub fn score(&self, hits: &[Value], seen: &[SeenObject]) -> Score {
        let ScoreRules {
            min_frames,
            min_side_px,
            radius_m,
        } = *self;
        // A track's update replaces its first hit.
        let replaced: std::collections::HashSet<&str> = hits
            .iter()
            .filter_map(|h| h["update_of"].as_str())
            .collect();
        let mut out = Score {
            violations: seen
                .iter()
                .filter(|o| o.violation && o.frames >= min_frames && o.max_side_px >= min_side_px)
                .map(|o| o.id.clone())
                .collect(),
            ..Default::default()
        };
        for h in hits {
            let id = h["hit_id"].as_str().unwrap_or_default();
            if replaced.contains(id) {
                continue;
            }
            let p = GeoPoint {
                lat: h["position"]["lat"].as_f64().unwrap_or(0.0),
                lon: h["position"]["lon"].as_f64().unwrap_or(0.0),
            };
            let oc = h["object_class"].as_str().unwrap_or_default();
            let nearest = seen
                .iter()
                .filter(|o| o.object_class == oc)
                .map(|o| {
                    (
                        o,
                        haversine_m(
                            p,
                            GeoPoint {
                                lat: o.lat,
                                lon: o.lon,
                            },
                        ),
                    )
                })
                .filter(|(_, d)| *d <= radius_m)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let scored = ScoredHit {
                hit_id: id.to_string(),
                class: h["class"].as_str().unwrap_or_default().to_string(),
                object: nearest.map(|(o, _)| o.id.clone()),
                on_violation: nearest.is_some_and(|(o, _)| o.violation),
                error_m: nearest.map_or(f64::INFINITY, |(_, d)| d),
                uncertainty_m: h["position"]["uncertainty_m"].as_f64().unwrap_or(0.0),
            };
            match nearest {
                Some((o, _)) if o.violation => {
                    if !out.found.contains(&o.id) && out.violations.contains(&o.id) {
                        out.found.push(o.id.clone());
                    }
                }
                Some((o, _)) => out.on_legal.push(o.id.clone()),
                None => out.false_hits += 1,
            }
            out.hits.push(scored);
        }
        out
    }
}
