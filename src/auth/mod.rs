//! Who is calling: bearer tokens verified against the identity provider's keys (never a call to
//! the provider per request), the caller's user id read from a claim, verified tokens remembered.

mod keys;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{AuthConfig, TokenRules};
use keys::{KeyRing, VerifyingKey};

/// The most verified tokens remembered at once.
const VERIFIED_TOKENS_KEPT: usize = 100_000;
/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a request is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// A token that fails a check.
    InvalidToken(InvalidToken),
    /// No key to check tokens with (the JWKS could never be fetched): the fault is the server's.
    NoUsableKey,
}

/// The check a token failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidToken {
    Malformed,
    TooLong,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    UnknownKey,
    DisallowedAlgorithm,
    MissingClaim,
    BadUserClaim,
}

impl InvalidToken {
    /// The reason as a metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLong => "too_long",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::UnknownKey => "unknown_key",
            Self::DisallowedAlgorithm => "disallowed_algorithm",
            Self::MissingClaim => "missing_claim",
            Self::BadUserClaim => "bad_user_claim",
        }
    }

    /// The reason as the caller reads it in `error_description` (never the token itself).
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the token is not a well-formed JWT",
            Self::TooLong => "the token is longer than 16384 bytes",
            Self::BadSignature => "the token's signature does not verify",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet (nbf)",
            Self::WrongIssuer => "the token's issuer (iss) is not the one this server trusts",
            Self::WrongAudience => "the token's audience (aud) does not include this API",
            Self::UnknownKey => "the token is signed with a key (kid) the issuer does not publish",
            Self::DisallowedAlgorithm => "the token's algorithm (alg) is not allowed for its key",
            Self::MissingClaim => "the token lacks a required claim (exp, iss, aud or the user's)",
            Self::BadUserClaim => "the token's user claim is not a non-empty string",
        }
    }
}

impl AuthFailure {
    /// The reason as a metric label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidToken(invalid) => invalid.reason(),
            Self::NoUsableKey => "no_usable_key",
        }
    }
}

/// Checks callers' tokens; `Off` lets every request in as it is.
#[derive(Clone)]
pub struct Authenticator(Option<Arc<TokenVerifier>>);

impl Authenticator {
    /// No authentication: paths are trusted as they are.
    pub fn off() -> Self {
        Self(None)
    }

    /// Starts checking tokens as `config` says: with a JWKS, its keys are fetched now (a failure
    /// is logged, and retried) and refreshed in the background.
    pub async fn start(config: &AuthConfig) -> Result<Self, String> {
        let AuthConfig::On(rules) = config else {
            return Ok(Self::off());
        };
        let keys = KeyRing::start(&rules.keys).await?;
        Ok(Self(Some(Arc::new(TokenVerifier::new(rules, keys)))))
    }

    /// Whether tokens can be checked now: off, or at least one key is known.
    pub fn is_ready(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|verifier| verifier.keys.has_keys())
    }

    /// The caller's user id from an `Authorization` header; `None` when authentication is off.
    pub async fn caller(&self, authorization: Option<&[u8]>) -> Result<Option<Uuid>, AuthFailure> {
        let Some(verifier) = &self.0 else {
            return Ok(None);
        };
        let token = bearer_token(authorization.ok_or(AuthFailure::MissingToken)?)?;
        verifier.verify(token).await.map(Some)
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 9110
/// §11.1); any other scheme counts as no token.
fn bearer_token(header: &[u8]) -> Result<&str, AuthFailure> {
    let header = std::str::from_utf8(header).map_err(|_| AuthFailure::MissingToken)?;
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::MissingToken);
    }
    let token = token.trim_matches(' ');
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthFailure::InvalidToken(InvalidToken::TooLong));
    }
    if token.is_empty() {
        return Err(AuthFailure::InvalidToken(InvalidToken::Malformed));
    }
    Ok(token)
}

/// A caller whose token verified, remembered until the token expires.
#[derive(Clone, Copy)]
struct VerifiedCaller {
    user_id: Uuid,
    /// Unix seconds after which the token no longer verifies (`exp` plus the leeway).
    valid_until: u64,
    /// The key ring's revision the token verified under: a refresh that drops a key forgets it.
    revision: u64,
}

struct TokenVerifier {
    keys: KeyRing,
    /// One validation per algorithm: a key is used with its own algorithm only.
    validations: Vec<(Algorithm, Validation)>,
    issuer: Option<String>,
    user_claim: String,
    leeway_secs: u64,
    /// Keyed by the token's SHA-256.
    verified: quick_cache::sync::Cache<[u8; 32], VerifiedCaller>,
}

