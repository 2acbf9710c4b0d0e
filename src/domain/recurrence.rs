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
/// The weekdays, as RFC 5545 writes them.
const WEEKDAY: &str = "(MO|TU|WE|TH|FR|SA|SU)";
/// A date of the calendar written `YYYYMMDD`, from 1970 (the crate's series start) to 9999.
const UNTIL_DATE: &str = concat!(
    "((19[7-9][0-9]|[2-9][0-9]{3})((0[13578]|1[02])(0[1-9]|[12][0-9]|3[01])",
    "|(0[469]|11)(0[1-9]|[12][0-9]|30)|02(0[1-9]|1[0-9]|2[0-8]))",
    "|(19(7[26]|8[048]|9[26])|[2-9][0-9](0[48]|[2468][048]|[13579][26])|([2468][048]|[3579][26])00)0229)"
);
/// A time of day written `THHMMSS`, in UTC when `Z` follows (either way read as UTC).
const UNTIL_TIME: &str = "(T([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]Z?)?";
/// 1 to 999: how many periods apart the occurrences are.
const INTERVAL: &str = "[1-9][0-9]{0,2}";
/// 1 to 999,999,999 occurrences.
const COUNT: &str = "[1-9][0-9]{0,8}";
/// A month, 1 to 12.
const MONTH: &str = "([1-9]|1[0-2])";
/// A day of the month from its start (1 to 31) or its end (-1 to -31).
const MONTH_DAY: &str = "-?([1-9]|[12][0-9]|3[01])";

/// What a part may hold with one frequency (as the `rrule` crate checks it).
struct FrequencyRules {
    name: &'static str,
    /// Whether `BYMONTHDAY` may be given (not with `WEEKLY`).
    by_month_day: bool,
    /// The ordinal a `BYDAY` weekday may have (`2MO`, `-1FR`); `None`: none.
    weekday_ordinal: Option<&'static str>,
    /// A `BYSETPOS` value.
    set_position: &'static str,
}

const FREQUENCY_RULES: [FrequencyRules; 4] = [
    FrequencyRules {
        name: "DAILY",
        by_month_day: true,
        weekday_ordinal: None,
        set_position: "-?([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])",
    },
    FrequencyRules {
        name: "WEEKLY",
        by_month_day: false,
        weekday_ordinal: None,
        set_position: "-?([1-9]|[1-4][0-9]|5[0-3])",
    },
    FrequencyRules {
        name: "MONTHLY",
        by_month_day: true,
        weekday_ordinal: Some("([1-5]|-[1-4])"),
        set_position: "-?([1-9]|[12][0-9]|3[01])",
    },
    FrequencyRules {
        name: "YEARLY",
        by_month_day: true,
        weekday_ordinal: Some("([1-9]|[1-4][0-9]|5[0-3]|-([1-9]|[1-4][0-9]|5[0-2]))"),
        set_position: "-?([1-9]|[1-9][0-9]|[12][0-9]{2}|3[0-5][0-9]|36[0-6])",
    },
];

/// `item`, one or more times, separated by commas.
fn list(item: &str) -> String {
    format!("{item}(,{item})*")
}

impl FrequencyRules {
    /// The rule's grammar with this frequency: `FREQ` first, then each other part at most once,
    /// in the order `INTERVAL`, `COUNT` or `UNTIL`, `BYMONTH`, `BYMONTHDAY`, `BYDAY`,
    /// `BYSETPOS` (only after another `BY` part), `WKST`.
    fn pattern(&self) -> String {
        let by_month = format!(";BYMONTH={}", list(MONTH));
        let by_month_day = format!(";BYMONTHDAY={}", list(MONTH_DAY));
        let weekday = match self.weekday_ordinal {
            Some(ordinal) => format!("{ordinal}?{WEEKDAY}"),
            None => WEEKDAY.to_owned(),
        };
        let by_day = format!(";BYDAY={}", list(&weekday));
        let some_by = match self.by_month_day {
            true => [
                format!("{by_month}({by_month_day})?({by_day})?"),
                format!("{by_month_day}({by_day})?"),
                by_day,
            ]
            .join("|"),
            false => [format!("{by_month}({by_day})?"), by_day].join("|"),
        };
        format!(
            "{name}(;INTERVAL={INTERVAL})?(;(COUNT={COUNT}|UNTIL={UNTIL_DATE}{UNTIL_TIME}))?\
             (({some_by})(;BYSETPOS={set_position})?)?(;WKST={WEEKDAY})?",
            name = self.name,
            set_position = list(self.set_position),
        )
    }
}

