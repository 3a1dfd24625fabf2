//! Coverage in a local tangent plane (east/north metres): boustrophedon sweeps over a polygon,
//! parallel passes along a corridor, and the footprints a camera leaves along them.
//!
//! A sweep follows QGroundControl's survey (formats.md §6), reimplemented: lines spaced by the
//! camera's swath less the side overlap, at the bearing that needs the fewest lines (along the
//! polygon's minimum width) unless one is given, clipped to the polygon with each line's
//! fragments kept as separate transects (a concave gap is crossed in transit, never swept),
//! flown in alternating directions and extended by the turnaround distance.

use geo::algorithm::buffer::{BufferStyle, LineCap};
use geo::{
    Area, BooleanOps, Buffer, ConvexHull, Coord, Intersects, LineString, MultiLineString,
    MultiPolygon, Point, Polygon,
};

/// Why an area or line cannot be covered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CoverageError {
    /// A spacing, swath or width that is not a positive finite number.
    #[error("{what} = {value} must be a positive number of metres")]
    Size {
        /// Which.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// More lines than any flight could fly.
    #[error("{lines} lines of {spacing_m:.1} m would be needed (at most {MAX_LINES})")]
    TooManyLines {
        /// Lines needed.
        lines: f64,
        /// Their spacing.
        spacing_m: f64,
    },
    /// The polygon has no area, or the line no length.
    #[error("the {0} is degenerate (no area or no length)")]
    Degenerate(&'static str),
}

/// Most lines a sweep or corridor may have.
pub const MAX_LINES: usize = 10_000;

/// How to sweep an area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepOptions {
    /// The camera's swath across the track at the flight height, metres.
    pub swath_m: f64,
    /// Distance between lines, metres (the swath less the side overlap). With `evenly`, the
    /// largest distance allowed.
    pub spacing_m: f64,
    /// Bearing of the lines, degrees clockwise from north; `None`: the one that needs the
    /// fewest lines.
    pub bearing_deg: Option<f64>,
    /// How far each line runs on past the polygon's edge to turn, metres.
    pub turnaround_m: f64,
    /// Spread the lines evenly from edge to edge (the first and last on the polygon's
    /// outermost points) instead of exactly `spacing_m` apart centred on it.
    pub evenly: bool,
    /// Start at the corner nearest this point (local metres), e.g. the dock.
    pub entry: Option<Coord>,
    /// The camera's footprint along the track, metres: with it, what the lines leave uncovered
    /// at concave corners (more than [`FILL_SHARE`] of the area in one piece) is swept by short
    /// fill lines inside the polygon; `None` (or 0): no fill.
    pub frontal_m: Option<f64>,
    /// How far past a line's ends the camera sees, metres: half the footprint along the track
    /// for a camera looking straight down, 0 for none. A line ends up to that far inside the
    /// polygon's edge where nothing else within its swath lies beyond: the footprint still
    /// covers what the full line covered, and the flight is shorter.
    pub end_inset_m: f64,
}

/// The smallest uncovered piece, as a share of the area, that gets fill lines.
pub const FILL_SHARE: f64 = 0.001;

/// A straight stretch flown with the camera on, in flight order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transect {
    /// Start, local metres.
    pub from: Coord,
    /// End, local metres.
    pub to: Coord,
}

impl Transect {
    /// Length, metres.
    pub fn length_m(&self) -> f64 {
        (self.to.x - self.from.x).hypot(self.to.y - self.from.y)
    }
}

/// The lines of a sweep, in flight order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Bearing of the lines, degrees clockwise from north: the first line's direction when it
    /// was given, else in [0, 180).
    pub bearing_deg: f64,
    /// How many lines cross the polygon.
    pub lines: usize,
    /// Distance between adjacent lines, metres.
    pub spacing_m: f64,
    /// The transects (a line crossing a concave gap gives one per fragment).
    pub transects: Vec<Transect>,
}

impl Sweep {
    /// The flown path: every transect and the legs between them, metres.
    pub fn path_m(&self) -> f64 {
        let mut total = 0.0;
        for (i, t) in self.transects.iter().enumerate() {
            total += t.length_m();
            if let Some(next) = self.transects.get(i + 1) {
                total += (next.from.x - t.to.x).hypot(next.from.y - t.to.y);
            }
        }
        total
    }
}

