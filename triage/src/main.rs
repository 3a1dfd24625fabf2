//! `triage`: the Argus central service.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use argus_triage::config::Config;
use argus_triage::service::Service;
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "triage", version, about = "Argus triage: hits in, tickets out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: take hits from the broker into tickets.
    Serve(Flags),
    /// Write the brokers' logins and topic rights (each user's password, dynamic-security users
    /// and roles, a Mosquitto config), in which every agent touches only its own topics and
    /// triage alone reads hits; Mosquitto and the embedded broker read the same files.
    BrokerConfig(BrokerFlags),
}

/// `triage broker-config`'s flags.
#[derive(Args, Debug)]
struct BrokerFlags {
    /// The folder to write into (created; existing passwords are kept).
    #[arg(long)]
    out: PathBuf,
    /// The edge agents' ids, comma-separated.
    #[arg(long, value_delimiter = ',')]
    agents: Vec<String>,
    /// The dock gateways' serial numbers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    docks: Vec<String>,
    /// Where Mosquitto listens.
    #[arg(long, default_value = "0.0.0.0:1883")]
    listen: String,
    /// Triage's username.
    #[arg(long, default_value = "triage")]
    triage_user: String,
    /// Mosquitto's persistence folder (default: OUT/data).
    #[arg(long)]
    persistence: Option<PathBuf>,
}

fn broker_config(f: BrokerFlags) -> Result<()> {
    std::fs::create_dir_all(&f.out)?;
    let out = f.out.canonicalize()?;
    let persistence_dir = f.persistence.unwrap_or_else(|| out.join("data"));
    std::fs::create_dir_all(&persistence_dir)?;
    let cfg = argus_triage::broker_config::BrokerConfig {
        listen: f.listen,
        triage_user: f.triage_user,
        agents: f.agents,
        docks: f.docks,
        persistence_dir,
    };
    let creds = cfg.write(&out)?;
    println!(
        "wrote {0}/mosquitto.conf and {0}/dynamic-security.json; each user's password is in {1}/USER.pass (hand it to that agent or dock as [mqtt] password_file)",
        out.display(),
        creds.display()
    );
    println!(
        "run: mosquitto -c {0}/mosquitto.conf\nor, on triage's embedded broker: [mqtt] credentials = \"{1}\" and acl = \"{0}/dynamic-security.json\"",
        out.display(),
        creds.display()
    );
    Ok(())
}

/// `triage serve`'s flags; each overrides its key in the config.
#[derive(Args, Debug)]
struct Flags {
    /// TOML config (flags override its keys).
    #[arg(long)]
    config: Option<PathBuf>,
    /// An external broker, `mqtt://host:port` or `mqtts://host:port`.
    #[arg(long, conflicts_with = "broker_listen")]
    mqtt: Option<String>,
    /// Run the embedded broker on this address (the default, on 127.0.0.1:1883, when no
    /// external broker is configured).
    #[arg(long)]
    broker_listen: Option<String>,
    /// Store, `sqlite:PATH` or `postgres://user@host:port/db`.
    #[arg(long)]
    db: Option<String>,
    /// District GeoJSON whose `jurisdiction` and `grid_cell` layers route tickets.
    #[arg(long)]
    district: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long)]
    http: Option<String>,
    /// Bearer tokens, one `role:token` a line (viewer, operator, admin).
    #[arg(long)]
    tokens: Option<PathBuf>,
}

fn serve(flags: Flags) -> Result<()> {
    let Flags {
        config,
        mqtt: mqtt_url,
        broker_listen,
        db,
        district,
        http,
        tokens,
    } = flags;
    let mut cfg = match &config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(u) = mqtt_url {
        cfg.mqtt.url = Some(u);
        cfg.mqtt.listen = None;
    }
    if let Some(l) = broker_listen {
        cfg.mqtt.listen = Some(l);
        cfg.mqtt.url = None;
    }
    if let Some(d) = db {
        cfg.db = d;
    }
    if let Some(d) = district {
        cfg.district = Some(d);
    }
    if let Some(h) = http {
        cfg.http = h;
    }
    if let Some(t) = tokens {
        cfg.tokens = Some(t);
    }
    let service = Service::start(cfg)?;
    let stopped = service.run_until(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let shut = service.shutdown();
    stopped?;
    shut?;
    Ok(())
}

fn main() -> ExitCode {
    argus_core::cli::main("triage", "info", || {
        let _ = rustls::crypto::ring::default_provider().install_default();
        match Cli::parse().command {
            Command::Serve(flags) => serve(flags),
            Command::BrokerConfig(flags) => broker_config(flags),
        }
    })
}
