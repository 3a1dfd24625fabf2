//! `sim`: the Argus simulator's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use argus_core::camera::{Camera, Intrinsics, Pose};
use argus_sim::camera::{StreetCamera, run_frames};
use argus_sim::dataset::DatasetOptions;
use argus_sim::district::{self, generate::DistrictOptions};
use argus_sim::flight::{FlightOptions, TelemetryNoise, fly};
use argus_sim::render::{self, GroundTexture, Lighting, Renderer, Scene};
use argus_video::{VideoWriter, WriterOptions};
use clap::{Parser, Subcommand};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "sim",
    version,
    about = "The Argus simulator: districts, drone flights, street cameras, datasets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The district a command reads and the folder it writes.
#[derive(clap::Args, Debug)]
struct DistrictIo {
    /// District folder or district.geojson.
    #[arg(long)]
    district: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a district and write DIR/district.geojson.
    District {
        /// Seed of every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// WGS84 centre latitude.
        #[arg(long, default_value_t = district::generate::DEFAULT_ORIGIN.lat)]
        lat: f64,
        /// WGS84 centre longitude.
        #[arg(long, default_value_t = district::generate::DEFAULT_ORIGIN.lon)]
        lon: f64,
        /// Side of the square district, metres.
        #[arg(long, default_value_t = district::generate::DEFAULT_SIZE_M)]
        size: f64,
        /// Local scene time HH:MM (decides which vending zones are open).
        #[arg(long, default_value = "10:00", value_parser = argus_sim::cli::parse_hhmm)]
        time: u32,
    },
    /// Render a drone flight: OUT/flight.mp4, OUT/flight.SRT and OUT/truth.jsonl.
    Flight {
        #[command(flatten)]
        io: DistrictIo,
        /// Seed of the telemetry and sensor noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Route file: the simulator's route JSON, a DJI WPML .kmz, a QGroundControl .plan or
        /// a QGC WPL .waypoints (by extension); default: a serpentine over the whole district
        /// at 100 m.
        #[arg(long)]
        route: Option<PathBuf>,
        /// Seconds to fly (default: the whole route).
        #[arg(long)]
        duration: Option<f64>,
        /// Frame size WxH.
        #[arg(long, default_value = "1920x1080", value_parser = argus_sim::cli::parse_size)]
        size: (u32, u32),
        /// Frames per second.
        #[arg(long, default_value_t = 30)]
        fps: u32,
        /// Horizontal field of view, degrees.
        #[arg(long, default_value_t = argus_sim::flight::DEFAULT_HFOV_DEG)]
        hfov: f64,
        /// Radial distortion coefficient k1 (0: none).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        k1: f64,
        /// Radial distortion coefficient k2.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        k2: f64,
        /// GPS error written into the SRT, metres (standard deviation per axis); the default is
        /// a dock drone's RTK fix, 1.5 is a consumer drone's plain GNSS.
        #[arg(long, default_value_t = 0.1)]
        gps_sigma: f64,
        /// Height error written into the SRT, metres (0.5 for a consumer barometer).
        #[arg(long, default_value_t = 0.2)]
        alt_sigma: f64,
        /// Gimbal angle error written into the SRT, degrees.
        #[arg(long, default_value_t = 0.3)]
        attitude_sigma: f64,
        /// Local time HH:MM of the flight (default: the district's scene time).
        #[arg(long, value_parser = argus_sim::cli::parse_hhmm)]
        time: Option<u32>,
        /// Skip the video (truth and SRT only).
        #[arg(long)]
        no_video: bool,
    },
    /// Render a fixed street camera watching violations arrive: OUT/camera.mp4, OUT/camera.json
    /// (pose, intrinsics, ground control points) and OUT/truth.jsonl; or serve it live over RTSP.
    Camera {
        #[command(flatten)]
        io: DistrictIo,
        /// Seed of the camera's placement and scenario.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scenario length, seconds (live: how long to serve; default forever).
        #[arg(long)]
        duration: Option<f64>,
        /// Frame size WxH.
        #[arg(long, default_value = "1280x720", value_parser = argus_sim::cli::parse_size)]
        size: (u32, u32),
        /// Frames per second.
        #[arg(long, default_value_t = argus_sim::camera::DEFAULT_FPS)]
        fps: u32,
        /// Serve live over RTSP at ADDRESS:PORT (e.g. 127.0.0.1:8554; port 0 picks a free one)
        /// instead of writing a video file.
        #[arg(long)]
        rtsp: Option<String>,
        /// RTSP mount path.
        #[arg(long, default_value = "/camera")]
        mount: String,
    },
    /// Play a DJI dock on the Cloud API over MQTT: announce the aircraft, take flight tasks
    /// (prepare, execute, undo), stream each flight live as H.264 RTP over UDP with the
    /// aircraft's OSD and the task's progress, and keep each flight in OUT/{flight_id}/.
    Dock {
        #[command(flatten)]
        io: DistrictIo,
        /// The dock's serial number (its Cloud API gateway).
        #[arg(long)]
        sn: String,
        /// The aircraft's serial number.
        #[arg(long)]
        aircraft_sn: String,
        /// Where the dock stands, LAT,LON (inside the district).
        #[arg(long, value_parser = argus_sim::cli::parse_lat_lon, allow_hyphen_values = true)]
        at: argus_core::geodesy::GeoPoint,
        /// The broker, mqtt://HOST:PORT.
        #[arg(long)]
        mqtt: String,
        /// Where the live video goes, udp://HOST:PORT.
        #[arg(long, value_parser = argus_sim::cli::parse_udp)]
        video: (String, u16),
        /// Frame size WxH.
        #[arg(long, default_value = "1280x720", value_parser = argus_sim::cli::parse_size)]
        size: (u32, u32),
        /// Frames per second.
        #[arg(long, default_value_t = argus_sim::dock::DEFAULT_FPS)]
        fps: u32,
        /// Aircraft OSD messages per second while flying.
        #[arg(long, default_value_t = argus_sim::dock::DEFAULT_OSD_HZ)]
        osd_hz: f64,
        /// Render cache (default: OUT/.renders): a wayline is rendered once per size, rate,
        /// district and dock position.
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Refuse the next flighttask_prepare (then serve normally).
        #[arg(long)]
        reject_next: bool,
        /// Fail each flight on reaching this wayline waypoint (0-based).
        #[arg(long)]
        fail_at_waypoint: Option<u32>,
    },
    /// Render a detector dataset (YOLO and COCO labels), split by district.
    Dataset {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Number of images over all splits (80 % train, 10 % val, 10 % test).
        #[arg(long, default_value_t = 1000)]
        images: usize,
        /// Master seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Image size WxH.
        #[arg(long, default_value = "640x640", value_parser = argus_sim::cli::parse_size)]
        size: (u32, u32),
        /// Share (0–1) of the training views aimed at a café umbrella, the look-alike most
        /// often taken for a stall; validation and test are the same whatever it is.
        #[arg(long, default_value_t = 0.0)]
        umbrella_share: f64,
        /// Share (0–1) of the training drone views posed like a patrol camera through the
        /// agent's tiles (nearly nadir, 80–120 m); validation and test are the same whatever it is.
        #[arg(long, default_value_t = 0.0)]
        patrol_share: f64,
        /// Render only this split (train, val or test): the same images as in a full render.
        #[arg(long)]
        split: Option<String>,
    },
    /// Render one still image of a district from a pose (PNG or JPEG by extension).
    Still {
        /// District folder or district.geojson.
        #[arg(long)]
        district: PathBuf,
        /// Output image.
        #[arg(long)]
        out: PathBuf,
        /// Camera position, local metres east of the district centre.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        east: f64,
        /// Camera position, local metres north of the district centre.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        north: f64,
        /// Height above ground, metres.
        #[arg(long, default_value_t = 100.0)]
        alt: f64,
        /// Yaw, degrees clockwise from north.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        yaw: f64,
        /// Pitch, degrees (−90 = nadir).
        #[arg(long, default_value_t = -90.0, allow_negative_numbers = true)]
        pitch: f64,
        /// Image size WxH.
        #[arg(long, default_value = "1920x1080", value_parser = argus_sim::cli::parse_size)]
        size: (u32, u32),
        /// Horizontal field of view, degrees.
        #[arg(long, default_value_t = argus_sim::flight::DEFAULT_HFOV_DEG)]
        hfov: f64,
        /// Local time HH:MM for the sun (default: the district's scene time).
        #[arg(long, value_parser = argus_sim::cli::parse_hhmm)]
        time: Option<u32>,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::District {
            seed,
            out,
            lat,
            lon,
            size,
            time,
        } => {
            let opts = DistrictOptions {
                seed,
                origin: argus_core::geodesy::GeoPoint { lat, lon },
                size_m: size,
                scene_minute: time,
            };
            let d = district::generate::generate(&opts)?;
            let path = district::geojson::write(&d, &out)
                .with_context(|| format!("writing {}", out.display()))?;
            let violations = d.objects.iter().filter(|o| o.violation).count();
            println!(
                "district (seed {seed}): {} buildings, {} lanes, {violations} violations -> {}",
                d.buildings.len(),
                d.lanes.len(),
                path.display()
            );
        }
        Command::Flight {
            io: DistrictIo {
                district: dpath,
                out,
            },
            seed,
            route,
            duration,
            size,
            fps,
            hfov,
            k1,
            k2,
            gps_sigma,
            alt_sigma,
            attitude_sigma,
            time,
            no_video,
        } => {
            let d = district::geojson::read(&dpath)?;
            let mut opts = FlightOptions::new(&d);
            if let Some(r) = route {
                opts.route = argus_sim::flight::route::load(&r, &d)?;
            }
            for (name, v) in [
                ("gps-sigma", gps_sigma),
                ("alt-sigma", alt_sigma),
                ("attitude-sigma", attitude_sigma),
            ] {
                anyhow::ensure!(
                    v.is_finite() && v >= 0.0,
                    "--{name}: {v} must be zero or positive"
                );
            }
            opts.seed = seed;
            (opts.width, opts.height, opts.fps, opts.hfov_deg) = (size.0, size.1, fps, hfov);
            opts.duration_s = duration;
            opts.distortion = (k1 != 0.0 || k2 != 0.0).then_some((k1, k2));
            opts.noise = TelemetryNoise {
                gps_sigma_m: gps_sigma,
                alt_sigma_m: alt_sigma,
                attitude_sigma_deg: attitude_sigma,
            };
            opts.minute = time;
            opts.video = !no_video;
            opts.progress = true;
            let started = std::time::Instant::now();
            let o = fly(&d, &opts, &out)?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "flight: {} frames in {secs:.1} s ({:.1} frames/s), {} violations in view",
                o.frames,
                o.frames as f64 / secs,
                o.violations_seen
            );
            if let Some(v) = &o.video {
                println!("  video  {}", v.display());
            }
            println!(
                "  srt    {}\n  truth  {}",
                o.srt.display(),
                o.truth.display()
            );
        }
        Command::Camera {
            io: DistrictIo {
                district: dpath,
                out,
            },
            seed,
            duration,
            size,
            fps,
            rtsp,
            mount,
        } => {
            anyhow::ensure!((1..=60).contains(&fps), "--fps: {fps} is outside 1–60");
            let d = district::geojson::read(&dpath)?;
            let scenario_s = duration.unwrap_or(if rtsp.is_some() { 60.0 } else { 30.0 });
            anyhow::ensure!(
                scenario_s > 0.0,
                "--duration: {scenario_s} s is not positive"
            );
            let mut cam = StreetCamera::new(&d, seed, size, scenario_s);
            let setup = cam
                .write_setup(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            // The street as it stands once the scenario's violations have arrived: what a drone
            // sent to look later sees (`sim dock --district` takes it).
            let after = out.join("district-after");
            district::geojson::write(&cam.district, &after)
                .with_context(|| format!("writing {}", after.display()))?;
            let truth_path = out.join("truth.jsonl");
            let mut truth = std::io::BufWriter::new(
                std::fs::File::create(&truth_path)
                    .with_context(|| format!("creating {}", truth_path.display()))?,
            );
            let mut write_truth = move |t: &argus_sim::truth::FrameTruth| -> Result<()> {
                serde_json::to_writer(&mut truth, t)?;
                truth.write_all(b"\n")?;
                // Whole lines on disk as they are made: a live camera is stopped, not ended,
                // and its truth is read while it serves.
                truth.flush()?;
                Ok(())
            };
            match rtsp {
                Some(addr) => {
                    let (host, port) = addr
                        .rsplit_once(':')
                        .with_context(|| format!("--rtsp: {addr:?} is not ADDRESS:PORT"))?;
                    let port: u16 = port
                        .parse()
                        .with_context(|| format!("--rtsp: {port:?} is not a port"))?;
                    let server = argus_sim::rtsp::RtspCamera::start(
                        host, port, &mount, size.0, size.1, fps,
                    )?;
                    println!("camera setup {}\nserving {}", setup.display(), server.url);
                    let started = std::time::Instant::now();
                    let frames = duration.map(|s| (s * f64::from(fps)) as u64);
                    run_frames(&mut cam, fps, frames, |rgb, t| {
                        // Real time: wait for this frame's moment, then send it.
                        let due = std::time::Duration::from_secs_f64(t.pts_s);
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            std::thread::sleep(wait);
                        }
                        server.push(rgb);
                        write_truth(t)?;
                        Ok(true)
                    })?;
                }
                None => {
                    let video_path = out.join("camera.mp4");
                    let mut video = VideoWriter::create(
                        &video_path,
                        size.0,
                        size.1,
                        fps,
                        &WriterOptions::default(),
                    )?;
                    let frames = (scenario_s * f64::from(fps)) as u64;
                    let bar = argus_sim::progress::bar(frames, "rendering camera", true);
                    run_frames(&mut cam, fps, Some(frames), |rgb, t| {
                        video.push_rgb(rgb)?;
                        write_truth(t)?;
                        bar.inc(1);
                        Ok(true)
                    })?;
                    bar.finish_and_clear();
                    video.finish()?;
                    println!(
                        "camera: {frames} frames\n  video  {}\n  setup  {}\n  truth  {}",
                        video_path.display(),
                        setup.display(),
                        truth_path.display()
                    );
                }
            }
        }
        Command::Dock {
            io: DistrictIo { district, out },
            sn,
            aircraft_sn,
            at,
            mqtt,
            video,
            size,
            fps,
            osd_hz,
            cache,
            reject_next,
            fail_at_waypoint,
        } => {
            let mut opts = argus_sim::dock::DockOptions::new(
                district,
                &sn,
                &aircraft_sn,
                at,
                &mqtt,
                video,
                out,
            );
            (opts.size, opts.fps, opts.osd_hz, opts.cache) = (size, fps, osd_hz, cache);
            (opts.reject_next, opts.fail_at_waypoint) = (reject_next, fail_at_waypoint);
            argus_sim::dock::Dock::start(opts)?.join();
        }
        Command::Dataset {
            out,
            images,
            seed,
            size,
            umbrella_share,
            patrol_share,
            split,
        } => {
            let opts = DatasetOptions {
                seed,
                images,
                width: size.0,
                height: size.1,
                quality: 92,
                progress: true,
                umbrella_share,
                patrol_share,
                only: split,
            };
            for (split, n, objects) in argus_sim::dataset::render(&opts, &out)? {
                println!(
                    "{split:5}: {n} images, {objects} labelled objects -> {}",
                    out.join(&split).display()
                );
            }
        }
        Command::Still {
            district: dpath,
            out,
            east,
            north,
            alt,
            yaw,
            pitch,
            size,
            hfov,
            time,
        } => {
            let d = district::geojson::read(&dpath)?;
            let albedo = GroundTexture::build(&d, render::DEFAULT_TEXEL_M);
            let scene = Scene::new(
                &d,
                &albedo,
                Lighting::at_minute(time.unwrap_or(d.scene_minute)),
            );
            let intr = Intrinsics::from_hfov(size.0, size.1, hfov);
            let g = d.frame().ground_to_geo(east, north);
            let pose = Pose {
                lat: g.lat,
                lon: g.lon,
                alt_m: alt,
                yaw_deg: yaw,
                pitch_deg: pitch,
                roll_deg: 0.0,
            };
            let cam = Camera::new(intr, &d.frame(), &pose);
            let mut r = Renderer::new(intr);
            r.render(&scene, &cam, 0);
            image::save_buffer(
                &out,
                r.rgb(),
                size.0,
                size.1,
                image::ExtendedColorType::Rgb8,
            )
            .with_context(|| format!("writing {}", out.display()))?;
            println!("{}", out.display());
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    argus_core::cli::main("sim", "info", || run(Cli::parse()))
}