fn positive(what: &'static str, value: f64) -> Result<f64, CoverageError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(CoverageError::Size { what, value })
    }
}

/// Unit vectors along (`u`) and across (`v`, to the right of) a bearing.
fn axes(bearing_deg: f64) -> (Coord, Coord) {
    let (s, c) = bearing_deg.to_radians().sin_cos();
    (Coord { x: s, y: c }, Coord { x: c, y: -s })
}

fn dot(a: Coord, b: Coord) -> f64 {
    a.x * b.x + a.y * b.y
}

/// The point `uu` along and `vv` across.
fn plane_point(u: Coord, v: Coord, uu: f64, vv: f64) -> Coord {
    Coord {
        x: u.x * uu + v.x * vv,
        y: u.y * uu + v.y * vv,
    }
}

/// The bearing (degrees in [0, 180)) along which a polygon is narrowest across: lines at this
/// bearing are the fewest. Rotating calipers over the convex hull: the minimum width is
/// measured across one of its edges.
pub fn narrowest_bearing(area: &Polygon) -> f64 {
    let hull = area.convex_hull();
    let pts: Vec<Coord> = hull.exterior().coords().copied().collect();
    let mut best = (f64::INFINITY, 0.0);
    for w in pts.windows(2) {
        let (dx, dy) = (w[1].x - w[0].x, w[1].y - w[0].y);
        let len = dx.hypot(dy);
        if len < 1e-9 {
            continue;
        }
        let d = Coord {
            x: dx / len,
            y: dy / len,
        };
        let width = pts
            .iter()
            .map(|p| ((p.x - w[0].x) * d.y - (p.y - w[0].y) * d.x).abs())
            .fold(0.0, f64::max);
        if width < best.0 - 1e-9 {
            best = (width, d.x.atan2(d.y).to_degrees().rem_euclid(180.0));
        }
    }
    best.1
}

/// Where lines go across a span of `width` from `v0`: their offsets.
fn line_offsets(
    v0: f64,
    width: f64,
    swath: f64,
    spacing: f64,
    evenly: bool,
) -> Result<(Vec<f64>, f64), CoverageError> {
    let too_many = |lines: f64| CoverageError::TooManyLines {
        lines,
        spacing_m: spacing,
    };
    if evenly {
        let gaps = (width / spacing - 1e-9).ceil().max(1.0);
        if gaps + 1.0 > MAX_LINES as f64 {
            return Err(too_many(gaps + 1.0));
        }
        let step = width / gaps;
        let n = gaps as usize + 1;
        Ok(((0..n).map(|k| v0 + k as f64 * step).collect(), step))
    } else {
        let n = if width <= swath {
            1.0
        } else {
            ((width - swath) / spacing - 1e-9).ceil().max(0.0) + 1.0
        };
        if n > MAX_LINES as f64 {
            return Err(too_many(n));
        }
        let start = v0 + (width - (n - 1.0) * spacing) / 2.0;
        Ok((
            (0..n as usize)
                .map(|k| start + k as f64 * spacing)
                .collect(),
            spacing,
        ))
    }
}

/// A line across the polygon: its offset across the bearing and its fragments (`u` ranges
/// along it), sorted.
type Line = (f64, Vec<(f64, f64)>);

/// Each line at `offsets` across `v` that crosses the polygon: its offset and its fragments
/// (`u` ranges) along it, sorted.
fn clip_lines(
    area: &Polygon,
    offsets: &[f64],
    u: Coord,
    v: Coord,
    (umin, umax): (f64, f64),
    (vmin, vmax): (f64, f64),
) -> Vec<Line> {
    // Lines on the polygon's outermost points (evenly spread) are clipped a hair inside it, so
    // that they do not run along an edge.
    let nudge = ((vmax - vmin) * 1e-9).max(1e-9);
    let at = |uu: f64, vv: f64| plane_point(u, v, uu, vv);
    // Each line that crosses the polygon: its offset and its fragments along it.
    let mut placed: Vec<Line> = Vec::with_capacity(offsets.len());
    for &off in offsets {
        let clip_v = off.clamp(vmin + nudge, vmax - nudge);
        let probe = LineString::from(vec![at(umin - 1.0, clip_v), at(umax + 1.0, clip_v)]);
        let parts = area.clip(&MultiLineString::new(vec![probe]), false);
        let mut spans: Vec<(f64, f64)> = parts
            .iter()
            .filter_map(|ls| {
                let us = ls.coords().map(|c| dot(*c, u));
                let (a, b) = us.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                    (a.min(x), b.max(x))
                });
                (b > a).then_some((a, b))
            })
            .collect();
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Pieces that touch (the clip splits at vertices) are one fragment.
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.0 <= last.1 + 1e-6 => last.1 = last.1.max(s.1),
                _ => merged.push(s),
            }
        }
        if !merged.is_empty() {
            placed.push((off, merged));
        }
    }
    placed
}

