//! `triage broker-config`: a broker set-up that holds the contract's promises — every client
//! logs in, an agent writes only under its own id and reads only its own receipts, triage alone
//! reads hits and joins `$share/triage`, a dock gateway alone writes its own DJI Cloud API
//! topics — with persistence on and queue limits sized for bursts. Written for Mosquitto; the
//! embedded broker reads the same credentials and `dynamic-security.json` ([`crate::acl`]).
//!
//! The ACL is enforced by Mosquitto's dynamic-security plugin, not by an `acl_file`: Mosquitto
//! 2.0's ACL file does not check subscriptions at all (any client could join `$share/triage`
//! and take a share of the hits, dropped on delivery), the plugin checks them.
//!
//! It writes, into one folder:
//! - `mosquitto.conf` (run `mosquitto -c` on it);
//! - `dynamic-security.json`: one client per user (its password PBKDF2-SHA512-hashed) and one
//!   role per user naming exactly the topics it may send, receive and subscribe to; everything
//!   else is denied;
//! - `credentials/{user}.pass`: each user's password in clear (mode 0600), to hand to that
//!   agent or dock (`[mqtt] password_file`). Existing ones are kept, so running it again for a
//!   new agent changes no one else's password.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use argus_core::topics::{AgentTopic, DockTopic, TRIAGE_GROUP, shared};

use crate::acl::Rights;
use crate::check::is_agent_id;

/// Where Debian's `mosquitto` package installs the dynamic-security plugin.
pub const DYNSEC_PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

/// PBKDF2 rounds of each password hash.
const ITERATIONS: u32 = 10_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where Mosquitto listens (`ADDR:PORT`).
    pub listen: String,
    /// Triage's user (all instances share it; each has a client id of its own).
    pub triage_user: String,
    /// The edge agents' ids (their usernames).
    pub agents: Vec<String>,
    /// The dock gateways' serial numbers (their usernames).
    pub docks: Vec<String>,
    /// Where Mosquitto keeps its persistence database.
    pub persistence_dir: PathBuf,
}

