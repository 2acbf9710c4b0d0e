//! When a task is due: a date (all day), a date and a wall-clock time (floating), or a date and a
//! time in an IANA time zone. The server never converts: the parts are kept as written.

use std::str::FromStr;

use chrono::{NaiveDate, NaiveTime};

use super::Invalid;

/// Longest time zone name stored, in characters.
pub const TIME_ZONE_MAX_CHARS: usize = 64;
/// A date as sent and answered: `YYYY-MM-DD`, a date of the (proleptic Gregorian) calendar:
/// months of 31, 30 and 28 days, and 29 February in a leap year (a year divisible by 4 and not
/// by 100, or by 400), as `parse_date` reads it.
pub const DATE_PATTERN: &str = concat!(
    r"^([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)",
    r"|02-(0[1-9]|1[0-9]|2[0-8]))",
    r"|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[048]|[2468][048]|[13579][26])00)-02-29)$"
);
/// A wall-clock time as sent: `HH:MM` or `HH:MM:SS`, 00:00 to 23:59:59 (answered `HH:MM:SS`).
pub const TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$";

/// A wall-clock time as answered: always `HH:MM:SS`.
pub const ANSWERED_TIME_PATTERN: &str = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$";
/// A time zone name's form, as answered (a request names one of `time_zone_names`).
pub const TIME_ZONE_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$";

/// The field names of a due date's parts.
pub const DUE_DATE_FIELD: &str = "due.date";
pub const DUE_TIME_FIELD: &str = "due.time";
pub const DUE_TIME_ZONE_FIELD: &str = "due.time_zone";

/// A calendar date written `YYYY-MM-DD` (a date that does not exist, such as `2026-02-30`, is
/// refused).
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let well_formed = raw.len() == 10
        && raw.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 => byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    match well_formed {
        true => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| format!("{raw:?} is not a date of the calendar")),
        false => Err(format!("must be a date written YYYY-MM-DD, got {raw:?}")),
    }
}

/// A wall-clock time written `HH:MM` or `HH:MM:SS` with two digits each, 00:00:00 to 23:59:59
/// (no fraction, no offset, no `24:00`, no leap second).
pub fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    let refused =
        || format!("must be a time written HH:MM or HH:MM:SS (00:00 to 23:59:59), got {raw:?}");
    let digits = |from: usize| {
        raw.get(from..from + 2)
            .filter(|two| two.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|two| two.parse::<u32>().ok())
    };
    let seconds = match raw.len() {
        5 => Some(0),
        8 if raw.as_bytes()[5] == b':' => digits(6),
        _ => None,
    };
    match (digits(0), raw.as_bytes().get(2), digits(3), seconds) {
        (Some(hour), Some(b':'), Some(minute), Some(second)) if second < 60 => {
            NaiveTime::from_hms_opt(hour, minute, second).ok_or_else(refused)
        }
        _ => Err(refused()),
    }
}

/// A name of the IANA time zone database (`Europe/Paris`, `America/New_York`, `UTC`), as
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

