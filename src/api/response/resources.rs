//! The JSON objects the API answers with, made from store rows (a resource's from one list of
//! its fields: `resource_fields!`), and the response bodies that write them (pages ahead, off
//! the request threads).

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, SecondsFormat, Timelike, Utc};
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, Union};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::api::operations::TaskResource;
use crate::domain::{
    tag_pattern, Due, List, Priority, Tags, User, ANSWERED_TIME_PATTERN, DATE_PATTERN,
    DESCRIPTION_MAX_CHARS, POSITION_MAX_CHARS, POSITION_PATTERN, RECURRENCE_MAX_CHARS, TAGS_MAX,
    TAG_MAX_CHARS, TIME_ZONE_MAX_CHARS, TIME_ZONE_PATTERN, TITLE_MAX_CHARS,
};
use crate::pagination::{JsonBound, PageRead};
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

/// The bytes a response body's buffer starts with: a task's JSON fits, so that writing one never
/// grows it.
const BODY_START_CAPACITY: usize = 1024;

/// `value` as JSON, written into a buffer of `capacity` bytes at first.
fn json_bytes<T: Serialize>(value: &T, capacity: usize) -> serde_json::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, value)?;
    Ok(body)
}

impl<T: Serialize + Type + Send> IntoResponse for JsonResponse<T> {
    fn into_response(self) -> Response {
        match json_bytes(&self.0, BODY_START_CAPACITY) {
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

/// A JSON response body with `T`'s schema, written ahead: a page, whose cutting and writing take
/// milliseconds per MiB, on a thread kept for blocking work, where the request threads do not
/// spend them while other requests wait.
pub struct WrittenJson<T> {
    body: Vec<u8>,
    schema: PhantomData<T>,
}

/// The most bytes of JSON written on the request thread: less than the hop to a blocking thread
/// and back costs.
const WRITTEN_IN_PLACE_MAX_BYTES: usize = 64 * 1024;

impl<T: Serialize + Send + 'static> WrittenJson<T> {
    /// `read`'s page, cut to `max_bytes` of its `Item`s' JSON and made into the answer `T` by
    /// `answer`, written.
    pub async fn page<Item, Read>(
        read: Read,
        max_bytes: usize,
        answer: impl FnOnce(Read::Cut) -> T + Send + 'static,
    ) -> Result<Self, ApiError>
    where
        Read: PageRead,
        Item: Serialize + From<Read::Row> + JsonBound<Read::Row>,
    {
        let json_bound = read.json_bound::<Item>();
        Self::new(json_bound, move || answer(read.cut::<Item>(max_bytes))).await
    }

    /// What `make` returns, made and written; only its JSON is kept. Off the request threads
    /// unless `json_bound` (at least the bytes of its JSON) is small.
    async fn new(
        json_bound: usize,
        make: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Self, ApiError> {
        // The bound is at most a few times the JSON's size: the buffer never grows on the request
        // threads.
        let capacity = json_bound.min(WRITTEN_IN_PLACE_MAX_BYTES);
        let write = move || json_bytes(&make(), capacity).map_err(|err| err.to_string());
        let written = if json_bound <= WRITTEN_IN_PLACE_MAX_BYTES {
            write()
        } else {
            tokio::task::spawn_blocking(write)
                .await
                .map_err(|err| err.to_string())
                .and_then(|written| written)
        };
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
    /// Hands `take` the time's text, `YYYY-MM-DDTHH:MM:SS.ffffffZ` as chrono's
    /// `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it: put digit by digit on the stack
    /// (chrono's formatting takes several times as long and a `String`), or by chrono itself
    /// for a year past four digits or a leap second.
    fn with_text<R>(self, take: impl FnOnce(&str) -> R) -> R {
        let time = self.0.naive_utc();
        match (iso_date(time.date()), iso_time(time.time())) {
            (Some(date), Some(clock)) => {
                let mut text = *b"0000-00-00T00:00:00.000000Z";
                text[..10].copy_from_slice(&date);
                text[11..19].copy_from_slice(&clock);
                put_decimal(&mut text[20..26], time.nanosecond() / 1000);
                take(std::str::from_utf8(&text).expect("digits and ASCII marks"))
            }
            _ => take(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true)),
        }
    }
}

/// Writes `value`'s last `digits.len()` decimal digits, zero-padded, into `digits`.
fn put_decimal(digits: &mut [u8], mut value: u32) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `date` as `YYYY-MM-DD` (what `%Y-%m-%d` writes), or `None` for a year that is not four digits.
fn iso_date(date: NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(date.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let mut text = *b"0000-00-00";
    put_decimal(&mut text[..4], year);
    put_decimal(&mut text[5..7], date.month());
    put_decimal(&mut text[8..], date.day());
    Some(text)
}

/// `time` as `HH:MM:SS` (what `%H:%M:%S` writes), or `None` for a leap second.
fn iso_time(time: NaiveTime) -> Option<[u8; 8]> {
    if time.nanosecond() >= 1_000_000_000 {
        return None;
    }
    let mut text = *b"00:00:00";
    put_decimal(&mut text[..2], time.hour());
    put_decimal(&mut text[3..5], time.minute());
    put_decimal(&mut text[6..], time.second());
    Some(text)
}

/// `date` as `YYYY-MM-DD`.
fn date_text(date: NaiveDate) -> String {
    match iso_date(date) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => date.format("%Y-%m-%d").to_string(),
    }
}

/// `time` as `HH:MM:SS`.
fn time_text(time: NaiveTime) -> String {
    match iso_time(time) {
        Some(text) => String::from_utf8_lossy(&text).into_owned(),
        None => time.format("%H:%M:%S").to_string(),
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.with_text(str::to_owned)))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_text(|text| serializer.serialize_str(text))
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

impl<T> Default for Nullable<T> {
    fn default() -> Self {
        Self(None)
    }
}

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

/// The rules of a string an answer holds, from the domain's: its schema.
pub trait TextRules: Send + Sync + 'static {
    /// The type's name in poem-openapi's registry (schemas are inline).
    const NAME: &'static str;
    fn schema() -> MetaSchema;
}

/// A string an answer holds, documented with `R`'s rules.
pub struct RuledText<R>(pub String, PhantomData<R>);

impl<R> RuledText<R> {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into(), PhantomData)
    }
}