/// Why the set-up cannot be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerConfigError {
    /// A user name the ACL cannot hold.
    #[error("{0:?} is not an id of 1-64 letters, digits, '-' or '_'")]
    BadId(String),
    /// Two users with one name.
    #[error("{0:?} is named twice")]
    Twice(String),
    /// The listen address.
    #[error("listen {0:?}: expected ADDR:PORT")]
    Listen(String),
    /// A file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BrokerConfigError + '_ {
    move |source| BrokerConfigError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl BrokerConfig {
    fn users(&self) -> Result<Vec<&str>, BrokerConfigError> {
        let mut all: Vec<&str> = vec![self.triage_user.as_str()];
        all.extend(self.agents.iter().map(String::as_str));
        all.extend(self.docks.iter().map(String::as_str));
        let mut seen = std::collections::HashSet::new();
        for u in &all {
            if !is_agent_id(u) {
                return Err(BrokerConfigError::BadId(u.to_string()));
            }
            if !seen.insert(*u) {
                return Err(BrokerConfigError::Twice(u.to_string()));
            }
        }
        Ok(all)
    }

    /// Each user's rights.
    pub fn rights(&self, user: &str) -> Rights {
        use AgentTopic as A;
        use DockTopic as D;
        let all = |ts: &[D]| ts.iter().map(|t| t.filter()).collect::<Vec<_>>();
        if user == self.triage_user {
            let from_docks = all(&[D::Events, D::ServicesReply, D::Requests, D::Status]);
            // The docks' own OSD says they are there.
            let reads = [A::Hits.filter(), A::Status.filter(), D::Osd.filter()]
                .into_iter()
                .chain(from_docks.clone());
            Rights {
                send: [A::Receipts.filter()]
                    .into_iter()
                    .chain(all(&[
                        D::Services,
                        D::EventsReply,
                        D::RequestsReply,
                        D::StatusReply,
                    ]))
                    .collect(),
                receive: reads.clone().collect(),
                // Instances share the hits and the docks' messages (`$share/triage/…`).
                subscribe: [shared(TRIAGE_GROUP, &A::Hits.filter())]
                    .into_iter()
                    .chain(from_docks.iter().map(|f| shared(TRIAGE_GROUP, f)))
                    .chain(reads)
                    .collect(),
            }
        } else if self.docks.iter().any(|d| d == user) {
            let own = |ts: &[D]| ts.iter().map(|t| t.topic(user)).collect::<Vec<_>>();
            let replies = own(&[
                D::Services,
                D::EventsReply,
                D::RequestsReply,
                D::StatusReply,
            ]);
            Rights {
                send: own(&[
                    D::Osd,
                    D::State,
                    D::Events,
                    D::ServicesReply,
                    D::Requests,
                    D::Status,
                ]),
                receive: replies.clone(),
                subscribe: replies,
            }
        } else {
            // An agent poses a dock's drone from its OSD and stamps its hits with the flight
            // its dock's events say is flying.
            let reads = vec![A::Receipts.topic(user), D::Osd.filter(), D::Events.filter()];
            Rights {
                send: vec![A::Hits.topic(user), A::Status.topic(user)],
                receive: reads.clone(),
                subscribe: reads,
            }
        }
    }

    /// `dynamic-security.json`: clients with `passwords` (user → password) and their roles.
    pub fn dynsec(&self, passwords: &[(String, String)]) -> Value {
        let mut clients = Vec::new();
        let mut roles = Vec::new();
        for (user, password) in passwords {
            let mut salt = [0u8; 12];
            salt.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..12]);
            let mut hash = [0u8; 64];
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), &salt, ITERATIONS, &mut hash);
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let role = format!("role-{user}");
            clients.push(json!({
                "username": user,
                "textname": format!("Argus {user}"),
                "password": b64(&hash),
                "salt": b64(&salt),
                "iterations": ITERATIONS,
                "roles": [{"rolename": role}],
            }));
            let r = self.rights(user);
            let acl = |kind: &str, topics: &[String]| -> Vec<Value> {
                topics
                    .iter()
                    .map(|t| json!({"acltype": kind, "topic": t, "priority": 0, "allow": true}))
                    .collect()
            };
            let mut acls = acl("publishClientSend", &r.send);
            acls.extend(acl("publishClientReceive", &r.receive));
            acls.extend(acl("subscribeLiteral", &r.subscribe));
            acls.extend(acl("unsubscribeLiteral", &r.subscribe));
            roles.push(json!({"rolename": role, "acls": acls}));
        }
        json!({
            "defaultACLAccess": {
                "publishClientSend": false,
                "publishClientReceive": false,
                "subscribe": false,
                "unsubscribe": false,
            },
            "clients": clients,
            "groups": [],
            "roles": roles,
        })
    }

    /// `mosquitto.conf`'s text, for files in `dir`.
    pub fn conf(&self, dir: &Path) -> Result<String, BrokerConfigError> {
        let (addr, port) = self
            .listen
            .rsplit_once(':')
            .filter(|(_, p)| p.parse::<u16>().is_ok())
            .ok_or_else(|| BrokerConfigError::Listen(self.listen.clone()))?;
        let d = dir.display();
        Ok(format!(
            "# Argus broker (generated by `triage broker-config`).\n\
             per_listener_settings false\n\
             listener {port} {addr}\n\
             allow_anonymous false\n\
             # Logins and topic rights, subscriptions included: dynamic-security.json.\n\
             plugin {DYNSEC_PLUGIN}\n\
             plugin_opt_config_file {d}/dynamic-security.json\n\
             \n\
             # Queued QoS 1 messages survive a broker restart.\n\
             persistence true\n\
             persistence_location {p}/\n\
             autosave_interval 60\n\
             \n\
             # Queues. Triage takes hits in batches of up to 500 per transaction with up to 1,000\n\
             # in flight; a burst of several thousand hits (a dock's backlog after an outage)\n\
             # must wait here while triage commits, not be dropped. Mosquitto's default of\n\
             # 1,000 queued messages per client dropped 677-2,096 hits of a 6,000 burst. Past\n\
             # these bounds the broker does drop, and the agents send again what has no receipt.\n\
             max_inflight_messages 1000\n\
             max_queued_messages 100000\n\
             max_queued_bytes 1073741824\n\
             # A hit with its evidence JPEG is ~100 kB; triage refuses anything over 2 MiB.\n\
             message_size_limit 4194304\n\
             set_tcp_nodelay true\n",
            p = self.persistence_dir.display(),
        ))
    }

    /// Writes the set-up into `dir`; returns the credentials folder.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, BrokerConfigError> {
        let users = self.users()?;
        let creds = dir.join("credentials");
        std::fs::create_dir_all(&creds).map_err(io(&creds))?;
        let mut passwords = Vec::new();
        for user in users {
            let file = creds.join(format!("{user}.pass"));
            let password = match std::fs::read_to_string(&file) {
                Ok(p) if !p.trim().is_empty() => p.trim().to_string(),
                _ => {
                    let p = format!(
                        "{}{}",
                        uuid::Uuid::new_v4().simple(),
                        uuid::Uuid::new_v4().simple()
                    );
                    write_private(&file, &p)?;
                    p
                }
            };
            passwords.push((user.to_string(), password));
        }
        let dynsec = dir.join("dynamic-security.json");
        let text = serde_json::to_string_pretty(&self.dynsec(&passwords))
            .map_err(|e| io(&dynsec)(std::io::Error::other(e)))?;
        std::fs::write(&dynsec, text).map_err(io(&dynsec))?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, self.conf(dir)?).map_err(io(&conf))?;
        // Mosquitto drops to its own user and rewrites the plugin's file: it must own it (the
        // passwords there are hashed).
        set_mode(&conf, 0o644)?;
        set_mode(&dynsec, 0o666)?;
        Ok(creds)
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), BrokerConfigError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
}

