//! Map rules: whether an object seen at a place is a violation, and which layer says so. Which
//! rule applies to which detector class is the [`Catalog`]'s; with the built-in catalog:
//!
//! | object | violation when | legal when |
//! |---|---|---|
//! | `stall` | in a vending zone that is closed at that minute, else on a lane or footway | in an open vending zone, or elsewhere (yards, plazas) |
//! | `waste_pile` | anywhere outside a registered construction site | inside one |
//! | `steel_shed` | no `baseline_structure` explains its footprint (a shed much smaller than the recorded building it stands on is new) | the baseline survey recorded a structure of its size where it stands |

use geo::Area as _;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, RuleKind};
use crate::map::{Map, polygon};

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
        /// The catalog's violation id (`vending_in_lane`, …).
        class: String,
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
    /// Without a footprint: a structure within this distance of a baseline structure's centre
    /// is that structure, metres (covers the geotag's error).
    pub baseline_match_m: f64,
    /// A baseline structure explains a sighting's footprint when they share at least this
    /// share of the smaller of the two…
    pub baseline_min_overlap: f64,
    /// …and neither is more than 1 / this times the other's area (a shed much smaller than
    /// the building it stands on is new; so is an extension much larger than the record).
    pub baseline_min_area_ratio: f64,
    /// A pile within this distance of a registered site is the site's, metres (the default
    /// of `outside_layer` rules).
    pub site_margin_m: f64,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            baseline_match_m: 4.0,
            baseline_min_overlap: 0.5,
            baseline_min_area_ratio: 0.5,
            site_margin_m: 2.0,
        }
    }
}

/// What was seen, and where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sighting<'a> {
    /// The detector's class.
    pub object_class: &'a str,
    /// Where, local metres.
    pub at: [f64; 2],
    /// The ground its box covers (local metres, a convex polygon), when the camera's geometry
    /// gives it.
    pub footprint: Option<&'a [[f64; 2]]>,
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

/// Judges a sighting at `minute` of the day by its class's rule in `catalog`. Classes the
/// catalog does not know are never violations.
pub fn judge(
    catalog: &Catalog,
    map: &Map,
    s: &Sighting<'_>,
    minute: u32,
    opts: &RuleOptions,
) -> Verdict {
    let Some(object) = catalog.object(s.object_class) else {
        return Verdict::Legal(format!("no rule for object class {:?}", s.object_class));
    };
    let v = |r| Verdict::Violation {
        class: object.violation.clone(),
        rule: r,
    };
    let p = s.at;
    match &object.rule {
        RuleKind::InLayersOutsideOpenZone { layers, zones } => {
            let here: Vec<_> = map.near(zones, p, 0.0).collect();
            if let Some(z) = here.iter().find(|z| z.open_at(minute)) {
                return Verdict::Legal(format!("in {zones} {} open {}", z.id, z.hours_text()));
            }
            if let Some(z) = here.first() {
                return v(rule(
                    zones,
                    Some(&z.id),
                    format!(
                        "{zones} {} closed at {} (open {})",
                        z.id,
                        hm(minute),
                        z.hours_text()
                    ),
                ));
            }
            for layer in layers {
                if let Some(a) = map.find(layer, p) {
                    return v(rule(layer, Some(&a.id), format!("{layer} {}", a.id)));
                }
            }
            Verdict::Legal(format!("not on {} or {zones}", layers.join(", ")))
        }
        RuleKind::OutsideLayer { layer, margin_m } => {
            let margin = margin_m.unwrap_or(opts.site_margin_m);
            if let Some(a) = map.near(layer, p, margin).next() {
                return Verdict::Legal(format!("in {layer} {}", a.id));
            }
            let place = ["lane", "footway", "ground"]
                .iter()
                .find_map(|l| map.find(l, p).map(|a| format!("{l} {}: ", a.id)))
                .unwrap_or_default();
            v(rule(
                layer,
                None,
                format!("{place}outside any {}", layer.replace('_', " ")),
            ))
        }
        RuleKind::AbsentFromBaseline { layer } => match s.footprint {
            Some(f) => baseline_by_footprint(map, layer, p, f, opts).map_or_else(
                |why| v(rule(layer, why.0.as_deref(), why.1)),
                Verdict::Legal,
            ),
            // Without a footprint: a structure is recorded when one is centred where it
            // stands.
            None => match map.near(layer, p, opts.baseline_match_m).find(|b| {
                let c = b.centroid();
                (c[0] - p[0]).hypot(c[1] - p[1]) <= opts.baseline_match_m
            }) {
                Some(b) => Verdict::Legal(format!("recorded as {layer} {}", b.id)),
                None => v(rule(layer, None, format!("absent from {layer}"))),
            },
        },
    }
}

