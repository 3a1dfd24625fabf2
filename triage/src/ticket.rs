//! The ticket and what can happen to it, pure: a hit opens or joins a ticket, the rules
//! dispatch it, a person moves it along its lifecycle, a deadline passes. Each change is made
//! here and nowhere else, and says what it did as a typed [`Audit`] event; the ingest decides
//! which change a hit makes, and the store writes the changes of a batch in one transaction.
//!
//! ```
//! use argus_core::geodesy::GeoPoint;
//! use argus_triage::engine::{Rules, State};
//! use argus_triage::ticket::{Audit, HitFacts, Ticket};
//!
//! let rules = Rules::default();
//! let hit = HitFacts {
//!     hit_id: "0190a000-0000-7000-8000-000000000001",
//!     agent_id: "dock-1",
//!     class: "construction_waste",
//!     score: 0.9,
//!     at: GeoPoint { lat: 30.7, lon: 121.02 },
//!     uncertainty_m: 3.0,
//!     observed_at: 1_780_000_000.0,
//! };
//! let (ticket, audit) = Ticket::open("t-1".into(), &hit, (Some("U01".into()), None), None, &rules, 1_780_000_005.0);
//! // One sure sighting is enough: opened and dispatched at once.
//! assert_eq!(ticket.state, State::Dispatched);
//! assert!(matches!(audit[..], [Audit::Opened { .. }, Audit::Dispatched { .. }]));
//! ```

use argus_core::clock;
use argus_core::geodesy::GeoPoint;
use serde::Serialize;
use serde_json::json;

use crate::engine::{Placed, Rules, State};
use crate::store::AuditEvent;

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    /// Its id (UUID v7).
    pub ticket_id: String,
    /// Its category.
    pub category: String,
    /// The hit class that opened it.
    pub class: String,
    /// Lifecycle stage.
    pub state: State,
    /// Latitude, degrees: the sightings' inverse-variance weighted mean.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// 90 % radius of that mean, metres.
    pub uncertainty_m: f64,
    /// The responsible unit (jurisdiction), when the position falls in one.
    pub unit: Option<String>,
    /// The grid cell.
    pub grid_cell: Option<String>,
    /// Distinct sightings (a track's later update is not another sighting).
    pub sightings: u32,
    /// Best sighting score.
    pub best_score: f32,
    /// Lowest sighting score.
    pub min_score: f32,
    /// Waiting for a person's review before dispatch.
    pub review: bool,
    /// When it was opened, Unix seconds.
    pub opened_at: f64,
    /// When its current stage began.
    pub state_since: f64,
    /// When its current stage is due (SLA), if a clock runs.
    pub due_at: Option<f64>,
    /// The earliest sighting's observation time.
    pub first_observed_at: f64,
    /// The closed ticket of the same violation that this one follows, if it came back.
    pub recurs: Option<String>,
    /// Its current stage's deadline has passed (reported once, by an `sla_breach` event).
    pub breached: bool,
    /// How many times it was written (0: not yet stored). A write names the version it read,
    /// and fails if another came first.
    pub version: i64,
}

/// What the engine needs to know of a hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitFacts<'a> {
    /// Its id.
    pub hit_id: &'a str,
    /// Its agent.
    pub agent_id: &'a str,
    /// Its violation class.
    pub class: &'a str,
    /// Its score.
    pub score: f32,
    /// Where.
    pub at: GeoPoint,
    /// Its 90 % radius, metres.
    pub uncertainty_m: f64,
    /// When it was seen, Unix seconds.
    pub observed_at: f64,
}

