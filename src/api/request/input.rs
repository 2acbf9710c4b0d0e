//! Request parsing that never stops at the first mistake: parameters and JSON bodies parse into
//! checked values, and an operation reports every failing field at once.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem::{FromRequest, Request, RequestBody as PoemRequestBody};
use poem_openapi::param::Query;
use poem_openapi::registry::{
    MetaMediaType, MetaParamIn, MetaRequest, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ParseFromParameter, ParseResult, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

use crate::api::error::{echo, ApiError, FieldError, FieldLocation};
use crate::api::http::gate::PathParameters;
use crate::domain::{parse_date, Invalid, DATE_PATTERN};

/// A value, or every field error found while parsing it.
pub type Checked<T> = Result<T, Vec<FieldError>>;

/// Combines checked values: all of them, or the errors of every one that failed.
pub trait CollectFields {
    type Output;
    fn collect_fields(self) -> Checked<Self::Output>;
}

macro_rules! impl_collect_fields {
    ($($ty:ident $var:ident),+) => {
        impl<$($ty),+> CollectFields for ($(Checked<$ty>,)+) {
            type Output = ($($ty,)+);

            fn collect_fields(self) -> Checked<Self::Output> {
                let ($($var,)+) = self;
                let mut errors = Vec::new();
                $(let $var = $var.map_err(|e| errors.extend(e)).ok();)+
                match ($($var,)+) {
                    ($(Some($var),)+) => Ok(($($var,)+)),
                    _ => Err(errors),
                }
            }
        }
    };
}

/// Implements `$impl` for tuples of 1 to 12: an operation's parameters, a body's fields (a field
/// added to a body needs no change here).
macro_rules! for_tuples_up_to_12 {
    ($impl:ident) => {
        $impl!(A a);
        $impl!(A a, B b);
        $impl!(A a, B b, C c);
        $impl!(A a, B b, C c, D d);
        $impl!(A a, B b, C c, D d, E e);
        $impl!(A a, B b, C c, D d, E e, G g);
        $impl!(A a, B b, C c, D d, E e, G g, H h);
        $impl!(A a, B b, C c, D d, E e, G g, H h, I i);
        $impl!(A a, B b, C c, D d, E e, G g, H h, I i, J j);
        $impl!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k);
        $impl!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l);
        $impl!(A a, B b, C c, D d, E e, G g, H h, I i, J j, K k, L l, M m);
    };
}

for_tuples_up_to_12!(impl_collect_fields);

/// A value that a path or query parameter holds.
pub trait ParamValue: Sized + Send + Sync {
    /// The parameter's schema in the OpenAPI document.
    fn schema() -> MetaSchema;
    /// Parses the raw text, or says what is wrong with it.
    fn parse(raw: &str) -> Result<Self, String>;
}

/// A parameter whose parse result is kept for the operation instead of failing the request.
pub struct Param<T>(Result<T, String>);

impl<T: ParamValue> Type for Param<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<T>())
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(T::schema()))
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

impl<T: ParamValue> ParseFromParameter for Param<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(T::parse(value)))
    }
}

/// A path parameter, parsed; a value that does not parse is kept, named, for the operation's
/// error report (with every other failing field).
pub struct PathParam<T>(Checked<T>);

/// A query parameter, parsed when given; a value that does not parse is kept, named, for the
/// operation's error report.
pub struct QueryParam<T> {
    name: &'static str,
    value: Checked<Option<T>>,
}

impl<T> PathParam<T> {
    pub fn checked(self) -> Checked<T> {
        self.0
    }
}

impl<T> QueryParam<T> {
    /// The parameter's name in the contract.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn checked(self) -> Checked<Option<T>> {
        self.value
    }

    /// The value read further by `read`, whose refusal is reported as this parameter's.
    pub fn checked_then<U>(self, read: impl FnOnce(T) -> Result<U, String>) -> Checked<Option<U>> {
        let name = self.name;
        self.value.and_then(|value| {
            value
                .map(read)
                .transpose()
                .map_err(|message| vec![FieldError::new(FieldLocation::Query, name, message)])
        })
    }
}

impl<'a, T: ParamValue> ApiExtractor<'a> for PathParam<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = true;
    type ParamType = Param<T>;
    type ParamRawType = Param<T>;

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Path)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(Param::<T>::schema_ref())
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut PoemRequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let name = options.name;
        let raw = request
            .data::<PathParameters>()
            .and_then(|parameters| parameters.get(name))
            .unwrap_or_default();
        Ok(Self(T::parse(raw).map_err(|message| {
            vec![FieldError::new(FieldLocation::Path, name, message)]
        })))
    }
}

