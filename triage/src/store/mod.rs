//! Durable state: hits by id (the idempotency key), tickets, the append-only audit log, evidence
//! by content hash, dead letters. [`Sqlite`] is the default (one file, nothing to install);
//! [`Postgres`] is for deployments that outgrow it. Both pass one test suite.

/// The `tickets` table's columns, in the order both stores read and write them.
macro_rules! ticket_columns {
    () => {
        "ticket_id, category, class, state, lat, lon, uncertainty_m, unit, grid_cell, sightings, \
         best_score, min_score, review, opened_at, state_since, due_at, first_observed_at, \
         recurs, breached, version"
    };
}

mod pool;
mod postgres;
mod sqlite;

pub use self::pool::{NICE as READ_NICE, Pool};
pub use self::postgres::Postgres;
pub use self::sqlite::Sqlite;

use std::collections::HashSet;

use serde::Serialize;

use crate::engine::{Placed, State};
pub use crate::ingest::FirstHit;
pub use crate::runs::{PatrolCounts, Run, RunEvent, RunFilter, RunKind, RunState};
pub use crate::ticket::Ticket;

/// Which tickets a list asks for; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketFilter {
    /// In this state.
    pub state: Option<State>,
    /// Of this unit.
    pub unit: Option<String>,
    /// Of this category.
    pub category: Option<String>,
    /// Of this hit class.
    pub class: Option<String>,
    /// Waiting for review (or not).
    pub review: Option<bool>,
    /// Open (new, dispatched, in progress, resolved) or closed.
    pub open: Option<bool>,
    /// Within `[south, west, north, east]`, degrees.
    pub bbox: Option<[f64; 4]>,
    /// Opened at or after, Unix seconds.
    pub since: Option<f64>,
    /// After this ticket in the list's order (newest first): the previous page's cursor.
    pub after: Option<Cursor>,
}

/// A place in the ticket list (newest first, ties by id): the last ticket of a page, from
/// which the next page goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The ticket's `opened_at`.
    pub opened_at: f64,
    /// Its id.
    pub ticket_id: String,
}

impl Cursor {
    /// The cursor after `t`.
    pub fn after(t: &Ticket) -> Self {
        Self {
            opened_at: t.opened_at,
            ticket_id: t.ticket_id.clone(),
        }
    }

    /// The opaque text a client hands back: the time's exact bits and the id.
    pub fn encode(&self) -> String {
        format!("{:016x}.{}", self.opened_at.to_bits(), self.ticket_id)
    }

    /// Reads [`Cursor::encode`]'s text; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (bits, id) = s.split_once('.')?;
        let opened_at = f64::from_bits(u64::from_str_radix(bits, 16).ok()?);
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (bits.len() == 16 && opened_at.is_finite() && id_ok).then(|| Self {
            opened_at,
            ticket_id: id.to_string(),
        })
    }
}

/// A value bound to a list query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Real(f64),
    Bool(bool),
    Int(i64),
}

/// The ticket list as SQL: only the filters asked for (so the planner can use the indexes,
/// among them the partial index of open tickets by unit), newest first, ties by id, the limit
/// last. `marker(n)` spells the n-th bound parameter (`?n` for SQLite, `$n` for PostgreSQL).
pub(crate) fn list_query(
    f: &TicketFilter,
    limit: usize,
    marker: impl Fn(usize) -> String,
) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut bind = |p: Param| {
        params.push(p);
        marker(params.len())
    };
    let mut conds: Vec<String> = Vec::new();
    if let Some(s) = f.state {
        conds.push(format!("state = {}", bind(Param::Text(s.as_str().into()))));
    }
    for (column, value) in [
        ("unit", &f.unit),
        ("category", &f.category),
        ("class", &f.class),
    ] {
        if let Some(v) = value {
            conds.push(format!("{column} = {}", bind(Param::Text(v.clone()))));
        }
    }
    if let Some(r) = f.review {
        conds.push(format!("review = {}", bind(Param::Bool(r))));
    }
    match f.open {
        // Spelled as the partial indexes spell it, so that they serve.
        Some(true) => conds.push(format!("state IN ({})", open_states_sql())),
        Some(false) => conds.push(format!("state NOT IN ({})", open_states_sql())),
        None => {}
    }
    if let Some([south, west, north, east]) = f.bbox {
        conds.push(format!(
            "lat >= {} AND lat <= {} AND lon >= {} AND lon <= {}",
            bind(Param::Real(south)),
            bind(Param::Real(north)),
            bind(Param::Real(west)),
            bind(Param::Real(east))
        ));
    }
    if let Some(t) = f.since {
        conds.push(format!("opened_at >= {}", bind(Param::Real(t))));
    }
    if let Some(c) = &f.after {
        let (t1, t2, id) = (
            bind(Param::Real(c.opened_at)),
            bind(Param::Real(c.opened_at)),
            bind(Param::Text(c.ticket_id.clone())),
        );
        conds.push(format!(
            "(opened_at < {t1} OR (opened_at = {t2} AND ticket_id < {id}))"
        ));
    }
    let mut sql = format!("SELECT {} FROM tickets", ticket_columns!());
    if !conds.is_empty() {
        sql += " WHERE ";
        sql += &conds.join(" AND ");
    }
    let limit = bind(Param::Int(limit.min(i64::MAX as usize) as i64));
    sql += &format!(" ORDER BY opened_at DESC, ticket_id DESC LIMIT {limit}");
    (sql, params)
}

