//! The operations, one module per resource, and the OpenAPI service that serves them all.

mod batch;
mod changes;
mod events;
mod health;
mod lists;
mod tags;
mod tasks;
mod users;

use poem_openapi::{OpenApiService, ServerObject, Tags};

pub use tasks::{TaskResource, TASK_WRITABLE_FIELDS};

use crate::AppState;

/// The API's tags (see `TAG_ORDER`).
#[derive(Tags, Clone, Copy)]
pub enum ApiTags {
    /// Users, who own tasks
    Users,
    /// A user's tasks
    Tasks,
    /// A user's lists, the named containers of their tasks
    Lists,
    /// Changes since a client last synced, for offline-first clients, and live change events
    Sync,
    /// Whether the server is alive and ready
    Health,
}

/// The tags in the order a newcomer needs them (and Swagger UI lists them): users first, who
/// own the tasks, then the tasks, their lists, their changes, then health.
pub const TAG_ORDER: [ApiTags; 5] = [
    ApiTags::Users,
    ApiTags::Tasks,
    ApiTags::Lists,
    ApiTags::Sync,
    ApiTags::Health,
];

/// Every API object, as one.
pub type TaskApis = (
    users::UsersApi,
    tasks::TasksApi,
    tags::TagsApi,
    lists::ListsApi,
    changes::ChangesApi,
    batch::BatchApi,
    events::EventsApi,
    health::HealthApi,
);

pub type TaskApiService = OpenApiService<TaskApis, ()>;

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
            lists::ListsApi {
                state: state.clone(),
            },
            changes::ChangesApi {
                state: state.clone(),
            },
            batch::BatchApi {
                state: state.clone(),
            },
            events::EventsApi {
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
