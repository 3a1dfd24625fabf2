//! Patrols: the flight plans triage flies from docks on their schedules. `[patrols]` names the
//! plans folder and the docks file (docks are defined once, there, with their Cloud API serial
//! numbers); at start-up every plan is read, checked against its dock and planned into the KMZ
//! its dock will download, so a plan that cannot be flown stops triage with the reason.

use std::path::{Path, PathBuf};

use argus_flightplan::dock::{Dock, Docks};
use argus_flightplan::formats::Format;
use argus_flightplan::formats::wpml::fingerprint;
use argus_flightplan::mission::Template;
use argus_flightplan::plan::{Plan, load_dir};
use argus_flightplan::schedule::Schedule;
use serde::Deserialize;
use sha2::Digest as _;

/// `[patrols]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatrolsConfig {
    /// The plans folder: every `*.toml` in it is a plan (`argus.plan/1`).
    pub plans: PathBuf,
    /// The docks file (default: `docks.toml` in the plans folder's parent, as `flightplan`
    /// finds it).
    #[serde(default)]
    pub docks: Option<PathBuf>,
    /// How long before its instant a run's task is sent to the dock, seconds.
    #[serde(default = "default_prepare_lead_s")]
    pub prepare_lead_s: f64,
    /// How long a dock has to answer a service, seconds.
    #[serde(default = "default_reply_timeout_s")]
    pub reply_timeout_s: f64,
    /// The base of the wayline URLs handed to docks (`http://HOST:PORT`, as docks reach
    /// triage's HTTP API).
    pub public_url: String,
    /// The client id of triage's session with the docks' broker: the same across restarts, so
    /// the broker keeps what docks report while triage is away (one per instance).
    #[serde(default = "default_link_client_id")]
    pub client_id: String,
}

fn default_link_client_id() -> String {
    "triage-docks".into()
}

fn default_prepare_lead_s() -> f64 {
    120.0
}

fn default_reply_timeout_s() -> f64 {
    20.0
}

impl PatrolsConfig {
    /// Checks the values serde cannot.
    pub fn check(&self) -> Result<(), String> {
        for (key, v, lo, hi) in [
            ("prepare_lead_s", self.prepare_lead_s, 1.0, 86_400.0),
            ("reply_timeout_s", self.reply_timeout_s, 1.0, 600.0),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(format!("patrols.{key} = {v} is outside {lo}..{hi}"));
            }
        }
        if !argus_core::hit::is_agent_id(&self.client_id) {
            return Err(format!(
                "patrols.client_id = {:?} is not 1-64 letters, digits, '-' or '_'",
                self.client_id
            ));
        }
        let url = self.public_url.trim_end_matches('/');
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(|h| {
            h.is_empty() || h.contains(['/', '?', '#', '@']) || h.chars().any(char::is_whitespace)
        }) || url.chars().any(char::is_control)
        {
            return Err(format!(
                "patrols.public_url = {:?} is not http(s)://HOST[:PORT] (no path, no login)",
                self.public_url
            ));
        }
        Ok(())
    }

    /// The docks file: `docks`, or `docks.toml` beside the plans folder.
    pub fn docks_file(&self) -> PathBuf {
        self.docks.clone().unwrap_or_else(|| {
            self.plans
                .parent()
                .unwrap_or(Path::new("."))
                .join("docks.toml")
        })
    }
}

/// A plan ready to fly: its schedule, its KMZ and the sums that name them.
#[derive(Debug, Clone)]
pub struct Patrol {
    /// The plan as checked.
    pub plan: Plan,
    /// SHA-256 of the plan file's text (the version flown).
    pub plan_sha256: String,
    /// The wayline its dock downloads.
    pub kmz: Vec<u8>,
    /// The KMZ's MD5, lower-case hex (the task's `fingerprint`).
    pub kmz_md5: String,
    /// The Cloud API `wayline_type`.
    pub wayline_type: argus_core::cloudapi::WaylineType,
}