impl TokenVerifier {
    fn new(rules: &TokenRules, keys: KeyRing) -> Self {
        let validations = keys
            .algorithms()
            .iter()
            .map(|&algorithm| (algorithm, validation(rules, algorithm)))
            .collect();
        Self {
            keys,
            validations,
            issuer: rules.issuer.clone(),
            user_claim: rules.user_claim.clone(),
            leeway_secs: rules.leeway.as_secs(),
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS_KEPT),
        }
    }

    async fn verify(&self, token: &str) -> Result<Uuid, AuthFailure> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        if let Some(known) = self.verified.get(&digest) {
            if now < known.valid_until && known.revision == self.keys.revision() {
                return Ok(known.user_id);
            }
        }
        let invalid = AuthFailure::InvalidToken;
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid(InvalidToken::Malformed))?;
        let (key, revision) = self.keys.key_for(header.kid.as_deref()).await?;
        let validation = self.validation_for(&key, header.alg)?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|err| invalid(classify(err.kind())))?
            .claims;
        let user_id = self.user_id(&claims)?;
        let expires = claims.get("exp").and_then(Value::as_f64).unwrap_or(0.0) as u64;
        self.verified.insert(
            digest,
            VerifiedCaller {
                user_id,
                valid_until: expires.saturating_add(self.leeway_secs),
                revision,
            },
        );
        Ok(user_id)
    }

    /// The validation of `key`'s own algorithm, when the token names it.
    fn validation_for(
        &self,
        key: &VerifyingKey,
        token_algorithm: Algorithm,
    ) -> Result<&Validation, AuthFailure> {
        if token_algorithm != key.algorithm {
            return Err(AuthFailure::InvalidToken(InvalidToken::DisallowedAlgorithm));
        }
        self.validations
            .iter()
            .find(|(algorithm, _)| *algorithm == key.algorithm)
            .map(|(_, validation)| validation)
            .ok_or(AuthFailure::InvalidToken(InvalidToken::DisallowedAlgorithm))
    }

    /// The claim's value when it is a UUID, otherwise `UUIDv5(NAMESPACE_URL, "<iss>#<claim>")`.
    fn user_id(&self, claims: &Map<String, Value>) -> Result<Uuid, AuthFailure> {
        let subject = match claims.get(&self.user_claim) {
            None => return Err(AuthFailure::InvalidToken(InvalidToken::MissingClaim)),
            Some(Value::String(subject)) if !subject.is_empty() => subject,
            Some(_) => return Err(AuthFailure::InvalidToken(InvalidToken::BadUserClaim)),
        };
        let issuer = match (claims.get("iss"), &self.issuer) {
            (Some(Value::String(issuer)), _) => issuer.as_str(),
            // An `iss` list that holds the issuer passes jsonwebtoken; it must equal it.
            (Some(_), Some(_)) => return Err(AuthFailure::InvalidToken(InvalidToken::WrongIssuer)),
            (_, configured) => configured.as_deref().unwrap_or_default(),
        };
        Ok(user_id_of(issuer, subject))
    }
}

/// The user id of a subject: the subject itself when it is a UUID (Neon Auth, Supabase,
/// Keycloak), otherwise `UUIDv5(NAMESPACE_URL, "<issuer>#<subject>")` (Clerk, Auth0, Firebase).
pub fn user_id_of(issuer: &str, subject: &str) -> Uuid {
    // Only the hyphenated form: two spellings of one UUID must not be two callers of one user.
    let hyphenated = Some(subject)
        .filter(|subject| subject.len() == 36)
        .and_then(|subject| Uuid::try_parse(subject).ok());
    hyphenated.unwrap_or_else(|| {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("{issuer}#{subject}").as_bytes(),
        )
    })
}

/// What a token must be to verify with `algorithm`: `exp` always, `nbf` when present, the issuer
/// and audience when configured.
fn validation(rules: &TokenRules, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = rules.leeway.as_secs();
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    match &rules.issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &rules.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// The check a token failed, from jsonwebtoken's error.
fn classify(kind: &ErrorKind) -> InvalidToken {
    match kind {
        ErrorKind::InvalidSignature => InvalidToken::BadSignature,
        ErrorKind::ExpiredSignature => InvalidToken::Expired,
        ErrorKind::ImmatureSignature => InvalidToken::NotYetValid,
        ErrorKind::InvalidIssuer => InvalidToken::WrongIssuer,
        ErrorKind::InvalidAudience => InvalidToken::WrongAudience,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            InvalidToken::DisallowedAlgorithm
        }
        ErrorKind::MissingRequiredClaim(_) => InvalidToken::MissingClaim,
        _ => InvalidToken::Malformed,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_map_to_user_ids() {
        let uuid = "860dc360-5b1e-4e0b-9a3c-1f2d3e4c5b6a";
        assert_eq!(
            user_id_of("https://ep.neon.tech", uuid).to_string(),
            uuid,
            "a UUID subject is the user id as it is"
        );
        let clerk = user_id_of("https://clerk.example.com", "user_2abc");
        assert_eq!(clerk, user_id_of("https://clerk.example.com", "user_2abc"));
        assert_eq!(clerk.get_version_num(), 5);
        assert_ne!(
            clerk,
            user_id_of("https://other.example.com", "user_2abc"),
            "the same subject of another issuer is another user"
        );
        assert_eq!(
            clerk,
            Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://clerk.example.com#user_2abc")
        );
        let simple = uuid.replace('-', "");
        assert_ne!(
            user_id_of("https://ep.neon.tech", &simple).to_string(),
            uuid,
            "another spelling of a UUID is another subject"
        );
    }

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(bearer_token(b"Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(bearer_token(b"bearer  abc"), Ok("abc"));
        assert_eq!(
            bearer_token(b"Basic dXNlcjpwYXNz"),
            Err(AuthFailure::MissingToken)
        );
        assert_eq!(
            bearer_token(b"Bearer"),
            Err(AuthFailure::InvalidToken(InvalidToken::Malformed))
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            bearer_token(long.as_bytes()),
            Err(AuthFailure::InvalidToken(InvalidToken::TooLong))
        );
    }
}
