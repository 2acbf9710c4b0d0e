//! The request gate: every refusal made before an operation runs, in one place and in this order
//! (see `RequestRulesEndpoint::check`), before any byte of the body is read — a bounded request
//! target, a route and method the server has, the caller of a secured operation let in or refused
//! (see `caller::admit`; an event stream's by its `ticket`, `caller::admit_ticket`), the user's
//! writes per minute, and each query parameter one the operation
//! has and given at most once; and the `Allow` header on every 405.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;

use poem::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use poem_openapi::OperationId;
use uuid::Uuid;

use crate::api::error::{ApiError, FieldError, FieldLocation};
use crate::api::http::limits::{announces_body, ending_connection};
use crate::api::request::caller::{self, CallerSlot};
use crate::api::request::ticket;
use crate::auth::Authenticator;
use crate::db::Database;
use crate::fairness::WriteRate;
use crate::store::token_key::TokenKeySource;

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// The routes the server serves and the methods each allows, path segments as templates:
/// `{name}` stands for any one segment.
#[derive(Debug, Default)]
pub struct RouteMethods {
    routes: Vec<Route>,
    /// Paths under these prefixes are served by routes this table does not list (tests mount
    /// theirs under `/__extra/`): the router answers them.
    passed_prefixes: Vec<String>,
}

#[derive(Debug)]
struct Route {
    segments: Vec<String>,
    methods: BTreeSet<&'static str>,
    /// The methods whose operations authenticate the caller.
    secured: BTreeSet<&'static str>,
    /// The methods whose operations take a `ticket` instead of a bearer token (event streams).
    ticketed: BTreeSet<&'static str>,
    /// The operation each method serves, for the request log of a refusal made here.
    operations: BTreeMap<&'static str, &'static str>,
    /// The query parameters each operation has, by method (GET's serve HEAD too); the query of
    /// a method not listed (the documents, Swagger UI) is not checked.
    query_parameters: BTreeMap<&'static str, Vec<String>>,
}

impl RouteMethods {
    /// Allows `method` on `template` (`/users/{user_id}`); GET brings HEAD with it.
    pub fn allow(&mut self, template: &str, method: &Method) {
        add_method(&mut self.route_mut(template).methods, method);
    }

    /// Marks `method`'s operation on `template` as authenticating its caller (HEAD with GET).
    pub fn secure(&mut self, template: &str, method: &Method) {
        add_method(&mut self.route_mut(template).secured, method);
    }

    /// Lets `method`'s operation on `template` take a `ticket` as its caller's credential (HEAD
    /// with GET).
    pub fn take_tickets(&mut self, template: &str, method: &Method) {
        add_method(&mut self.route_mut(template).ticketed, method);
    }

    /// Names the operation `method` serves on `template` (HEAD with GET).
    pub fn name_operation(&mut self, template: &str, method: &Method, operation_id: &'static str) {
        let route = self.route_mut(template);
        let mut methods = BTreeSet::new();
        add_method(&mut methods, method);
        for method in methods {
            route.operations.insert(method, operation_id);
        }
    }

    /// Leaves every path under `prefix` to the router.
    pub fn pass_under(&mut self, prefix: &str) {
        self.passed_prefixes.push(format!("{prefix}/"));
    }

    fn passes(&self, path: &str) -> bool {
        self.passed_prefixes
            .iter()
            .any(|prefix| path.starts_with(prefix.as_str()))
    }

    /// Says that `method` on `template` has these query parameters and no others.
    pub fn take_query(&mut self, template: &str, method: &Method, names: Vec<String>) {
        self.route_mut(template)
            .query_parameters
            .insert(static_name(method), names);
    }

    fn route_mut(&mut self, template: &str) -> &mut Route {
        let segments: Vec<String> = template.split('/').map(str::to_owned).collect();
        match self
            .routes
            .iter()
            .position(|route| route.segments == segments)
        {
            Some(index) => &mut self.routes[index],
            None => {
                self.routes.push(Route {
                    segments,
                    methods: BTreeSet::new(),
                    secured: BTreeSet::new(),
                    ticketed: BTreeSet::new(),
                    query_parameters: BTreeMap::new(),
                    operations: BTreeMap::new(),
                });
                self.routes.last_mut().expect("just pushed")
            }
        }
    }

