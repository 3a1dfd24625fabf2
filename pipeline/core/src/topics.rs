//! Every MQTT topic Argus speaks, each with one way to write it and one way to read it back:
//! the agents' topics under `argus/v1/agents/{agent_id}/…` and the DJI Cloud API topics of the
//! docks (`thing/product/{sn}/…`, `sys/product/{sn}/status`, `formats.md` §1). Nothing else in
//! the workspace spells a topic.
//!
//! ```
//! use argus_core::topics::{AgentTopic, DockTopic, shared};
//! let t = AgentTopic::Hits.topic("dock-1");
//! assert_eq!(t, "argus/v1/agents/dock-1/hits");
//! assert_eq!(AgentTopic::parse(&t), Some(("dock-1", AgentTopic::Hits)));
//! assert_eq!(shared("triage", &AgentTopic::Hits.filter()), "$share/triage/argus/v1/agents/+/hits");
//! assert_eq!(DockTopic::parse("thing/product/1581F5BKD225D00B/osd"), Some(("1581F5BKD225D00B", DockTopic::Osd)));
//! ```

use crate::hit::is_agent_id;

/// Where the agents' topics live.
const AGENTS: &str = "argus/v1/agents";

/// The shared-subscription group of the triage instances.
pub const TRIAGE_GROUP: &str = "triage";

/// An agent's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentTopic {
    /// Its hits (`argus.hit/1`, QoS 1), read by triage.
    Hits,
    /// Triage's receipts for its hits (`argus.receipt/1`, QoS 1).
    Receipts,
    /// Its retained status (`online` / `offline`, the latter as its will).
    Status,
}

impl AgentTopic {
    /// Every agent topic.
    pub const ALL: [AgentTopic; 3] = [AgentTopic::Hits, AgentTopic::Receipts, AgentTopic::Status];

    /// The last level of the topic.
    pub fn name(self) -> &'static str {
        match self {
            AgentTopic::Hits => "hits",
            AgentTopic::Receipts => "receipts",
            AgentTopic::Status => "status",
        }
    }

    /// This topic of one agent.
    pub fn topic(self, agent_id: &str) -> String {
        format!("{AGENTS}/{agent_id}/{}", self.name())
    }

    /// This topic of every agent (`…/+/hits`).
    pub fn filter(self) -> String {
        self.topic("+")
    }

    /// The agent and the kind of an agent topic, when it is one with a valid agent id.
    pub fn parse(topic: &str) -> Option<(&str, AgentTopic)> {
        let rest = topic.strip_prefix(AGENTS)?.strip_prefix('/')?;
        let (agent, name) = rest.split_once('/')?;
        let kind = Self::ALL.into_iter().find(|k| k.name() == name)?;
        is_agent_id(agent).then_some((agent, kind))
    }
}

/// A dock gateway's or an aircraft's DJI Cloud API topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DockTopic {
    /// `thing/product/{sn}/osd`: telemetry (the aircraft's pose, the dock's state), ~0.5–2 Hz.
    Osd,
    /// `thing/product/{sn}/state`: property changes.
    State,
    /// `thing/product/{sn}/events`: events (flight progress, …).
    Events,
    /// `thing/product/{sn}/events_reply`.
    EventsReply,
    /// `thing/product/{sn}/services`: commands to the device.
    Services,
    /// `thing/product/{sn}/services_reply`.
    ServicesReply,
    /// `thing/product/{sn}/requests`: the device asks (e.g. for a wayline's URL).
    Requests,
    /// `thing/product/{sn}/requests_reply`.
    RequestsReply,
    /// `sys/product/{sn}/status`: the gateway's online status and topology.
    Status,
    /// `sys/product/{sn}/status_reply`.
    StatusReply,
}