/// Empty: what poem-openapi gives a read-only field it does not read.
impl<R> Default for RuledText<R> {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl<R> Clone for RuledText<R> {
    fn clone(&self) -> Self {
        Self::new(self.0.clone())
    }
}

impl<R> std::fmt::Debug for RuledText<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<R: TextRules> Type for RuledText<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        R::NAME.into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(R::schema()))
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

impl<R: TextRules> ToJSON for RuledText<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl<R> Serialize for RuledText<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<R: TextRules> ParseFromJSON for RuledText<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self::new(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// Declares the rules of an answer's string: a type named `$rules` whose schema `$schema` makes.
macro_rules! text_rules {
    ($(#[$doc:meta])* $rules:ident, $name:literal, $schema:expr) => {
        $(#[$doc])*
        pub struct $rules;

        impl TextRules for $rules {
            const NAME: &'static str = $name;

            fn schema() -> MetaSchema {
                $schema
            }
        }
    };
}

text_rules! {
    /// A task's title as stored: trimmed, 1 to 255 characters.
    TitleRules, "string_title",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(TITLE_MAX_CHARS),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A task's description: at most 10,000 characters.
    DescriptionRules, "string_description",
    MetaSchema {
        max_length: Some(DESCRIPTION_MAX_CHARS),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A calendar date, `YYYY-MM-DD`.
    DateRules, "string_date",
    MetaSchema {
        pattern: Some(DATE_PATTERN.to_owned()),
        ..MetaSchema::new_with_format("string", "date")
    }
}

text_rules! {
    /// A wall-clock time as answered: `HH:MM:SS`.
    TimeRules, "string_time",
    MetaSchema {
        pattern: Some(ANSWERED_TIME_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A name of the IANA time zone database (`Europe/Paris`).
    TimeZoneRules, "string_time_zone",
    MetaSchema {
        max_length: Some(TIME_ZONE_MAX_CHARS),
        pattern: Some(TIME_ZONE_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A task's position: a fractional-indexing key.
    PositionRules, "string_position",
    MetaSchema {
        min_length: Some(2),
        max_length: Some(POSITION_MAX_CHARS),
        pattern: Some(POSITION_PATTERN.to_owned()),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A priority's name.
    PriorityRules, "string_priority",
    MetaSchema {
        enum_items: Priority::ALL
            .iter()
            .map(|priority| priority.name().into())
            .collect(),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A recurrence rule as stored (normalised: upper case, without `RRULE:`).
    RecurrenceRules, "string_recurrence",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(RECURRENCE_MAX_CHARS),
        ..MetaSchema::new("string")
    }
}

text_rules! {
    /// A tag as stored: trimmed.
    TagRules, "string_tag",
    MetaSchema {
        min_length: Some(1),
        max_length: Some(TAG_MAX_CHARS),
        pattern: Some(tag_pattern()),
        ..MetaSchema::new("string")
    }
}

/// A task's tags as answered: at most 20, in the order sent.
#[derive(Debug, Clone)]
pub struct TagList(pub Vec<RuledText<TagRules>>);

impl Type for TagList {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "array_tag".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(RuledText::<TagRules>::schema_ref())),
            max_items: Some(TAGS_MAX),
            ..MetaSchema::new("array")
        }))
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

impl ToJSON for TagList {
    fn to_json(&self) -> Option<Value> {
        Some(Value::Array(
            self.0
                .iter()
                .map(|tag| Value::String(tag.0.clone()))
                .collect(),
        ))
    }
}

impl Serialize for TagList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl ParseFromJSON for TagList {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        Vec::<RuledText<TagRules>>::parse_from_json(value)
            .map(Self)
            .map_err(ParseError::propagate)
    }
}

/// When a task is due, as stored: the server never converts between zones.
#[derive(Object, Serialize, Debug, Clone)]
#[oai(rename = "Due", example)]
pub struct DueResource {
    /// The calendar date (`YYYY-MM-DD`).
    pub date: RuledText<DateRules>,
    /// The wall-clock time (`HH:MM:SS`); null for a task due all day.
    pub time: Nullable<RuledText<TimeRules>>,
    /// The IANA time zone the time is in; null for a floating time (wherever the user is) or
    /// an all-day task.
    pub time_zone: Nullable<RuledText<TimeZoneRules>>,
}

impl From<Due> for DueResource {
    fn from(due: Due) -> Self {
        Self {
            date: RuledText::new(date_text(due.date())),
            time: Nullable(due.time().map(|time| RuledText::new(time_text(time)))),
            time_zone: Nullable(due.time_zone().map(|zone| RuledText::new(zone.as_str()))),
        }
    }
}

impl Example for DueResource {
    fn example() -> Self {
        Self {
            date: RuledText::new("2026-12-24"),
            time: Nullable(Some(RuledText::new("18:30:00"))),
            time_zone: Nullable(Some(RuledText::new("Europe/Paris"))),
        }
    }
}

/// Declares a resource's answer from one list of its fields, in the answer's order: the struct
/// the document and the JSON come from (each field with its doc, attributes and type), its making
/// from the domain value `$row` (each field's `value`, an expression of it), its example, its
/// `JsonBound` (each field's `bound`: at most the bytes of its value's JSON, from `&$row`), and
/// `$body_fields`, the tuple of the declarations (`body`) of the fields a client writes, in the
/// same order. A field added to the resource is one entry here.
macro_rules! resource_fields {
    (
        $(#[$($struct_attr:tt)*])*
        pub struct $name:ident from $row:ident: $row_type:ty {
            $(
                $(#[$($attr:tt)*])*
                $field:ident: $type:ty = $value:expr,
                    example $example:expr,
                    bound $bound:expr
                    $(, body $body:ty)?;
            )+
        }
        $(#[$($alias_attr:tt)*])*
        pub type $body_fields:ident;
    ) => {
        #[derive(::poem_openapi::Object, ::serde::Serialize, Debug, Clone)]
        $(#[$($struct_attr)*])*
        pub struct $name {
            $($(#[$($attr)*])* pub $field: $type,)+
        }

        impl From<$row_type> for $name {
            fn from($row: $row_type) -> Self {
                Self {
                    $($field: $value,)+
                }
            }
        }

        impl ::poem_openapi::types::Example for $name {
            fn example() -> Self {
                Self {
                    $($field: $example,)+
                }
            }
        }

        impl $crate::pagination::JsonBound<$row_type> for $name {
            fn json_bound($row: &$row_type) -> usize {
                // The braces, then each field's name in quotes, its colon, its value and a comma.
                2 $(+ stringify!($field).len() + 4 + $bound)+
            }
        }

        $(#[$($alias_attr)*])*
        pub type $body_fields = ($($($body,)?)+);
    };
}

pub(crate) use resource_fields;

/// At most the bytes of a text's JSON: six (`\u00XX`) for each byte, and the quotes.
pub fn json_text_bound(text: &str) -> usize {
    6 * text.len() + 2
}

/// At most the bytes of a text's JSON, or of `null`.
pub fn nullable_json_text_bound(text: Option<&str>) -> usize {
    text.map_or(NULL_JSON_BYTES, json_text_bound)
}

/// The bytes of `null`.
const NULL_JSON_BYTES: usize = 4;

/// The bytes of an id's JSON (at least those of `null`).
pub const UUID_JSON_BYTES: usize = 38;

/// At most the bytes of a boolean's JSON.
pub const BOOL_JSON_BYTES: usize = 5;

/// At most the bytes of an integer's JSON (`-9223372036854775808`).
pub const INTEGER_JSON_BYTES: usize = 20;

/// At most the bytes of a time's JSON (at least those of `null`): a year of six digits and a
/// sign, as chrono writes its widest.
pub const TIMESTAMP_JSON_BYTES: usize = 32;

impl DueResource {
    /// At most the bytes of a due date's JSON, or of `null`: the names and punctuation, the
    /// widest date (a year of six digits and a sign) and time, and the time zone's text.
    pub fn json_bound(due: Option<&Due>) -> usize {
        const FIXED_BYTES: usize = 64;
        due.map_or(NULL_JSON_BYTES, |due| {
            FIXED_BYTES + nullable_json_text_bound(due.time_zone().map(|zone| zone.as_str()))
        })
    }
}

impl TagList {
    /// At most the bytes of a task's tags' JSON: the brackets, each tag's text and comma.
    pub fn json_bound(tags: &Tags) -> usize {
        2 + tags
            .as_slice()
            .iter()
            .map(|tag| json_text_bound(tag) + 1)
            .sum::<usize>()
    }
}

/// The time every example shows.
pub fn example_time() -> Timestamp {
    Timestamp(
        DateTime::parse_from_rfc3339("2026-11-24T06:21:35.123456Z")
            .expect("a valid example time")
            .with_timezone(&Utc),
    )
}

/// The ids every example shows.
pub const EXAMPLE_USER_ID: Uuid = Uuid::from_u128(0x5b1e_9c3a_7d2f_4e8b_9a61_0c4d_2e8f_1a37);
pub const EXAMPLE_TASK_ID: Uuid = Uuid::from_u128(0x0193_5f3c_8a1e_7b2d_9c4f_6e1a_2b3c_4d5e);

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
    pub task: Nullable<Box<TaskResource>>,
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
                task: Nullable(Some(Box::new(task.into()))),
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

/// At most the bytes of a change's JSON besides its task's or list's.
const CHANGE_JSON_FIXED_BYTES: usize = 128;

/// At most the bytes of a list's JSON besides its name: names, punctuation, ids, times, version.
const LIST_JSON_FIXED_BYTES: usize = 256;

impl JsonBound<List> for ListResource {
    fn json_bound(list: &List) -> usize {
        LIST_JSON_FIXED_BYTES + json_text_bound(&list.name)
    }
}

impl JsonBound<store::Change> for Change {
    fn json_bound(change: &store::Change) -> usize {
        CHANGE_JSON_FIXED_BYTES
            + match change {
                store::Change::Changed(task) => TaskResource::json_bound(task),
                store::Change::ListChanged(list) => ListResource::json_bound(list),
                store::Change::Deleted { .. } | store::Change::ListDeleted { .. } => 0,
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
            task: Nullable(Some(Box::new(task))),
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

impl From<User> for UserResource {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            created_at: Timestamp(user.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Task;

    /// What a response body holds: the serde form, which must be the schema's JSON form.
    fn assert_same_json<T: Serialize + ToJSON>(value: &T) {
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            value.to_json().unwrap()
        );
    }

    #[test]
    fn times_and_dates_are_written_as_chrono_writes_them() {
        let leap_second = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 59, 1_999_999)
            .unwrap()
            .and_utc();
        let times = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::UNIX_EPOCH,
            example_time().0,
            DateTime::parse_from_rfc3339("0001-02-03T04:05:06.000007Z")
                .unwrap()
                .with_timezone(&Utc),
            DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999999Z")
                .unwrap()
                .with_timezone(&Utc),
            chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc(),
            leap_second,
        ];
        for time in times {
            let written = serde_json::to_value(Timestamp(time)).unwrap();
            let chrono = time.to_rfc3339_opts(SecondsFormat::Micros, true);
            assert_eq!(written, Value::String(chrono.clone()));
            assert_eq!(Timestamp(time).to_json(), Some(Value::String(chrono)));
            assert_eq!(
                date_text(time.date_naive()),
                time.format("%Y-%m-%d").to_string()
            );
            assert_eq!(time_text(time.time()), time.format("%H:%M:%S").to_string());
        }
    }

    #[test]
    fn an_item_never_takes_more_json_than_its_bound() {
        let tasks = [
            Task::widest("\u{1}".repeat(255), Some("\u{1f}".repeat(10_000))),
            Task::widest("\"".repeat(255), None),
            Task::widest("t".to_owned(), Some(String::new())),
        ];
        for task in tasks {
            let bound = TaskResource::json_bound(&task);
            let json = serde_json::to_vec(&TaskResource::from(task.clone())).unwrap();
            assert!(json.len() <= bound, "{} > {bound}", json.len());
            let change = store::Change::Changed(task);
            let bound = Change::json_bound(&change);
            let json = serde_json::to_vec(&Change::from(change)).unwrap();
            assert!(json.len() <= bound, "{} > {bound}", json.len());
        }
        let deleted = store::Change::Deleted {
            task_id: Uuid::max(),
            version: i64::MIN,
        };
        let bound = Change::json_bound(&deleted);
        let json = serde_json::to_vec(&Change::from(deleted)).unwrap();
        assert!(json.len() <= bound, "{} > {bound}", json.len());
    }

    #[test]
    fn response_bodies_are_the_json_the_schema_describes() {
        let mut described = TaskResource::example();
        described.description = Nullable(Some(RuledText::new("Two \"quoted\" words, é")));
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