    /// The route that serves a request path.
    fn route(&self, path: &str) -> Option<&Route> {
        let segments = path.split('/').count();
        self.routes.iter().find(|route| {
            route.segments.len() == segments
                && route
                    .segments
                    .iter()
                    .zip(path.split('/'))
                    .all(|(template, segment)| {
                        template == segment || (template.starts_with('{') && !segment.is_empty())
                    })
        })
    }
}

impl Route {
    /// The user whose write this is, counted against their writes per minute: a POST, PUT, PATCH
    /// or DELETE under `/users/{user_id}/…` (not on the user itself).
    fn writing_user(&self, method: &Method, parameters: &PathParameters) -> Option<Uuid> {
        let writes = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        let below_user = self.segments.len() > 3
            && self.segments[1] == "users"
            && self.segments[2] == "{user_id}";
        (writes && below_user)
            .then(|| Uuid::try_parse(parameters.get("user_id")?).ok())
            .flatten()
    }

    /// Whether `method`'s operation on this route authenticates its caller.
    fn secures(&self, method: &Method) -> bool {
        self.secured.contains(method.as_str())
    }

    /// The `ticket`s a request for `method`'s operation gives, when that operation takes tickets.
    fn tickets(&self, method: &Method, query: &str) -> Vec<String> {
        if !self.ticketed.contains(method.as_str()) {
            return Vec::new();
        }
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .unwrap_or_default()
            .into_iter()
            .filter(|(name, _)| name == ticket::TICKET)
            .map(|(_, value)| value)
            .collect()
    }

    /// The query parameters `method` has here; `None` when its query is not checked.
    fn query_parameters(&self, method: &Method) -> Option<&[String]> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.query_parameters
            .get(static_name(method))
            .map(Vec::as_slice)
    }

    /// The `Allow` value of this route.
    fn allowed(&self) -> String {
        self.methods.iter().copied().collect::<Vec<_>>().join(", ")
    }

    /// The parameters of a path this route serves, by the names its template gives them.
    fn parameters(&self, path: &str) -> PathParameters {
        let named = self
            .segments
            .iter()
            .zip(path.split('/'))
            .filter_map(|(template, segment)| {
                let name = template.strip_prefix('{')?.strip_suffix('}')?;
                // As the router had it: percent-decoded (a segment that is not UTF-8 once
                // decoded stays as sent, and fails to parse).
                let value = percent_encoding::percent_decode_str(segment)
                    .decode_utf8()
                    .map_or_else(|_| segment.to_owned(), |decoded| decoded.into_owned());
                Some((name.to_owned(), value))
            })
            .collect();
        PathParameters(named)
    }
}

/// A request's path parameters by their names in the contract (poem-openapi's router numbers
/// them), for the path parameter extractor.
#[derive(Clone, Debug, Default)]
pub struct PathParameters(Vec<(String, String)>);

impl PathParameters {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(parameter, _)| parameter == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Adds a known `method` to `methods`, HEAD with GET.
fn add_method(methods: &mut BTreeSet<&'static str>, method: &Method) {
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    if let Some(known) = known.iter().find(|known| *known == method) {
        methods.insert(static_name(known));
        if *known == Method::GET {
            methods.insert("HEAD");
        }
    }
}

fn static_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        _ => "DELETE",
    }
}

/// Says that an answer varies by request header `name`, unless it says so already.
pub fn vary_by(headers: &mut HeaderMap, name: &'static str) {
    let said = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|vary| vary.to_str().unwrap_or_default().split(','))
        .any(|said| said.trim().eq_ignore_ascii_case(name));
    if !said {
        headers.append(header::VARY, HeaderValue::from_static(name));
    }
}

/// The gate: refuses what `RequestRulesEndpoint::check` refuses, and adds `Allow` to every 405.
pub struct RequestRules {
    routes: Arc<RouteMethods>,
    callers: Callers,
    write_rate: Arc<WriteRate>,
}

