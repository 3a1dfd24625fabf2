//! What every Argus command line does before and after its work (feature `cli`): logs to
//! stderr through `tracing` (`RUST_LOG`, else the command's default filter; colours only at a
//! terminal), and an error ends
//! the process with its whole chain of causes and a failure status.
//!
//! ```no_run
//! fn run() -> Result<(), std::io::Error> {
//!     std::fs::create_dir_all("out")
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     argus_core::cli::main("sim", "info", run)
//! }
//! ```

use std::process::ExitCode;

/// Sets up logging (`RUST_LOG`, else `default_filter`), runs `run`, and says `name: error: …`
/// with every cause (`{:#}`) when it fails.
pub fn main<E: std::fmt::Display>(
    name: &str,
    default_filter: &str,
    run: impl FnOnce() -> Result<(), E>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
