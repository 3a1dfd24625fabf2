//! The PostgreSQL store: the same tables as SQLite's, one transaction per batch of hits, and a
//! statement per table per batch (rows as arrays through `UNNEST`): a round trip costs more than
//! a row.

use ::postgres::{Client, NoTls, Row};

use std::collections::HashSet;

use super::{
    AuditEvent, BatchView, DeadLetter, Decided, Effect, FirstHit, NewDeadLetter, Run, RunEvent,
    RunFilter, RunKind, RunState, Sighting, Store, StoreError, Ticket, TicketFilter,
};
use crate::engine::{Placed, State, cell_key};
use crate::runs::RUN_COLUMNS;

/// Migrations, in order; `argus_schema.version` counts those applied.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tickets (
    ticket_id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    class TEXT NOT NULL,
    state TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    uncertainty_m DOUBLE PRECISION NOT NULL,
    unit TEXT,
    grid_cell TEXT,
    sightings BIGINT NOT NULL,
    best_score REAL NOT NULL,
    min_score REAL NOT NULL,
    review BOOLEAN NOT NULL,
    opened_at DOUBLE PRECISION NOT NULL,
    state_since DOUBLE PRECISION NOT NULL,
    due_at DOUBLE PRECISION,
    first_observed_at DOUBLE PRECISION NOT NULL,
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
    observed_at DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    uncertainty_m DOUBLE PRECISION NOT NULL,
    evidence_sha256 TEXT NOT NULL,
    update_of TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX sightings_ticket ON sightings (ticket_id);
CREATE TABLE audit (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_ticket ON audit (ticket_id);
CREATE FUNCTION audit_is_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER audit_is_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TABLE evidence (
    sha256 TEXT PRIMARY KEY,
    jpeg BYTEA NOT NULL
);
CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload BYTEA NOT NULL,
    size BIGINT NOT NULL
);
"#,
    "ALTER TABLE tickets ADD COLUMN breached BOOLEAN NOT NULL DEFAULT FALSE;",
    // The SLA sweep asks every second for deadlines passed and not yet reported.
    "CREATE INDEX tickets_due ON tickets (due_at) WHERE NOT breached;",
    // Lists are newest first, often of one unit or state.
    "CREATE INDEX tickets_opened ON tickets (opened_at); \
     CREATE INDEX tickets_unit_state ON tickets (unit, state, opened_at);",
    // Placement reads a hit's neighbourhood by cell (the same key as engine::cell_key); writes
    // name the version they read.
    "ALTER TABLE tickets ADD COLUMN version BIGINT NOT NULL DEFAULT 1; \
     ALTER TABLE tickets ADD COLUMN cell BIGINT; \
     UPDATE tickets SET cell = floor(lat / 0.0005)::BIGINT * 1000000 + floor(lon / 0.0005)::BIGINT; \
     CREATE INDEX tickets_cell ON tickets (cell);",
    // Operators list the open tickets of their unit, newest first, in pages (see SQLite's).
    "CREATE INDEX tickets_open_unit ON tickets (unit, opened_at, ticket_id) \
     WHERE state IN ('new', 'dispatched', 'in_progress', 'resolved'); \
     CREATE INDEX tickets_open ON tickets (opened_at, ticket_id) \
     WHERE state IN ('new', 'dispatched', 'in_progress', 'resolved');",
    // Patrol runs (see SQLite's).
    r#"
CREATE TABLE patrol_runs (
    run_id TEXT PRIMARY KEY,
    plan_id TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    dock_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    scheduled_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    kmz_md5 TEXT,
    ticket_id TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (plan_id, scheduled_at)
);
CREATE INDEX patrol_runs_dock ON patrol_runs (dock_id, scheduled_at);
CREATE INDEX patrol_runs_state ON patrol_runs (state);
CREATE TABLE run_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES patrol_runs (run_id),
    at DOUBLE PRECISION NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events (run_id);
