//! The caller of an operation: the `bearerAuth` security scheme, checked before anything else of
//! the request is parsed, and the path's `user_id` held to the caller's right after.

use std::sync::{Arc, OnceLock};

use poem::http::header;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use uuid::Uuid;

use super::error::ApiError;
use super::protocol::{PathParameters, QueryParameterRefusal};
use crate::auth::{AuthFailure, Authenticator};

/// The security scheme's name in the contract.
pub const BEARER_AUTH: &str = "bearerAuth";
const AUTH_FAILURES: &str = "auth_failures_total";

/// Who is calling: the user the bearer token names, or nobody in particular when authentication
/// is off (paths are trusted as they are).
pub struct Caller(Option<Uuid>);

impl Caller {
    /// The caller's user id; `None` when authentication is off.
    pub fn user_id(&self) -> Option<Uuid> {
        self.0
    }
}

/// Where the request log finds the caller's user id once the token is checked.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<Uuid>>);

impl CallerSlot {
    pub fn user_id(&self) -> Option<Uuid> {
        self.0.get().copied()
    }
}

impl<'a> ApiExtractor<'a> for Caller {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            BEARER_AUTH,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "A JWT from the front end's identity provider, sent as `Authorization: \
                     Bearer <token>`. Its user claim (`sub` by default) is the caller's user id \
                     (as it is when it is a UUID, else `UUIDv5(NAMESPACE_URL, \"<iss>#<sub>\")`); \
                     the caller may reach only their own `/users/{user_id}`.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![BEARER_AUTH]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let authenticator = request
            .data::<Authenticator>()
            .expect("the app installs the authenticator");
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        let caller = authenticator
            .caller(authorization)
            .await
            .inspect_err(|failure| count_failure(failure.reason()))
            .map_err(ApiError::from)?;
        if let Some(user_id) = caller {
            if let Some(slot) = request.data::<CallerSlot>() {
                let _ = slot.0.set(user_id);
            }
            // Another user's path is refused before anything else of the request is read,
            // whether that user exists or not.
            let path_user = request
                .data::<PathParameters>()
                .and_then(|parameters| parameters.get("user_id"));
            if path_user.is_some_and(|path_user| Uuid::try_parse(path_user).ok() != Some(user_id)) {
                count_failure("forbidden");
                return Err(ApiError::Forbidden.into());
            }
        }
        if let Some(QueryParameterRefusal(refusal)) = request.data::<QueryParameterRefusal>() {
            return Err(refusal.clone().into());
        }
        Ok(Self(caller))
    }
}

fn count_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::MissingToken => Self::Unauthorized(None),
            AuthFailure::InvalidToken(invalid) => Self::Unauthorized(Some(invalid)),
            AuthFailure::NoUsableKey => Self::SigningKeysUnavailable,
        }
    }
}