impl DockTopic {
    /// Every dock topic.
    pub const ALL: [DockTopic; 10] = [
        DockTopic::Osd,
        DockTopic::State,
        DockTopic::Events,
        DockTopic::EventsReply,
        DockTopic::Services,
        DockTopic::ServicesReply,
        DockTopic::Requests,
        DockTopic::RequestsReply,
        DockTopic::Status,
        DockTopic::StatusReply,
    ];

    fn parts(self) -> (&'static str, &'static str) {
        match self {
            DockTopic::Osd => ("thing", "osd"),
            DockTopic::State => ("thing", "state"),
            DockTopic::Events => ("thing", "events"),
            DockTopic::EventsReply => ("thing", "events_reply"),
            DockTopic::Services => ("thing", "services"),
            DockTopic::ServicesReply => ("thing", "services_reply"),
            DockTopic::Requests => ("thing", "requests"),
            DockTopic::RequestsReply => ("thing", "requests_reply"),
            DockTopic::Status => ("sys", "status"),
            DockTopic::StatusReply => ("sys", "status_reply"),
        }
    }

    /// What every dock topic starts with (a dead letter's topic tells a dock's from an
    /// agent's).
    pub const PREFIXES: [&'static str; 2] = ["thing/product/", "sys/product/"];

    /// This topic of one device.
    pub fn topic(self, sn: &str) -> String {
        let (root, name) = self.parts();
        format!("{root}/product/{sn}/{name}")
    }

    /// This topic of every device (`thing/product/+/osd`).
    pub fn filter(self) -> String {
        self.topic("+")
    }

    /// The serial number and the kind of a dock topic, when it is one (a serial number is
    /// letters and digits).
    pub fn parse(topic: &str) -> Option<(&str, DockTopic)> {
        let mut levels = topic.split('/');
        let (root, product, sn, name) = (
            levels.next()?,
            levels.next()?,
            levels.next()?,
            levels.next()?,
        );
        if levels.next().is_some()
            || product != "product"
            || sn.is_empty()
            || !sn.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let kind = Self::ALL.into_iter().find(|k| k.parts() == (root, name))?;
        Some((sn, kind))
    }
}

/// A shared subscription of `group` to `filter` (`$share/{group}/{filter}`).
pub fn shared(group: &str, filter: &str) -> String {
    format!("$share/{group}/{filter}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_reads_back_as_written() {
        for k in AgentTopic::ALL {
            assert_eq!(AgentTopic::parse(&k.topic("cam_7-b")), Some(("cam_7-b", k)));
        }
        for k in DockTopic::ALL {
            assert_eq!(
                DockTopic::parse(&k.topic("7CTDM12345")),
                Some(("7CTDM12345", k))
            );
            let t = k.topic("7CTDM12345");
            assert!(DockTopic::PREFIXES.iter().any(|p| t.starts_with(p)), "{t}");
        }
        let hits = AgentTopic::Hits.topic("dock-1");
        assert!(!DockTopic::PREFIXES.iter().any(|p| hits.starts_with(p)));
    }

    #[test]
    fn what_is_not_a_topic_of_ours_is_none() {
        for t in [
            "argus/v1/agents/dock 1/hits",
            "argus/v1/agents//hits",
            "argus/v1/agents/<img>/hits",
            "argus/v1/agents/a/b/hits",
            "argus/v1/agents/a/hit",
            "argus/v1/agents/a/hits/",
            "argus/v2/agents/a/hits",
            "argus/v1/agentsx/a/hits",
        ] {
            assert_eq!(AgentTopic::parse(t), None, "{t}");
        }
        assert_eq!(
            AgentTopic::parse(&format!("argus/v1/agents/{}/hits", "a".repeat(65))),
            None
        );
        for t in [
            "thing/product/x-1/osd",
            "thing/product//osd",
            "thing/product/x/osd/more",
            "sys/product/x/osd",
            "thing/product/x/status",
            "thing/products/x/osd",
        ] {
            assert_eq!(DockTopic::parse(t), None, "{t}");
        }
    }
}
