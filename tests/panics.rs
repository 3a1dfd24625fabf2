//! A failed request is a logged 500 and the service goes on: a handler that panics, a read that
//! panics on its reader thread and a change that panics holding the ingest's lock (test-only
//! routes, feature `testsuite`) each answer 500; the next requests are served and hits arriving
//! over a real Mosquitto still become tickets.

use std::time::{Duration, Instant};

use argus_testkit::hits::{bench_publisher, hit, hit_id, publish_hit};
use argus_testkit::services::{Mosquitto, http};

fn status(port: u16, path: &str) -> u16 {
    http(port, "GET", path, &[], b"").map_or(0, |(s, _)| s)
}

#[test]
fn a_panicking_request_answers_500_and_requests_and_ingest_go_on() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&tmp.path().join("broker"));
    let triage = argus_triage::testing::triage_on(&broker.url(), &tmp.path().join("triage"), None);
    let port = triage.http_addr().port();
    let agent = bench_publisher(broker.port, "dock-panics-test");
    for (k, path) in [
        "/api/v1/testsuite/panic",
        "/api/v1/testsuite/panic-read",
        "/api/v1/testsuite/panic-change",
    ]
    .iter()
    .cycle()
    .take(9)
    .enumerate()
    {
        assert_eq!(status(port, path), 500, "{path}");
        assert_eq!(status(port, "/health"), 200, "after {path}");
        assert_eq!(status(port, "/api/v1/tickets?limit=5"), 200, "after {path}");
        // A hit after each: the ingest (whose lock the change panicked under) takes it.
        let h = hit(
            &hit_id(&format!("panics-{k}")),
            "dock-1",
            "construction_waste",
            30.5 + 0.01 * k as f64,
            0.9,
        );
        publish_hit(&agent, &h);
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, body) = http(port, "GET", "/api/v1/tickets?limit=100", &[], b"").unwrap();
            let tickets: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
            if tickets.len() > k {
                break;
            }
            assert!(
                Instant::now() < until,
                "the hit after {path} never became a ticket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    triage.shutdown().unwrap();
}
