//! `triage serve`'s TOML config. Unknown keys are refused, naming the key and its place.
//!
//! ```toml
//! db = "sqlite:var/triage.db"          # or postgres://user@host:5432/argus
//! district = "district.geojson"        # jurisdiction and grid_cell layers route tickets
//! http = "127.0.0.1:8080"              # API, Open311, metrics
//! tokens = "tokens.txt"                # role:token lines (viewer, operator, admin)
//! classes = "classes.toml"             # the class catalog the agents use (argus_core::catalog);
//!                                      # else the built-in one
//!
//! [mqtt]                               # without `url`, an embedded broker on `listen`
//! url = "mqtt://127.0.0.1:1883"        # an external broker (Mosquitto, EMQX, …)
//! listen = "127.0.0.1:1883"            # …or where the embedded broker listens
//! client_id = "triage-a"               # default: triage- and random digits, one per instance
//! username = "triage"
//! password_file = "/etc/argus/triage.pass"
//! ca_file = "/etc/argus/ca.pem"        # for mqtts://
//! credentials = "/etc/argus/broker/credentials"  # the embedded broker's users (USER.pass)
//! acl = "/etc/argus/broker/dynamic-security.json"  # …and their topics (with credentials)
//!
//! [intake]                             # see check::Limits
//! classes = ["vending_in_lane", "construction_waste"]  # default: every violation of the catalog
//! max_uncertainty_m = 500
//! max_age_days = 3650                  # a dock's backlog or a replayed recording may be old
//! max_future_s = 300                   # the agents' clock may run this far ahead
//!
//! [http_limits]                        # per client address; past them: 429
//! per_second = 50
//! burst = 200
//! concurrent = 16
//!
//! [rules]                              # see engine::Rules
//! join_radius_m = { construction_waste = 20 }
//! categories = { construction_waste = "0301", vending_in_lane = "0105" }
//! sla = { dispatch_s = 30, response_s = 1800, completion_s = 86400 }
//!
//! [verification]                       # see verify::VerificationConfig; needs [patrols]
//! on = "review"                        # or "opened"
//! timezone = "Asia/Shanghai"           # the blackouts' zone; UTC by default
//! blackout_hours = "22:00-24:00,00:00-06:00"  # no verification flight sent then (a plan's
//! blackout_dates = ["2026-10-01/2026-10-07"]  # [schedule] syntax): skipped, naming the window
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::Limits;
use crate::engine::Rules;
use crate::limits::ClientLimits;

/// The whole config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite:PATH`.
    #[serde(default = "default_db")]
    pub db: String,
    /// The district map (routing layers).
    #[serde(default)]
    pub district: Option<PathBuf>,
    /// HTTP API address.
    #[serde(default = "default_http")]
    pub http: String,
    /// Bearer tokens file (`role:token` lines).
    #[serde(default)]
    pub tokens: Option<PathBuf>,
    /// The class catalog; the built-in one when not set.
    #[serde(default)]
    pub classes: Option<PathBuf>,
    /// The broker.
    #[serde(default)]
    pub mqtt: MqttConfig,
    /// Ticket rules.
    #[serde(default)]
    pub rules: Rules,
    /// What a hit may be (classes, bounds, time window).
    #[serde(default)]
    pub intake: Limits,
    /// What one HTTP client may ask (requests per second, burst, in flight).
    #[serde(default)]
    pub http_limits: ClientLimits,
    /// Patrol flights from docks (none without it).
    #[serde(default)]
    pub patrols: Option<crate::patrols::PatrolsConfig>,
    /// Drones sent to look at street cameras' tickets (needs `[patrols]`: its docks).
    #[serde(default)]
    pub verification: Option<crate::verify::VerificationConfig>,
    /// Serve the test-only panic routes (feature `testsuite`; set by the test kit only, never
    /// by a config file or a flag).
    #[serde(skip)]
    pub testsuite_routes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db: default_db(),
            district: None,
            http: default_http(),
            tokens: None,
            classes: None,
            mqtt: MqttConfig::default(),
            rules: Rules::default(),
            intake: Limits::default(),
            http_limits: ClientLimits::default(),
            patrols: None,
            verification: None,
            testsuite_routes: false,
        }
    }
}

fn default_http() -> String {
    "127.0.0.1:8080".into()
}

fn default_db() -> String {
    "sqlite:var/triage.db".into()
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// An external broker, `mqtt://host:port` or `mqtts://host:port`; without one, triage
    /// runs its own on `listen`.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the embedded broker listens (only without `url`).
    #[serde(default)]
    pub listen: Option<String>,
    /// Client id; by default `triage-` and random digits, unique per instance.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Username.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) for `mqtts://`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The embedded broker's users: a folder of `USER.pass` files (as `triage broker-config`
    /// writes). Triage itself logs in as `triage`. Without it the embedded broker listens on
    /// loopback only.
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    /// The embedded broker's topic rights: the `dynamic-security.json` that `triage
    /// broker-config` writes for Mosquitto, read by the embedded broker too. Required with
    /// `credentials`.
    #[serde(default)]
    pub acl: Option<PathBuf>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: None,
            listen: None,
            client_id: default_client_id(),
            username: None,
            password_file: None,
            ca_file: None,
            credentials: None,
            acl: None,
        }
    }
}

