//! The per-source analysis: frames → detections (tiled) → geotags → tracks → map rules → hits.
//!
//! The same code runs live (`edge-agent run`) and on recordings (`edge-agent replay`).

use std::collections::HashMap;
use std::sync::Arc;

use argus_core::camera::{Camera, Intrinsics, Pose};
use argus_core::catalog::Catalog;
use argus_core::clock::Timestamp;
use argus_core::dem::{Dem, Terrain};
use argus_core::detect::{Detect, Detection, FrameRef, nms, tiles};
use argus_core::geodesy::{GeoPoint, LocalFrame};
use argus_core::geotag::{Geotag, Ground, PoseSigma, R90, geotag};
use argus_core::hit::{
    FrameRef as HitFrame, HIT_SCHEMA, Hit, HitId, ModelRef, Position, Source, SourceKind,
};
use argus_core::homography::GroundHomography;
use argus_core::map::Map;
use argus_core::rules::{Rule, RuleOptions, Sighting, Verdict, judge};
use argus_core::track::{Association, Observation, Track, TrackEvent, Tracker, TrackerOptions};
use serde::Deserialize;

use crate::evidence::{self, Crop, EvidenceOptions};
use crate::poses::Geometry;

/// Analysis settings (the `[analysis]` table of the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisOptions {
    /// Frames analysed per second of video (0 = every frame).
    pub detect_fps: f64,
    /// Scale at which frames are tiled into the model's input: 0.5 means tiles of twice the
    /// model's size, each shrunk to fit (the scale the detector was trained at).
    pub tile_scale: f64,
    /// Pose errors for the geotag's uncertainty.
    pub sigma: PoseSigma,
    /// Rule tolerances.
    pub rules: RuleOptions,
    /// Tracking, for drones' sources.
    pub tracker: TrackerOptions,
    /// Tracking, for fixed cameras' sources. A camera does not move: its detections are
    /// tracked in the image, and time in view is the evidence — a parked stall stays for
    /// minutes where a drone passes over it in seconds — so by default a camera's track is
    /// confirmed after 3 s in view with a best score of 0.4 rather than on one clear view.
    pub camera_tracker: TrackerOptions,
    /// Poses are held this long past either end of the telemetry, seconds.
    pub pose_hold_s: f64,
    /// Height of the ground plane in the map's frame, metres.
    pub ground_z: f64,
    /// With a DEM: the terrain height (in the DEM's datum) that the telemetry's heights are
    /// measured from, metres. Default: the DEM's height under the source's first pose — right
    /// for a recording that starts at take-off and for a fixed camera.
    pub takeoff_elevation_m: Option<f64>,
    /// A track's final estimate is published as an update when it moved at least this far
    /// from the first hit's position, metres.
    pub update_min_move_m: f64,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            detect_fps: 5.0,
            tile_scale: 0.5,
            sigma: PoseSigma::default(),
            rules: RuleOptions::default(),
            tracker: TrackerOptions::default(),
            camera_tracker: camera_tracker(),
            pose_hold_s: 1.0,
            ground_z: 0.0,
            takeoff_elevation_m: None,
            update_min_move_m: 1.0,
        }
    }
}

/// The tracking defaults of a fixed camera ([`AnalysisOptions::camera_tracker`]).
pub fn camera_tracker() -> TrackerOptions {
    TrackerOptions {
        association: Association::Image { min_iou: 0.3 },
        min_dwell_s: CAMERA_MIN_DWELL_S,
        min_best_score: CAMERA_MIN_BEST_SCORE,
        ..TrackerOptions::default()
    }
}

