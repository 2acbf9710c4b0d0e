//! The task operations under `/users/{user_id}/tasks`, and the task's fields, each declared here
//! once: its answer (`TaskResource`) and, when a client writes it, its body declaration.

use chrono::NaiveDate;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, OpenApi};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ApiTags;
use crate::api::error::{
    ApiError, ErrorResponse, ReadErrors, TaskChangeErrors, TaskCreateErrors, TaskDeleteErrors,
    TaskReadErrors,
};
use crate::api::request::caller::Caller;
use crate::api::request::conditional::{
    etag, DeleteConditions, ReadConditions, ReadOutcome, WriteConditions,
};
use crate::api::request::input::{
    json_kind, named, BodyField, BodyFieldList, ClientMadeId, CollectFields, FieldDescription,
    FieldNames, HeaderParam, HeaderValue, JsonBody, JsonObjectBody, MadeByClient, MergePatch,
    PageSize, ParamValue, PathParam, QueryParam, SignedToken, Whole, WithField,
};
use crate::api::response::resources::{
    example_time, json_text_bound, nullable_json_text_bound, resource_fields, DescriptionRules,
    DueResource, JsonResponse, Nullable, PositionRules, PriorityRules, RecurrenceRules, RuledText,
    TagList, TaskPage, Timestamp, TitleRules, WrittenJson, BOOL_JSON_BYTES, EXAMPLE_LIST_ID,
    EXAMPLE_TASK_ID, EXAMPLE_USER_ID, INTEGER_JSON_BYTES, TIMESTAMP_JSON_BYTES, UUID_JSON_BYTES,
};
use crate::db::Database;
use crate::domain::{
    self, check_storable, parse_tag, tag_key, tag_pattern, DuePatch, IdempotencyKey, Invalid,
    NewTask, TaskDescription, TaskFields, TaskMove, TaskPatch, TaskTitle, TimeZoneName,
    WriteCondition, DESCRIPTION_MAX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS, STORABLE_PATTERN,
    TASK_READ_ONLY_FIELDS, TITLE_MAX_CHARS, TITLE_PATTERN,
};
use crate::fairness::UserLimits;
use crate::pagination::{self, Cursor, ListFilter, TaskFilter, TaskListRequest, TaskSort};
use crate::store;
use crate::AppState;

/// How many tasks a page holds: 1 to 100, 20 by default.
type TaskPageSize = PageSize<20, 100>;
const SEARCH_MAX_CHARS: usize = 255;

resource_fields! {
    /// A task as every operation returns it: every field always present.
    #[oai(rename = "Task", example)]
    pub struct TaskResource from task: domain::Task {
        /// The task's id, made by the server.
        #[oai(read_only)]
        id: Uuid = task.id,
            example EXAMPLE_TASK_ID,
            bound UUID_JSON_BYTES;
        /// The user who owns the task.
        #[oai(read_only)]
        user_id: Uuid = task.user_id,
            example EXAMPLE_USER_ID,
            bound UUID_JSON_BYTES;
        /// 1 to 255 characters, without surrounding white space.
        title: RuledText<TitleRules> = RuledText::new(task.title),
            example RuledText::new("Buy milk"),
            bound json_text_bound(&task.title),
            body Title;
        /// At most 10,000 characters; null when there is none.
        description: Nullable<RuledText<DescriptionRules>> =
            Nullable(task.description.map(RuledText::new)),
            example Nullable(None),
            bound nullable_json_text_bound(task.description.as_deref()),
            body Description;
        /// Whether the task is done.
        is_completed: bool = task.is_completed,
            example false,
            bound BOOL_JSON_BYTES,
            body IsCompleted;
        /// When a write made `is_completed` true (UTC, microseconds); null while it is false.
        #[oai(read_only)]
        completed_at: Nullable<Timestamp> = Nullable(task.completed_at.map(Timestamp)),
            example Nullable(None),
            bound TIMESTAMP_JSON_BYTES;
        /// When the task is due: a date, a floating time or a time in a zone; null when it has no
        /// due date.
        due: Nullable<DueResource> = Nullable(task.due.map(DueResource::from)),
            example Nullable(Some(DueResource::example())),
            bound DueResource::json_bound(task.due.as_ref()),
            body Due;
        /// How important the task is: `none`, `low`, `medium` or `high`.
        priority: RuledText<PriorityRules> = RuledText::new(task.priority.name()),
            example RuledText::new(domain::Priority::High.name()),
            bound json_text_bound(task.priority.name()),
            body Priority;
        /// The task's tags, in the order sent (trimmed); two tags are the same when their lowercase
        /// forms are equal.
        tags: TagList = TagList(
                task.tags
                    .into_inner()
                    .into_iter()
                    .map(RuledText::new)
                    .collect(),
            ),
            example TagList(vec![RuledText::new("home"), RuledText::new("errands")]),
            bound TagList::json_bound(&task.tags),
            body Tags;
        /// An RFC 5545 RRULE value (without `RRULE:`, upper case); completing the task rolls it
        /// forward to its next occurrence while the series has one. Null when it does not recur.
        recurrence: Nullable<RuledText<RecurrenceRules>> =
            Nullable(task.recurrence.map(|rule| RuledText::new(rule.as_str()))),
            example Nullable(None),
            bound nullable_json_text_bound(task.recurrence.as_ref().map(|rule| rule.as_str())),
            body Recurrence;
        /// The list the task is in (one of the owner's lists); null for the owner's inbox.
        list_id: Nullable<Uuid> = Nullable(task.list_id),
            example Nullable(Some(EXAMPLE_LIST_ID)),
            bound UUID_JSON_BYTES,
            body ListId;
        /// The task's place in its list's manual order (`sort=position`): a key the server makes
        /// (fractional indexing over `0-9A-Za-z`), compared as byte strings, ties by `id`. A new task,
        /// or one put in another list by PUT or PATCH, comes last in its list.
        #[oai(read_only)]
        position: RuledText<PositionRules> = RuledText::new(task.position),
            example RuledText::new("a0"),
            bound json_text_bound(&task.position);
        /// When the task was created (UTC, microseconds); never changes.
        #[oai(read_only)]
        created_at: Timestamp = Timestamp(task.created_at),
            example example_time(),
            bound TIMESTAMP_JSON_BYTES;
        /// When a value of the task last changed (UTC, microseconds).
        #[oai(read_only)]
        updated_at: Timestamp = Timestamp(task.updated_at),
            example example_time(),
            bound TIMESTAMP_JSON_BYTES;
        /// The owner's change counter at the task's last change: grows with every change, never
        /// repeats for the owner; the task's `ETag` is this number in quotes. 0 only for a task the
        /// previous release wrote during a rolling deploy (it takes a number at its next change).
        #[oai(read_only, validator(minimum(value = "0")))]
        version: i64 = task.version,
            example 1,
            bound INTEGER_JSON_BYTES;
    }
    /// The writable fields of a task's bodies (`TaskInput`, `TaskPatch`), in the document's order.
    pub type TaskBodyFields;
}

