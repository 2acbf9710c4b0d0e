//! The envelope on every failure that reached the top: the operations' own errors, poem's
//! (unknown route, wrong method, unreadable request) and panics.

use poem::{IntoResponse, Response};
use poem_openapi::OperationId;

use crate::api::error::ApiError;

/// Turns every error that reached the top into the envelope: the operations' own, and poem's
/// (unknown route, wrong method, unreadable request).
pub async fn error_response(err: poem::Error) -> Response {
    // Keep the operation for the request log and metrics.
    let operation = err.data::<OperationId>().copied();
    let mut response = envelope_response(err);
    if let Some(operation) = operation {
        response.set_data(operation);
    }
    response
}

fn envelope_response(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    if err.is::<poem::error::ParsePathError>() {
        return ApiError::InvalidRequest(
            "a path parameter is not valid UTF-8 once percent-decoded".to_owned(),
        )
        .into_response();
    }
    let status = err.status();
    let api_error = match status.as_u16() {
        404 => ApiError::RouteNotFound,
        405 => ApiError::MethodNotAllowed,
        415 => ApiError::UnsupportedMediaType(err.to_string()),
        400..=499 => ApiError::InvalidRequest(err.to_string()),
        _ => {
            tracing::error!(error = %err, %status, "request failed");
            ApiError::Internal
        }
    };
    api_error.into_response()
}

pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "a request handler panicked");
    ApiError::Internal.into_response()
}
