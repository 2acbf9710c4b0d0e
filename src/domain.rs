//! Task values that parse, not validate: a `TaskTitle` or `TaskDescription` exists only when valid.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Longest title, in Unicode scalar values, as sent (before trimming).
pub const TITLE_MAX_CHARS: usize = 255;
/// Longest description, in Unicode scalar values.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// Text the databases can store (`check_storable`), as a pattern.
pub const STORABLE_PATTERN: &str = r"^[^\u0000]*$";
/// A title (`TaskTitle::parse`) as a pattern: storable, with at least one character that is not
/// white space.
pub const TITLE_PATTERN: &str = r"^[^\u0000]*[^\u0000\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";
/// The fields of a task only the server sets: sent in a body, they are refused by name.
pub const TASK_READ_ONLY_FIELDS: [&str; 5] =
    ["id", "user_id", "created_at", "updated_at", "version"];

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

    pub fn as_str(&self) -> &str {
        &self.0
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

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task as stored: one user's, with the times and the version the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub is_completed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The owner's change counter at the task's last change.
    pub version: i64,
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

impl TaskFields {
    /// What tells one request's fields from another's: the SHA-256 of the validated values, so
    /// that the JSON's spacing, key order or untrimmed white space make no difference.
    pub fn fingerprint(&self) -> String {
        let values = serde_json::json!([
            self.title.0,
            self.description.as_ref().map(|d| &d.0),
            self.is_completed
        ]);
        Sha256::digest(values.to_string().as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
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

/// Which versions of a task a write may change: any (no precondition, or `If-Match: *`), only
/// those listed (an empty list matches none), or any but those listed (`If-None-Match`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    Always,
    VersionIn(Vec<i64>),
    VersionNotIn(Vec<i64>),
}

impl WriteCondition {
    pub fn allows(&self, version: i64) -> bool {
        match self {
            Self::Always => true,
            Self::VersionIn(versions) => versions.contains(&version),
            Self::VersionNotIn(versions) => !versions.contains(&version),
        }
    }
}

/// The fields of a list only the server sets: sent in a body, they are refused by name (`id`
/// is writable in a create only).
pub const LIST_READ_ONLY_FIELDS: [&str; 5] =
    ["id", "user_id", "created_at", "updated_at", "version"];

/// A list's name: a title's rules (`TaskTitle::parse`), stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName(String);

impl ListName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        TaskTitle::parse(raw).map(|title| Self(title.into_inner()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A list as stored: one user's named container of tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The owner's change counter at the list's last change.
    pub version: i64,
}

/// A list as created: its name, and the id the client made for it (if any).
#[derive(Debug, Clone)]
pub struct ListFields {
    pub id: Option<Uuid>,
    pub name: ListName,
}

/// A change to a list: `None` leaves the name as it is.
#[derive(Debug, Clone, Default)]
pub struct ListChanges {
    pub name: Option<ListName>,
}

/// Longest idempotency key, in characters.
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

/// A client's key for one create and its retries: 1 to 255 visible ASCII characters, sent bare or
/// as a quoted string (the same key either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let key = raw
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or(raw);
        if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_MAX_CHARS {
            return Err(format!(
                "must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} characters (got {})",
                key.chars().count()
            ));
        }
        if !key
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && byte != b'"')
        {
            return Err(
                "must be visible ASCII characters only (no spaces or quotes inside)".to_owned(),
            );
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
    fn fingerprints_compare_validated_values() {
        let fields = |title: &str, description: Option<&str>| TaskFields {
            title: TaskTitle::parse(title).unwrap(),
            description: description.map(|d| TaskDescription::parse(d).unwrap()),
            is_completed: false,
        };
        assert_eq!(
            fields(" milk ", None).fingerprint(),
            fields("milk", None).fingerprint()
        );
        assert_ne!(
            fields("milk", None).fingerprint(),
            fields("milk", Some("")).fingerprint()
        );
        assert_ne!(
            fields("milk", Some("x")).fingerprint(),
            fields("milk", Some("y")).fingerprint()
        );
    }

    #[test]
    fn idempotency_keys_are_bare_or_quoted_visible_ascii() {
        assert_eq!(
            IdempotencyKey::parse("\"abc\"").unwrap(),
            IdempotencyKey::parse("abc").unwrap()
        );
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("\"\"").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse("é").is_err());
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
