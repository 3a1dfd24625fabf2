//! One hit message in, exactly one effect out: checked against its topic and schema, dropped
//! when its `hit_id` was taken before, else placed on a ticket and written with its evidence
//! and audit events in the same transaction. What cannot be taken becomes a dead letter.

use std::collections::{HashMap, HashSet};

use argus_core::clock;
use argus_core::geodesy::GeoPoint;
use argus_core::hit::{HIT_SCHEMA, Hit};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::engine::{Placement, Routing, Rules, State, TicketIndex};
use crate::store::{AuditEvent, Effect, Sighting, Store, StoreError, Ticket};

/// Largest payload taken, bytes (a hit with a generous evidence JPEG is ~100 kB).
pub const MAX_PAYLOAD: usize = 2 << 20;

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It opened this ticket.
    Opened(String),
    /// It joined this ticket.
    Joined(String),
    /// Its `hit_id` was taken before: nothing changed.
    Repeat,
    /// Refused, kept as a dead letter, for this reason.
    Dead(String),
}

/// The agent id in a hits topic `argus/v1/agents/{id}/hits`.
pub fn topic_agent(topic: &str) -> Option<&str> {
    let id = topic
        .strip_prefix("argus/v1/agents/")?
        .strip_suffix("/hits")?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// A message that passed [`check`].
#[derive(Debug)]
pub struct Checked {
    /// The hit.
    pub hit: Hit,
    /// Its evidence JPEG.
    pub jpeg: Vec<u8>,
    /// The message as received (unknown fields too), less the JPEG: what the store keeps.
    pub stored: String,
}

/// Checks a message and reads its hit and evidence JPEG, parsing it once; the error says what
/// is wrong.
pub fn check(topic: &str, payload: &[u8]) -> Result<Checked, String> {
    if payload.len() > MAX_PAYLOAD {
        return Err(format!(
            "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
            payload.len()
        ));
    }
    let agent = topic_agent(topic)
        .ok_or_else(|| format!("topic {topic:?} is not argus/v1/agents/{{agent_id}}/hits"))?;
    let hit: Hit = match serde_json::from_slice::<Hit>(payload) {
        Ok(h) if h.schema == HIT_SCHEMA => h,
        Ok(h) => {
            return Err(format!(
                "unknown schema {:?} (this triage reads {HIT_SCHEMA})",
                h.schema
            ));
        }
        Err(e) => return Err(why_not_a_hit(payload, e)),
    };
    // The JPEG leaves the stored copy (it is kept once, by hash).
    let stored = without_jpeg(payload, &hit.evidence.jpeg_base64)?;
    if hit.agent_id != agent {
        return Err(format!(
            "agent_id {:?} disagrees with the topic's {agent:?}",
            hit.agent_id
        ));
    }
    if hit.hit_id.is_empty() || hit.hit_id.len() > 64 {
        return Err(format!("hit_id {:?} is not 1–64 characters", hit.hit_id));
    }
    let p = &hit.position;
    if !(-90.0..=90.0).contains(&p.lat)
        || !(-180.0..=180.0).contains(&p.lon)
        || !(0.0..f64::INFINITY).contains(&p.uncertainty_m)
    {
        return Err(format!(
            "position {}, {} ± {} m is not a place",
            p.lat, p.lon, p.uncertainty_m
        ));
    }
    if !(0.0..=1.0).contains(&hit.score) {
        return Err(format!("score {} is not in [0, 1]", hit.score));
    }
    if clock::parse_rfc3339(&hit.observed_at).is_none() {
        return Err(format!(
            "observed_at {:?} is not an RFC 3339 time",
            hit.observed_at
        ));
    }
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(&hit.evidence.jpeg_base64)
        .map_err(|e| format!("evidence is not base64: {e}"))?;
    let sha = format!("{:x}", Sha256::digest(&jpeg));
    if sha != hit.evidence.sha256 {
        return Err(format!(
            "evidence SHA-256 is {sha}, the hit says {}",
            hit.evidence.sha256
        ));
    }
    Ok(Checked { hit, jpeg, stored })
}

/// The clearest reason a payload that is not an `argus.hit/1` gives.
fn why_not_a_hit(payload: &[u8], e: serde_json::Error) -> String {
    let v: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(e) => return format!("not JSON: {e}"),
    };
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(HIT_SCHEMA) => format!("not an {HIT_SCHEMA}: {e}"),
        Some(other) => format!("unknown schema {other:?} (this triage reads {HIT_SCHEMA})"),
        None => "no `schema` field".into(),
    }
}