/// Geotags a fixed camera's box through its ground homography: the foot of the box (its bottom
/// centre, where the object meets the ground) moved half the object's width away from the
/// camera, to its footprint's centre.
pub fn geotag_homography(h: &GroundHomography, bbox: [f64; 4]) -> Option<Geotag> {
    let u = (bbox[0] + bbox[2]) / 2.0;
    let foot = h.to_ground(u, bbox[3])?;
    let beyond = h.to_ground(u, bbox[3] - 1.0)?;
    let (l, r) = (
        h.to_ground(bbox[0], bbox[3])?,
        h.to_ground(bbox[2], bbox[3])?,
    );
    let width_m = ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt();
    let (dx, dy) = (beyond[0] - foot[0], beyond[1] - foot[1]);
    let norm = (dx * dx + dy * dy).sqrt().max(1e-9);
    let centre = [
        foot[0] + dx / norm * width_m / 2.0,
        foot[1] + dy / norm * width_m / 2.0,
    ];
    let mpp = h.metres_per_pixel(u, bbox[3])?;
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    let sigma =
        (h.rms_m.powi(2) + (0.1 * side * mpp).powi(2) + (0.3 * width_m / 2.0).powi(2)).sqrt();
    Some(Geotag {
        local: centre,
        elevation_m: 0.0,
        uncertainty_m: R90 * sigma,
        building: None,
    })
}

/// Everything about one source that is not a frame.
#[derive(Debug, Clone)]
pub struct SourceSetup {
    /// The agent's id.
    pub agent_id: String,
    /// The source.
    pub source: Source,
    /// Camera intrinsics; `None` = from the telemetry's focal length at the frame's size.
    pub intrinsics: Option<Intrinsics>,
    /// Poses.
    pub geometry: Geometry,
    /// The map (rules, building roofs); without one, no sighting is a violation.
    pub map: Option<Arc<Map>>,
    /// Which detector class becomes which violation, by which rule, and its typical height.
    pub catalog: Arc<Catalog>,
    /// The terrain; without it the ground is the flat plane at `ground_z`.
    pub dem: Option<Arc<Dem>>,
    /// UTC time of the video's start, Unix seconds.
    pub start_unix_s: f64,
    /// Local time minus UTC, seconds (vending-zone hours are local).
    pub utc_offset_s: f64,
}

/// One analysed frame's worth of input.
#[derive(Debug, Clone, Copy)]
pub struct FrameIn<'a> {
    /// Frame index from the start.
    pub index: u64,
    /// Presentation time, seconds.
    pub t_s: f64,
    /// RGB bytes.
    pub rgb: &'a [u8],
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why a frame produced no geotags (counted, and logged once per kind).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Frames given.
    pub frames: u64,
    /// Frames run through the detector.
    pub analysed: u64,
    /// Detections.
    pub detections: u64,
    /// Detections without a pose (outside the telemetry's time span).
    pub no_pose: u64,
    /// Detections whose ray met no ground (over the horizon, or off the DEM).
    pub unplaced: u64,
    /// Confirmed tracks judged legal.
    pub legal: u64,
    /// Hits made.
    pub hits: u64,
    /// Frames whose analysis failed (the detector or the evidence's encoding).
    pub failed: u64,
}

#[derive(Debug)]
struct Published {
    hit_id: HitId,
    local: [f64; 2],
}

/// The analysis state of one source.
#[derive(Debug)]
pub struct Analyzer {
    setup: SourceSetup,
    frame: LocalFrame,
    opts: AnalysisOptions,
    tracker: Tracker,
    crops: HashMap<u64, Crop>,
    frames: HashMap<u64, (Pose, HitFrame)>,
    published: HashMap<u64, Published>,
    last_detect_s: Option<f64>,
    evidence: EvidenceOptions,
    model: ModelRef,
    /// The DEM height of the local frame's z = 0, once decided (`Some(None)`: the DEM does not
    /// cover the source, whose ground is then flat).
    terrain_reference: Option<Option<f64>>,
    /// What happened so far.
    pub counters: Counters,
}

/// Errors of one frame's analysis.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The detector failed.
    #[error("detector: {0}")]
    Detect(Box<dyn std::error::Error + Send + Sync>),
    /// Evidence could not be encoded.
    #[error("encoding evidence: {0}")]
    Evidence(#[from] image::ImageError),
    /// The source's clock puts a frame outside the calendar (a start time that is no time).
    #[error("frame time {0} s since the epoch is outside the calendar")]
    Time(f64),
}

/// A fixed camera's track is confirmed after this long in view…
pub const CAMERA_MIN_DWELL_S: f64 = 3.0;
/// …with at least this best score.
pub const CAMERA_MIN_BEST_SCORE: f32 = 0.4;

