//! Triage in-process for other packages' tests (feature `testsuite`; not compiled into the
//! service).

use std::path::Path;
use std::time::Duration;

pub use argus_testkit::services::Login;

/// Triage in-process, on an external broker, storing into `dir/triage.db`: what receipts an
/// edge agent's hits (the agent keeps a hit until triage has stored it). `login` is how it
/// logs in. Waits until it has subscribed to hits.
pub fn triage_on(broker_url: &str, dir: &Path, login: Option<&Login>) -> crate::service::Service {
    std::fs::create_dir_all(dir).expect("triage folder");
    let mut cfg = crate::config::Config {
        db: format!("sqlite:{}", dir.join("triage.db").display()),
        http: "127.0.0.1:0".into(),
        testsuite_routes: true,
        ..Default::default()
    };
    cfg.mqtt.url = Some(broker_url.to_string());
    if let Some(s) = login {
        let pass = dir.join("triage.pass");
        std::fs::write(&pass, &s.password).expect("triage's password file");
        cfg.mqtt.username = Some(s.user.clone());
        cfg.mqtt.password_file = Some(pass);
        cfg.mqtt.ca_file = s.ca_file.clone();
    }
    let service = crate::service::Service::start(cfg).expect("starting triage");
    assert!(
        service.wait_subscribed(Duration::from_secs(30)),
        "triage did not subscribe to hits on {broker_url}"
    );
    service
}
