//! QGroundControl `.plan` files (formats.md §4.1): JSON with the mission's simple items
//! ([`mavlink`](super::mavlink)), the patrol area as an inclusion geofence, the dock as a rally
//! point. The reader takes what QGroundControl's loader requires (`fileType`, `mission.items`,
//! `mission.plannedHomePosition`, `mission.firmwareType`) and the survey, corridor and structure
//! scans by the simple items QGroundControl stores inside them; any other complex item is
//! refused by its JSON pointer.

use serde_json::{Value, json};

use super::FormatError;
use super::mavlink::{self, Item};
use crate::mission::{Home, Mission, Template};

/// The `firmwareType` written: `MAV_AUTOPILOT_PX4` (12), as QGroundControl's own examples.
pub const FIRMWARE_PX4: u64 = 12;

/// The mission as a `.plan` file.
pub fn write(m: &Mission) -> Result<Vec<u8>, FormatError> {
    let items: Vec<Value> = mavlink::items(m, ".plan")?
        .iter()
        .enumerate()
        .map(|(k, it)| {
            json!({
                "type": "SimpleItem",
                "autoContinue": true,
                "command": it.command,
                "doJumpId": k + 1,
                "frame": it.frame,
                "params": it.params,
            })
        })
        .collect();
    let fence = match &m.template {
        Template::Area { polygon, .. } => vec![json!({
            "inclusion": true,
            "polygon": polygon,
            "version": 1,
        })],
        _ => Vec::new(),
    };
    let plan = json!({
        "fileType": "Plan",
        "version": 1,
        "groundStation": "Argus",
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_PX4,
            "vehicleType": 2,
            "globalPlanAltitudeMode": 1,
            "cruiseSpeed": m.speed_mps,
            "hoverSpeed": 5,
            "plannedHomePosition": [m.home.lat, m.home.lon, m.home.elevation_m],
            "items": items,
        },
        "geoFence": {"version": 2, "circles": [], "polygons": fence},
        "rallyPoints": {
            "version": 2,
            "points": [[m.home.lat, m.home.lon, m.rth_altitude_m]],
        },
    });
    serde_json::to_vec_pretty(&plan).map_err(|e| FormatError::at("/", &e.to_string()))
}

fn num(v: &Value, at: &str) -> Result<f64, FormatError> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| FormatError::at(at, &format!("{} is not a number", short(v))))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// The simple items of an item list, complex items opened; each with its JSON pointer.
fn simple_items(list: &Value, at: &str, out: &mut Vec<(Item, String)>) -> Result<(), FormatError> {
    let items = list
        .as_array()
        .ok_or_else(|| FormatError::at(at, "is not an array"))?;
    for (k, it) in items.iter().enumerate() {
        let here = format!("{at}/{k}");
        match it["type"].as_str() {
            Some("SimpleItem") => {
                let command = it["command"]
                    .as_u64()
                    .and_then(|c| u16::try_from(c).ok())
                    .ok_or_else(|| {
                        FormatError::at(&format!("{here}/command"), "is not a MAV_CMD")
                    })?;
                let frame = it["frame"]
                    .as_u64()
                    .and_then(|c| u8::try_from(c).ok())
                    .ok_or_else(|| {
                        FormatError::at(&format!("{here}/frame"), "is not a MAV_FRAME")
                    })?;
                let params = it["params"]
                    .as_array()
                    .filter(|p| p.len() == 7)
                    .ok_or_else(|| FormatError::at(&format!("{here}/params"), "is not 7 values"))?;
                let mut p = [None; 7];
                for (i, v) in params.iter().enumerate() {
                    p[i] = match v {
                        Value::Null => None,
                        v => Some(num(v, &format!("{here}/params/{i}"))?),
                    };
                }
                out.push((
                    Item {
                        command,
                        frame,
                        params: p,
                    },
                    here,
                ));
            }
            Some("ComplexItem") => match it["complexItemType"].as_str() {
                Some("survey" | "CorridorScan") => simple_items(
                    &it["TransectStyleComplexItem"]["Items"],
                    &format!("{here}/TransectStyleComplexItem/Items"),
                    out,
                )?,
                Some("StructureScan") => simple_items(&it["Items"], &format!("{here}/Items"), out)?,
                other => {
                    return Err(FormatError::at(
                        &format!("{here}/complexItemType"),
                        &format!(
                            "complex item {} is not read (survey, CorridorScan, StructureScan are)",
                            other.map_or("of no type".to_string(), |o| format!("{o:?}"))
                        ),
                    ));
                }
            },
            _ => {
                return Err(FormatError::at(
                    &format!("{here}/type"),
                    "is neither \"SimpleItem\" nor \"ComplexItem\"",
                ));
            }
        }
    }
    Ok(())
}

/// Reads a `.plan` file.
pub fn read(bytes: &[u8]) -> Result<Mission, FormatError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        FormatError::at(
            &format!("line {}, column {}", e.line(), e.column()),
            &e.to_string(),
        )
    })?;
    if v["fileType"] != "Plan" {
        return Err(FormatError::at("/fileType", "is not \"Plan\""));
    }
    let mission = &v["mission"];
    if !mission["firmwareType"].is_number() {
        return Err(FormatError::at(
            "/mission/firmwareType",
            "is missing or not a number",
        ));
    }
    let home = mission["plannedHomePosition"]
        .as_array()
        .filter(|h| h.len() == 3)
        .ok_or_else(|| FormatError::at("/mission/plannedHomePosition", "is not [lat, lon, alt]"))?;
    let home = Home {
        lat: num(&home[0], "/mission/plannedHomePosition/0")?,
        lon: num(&home[1], "/mission/plannedHomePosition/1")?,
        elevation_m: num(&home[2], "/mission/plannedHomePosition/2")?,
    };
    super::check_position(
        "/mission/plannedHomePosition",
        home.lat,
        home.lon,
        home.elevation_m,
    )?;
    let mut items = Vec::new();
    simple_items(&mission["items"], "/mission/items", &mut items)?;
    let (items, pointers): (Vec<Item>, Vec<String>) = items.into_iter().unzip();
    let at = |k: usize, p: usize| match pointers.get(k) {
        Some(ptr) => format!("{ptr}/params/{p}"),
        None => "/mission/items".to_string(),
    };
    let waypoints = mavlink::waypoints(&items, home.elevation_m, &at)?;
    let speed_mps = match &mission["cruiseSpeed"] {
        Value::Null => 15.0,
        s => {
            let v = num(s, "/mission/cruiseSpeed")?;
            super::check_speed("/mission/cruiseSpeed", v)?;
            v
        }
    };
    let fence = &v["geoFence"]["polygons"][0]["polygon"];
    let template = match fence.as_array() {
        Some(pts) if pts.len() >= 3 => Template::Area {
            polygon: pts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let at = format!("/geoFence/polygons/0/polygon/{i}");
                    let (lat, lon) = (num(&p[0], &at)?, num(&p[1], &at)?);
                    super::check_position(&at, lat, lon, 0.0)?;
                    Ok([lat, lon])
                })
                .collect::<Result<_, FormatError>>()?,
            side_overlap: 0.0,
            bearing_deg: 0.0,
        },
        _ => Template::Waypoints,
    };
    let rth_altitude_m = match &v["rallyPoints"]["points"][0][2] {
        Value::Null => 100.0,
        h => {
            let at = "/rallyPoints/points/0/2";
            let v = num(h, at)?;
            super::check_rth(at, v)?;
            v
        }
    };
    Ok(Mission {
        home,
        speed_mps,
        rth_altitude_m,
        template,
        waypoints,
    })
}