CREATE FUNCTION run_events_are_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'run events are append-only'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER run_events_are_append_only BEFORE UPDATE OR DELETE ON run_events
    FOR EACH ROW EXECUTE FUNCTION run_events_are_append_only();
ALTER TABLE sightings ADD COLUMN flight_id TEXT;
CREATE INDEX sightings_flight ON sightings (flight_id) WHERE flight_id IS NOT NULL;
"#,
];

const TICKET_COLUMNS: &str = ticket_columns!();

/// The PostgreSQL store. A connection lost (a server restart, a network fault) is made again
/// on the next call, so triage outlives its database's restarts.
pub struct Postgres {
    url: String,
    client: Option<Client>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("url", &argus_core::redact::url(&self.url))
            .finish_non_exhaustive()
    }
}

fn ticket(r: &Row) -> Result<Ticket, StoreError> {
    let state: String = r.get(3);
    let ticket_id: String = r.get(0);
    Ok(Ticket {
        state: State::parse(&state).ok_or_else(|| StoreError::Corrupt {
            table: "tickets",
            what: format!("unknown state {state:?} of {ticket_id}"),
        })?,
        ticket_id,
        category: r.get(1),
        class: r.get(2),
        lat: r.get(4),
        lon: r.get(5),
        uncertainty_m: r.get(6),
        unit: r.get(7),
        grid_cell: r.get(8),
        sightings: r.get::<_, i64>(9) as u32,
        best_score: r.get(10),
        min_score: r.get(11),
        review: r.get(12),
        opened_at: r.get(13),
        state_since: r.get(14),
        due_at: r.get(15),
        first_observed_at: r.get(16),
        recurs: r.get(17),
        breached: r.get(18),
        version: r.get(19),
    })
}

/// One field of every row, as the array a `UNNEST` parameter takes.
fn column<'a, R, T>(rows: &[&'a R], field: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(|&r| field(r)).collect()
}

/// Writes tickets (each at most once): the new ones (version 0) inserted in one statement, the
/// stored ones replaced in another only where their version is still the one they were read at
/// ([`StoreError::Conflict`] otherwise); each is stored at the next version.
fn write_tickets(tx: &mut ::postgres::Transaction<'_>, all: &[&Ticket]) -> Result<(), StoreError> {
    let (new, old): (Vec<&Ticket>, Vec<&Ticket>) = all.iter().partition(|t| t.version == 0);
    let cells = |t: &[&Ticket]| {
        column(t, |t| {
            cell_key(argus_core::geodesy::GeoPoint {
                lat: t.lat,
                lon: t.lon,
            })
        })
    };
    let arrays = "$1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::FLOAT8[], $6::FLOAT8[], \
                  $7::FLOAT8[], $8::TEXT[], $9::TEXT[], $10::INT8[], $11::REAL[], $12::REAL[], \
                  $13::BOOL[], $14::FLOAT8[], $15::FLOAT8[], $16::FLOAT8[], $17::FLOAT8[], \
                  $18::TEXT[], $19::BOOL[], $20::INT8[], $21::INT8[]";
    for (t, sql) in [
        (
            &new,
            format!("INSERT INTO tickets ({TICKET_COLUMNS}, cell) SELECT * FROM UNNEST({arrays})"),
        ),
        (
            &old,
            format!(
                "UPDATE tickets AS t SET category = u.category, class = u.class, state = u.state, \
                 lat = u.lat, lon = u.lon, uncertainty_m = u.uncertainty_m, unit = u.unit, \
                 grid_cell = u.grid_cell, sightings = u.sightings, best_score = u.best_score, \
                 min_score = u.min_score, review = u.review, opened_at = u.opened_at, \
                 state_since = u.state_since, due_at = u.due_at, \
                 first_observed_at = u.first_observed_at, recurs = u.recurs, \
                 breached = u.breached, version = u.version, cell = u.cell \
                 FROM UNNEST({arrays}) AS u({TICKET_COLUMNS}, cell) \
                 WHERE t.ticket_id = u.ticket_id AND t.version = u.version - 1"
            ),
        ),
    ] {
        if t.is_empty() {
            continue;
        }
        let written = tx.execute(
            &sql,
            &[
                &column(t, |t| &t.ticket_id),
                &column(t, |t| &t.category),
                &column(t, |t| &t.class),
                &column(t, |t| t.state.as_str()),
                &column(t, |t| t.lat),
                &column(t, |t| t.lon),
                &column(t, |t| t.uncertainty_m),
                &column(t, |t| t.unit.as_deref()),
                &column(t, |t| t.grid_cell.as_deref()),
                &column(t, |t| i64::from(t.sightings)),
                &column(t, |t| t.best_score),
                &column(t, |t| t.min_score),
                &column(t, |t| t.review),
                &column(t, |t| t.opened_at),
                &column(t, |t| t.state_since),
                &column(t, |t| t.due_at),
                &column(t, |t| t.first_observed_at),
                &column(t, |t| t.recurs.as_deref()),
                &column(t, |t| t.breached),
                &column(t, |t| t.version + 1),
                &cells(t),
            ],
        )?;
        if written as usize != t.len() {
            let first = t.first().map_or(String::new(), |t| t.ticket_id.clone());
            return Err(StoreError::Conflict(first));
        }
    }
    Ok(())
}

