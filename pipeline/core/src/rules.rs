//! Map rules: whether an object seen at a place is a violation, and which layer says so.
//!
//! | object | violation when | legal when |
//! |---|---|---|
//! | `stall` | in a vending zone that is closed at that minute, else on a lane or footway | in an open vending zone, or elsewhere (yards, plazas) |
//! | `waste_pile` | anywhere outside a registered construction site | inside one |
//! | `steel_shed` | no `baseline_structure` centred within the match radius (a shed on a recorded building's roof is one) | the baseline survey recorded it |

use serde::{Deserialize, Serialize};

use crate::map::Map;

/// The violation classes, as hits and tickets name them.
pub const VENDING_IN_LANE: &str = "vending_in_lane";
/// Dumped spoil, rubble or bagged rubbish.
pub const CONSTRUCTION_WASTE: &str = "construction_waste";
/// A structure absent from the building baseline.
pub const ILLEGAL_STRUCTURE: &str = "illegal_structure";

/// Which rule made a sighting a violation. It travels in every hit, so like the hit it ignores
/// fields it does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The layer that decided (`lane`, `footway`, `vending_zone`, `construction_site`,
    /// `baseline_structure`).
    pub layer: String,
    /// The feature's id, when one feature decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_id: Option<String>,
    /// In words, e.g. `vending_zone Z003 closed at 10:00 (open 06:30-09:00)`.
    pub reason: String,
}

/// A verdict: the violation class and its rule, or why it is legal.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A violation of `class`.
    Violation {
        /// `vending_in_lane`, `construction_waste` or `illegal_structure`.
        class: &'static str,
        /// What made it one.
        rule: Rule,
    },
    /// Not a violation, and why.
    Legal(String),
}

/// Tolerances of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleOptions {
    /// A shed within this distance of a baseline structure's centre is that structure, metres
    /// (covers the geotag's error).
    pub baseline_match_m: f64,
    /// A pile within this distance of a registered site is the site's, metres.
    pub site_margin_m: f64,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            baseline_match_m: 4.0,
            site_margin_m: 2.0,
        }
    }
}

fn hm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn rule(layer: &str, id: Option<&str>, reason: String) -> Rule {
    Rule {
        layer: layer.into(),
        feature_id: id.map(str::to_string),
        reason,
    }
}