/// Every name `TimeZoneName::parse` takes: the IANA time zone database's zones and links, as
/// chrono-tz holds them.
pub fn time_zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match chrono_tz::Tz::from_str(raw) {
            Ok(_) if raw.chars().count() <= TIME_ZONE_MAX_CHARS => Ok(Self(raw.to_owned())),
            _ => Err(format!(
                "must be a name of the IANA time zone database, such as Europe/Paris; got {:?}",
                super::echo(raw)
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When a task is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    date: NaiveDate,
    time: Option<NaiveTime>,
    time_zone: Option<TimeZoneName>,
}

impl Due {
    /// A due date; a time zone needs a time.
    pub fn new(
        date: NaiveDate,
        time: Option<NaiveTime>,
        time_zone: Option<TimeZoneName>,
    ) -> Result<Self, Invalid> {
        if time_zone.is_some() && time.is_none() {
            return Err(Invalid::new(
                DUE_TIME_ZONE_FIELD,
                "needs a time: a date alone is all day, wherever the user is",
            ));
        }
        Ok(Self {
            date,
            time,
            time_zone,
        })
    }

    /// The parts as stored (checked when they were written).
    pub fn stored(
        date: Option<NaiveDate>,
        time: Option<NaiveTime>,
        time_zone: Option<String>,
    ) -> Option<Self> {
        date.map(|date| Self {
            date,
            time,
            time_zone: time_zone.map(TimeZoneName),
        })
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn time(&self) -> Option<NaiveTime> {
        self.time
    }

    pub fn time_zone(&self) -> Option<&TimeZoneName> {
        self.time_zone.as_ref()
    }

    /// The same time (and zone) on another date: a recurring task's next occurrence.
    pub fn on(&self, date: NaiveDate) -> Self {
        Self {
            date,
            ..self.clone()
        }
    }
}

/// A JSON merge patch of a due date: each part absent (kept), or given (`None`: cleared). A
/// whole body's `due` is a patch of nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuePatch {
    pub date: Option<NaiveDate>,
    pub time: Option<Option<NaiveTime>>,
    pub time_zone: Option<Option<TimeZoneName>>,
}

impl DuePatch {
    /// The due date the patch makes of `stored` (`None`: of nothing): every part it leaves
    /// absent kept, and the rules checked on the result.
    pub fn merge(&self, stored: Option<&Due>) -> Result<Due, Invalid> {
        let date = self
            .date
            .or(stored.map(Due::date))
            .ok_or_else(|| Invalid::new(DUE_DATE_FIELD, "is required"))?;
        let time = self.time.unwrap_or(stored.and_then(Due::time));
        let time_zone = match &self.time_zone {
            Some(time_zone) => time_zone.clone(),
            None => stored.and_then(|due| due.time_zone.clone()),
        };
        Due::new(date, time, time_zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_calendar_dates_written_in_full() {
        assert_eq!(
            parse_date("2026-12-24").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()
        );
        assert!(parse_date("2028-02-29").is_ok());
        for refused in [
            "2026-02-30",
            "2027-02-29",
            "2026-1-05",
            "26-01-05",
            "2026-01-05T00:00",
            "",
        ] {
            assert!(parse_date(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn times_take_minutes_or_seconds_and_nothing_else() {
        assert_eq!(
            parse_time("18:30").unwrap(),
            NaiveTime::from_hms_opt(18, 30, 0).unwrap()
        );
        assert_eq!(
            parse_time("23:59:59").unwrap(),
            NaiveTime::from_hms_opt(23, 59, 59).unwrap()
        );
        assert_eq!(parse_time("00:00:00").unwrap(), NaiveTime::MIN);
        for refused in [
            "24:00",
            "23:60",
            "23:59:60",
            "8:30",
            "08:30:00.5",
            "08:30Z",
            "08:30+01:00",
            "0830",
            "08:30:0",
            "",
            "aa:bb",
        ] {
            assert!(parse_time(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn the_patterns_take_exactly_the_dates_and_times_that_parse_in_form() {
        let time = regex::Regex::new(TIME_PATTERN).unwrap();
        for text in [
            "00:00",
            "23:59",
            "23:59:59",
            "08:30:05",
            "24:00",
            "23:60",
            "23:59:60",
            "8:30",
            "08:30:00.5",
            "08:30Z",
            "0830",
            "08:30:0",
            "",
        ] {
            assert_eq!(time.is_match(text), parse_time(text).is_ok(), "{text:?}");
        }
        let answered = regex::Regex::new(ANSWERED_TIME_PATTERN).unwrap();
        for text in ["00:00", "08:30:05", "23:59"] {
            let written = parse_time(text).unwrap().format("%H:%M:%S").to_string();
            assert!(answered.is_match(&written), "{written}");
        }
        let date = regex::Regex::new(DATE_PATTERN).unwrap();
        for text in [
            "2026-12-24",
            "2028-02-29",
            "2026-1-05",
            "26-01-05",
            "2026-01-05T00:00",
        ] {
            assert_eq!(date.is_match(text), parse_date(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn the_date_pattern_takes_exactly_the_dates_of_the_calendar() {
        let pattern = regex::Regex::new(DATE_PATTERN).unwrap();
        let agree = |text: &str| {
            assert_eq!(pattern.is_match(text), parse_date(text).is_ok(), "{text:?}");
        };
        // 29 February of every year (leap years by 4, 100 and 400, 0000 included).
        for year in 0..=9999 {
            agree(&format!("{year:04}-02-29"));
        }
        // Every month and day written with two digits, 00 to 39, around the century's rules.
        for year in [0, 1, 4, 100, 1900, 1970, 2000, 2024, 2026, 2100, 2400, 9999] {
            for month in 0..=13 {
                for day in 0..=39 {
                    agree(&format!("{year:04}-{month:02}-{day:02}"));
                }
            }
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert!(TimeZoneName::parse("Europe/Paris").is_ok());
        assert!(TimeZoneName::parse("UTC").is_ok());
        assert!(TimeZoneName::parse("America/New_York").is_ok());
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("+01:00").is_err());
        // Every name of the list parses, and is answered in the form the responses state.
        let pattern = regex::Regex::new(TIME_ZONE_PATTERN).unwrap();
        for name in time_zone_names() {
            assert_eq!(TimeZoneName::parse(name).unwrap().as_str(), name);
            assert!(pattern.is_match(name), "{name}");
        }
        assert!(time_zone_names().any(|name| name == "Europe/Paris"));
    }

    #[test]
    fn a_patch_merges_part_by_part_and_checks_the_result() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        let time = NaiveTime::from_hms_opt(18, 30, 0).unwrap();
        let paris = TimeZoneName::parse("Europe/Paris").unwrap();
        let stored = Due::new(date, Some(time), Some(paris.clone())).unwrap();
        let later = NaiveTime::from_hms_opt(19, 0, 0).unwrap();
        let patch = DuePatch {
            time: Some(Some(later)),
            ..DuePatch::default()
        };
        assert_eq!(
            patch.merge(Some(&stored)).unwrap(),
            Due::new(date, Some(later), Some(paris)).unwrap()
        );
        let clear_time = DuePatch {
            time: Some(None),
            ..DuePatch::default()
        };
        assert_eq!(
            clear_time.merge(Some(&stored)).unwrap_err().field,
            DUE_TIME_ZONE_FIELD
        );
        assert_eq!(clear_time.merge(None).unwrap_err().field, DUE_DATE_FIELD);
    }
}