impl Analyzer {
    /// A fresh analyzer for one source.
    pub fn new(setup: SourceSetup, opts: AnalysisOptions, model: ModelRef) -> Self {
        let tracking = match setup.source.kind {
            SourceKind::Camera => opts.camera_tracker,
            _ => opts.tracker,
        };
        Self {
            tracker: Tracker::new(tracking),
            frame: Self::local_frame(&setup),
            setup,
            opts,
            crops: HashMap::new(),
            frames: HashMap::new(),
            published: HashMap::new(),
            last_detect_s: None,
            evidence: EvidenceOptions::default(),
            model,
            terrain_reference: None,
            counters: Counters::default(),
        }
    }

    /// The source's id.
    pub fn source_id(&self) -> &str {
        &self.setup.source.id
    }

    /// Whether the frame at `t_s` is due for detection under `detect_fps`.
    pub fn due(&self, t_s: f64) -> bool {
        match self.last_detect_s {
            Some(last) if self.opts.detect_fps > 0.0 => t_s - last >= 0.999 / self.opts.detect_fps,
            _ => true,
        }
    }

    /// Runs the detector over a frame's tiles; boxes in frame pixels, merged across tiles.
    pub fn detect<D: Detect>(
        &self,
        det: &mut D,
        f: &FrameIn<'_>,
    ) -> Result<Vec<Detection>, D::Error> {
        let tile = (f64::from(det.input_size()) / self.opts.tile_scale).round() as u32;
        let tl = tiles(f.width, f.height, tile.max(1));
        let bufs: Vec<Vec<u8>> = tl
            .iter()
            .map(|&t| evidence::crop_rgb(f.rgb, f.width, t))
            .collect();
        let refs: Vec<FrameRef<'_>> = tl
            .iter()
            .zip(&bufs)
            .map(|(t, b)| FrameRef {
                rgb: b,
                width: t[2],
                height: t[3],
            })
            .collect();
        let per_tile = det.detect(&refs)?;
        let mut all = Vec::new();
        for (t, dets) in tl.iter().zip(per_tile) {
            let (ox, oy) = (t[0] as f32, t[1] as f32);
            for mut d in dets {
                // A box cut by a tile edge that another tile holds whole is that tile's.
                let cut = |lo: f32, hi: f32, start: u32, len: u32, full: u32| {
                    (start > 0 && lo <= 1.0) || (start + len < full && hi >= len as f32 - 1.0)
                };
                if tl.len() > 1
                    && (cut(d.bbox[0], d.bbox[2], t[0], t[2], f.width)
                        || cut(d.bbox[1], d.bbox[3], t[1], t[3], f.height))
                {
                    d.score *= 0.9;
                }
                d.bbox = [
                    d.bbox[0] + ox,
                    d.bbox[1] + oy,
                    d.bbox[2] + ox,
                    d.bbox[3] + oy,
                ];
                all.push(d);
            }
        }
        Ok(nms(all, 0.5))
    }

    fn intrinsics(&self, t_s: f64, width: u32, height: u32) -> Intrinsics {
        if let Some(i) = self.setup.intrinsics {
            return i;
        }
        let focal = self.setup.geometry.focal_35mm_at(t_s);
        // DJI wide cameras: 24 mm equivalent when the telemetry does not say.
        Intrinsics::from_focal_35mm(width, height, focal.unwrap_or(24.0))
    }

    fn pose(&self, t_s: f64) -> Option<Pose> {
        self.setup.geometry.pose_at(t_s, self.opts.pose_hold_s)
    }

    /// The DEM height the source's heights are measured from: configured, or the terrain under
    /// its first pose. Decided once; `None` without a DEM or when the DEM does not cover it.
    fn terrain_reference(&mut self, pose: &Pose) -> Option<f64> {
        let dem = self.setup.dem.as_deref()?;
        if let Some(decided) = self.terrain_reference {
            return decided;
        }
        let at = pose.position();
        let reference = self.opts.takeoff_elevation_m.or_else(|| dem.height_at(at));
        match reference {
            Some(r) => tracing::info!(
                source = %self.setup.source.id,
                reference_m = r,
                "terrain: heights are measured from this DEM height"
            ),
            None => tracing::warn!(
                source = %self.setup.source.id,
                lat = at.lat,
                lon = at.lon,
                "the DEM does not cover the source's first position: its ground is flat \
                 (set analysis.takeoff_elevation_m to use the DEM anyway)"
            ),
        }
        self.terrain_reference = Some(reference);
        reference
    }

