//! Liveness (`/health`, no database), readiness (`/ready`, the database answers), and `/`
//! sending a browser to the Swagger UI.

use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::api::error::{ApiError, ErrorResponse, ServerErrors};
use crate::api::response::resources::JsonResponse;
use crate::store;
use crate::AppState;

/// The server's answer when it is alive (or ready).
#[derive(Object, serde::Serialize, Debug, Clone)]
#[oai(example)]
pub struct HealthStatus {
    /// Always `ok`.
    pub status: String,
}

impl Example for HealthStatus {
    fn example() -> Self {
        Self {
            status: "ok".to_owned(),
        }
    }
}

#[derive(ApiResponse)]
pub enum Healthy {
    /// The server is alive (for `/ready`: and its database answers).
    #[oai(status = 200)]
    Ok(JsonResponse<HealthStatus>),
}

impl Healthy {
    fn ok() -> Self {
        Self::Ok(JsonResponse(HealthStatus::example()))
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
    /// Liveness
    ///
    /// Whether the server process is up; touches no database.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Result<Healthy, ErrorResponse<ServerErrors>> {
        Ok(Healthy::ok())
    }

    /// Redirect to the Swagger UI (not part of the contract)
    #[oai(path = "/", method = "get", hidden)]
    async fn root(&self) -> SeeDocs {
        SeeDocs::SeeOther("/docs".to_owned())
    }

    /// Readiness
    ///
    /// Whether the server can serve requests: 200 when the database answers (and, with
    /// authentication on, a key to check tokens with is known), 503 `SERVICE_UNAVAILABLE` when
    /// not.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> Result<Healthy, ErrorResponse<ServerErrors>> {
        if !self.state.auth.is_ready() {
            tracing::warn!(
                "not ready: no key to check bearer tokens with (the JWKS is unreachable)"
            );
            return Err(ApiError::SigningKeysUnavailable.into());
        }
        store::ping(&self.state.db).await.map_err(|err| {
            tracing::warn!(error = ?err, "not ready: the database does not answer");
            ApiError::ServiceUnavailable
        })?;
        Ok(Healthy::ok())
    }
}
