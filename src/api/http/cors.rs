//! CORS for the front end's origins. A request from any other origin (or none) is answered as
//! any request is, without CORS headers, for the browser to enforce. A preflight from a front
//! end gets the methods and headers allowed, whatever it asks for, so that for one not allowed
//! the browser's console names it (a 405 would only say that the preflight failed). Every answer
//! says that it varies by `Origin`, so that a shared cache never hands one origin's answer to
//! another.

use std::collections::HashSet;
use std::sync::Arc;

use poem::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use super::gate::vary_by;
use super::observe::REQUEST_ID;

/// The methods a front end may use.
const ALLOWED_METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The request headers a front end may send, before the operator's (`CORS_ALLOW_HEADERS`).
const ALLOWED_HEADERS: [&str; 7] = [
    "content-type",
    "authorization",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "last-event-id",
    REQUEST_ID,
];

/// The response headers a front end may read.
const EXPOSED_HEADERS: [&str; 6] = [
    "location",
    "etag",
    "idempotent-replayed",
    "www-authenticate",
    "retry-after",
    REQUEST_ID,
];

/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "86400";

/// CORS answered for `origins` only.
pub struct FrontEndCors(Arc<CorsRules>);

struct CorsRules {
    origins: HashSet<String>,
    /// `Access-Control-Allow-Methods`, `-Allow-Headers` and `-Expose-Headers`.
    allow_methods: HeaderValue,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
}

impl FrontEndCors {
    /// CORS for `origins`, allowing the fixed request headers and `extra_headers`.
    pub fn new(origins: &[String], extra_headers: &[String]) -> Self {
        let methods: Vec<&str> = ALLOWED_METHODS.iter().map(Method::as_str).collect();
        let headers: Vec<&str> = ALLOWED_HEADERS
            .into_iter()
            .chain(extra_headers.iter().map(String::as_str))
            .collect();
        let listed = |names: &[&str]| {
            HeaderValue::from_str(&names.join(", ")).expect("checked header names")
        };
        Self(Arc::new(CorsRules {
            origins: origins.iter().cloned().collect(),
            allow_methods: listed(&methods),
            allow_headers: listed(&headers),
            expose_headers: listed(&EXPOSED_HEADERS),
        }))
    }
}

impl CorsRules {
    /// The answer to a front end's preflight: what is allowed, for the browser to hold the
    /// request to.
    fn preflight(&self, origin: HeaderValue) -> Response {
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .header(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                self.allow_methods.clone(),
            )
            .header(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                self.allow_headers.clone(),
            )
            .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE)
            .finish()
    }

    /// Lets a front end read an answer.
    fn share(&self, headers: &mut HeaderMap, origin: HeaderValue) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            self.expose_headers.clone(),
        );
    }
}

impl<E: Endpoint> Middleware<E> for FrontEndCors {
    type Output = FrontEndCorsEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        FrontEndCorsEndpoint {
            inner,
            rules: self.0.clone(),
        }
    }
}

pub struct FrontEndCorsEndpoint<E> {
    inner: E,
    rules: Arc<CorsRules>,
}

impl<E: Endpoint> Endpoint for FrontEndCorsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let front_end = req
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| {
                origin
                    .to_str()
                    .is_ok_and(|origin| self.rules.origins.contains(origin))
            })
            .cloned();
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let mut response = match front_end {
            Some(origin) if preflight => self.rules.preflight(origin),
            Some(origin) => {
                // An error still reaches the front end, which must be able to read it.
                let mut response = self.inner.get_response(req).await;
                self.rules.share(response.headers_mut(), origin);
                response
            }
            None => self.inner.call(req).await?.into_response(),
        };
        vary_by(response.headers_mut(), "Origin");
        Ok(response)
    }
}
