//! One hit message in, exactly one effect out: checked against its topic and schema, dropped
//! when its `hit_id` was taken before, else placed on a ticket and written with its evidence
//! and audit events in the same transaction. What cannot be taken becomes a dead letter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argus_core::clock;
use argus_core::geodesy::{GeoPoint, haversine_m};
use argus_core::hit::{Hit, HitId};
use serde_json::json;

use crate::ticket::{Audit, HitFacts, Ticket};

use crate::check::{Checked, check};
pub use crate::check::{HitRejection, Limits, MAX_PAYLOAD, topic_agent};
use crate::engine::{Placement, Routing, Rules, State, TicketIndex, areas_within, cells_within};
use crate::store::{AuditEvent, BatchView, Effect, NewDeadLetter, Sighting, Store, StoreError};

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
    Dead(HitRejection),
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

/// Counters for metrics, read without the ingest's lock.
#[derive(Debug, Default)]
pub struct Counters {
    /// Tickets opened.
    pub opened: AtomicU64,
    /// Hits that joined a ticket.
    pub joined: AtomicU64,
    /// Repeated hits dropped.
    pub repeats: AtomicU64,
    /// Dead letters.
    pub dead: AtomicU64,
}

impl Counters {
    fn add(&self, outcome: &Outcome) {
        let c = match outcome {
            Outcome::Opened(_) => &self.opened,
            Outcome::Joined(_) => &self.joined,
            Outcome::Repeat => &self.repeats,
            Outcome::Dead(_) => &self.dead,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// (opened, joined, repeats, dead) now.
    pub fn get(&self) -> (u64, u64, u64, u64) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (
            g(&self.opened),
            g(&self.joined),
            g(&self.repeats),
            g(&self.dead),
        )
    }
}

/// The ingest: the store, the rules, the limits of a hit and the routing.
#[derive(Debug)]
pub struct Ingest {
    store: Box<dyn Store>,
    rules: Rules,
    limits: Limits,
    routing: Routing,
    /// What it has done.
    pub counters: Arc<Counters>,
    feed: Option<tokio::sync::broadcast::Sender<String>>,
}

/// What an update needs to know of the hit it updates.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstHit {
    /// Its ticket.
    pub ticket_id: String,
    /// Its agent.
    pub agent_id: String,
    /// Where it was.
    pub at: GeoPoint,
    /// Its 90 % radius, metres.
    pub uncertainty_m: f64,
}

fn sighting(hit: &Hit, ticket_id: &str, now: f64, payload: String) -> Sighting {
    Sighting {
        hit_id: hit.hit_id.to_string(),
        ticket_id: ticket_id.into(),
        agent_id: hit.agent_id.clone(),
        class: hit.class.clone(),
        score: hit.score,
        observed_at: hit.observed_at.unix_s(),
        received_at: now,
        lat: hit.position.lat,
        lon: hit.position.lon,
        uncertainty_m: hit.position.uncertainty_m,
        evidence_sha256: hit.evidence.sha256.clone(),
        update_of: hit.update_of.as_ref().map(ToString::to_string),
        flight_id: hit.source.flight_id.clone(),
        payload,
    }
}

/// The `hit_id` of a payload that was refused, if it names one that a receipt can carry (a
/// UUIDv7): the agent then stops sending it.
fn loose_hit_id(payload: &[u8]) -> Option<HitId> {
    #[derive(serde::Deserialize)]
    struct Id {
        hit_id: HitId,
    }
    serde_json::from_slice::<Id>(payload).ok().map(|i| i.hit_id)
}

/// `s` with every control character replaced (a topic may hold anything; a store may not).
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn dead_letter(topic: &str, reason: &HitRejection, payload: &[u8], at: f64) -> NewDeadLetter {
    NewDeadLetter {
        at,
        topic: printable(topic),
        reason: printable(&reason.to_string()),
        payload: payload[..payload.len().min(crate::store::DEAD_LETTER_KEEP)].to_vec(),
        size: payload.len(),
    }
}

/// One batch's placement, inside its transaction: the tickets around its hits as the
/// database has them, and what the batch has done to them so far.
struct Batch<'a, 'v> {
    rules: &'a Rules,
    routing: &'a Routing,
    view: &'v mut dyn BatchView,
    now: f64,
    index: TicketIndex,
    /// Tickets as this batch leaves them.
    touched: HashMap<String, Ticket>,
    /// The hits this batch takes, for updates that name them.
    batch_hits: HashMap<String, FirstHit>,
}

