//! The request body limits: a body over the size limit is refused with 413 whether or not it
//! declares its length, and one that has not arrived within the request timeout with 408; an
//! answer given before the request's body was read ends the connection and says so.

use std::time::Duration;

use poem::http::{header, HeaderMap, HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tokio::io::AsyncReadExt;

use crate::api::error::ApiError;

/// Buffers each request body up to `max_bytes`, answering 413 beyond it, and 408 when it has not
/// all arrived within `timeout` (before any operation ran: nothing was done).
pub struct BodyLimit {
    max_bytes: usize,
    timeout: Duration,
}

impl BodyLimit {
    pub fn new(max_bytes: usize, timeout: Duration) -> Self {
        Self { max_bytes, timeout }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
            timeout: self.timeout,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
    timeout: Duration,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        // No operation reads the body of a GET, HEAD, DELETE or OPTIONS: it is left unread (hyper
        // drains or drops it), so those methods never answer 413.
        if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
            req.take_body();
            return Ok(self.inner.call(req).await?.into_response());
        }
        let too_large = ApiError::PayloadTooLarge {
            limit: self.max_bytes,
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes as u64) {
            return Ok(ending_connection(too_large.into_response()));
        }
        let mut body = Vec::new();
        let mut reader = req
            .take_body()
            .into_async_read()
            .take(self.max_bytes as u64 + 1);
        let read = match tokio::time::timeout(self.timeout, reader.read_to_end(&mut body)).await {
            Err(_) => Err(ApiError::RequestTimeout),
            Ok(Err(err)) => Err(ApiError::InvalidRequest(format!(
                "the body could not be read ({err})"
            ))),
            Ok(Ok(_)) if body.len() > self.max_bytes => Err(too_large),
            Ok(Ok(_)) => Ok(()),
        };
        if let Err(refusal) = read {
            return Ok(ending_connection(refusal.into_response()));
        }
        req.set_body(body);
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// Whether a request's head announces a body (a length above zero, or a transfer coding).
pub fn announces_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// `response` with `Connection: close`: for an answer given while the request's body is unread
/// (or only partly read), after which the connection cannot carry another request. Without the
/// header a client would send its next request on a connection the server then closes.
pub fn ending_connection(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
