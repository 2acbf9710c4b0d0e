//! The one error type of the API and the JSON error envelope it becomes, in one place.

use std::fmt;
use std::marker::PhantomData;

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::{Example, ToJSON, Type};
use poem_openapi::{ApiResponse, Enum, Object};
use uuid::Uuid;

use crate::auth::InvalidToken;
use crate::store::StoreError;

/// The closed list of error codes: `VALIDATION_ERROR` and `MALFORMED_JSON` (400),
/// `UNAUTHORIZED` (401), `FORBIDDEN` (403), `USER_NOT_FOUND`, `TASK_NOT_FOUND` and `NOT_FOUND`
/// (404), `METHOD_NOT_ALLOWED` (405), `REQUEST_TIMEOUT` (408), `USER_ALREADY_EXISTS` and
/// `IDEMPOTENCY_KEY_IN_USE` and `QUOTA_EXCEEDED` (409), `SYNC_EXPIRED` (410),
/// `PRECONDITION_FAILED` (412), `PAYLOAD_TOO_LARGE` (413), `URI_TOO_LONG` (414),
/// `UNSUPPORTED_MEDIA_TYPE` (415), `IDEMPOTENCY_KEY_REUSED` (422), `RATE_LIMITED` (429),
/// `INTERNAL_ERROR` (500), `SERVICE_UNAVAILABLE` (503).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    MalformedJson,
    Unauthorized,
    Forbidden,
    UserNotFound,
    TaskNotFound,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    UserAlreadyExists,
    IdempotencyKeyInUse,
    SyncExpired,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    QuotaExceeded,
    RateLimited,
    InternalError,
    ServiceUnavailable,
}

impl ErrorCode {
    /// Every code, in the order of the list.
    pub const ALL: [ErrorCode; 21] = [
        Self::ValidationError,
        Self::MalformedJson,
        Self::Unauthorized,
        Self::Forbidden,
        Self::UserNotFound,
        Self::TaskNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::UserAlreadyExists,
        Self::IdempotencyKeyInUse,
        Self::SyncExpired,
        Self::PreconditionFailed,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::UnsupportedMediaType,
        Self::IdempotencyKeyReused,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::InternalError,
        Self::ServiceUnavailable,
    ];

    /// The HTTP status every error with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ValidationError | Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UserNotFound | Self::TaskNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UserAlreadyExists | Self::IdempotencyKeyInUse | Self::QuotaExceeded => {
                StatusCode::CONFLICT
            }
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
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

