//! The JSON objects the API answers with, made from store rows, and the response bodies that
//! write them (pages ahead, off the request threads).

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::{DateTime, SecondsFormat, Utc};
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, Union};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::domain::{List, Task};
use crate::entity::user;
use crate::store;

/// A JSON response body with `T`'s schema, written straight from `T`'s serde form (poem-openapi's
/// `Json` builds a `serde_json::Value` tree of it first).
pub struct JsonResponse<T>(pub T);

impl<T: Type> Payload for JsonResponse<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Serialize + Type + Send> IntoResponse for JsonResponse<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(Self::CONTENT_TYPE)
                .body(body),
            Err(err) => {
                tracing::error!(error = %err, "cannot write a response body");
                ApiError::Internal.into_response()
            }
        }
    }
}

/// A JSON response body with `T`'s schema, written ahead on a thread kept for blocking work: a
/// page, whose cutting and writing take milliseconds per MiB that the request threads must not
/// spend while other requests wait.
pub struct WrittenJson<T> {
    body: Vec<u8>,
    schema: PhantomData<T>,
}

impl<T: Serialize + Send + 'static> WrittenJson<T> {
    /// What `make` returns, made and written off the request threads; only its JSON is kept.
    pub async fn off_workers(make: impl FnOnce() -> T + Send + 'static) -> Result<Self, ApiError> {
        let written = tokio::task::spawn_blocking(move || {
            serde_json::to_vec(&make()).map_err(|err| err.to_string())
        })
        .await
        .map_err(|err| err.to_string())
        .and_then(|written| written);
        match written {
            Ok(body) => Ok(Self {
                body,
                schema: PhantomData,
            }),
            Err(err) => {
                tracing::error!(error = %err, "cannot write a response body");
                Err(ApiError::Internal)
            }
        }
    }
}

impl<T: Type> Payload for WrittenJson<T> {
    const CONTENT_TYPE: &'static str = JsonResponse::<T>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        JsonResponse::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        JsonResponse::<T>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        JsonResponse::<T>::register(registry);
    }
}

impl<T: Type + Send> IntoResponse for WrittenJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.body)
    }
}

/// A UTC time written in RFC 3339 with exactly six fractional digits and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp(pub DateTime<Utc>);

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl Timestamp {
    fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_rfc3339()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => DateTime::parse_from_rfc3339(&text)
                .map(|time| Self(time.with_timezone(&Utc)))
                .map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// A value that is always present and may be `null`: required and nullable in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nullable<T>(pub Option<T>);

impl<T: Type> Type for Nullable<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        format!("nullable_{}", T::name()).into()
    }

    fn schema_ref() -> MetaSchemaRef {
        match T::schema_ref() {
            // "The referenced object or null", as OpenAPI 3.0.3 reads it: `nullable` only adds
            // null to a `type` beside it and never relaxes an `allOf` (the specification's
            // clarification of `nullable`), so null is a `oneOf` branch of its own: an object
            // type made nullable, whose one value is null.
            reference @ MetaSchemaRef::Reference(_) => {
                let null = MetaSchema {
                    nullable: true,
                    enum_items: vec![serde_json::Value::Null],
                    ..MetaSchema::new("object")
                };
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    one_of: vec![reference, MetaSchemaRef::Inline(Box::new(null))],
                    ..MetaSchema::ANY
                }))
            }
            inline => inline.merge(MetaSchema {
                nullable: true,
                ..MetaSchema::ANY
            }),
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_ref().and_then(Type::as_raw_value)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        match &self.0 {
            Some(value) => value.raw_element_iter(),
            None => Box::new(std::iter::empty()),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        Some(
            self.0
                .as_ref()
                .and_then(ToJSON::to_json)
                .unwrap_or(Value::Null),
        )
    }
}

impl<T: Serialize> Serialize for Nullable<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Ok(Self(None)),
            value => T::parse_from_json(value)
                .map(|value| Self(Some(value)))
                .map_err(ParseError::propagate),
        }
    }
}

/// A task as every operation returns it: every field always present.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "Task", example)]
pub struct TaskResource {
    /// The task's id, made by the server.
    #[oai(read_only)]
    pub id: Uuid,
    /// The user who owns the task.
    #[oai(read_only)]
    pub user_id: Uuid,
    /// 1 to 255 characters, without surrounding white space.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub title: String,
    /// At most 10,000 characters; null when there is none.
    #[oai(validator(max_length = 10000))]
    pub description: Nullable<String>,
    /// Whether the task is done.
    pub is_completed: bool,
    /// When the task was created (UTC, microseconds); never changes.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When a value of the task last changed (UTC, microseconds).
    #[oai(read_only)]
    pub updated_at: Timestamp,
    /// The owner's change counter at the task's last change: grows with every change, never
    /// repeats for the owner; the task's `ETag` is this number in quotes. 0 only for a task the
    /// previous release wrote during a rolling deploy (it takes a number at its next change).
    #[oai(read_only, validator(minimum(value = "0")))]
    pub version: i64,
}

