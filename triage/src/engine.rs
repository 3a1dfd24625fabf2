//! The ticket engine's decisions, apart from storage: which ticket a hit belongs to (a spatial
//! index of open tickets per category, not a scan), whether a ticket goes out on its own or
//! waits for review, who owns it, and when each stage is due.

use std::collections::{BTreeMap, HashMap};

use argus_core::catalog::Catalog;
use argus_core::geodesy::{GeoPoint, haversine_m};
use argus_core::map::Map;
use serde::{Deserialize, Serialize};

/// A ticket's lifecycle stage (`../shared/ARCHITECTURE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Opened, not yet sent to a unit (dispatched automatically or after review).
    New,
    /// Sent to the responsible unit.
    Dispatched,
    /// The unit is on it.
    InProgress,
    /// The unit says it is done.
    Resolved,
    /// Checked done (e.g. by a later patrol that no longer sees it).
    Verified,
    /// Finished.
    Closed,
    /// Not a violation.
    Rejected,
    /// The same violation as another ticket.
    Duplicate,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 8] = [
        State::New,
        State::Dispatched,
        State::InProgress,
        State::Resolved,
        State::Verified,
        State::Closed,
        State::Rejected,
        State::Duplicate,
    ];

    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Dispatched => "dispatched",
            State::InProgress => "in_progress",
            State::Resolved => "resolved",
            State::Verified => "verified",
            State::Closed => "closed",
            State::Rejected => "rejected",
            State::Duplicate => "duplicate",
        }
    }

    /// The state named `s`.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether new sightings still join it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::New | State::Dispatched | State::InProgress | State::Resolved
        )
    }

    /// Whether `self → to` is a step of the lifecycle. A resolved ticket whose violation is
    /// still there goes back to work.
    pub fn can_become(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (New, Dispatched | Rejected | Duplicate)
                | (Dispatched, InProgress | Rejected | Duplicate)
                | (InProgress, Resolved)
                | (Resolved, Verified | InProgress)
                | (Verified, Closed)
        )
    }
}

/// When each stage is due, seconds after the previous one started (default "303024":
/// dispatched within 30 s, answered within 30 min, done within 24 h).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// Opening → dispatched.
    pub dispatch_s: f64,
    /// Dispatched → in progress.
    pub response_s: f64,
    /// In progress → resolved.
    pub completion_s: f64,
}

impl Default for Sla {
    fn default() -> Self {
        Self {
            dispatch_s: 30.0,
            response_s: 30.0 * 60.0,
            completion_s: 24.0 * 3600.0,
        }
    }
}

impl Sla {
    /// The deadline of the stage a ticket in `state` is in, counted from `since` (when it
    /// entered that state), or `None` when no clock runs.
    pub fn due(&self, state: State, since: f64) -> Option<f64> {
        match state {
            State::New => Some(since + self.dispatch_s),
            State::Dispatched => Some(since + self.response_s),
            State::InProgress => Some(since + self.completion_s),
            _ => None,
        }
    }
}

/// When a ticket goes out without a person looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoDispatch {
    /// One sighting this sure is enough.
    pub score: f32,
    /// Or this many sightings…
    pub sightings: u32,
    /// …each at least this sure.
    pub sightings_score: f32,
}

impl Default for AutoDispatch {
    fn default() -> Self {
        Self {
            score: 0.6,
            sightings: 2,
            sightings_score: 0.4,
        }
    }
}

/// The engine's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Join radius by hit class, metres, over the class catalog's: a hit joins an open ticket
    /// of its category this close.
    pub join_radius_m: BTreeMap<String, f64>,
    /// Join radius of classes neither listed nor in the catalog.
    pub default_join_radius_m: f64,
    /// Ticket category by hit class (e.g. a city's GB/T 30428-style event codes), over the
    /// class catalog's; a class in neither is its own category.
    pub categories: BTreeMap<String, String>,
    /// Automatic dispatch.
    pub auto_dispatch: AutoDispatch,
    /// Stage deadlines.
    pub sla: Sla,
    /// A violation seen again this long after its ticket closed opens a new ticket linked to
    /// the old one (it came back), seconds.
    pub recurrence_window_s: f64,
    /// The class catalog (join radii, categories and Open311 services by violation): the
    /// config's `classes` file, else the built-in one.
    #[serde(skip)]
    pub catalog: std::sync::Arc<Catalog>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            join_radius_m: BTreeMap::new(),
            default_join_radius_m: 20.0,
            categories: BTreeMap::new(),
            auto_dispatch: AutoDispatch::default(),
            sla: Sla::default(),
            recurrence_window_s: 90.0 * 86_400.0,
            catalog: std::sync::Arc::new(Catalog::builtin()),
        }
    }
}

