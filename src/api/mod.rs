//! The HTTP API, assembled: the operations (`operations`) behind the request gate and the other
//! HTTP plumbing (`http`), reading requests (`request`), answering (`response`), and the one
//! error type with its envelope (`error`).

pub mod error;
pub mod http;
pub mod operations;
pub mod request;
pub mod response;

use std::collections::HashMap;

use poem::endpoint::{make_sync, BoxEndpoint};
use poem::http::Method;
use poem::middleware::CatchPanic;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};
use poem_openapi::OpenApi;

pub use error::{ApiError, ErrorCode};
pub use http::observe::run_metrics_upkeep;
pub use operations::{openapi_service, TASK_WRITABLE_FIELDS};
pub use response::document::{error_responses, task_operations, to_yaml};

use crate::config::HttpSettings;
use crate::AppState;
use http::compression::SharedDocument;
use http::{compression, cors, fallback, gate, limits, observe};
use operations::TaskApis;
use request::ticket;
use response::document;

/// The task-operations document, generated without any database (the operations' state is
/// never touched): for `task-api openapi` and the contract test.
pub fn openapi_document() -> serde_json::Value {
    let defaults =
        crate::config::Config::from_lookup(|_| None).expect("the defaults are a configuration");
    let db = crate::db::Database::new(
        crate::db::DatabaseTarget::sqlite_in_memory().connect(1, std::time::Duration::from_secs(1)),
    );
    let state = AppState {
        task_reads: crate::store::TaskReads::new(db.clone()),
        task_creates: crate::store::TaskCreates::new(&db),
        db,
        token_keys: crate::store::token_key::TokenKeySource::new(
            Some(crate::tokens::TokenKey::random()),
            Vec::new(),
        ),
        auth: crate::auth::Authenticator::off(),
        retention: defaults.retention,
        page_max_bytes: defaults.http.page_max_bytes,
        limits: defaults.user_limits,
        write_rate: std::sync::Arc::new(crate::fairness::WriteRate::new(
            defaults.user_limits.writes_per_minute,
        )),
        events: crate::events::ChangeHub::new(defaults.events),
    };
    task_operations(&openapi_service(state))
}

/// The whole HTTP application: operations, documents, Swagger UI, `extra` routes (tests mount
/// theirs here), and the error envelope on every failure, panics included.
pub fn app(state: AppState, http: &HttpSettings, extra: Route) -> BoxEndpoint<'static, Response> {
    let db = state.db.clone();
    let callers = gate::Callers {
        authenticator: state.auth.clone(),
        token_keys: state.token_keys.clone(),
        db: state.db.clone(),
    };
    let write_rate = state.write_rate.clone();
    let service = openapi_service(state);
    let document = document::task_operations(&service);
    let json = serde_json::to_string_pretty(&document).expect("a document serialises");
    // Swagger UI shows the served document, not poem-openapi's unrefined one, and keeps the
    // token given to its Authorize button across reloads.
    let swagger_ui = service
        .swagger_ui_html()
        .replace(&service.spec(), &json)
        .replace(
            "deepLinking: true,",
            "deepLinking: true,\n        persistAuthorization: true,",
        );
    let yaml = document::to_yaml(&document);
    let mut routes = operation_methods(&document);
    // `/` (a hidden operation, so not in the document) redirects to `/docs`.
    for path in std::iter::once("/").chain(BESIDE_ROUTES) {
        routes.allow(path, &Method::GET);
    }
    routes.pass_under(EXTRA_ROUTES);
    let beside = Route::new()
        .at(
            "/docs",
            poem::get(SharedDocument::new(swagger_ui, "text/html; charset=utf-8")),
        )
        .at(
            "/openapi.json",
            poem::get(SharedDocument::new(json, "application/json; charset=utf-8")),
        )
        .at(
            "/openapi.yaml",
            poem::get(SharedDocument::new(yaml, "application/yaml; charset=utf-8")),
        )
        .at(
            "/metrics",
            poem::get(make_sync(move |_| {
                observe::render_metrics(&db).with_content_type("text/plain; version=0.0.4")
            })),
        )
        .nest(EXTRA_ROUTES, extra);
    OperationsAndBeside {
        operations: service.into_endpoint(),
        beside,
    }
    .with(limits::BodyLimit::new(
        http.max_body_bytes,
        http.request_timeout,
    ))
    .catch_all_error(fallback::error_response)
    .with(gate::RequestRules::new(routes, callers, write_rate))
    .with(compression::CompressJson::new(http.compress_max_bytes))
    .with(CatchPanic::new().with_handler(fallback::panic_response))
    .with_if(
        !http.cors_origins.is_empty(),
        cors::FrontEndCors::new(&http.cors_origins, &http.cors_allow_headers),
    )
    .with(observe::Observe::new(operation_routes(&document)))
    .boxed()
}

/// Where the `extra` routes are mounted.
const EXTRA_ROUTES: &str = "/__extra";

/// The routes served beside the operations, each for GET only.
const BESIDE_ROUTES: [&str; 4] = ["/docs", "/openapi.json", "/openapi.yaml", "/metrics"];

/// The operations and, beside them, the documents, `/metrics` and the tests' extra routes: a
/// request for one of those goes to `beside`, any other straight to the operations' own router
/// (not through a router above it, which would move the request once more and rewrite its URI).
struct OperationsAndBeside<O> {
    operations: O,
    beside: Route,
}

impl<O: Endpoint> Endpoint for OperationsAndBeside<O> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let path = req.uri().path();
        if BESIDE_ROUTES.contains(&path) || path.starts_with(EXTRA_ROUTES) {
            self.beside.call(req).await
        } else {
            self.operations
                .call(req)
                .await
                .map(IntoResponse::into_response)
        }
    }
}

/// The methods the document allows on each path, the operation each serves, and its query
/// parameters.
fn operation_methods(document: &serde_json::Value) -> gate::RouteMethods {
    // The operation ids as the operations themselves keep them (`'static`, for `OperationId`).
    let operation_ids: Vec<&'static str> = TaskApis::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .flat_map(|path| path.operations)
        .filter_map(|operation| operation.operation_id)
        .collect();
    let mut routes = gate::RouteMethods::default();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                routes.allow(path, &method);
                let query = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|parameter| parameter["in"] == "query")
                    .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
                    .collect::<Vec<String>>();
                if query.iter().any(|name| name == ticket::TICKET) {
                    routes.take_tickets(path, &method);
                }
                routes.take_query(path, &method, query);
                if operation["security"]
                    .as_array()
                    .is_some_and(|schemes| !schemes.is_empty())
                {
                    routes.secure(path, &method);
                }
                let named = operation["operationId"].as_str();
                if let Some(id) = operation_ids.iter().find(|id| Some(**id) == named) {
                    routes.name_operation(path, &method, id);
                }
            }
        }
    }
    routes
}

/// operationId → "METHOD /path/{template}", for the request log.
fn operation_routes(document: &serde_json::Value) -> HashMap<String, String> {
    let mut routes = HashMap::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Some(id) = operation["operationId"].as_str() {
                routes.insert(id.to_owned(), format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}
