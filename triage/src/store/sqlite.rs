//! The SQLite store: one file, write-ahead log, one transaction per batch of hits.

use std::path::Path;

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    AuditEvent, BatchView, DeadLetter, Decided, Effect, FirstHit, NewDeadLetter, Run, RunEvent,
    RunFilter, RunKind, RunState, Sighting, Store, StoreError, Ticket, TicketFilter,
};
use crate::engine::{Placed, State, cell_key};
use crate::runs::RUN_COLUMNS;

/// Migrations, in order; `PRAGMA user_version` counts those applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tickets (
    ticket_id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    class TEXT NOT NULL,
    state TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    uncertainty_m REAL NOT NULL,
    unit TEXT,
    grid_cell TEXT,
    sightings INTEGER NOT NULL,
    best_score REAL NOT NULL,
    min_score REAL NOT NULL,
    review INTEGER NOT NULL,
    opened_at REAL NOT NULL,
    state_since REAL NOT NULL,
    due_at REAL,
    first_observed_at REAL NOT NULL,
    recurs TEXT
);
CREATE INDEX tickets_state ON tickets (state);
CREATE INDEX tickets_unit ON tickets (unit);
CREATE TABLE sightings (
    hit_id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets (ticket_id),
    agent_id TEXT NOT NULL,
    class TEXT NOT NULL,
    score REAL NOT NULL,
    observed_at REAL NOT NULL,
    received_at REAL NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    uncertainty_m REAL NOT NULL,
    evidence_sha256 TEXT NOT NULL,
    update_of TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX sightings_ticket ON sightings (ticket_id);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_ticket ON audit (ticket_id);
CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE evidence (
    sha256 TEXT PRIMARY KEY,
    jpeg BLOB NOT NULL
);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    size INTEGER NOT NULL
);
"#,
    "ALTER TABLE tickets ADD COLUMN breached INTEGER NOT NULL DEFAULT 0;",
    // The SLA sweep asks every second for deadlines passed and not yet reported.
    "CREATE INDEX tickets_due ON tickets (due_at) WHERE breached = 0;",
    // Lists are newest first, often of one unit or state.
    "CREATE INDEX tickets_opened ON tickets (opened_at); \
     CREATE INDEX tickets_unit_state ON tickets (unit, state, opened_at);",
    // Placement reads a hit's neighbourhood by cell; writes name the version they read.
    // (Cells of tickets stored before are filled in by `fill_cells`.)
    "ALTER TABLE tickets ADD COLUMN version INTEGER NOT NULL DEFAULT 1; \
     ALTER TABLE tickets ADD COLUMN cell INTEGER; \
     CREATE INDEX tickets_cell ON tickets (cell);",
    // Operators list the open tickets of their unit, newest first, in pages: partial indexes
    // of the open tickets (their predicate spelled as `list_query` spells it) serve those
    // lists from a million tickets without a sort.
    "CREATE INDEX tickets_open_unit ON tickets (unit, opened_at, ticket_id) \
     WHERE state IN ('new', 'dispatched', 'in_progress', 'resolved'); \
     CREATE INDEX tickets_open ON tickets (opened_at, ticket_id) \
     WHERE state IN ('new', 'dispatched', 'in_progress', 'resolved');",
    // Patrol runs: one per plan and instant (the claim is the insert), their append-only
    // events, and the flight each sighting was seen on.
    r#"
CREATE TABLE patrol_runs (
    run_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    dock_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    scheduled_at REAL NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    kmz_md5 TEXT,
    ticket_id TEXT,
    updated_at REAL NOT NULL,
    UNIQUE (plan_id, scheduled_at)
);
CREATE INDEX patrol_runs_dock ON patrol_runs (dock_id, scheduled_at);
CREATE INDEX patrol_runs_state ON patrol_runs (state);
CREATE TABLE run_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES patrol_runs (run_id),
    at REAL NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events (run_id);
CREATE TRIGGER run_events_are_append_only_update BEFORE UPDATE ON run_events
    BEGIN SELECT RAISE(ABORT, 'run events are append-only'); END;
CREATE TRIGGER run_events_are_append_only_delete BEFORE DELETE ON run_events
    BEGIN SELECT RAISE(ABORT, 'run events are append-only'); END;
ALTER TABLE sightings ADD COLUMN flight_id TEXT;
CREATE INDEX sightings_flight ON sightings (flight_id) WHERE flight_id IS NOT NULL;
"#,
];

