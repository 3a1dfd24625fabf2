//! The demo's summary: triage's tickets scored against the simulator's truth — recall, false
//! tickets, geolocation error, routing, and the time from an agent's hit to its ticket.

use std::collections::BTreeMap;

use argus_core::geodesy::{GeoPoint, haversine_m};
use serde::Serialize;

use crate::scoring::{MIN_FRAMES, MIN_SIDE_PX, SeenObject, median};

/// A ticket matches the nearest shown object of its class within this distance, metres.
pub const MATCH_RADIUS_M: f64 = 10.0;

/// A ticket as the summary needs it.
#[derive(Debug, Clone)]
pub struct TicketView {
    /// Its id.
    pub ticket_id: String,
    /// Violation class.
    pub class: String,
    /// Where triage put it.
    pub at: GeoPoint,
    /// Where each of its sightings put it.
    pub sightings: Vec<GeoPoint>,
    /// The unit it was routed to.
    pub unit: Option<String>,
    /// Each sighting's delay from the agent making the hit to triage filing it, seconds.
    pub delays_s: Vec<f64>,
    /// Held for a person's review, not sent to a crew.
    pub review: bool,
}

/// p50 and p99 of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
}

/// Nearest-rank percentiles (NaN for none).
pub fn percentiles(v: &[f64]) -> Percentiles {
    if v.is_empty() {
        return Percentiles {
            p50: f64::NAN,
            p99: f64::NAN,
        };
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Percentiles {
        p50: median(&s),
        p99: rank(0.99),
    }
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Share of the violations shown to a camera that got a ticket.
    pub recall: f64,
    /// Tickets on a legal look-alike or on nothing.
    pub false_tickets: usize,
    /// …of them, held for a person's review (none sent to a crew).
    pub false_tickets_in_review: usize,
    /// Median distance from a true ticket to its violation, metres.
    pub median_geo_error_m: f64,
    /// Tickets per violation class.
    pub tickets_by_class: BTreeMap<String, usize>,
    /// Tickets per responsible unit (`none` outside every jurisdiction).
    pub tickets_by_unit: BTreeMap<String, usize>,
    /// From an agent making a hit to triage filing it on a ticket, seconds.
    pub sighting_to_ticket_s: Percentiles,
    /// Tickets in all.
    pub tickets: usize,
    /// Violations shown well enough to count (ids).
    pub violations_shown: Vec<String>,
    /// Those with a ticket.
    pub violations_found: Vec<String>,
    /// Legal look-alikes that got a ticket (ids).
    pub look_alike_tickets: Vec<String>,
    /// Tickets whose unit is not the one whose polygon holds their violation.
    pub misrouted: Vec<String>,
}

/// Scores tickets against the objects the sources showed. `unit_at` names the unit whose
/// jurisdiction polygon holds a point (the check of routing uses the true position).
pub fn summarize(
    tickets: &[TicketView],
    shown: &[SeenObject],
    unit_at: impl Fn(GeoPoint) -> Option<String>,
) -> Summary {
    let counted: Vec<&SeenObject> = shown
        .iter()
        .filter(|o| o.violation && o.frames >= MIN_FRAMES && o.max_side_px >= MIN_SIDE_PX)
        .collect();
    let mut found = Vec::new();
    let mut look_alikes = Vec::new();
    let mut false_tickets = 0;
    let mut false_in_review = 0;
    let mut errors = Vec::new();
    let mut misrouted = Vec::new();
    let mut by_class = BTreeMap::new();
    let mut by_unit = BTreeMap::new();
    let mut delays = Vec::new();
    for t in tickets {
        *by_class.entry(t.class.clone()).or_insert(0) += 1;
        *by_unit
            .entry(t.unit.clone().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
        delays.extend(&t.delays_s);
        let d = |o: &SeenObject, p: GeoPoint| {
            haversine_m(
                p,
                GeoPoint {
                    lat: o.lat,
                    lon: o.lon,
                },
            )
        };
        // The violations this ticket stands for: near where it is, or near one of its
        // sightings (a row of stalls a few metres apart is one ticket with a sighting of each).
        let mut covered: Vec<(&SeenObject, f64)> = shown
            .iter()
            .filter(|o| o.violation && o.class == t.class)
            .filter(|o| {
                std::iter::once(t.at)
                    .chain(t.sightings.iter().copied())
                    .any(|p| d(o, p) <= MATCH_RADIUS_M)
            })
            .map(|o| (o, d(o, t.at)))
            .collect();
        covered.sort_by(|a, b| a.1.total_cmp(&b.1));
        if let Some(&(nearest, error)) = covered.first() {
            errors.push(error);
            for (o, _) in &covered {
                if !found.contains(&o.id) {
                    found.push(o.id.clone());
                }
            }
            if unit_at(GeoPoint {
                lat: nearest.lat,
                lon: nearest.lon,
            }) != t.unit
            {
                misrouted.push(t.ticket_id.clone());
            }
            continue;
        }
        false_tickets += 1;
        false_in_review += usize::from(t.review);
        if let Some(o) = shown
            .iter()
            .filter(|o| !o.violation && o.class == t.class && d(o, t.at) <= MATCH_RADIUS_M)
            .min_by(|a, b| d(a, t.at).total_cmp(&d(b, t.at)))
        {
            look_alikes.push(o.id.clone());
        }
    }
    let shown_ids: Vec<String> = counted.iter().map(|o| o.id.clone()).collect();
    let found_shown: Vec<String> = shown_ids
        .iter()
        .filter(|id| found.contains(id))
        .cloned()
        .collect();
    Summary {
        recall: if shown_ids.is_empty() {
            1.0
        } else {
            found_shown.len() as f64 / shown_ids.len() as f64
        },
        false_tickets,
        false_tickets_in_review: false_in_review,
        median_geo_error_m: median(&errors),
        tickets_by_class: by_class,
        tickets_by_unit: by_unit,
        sighting_to_ticket_s: percentiles(&delays),
        tickets: tickets.len(),
        violations_shown: shown_ids,
        violations_found: found_shown,
        look_alike_tickets: look_alikes,
        misrouted,
    }
}

/// Joins what several sources showed: one object per district id; a scenario object of one
/// source (a camera's arriving stall) that shares an id with another source's object somewhere
/// else is renamed `SOURCE/ID`.
pub fn merge_shown(sources: Vec<(String, Vec<SeenObject>)>) -> Vec<SeenObject> {
    let mut out: Vec<SeenObject> = Vec::new();
    for (source, objects) in sources {
        for mut o in objects {
            match out.iter_mut().find(|m| m.id == o.id) {
                Some(m)
                    if haversine_m(
                        GeoPoint {
                            lat: m.lat,
                            lon: m.lon,
                        },
                        GeoPoint {
                            lat: o.lat,
                            lon: o.lon,
                        },
                    ) < 1.0 =>
                {
                    m.frames += o.frames;
                    m.max_side_px = m.max_side_px.max(o.max_side_px);
                }
                Some(_) => {
                    o.id = format!("{source}/{}", o.id);
                    out.push(o);
                }
                None => out.push(o),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(id: &str, class: &str, violation: bool, lat: f64, lon: f64) -> SeenObject {
        SeenObject {
            id: id.into(),
            object_class: String::new(),
            class: class.into(),
            violation,
            lat,
            lon,
            frames: 20,
            max_side_px: 40.0,
        }
    }

    fn ticket(id: &str, class: &str, lat: f64, lon: f64, unit: &str) -> TicketView {
        TicketView {
            ticket_id: id.into(),
            class: class.into(),
            at: GeoPoint { lat, lon },
            sightings: vec![GeoPoint { lat, lon }],
            unit: Some(unit.into()),
            delays_s: vec![0.1],
            review: false,
        }
    }

    #[test]
    fn tickets_are_scored_against_the_truth() {
        let shown = vec![
            obj("V1", "construction_waste", true, 30.0, 121.0),
            obj("V2", "vending_in_lane", true, 30.001, 121.0),
            obj("V3", "illegal_structure", true, 30.002, 121.0),
            obj("L1", "vending_in_lane", false, 30.003, 121.0),
        ];
        // ~2 m north of V1; on the look-alike; nowhere (held for review); V2 but routed to the
        // wrong unit.
        let tickets = vec![
            ticket("t1", "construction_waste", 30.000018, 121.0, "north"),
            ticket("t2", "vending_in_lane", 30.003, 121.0, "north"),
            TicketView {
                review: true,
                ..ticket("t3", "construction_waste", 30.01, 121.0, "north")
            },
            ticket("t4", "vending_in_lane", 30.001, 121.0, "south"),
        ];
        let s = summarize(&tickets, &shown, |_| Some("north".into()));
        assert!((s.recall - 2.0 / 3.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.violations_found, ["V1", "V2"]);
        assert_eq!((s.false_tickets, s.false_tickets_in_review), (2, 1));
        assert_eq!(s.look_alike_tickets, vec!["L1"]);
        assert_eq!(s.misrouted, vec!["t4"]);
        assert!(
            (s.median_geo_error_m - 1.0).abs() < 0.05,
            "{}",
            s.median_geo_error_m
        );
        assert_eq!(s.tickets_by_class["vending_in_lane"], 2);
        assert_eq!(s.tickets_by_unit["north"], 3);
    }

    #[test]
    fn a_ticket_stands_for_every_violation_one_of_its_sightings_saw() {
        // Two stalls 8 m apart, joined into one ticket between them: both found.
        let shown = vec![
            obj("V1", "vending_in_lane", true, 30.0, 121.0),
            obj("V2", "vending_in_lane", true, 30.000072, 121.0),
        ];
        let mut t = ticket("t1", "vending_in_lane", 30.000036, 121.0, "north");
        t.sightings = vec![
            GeoPoint {
                lat: 30.0,
                lon: 121.0,
            },
            GeoPoint {
                lat: 30.000072,
                lon: 121.0,
            },
        ];
        let s = summarize(&[t], &shown, |_| Some("north".into()));
        assert_eq!((s.recall, s.false_tickets), (1.0, 0));
        assert!(
            (s.median_geo_error_m - 4.0).abs() < 0.1,
            "{}",
            s.median_geo_error_m
        );
    }

    #[test]
    fn scenario_objects_of_different_cameras_stay_apart() {
        let a = vec![
            obj("V9001", "vending_in_lane", true, 30.0, 121.0),
            obj("V0002", "construction_waste", true, 30.1, 121.0),
        ];
        let b = vec![
            obj("V9001", "vending_in_lane", true, 30.05, 121.0),
            obj("V0002", "construction_waste", true, 30.1, 121.0),
        ];
        let m = merge_shown(vec![("cam-1".into(), a), ("cam-2".into(), b)]);
        let ids: Vec<&str> = m.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["V9001", "V0002", "cam-2/V9001"]);
        assert_eq!(m[1].frames, 40);
    }

    #[test]
    fn percentiles_interpolate() {
        let p = percentiles(&(1..=100).map(f64::from).collect::<Vec<_>>());
        assert_eq!((p.p50, p.p99), (50.5, 99.0));
    }
}