/// What lets callers in: the bearer tokens' authenticator, and the keys that open tickets (with
/// the database that may keep them).
#[derive(Clone)]
pub struct Callers {
    pub authenticator: Authenticator,
    pub token_keys: TokenKeySource,
    pub db: Database,
}

impl RequestRules {
    pub fn new(routes: RouteMethods, callers: Callers, write_rate: Arc<WriteRate>) -> Self {
        Self {
            routes: Arc::new(routes),
            callers,
            write_rate,
        }
    }
}

impl<E: Endpoint> Middleware<E> for RequestRules {
    type Output = RequestRulesEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestRulesEndpoint {
            inner,
            routes: self.routes.clone(),
            callers: self.callers.clone(),
            write_rate: self.write_rate.clone(),
        }
    }
}

pub struct RequestRulesEndpoint<E> {
    inner: E,
    routes: Arc<RouteMethods>,
    callers: Callers,
    write_rate: Arc<WriteRate>,
}

/// The query parameters given more than once, or not among `known` (when the operation's query
/// is checked), each named once, in order of appearance.
fn refused_parameters(query: &str, known: Option<&[String]>) -> Vec<FieldError> {
    let mut seen = HashSet::new();
    let mut named = HashSet::new();
    let mut refused = Vec::new();
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default();
    for (name, _) in pairs {
        let first = seen.insert(name.clone());
        let message = match known {
            Some(known) if !known.contains(&name) => {
                let taken = if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                };
                format!("is not a parameter of this operation (it takes {taken})")
            }
            _ if !first => "is given more than once".to_owned(),
            _ => continue,
        };
        if named.insert(name.clone()) {
            refused.push(FieldError::new(FieldLocation::Query, &name, message));
        }
    }
    refused
}

impl<E> RequestRulesEndpoint<E> {
    /// The caller of a secured operation, let in by its bearer token or, where the operation
    /// takes one, its `ticket` (given once, and without an `Authorization` header beside it).
    async fn admit(
        &self,
        req: &Request,
        route: &Route,
        parameters: &PathParameters,
    ) -> std::result::Result<caller::Caller, ApiError> {
        let slot = req.data::<CallerSlot>();
        let tickets = route.tickets(req.method(), req.uri().query().unwrap_or_default());
        let refused = |message: &str| {
            ApiError::Validation(vec![FieldError::new(
                FieldLocation::Query,
                ticket::TICKET,
                message,
            )])
        };
        match tickets.as_slice() {
            [] => {
                let callers = &self.callers;
                caller::admit(&callers.authenticator, req.headers(), parameters, slot).await
            }
            [_] if req.headers().contains_key(header::AUTHORIZATION) => Err(refused(
                "is given with an Authorization header: send one credential or the other",
            )),
            [ticket] => {
                let keys = self.callers.token_keys.keys(&self.callers.db).await?;
                caller::admit_ticket(keys, ticket, parameters, slot)
            }
            _ => Err(refused("is given more than once")),
        }
    }

    /// Checks the rules in order on a request for `route`; the first rule broken refuses it.
    async fn check(
        &self,
        req: &mut Request,
        route: Option<&Route>,
    ) -> std::result::Result<(), ApiError> {
        let target_len = req
            .uri()
            .path_and_query()
            .map_or(0, |target| target.as_str().len());
        if target_len > MAX_TARGET_BYTES {
            return Err(ApiError::UriTooLong {
                limit: MAX_TARGET_BYTES,
            });
        }
        let Some(route) = route else {
            return match self.routes.passes(req.uri().path()) {
                true => Ok(()),
                false => Err(ApiError::RouteNotFound),
            };
        };
        if !route.methods.contains(req.method().as_str()) {
            return Err(ApiError::MethodNotAllowed);
        }
        let parameters = route.parameters(req.uri().path());
        if route.secures(req.method()) {
            let caller = self.admit(req, route, &parameters).await?;
            req.extensions_mut().insert(caller);
        }
        if let Some(user_id) = route.writing_user(req.method(), &parameters) {
            self.write_rate
                .take(user_id, NonZeroU32::MIN)
                .map_err(ApiError::rate_limited)?;
        }
        let known = route.query_parameters(req.method());
        let refused = refused_parameters(req.uri().query().unwrap_or_default(), known);
        if !refused.is_empty() {
            return Err(ApiError::Validation(refused));
        }
        req.extensions_mut().insert(parameters);
        Ok(())
    }
}