fn write_private(path: &Path, text: &str) -> Result<(), BrokerConfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BrokerConfig {
        BrokerConfig {
            listen: "0.0.0.0:1883".into(),
            triage_user: "triage".into(),
            agents: vec!["dock-1".into(), "cam-1".into()],
            docks: vec!["7CTDM12345".into()],
            persistence_dir: "/var/lib/mosquitto".into(),
        }
    }

    #[test]
    fn each_user_may_touch_its_own_topics_and_only_triage_the_hits() {
        let c = cfg();
        let agent = c.rights("dock-1");
        assert_eq!(
            agent.send,
            [
                "argus/v1/agents/dock-1/hits",
                "argus/v1/agents/dock-1/status"
            ]
        );
        assert!(!agent.subscribe.iter().any(|t| t.contains("hits")));
        let triage = c.rights("triage");
        assert!(
            triage
                .subscribe
                .contains(&"$share/triage/argus/v1/agents/+/hits".to_string())
        );
        let dock = c.rights("7CTDM12345");
        assert!(
            dock.send
                .contains(&"thing/product/7CTDM12345/osd".to_string())
        );
        let d = c.dynsec(&[("dock-1".into(), "pw".into())]);
        // The embedded broker reads back exactly these rights.
        let acl = crate::acl::Acl::from_dynsec(&d.to_string()).unwrap();
        assert_eq!(acl.rights("dock-1"), Some(&agent));
        assert!(acl.rights("triage").is_none(), "not in the file");
        assert_eq!(d["defaultACLAccess"]["subscribe"], false);
        assert_eq!(d["clients"][0]["iterations"], ITERATIONS);
        let conf = c.conf(Path::new("/etc/argus/broker")).unwrap();
        assert!(conf.contains("listener 1883 0.0.0.0\nallow_anonymous false\n"));
        assert!(conf.contains("max_queued_messages 100000"));
    }

    #[test]
    fn bad_and_repeated_names_are_refused() {
        let mut c = cfg();
        c.agents.push("dock 2".into());
        assert!(matches!(c.users(), Err(BrokerConfigError::BadId(_))));
        let mut c = cfg();
        c.agents.push("triage".into());
        assert!(matches!(c.users(), Err(BrokerConfigError::Twice(_))));
        let mut c = cfg();
        c.listen = "1883".into();
        assert!(c.conf(Path::new("/x")).is_err());
    }
}
