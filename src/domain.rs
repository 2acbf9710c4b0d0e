//! Task values that parse, not validate: a `TaskTitle` or `TaskDescription` exists only when valid.

mod due;
mod position;
mod priority;
mod recurrence;
mod tags;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use due::{
    parse_date, parse_time, time_zone_names, Due, DuePatch, TimeZoneName, ANSWERED_TIME_PATTERN,
    DATE_PATTERN, DUE_DATE_FIELD, DUE_TIME_FIELD, DUE_TIME_ZONE_FIELD, TIME_PATTERN,
    TIME_ZONE_MAX_CHARS, TIME_ZONE_PATTERN,
};
pub use position::{key_between, PositionError};
pub use priority::Priority;
pub use recurrence::{recurrence_pattern, Recurrence, RECURRENCE_MAX_CHARS};
pub use tags::{parse_tag, tag_key, tag_pattern, Tags, TAGS_MAX, TAG_MAX_CHARS};

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
pub const TASK_READ_ONLY_FIELDS: [&str; 7] = [
    "id",
    "user_id",
    "created_at",
    "updated_at",
    "version",
    "completed_at",
    "position",
];

/// A task's `position` as the server makes it: a fractional-indexing key over `0-9A-Za-z` (an
/// integer part, whose head letter tells its length, then an optional fraction not ending in
/// `0`), at most `POSITION_MAX_CHARS`.
pub const POSITION_PATTERN: &str = "^[A-Za-z][0-9A-Za-z]*$";
pub const POSITION_MAX_CHARS: usize = 64;
/// The position of the tasks written before positions were made (the migration's default).
pub const UNORDERED_POSITION: &str = "a0";
/// The names of the fields whose rules span others.
pub const DUE_FIELD: &str = "due";
/// The name of a task's list in bodies and errors.
pub const LIST_ID_FIELD: &str = "list_id";
pub const RECURRENCE_FIELD: &str = "recurrence";

/// The most characters of a name or value that an error quotes back.
pub const MAX_ECHOED_CHARS: usize = 64;

/// A name or value as an error quotes it back: whole when short, else its first 64 characters
/// followed by `…` (a request's own text never makes its error large).
pub fn echo(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A failing field of a task: its name in a body (dotted when nested) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

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

/// A registered user: who owns tasks, and what bounds their tasks and their change history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// How many tasks the user holds (`USER_MAX_TASKS` bounds it).
    pub task_count: i64,
    /// The version of the newest deletion dropped to keep `USER_MAX_TOMBSTONES`: a sync token
    /// older than it has missed a deletion.
    pub tombstones_dropped_through: i64,
    /// How many lists the user holds (`USER_MAX_LISTS` bounds it).
    pub list_count: i64,
    /// The user's change counter: the version of their latest change (0 before the first).
    pub change_seq: i64,
}

/// A task as stored: one user's, with the times and the version the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub is_completed: bool,
    /// When a write made `is_completed` true; `None` while it is false.
    pub completed_at: Option<DateTime<Utc>>,
    pub due: Option<Due>,
    pub priority: Priority,
    pub tags: Tags,
    pub recurrence: Option<Recurrence>,
    /// The first date of the recurrence's series (kept while the server rolls the task forward).
    pub recurrence_start: Option<NaiveDate>,
    /// The list the task is in; `None` for the inbox.
    pub list_id: Option<Uuid>,
    /// The task's place in its list's manual order, compared as bytes (ties by id).
    pub position: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The owner's change counter at the task's last change.
    pub version: i64,
}

