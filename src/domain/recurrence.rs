//! A recurring task's rule: the value of an RFC 5545 RRULE, checked and its occurrences computed
//! by the `rrule` crate, on dates (a task's series is a series of days).

use chrono::{NaiveDate, NaiveTime, TimeZone};
use rrule::{RRule, RRuleSet, Tz, Unvalidated};

/// Longest rule, in characters, without `RRULE:`.
pub const RECURRENCE_MAX_CHARS: usize = 255;
/// What may lead a rule, and is dropped.
const PREFIX: &str = "RRULE:";
/// The parts a rule may have besides `FREQ`.
const PARTS: [&str; 8] = [
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
];
/// The frequencies a rule may have.
const FREQUENCIES: [&str; 4] = ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"];
/// A rule as sent, as a pattern: `NAME=VALUE` parts separated by `;`, `RRULE:` first or not.
pub const RECURRENCE_PATTERN: &str =
    r"^([Rr][Rr][Uu][Ll][Ee]:)?[A-Za-z]+=[A-Za-z0-9,+-]+(;[A-Za-z]+=[A-Za-z0-9,+-]+)*$";

/// A recurrence rule, normalised: upper case, without `RRULE:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence(String);

impl Recurrence {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let upper = raw.trim().to_ascii_uppercase();
        let rule = upper.strip_prefix(PREFIX).unwrap_or(&upper);
        let length = rule.chars().count();
        if length == 0 || length > RECURRENCE_MAX_CHARS {
            return Err(format!(
                "must be 1 to {RECURRENCE_MAX_CHARS} characters without RRULE: (got {length})"
            ));
        }
        let mut names = Vec::new();
        for part in rule.split(';') {
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!("{:?} is not NAME=VALUE", super::echo(part)));
            };
            if names.contains(&name) {
                return Err(format!("{:?} is given twice", super::echo(name)));
            }
            match name {
                "FREQ" if !FREQUENCIES.contains(&value) => {
                    return Err(format!(
                        "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY, got {:?}",
                        super::echo(value)
                    ))
                }
                "FREQ" => {}
                name if !PARTS.contains(&name) => {
                    return Err(format!(
                        "{:?} is not allowed: only FREQ, {}",
                        super::echo(name),
                        PARTS.join(", ")
                    ))
                }
                _ => {}
            }
            names.push(name);
        }
        if !names.contains(&"FREQ") {
            return Err("must have a FREQ".to_owned());
        }
        let recurrence = Self(rule.to_owned());
        recurrence
            .rule()?
            .validate(start_of(
                NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"),
            ))
            .map_err(|err| format!("does not parse: {err}"))?;
        Ok(recurrence)
    }

    /// A rule as stored (checked when it was written).
    pub fn stored(rule: String) -> Self {
        Self(rule)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The rule as the crate reads it. Occurrences are computed at midnight UTC, so an `UNTIL`
    /// that is a date (or a floating date-time) is read as that day's end in UTC, inclusive.
    fn rule(&self) -> Result<RRule<Unvalidated>, String> {
        let text = self
            .0
            .split(';')
            .map(|part| match part.strip_prefix("UNTIL=") {
                Some(until) if until.len() == 8 => format!("UNTIL={until}T235959Z"),
                Some(until) if !until.ends_with('Z') => format!("UNTIL={until}Z"),
                _ => part.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";");
        text.parse()
            .map_err(|err: rrule::RRuleError| format!("does not parse: {err}"))
    }

    /// The first date of the series that starts on `start` after `current`; `None` when the
    /// series has ended (its `COUNT` or `UNTIL` reached).
    pub fn next_after(&self, start: NaiveDate, current: NaiveDate) -> Option<NaiveDate> {
        let start_time = start_of(start);
        let rule = self.rule().ok()?.validate(start_time).ok()?;
        RRuleSet::new(start_time)
            .rrule(rule)
            .after(start_of(current.succ_opt()?))
            .all(1)
            .dates
            .first()
            .map(|occurrence| occurrence.date_naive())
    }
}

/// A date's midnight in UTC: when the series' occurrences fall.
fn start_of(date: NaiveDate) -> chrono::DateTime<Tz> {
    Tz::UTC.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn rules_are_normalised_and_limited_to_the_allowed_parts() {
        assert_eq!(
            Recurrence::parse("RRULE:freq=weekly;byday=MO,WE")
                .unwrap()
                .as_str(),
            "FREQ=WEEKLY;BYDAY=MO,WE"
        );
        assert!(Recurrence::parse("FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3").is_ok());
        assert!(Recurrence::parse("FREQ=YEARLY;UNTIL=20301231").is_ok());
        assert!(Recurrence::parse("FREQ=DAILY;UNTIL=20301231T120000Z").is_ok());
        for refused in [
            "",
            "FREQ=HOURLY",
            "FREQ=DAILY;BYHOUR=9",
            "FREQ=DAILY;FREQ=DAILY",
            "INTERVAL=2",
            "FREQ=DAILY;INTERVAL=x",
            "FREQ=DAILY;BYDAY=XX",
            "FREQ=DAILY;junk",
            "FREQ=MONTHLY;BYMONTHDAY=32",
        ] {
            assert!(Recurrence::parse(refused).is_err(), "{refused}");
        }
        let long = format!("FREQ=DAILY;BYMONTHDAY={}", vec!["1"; 200].join(","));
        assert!(Recurrence::parse(&long).is_err());
    }

    #[test]
    fn occurrences_follow_the_series_from_its_start() {
        let weekly = Recurrence::parse("FREQ=WEEKLY;BYDAY=MO,WE").unwrap();
        // 2026-12-07 is a Monday.
        assert_eq!(
            weekly.next_after(day("2026-12-07"), day("2026-12-07")),
            Some(day("2026-12-09"))
        );
        assert_eq!(
            weekly.next_after(day("2026-12-07"), day("2026-12-09")),
            Some(day("2026-12-14"))
        );
        // A monthly rule from the 31st skips the months without one.
        let monthly = Recurrence::parse("FREQ=MONTHLY").unwrap();
        assert_eq!(
            monthly.next_after(day("2026-01-31"), day("2026-01-31")),
            Some(day("2026-03-31"))
        );
        // COUNT counts from the series' start, not from the current date.
        let three = Recurrence::parse("FREQ=DAILY;COUNT=3").unwrap();
        assert_eq!(
            three.next_after(day("2026-12-01"), day("2026-12-02")),
            Some(day("2026-12-03"))
        );
        assert_eq!(three.next_after(day("2026-12-01"), day("2026-12-03")), None);
        // UNTIL as a date includes that day.
        let until = Recurrence::parse("FREQ=DAILY;UNTIL=20261205").unwrap();
        assert_eq!(
            until.next_after(day("2026-12-01"), day("2026-12-04")),
            Some(day("2026-12-05"))
        );
        assert_eq!(until.next_after(day("2026-12-01"), day("2026-12-05")), None);
    }
}
