//! Network glue of the Argus services (pure Rust, no native library), written once for the edge
//! agent and triage alike:
//! - [`http`]: an HTTP/1.1 listener for an axum router that a hostile or unlucky client cannot
//!   take down;
//! - [`mqtt`]: how a client reaches a broker — its URL, login and TLS checked before any
//!   thread starts, the client options built in one place, and the backoff between tries.
//!
//! ```
//! use argus_net::mqtt::{Connection, MqttError};
//! let c = Connection { url: "mqtts://broker:8883".into(), credentials: None, ca_pem: None };
//! assert!(matches!(c.check(), Err(MqttError::NoCa(_))));
//! let plain = Connection { url: "mqtt://127.0.0.1:1883".into(), ..c };
//! let options = plain.options("dock-1", std::time::Duration::from_secs(15)).unwrap();
//! assert_eq!(options.client_id(), "dock-1");
//! ```

pub mod http;
pub mod mqtt;

pub use http::{Listen, serve};
