//! When plans fly: `[schedule]` with a POSIX/Vixie cron (through `croner`, an optional leading
//! seconds field), an IANA zone (through `chrono-tz`, whose database is compiled in), blackout
//! hours and dates, and a catch-up window; and a [`Scheduler`] that says which runs of many
//! plans are due at a tick.
//!
//! The zone's clock changes are the cron library's: a run at a local time that a spring change
//! skips and one at a time that an autumn change repeats each happen once (see
//! `flight-plans/tests/schedule.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone as _, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::Deserialize;

fn default_zone() -> String {
    "UTC".into()
}
fn default_catch_up() -> f64 {
    600.0
}

/// `[schedule]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// `0 8,15 * * 1-5`: minute hour day-of-month month day-of-week, an optional leading seconds
    /// field.
    pub cron: String,
    /// An IANA zone (`Asia/Shanghai`); UTC by default.
    #[serde(default = "default_zone")]
    pub timezone: String,
    /// Local hours in which no run starts, as vending zones write them (`12:00-13:30,22:00-24:00`).
    #[serde(default)]
    pub blackout_hours: Option<String>,
    /// Local dates without runs: `2026-10-01` or `2026-10-01/2026-10-07` (both included).
    #[serde(default)]
    pub blackout_dates: Vec<String>,
    /// A run missed by less than this is flown late; an older one is recorded as missed, s.
    #[serde(default = "default_catch_up")]
    pub catch_up_s: f64,
}

/// A schedule that cannot be used, naming the key and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron does not parse (the library's reason).
    #[error("schedule.cron: {cron:?} does not parse: {reason}")]
    Cron {
        /// As written.
        cron: String,
        /// Why.
        reason: String,
    },
    /// Not an IANA zone.
    #[error("schedule.timezone: {0:?} is not an IANA time zone")]
    Zone(String),
    /// Bad blackout hours.
    #[error("schedule.blackout_hours: {0:?} is not HH:MM-HH:MM[,HH:MM-HH:MM…]")]
    Hours(String),
    /// A bad blackout date or range.
    #[error("schedule.blackout_dates: {0:?} is not YYYY-MM-DD or YYYY-MM-DD/YYYY-MM-DD (in order)")]
    Dates(String),
    /// A catch-up window out of range.
    #[error("schedule.catch_up_s = {0} is outside [0, 86400]")]
    CatchUp(f64),
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    /// The zone its cron is read in.
    pub tz: Tz,
    blackout_hours: Vec<(u32, u32)>,
    blackout_dates: Vec<(NaiveDate, NaiveDate)>,
    /// See [`ScheduleSpec::catch_up_s`].
    pub catch_up_s: f64,
}

/// Most cron matches looked at for one next run (a blackout can hide many).
const MAX_SCAN: usize = 100_000;

impl ScheduleSpec {
    /// Checks every key.
    pub fn parse(&self) -> Result<Schedule, ScheduleError> {
        if self.cron.chars().any(char::is_control) {
            return Err(ScheduleError::Cron {
                cron: self.cron.escape_default().to_string(),
                reason: "it holds a control character".into(),
            });
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(&self.cron)
            .map_err(|e| ScheduleError::Cron {
                cron: self.cron.clone(),
                reason: e.to_string(),
            })?;
        let tz =
            Tz::from_str(&self.timezone).map_err(|_| ScheduleError::Zone(self.timezone.clone()))?;
        let blackout_hours = match &self.blackout_hours {
            None => Vec::new(),
            Some(h) => {
                argus_core::map::parse_hours(h).ok_or_else(|| ScheduleError::Hours(h.clone()))?
            }
        };
        let blackout_dates = self
            .blackout_dates
            .iter()
            .map(|d| {
                let bad = || ScheduleError::Dates(d.clone());
                let day =
                    |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| bad());
                let (a, b) = match d.split_once('/') {
                    Some((a, b)) => (day(a)?, day(b)?),
                    None => (day(d)?, day(d)?),
                };
                if b < a {
                    return Err(bad());
                }
                Ok((a, b))
            })
            .collect::<Result<_, _>>()?;
        if !(self.catch_up_s.is_finite() && (0.0..=86_400.0).contains(&self.catch_up_s)) {
            return Err(ScheduleError::CatchUp(self.catch_up_s));
        }
        Ok(Schedule {
            cron,
            tz,
            blackout_hours,
            blackout_dates,
            catch_up_s: self.catch_up_s,
        })
    }
}

/// A blackout window: local minutes of the day `[from, to)`, or dates `[from, to]`.
#[derive(Debug, Clone, Copy)]
enum Window {
    Hours(u32, u32),
    Dates(NaiveDate, NaiveDate),
}

impl Schedule {
    /// The blackout window `local` falls in: a date range first (it covers whole days), else
    /// an hour window.
    fn window(&self, local: DateTime<Tz>) -> Option<Window> {
        let date = local.date_naive();
        let minute = local.hour() * 60 + local.minute();
        self.blackout_dates
            .iter()
            .find(|&&(a, b)| (a..=b).contains(&date))
            .map(|&(a, b)| Window::Dates(a, b))
            .or_else(|| {
                self.blackout_hours
                    .iter()
                    .find(|&&(a, b)| (a..b).contains(&minute))
                    .map(|&(a, b)| Window::Hours(a, b))
            })
    }