/// Everything that can go wrong in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Validation(Vec<FieldError>),
    /// A request that breaks a rule outside any one field.
    InvalidRequest(String),
    MalformedJson(String),
    /// No bearer token (`None`), or one that fails a check.
    Unauthorized(Option<InvalidToken>),
    /// `GET /me` while authentication is off: there is no caller.
    NoCaller,
    /// A valid token on another user's path, or registering another user.
    Forbidden,
    UserNotFound(Uuid),
    TaskNotFound(Uuid),
    UserAlreadyExists(Uuid),
    /// `If-Match` names none of the task's current ETag, or `If-None-Match` names it; nothing
    /// was written.
    PreconditionFailed(Uuid),
    IdempotencyKeyReused,
    /// A create with the same idempotency key is still running; nothing was done.
    IdempotencyKeyInUse,
    /// A create would take the user past a quota (`what`, at most `limit`); nothing was written.
    QuotaExceeded {
        what: &'static str,
        limit: i64,
    },
    /// The user sent more writes than this instance allows per minute; nothing was done. Sent
    /// again after `retry_after_secs`, it would be taken.
    RateLimited {
        retry_after_secs: u64,
    },
    /// A `since` token older than the kept history, or from a former registration of the user.
    SyncExpired(&'static str),
    RouteNotFound,
    MethodNotAllowed,
    PayloadTooLarge {
        limit: usize,
    },
    UriTooLong {
        limit: usize,
    },
    /// The body did not arrive within the request timeout; nothing was done.
    RequestTimeout,
    UnsupportedMediaType(String),
    /// Nothing was done, certainly: the request may be sent again.
    ServiceUnavailable,
    /// No key to check tokens with (the JWKS could not be fetched yet); nothing was done.
    SigningKeysUnavailable,
    /// The answers not yet taken by their clients hold the instance's whole response buffer;
    /// nothing was done.
    ResponseBufferFull,
    /// The database connection was lost while a write ran: it may or may not have happened.
    WriteOutcomeUnknown,
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) | Self::InvalidRequest(_) => ErrorCode::ValidationError,
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::Unauthorized(_) | Self::NoCaller => ErrorCode::Unauthorized,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::UserNotFound(_) => ErrorCode::UserNotFound,
            Self::TaskNotFound(_) => ErrorCode::TaskNotFound,
            Self::UserAlreadyExists(_) => ErrorCode::UserAlreadyExists,
            Self::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::SyncExpired(_) => ErrorCode::SyncExpired,
            Self::RouteNotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UriTooLong { .. } => ErrorCode::UriTooLong,
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::ServiceUnavailable | Self::SigningKeysUnavailable | Self::ResponseBufferFull => {
                ErrorCode::ServiceUnavailable
            }
            Self::WriteOutcomeUnknown | Self::Internal => ErrorCode::InternalError,
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        let (fields, fields_not_listed) = match self {
            Self::Validation(fields) => (
                Some(listed(fields).to_vec()),
                Some((fields.len() - listed(fields).len()) as u64).filter(|more| *more > 0),
            ),
            _ => (None, None),
        };
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code(),
                message: self.to_string(),
                details: ErrorDetails {
                    fields,
                    fields_not_listed,
                },
            },
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(fields) => {
                let names: Vec<&str> = listed(fields).iter().map(|f| f.field.as_str()).collect();
                write!(f, "The request is not valid: check {}", names.join(", "))?;
                match fields.len() - names.len() {
                    0 => Ok(()),
                    more => write!(f, " and {more} more"),
                }
            }
            Self::InvalidRequest(reason) => write!(f, "The request is not valid: {reason}"),
            Self::MalformedJson(reason) => {
                write!(f, "The request body is not a JSON object: {reason}")
            }
            Self::Unauthorized(None) => write!(
                f,
                "This operation needs a bearer token: send Authorization: Bearer <token>"
            ),
            Self::Unauthorized(Some(invalid)) => {
                write!(
                    f,
                    "The bearer token is not valid: {}",
                    invalid.description()
                )
            }
            Self::NoCaller => write!(
                f,
                "This server does not authenticate callers (authentication is off), so there is \
                 no current user: use /users/{{user_id}}"
            ),
            Self::Forbidden => write!(
                f,
                "The bearer token's user may reach only their own /users/{{user_id}}"
            ),
            Self::UserNotFound(id) => write!(f, "User {id} was not found"),
            Self::TaskNotFound(id) => write!(f, "Task {id} was not found for this user"),
            Self::UserAlreadyExists(id) => write!(f, "User {id} already exists"),
            Self::PreconditionFailed(id) => write!(
                f,
                "Task {id} is not at a version the request's preconditions allow (If-Match names \
                 none of its current ETag, or If-None-Match names it); nothing was written. Read \
                 it again, then send the request with its new ETag"
            ),
            Self::IdempotencyKeyReused => write!(
                f,
                "This Idempotency-Key was already used with a different request; use a new key \
                 for a new request"
            ),
            Self::IdempotencyKeyInUse => write!(
                f,
                "A request with this Idempotency-Key is still being processed; nothing was done, \
                 send it again shortly"
            ),
            Self::QuotaExceeded { what, limit } => write!(
                f,
                "This user holds {limit} {what} already, the most allowed; nothing was written. \
                 Delete some first"
            ),
            Self::RateLimited { retry_after_secs } => write!(
                f,
                "This user sent more writes than allowed per minute; nothing was done. Send it \
                 again in {retry_after_secs} s"
            ),
            Self::SyncExpired(reason) => write!(
                f,
                "This since token can no longer be followed ({reason}): start a full sync \
                 without since"
            ),
            Self::RouteNotFound => write!(f, "No resource exists at this path"),
            Self::MethodNotAllowed => write!(f, "This resource does not allow this method"),
            Self::PayloadTooLarge { limit } => {
                write!(
                    f,
                    "The request body is larger than the limit of {limit} bytes"
                )
            }
            Self::UriTooLong { limit } => {
                write!(
                    f,
                    "The request target is longer than the limit of {limit} bytes"
                )
            }
            Self::RequestTimeout => write!(
                f,
                "The request body did not arrive in time; nothing was done, send it again"
            ),
            Self::UnsupportedMediaType(reason) => write!(f, "{reason}"),
            Self::ServiceUnavailable => {
                write!(
                    f,
                    "The database is unavailable and nothing was done; try again shortly"
                )
            }
            Self::SigningKeysUnavailable => write!(
                f,
                "The identity provider's signing keys could not be fetched, so no token can be \
                 checked and nothing was done; try again shortly"
            ),
            Self::ResponseBufferFull => write!(
                f,
                "The server holds too many answers their clients have not taken yet; nothing was \
                 done, try again shortly"
            ),
            Self::WriteOutcomeUnknown => write!(
                f,
                "The connection to the database was lost while this write ran: it may or may \
                 not have been applied; read the resource before sending it again"
            ),
            Self::Internal => write!(f, "An internal error occurred"),
        }
    }
}

