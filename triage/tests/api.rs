//! The HTTP API of a running `triage serve` fed by a real Mosquitto: tickets with their
//! evidence, roles on every change, Open311 GeoReport v2 fields.

use std::time::{Duration, Instant};

use argus_testkit::hits::{JPEG, hit, hit_id, publish_hit};
use argus_testkit::services::{Mosquitto, free_port, http, start_triage};
use rumqttc::{Client, MqttOptions};
use serde_json::Value;

const VIEWER: &str = "viewer-token-0123456789";
const OPERATOR: &str = "operator-token-0123456789";

fn json(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let (status, body) =
        http(port, method, path, &headers, body.as_bytes()).expect("triage answers");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn tickets_evidence_roles_and_open311_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let tokens = tmp.path().join("tokens.txt");
    std::fs::write(&tokens, format!("viewer:{VIEWER}\noperator:{OPERATOR}\n")).unwrap();
    let port = free_port();
    let log = tmp.path().join("triage.log");
    let args = [
        "serve".to_string(),
        "--mqtt".into(),
        broker.url(),
        "--http".into(),
        format!("127.0.0.1:{port}"),
        "--db".into(),
        format!("sqlite:{}", tmp.path().join("t.db").display()),
        "--tokens".into(),
        tokens.display().to_string(),
    ];
    let mut triage = start_triage(env!("CARGO_BIN_EXE_triage"), &args, &log);
    // The live feed, open before the hit arrives.
    let feed = {
        use std::io::{BufRead as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "GET /api/v1/feed HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {VIEWER}\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        std::thread::spawn(move || {
            std::io::BufReader::new(s)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.starts_with("data:") && l.contains("\"opened\""))
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let (client, mut conn) =
        Client::new(MqttOptions::new("test-dock", "127.0.0.1", broker.port), 10);
    std::thread::spawn(move || for _ in conn.iter() {});
    let h = hit(&hit_id("api-1"), "dock-1", "construction_waste", 30.7, 0.9);
    publish_hit(&client, &h);
    let until = Instant::now() + Duration::from_secs(30);
    let list = loop {
        let (s, v) = json(port, "GET", "/api/v1/tickets", Some(VIEWER), "");
        if s == 200 && v.as_array().is_some_and(|a| !a.is_empty()) {
            break v;
        }
        assert!(Instant::now() < until, "no ticket: {s} {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let id = list[0]["ticket_id"].as_str().unwrap().to_string();
    let line = feed.join().unwrap().expect("an `opened` event on the feed");
    assert!(line.contains(&id), "{line}");
    // Reads need a token; the detail has the sighting and its evidence.
    assert_eq!(json(port, "GET", "/api/v1/tickets", None, "").0, 401);
    let (s, detail) = json(
        port,
        "GET",
        &format!("/api/v1/tickets/{id}"),
        Some(VIEWER),
        "",
    );
    assert_eq!(s, 200);
    assert_eq!(detail["sightings"][0]["hit_id"], hit_id("api-1").as_str());
    let url = detail["sightings"][0]["evidence_url"].as_str().unwrap();
    let (s, jpeg) = http(
        port,
        "GET",
        url,
        &[("Authorization", &format!("Bearer {VIEWER}"))],
        b"",
    )
    .unwrap();
    assert_eq!((s, jpeg.as_slice()), (200, JPEG));
    // Changes: 401 without a token, 403 for a viewer, done for an operator (and audited).
    let body = r#"{"to":"in_progress","note":"crew on the way"}"#;
    let path = format!("/api/v1/tickets/{id}/transition");
    assert_eq!(json(port, "POST", &path, None, body).0, 401);
    assert_eq!(json(port, "POST", &path, Some(VIEWER), body).0, 403);
    let (s, t) = json(port, "POST", &path, Some(OPERATOR), body);
    assert_eq!((s, t["state"].as_str()), (200, Some("in_progress")));
    assert_eq!(
        json(port, "POST", &path, Some(OPERATOR), r#"{"to":"closed"}"#).0,
        409
    );
    let (_, detail) = json(
        port,
        "GET",
        &format!("/api/v1/tickets/{id}"),
        Some(VIEWER),
        "",
    );
    let last = detail["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["actor"].as_str(), last["event"].as_str()),
        (Some("operator"), Some("transition"))
    );
    // GeoJSON export.
    let (s, gj) = json(port, "GET", "/api/v1/tickets.geojson", Some(VIEWER), "");
    assert_eq!(
        (s, gj["features"][0]["geometry"]["type"].as_str()),
        (200, Some("Point"))
    );
    // Open311: the spec's fields on services and requests.
    let (_, services) = json(port, "GET", "/open311/v2/services.json", None, "");
    for f in [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ] {
        assert!(
            services[0].get(f).is_some(),
            "services lack {f}: {services}"
        );
    }
    let (_, reqs) = json(
        port,
        "GET",
        "/open311/v2/requests.json?status=open",
        None,
        "",
    );
    let r = &reqs[0];
    for f in [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ] {
        assert!(r.get(f).is_some(), "requests lack {f}: {r}");
    }
    assert_eq!(
        (r["service_request_id"].as_str(), r["status"].as_str()),
        (Some(id.as_str()), Some("open"))
    );
    let (s, one) = json(
        port,
        "GET",
        &format!("/open311/v2/requests/{id}.json"),
        None,
        "",
    );
    assert_eq!(
        (s, one[0]["service_code"].as_str()),
        (200, Some("construction_waste"))
    );
    // POST requests (form-encoded, api_key): refused without a key, filed for review with one.
    let form = "service_code=construction_waste&lat=30.71&long=121.01&description=rubble";
    let post = |extra: &str| {
        http(
            port,
            "POST",
            "/open311/v2/requests.json",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("{form}{extra}").as_bytes(),
        )
        .unwrap()
    };
    assert_eq!(post("").0, 401);
    let (s, body) = post(&format!("&api_key={OPERATOR}"));
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    let new_id = created[0]["service_request_id"].as_str().unwrap();
    let (_, review) = json(port, "GET", "/api/v1/review", Some(VIEWER), "");
    assert!(
        review
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["ticket_id"] == new_id),
        "{review}"
    );
    // Tokens are never logged.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(OPERATOR) && !text.contains(VIEWER), "{text}");
    let _ = triage.kill();
    let _ = triage.wait();
}

/// The `next` link of a page, if any.
fn next_of(headers: &[(String, String)]) -> Option<String> {
    let link = headers.iter().find(|(k, _)| k == "link")?.1.clone();
    Some(link[link.find('<')? + 1..link.find('>')?].to_string())
}

#[test]
fn hostile_queries_get_json_400s_and_next_links_can_be_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (port, broker_port) = (free_port(), free_port());
    let args = [
        "serve".to_string(),
        "--broker-listen".into(),
        format!("127.0.0.1:{broker_port}"),
        "--http".into(),
        format!("127.0.0.1:{port}"),
        "--db".into(),
        format!("sqlite:{}", tmp.path().join("t.db").display()),
    ];
    let mut triage = start_triage(
        env!("CARGO_BIN_EXE_triage"),
        &args,
        &tmp.path().join("triage.log"),
    );
    let agent = argus_testkit::hits::bench_publisher(broker_port, "dock-1-links");
    for k in 0..3 {
        let mut h = hit(
            &hit_id(&format!("link-{k}")),
            "dock-1",
            "construction_waste",
            30.1 + k as f64 * 0.1,
            0.9,
        );
        h.observed_at = argus_core::clock::Timestamp::now();
        publish_hit(&agent, &h);
    }
    let until = Instant::now() + Duration::from_secs(30);
    while json(port, "GET", "/api/v1/tickets", None, "")
        .1
        .as_array()
        .is_none_or(|a| a.len() < 3)
    {
        assert!(Instant::now() < until, "three tickets");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Control characters, however encoded, never reach a store (a NUL would fail PostgreSQL).
    for path in [
        "/api/v1/tickets?unit=%00",
        "/api/v1/tickets?category=a%00b",
        "/api/v1/tickets/%00",
        "/api/v1/tickets.geojson?class=%1b%5b31m",
        "/open311/v2/requests.json?service_code=%00",
        "/open311/v2/requests/%00.json",
    ] {
        let (status, body) = json(port, "GET", path, None, "");
        assert_eq!(status, 400, "{path}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{path}: {body}"
        );
    }
    // Malformed queries are 400s in the API's JSON words.
    for path in [
        "/api/v1/tickets?limit=0",
        "/api/v1/tickets?limit=abc",
        "/api/v1/tickets?colour=red",
        "/api/v1/tickets?limit=1&limit=2",
    ] {
        let (status, body) = json(port, "GET", path, None, "");
        assert_eq!(status, 400, "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    // The group `finished` and the state `closed` are different questions.
    assert_eq!(
        json(port, "GET", "/api/v1/tickets?state=finished", None, "").1,
        serde_json::json!([])
    );
    assert_eq!(
        json(port, "GET", "/api/v1/tickets?state=closed", None, "").1,
        serde_json::json!([])
    );
    assert_eq!(
        json(port, "GET", "/api/v1/tickets?state=open", None, "")
            .1
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Following the links visits every ticket once, whatever the first query's spelling.
    for (first, list) in [
        (
            "/api/v1/tickets?limit=1&%63ursor=7fefffffffffffff.zzzz",
            "json",
        ),
        ("/api/v1/tickets?limit=1&state=open", "json"),
        ("/api/v1/tickets.geojson?limit=1", "geojson"),
    ] {
        let mut seen = Vec::new();
        let mut at = Some(first.to_string());
        while let Some(path) = at.take() {
            let (status, headers, body) =
                argus_testkit::services::http_full(port, "GET", &path, &[], b"").unwrap();
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            let page = if list == "json" {
                v.as_array().unwrap().clone()
            } else {
                v["features"].as_array().unwrap().clone()
            };
            for t in page {
                seen.push(
                    t["ticket_id"]
                        .as_str()
                        .or(t["id"].as_str())
                        .unwrap()
                        .to_string(),
                );
            }
            at = next_of(&headers);
            assert!(seen.len() <= 3, "{first}: the links go round: {seen:?}");
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (3, 3), "{first}: {seen:?}");
    }
    triage.kill().unwrap();
    let _ = triage.wait();
}