    /// Whether a run at `t` falls in a blackout (its local hour or date).
    pub fn blacked_out(&self, t: DateTime<Utc>) -> bool {
        self.window(t.with_timezone(&self.tz)).is_some()
    }

    /// The blackout a run at `t` falls in, as the plan writes it (`2026-10-01/2026-10-07`, or
    /// `12:00-13:30` in its zone).
    pub fn blackout(&self, t: DateTime<Utc>) -> Option<String> {
        Some(match self.window(t.with_timezone(&self.tz))? {
            Window::Dates(a, b) => format!("{a}/{b}"),
            Window::Hours(a, b) => format!(
                "{:02}:{:02}-{:02}:{:02} {}",
                a / 60,
                a % 60,
                b / 60,
                b % 60,
                self.tz
            ),
        })
    }

    /// The cron's first instant strictly after `t`, blackouts included (a scheduler records
    /// those as skipped).
    pub fn instant_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .iter_after(t.with_timezone(&self.tz))
            .next()
            .map(|l| l.with_timezone(&Utc))
    }

    /// Where the blackout that `local` falls in ends (local), if it falls in one: the day
    /// after a date range, or the end of an hour window.
    fn blackout_end(&self, local: DateTime<Tz>) -> Option<DateTime<Tz>> {
        let end = match self.window(local)? {
            Window::Dates(_, b) => b.succ_opt()?.and_hms_opt(0, 0, 0)?,
            Window::Hours(_, b) => {
                local.date_naive().and_hms_opt(0, 0, 0)? + chrono::Duration::minutes(i64::from(b))
            }
        };
        // A local time that a spring change skips: an hour earlier (too early is only slower).
        self.tz.from_local_datetime(&end).earliest().or_else(|| {
            self.tz
                .from_local_datetime(&(end - chrono::Duration::hours(1)))
                .earliest()
        })
    }

    /// The first run strictly after `t`, blackouts skipped (each passed at once, however many
    /// matches it hides); `None` if the cron never matches again (or not within [`MAX_SCAN`]
    /// matches and blackouts).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = t.with_timezone(&self.tz);
        let mut inclusive = false;
        for _ in 0..MAX_SCAN {
            let next = self.cron.find_next_occurrence(&from, inclusive).ok()?;
            if !self.blacked_out(next.with_timezone(&Utc)) {
                return Some(next.with_timezone(&Utc));
            }
            match self.blackout_end(next) {
                Some(end) if end > next => (from, inclusive) = (end, true),
                _ => (from, inclusive) = (next, false),
            }
        }
        None
    }

    /// Every run in `(from, until]`, blackouts skipped.
    pub fn runs(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut at = from;
        while let Some(next) = self.next_after(at) {
            if next > until {
                break;
            }
            out.push(next);
            at = next;
        }
        out
    }
}

/// What a tick found for one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Fly this run now (on time, or late within its catch-up window).
    Fly {
        /// The plan's index.
        plan: usize,
        /// When it was scheduled.
        at: DateTime<Utc>,
    },
    /// This run was missed by more than its catch-up window (or a later run supersedes it).
    Missed {
        /// The plan's index.
        plan: usize,
        /// When it was scheduled.
        at: DateTime<Utc>,
    },
}

/// The next run of every plan, earliest first: a tick looks only at what is due.
#[derive(Debug)]
pub struct Scheduler {
    schedules: Vec<Schedule>,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
}

/// Most missed runs one plan reports in one tick (a scheduler down for a year reports the
/// latest ones).
pub const MAX_MISSED_PER_TICK: usize = 1000;

impl Scheduler {
    /// A scheduler whose runs start after `start`.
    pub fn new(schedules: Vec<Schedule>, start: DateTime<Utc>) -> Self {
        let queue = schedules
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.next_after(start).map(|t| Reverse((t, k))))
            .collect();
        Self { schedules, queue }
    }

    /// The earliest next run, if any.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse((t, _))| *t)
    }

    /// The runs due at `now`, in time order: each plan flies at most its latest run within
    /// its catch-up window; older ones are missed.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some(&Reverse((at, plan))) = self.queue.peek() {
            if at > now {
                break;
            }
            self.queue.pop();
            let s = &self.schedules[plan];
            // Every run of this plan up to now: the latest may fly, the rest are missed.
            let mut runs = vec![at];
            let mut next = s.next_after(at);
            while let Some(t) = next.filter(|t| *t <= now) {
                runs.push(t);
                if runs.len() > MAX_MISSED_PER_TICK {
                    runs.remove(0);
                }
                next = s.next_after(t);
            }
            let last = runs.len() - 1;
            for (i, &t) in runs.iter().enumerate() {
                let late_s = (now - t).num_milliseconds() as f64 / 1000.0;
                out.push(if i == last && late_s <= s.catch_up_s {
                    Due::Fly { plan, at: t }
                } else {
                    Due::Missed { plan, at: t }
                });
            }
            if let Some(t) = next {
                self.queue.push(Reverse((t, plan)));
            }
        }
        out.sort_by_key(|d| match d {
            Due::Fly { at, .. } | Due::Missed { at, .. } => *at,
        });
        out
    }
}