/// What happened to a ticket, as its audit log records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Audit {
    /// A hit opened it.
    Opened {
        /// The hit.
        hit_id: String,
        /// Its category.
        category: String,
        /// Its unit.
        unit: Option<String>,
        /// Its grid cell.
        grid_cell: Option<String>,
        /// The closed ticket it follows.
        recurs: Option<String>,
    },
    /// A person filed it (Open311).
    Filed {
        /// What they wrote.
        description: String,
        /// Its unit.
        unit: Option<String>,
    },
    /// A hit joined it.
    Sighting {
        /// The hit.
        hit_id: String,
        /// Its agent.
        agent_id: String,
        /// Its score.
        score: f32,
    },
    /// A track's later estimate moved it (not another sighting).
    SightingUpdate {
        /// The hit.
        hit_id: String,
        /// Its agent.
        agent_id: String,
        /// Its score.
        score: f32,
    },
    /// The rules sent it to its unit.
    Dispatched {
        /// The unit.
        unit: Option<String>,
        /// Its best score then.
        best_score: f32,
        /// Its sightings then.
        sightings: u32,
    },
    /// A person moved it.
    Transition {
        /// From.
        from: State,
        /// To.
        to: State,
        /// Their note.
        note: Option<String>,
    },
    /// The violation came back: a new ticket follows this closed one.
    Recurred {
        /// The new ticket.
        ticket_id: String,
    },
    /// A stage's deadline passed.
    SlaBreach {
        /// The stage.
        stage: State,
        /// Its deadline, Unix seconds.
        due_at: f64,
        /// How late when noticed, seconds.
        late_s: f64,
        /// The unit.
        unit: Option<String>,
    },
}

impl Audit {
    /// The event's name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Opened { .. } | Self::Filed { .. } => "opened",
            Self::Sighting { .. } => "sighting",
            Self::SightingUpdate { .. } => "sighting_update",
            Self::Dispatched { .. } => "dispatched",
            Self::Transition { .. } => "transition",
            Self::Recurred { .. } => "recurred",
            Self::SlaBreach { .. } => "sla_breach",
        }
    }

    /// The event's details, as the audit log keeps them.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Self::Opened {
                hit_id,
                category,
                unit,
                grid_cell,
                recurs,
            } => json!({"hit_id": hit_id, "category": category, "unit": unit,
                        "grid_cell": grid_cell, "recurs": recurs}),
            Self::Filed { description, unit } => {
                json!({"filed": true, "description": description, "unit": unit})
            }
            Self::Sighting {
                hit_id,
                agent_id,
                score,
            }
            | Self::SightingUpdate {
                hit_id,
                agent_id,
                score,
            } => json!({"hit_id": hit_id, "agent_id": agent_id, "score": score}),
            Self::Dispatched {
                unit,
                best_score,
                sightings,
            } => {
                json!({"by": "rule", "unit": unit, "best_score": best_score, "sightings": sightings})
            }
            Self::Transition { from, to, note } => {
                json!({"from": from.as_str(), "to": to.as_str(), "note": note})
            }
            Self::Recurred { ticket_id } => json!({"ticket_id": ticket_id}),
            Self::SlaBreach {
                stage,
                due_at,
                late_s,
                unit,
            } => json!({"stage": stage.as_str(), "due_at": clock::rfc3339(*due_at),
                        "late_s": late_s, "unit": unit}),
        }
    }

    /// The audit log's record of this event on `ticket_id` at `at` by `actor` (`triage` for
    /// the engine); its `seq` is given on writing.
    pub fn record(&self, ticket_id: &str, at: f64, actor: &str) -> AuditEvent {
        AuditEvent {
            seq: 0,
            ticket_id: ticket_id.into(),
            at,
            actor: actor.into(),
            event: self.name().into(),
            detail: self.detail(),
        }
    }
}

/// A step a person asked for that the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} ticket cannot become {to:?}")]
pub struct NotAllowed {
    /// Its stage.
    pub from: State,
    /// The stage asked for.
    pub to: State,
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

impl Ticket {
    /// A new ticket at `at`, waiting for review: the one place a ticket is built.
    #[allow(clippy::too_many_arguments)]
    fn new(
        ticket_id: String,
        class: &str,
        at: GeoPoint,
        uncertainty_m: f64,
        (unit, grid_cell): (Option<String>, Option<String>),
        rules: &Rules,
        now: f64,
        observed_at: f64,
    ) -> Self {
        Self {
            ticket_id,
            category: rules.category(class),
            class: class.into(),
            state: State::New,
            lat: at.lat,
            lon: at.lon,
            uncertainty_m,
            unit,
            grid_cell,
            sightings: 0,
            best_score: 0.0,
            min_score: 0.0,
            review: true,
            opened_at: now,
            state_since: now,
            due_at: rules.sla.due(State::New, now),
            first_observed_at: observed_at,
            recurs: None,
            breached: false,
            version: 0,
        }
    }

