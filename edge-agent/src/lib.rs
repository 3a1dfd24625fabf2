//! The Argus edge agent as a library: sources (files, RTSP cameras, live dock drones and their
//! OSD) fed to the pure analysis of `argus-analysis` with `argus-infer`'s ONNX detector, the
//! durable outbox and MQTT publisher, health and metrics, and the analysts' evaluation tools.
//! The `edge-agent` binary is a thin command line over it.
//!
//! ```no_run
//! use argus_edge_agent::config::Config;
//!
//! // What `edge-agent run --config agent.toml` does: every `[[source]]` analysed, its hits
//! // kept in the outbox until triage's receipt says they are stored.
//! let cfg = Config::load("agent.toml".as_ref())?;
//! argus_edge_agent::agent::run(cfg)?;
//! # Ok::<(), anyhow::Error>(())
//! ```

pub mod agent;
pub mod coco;
pub mod config;
pub mod health;
pub mod osd;
pub mod outbox;
pub mod plot;
pub mod publish;
pub mod replay;
pub mod state;

/// A bar of `len` steps labelled `what`; drawn only when `show` and stderr is a terminal.
pub fn progress_bar(len: u64, what: &str, show: bool) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:40.cyan/blue} {pos}/{len} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("a valid template"),
    );
    bar.set_message(what.to_string());
    bar
}
