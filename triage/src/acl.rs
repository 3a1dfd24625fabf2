//! Topic rights: which topics each broker user may send to, receive from and subscribe to.
//! One description, two enforcers: `triage broker-config` writes it as Mosquitto's
//! dynamic-security JSON ([`crate::broker_config`]), and the embedded broker reads that same
//! file back ([`Acl::from_dynsec`]) and asks it about every PUBLISH, SUBSCRIBE and will.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

/// What one user may do. Sending and receiving match the topic against each filter (`+`, `#`);
/// subscriptions are literal (a client may subscribe to exactly these filters, no wider).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rights {
    /// Topic filters it may publish to.
    pub send: Vec<String>,
    /// Topic filters it may receive from.
    pub receive: Vec<String>,
    /// Filters it may subscribe with, exactly as written.
    pub subscribe: Vec<String>,
}

impl Rights {
    /// Whether it may publish to `topic` (a topic name: wildcards are never allowed there).
    pub fn may_send(&self, topic: &str) -> bool {
        !topic.is_empty()
            && !topic.contains(['+', '#', '\0'])
            && self.send.iter().any(|f| filter_matches(f, topic))
    }

    /// Whether it may subscribe with `filter`.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        self.subscribe.iter().any(|f| f == filter)
    }
}

/// Whether an MQTT topic filter matches a topic name (MQTT 3.1.1 §4.7: `+` one level, `#` the
/// rest, and neither matches a topic that starts with `$`).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && !filter.starts_with('$') {
        return false;
    }
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        if f == "#" {
            return true;
        }
        match levels.next() {
            Some(t) if f == "+" || f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// Why an ACL cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// The file.
    #[error("{path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// What the embedded broker cannot enforce as Mosquitto would; refusing it is safer than
    /// enforcing less.
    #[error(
        "{0} (the embedded broker enforces what `triage broker-config` writes: default deny, allow rules of publishClientSend, publishClientReceive, subscribeLiteral and unsubscribeLiteral)"
    )]
    Unsupported(String),
}

/// Every user's rights. A user who is not named may do nothing.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    users: HashMap<String, Rights>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dynsec {
    #[serde(default, rename = "defaultACLAccess")]
    default_acl_access: HashMap<String, bool>,
    #[serde(default)]
    clients: Vec<DynsecClient>,
    #[serde(default)]
    groups: Vec<serde_json::Value>,
    #[serde(default)]
    roles: Vec<DynsecRole>,
}

