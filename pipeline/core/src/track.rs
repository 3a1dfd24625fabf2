//! Tracking: one track per object per pass, so that a violation is published once, not once
//! per frame.
//!
//! Drones move, so their detections are associated in ground space (geotagged positions, a
//! gate in metres); fixed cameras associate in image space (box overlap). A track is confirmed
//! after `min_hits` detections spanning at least `min_dwell_s` seconds (a camera's "stays for N
//! seconds"), and ends when unseen for `max_gap_s`.

use serde::{Deserialize, Serialize};

use crate::detect::iou;

/// How detections are associated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Association {
    /// By ground position: within `gate_m` metres (or 2 × the positions' uncertainty).
    Ground {
        /// Gate, metres.
        gate_m: f64,
    },
    /// By box overlap in the image: IoU at least `min_iou`.
    Image {
        /// Minimum IoU.
        min_iou: f64,
    },
}

/// Tracker settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerOptions {
    /// How detections join tracks.
    pub association: Association,
    /// Detections needed to confirm a track.
    pub min_hits: u32,
    /// Time a track must span before it is confirmed, seconds.
    pub min_dwell_s: f64,
    /// A track unseen this long ends, seconds.
    pub max_gap_s: f64,
    /// The best detection score a track needs to be confirmed: one clear view, not only many
    /// faint ones.
    pub min_best_score: f32,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            association: Association::Ground { gate_m: 6.0 },
            min_hits: 5,
            min_dwell_s: 0.0,
            max_gap_s: 2.0,
            min_best_score: 0.5,
        }
    }
}

/// One detection handed to the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Time, seconds.
    pub t_s: f64,
    /// Frame index.
    pub frame: u64,
    /// Detector class.
    pub object_class: String,
    /// Detector score.
    pub score: f32,
    /// Box in the frame, pixels.
    pub bbox: [f64; 4],
    /// Ground position, local metres (drones; `None` when the ray missed the ground).
    pub local: Option<[f64; 2]>,
    /// Elevation of the surface it stands on, metres.
    pub elevation_m: f64,
    /// Geotag uncertainty (90 % radius), metres.
    pub uncertainty_m: f64,
}

/// A track: the observations of one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Id, unique within the tracker.
    pub id: u64,
    /// Detector class.
    pub object_class: String,
    /// Number of detections.
    pub hits: u32,
    /// First and last time seen, seconds.
    pub first_s: f64,
    /// Last time seen, seconds.
    pub last_s: f64,
    /// The best (highest-score) observation: its box and frame make the evidence.
    pub best: Observation,
    /// The last observation.
    pub last: Observation,
    /// Inverse-variance weighted mean position, local metres.
    pub local: Option<[f64; 2]>,
    /// Its 90 % radius, metres (the best single observation's: pose errors are correlated
    /// over a pass, so averaging does not shrink them).
    pub uncertainty_m: f64,
    /// Elevation of the best observation's surface.
    pub elevation_m: f64,
    /// Whether it has been reported confirmed.
    pub confirmed: bool,
    w_sum: f64,
    acc: [f64; 2],
}

impl Track {
    fn new(id: u64, o: Observation) -> Self {
        let mut t = Self {
            id,
            object_class: o.object_class.clone(),
            hits: 0,
            first_s: o.t_s,
            last_s: o.t_s,
            best: o.clone(),
            last: o.clone(),
            local: None,
            uncertainty_m: f64::INFINITY,
            elevation_m: o.elevation_m,
            confirmed: false,
            w_sum: 0.0,
            acc: [0.0; 2],
        };
        t.add(o);
        t
    }

    fn add(&mut self, o: Observation) {
        self.hits += 1;
        self.last_s = self.last_s.max(o.t_s);
        if let Some(p) = o.local {
            let w = 1.0 / o.uncertainty_m.max(0.1).powi(2);
            self.w_sum += w;
            self.acc[0] += w * p[0];
            self.acc[1] += w * p[1];
            self.local = Some([self.acc[0] / self.w_sum, self.acc[1] / self.w_sum]);
            if o.uncertainty_m < self.uncertainty_m {
                self.uncertainty_m = o.uncertainty_m;
                self.elevation_m = o.elevation_m;
            }
        }
        if o.score > self.best.score {
            self.best = o.clone();
        }
        self.last = o;
    }
}

/// What the tracker reports after a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum TrackEvent {
    /// A track has just been confirmed: publish it.
    Confirmed(Track),
    /// A confirmed track has ended: its final estimate.
    Ended(Track),
}