/// The task's fields a client writes.
pub const TASK_WRITABLE_FIELDS: &[&str] = <TaskBodyFields as FieldNames>::NAMES;

/// A task's `title`.
pub struct Title;

impl BodyField for Title {
    const NAME: &'static str = "title";
    type Value = TaskTitle;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "Required: 1 to 255 characters as sent, at least one of them not white space, no NUL;\n\
             stored with surrounding white space trimmed.",
        merge_patch: "1 to 255 characters as sent, at least one of them not white space, no NUL; stored with\n\
             surrounding white space trimmed; null is refused.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(TITLE_MAX_CHARS),
            pattern: Some(TITLE_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            "Buy oat milk"
        } else {
            "Buy milk"
        }
        .into()
    }

    fn default() -> Option<TaskTitle> {
        None
    }

    fn parse(value: &Value) -> Result<TaskTitle, Vec<Invalid>> {
        named(
            Self::NAME,
            match value {
                Value::String(text) => TaskTitle::parse(text),
                other => Err(format!("must be a string, got {}", json_kind(other))),
            },
        )
    }
}

/// A task's `description`: null for none.
pub struct Description;

impl BodyField for Description {
    const NAME: &'static str = "description";
    type Value = Option<TaskDescription>;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "At most 10,000 characters, no NUL; absent or null for none.",
        merge_patch: "At most 10,000 characters, no NUL; null clears it.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            nullable: true,
            max_length: Some(DESCRIPTION_MAX_CHARS),
            pattern: Some(STORABLE_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            Value::Null
        } else {
            "Two litres, semi-skimmed".into()
        }
    }

    fn default() -> Option<Option<TaskDescription>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<TaskDescription>, Vec<Invalid>> {
        named(
            Self::NAME,
            match value {
                Value::Null => Ok(None),
                Value::String(text) => TaskDescription::parse(text).map(Some),
                other => Err(format!(
                    "must be a string or null, got {}",
                    json_kind(other)
                )),
            },
        )
    }
}

/// A task's `is_completed`: false by default.
pub struct IsCompleted;

impl BodyField for IsCompleted {
    const NAME: &'static str = "is_completed";
    type Value = bool;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "Whether the task is done; defaults to false.",
        merge_patch: "Whether the task is done.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema::new("boolean")
    }

    fn example(merge_patch: bool) -> Value {
        merge_patch.into()
    }

    fn default() -> Option<bool> {
        Some(false)
    }

    fn parse(value: &Value) -> Result<bool, Vec<Invalid>> {
        named(
            Self::NAME,
            value
                .as_bool()
                .ok_or_else(|| format!("must be a boolean, got {}", json_kind(value))),
        )
    }
}

/// A task's `due`: when it is due, a date with an optional wall-clock time and time zone; null
/// for none.
pub struct Due;

impl Due {
    /// The object's parts, each named `due.<part>` when it fails.
    fn parse_parts(members: &Map<String, Value>) -> Result<DuePatch, Vec<Invalid>> {
        let mut patch = DuePatch::default();
        let mut invalid = Vec::new();
        for (name, value) in members {
            let parsed = match (name.as_str(), value) {
                ("date", Value::String(text)) => {
                    domain::parse_date(text).map(|date| patch.date = Some(date))
                }
                ("date", other) => Err(format!("must be a date string, got {}", json_kind(other))),
                ("time", Value::Null) => {
                    patch.time = Some(None);
                    Ok(())
                }
                ("time", Value::String(text)) => {
                    domain::parse_time(text).map(|time| patch.time = Some(Some(time)))
                }
                ("time", other) => Err(format!(
                    "must be a time string or null, got {}",
                    json_kind(other)
                )),
                ("time_zone", Value::Null) => {
                    patch.time_zone = Some(None);
                    Ok(())
                }
                ("time_zone", Value::String(text)) => TimeZoneName::parse(text)
                    .map(|time_zone| patch.time_zone = Some(Some(time_zone))),
                ("time_zone", other) => Err(format!(
                    "must be a time zone name or null, got {}",
                    json_kind(other)
                )),
                _ => Err("is not a known field".to_owned()),
            };
            if let Err(message) = parsed {
                invalid.push(Invalid::new(format!("{}.{name}", Self::NAME), message));
            }
        }
        match invalid.is_empty() {
            true => Ok(patch),
            false => Err(invalid),
        }
    }
}

/// The component listing every time zone name a request may give.
const TIME_ZONE_SCHEMA: &str = "TimeZone";

/// The schema whose one value is null, of type `ty` (OpenAPI 3.0: `nullable` with `enum: [null]`).
fn null_only(ty: &'static str) -> MetaSchema {
    MetaSchema {
        nullable: true,
        enum_items: vec![Value::Null],
        ..MetaSchema::new(ty)
    }
}

/// A due date's parts: `date`, `time`, `time_zone`, each as given (not null).
fn due_parts() -> [(&'static str, MetaSchemaRef); 3] {
    [
        (
            "date",
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                pattern: Some(domain::DATE_PATTERN.to_owned()),
                ..MetaSchema::new_with_format("string", "date")
            })),
        ),
        (
            "time",
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                pattern: Some(domain::TIME_PATTERN.to_owned()),
                ..MetaSchema::new("string")
            })),
        ),
        (
            "time_zone",
            MetaSchemaRef::Reference(TIME_ZONE_SCHEMA.to_owned()),
        ),
    ]
}