/// A rule as a pattern: what `Recurrence::parse` takes, in upper case and its parts in one
/// order (the server also takes lower case and any order), `RRULE:` first or not.
pub fn recurrence_pattern() -> String {
    let frequencies: Vec<String> = FREQUENCY_RULES
        .iter()
        .map(FrequencyRules::pattern)
        .collect();
    format!("^(RRULE:)?FREQ=({})$", frequencies.join("|"))
}

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

    /// A string `hir` matches, each choice (alternative, repetition count, character of a class)
    /// made by `random`.
    fn generate(hir: &regex_syntax::hir::Hir, random: &mut impl FnMut(usize) -> usize) -> String {
        use regex_syntax::hir::{Class, HirKind};
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => String::new(),
            HirKind::Literal(literal) => String::from_utf8(literal.0.to_vec()).unwrap(),
            HirKind::Class(Class::Unicode(class)) => {
                let range = class.ranges()[random(class.ranges().len())];
                let width = range.end() as usize - range.start() as usize + 1;
                char::from_u32(range.start() as u32 + random(width) as u32)
                    .unwrap()
                    .to_string()
            }
            HirKind::Class(Class::Bytes(_)) => unreachable!("the pattern is Unicode"),
            HirKind::Repetition(repetition) => {
                let min = repetition.min as usize;
                let max = repetition.max.map_or(min + 3, |max| max as usize);
                (0..min + random(max - min + 1))
                    .map(|_| generate(&repetition.sub, random))
                    .collect()
            }
            HirKind::Capture(capture) => generate(&capture.sub, random),
            HirKind::Concat(parts) => parts.iter().map(|part| generate(part, random)).collect(),
            HirKind::Alternation(choices) => generate(&choices[random(choices.len())], random),
        }
    }

    #[test]
    fn every_rule_the_pattern_takes_parses_and_rolls_forward() {
        let pattern = recurrence_pattern();
        let grammar = regex_syntax::parse(&pattern).unwrap();
        let matcher = regex::Regex::new(&pattern).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        for round in 0..2000 {
            let rule = generate(&grammar, &mut random);
            assert!(matcher.is_match(&rule), "{rule}");
            if rule.chars().count() > RECURRENCE_MAX_CHARS {
                continue; // the contract's maxLength refuses it
            }
            let recurrence = Recurrence::parse(&rule).unwrap_or_else(|err| panic!("{rule}: {err}"));
            // Completing a task rolls it forward without failing, whatever the series (some
            // rules, such as the 30th of February, have no occurrence: the crate gives up after
            // a bounded search, which unoptimised takes a while, so a sample).
            if round % 40 == 0 {
                recurrence.next_after(day("2026-12-07"), day("2026-12-07"));
            }
        }
        for refused in [
            "A=0",
            "RRULE:A=0",
            "FREQ=HOURLY",
            "FREQ=WEEKLY;BYMONTHDAY=1",
            "FREQ=DAILY;BYSETPOS=1",
            "FREQ=DAILY;BYDAY=2MO",
            "FREQ=MONTHLY;BYDAY=-5MO",
            "FREQ=DAILY;UNTIL=19691231",
            "FREQ=DAILY;UNTIL=20270229",
            "FREQ=DAILY;INTERVAL=0",
        ] {
            assert!(!matcher.is_match(refused), "{refused}");
        }
        for example in [
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE",
            "FREQ=YEARLY;UNTIL=20280229",
        ] {
            assert!(matcher.is_match(example), "{example}");
        }
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