/// The tracker.
#[derive(Debug, Clone)]
pub struct Tracker {
    opts: TrackerOptions,
    tracks: Vec<Track>,
    next_id: u64,
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl Tracker {
    /// A tracker.
    pub fn new(opts: TrackerOptions) -> Self {
        Self {
            opts,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Live tracks.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// How well `o` fits track `t`: lower is better, `None` outside the gate.
    fn cost(&self, t: &Track, o: &Observation) -> Option<f64> {
        if t.object_class != o.object_class {
            return None;
        }
        match self.opts.association {
            Association::Ground { gate_m } => {
                let (a, b) = (t.local?, o.local?);
                let gate = gate_m.max(2.0 * o.uncertainty_m.min(t.uncertainty_m));
                let d = dist(a, b);
                (d <= gate).then_some(d / gate)
            }
            Association::Image { min_iou } => {
                let f = |b: [f64; 4]| b.map(|v| v as f32);
                let v = f64::from(iou(f(t.last.bbox), f(o.bbox)));
                (v >= min_iou).then_some(1.0 - v)
            }
        }
    }

    /// Feeds one frame's observations (all at time `t_s`); returns confirmations and ends.
    pub fn update(&mut self, t_s: f64, observations: Vec<Observation>) -> Vec<TrackEvent> {
        // Greedy assignment by cost: every pair within the gate, best first.
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (oi, o) in observations.iter().enumerate() {
            for (ti, t) in self.tracks.iter().enumerate() {
                if let Some(c) = self.cost(t, o) {
                    pairs.push((c, ti, oi));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut track_used, mut obs_used) = (
            vec![false; self.tracks.len()],
            vec![false; observations.len()],
        );
        let mut assigned: Vec<(usize, usize)> = Vec::new();
        for (_, ti, oi) in pairs {
            if !track_used[ti] && !obs_used[oi] {
                track_used[ti] = true;
                obs_used[oi] = true;
                assigned.push((ti, oi));
            }
        }
        let mut obs: Vec<Option<Observation>> = observations.into_iter().map(Some).collect();
        for (ti, oi) in assigned {
            if let Some(o) = obs[oi].take() {
                self.tracks[ti].add(o);
            }
        }
        for o in obs.into_iter().flatten() {
            self.tracks.push(Track::new(self.next_id, o));
            self.next_id += 1;
        }
        let mut events = Vec::new();
        for t in &mut self.tracks {
            if !t.confirmed
                && t.hits >= self.opts.min_hits
                && t.last_s - t.first_s >= self.opts.min_dwell_s
                && t.best.score >= self.opts.min_best_score
            {
                t.confirmed = true;
                events.push(TrackEvent::Confirmed(t.clone()));
            }
        }
        let max_gap = self.opts.max_gap_s;
        let (ended, live): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| t_s - t.last_s > max_gap);
        self.tracks = live;
        events.extend(
            ended
                .into_iter()
                .filter(|t| t.confirmed)
                .map(TrackEvent::Ended),
        );
        events
    }

    /// Ends every live track (end of a recording); returns the confirmed ones.
    pub fn finish(&mut self) -> Vec<TrackEvent> {
        std::mem::take(&mut self.tracks)
            .into_iter()
            .filter(|t| t.confirmed)
            .map(TrackEvent::Ended)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(t: f64, class: &str, x: f64, y: f64, score: f32) -> Observation {
        Observation {
            t_s: t,
            frame: (t * 30.0) as u64,
            object_class: class.into(),
            score,
            bbox: [x, y, x + 10.0, y + 10.0],
            local: Some([x, y]),
            elevation_m: 0.0,
            uncertainty_m: 2.0,
        }
    }

    #[test]
    fn one_object_seen_many_times_is_one_confirmed_track() {
        let mut tr = Tracker::new(TrackerOptions::default());
        let mut events = Vec::new();
        for k in 0..10 {
            let t = k as f64 * 0.2;
            let jitter = if k % 2 == 0 { 0.8 } else { -0.8 };
            events.extend(tr.update(
                t,
                vec![
                    obs(t, "stall", 10.0 + jitter, 5.0, 0.5 + k as f32 * 0.01),
                    obs(t, "waste_pile", 40.0, 5.0, 0.9),
                ],
            ));
        }
        let confirmed: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, TrackEvent::Confirmed(_)))
            .collect();
        assert_eq!(confirmed.len(), 2, "{events:?}");
        events = tr.update(5.0, vec![]);
        assert_eq!(events.len(), 2);
        let TrackEvent::Ended(stall) = events
            .iter()
            .find(|e| matches!(e, TrackEvent::Ended(t) if t.object_class == "stall"))
            .unwrap()
        else {
            unreachable!()
        };
        assert_eq!(stall.hits, 10);
        assert!((stall.local.unwrap()[0] - 10.0).abs() < 1e-9);
        assert!((stall.best.score - 0.59).abs() < 1e-6);
        assert!(tr.tracks().is_empty());
    }

    #[test]
    fn brief_detections_never_confirm_and_classes_do_not_mix() {
        let mut tr = Tracker::new(TrackerOptions::default());
        let mut events = tr.update(0.0, vec![obs(0.0, "stall", 0.0, 0.0, 0.9)]);
        events.extend(tr.update(0.1, vec![obs(0.1, "waste_pile", 0.0, 0.0, 0.9)]));
        events.extend(tr.update(0.2, vec![obs(0.2, "stall", 30.0, 0.0, 0.9)]));
        events.extend(tr.update(9.0, vec![]));
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn cameras_need_dwell_time_in_image_space() {
        let mut tr = Tracker::new(TrackerOptions {
            association: Association::Image { min_iou: 0.3 },
            min_hits: 3,
            min_dwell_s: 5.0,
            max_gap_s: 2.0,
            min_best_score: 0.5,
        });
        let mut confirmed_at = None;
        for k in 0..20 {
            let t = k as f64 * 0.5;
            let mut o = obs(t, "stall", 100.0 + k as f64 * 0.5, 50.0, 0.8);
            o.local = None;
            if tr
                .update(t, vec![o])
                .iter()
                .any(|e| matches!(e, TrackEvent::Confirmed(_)))
            {
                confirmed_at.get_or_insert(t);
            }
        }
        assert_eq!(confirmed_at, Some(5.0));
        assert_eq!(tr.tracks().len(), 1);
    }
}
