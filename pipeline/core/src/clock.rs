//! Wall-clock helpers: RFC 3339 timestamps and the SRT's local date-time lines. The calendar
//! is the `time` crate's; what is ours is the strictness: every field digits and in range,
//! RFC 3339's shapes and nothing looser (a hit's time is hostile input).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// `2026-05-27T10:00:00.000Z` for Unix seconds (to the millisecond; a time beyond the
/// calendar's ±9999 years, or not a number, is written as the epoch).
pub fn rfc3339(unix_s: f64) -> String {
    let ms = (unix_s * 1000.0).round() as i64;
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

/// Seconds since the epoch of a moment, with its fraction.
fn unix_s(t: OffsetDateTime) -> f64 {
    t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9
}

/// A field of ASCII digits only (no sign, no exponent, no `NaN`), as a number.
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Seconds since the Unix epoch of a date-time line as DJI writes it (`2026-05-27 10:00:00.000`,
/// `2017.08.05 14:11:51,393,525`), read as if it were UTC. Every field is digits and in range
/// (a leap second reads as `:60`); anything else is `None`.
pub fn parse_datetime(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut dp = date.split(['-', '.']);
    let (y, m, d) = (
        digits(dp.next()?)?,
        digits(dp.next()?)?,
        digits(dp.next()?)?,
    );
    if dp.next().is_some() {
        return None;
    }
    let date = Date::from_calendar_date(
        i32::try_from(y).ok()?,
        Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(d).ok()?,
    )
    .ok()?;
    let mut tp = time.splitn(2, [',', '.']);
    let hms: Vec<u32> = tp.next()?.split(':').map(digits).collect::<Option<_>>()?;
    let [h, min, sec] = hms[..] else {
        return None;
    };
    // A leap second is the second after :59.
    let (sec, leap) = if sec == 60 { (59, 1.0) } else { (sec, 0.0) };
    let time = Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(min).ok()?,
        u8::try_from(sec).ok()?,
    )
    .ok()?;
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
    Some(unix_s(PrimitiveDateTime::new(date, time).assume_utc()) + leap + frac)
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp (`2026-05-27T10:00:00.250Z`,
/// `2026-05-27T18:00:00+08:00`).
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok().map(unix_s)
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
