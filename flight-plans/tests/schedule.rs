//! Schedules: every run once, in the plan's zone, across clock changes; blackouts; catch-up.

use argus_flightplan::schedule::{Due, Schedule, ScheduleSpec, Scheduler};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

fn spec(cron: &str, zone: &str) -> ScheduleSpec {
    ScheduleSpec {
        cron: cron.into(),
        timezone: zone.into(),
        blackout_hours: None,
        blackout_dates: vec![],
        catch_up_s: 600.0,
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// The cron library's own iterator over the same span, in UTC.
fn library_runs(
    cron: &str,
    tz: Tz,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let c: croner::Cron = cron.parse().unwrap();
    c.iter_after(from.with_timezone(&tz))
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= until)
        .collect()
}

#[test]
fn weekday_patrols_in_shanghai_over_a_month() {
    let s = spec("0 8,15 * * 1-5", "Asia/Shanghai").parse().unwrap();
    let (from, until) = (utc(2026, 11, 30, 16, 0), utc(2026, 12, 31, 16, 0));
    let runs = s.runs(from, until);
    assert_eq!(runs, shanghai_december());
    assert_eq!(
        runs,
        library_runs("0 8,15 * * 1-5", Tz::Asia__Shanghai, from, until)
    );
}

/// By hand: Shanghai is UTC+8 all year, so 08:00 and 15:00 are 00:00 and 07:00 UTC on every
/// Monday to Friday of December 2026 (23 weekdays).
fn shanghai_december() -> Vec<DateTime<Utc>> {
    let mut table = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
    while day.month() == 12 {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            for h in [0, 7] {
                table.push(Utc.from_utc_datetime(&day.and_hms_opt(h, 0, 0).unwrap()));
            }
        }
        day = day.succ_opt().unwrap();
    }
    assert_eq!(table.len(), 46);
    table
}

/// `flightplan next PLAN --count N --from FROM` on a plan scheduled by `cron` in `zone`: the
/// UTC instants it lists, and its lines.
fn cli_next(
    cron: &str,
    zone: &str,
    from: DateTime<Utc>,
    count: usize,
) -> (Vec<DateTime<Utc>>, String) {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "schema = \"argus.plan/1\"\nid = \"t\"\ndock = \"dock-1\"\nkind = \"points\"\n\
             [geometry]\npoints = [[30.701, 121.019]]\n[camera]\npreset = \"sim-1080p\"\n\
             [schedule]\ncron = \"{cron}\"\ntimezone = \"{zone}\"\n"
        ),
    )
    .unwrap();
    let docks = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docks.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightplan"))
        .arg("next")
        .arg(&plan)
        .arg("--docks")
        .arg(&docks)
        .args(["--count", &count.to_string(), "--from", &from.to_rfc3339()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `LOCAL TIME ZONE-ABBR DAY  ZONE  (UTC)`
    let runs = text
        .lines()
        .map(|l| {
            let utc = l.rsplit_once('(').and_then(|(_, r)| r.strip_suffix(')'));
            utc.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .unwrap_or_else(|| panic!("not a run line: {l:?}"))
                .with_timezone(&Utc)
        })
        .collect();
    (runs, text)
}

#[test]
fn flightplan_next_lists_each_run_once() {
    // A month of weekday patrols in Shanghai, and the first run of the next month.
    let from = utc(2026, 11, 30, 16, 0);
    let (runs, text) = cli_next("0 8,15 * * 1-5", "Asia/Shanghai", from, 47);
    assert_eq!(runs[..46], shanghai_december(), "{text}");
    assert_eq!(runs[46], utc(2027, 1, 1, 0, 0), "{text}");
    assert_eq!(
        runs,
        library_runs(
            "0 8,15 * * 1-5",
            Tz::Asia__Shanghai,
            from,
            utc(2027, 1, 1, 0, 0)
        )
    );
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with("2026-12-01 08:00:00 CST Tue  Asia/Shanghai"),
        "{text}"
    );
    // Berlin's clock changes, by hand. Spring: 02:30 does not exist on 29 March; the run is
    // flown when the clock jumps to 03:00 CEST. Autumn: 02:30 happens twice on 25 October;
    // the run is flown once, at the first.
    let berlin = [
        (
            "30 2 * * *",
            utc(2026, 3, 26, 0, 0),
            vec![
                utc(2026, 3, 26, 1, 30),
                utc(2026, 3, 27, 1, 30),
                utc(2026, 3, 28, 1, 30),
                utc(2026, 3, 29, 1, 0),
                utc(2026, 3, 30, 0, 30),
                utc(2026, 3, 31, 0, 30),
                utc(2026, 4, 1, 0, 30),
            ],
        ),
        (
            "30 2 * * *",
            utc(2026, 10, 22, 0, 0),
            vec![
                utc(2026, 10, 22, 0, 30),
                utc(2026, 10, 23, 0, 30),
                utc(2026, 10, 24, 0, 30),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 26, 1, 30),
                utc(2026, 10, 27, 1, 30),
                utc(2026, 10, 28, 1, 30),
            ],
        ),
        // Hourly across the autumn change: 25 runs on the local day that has 25 hours, 02:00
        // twice (CEST, then CET).
        (
            "0 * * * *",
            utc(2026, 10, 24, 21, 59),
            (0..25)
                .map(|h| utc(2026, 10, 24, 22, 0) + Duration::hours(h))
                .collect(),
        ),
        // …and 23 on the spring day that has 23.
        (
            "0 * * * *",
            utc(2026, 3, 28, 22, 59),
            (0..23)
                .map(|h| utc(2026, 3, 28, 23, 0) + Duration::hours(h))
                .collect(),
        ),
    ];
    for (cron, from, table) in berlin {
        let (runs, text) = cli_next(cron, "Europe/Berlin", from, table.len());
        assert_eq!(runs, table, "{cron} after {from}:\n{text}");
        let last = *table.last().unwrap();
        assert_eq!(
            runs,
            library_runs(cron, Tz::Europe__Berlin, from, last),
            "{cron}"
        );
        if cron == "0 * * * *" && from.month() == 10 {
            assert!(text.contains("2026-10-25 02:00:00 CEST Sun"), "{text}");
            assert!(text.contains("2026-10-25 02:00:00 CET Sun"), "{text}");
        }
    }
}