/// A name a config gives (a class, a category): set, at most 64 bytes, no control character.
pub fn printable_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.chars().any(char::is_control)
}

/// `v` finite and within `lo..=hi`, else why not, naming `key`.
pub fn in_range(key: &str, v: f64, lo: f64, hi: f64) -> Result<(), String> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(format!("{key} = {v} is outside {lo}..={hi}"))
    }
}

impl Rules {
    /// Checks every value, naming the key: radii within (0, 1000] m (as the class catalog's),
    /// scores within [0, 1], times positive and finite, names printable.
    pub fn check(&self) -> Result<(), String> {
        for (class, r) in &self.join_radius_m {
            if !printable_name(class) {
                return Err(format!(
                    "rules.join_radius_m: class {class:?} is not a name"
                ));
            }
            in_range(&format!("rules.join_radius_m.{class}"), *r, 0.01, 1000.0)?;
        }
        in_range(
            "rules.default_join_radius_m",
            self.default_join_radius_m,
            0.01,
            1000.0,
        )?;
        for (class, c) in &self.categories {
            if !printable_name(class) || !printable_name(c) {
                return Err(format!(
                    "rules.categories: {class:?} = {c:?}: names of 1-64 bytes without control characters"
                ));
            }
        }
        let a = &self.auto_dispatch;
        in_range("rules.auto_dispatch.score", f64::from(a.score), 0.0, 1.0)?;
        in_range(
            "rules.auto_dispatch.sightings_score",
            f64::from(a.sightings_score),
            0.0,
            1.0,
        )?;
        in_range(
            "rules.auto_dispatch.sightings",
            f64::from(a.sightings),
            1.0,
            1_000_000.0,
        )?;
        let year = 365.0 * 86_400.0;
        in_range("rules.sla.dispatch_s", self.sla.dispatch_s, 1.0, year)?;
        in_range("rules.sla.response_s", self.sla.response_s, 1.0, year)?;
        in_range("rules.sla.completion_s", self.sla.completion_s, 1.0, year)?;
        in_range(
            "rules.recurrence_window_s",
            self.recurrence_window_s,
            0.0,
            10.0 * year,
        )
    }

    /// The ticket category of a hit class.
    pub fn category(&self, class: &str) -> String {
        self.categories
            .get(class)
            .map(String::as_str)
            .or_else(|| self.catalog.category(class))
            .unwrap_or(class)
            .to_string()
    }

    /// The join radius of a hit class.
    pub fn radius(&self, class: &str) -> f64 {
        self.join_radius_m
            .get(class)
            .copied()
            .or_else(|| self.catalog.violation(class).map(|v| v.join_radius_m))
            .unwrap_or(self.default_join_radius_m)
    }

    /// Whether a ticket with these sightings goes out on its own.
    pub fn dispatches(&self, best_score: f32, sightings: u32, min_score: f32) -> bool {
        let a = &self.auto_dispatch;
        best_score >= a.score || (sightings >= a.sightings && min_score >= a.sightings_score)
    }
}

/// Where a ticket is, for the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The ticket.
    pub ticket_id: String,
    /// Its category.
    pub category: String,
    /// Its position.
    pub at: GeoPoint,
    /// Closed (or verified) at this Unix time; `None` while open.
    pub closed_at: Option<f64>,
}

/// Cell size, degrees of latitude and of longitude (about 55 m north–south).
const CELL_DEG: f64 = 0.0005;
/// Metres in a degree of latitude.
const M_PER_DEG: f64 = 111_320.0;

type CellKey = (String, i64, i64);

/// Open and recently closed tickets in a grid of latitude/longitude cells per category. Cells
/// are keyed by the position itself (no local frame anchored anywhere), and distances are true
/// great-circle distances, so hits kilometres apart never meet, wherever the first ticket was.
#[derive(Debug, Default)]
pub struct TicketIndex {
    cells: HashMap<CellKey, Vec<String>>,
    tickets: HashMap<String, (Placed, CellKey)>,
}