impl<'a, T: ParamValue> ApiExtractor<'a> for QueryParam<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = Option<Param<T>>;
    type ParamRawType = Option<Param<T>>;

    fn register(registry: &mut Registry) {
        Query::<Option<Param<T>>>::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Query::<Option<Param<T>>>::param_in()
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Query::<Option<Param<T>>>::param_schema_ref()
    }

    async fn from_request(
        request: &'a Request,
        body: &mut PoemRequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let name = options.name;
        let Query(given) = Query::<Option<Param<T>>>::from_request(request, body, options).await?;
        let value = given
            .map(|Param(parsed)| parsed)
            .transpose()
            .map_err(|message| vec![FieldError::new(FieldLocation::Query, name, message)]);
        Ok(Self { name, value })
    }
}

impl ParamValue for uuid::Uuid {
    fn schema() -> MetaSchema {
        MetaSchema {
            example: Some("5b1e9c3a-7d2f-4e8b-9a61-0c4d2e8f1a37".into()),
            ..MetaSchema::new_with_format("string", "uuid")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        uuid::Uuid::parse_str(raw).map_err(|_| format!("must be a UUID, got {:?}", echo(raw)))
    }
}

impl ParamValue for bool {
    fn schema() -> MetaSchema {
        MetaSchema {
            example: Some(true.into()),
            ..MetaSchema::new("boolean")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("must be true or false, got {:?}", echo(raw))),
        }
    }
}

impl ParamValue for chrono::NaiveDate {
    fn schema() -> MetaSchema {
        MetaSchema {
            pattern: Some(DATE_PATTERN.to_owned()),
            example: Some("2026-12-06".into()),
            ..MetaSchema::new_with_format("string", "date")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        parse_date(raw)
    }
}

/// A value a request header holds.
pub trait HeaderValue: ParamValue {
    /// Whether the header is a list, whose lines are joined with commas (RFC 9110 §5.3); any
    /// other header given twice is refused.
    const LIST: bool;
}

/// A request header, parsed when given; a value that does not parse is kept, named, for the
/// operation's error report.
pub struct HeaderParam<T>(Checked<Option<T>>);

impl<T> HeaderParam<T> {
    pub fn checked(self) -> Checked<Option<T>> {
        self.0
    }
}

impl<'a, T: HeaderValue> ApiExtractor<'a> for HeaderParam<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = Option<Param<T>>;
    type ParamRawType = Option<Param<T>>;

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(Param::<T>::schema_ref())
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut PoemRequestBody,
        options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self(read_header(request, options.name)))
    }
}

/// Request header `name`, parsed when given; a value that does not parse is named for the
/// operation's error report.
pub fn read_header<T: HeaderValue>(request: &Request, name: &str) -> Checked<Option<T>> {
    let lines: Vec<_> = request.headers().get_all(name).iter().collect();
    let value = match lines.len() {
        0 => Ok(None),
        n if n > 1 && !T::LIST => Err("must be given once".to_owned()),
        _ => lines
            .iter()
            .map(|line| line.to_str())
            .collect::<Result<Vec<&str>, _>>()
            .map_err(|_| "must be visible ASCII text".to_owned())
            .and_then(|lines| T::parse(&lines.join(", ")))
            .map(Some),
    };
    value.map_err(|message| vec![FieldError::new(FieldLocation::Header, name, message)])
}

/// How many items a page holds: 1 to `MAX`, `DEFAULT` when not given.
pub struct PageSize<const DEFAULT: u64, const MAX: u64>(pub u64);

impl<const DEFAULT: u64, const MAX: u64> Default for PageSize<DEFAULT, MAX> {
    fn default() -> Self {
        Self(DEFAULT)
    }
}

impl<const DEFAULT: u64, const MAX: u64> ParamValue for PageSize<DEFAULT, MAX> {
    fn schema() -> MetaSchema {
        MetaSchema {
            minimum: Some(1.0),
            maximum: Some(MAX as f64),
            default: Some(DEFAULT.into()),
            example: Some(DEFAULT.into()),
            ..MetaSchema::new_with_format("integer", "int32")
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        match raw.parse::<u64>() {
            Ok(size) if (1..=MAX).contains(&size) => Ok(Self(size)),
            _ => Err(format!(
                "must be an integer from 1 to {MAX}, got {:?}",
                echo(raw)
            )),
        }
    }
}

/// A signed token as sent (a cursor, a sync token); only the server's key can tell whether it is
/// genuine.
pub struct SignedToken(pub String);

impl ParamValue for SignedToken {
    fn schema() -> MetaSchema {
        // No example: any string but a token this server made is refused.
        MetaSchema::new("string")
    }

