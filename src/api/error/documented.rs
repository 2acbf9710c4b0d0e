//! The error statuses each operation documents, and the response type that documents them with
//! the envelope's schema.

use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use super::{ApiError, ErrorEnvelope, FieldError};
use crate::store::StoreError;

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

/// Errors of creating a list: a write's, its client-made id's 409 and its quota's.
pub struct ListCreateErrors;
impl ErrorStatuses for ListCreateErrors {
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
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
}

/// Errors of replacing or updating a task, or renaming a list: a write's, and its `If-Match`.
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

/// Errors of reading a task or a list: those of its path, and its preconditions' 412.
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

/// Errors of deleting a task or a list: a read's, and the user's rate of writes.
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

/// Errors of a batch: its own (400, 404 `USER_NOT_FOUND`, 429 for its operations' count), and
/// those of any of its operations when it is atomic.
pub struct BatchErrors;
impl ErrorStatuses for BatchErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::CONFLICT,
        StatusCode::PRECONDITION_FAILED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::URI_TOO_LONG,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::UNPROCESSABLE_ENTITY,
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

/// Errors of the event operations: a read's, and 429 (the streams' limits; making a ticket is a
/// POST, counted among the user's writes).
pub struct EventErrors;
impl ErrorStatuses for EventErrors {
    const STATUSES: &'static [StatusCode] = &[
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::URI_TOO_LONG,
        StatusCode::TOO_MANY_REQUESTS,
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
            "Seconds to wait before sending the request again (`RATE_LIMITED`: until this user's \
             writes are taken again; `TOO_MANY_STREAMS`: a guess, as streams end when their \
             clients leave): nothing was done",
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
        Self(fields.into(), PhantomData)
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