/// Pulls each fragment's ends in by up to `inset` where the polygon, within the line's swath,
/// reaches less than `inset` beyond them: the camera sees the rest. Never lengthens a
/// fragment, so no line leaves the polygon further than before.
fn inset_ends(
    area: &Polygon,
    placed: &mut [Line],
    (u, v): (Coord, Coord),
    swath: f64,
    inset: f64,
    (umin, umax): (f64, f64),
) {
    let at = |uu: f64, vv: f64| plane_point(u, v, uu, vv);
    for (off, spans) in placed.iter_mut() {
        let (lo, hi) = (*off - swath / 2.0, *off + swath / 2.0);
        let band = Polygon::new(
            LineString::from(vec![
                at(umin - 1.0, lo),
                at(umax + 1.0, lo),
                at(umax + 1.0, hi),
                at(umin - 1.0, hi),
            ]),
            vec![],
        );
        // The polygon within the swath, in connected pieces: a fragment's piece is all its
        // footprint must keep covering.
        let pieces = area.intersection(&band);
        for span in spans.iter_mut() {
            let (a, b) = *span;
            let mid = Point::from(at((a + b) / 2.0, *off));
            let Some(piece) = pieces.iter().find(|p| p.intersects(&mid)) else {
                continue;
            };
            let (ra, rb) = piece
                .exterior()
                .coords()
                .map(|c| dot(*c, u))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(x, y), w| {
                    (x.min(w), y.max(w))
                });
            let (mut na, mut nb) = (a.max(ra + inset), b.min(rb - inset));
            if nb - na < MIN_FRAGMENT_M {
                // The footprint spans the whole piece: a short pass over its middle.
                let c = ((ra + rb) / 2.0).clamp(a, b);
                let half = (MIN_FRAGMENT_M / 2.0).min((b - a) / 2.0);
                // `a + half` may round past `b - half` on a fragment shorter than the minimum.
                let c = if a + half < b - half {
                    c.clamp(a + half, b - half)
                } else {
                    (a + b) / 2.0
                };
                (na, nb) = (c - half, c + half);
            }
            *span = (na, nb);
        }
    }
}

/// The shortest fragment an end inset leaves, metres (distinct waypoints at its ends).
const MIN_FRAGMENT_M: f64 = 1.0;

/// Short lines sweeping what the lines leave uncovered (at concave corners): each uncovered
/// piece over [`FILL_SHARE`] of the area is swept on its own, its lines clipped to it, so they
/// stay inside the polygon.
fn fill_lines(
    area: &Polygon,
    placed: &[Line],
    (u, v): (Coord, Coord),
    swath: f64,
    spacing: f64,
    turnaround: f64,
    frontal: f64,
) -> Result<Vec<Line>, CoverageError> {
    let at = |uu: f64, vv: f64| plane_point(u, v, uu, vv);
    let mut cover = MultiPolygon::new(Vec::new());
    for (off, spans) in placed {
        for &(a, b) in spans {
            let path = [at(a - turnaround, *off), at(b + turnaround, *off)];
            cover = cover.union(&footprint(&path, swath, frontal));
        }
    }
    let total = area.unsigned_area();
    let mut out = Vec::new();
    for piece in area.difference(&cover) {
        if piece.unsigned_area() < FILL_SHARE * total {
            continue;
        }
        let (mut range_u, mut range_v) = (
            (f64::INFINITY, f64::NEG_INFINITY),
            (f64::INFINITY, f64::NEG_INFINITY),
        );
        for p in piece.exterior().coords() {
            let (pu, pv) = (dot(*p, u), dot(*p, v));
            range_u = (range_u.0.min(pu), range_u.1.max(pu));
            range_v = (range_v.0.min(pv), range_v.1.max(pv));
        }
        let (offsets, _) = line_offsets(range_v.0, range_v.1 - range_v.0, swath, spacing, false)?;
        out.extend(clip_lines(&piece, &offsets, u, v, range_u, range_v));
    }
    Ok(out)
}