/// Where the embedded broker listens unless told otherwise.
pub const DEFAULT_BROKER_LISTEN: &str = "127.0.0.1:1883";

/// The broker triage takes hits from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerChoice {
    /// An external broker at this URL.
    External(String),
    /// The embedded broker on this address.
    Embedded(std::net::SocketAddr),
}

impl MqttConfig {
    /// External when `url` is set, else embedded on `listen` (default 127.0.0.1:1883).
    pub fn broker(&self) -> Result<BrokerChoice, ConfigError> {
        match (&self.url, &self.listen) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid(
                "mqtt: set `url` (an external broker) or `listen` (the embedded one), not both"
                    .into(),
            )),
            (Some(u), None) => Ok(BrokerChoice::External(u.clone())),
            (None, l) => {
                let l = l.as_deref().unwrap_or(DEFAULT_BROKER_LISTEN);
                l.parse().map(BrokerChoice::Embedded).map_err(|_| {
                    ConfigError::Invalid(format!(
                        "mqtt.listen {l:?}: expected host:port, e.g. 127.0.0.1:1883"
                    ))
                })
            }
        }
    }
}
fn default_client_id() -> String {
    crate::mqtt::instance_client_id()
}

/// A config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An unreadable file, bad TOML or an unknown key (the message names the key and line).
    #[error(transparent)]
    File(#[from] argus_core::config::FileError),
    /// Keys that parse but do not fit together.
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Reads a config file; relative paths in it are taken from its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file = argus_core::config::ConfigFile::<Config>::read(path)?;
        let mut c = file.value.clone();
        let base = &file.base;
        let fix = |p: &mut PathBuf| file.resolve(p);
        c.district.as_mut().map(fix);
        c.tokens.as_mut().map(fix);
        c.classes.as_mut().map(fix);
        // Intake takes every violation of the catalog unless `[intake] classes` says otherwise.
        c.intake.classes_listed = file.written(&["intake", "classes"]);
        c.mqtt.password_file.as_mut().map(fix);
        c.mqtt.ca_file.as_mut().map(fix);
        c.mqtt.credentials.as_mut().map(fix);
        c.mqtt.acl.as_mut().map(fix);
        if let Some(p) = c.patrols.as_mut() {
            fix(&mut p.plans);
            p.docks.as_mut().map(fix);
        }
        if let Some(rest) = c.db.strip_prefix("sqlite:") {
            let p = Path::new(rest);
            if p.is_relative() {
                c.db = format!("sqlite:{}", base.join(p).display());
            }
        }
        c.check()
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Checks the values serde cannot: ranges, names (also for a config built from flags).
    pub fn check(&self) -> Result<(), String> {
        self.rules.check()?;
        self.intake.check()?;
        self.patrols
            .as_ref()
            .map_or(Ok(()), crate::patrols::PatrolsConfig::check)?;
        if let Some(v) = &self.verification {
            if self.patrols.is_none() {
                return Err(
                    "[verification] needs [patrols] (its docks fly the verification flights)"
                        .into(),
                );
            }
            v.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_by_name_and_paths_are_taken_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("triage.toml");
        std::fs::write(&p, "db = \"sqlite:t.db\"\n[rules]\njoin_radius = 3\n").unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("join_radius") && e.contains("line 3"), "{e}");
        std::fs::write(
            &p,
            "db = \"sqlite:t.db\"\ndistrict = \"d.geojson\"\n[rules]\ncategories = { construction_waste = \"0301\" }\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(
            c.db,
            format!("sqlite:{}", dir.path().join("t.db").display())
        );
        assert_eq!(c.district.unwrap(), dir.path().join("d.geojson"));
        assert_eq!(c.rules.category("construction_waste"), "0301");
        assert_eq!(c.rules.radius("construction_waste"), 20.0);
        assert_eq!(
            c.mqtt.broker().unwrap(),
            BrokerChoice::Embedded(DEFAULT_BROKER_LISTEN.parse().unwrap())
        );
    }

    #[test]
    fn values_out_of_range_are_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("triage.toml");
        for (body, says) in [
            (
                "[rules]\njoin_radius_m = { construction_waste = 1e7 }\n",
                "rules.join_radius_m.construction_waste = 10000000",
            ),
            (
                "[rules]\njoin_radius_m = { construction_waste = nan }\n",
                "rules.join_radius_m.construction_waste = NaN",
            ),
            (
                "[rules]\njoin_radius_m = { construction_waste = -5 }\n",
                "rules.join_radius_m",
            ),
            (
                "[rules]\ndefault_join_radius_m = inf\n",
                "rules.default_join_radius_m = inf",
            ),
            (
                "[rules]\ncategories = { construction_waste = \"a\\u0000b\" }\n",
                "rules.categories",
            ),
            (
                "[rules.sla]\ndispatch_s = 0\nresponse_s = 60\ncompletion_s = 60\n",
                "rules.sla.dispatch_s = 0",
            ),
            (
                "[rules.auto_dispatch]\nscore = 2\nsightings = 2\nsightings_score = 0.4\n",
                "rules.auto_dispatch.score = 2",
            ),
            (
                "[intake]\nmax_uncertainty_m = nan\n",
                "intake.max_uncertainty_m",
            ),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = Config::load(&p).unwrap_err().to_string();
            assert!(e.contains(says), "{body}: {e}");
        }
    }

    #[test]
    fn patrols_take_their_paths_from_the_file_and_refuse_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("triage.toml");
        std::fs::write(
            &p,
            "[patrols]\nplans = \"plans\"\npublic_url = \"http://10.0.0.2:8080\"\n",
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        let patrols = c.patrols.unwrap();
        assert_eq!(patrols.plans, dir.path().join("plans"));
        assert_eq!(patrols.docks_file(), dir.path().join("docks.toml"));
        assert_eq!(
            (patrols.prepare_lead_s, patrols.reply_timeout_s),
            (120.0, 20.0)
        );
        std::fs::write(
            &p,
            "[patrols]\nplans = \"plans\"\npublic_url = \"http://h\"\nprepare_lead = 5\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("prepare_lead") && e.contains("line 4"), "{e}");
        std::fs::write(
            &p,
            "[patrols]\nplans = \"plans\"\npublic_url = \"http://h/x\"\n",
        )
        .unwrap();
        let e = Config::load(&p).unwrap_err().to_string();
        assert!(e.contains("patrols.public_url"), "{e}");
    }

    #[test]
    fn verification_takes_the_issues_defaults_needs_patrols_and_checks_its_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("triage.toml");
        let patrols = "[patrols]\nplans = \"plans\"\npublic_url = \"http://h\"\n";
        std::fs::write(&p, format!("{patrols}[verification]\non = \"opened\"\n")).unwrap();
        let v = Config::load(&p).unwrap().verification.unwrap();
        assert_eq!(v.on, crate::verify::Trigger::Opened);
        assert_eq!(
            (
                v.min_score,
                v.altitude_m,
                v.hover_s,
                v.cooldown_s,
                v.cooldown_radius_m
            ),
            (0.3, 60.0, 15.0, 1800.0, 50.0)
        );
        assert_eq!((v.max_per_dock_per_hour, v.max_wait_s), (4, 600.0));
        assert_eq!(v.classes, ["construction_waste", "vending_in_lane"]);
        assert_eq!(v.timezone, "UTC");
        assert!(v.blackouts().unwrap().is_none());
        for (body, word) in [
            ("[verification]\non = \"opened\"\n", "needs [patrols]"),
            (
                &format!("{patrols}[verification]\non = \"always\"\n") as &str,
                "always",
            ),
            (
                &format!("{patrols}[verification]\ncooldown = 5\n"),
                "cooldown",
            ),
            (
                &format!("{patrols}[verification]\nmin_score = 1.5\n"),
                "verification.min_score = 1.5",
            ),
            (
                &format!("{patrols}[verification]\nmax_per_dock_per_hour = 0\n"),
                "max_per_dock_per_hour",
            ),
            (
                &format!("{patrols}[verification]\nclasses = []\n"),
                "classes is empty",
            ),
            (
                &format!("{patrols}[verification]\nclasses = [\"a b\"]\n"),
                "not a class name",
            ),
            (
                &format!("{patrols}[verification]\ntimezone = \"Mars/Olympus\"\n"),
                "verification.timezone: \"Mars/Olympus\" is not an IANA time zone",
            ),
            (
                &format!("{patrols}[verification]\nblackout_hours = \"22:00-06:00\"\n"),
                "verification.blackout_hours: \"22:00-06:00\"",
            ),
            (
                &format!("{patrols}[verification]\nblackout_dates = [\"2026-10-07/2026-10-01\"]\n"),
                "verification.blackout_dates",
            ),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = Config::load(&p).unwrap_err().to_string();
            assert!(e.contains(word), "{body}: {e}");
        }
    }

    #[test]
    fn an_external_url_and_an_embedded_listen_address_exclude_each_other() {
        let mut m = MqttConfig {
            url: Some("mqtt://broker:1883".into()),
            ..MqttConfig::default()
        };
        assert_eq!(
            m.broker().unwrap(),
            BrokerChoice::External("mqtt://broker:1883".into())
        );
        m.listen = Some("0.0.0.0:1883".into());
        assert!(m.broker().unwrap_err().to_string().contains("not both"));
        m.url = None;
        m.listen = Some("nowhere".into());
        assert!(
            m.broker()
                .unwrap_err()
                .to_string()
                .contains("mqtt.listen \"nowhere\"")
        );
    }
}