/// Whether a recorded structure of `layer` explains the footprint `f` seen at `p`: `Ok(why)`
/// when one does, else `Err((the structure it stands on, why it is new))`.
fn baseline_by_footprint(
    map: &Map,
    layer: &str,
    p: [f64; 2],
    f: &[[f64; 2]],
    opts: &RuleOptions,
) -> Result<String, (Option<String>, String)> {
    let footprint = polygon(f);
    let seen = footprint.unsigned_area();
    let reach = f
        .iter()
        .map(|q| (q[0] - p[0]).hypot(q[1] - p[1]))
        .fold(0.0, f64::max);
    let ratio = opts.baseline_min_area_ratio.clamp(1e-6, 1.0);
    // A box in a frame bounds what it holds along the frame's axes (the footprint's first edge
    // is the frame's horizontal): a structure turned against them fills less of it (a square
    // turned 45° half). The sizes compare what was recorded as the same box would hold it; the
    // overlap is the recorded outline's own.
    let axis = [f[1][0] - f[0][0], f[1][1] - f[0][1]];
    let mut under: Option<(String, f64, f64)> = None;
    for b in map.near(layer, p, reach) {
        let recorded = b.area();
        let shared = b.overlap(&footprint);
        if shared < opts.baseline_min_overlap * seen.min(recorded) || shared <= 0.0 {
            continue;
        }
        let boxed = bounding_box_along(b.polygon(), axis).map_or(recorded, |r| r.unsigned_area());
        if seen >= ratio * boxed && boxed >= ratio * seen {
            return Ok(format!(
                "recorded as {layer} {} ({recorded:.0} m², {:.0} % of the {seen:.0} m² seen)",
                b.id,
                100.0 * shared / seen.max(1e-9)
            ));
        }
        if under.as_ref().is_none_or(|u| shared > u.2) {
            under = Some((b.id.clone(), recorded, shared));
        }
    }
    Err(match under {
        Some((id, recorded, _)) => (
            Some(id.clone()),
            format!("{seen:.0} m² on {layer} {id} of {recorded:.0} m²: not what was recorded"),
        ),
        None => (None, format!("absent from {layer}")),
    })
}