impl Batch<'_, '_> {
    /// The first hit an update names, from this batch or the store.
    fn first_hit(&mut self, first: &str) -> Result<Option<FirstHit>, StoreError> {
        match self.batch_hits.get(first) {
            Some(f) => Ok(Some(f.clone())),
            None => self.view.first_hit(first),
        }
    }

    /// Decides one new hit's effect and updates the index; an update that cannot be its first
    /// hit's is refused.
    fn place(
        &mut self,
        checked: Checked,
    ) -> Result<Result<(Change, Effect), HitRejection>, StoreError> {
        let now = self.now;
        let Checked { hit, jpeg, stored } = checked;
        let category = self.rules.category(&hit.class);
        let at = GeoPoint {
            lat: hit.position.lat,
            lon: hit.position.lon,
        };
        let radius = self.rules.radius(&hit.class);
        // A track's later estimate goes to its first hit's ticket, and is not a new sighting;
        // only the agent that made the first hit may move it, and not farther than the same
        // violation can be.
        let original = match &hit.update_of {
            Some(first) => match self.first_hit(first.as_str())? {
                Some(f) if f.agent_id != hit.agent_id => {
                    return Ok(Err(HitRejection::UpdateAgent {
                        first: first.to_string(),
                        owner: f.agent_id,
                        agent: hit.agent_id,
                    }));
                }
                Some(f) => {
                    let distance_m = haversine_m(f.at, at);
                    let allowed_m = radius + f.uncertainty_m + hit.position.uncertainty_m;
                    if distance_m.is_nan() || distance_m > allowed_m {
                        return Ok(Err(HitRejection::UpdateFar {
                            first: first.to_string(),
                            distance_m,
                            allowed_m,
                        }));
                    }
                    Some(f.ticket_id)
                }
                None => None,
            },
            None => None,
        };
        let placement = match &original {
            Some(t) => Placement::Join(t.clone()),
            None => self
                .index
                .place(&category, at, radius, now, self.rules.recurrence_window_s),
        };
        let facts = HitFacts {
            hit_id: hit.hit_id.as_str(),
            agent_id: &hit.agent_id,
            class: &hit.class,
            score: hit.score,
            at,
            uncertainty_m: hit.position.uncertainty_m,
            observed_at: hit.observed_at.unix_s(),
        };
        let (ticket, change, audit) = match placement {
            Placement::Join(id) => {
                let mut t = match self.touched.remove(&id) {
                    Some(t) => t,
                    None => self.view.ticket(&id)?.ok_or_else(|| StoreError::Corrupt {
                        table: "tickets",
                        what: format!("indexed ticket {id} is not stored"),
                    })?,
                };
                let audit = t.join(&facts, original.is_some(), self.rules, now);
                let audit = audit.iter().map(|a| a.record(&id, now, ENGINE)).collect();
                (t, Change::Joined, audit)
            }
            Placement::Open { recurs } => {
                let ticket_id = uuid::Uuid::now_v7().to_string();
                let route = self.routing.route(at);
                let (t, audit) = Ticket::open(
                    ticket_id.clone(),
                    &facts,
                    route,
                    recurs.clone(),
                    self.rules,
                    now,
                );
                let mut audit: Vec<AuditEvent> = audit
                    .iter()
                    .map(|a| a.record(&ticket_id, now, ENGINE))
                    .collect();
                if let Some(old) = &recurs {
                    audit.push(Audit::Recurred { ticket_id }.record(old, now, ENGINE));
                }
                (t, Change::Opened, audit)
            }
        };
        self.index.put(ticket.placed());
        self.touched
            .insert(ticket.ticket_id.clone(), ticket.clone());
        self.batch_hits.insert(
            hit.hit_id.to_string(),
            FirstHit {
                ticket_id: ticket.ticket_id.clone(),
                agent_id: hit.agent_id.clone(),
                at,
                uncertainty_m: hit.position.uncertainty_m,
            },
        );
        Ok(Ok((
            change,
            Effect {
                sighting: sighting(&hit, &ticket.ticket_id, now, stored),
                ticket,
                events: audit,
                evidence: Some(jpeg),
            },
        )))
    }
}

/// Whether a hit opened its ticket or joined one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Opened,
    Joined,
}

