//! Argus triage: the central service that turns hits from the edge agents into one ticket per
//! real violation — deduplicated, routed to the unit that owns the street, with its evidence and
//! its SLA clock.
//!
//! - [`engine`]: the decisions (which ticket a hit joins, dispatch or review, routing, SLA).
//! - [`store`]: durable state (SQLite by default) — hits by id, tickets, an append-only audit
//!   log, evidence by content hash, dead letters.
//! - [`ingest`]: one MQTT message in, exactly one effect out.
#![deny(missing_docs)]

pub mod engine;
pub mod ingest;
pub mod store;