/// `shape`'s bounding box along `axis` and its normal, as a polygon (`None` for a zero axis).
fn bounding_box_along(shape: &geo::Polygon<f64>, axis: [f64; 2]) -> Option<geo::Polygon<f64>> {
    let n = axis[0].hypot(axis[1]);
    if !(n > 1e-9 && n.is_finite()) {
        return None;
    }
    let (u, v) = ([axis[0] / n, axis[1] / n], [-axis[1] / n, axis[0] / n]);
    let (mut a, mut b) = (
        [f64::INFINITY, f64::NEG_INFINITY],
        [f64::INFINITY, f64::NEG_INFINITY],
    );
    for c in shape.exterior().coords() {
        let (x, y) = (c.x * u[0] + c.y * u[1], c.x * v[0] + c.y * v[1]);
        a = [a[0].min(x), a[1].max(x)];
        b = [b[0].min(y), b[1].max(y)];
    }
    let at = |x: f64, y: f64| [x * u[0] + y * v[0], x * u[1] + y * v[1]];
    Some(polygon(&[
        at(a[0], b[0]),
        at(a[1], b[0]),
        at(a[1], b[1]),
        at(a[0], b[1]),
    ]))
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

    fn seen(object_class: &str, at: [f64; 2]) -> Sighting<'_> {
        Sighting {
            object_class,
            at,
            footprint: None,
        }
    }

    fn at(map: &Map, lat: f64, lon: f64) -> [f64; 2] {
        let (e, n) = map.frame().geo_to_ground(GeoPoint { lat, lon });
        [e, n]
    }

    #[test]
    fn stalls_follow_lanes_and_zone_hours() {
        let m = Map::from_geojson(DOC).unwrap();
        let (o, c) = (RuleOptions::default(), Catalog::builtin());
        let lane = at(&m, 30.000015, 120.0002);
        let zone = at(&m, 30.000015, 120.0006);
        match judge(&c, &m, &seen("stall", lane), 600, &o) {
            Verdict::Violation { class, rule } => {
                assert_eq!(
                    (class.as_str(), rule.feature_id.as_deref()),
                    ("vending_in_lane", Some("L1"))
                )
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&c, &m, &seen("stall", zone), 7 * 60, &o),
            Verdict::Legal(_)
        ));
        match judge(&c, &m, &seen("stall", zone), 600, &o) {
            Verdict::Violation { rule, .. } => {
                assert_eq!(
                    rule.reason,
                    "vending_zone Z1 closed at 10:00 (open 06:00-09:00)"
                )
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&c, &m, &seen("stall", at(&m, 30.01, 120.01)), 600, &o),
            Verdict::Legal(_)
        ));
    }

    #[test]
    fn waste_and_sheds_follow_sites_and_baseline() {
        let m = Map::from_geojson(DOC).unwrap();
        let (o, c) = (RuleOptions::default(), Catalog::builtin());
        assert!(matches!(
            judge(
                &c,
                &m,
                &seen("waste_pile", at(&m, 30.0025, 120.0025)),
                600,
                &o
            ),
            Verdict::Legal(_)
        ));
        match judge(
            &c,
            &m,
            &seen("waste_pile", at(&m, 30.000015, 120.0002)),
            600,
            &o,
        ) {
            Verdict::Violation { class, rule } => {
                assert_eq!(class, "construction_waste");
                assert_eq!(rule.reason, "lane L1: outside any construction site");
            }
            v => panic!("{v:?}"),
        }
        // 2 m off the recorded shed's centre still matches it; 30 m away does not.
        match judge(
            &c,
            &m,
            &seen("steel_shed", at(&m, 30.004033, 120.004025)),
            600,
            &o,
        ) {
            Verdict::Legal(why) => assert_eq!(why, "recorded as baseline_structure B1"),
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            judge(&c, &m, &seen("steel_shed", at(&m, 30.0043, 120.00405)), 600, &o),
            Verdict::Violation { ref class, .. } if class == "illegal_structure"
        ));
        // A shed on the roof of a recorded 40 m building, 10 m from its centre, is new.
        assert!(matches!(
            judge(&c, &m, &seen("steel_shed", at(&m, 30.00515, 120.0051)), 600, &o),
            Verdict::Violation { ref class, .. } if class == "illegal_structure"
        ));
        assert!(matches!(
            judge(&c, &m, &seen("car", [0.0, 0.0]), 600, &o),
            Verdict::Legal(_)
        ));
    }

    /// A `w` × `d` m rectangle centred on `c`, turned `deg` degrees.
    fn rect(c: [f64; 2], w: f64, d: f64, deg: f64) -> Vec<[f64; 2]> {
        let (s, k) = deg.to_radians().sin_cos();
        [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
            .iter()
            .map(|(x, y)| {
                let (x, y) = (x * w / 2.0, y * d / 2.0);
                [c[0] + x * k - y * s, c[1] + x * s + y * k]
            })
            .collect()
    }

    #[test]
    fn a_shed_is_judged_by_its_footprint_against_the_recorded_ones() {
        // BL2: a recorded building of about 38.5 × 33.3 m; B1: a recorded 4.8 × 3.3 m shed.
        let m = Map::from_geojson(DOC).unwrap();
        let (o, c) = (RuleOptions::default(), Catalog::builtin());
        let bl2 = m.areas().iter().find(|a| a.id == "BL2").unwrap();
        let b1 = m.areas().iter().find(|a| a.id == "B1").unwrap();
        let roof = bl2.centroid();
        let judge_at = |at: [f64; 2], footprint: &[[f64; 2]]| {
            let s = Sighting {
                object_class: "steel_shed",
                at,
                footprint: Some(footprint),
            };
            judge(&c, &m, &s, 600, &o)
        };
        // A 5.9 × 3.3 m shed at the centre, at an edge and in a corner of the recorded roof:
        // new every time, and the verdict names the roof.
        for (dx, dy) in [(0.0, 0.0), (16.0, 0.0), (-16.0, -13.0)] {
            let at = [roof[0] + dx, roof[1] + dy];
            match judge_at(at, &rect(at, 5.9, 3.3, 20.0)) {
                Verdict::Violation { class, rule } => {
                    assert_eq!(class, "illegal_structure");
                    assert_eq!(rule.feature_id.as_deref(), Some("BL2"), "{}", rule.reason);
                }
                v => panic!("a shed at {dx}, {dy} on BL2: {v:?}"),
            }
        }
        // The recorded shed, seen 0.8 m off (the geotag's error) and a little larger: legal.
        let b = b1.centroid();
        let at = [b[0] + 0.8, b[1] - 0.5];
        match judge_at(at, &rect(at, 5.5, 3.8, 0.0)) {
            Verdict::Legal(why) => assert!(
                why.starts_with("recorded as baseline_structure B1"),
                "{why}"
            ),
            v => panic!("{v:?}"),
        }
        // The recorded shed seen from a drone flying across the street grid: its box, 45° to
        // the shed, holds twice its area. Still the recorded shed, as that box would hold it.
        let turned = rect(b, 5.8, 5.8, 45.0);
        assert!(polygon(&turned).unsigned_area() > 2.0 * b1.area());
        match judge_at(b, &turned) {
            Verdict::Legal(why) => assert!(
                why.starts_with("recorded as baseline_structure B1"),
                "{why}"
            ),
            v => panic!("{v:?}"),
        }
        // A new shed beside B1, boxed along axes turned 45°, whose box overlaps B1's own box
        // (11.8 m²) but B1 only by a corner (6.4 m² of 15.8): new, the empty corners of B1's
        // box being no overlap.
        let beside = [b[0] + 1.77, b[1] + 1.77];
        let boxed_beside = rect(beside, 4.5, 4.5, 45.0);
        assert!(
            matches!(judge_at(beside, &boxed_beside), Verdict::Violation { .. }),
            "{:?}",
            judge_at(beside, &boxed_beside)
        );
        // A structure over B1 more than twice the size of B1's box along those axes: not what
        // was recorded.
        match judge_at(b, &rect(b, 9.0, 8.0, 45.0)) {
            Verdict::Violation { rule, .. } => {
                assert!(
                    rule.reason.contains("not what was recorded"),
                    "{}",
                    rule.reason
                )
            }
            v => panic!("{v:?}"),
        }
        // The recorded building seen whole (its roof detected as one structure): legal.
        let at = [roof[0] + 1.0, roof[1] + 1.0];
        assert!(
            matches!(judge_at(at, &rect(at, 37.0, 32.0, 0.0)), Verdict::Legal(_)),
            "{:?}",
            judge_at(at, &rect(at, 37.0, 32.0, 0.0))
        );
        // A shed where nothing is recorded.
        let away = at_geo(&m, 30.0043, 120.00405);
        match judge_at(away, &rect(away, 5.0, 3.0, 0.0)) {
            Verdict::Violation { rule, .. } => {
                assert_eq!(rule.reason, "absent from baseline_structure")
            }
            v => panic!("{v:?}"),
        }
    }

    fn at_geo(m: &Map, lat: f64, lon: f64) -> [f64; 2] {
        at(m, lat, lon)
    }

    #[test]
    fn a_class_added_to_the_catalog_is_judged_by_its_rule() {
        let mut c = Catalog::builtin();
        let city = Catalog::from_toml(
            "[[violation]]\nid = \"illegal_advertising\"\nservice_name = \"Illegal advertising\"\ndescription = \"d\"\njoin_radius_m = 10\n\
             [[object]]\nclass = \"banner\"\nviolation = \"illegal_advertising\"\nheight_m = 1.5\n\
             rule = { kind = \"outside_layer\", layer = \"construction_site\", margin_m = 0 }\n",
        )
        .unwrap();
        c.violations.extend(city.violations);
        c.objects.extend(city.objects);
        let m = Map::from_geojson(DOC).unwrap();
        let o = RuleOptions::default();
        assert!(matches!(
            judge(&c, &m, &seen("banner", at(&m, 30.0025, 120.0025)), 600, &o),
            Verdict::Legal(_)
        ));
        match judge(
            &c,
            &m,
            &seen("banner", at(&m, 30.000015, 120.0002)),
            600,
            &o,
        ) {
            Verdict::Violation { class, rule } => {
                assert_eq!(class, "illegal_advertising");
                assert_eq!(rule.reason, "lane L1: outside any construction site");
            }
            v => panic!("{v:?}"),
        }
    }
}
