//! Each user's writes per minute on this instance: every POST, PUT, PATCH and DELETE under
//! `/users/{user_id}/…` counts, whatever its answer; past `USER_WRITES_PER_MINUTE`, 429.

use std::num::NonZeroU32;
use std::sync::Arc;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use uuid::Uuid;

use super::error::ApiError;
use super::protocol::PathParameters;
use crate::fairness::WriteRate;

/// Refuses a user's writes past their rate with 429 `RATE_LIMITED` and `Retry-After`.
pub struct UserWriteRate(pub Arc<WriteRate>);

impl<E: Endpoint> Middleware<E> for UserWriteRate {
    type Output = UserWriteRateEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        UserWriteRateEndpoint {
            inner,
            rate: self.0.clone(),
        }
    }
}

pub struct UserWriteRateEndpoint<E> {
    inner: E,
    rate: Arc<WriteRate>,
}

/// The user a write request is under (`/users/{user_id}/…`), if it is one.
fn writing_user(req: &Request) -> Option<Uuid> {
    if !matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return None;
    }
    // Under the user, not the user itself.
    let below_user = req.uri().path().split('/').nth(3).is_some();
    let user_id = req.data::<PathParameters>()?.get("user_id")?;
    below_user.then(|| Uuid::try_parse(user_id).ok()).flatten()
}

impl<E: Endpoint> Endpoint for UserWriteRateEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        if let Some(user_id) = writing_user(&req) {
            if let Err(wait) = self.rate.take(user_id, NonZeroU32::MIN) {
                return Ok(ApiError::RateLimited {
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
                .into_response());
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}