#[cfg(test)]
impl Task {
    /// A task whose every field is at its largest (the latest and earliest times, the widest
    /// ids, date, priority name, tags, rule and position and version), with `title` and
    /// `description`: what bounds on its size are tried with.
    pub fn widest(title: String, description: Option<String>) -> Self {
        Self {
            id: Uuid::max(),
            user_id: Uuid::max(),
            title,
            description,
            is_completed: true,
            completed_at: Some(DateTime::<Utc>::MAX_UTC),
            due: Due::stored(
                Some(NaiveDate::MAX),
                chrono::NaiveTime::from_hms_opt(23, 59, 59),
                Some("America/Argentina/ComodRivadavia".to_owned()),
            ),
            priority: Priority::Medium,
            tags: Tags::stored(&serde_json::to_string(&vec!["\u{1}".repeat(50); 20]).unwrap()),
            recurrence: Some(Recurrence::stored(
                "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;UNTIL=20991231T235959Z".to_owned(),
            )),
            recurrence_start: None,
            list_id: Some(Uuid::max()),
            position: "z".repeat(POSITION_MAX_CHARS),
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MAX_UTC,
            version: i64::MIN,
        }
    }
}

/// The fields of a task as created or wholly replaced, their rules checked together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFields {
    pub title: TaskTitle,
    pub description: Option<TaskDescription>,
    pub is_completed: bool,
    pub due: Option<Due>,
    pub priority: Priority,
    pub tags: Tags,
    pub recurrence: Option<Recurrence>,
    pub list_id: Option<Uuid>,
}

/// The SHA-256 of `text`, in lowercase hex.
fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A task as created: its fields, and the id the client made for it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    pub id: Option<Uuid>,
    pub fields: TaskFields,
}

impl NewTask {
    /// What tells one create request from another (`TaskFields::fingerprint`), the client-made
    /// id included when there is one.
    pub fn fingerprint(&self) -> String {
        let fields = self.fields.fingerprint();
        match self.id {
            None => fields,
            Some(id) => sha256_hex(&format!("{fields}:{id}")),
        }
    }
}

/// A JSON merge patch of a task: `None` leaves a field as it is; `due` merges part by part.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub is_completed: Option<bool>,
    pub due: Option<Option<DuePatch>>,
    pub priority: Option<Priority>,
    pub tags: Option<Tags>,
    pub recurrence: Option<Option<Recurrence>>,
    pub list_id: Option<Option<Uuid>>,
}

/// Where a move puts a task: right after `after` (`None`: first) in the list `list_id`
/// (`None`: the task's own list; `Some(None)`: the inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskMove {
    pub after: Option<Uuid>,
    pub list_id: Option<Option<Uuid>>,
}

/// The name of a move's `after` field, as errors name it.
pub const AFTER_FIELD: &str = "after";

/// The values a write gives a task's columns: `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    pub title: Option<TaskTitle>,
    pub description: Option<Option<TaskDescription>>,
    pub is_completed: Option<bool>,
    pub due: Option<Option<Due>>,
    pub priority: Option<Priority>,
    pub tags: Option<Tags>,
    pub recurrence: Option<Option<Recurrence>>,
    pub recurrence_start: Option<Option<NaiveDate>>,
    pub list_id: Option<Option<Uuid>>,
}

impl TaskFields {
    /// The rules across fields: a recurrence needs a due date.
    pub fn check(self) -> Result<Self, Vec<Invalid>> {
        if self.recurrence.is_some() && self.due.is_none() {
            return Err(vec![Invalid::new(
                RECURRENCE_FIELD,
                "needs a due date: the series starts on due.date",
            )]);
        }
        Ok(self)
    }

    /// What tells one request's fields from another's: the SHA-256 of the validated values, so
    /// that the JSON's spacing, key order or untrimmed white space make no difference.
    pub fn fingerprint(&self) -> String {
        let due = self.due.as_ref().map(|due| {
            serde_json::json!([
                due.date().to_string(),
                due.time().map(|time| time.to_string()),
                due.time_zone().map(TimeZoneName::as_str)
            ])
        });
        let mut values = serde_json::json!([
            self.title.0,
            self.description.as_ref().map(|d| &d.0),
            self.is_completed,
            due,
            self.priority.name(),
            self.tags.as_slice(),
            self.recurrence.as_ref().map(Recurrence::as_str)
        ]);
        // Only when there is one, so that a key stored before lists keeps its fingerprint.
        if let (Some(list_id), Some(values)) = (self.list_id, values.as_array_mut()) {
            values.push(list_id.to_string().into());
        }
        sha256_hex(&values.to_string())
    }