#[derive(Deserialize)]
struct DynsecClient {
    username: String,
    #[serde(default)]
    roles: Vec<DynsecRoleRef>,
    #[serde(default)]
    groups: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct DynsecRoleRef {
    rolename: String,
}

#[derive(Deserialize)]
struct DynsecRole {
    rolename: String,
    #[serde(default)]
    acls: Vec<DynsecRule>,
}

#[derive(Deserialize)]
struct DynsecRule {
    acltype: String,
    topic: String,
    allow: bool,
}

impl Acl {
    /// Reads a dynamic-security file.
    pub fn load(path: &Path) -> Result<Self, AclError> {
        let bad = |why: String| AclError::Read {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::from_dynsec(&text).map_err(|e| match e {
            AclError::Read { why, .. } => bad(why),
            other => bad(other.to_string()),
        })
    }

    /// Parses Mosquitto's dynamic-security JSON, in the form `triage broker-config` writes.
    /// Anything that form does not use (allowing defaults, deny rules, groups, pattern
    /// subscriptions) is refused rather than enforced loosely.
    pub fn from_dynsec(text: &str) -> Result<Self, AclError> {
        let d: Dynsec = serde_json::from_str(text).map_err(|e| AclError::Read {
            path: String::new(),
            why: e.to_string(),
        })?;
        if let Some((kind, _)) = d.default_acl_access.iter().find(|(_, allow)| **allow) {
            return Err(AclError::Unsupported(format!(
                "defaultACLAccess allows {kind}"
            )));
        }
        if !d.groups.is_empty() || d.clients.iter().any(|c| !c.groups.is_empty()) {
            return Err(AclError::Unsupported("groups".into()));
        }
        let mut roles: HashMap<&str, Rights> = HashMap::new();
        for role in &d.roles {
            let r = roles.entry(role.rolename.as_str()).or_default();
            for rule in &role.acls {
                if !rule.allow {
                    return Err(AclError::Unsupported(format!(
                        "role {}: a deny rule for {}",
                        role.rolename, rule.topic
                    )));
                }
                let topic = rule.topic.clone();
                match rule.acltype.as_str() {
                    "publishClientSend" => r.send.push(topic),
                    "publishClientReceive" => r.receive.push(topic),
                    "subscribeLiteral" => r.subscribe.push(topic),
                    "unsubscribeLiteral" => {}
                    other => {
                        return Err(AclError::Unsupported(format!(
                            "role {}: acltype {other}",
                            role.rolename
                        )));
                    }
                }
            }
        }
        let mut users = HashMap::new();
        for client in &d.clients {
            let mut rights = Rights::default();
            for role in &client.roles {
                let Some(r) = roles.get(role.rolename.as_str()) else {
                    return Err(AclError::Unsupported(format!(
                        "client {}: no role {}",
                        client.username, role.rolename
                    )));
                };
                rights.send.extend(r.send.iter().cloned());
                rights.receive.extend(r.receive.iter().cloned());
                rights.subscribe.extend(r.subscribe.iter().cloned());
            }
            users.insert(client.username.clone(), rights);
        }
        Ok(Self { users })
    }

    /// One user's rights.
    pub fn rights(&self, user: &str) -> Option<&Rights> {
        self.users.get(user)
    }

    /// Whether `user` may publish to `topic`.
    pub fn may_send(&self, user: &str, topic: &str) -> bool {
        self.rights(user).is_some_and(|r| r.may_send(topic))
    }

    /// Whether `user` may subscribe with `filter`. (Receiving is not checked again on each
    /// delivery: what `broker-config` writes lets every user receive what it may subscribe to.)
    pub fn may_subscribe(&self, user: &str, filter: &str) -> bool {
        self.rights(user).is_some_and(|r| r.may_subscribe(filter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(filter_matches("a/+/c", "a/b/c"));
        assert!(!filter_matches("a/+/c", "a/b/c/d"));
        assert!(!filter_matches("a/+/c", "a/c"));
        assert!(filter_matches("a/#", "a"));
        assert!(filter_matches("a/#", "a/b/c"));
        assert!(filter_matches("#", "a/b"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(!filter_matches("+/x", "$SYS/x"));
        assert!(filter_matches("a/b", "a/b"));
        assert!(!filter_matches("a/b", "a/bb"));
        assert!(!filter_matches("a/b", "a/b/"));
    }

    #[test]
    fn sending_is_by_topic_and_never_to_a_wildcard() {
        let r = Rights {
            send: vec!["argus/v1/agents/dock-1/hits".into(), "x/+/y".into()],
            receive: vec![],
            subscribe: vec!["argus/v1/agents/dock-1/receipts".into()],
        };
        assert!(r.may_send("argus/v1/agents/dock-1/hits"));
        assert!(r.may_send("x/q/y"));
        assert!(!r.may_send("x/+/y"), "a wildcard in a topic name");
        assert!(!r.may_send("argus/v1/agents/dock-2/hits"));
        assert!(!r.may_send(""));
        assert!(r.may_subscribe("argus/v1/agents/dock-1/receipts"));
        assert!(
            !r.may_subscribe("argus/v1/agents/+/receipts"),
            "literal only"
        );
        assert!(!r.may_subscribe("#"));
    }

    #[test]
    fn what_the_embedded_broker_cannot_enforce_is_refused() {
        let base = |default: &str, acls: &str| {
            format!(
                r#"{{"defaultACLAccess": {default}, "clients": [{{"username": "u", "roles": [{{"rolename": "r"}}]}}],
                "groups": [], "roles": [{{"rolename": "r", "acls": {acls}}}]}}"#
            )
        };
        let ok = base(
            r#"{"subscribe": false}"#,
            r#"[{"acltype": "publishClientSend", "topic": "a/#", "priority": 0, "allow": true}]"#,
        );
        let acl = Acl::from_dynsec(&ok).unwrap();
        assert!(acl.may_send("u", "a/b"));
        assert!(!acl.may_send("v", "a/b"), "an unknown user may do nothing");
        for (default, acls) in [
            (r#"{"subscribe": true}"#, "[]"),
            (
                "{}",
                r#"[{"acltype": "publishClientSend", "topic": "a", "allow": false}]"#,
            ),
            (
                "{}",
                r#"[{"acltype": "subscribePattern", "topic": "a/%u", "allow": true}]"#,
            ),
        ] {
            let e = Acl::from_dynsec(&base(default, acls)).unwrap_err();
            assert!(matches!(e, AclError::Unsupported(_)), "{e}");
        }
        assert!(Acl::from_dynsec("{").is_err());
    }
}