impl Patrol {
    /// Plans `plan` (whose file's bytes are `text`) into the KMZ its dock downloads. A plan
    /// naming an unknown dock, a scheduled plan whose dock has no serial number, or one that
    /// needs more than one sortie is refused, naming the file.
    pub fn build(plan: Plan, text: &[u8], docks: &Docks) -> Result<Self, PatrolError> {
        let unflyable = |message: String| PatrolError::Unflyable {
            path: plan.path.clone(),
            message,
        };
        let dock = docks.get(&plan.file.dock).ok_or_else(|| {
            unflyable(format!(
                "dock {:?} is not in the docks file",
                plan.file.dock
            ))
        })?;
        if plan.schedule.is_some() && dock.sn.is_none() {
            return Err(unflyable(format!(
                "it is scheduled, but dock {:?} in {} has no `sn` (its Cloud API serial number)",
                dock.id,
                docks.path.display()
            )));
        }
        let missions = plan.missions()?;
        let [mission] = missions.as_slice() else {
            return Err(unflyable(format!(
                "it needs {} sorties; a patrol run flies one (shrink the plan, or split it into \
                 plans)",
                missions.len()
            )));
        };
        let kmz = Format::Kmz
            .write(mission)
            .map_err(|e| unflyable(format!("its KMZ: {e}")))?;
        let wayline_type = match mission.template {
            Template::Area { .. } => argus_core::cloudapi::WaylineType::Mapping2d,
            Template::Corridor { .. } => argus_core::cloudapi::WaylineType::MappingStrip,
            Template::Waypoints => argus_core::cloudapi::WaylineType::Waypoint,
        };
        Ok(Self {
            plan_sha256: format!("{:x}", sha2::Sha256::digest(text)),
            kmz_md5: fingerprint(&kmz),
            kmz,
            wayline_type,
            plan,
        })
    }

    /// The plan's id.
    pub fn id(&self) -> &str {
        &self.plan.file.id
    }

    /// Its schedule, if it has one.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.plan.schedule.as_ref()
    }
}

/// The patrols and the docks they fly from.
#[derive(Debug, Clone)]
pub struct Patrols {
    /// The docks file.
    pub docks: Docks,
    /// The plans, by id order.
    pub patrols: Vec<Patrol>,
}

