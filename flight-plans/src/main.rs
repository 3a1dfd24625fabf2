//! `flightplan`: plan patrols and write, read, convert and check the files docks and ground
//! stations fly.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use argus_flightplan::camera::CameraSpec;
use argus_flightplan::dock::{Dock, Docks};
use argus_flightplan::formats::{read_file, write_file};
use argus_flightplan::mission::{Mission, Template};
use argus_flightplan::plan::{Angle, FlightSpec, GeometrySpec, Kind, Plan};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

/// Plans patrol flights and speaks the files docks and ground stations read: DJI WPML `.kmz`,
/// QGroundControl `.plan`, `QGC WPL 110` `.waypoints` and the simulator's route `.json`.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plan a PLAN.toml (argus.plan/1) and write its mission (by extension); a split plan
    /// writes one file per sortie (NAME-1.kmz, NAME-2.kmz, …).
    Plan {
        /// The plan.
        plan: PathBuf,
        /// The output file: .kmz, .plan, .waypoints or .json.
        #[arg(long)]
        out: PathBuf,
        /// The docks file (default: docks.toml beside the plan, or in its parent folder).
        #[arg(long)]
        docks: Option<PathBuf>,
    },
    /// Sweep an area from a GeoJSON polygon.
    Cover {
        /// A GeoJSON file holding the area.
        #[arg(long)]
        area: PathBuf,
        /// The feature's id (default: the first polygon).
        #[arg(long)]
        feature: Option<String>,
        #[command(flatten)]
        camera: CameraArgs,
        #[command(flatten)]
        flight: FlightArgs,
        /// The sweep's bearing, degrees from north (default: the fewest lines).
        #[arg(long)]
        angle: Option<f64>,
        /// Where the aircraft takes off: LAT,LON (default: the area's first corner).
        #[arg(long, value_parser = lat_lon)]
        dock: Option<[f64; 2]>,
        /// The output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fly a corridor along a line: LAT,LON;LAT,LON;… or a GeoJSON file with a LineString.
    Corridor {
        /// The centre line.
        #[arg(long)]
        line: String,
        /// The feature's id, when --line is a GeoJSON file.
        #[arg(long)]
        feature: Option<String>,
        /// The corridor's width, metres.
        #[arg(long, default_value_t = 60.0)]
        width: f64,
        #[command(flatten)]
        camera: CameraArgs,
        #[command(flatten)]
        flight: FlightArgs,
        /// Where the aircraft takes off: LAT,LON (default: the line's start).
        #[arg(long, value_parser = lat_lon)]
        dock: Option<[f64; 2]>,
        /// The output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Look at points from close by: descend, turn the gimbal, hover, climb.
    Inspect {
        /// A point to inspect, LAT,LON (repeat for more).
        #[arg(long = "at", value_parser = lat_lon, required = true)]
        at: Vec<[f64; 2]>,
        /// Height to descend to, metres above take-off.
        #[arg(long, default_value_t = 40.0)]
        height: f64,
        /// Seconds to hover at each.
        #[arg(long, default_value_t = 10.0)]
        hover: f64,
        /// Gimbal pitch while hovering, degrees.
        #[arg(long, default_value_t = -60.0, allow_hyphen_values = true)]
        pitch: f64,
        #[command(flatten)]
        flight: FlightArgs,
        /// Where the aircraft takes off: LAT,LON (default: the first point).
        #[arg(long, value_parser = lat_lon)]
        dock: Option<[f64; 2]>,
        /// The output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Convert a mission file to another format (by extension).
    Convert {
        /// The file read.
        input: PathBuf,
        /// The file written.
        output: PathBuf,
    },
    /// Check a plan or a mission file and print its waypoints, length, duration and coverage.
    Check {
        /// A PLAN.toml or a .kmz, .plan, .waypoints or .json.
        file: PathBuf,
        /// The docks file for a plan (default: beside it, or in its parent folder).
        #[arg(long)]
        docks: Option<PathBuf>,
    },
    /// The next runs of a plan's schedule, in its zone and in UTC.
    Next {
        /// The plan.
        plan: PathBuf,
        /// How many (at most 100,000).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
        /// The runs after this instant (RFC 3339; default: now).
        #[arg(long)]
        from: Option<DateTime<Utc>>,
        /// The docks file (default: beside the plan, or in its parent folder).
        #[arg(long)]
        docks: Option<PathBuf>,
    },
}

/// The camera: a preset, or sensor and lens, or a field of view.
#[derive(Debug, Args)]
struct CameraArgs {
    /// A preset of flight-plans/cameras.toml (e.g. sim-1080p).
    #[arg(long)]
    camera: Option<String>,
    /// Sensor size, millimetres: WxH.
    #[arg(long, value_parser = pair_f64)]
    sensor_mm: Option<[f64; 2]>,
    /// Focal length, millimetres.
    #[arg(long)]
    focal_mm: Option<f64>,
    /// Image size, pixels: WxH.
    #[arg(long, value_parser = pair_u32)]
    image_px: Option<[u32; 2]>,
    /// Horizontal field of view, degrees.
    #[arg(long)]
    hfov_deg: Option<f64>,
}

/// How to fly.
#[derive(Debug, Args)]
struct FlightArgs {
    /// Height above take-off, metres.
    #[arg(long, default_value_t = 100.0)]
    altitude: f64,
    /// Ground speed, m/s.
    #[arg(long, default_value_t = 12.0)]
    speed: f64,
    /// Side overlap of adjacent lines, 0–0.9.
    #[arg(long, default_value_t = 0.2)]
    side_overlap: f64,
    /// Run-on past the edge to turn, metres.
    #[arg(long, default_value_t = 20.0)]
    turnaround: f64,
}

fn lat_lon(s: &str) -> Result<[f64; 2], String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?} is not LAT,LON"))?;
    let (lat, lon) = (
        a.trim().parse::<f64>().map_err(|e| format!("{a:?}: {e}"))?,
        b.trim().parse::<f64>().map_err(|e| format!("{b:?}: {e}"))?,
    );
    if !(lat.abs() <= 90.0 && lon.abs() <= 180.0) {
        return Err(format!("{s:?} is not LAT,LON"));
    }
    Ok([lat, lon])
}

