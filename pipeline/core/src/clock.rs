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
    // No trimming: RFC 3339 has no surrounding space, and a hit's strings hold no control
    // characters.
    OffsetDateTime::parse(s, &Rfc3339).ok().map(unix_s)
}

/// A moment as the wire carries it: RFC 3339 text outside, Unix seconds inside, parsed once
/// when it is read (by [`parse_rfc3339`]'s strictness) and written back to the millisecond.
/// It is always finite and within the calendar's years 1 to 9999.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(f64);

impl Timestamp {
    /// The moment `unix_s` seconds after the epoch, if it is finite and within the calendar.
    pub fn from_unix_s(unix_s: f64) -> Option<Self> {
        // 0001-01-01 to the last millisecond of 9999-12-31 that is written as such.
        (-62_135_596_800.0..=253_402_300_799.999)
            .contains(&unix_s)
            .then_some(Self(unix_s))
    }

    /// Now.
    pub fn now() -> Self {
        Self(now_unix_s())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_s(self) -> f64 {
        self.0
    }
}

/// A text that is no RFC 3339 instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time")]
pub struct NotATime(pub String);

impl std::str::FromStr for Timestamp {
    type Err = NotATime;

    fn from_str(s: &str) -> Result<Self, NotATime> {
        parse_rfc3339(s)
            .and_then(Self::from_unix_s)
            .ok_or_else(|| NotATime(s.chars().take(64).collect()))
    }
}

impl TryFrom<String> for Timestamp {
    type Error = NotATime;

    fn try_from(s: String) -> Result<Self, NotATime> {
        s.parse()
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        rfc3339(t.0)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339(self.0))
    }
}

/// Now, Unix seconds.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The UTC offset, minutes (within ±12 h), that makes the local time at `now` (Unix seconds)
/// the minute of day `local_minute`: an agent analysing live simulated video is put where it is
/// the district's scene time, as the simulator's recordings are.
pub fn utc_offset_min_for(local_minute: u32, now: f64) -> i32 {
    let now_min = (now / 60.0).floor() as i64 % 1440;
    ((i64::from(local_minute) - now_min + 1440 + 720).rem_euclid(1440) - 720) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_puts_now_at_the_asked_local_minute() {
        for now in [0.0, 1_764_000_000.0, 1_764_070_000.5, 1_764_043_140.0] {
            for minute in [0, 600, 719, 1439] {
                let off = utc_offset_min_for(minute, now);
                assert!((-720..=720).contains(&off), "{off}");
                let local = ((now / 60.0).floor() as i64 + i64::from(off)).rem_euclid(1440);
                assert_eq!(local, i64::from(minute), "now {now}, minute {minute}");
            }
        }
    }

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
    fn a_timestamp_is_read_once_and_written_to_the_millisecond() {
        let t: Timestamp = serde_json::from_str("\"2026-05-27T18:00:00.25+08:00\"").unwrap();
        assert_eq!(t.unix_s(), 1_779_876_000.25);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-05-27T10:00:00.250Z\""
        );
        let e = serde_json::from_str::<Timestamp>("\"2026-05-27TNaN:00:00Z\"").unwrap_err();
        assert!(e.to_string().contains("not an RFC 3339 time"), "{e}");
        assert_eq!(Timestamp::from_unix_s(f64::NAN), None);
        assert_eq!(Timestamp::from_unix_s(1e12), None);
        // The calendar's last half millisecond would be written as 10000: refused.
        assert!("9999-12-31T23:59:59.9996Z".parse::<Timestamp>().is_err());
        assert_eq!(
            "9999-12-31T23:59:59.999Z"
                .parse::<Timestamp>()
                .unwrap()
                .to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        for spaced in [
            "\n2026-05-27T10:00:00Z",
            "2026-05-27T10:00:00Z\t",
            " 2026-05-27T10:00:00Z",
        ] {
            assert!(spaced.parse::<Timestamp>().is_err(), "{spaced:?}");
        }
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