/// What a hit does.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Joins this open ticket.
    Join(String),
    /// Opens a new ticket; `recurs` names the closed ticket of the same violation, if any.
    Open {
        /// A closed ticket this one reopens (the violation came back).
        recurs: Option<String>,
    },
}

/// The cell of a position: whole `CELL_DEG` steps of latitude and longitude.
fn cell_index(at: GeoPoint) -> (i64, i64) {
    (
        (at.lat / CELL_DEG).floor() as i64,
        (at.lon / CELL_DEG).floor() as i64,
    )
}

/// How many cells a radius spans around `lat`, north–south and east–west (capped near the
/// poles, where a degree of longitude shrinks to nothing).
fn cell_reach(lat: f64, radius_m: f64) -> (i64, i64) {
    let dlat = radius_m / M_PER_DEG;
    let dlon = dlat / lat.to_radians().cos().max(0.01);
    (
        (dlat / CELL_DEG).ceil() as i64 + 1,
        ((dlon / CELL_DEG).ceil() as i64 + 1).min(1_000),
    )
}

/// The key of the cell holding `at`, as the store's `tickets.cell` column keeps it.
pub fn cell_key(at: GeoPoint) -> i64 {
    let (i, j) = cell_index(at);
    i * 1_000_000 + j
}

/// The keys of every cell a hit at `at` may find a ticket in, `radius_m` around it.
pub fn cells_within(at: GeoPoint, radius_m: f64) -> Vec<i64> {
    let (ci, cj) = cell_index(at);
    let (ri, rj) = cell_reach(at.lat, radius_m);
    let mut v = Vec::with_capacity(((2 * ri + 1) * (2 * rj + 1)) as usize);
    for i in ci - ri..=ci + ri {
        for j in cj - rj..=cj + rj {
            v.push(i * 1_000_000 + j);
        }
    }
    v
}

/// Size of a placement lock's area, degrees (about 550 m north–south).
const AREA_DEG: f64 = 0.005;

