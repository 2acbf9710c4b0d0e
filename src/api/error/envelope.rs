//! The JSON error envelope every status >= 400 carries: the closed list of codes, the failing
//! fields, and how much of a request's own text an error quotes back.

use poem::http::StatusCode;
use poem_openapi::types::{Example, ToJSON};
use poem_openapi::{Enum, Object};

use super::ApiError;

/// The closed list of error codes: `VALIDATION_ERROR` and `MALFORMED_JSON` (400),
/// `UNAUTHORIZED` (401), `FORBIDDEN` (403), `USER_NOT_FOUND`, `TASK_NOT_FOUND`, `LIST_NOT_FOUND`
/// and `NOT_FOUND` (404), `METHOD_NOT_ALLOWED` (405), `REQUEST_TIMEOUT` (408),
/// `USER_ALREADY_EXISTS`, `TASK_ALREADY_EXISTS`, `LIST_ALREADY_EXISTS`, `IDEMPOTENCY_KEY_IN_USE`
/// and `QUOTA_EXCEEDED` (409), `SYNC_EXPIRED` (410),
/// `PRECONDITION_FAILED` (412), `PAYLOAD_TOO_LARGE` (413), `URI_TOO_LONG` (414),
/// `UNSUPPORTED_MEDIA_TYPE` (415), `IDEMPOTENCY_KEY_REUSED` (422), `RATE_LIMITED` and
/// `TOO_MANY_STREAMS` (429), `INTERNAL_ERROR` (500), `SERVICE_UNAVAILABLE` (503).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    MalformedJson,
    Unauthorized,
    Forbidden,
    UserNotFound,
    TaskNotFound,
    ListNotFound,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    UserAlreadyExists,
    TaskAlreadyExists,
    ListAlreadyExists,
    IdempotencyKeyInUse,
    SyncExpired,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    QuotaExceeded,
    RateLimited,
    TooManyStreams,
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the list.
    pub const ALL: [ErrorCode; 25] = [
        Self::ValidationError,
        Self::MalformedJson,
        Self::Unauthorized,
        Self::Forbidden,
        Self::UserNotFound,
        Self::TaskNotFound,
        Self::ListNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::UserAlreadyExists,
        Self::TaskAlreadyExists,
        Self::ListAlreadyExists,
        Self::IdempotencyKeyInUse,
        Self::SyncExpired,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::UnsupportedMediaType,
        Self::IdempotencyKeyReused,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::TooManyStreams,
        Self::InternalError,
        Self::ServiceUnavailable,
    ];

    /// The HTTP status every error with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationError | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UserNotFound | Self::TaskNotFound | Self::ListNotFound | Self::NotFound => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UserAlreadyExists
            | Self::TaskAlreadyExists
            | Self::ListAlreadyExists
            | Self::IdempotencyKeyInUse
            | Self::QuotaExceeded => StatusCode::CONFLICT,
            Self::RateLimited | Self::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            Self::SyncExpired => StatusCode::GONE,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as written in the envelope.
    pub fn as_str(self) -> String {
        match self.to_json() {
            Some(serde_json::Value::String(code)) => code,
            _ => format!("{self:?}"),
        }
    }
}

/// Where in the request a failing field is: path, query, header or body.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum FieldLocation {
    Path,
    Query,
    Header,
    Body,
}

/// One field of the request that breaks a rule.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(example)]
pub struct FieldError {
    /// The field's plain name, dotted when nested.
    pub field: String,
    // A bare $ref: its schema carries the description (OpenAPI 3.0 ignores siblings of $ref).
    pub location: FieldLocation,
    /// What is wrong with it.
    pub message: String,
}

pub use crate::domain::echo;

impl FieldError {
    /// The error of the field named `field` (quoted back as `echo` cuts it).
    pub fn new(location: FieldLocation, field: &str, message: impl Into<String>) -> Self {
        Self {
            field: echo(field),
            location,
            message: message.into(),
        }
    }
}

/// The most failing fields one error lists.
pub const MAX_LISTED_FIELDS: usize = 50;

/// Machine-readable particulars of an error.
#[derive(Object, Debug, Clone, Default)]
#[oai(example)]
pub struct ErrorDetails {
    /// Every failing field, for `VALIDATION_ERROR` (the first 50 of them).
    #[oai(skip_serializing_if_is_none, validator(max_items = 50))]
    pub fields: Option<Vec<FieldError>>,
    /// How many more fields failed than `fields` lists (present only when it is not all of them).
    #[oai(skip_serializing_if_is_none)]
    pub fields_not_listed: Option<u64>,
    /// The index (0-based) of the batch's operation that failed, for an atomic batch refused
    /// whole because of it.
    #[oai(skip_serializing_if_is_none)]
    pub operation: Option<u64>,
}

/// What went wrong.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct ErrorBody {
    // A bare $ref: its schema carries the description (OpenAPI 3.0 ignores siblings of $ref).
    pub code: ErrorCode,
    /// A human-readable explanation.
    pub message: String,
    // A bare $ref: its schema carries the description (OpenAPI 3.0 ignores siblings of $ref).
    pub details: ErrorDetails,
}

/// The body of every response with status 400 or above.
#[derive(Object, Debug, Clone)]
#[oai(example)]
pub struct ErrorEnvelope {
    // A bare $ref: its schema carries the description (OpenAPI 3.0 ignores siblings of $ref).
    pub error: ErrorBody,
}

impl Example for FieldError {
    fn example() -> Self {
        FieldError::new(FieldLocation::Body, "title", "is required")
    }
}

impl Example for ErrorEnvelope {
    fn example() -> Self {
        ApiError::Validation(vec![FieldError::example()]).envelope()
    }
}

impl Example for ErrorBody {
    fn example() -> Self {
        ErrorEnvelope::example().error
    }
}

impl Example for ErrorDetails {
    fn example() -> Self {
        ErrorBody::example().details
    }
}