#[test]
fn berlins_clock_changes_lose_and_double_no_run() {
    let tz = Tz::Europe__Berlin;
    for (cron, from, until) in [
        // Spring forward on 29 March 2026: 02:00 CET becomes 03:00 CEST.
        ("30 2 * * *", utc(2026, 3, 26, 0, 0), utc(2026, 4, 2, 0, 0)),
        (
            "0 * * * *",
            utc(2026, 3, 28, 22, 0),
            utc(2026, 3, 29, 22, 0),
        ),
        // Fall back on 25 October 2026: 03:00 CEST becomes 02:00 CET.
        (
            "30 2 * * *",
            utc(2026, 10, 22, 0, 0),
            utc(2026, 10, 29, 0, 0),
        ),
        (
            "0 * * * *",
            utc(2026, 10, 24, 22, 0),
            utc(2026, 10, 25, 23, 0),
        ),
    ] {
        let s = spec(cron, "Europe/Berlin").parse().unwrap();
        let runs = s.runs(from, until);
        assert_eq!(
            runs,
            library_runs(cron, tz, from, until),
            "{cron} from {from}"
        );
        let mut sorted = runs.clone();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            runs.len(),
            "{cron}: a run is doubled: {runs:?}"
        );
        if cron == "30 2 * * *" {
            // One run on every local day, the day of the change included.
            let days: Vec<NaiveDate> = runs
                .iter()
                .map(|t| t.with_timezone(&tz).date_naive())
                .collect();
            let mut unique = days.clone();
            unique.dedup();
            assert_eq!(days, unique, "{runs:?}");
            assert_eq!(days.len(), 7, "{runs:?}");
        } else {
            // Hourly: every hour of the day, whatever its local name (23 in spring, 25 in
            // autumn).
            for w in runs.windows(2) {
                assert_eq!(w[1] - w[0], Duration::hours(1), "{runs:?}");
            }
            assert_eq!(runs.len() as i64, (until - from).num_hours(), "{runs:?}");
        }
    }
}

#[test]
fn blackouts_skip_runs_and_bad_keys_are_named() {
    let mut sp = spec("0 */2 * * *", "Asia/Shanghai");
    sp.blackout_hours = Some("12:00-13:30".into());
    sp.blackout_dates = vec!["2026-10-01/2026-10-07".into(), "2026-10-10".into()];
    let s = sp.parse().unwrap();
    let runs = s.runs(utc(2026, 9, 29, 16, 0), utc(2026, 10, 11, 16, 0));
    let tz = Tz::Asia__Shanghai;
    for r in &runs {
        let l = r.with_timezone(&tz);
        assert_ne!(l.format("%H:%M").to_string(), "12:00");
        let d = l.date_naive();
        assert!(
            !(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap()
                ..=NaiveDate::from_ymd_opt(2026, 10, 7).unwrap())
                .contains(&d)
                && d != NaiveDate::from_ymd_opt(2026, 10, 10).unwrap(),
            "{l}"
        );
    }
    // 30 Sep, 8, 9 and 11 Oct: 12 runs a day less the one at noon.
    assert_eq!(runs.len(), 4 * 11);
    // A scheduler sees the instants a blackout hides, and the window that hides each.
    let noon = utc(2026, 9, 30, 4, 0);
    assert_eq!(s.instant_after(utc(2026, 9, 30, 3, 0)), Some(noon));
    assert_eq!(
        s.blackout(noon).as_deref(),
        Some("12:00-13:30 Asia/Shanghai")
    );
    assert_eq!(
        s.blackout(utc(2026, 10, 3, 0, 0)).as_deref(),
        Some("2026-10-01/2026-10-07")
    );
    assert_eq!(s.blackout(utc(2026, 9, 30, 6, 0)), None);
    for (mutate, says) in [
        (
            Box::new(|s: &mut ScheduleSpec| s.timezone = "Asia/Shangai".into())
                as Box<dyn Fn(&mut ScheduleSpec)>,
            "schedule.timezone: \"Asia/Shangai\" is not an IANA time zone",
        ),
        (
            Box::new(|s| s.cron = "0 25 * * *".into()),
            "schedule.cron: \"0 25 * * *\" does not parse",
        ),
        (Box::new(|s| s.cron = "every day".into()), "schedule.cron"),
        (
            Box::new(|s| s.blackout_hours = Some("12-13".into())),
            "schedule.blackout_hours",
        ),
        (
            Box::new(|s| s.blackout_dates = vec!["2026-10-07/2026-10-01".into()]),
            "schedule.blackout_dates",
        ),
        (Box::new(|s| s.catch_up_s = f64::NAN), "schedule.catch_up_s"),
    ] {
        let mut bad = spec("0 8 * * *", "UTC");
        mutate(&mut bad);
        let e = bad.parse().unwrap_err().to_string();
        assert!(e.starts_with(says), "{e}");
    }
}

