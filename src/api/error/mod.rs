//! The one error type of the API: what can go wrong in a request, its status and code, and the
//! envelope it becomes; the envelope's schema (`envelope`) and each operation's documented
//! statuses (`documented`) beside it.

mod documented;
mod envelope;

use std::fmt;

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::types::ToJSON;
use uuid::Uuid;

use crate::auth::InvalidToken;
use crate::pagination::ListError;
use crate::store::StoreError;

pub use documented::*;
pub use envelope::*;

/// Everything that can go wrong in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    Validation(Vec<FieldError>),
    /// A request that breaks a rule outside any one field.
    InvalidRequest(String),
    MalformedJson(String),
    /// No bearer token (`None`), or one that fails a check.
    Unauthorized(Option<InvalidToken>),
    /// An event stream's `ticket` that is expired or not one this server made (the reason).
    InvalidTicket(&'static str),
    /// `GET /me` while authentication is off: there is no caller.
    NoCaller,
    /// A valid token on another user's path, or registering another user.
    Forbidden,
    UserNotFound(Uuid),
    TaskNotFound(Uuid),
    ListNotFound(Uuid),
    UserAlreadyExists(Uuid),
    /// A create with a client-made id that a task (of any user) has; nothing was written.
    TaskAlreadyExists(Uuid),
    /// A create with a client-made id that a list (of any user) has; nothing was written.
    ListAlreadyExists(Uuid),
    /// `If-Match` names none of the list's current ETag, or `If-None-Match` names it; nothing
    /// was written.
    ListPreconditionFailed(Uuid),
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
    /// The user (`per_user`) or this instance has as many event streams open as allowed.
    TooManyStreams {
        per_user: bool,
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
    /// Operation `index` of an atomic batch failed with `error`: nothing of the batch was
    /// written.
    InOperation {
        index: usize,
        error: Box<ApiError>,
    },
}

/// The `Retry-After` of a `TOO_MANY_STREAMS`: streams end when their clients leave, at no time
/// the server can tell.
pub const STREAMS_RETRY_AFTER_SECS: u64 = 10;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The error itself: an operation's, for an atomic batch that failed with it.
    fn cause(&self) -> &ApiError {
        match self {
            Self::InOperation { error, .. } => error.cause(),
            other => other,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self.cause() {
            Self::Validation(_) | Self::InvalidRequest(_) => ErrorCode::ValidationError,
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::Unauthorized(_) | Self::InvalidTicket(_) | Self::NoCaller => {
                ErrorCode::Unauthorized
            }
            Self::Forbidden => ErrorCode::Forbidden,
            Self::UserNotFound(_) => ErrorCode::UserNotFound,
            Self::TaskNotFound(_) => ErrorCode::TaskNotFound,
            Self::ListNotFound(_) => ErrorCode::ListNotFound,
            Self::UserAlreadyExists(_) => ErrorCode::UserAlreadyExists,
            Self::TaskAlreadyExists(_) => ErrorCode::TaskAlreadyExists,
            Self::ListAlreadyExists(_) => ErrorCode::ListAlreadyExists,
            Self::PreconditionFailed(_) | Self::ListPreconditionFailed(_) => {
                ErrorCode::PreconditionFailed
            }
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::TooManyStreams { .. } => ErrorCode::TooManyStreams,
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
            Self::WriteOutcomeUnknown | Self::Internal | Self::InOperation { .. } => {
                ErrorCode::InternalError
            }
        }
    }

    pub fn envelope(&self) -> ErrorEnvelope {
        let (fields, fields_not_listed) = match self.cause() {
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
                    operation: match self {
                        Self::InOperation { index, .. } => Some(*index as u64),
                        _ => None,
                    },
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
            Self::InvalidTicket(reason) => write!(
                f,
                "The event stream ticket is not valid ({reason}): ask for a new one with POST \
                 /users/{{user_id}}/events/tickets"
            ),
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
            Self::ListNotFound(id) => write!(f, "List {id} was not found for this user"),
            Self::UserAlreadyExists(id) => write!(f, "User {id} already exists"),
            Self::TaskAlreadyExists(id) => write!(
                f,
                "A task with id {id} exists already; nothing was written. Make a new id"
            ),
            Self::ListAlreadyExists(id) => write!(
                f,
                "A list with id {id} exists already; nothing was written. Make a new id"
            ),
            Self::ListPreconditionFailed(id) => write!(
                f,
                "List {id} is not at a version the request's preconditions allow (If-Match names \
                 none of its current ETag, or If-None-Match names it); nothing was written. Read \
                 it again, then send the request with its new ETag"
            ),
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
            Self::TooManyStreams { per_user: true } => write!(
                f,
                "This user has as many event streams open on this server as allowed; close one \
                 (another tab or device) or try again in {STREAMS_RETRY_AFTER_SECS} s"
            ),
            Self::TooManyStreams { per_user: false } => write!(
                f,
                "This server has as many event streams open as it allows; try again in \
                 {STREAMS_RETRY_AFTER_SECS} s (another instance may take it)"
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
            Self::InOperation { index, error } => write!(
                f,
                "Operation {index} of the atomic batch failed, so nothing of the batch was \
                 written: {error}"
            ),
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
        match self.cause() {
            Self::ServiceUnavailable
            | Self::SigningKeysUnavailable
            | Self::ResponseBufferFull
            | Self::IdempotencyKeyInUse => response
                .with_header(header::RETRY_AFTER, "1")
                .into_response(),
            Self::RateLimited { retry_after_secs } => response
                .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
                .into_response(),
            Self::TooManyStreams { .. } => response
                .with_header(header::RETRY_AFTER, STREAMS_RETRY_AFTER_SECS.to_string())
                .into_response(),
            Self::InvalidTicket(reason) => response
                .with_header(
                    header::WWW_AUTHENTICATE,
                    format!(
                        r#"Bearer realm="task-api", error="invalid_token", error_description="the event stream ticket is {reason}""#
                    ),
                )
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

impl ApiError {
    /// Writes past the user's rate, which would be taken after `wait`.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// A page that could not be read: a cursor made for another page is a 400 naming the
    /// query parameter `cursor_name`; the store's errors as any.
    pub fn of_page(err: ListError, cursor_name: &str) -> Self {
        match err {
            ListError::Cursor(message) => Self::Validation(vec![FieldError::new(
                FieldLocation::Query,
                cursor_name,
                message,
            )]),
            ListError::Store(err) => err.into(),
        }
    }
}

/// Every failing field of a request.
impl From<Vec<FieldError>> for ApiError {
    fn from(fields: Vec<FieldError>) -> Self {
        Self::Validation(fields)
    }
}

/// A transaction's own failure (to begin, or to commit: then perhaps committed after all).
impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::of_write(err).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UserNotFound(id) => Self::UserNotFound(id),
            StoreError::TaskNotFound(id) => Self::TaskNotFound(id),
            StoreError::ListNotFound(id) => Self::ListNotFound(id),
            StoreError::UserAlreadyExists(id) => Self::UserAlreadyExists(id),
            StoreError::TaskAlreadyExists(id) => Self::TaskAlreadyExists(id),
            StoreError::ListAlreadyExists(id) => Self::ListAlreadyExists(id),
            StoreError::ListQuotaExceeded(limit) => Self::QuotaExceeded {
                what: "lists",
                limit,
            },
            StoreError::ListPreconditionFailed(id) => Self::ListPreconditionFailed(id),
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
