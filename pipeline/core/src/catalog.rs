//! The class catalog: every detector class, the violation it becomes and by which rule, and how
//! triage files that violation (join radius, ticket category, Open311 service). Classes are
//! configuration: a city that adds one edits a TOML file read by the edge agent's rules and by
//! triage alike (the format is documented in the built-in catalog, `classes.toml`).
//!
//! ```
//! use argus_core::catalog::{Catalog, RuleKind};
//!
//! let builtin = Catalog::builtin();
//! assert_eq!(builtin.object("stall").unwrap().violation, "vending_in_lane");
//! let city = Catalog::from_toml(r#"
//! [[violation]]
//! id = "illegal_advertising"
//! service_name = "Illegal advertising"
//! description = "A banner hung outside a permitted place"
//! join_radius_m = 10
//!
//! [[object]]
//! class = "banner"
//! violation = "illegal_advertising"
//! height_m = 1.5
//! rule = { kind = "outside_layer", layer = "permitted_banner", margin_m = 0 }
//! "#)?;
//! assert!(matches!(city.object("banner").unwrap().rule, RuleKind::OutsideLayer { .. }));
//! assert_eq!(city.violation("illegal_advertising").unwrap().join_radius_m, 10.0);
//! # Ok::<(), argus_core::catalog::CatalogError>(())
//! ```

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

/// The built-in catalog: the three violations Argus ships with.
pub const BUILTIN: &str = include_str!("classes.toml");

/// Why a catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("reading the class catalog {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, or an unknown or missing key.
    #[error("class catalog: {0}")]
    Parse(String),
    /// A value out of its range, a repeated id, a dangling reference.
    #[error("class catalog: {0}")]
    Invalid(String),
}

/// A kind of ticket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    /// The hit's and ticket's class, and the Open311 `service_code`.
    pub id: String,
    /// The Open311 `service_name`.
    pub service_name: String,
    /// The Open311 `description`.
    pub description: String,
    /// A hit joins an open ticket of its category this close, metres.
    pub join_radius_m: f64,
    /// The ticket category (e.g. a city's event code); default: the id.
    #[serde(default)]
    pub category: Option<String>,
}

/// When a sighting is a violation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// Standing in one of `layers`, or in an area of `zones` closed at that time (zones carry
    /// opening `hours`); legal in an open zone and elsewhere.
    InLayersOutsideOpenZone {
        /// Where it may not stand (e.g. `lane`, `footway`).
        layers: Vec<String>,
        /// Where it may stand in opening hours (e.g. `vending_zone`).
        zones: String,
    },
    /// Anywhere farther than `margin_m` from every area of `layer`.
    OutsideLayer {
        /// Where it belongs (e.g. `construction_site`).
        layer: String,
        /// Tolerance, metres; default: the agent's `rules.site_margin_m`.
        #[serde(default)]
        margin_m: Option<f64>,
    },
    /// No area of `layer` (the building survey) explains its footprint.
    AbsentFromBaseline {
        /// The survey (e.g. `baseline_structure`).
        layer: String,
    },
}

/// A detector class.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    /// The detector's class name.
    pub class: String,
    /// The violation it becomes.
    pub violation: String,
    /// Its typical height, metres (its box centre sits at half of it).
    pub height_m: f64,
    /// When it is a violation.
    pub rule: RuleKind,
}

/// The catalog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Kinds of ticket.
    #[serde(rename = "violation")]
    pub violations: Vec<Violation>,
    /// Detector classes.
    #[serde(rename = "object", default)]
    pub objects: Vec<Object>,
}