/// Judges an object of detector class `object_class` at local point `p` at `minute` of the day.
/// Unknown object classes are never violations.
pub fn judge(
    map: &Map,
    object_class: &str,
    p: [f64; 2],
    minute: u32,
    opts: &RuleOptions,
) -> Verdict {
    match object_class {
        "stall" => {
            let zones: Vec<_> = map.near("vending_zone", p, 0.0).collect();
            if let Some(z) = zones.iter().find(|z| z.open_at(minute)) {
                return Verdict::Legal(format!("in vending_zone {} open {}", z.id, z.hours_text()));
            }
            let v = |r| Verdict::Violation {
                class: VENDING_IN_LANE,
                rule: r,
            };
            if let Some(z) = zones.first() {
                return v(rule(
                    "vending_zone",
                    Some(&z.id),
                    format!(
                        "vending_zone {} closed at {} (open {})",
                        z.id,
                        hm(minute),
                        z.hours_text()
                    ),
                ));
            }
            for layer in ["lane", "footway"] {
                if let Some(a) = map.find(layer, p) {
                    return v(rule(layer, Some(&a.id), format!("{layer} {}", a.id)));
                }
            }
            Verdict::Legal("not on a lane, footway or vending zone".into())
        }
        "waste_pile" => {
            if let Some(s) = map.near("construction_site", p, opts.site_margin_m).next() {
                return Verdict::Legal(format!("in construction_site {}", s.id));
            }
            let place = ["lane", "footway", "ground"]
                .iter()
                .find_map(|l| map.find(l, p).map(|a| format!("{l} {}: ", a.id)))
                .unwrap_or_default();
            Verdict::Violation {
                class: CONSTRUCTION_WASTE,
                rule: rule(
                    "construction_site",
                    None,
                    format!("{place}outside any construction site"),
                ),
            }
        }
        // The survey recorded this shed when a structure is centred where it stands. A recorded
        // building is no alibi for the shed on its roof, the typical illegal structure.
        "steel_shed" => match map
            .near("baseline_structure", p, opts.baseline_match_m)
            .find(|b| {
                let c = b.centroid();
                (c[0] - p[0]).hypot(c[1] - p[1]) <= opts.baseline_match_m
            }) {
            Some(b) => Verdict::Legal(format!("recorded as baseline_structure {}", b.id)),
            None => Verdict::Violation {
                class: ILLEGAL_STRUCTURE,
                rule: rule(
                    "baseline_structure",
                    None,
                    "absent from baseline_structure".into(),
                ),
            },
        },
        other => Verdict::Legal(format!("no rule for object class {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy::GeoPoint;

    const DOC: &str = r#"{"type":"FeatureCollection","argus":{"origin":{"lat":30.0,"lon":120.0}},"features":[
      {"type":"Feature","properties":{"layer":"lane","id":"L1"},"geometry":{"type":"Polygon","coordinates":[[[120.0,30.0],[120.001,30.0],[120.001,30.00003],[120.0,30.00003]]]}},
      {"type":"Feature","properties":{"layer":"vending_zone","id":"Z1","hours":"06:00-09:00"},"geometry":{"type":"Polygon","coordinates":[[[120.0005,30.0],[120.0007,30.0],[120.0007,30.00003],[120.0005,30.00003]]]}},
      {"type":"Feature","properties":{"layer":"construction_site","id":"S1"},"geometry":{"type":"Polygon","coordinates":[[[120.002,30.002],[120.003,30.002],[120.003,30.003],[120.002,30.003]]]}},
      {"type":"Feature","properties":{"layer":"baseline_structure","id":"B1"},"geometry":{"type":"Polygon","coordinates":[[[120.004,30.004],[120.00405,30.004],[120.00405,30.00403],[120.004,30.00403]]]}},
      {"type":"Feature","properties":{"layer":"baseline_structure","id":"BL2"},"geometry":{"type":"Polygon","coordinates":[[[120.005,30.005],[120.0054,30.005],[120.0054,30.0053],[120.005,30.0053]]]}}
    ]}"#;

    fn at(map: &Map, lat: f64, lon: f64) -> [f64; 2] {
        let (e, n) = map.frame().geo_to_ground(GeoPoint { lat, lon });
        [e, n]
    }

    #[test]
    fn stalls_follow_lanes_and_zone_hours() {
        let m = Map::from_geojson(DOC).unwrap();
        let o = RuleOptions::default();
        let lane = at(&m, 30.000015, 120.0002);
        let zone = at(&m, 30.000015, 120.0006);
        match judge(&m, "stall", lane, 600, &o) {
            Verdict::Violation { class, rule } => {
                assert_eq!(
                    (class, rule.feature_id.as_deref()),
                    (VENDING_IN_LANE, Some("L1"))
                )
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&m, "stall", zone, 7 * 60, &o),
            Verdict::Legal(_)
        ));
        match judge(&m, "stall", zone, 600, &o) {
            Verdict::Violation { rule, .. } => {
                assert_eq!(
                    rule.reason,
                    "vending_zone Z1 closed at 10:00 (open 06:00-09:00)"
                )
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&m, "stall", at(&m, 30.01, 120.01), 600, &o),
            Verdict::Legal(_)
        ));
    }

    #[test]
    fn waste_and_sheds_follow_sites_and_baseline() {
        let m = Map::from_geojson(DOC).unwrap();
        let o = RuleOptions::default();
        assert!(matches!(
            judge(&m, "waste_pile", at(&m, 30.0025, 120.0025), 600, &o),
            Verdict::Legal(_)
        ));
        match judge(&m, "waste_pile", at(&m, 30.000015, 120.0002), 600, &o) {
            Verdict::Violation { class, rule } => {
                assert_eq!(class, CONSTRUCTION_WASTE);
                assert_eq!(rule.reason, "lane L1: outside any construction site");
            }
            v => panic!("{v:?}"),
        }
        // 2 m off the recorded shed's centre still matches it; 30 m away does not.
        match judge(&m, "steel_shed", at(&m, 30.004033, 120.004025), 600, &o) {
            Verdict::Legal(why) => assert_eq!(why, "recorded as baseline_structure B1"),
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&m, "steel_shed", at(&m, 30.0043, 120.00405), 600, &o),
            Verdict::Violation {
                class: ILLEGAL_STRUCTURE,
                ..
            }
        ));
        // A shed on the roof of a recorded 40 m building, 10 m from its centre, is new.
        assert!(matches!(
            judge(&m, "steel_shed", at(&m, 30.00515, 120.0051), 600, &o),
            Verdict::Violation {
                class: ILLEGAL_STRUCTURE,
                ..
            }
        ));
        assert!(matches!(
            judge(&m, "car", [0.0, 0.0], 600, &o),
            Verdict::Legal(_)
        ));
    }
}
