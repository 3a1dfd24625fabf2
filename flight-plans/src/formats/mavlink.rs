//! Missions as MAVLink mission items, the common ground of QGroundControl `.plan` files and
//! `QGC WPL 110` text: `NAV_TAKEOFF` (22) for the first waypoint, `NAV_WAYPOINT` (16) for the
//! rest, `DO_CHANGE_SPEED` (178) after a waypoint that changes speed, `DO_MOUNT_CONTROL` (205)
//! for a gimbal pitch (`DO_GIMBAL_MANAGER_PITCHYAW`, 1000, is read too), `NAV_LOITER_TIME` (19)
//! at the waypoint's position for a hover, and `NAV_RETURN_TO_LAUNCH` (20) at the end. Heights
//! are relative to the take-off point (`MAV_FRAME_GLOBAL_RELATIVE_ALT`, 3); absolute ones
//! (frame 0) are read against the home position.

use crate::formats::FormatError;
use crate::mission::{Action, Mission, Waypoint};

/// `MAV_CMD_NAV_WAYPOINT`.
pub const NAV_WAYPOINT: u16 = 16;
/// `MAV_CMD_NAV_LOITER_TIME`.
pub const NAV_LOITER_TIME: u16 = 19;
/// `MAV_CMD_NAV_RETURN_TO_LAUNCH`.
pub const NAV_RETURN_TO_LAUNCH: u16 = 20;
/// `MAV_CMD_NAV_LAND`.
pub const NAV_LAND: u16 = 21;
/// `MAV_CMD_NAV_TAKEOFF`.
pub const NAV_TAKEOFF: u16 = 22;
/// `MAV_CMD_DO_CHANGE_SPEED`.
pub const DO_CHANGE_SPEED: u16 = 178;
/// `MAV_CMD_DO_MOUNT_CONTROL`.
pub const DO_MOUNT_CONTROL: u16 = 205;
/// `MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW`.
pub const DO_GIMBAL_MANAGER_PITCHYAW: u16 = 1000;
/// `MAV_FRAME_GLOBAL` (heights above mean sea level).
pub const FRAME_GLOBAL: u8 = 0;
/// `MAV_FRAME_MISSION` (no position).
pub const FRAME_MISSION: u8 = 2;
/// `MAV_FRAME_GLOBAL_RELATIVE_ALT` (heights above home).
pub const FRAME_RELATIVE: u8 = 3;

/// One mission item: a command, its frame and its seven parameters (`None` is QGC's `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `MAV_CMD`.
    pub command: u16,
    /// `MAV_FRAME`.
    pub frame: u8,
    /// param1–4, then x (latitude), y (longitude), z (height).
    pub params: [Option<f64>; 7],
}

impl Item {
    fn nav(command: u16, w: &Waypoint, hold: f64) -> Self {
        Self {
            command,
            frame: FRAME_RELATIVE,
            params: [
                Some(hold),
                Some(0.0),
                Some(0.0),
                None,
                Some(w.lat),
                Some(w.lon),
                Some(w.height_m),
            ],
        }
    }

    fn command(command: u16, params: [Option<f64>; 7]) -> Self {
        Self {
            command,
            frame: FRAME_MISSION,
            params,
        }
    }
}

/// The items of a mission. An action MAVLink items cannot express is refused, naming the
/// waypoint and the action.
pub fn items(m: &Mission, format: &'static str) -> Result<Vec<Item>, FormatError> {
    let mut out = Vec::with_capacity(m.waypoints.len() * 2 + 2);
    for (i, w) in m.waypoints.iter().enumerate() {
        out.push(Item::nav(
            if i == 0 { NAV_TAKEOFF } else { NAV_WAYPOINT },
            w,
            0.0,
        ));
        // The first waypoint always says the speed (WPL files have no other place for it).
        let speed = if i == 0 {
            Some(w.speed_mps.unwrap_or(m.speed_mps))
        } else {
            w.speed_mps
        };
        if let Some(s) = speed {
            out.push(Item::command(
                DO_CHANGE_SPEED,
                [Some(1.0), Some(s), Some(-1.0), Some(0.0), None, None, None],
            ));
        }
        for a in &w.actions {
            match a {
                Action::Gimbal { pitch_deg } => out.push(Item::command(
                    DO_MOUNT_CONTROL,
                    [
                        Some(*pitch_deg),
                        Some(0.0),
                        Some(0.0),
                        None,
                        None,
                        None,
                        Some(2.0),
                    ],
                )),
                Action::Hover { seconds } => out.push(Item::nav(NAV_LOITER_TIME, w, *seconds)),
                Action::Other { .. } => {
                    return Err(FormatError::Unsupported {
                        format,
                        waypoint: i,
                        action: a.name().to_string(),
                    });
                }
            }
        }
    }
    out.push(Item::command(NAV_RETURN_TO_LAUNCH, [Some(0.0); 7]));
    Ok(out)
}