/// One shape of a whole body's due date: its first `parts` parts, each given.
fn due_shape(title: &str, description: &'static str, parts: usize) -> MetaSchema {
    let properties: Vec<_> = due_parts().into_iter().take(parts).collect();
    MetaSchema {
        title: Some(title.to_owned()),
        description: Some(description),
        required: properties.iter().map(|(name, _)| *name).collect(),
        properties,
        ..MetaSchema::new("object")
    }
}

impl BodyField for Due {
    const NAME: &'static str = domain::DUE_FIELD;
    type Value = Option<DuePatch>;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "When the task is due, one of three shapes: `date` (a date of the calendar, YYYY-MM-DD)\n\
             alone for all day; with `time` (HH:MM or HH:MM:SS, answered HH:MM:SS) for a floating\n\
             time; with `time_zone` too (an IANA name) for that time in that zone. A `time_zone`\n\
             needs a `time`. Absent or null for none. A shape lists only the parts it has (the\n\
             server also takes the others as null).",
        merge_patch: "Merged part by part: `{\"time\": \"19:00\"}` changes only the time, a part set to\n\
             null is cleared (`date` cannot be), and null clears the due date (a recurring task's\n\
             only with its `recurrence`). The merged due date must keep the rules: a `time_zone`\n\
             needs a `time`. Whether it does depends on the stored task, which the schema of a\n\
             request cannot state: a patch giving only a `time_zone` needs a stored time, one\n\
             clearing `time` a task without a time zone (or clearing it too), and one giving\n\
             `time` or `time_zone` without `date` a stored due date.",
    };

    fn schema(merge_patch: bool) -> MetaSchema {
        if merge_patch {
            // Each part nullable but `date`; whether the merged due date keeps the rules depends
            // on the stored task (see the description).
            let properties = due_parts()
                .into_iter()
                .map(|(name, part)| match (name, part) {
                    ("date", part) => (name, part),
                    (_, MetaSchemaRef::Inline(part)) => (
                        name,
                        MetaSchemaRef::Inline(Box::new(MetaSchema {
                            nullable: true,
                            ..*part
                        })),
                    ),
                    (_, reference) => (
                        name,
                        MetaSchemaRef::Inline(Box::new(MetaSchema {
                            one_of: vec![
                                reference,
                                MetaSchemaRef::Inline(Box::new(null_only("string"))),
                            ],
                            ..MetaSchema::ANY
                        })),
                    ),
                })
                .collect();
            return MetaSchema {
                nullable: true,
                properties,
                ..MetaSchema::new("object")
            };
        }
        // `anyOf`, though the shapes never overlap (each closed to the parts it lists): linters
        // read `oneOf` shapes told apart by their closed parts as overlapping.
        let shapes = [
            due_shape("DueAllDay", "All day: `date` alone.", 1),
            due_shape("DueFloating", "A wall-clock time, wherever the user is.", 2),
            due_shape("DueZoned", "A time in a time zone.", 3),
            null_only("object"),
        ];
        MetaSchema {
            any_of: shapes
                .into_iter()
                .map(|shape| MetaSchemaRef::Inline(Box::new(shape)))
                .collect(),
            ..MetaSchema::ANY
        }
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<TimeZoneName, _>(TIME_ZONE_SCHEMA.to_owned(), |_| MetaSchema {
            title: Some(TIME_ZONE_SCHEMA.to_owned()),
            description: Some(
                "A name of the IANA time zone database, as the server's copy holds it.",
            ),
            enum_items: domain::time_zone_names().map(Value::from).collect(),
            ..MetaSchema::new("string")
        });
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            serde_json::json!({ "time": "19:00" })
        } else {
            serde_json::json!({ "date": "2026-12-24", "time": "18:30", "time_zone": "Europe/Paris" })
        }
    }

    fn default() -> Option<Option<DuePatch>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<DuePatch>, Vec<Invalid>> {
        match value {
            Value::Null => Ok(None),
            Value::Object(members) => Self::parse_parts(members).map(Some),
            other => named(
                Self::NAME,
                Err(format!(
                    "must be an object or null, got {}",
                    json_kind(other)
                )),
            ),
        }
    }
}

/// A task's `priority`: none by default.
pub struct Priority;

impl BodyField for Priority {
    const NAME: &'static str = "priority";
    type Value = domain::Priority;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "How important the task is: none (the default), low, medium or high.",
        merge_patch: "How important the task is: none, low, medium or high; null is refused.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            enum_items: domain::Priority::ALL
                .iter()
                .map(|priority| priority.name().into())
                .collect(),
            ..MetaSchema::new("string")
        }
    }

    fn example(_merge_patch: bool) -> Value {
        domain::Priority::High.name().into()
    }

    fn default() -> Option<domain::Priority> {
        Some(domain::Priority::None)
    }

    fn parse(value: &Value) -> Result<domain::Priority, Vec<Invalid>> {
        named(
            Self::NAME,
            match value {
                Value::String(text) => domain::Priority::parse(text),
                other => Err(format!("must be a string, got {}", json_kind(other))),
            },
        )
    }
}

/// A task's `tags`: none by default.
pub struct Tags;

