//! The HTTP API: poem-openapi operations, Swagger UI, and the envelope on every error.

mod caller;
mod changes;
mod compression;
mod conditional;
mod cors;
mod document;
mod error;
mod health;
mod input;
mod limits;
mod observe;
mod protocol;
mod rate;
mod resources;
mod tags;
mod tasks;
mod users;

use poem::endpoint::make_sync;
use poem::endpoint::BoxEndpoint;
use std::collections::HashMap;

use poem::http::Method;
use poem::middleware::CatchPanic;
use poem::{EndpointExt, IntoResponse, Response, Route};
use poem_openapi::{OpenApi, OpenApiService, OperationId, ServerObject, Tags};

pub use document::{error_responses, task_operations, to_yaml};
pub use error::{ApiError, ErrorCode};
pub use observe::run_metrics_upkeep;
pub use tasks::TASK_WRITABLE_FIELDS;

use crate::config::HttpSettings;
use crate::AppState;
use compression::SharedDocument;

/// The API's tags (see `TAG_ORDER`).
#[derive(Tags, Clone, Copy)]
pub enum ApiTags {
    /// Users, who own tasks
    Users,
    /// A user's tasks
    Tasks,
    /// Changes since a client last synced, for offline-first clients
    Sync,
    /// Whether the server is alive and ready
    Health,
}

/// The tags in the order a newcomer needs them (and Swagger UI lists them): users first, who
/// own the tasks, then the tasks, their changes, then health.
pub const TAG_ORDER: [ApiTags; 4] = [
    ApiTags::Users,
    ApiTags::Tasks,
    ApiTags::Sync,
    ApiTags::Health,
];

/// Every API object, as one.
type TaskApis = (
    users::UsersApi,
    tasks::TasksApi,
    tags::TagsApi,
    changes::ChangesApi,
    health::HealthApi,
);

pub(crate) type TaskApiService = OpenApiService<TaskApis, ()>;

/// The OpenAPI service of every operation.
pub fn openapi_service(state: AppState) -> TaskApiService {
    OpenApiService::new(
        (
            users::UsersApi {
                state: state.clone(),
            },
            tasks::TasksApi {
                state: state.clone(),
            },
            tags::TagsApi {
                state: state.clone(),
            },
            changes::ChangesApi {
                state: state.clone(),
            },
            health::HealthApi { state },
        ),
        "Task API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "A task-management API: every task belongs to one user and is reached under \
         `/users/{user_id}/tasks`. Every error has one JSON envelope with a code from a closed \
         list.",
    )
    .server(ServerObject::new("/").description("This server"))
}

/// The task-operations document, generated without any database (the operations' state is
/// never touched): for `task-api openapi` and the contract test.
pub fn openapi_document() -> serde_json::Value {
    let defaults =
        crate::config::Config::from_lookup(|_| None).expect("the defaults are a configuration");
    let state = AppState {
        db: crate::db::Database::new(
            crate::db::DatabaseTarget::sqlite_in_memory()
                .connect(1, std::time::Duration::from_secs(1)),
        ),
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
    };
    task_operations(&openapi_service(state))
}

/// The whole HTTP application: operations, documents, Swagger UI, `extra` routes (tests mount
/// theirs here), and the error envelope on every failure, panics included.
pub fn app(state: AppState, http: &HttpSettings, extra: Route) -> BoxEndpoint<'static, Response> {
    let db = state.db.clone();
    let authenticator = state.auth.clone();
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
    for path in PLAIN_ROUTES {
        routes.allow(path, &Method::GET);
    }
    Route::new()
        .nest("/", service)
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
        .nest("/__extra", extra)
        .with(limits::BodyLimit::new(
            http.max_body_bytes,
            http.request_timeout,
        ))
        .with(rate::UserWriteRate(write_rate))
        .catch_all_error(error_response)
        .with(protocol::RequestRules::new(routes, authenticator))
        .with(compression::CompressJson::new(http.compress_max_bytes))
        .with(CatchPanic::new().with_handler(panic_response))
        .with_if(
            !http.cors_origins.is_empty(),
            cors::FrontEndCors::new(&http.cors_origins, &http.cors_allow_headers),
        )
        .with(observe::Observe::new(operation_routes(&document)))
        .boxed()
}

/// The routes served beside the operations, each for GET only.
const PLAIN_ROUTES: [&str; 5] = ["/", "/docs", "/openapi.json", "/openapi.yaml", "/metrics"];

/// The methods the document allows on each path, the operation each serves, and its query
/// parameters.
fn operation_methods(document: &serde_json::Value) -> protocol::RouteMethods {
    // The operation ids as the operations themselves keep them (`'static`, for `OperationId`).
    let operation_ids: Vec<&'static str> = TaskApis::meta()
        .into_iter()
        .flat_map(|api| api.paths)
        .flat_map(|path| path.operations)
        .filter_map(|operation| operation.operation_id)
        .collect();
    let mut routes = protocol::RouteMethods::default();
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
                    .collect();
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

/// Turns every error that reached the top into the envelope: the operations' own, and poem's
/// (unknown route, wrong method, unreadable request).
async fn error_response(err: poem::Error) -> Response {
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

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %message, "a request handler panicked");
    ApiError::Internal.into_response()
}
