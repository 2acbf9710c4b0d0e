//! Liveness (`/health`, no database), readiness (`/ready`, the database answers), and `/`
//! sending a browser to the Swagger UI.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::{ApiError, ErrorResponse, ServerErrors};
use super::ApiTags;
use crate::store;
use crate::AppState;

#[derive(Object, Debug, Clone)]
pub struct HealthStatus {
    /// Always `ok`.
    pub status: String,
}

impl HealthStatus {
    fn ok() -> Json<Self> {
        Json(Self {
            status: "ok".to_owned(),
        })
    }
}

#[derive(ApiResponse)]
pub enum SeeDocs {
    /// The Swagger UI is at `/docs`.
    #[oai(status = 303)]
    SeeOther(#[oai(header = "Location")] String),
}

pub struct HealthApi {
    pub state: AppState,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Whether the server process is up (touches no database)
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Result<Json<HealthStatus>, ErrorResponse<ServerErrors>> {
        Ok(HealthStatus::ok())
    }

    /// Redirect to the Swagger UI (not part of the contract)
    #[oai(path = "/", method = "get", hidden)]
    async fn root(&self) -> SeeDocs {
        SeeDocs::SeeOther("/docs".to_owned())
    }

    /// Whether the server can serve requests: the database answers
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Json<HealthStatus>, ErrorResponse<ServerErrors>> {
        store::ping(&self.state.db).await.map_err(|err| {
            tracing::warn!(error = ?err, "not ready: the database does not answer");
            ApiError::ServiceUnavailable
        })?;
        Ok(HealthStatus::ok())
    }
}
