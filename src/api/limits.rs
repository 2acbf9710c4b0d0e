//! The request body limit: a body over it is refused with 413 whether or not it declares its
//! length.

use poem::http::{header, Method};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tokio::io::AsyncReadExt;

use super::error::ApiError;

/// Buffers each request body up to `max_bytes`, answering 413 beyond it.
pub struct BodyLimit {
    max_bytes: usize,
}

impl BodyLimit {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
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
            return Err(too_large.into());
        }
        let mut body = Vec::new();
        req.take_body()
            .into_async_read()
            .take(self.max_bytes as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|err| {
                ApiError::InvalidRequest(format!("the body could not be read ({err})"))
            })?;
        if body.len() > self.max_bytes {
            return Err(too_large.into());
        }
        req.set_body(body);
        Ok(self.inner.call(req).await?.into_response())
    }
}