/// Sweeps a polygon (local metres) with parallel lines.
pub fn sweep(area: &Polygon, o: &SweepOptions) -> Result<Sweep, CoverageError> {
    let swath = positive("swath", o.swath_m)?;
    let spacing = positive("spacing", o.spacing_m)?;
    for (what, value) in [("turnaround", o.turnaround_m), ("end inset", o.end_inset_m)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(CoverageError::Size { what, value });
        }
    }
    if area.unsigned_area() < 1e-6 {
        return Err(CoverageError::Degenerate("polygon"));
    }
    let bearing = match o.bearing_deg {
        // A given bearing is also the first line's direction.
        Some(b) if b.is_finite() => b.rem_euclid(360.0),
        Some(b) => {
            return Err(CoverageError::Size {
                what: "angle",
                value: b,
            });
        }
        None => narrowest_bearing(area),
    };
    let (u, v) = axes(bearing);
    let coords: Vec<Coord> = area.exterior().coords().copied().collect();
    let (mut umin, mut umax, mut vmin, mut vmax) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for p in &coords {
        umin = umin.min(dot(*p, u));
        umax = umax.max(dot(*p, u));
        vmin = vmin.min(dot(*p, v));
        vmax = vmax.max(dot(*p, v));
    }
    let width = vmax - vmin;
    let (offsets, step) = line_offsets(vmin, width, swath, spacing, o.evenly)?;
    let at = |uu: f64, vv: f64| plane_point(u, v, uu, vv);
    let mut placed = clip_lines(area, &offsets, u, v, (umin, umax), (vmin, vmax));
    let n_lines = placed.len();
    if o.end_inset_m > 0.0 {
        inset_ends(
            area,
            &mut placed,
            (u, v),
            swath,
            o.end_inset_m,
            (umin, umax),
        );
    }
    if let Some(frontal) = o.frontal_m.filter(|f| f.is_finite() && *f > 0.0) {
        placed.extend(fill_lines(
            area,
            &placed,
            (u, v),
            swath,
            spacing,
            o.turnaround_m,
            frontal,
        )?);
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let build = |reverse_lines: bool, first_backwards: bool| -> Vec<Transect> {
        let mut out = Vec::new();
        let order: Vec<&Line> = if reverse_lines {
            placed.iter().rev().collect()
        } else {
            placed.iter().collect()
        };
        for (k, (off, spans)) in order.into_iter().enumerate() {
            let backwards = (k % 2 == 1) != first_backwards;
            let t = o.turnaround_m;
            let mut frags: Vec<Transect> = spans
                .iter()
                .map(|&(a, b)| {
                    let (a, b) = if backwards {
                        (b + t, a - t)
                    } else {
                        (a - t, b + t)
                    };
                    Transect {
                        from: at(a, *off),
                        to: at(b, *off),
                    }
                })
                .collect();
            if backwards {
                frags.reverse();
            }
            out.extend(frags);
        }
        out
    };
    let transects = match o.entry {
        None => build(false, false),
        Some(e) => {
            let dist = |t: &[Transect]| {
                t.first()
                    .map_or(f64::INFINITY, |f| (f.from.x - e.x).hypot(f.from.y - e.y))
            };
            [(false, false), (false, true), (true, false), (true, true)]
                .into_iter()
                .map(|(r, b)| build(r, b))
                .min_by(|a, b| dist(a).total_cmp(&dist(b)))
                .unwrap_or_default()
        }
    };
    Ok(Sweep {
        bearing_deg: bearing,
        lines: n_lines,
        spacing_m: step,
        transects,
    })
}

/// Parallel passes along a line (local metres) covering a corridor `width_m` wide centred on
/// it: as many as the width needs at `spacing_m`, alternating direction, each extended by the
/// turnaround distance at both ends. Each pass is a polyline, in flight order.
pub fn corridor(
    line: &LineString,
    width_m: f64,
    swath_m: f64,
    spacing_m: f64,
    turnaround_m: f64,
) -> Result<Vec<Vec<Coord>>, CoverageError> {
    let width = positive("corridor width", width_m)?;
    let swath = positive("swath", swath_m)?;
    let spacing = positive("spacing", spacing_m)?;
    let mut pts: Vec<Coord> = line.coords().copied().collect();
    pts.dedup_by(|a, b| (a.x - b.x).hypot(a.y - b.y) < 1e-6);
    if pts.len() < 2 {
        return Err(CoverageError::Degenerate("line"));
    }
    let (offsets, _) = line_offsets(-width / 2.0, width, swath, spacing, false)?;
    let mut passes = Vec::with_capacity(offsets.len());
    for (k, off) in offsets.into_iter().enumerate() {
        let mut pass = offset_polyline(&pts, off);
        extend_ends(&mut pass, turnaround_m.max(0.0));
        if k % 2 == 1 {
            pass.reverse();
        }
        passes.push(pass);
    }
    Ok(passes)
}