    fn parse(raw: &str) -> Result<Self, String> {
        Ok(Self(raw.to_owned()))
    }
}

/// Names a JSON value's kind for an error message.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Which fields a body holds: all of a resource's writable fields, absent ones taking their
/// defaults (`Whole`), or a JSON merge patch of them, absent ones staying as they are.
pub trait Presence {
    /// What a body of this kind yields for a field whose value is `T`.
    type Of<T>;
    /// Whether the body is a merge patch (a field's description and example differ).
    const MERGE_PATCH: bool;
    /// Reads field `F`: absent, its default (or "is required"), or `None` in a patch.
    fn read<F: BodyField>(fields: &BodyFields) -> Checked<Self::Of<F::Value>>;
    /// Whether `F` must be sent.
    fn requires<F: BodyField>() -> bool;
}

/// Every writable field: an absent one takes its default, and one without a default is required.
pub struct Whole;

/// A JSON merge patch (RFC 7396): an absent field stays as it is.
pub struct MergePatch;

impl Presence for Whole {
    type Of<T> = T;
    const MERGE_PATCH: bool = false;

    fn read<F: BodyField>(fields: &BodyFields) -> Checked<F::Value> {
        match fields.0.get(F::NAME) {
            Some(value) => F::parse(value).map_err(body_errors),
            None => {
                F::default().ok_or_else(|| body_errors(vec![Invalid::new(F::NAME, "is required")]))
            }
        }
    }

    fn requires<F: BodyField>() -> bool {
        F::default().is_none()
    }
}

impl Presence for MergePatch {
    type Of<T> = Option<T>;
    const MERGE_PATCH: bool = true;

    fn read<F: BodyField>(fields: &BodyFields) -> Checked<Option<F::Value>> {
        fields
            .0
            .get(F::NAME)
            .map(|value| F::parse(value).map_err(body_errors))
            .transpose()
    }

    fn requires<F: BodyField>() -> bool {
        false
    }
}

/// A body's failing fields, as the error report lists them.
pub fn body_errors(invalid: Vec<Invalid>) -> Vec<FieldError> {
    invalid
        .into_iter()
        .map(|invalid| FieldError::new(FieldLocation::Body, &invalid.field, invalid.message))
        .collect()
}

/// The one failing field of a simple value: `name`, with `result`'s message.
pub fn named<T>(name: &str, result: Result<T, String>) -> Result<T, Vec<Invalid>> {
    result.map_err(|message| vec![Invalid::new(name, message)])
}

/// What a body field means in a whole body and in a merge patch.
pub struct FieldDescription {
    pub whole: &'static str,
    pub merge_patch: &'static str,
}

impl FieldDescription {
    /// The same meaning in both.
    pub const fn same(text: &'static str) -> Self {
        Self {
            whole: text,
            merge_patch: text,
        }
    }
}

/// One writable field of a JSON object body, declared once: the document's schema of the field
/// and its parse into a domain value both come from here.
pub trait BodyField {
    /// The field's name in the body.
    const NAME: &'static str;
    /// What the field parses into (`Option<…>` when `null` is a value).
    type Value;
    /// What the field means in each kind of body.
    const DESCRIPTION: FieldDescription;
    /// The field's type and rules (limits, pattern, nullable), from the domain's constants, in
    /// a whole body or a merge patch.
    fn schema(merge_patch: bool) -> MetaSchema;
    /// The value the body's example shows.
    fn example(merge_patch: bool) -> Value;
    /// The value an absent field takes in a whole body; `None` when the field is required.
    fn default() -> Option<Self::Value>;
    /// Parses the field's JSON value, or says what is wrong with it (each failing part named:
    /// `due.time`).
    fn parse(value: &Value) -> Result<Self::Value, Vec<Invalid>>;
    /// Registers the named schemas the field's schema refers to.
    fn register(_registry: &mut Registry) {}
}

/// A resource a client may make the id of (so that it can refer to it before the server has
/// answered).
pub trait MadeByClient {
    /// What the create body's `id` means for this resource.
    const ID_DESCRIPTION: &'static str;
}

/// A new resource's `id`, made by the client: absent for one the server makes.
pub struct ClientMadeId<R>(PhantomData<R>);

impl<R: MadeByClient> BodyField for ClientMadeId<R> {
    const NAME: &'static str = "id";
    type Value = Option<uuid::Uuid>;

    const DESCRIPTION: FieldDescription = FieldDescription::same(R::ID_DESCRIPTION);

