//! CORS for the front end's origins. A request from any other origin (or none) is answered as
//! any request is, without CORS headers, for the browser to enforce; every answer says that it
//! varies by `Origin`, so that a shared cache never hands one origin's answer to another.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{header, Method};
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::observe::REQUEST_ID;
use super::protocol::vary_by;

/// CORS answered for `origins` only.
pub struct FrontEndCors {
    cors: Cors,
    origins: Arc<HashSet<String>>,
}

impl FrontEndCors {
    pub fn new(origins: &[String]) -> Self {
        let cors = Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                "content-type",
                "authorization",
                "if-match",
                "if-none-match",
                "idempotency-key",
                REQUEST_ID,
            ])
            .expose_headers([
                "location",
                "etag",
                "idempotent-replayed",
                "www-authenticate",
                "retry-after",
                REQUEST_ID,
            ])
            .max_age(86_400);
        Self {
            cors,
            origins: Arc::new(origins.iter().cloned().collect()),
        }
    }
}

impl<E: Endpoint> Middleware<E> for FrontEndCors {
    type Output = FrontEndCorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let inner = Arc::new(inner);
        FrontEndCorsEndpoint {
            with_cors: self.cors.transform(inner.clone()),
            plain: inner,
            origins: self.origins.clone(),
        }
    }
}

pub struct FrontEndCorsEndpoint<E> {
    with_cors: CorsEndpoint<Arc<E>>,
    plain: Arc<E>,
    origins: Arc<HashSet<String>>,
}

impl<E: Endpoint> Endpoint for FrontEndCorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let allowed = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|origin| origin.to_str().ok())
            .is_some_and(|origin| self.origins.contains(origin));
        let mut response = if !allowed {
            self.plain.call(req).await?.into_response()
        } else if req.method() == Method::OPTIONS {
            // A preflight for a method or header CORS does not allow is answered as the route
            // answers OPTIONS (a 405 naming its methods): the browser refuses the request.
            let mut plain_request = Request::builder()
                .method(Method::OPTIONS)
                .uri(req.uri().clone())
                .finish();
            *plain_request.headers_mut() = req.headers().clone();
            match self.with_cors.call(req).await {
                Ok(response) => response,
                Err(err) if err.is::<poem::error::CorsError>() => {
                    self.plain.call(plain_request).await?.into_response()
                }
                Err(err) => return Err(err),
            }
        } else {
            self.with_cors.call(req).await?
        };
        vary_by(response.headers_mut(), "Origin");
        Ok(response)
    }
}