/// The polyline moved `off` metres to the right of its direction (mitred joins, the mitre
/// limited to 4× the offset at sharp turns).
fn offset_polyline(pts: &[Coord], off: f64) -> Vec<Coord> {
    let normal = |a: Coord, b: Coord| {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len = dx.hypot(dy).max(1e-12);
        // Right of the direction of travel.
        Coord {
            x: dy / len,
            y: -dx / len,
        }
    };
    let n = pts.len();
    (0..n)
        .map(|i| {
            let before = (i > 0).then(|| normal(pts[i - 1], pts[i]));
            let after = (i + 1 < n).then(|| normal(pts[i], pts[i + 1]));
            let dir = match (before, after) {
                (Some(a), Some(b)) => {
                    let m = Coord {
                        x: a.x + b.x,
                        y: a.y + b.y,
                    };
                    let len = m.x.hypot(m.y);
                    if len < 1e-9 {
                        a
                    } else {
                        let m = Coord {
                            x: m.x / len,
                            y: m.y / len,
                        };
                        let scale = (1.0 / dot(m, a).max(0.25)).min(4.0);
                        Coord {
                            x: m.x * scale,
                            y: m.y * scale,
                        }
                    }
                }
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => Coord { x: 0.0, y: 0.0 },
            };
            Coord {
                x: pts[i].x + dir.x * off,
                y: pts[i].y + dir.y * off,
            }
        })
        .collect()
}

fn extend_ends(pass: &mut [Coord], by: f64) {
    let n = pass.len();
    if n < 2 || by <= 0.0 {
        return;
    }
    let stretch = |from: Coord, to: Coord| {
        let (dx, dy) = (to.x - from.x, to.y - from.y);
        let len = dx.hypot(dy).max(1e-12);
        Coord {
            x: to.x + dx / len * by,
            y: to.y + dy / len * by,
        }
    };
    pass[0] = stretch(pass[1], pass[0]);
    pass[n - 1] = stretch(pass[n - 2], pass[n - 1]);
}

/// The ground a nadir camera sees flying along `path` (local metres): a band `swath_m` wide
/// around each leg, reaching `frontal_m / 2` past its ends (the frame's half-height ahead and
/// behind).
pub fn footprint(path: &[Coord], swath_m: f64, frontal_m: f64) -> MultiPolygon {
    let mut cover = MultiPolygon::new(Vec::new());
    for w in path.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let len = dx.hypot(dy);
        if len < 1e-9 {
            continue;
        }
        let (ux, uy) = (dx / len, dy / len);
        let (nx, ny) = (uy, -ux);
        let (h, f) = (swath_m / 2.0, frontal_m / 2.0);
        let corner = |s: f64, t: f64, p: Coord| Coord {
            x: p.x + ux * s + nx * t,
            y: p.y + uy * s + ny * t,
        };
        let rect = Polygon::new(
            LineString::from(vec![
                corner(-f, -h, a),
                corner(f, -h, b),
                corner(f, h, b),
                corner(-f, h, a),
            ]),
            vec![],
        );
        cover = cover.union(&rect);
    }
    cover
}

/// The share of `area` inside `cover`, 0–1.
pub fn covered_share(area: &Polygon, cover: &MultiPolygon) -> f64 {
    let total = area.unsigned_area();
    if total <= 0.0 {
        return 0.0;
    }
    area.intersection(cover).unsigned_area() / total
}

/// The corridor a line of `width_m` defines: the line buffered by half the width, its ends cut
/// square at the line's ends.
pub fn corridor_area(line: &LineString, width_m: f64) -> MultiPolygon {
    line.buffer_with_style(BufferStyle::new(width_m / 2.0).line_cap(LineCap::Butt))
}