/// The payload as text with the evidence JPEG's base64 emptied (`"jpeg_base64":""`), every
/// other byte as received. Base64 needs no JSON escapes, so the value appears verbatim after
/// its key; a payload written some other way is re-serialised without it.
fn without_jpeg(payload: &[u8], jpeg_base64: &str) -> Result<String, String> {
    const KEY: &[u8] = b"\"jpeg_base64\"";
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8: {e}"))?;
    let value = jpeg_base64.as_bytes();
    let mut from = 0;
    while let Some(at) = payload[from..].windows(KEY.len()).position(|w| w == KEY) {
        let mut i = from + at + KEY.len();
        let skip_ws = |i: &mut usize| {
            while payload.get(*i).is_some_and(|b| b.is_ascii_whitespace()) {
                *i += 1;
            }
        };
        skip_ws(&mut i);
        if payload.get(i) == Some(&b':') {
            i += 1;
            skip_ws(&mut i);
            let start = i + 1;
            let end = start + value.len();
            if payload.get(i) == Some(&b'"')
                && payload.get(start..end) == Some(value)
                && payload.get(end) == Some(&b'"')
            {
                return Ok(format!("{}{}", &text[..start], &text[end..]));
            }
        }
        from += at + 1;
    }
    let mut v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(e) = v.get_mut("evidence").and_then(|e| e.as_object_mut()) {
        e.insert(
            "jpeg_base64".into(),
            serde_json::Value::String(String::new()),
        );
    }
    Ok(v.to_string())
}

/// Why a person's change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such ticket.
    #[error("no ticket {0}")]
    NotFound(String),
    /// Not a step of the lifecycle.
    #[error("a {from} ticket cannot become {to}", from = .from.as_str(), to = .to.as_str())]
    NotAllowed {
        /// Its state.
        from: State,
        /// The state asked for.
        to: State,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counters for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Tickets opened.
    pub opened: u64,
    /// Hits that joined a ticket.
    pub joined: u64,
    /// Repeated hits dropped.
    pub repeats: u64,
    /// Dead letters.
    pub dead: u64,
}

/// The ingest: the store, the ticket index over it, the rules and the routing.
#[derive(Debug)]
pub struct Ingest {
    store: Box<dyn Store>,
    index: TicketIndex,
    rules: Rules,
    routing: Routing,
    /// What it has done.
    pub counters: Counters,
    feed: Option<tokio::sync::broadcast::Sender<String>>,
}

/// The inverse-variance mean of two positions with 90 % radii, and its radius.
fn fuse(a: (f64, f64, f64), b: (f64, f64, f64)) -> (f64, f64, f64) {
    let w = |r: f64| 1.0 / r.max(0.1).powi(2);
    let (wa, wb) = (w(a.2), w(b.2));
    (
        (a.0 * wa + b.0 * wb) / (wa + wb),
        (a.1 * wa + b.1 * wb) / (wa + wb),
        1.0 / (wa + wb).sqrt(),
    )
}

fn event(ticket_id: &str, at: f64, event: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        seq: 0,
        ticket_id: ticket_id.into(),
        at,
        actor: "triage".into(),
        event: event.into(),
        detail,
    }
}

impl Ingest {
    /// Starts over a store: the index is rebuilt from its open and recently closed tickets.
    pub fn new(store: Box<dyn Store>, rules: Rules, routing: Routing) -> Result<Self, StoreError> {
        let mut s = Self {
            store,
            index: TicketIndex::default(),
            rules,
            routing,
            counters: Counters::default(),
            feed: None,
        };
        s.reindex()?;
        Ok(s)
    }

    fn reindex(&mut self) -> Result<(), StoreError> {
        self.index = TicketIndex::default();
        let since = clock::now_unix_s() - self.rules.recurrence_window_s;
        for p in self.store.placed(since)? {
            self.index.put(p);
        }
        Ok(())
    }

    /// Sends every committed change to `feed` as a JSON line (the live feed); a full feed
    /// drops its oldest lines for slow readers, never blocks the ingest.
    pub fn set_feed(&mut self, feed: tokio::sync::broadcast::Sender<String>) {
        self.feed = Some(feed);
    }

