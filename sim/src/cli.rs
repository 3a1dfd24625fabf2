//! Parsers for command-line values shared by the simulator's commands.

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("{s:?} is not a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h >= 24 || m >= 60 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Parses `WIDTHxHEIGHT` (even numbers, 16–8192).
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("{s:?} is not a size WIDTHxHEIGHT such as 1920x1080");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(16..=8192).contains(&w) || !(16..=8192).contains(&h) || w % 2 == 1 || h % 2 == 1 {
        return Err(format!(
            "{s:?}: width and height must be even and within 16–8192"
        ));
    }
    Ok((w, h))
}

/// Parses `LAT,LON` (degrees, WGS84).
pub fn parse_lat_lon(s: &str) -> Result<argus_core::geodesy::GeoPoint, String> {
    let bad = || format!("{s:?} is not a position LAT,LON such as 30.70,121.02");
    let (lat, lon) = s.split_once(',').ok_or_else(bad)?;
    let (lat, lon): (f64, f64) = (
        lat.trim().parse().map_err(|_| bad())?,
        lon.trim().parse().map_err(|_| bad())?,
    );
    let p = argus_core::geodesy::GeoPoint { lat, lon };
    if !p.is_valid() {
        return Err(format!("{s:?}: latitude or longitude out of range"));
    }
    Ok(p)
}

/// Parses `udp://HOST:PORT` (a port other than 0).
pub fn parse_udp(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("{s:?} is not udp://HOST:PORT such as udp://127.0.0.1:5600");
    let rest = s.strip_prefix("udp://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(['/', '@', ' ']) {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_udp_addresses_parse_or_explain() {
        let p = parse_lat_lon("30.70, 121.02").unwrap();
        assert_eq!((p.lat, p.lon), (30.70, 121.02));
        assert!(parse_lat_lon("91,0").unwrap_err().contains("out of range"));
        assert!(parse_lat_lon("30.7").is_err() && parse_lat_lon("a,b").is_err());
        assert_eq!(
            parse_udp("udp://127.0.0.1:5600"),
            Ok(("127.0.0.1".into(), 5600))
        );
        for bad in [
            "127.0.0.1:5600",
            "udp://127.0.0.1:0",
            "udp://:5600",
            "udp://h:99999",
        ] {
            assert!(
                parse_udp(bad).unwrap_err().contains("udp://HOST:PORT"),
                "{bad}"
            );
        }
    }

    #[test]
    fn times_and_sizes_parse_or_explain() {
        assert_eq!(parse_hhmm("07:30"), Ok(450));
        assert!(parse_hhmm("24:00").is_err() && parse_hhmm("7h").is_err());
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert!(parse_size("1921x1080").unwrap_err().contains("even"));
        assert!(parse_size("big").is_err());
    }
}