fn pair_f64(s: &str) -> Result<[f64; 2], String> {
    let (a, b) = s
        .split_once('x')
        .ok_or_else(|| format!("{s:?} is not WxH"))?;
    Ok([
        a.parse().map_err(|e| format!("{a:?}: {e}"))?,
        b.parse().map_err(|e| format!("{b:?}: {e}"))?,
    ])
}

fn pair_u32(s: &str) -> Result<[u32; 2], String> {
    let [a, b] = pair_f64(s)?;
    let whole = |v: f64| {
        (v.fract() == 0.0 && (1.0..=1e5).contains(&v))
            .then_some(v as u32)
            .ok_or_else(|| format!("{v} is not a pixel count"))
    };
    Ok([whole(a)?, whole(b)?])
}

impl CameraArgs {
    fn spec(&self) -> CameraSpec {
        CameraSpec {
            preset: self.camera.clone(),
            sensor_mm: self.sensor_mm,
            focal_mm: self.focal_mm,
            image_px: self.image_px,
            hfov_deg: self.hfov_deg,
        }
    }
}

impl FlightArgs {
    fn spec(&self) -> FlightSpec {
        FlightSpec {
            altitude_m: self.altitude,
            speed_mps: self.speed,
            side_overlap: self.side_overlap,
            turnaround_m: self.turnaround,
            ..FlightSpec::default()
        }
    }
}