    fn publish(&self, events: &[AuditEvent]) {
        // Nobody listening: nothing to format.
        if let Some(f) = self.feed.as_ref().filter(|f| f.receiver_count() > 0) {
            for e in events {
                let line = json!({"ticket_id": e.ticket_id, "event": e.event, "at": clock::rfc3339(e.at),
                                  "actor": e.actor, "detail": e.detail});
                // No reader is not an error.
                let _ = f.send(line.to_string());
            }
        }
    }

    /// The store.
    pub fn store(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// Takes a batch of messages `(topic, payload)` received at `now` (Unix seconds) in one
    /// transaction. On `Err` nothing was written and the messages must not be acknowledged
    /// (they come again); on `Ok` every one had its effect and may be.
    pub fn take(
        &mut self,
        messages: &[(&str, &[u8])],
        now: f64,
    ) -> Result<Vec<Outcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut effects: Vec<Effect> = Vec::new();
        let mut dead: Vec<(&str, String, &[u8])> = Vec::new();
        // Tickets as this batch leaves them, and the hits it takes.
        let mut touched: HashMap<String, Ticket> = HashMap::new();
        let mut batch_hits: HashMap<String, String> = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        let checked: Vec<_> = messages
            .iter()
            .map(|&(topic, payload)| (topic, payload, check(topic, payload)))
            .collect();
        // Hits taken before: asked of the store once for the batch.
        let ids: Vec<&str> = checked
            .iter()
            .filter_map(|(_, _, c)| c.as_ref().ok().map(|c| c.hit.hit_id.as_str()))
            .collect();
        let known = self.store.known_hits(&ids)?;
        for (topic, payload, checked) in checked {
            let Checked { hit, jpeg, stored } = match checked {
                Ok(c) => c,
                Err(reason) => {
                    outcomes.push(Outcome::Dead(reason.clone()));
                    dead.push((topic, reason, payload));
                    continue;
                }
            };
            if known.contains(&hit.hit_id) || !seen.insert(hit.hit_id.clone()) {
                outcomes.push(Outcome::Repeat);
                continue;
            }
            let effect = self.place(hit, jpeg, stored, now, &mut touched, &batch_hits)?;
            batch_hits.insert(
                effect.sighting.hit_id.clone(),
                effect.ticket.ticket_id.clone(),
            );
            outcomes.push(if effect.events.iter().any(|e| e.event == "opened") {
                Outcome::Opened(effect.ticket.ticket_id.clone())
            } else {
                Outcome::Joined(effect.ticket.ticket_id.clone())
            });
            effects.push(effect);
        }
        if let Err(e) = self.store.apply(&effects) {
            // The index already holds this batch's tickets: start it again from what is stored.
            self.reindex()?;
            return Err(e);
        }
        for e in &effects {
            self.publish(&e.events);
        }
        for (topic, reason, payload) in dead {
            tracing::warn!(%topic, %reason, bytes = payload.len(), "hit refused; kept as a dead letter");
            self.store.dead_letter(now, topic, &reason, payload)?;
        }
        for o in &outcomes {
            match o {
                Outcome::Opened(_) => self.counters.opened += 1,
                Outcome::Joined(_) => self.counters.joined += 1,
                Outcome::Repeat => self.counters.repeats += 1,
                Outcome::Dead(_) => self.counters.dead += 1,
            }
        }
        Ok(outcomes)
    }