    /// The ticket a hit opens (`recurs`: the closed ticket of the same violation it follows),
    /// dispatched at once when the rules say one sighting is enough. The returned events are
    /// this ticket's; a recurrence also gets [`Audit::Recurred`] on the old one.
    pub fn open(
        ticket_id: String,
        hit: &HitFacts<'_>,
        route: (Option<String>, Option<String>),
        recurs: Option<String>,
        rules: &Rules,
        now: f64,
    ) -> (Self, Vec<Audit>) {
        let mut t = Self::new(
            ticket_id,
            hit.class,
            hit.at,
            hit.uncertainty_m,
            route,
            rules,
            now,
            hit.observed_at,
        );
        t.sightings = 1;
        (t.best_score, t.min_score) = (hit.score, hit.score);
        t.recurs = recurs;
        let mut audit = vec![Audit::Opened {
            hit_id: hit.hit_id.into(),
            category: t.category.clone(),
            unit: t.unit.clone(),
            grid_cell: t.grid_cell.clone(),
            recurs: t.recurs.clone(),
        }];
        audit.extend(t.dispatch_if_due(rules, now));
        (t, audit)
    }

    /// The ticket a person files (Open311 `POST requests`), in the review queue.
    pub fn file(
        ticket_id: String,
        class: &str,
        at: GeoPoint,
        route: (Option<String>, Option<String>),
        description: &str,
        rules: &Rules,
        now: f64,
    ) -> (Self, Audit) {
        let t = Self::new(ticket_id, class, at, 0.0, route, rules, now, now);
        let audit = Audit::Filed {
            description: description.into(),
            unit: t.unit.clone(),
        };
        (t, audit)
    }

    /// A hit joins: the position is fused, the scores kept, and a new ticket the rules now
    /// trust goes out. An `update` (a track's later estimate) moves it without counting as
    /// another sighting.
    pub fn join(
        &mut self,
        hit: &HitFacts<'_>,
        update: bool,
        rules: &Rules,
        now: f64,
    ) -> Vec<Audit> {
        let (lat, lon, u) = fuse(
            (self.lat, self.lon, self.uncertainty_m),
            (hit.at.lat, hit.at.lon, hit.uncertainty_m),
        );
        (self.lat, self.lon, self.uncertainty_m) = (lat, lon, u);
        if !update {
            self.sightings += 1;
        }
        self.best_score = self.best_score.max(hit.score);
        self.min_score = self.min_score.min(hit.score);
        self.first_observed_at = self.first_observed_at.min(hit.observed_at);
        let (hit_id, agent_id, score) = (hit.hit_id.into(), hit.agent_id.into(), hit.score);
        let mut audit = vec![if update {
            Audit::SightingUpdate {
                hit_id,
                agent_id,
                score,
            }
        } else {
            Audit::Sighting {
                hit_id,
                agent_id,
                score,
            }
        }];
        if self.state == State::New {
            audit.extend(self.dispatch_if_due(rules, now));
        }
        audit
    }

    /// Sends a new ticket out when the rules trust its sightings.
    fn dispatch_if_due(&mut self, rules: &Rules, now: f64) -> Option<Audit> {
        if !rules.dispatches(self.best_score, self.sightings, self.min_score) {
            return None;
        }
        self.enter(State::Dispatched, rules, now);
        Some(Audit::Dispatched {
            unit: self.unit.clone(),
            best_score: self.best_score,
            sightings: self.sightings,
        })
    }

    /// Enters a stage: its SLA clock starts, and nobody needs to review it any more.
    fn enter(&mut self, to: State, rules: &Rules, now: f64) {
        self.state = to;
        self.state_since = now;
        self.due_at = rules.sla.due(to, now);
        self.review = false;
        self.breached = false;
    }

    /// A person moves it one step along its lifecycle.
    pub fn transition(
        &mut self,
        to: State,
        note: Option<&str>,
        rules: &Rules,
        now: f64,
    ) -> Result<Audit, NotAllowed> {
        let from = self.state;
        if !from.can_become(to) {
            return Err(NotAllowed { from, to });
        }
        self.enter(to, rules, now);
        Ok(Audit::Transition {
            from,
            to,
            note: note.map(str::to_string),
        })
    }