    fn schema(_merge_patch: bool) -> MetaSchema {
        MetaSchema::new_with_format("string", "uuid")
    }

    fn example(_merge_patch: bool) -> Value {
        "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b".into()
    }

    fn default() -> Option<Option<uuid::Uuid>> {
        Some(None)
    }

    fn parse(value: &Value) -> Result<Option<uuid::Uuid>, Vec<Invalid>> {
        let parsed = match value {
            Value::String(text) => uuid::Uuid::try_parse(text)
                .map(Some)
                .map_err(|_| "must be a UUID".to_owned()),
            other => Err(format!("must be a UUID string, got {}", json_kind(other))),
        };
        named(Self::NAME, parsed)
    }
}

/// The fields of a body, in the document's order: a tuple of `BodyField`s.
pub trait BodyFieldList {
    /// The fields' values as a body of kind `P` yields them.
    type Values<P: Presence>;
    /// Reads every field, reporting every failing one at once.
    fn read<P: Presence>(fields: &BodyFields) -> Checked<Self::Values<P>>;
    /// Whether `name` is one of the fields.
    fn knows(name: &str) -> bool;
    /// The object schema's properties, required fields and example in a body of kind `P`.
    fn describe<P: Presence>(schema: &mut MetaSchema);
    /// Registers the named schemas the fields refer to.
    fn register(registry: &mut Registry);
}

/// The names of a tuple of `BodyField`s.
pub trait FieldNames {
    const NAMES: &'static [&'static str];
}

/// The fields of `L`, then `F`: a body that has another body's fields and one more (their
/// values: `L`'s, then `F`'s).
pub struct WithField<L, F>(PhantomData<(L, F)>);

impl<L: BodyFieldList, F: BodyField> BodyFieldList for WithField<L, F> {
    type Values<P: Presence> = (L::Values<P>, P::Of<F::Value>);

    fn read<P: Presence>(fields: &BodyFields) -> Checked<Self::Values<P>> {
        (L::read::<P>(fields), P::read::<F>(fields)).collect_fields()
    }

    fn knows(name: &str) -> bool {
        L::knows(name) || name == F::NAME
    }

    fn describe<P: Presence>(schema: &mut MetaSchema) {
        L::describe::<P>(schema);
        let mut example = match schema.example.take() {
            Some(Value::Object(example)) => example,
            _ => Map::new(),
        };
        describe_field::<F, P>(schema, &mut example);
        schema.example = Some(Value::Object(example));
    }

    fn register(registry: &mut Registry) {
        L::register(registry);
        F::register(registry);
    }
}

fn describe_field<F: BodyField, P: Presence>(
    schema: &mut MetaSchema,
    example: &mut Map<String, Value>,
) {
    let property = MetaSchema {
        description: Some(if P::MERGE_PATCH {
            F::DESCRIPTION.merge_patch
        } else {
            F::DESCRIPTION.whole
        }),
        ..F::schema(P::MERGE_PATCH)
    };
    schema
        .properties
        .push((F::NAME, MetaSchemaRef::Inline(Box::new(property))));
    if P::requires::<F>() {
        schema.required.push(F::NAME);
    }
    example.insert(F::NAME.to_owned(), F::example(P::MERGE_PATCH));
}

macro_rules! impl_body_field_list {
    ($($field:ident $var:ident),+) => {
        impl<$($field: BodyField),+> BodyFieldList for ($($field,)+) {
            type Values<P: Presence> = ($(P::Of<$field::Value>,)+);

            fn read<P: Presence>(fields: &BodyFields) -> Checked<Self::Values<P>> {
                ($(P::read::<$field>(fields),)+).collect_fields()
            }

            fn knows(name: &str) -> bool {
                Self::NAMES.contains(&name)
            }

            fn describe<P: Presence>(schema: &mut MetaSchema) {
                let mut example = Map::new();
                $(describe_field::<$field, P>(schema, &mut example);)+
                schema.example = Some(Value::Object(example));
            }

            fn register(registry: &mut Registry) {
                $($field::register(registry);)+
            }
        }
    };
}

for_tuples_up_to_12!(impl_body_field_list);

macro_rules! impl_field_names {
    ($($field:ident $var:ident),+) => {
        impl<$($field: BodyField),+> FieldNames for ($($field,)+) {
            const NAMES: &'static [&'static str] = &[$($field::NAME),+];
        }
    };
}

for_tuples_up_to_12!(impl_field_names);

/// The members of a JSON object body.
pub struct BodyFields(Map<String, Value>);

