//! The JSON objects the API answers with, made from store rows.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::Object;
use serde_json::Value;
use uuid::Uuid;

use crate::entity::{task, user};

/// A UTC time written in RFC 3339 with exactly six fractional digits and `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(
            self.0.to_rfc3339_opts(SecondsFormat::Micros, true),
        ))
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

/// A task as every operation returns it.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Task")]
pub struct TaskResource {
    /// The task's id, made by the server.
    pub id: Uuid,
    /// The user who owns the task.
    pub user_id: Uuid,
    /// 1 to 255 characters, trimmed.
    pub title: String,
    /// At most 10,000 characters, or null.
    pub description: Option<String>,
    pub is_completed: bool,
    /// When the task was created (UTC).
    pub created_at: Timestamp,
    /// When a value of the task last changed (UTC).
    pub updated_at: Timestamp,
}

impl From<task::Model> for TaskResource {
    fn from(task: task::Model) -> Self {
        Self {
            id: task.id,
            user_id: task.user_id,
            title: task.title,
            description: task.description,
            is_completed: task.is_completed,
            created_at: Timestamp(task.created_at),
            updated_at: Timestamp(task.updated_at),
        }
    }
}

/// One page of a user's tasks.
#[derive(Object, Debug, Clone)]
pub struct TaskPage {
    pub items: Vec<TaskResource>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A user, who owns tasks.
#[derive(Object, Debug, Clone)]
#[oai(rename = "User")]
pub struct UserResource {
    pub id: Uuid,
    /// When the user was registered (UTC).
    pub created_at: Timestamp,
}

impl From<user::Model> for UserResource {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            created_at: Timestamp(user.created_at),
        }
    }
}