    /// Every column's value as these fields leave `stored` (`None`: a task being created). The
    /// series starts at `due.date` when the rule or the due date is new, and stays where it
    /// was otherwise; a write that makes a recurring task completed rolls it forward to its next
    /// occurrence instead, when the series has one.
    pub fn settle(self, stored: Option<&Task>) -> SettledFields {
        let mut fields = self;
        let unchanged_series = stored
            .filter(|stored| stored.recurrence == fields.recurrence && stored.due == fields.due);
        let recurrence_start = match (&fields.recurrence, &fields.due) {
            (Some(_), Some(due)) => Some(
                unchanged_series
                    .and_then(|stored| stored.recurrence_start)
                    .unwrap_or(due.date()),
            ),
            _ => None,
        };
        let completes = fields.is_completed && !stored.is_some_and(|stored| stored.is_completed);
        if let (true, Some(recurrence), Some(due), Some(start)) =
            (completes, &fields.recurrence, &fields.due, recurrence_start)
        {
            if let Some(next) = recurrence.next_after(start, due.date()) {
                fields.is_completed = false;
                fields.due = Some(due.on(next));
            }
        }
        SettledFields {
            fields,
            recurrence_start,
        }
    }
}

/// A task's fields as a write stores them: rolled forward when a completion asked for it, with
/// the first date of their recurrence's series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettledFields {
    pub fields: TaskFields,
    pub recurrence_start: Option<NaiveDate>,
}

impl From<SettledFields> for TaskChanges {
    fn from(
        SettledFields {
            fields,
            recurrence_start,
        }: SettledFields,
    ) -> Self {
        Self {
            title: Some(fields.title),
            description: Some(fields.description),
            is_completed: Some(fields.is_completed),
            due: Some(fields.due),
            priority: Some(fields.priority),
            tags: Some(fields.tags),
            recurrence: Some(fields.recurrence),
            recurrence_start: Some(recurrence_start),
            list_id: Some(fields.list_id),
        }
    }
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.is_completed.is_none()
            && self.due.is_none()
            && self.priority.is_none()
            && self.tags.is_none()
            && self.recurrence.is_none()
            && self.list_id.is_none()
    }

    /// The patch's changes when no rule needs the stored task to check them: it changes neither
    /// `due` nor `recurrence`. (A completion still needs it when the task recurs: its write is
    /// made only of a task without a recurrence.)
    pub fn without_stored(&self) -> Option<TaskChanges> {
        if self.due.is_some() || self.recurrence.is_some() {
            return None;
        }
        Some(TaskChanges {
            title: self.title.clone(),
            description: self.description.clone(),
            is_completed: self.is_completed,
            priority: self.priority,
            tags: self.tags.clone(),
            list_id: self.list_id,
            ..TaskChanges::default()
        })
    }

    /// The task the patch makes of `stored`, every rule checked on the result.
    pub fn merge(&self, stored: &Task) -> Result<TaskFields, Vec<Invalid>> {
        let due = match &self.due {
            None => Ok(stored.due.clone()),
            Some(None) => Ok(None),
            Some(Some(patch)) => patch.merge(stored.due.as_ref()).map(Some),
        };
        let recurrence = self
            .recurrence
            .clone()
            .unwrap_or_else(|| stored.recurrence.clone());
        let due = due.map_err(|invalid| vec![invalid])?;
        if matches!(self.due, Some(None)) && recurrence.is_some() {
            return Err(vec![Invalid::new(
                DUE_FIELD,
                "cannot be cleared while the task recurs: clear recurrence too",
            )]);
        }
        TaskFields {
            title: self
                .title
                .clone()
                .unwrap_or_else(|| TaskTitle(stored.title.clone())),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| stored.description.clone().map(TaskDescription)),
            is_completed: self.is_completed.unwrap_or(stored.is_completed),
            due,
            priority: self.priority.unwrap_or(stored.priority),
            tags: self.tags.clone().unwrap_or_else(|| stored.tags.clone()),
            recurrence,
            list_id: self.list_id.unwrap_or(stored.list_id),
        }
        .check()
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
            due: None,
            priority: Priority::None,
            tags: Tags::default(),
            recurrence: None,
            list_id: None,
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
