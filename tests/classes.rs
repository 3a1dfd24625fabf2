//! Classes are configuration: a fourth class added to the class catalog — a detector class
//! `banner` that becomes the violation `illegal_advertising` outside `permitted_banner` zones —
//! flows from frame to hit (the pure analysis with a scripted detector), over a real Mosquitto
//! to a triage ticket with the catalog's join radius and category, and into Open311's service
//! list and requests, with no code change.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_analysis::scripted::{ColourKey, ColourKeyDetector};
use argus_analysis::{AnalysisOptions, Analyzer, Frame, Geometry, SourceSetup, drive};
use argus_core::camera::{Intrinsics, Pose};
use argus_core::catalog::{BUILTIN, Catalog};
use argus_core::geodesy::{GeoPoint, LocalFrame};
use argus_core::hit::{Hit, ModelRef, Source, SourceKind};
use argus_core::map::Map;
use argus_testkit::services::{Mosquitto, http};
use serde_json::Value;

const ADVERTISING: &str = r#"
[[violation]]
id = "illegal_advertising"
service_name = "Illegal advertising"
description = "A banner or sign hung outside a permitted advertising place"
join_radius_m = 10
category = "0412"

[[object]]
class = "banner"
violation = "illegal_advertising"
height_m = 1.5
rule = { kind = "outside_layer", layer = "permitted_banner", margin_m = 0 }
"#;

const W: u32 = 640;
const H: u32 = 360;
const BLUE: [u8; 3] = [0, 0, 255];