    /// The local frame positions live in: the homography's, else the map's, else one at the
    /// source's first pose (fixed for the whole run, so tracks stay comparable).
    fn local_frame(setup: &SourceSetup) -> LocalFrame {
        let origin = match (&setup.geometry, setup.map.as_deref()) {
            (Geometry::Homography { frame, .. }, _) => return *frame,
            (_, Some(m)) => return *m.frame(),
            // A live drone's first pose is not known yet: its source needs a map (the edge
            // agent's set-up says so).
            (g, None) => g.origin(),
        };
        LocalFrame::new(origin.unwrap_or(GeoPoint { lat: 0.0, lon: 0.0 }))
    }

    /// Analyses one frame: returns the hits it completes.
    pub fn frame<D: Detect>(
        &mut self,
        det: &mut D,
        f: &FrameIn<'_>,
    ) -> Result<Vec<Hit>, AnalyzeError> {
        self.counters.frames += 1;
        if !self.due(f.t_s) {
            return Ok(Vec::new());
        }
        self.last_detect_s = Some(f.t_s);
        self.counters.analysed += 1;
        let dets = match self.detect(det, f) {
            Ok(d) => d,
            Err(e) => {
                self.counters.failed += 1;
                return Err(AnalyzeError::Detect(Box::new(e)));
            }
        };
        self.counters.detections += dets.len() as u64;
        let pose = self.pose(f.t_s);
        let intr = self.intrinsics(f.t_s, f.width, f.height);
        let classes = det.classes();
        let mut obs = Vec::with_capacity(dets.len());
        if let Some(pose) = pose {
            let reference = self.terrain_reference(&pose);
            let map = self.setup.map.as_deref();
            let frame = self.frame;
            let ground = Ground {
                terrain: self
                    .setup
                    .dem
                    .as_deref()
                    .zip(reference)
                    .map(|(dem, reference_m)| Terrain {
                        dem,
                        frame: &frame,
                        reference_m,
                    }),
                ..Ground::flat(self.opts.ground_z, map)
            };
            for d in &dets {
                let bbox = d.bbox.map(f64::from);
                let Some(class) = classes.get(d.class) else {
                    continue;
                };
                let g = match &self.setup.geometry {
                    Geometry::Homography { h, .. } => geotag_homography(h, bbox),
                    _ => geotag(
                        intr,
                        &frame,
                        &pose,
                        bbox,
                        self.setup.catalog.height_m(class),
                        &ground,
                        &self.opts.sigma,
                    ),
                };
                let Some(g) = g else {
                    self.counters.unplaced += 1;
                    continue;
                };
                obs.push(Observation {
                    t_s: f.t_s,
                    frame: f.index,
                    object_class: class.clone(),
                    score: d.score,
                    bbox,
                    local: Some(g.local),
                    elevation_m: g.elevation_m,
                    uncertainty_m: g.uncertainty_m,
                });
            }
            self.frames.insert(
                f.index,
                (
                    pose,
                    HitFrame {
                        index: f.index,
                        pts_s: f.t_s,
                        width: f.width,
                        height: f.height,
                    },
                ),
            );
        } else {
            self.counters.no_pose += dets.len() as u64;
        }
        let events = self.tracker.update(f.t_s, obs);
        // Keep the evidence of every track whose best view is this frame.
        for t in self.tracker.tracks() {
            if t.best.frame == f.index && t.last.frame == f.index {
                self.crops.insert(
                    t.id,
                    evidence::cut(f.rgb, f.width, f.height, t.best.bbox, &self.evidence),
                );
            }
        }
        self.handle(events)
    }

    /// Ends every track (end of the recording or of the source) and returns the last hits.
    pub fn finish(&mut self) -> Result<Vec<Hit>, AnalyzeError> {
        let events = self.tracker.finish();
        self.handle(events)
    }