impl BodyField for Tags {
    const NAME: &'static str = "tags";
    type Value = domain::Tags;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole:
            "At most 20 tags, each 1 to 50 characters after trimming white space, no comma, no\n\
             NUL; kept trimmed, in the order sent. Two tags that are the same trimmed and in\n\
             lowercase are refused (`uniqueItems` states only exact repeats: JSON Schema cannot\n\
             compare in lowercase). Defaults to none.",
        merge_patch: "Replaces the task's tags whole (at most 20, each 1 to 50 characters after\n\
             trimming, no comma, no NUL, none the same as another in lowercase); null is refused.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema {
                min_length: Some(1),
                pattern: Some(domain::tag_pattern()),
                ..MetaSchema::new("string")
            })))),
            max_items: Some(domain::TAGS_MAX),
            unique_items: Some(true),
            ..MetaSchema::new("array")
        }
    }

    fn example(_merge_patch: bool) -> Value {
        serde_json::json!(["home", "errands"])
    }

    fn default() -> Option<domain::Tags> {
        Some(domain::Tags::default())
    }

    fn parse(value: &Value) -> Result<domain::Tags, Vec<Invalid>> {
        let parsed = match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    item.as_str().ok_or_else(|| {
                        format!("tag {index} must be a string, got {}", json_kind(item))
                    })
                })
                .collect::<Result<Vec<&str>, String>>()
                .and_then(|tags| domain::Tags::parse(&tags)),
            other => Err(format!(
                "must be an array of strings, got {}",
                json_kind(other)
            )),
        };
        named(Self::NAME, parsed)
    }
}

/// A task's `recurrence`: an RFC 5545 RRULE value; null for none.
pub struct Recurrence;

impl BodyField for Recurrence {
    const NAME: &'static str = domain::RECURRENCE_FIELD;
    type Value = Option<domain::Recurrence>;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "An RFC 5545 RRULE value (`FREQ=WEEKLY;BYDAY=MO,WE`; a leading `RRULE:` is dropped), at\n\
             most 255 characters: FREQ DAILY, WEEKLY, MONTHLY or YEARLY first, then at most once\n\
             each and in this order INTERVAL (1 to 999), COUNT (1 to 999999999) or UNTIL (a date\n\
             YYYYMMDD from 1970, or a UTC date-time YYYYMMDDTHHMMSS[Z]), BYMONTH, BYMONTHDAY (not\n\
             WEEKLY), BYDAY (an ordinal only when MONTHLY, -4 to 5, or YEARLY, -52 to 53), BYSETPOS\n\
             (after another BY part), WKST; the server also takes lower case and the parts in any\n\
             order. Needs a `due`: the series starts on its date, and completing the task moves it\n\
             to the next occurrence (a rule across fields the schema leaves to this text: the\n\
             client generators read a body's `anyOf` as a union of partial bodies). Absent or null\n\
             for none.",
        merge_patch: "An RFC 5545 RRULE value (as in a create); null stops the task recurring. The\n\
             merged task needs a `due`: a patch giving a rule to a task without one gives `due` too\n\
             (what is stored, a schema cannot state).",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            nullable: true,
            min_length: Some(1),
            max_length: Some(domain::RECURRENCE_MAX_CHARS),
            pattern: Some(domain::recurrence_pattern()),
            ..MetaSchema::new("string")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            Value::Null
        } else {
            "FREQ=WEEKLY;BYDAY=MO,WE".into()
        }
    }

    fn default() -> Option<Option<domain::Recurrence>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<domain::Recurrence>, Vec<Invalid>> {
        named(
            Self::NAME,
            match value {
                Value::Null => Ok(None),
                Value::String(text) => domain::Recurrence::parse(text).map(Some),
                other => Err(format!(
                    "must be a string or null, got {}",
                    json_kind(other)
                )),
            },
        )
    }
}

/// A task's `list_id`: the list it is in; null for the inbox.
pub struct ListId;

impl BodyField for ListId {
    const NAME: &'static str = domain::LIST_ID_FIELD;
    type Value = Option<Uuid>;

    const DESCRIPTION: FieldDescription = FieldDescription {
        whole: "The list the task is in: one of the user's lists (else a 400 naming `list_id`).\n\
             Absent or null for the inbox.",
        merge_patch: "Moves the task to this list (one of the user's lists, else a 400 naming\n\
             `list_id`); null moves it to the inbox.",
    };

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            nullable: true,
            ..MetaSchema::new_with_format("string", "uuid")
        }
    }

    fn example(merge_patch: bool) -> Value {
        if merge_patch {
            Value::Null
        } else {
            EXAMPLE_LIST_ID.to_string().into()
        }
    }

    fn default() -> Option<Option<Uuid>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<Uuid>, Vec<Invalid>> {
        named(Self::NAME, nullable_uuid(value, "a list's id"))
    }
}

/// A move's `after`: the task the moved one goes right after; null puts it first.
pub struct After;

impl BodyField for After {
    const NAME: &'static str = domain::AFTER_FIELD;
    type Value = Option<Uuid>;

    const DESCRIPTION: FieldDescription = FieldDescription::same(
        "Required: the task the moved one goes right after, another task of the list it moves\n\
         to (else a 400 naming `after`); null puts it first.",
    );

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            nullable: true,
            ..MetaSchema::new_with_format("string", "uuid")
        }
    }

    fn example(_merge_patch: bool) -> Value {
        Value::Null
    }

    fn default() -> Option<Option<Uuid>> {
        None
    }

    fn parse(value: &Value) -> Result<Option<Uuid>, Vec<Invalid>> {
        named(Self::NAME, nullable_uuid(value, "a task's id"))
    }
}

/// A move's `list_id`: the list the task moves to; absent, its own; null, the inbox.
pub struct Destination;

impl BodyField for Destination {
    const NAME: &'static str = domain::LIST_ID_FIELD;
    type Value = Option<Option<Uuid>>;

    const DESCRIPTION: FieldDescription = FieldDescription::same(
        "The list the task moves to: one of the user's lists (else a 400 naming `list_id`);\n\
         null for the inbox; absent, the list the task is in.",
    );

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema {
            nullable: true,
            ..MetaSchema::new_with_format("string", "uuid")
        }
    }

    fn example(_merge_patch: bool) -> Value {
        EXAMPLE_LIST_ID.to_string().into()
    }

    fn default() -> Option<Option<Option<Uuid>>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<Option<Uuid>>, Vec<Invalid>> {
        named(Self::NAME, nullable_uuid(value, "a list's id").map(Some))
    }
}

/// A UUID or null, as a body field's value (`what`: what the id is of).
fn nullable_uuid(value: &Value, what: &str) -> Result<Option<Uuid>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Uuid::try_parse(text)
            .map(Some)
            .map_err(|_| format!("must be {what} (a UUID) or null")),
        other => Err(format!(
            "must be a UUID string or null, got {}",
            json_kind(other)
        )),
    }
}

