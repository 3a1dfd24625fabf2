//! Scoring hits against the simulator's truth: which placed violations were found, which hits
//! fall on legal look-alikes or on nothing, and how far each hit is from the truth.

use std::collections::BTreeMap;
use std::path::Path;

use argus_core::geodesy::{GeoPoint, haversine_m};
use argus_core::hit::Hit;

use crate::FrameTruth;

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
    Ok(seen_in(&crate::read_jsonl(truth_jsonl)?))
}

/// Reads hits written one a line (an agent's `--hits-out`, `replay`'s output); a line that is
/// not an `argus.hit/1` is an error naming its number.
pub fn read_hits(path: &Path) -> std::io::Result<Vec<Hit>> {
    crate::read_lines(path, "an argus.hit/1")
}

/// The objects some frames show, each summed over the frames that label it.
pub fn seen_in(frames: &[FrameTruth]) -> Vec<SeenObject> {
    let mut by_id: BTreeMap<String, SeenObject> = BTreeMap::new();
    for o in frames.iter().flat_map(|f| &f.objects) {
        let b = o.bbox;
        let side = (b[2] - b[0]).max(b[3] - b[1]);
        let e = by_id.entry(o.id.clone()).or_insert_with(|| SeenObject {
            id: o.id.clone(),
            object_class: o.object_class.clone(),
            class: o.class.clone(),
            violation: o.violation,
            lat: o.lat,
            lon: o.lon,
            frames: 0,
            max_side_px: 0.0,
        });
        e.frames += 1;
        e.max_side_px = e.max_side_px.max(side);
    }
    by_id.into_values().collect()
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
    /// Scores hits against what the recording showed.
    pub fn score(&self, hits: &[Hit], seen: &[SeenObject]) -> Score {
        let ScoreRules {
            min_frames,
            min_side_px,
            radius_m,
        } = *self;
        // A track's update replaces its first hit.
        let replaced: std::collections::HashSet<&str> =
            hits.iter().filter_map(|h| h.update_of.as_deref()).collect();
        let mut out = Score {
            violations: seen
                .iter()
                .filter(|o| o.violation && o.frames >= min_frames && o.max_side_px >= min_side_px)
                .map(|o| o.id.clone())
                .collect(),
            ..Default::default()
        };
        for h in hits {
            let id = h.hit_id.as_str();
            if replaced.contains(id) {
                continue;
            }
            let p = GeoPoint {
                lat: h.position.lat,
                lon: h.position.lon,
            };
            let oc = h.object_class.as_str();
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
                class: h.class.clone(),
                object: nearest.map(|(o, _)| o.id.clone()),
                on_violation: nearest.is_some_and(|(o, _)| o.violation),
                error_m: nearest.map_or(f64::INFINITY, |(_, d)| d),
                uncertainty_m: h.position.uncertainty_m,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TruthObject;
    use argus_core::camera::Pose;

    fn object(id: &str, object_class: &str, violation: bool, lon: f64) -> TruthObject {
        TruthObject {
            id: id.into(),
            class: "construction_waste".into(),
            object_class: object_class.into(),
            kind: "spoil".into(),
            bbox: [0.0, 0.0, 30.0, 20.0],
            lat: 30.7,
            lon,
            elev_m: 0.0,
            violation,
            visible: 1.0,
        }
    }

    fn hit(id: &str, lon: f64, update_of: Option<&str>) -> Hit {
        let mut h = argus_testkit::hits::hit(id, "a", "construction_waste", 30.7, 0.9);
        h.object_class = "waste_pile".into();
        h.position.lon = lon;
        h.position.uncertainty_m = 3.0;
        h.update_of = update_of.map(|f| f.parse().unwrap());
        h
    }

    #[test]
    fn hits_are_scored_against_what_the_frames_showed() {
        // A pile shown in 20 frames, a legal look-alike, and a pile shown too briefly to count.
        let frames: Vec<FrameTruth> = (0..20)
            .map(|k| FrameTruth {
                frame: k,
                pts_s: k as f64 / 30.0,
                pose: Pose::nadir(30.7, 121.0, 100.0),
                camera: argus_core::camera::Intrinsics::from_hfov(1920, 1080, 80.0),
                objects: if k < 3 {
                    vec![
                        object("pile", "waste_pile", true, 121.0),
                        object("heap", "waste_pile", false, 121.001),
                        object("brief", "waste_pile", true, 121.002),
                    ]
                } else {
                    vec![
                        object("pile", "waste_pile", true, 121.0),
                        object("heap", "waste_pile", false, 121.001),
                    ]
                },
            })
            .collect();
        let seen = seen_in(&frames);
        assert_eq!(seen.len(), 3);
        let first = "0192f0c4-0000-7000-8000-000000000001";
        let hits = [
            hit(first, 121.01, None),
            // The track's update replaces its first, far-off estimate.
            hit(
                "0192f0c4-0000-7000-8000-000000000002",
                121.00002,
                Some(first),
            ),
            hit("0192f0c4-0000-7000-8000-000000000003", 121.001, None),
            hit("0192f0c4-0000-7000-8000-000000000004", 121.05, None),
        ];
        let s = ScoreRules::default().score(&hits, &seen);
        assert_eq!(s.violations, ["pile"], "the brief pile does not count");
        assert_eq!(s.found, ["pile"]);
        assert_eq!(s.on_legal, ["heap"]);
        assert_eq!(s.false_hits, 1);
        assert_eq!(s.hits.len(), 3);
        assert!((s.recall() - 1.0).abs() < 1e-9);
        assert!(s.errors_m()[0] < 3.0 && s.coverage() == 1.0);
    }
}
