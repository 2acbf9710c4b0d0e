//! The HTTP API: poem-openapi operations, Swagger UI, and the envelope on every error.

mod error;
mod health;
mod input;
mod limits;
mod resources;
mod tasks;
mod users;

use poem::endpoint::BoxEndpoint;
use poem::middleware::CatchPanic;
use poem::{EndpointExt, IntoResponse, Response, Route};
use poem_openapi::{OpenApiService, Tags};

pub use error::{ApiError, ErrorCode};

use crate::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// A user's tasks
    Tasks,
    /// Users, who own tasks
    Users,
    /// Whether the server is alive and ready
    Health,
}

type TaskApiService = OpenApiService<(tasks::TasksApi, users::UsersApi, health::HealthApi), ()>;

/// The OpenAPI service of every operation.
pub fn openapi_service(state: AppState) -> TaskApiService {
    OpenApiService::new(
        (
            tasks::TasksApi {
                state: state.clone(),
            },
            users::UsersApi {
                state: state.clone(),
            },
            health::HealthApi { state },
        ),
        "Task API",
        env!("CARGO_PKG_VERSION"),
    )
    .description("A task-management API: every task belongs to one user.")
}

/// The whole HTTP application: operations, documents, Swagger UI, `extra` routes (tests mount
/// theirs here), and the error envelope on every failure, panics included.
pub fn app(state: AppState, extra: Route) -> BoxEndpoint<'static, Response> {
    let max_body_bytes = state.max_body_bytes;
    let service = openapi_service(state);
    let docs = service.swagger_ui();
    let spec_json = service.spec_endpoint();
    let spec_yaml = service.spec_endpoint_yaml();
    Route::new()
        .nest("/", service)
        .nest("/docs", docs.before(only_get))
        .at("/openapi.json", poem::get(spec_json))
        .at("/openapi.yaml", poem::get(spec_yaml))
        .nest("/__extra", extra)
        .with(limits::BodyLimit::new(max_body_bytes))
        .catch_all_error(error_response)
        .with(CatchPanic::new().with_handler(panic_response))
        .boxed()
}

/// Refuses any method but GET (and HEAD) on the documentation.
async fn only_get(req: poem::Request) -> poem::Result<poem::Request> {
    match *req.method() {
        poem::http::Method::GET | poem::http::Method::HEAD => Ok(req),
        _ => Err(ApiError::MethodNotAllowed.into()),
    }
}

/// Turns every error that reached the top into the envelope: the operations' own, and poem's
/// (unknown route, wrong method, unreadable request).
async fn error_response(err: poem::Error) -> Response {
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
