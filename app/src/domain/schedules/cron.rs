//! Cron expressions in an IANA time zone (SPEC §11).
//!
//! Five fields (minute, hour, day of month, month, day of week) or a
//! macro (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`,
//! `@annually`), read and evaluated by croner in the schedule's zone, with
//! the IANA database jiff bundles (the same one `get_time` reads, so a
//! server's own zone files do not change when a schedule fires).
//!
//! Daylight saving time follows croner (the Open Cron Pattern
//! Specification, as Vixie cron): a time that falls in a spring-forward
//! gap runs at the first minute after the gap when the minute and hour
//! are fixed (`30 2 * * *` runs at 03:00 that day), and is skipped when
//! they are wildcards or steps; in a fall-back overlap a fixed time runs
//! once, at its first occurrence, and a wildcard one runs in both passes
//! of the repeated hour. Times are searched in real time, so the next run
//! is never before the last.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::model::AppError;

const EXPRESSION_MAX_CHARS: usize = 200;

/// A parsed expression and its zone.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    zone: TimeZone,
    zone_name: String,
}

/// Reads `expression` in `timezone`; a bad one is a 422 naming the field
/// (`cron` or `timezone`) and saying what is wrong.
pub fn parse(expression: &str, timezone: &str) -> Result<CronSchedule, AppError> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Err(AppError::validation("cron", "cron: write an expression such as \"0 9 * * 1-5\" or \"@daily\""));
    }
    if expression.chars().count() > EXPRESSION_MAX_CHARS {
        return Err(AppError::validation("cron", format!("cron: at most {EXPRESSION_MAX_CHARS} characters")));
    }
    if !expression.starts_with('@') && expression.split_whitespace().count() != 5 {
        return Err(AppError::validation(
            "cron",
            "cron: five fields (minute hour day-of-month month day-of-week), or @hourly, @daily, @weekly, \
             @monthly, @yearly",
        ));
    }
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expression)
        .map_err(|e| AppError::validation("cron", format!("cron: {e}")))?;
    let timezone = timezone.trim();
    let zone = TimeZone::get(timezone).map_err(|_| {
        AppError::validation(
            "timezone",
            format!("timezone: {timezone:?} is not an IANA time zone such as Europe/Berlin"),
        )
    })?;
    Ok(CronSchedule { cron, zone, zone_name: timezone.to_string() })
}

const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// croner's reading, tidied: "At 09:00, on Monday, Tuesday, Wednesday,
/// Thursday, and Friday." becomes "At 09:00 on Monday through Friday".
fn tidy(words: &str) -> String {
    let mut out = words.trim().trim_end_matches('.').replace(", on ", " on ");
    // Three days or more in a row, longest first.
    for len in (3..=7).rev() {
        for start in 0..=(7 - len) {
            let days = &DAYS[start..start + len];
            let listed = format!("{}, and {}", days[..len - 1].join(", "), days[len - 1]);
            out = out.replace(&listed, &format!("{} through {}", days[0], days[len - 1]));
        }
    }
    out
}

fn to_chrono(t: Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.as_microsecond())
}

