//! The caller of an operation: the `bearerAuth` security scheme, checked (by `admit`, which the
//! request rules call before any byte of the body is read) before anything else of the request is
//! parsed, and the path's `user_id` held to the caller's right after.

use std::sync::{Arc, OnceLock};

use poem::http::{header, HeaderMap};
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use uuid::Uuid;

use crate::api::error::{ApiError, FieldError, FieldLocation};
use crate::api::http::gate::PathParameters;
use crate::api::request::ticket;
use crate::auth::{AuthFailure, Authenticator};
use crate::tokens::TokenKeys;

/// The security scheme's name in the contract.
pub const BEARER_AUTH: &str = "bearerAuth";
const AUTH_FAILURES: &str = "auth_failures_total";

/// Who is calling: the user the bearer token names, or nobody in particular when authentication
/// is off (paths are trusted as they are).
#[derive(Clone, Copy)]
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
        Ok(*request
            .data::<Self>()
            .expect("the request rules admit the caller of every secured operation"))
    }
}

/// Lets the caller of a secured operation in, or refuses the request: two `Authorization`
/// headers (400), no or a bad token (401), no key to check it with (503), another user's path
/// (403, whether that user exists or not). Nothing of the request but its head is read.
pub async fn admit(
    authenticator: &Authenticator,
    headers: &HeaderMap,
    path: &PathParameters,
    slot: Option<&CallerSlot>,
) -> Result<Caller, ApiError> {
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    let authorization = authorizations.next().map(|value| value.as_bytes());
    if authorizations.next().is_some() {
        count_failure("repeated_header");
        return Err(ApiError::Validation(vec![FieldError::new(
            FieldLocation::Header,
            "Authorization",
            "is given more than once",
        )]));
    }
    let caller = authenticator
        .caller(authorization)
        .await
        .inspect_err(|failure| count_failure(failure.reason()))?;
    if let Some(user_id) = caller {
        if let Some(slot) = slot {
            let _ = slot.0.set(user_id);
        }
        let path_user = path.get("user_id");
        if path_user.is_some_and(|path_user| Uuid::try_parse(path_user).ok() != Some(user_id)) {
            count_failure("forbidden");
            return Err(ApiError::Forbidden);
        }
    }
    Ok(Caller(caller))
}

/// Lets the caller of an event stream in by its `ticket` instead of a bearer token, or refuses
/// the request: an expired or forged ticket (401), another user's path (403).
pub fn admit_ticket(
    keys: &TokenKeys,
    ticket: &str,
    path: &PathParameters,
    slot: Option<&CallerSlot>,
) -> Result<Caller, ApiError> {
    let user_id = ticket::open(keys, ticket, chrono::Utc::now()).map_err(|reason| {
        count_failure("invalid_ticket");
        ApiError::InvalidTicket(reason)
    })?;
    if let Some(slot) = slot {
        let _ = slot.0.set(user_id);
    }
    if path
        .get("user_id")
        .and_then(|path_user| Uuid::try_parse(path_user).ok())
        != Some(user_id)
    {
        count_failure("forbidden");
        return Err(ApiError::Forbidden);
    }
    Ok(Caller(Some(user_id)))
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