    fn handle(&mut self, events: Vec<TrackEvent>) -> Result<Vec<Hit>, AnalyzeError> {
        let mut hits = Vec::new();
        for e in events {
            match e {
                TrackEvent::Confirmed(t) => {
                    if let Some(h) = self.judge_and_make(&t, None)? {
                        hits.push(h);
                    }
                }
                TrackEvent::Ended(t) => {
                    match self.published.get(&t.id) {
                        Some(p) => {
                            let moved = t
                                .local
                                .map(|l| {
                                    ((l[0] - p.local[0]).powi(2) + (l[1] - p.local[1]).powi(2))
                                        .sqrt()
                                })
                                .unwrap_or(0.0);
                            if moved >= self.opts.update_min_move_m {
                                let first = p.hit_id.clone();
                                if let Some(h) = self.judge_and_make(&t, Some(first))? {
                                    hits.push(h);
                                }
                            }
                        }
                        // Judged legal when confirmed: its final place may say otherwise.
                        None => {
                            if let Some(h) = self.judge_and_make(&t, None)? {
                                hits.push(h);
                            }
                        }
                    }
                    self.crops.remove(&t.id);
                    self.published.remove(&t.id);
                }
            }
        }
        // Frames no live track refers to are no longer needed.
        let live: std::collections::HashSet<u64> = self
            .tracker
            .tracks()
            .iter()
            .flat_map(|t| [t.best.frame, t.last.frame])
            .collect();
        self.frames.retain(|k, _| live.contains(k));
        self.counters.hits += hits.len() as u64;
        Ok(hits)
    }

    fn minute_of_day(&self, t_s: f64) -> u32 {
        let local = self.setup.start_unix_s + t_s + self.setup.utc_offset_s;
        (local.rem_euclid(86_400.0) / 60.0) as u32
    }