/// The SQLite store.
#[derive(Debug)]
pub struct Sqlite {
    db: Connection,
}

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<(Ticket, String)> {
    let state: String = r.get(3)?;
    Ok((
        Ticket {
            ticket_id: r.get(0)?,
            category: r.get(1)?,
            class: r.get(2)?,
            state: State::New,
            lat: r.get(4)?,
            lon: r.get(5)?,
            uncertainty_m: r.get(6)?,
            unit: r.get(7)?,
            grid_cell: r.get(8)?,
            sightings: r.get(9)?,
            best_score: r.get(10)?,
            min_score: r.get(11)?,
            review: r.get(12)?,
            opened_at: r.get(13)?,
            state_since: r.get(14)?,
            due_at: r.get(15)?,
            first_observed_at: r.get(16)?,
            recurs: r.get(17)?,
            breached: r.get(18)?,
            version: r.get(19)?,
        },
        state,
    ))
}

fn with_state((mut t, state): (Ticket, String)) -> Result<Ticket, StoreError> {
    t.state = State::parse(&state).ok_or_else(|| StoreError::Corrupt {
        table: "tickets",
        what: format!("unknown state {state:?} of {}", t.ticket_id),
    })?;
    Ok(t)
}

/// Writes a ticket: inserted when new (version 0), else replaced if its version is still the
/// one it was read at; it is stored at the next version.
fn write_ticket(tx: &rusqlite::Transaction<'_>, t: &Ticket) -> Result<(), StoreError> {
    let cell = cell_key(argus_core::geodesy::GeoPoint {
        lat: t.lat,
        lon: t.lon,
    });
    let values = params![
        t.ticket_id,
        t.category,
        t.class,
        t.state.as_str(),
        t.lat,
        t.lon,
        t.uncertainty_m,
        t.unit,
        t.grid_cell,
        t.sightings,
        t.best_score,
        t.min_score,
        t.review,
        t.opened_at,
        t.state_since,
        t.due_at,
        t.first_observed_at,
        t.recurs,
        t.breached,
        t.version + 1,
        cell,
    ];
    let written = if t.version == 0 {
        tx.prepare_cached(concat!(
            "INSERT INTO tickets (",
            ticket_columns!(),
            ", cell) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
             ?16, ?17, ?18, ?19, ?20, ?21)"
        ))?
        .execute(values)?
    } else {
        tx.prepare_cached(
            "UPDATE tickets SET category = ?2, class = ?3, state = ?4, lat = ?5, lon = ?6, \
             uncertainty_m = ?7, unit = ?8, grid_cell = ?9, sightings = ?10, best_score = ?11, \
             min_score = ?12, review = ?13, opened_at = ?14, state_since = ?15, due_at = ?16, \
             first_observed_at = ?17, recurs = ?18, breached = ?19, version = ?20, cell = ?21 \
             WHERE ticket_id = ?1 AND version = ?20 - 1",
        )?
        .execute(values)?
    };
    if written != 1 {
        return Err(StoreError::Conflict(t.ticket_id.clone()));
    }
    Ok(())
}

