//! Wall-clock helpers: RFC 3339 timestamps and the SRT's local date-time lines.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2026-05-27T10:00:00.000Z` for Unix seconds.
pub fn rfc3339(unix_s: f64) -> String {
    let ms = (unix_s * 1000.0).round() as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

/// A field of ASCII digits only (no sign, no exponent, no `NaN`), as a number.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since the Unix epoch of a date-time line as DJI writes it (`2026-05-27 10:00:00.000`,
/// `2017.08.05 14:11:51,393,525`), read as if it were UTC. Every field is digits and in range
/// (a leap second reads as `:60`); anything else is `None`.
pub fn parse_datetime(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut dp = date.split(['-', '.']);
    let (y, m, d) = (
        i64::from(digits(dp.next()?)?),
        digits(dp.next()?)?,
        digits(dp.next()?)?,
    );
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    let mut tp = time.splitn(2, [',', '.']);
    let hms: Vec<u32> = tp.next()?.split(':').map(digits).collect::<Option<_>>()?;
    let [h, min, sec] = hms[..] else {
        return None;
    };
    if h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let frac = match tp.next() {
        None => 0.0,
        Some(r) => {
            let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            format!("0.{digits}").parse::<f64>().ok()?
        }
    };
    Some(
        days_from_civil(y, m, d) as f64 * 86_400.0
            + f64::from(h) * 3600.0
            + f64::from(min) * 60.0
            + f64::from(sec)
            + frac,
    )
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2026-05-27T10:00:00.250Z`,
/// `2026-05-27T18:00:00+08:00`).
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let s = s.trim();
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let (time, offset_s) = if let Some(t) = rest.strip_suffix(['Z', 'z']) {
        (t, 0.0)
    } else {
        let k = rest.rfind(['+', '-'])?;
        let (t, off) = rest.split_at(k);
        let sign = if off.starts_with('-') { -1.0 } else { 1.0 };
        let (h, m) = off[1..].split_once(':')?;
        let (h, m) = (digits(h)?, digits(m)?);
        if h > 23 || m > 59 {
            return None;
        }
        (t, sign * f64::from(h * 3600 + m * 60))
    };
    // `YYYY-MM-DD` and `HH:MM:SS[.fff]`: RFC 3339's shapes, nothing looser.
    let b = time.as_bytes();
    if date.len() != 10
        || date.as_bytes()[4] != b'-'
        || b.len() < 8
        || b[2] != b':'
        || b[5] != b':'
        || (b.len() > 8 && b[8] != b'.')
    {
        return None;
    }
    Some(parse_datetime(&format!("{date} {time}"))? - offset_s)
}

/// Now, Unix seconds.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_datetime("2026-05-27 10:00:00.250").unwrap();
        assert_eq!(t, 1_779_876_000.25);
        assert_eq!(rfc3339(t), "2026-05-27T10:00:00.250Z");
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            parse_datetime("2017.08.05 14:11:51,393,525")
                .map(rfc3339)
                .unwrap(),
            "2017-08-05T14:11:51.393Z"
        );
        assert_eq!(parse_datetime("2017-13-01 00:00:00"), None);
        assert_eq!(parse_rfc3339("2026-05-27T10:00:00.250Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-05-27T18:00:00.250+08:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-05-27T10:00:00"),
            None,
            "no zone, no time"
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn only_digits_in_range_make_a_time() {
        for bad in [
            "2026-05-27TNaN:00:00Z",
            "2026-05-27T10:00:inf Z",
            "2026-05-27T10:00:1e3Z",
            "2026-05-27T10:00:+1Z",
            "2026-05-27T24:00:00Z",
            "2026-05-27T10:60:00Z",
            "2026-02-30T10:00:00Z",
            "2026-05-27T10:00:00.Z",
            "2026-05-27T10:00:00+25:00",
            "2026-05-27T10:00Z",
            "2026.05.27T10:00:00Z",
            "-026-05-27T10:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T23:59:60Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-03-01T00:00:00.000Z"),
            "a leap day and a leap second"
        );
    }
}