/// The failing fields an error lists: the first `MAX_LISTED_FIELDS`.
fn listed(fields: &[FieldError]) -> &[FieldError] {
    &fields[..fields.len().min(MAX_LISTED_FIELDS)]
}

impl std::error::Error for ApiError {}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        let response = poem::web::Json(self.envelope().to_json())
            .with_status(self.status())
            .into_response();
        match self {
            Self::ServiceUnavailable
            | Self::SigningKeysUnavailable
            | Self::ResponseBufferFull
            | Self::IdempotencyKeyInUse => response
                .with_header(header::RETRY_AFTER, "1")
                .into_response(),
            Self::RateLimited { retry_after_secs } => response
                .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
                .into_response(),
            Self::Unauthorized(None) | Self::NoCaller => response
                .with_header(header::WWW_AUTHENTICATE, r#"Bearer realm="task-api""#)
                .into_response(),
            Self::Unauthorized(Some(invalid)) => response
                .with_header(
                    header::WWW_AUTHENTICATE,
                    format!(
                        r#"Bearer realm="task-api", error="invalid_token", error_description="{}""#,
                        invalid.description()
                    ),
                )
                .into_response(),
            _ => response,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UserNotFound(id) => Self::UserNotFound(id),
            StoreError::TaskNotFound(id) => Self::TaskNotFound(id),
            StoreError::UserAlreadyExists(id) => Self::UserAlreadyExists(id),
            StoreError::TaskQuotaExceeded(limit) => Self::QuotaExceeded {
                what: "tasks",
                limit,
            },
            StoreError::PreconditionFailed(id) => Self::PreconditionFailed(id),
            StoreError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            StoreError::IdempotencyKeyInUse => Self::IdempotencyKeyInUse,
            StoreError::Unavailable(err) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::ServiceUnavailable
            }
            StoreError::Invalid(invalid) => Self::Validation(
                invalid
                    .into_iter()
                    .map(|invalid| {
                        FieldError::new(FieldLocation::Body, &invalid.field, invalid.message)
                    })
                    .collect(),
            ),
            StoreError::Contended(how) => {
                tracing::warn!(how, "a write lost every attempt to concurrent writes");
                Self::ServiceUnavailable
            }
            StoreError::WriteOutcomeUnknown(err) => {
                tracing::error!(error = %err, "database connection lost during a write");
                Self::WriteOutcomeUnknown
            }
            StoreError::Database(err) => {
                tracing::error!(error = ?err, "database error");
                Self::Internal
            }
        }
    }
}

/// The error statuses one operation can answer, for its documentation.
pub trait ErrorStatuses: Send + Sync + 'static {
    const STATUSES: &'static [StatusCode];
}

/// Errors of an operation that reads by path parameters only.
pub struct ReadErrors;
impl ErrorStatuses for ReadErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::URI_TOO_LONG,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of creating a task: a write's, and those of its idempotency key.
pub struct TaskCreateErrors;
impl ErrorStatuses for TaskCreateErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::CONFLICT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of replacing or updating a task: a write's, and its `If-Match`.
pub struct TaskChangeErrors;
impl ErrorStatuses for TaskChangeErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PRECONDITION_FAILED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of reading a task: those of its path, and its preconditions' 412.
pub struct TaskReadErrors;
impl ErrorStatuses for TaskReadErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::PRECONDITION_FAILED,
        StatusCode::URI_TOO_LONG,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of deleting a task: a read's, and the user's rate of writes.
