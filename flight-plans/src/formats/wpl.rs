//! `QGC WPL 110` text missions (formats.md §4.2): a header line, then one tab-separated row per
//! item — `INDEX CURRENT FRAME COMMAND P1 P2 P3 P4 LAT LON ALT AUTOCONTINUE`. Row 0 is the home
//! position (frame 0, its height above sea level), as ArduPilot-style files have it; the items
//! follow ([`mavlink`](super::mavlink)). Versions 110 and 120 are read.

use std::fmt::Write as _;

use super::FormatError;
use super::mavlink::{self, FRAME_GLOBAL, Item, NAV_WAYPOINT};
use crate::mission::{Home, Mission, Template};

/// The mission as `QGC WPL 110` text.
pub fn write(m: &Mission) -> Result<Vec<u8>, FormatError> {
    let items = mavlink::items(m, "QGC WPL")?;
    let mut out = String::from("QGC WPL 110\n");
    let row = |out: &mut String, k: usize, current: u8, it: &Item| {
        let p = it.params.map(|v| v.unwrap_or(0.0));
        let _ = writeln!(
            out,
            "{k}\t{current}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.10}\t{:.10}\t{:.6}\t1",
            it.frame, it.command, p[0], p[1], p[2], p[3], p[4], p[5], p[6]
        );
    };
    row(
        &mut out,
        0,
        1,
        &Item {
            command: NAV_WAYPOINT,
            frame: FRAME_GLOBAL,
            params: [
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(m.home.lat),
                Some(m.home.lon),
                Some(m.home.elevation_m),
            ],
        },
    );
    for (k, it) in items.iter().enumerate() {
        row(&mut out, k + 1, 0, it);
    }
    Ok(out.into_bytes())
}

/// Reads `QGC WPL 110` (or 120) text.
pub fn read(bytes: &[u8]) -> Result<Mission, FormatError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| FormatError::at("file", &format!("not UTF-8 text: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if matches!(h.trim(), "QGC WPL 110" | "QGC WPL 120") => {}
        Some((_, h)) => {
            return Err(FormatError::at(
                "line 1",
                &format!(
                    "{:?} is not \"QGC WPL 110\"",
                    h.chars().take(40).collect::<String>()
                ),
            ));
        }
        None => return Err(FormatError::at("line 1", "the file is empty")),
    }
    let mut rows = Vec::new();
    let mut lineno = Vec::new();
    for (i, line) in lines {
        let cols: Vec<&str> = line.split(['\t', ' ']).filter(|c| !c.is_empty()).collect();
        let at = format!("line {}", i + 1);
        if cols.len() != 12 {
            return Err(FormatError::at(
                &at,
                &format!("{} columns, not 12", cols.len()),
            ));
        }
        let int = |c: usize, what: &str| -> Result<u64, FormatError> {
            cols[c].parse::<u64>().map_err(|_| {
                FormatError::at(&at, &format!("{what} {:?} is not a whole number", cols[c]))
            })
        };
        let frame = u8::try_from(int(2, "frame")?)
            .map_err(|_| FormatError::at(&at, "frame out of range"))?;
        let command = u16::try_from(int(3, "command")?)
            .map_err(|_| FormatError::at(&at, "command out of range"))?;
        let mut params = [None; 7];
        for (p, slot) in params.iter_mut().enumerate() {
            let v: f64 = cols[4 + p].parse().map_err(|_| {
                FormatError::at(
                    &at,
                    &format!("parameter {} {:?} is not a number", p + 1, cols[4 + p]),
                )
            })?;
            *slot = Some(v);
        }
        rows.push(Item {
            command,
            frame,
            params,
        });
        lineno.push(i + 1);
    }
    let Some(home_row) = rows.first() else {
        return Err(FormatError::at("line 2", "no home row"));
    };
    let p = home_row.params;
    let home = Home {
        lat: p[4].unwrap_or(f64::NAN),
        lon: p[5].unwrap_or(f64::NAN),
        elevation_m: p[6].unwrap_or(f64::NAN),
    };
    super::check_position(
        &format!("line {} (home)", lineno[0]),
        home.lat,
        home.lon,
        home.elevation_m,
    )?;
    let at = |k: usize, p: usize| {
        format!(
            "line {} parameter {}",
            lineno.get(k + 1).copied().unwrap_or(0),
            p + 1
        )
    };
    let waypoints = mavlink::waypoints(&rows[1..], home.elevation_m, &at)?;
    Ok(Mission {
        home,
        speed_mps: waypoints.iter().find_map(|w| w.speed_mps).unwrap_or(10.0),
        rth_altitude_m: 100.0,
        template: Template::Waypoints,
        waypoints,
    })
}