impl From<Task> for TaskResource {
    fn from(task: Task) -> Self {
        Self {
            id: task.id,
            user_id: task.user_id,
            title: task.title,
            description: Nullable(task.description),
            is_completed: task.is_completed,
            created_at: Timestamp(task.created_at),
            updated_at: Timestamp(task.updated_at),
            version: task.version,
        }
    }
}

/// The time every example shows.
fn example_time() -> Timestamp {
    Timestamp(
        DateTime::parse_from_rfc3339("2026-11-24T06:21:35.123456Z")
            .expect("a valid example time")
            .with_timezone(&Utc),
    )
}

/// The ids every example shows.
pub const EXAMPLE_USER_ID: Uuid = Uuid::from_u128(0x5b1e_9c3a_7d2f_4e8b_9a61_0c4d_2e8f_1a37);
pub const EXAMPLE_TASK_ID: Uuid = Uuid::from_u128(0x0193_5f3c_8a1e_7b2d_9c4f_6e1a_2b3c_4d5e);

impl Example for TaskResource {
    fn example() -> Self {
        Self {
            id: EXAMPLE_TASK_ID,
            user_id: EXAMPLE_USER_ID,
            title: "Buy milk".to_owned(),
            description: Nullable(None),
            is_completed: false,
            created_at: example_time(),
            updated_at: example_time(),
            version: 1,
        }
    }
}

/// One page of a user's tasks, in the order asked for.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct TaskPage {
    /// At most `limit` tasks.
    pub items: Vec<TaskResource>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Nullable<String>,
}

impl Example for TaskPage {
    fn example() -> Self {
        Self {
            items: vec![TaskResource::example()],
            next_cursor: Nullable(None),
        }
    }
}

/// A list as every operation returns it: every field always present.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "List", example)]
pub struct ListResource {
    /// The list's id: made by the client at its create, or by the server.
    #[oai(read_only)]
    pub id: Uuid,
    /// The user who owns the list.
    #[oai(read_only)]
    pub user_id: Uuid,
    /// 1 to 255 characters, without surrounding white space.
    #[oai(validator(min_length = 1, max_length = 255))]
    pub name: String,
    /// When the list was created (UTC, microseconds); never changes.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When the list was last renamed (UTC, microseconds).
    #[oai(read_only)]
    pub updated_at: Timestamp,
    /// The owner's change counter at the list's last change (the same counter as tasks'); the
    /// list's `ETag` is this number in quotes.
    #[oai(read_only, validator(minimum(value = "1")))]
    pub version: i64,
}

impl From<List> for ListResource {
    fn from(list: List) -> Self {
        Self {
            id: list.id,
            user_id: list.user_id,
            name: list.name,
            created_at: Timestamp(list.created_at),
            updated_at: Timestamp(list.updated_at),
            version: list.version,
        }
    }
}

pub const EXAMPLE_LIST_ID: Uuid = Uuid::from_u128(0x0193_5f3c_8a1e_7b2d_9c4f_6e1a_2b3c_0001);

impl Example for ListResource {
    fn example() -> Self {
        Self {
            id: EXAMPLE_LIST_ID,
            user_id: EXAMPLE_USER_ID,
            name: "Groceries".to_owned(),
            created_at: example_time(),
            updated_at: example_time(),
            version: 2,
        }
    }
}

/// One page of a user's lists, oldest first.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct ListPage {
    /// At most `limit` lists.
    pub items: Vec<ListResource>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Nullable<String>,
}

impl Example for ListPage {
    fn example() -> Self {
        Self {
            items: vec![ListResource::example()],
            next_cursor: Nullable(None),
        }
    }
}

/// A change of a task in the feed: the task changed (created, replaced or updated) to its
/// current state, or deleted.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct TaskChange {
    /// The task's id.
    pub task_id: Uuid,
    /// The change's number: the task's `version`, or the deletion's (0 only for a task the
    /// previous release wrote during a rolling deploy).
    #[oai(validator(minimum(value = "0")))]
    pub version: i64,
    /// Whether the task was deleted (then `task` is null).
    pub deleted: bool,
    /// The task as it is now; null exactly when it was deleted.
    pub task: Nullable<TaskResource>,
}

/// A change of a list in the feed: the list changed (created or renamed) to its current state,
/// or deleted (its tasks' deletions are changes of their own, each with its own number).
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct ListChange {
    /// The list's id.
    pub list_id: Uuid,
    /// The change's number: the list's `version`, or the deletion's.
    #[oai(validator(minimum(value = "1")))]
    pub version: i64,
    /// Whether the list was deleted (then `list` is null).
    pub deleted: bool,
    /// The list as it is now; null exactly when it was deleted.
    pub list: Nullable<ListResource>,
}