impl<E: Endpoint> Endpoint for RequestRulesEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let route = self.routes.route(req.uri().path());
        let mut response = match self.check(&mut req, route).await {
            Ok(()) => self.inner.call(req).await?.into_response(),
            Err(refusal) => {
                let mut response = refusal.into_response();
                if let Some(operation) =
                    route.and_then(|route| route.operations.get(req.method().as_str()))
                {
                    response.set_data(OperationId(operation));
                }
                // Refused before any byte of its body was read.
                match announces_body(req.headers()) {
                    true => ending_connection(response),
                    false => response,
                }
            }
        };
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(allowed) = route.map(Route::allowed) {
                if let Ok(allowed) = HeaderValue::from_str(&allowed) {
                    response.headers_mut().insert(header::ALLOW, allowed);
                }
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_any_one_segment() {
        let mut routes = RouteMethods::default();
        routes.allow("/users/{user_id}/tasks/{task_id}", &Method::GET);
        routes.allow("/users/{user_id}/tasks/{task_id}", &Method::DELETE);
        routes.allow("/users", &Method::POST);
        assert_eq!(
            routes
                .route("/users/a/tasks/b")
                .map(Route::allowed)
                .as_deref(),
            Some("DELETE, GET, HEAD")
        );
        assert_eq!(
            routes.route("/users").map(Route::allowed).as_deref(),
            Some("POST")
        );
        assert_eq!(routes.route("/users/a/tasks/").map(Route::allowed), None);
        let parameters = routes
            .route("/users/a/tasks/b")
            .unwrap()
            .parameters("/users/a/tasks/b");
        assert_eq!(parameters.get("user_id"), Some("a"));
        assert_eq!(parameters.get("task_id"), Some("b"));
        assert_eq!(parameters.get("id"), None);
        let encoded = routes
            .route("/users/a%2Db/tasks/%ff")
            .unwrap()
            .parameters("/users/a%2Db/tasks/%ff");
        assert_eq!(encoded.get("user_id"), Some("a-b"));
        assert_eq!(encoded.get("task_id"), Some("%ff"));
        assert_eq!(routes.route("/users/a/tasks/b/c").map(Route::allowed), None);
    }

    fn refused_names(query: &str, known: Option<&[String]>) -> Vec<(String, String)> {
        refused_parameters(query, known)
            .into_iter()
            .map(|field| (field.field, field.message))
            .collect()
    }

    #[test]
    fn a_parameter_repeated_in_any_spelling_is_named_once() {
        let repeated = refused_names("limit=5&limit=abc&sort=title&li%6Dit=1&q=a&q=b", None);
        let names: Vec<&str> = repeated.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["limit", "q"]);
        assert!(refused_names("limit=5&sort=title", None).is_empty());
    }

    #[test]
    fn a_parameter_the_operation_lacks_is_named_once_with_those_it_has() {
        let known = ["limit".to_owned(), "completed".to_owned()];
        let refused = refused_names(
            "complete=true&limit=1&complete=false&x&limit=2",
            Some(&known),
        );
        assert_eq!(
            refused,
            [
                (
                    "complete".to_owned(),
                    "is not a parameter of this operation (it takes limit, completed)".to_owned()
                ),
                (
                    "x".to_owned(),
                    "is not a parameter of this operation (it takes limit, completed)".to_owned()
                ),
                ("limit".to_owned(), "is given more than once".to_owned()),
            ]
        );
        assert_eq!(
            refused_names("x=1", Some(&[])),
            [(
                "x".to_owned(),
                "is not a parameter of this operation (it takes none)".to_owned()
            )]
        );
    }
}