impl JsonObjectBody for TaskMove {
    const NAME: &'static str = "TaskMove";
    const DESCRIPTION: &'static str = "Where a task moves: right after `after` (null: first) in \
        the list `list_id`\n(absent: its own list; null: the inbox). Unknown fields are refused.";
    type Fields = (After, Destination);
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &[];

    fn from_values(
        (after, list_id): (Option<Uuid>, Option<Option<Uuid>>),
    ) -> Result<Self, Vec<Invalid>> {
        Ok(Self { after, list_id })
    }
}

impl JsonObjectBody for TaskFields {
    const NAME: &'static str = "TaskInput";
    const DESCRIPTION: &'static str = "A task's fields as they wholly replace a task (PUT): \
        absent fields take their\ndefaults. Unknown and read-only fields are refused.";
    type Fields = TaskBodyFields;
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &TASK_READ_ONLY_FIELDS;

    fn from_values(
        (title, description, is_completed, due, priority, tags, recurrence, list_id): (
            TaskTitle,
            Option<TaskDescription>,
            bool,
            Option<DuePatch>,
            domain::Priority,
            domain::Tags,
            Option<domain::Recurrence>,
            Option<Uuid>,
        ),
    ) -> Result<Self, Vec<Invalid>> {
        let due = due
            .map(|due| due.merge(None))
            .transpose()
            .map_err(|invalid| vec![invalid])?;
        Self {
            title,
            description,
            is_completed,
            due,
            priority,
            tags,
            recurrence,
            list_id,
        }
        .check()
    }
}

impl MadeByClient for domain::Task {
    const ID_DESCRIPTION: &'static str =
        "The new task's id, made by the client (so that it can refer to the task before the\n\
         server has answered); absent: the server makes one. An id that a task has already\n\
         (whoever owns it) is 409 `TASK_ALREADY_EXISTS`, and nothing is created; the id of a\n\
         deleted task may be used again.";
}

impl JsonObjectBody for NewTask {
    const NAME: &'static str = "NewTask";
    const DESCRIPTION: &'static str = "A task as created: its fields (absent ones take their \
        defaults), and optionally\nthe id the client made for it. Unknown and read-only fields \
        are refused.";
    type Fields = WithField<TaskBodyFields, ClientMadeId<domain::Task>>;
    type Presence = Whole;
    const READ_ONLY: &'static [&'static str] = &TASK_READ_ONLY_FIELDS;

    fn from_values(
        (values, id): (
            <TaskBodyFields as BodyFieldList>::Values<Whole>,
            Option<Uuid>,
        ),
    ) -> Result<Self, Vec<Invalid>> {
        Ok(Self {
            id,
            fields: TaskFields::from_values(values)?,
        })
    }
}

impl JsonObjectBody for TaskPatch {
    const NAME: &'static str = "TaskPatch";
    const DESCRIPTION: &'static str = "A JSON merge patch (RFC 7396) of a task: an absent field \
        stays as it is,\n`\"description\": null` clears the description, `\"title\": null` is \
        refused, `{}` changes\nnothing; `due` merges part by part, `tags` is replaced whole. The \
        merged task must keep every\nrule. Unknown and read-only fields are refused.";
    type Fields = TaskBodyFields;
    type Presence = MergePatch;
    const READ_ONLY: &'static [&'static str] = &TASK_READ_ONLY_FIELDS;
    const MEDIA_TYPES: &'static [&'static str] =
        &["application/json", "application/merge-patch+json"];

    #[allow(clippy::type_complexity)]
    fn from_values(
        (title, description, is_completed, due, priority, tags, recurrence, list_id): (
            Option<TaskTitle>,
            Option<Option<TaskDescription>>,
            Option<bool>,
            Option<Option<DuePatch>>,
            Option<domain::Priority>,
            Option<domain::Tags>,
            Option<Option<domain::Recurrence>>,
            Option<Option<Uuid>>,
        ),
    ) -> Result<Self, Vec<Invalid>> {
        Ok(Self {
            title,
            description,
            is_completed,
            due,
            priority,
            tags,
            recurrence,
            list_id,
        })
    }
}