    /// Its current stage's deadline passed: what the audit log says of it at `now`.
    pub fn breach(&self, now: f64) -> Audit {
        let due_at = self.due_at.unwrap_or(now);
        Audit::SlaBreach {
            stage: self.state,
            due_at,
            late_s: now - due_at,
            unit: self.unit.clone(),
        }
    }

    /// Where the ticket index keeps it.
    pub fn placed(&self) -> Placed {
        Placed {
            ticket_id: self.ticket_id.clone(),
            category: self.category.clone(),
            at: GeoPoint {
                lat: self.lat,
                lon: self.lon,
            },
            closed_at: (!self.state.is_open()).then_some(self.state_since),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(score: f32, lat: f64, u: f64) -> HitFacts<'static> {
        HitFacts {
            hit_id: "h",
            agent_id: "dock-1",
            class: "construction_waste",
            score,
            at: GeoPoint { lat, lon: 121.0 },
            uncertainty_m: u,
            observed_at: 100.0,
        }
    }

    #[test]
    fn a_faint_ticket_waits_for_review_until_a_second_sighting_confirms_it() {
        let rules = Rules::default();
        let (mut t, audit) = Ticket::open(
            "t".into(),
            &hit(0.5, 30.0, 4.0),
            (None, None),
            None,
            &rules,
            10.0,
        );
        assert_eq!((t.state, t.review, t.sightings), (State::New, true, 1));
        assert_eq!(audit.len(), 1);
        // An update is no second sighting.
        let audit = t.join(&hit(0.5, 30.00001, 4.0), true, &rules, 11.0);
        assert!(matches!(audit[..], [Audit::SightingUpdate { .. }]));
        assert_eq!((t.state, t.sightings), (State::New, 1));
        let audit = t.join(&hit(0.45, 30.00002, 2.0), false, &rules, 12.0);
        assert!(matches!(
            audit[..],
            [
                Audit::Sighting { .. },
                Audit::Dispatched { sightings: 2, .. }
            ]
        ));
        assert_eq!(
            (t.state, t.review, t.state_since),
            (State::Dispatched, false, 12.0)
        );
        // The fused position leans to the surer sighting.
        assert!(t.lat > 30.000012 && t.uncertainty_m < 2.0, "{t:?}");
        assert_eq!(audit[1].name(), "dispatched");
        assert_eq!(
            audit[1].record(&t.ticket_id, 12.0, "triage").detail["by"],
            "rule"
        );
    }

    #[test]
    fn people_move_tickets_only_along_the_lifecycle_and_breaches_say_how_late() {
        let rules = Rules::default();
        let (mut t, _) = Ticket::open(
            "t".into(),
            &hit(0.9, 30.0, 3.0),
            (Some("U1".into()), None),
            None,
            &rules,
            10.0,
        );
        assert_eq!(t.state, State::Dispatched);
        assert_eq!(
            t.transition(State::Verified, None, &rules, 20.0),
            Err(NotAllowed {
                from: State::Dispatched,
                to: State::Verified
            })
        );
        let a = t
            .transition(State::InProgress, Some("on it"), &rules, 30.0)
            .unwrap();
        assert_eq!(a.detail()["note"], "on it");
        assert_eq!(t.due_at, rules.sla.due(State::InProgress, 30.0));
        let due = t.due_at.unwrap();
        match t.breach(due + 5.0) {
            Audit::SlaBreach {
                stage,
                late_s,
                unit,
                ..
            } => {
                assert_eq!(
                    (stage, late_s, unit.as_deref()),
                    (State::InProgress, 5.0, Some("U1"))
                )
            }
            a => panic!("{a:?}"),
        }
        let (filed, audit) = Ticket::file(
            "f".into(),
            "construction_waste",
            GeoPoint {
                lat: 30.0,
                lon: 121.0,
            },
            (None, None),
            "a pile",
            &rules,
            40.0,
        );
        assert_eq!(
            (filed.state, filed.sightings, filed.review),
            (State::New, 0, true)
        );
        assert_eq!(
            (audit.name(), audit.detail()["filed"].as_bool()),
            ("opened", Some(true))
        );
    }
}