/// The docks file of a plan: given, or docks.toml beside it or in its parent folder.
fn docks_for(plan: &Path, given: Option<&Path>) -> Result<Docks> {
    if let Some(p) = given {
        return Ok(Docks::load(p)?);
    }
    let dir = plan.parent().unwrap_or(Path::new("."));
    for candidate in [dir.join("docks.toml"), dir.join("../docks.toml")] {
        if candidate.exists() {
            return Ok(Docks::load(&candidate)?);
        }
    }
    bail!(
        "{}: no docks.toml beside it or in its parent folder (give --docks FILE)",
        plan.display()
    )
}

/// An ad-hoc plan flown from `dock`, or from its shape's first point.
fn adhoc_plan(
    kind: Kind,
    geometry: GeometrySpec,
    camera: CameraSpec,
    flight: FlightSpec,
    dock: Option<[f64; 2]>,
) -> Result<Plan> {
    let at = match dock {
        Some(at) => at,
        // The shape's first point (read through a first check from anywhere).
        None => {
            Plan::adhoc(
                kind,
                geometry.clone(),
                camera.clone(),
                flight.clone(),
                Dock::unlimited(0.0, 0.0),
            )
            .map_err(anyhow::Error::msg)?
            .shape[0]
        }
    };
    Plan::adhoc(
        kind,
        geometry,
        camera,
        flight,
        Dock::unlimited(at[0], at[1]),
    )
    .map_err(anyhow::Error::msg)
}

/// Writes the missions: one file, or NAME-1.EXT, NAME-2.EXT, … for several sorties.
fn write_missions(missions: &[Mission], out: &Path) -> Result<Vec<PathBuf>> {
    if let [one] = missions {
        write_file(one, out)?;
        return Ok(vec![out.to_path_buf()]);
    }
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    missions
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let p = out.with_file_name(format!("{stem}-{}.{ext}", k + 1));
            write_file(m, &p)?;
            Ok(p)
        })
        .collect()
}

fn report(m: &Mission, label: &str) {
    let c = m.cost();
    let actions: usize = m.waypoints.iter().map(|w| w.actions.len()).sum();
    let kind = match &m.template {
        Template::Waypoints => "waypoints".to_string(),
        Template::Area { polygon, .. } => format!("area of {} corners", polygon.len()),
        Template::Corridor { width_m, .. } => format!("corridor {width_m:.0} m wide"),
    };
    println!(
        "{label}: {} waypoints, {actions} action{} ({kind}); {:.2} km, {}:{:02} min of flight, reaching {:.0} m from take-off, up to {:.0} m high",
        m.waypoints.len(),
        if actions == 1 { "" } else { "s" },
        c.length_m / 1000.0,
        (c.duration_s / 60.0) as u64,
        (c.duration_s % 60.0) as u64,
        c.range_m,
        c.max_height_m
    );
}

