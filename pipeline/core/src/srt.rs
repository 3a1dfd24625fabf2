//! DJI `.SRT` telemetry sidecars.
//!
//! [`write_record`] writes the modern bracket dialect that current DJI aircraft record, one
//! record per video frame:
//!
//! ```text
//! 1
//! 00:00:00,000 --> 00:00:00,033
//! <font size="28">FrameCnt: 1, DiffTime: 33ms
//! 2026-05-27 10:00:00.000
//! [iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [focal_len: 24.00] [dzoom_ratio: 1.00], [latitude: 30.7000000] [longitude: 121.0200000] [rel_alt: 100.000 abs_alt: 104.500] [gb_yaw: 0.0 gb_pitch: -90.0 gb_roll: 0.0] </font>
//! ```
//!
//! [`parse`] reads records back: the subtitle index and time range, the `FrameCnt`, the
//! timestamp line and every `key: number` pair of the body (so two values sharing one bracket,
//! stray commas and the `longtitude` misspelling are all fine). Records are keyed by their time,
//! never by position (see `formats.md` §3).

use std::fmt::Write as _;

/// One telemetry record: the subtitle's time span and the fields of its body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SrtRecord {
    /// The subtitle index (1-based).
    pub index: u32,
    /// Start of the record's time span, seconds from the start of the video.
    pub start_s: f64,
    /// End of the record's time span, seconds.
    pub end_s: f64,
    /// `FrameCnt`, when present.
    pub frame_cnt: Option<u32>,
    /// The wall-clock line (`2026-05-27 10:00:00.000`), when present.
    pub datetime: Option<String>,
    /// Every `key: number` pair of the body, lower-cased keys, in order.
    pub fields: Vec<(String, f64)>,
    /// The body's lines without their markup, joined by newlines (for dialect readers).
    pub body: String,
    /// The 1-based line of the record's index.
    pub line: usize,
}

impl SrtRecord {
    /// The value of a field (keys are compared lower-case; `longtitude` answers for `longitude`).
    pub fn get(&self, key: &str) -> Option<f64> {
        self.fields
            .iter()
            .find(|(k, _)| k == key || (key == "longitude" && k == "longtitude"))
            .map(|(_, v)| *v)
    }

    /// The record's mid time, seconds.
    pub fn mid_s(&self) -> f64 {
        (self.start_s + self.end_s) / 2.0
    }
}

/// What one frame's telemetry says, for [`write_record`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Telemetry {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height above the take-off point, metres.
    pub rel_alt: f64,
    /// Barometric absolute altitude, metres.
    pub abs_alt: f64,
    /// Gimbal yaw, degrees clockwise from north.
    pub gb_yaw: f64,
    /// Gimbal pitch, degrees (−90 = nadir).
    pub gb_pitch: f64,
    /// Gimbal roll, degrees.
    pub gb_roll: f64,
    /// 35 mm-equivalent focal length, millimetres.
    pub focal_len: f64,
}

/// Errors reading an SRT file. Line numbers are 1-based.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SrtError {
    /// The file holds no record at all.
    #[error("no telemetry records (empty file)")]
    Empty,
    /// A record's first line is not a subtitle index.
    #[error("line {line}: expected a record number, found {found:?}")]
    BadIndex {
        /// Where.
        line: usize,
        /// The offending text.
        found: String,
    },
    /// A record's second line is not `HH:MM:SS,mmm --> HH:MM:SS,mmm`.
    #[error("line {line}: expected a time range `HH:MM:SS,mmm --> HH:MM:SS,mmm`, found {found:?}")]
    BadTimeRange {
        /// Where.
        line: usize,
        /// The offending text.
        found: String,
    },
    /// The file ends in the middle of a record.
    #[error("line {line}: record {index} is cut off (the file ends in the middle of it)")]
    Truncated {
        /// Where the record starts.
        line: usize,
        /// Its index.
        index: u32,
    },
}