/// The actor of the engine's own audit events.
const ENGINE: &str = "triage";

impl Ingest {
    /// Starts over a store. It keeps no tickets of its own: each batch reads those around its
    /// hits from the store, so several instances over one database place hits as one would.
    pub fn new(
        store: Box<dyn Store>,
        rules: Rules,
        limits: Limits,
        routing: Routing,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            store,
            rules,
            limits,
            routing,
            counters: Arc::default(),
            feed: None,
        })
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

    /// Takes a batch of messages `(topic, payload)` received at `now` (Unix seconds). On `Ok`
    /// every message had its effect (stored, a repeat, or a dead letter) and may be
    /// acknowledged. A batch the store refuses for what it holds (a value it cannot keep) is
    /// split until the message at fault stands alone, and that one becomes a dead letter with
    /// the store's reason: one bad message never holds up the others. `Err` is left only for
    /// a store that is away ([`StoreError::is_transient`]): nothing of the failed part was
    /// written, and the caller tries the same messages again later.
    pub fn take(
        &mut self,
        messages: &[(&str, &[u8])],
        now: f64,
    ) -> Result<Vec<Outcome>, StoreError> {
        Ok(self
            .take_receipted(messages, now)?
            .into_iter()
            .map(|(o, _)| o)
            .collect())
    }

    /// [`Ingest::take`], with each message's `hit_id` when it has one: what its receipt names.
    pub fn take_receipted(
        &mut self,
        messages: &[(&str, &[u8])],
        now: f64,
    ) -> Result<Vec<(Outcome, Option<HitId>)>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let e = match self.take_once(messages, now) {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => e,
        };
        if let [(topic, payload)] = messages {
            let reason = HitRejection::Store(e.to_string());
            tracing::warn!(%topic, %reason, "the store refused a hit; kept as a dead letter");
            match self
                .store
                .apply(&[], &[dead_letter(topic, &reason, payload, now)])
            {
                Err(e) if e.is_transient() => return Err(e),
                // Not even its dead letter can be kept (names are sanitised, so this is not
                // expected): the log is its last trace, and the queue moves on.
                Err(e) => {
                    tracing::error!(%topic, error = %e, bytes = payload.len(), "a refused hit could not be kept as a dead letter; dropped")
                }
                Ok(()) => {}
            }
            let dead = Outcome::Dead(reason);
            self.counters.add(&dead);
            return Ok(vec![(dead, loose_hit_id(payload))]);
        }
        tracing::warn!(error = %e, messages = messages.len(), "the store refused a batch; splitting it");
        let (a, b) = messages.split_at(messages.len() / 2);
        let mut outcomes = self.take_receipted(a, now)?;
        outcomes.extend(self.take_receipted(b, now)?);
        Ok(outcomes)
    }

    /// One transaction for the whole batch: it holds the placement locks of every area its
    /// hits touch, reads the tickets around them as the database has them now (other instances'
    /// included), decides, and writes the effects and dead letters.
    fn take_once(
        &mut self,
        messages: &[(&str, &[u8])],
        now: f64,
    ) -> Result<Vec<(Outcome, Option<HitId>)>, StoreError> {
        let mut checked: Vec<_> = messages
            .iter()
            .map(|&(topic, payload)| {
                Some((topic, payload, check(topic, payload, &self.limits, now)))
            })
            .collect();
        let mut areas = Vec::new();
        let mut cells = Vec::new();
        for c in checked
            .iter()
            .flatten()
            .filter_map(|(_, _, c)| c.as_ref().ok())
        {
            let at = GeoPoint {
                lat: c.hit.position.lat,
                lon: c.hit.position.lon,
            };
            let radius = self.rules.radius(&c.hit.class);
            areas.extend(areas_within(at, radius));
            cells.extend(cells_within(at, radius));
        }
        cells.sort_unstable();
        cells.dedup();
        let (rules, routing) = (&self.rules, &self.routing);
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut events: Vec<AuditEvent> = Vec::new();
        self.store.in_batch(&areas, &mut |view| {
            outcomes.clear();
            events.clear();
            let mut batch = Batch {
                rules,
                routing,
                view,
                now,
                index: TicketIndex::default(),
                touched: HashMap::new(),
                batch_hits: HashMap::new(),
            };
            for p in batch
                .view
                .placed_in(&cells, now - rules.recurrence_window_s)?
            {
                batch.index.put(p);
            }
            let ids: Vec<&str> = checked
                .iter()
                .flatten()
                .filter_map(|(_, _, c)| c.as_ref().ok().map(|c| c.hit.hit_id.as_str()))
                .collect();
            let known = batch.view.known_hits(&ids)?;
            let mut seen: HashSet<HitId> = HashSet::new();
            let mut effects: Vec<Effect> = Vec::new();
            let mut dead: Vec<NewDeadLetter> = Vec::new();
            for item in checked.iter_mut() {
                let Some((topic, payload, checked)) = item.take() else {
                    continue;
                };
                let refused = match checked {
                    Err(reason) => Err(reason),
                    Ok(c)
                        if known.contains(c.hit.hit_id.as_str())
                            || !seen.insert(c.hit.hit_id.clone()) =>
                    {
                        outcomes.push((Outcome::Repeat, Some(c.hit.hit_id)));
                        continue;
                    }
                    Ok(c) => {
                        let id = c.hit.hit_id.clone();
                        batch.place(c)?.map(|placed| (placed, id))
                    }
                };
                match refused {
                    Ok(((change, effect), hit_id)) => {
                        let id = effect.ticket.ticket_id.clone();
                        let outcome = match change {
                            Change::Opened => Outcome::Opened(id),
                            Change::Joined => Outcome::Joined(id),
                        };
                        outcomes.push((outcome, Some(hit_id)));
                        events.extend(effect.events.iter().cloned());
                        effects.push(effect);
                    }
                    Err(reason) => {
                        dead.push(dead_letter(topic, &reason, payload, now));
                        outcomes.push((Outcome::Dead(reason), loose_hit_id(payload)));
                    }
                }
            }
            for d in &dead {
                tracing::warn!(topic = %d.topic, reason = %d.reason, bytes = d.payload.len(), "hit refused; kept as a dead letter");
            }
            Ok((effects, dead))
        })?;
        self.publish(&events);
        for (o, _) in &outcomes {
            self.counters.add(o);
        }
        Ok(outcomes)
    }

    /// Moves a ticket one step along its lifecycle on a person's say (`actor`), with an
    /// optional note; the SLA clock restarts for the new stage. The change names the version it
    /// read: if the ticket changed meanwhile (a hit joined it, another instance moved it), it is
    /// read again and the step judged again, never written over.
    pub fn transition(
        &mut self,
        ticket_id: &str,
        to: State,
        actor: &str,
        note: Option<&str>,
        now: f64,
    ) -> Result<Ticket, ChangeError> {
        let mut tries = 0;
        loop {
            let mut t = self
                .store
                .ticket(ticket_id)?
                .ok_or_else(|| ChangeError::NotFound(ticket_id.into()))?;
            let ev = t
                .transition(to, note, &self.rules, now)
                .map_err(|e| ChangeError::NotAllowed {
                    from: e.from,
                    to: e.to,
                })?
                .record(ticket_id, now, actor);
            match self.store.put_ticket(&t, std::slice::from_ref(&ev)) {
                Ok(()) => {
                    t.version += 1;
                    self.publish(&[ev]);
                    return Ok(t);
                }
                Err(StoreError::Conflict(_)) if tries < 20 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
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
        let (mut t, audit) = Ticket::file(
            uuid::Uuid::now_v7().to_string(),
            class,
            at,
            self.routing.route(at),
            description,
            &self.rules,
            now,
        );
        let ev = audit.record(&t.ticket_id, now, actor);
        self.store.put_ticket(&t, std::slice::from_ref(&ev))?;
        t.version = 1;
        self.publish(&[ev]);
        Ok(t)
    }

    /// Reports every stage deadline passed by `now` once: an `sla_breach` audit event (the
    /// stage, how late), claimed in the store so that of several instances sweeping at once
    /// one reports it. Returns the tickets it reported.
    pub fn sweep(&mut self, now: f64) -> Result<Vec<Ticket>, StoreError> {
        let breach = |t: &Ticket| t.breach(now).record(&t.ticket_id, now, ENGINE);
        let late = self.store.claim_overdue(now, 1000, &breach)?;
        for t in &late {
            self.publish(&[breach(t)]);
            let due = t.due_at.unwrap_or(now);
            tracing::warn!(ticket = %t.ticket_id, stage = t.state.as_str(), unit = ?t.unit, late_s = now - due, "SLA breached");
        }
        Ok(late)
    }
}