fn plan_and_write(plan: &Plan, out: &Path) -> Result<()> {
    let missions = plan.missions()?;
    let files = write_missions(&missions, out)?;
    for (m, f) in missions.iter().zip(&files) {
        report(m, &f.display().to_string());
    }
    if let Some(c) = plan.coverage(&missions) {
        println!("coverage: {:.1} %", c * 100.0);
    }
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan { plan, out, docks } => {
            let docks = docks_for(&plan, docks.as_deref())?;
            let plan = Plan::load(&plan, &docks)?;
            plan_and_write(&plan, &out)
        }
        Command::Cover {
            area,
            feature,
            camera,
            flight,
            angle,
            dock,
            out,
        } => {
            let feature = match feature {
                Some(f) => f,
                None => first_feature(&area, "Polygon")?,
            };
            let mut flight = flight.spec();
            if let Some(a) = angle {
                flight.angle_deg = Angle::Deg(a);
            }
            let geometry = GeometrySpec {
                geojson: Some(
                    area.canonicalize()
                        .with_context(|| area.display().to_string())?,
                ),
                feature: Some(feature),
                ..GeometrySpec::default()
            };
            let plan = adhoc_plan(Kind::Area, geometry, camera.spec(), flight, dock)?;
            plan_and_write(&plan, &out)
        }
        Command::Corridor {
            line,
            feature,
            width,
            camera,
            flight,
            dock,
            out,
        } => {
            let path = Path::new(&line);
            let geometry = if path.exists() {
                let feature = match feature {
                    Some(f) => f,
                    None => first_feature(path, "LineString")?,
                };
                GeometrySpec {
                    geojson: Some(path.canonicalize()?),
                    feature: Some(feature),
                    width_m: Some(width),
                    ..GeometrySpec::default()
                }
            } else {
                let pts = line
                    .split(';')
                    .map(lat_lon)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)
                    .context("--line: LAT,LON;LAT,LON;… or a GeoJSON file")?;
                GeometrySpec {
                    line: Some(pts),
                    width_m: Some(width),
                    ..GeometrySpec::default()
                }
            };
            let plan = adhoc_plan(Kind::Corridor, geometry, camera.spec(), flight.spec(), dock)?;
            plan_and_write(&plan, &out)
        }
        Command::Inspect {
            at,
            height,
            hover,
            pitch,
            flight,
            dock,
            out,
        } => {
            let mut f = flight.spec();
            f.inspect_height_m = height;
            f.hover_s = hover;
            f.inspect_pitch_deg = pitch;
            let geometry = GeometrySpec {
                points: Some(at.clone()),
                ..GeometrySpec::default()
            };
            let camera = CameraSpec {
                preset: Some("sim-1080p".into()),
                ..CameraSpec::default()
            };
            let plan = adhoc_plan(Kind::Points, geometry, camera, f, dock)?;
            plan_and_write(&plan, &out)
        }
        Command::Convert { input, output } => {
            let m = read_file(&input)?;
            write_file(&m, &output)?;
            report(&m, &output.display().to_string());
            Ok(())
        }
        Command::Check { file, docks } => {
            if file.extension().is_some_and(|e| e == "toml") {
                let docks = docks_for(&file, docks.as_deref())?;
                let plan = Plan::load(&file, &docks)?;
                let missions = plan.missions()?;
                for (k, m) in missions.iter().enumerate() {
                    report(m, &format!("{} sortie {}", plan.file.id, k + 1));
                }
                if let Some(c) = plan.coverage(&missions) {
                    println!("coverage: {:.1} %", c * 100.0);
                }
                if plan.schedule.is_some() {
                    println!(
                        "schedule: valid (flightplan next {} lists its runs)",
                        file.display()
                    );
                }
            } else {
                let m = read_file(&file)?;
                report(&m, &file.display().to_string());
            }
            Ok(())
        }
        Command::Next {
            plan,
            count,
            from,
            docks,
        } => {
            let docks = docks_for(&plan, docks.as_deref())?;
            let p = Plan::load(&plan, &docks)?;
            let Some(s) = &p.schedule else {
                bail!("{}: the plan has no [schedule]", plan.display());
            };
            let mut at = from.unwrap_or_else(Utc::now);
            for _ in 0..count {
                let Some(next) = s.next_after(at) else {
                    println!("(no further run)");
                    break;
                };
                println!(
                    "{}  {}  ({})",
                    next.with_timezone(&s.tz).format("%Y-%m-%d %H:%M:%S %Z %a"),
                    s.tz,
                    next.format("%Y-%m-%dT%H:%M:%SZ")
                );
                at = next;
            }
            Ok(())
        }
    }
}

/// The id of the first feature of a geometry type in a GeoJSON file.
fn first_feature(path: &Path, geometry: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| path.display().to_string())?;
    v["features"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["geometry"]["type"] == geometry)
        .and_then(argus_flightplan::plan::feature_id)
        .with_context(|| format!("{}: no {geometry} feature with an id", path.display()))
}

fn main() -> ExitCode {
    argus_core::cli::main("flightplan", "warn", || run(Cli::parse()))
}