impl ParamValue for TaskSort {
    fn schema() -> MetaSchema {
        MetaSchema {
            enum_items: TaskSort::ALL
                .iter()
                .map(|(_, name)| (*name).into())
                .collect(),
            default: Some("-created_at".into()),
            example: Some("title".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        TaskSort::parse(raw)
    }
}

/// A tag to find, as its key (Unicode lowercase).
pub struct TagFilter(String);

impl ParamValue for TagFilter {
    fn schema() -> MetaSchema {
        MetaSchema {
            pattern: Some(tag_pattern()),
            example: Some("errands".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        parse_tag(raw).map(|tag| Self(tag_key(&tag)))
    }
}

impl ParamValue for domain::Priority {
    fn schema() -> MetaSchema {
        MetaSchema {
            example: Some(Priority::example(false)),
            ..Priority::schema(false)
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        domain::Priority::parse(raw)
    }
}

/// `inbox`, or a list's id.
const LIST_FILTER_PATTERN: &str =
    "^(inbox|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

impl ParamValue for ListFilter {
    fn schema() -> MetaSchema {
        MetaSchema {
            pattern: Some(LIST_FILTER_PATTERN.to_owned()),
            example: Some("inbox".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "inbox" => Ok(Self::Inbox),
            // The hyphenated form only, as the pattern says.
            _ if raw.len() == 36 => Uuid::parse_str(raw)
                .map(Self::List)
                .map_err(|_| list_filter_refused(raw)),
            _ => Err(list_filter_refused(raw)),
        }
    }
}

fn list_filter_refused(raw: &str) -> String {
    format!(
        "must be inbox or a list's id (a UUID), got {:?}",
        domain::echo(raw)
    )
}

/// Text to find in titles, case-insensitively.
pub struct TitleSearch(String);

impl ParamValue for TitleSearch {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(SEARCH_MAX_CHARS),
            pattern: Some(STORABLE_PATTERN.to_owned()),
            example: Some("milk".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        check_storable(raw)?;
        match raw.chars().count() {
            n if n > SEARCH_MAX_CHARS => Err(format!(
                "must be at most {SEARCH_MAX_CHARS} characters (got {n})"
            )),
            _ => Ok(Self(raw.to_owned())),
        }
    }
}

impl ParamValue for IdempotencyKey {
    fn schema() -> MetaSchema {
        MetaSchema {
            min_length: Some(1),
            max_length: Some(IDEMPOTENCY_KEY_MAX_CHARS + 2),
            pattern: Some(r#"^("[!#-~]{1,255}"|[!#-~]{1,255})$"#.to_owned()),
            example: Some("\"8e03978e-40d5-43e8-bc93-6894a57f9324\"".into()),
            ..MetaSchema::new("string")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        IdempotencyKey::parse(raw)
    }
}

impl HeaderValue for IdempotencyKey {
    const LIST: bool = false;
}

#[derive(ApiResponse)]
pub enum TaskCreated {
    /// The task was created (or, with `Idempotent-Replayed: true`, had been created by an
    /// earlier request with the same `Idempotency-Key`, whose answer this is).
    #[oai(status = 201)]
    Created(
        JsonResponse<TaskResource>,
        /// The new task's URL.
        #[oai(header = "Location")]
        String,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
        /// `true` when this is the stored answer to an earlier request with the same
        /// `Idempotency-Key` (nothing was created now); absent otherwise.
        #[oai(header = "Idempotent-Replayed")]
        Option<String>,
    ),
}

#[derive(ApiResponse)]
pub enum TaskFound {
    /// The task as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<TaskResource>,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

impl From<crate::domain::Task> for TaskFound {
    fn from(task: crate::domain::Task) -> Self {
        let tag = etag(task.version);
        Self::Ok(JsonResponse(task.into()), tag)
    }
}

#[derive(ApiResponse)]
pub enum TaskRead {
    /// The task as it is now.
    #[oai(status = 200)]
    Ok(
        JsonResponse<Box<TaskResource>>,
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
    /// `If-None-Match` names the task's current entity tag: the copy the client has is current.
    #[oai(status = 304)]
    NotModified(
        /// The task's entity tag: its `version` in quotes.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum TaskPageFound {
    /// One page of tasks, and the cursor of the next one.
    #[oai(status = 200)]
    Ok(WrittenJson<TaskPage>),
}

#[derive(ApiResponse)]
pub enum TaskDeleted {
    /// The task was deleted.
    #[oai(status = 204)]
    NoContent,
}

pub struct TasksApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl TasksApi {
    /// Create a task
    ///
    /// Creates a task for the user; the answer's `Location` is the new task's URL and its `ETag`
    /// the task's version. The title is trimmed; `description` defaults to null and
    /// `is_completed` to false. With an `id` the client made, 409 `TASK_ALREADY_EXISTS` when a
    /// task (of any user) has it already, and nothing is created. 404 `USER_NOT_FOUND` when the
    /// user does not exist.
    ///
    /// With an `Idempotency-Key`, the create is safe to retry: a retry with the same key and
    /// the same fields gets the first answer again (status, body, `Location`, `ETag`) with
    /// `Idempotent-Replayed: true`, and creates nothing; the same key with other fields is 422
    /// `IDEMPOTENCY_KEY_REUSED`; a retry while the first is still running waits for it (409
    /// `IDEMPOTENCY_KEY_IN_USE` when it cannot). Keys are the user's own and are kept 24 hours
    /// (`IDEMPOTENCY_KEY_TTL_HOURS`); errors are not stored.
    #[oai(
        path = "/users/:user_id/tasks",
        method = "post",
        operation_id = "createTask"
    )]
    async fn create_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// 1 to 255 visible ASCII characters (a UUID is a good key), bare or quoted, the same for
        /// every retry of one create. Kept 24 hours (`IDEMPOTENCY_KEY_TTL_HOURS`), then
        /// forgotten.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: HeaderParam<IdempotencyKey>,
        body: JsonBody<NewTask>,
    ) -> Result<TaskCreated, ErrorResponse<TaskCreateErrors>> {
        let (user_id, key, new) =
            (user_id.checked(), idempotency_key.checked(), body.0).collect_fields()?;
        let state = &self.state;
        Ok(create(state, &state.db, user_id, key, new).await?)
    }

    /// List a user's tasks
    ///
    /// One keyset page at a time: follow `next_cursor` (with the same `sort` and filters) until
    /// it is null to see every task exactly once, even while tasks are added. The filters
    /// combine (AND): `due_from=2026-12-06&due_to=2026-12-06` is "today",
    /// `due_to=2026-12-05&completed=false` "overdue". A page holds at most `limit` tasks, and
    /// ends early, with a `next_cursor`, before the task that would take its JSON past the
    /// server's page size (`PAGE_MAX_BYTES`, 1 MiB by default); a single task larger than that
    /// is sent alone.
    #[oai(
        path = "/users/:user_id/tasks",
        method = "get",
        operation_id = "listTasks"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn list_tasks(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// How many tasks a page holds: 1 to 100 (never clamped).
        limit: QueryParam<TaskPageSize>,
        /// The previous page's `next_cursor`, unchanged; absent for the first page. It is sealed
        /// (encrypted and signed): a changed, truncated or made-up cursor, one used with another
        /// `sort`, filter or user, or one sealed with a key the server no longer holds, is a 400
        /// naming `cursor`.
        cursor: QueryParam<SignedToken>,
        /// Only completed (`true`) or open (`false`) tasks.
        completed: QueryParam<bool>,
        /// Only tasks whose title contains this text, case-insensitively; `%` and `_` are
        /// ordinary characters.
        q: QueryParam<TitleSearch>,
        /// Only tasks carrying this tag, compared as tags are: trimmed, in Unicode lowercase
        /// (`Work` finds `work`).
        tag: QueryParam<TagFilter>,
        /// Only tasks of this priority.
        priority: QueryParam<domain::Priority>,
        /// Only tasks with (`true`) or without (`false`) a due date.
        has_due: QueryParam<bool>,
        /// Only tasks due on this date or later (on `due.date`); a task without `due` never
        /// matches.
        due_from: QueryParam<NaiveDate>,
        /// Only tasks due on this date or earlier (on `due.date`); a task without `due` never
        /// matches. Before `due_from`: an empty page.
        due_to: QueryParam<NaiveDate>,
        /// Only the tasks of this list (a list's id; a list that is not the user's gives an empty
        /// page), or `inbox` for the tasks in no list.
        list_id: QueryParam<ListFilter>,
        /// The order: by `created_at`, `updated_at`, `title` (case-insensitive), `due` (by
        /// `due.date`, then all-day before timed, then `due.time` as written, never converted
        /// between zones) or `priority` (none, low, medium, high), `-` for descending (`-due`:
        /// later dates first, on one date timed before all-day and later times first); tasks
        /// without `due` come last in both due sorts; ties are broken by `id`.
        sort: QueryParam<TaskSort>,
    ) -> Result<TaskPageFound, ErrorResponse<ReadErrors>> {
        let cursor_name = cursor.name();
        let keys = self.state.token_keys.keys(&self.state.db).await?;
        let filter = (
            completed.checked(),
            q.checked(),
            tag.checked(),
            priority.checked(),
            has_due.checked(),
            due_from.checked(),
            due_to.checked(),
            list_id.checked(),
        )
            .collect_fields()
            .map(
                |(completed, q, tag, priority, has_due, due_from, due_to, list)| TaskFilter {
                    completed,
                    title_contains: q.map(|q| q.0),
                    tag_key: tag.map(|tag| tag.0),
                    priority: priority.map(domain::Priority::level),
                    has_due,
                    due_from,
                    due_to,
                    list,
                },
            );
        let (user_id, limit, cursor, filter, sort) = (
            user_id.checked(),
            limit.checked(),
            cursor.checked_then(|token| Cursor::decode(keys, &token.0)),
            filter,
            sort.checked(),
        )
            .collect_fields()?;
        let request = TaskListRequest {
            sort: sort.unwrap_or(TaskSort::CreatedAtDesc),
            filter,
            cursor,
            limit: limit.unwrap_or_default().0,
        };
        let read = pagination::list_tasks(&self.state.db, keys, user_id, request)
            .await
            .map_err(|err| ApiError::of_page(err, cursor_name))?;
        let written =
            WrittenJson::page::<TaskResource, _>(read, self.state.page_max_bytes, |cut| TaskPage {
                items: cut.page.tasks.into_iter().map(Into::into).collect(),
                next_cursor: Nullable(cut.next_cursor),
            });
        Ok(TaskPageFound::Ok(written.await?))
    }

    /// Get a task
    ///
    /// A task of another user is 404 `TASK_NOT_FOUND`, exactly as if it did not exist. The
    /// answer's `ETag` is the task's version; with `If-None-Match` naming it, the answer is 304
    /// with no body; with an `If-Match` that names none of it, 412 `PRECONDITION_FAILED`.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "get",
        operation_id = "getTask"
    )]
    async fn get_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        conditions: ReadConditions<domain::Task>,
    ) -> Result<TaskRead, ErrorResponse<TaskReadErrors>> {
        let (user_id, task_id, condition) =
            (user_id.checked(), task_id.checked(), conditions.checked()).collect_fields()?;
        let task = self.state.task_reads.get(user_id, task_id).await?;
        let tag = etag(task.version);
        match condition.outcome(task.version) {
            ReadOutcome::PreconditionFailed => Err(ApiError::PreconditionFailed(task_id).into()),
            ReadOutcome::NotModified => Ok(TaskRead::NotModified(tag)),
            ReadOutcome::Answer => Ok(TaskRead::Ok(JsonResponse(Box::new(task.into())), tag)),
        }
    }

    /// Replace a task
    ///
    /// Replaces every field: an absent `description` becomes null and an absent
    /// `is_completed` false. `updated_at` and `version` move only when a value really changes.
    /// With `If-Match`, only when the task's current `ETag` is listed, and with `If-None-Match`,
    /// only when it is not: otherwise 412 `PRECONDITION_FAILED` and nothing is written.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "put",
        operation_id = "replaceTask"
    )]
    async fn replace_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        conditions: WriteConditions<domain::Task>,
        body: JsonBody<TaskFields>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let (user_id, task_id, condition, fields) = (
            user_id.checked(),
            task_id.checked(),
            conditions.checked(),
            body.0,
        )
            .collect_fields()?;
        Ok(replace(&self.state.db, user_id, task_id, condition, fields).await?)
    }

    /// Update a task
    ///
    /// A JSON merge patch (RFC 7396), sent as `application/merge-patch+json` or
    /// `application/json`: absent fields stay, `"description": null` clears the description,
    /// `"title": null` is a 400, `{}` changes nothing. `updated_at` and `version` move only
    /// when a value really changes. With `If-Match`, only when the task's current `ETag` is
    /// listed, and with `If-None-Match`, only when it is not: otherwise 412
    /// `PRECONDITION_FAILED` and nothing is written.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "patch",
        operation_id = "updateTask"
    )]
    async fn update_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        conditions: WriteConditions<domain::Task>,
        body: JsonBody<TaskPatch>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let (user_id, task_id, condition, patch) = (
            user_id.checked(),
            task_id.checked(),
            conditions.checked(),
            body.0,
        )
            .collect_fields()?;
        Ok(update(&self.state.db, user_id, task_id, condition, patch).await?)
    }

    /// Move a task
    ///
    /// Puts the task right after `after` (null: first) in the list `list_id` (absent: its own;
    /// null: the inbox): it takes a `position` between its new neighbours', and a new version.
    /// A move that leaves the task where it is changes nothing. `after` not another task of
    /// that list, or `list_id` not one of the user's lists, is a 400 naming the field. With
    /// `If-Match`, only when the task's current `ETag` is listed, and with `If-None-Match`, only
    /// when it is not: otherwise 412 `PRECONDITION_FAILED` and nothing is written.
    #[oai(
        path = "/users/:user_id/tasks/:task_id/move",
        method = "post",
        operation_id = "moveTask"
    )]
    async fn move_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        conditions: WriteConditions<domain::Task>,
        body: JsonBody<TaskMove>,
    ) -> Result<TaskFound, ErrorResponse<TaskChangeErrors>> {
        let (user_id, task_id, condition, destination) = (
            user_id.checked(),
            task_id.checked(),
            conditions.checked(),
            body.0,
        )
            .collect_fields()?;
        Ok(move_to(&self.state.db, user_id, task_id, condition, destination).await?)
    }

    /// Delete a task
    ///
    /// Deletes the task for good (the change feed reports the deletion); a second delete is 404
    /// `TASK_NOT_FOUND`. With `If-Match`, only when the task's current `ETag` is listed, and
    /// with `If-None-Match`, only when it is not: otherwise 412 `PRECONDITION_FAILED` and
    /// nothing is deleted.
    #[oai(
        path = "/users/:user_id/tasks/:task_id",
        method = "delete",
        operation_id = "deleteTask"
    )]
    async fn delete_task(
        &self,
        _caller: Caller,
        /// The owner's id.
        user_id: PathParam<Uuid>,
        /// The task's id.
        task_id: PathParam<Uuid>,
        conditions: DeleteConditions<domain::Task>,
    ) -> Result<TaskDeleted, ErrorResponse<TaskDeleteErrors>> {
        let (user_id, task_id, condition) =
            (user_id.checked(), task_id.checked(), conditions.checked()).collect_fields()?;
        let state = &self.state;
        Ok(delete(&state.db, &state.limits, user_id, task_id, condition).await?)
    }
}