    /// The ground a track's best box covers: its corners cast from that frame's pose onto the
    /// plane halfway up the object (a convex quadrilateral, local metres). `None` for a
    /// homography-calibrated camera, and when a corner's ray misses the plane.
    fn footprint(&self, t: &Track) -> Option<Vec<[f64; 2]>> {
        if matches!(self.setup.geometry, Geometry::Homography { .. }) {
            return None;
        }
        let (pose, frame) = self.frames.get(&t.best.frame)?;
        let cam = Camera::new(
            self.intrinsics(t.best.t_s, frame.width, frame.height),
            &self.frame,
            pose,
        );
        let z = t.elevation_m + self.setup.catalog.height_m(&t.object_class) / 2.0;
        let b = t.best.bbox;
        [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])]
            .iter()
            .map(|&(u, v)| cam.ground_point(u, v, z).map(|p| [p.x, p.y]))
            .collect()
    }

    fn judge_and_make(
        &mut self,
        t: &Track,
        update_of: Option<HitId>,
    ) -> Result<Option<Hit>, AnalyzeError> {
        let Some(local) = t.local else {
            tracing::debug!(track = t.id, class = %t.object_class, "no ground position");
            return Ok(None);
        };
        let footprint = self.footprint(t);
        let verdict = match self.setup.map.as_deref() {
            Some(map) => judge(
                &self.setup.catalog,
                map,
                &Sighting {
                    object_class: &t.object_class,
                    at: local,
                    footprint: footprint.as_deref(),
                },
                self.minute_of_day(t.best.t_s),
                &self.opts.rules,
            ),
            None => Verdict::Legal("no map".into()),
        };
        let (class, rule): (String, Rule) = match verdict {
            Verdict::Violation { class, rule } => (class, rule),
            Verdict::Legal(why) => {
                self.counters.legal += 1;
                tracing::debug!(track = t.id, class = %t.object_class, why, "legal");
                return Ok(None);
            }
        };
        let (Some(crop), Some(&(pose, frame))) =
            (self.crops.get(&t.id), self.frames.get(&t.best.frame))
        else {
            tracing::warn!(track = t.id, class = %t.object_class, "a violation's evidence frame is gone; not published");
            return Ok(None);
        };
        let (evidence, _) = evidence::encode(crop, &self.evidence).inspect_err(|_| {
            self.counters.failed += 1;
        })?;
        let g = self.frame.ground_to_geo(local[0], local[1]);
        let at = self.setup.start_unix_s + t.best.t_s;
        let observed_at = Timestamp::from_unix_s(at).ok_or(AnalyzeError::Time(at))?;
        let hit_id = HitId::now_v7();
        if update_of.is_none() {
            self.published.insert(
                t.id,
                Published {
                    hit_id: hit_id.clone(),
                    local,
                },
            );
        }
        Ok(Some(Hit {
            schema: HIT_SCHEMA.into(),
            hit_id,
            agent_id: self.setup.agent_id.clone(),
            source: self.setup.source.clone(),
            class,
            object_class: t.object_class.clone(),
            score: t.best.score,
            model: self.model.clone(),
            observed_at,
            frame,
            bbox: t.best.bbox,
            track_id: t.id,
            sightings: t.hits,
            position: Position {
                lat: g.lat,
                lon: g.lon,
                elevation_m: t.elevation_m,
                uncertainty_m: t.uncertainty_m,
            },
            pose,
            rule,
            evidence,
            update_of,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::camera::Camera;
    use argus_core::homography::Gcp;
    use argus_core::linalg::Vec3;

    /// The homography through the first four control points, solved exactly (what
    /// `argus-calib` fits with OpenCV from more).
    #[allow(clippy::needless_range_loop)]
    fn exact_homography(gcps: &[Gcp], frame: &LocalFrame) -> GroundHomography {
        let mut a = [[0.0f64; 9]; 8];
        for (k, g) in gcps.iter().take(4).enumerate() {
            let (x, y) = frame.geo_to_ground(GeoPoint {
                lat: g.lat,
                lon: g.lon,
            });
            let [u, v] = g.pixel;
            a[2 * k] = [u, v, 1.0, 0.0, 0.0, 0.0, -x * u, -x * v, x];
            a[2 * k + 1] = [0.0, 0.0, 0.0, u, v, 1.0, -y * u, -y * v, y];
        }
        // Gaussian elimination with partial pivoting on the 8 × 8 system, h[8] = 1.
        for c in 0..8 {
            let p = (c..8)
                .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
                .unwrap();
            a.swap(c, p);
            for r in 0..8 {
                if r != c {
                    let f = a[r][c] / a[c][c];
                    for k in c..9 {
                        a[r][k] -= f * a[c][k];
                    }
                }
            }
        }
        let mut h = [1.0; 9];
        for r in 0..8 {
            h[r] = a[r][8] / a[r][r];
        }
        GroundHomography::from_matrix(h, gcps, frame).unwrap()
    }

    #[test]
    fn a_street_cameras_box_lands_on_the_objects_footprint() {
        let frame = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.02,
        });
        let pose = Pose {
            lat: 30.7,
            lon: 121.02,
            alt_m: 8.0,
            yaw_deg: 10.0,
            pitch_deg: -24.0,
            roll_deg: 0.0,
        };
        let cam = Camera::new(Intrinsics::from_hfov(1280, 720, 70.0), &frame, &pose);
        let gcps: Vec<Gcp> = [
            (-5.0, 12.0),
            (6.0, 13.0),
            (-8.0, 35.0),
            (9.0, 38.0),
            (0.0, 22.0),
        ]
        .iter()
        .map(|&(e, n)| Gcp::of_ground(&cam, &frame, e, n).unwrap())
        .collect();
        let h = exact_homography(&gcps, &frame);
        // A 2 m cube standing at (3, 20): its box is the hull of its corners.
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (dx, dy, z) in [
            (-1.0, -1.0, 0.0),
            (1.0, -1.0, 0.0),
            (-1.0, 1.0, 0.0),
            (1.0, 1.0, 0.0),
        ]
        .into_iter()
        .flat_map(|(x, y, _)| [(x, y, 0.0), (x, y, 2.0)])
        {
            let (u, v) = cam.project(Vec3::new(3.0 + dx, 20.0 + dy, z)).unwrap();
            b = [b[0].min(u), b[1].min(v), b[2].max(u), b[3].max(v)];
        }
        let g = geotag_homography(&h, b).unwrap();
        let err = ((g.local[0] - 3.0).powi(2) + (g.local[1] - 20.0).powi(2)).sqrt();
        assert!(err < 0.6, "{g:?}");
        assert!(g.uncertainty_m > err, "{g:?}");
    }
}