/// A district whose only layer is one permitted banner place, 9–19 m east of `origin`.
fn district(origin: GeoPoint) -> String {
    let frame = LocalFrame::new(origin);
    let ring: Vec<[f64; 2]> = [
        (9.0, -5.0),
        (19.0, -5.0),
        (19.0, 5.0),
        (9.0, 5.0),
        (9.0, -5.0),
    ]
    .iter()
    .map(|&(e, n)| {
        let g = frame.ground_to_geo(e, n);
        [g.lon, g.lat]
    })
    .collect();
    serde_json::json!({
        "type": "FeatureCollection",
        "argus": {"origin": {"lat": origin.lat, "lon": origin.lon}},
        "features": [{"type": "Feature",
            "properties": {"layer": "permitted_banner", "id": "PB1"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]
    })
    .to_string()
}

/// A frame from 40 m straight down with two 34 × 11 px banners: one 14 m west of the
/// drone (nowhere permitted), one 14 m east (in PB1).
fn frame(index: u64) -> Frame {
    let mut rgb = vec![96u8; (W * H * 3) as usize];
    for x0 in [143u32, 463] {
        for y in 175..186 {
            for x in x0..x0 + 34 {
                let i = ((y * W + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&BLUE);
            }
        }
    }
    Frame {
        index,
        pts_s: Some(index as f64 / 5.0),
        rgb,
        width: W,
        height: H,
    }
}

fn analyse(catalog: Catalog, map: Map) -> Vec<Hit> {
    let origin = map.frame().origin();
    let setup = SourceSetup {
        agent_id: "district-9".into(),
        source: Source {
            kind: SourceKind::Drone,
            id: "dock-9".into(),
            flight_id: None,
        },
        intrinsics: Some(Intrinsics::from_hfov(W, H, 70.0)),
        geometry: Geometry::Fixed(Pose::nadir(origin.lat, origin.lon, 40.0)),
        map: Some(Arc::new(map)),
        catalog: Arc::new(catalog),
        dem: None,
        start_unix_s: argus_core::clock::now_unix_s() - 60.0,
        utc_offset_s: 0.0,
    };
    let model = ModelRef {
        name: "scripted".into(),
        version: "1".into(),
    };
    let mut analyzer = Analyzer::new(setup, AnalysisOptions::default(), model);
    let mut det = ColourKeyDetector::new(
        vec![
            ColourKey {
                class: "stall".into(),
                rgb: [255, 0, 0],
                score: 0.9,
            },
            ColourKey {
                class: "banner".into(),
                rgb: BLUE,
                score: 0.85,
            },
        ],
        640,
    );
    let mut hits = Vec::new();
    drive(
        (0..10).map(|i| Ok::<_, std::convert::Infallible>(frame(i))),
        &mut analyzer,
        &mut det,
        |_, made| {
            hits.extend(made);
            Ok(())
        },
    )
    .unwrap();
    hits
}

fn get(port: u16, path: &str) -> Value {
    let (status, body) = http(port, "GET", path, &[], b"").expect("triage answers");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn a_fourth_class_added_by_configuration_flows_from_frame_to_ticket_and_open311() {
    let tmp = tempfile::tempdir().unwrap();
    let classes = tmp.path().join("classes.toml");
    std::fs::write(&classes, format!("{BUILTIN}\n{ADVERTISING}")).unwrap();
    let catalog = Catalog::load(Some(&classes)).unwrap();
    let origin = GeoPoint {
        lat: 30.7,
        lon: 121.02,
    };
    let map = Map::from_geojson(&district(origin)).unwrap();

    // Frame → hit: the banner outside PB1 is a violation, the one inside is not.
    let hits = analyse(catalog, map.clone());
    assert_eq!(hits.len(), 1, "{hits:#?}");
    let hit = &hits[0];
    assert_eq!(
        (hit.class.as_str(), hit.object_class.as_str()),
        ("illegal_advertising", "banner")
    );
    assert_eq!(hit.rule.layer, "permitted_banner");
    let (east, _) = map.frame().geo_to_ground(GeoPoint {
        lat: hit.position.lat,
        lon: hit.position.lon,
    });
    assert!((east + 14.0).abs() < 1.5, "the western banner: {east:.1} m");
    // The built-in catalog knows no banner: the same frames make no hit.
    assert!(analyse(Catalog::builtin(), map).is_empty());

    // Hit → ticket, through a real broker, to a triage given the same catalog.
    let mosquitto = Mosquitto::start(&tmp.path().join("mosquitto"));
    let mut cfg = argus_triage::config::Config {
        db: format!("sqlite:{}", tmp.path().join("triage.db").display()),
        http: "127.0.0.1:0".into(),
        classes: Some(classes),
        ..Default::default()
    };
    cfg.mqtt.url = Some(mosquitto.url());
    let triage = argus_triage::service::Service::start(cfg).expect("triage starts");
    assert!(triage.wait_subscribed(Duration::from_secs(30)));
    let port = triage.http_addr().port();
    let agent = argus_testkit::hits::bench_publisher(mosquitto.port, "district-9-test");
    argus_testkit::hits::publish_hit(&agent, hit);
    let until = Instant::now() + Duration::from_secs(30);
    let tickets = loop {
        let t = get(port, "/api/v1/tickets?limit=10");
        if t.as_array().is_some_and(|a| !a.is_empty()) {
            break t;
        }
        assert!(Instant::now() < until, "no ticket for the banner");
        std::thread::sleep(Duration::from_millis(100));
    };
    let ticket = &tickets[0];
    assert_eq!(ticket["class"], "illegal_advertising");
    assert_eq!(
        ticket["category"], "0412",
        "the catalog's category: {ticket}"
    );

    // Open311: the catalog's violations are the services, the ticket a request of its own.
    let services = get(port, "/open311/v2/services.json");
    let codes: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "vending_in_lane",
            "construction_waste",
            "illegal_structure",
            "illegal_advertising"
        ]
    );
    assert_eq!(services[3]["service_name"], "Illegal advertising");
    let requests = get(
        port,
        "/open311/v2/requests.json?service_code=illegal_advertising",
    );
    assert_eq!(requests.as_array().map(Vec::len), Some(1), "{requests}");
    assert_eq!(requests[0]["service_name"], "Illegal advertising");
    triage.shutdown().unwrap();
}