/// Appends audit events in one statement, in their order.
fn write_events(
    tx: &mut ::postgres::Transaction<'_>,
    ev: &[&AuditEvent],
) -> Result<(), StoreError> {
    if ev.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO audit (ticket_id, at, actor, event, detail) \
         SELECT ticket_id, at, actor, event, detail FROM UNNEST($1::TEXT[], $2::FLOAT8[], \
         $3::TEXT[], $4::TEXT[], $5::TEXT[]) WITH ORDINALITY AS e(ticket_id, at, actor, event, \
         detail, n) ORDER BY n",
        &[
            &column(ev, |e| &e.ticket_id),
            &column(ev, |e| e.at),
            &column(ev, |e| &e.actor),
            &column(ev, |e| &e.event),
            &column(ev, |e| e.detail.to_string()),
        ],
    )?;
    Ok(())
}

/// Writes a batch's effects and dead letters, a statement per table (a round trip each, not one
/// per row); a ticket touched more than once is written once, as the batch leaves it.
fn write_batch(
    tx: &mut ::postgres::Transaction<'_>,
    effects: &[Effect],
    dead: &[NewDeadLetter],
) -> Result<(), StoreError> {
    // One statement per table for the whole batch (a round trip each, not one per row).
    if !dead.is_empty() {
        let d: Vec<&NewDeadLetter> = dead.iter().collect();
        tx.execute(
            "INSERT INTO dead_letters (at, topic, reason, payload, size) SELECT * FROM \
             UNNEST($1::FLOAT8[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::INT8[])",
            &[
                &column(&d, |d| d.at),
                &column(&d, |d| &d.topic),
                &column(&d, |d| &d.reason),
                &column(&d, |d| d.payload.as_slice()),
                &column(&d, |d| d.size as i64),
            ],
        )?;
    }
    if effects.is_empty() {
        return Ok(());
    }
    // A ticket touched twice in the batch is written as the batch leaves it.
    let mut last = std::collections::HashMap::new();
    for (k, e) in effects.iter().enumerate() {
        last.insert(e.ticket.ticket_id.as_str(), k);
    }
    let tickets: Vec<&Ticket> = effects
        .iter()
        .enumerate()
        .filter(|(k, e)| last[e.ticket.ticket_id.as_str()] == *k)
        .map(|(_, e)| &e.ticket)
        .collect();
    write_tickets(tx, &tickets)?;
    let sightings: Vec<&Sighting> = effects.iter().map(|e| &e.sighting).collect();
    tx.execute(
        "INSERT INTO sightings (hit_id, ticket_id, agent_id, class, score, observed_at, \
         received_at, lat, lon, uncertainty_m, evidence_sha256, update_of, payload, flight_id) \
         SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::REAL[], \
         $6::FLOAT8[], $7::FLOAT8[], $8::FLOAT8[], $9::FLOAT8[], $10::FLOAT8[], $11::TEXT[], \
         $12::TEXT[], $13::TEXT[], $14::TEXT[])",
        &[
            &column(&sightings, |s| &s.hit_id),
            &column(&sightings, |s| &s.ticket_id),
            &column(&sightings, |s| &s.agent_id),
            &column(&sightings, |s| &s.class),
            &column(&sightings, |s| s.score),
            &column(&sightings, |s| s.observed_at),
            &column(&sightings, |s| s.received_at),
            &column(&sightings, |s| s.lat),
            &column(&sightings, |s| s.lon),
            &column(&sightings, |s| s.uncertainty_m),
            &column(&sightings, |s| &s.evidence_sha256),
            &column(&sightings, |s| s.update_of.as_deref()),
            &column(&sightings, |s| &s.payload),
            &column(&sightings, |s| s.flight_id.as_deref()),
        ],
    )?;
    let events: Vec<&AuditEvent> = effects.iter().flat_map(|e| &e.events).collect();
    write_events(tx, &events)?;
    let (hashes, jpegs): (Vec<&str>, Vec<&[u8]>) = effects
        .iter()
        .filter_map(|e| {
            let jpeg = e.evidence.as_deref()?;
            Some((e.sighting.evidence_sha256.as_str(), jpeg))
        })
        .unzip();
    if !hashes.is_empty() {
        tx.execute(
            "INSERT INTO evidence (sha256, jpeg) SELECT * FROM UNNEST($1::TEXT[], $2::BYTEA[]) \
             ON CONFLICT (sha256) DO NOTHING",
            &[&hashes, &jpegs],
        )?;
    }
    Ok(())
}