/// Writes a batch's effects and dead letters; a ticket touched more than once is written once,
/// as the batch leaves it.
fn write_batch(
    tx: &rusqlite::Transaction<'_>,
    effects: &[Effect],
    dead: &[NewDeadLetter],
) -> Result<(), StoreError> {
    let mut put_dead = tx.prepare_cached(
        "INSERT INTO dead_letters (at, topic, reason, payload, size) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for d in dead {
        put_dead.execute(params![d.at, d.topic, d.reason, d.payload, d.size as i64])?;
    }
    let mut last = HashMap::new();
    for (k, e) in effects.iter().enumerate() {
        last.insert(e.ticket.ticket_id.as_str(), k);
    }
    let mut put_sighting = tx.prepare_cached(
        "INSERT INTO sightings (hit_id, ticket_id, agent_id, class, score, observed_at, \
         received_at, lat, lon, uncertainty_m, evidence_sha256, update_of, payload, flight_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    let mut put_evidence =
        tx.prepare_cached("INSERT OR IGNORE INTO evidence (sha256, jpeg) VALUES (?1, ?2)")?;
    for (k, e) in effects.iter().enumerate() {
        if last.get(e.ticket.ticket_id.as_str()) == Some(&k) {
            write_ticket(tx, &e.ticket)?;
        }
    }
    for e in effects {
        let s = &e.sighting;
        put_sighting.execute(params![
            s.hit_id,
            s.ticket_id,
            s.agent_id,
            s.class,
            s.score,
            s.observed_at,
            s.received_at,
            s.lat,
            s.lon,
            s.uncertainty_m,
            s.evidence_sha256,
            s.update_of,
            s.payload,
            s.flight_id,
        ])?;
        for ev in &e.events {
            write_event(tx, ev)?;
        }
        if let Some(jpeg) = &e.evidence {
            put_evidence.execute(params![s.evidence_sha256, jpeg])?;
        }
    }
    Ok(())
}

/// The database as one write transaction sees it.
struct View<'a, 'b>(&'a rusqlite::Transaction<'b>);

impl BatchView for View<'_, '_> {
    fn known_hits(&mut self, hit_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut q = self
            .0
            .prepare_cached("SELECT 1 FROM sightings WHERE hit_id = ?1")?;
        let mut known = HashSet::new();
        for &id in hit_ids {
            if q.exists([id])? {
                known.insert(id.to_string());
            }
        }
        Ok(known)
    }

    fn first_hit(&mut self, hit_id: &str) -> Result<Option<FirstHit>, StoreError> {
        first_hit(self.0, hit_id)
    }

    fn placed_in(&mut self, cells: &[i64], closed_since: f64) -> Result<Vec<Placed>, StoreError> {
        let mut q = self.0.prepare_cached(concat!(
            "SELECT ",
            ticket_columns!(),
            " FROM tickets WHERE cell IN (SELECT value FROM json_each(?1)) \
             AND state NOT IN ('rejected', 'duplicate') \
             AND (state NOT IN ('verified', 'closed') OR state_since >= ?2)"
        ))?;
        let cells = serde_json::to_string(cells).map_err(|e| StoreError::Corrupt {
            table: "tickets",
            what: e.to_string(),
        })?;
        let rows = q.query_map(params![cells, closed_since], ticket_row)?;
        rows.map(|r| Ok(with_state(r?)?.placed())).collect()
    }

    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        ticket(self.0, ticket_id)
    }
}

fn first_hit(db: &Connection, hit_id: &str) -> Result<Option<FirstHit>, StoreError> {
    Ok(db
        .prepare_cached(
            "SELECT ticket_id, agent_id, lat, lon, uncertainty_m FROM sightings WHERE hit_id = ?1",
        )?
        .query_row([hit_id], |r| {
            Ok(FirstHit {
                ticket_id: r.get(0)?,
                agent_id: r.get(1)?,
                at: argus_core::geodesy::GeoPoint {
                    lat: r.get(2)?,
                    lon: r.get(3)?,
                },
                uncertainty_m: r.get(4)?,
            })
        })
        .optional()?)
}

fn ticket(db: &Connection, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
    db.prepare_cached(concat!(
        "SELECT ",
        ticket_columns!(),
        " FROM tickets WHERE ticket_id = ?1"
    ))?
    .query_row([ticket_id], ticket_row)
    .optional()?
    .map(with_state)
    .transpose()
}

fn write_event(tx: &rusqlite::Transaction<'_>, ev: &AuditEvent) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO audit (ticket_id, at, actor, event, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        ev.ticket_id,
        ev.at,
        ev.actor,
        ev.event,
        ev.detail.to_string()
    ])?;
    Ok(())
}