/// The open states as an SQL list (`'new', …`), for `state IN (…)`.
pub(crate) fn open_states_sql() -> String {
    State::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TicketFilter {
    /// Tickets in `state`.
    pub fn state(state: State) -> Self {
        Self {
            state: Some(state),
            ..Self::default()
        }
    }
}

/// What triage keeps, wherever it keeps it.
pub trait Store: Send + std::fmt::Debug {
    /// Writes a batch of effects and dead letters in one transaction: all or nothing.
    fn apply(&mut self, effects: &[Effect], dead: &[NewDeadLetter]) -> Result<(), StoreError>;
    /// Places a batch of hits in one write transaction: takes the placement locks of `areas`
    /// (other instances placing hits in those areas wait; see [`crate::engine::areas_within`]),
    /// lets `place` decide through a [`BatchView`] of the database as the transaction sees it,
    /// and writes what it decided. A ticket whose version changed meanwhile (a person's
    /// transition on another instance) fails the batch with [`StoreError::Conflict`], to be
    /// tried again.
    fn in_batch(
        &mut self,
        areas: &[i64],
        place: &mut dyn FnMut(&mut dyn BatchView) -> Result<Decided, StoreError>,
    ) -> Result<(), StoreError>;
    /// Writes one ticket as it now is with its audit events, in one transaction: a new ticket
    /// (version 0) is inserted, a stored one replaced only if its version is still the one it
    /// was read at ([`StoreError::Conflict`] otherwise).
    fn put_ticket(&mut self, ticket: &Ticket, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Appends audit events that change no ticket (e.g. a verification flight's course).
    fn add_audit(&mut self, events: &[AuditEvent]) -> Result<(), StoreError>;
    /// Claims the open tickets whose stage deadline passed before `now` and was not yet
    /// reported (at most `limit`), marks them breached and appends `event(ticket)` for each, in
    /// one transaction: of several instances sweeping at once, each breach is claimed by one.
    fn claim_overdue(
        &mut self,
        now: f64,
        limit: usize,
        event: &dyn Fn(&Ticket) -> AuditEvent,
    ) -> Result<Vec<Ticket>, StoreError>;
    /// The newest dead letters, newest first.
    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
    /// One ticket.
    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Tickets that pass `filter`, newest first, at most `limit` (the filter is applied
    /// before the limit: a page holds `limit` tickets whenever that many match).
    fn tickets(&mut self, filter: &TicketFilter, limit: usize) -> Result<Vec<Ticket>, StoreError>;
    /// A ticket's sightings, oldest first.
    fn sightings(&mut self, ticket_id: &str) -> Result<Vec<Sighting>, StoreError>;
    /// A ticket's audit events, in order.
    fn audit(&mut self, ticket_id: &str) -> Result<Vec<AuditEvent>, StoreError>;
    /// An evidence JPEG by its SHA-256.
    fn evidence(&mut self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Row counts: (tickets, sightings, dead letters).
    fn counts(&mut self) -> Result<(u64, u64, u64), StoreError>;

    /// Claims a run with its first event, in one transaction: inserted unless its plan already
    /// has a run at that instant (`false`: another instance, or an earlier start, claimed it).
    fn claim_run(&mut self, run: &Run, event: &RunEvent) -> Result<bool, StoreError>;
    /// Moves a run from `from` to `to` (with `reason`) and appends `event`, in one transaction;
    /// `false`, writing nothing, when the run is not in `from` any more.
    fn move_run(
        &mut self,
        run_id: &str,
        from: RunState,
        to: RunState,
        reason: Option<&str>,
        event: &RunEvent,
    ) -> Result<bool, StoreError>;
    /// Appends an event to a run that stays where it is (progress within a state).
    fn add_run_event(&mut self, event: &RunEvent) -> Result<(), StoreError>;
    /// One run.
    fn run(&mut self, run_id: &str) -> Result<Option<Run>, StoreError>;
    /// Runs that pass `filter`, newest instant first, at most `limit`.
    fn runs(&mut self, filter: &RunFilter, limit: usize) -> Result<Vec<Run>, StoreError>;
    /// A run's events, in order.
    fn run_events(&mut self, run_id: &str) -> Result<Vec<RunEvent>, StoreError>;
    /// The tickets sighted by hits of one flight, each once, oldest sighting first.
    fn flight_tickets(&mut self, flight_id: &str) -> Result<Vec<String>, StoreError>;
    /// Runs by state and the dead letters from docks (two counts, for `/metrics`).
    fn patrol_counts(&mut self) -> Result<PatrolCounts, StoreError>;
}

/// A stored run with its kind and state read from their names.
pub(crate) fn with_run_names(mut run: Run, kind: &str, state: &str) -> Result<Run, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt {
        table: "patrol_runs",
        what,
    };
    run.kind = RunKind::parse(kind)
        .ok_or_else(|| corrupt(format!("unknown kind {kind:?} of {}", run.run_id)))?;
    run.state = RunState::parse(state)
        .ok_or_else(|| corrupt(format!("unknown state {state:?} of {}", run.run_id)))?;
    Ok(run)
}

/// A run state read from its stored name.
pub(crate) fn run_state_named(state: &str) -> Result<RunState, StoreError> {
    RunState::parse(state).ok_or_else(|| StoreError::Corrupt {
        table: "patrol_runs",
        what: format!("unknown state {state:?}"),
    })
}

/// What a batch's placement decided: the effects and the dead letters to write.
pub type Decided = (Vec<Effect>, Vec<NewDeadLetter>);

/// The database as a batch's transaction sees it, for the placement to read.
pub trait BatchView {
    /// Which of these hits were taken before.
    fn known_hits(&mut self, hit_ids: &[&str]) -> Result<HashSet<String>, StoreError>;
    /// What an update needs of the hit it names.
    fn first_hit(&mut self, hit_id: &str) -> Result<Option<FirstHit>, StoreError>;
    /// The tickets a hit may join or follow in these cells ([`crate::engine::cells_within`]):
    /// open ones, and ones closed since `closed_since`.
    fn placed_in(&mut self, cells: &[i64], closed_since: f64) -> Result<Vec<Placed>, StoreError>;
    /// One ticket as stored.
    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError>;
}

/// Opens the store a URL names: `sqlite:PATH` (created if missing) or `postgres://…`.
pub fn open(url: &str) -> Result<Box<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = std::path::Path::new(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Url {
                url: url.into(),
                why: format!("creating {}: {e}", dir.display()),
            })?;
        }
        Ok(Box::new(Sqlite::open(path)?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(Postgres::connect(url)?))
    } else {
        Err(StoreError::Url {
            url: url.into(),
            why: "expected sqlite:PATH or postgres://user@host:port/db".into(),
        })
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no.
    #[error("postgres: {}", postgres_message(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The store URL is unusable.
    #[error("store {url:?}: {why}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// A stored value makes no sense (a state name this build does not know, …).
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A ticket changed between its reading and its writing (another instance, a person):
    /// the work is done again on what is stored now.
    #[error("ticket {0} changed meanwhile")]
    Conflict(String),
    /// The server cannot be reached now.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A read failed without an answer (it panicked on its reader thread; the log says why).
    #[error("a read failed: {0}")]
    Failed(String),
    /// The database was written by a newer build.
    #[error("database schema version {found} is newer than this build's {supported}")]
    TooNew {
        /// Found.
        found: i64,
        /// Known.
        supported: i64,
    },
}

/// The server's own words (`db error` alone says nothing), or the client's.
fn postgres_message(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

impl StoreError {
    /// Whether the store is away or busy (a lost connection, a lock held by someone else, a
    /// full disk, a server shutting down) rather than refusing what it was given: the same
    /// write may succeed later, so the caller retries it instead of giving it up.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::OutOfMemory
                    | rusqlite::ErrorCode::FileLockingProtocolFailed
            ),
            StoreError::Sqlite(_) => false,
            StoreError::Postgres(e) => match e.code() {
                // Connection (08), transaction rollback: serialisation, deadlock (40),
                // resources (53), operator intervention (57), system (58), lock not available.
                Some(code) => {
                    let c = code.code();
                    ["08", "40", "53", "57", "58"]
                        .iter()
                        .any(|p| c.starts_with(p))
                        || c == "55P03"
                }
                // No server error: the connection itself failed.
                None => true,
            },
            StoreError::Unavailable(_) | StoreError::Conflict(_) => true,
            _ => false,
        }
    }
}

/// One sighting as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    /// The hit's id.
    pub hit_id: String,
    /// Its ticket.
    pub ticket_id: String,
    /// Agent.
    pub agent_id: String,
    /// Hit class.
    pub class: String,
    /// Score.
    pub score: f32,
    /// When it was seen, Unix seconds.
    pub observed_at: f64,
    /// When triage took it, Unix seconds.
    pub received_at: f64,
    /// Its position.
    pub lat: f64,
    /// Its position.
    pub lon: f64,
    /// Its 90 % radius.
    pub uncertainty_m: f64,
    /// Evidence JPEG's SHA-256.
    pub evidence_sha256: String,
    /// The first hit of the same track, for a later estimate.
    pub update_of: Option<String>,
    /// The flight the hit was seen on (a drone's `source.flight_id`: a patrol run's id).
    pub flight_id: Option<String>,
    /// The hit as received.
    pub payload: String,
}