/// The database as one write transaction sees it.
struct View<'a, 'b>(&'a mut ::postgres::Transaction<'b>);

impl BatchView for View<'_, '_> {
    fn known_hits(&mut self, hit_ids: &[&str]) -> Result<HashSet<String>, StoreError> {
        known_hits(&mut *self.0, hit_ids)
    }

    fn first_hit(&mut self, hit_id: &str) -> Result<Option<FirstHit>, StoreError> {
        first_hit(&mut *self.0, hit_id)
    }

    fn placed_in(&mut self, cells: &[i64], closed_since: f64) -> Result<Vec<Placed>, StoreError> {
        self.0
            .query(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE cell = ANY($1) \
                     AND state NOT IN ('rejected', 'duplicate') \
                     AND (state NOT IN ('verified', 'closed') OR state_since >= $2)"
                ),
                &[&cells, &closed_since],
            )?
            .iter()
            .map(|r| Ok(ticket(r)?.placed()))
            .collect()
    }

    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        one_ticket(&mut *self.0, ticket_id)
    }
}

fn known_hits(
    db: &mut impl ::postgres::GenericClient,
    hit_ids: &[&str],
) -> Result<HashSet<String>, StoreError> {
    if hit_ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(db
        .query(
            "SELECT hit_id FROM sightings WHERE hit_id = ANY($1)",
            &[&hit_ids],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn first_hit(
    db: &mut impl ::postgres::GenericClient,
    hit_id: &str,
) -> Result<Option<FirstHit>, StoreError> {
    Ok(db
        .query_opt(
            "SELECT ticket_id, agent_id, lat, lon, uncertainty_m FROM sightings WHERE hit_id = $1",
            &[&hit_id],
        )?
        .map(|r| FirstHit {
            ticket_id: r.get(0),
            agent_id: r.get(1),
            at: argus_core::geodesy::GeoPoint {
                lat: r.get(2),
                lon: r.get(3),
            },
            uncertainty_m: r.get(4),
        }))
}

fn one_ticket(
    db: &mut impl ::postgres::GenericClient,
    ticket_id: &str,
) -> Result<Option<Ticket>, StoreError> {
    db.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE ticket_id = $1"),
        &[&ticket_id],
    )?
    .as_ref()
    .map(ticket)
    .transpose()
}

impl Postgres {
    /// Connects (`postgres://user[:password]@host:port/db`) and migrates.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut s = Self {
            url: url.to_string(),
            client: None,
        };
        s.migrate()?;
        Ok(s)
    }

    /// The connection, made (again) when there is none or the last one closed.
    fn db(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            let c = Client::connect(&self.url, NoTls)?;
            tracing::info!(db = %argus_core::redact::url(&self.url), "connected to PostgreSQL");
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("no connection".into()))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let db = self.db()?;
        // Instances starting together on an empty database: the first to take this lock
        // migrates, the others wait and then find the work done. Taken before any DDL.
        db.batch_execute("SELECT pg_advisory_lock(7261007421)")?;
        let done = Self::migrate_locked(db);
        let unlocked = db.batch_execute("SELECT pg_advisory_unlock(7261007421)");
        done?;
        unlocked?;
        Ok(())
    }

    fn migrate_locked(db: &mut Client) -> Result<(), StoreError> {
        db.batch_execute("CREATE TABLE IF NOT EXISTS argus_schema (version BIGINT NOT NULL)")?;
        let version: i64 = db
            .query_opt("SELECT version FROM argus_schema", &[])?
            .map_or(0, |r| r.get(0));
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew {
                found: version,
                supported,
            });
        }
        for (k, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let mut tx = db.transaction()?;
            tx.batch_execute(sql)?;
            tx.execute("DELETE FROM argus_schema", &[])?;
            tx.execute(
                "INSERT INTO argus_schema (version) VALUES ($1)",
                &[&((k + 1) as i64)],
            )?;
            tx.commit()?;
            tracing::info!(version = k + 1, "store migrated");
        }
        Ok(())
    }
}