    /// Decides one new hit's effect and updates the index.
    fn place(
        &mut self,
        hit: Hit,
        jpeg: Vec<u8>,
        stored: String,
        now: f64,
        touched: &mut HashMap<String, Ticket>,
        batch_hits: &HashMap<String, String>,
    ) -> Result<Effect, StoreError> {
        let category = self.rules.category(&hit.class);
        let at = GeoPoint {
            lat: hit.position.lat,
            lon: hit.position.lon,
        };
        let observed = clock::parse_rfc3339(&hit.observed_at).unwrap_or(now);
        // A track's later estimate goes to its first hit's ticket, and is not a new sighting.
        let original = match &hit.update_of {
            Some(first) => match batch_hits.get(first) {
                Some(t) => Some(t.clone()),
                None => self.store.hit_ticket(first)?,
            },
            None => None,
        };
        let placement = match &original {
            Some(t) => Placement::Join(t.clone()),
            None => self.index.place(
                &category,
                at,
                self.rules.radius(&hit.class),
                now,
                self.rules.recurrence_window_s,
            ),
        };
        let mut events = Vec::new();
        let ticket = match placement {
            Placement::Join(id) => {
                let mut t = match touched.remove(&id) {
                    Some(t) => t,
                    None => self.store.ticket(&id)?.ok_or_else(|| StoreError::Corrupt {
                        table: "tickets",
                        what: format!("indexed ticket {id} is not stored"),
                    })?,
                };
                let (lat, lon, u) = fuse(
                    (t.lat, t.lon, t.uncertainty_m),
                    (at.lat, at.lon, hit.position.uncertainty_m),
                );
                (t.lat, t.lon, t.uncertainty_m) = (lat, lon, u);
                if original.is_none() {
                    t.sightings += 1;
                }
                t.best_score = t.best_score.max(hit.score);
                t.min_score = t.min_score.min(hit.score);
                t.first_observed_at = t.first_observed_at.min(observed);
                events.push(event(
                    &t.ticket_id,
                    now,
                    if original.is_some() {
                        "sighting_update"
                    } else {
                        "sighting"
                    },
                    json!({"hit_id": hit.hit_id, "agent_id": hit.agent_id, "score": hit.score}),
                ));
                if t.state == State::New
                    && self
                        .rules
                        .dispatches(t.best_score, t.sightings, t.min_score)
                {
                    self.dispatch(&mut t, now, &mut events);
                }
                t
            }
            Placement::Open { recurs } => {
                let ticket_id = uuid::Uuid::now_v7().to_string();
                let (unit, grid_cell) = self.routing.route(at);
                let mut t = Ticket {
                    ticket_id: ticket_id.clone(),
                    category: category.clone(),
                    class: hit.class.clone(),
                    state: State::New,
                    lat: at.lat,
                    lon: at.lon,
                    uncertainty_m: hit.position.uncertainty_m,
                    unit,
                    grid_cell,
                    sightings: 1,
                    best_score: hit.score,
                    min_score: hit.score,
                    review: true,
                    opened_at: now,
                    state_since: now,
                    due_at: self.rules.sla.due(State::New, now),
                    first_observed_at: observed,
                    recurs: recurs.clone(),
                    breached: false,
                };
                events.push(event(
                    &ticket_id,
                    now,
                    "opened",
                    json!({"hit_id": hit.hit_id, "category": category, "unit": t.unit,
                           "grid_cell": t.grid_cell, "recurs": recurs}),
                ));
                if let Some(old) = &recurs {
                    events.push(event(old, now, "recurred", json!({"ticket_id": ticket_id})));
                }
                if self
                    .rules
                    .dispatches(t.best_score, t.sightings, t.min_score)
                {
                    self.dispatch(&mut t, now, &mut events);
                }
                t
            }
        };
        self.index.put(ticket.placed());
        touched.insert(ticket.ticket_id.clone(), ticket.clone());
        Ok(Effect {
            sighting: Sighting {
                hit_id: hit.hit_id.clone(),
                ticket_id: ticket.ticket_id.clone(),
                agent_id: hit.agent_id.clone(),
                class: hit.class.clone(),
                score: hit.score,
                observed_at: observed,
                received_at: now,
                lat: at.lat,
                lon: at.lon,
                uncertainty_m: hit.position.uncertainty_m,
                evidence_sha256: hit.evidence.sha256.clone(),
                update_of: hit.update_of.clone(),
                payload: stored,
            },
            ticket,
            events,
            evidence: Some(jpeg),
        })
    }

    /// Moves a ticket one step along its lifecycle on a person's say (`actor`), with an
    /// optional note; the SLA clock restarts for the new stage.
    pub fn transition(
        &mut self,
        ticket_id: &str,
        to: State,
        actor: &str,
        note: Option<&str>,
        now: f64,
    ) -> Result<Ticket, ChangeError> {
        let mut t = self
            .store
            .ticket(ticket_id)?
            .ok_or_else(|| ChangeError::NotFound(ticket_id.into()))?;
        if !t.state.can_become(to) {
            return Err(ChangeError::NotAllowed { from: t.state, to });
        }
        let from = t.state;
        t.state = to;
        t.state_since = now;
        t.due_at = self.rules.sla.due(to, now);
        t.review = false;
        t.breached = false;
        let mut ev = event(
            ticket_id,
            now,
            "transition",
            json!({"from": from.as_str(), "to": to.as_str(), "note": note}),
        );
        ev.actor = actor.into();
        self.store.put_ticket(&t, std::slice::from_ref(&ev))?;
        self.publish(&[ev]);
        match to {
            State::Rejected | State::Duplicate => self.index.remove(ticket_id),
            _ => self.index.put(t.placed()),
        }
        Ok(t)
    }