/// An audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Order of writing, from 1.
    pub seq: i64,
    /// Its ticket.
    pub ticket_id: String,
    /// When, Unix seconds.
    pub at: f64,
    /// Who: `triage` for the engine, else the token's role and name.
    pub actor: String,
    /// What: `opened`, `sighting`, `dispatched`, `transition`, `recurred`, `sla_breach`, …
    pub event: String,
    /// Details (JSON).
    pub detail: serde_json::Value,
}

/// The effect of one accepted hit, written in one transaction with the others of its batch.
#[derive(Debug, Clone)]
pub struct Effect {
    /// The sighting.
    pub sighting: Sighting,
    /// The ticket as it is after the hit (inserted or replaced).
    pub ticket: Ticket,
    /// Audit events to append (their `seq` is assigned on writing).
    pub events: Vec<AuditEvent>,
    /// The evidence JPEG, stored once per hash.
    pub evidence: Option<Vec<u8>>,
}

/// A payload that could not be taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Order of arrival.
    pub id: i64,
    /// When, Unix seconds.
    pub at: f64,
    /// Its topic.
    pub topic: String,
    /// Why it was refused.
    pub reason: String,
    /// Its first bytes (at most [`DEAD_LETTER_KEEP`]).
    pub payload: Vec<u8>,
    /// Its full size.
    pub size: usize,
}