/// `createTask` once its request is read: what the endpoint and a batch's `create_task` run.
pub async fn create(
    state: &AppState,
    db: &Database,
    user_id: Uuid,
    key: Option<IdempotencyKey>,
    new: NewTask,
) -> Result<TaskCreated, ApiError> {
    let max_tasks = state.limits.max_tasks;
    let creates = &state.task_creates;
    let created = store::create_task(db, creates, user_id, new, key.as_ref(), max_tasks).await?;
    Ok(created_answer(user_id, created.task, created.replayed))
}

/// `createTask`'s answer: the task created (or, `replayed`, the first request's).
fn created_answer(user_id: Uuid, task: domain::Task, replayed: bool) -> TaskCreated {
    let location = format!("/users/{user_id}/tasks/{}", task.id);
    let tag = etag(task.version);
    let replayed = replayed.then(|| "true".to_owned());
    TaskCreated::Created(JsonResponse(task.into()), location, tag, replayed)
}

/// What each operation of a run answered, in order; the run's own failure (nothing of it
/// written) as the error.
pub type RunAnswers<T> = Result<Vec<Result<T, ApiError>>, ApiError>;

/// Consecutive `createTask`s without idempotency keys, once their requests are read: what a
/// batch runs for them, written together, each answered as `create` answers it alone.
pub async fn create_run(
    db: &Database,
    limits: &UserLimits,
    user_id: Uuid,
    news: Vec<NewTask>,
) -> RunAnswers<TaskCreated> {
    let answers = store::create_tasks(db, user_id, news, limits.max_tasks).await?;
    Ok(answers
        .into_iter()
        .map(|answer| Ok(created_answer(user_id, answer?, false)))
        .collect())
}

