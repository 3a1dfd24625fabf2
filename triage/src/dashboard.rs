//! The dashboard: one page (Leaflet, bundled into the binary) over the API — a map of tickets
//! on a basemap drawn from the district's own layers (no tile server is reachable on site),
//! filters, SLA countdowns, a ticket's evidence and sightings, review-queue actions.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// The district layers the basemap shows. The `violation` and `object` layers are the
/// simulator's truth and never leave the server.
pub const BASEMAP_LAYERS: [&str; 8] = [
    "ground",
    "road",
    "footway",
    "building",
    "vending_zone",
    "construction_site",
    "jurisdiction",
    "grid_cell",
];

/// A district GeoJSON that cannot serve as a basemap.
#[derive(Debug, thiserror::Error)]
#[error("district GeoJSON: {0}")]
pub struct BasemapError(String);

/// The basemap: the district's [`BASEMAP_LAYERS`] features, coordinates rounded to ~1 cm.
pub fn basemap(district_geojson: &str) -> Result<String, BasemapError> {
    let mut v: Value =
        serde_json::from_str(district_geojson).map_err(|e| BasemapError(e.to_string()))?;
    let features = v
        .get_mut("features")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| BasemapError("no `features` array".into()))?;
    features.retain(|f| {
        f["properties"]["layer"]
            .as_str()
            .is_some_and(|l| BASEMAP_LAYERS.contains(&l))
    });
    for f in features.iter_mut() {
        if let Some(c) = f.pointer_mut("/geometry/coordinates") {
            round(c);
        }
    }
    Ok(v.to_string())
}

fn round(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(round),
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                *v = Value::from((x * 1e7).round() / 1e7);
            }
        }
        _ => {}
    }
}

/// `(path, content type, body)` of every file the page needs.
const ASSETS: [(&str, &str, &str); 5] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../web/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "/ui/app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
    (
        "/ui/leaflet.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/vendor/leaflet-1.9.4/leaflet.js"),
    ),
    (
        "/ui/leaflet.css",
        "text/css; charset=utf-8",
        include_str!("../web/vendor/leaflet-1.9.4/leaflet.css"),
    ),
];

/// The paths [`asset`] serves.
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.0)
}

/// One of the page's files.
pub fn asset(path: &str) -> Response {
    match ASSETS.iter().find(|a| a.0 == path) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basemap_keeps_the_streets_and_units_and_never_the_truth() {
        let d = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","properties":{"layer":"road","id":"R1"},"geometry":{"type":"Polygon","coordinates":[[[121.000000012345,30.1],[121.1,30.1],[121.1,30.2],[121.000000012345,30.1]]]}},
          {"type":"Feature","properties":{"layer":"jurisdiction","id":"U01","name":"Team A"},"geometry":{"type":"Polygon","coordinates":[]}},
          {"type":"Feature","properties":{"layer":"violation","id":"V0001"},"geometry":{"type":"Polygon","coordinates":[]}},
          {"type":"Feature","properties":{"layer":"object","id":"L0001"},"geometry":{"type":"Polygon","coordinates":[]}}]}"#;
        let b: Value = serde_json::from_str(&basemap(d).unwrap()).unwrap();
        let layers: Vec<&str> = b["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["layer"].as_str().unwrap())
            .collect();
        assert_eq!(layers, ["road", "jurisdiction"]);
        assert_eq!(b["features"][0]["geometry"]["coordinates"][0][0][0], 121.0);
        assert!(basemap("[]").unwrap_err().to_string().contains("features"));
    }
}