impl CronSchedule {
    /// The first time strictly after `after`; `None` when there is none
    /// (`0 0 30 2 *`, a 30 February).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = Timestamp::from_microsecond(after.timestamp_micros()).ok()?.to_zoned(self.zone.clone());
        let next: Zoned = self.cron.find_next_occurrence(&start, false).ok()?;
        to_chrono(next.timestamp())
    }

    /// The next `count` times after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut at = after;
        while out.len() < count {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// The expression in words, with its zone: "At 09:00 on Monday
    /// through Friday, Europe/Berlin" (croner's reading).
    pub fn describe(&self) -> String {
        format!("{}, {}", tidy(&self.cron.describe()), self.zone_name)
    }

    /// `t` as the zone's wall-clock time, `2027-03-28 03:00 CEST`.
    pub fn local(&self, t: DateTime<Utc>) -> String {
        match Timestamp::from_microsecond(t.timestamp_micros()) {
            Ok(ts) => ts.to_zoned(self.zone.clone()).strftime("%Y-%m-%d %H:%M %Z").to_string(),
            Err(_) => String::new(),
        }
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn next(expression: &str, zone: &str, after: &str) -> Vec<String> {
        let schedule = parse(expression, zone).unwrap();
        schedule.upcoming(utc(after), 3).into_iter().map(|t| t.to_rfc3339()).collect()
    }

    #[test]
    fn times_are_the_zone_s_wall_clock() {
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 in summer.
        assert_eq!(
            next("0 9 * * 1-5", "Europe/Berlin", "2027-03-24T12:00:00Z"),
            ["2027-03-25T08:00:00+00:00", "2027-03-26T08:00:00+00:00", "2027-03-29T07:00:00+00:00"]
        );
        // New York moves to EDT on 14 March: 09:00 is 14:00 UTC, then 13:00.
        assert_eq!(
            next("0 9 * * *", "America/New_York", "2027-03-13T12:00:00Z"),
            ["2027-03-13T14:00:00+00:00", "2027-03-14T13:00:00+00:00", "2027-03-15T13:00:00+00:00"]
        );
    }

    #[test]
    fn a_fixed_time_in_the_spring_forward_gap_runs_just_after_it() {
        // Berlin: 28 March 2027, 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2027-03-27T12:00:00Z")[..2],
            ["2027-03-28T01:00:00+00:00", "2027-03-29T00:30:00+00:00"]
        );
        // New York: 14 March 2027, 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        assert_eq!(
            next("30 2 * * *", "America/New_York", "2027-03-13T12:00:00Z")[..2],
            ["2027-03-14T07:00:00+00:00", "2027-03-15T06:30:00+00:00"]
        );
    }

    #[test]
    fn an_hourly_schedule_skips_the_missing_hour() {
        // 01:00 CET is 00:00 UTC; 02:00 does not exist; 03:00 CEST is 01:00 UTC.
        assert_eq!(
            next("0 * * * *", "Europe/Berlin", "2027-03-27T23:30:00Z"),
            ["2027-03-28T00:00:00+00:00", "2027-03-28T01:00:00+00:00", "2027-03-28T02:00:00+00:00"]
        );
    }

    #[test]
    fn the_fall_back_overlap_runs_a_fixed_time_once_and_an_hourly_one_twice() {
        // Berlin: 31 October 2027, 03:00 CEST falls back to 02:00 CET, so
        // 02:30 happens at 00:30 and again at 01:30 UTC.
        assert_eq!(
            next("30 2 * * *", "Europe/Berlin", "2027-10-30T12:00:00Z")[..2],
            ["2027-10-31T00:30:00+00:00", "2027-11-01T01:30:00+00:00"]
        );
        assert_eq!(
            next("30 * * * *", "Europe/Berlin", "2027-10-30T23:45:00Z"),
            ["2027-10-31T00:30:00+00:00", "2027-10-31T01:30:00+00:00", "2027-10-31T02:30:00+00:00"]
        );
    }

    #[test]
    fn macros_stand_for_their_expressions() {
        assert_eq!(next("@hourly", "UTC", "2027-01-01T10:15:00Z")[0], "2027-01-01T11:00:00+00:00");
        assert_eq!(next("@daily", "Europe/Berlin", "2027-01-01T10:15:00Z")[0], "2027-01-01T23:00:00+00:00");
        assert_eq!(next("@weekly", "UTC", "2027-01-01T10:15:00Z")[0], "2027-01-03T00:00:00+00:00");
        assert_eq!(next("@monthly", "UTC", "2027-01-01T10:15:00Z")[0], "2027-02-01T00:00:00+00:00");
        assert_eq!(next("@yearly", "UTC", "2027-01-01T10:15:00Z")[0], "2028-01-01T00:00:00+00:00");
    }

    #[test]
    fn bad_input_names_its_field() {
        for bad in ["", "  ", "* * * *", "0 0 * * * *", "61 * * * *", "0 25 * * *", "hello", "@sometimes"] {
            let e = parse(bad, "UTC").unwrap_err();
            assert_eq!(e.field(), Some("cron"), "{bad:?}: {}", e.message);
        }
        let e = parse("0 9 * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(e.field(), Some("timezone"));
        assert!(e.message.contains("Mars/Olympus"));
    }

    #[test]
    fn the_reading_says_the_zone() {
        let schedule = parse("0 9 * * 1-5", "Europe/Berlin").unwrap();
        let words = schedule.describe();
        assert_eq!(words, "At 09:00 on Monday through Friday, Europe/Berlin");
        assert_eq!(tidy("At 08:30, on Sunday, Monday, and Tuesday."), "At 08:30 on Sunday through Tuesday");
        assert_eq!(tidy("At 08:30, on Monday and Wednesday."), "At 08:30 on Monday and Wednesday");
        assert_eq!(schedule.local(utc("2027-03-29T07:00:00Z")), "2027-03-29 09:00 CEST");
    }
}