impl BodyFields {
    /// Reads `L`'s fields as a body of kind `P`, and refuses every other member, naming the
    /// `read_only` ones as such.
    fn read<L: BodyFieldList, P: Presence>(&self, read_only: &[&str]) -> Checked<L::Values<P>> {
        let unknown: Vec<FieldError> = self
            .0
            .keys()
            .filter(|name| !L::knows(name))
            .map(|name| {
                let message = if read_only.contains(&name.as_str()) {
                    "is read-only and cannot be set"
                } else {
                    "is not a known field"
                };
                FieldError::new(FieldLocation::Body, name, message)
            })
            .collect();
        let (values, ()) = (
            L::read::<P>(self),
            if unknown.is_empty() {
                Ok(())
            } else {
                Err(unknown)
            },
        )
            .collect_fields()?;
        Ok(values)
    }
}

/// A JSON object request body: its fields, each declared once, and the value they make.
pub trait JsonObjectBody: Sized + Send + 'static {
    /// The body's name in the document.
    const NAME: &'static str;
    /// What the body is, in the document.
    const DESCRIPTION: &'static str;
    /// The body's fields.
    type Fields: BodyFieldList;
    /// Whether the body holds every field or is a merge patch.
    type Presence: Presence;
    /// The resource's fields only the server sets: sent, they are refused by name.
    const READ_ONLY: &'static [&'static str];
    /// The media types the body is accepted as.
    const MEDIA_TYPES: &'static [&'static str] = &["application/json"];
    /// Whether a request without a body is refused.
    const REQUIRED: bool = true;

    /// The value the fields make, the rules across fields checked.
    fn from_values(
        values: <Self::Fields as BodyFieldList>::Values<Self::Presence>,
    ) -> Result<Self, Vec<Invalid>>;

    /// Reads a body's fields from its members (a batch operation's `body`).
    fn from_object(members: Map<String, Value>) -> Checked<Self> {
        Self::from_fields(&BodyFields(members))
    }

    /// Registers the schemas the body's schema refers to, besides its fields' own.
    fn register(_registry: &mut Registry) {}

    /// Reads the body's fields.
    fn from_fields(fields: &BodyFields) -> Checked<Self> {
        fields
            .read::<Self::Fields, Self::Presence>(Self::READ_ONLY)
            .and_then(|values| Self::from_values(values).map_err(body_errors))
    }

    /// The body's object schema in the document.
    fn schema() -> MetaSchema {
        let mut schema = MetaSchema {
            title: Some(Self::NAME.to_owned()),
            description: Some(Self::DESCRIPTION),
            ..MetaSchema::new("object")
        };
        Self::Fields::describe::<Self::Presence>(&mut schema);
        schema
    }
}

/// An extracted JSON body: its parsed value, or the errors of each failing field.
pub struct JsonBody<T>(pub Checked<T>);

impl<T: JsonObjectBody> JsonBody<T> {
    fn media_type_matches(content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        T::MEDIA_TYPES.contains(&essence.as_str())
    }

    fn unsupported(content_type: Option<&str>) -> ApiError {
        let accepted = T::MEDIA_TYPES.join(" or ");
        ApiError::UnsupportedMediaType(match content_type {
            Some(sent) => format!(
                "Content-Type {:?} is not supported; send {accepted}",
                echo(sent)
            ),
            None => format!("A request body needs Content-Type {accepted}"),
        })
    }

    fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, ApiError> {
        let media_type_ok = content_type.is_some_and(Self::media_type_matches);
        if bytes.is_empty() && !T::REQUIRED && (content_type.is_none() || media_type_ok) {
            return Ok(Self(T::from_fields(&BodyFields(Map::new()))));
        }
        if !media_type_ok {
            return Err(Self::unsupported(content_type));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(T::from_fields(&BodyFields(map)))),
            Ok(other) => Err(ApiError::MalformedJson(format!(
                "expected an object, got {}",
                json_kind(&other)
            ))),
            Err(err) if bytes.is_empty() => Err(ApiError::MalformedJson(format!(
                "the body is empty ({err})"
            ))),
            Err(err) => Err(ApiError::MalformedJson(err.to_string())),
        }
    }
}

impl<'a, T: JsonObjectBody> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::Fields::register(registry);
        registry.create_schema::<T, _>(T::NAME.to_owned(), |_| T::schema());
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: T::MEDIA_TYPES
                .iter()
                .map(|content_type| MetaMediaType {
                    content_type,
                    schema: MetaSchemaRef::Reference(T::NAME.to_owned()),
                })
                .collect(),
            required: T::REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut PoemRequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        Ok(Self::parse(request.content_type(), &bytes)?)
    }
}