fn scheduler(catch_up_s: f64) -> (Scheduler, Schedule) {
    let mut sp = spec("0 8,15 * * *", "UTC");
    sp.catch_up_s = catch_up_s;
    let s = sp.parse().unwrap();
    (Scheduler::new(vec![s.clone()], utc(2026, 12, 1, 0, 0)), s)
}

#[test]
fn a_tick_flies_what_is_due_once_and_records_what_was_missed() {
    let (mut sch, _) = scheduler(600.0);
    assert_eq!(sch.next(), Some(utc(2026, 12, 1, 8, 0)));
    assert!(sch.tick(utc(2026, 12, 1, 7, 59)).is_empty());
    let due = sch.tick(utc(2026, 12, 1, 8, 0));
    assert_eq!(
        due,
        [Due::Fly {
            plan: 0,
            at: utc(2026, 12, 1, 8, 0)
        }]
    );
    // The same instant again: nothing twice.
    assert!(sch.tick(utc(2026, 12, 1, 8, 0)).is_empty());
    // Five minutes late: still flown.
    assert_eq!(
        sch.tick(utc(2026, 12, 1, 15, 5)),
        [Due::Fly {
            plan: 0,
            at: utc(2026, 12, 1, 15, 0)
        }]
    );
    // Down for a day and a half: the runs in between are missed, the last one too (it is an
    // hour old, beyond ten minutes).
    let due = sch.tick(utc(2026, 12, 3, 9, 0));
    assert_eq!(
        due,
        [
            Due::Missed {
                plan: 0,
                at: utc(2026, 12, 2, 8, 0)
            },
            Due::Missed {
                plan: 0,
                at: utc(2026, 12, 2, 15, 0)
            },
            Due::Missed {
                plan: 0,
                at: utc(2026, 12, 3, 8, 0)
            },
        ]
    );
    assert_eq!(sch.next(), Some(utc(2026, 12, 3, 15, 0)));
}

#[test]
fn a_long_blackout_is_passed_not_mistaken_for_the_end_of_the_schedule() {
    // Every minute, blacked out for a year: 525,600 hidden matches, more than are scanned one
    // by one; the next run is the first minute after it (it was once "no further run").
    let mut sp = spec("* * * * *", "Asia/Shanghai");
    sp.blackout_dates = vec!["2026-01-01/2026-12-31".into()];
    let s = sp.parse().unwrap();
    let tz = Tz::Asia__Shanghai;
    let first = tz.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        s.next_after(utc(2025, 12, 31, 15, 59)),
        Some(first.with_timezone(&Utc))
    );
    // Every second, a week of blackout dates, and blackout hours every day after it.
    let mut sp = spec("* * * * * *", "Europe/Berlin");
    sp.blackout_dates = vec!["2026-10-01/2026-10-07".into()];
    sp.blackout_hours = Some("00:00-06:00,06:00-12:00".into());
    let s = sp.parse().unwrap();
    let tz = Tz::Europe__Berlin;
    let first = tz.with_ymd_and_hms(2026, 10, 8, 12, 0, 0).unwrap();
    assert_eq!(
        s.next_after(utc(2026, 9, 30, 22, 0)),
        Some(first.with_timezone(&Utc))
    );
    // Blacked out for ever: no further run, soon.
    let mut sp = spec("* * * * * *", "UTC");
    sp.blackout_dates = vec!["2026-01-01/9999-12-31".into()];
    let started = std::time::Instant::now();
    assert_eq!(sp.parse().unwrap().next_after(utc(2026, 1, 1, 0, 0)), None);
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
}

#[test]
fn next_refuses_a_count_it_would_print_for_minutes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flightplan"))
        .args([
            "next",
            "plans/u03-area.toml",
            "--count",
            "18446744073709551615",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("--count"), "{e}");
}