impl Sqlite {
    /// Opens (creating and migrating) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    /// An in-memory database (tests).
    pub fn memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(db: Connection) -> Result<Self, StoreError> {
        // WAL: readers do not block the writer; NORMAL sync keeps every committed transaction
        // across a crash of the process (only a power cut may lose the last ones).
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoint the WAL every ~16 MB rather than 4 MB: a busy ticket page is copied back
        // once per checkpoint, not once per 4 MB of hits.
        db.pragma_update(None, "wal_autocheckpoint", 4000)?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut s = Self { db };
        s.migrate()?;
        Ok(s)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                found: version,
                supported,
            });
        }
        for (k, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.db.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (k + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = k + 1, "store migrated");
        }
        self.fill_cells()
    }

    /// Gives tickets stored before cells existed their cell.
    fn fill_cells(&mut self) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        let todo: Vec<(String, f64, f64)> = tx
            .prepare("SELECT ticket_id, lat, lon FROM tickets WHERE cell IS NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (id, lat, lon) in &todo {
            let cell = cell_key(argus_core::geodesy::GeoPoint {
                lat: *lat,
                lon: *lon,
            });
            tx.execute(
                "UPDATE tickets SET cell = ?1 WHERE ticket_id = ?2",
                params![cell, id],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for Sqlite {
    fn apply(&mut self, effects: &[Effect], dead: &[NewDeadLetter]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        write_batch(&tx, effects, dead)?;
        tx.commit()?;
        Ok(())
    }

    fn in_batch(
        &mut self,
        _areas: &[i64],
        place: &mut dyn FnMut(&mut dyn BatchView) -> Result<Decided, StoreError>,
    ) -> Result<(), StoreError> {
        // SQLite has one writer at a time: taking the write lock first serialises every
        // placement, across processes too.
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (effects, dead) = place(&mut View(&tx))?;
        write_batch(&tx, &effects, &dead)?;
        tx.commit()?;
        Ok(())
    }

    fn put_ticket(&mut self, t: &Ticket, events: &[AuditEvent]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        write_ticket(&tx, t)?;
        for ev in events {
            write_event(&tx, ev)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn add_audit(&mut self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        for ev in events {
            write_event(&tx, ev)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn claim_overdue(
        &mut self,
        now: f64,
        limit: usize,
        event: &dyn Fn(&Ticket) -> AuditEvent,
    ) -> Result<Vec<Ticket>, StoreError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut late: Vec<Ticket> = tx
            .prepare_cached(concat!(
                "SELECT ",
                ticket_columns!(),
                " FROM tickets WHERE due_at < ?1 AND breached = 0 LIMIT ?2"
            ))?
            .query_map(params![now, limit as i64], ticket_row)?
            .map(|r| with_state(r?))
            .collect::<Result<_, _>>()?;
        for t in &mut late {
            t.breached = true;
            write_ticket(&tx, t)?;
            write_event(&tx, &event(t))?;
            t.version += 1;
        }
        tx.commit()?;
        Ok(late)
    }

    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut q = self.db.prepare(
            "SELECT id, at, topic, reason, payload, size FROM dead_letters ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = q.query_map([limit as i64], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                at: r.get(1)?,
                topic: r.get(2)?,
                reason: r.get(3)?,
                payload: r.get(4)?,
                size: r.get::<_, i64>(5)? as usize,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        ticket(&self.db, ticket_id)
    }

    fn tickets(&mut self, f: &TicketFilter, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let (sql, params) = super::list_query(f, limit, |n| format!("?{n}"));
        let mut q = self.db.prepare_cached(&sql)?;
        let values: Vec<rusqlite::types::Value> = params
            .into_iter()
            .map(|p| match p {
                super::Param::Text(s) => s.into(),
                super::Param::Real(v) => v.into(),
                super::Param::Bool(b) => i64::from(b).into(),
                super::Param::Int(i) => i.into(),
            })
            .collect();
        let rows = q.query_map(rusqlite::params_from_iter(values), ticket_row)?;
        rows.map(|r| with_state(r?)).collect()
    }

    fn sightings(&mut self, ticket_id: &str) -> Result<Vec<Sighting>, StoreError> {
        let mut q = self.db.prepare(
            "SELECT hit_id, ticket_id, agent_id, class, score, observed_at, received_at, lat, lon, \
             uncertainty_m, evidence_sha256, update_of, payload, flight_id FROM sightings \
             WHERE ticket_id = ?1 ORDER BY observed_at, hit_id",
        )?;
        let rows = q.query_map([ticket_id], |r| {
            Ok(Sighting {
                hit_id: r.get(0)?,
                ticket_id: r.get(1)?,
                agent_id: r.get(2)?,
                class: r.get(3)?,
                score: r.get(4)?,
                observed_at: r.get(5)?,
                received_at: r.get(6)?,
                lat: r.get(7)?,
                lon: r.get(8)?,
                uncertainty_m: r.get(9)?,
                evidence_sha256: r.get(10)?,
                update_of: r.get(11)?,
                payload: r.get(12)?,
                flight_id: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit(&mut self, ticket_id: &str) -> Result<Vec<AuditEvent>, StoreError> {
        let mut q = self.db.prepare(
            "SELECT seq, ticket_id, at, actor, event, detail FROM audit WHERE ticket_id = ?1 ORDER BY seq",
        )?;
        let rows = q.query_map([ticket_id], |r| {
            let detail: String = r.get(5)?;
            Ok(AuditEvent {
                seq: r.get(0)?,
                ticket_id: r.get(1)?,
                at: r.get(2)?,
                actor: r.get(3)?,
                event: r.get(4)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn evidence(&mut self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .query_row(
                "SELECT jpeg FROM evidence WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn counts(&mut self) -> Result<(u64, u64, u64), StoreError> {
        let n = |table: &str| -> Result<u64, StoreError> {
            Ok(self
                .db
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })? as u64)
        };
        Ok((n("tickets")?, n("sightings")?, n("dead_letters")?))
    }

    fn claim_run(&mut self, run: &Run, event: &RunEvent) -> Result<bool, StoreError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            &format!(
                "INSERT INTO patrol_runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
                 ?9, ?10, ?11) ON CONFLICT (plan_id, scheduled_at) DO NOTHING"
            ),
            params![
                run.run_id,
                run.plan_id,
                run.plan_sha256,
                run.dock_id,
                run.kind.as_str(),
                run.scheduled_at,
                run.state.as_str(),
                run.reason,
                run.kmz_md5,
                run.ticket_id,
                run.updated_at,
            ],
        )?;
        if n == 1 {
            write_run_event(&tx, event)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn move_run(
        &mut self,
        run_id: &str,
        from: RunState,
        to: RunState,
        reason: Option<&str>,
        event: &RunEvent,
    ) -> Result<bool, StoreError> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE patrol_runs SET state = ?1, reason = COALESCE(?2, reason), updated_at = ?3 \
             WHERE run_id = ?4 AND state = ?5",
            params![to.as_str(), reason, event.at, run_id, from.as_str()],
        )?;
        if n == 1 {
            write_run_event(&tx, event)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn add_run_event(&mut self, event: &RunEvent) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        write_run_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn run(&mut self, run_id: &str) -> Result<Option<Run>, StoreError> {
        self.db
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM patrol_runs WHERE run_id = ?1"
            ))?
            .query_row([run_id], run_row)
            .optional()?
            .map(with_run_names)
            .transpose()
    }

    fn runs(&mut self, f: &RunFilter, limit: usize) -> Result<Vec<Run>, StoreError> {
        let (sql, texts, limit) = crate::runs::list_query(f, limit, |n| format!("?{n}"));
        let mut values: Vec<rusqlite::types::Value> = texts.into_iter().map(Into::into).collect();
        values.push(limit.into());
        let mut q = self.db.prepare_cached(&sql)?;
        let rows = q.query_map(rusqlite::params_from_iter(values), run_row)?;
        rows.map(|r| with_run_names(r?)).collect()
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<RunEvent>, StoreError> {
        let mut q = self.db.prepare_cached(
            "SELECT seq, run_id, at, event, detail FROM run_events WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = q.query_map([run_id], |r| {
            let detail: String = r.get(4)?;
            Ok(RunEvent {
                seq: r.get(0)?,
                run_id: r.get(1)?,
                at: r.get(2)?,
                event: r.get(3)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn flight_tickets(&mut self, flight_id: &str) -> Result<Vec<String>, StoreError> {
        let mut q = self.db.prepare_cached(
            "SELECT ticket_id FROM sightings WHERE flight_id = ?1 GROUP BY ticket_id \
             ORDER BY MIN(observed_at), ticket_id",
        )?;
        let rows = q.query_map([flight_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn patrol_counts(&mut self) -> Result<super::PatrolCounts, StoreError> {
        let dock_dead_letters = self.db.query_row(
            &format!(
                "SELECT COUNT(*) FROM dead_letters WHERE {}",
                crate::runs::dock_topic_sql()
            ),
            [],
            |r| r.get::<_, i64>(0),
        )? as u64;
        let mut q = self
            .db
            .prepare_cached("SELECT state, COUNT(*) FROM patrol_runs GROUP BY state")?;
        let rows = q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut runs = Vec::new();
        for row in rows {
            let (state, n) = row?;
            runs.push((super::run_state_named(&state)?, n as u64));
        }
        Ok(super::PatrolCounts {
            runs,
            dock_dead_letters,
        })
    }
}

fn write_run_event(tx: &rusqlite::Transaction<'_>, ev: &RunEvent) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO run_events (run_id, at, event, detail) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ev.run_id, ev.at, ev.event, ev.detail.to_string()])?;
    Ok(())
}

/// A run as stored, its kind and state still names.
type RunRow = (Run, String, String);

fn run_row(r: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok((
        Run {
            run_id: r.get(0)?,
            plan_id: r.get(1)?,
            plan_sha256: r.get(2)?,
            dock_id: r.get(3)?,
            kind: RunKind::Scheduled,
            scheduled_at: r.get(5)?,
            state: RunState::Scheduled,
            reason: r.get(7)?,
            kmz_md5: r.get(8)?,
            ticket_id: r.get(9)?,
            updated_at: r.get(10)?,
        },
        r.get(4)?,
        r.get(6)?,
    ))
}

fn with_run_names((run, kind, state): RunRow) -> Result<Run, StoreError> {
    super::with_run_names(run, &kind, &state)
}