/// Consecutive `updateTask`s, once their requests are read: what a batch runs for them, written
/// together, each answered as `update` answers it alone.
pub async fn update_run(
    db: &Database,
    user_id: Uuid,
    updates: Vec<store::TaskUpdate>,
) -> RunAnswers<TaskFound> {
    let answers = store::update_tasks(db, user_id, updates).await?;
    Ok(answers
        .into_iter()
        .map(|answer| Ok(answer?.into()))
        .collect())
}

/// `replaceTask` once its request is read: what the endpoint and a batch's `replace_task` run.
pub async fn replace(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: WriteCondition,
    fields: TaskFields,
) -> Result<TaskFound, ApiError> {
    Ok(store::replace_task(db, user_id, task_id, fields, condition)
        .await?
        .into())
}

/// `updateTask` once its request is read: what the endpoint and a batch's `update_task` run.
pub async fn update(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: WriteCondition,
    patch: TaskPatch,
) -> Result<TaskFound, ApiError> {
    Ok(store::update_task(db, user_id, task_id, patch, condition)
        .await?
        .into())
}

/// `moveTask` once its request is read: what the endpoint and a batch's `move_task` run.
pub async fn move_to(
    db: &Database,
    user_id: Uuid,
    task_id: Uuid,
    condition: WriteCondition,
    destination: TaskMove,
) -> Result<TaskFound, ApiError> {
    Ok(
        store::move_task(db, user_id, task_id, destination, condition)
            .await?
            .into(),
    )
}

/// `deleteTask` once its request is read: what the endpoint and a batch's `delete_task` run.
pub async fn delete(
    db: &Database,
    limits: &UserLimits,
    user_id: Uuid,
    task_id: Uuid,
    condition: WriteCondition,
) -> Result<TaskDeleted, ApiError> {
    store::delete_task(db, user_id, task_id, condition, limits.max_tombstones).await?;
    Ok(TaskDeleted::NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_the_documented_pattern_allows_parses() {
        let schema = <IdempotencyKey as ParamValue>::schema();
        let pattern = regex::Regex::new(schema.pattern.as_deref().unwrap()).unwrap();
        let longest = "k".repeat(IDEMPOTENCY_KEY_MAX_CHARS);
        for allowed in [
            "k",
            "\"k\"",
            "8e03978e-40d5",
            "!#~",
            &longest,
            &format!("\"{longest}\""),
        ] {
            assert!(pattern.is_match(allowed), "{allowed}");
            assert!(IdempotencyKey::parse(allowed).is_ok(), "{allowed}");
        }
        for refused in ["", "a b", "\"\"", &format!("{longest}k")] {
            assert!(!pattern.is_match(refused), "{refused}");
            assert!(IdempotencyKey::parse(refused).is_err(), "{refused}");
        }
    }
}