fn format_time(t: f64) -> String {
    let ms = (t * 1000.0).round().max(0.0) as u64;
    format!(
        "{:02}:{:02}:{:02},{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn parse_time(s: &str) -> Option<f64> {
    let (hms, ms) = s.trim().split_once([',', '.'])?;
    let mut parts = hms.split(':');
    let h: u64 = parts.next()?.trim().parse().ok()?;
    let m: u64 = parts.next()?.parse().ok()?;
    let sec: u64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: f64 = format!("0.{ms}").parse().ok()?;
    Some((h * 3600 + m * 60 + sec) as f64 + frac)
}

/// Appends one record in DJI's modern bracket dialect to `out`.
/// `datetime` is the wall-clock line, e.g. `2026-05-27 10:00:00.000`.
pub fn write_record(
    out: &mut String,
    index: u32,
    start_s: f64,
    end_s: f64,
    datetime: &str,
    t: &Telemetry,
) {
    let diff_ms = ((end_s - start_s) * 1000.0).round() as i64;
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{index}\n{} --> {}\n<font size=\"28\">FrameCnt: {index}, DiffTime: {diff_ms}ms\n{datetime}\n\
         [iso: 100] [shutter: 1/1000.0] [fnum: 2.8] [ev: 0] [ct: 5500] [color_md : default] \
         [focal_len: {:.2}] [dzoom_ratio: 1.00], [latitude: {:.7}] [longitude: {:.7}] \
         [rel_alt: {:.3} abs_alt: {:.3}] [gb_yaw: {:.1} gb_pitch: {:.1} gb_roll: {:.1}] </font>\n\n",
        format_time(start_s),
        format_time(end_s),
        t.focal_len,
        t.lat,
        t.lon,
        t.rel_alt,
        t.abs_alt,
        t.gb_yaw,
        t.gb_pitch,
        t.gb_roll,
    );
}

/// Extracts `key: number` pairs from a record body (tags removed). Keys are lower-cased.
fn key_values(body: &str, out: &mut Vec<(String, f64)>) {
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let key = &body[start..i];
        let mut j = i;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b':' {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let num_start = j;
        while j < bytes.len()
            && (bytes[j].is_ascii_digit() || matches!(bytes[j], b'-' | b'+' | b'.'))
        {
            j += 1;
        }
        if let Ok(v) = body[num_start..j].parse::<f64>() {
            out.push((key.to_ascii_lowercase(), v));
        }
        i = j.max(i);
    }
}

fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// A wall-clock line: `2026-05-27 10:00:00.000`, `2017.08.05 14:11:51,393` or `2017.8.5 14:11:51`.
fn is_datetime(line: &str) -> bool {
    let Some((date, time)) = line.split_once(' ') else {
        return false;
    };
    let date_ok = date.split(['-', '.']).count() == 3
        && date
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.');
    let time = time.as_bytes();
    date_ok && time.len() >= 8 && time[2] == b':' && time[5] == b':'
}

/// Parses a whole SRT file.
pub fn parse(text: &str) -> Result<Vec<SrtRecord>, SrtError> {
    let text = text.trim_start_matches('\u{feff}');
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        let index: u32 = line.trim().parse().map_err(|_| SrtError::BadIndex {
            line: line_no,
            found: line.to_string(),
        })?;
        let Some(&(time_line, times)) = lines.get(i + 1) else {
            return Err(SrtError::Truncated {
                line: line_no,
                index,
            });
        };
        let bad_time = || SrtError::BadTimeRange {
            line: time_line,
            found: times.to_string(),
        };
        // Some legacy files (Mavic 2 era) carry no time range: the body follows the index and
        // the record's time comes from its wall-clock line.
        let untimed = !times.contains("-->") && is_datetime(strip_tags(times).trim());
        let (start_s, end_s) = if untimed {
            (f64::NAN, f64::NAN)
        } else {
            let (a, b) = times.split_once("-->").ok_or_else(bad_time)?;
            (
                parse_time(a).ok_or_else(bad_time)?,
                parse_time(b).ok_or_else(bad_time)?,
            )
        };
        let mut rec = SrtRecord {
            index,
            start_s,
            end_s,
            line: line_no,
            ..Default::default()
        };
        i += if untimed { 1 } else { 2 };
        let body_start = i;
        while i < lines.len() && !lines[i].1.trim().is_empty() {
            let body = strip_tags(lines[i].1);
            let body = body.trim();
            if is_datetime(body) {
                rec.datetime = Some(body.to_string());
            } else {
                key_values(body, &mut rec.fields);
            }
            if !rec.body.is_empty() {
                rec.body.push('\n');
            }
            rec.body.push_str(body);
            i += 1;
        }
        if i == body_start {
            return Err(SrtError::Truncated {
                line: line_no,
                index,
            });
        }
        rec.frame_cnt = rec.get("framecnt").map(|v| v as u32);
        records.push(rec);
    }
    if records.is_empty() {
        return Err(SrtError::Empty);
    }
    // A last record shorter than the one before was cut off while being written (a crash or a
    // full card): say so rather than read half a record.
    if let [.., prev, last] = records.as_slice()
        && last.body.lines().count() < prev.body.lines().count()
    {
        return Err(SrtError::Truncated {
            line: last.line,
            index: last.index,
        });
    }
    time_from_clock(&mut records)?;
    Ok(records)
}