/// One change of the feed, a task's or a list's, told apart by `kind`.
#[derive(Union, Serialize, Debug, Clone)]
#[oai(discriminator_name = "kind", one_of)]
#[serde(tag = "kind")]
pub enum Change {
    #[oai(mapping = "task")]
    #[serde(rename = "task")]
    Task(TaskChange),
    #[oai(mapping = "list")]
    #[serde(rename = "list")]
    List(ListChange),
}

impl From<store::Change> for Change {
    fn from(change: store::Change) -> Self {
        match change {
            store::Change::Changed(task) => Self::Task(TaskChange {
                task_id: task.id,
                version: task.version,
                deleted: false,
                task: Nullable(Some(task.into())),
            }),
            store::Change::Deleted { task_id, version } => Self::Task(TaskChange {
                task_id,
                version,
                deleted: true,
                task: Nullable(None),
            }),
            store::Change::ListChanged(list) => Self::List(ListChange {
                list_id: list.id,
                version: list.version,
                deleted: false,
                list: Nullable(Some(list.into())),
            }),
            store::Change::ListDeleted { list_id, version } => Self::List(ListChange {
                list_id,
                version,
                deleted: true,
                list: Nullable(None),
            }),
        }
    }
}

impl Example for TaskChange {
    fn example() -> Self {
        let task = TaskResource::example();
        Self {
            task_id: task.id,
            version: task.version,
            deleted: false,
            task: Nullable(Some(task)),
        }
    }
}

impl Example for ListChange {
    fn example() -> Self {
        let list = ListResource::example();
        Self {
            list_id: list.id,
            version: list.version,
            deleted: false,
            list: Nullable(Some(list)),
        }
    }
}

/// One page of a user's changes, in `version` order.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(example)]
pub struct ChangePage {
    /// At most `limit` changes, tasks' and lists' in one version order: each task and list
    /// changed since the token, in its latest state, and each one deleted since.
    pub changes: Vec<Change>,
    /// Pass as `since` to get the changes after this page (also when `has_more` is false, to
    /// poll later).
    pub next_since: String,
    /// Whether more changes follow now: ask again with `next_since` at once.
    pub has_more: bool,
}

impl Example for ChangePage {
    fn example() -> Self {
        Self {
            changes: vec![
                Change::Task(TaskChange::example()),
                Change::List(ListChange::example()),
            ],
            next_since: "eyJ1IjoiNWIxZS4uLiJ9…".to_owned(),
            has_more: false,
        }
    }
}

/// A user, who owns tasks.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "User", example)]
pub struct UserResource {
    /// The user's id: given at registration, or made by the server.
    #[oai(read_only)]
    pub id: Uuid,
    /// When the user was registered (UTC, microseconds).
    #[oai(read_only)]
    pub created_at: Timestamp,
}

impl Example for UserResource {
    fn example() -> Self {
        Self {
            id: EXAMPLE_USER_ID,
            created_at: example_time(),
        }
    }
}

impl From<user::Model> for UserResource {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            created_at: Timestamp(user.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a response body holds: the serde form, which must be the schema's JSON form.
    fn assert_same_json<T: Serialize + ToJSON>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    #[test]
    fn response_bodies_are_the_json_the_schema_describes() {
        let mut described = TaskResource::example();
        described.description = Nullable(Some("Two \"quoted\" words, é".to_owned()));
        described.created_at = Timestamp(DateTime::from_timestamp(1_700_000_000, 1_000).unwrap());
        assert_same_json(&TaskResource::example());
        assert_same_json(&described);
        assert_same_json(&TaskPage {
            items: vec![TaskResource::example(), described],
            next_cursor: Nullable(Some("next".to_owned())),
        });
        assert_same_json(&TaskPage::example());
        assert_same_json(&UserResource::example());
        assert_same_json(&ChangePage::example());
        assert_same_json(&ChangePage {
            changes: vec![
                store::Change::Deleted {
                    task_id: EXAMPLE_TASK_ID,
                    version: 9,
                }
                .into(),
                store::Change::ListDeleted {
                    list_id: EXAMPLE_LIST_ID,
                    version: 10,
                }
                .into(),
                Change::List(ListChange::example()),
            ],
            next_since: "t".to_owned(),
            has_more: true,
        });
        assert_eq!(
            serde_json::to_value(Timestamp(
                DateTime::from_timestamp(1_700_000_000, 1_000).unwrap()
            ))
            .unwrap(),
            "2023-11-14T22:13:20.000001Z"
        );
    }
}
