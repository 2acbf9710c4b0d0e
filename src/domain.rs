//! Task values that parse, not validate: a `TaskTitle` or `TaskDescription` exists only when valid.

use chrono::{DateTime, Utc};

/// Longest title, in Unicode scalar values, as sent (before trimming).
pub const TITLE_MAX_CHARS: usize = 255;
/// Longest description, in Unicode scalar values.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// The fields of a task a client writes.
pub const TASK_WRITABLE_FIELDS: [&str; 3] = ["title", "description", "is_completed"];
/// The fields of a task only the server sets: sent in a body, they are refused by name.
pub const TASK_READ_ONLY_FIELDS: [&str; 4] = ["id", "user_id", "created_at", "updated_at"];

/// A task title: 1 to 255 characters as sent, at least one of them not white space (Unicode's
/// White_Space, as `char::is_whitespace`), stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

/// Text the databases can store: PostgreSQL refuses NUL in `text`.
pub fn check_storable(text: &str) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain NUL (U+0000) characters".to_owned());
    }
    Ok(())
}

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_storable(raw)?;
        match raw.chars().count() {
            n if n > TITLE_MAX_CHARS => Err(format!(
                "must be at most {TITLE_MAX_CHARS} characters (got {n})"
            )),
            _ if raw.trim().is_empty() => Err("must not be empty or only white space".to_owned()),
            _ => Ok(Self(raw.trim().to_owned())),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A task description: at most 10,000 characters, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(raw: &str) -> Result<Self, String> {
        check_storable(raw)?;
        match raw.chars().count() {
            n if n > DESCRIPTION_MAX_CHARS => Err(format!(
                "must be at most {DESCRIPTION_MAX_CHARS} characters (got {n})"
            )),
            _ => Ok(Self(raw.to_owned())),
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The fields of a task as created or wholly replaced.
#[derive(Debug, Clone)]
pub struct TaskFields {
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub is_completed: bool,
}

/// A partial change to a task: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskChanges {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub is_completed: Option<bool>,
}

impl TaskChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.is_completed.is_none()
    }
}

impl From<TaskFields> for TaskChanges {
    fn from(fields: TaskFields) -> Self {
        Self {
            title: Some(fields.title),
            description: Some(fields.description),
            is_completed: Some(fields.is_completed),
        }
    }
}

/// The current time in UTC, truncated to microseconds: what both databases store exactly.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_counted_in_characters() {
        assert_eq!(TaskTitle::parse("  milk \n").unwrap().into_inner(), "milk");
        assert!(TaskTitle::parse(&"é".repeat(255)).is_ok());
        assert!(TaskTitle::parse(&"é".repeat(256)).is_err());
        // Counted as sent: 255 characters after trimming, 258 before, is too long.
        assert!(TaskTitle::parse(&format!("\u{b}\n{}\t", "a".repeat(255))).is_err());
        assert!(TaskTitle::parse("\u{a0}").is_err());
        assert!(TaskTitle::parse(" \t ").is_err());
        assert!(TaskTitle::parse("a\0b").is_err());
    }

    #[test]
    fn description_is_limited_in_characters() {
        assert!(TaskDescription::parse(&"é".repeat(10_000)).is_ok());
        assert!(TaskDescription::parse(&"é".repeat(10_001)).is_err());
        assert!(TaskDescription::parse("\0").is_err());
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