/// Seconds of the day of a wall-clock line: `HH:MM:SS` then an optional `,mmm` or `.mmm`.
fn clock_s(datetime: &str) -> Option<f64> {
    let (_, time) = datetime.trim().split_once(' ')?;
    let mut parts = time.splitn(2, [',', '.']);
    let hms = parts.next()?;
    let ms: f64 = match parts.next() {
        Some(rest) => {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            format!("0.{digits}").parse().unwrap_or(0.0)
        }
        None => 0.0,
    };
    let v: Vec<f64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    (v.len() == 3).then(|| v[0] * 3600.0 + v[1] * 60.0 + v[2] + ms)
}

/// Gives untimed records (no `-->` line) their time from the wall clock, relative to the first.
fn time_from_clock(records: &mut [SrtRecord]) -> Result<(), SrtError> {
    let mut t0 = None;
    for r in records.iter_mut() {
        if !r.start_s.is_nan() {
            continue;
        }
        let bad = || SrtError::BadTimeRange {
            line: r.line + 1,
            found: r.datetime.clone().unwrap_or_default(),
        };
        let t = r.datetime.as_deref().and_then(clock_s).ok_or_else(bad)?;
        let t0 = *t0.get_or_insert(t);
        r.start_s = (t - t0).max(0.0);
        r.end_s = r.start_s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telemetry() -> Telemetry {
        Telemetry {
            lat: 30.7001234,
            lon: 121.0209876,
            rel_alt: 99.5,
            abs_alt: 104.25,
            gb_yaw: -162.8,
            gb_pitch: -45.0,
            gb_roll: 0.3,
            focal_len: 24.0,
        }
    }

    #[test]
    fn written_record_parses_back() {
        let mut s = String::new();
        write_record(
            &mut s,
            1,
            0.0,
            1.0 / 30.0,
            "2026-05-27 10:00:00.000",
            &telemetry(),
        );
        write_record(
            &mut s,
            2,
            1.0 / 30.0,
            2.0 / 30.0,
            "2026-05-27 10:00:00.033",
            &telemetry(),
        );
        let recs = parse(&s).unwrap();
        assert_eq!(recs.len(), 2);
        let r = &recs[1];
        assert_eq!((r.index, r.frame_cnt), (2, Some(2)));
        assert!((r.start_s - 0.033).abs() < 1e-9 && (r.end_s - 0.067).abs() < 1e-9);
        assert_eq!(r.datetime.as_deref(), Some("2026-05-27 10:00:00.033"));
        for (k, v) in [
            ("latitude", 30.7001234),
            ("longitude", 121.0209876),
            ("rel_alt", 99.5),
            ("abs_alt", 104.25),
            ("gb_yaw", -162.8),
            ("gb_pitch", -45.0),
            ("gb_roll", 0.3),
            ("focal_len", 24.0),
        ] {
            assert_eq!(r.get(k), Some(v), "{k}");
        }
    }

    #[test]
    fn shared_brackets_and_misspelt_longitude_are_read() {
        let text = "1\n00:00:00,000 --> 00:00:00,041\n<font size=\"28\">SrtCnt : 1, DiffTime : 41ms\n\
                    [latitude : 22.5] [longtitude : 113.9] [rel_alt: 5.400 abs_alt: -124.744]</font>\n";
        let r = &parse(text).unwrap()[0];
        assert_eq!(r.get("longitude"), Some(113.9));
        assert_eq!(r.get("abs_alt"), Some(-124.744));
        assert_eq!(r.get("srtcnt"), Some(1.0));
    }

    #[test]
    fn broken_files_give_located_errors() {
        assert_eq!(parse(""), Err(SrtError::Empty));
        assert_eq!(
            parse("1\n00:00:00,000 -> 00:00:01,000\nx: 1\n"),
            Err(SrtError::BadTimeRange {
                line: 2,
                found: "00:00:00,000 -> 00:00:01,000".into()
            })
        );
        assert_eq!(
            parse("1\n00:00:00,000 --> 00:00:01,000\nx: 1\n\n2\n"),
            Err(SrtError::Truncated { line: 5, index: 2 })
        );
        assert!(matches!(
            parse("GPS here\n"),
            Err(SrtError::BadIndex { line: 1, .. })
        ));
    }
}