/// The areas a hit at `at` with a join radius of `radius_m` must hold while it is placed: every
/// area its radius touches. Two hits that could place onto one ticket always share an area (the
/// ticket stands within both radii), so placements that could collide are serialised, and the
/// rest run side by side.
pub fn areas_within(at: GeoPoint, radius_m: f64) -> Vec<i64> {
    let dlat = radius_m / M_PER_DEG;
    let dlon = dlat / at.lat.to_radians().cos().max(0.01);
    let idx = |d: f64| (d / AREA_DEG).floor() as i64;
    let mut v = Vec::new();
    for i in idx(at.lat - dlat)..=idx(at.lat + dlat) {
        for j in idx(at.lon - dlon)..=idx(at.lon + dlon) {
            v.push(i * 1_000_000 + j);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

impl TicketIndex {
    /// Adds a ticket, or moves and updates one already there.
    pub fn put(&mut self, t: Placed) {
        self.remove(&t.ticket_id);
        let (i, j) = cell_index(t.at);
        let key = (t.category.clone(), i, j);
        self.cells
            .entry(key.clone())
            .or_default()
            .push(t.ticket_id.clone());
        self.tickets.insert(t.ticket_id.clone(), (t, key));
    }

    /// Forgets a ticket (rejected, duplicate, or closed past the recurrence window).
    pub fn remove(&mut self, ticket_id: &str) {
        let Some((_, key)) = self.tickets.remove(ticket_id) else {
            return;
        };
        if let Some(v) = self.cells.get_mut(&key) {
            v.retain(|x| x != ticket_id);
            if v.is_empty() {
                self.cells.remove(&key);
            }
        }
    }

    /// Number of tickets indexed.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Where a hit of `category` at `at` goes: the nearest open ticket within `radius_m`, else
    /// a new ticket — linked to the nearest ticket closed within `window_s` before `now`.
    pub fn place(
        &self,
        category: &str,
        at: GeoPoint,
        radius_m: f64,
        now: f64,
        window_s: f64,
    ) -> Placement {
        let (ci, cj) = cell_index(at);
        let (ri, rj) = cell_reach(at.lat, radius_m);
        let mut open: Option<(f64, &str)> = None;
        let mut closed: Option<(f64, &str)> = None;
        let mut key = (category.to_string(), 0, 0);
        for i in ci - ri..=ci + ri {
            for j in cj - rj..=cj + rj {
                (key.1, key.2) = (i, j);
                let Some(ids) = self.cells.get(&key) else {
                    continue;
                };
                for id in ids {
                    let Some((t, _)) = self.tickets.get(id) else {
                        continue;
                    };
                    let d = haversine_m(t.at, at);
                    if d.is_nan() || d > radius_m {
                        continue;
                    }
                    let slot = match t.closed_at {
                        None => &mut open,
                        Some(c) if now - c <= window_s => &mut closed,
                        Some(_) => continue,
                    };
                    if slot.is_none_or(|(best, _)| d < best) {
                        *slot = Some((d, id));
                    }
                }
            }
        }
        match (open, closed) {
            (Some((_, id)), _) => Placement::Join(id.to_string()),
            (None, c) => Placement::Open {
                recurs: c.map(|(_, id)| id.to_string()),
            },
        }
    }
}

/// The unit and grid cell responsible for a position: the `jurisdiction` and `grid_cell`
/// polygons of the district map that hold it.
#[derive(Debug, Clone)]
pub struct Routing {
    map: Option<Map>,
}

impl Routing {
    /// Routes by `map`'s `jurisdiction` and `grid_cell` layers; without a map every ticket is
    /// unrouted.
    pub fn new(map: Option<Map>) -> Self {
        Self { map }
    }

    /// (unit, grid cell) at `p`.
    pub fn route(&self, p: GeoPoint) -> (Option<String>, Option<String>) {
        let Some(m) = &self.map else {
            return (None, None);
        };
        let (e, n) = m.frame().geo_to_ground(p);
        let find = |layer: &str| m.find(layer, [e, n]).map(|a| a.id.clone());
        (find("jurisdiction"), find("grid_cell"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::geodesy::LocalFrame;

    fn at(frame: &LocalFrame, e: f64, n: f64) -> GeoPoint {
        frame.ground_to_geo(e, n)
    }

    #[test]
    fn a_hit_joins_the_nearest_open_ticket_of_its_category_within_its_radius() {
        let f = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.0,
        });
        let mut ix = TicketIndex::default();
        for (id, cat, e) in [
            ("T1", "waste", 0.0),
            ("T2", "waste", 30.0),
            ("T3", "vending", 12.0),
        ] {
            ix.put(Placed {
                ticket_id: id.into(),
                category: cat.into(),
                at: at(&f, e, 0.0),
                closed_at: None,
            });
        }
        let place = |ix: &mut TicketIndex, cat: &str, e: f64| {
            ix.place(cat, at(&f, e, 0.0), 20.0, 0.0, 100.0)
        };
        assert_eq!(place(&mut ix, "waste", 11.0), Placement::Join("T1".into()));
        assert_eq!(place(&mut ix, "waste", 19.0), Placement::Join("T2".into()));
        // Near T3, but not its category; too far from any waste ticket.
        assert_eq!(
            place(&mut ix, "waste", 80.0),
            Placement::Open { recurs: None }
        );
        assert_eq!(place(&mut ix, "vending", 0.0), Placement::Join("T3".into()));
        // Across a cell boundary (50 m cells) still found.
        ix.put(Placed {
            ticket_id: "T4".into(),
            category: "shed".into(),
            at: at(&f, 49.0, 49.0),
            closed_at: None,
        });
        assert_eq!(
            ix.place("shed", at(&f, 51.0, 51.0), 20.0, 0.0, 100.0),
            Placement::Join("T4".into())
        );
    }

    #[test]
    fn hits_kilometres_apart_never_merge_wherever_the_first_ticket_was() {
        // Regression: the index was anchored at the first ticket ever placed; after a bogus
        // (0, 0) ticket, hits 5.6 km and 11 km apart in the district fell in one cell.
        let mut ix = TicketIndex::default();
        ix.put(Placed {
            ticket_id: "bogus".into(),
            category: "waste".into(),
            at: GeoPoint { lat: 0.0, lon: 0.0 },
            closed_at: None,
        });
        ix.put(Placed {
            ticket_id: "T1".into(),
            category: "waste".into(),
            at: GeoPoint {
                lat: 30.70,
                lon: 121.0,
            },
            closed_at: None,
        });
        for lat in [30.75, 30.80] {
            assert_eq!(
                ix.place("waste", GeoPoint { lat, lon: 121.0 }, 30.0, 0.0, 100.0),
                Placement::Open { recurs: None },
                "{lat}"
            );
        }
        // Near the pole and across the antimeridian's neighbour cells, still by true distance.
        ix.put(Placed {
            ticket_id: "N".into(),
            category: "waste".into(),
            at: GeoPoint {
                lat: 89.9,
                lon: 10.0,
            },
            closed_at: None,
        });
        assert_eq!(
            ix.place(
                "waste",
                GeoPoint {
                    lat: 89.9,
                    lon: 10.01
                },
                20.0,
                0.0,
                100.0
            ),
            Placement::Join("N".into())
        );
    }

    #[test]
    fn hits_that_could_meet_share_a_lock_area_and_their_cells_cover_the_radius() {
        let f = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.0,
        });
        // Around an area's corner, in every direction, 29 m apart: one area in common.
        for (e, n) in [(10.0, 0.0), (0.0, 10.0), (-10.0, -10.0), (20.0, -20.0)] {
            let corner = GeoPoint {
                lat: (30.7 / AREA_DEG).round() * AREA_DEG,
                lon: (121.0 / AREA_DEG).round() * AREA_DEG,
            };
            let c = LocalFrame::new(corner);
            let a = c.ground_to_geo(e, n);
            let b = c.ground_to_geo(-e, -n);
            let (la, lb) = (areas_within(a, 30.0), areas_within(b, 30.0));
            assert!(la.iter().any(|k| lb.contains(k)), "{la:?} {lb:?}");
        }
        // A ticket within the radius lies in one of the hit's cells.
        let hit = at(&f, 0.0, 0.0);
        let cells = cells_within(hit, 30.0);
        for (e, n) in [(29.0, 0.0), (0.0, -29.0), (20.0, 20.0), (-21.0, 20.0)] {
            assert!(cells.contains(&cell_key(at(&f, e, n))), "({e}, {n})");
        }
    }

    #[test]
    fn a_closed_ticket_is_linked_by_a_recurrence_within_its_window_only() {
        let f = LocalFrame::new(GeoPoint {
            lat: 30.7,
            lon: 121.0,
        });
        let mut ix = TicketIndex::default();
        ix.put(Placed {
            ticket_id: "T1".into(),
            category: "waste".into(),
            at: at(&f, 0.0, 0.0),
            closed_at: Some(1000.0),
        });
        assert_eq!(
            ix.place("waste", at(&f, 3.0, 0.0), 20.0, 1500.0, 3600.0),
            Placement::Open {
                recurs: Some("T1".into())
            }
        );
        assert_eq!(
            ix.place("waste", at(&f, 3.0, 0.0), 20.0, 9000.0, 3600.0),
            Placement::Open { recurs: None }
        );
        ix.remove("T1");
        assert!(ix.is_empty());
    }

    #[test]
    fn the_lifecycle_allows_only_its_steps_and_the_sla_clock_runs_per_stage() {
        assert!(State::New.can_become(State::Dispatched));
        assert!(State::Resolved.can_become(State::InProgress));
        assert!(!State::New.can_become(State::Closed));
        assert!(!State::Closed.can_become(State::New));
        assert!(
            State::ALL
                .iter()
                .all(|s| State::parse(s.as_str()) == Some(*s))
        );
        let sla = Sla::default();
        assert_eq!(sla.due(State::New, 100.0), Some(130.0));
        assert_eq!(sla.due(State::Dispatched, 0.0), Some(1800.0));
        assert_eq!(sla.due(State::InProgress, 0.0), Some(86_400.0));
        assert_eq!(sla.due(State::Closed, 0.0), None);
    }

    #[test]
    fn sure_or_repeated_sightings_dispatch_the_rest_wait_for_review() {
        let r = Rules::default();
        assert!(r.dispatches(0.7, 1, 0.7));
        assert!(!r.dispatches(0.5, 1, 0.5));
        assert!(r.dispatches(0.5, 2, 0.45));
        assert!(!r.dispatches(0.5, 2, 0.3));
        assert_eq!(r.radius("illegal_structure"), 30.0);
        assert_eq!(r.radius("graffiti"), 20.0);
        assert_eq!(r.category("construction_waste"), "construction_waste");
    }
}