pub struct TaskDeleteErrors;
impl ErrorStatuses for TaskDeleteErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::PRECONDITION_FAILED,
        StatusCode::URI_TOO_LONG,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of the change feed.
pub struct ChangeFeedErrors;
impl ErrorStatuses for ChangeFeedErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::GONE,
        StatusCode::URI_TOO_LONG,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of registering a user.
pub struct CreateUserErrors;
impl ErrorStatuses for CreateUserErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::CONFLICT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of `GET /me` (400: two `Authorization` headers).
pub struct CurrentUserErrors;
impl ErrorStatuses for CurrentUserErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::URI_TOO_LONG,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors every operation can answer.
pub struct ServerErrors;
impl ErrorStatuses for ServerErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::URI_TOO_LONG,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// The headers an error answer with `status` always carries.
fn documented_headers(status: StatusCode) -> Vec<MetaHeader> {
    let header = |name: &str, description: &str| MetaHeader {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required: true,
        deprecated: false,
        schema: String::schema_ref(),
    };
    match status {
        StatusCode::UNAUTHORIZED => vec![header(
            "WWW-Authenticate",
            "`Bearer realm=\"task-api\"` when no token was sent; with `error=\"invalid_token\"` \
             and an `error_description` naming the failed check when one was",
        )],
        StatusCode::SERVICE_UNAVAILABLE => vec![header(
            "Retry-After",
            "Seconds to wait before sending the request again: nothing was done",
        )],
        StatusCode::CONFLICT => vec![MetaHeader {
            required: false,
            ..header(
                "Retry-After",
                "With `IDEMPOTENCY_KEY_IN_USE`: seconds to wait before sending the request again",
            )
        }],
        StatusCode::TOO_MANY_REQUESTS => vec![header(
            "Retry-After",
            "Seconds until this user's writes are taken again: nothing was done",
        )],
        _ => vec![],
    }
}

/// An operation's error answer, documented with the statuses `S` lists.
pub struct ErrorResponse<S>(ApiError, PhantomData<S>);

impl<S> From<ApiError> for ErrorResponse<S> {
    fn from(err: ApiError) -> Self {
        Self(err, PhantomData)
    }
}

impl<S> From<Vec<FieldError>> for ErrorResponse<S> {
    fn from(fields: Vec<FieldError>) -> Self {
        Self(ApiError::Validation(fields), PhantomData)
    }
}

impl<S> From<StoreError> for ErrorResponse<S> {
    fn from(err: StoreError) -> Self {
        Self(err.into(), PhantomData)
    }
}

impl<S> From<ErrorResponse<S>> for poem::Error {
    fn from(err: ErrorResponse<S>) -> Self {
        err.0.into()
    }
}

impl<S: Send> IntoResponse for ErrorResponse<S> {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl<S: ErrorStatuses> ApiResponse for ErrorResponse<S> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: S::STATUSES
                .iter()
                .map(|status| MetaResponse {
                    description: status.canonical_reason().unwrap_or("Error"),
                    status: Some(status.as_u16()),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: ErrorEnvelope::schema_ref(),
                    }],
                    headers: documented_headers(*status),
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        ErrorEnvelope::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MAX_ECHOED_CHARS;

    #[test]
    fn echoes_are_cut_to_64_characters() {
        assert_eq!(echo("title"), "title");
        let exact = "é".repeat(MAX_ECHOED_CHARS);
        assert_eq!(echo(&exact), exact);
        assert_eq!(
            echo(&format!("{exact}é")),
            format!("{exact}…"),
            "cut on characters, not bytes"
        );
    }

    #[test]
    fn a_write_that_kept_losing_is_answered_as_an_unavailable_database_is() {
        let contended = ApiError::from(StoreError::Contended("the task kept changing"));
        let unavailable = ApiError::from(StoreError::Unavailable(
            sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        ));
        assert!(matches!(contended, ApiError::ServiceUnavailable));
        assert!(matches!(unavailable, ApiError::ServiceUnavailable));
        assert_eq!(contended.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