impl Store for Postgres {
    fn apply(&mut self, effects: &[Effect], dead: &[NewDeadLetter]) -> Result<(), StoreError> {
        if effects.is_empty() && dead.is_empty() {
            return Ok(());
        }
        let mut tx = self.db()?.transaction()?;
        write_batch(&mut tx, effects, dead)?;
        tx.commit()?;
        Ok(())
    }

    fn in_batch(
        &mut self,
        areas: &[i64],
        place: &mut dyn FnMut(&mut dyn BatchView) -> Result<Decided, StoreError>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db()?.transaction()?;
        // The placement locks, in one order for every instance (no deadlock), released with
        // the transaction.
        let mut areas = areas.to_vec();
        areas.sort_unstable();
        areas.dedup();
        for a in &areas {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[a])?;
        }
        let (effects, dead) = place(&mut View(&mut tx))?;
        write_batch(&mut tx, &effects, &dead)?;
        tx.commit()?;
        Ok(())
    }

    fn claim_overdue(
        &mut self,
        now: f64,
        limit: usize,
        event: &dyn Fn(&Ticket) -> AuditEvent,
    ) -> Result<Vec<Ticket>, StoreError> {
        let mut tx = self.db()?.transaction()?;
        // Rows another instance is claiming are skipped, not waited for: each breach is
        // claimed once.
        let mut late = tx
            .query(
                &format!(
                    "SELECT {TICKET_COLUMNS} FROM tickets WHERE due_at < $1 AND NOT breached \
                     ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
                ),
                &[&now, &(limit as i64)],
            )?
            .iter()
            .map(ticket)
            .collect::<Result<Vec<_>, _>>()?;
        for t in &mut late {
            t.breached = true;
        }
        let refs: Vec<&Ticket> = late.iter().collect();
        write_tickets(&mut tx, &refs)?;
        let events: Vec<AuditEvent> = late.iter().map(event).collect();
        write_events(&mut tx, &events.iter().collect::<Vec<_>>())?;
        tx.commit()?;
        for t in &mut late {
            t.version += 1;
        }
        Ok(late)
    }

    fn put_ticket(&mut self, t: &Ticket, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.db()?.transaction()?;
        write_tickets(&mut tx, &[t])?;
        write_events(&mut tx, &events.iter().collect::<Vec<_>>())?;
        tx.commit()?;
        Ok(())
    }

    fn add_audit(&mut self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.db()?.transaction()?;
        write_events(&mut tx, &events.iter().collect::<Vec<_>>())?;
        tx.commit()?;
        Ok(())
    }

    fn dead_letters(&mut self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT id, at, topic, reason, payload, size FROM dead_letters ORDER BY id DESC LIMIT $1",
                &[&(limit as i64)],
            )?
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                at: r.get(1),
                topic: r.get(2),
                reason: r.get(3),
                payload: r.get(4),
                size: r.get::<_, i64>(5) as usize,
            })
            .collect())
    }

    fn ticket(&mut self, ticket_id: &str) -> Result<Option<Ticket>, StoreError> {
        one_ticket(self.db()?, ticket_id)
    }

    fn tickets(&mut self, f: &TicketFilter, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let (sql, params) = super::list_query(f, limit, |n| format!("${n}"));
        let values: Vec<Box<dyn ::postgres::types::ToSql + Sync>> = params
            .into_iter()
            .map(|p| -> Box<dyn ::postgres::types::ToSql + Sync> {
                match p {
                    super::Param::Text(s) => Box::new(s),
                    super::Param::Real(v) => Box::new(v),
                    super::Param::Bool(b) => Box::new(b),
                    super::Param::Int(i) => Box::new(i),
                }
            })
            .collect();
        let refs: Vec<&(dyn ::postgres::types::ToSql + Sync)> =
            values.iter().map(|v| v.as_ref()).collect();
        self.db()?.query(&sql, &refs)?.iter().map(ticket).collect()
    }

    fn sightings(&mut self, ticket_id: &str) -> Result<Vec<Sighting>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT hit_id, ticket_id, agent_id, class, score, observed_at, received_at, lat, \
                 lon, uncertainty_m, evidence_sha256, update_of, payload, flight_id FROM sightings \
                 WHERE ticket_id = $1 ORDER BY observed_at, hit_id",
                &[&ticket_id],
            )?
            .iter()
            .map(|r| Sighting {
                hit_id: r.get(0),
                ticket_id: r.get(1),
                agent_id: r.get(2),
                class: r.get(3),
                score: r.get(4),
                observed_at: r.get(5),
                received_at: r.get(6),
                lat: r.get(7),
                lon: r.get(8),
                uncertainty_m: r.get(9),
                evidence_sha256: r.get(10),
                update_of: r.get(11),
                payload: r.get(12),
                flight_id: r.get(13),
            })
            .collect())
    }

    fn audit(&mut self, ticket_id: &str) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT seq, ticket_id, at, actor, event, detail FROM audit WHERE ticket_id = $1 ORDER BY seq",
                &[&ticket_id],
            )?
            .iter()
            .map(|r| AuditEvent {
                seq: r.get(0),
                ticket_id: r.get(1),
                at: r.get(2),
                actor: r.get(3),
                event: r.get(4),
                detail: serde_json::from_str(r.get::<_, &str>(5))
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    fn evidence(&mut self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db()?
            .query_opt("SELECT jpeg FROM evidence WHERE sha256 = $1", &[&sha256])?
            .map(|r| r.get(0)))
    }

    fn counts(&mut self) -> Result<(u64, u64, u64), StoreError> {
        let r = self.db()?.query_one(
            "SELECT (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM sightings), \
             (SELECT COUNT(*) FROM dead_letters)",
            &[],
        )?;
        Ok((
            r.get::<_, i64>(0) as u64,
            r.get::<_, i64>(1) as u64,
            r.get::<_, i64>(2) as u64,
        ))
    }
    fn claim_run(&mut self, run: &Run, event: &RunEvent) -> Result<bool, StoreError> {
        let mut tx = self.db()?.transaction()?;
        // Of several instances claiming one instant, the unique key lets one insert.
        let n = tx.execute(
            &format!(
                "INSERT INTO patrol_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11) ON CONFLICT (plan_id, scheduled_at) DO NOTHING"
            ),
            &[
                &run.run_id,
                &run.plan_id,
                &run.plan_sha256,
                &run.dock_id,
                &run.kind.as_str(),
                &run.scheduled_at,
                &run.state.as_str(),
                &run.reason,
                &run.kmz_md5,
                &run.ticket_id,
                &run.updated_at,
            ],
        )?;
        if n == 1 {
            write_run_event(&mut tx, event)?;
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
        let mut tx = self.db()?.transaction()?;
        let n = tx.execute(
            "UPDATE patrol_runs SET state = $1, reason = COALESCE($2, reason), updated_at = $3 \
             WHERE run_id = $4 AND state = $5",
            &[&to.as_str(), &reason, &event.at, &run_id, &from.as_str()],
        )?;
        if n == 1 {
            write_run_event(&mut tx, event)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn add_run_event(&mut self, event: &RunEvent) -> Result<(), StoreError> {
        let mut tx = self.db()?.transaction()?;
        write_run_event(&mut tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn run(&mut self, run_id: &str) -> Result<Option<Run>, StoreError> {
        self.db()?
            .query_opt(
                &format!("SELECT {RUN_COLUMNS} FROM patrol_runs WHERE run_id = $1"),
                &[&run_id],
            )?
            .map(|r| run_row(&r))
            .transpose()
    }

    fn runs(&mut self, f: &RunFilter, limit: usize) -> Result<Vec<Run>, StoreError> {
        let (sql, texts, limit) = crate::runs::list_query(f, limit, |n| format!("${n}"));
        let mut params: Vec<&(dyn ::postgres::types::ToSql + Sync)> =
            texts.iter().map(|t| t as _).collect();
        params.push(&limit);
        self.db()?
            .query(&sql, &params)?
            .iter()
            .map(run_row)
            .collect()
    }

    fn run_events(&mut self, run_id: &str) -> Result<Vec<RunEvent>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT seq, run_id, at, event, detail FROM run_events WHERE run_id = $1 ORDER BY seq",
                &[&run_id],
            )?
            .iter()
            .map(|r| RunEvent {
                seq: r.get(0),
                run_id: r.get(1),
                at: r.get(2),
                event: r.get(3),
                detail: serde_json::from_str(r.get::<_, &str>(4))
                    .unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    fn flight_tickets(&mut self, flight_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT ticket_id FROM sightings WHERE flight_id = $1 GROUP BY ticket_id \
                 ORDER BY MIN(observed_at), ticket_id",
                &[&flight_id],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn patrol_counts(&mut self) -> Result<super::PatrolCounts, StoreError> {
        let db = self.db()?;
        let dock_dead_letters = db
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM dead_letters WHERE {}",
                    crate::runs::dock_topic_sql()
                ),
                &[],
            )?
            .get::<_, i64>(0) as u64;
        let mut runs = Vec::new();
        for r in db.query(
            "SELECT state, COUNT(*) FROM patrol_runs GROUP BY state",
            &[],
        )? {
            runs.push((super::run_state_named(r.get(0))?, r.get::<_, i64>(1) as u64));
        }
        Ok(super::PatrolCounts {
            runs,
            dock_dead_letters,
        })
    }
}

fn write_run_event(tx: &mut ::postgres::Transaction<'_>, ev: &RunEvent) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO run_events (run_id, at, event, detail) VALUES ($1, $2, $3, $4)",
        &[&ev.run_id, &ev.at, &ev.event, &ev.detail.to_string()],
    )?;
    Ok(())
}

fn run_row(r: &Row) -> Result<Run, StoreError> {
    let run = Run {
        run_id: r.get(0),
        plan_id: r.get(1),
        plan_sha256: r.get(2),
        dock_id: r.get(3),
        kind: RunKind::Scheduled,
        scheduled_at: r.get(5),
        state: RunState::Scheduled,
        reason: r.get(7),
        kmz_md5: r.get(8),
        ticket_id: r.get(9),
        updated_at: r.get(10),
    };
    super::with_run_names(run, r.get(4), r.get(6))
}
