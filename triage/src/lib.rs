//! Argus triage: the central service that turns hits from the edge agents into one ticket per
//! real violation — deduplicated, routed to the unit that owns the street, with its evidence and
//! its SLA clock.
//!
//! - [`api`]: the HTTP API and Open311, behind [`auth`]'s bearer tokens.
//! - [`engine`]: the decisions (which ticket a hit joins, dispatch or review, routing, SLA);
//!   [`ticket`]: the ticket and every change to it, each with its typed audit event (pure).
//! - [`store`]: durable state (SQLite by default) — hits by id, tickets, an append-only audit
//!   log, evidence by content hash, dead letters.
//! - [`ingest`]: one hit message in, exactly one effect out; [`mqtt`]: hits from the broker,
//!   acknowledged only once stored.
//!
//! ```no_run
//! use argus_triage::config::Config;
//! use argus_triage::service::Service;
//!
//! // What `triage serve --config triage.toml` does: the store, the broker (embedded unless
//! // `[mqtt] url` names one), the ingest, the SLA sweeper and the HTTP API.
//! let service = Service::start(Config::load("triage.toml".as_ref())?)?;
//! println!("tickets at http://{}/api/v1/tickets", service.http_addr());
//! service.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod acl;
pub mod api;
pub mod auth;
pub mod broker;
pub mod broker_config;
pub mod check;
pub mod config;
pub mod dashboard;
pub mod dispatch;
pub mod docklink;
pub mod engine;
pub mod ingest;
pub mod limits;
pub mod mqtt;
pub mod patrols;
pub mod runs;
pub mod service;
pub mod store;
#[cfg(feature = "testsuite")]
pub mod testing;
pub mod ticket;
pub mod verify;