/// A refused payload to keep (its first [`DEAD_LETTER_KEEP`] bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeadLetter {
    /// When, Unix seconds.
    pub at: f64,
    /// Its topic.
    pub topic: String,
    /// Why it was refused.
    pub reason: String,
    /// Its first bytes.
    pub payload: Vec<u8>,
    /// Its full size.
    pub size: usize,
}

/// Bytes of a dead letter's payload kept.
pub const DEAD_LETTER_KEEP: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_lists_are_spelled_as_their_partial_indexes() {
        let (sql, params) = list_query(
            &TicketFilter {
                unit: Some("U07".into()),
                open: Some(true),
                ..TicketFilter::default()
            },
            50,
            |n| format!("${n}"),
        );
        let open = format!("state IN ({})", open_states_sql());
        assert!(sql.contains(&open), "{sql}");
        assert_eq!(params, [Param::Text("U07".into()), Param::Int(50)]);
        for migrations in [sqlite::MIGRATIONS, postgres::MIGRATIONS] {
            assert!(
                migrations
                    .iter()
                    .any(|m| m.contains(&format!("WHERE {open}"))),
                "no partial index of the open tickets"
            );
        }
    }

    #[test]
    fn cursors_read_back_exactly_and_refuse_anything_else() {
        let c = Cursor {
            opened_at: 1_780_000_000.123_456_7,
            ticket_id: "T-0001".into(),
        };
        assert_eq!(Cursor::parse(&c.encode()), Some(c));
        for bad in [
            "",
            "x.T1",
            "7ff8000000000000.T1",
            "0000000000000000.",
            "0000000000000000.a b",
            "00.T1",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }
}