/// Height of a detector class the catalog does not know, metres.
pub const UNKNOWN_HEIGHT_M: f64 = 1.0;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Catalog {
    /// The built-in catalog (read once per process).
    pub fn builtin() -> Self {
        static PARSED: std::sync::LazyLock<Catalog> =
            std::sync::LazyLock::new(|| match Catalog::from_toml(BUILTIN) {
                Ok(c) => c,
                // The built-in file is tested; a broken one is a build defect.
                Err(e) => panic!("the built-in class catalog: {e}"),
            });
        PARSED.clone()
    }

    /// The catalog at `path`, or the built-in one.
    pub fn load(path: Option<&Path>) -> Result<Self, CatalogError> {
        let Some(path) = path else {
            return Ok(Self::builtin());
        };
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            CatalogError::Parse(m) => CatalogError::Parse(format!("{}: {m}", path.display())),
            CatalogError::Invalid(m) => CatalogError::Invalid(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Reads and checks a catalog.
    pub fn from_toml(text: &str) -> Result<Self, CatalogError> {
        let c: Catalog = toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), CatalogError> {
        let bad = |m: String| Err(CatalogError::Invalid(m));
        if self.violations.is_empty() {
            return bad("no [[violation]]: a catalog names at least one".into());
        }
        let mut ids = HashSet::new();
        for v in &self.violations {
            if !valid_id(&v.id) {
                return bad(format!(
                    "violation id {:?}: lower-case letters, digits and '_' only",
                    v.id
                ));
            }
            if !ids.insert(v.id.as_str()) {
                return bad(format!("violation {:?} is listed twice", v.id));
            }
            if !(v.join_radius_m.is_finite() && v.join_radius_m > 0.0 && v.join_radius_m <= 1000.0)
            {
                return bad(format!(
                    "violation {}: join_radius_m {} is not in (0, 1000]",
                    v.id, v.join_radius_m
                ));
            }
            let texts = [&v.service_name, &v.description];
            if texts.iter().any(|t| t.chars().any(char::is_control)) || v.service_name.is_empty() {
                return bad(format!(
                    "violation {}: service_name must be set, and no text may hold control characters",
                    v.id
                ));
            }
            if let Some(c) = &v.category
                && (c.is_empty() || c.len() > 64 || c.chars().any(char::is_control))
            {
                return bad(format!("violation {}: category {c:?}", v.id));
            }
        }
        let mut objects = HashSet::new();
        for o in &self.objects {
            if o.class.is_empty() || o.class.len() > 64 || o.class.chars().any(char::is_control) {
                return bad(format!("object class {:?}", o.class));
            }
            if !objects.insert(o.class.as_str()) {
                return bad(format!("object class {:?} is listed twice", o.class));
            }
            if !ids.contains(o.violation.as_str()) {
                return bad(format!(
                    "object {}: violation {:?} is not a [[violation]] id",
                    o.class, o.violation
                ));
            }
            if !(o.height_m.is_finite() && o.height_m > 0.0 && o.height_m <= 100.0) {
                return bad(format!(
                    "object {}: height_m {} is not in (0, 100]",
                    o.class, o.height_m
                ));
            }
            // Layer names are map names: set, short, printable.
            let layer_ok =
                |l: &String| !l.is_empty() && l.len() <= 64 && !l.chars().any(char::is_control);
            let layers: Vec<&String> = match &o.rule {
                RuleKind::InLayersOutsideOpenZone { layers, zones } => {
                    if layers.is_empty() {
                        return bad(format!("object {}: rule.layers is empty", o.class));
                    }
                    layers.iter().chain([zones]).collect()
                }
                RuleKind::OutsideLayer { layer, .. } | RuleKind::AbsentFromBaseline { layer } => {
                    vec![layer]
                }
            };
            if let Some(l) = layers.into_iter().find(|l| !layer_ok(l)) {
                return bad(format!(
                    "object {}: rule layer {l:?} is empty, over 64 bytes or holds a control character",
                    o.class
                ));
            }
            let margin_ok = match &o.rule {
                RuleKind::OutsideLayer {
                    margin_m: Some(m), ..
                } => m.is_finite() && *m >= 0.0 && *m <= 1000.0,
                _ => true,
            };
            if !margin_ok {
                return bad(format!(
                    "object {}: rule.margin_m is not in [0, 1000]",
                    o.class
                ));
            }
        }
        Ok(())
    }

    /// Every map layer the rules read (to check a map against).
    pub fn rule_layers(&self) -> std::collections::BTreeSet<&str> {
        self.objects
            .iter()
            .flat_map(|o| match &o.rule {
                RuleKind::InLayersOutsideOpenZone { layers, zones } => layers
                    .iter()
                    .map(String::as_str)
                    .chain([zones.as_str()])
                    .collect::<Vec<_>>(),
                RuleKind::OutsideLayer { layer, .. } | RuleKind::AbsentFromBaseline { layer } => {
                    vec![layer.as_str()]
                }
            })
            .collect()
    }

    /// The detector class `class`.
    pub fn object(&self, class: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.class == class)
    }

    /// The violation `id`.
    pub fn violation(&self, id: &str) -> Option<&Violation> {
        self.violations.iter().find(|v| v.id == id)
    }

    /// The typical height of a detector class, metres.
    pub fn height_m(&self, class: &str) -> f64 {
        self.object(class).map_or(UNKNOWN_HEIGHT_M, |o| o.height_m)
    }

    /// The ticket category of violation `id`: its configured category, else the id.
    pub fn category(&self, id: &str) -> Option<&str> {
        self.violation(id)
            .map(|v| v.category.as_deref().unwrap_or(&v.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalog_holds_the_three_violations() {
        let c = Catalog::builtin();
        let ids: Vec<_> = c.violations.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(
            ids,
            ["vending_in_lane", "construction_waste", "illegal_structure"]
        );
        assert_eq!(c.height_m("steel_shed"), 2.8);
        assert_eq!(c.height_m("bicycle"), UNKNOWN_HEIGHT_M);
        assert_eq!(c.category("construction_waste"), Some("construction_waste"));
        assert_eq!(
            c.violation("illegal_structure").unwrap().join_radius_m,
            30.0
        );
    }

    #[test]
    fn broken_catalogs_name_what_is_wrong() {
        let head = "[[violation]]\nid = \"v\"\nservice_name = \"V\"\ndescription = \"d\"\njoin_radius_m = 10\n";
        let obj = |extra: &str| {
            format!(
                "{head}[[object]]\nclass = \"o\"\nviolation = \"v\"\nheight_m = 1\nrule = {{ kind = \"outside_layer\", layer = \"l\" }}\n{extra}"
            )
        };
        assert!(Catalog::from_toml(&obj("")).is_ok());
        for (text, says) in [
            (obj("colour = 1"), "colour"),
            (
                head.replace("join_radius_m = 10", "join_radius_m = nan"),
                "join_radius_m",
            ),
            (head.replace("id = \"v\"", "id = \"V X\""), "lower-case"),
            (format!("{head}{head}"), "twice"),
            (
                obj("").replace("violation = \"v\"\nheight", "violation = \"w\"\nheight"),
                "not a [[violation]]",
            ),
            (obj("").replace("height_m = 1", "height_m = -1"), "height_m"),
            (obj("").replace("outside_layer", "inside_out"), "inside_out"),
            (head.replace("\"V\"", "\"V\\u0007\""), "control"),
            ("violation = []".to_string(), "no [[violation]]"),
            (
                obj("").replace("layer = \"l\"", "layer = \"\""),
                "rule layer \"\"",
            ),
            (
                obj("").replace("layer = \"l\"", "layer = \"a\\u001b[31m\""),
                "control character",
            ),
            (
                obj("").replace(
                    "kind = \"outside_layer\", layer = \"l\"",
                    "kind = \"in_layers_outside_open_zone\", layers = [], zones = \"z\"",
                ),
                "rule.layers is empty",
            ),
            (
                obj("").replace(
                    "kind = \"outside_layer\", layer = \"l\"",
                    "kind = \"in_layers_outside_open_zone\", layers = [\"lane\"], zones = \"\"",
                ),
                "rule layer",
            ),
        ] {
            let err = Catalog::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(says), "{says}: {err}");
        }
    }
}
