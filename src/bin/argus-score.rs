//! `argus-score`: scores an agent's hits against the simulator's truth for the same recording —
//! the analyst's check after `edge-agent replay` with a retrained model or new tracker settings.
//!
//! ```text
//! edge-agent replay flights/$ID/flight.mp4 --telemetry flights/$ID/flight.SRT --map district/district.geojson \
//!     --model models/argus-det --out hits.jsonl
//! argus-score --truth flights/$ID/truth.jsonl --hits hits.jsonl
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use argus_truth::scoring::{self, ScoreRules};
use clap::Parser;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "argus-score",
    version,
    about = "Score hits (JSON Lines, argus.hit/1) against a simulated recording's truth.jsonl"
)]
struct Cli {
    /// The recording's truth (`truth.jsonl` beside the video `sim flight` or `sim camera` wrote).
    #[arg(long)]
    truth: PathBuf,
    /// The hits, one JSON object per line (`edge-agent replay --out`).
    #[arg(long)]
    hits: PathBuf,
    /// A violation counts when the recording shows it in at least this many frames…
    #[arg(long, default_value_t = ScoreRules::default().min_frames)]
    min_frames: u32,
    /// …with a box side of at least this many pixels in one of them.
    #[arg(long, default_value_t = ScoreRules::default().min_side_px)]
    min_side_px: f64,
    /// A hit matches the nearest object of its detector class within this distance, metres.
    #[arg(long, default_value_t = ScoreRules::default().radius_m)]
    radius_m: f64,
    /// Print the score as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let seen = scoring::seen_objects(&cli.truth)
        .with_context(|| format!("reading the truth {}", cli.truth.display()))?;
    let hits = scoring::read_hits(&cli.hits)
        .with_context(|| format!("reading the hits {}", cli.hits.display()))?;
    let rules = ScoreRules {
        min_frames: cli.min_frames,
        min_side_px: cli.min_side_px,
        radius_m: cli.radius_m,
    };
    let s = rules.score(&hits, &seen);
    let missed: Vec<&str> = s
        .violations
        .iter()
        .filter(|v| !s.found.contains(v))
        .map(String::as_str)
        .collect();
    let errors = s.errors_m();
    if cli.json {
        let out = json!({
            "hits": s.hits.len(),
            "violations": s.violations,
            "found": s.found,
            "missed": missed,
            "recall": s.recall(),
            "on_look_alikes": s.on_legal,
            "false_hits": s.false_hits,
            "median_error_m": scoring::median(&errors),
            "coverage": s.coverage(),
        });
        println!("{out}");
        return Ok(());
    }
    println!("hits:                {}", s.hits.len());
    println!(
        "recall:              {:.2}  ({} of {} violations shown; missed: {})",
        s.recall(),
        s.found.len(),
        s.violations.len(),
        if missed.is_empty() {
            "none".to_string()
        } else {
            missed.join(", ")
        }
    );
    println!(
        "on look-alikes:      {}  {}",
        s.on_legal.len(),
        s.on_legal.join(", ")
    );
    println!("false hits:          {}", s.false_hits);
    println!(
        "geolocation error:   median {:.2} m; {:.0} % within the stated 90 % radius",
        scoring::median(&errors),
        100.0 * s.coverage()
    );
    Ok(())
}