    /// Files a report that did not come from a hit (Open311 `POST requests`): a new ticket in
    /// the review queue.
    pub fn file(
        &mut self,
        class: &str,
        at: GeoPoint,
        description: &str,
        actor: &str,
        now: f64,
    ) -> Result<Ticket, StoreError> {
        let (unit, grid_cell) = self.routing.route(at);
        let t = Ticket {
            ticket_id: uuid::Uuid::now_v7().to_string(),
            category: self.rules.category(class),
            class: class.into(),
            state: State::New,
            lat: at.lat,
            lon: at.lon,
            uncertainty_m: 0.0,
            unit,
            grid_cell,
            sightings: 0,
            best_score: 0.0,
            min_score: 0.0,
            review: true,
            opened_at: now,
            state_since: now,
            due_at: self.rules.sla.due(State::New, now),
            first_observed_at: now,
            recurs: None,
            breached: false,
        };
        let mut ev = event(
            &t.ticket_id,
            now,
            "opened",
            json!({"filed": true, "description": description, "unit": t.unit}),
        );
        ev.actor = actor.into();
        self.store.put_ticket(&t, std::slice::from_ref(&ev))?;
        self.publish(&[ev]);
        self.index.put(t.placed());
        Ok(t)
    }

    /// Reports every stage deadline passed by `now` once: an `sla_breach` audit event (the
    /// stage, how late). Returns the tickets it reported.
    pub fn sweep(&mut self, now: f64) -> Result<Vec<Ticket>, StoreError> {
        let mut late = self.store.overdue(now)?;
        for t in &mut late {
            t.breached = true;
            let due = t.due_at.unwrap_or(now);
            let ev = event(
                &t.ticket_id,
                now,
                "sla_breach",
                json!({"stage": t.state.as_str(), "due_at": clock::rfc3339(due), "late_s": now - due,
                       "unit": t.unit}),
            );
            self.store.put_ticket(t, std::slice::from_ref(&ev))?;
            self.publish(&[ev]);
            tracing::warn!(ticket = %t.ticket_id, stage = t.state.as_str(), unit = ?t.unit, late_s = now - due, "SLA breached");
        }
        Ok(late)
    }

    fn dispatch(&self, t: &mut Ticket, now: f64, events: &mut Vec<AuditEvent>) {
        t.state = State::Dispatched;
        t.breached = false;
        t.review = false;
        t.state_since = now;
        t.due_at = self.rules.sla.due(State::Dispatched, now);
        events.push(event(
            &t.ticket_id,
            now,
            "dispatched",
            json!({"by": "rule", "unit": t.unit, "best_score": t.best_score, "sightings": t.sightings}),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_copy_drops_only_the_jpeg_however_the_json_is_written() {
        let b64 = "/9j/AAAA";
        // Compact, spaced, and with fields this build does not know: all kept but the JPEG.
        for text in [
            format!(
                r#"{{"a":1,"evidence":{{"jpeg_base64":"{b64}","sha256":"x"}},"future":[1,2]}}"#
            ),
            format!("{{\"evidence\" : {{ \"jpeg_base64\" :\n \"{b64}\" }}, \"future\": true}}"),
        ] {
            let out = without_jpeg(text.as_bytes(), b64).unwrap();
            assert!(!out.contains(b64), "{out}");
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["evidence"]["jpeg_base64"], "");
            assert!(v.get("future").is_some(), "{out}");
        }
        // A value written with escapes is not found verbatim: re-serialised without it.
        let escaped = r#"{"evidence":{"jpeg_base64":"\/9j\/AAAA"}}"#;
        let out = without_jpeg(escaped.as_bytes(), b64).unwrap();
        assert_eq!(out, r#"{"evidence":{"jpeg_base64":""}}"#);
    }
}