fn number(at: &str, v: Option<f64>) -> Result<f64, FormatError> {
    v.filter(|x| x.is_finite())
        .ok_or_else(|| FormatError::at(at, "is not a number"))
}

/// The waypoints of items read from a file; `home_elevation_m` turns absolute heights into
/// heights above take-off. `at(k, p)` names item `k`'s parameter `p` in errors (a JSON pointer
/// or a line). Commands Argus does not model become [`Action::Other`] on the waypoint before.
pub fn waypoints(
    items: &[Item],
    home_elevation_m: f64,
    at: &dyn Fn(usize, usize) -> String,
) -> Result<Vec<Waypoint>, FormatError> {
    let mut out: Vec<Waypoint> = Vec::new();
    for (k, it) in items.iter().enumerate() {
        let position = || -> Result<Waypoint, FormatError> {
            let lat = number(&at(k, 4), it.params[4])?;
            let lon = number(&at(k, 5), it.params[5])?;
            let z = number(&at(k, 6), it.params[6])?;
            if !(lat.abs() <= 90.0 && lon.abs() <= 180.0) || (lat == 0.0 && lon == 0.0) {
                return Err(FormatError::at(
                    &at(k, 4),
                    &format!("{lat}, {lon} is not a position"),
                ));
            }
            let height_m = match it.frame {
                FRAME_RELATIVE => z,
                FRAME_GLOBAL => z - home_elevation_m,
                f => {
                    return Err(FormatError::at(
                        &at(k, 6),
                        &format!("frame {f} is not read (0 absolute or 3 relative heights)"),
                    ));
                }
            };
            Ok(Waypoint::at(lat, lon, height_m))
        };
        match it.command {
            NAV_WAYPOINT | NAV_TAKEOFF => {
                let mut w = position()?;
                if it.command == NAV_WAYPOINT
                    && let Some(hold) = it.params[0]
                {
                    let hold = number(&at(k, 0), Some(hold))?;
                    if hold > 0.0 {
                        super::check_hover(&at(k, 0), hold)?;
                        w.actions.push(Action::Hover { seconds: hold });
                    }
                }
                out.push(w);
            }
            NAV_LOITER_TIME => {
                let w = position()?;
                let seconds = number(&at(k, 0), it.params[0])?;
                super::check_hover(&at(k, 0), seconds)?;
                match out.last_mut() {
                    Some(last)
                        if (last.lat - w.lat).abs() < 1e-9
                            && (last.lon - w.lon).abs() < 1e-9
                            && (last.height_m - w.height_m).abs() < 1e-3 =>
                    {
                        last.actions.push(Action::Hover { seconds });
                    }
                    _ => {
                        let mut w = w;
                        w.actions.push(Action::Hover { seconds });
                        out.push(w);
                    }
                }
            }
            NAV_RETURN_TO_LAUNCH | NAV_LAND => {}
            DO_CHANGE_SPEED | DO_MOUNT_CONTROL | DO_GIMBAL_MANAGER_PITCHYAW => {
                let Some(last) = out.last_mut() else {
                    return Err(FormatError::at(
                        &at(k, 0),
                        &format!("command {} comes before any waypoint", it.command),
                    ));
                };
                match it.command {
                    DO_CHANGE_SPEED => {
                        let s = number(&at(k, 1), it.params[1])?;
                        if !(s > 0.0 && s <= 30.0) {
                            return Err(FormatError::at(
                                &at(k, 1),
                                &format!("speed {s} m/s is outside (0, 30]"),
                            ));
                        }
                        last.speed_mps = Some(s);
                    }
                    _ => {
                        let pitch_deg = number(&at(k, 0), it.params[0])?;
                        if !(-90.0..=30.0).contains(&pitch_deg) {
                            return Err(FormatError::at(
                                &at(k, 0),
                                &format!("gimbal pitch {pitch_deg}° is outside [-90, 30]"),
                            ));
                        }
                        last.actions.push(Action::Gimbal { pitch_deg });
                    }
                }
            }
            other => match out.last_mut() {
                Some(last) => last.actions.push(Action::Other {
                    name: format!("MAV_CMD {other}"),
                }),
                None => {
                    return Err(FormatError::at(
                        &at(k, 0),
                        &format!("command {other} comes before any waypoint"),
                    ));
                }
            },
        }
    }
    if out.is_empty() {
        return Err(FormatError::at(&at(0, 0), "no waypoint"));
    }
    Ok(out)
}