/// Why the patrols cannot be flown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PatrolError {
    /// The docks file.
    #[error(transparent)]
    Docks(#[from] argus_flightplan::dock::DockError),
    /// A plan file, or the plans folder.
    #[error(transparent)]
    Plan(#[from] argus_flightplan::plan::PlanError),
    /// A plan triage cannot fly.
    #[error("{path}: {message}")]
    Unflyable {
        /// The plan file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Patrols {
    /// Reads the docks file and every plan, and plans each into its KMZ. A plan naming an
    /// unknown dock, two plans with one id, a scheduled plan whose dock has no serial number,
    /// or one that needs more than one sortie are refused, naming the file.
    pub fn load(cfg: &PatrolsConfig) -> Result<Self, PatrolError> {
        let docks = Docks::load(&cfg.docks_file())?;
        let plans = load_dir(&cfg.plans, &docks)?;
        let mut patrols = Vec::with_capacity(plans.len());
        for plan in plans {
            let text = std::fs::read(&plan.path).map_err(|e| PatrolError::Unflyable {
                path: plan.path.clone(),
                message: e.to_string(),
            })?;
            patrols.push(Patrol::build(plan, &text, &docks)?);
        }
        patrols.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(Self { docks, patrols })
    }

    /// The patrol of a plan id.
    pub fn get(&self, plan_id: &str) -> Option<&Patrol> {
        self.patrols.iter().find(|p| p.id() == plan_id)
    }

    /// The dock a patrol flies from.
    pub fn dock_of(&self, p: &Patrol) -> Option<&Dock> {
        self.docks.get(&p.plan.file.dock)
    }

    /// The dock of a gateway serial number.
    pub fn dock_by_sn(&self, sn: &str) -> Option<&Dock> {
        self.docks
            .docks
            .iter()
            .find(|d| d.sn.as_deref() == Some(sn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn cfg(plans: PathBuf) -> PatrolsConfig {
        PatrolsConfig {
            plans,
            docks: None,
            prepare_lead_s: 120.0,
            reply_timeout_s: 20.0,
            public_url: "http://10.0.0.2:8080".into(),
            client_id: "triage-docks".into(),
        }
    }

    #[test]
    fn the_example_plans_load_with_their_kmz() {
        let p = Patrols::load(&cfg(repo().join("flight-plans/plans"))).unwrap();
        // The same plan is the same KMZ, byte for byte, whenever it is written (a restarted
        // triage hands docks the fingerprint they already hold).
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let again = Patrols::load(&cfg(repo().join("flight-plans/plans"))).unwrap();
        for (a, b) in p.patrols.iter().zip(&again.patrols) {
            assert_eq!(a.kmz_md5, b.kmz_md5, "{}", a.id());
        }
        assert_eq!(p.patrols.len(), 3);
        for patrol in &p.patrols {
            assert_eq!(patrol.kmz_md5, fingerprint(&patrol.kmz));
            assert_eq!(patrol.kmz_md5.len(), 32);
            assert_eq!(patrol.plan_sha256.len(), 64);
            assert!(p.dock_of(patrol).is_some_and(|d| d.sn.is_some()));
            // The KMZ reads back as its plan's one sortie.
            let back = Format::Kmz.read(&patrol.kmz).unwrap();
            assert_eq!(
                back.waypoints.len(),
                patrol.plan.missions().unwrap()[0].waypoints.len()
            );
        }
        assert_eq!(
            p.dock_by_sn("7CTDM12345").map(|d| d.id.as_str()),
            Some("dock-1")
        );
    }

    #[test]
    fn plans_triage_cannot_fly_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let plans = dir.path().join("plans");
        std::fs::create_dir(&plans).unwrap();
        let docks = std::fs::read_to_string(repo().join("flight-plans/docks.toml")).unwrap();
        let plan =
            std::fs::read_to_string(repo().join("flight-plans/plans/u03-area.toml")).unwrap();
        // A scheduled plan for a dock without a serial number.
        let no_sn: String = docks
            .lines()
            .filter(|l| !l.starts_with("sn =") && !l.starts_with("aircraft_sn ="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(dir.path().join("docks.toml"), &no_sn).unwrap();
        std::fs::write(plans.join("u03.toml"), &plan).unwrap();
        let e = Patrols::load(&cfg(plans.clone())).unwrap_err().to_string();
        assert!(e.contains("u03.toml") && e.contains("no `sn`"), "{e}");
        // A plan that needs several sorties.
        std::fs::write(
            dir.path().join("docks.toml"),
            docks.replace("max_flight_s = 1500", "max_flight_s = 200"),
        )
        .unwrap();
        std::fs::write(
            plans.join("u03.toml"),
            plan.replace("kind = \"area\"", "kind = \"area\"\nsplit = true"),
        )
        .unwrap();
        let e = Patrols::load(&cfg(plans.clone())).unwrap_err().to_string();
        assert!(e.contains("u03.toml") && e.contains("sorties"), "{e}");
        // An unknown dock.
        std::fs::write(dir.path().join("docks.toml"), &docks).unwrap();
        std::fs::write(
            plans.join("u03.toml"),
            plan.replace("dock = \"dock-1\"", "dock = \"dock-9\""),
        )
        .unwrap();
        let e = Patrols::load(&cfg(plans)).unwrap_err().to_string();
        assert!(e.contains("dock-9"), "{e}");
    }

    #[test]
    fn config_values_are_checked() {
        let mut c = cfg(PathBuf::from("plans"));
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.docks_file(), PathBuf::from("docks.toml"));
        for bad in [
            "ftp://x",
            "http://",
            "http://a/b",
            "http://u:p@host",
            "http://a b",
            "http://a\n",
        ] {
            c.public_url = bad.into();
            assert!(c.check().unwrap_err().contains("public_url"), "{bad}");
        }
        c.public_url = "https://triage.example:8443/".into();
        c.reply_timeout_s = f64::NAN;
        assert!(c.check().unwrap_err().contains("reply_timeout_s = NaN"));
    }
}
