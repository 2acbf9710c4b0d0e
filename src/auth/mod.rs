//! Who is calling: bearer tokens verified against the identity provider's keys (never a call to
//! the provider per request), the caller's user id read from a claim, verified tokens remembered.

mod keys;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::{AuthConfig, TokenRules};
use keys::KeyRing;

pub use keys::{DiscoveryDocument, KeySetupError};

/// The most verified tokens remembered at once.
const VERIFIED_TOKENS_KEPT: usize = 100_000;
/// Tokens longer than this are refused unread.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    MissingToken,
    /// A token that fails a check.
    InvalidToken(InvalidToken),
    /// No key to check tokens with (the JWKS could never be fetched): the fault is the server's.
    NoUsableKey,
}

/// The check a token failed, with what the caller needs to fix it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidToken {
    /// Not three base64url parts of JSON: an opaque access token, most often.
    NotAJwt,
    TooLong,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer {
        received: String,
        expected: String,
    },
    WrongAudience {
        received: String,
        expected: String,
    },
    UnknownKey,
    /// The header's `alg` (as received) is not one the keys verify, or not the key's own.
    DisallowedAlgorithm {
        received: String,
        accepted: String,
    },
    /// The header's `typ` (as received, if any) is not one of `AUTH_TOKEN_TYPES`.
    WrongType {
        received: Option<String>,
        accepted: String,
    },
    MissingClaim(String),
    /// A time claim (`exp`, `nbf`) that is not a number.
    BadTimeClaim(&'static str),
    BadUserClaim,
}

/// The most characters of a received value a reason repeats.
const SHOWN_CHARS: usize = 80;

/// A value from a token as a reason shows it: printable ASCII, `"` as `'` and no backslash (it
/// goes into a quoted `WWW-Authenticate` parameter), at most `SHOWN_CHARS` characters.
fn shown(value: &str) -> String {
    value
        .chars()
        .take(SHOWN_CHARS)
        .map(|c| match c {
            '"' => '\'',
            ' '..='~' if c != '\\' => c,
            _ => '?',
        })
        .collect()
}

/// A claim's value as a reason shows it: a string as it is, anything else as JSON.
fn shown_claim(value: &Value) -> String {
    match value {
        Value::String(text) => shown(text),
        other => shown(&other.to_string()),
    }
}

impl InvalidToken {
    /// The reason as a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAJwt | Self::BadTimeClaim(_) => "malformed",
            Self::TooLong => "too_long",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer { .. } => "wrong_issuer",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::UnknownKey => "unknown_key",
            Self::DisallowedAlgorithm { .. } => "disallowed_algorithm",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingClaim(_) => "missing_claim",
            Self::BadUserClaim => "bad_user_claim",
        }
    }

    /// The reason as the caller reads it in `error_description`: what to fix.
    pub fn description(&self) -> String {
        match self {
            Self::NotAJwt => "the token is not a JWT (an opaque access token? ask the provider \
                              for a JWT for this audience)"
                .to_owned(),
            Self::TooLong => format!("the token is longer than {MAX_TOKEN_BYTES} bytes"),
            Self::BadSignature => "the token's signature does not verify".to_owned(),
            Self::Expired => "the token has expired (exp)".to_owned(),
            Self::NotYetValid => "the token is not valid yet (nbf)".to_owned(),
            Self::WrongIssuer { received, expected } => format!(
                "the token's issuer (iss) is {received}, and this server expects {}",
                shown(expected)
            ),
            Self::WrongAudience { received, expected } => format!(
                "the token's audience (aud) is {received}, which does not include {}",
                shown(expected)
            ),
            Self::UnknownKey => {
                "the token is signed with a key (kid) the issuer does not publish".to_owned()
            }
            Self::DisallowedAlgorithm { received, accepted } => format!(
                "the token's algorithm (alg) {received} is not accepted for its key (accepted: \
                 {accepted})"
            ),
            Self::WrongType { received, accepted } => {
                format!(
                "the token's type (typ) is {}, and this server accepts {accepted} (an ID token \
                 is not an access token)",
                received.as_deref().map_or_else(|| "missing".to_owned(), shown)
            )
            }
            Self::MissingClaim(claim) => format!("the token lacks the {claim} claim"),
            Self::BadTimeClaim(claim) => {
                format!("the token's {claim} claim is not a number of seconds (NumericDate)")
            }
            Self::BadUserClaim => "the token's user claim is not a non-empty string".to_owned(),
        }
    }
}

impl AuthFailure {
    /// The reason as a metric label.
    pub fn reason(&self) -> &'static str {
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
    pub async fn start(config: &AuthConfig) -> Result<Self, KeySetupError> {
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
        return Err(AuthFailure::InvalidToken(InvalidToken::NotAJwt));
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
    issuer: Option<String>,
    audience: Option<String>,
    /// The `typ` values accepted, lowercase; empty: any (or none).
    token_types: Vec<String>,
    user_claim: String,
    leeway_secs: u64,
    /// Keyed by the token's SHA-256.
    verified: quick_cache::sync::Cache<[u8; 32], VerifiedCaller>,
}

/// A token split into its parts, its header and claims read as JSON objects.
struct TokenParts<'a> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// What the signature signs: the header and claims parts as sent.
    signed: &'a str,
    signature: &'a str,
}

impl<'a> TokenParts<'a> {
    fn split(token: &'a str) -> Result<Self, AuthFailure> {
        let not_a_jwt = AuthFailure::InvalidToken(InvalidToken::NotAJwt);
        let (signed, signature) = token.rsplit_once('.').ok_or(not_a_jwt.clone())?;
        let (header, claims) = signed.split_once('.').ok_or(not_a_jwt.clone())?;
        let object = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .ok()
                .and_then(|json| serde_json::from_slice::<Map<String, Value>>(&json).ok())
                .ok_or(not_a_jwt.clone())
        };
        Ok(Self {
            header: object(header)?,
            claims: object(claims)?,
            signed,
            signature,
        })
    }

    fn header_text(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }
}

impl TokenVerifier {
    fn new(rules: &TokenRules, keys: KeyRing) -> Self {
        Self {
            keys,
            issuer: rules.issuer.clone(),
            audience: rules.audience.clone(),
            token_types: rules.token_types.clone(),
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
        let parts = TokenParts::split(token)?;
        let algorithm = self.accepted_algorithm(parts.header_text("alg"))?;
        self.check_type(parts.header_text("typ"))?;
        let (key, revision) = self.keys.key_for(parts.header_text("kid")).await?;
        if algorithm != key.algorithm {
            return Err(invalid(InvalidToken::DisallowedAlgorithm {
                received: format!("{algorithm:?}"),
                accepted: format!("{:?} only", key.algorithm),
            }));
        }
        let verified = jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signed.as_bytes(),
            &key.key,
            algorithm,
        );
        if !verified.unwrap_or(false) {
            return Err(invalid(InvalidToken::BadSignature));
        }
        let expires = self.check_claims(&parts.claims, now)?;
        let user_id = self.user_id(&parts.claims)?;
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

    /// The header's `alg` when the keys verify it (`Ed25519` is `EdDSA`'s newer name, RFC 9864).
    fn accepted_algorithm(&self, alg: Option<&str>) -> Result<Algorithm, AuthFailure> {
        let algorithms = self.keys.algorithms();
        let named = match alg {
            Some("Ed25519") => Some(Algorithm::EdDSA),
            Some(alg) => alg.parse::<Algorithm>().ok(),
            None => None,
        };
        named
            .filter(|algorithm| algorithms.contains(algorithm))
            .ok_or_else(|| {
                let accepted: Vec<String> = algorithms
                    .iter()
                    .map(|algorithm| format!("{algorithm:?}"))
                    .collect();
                AuthFailure::InvalidToken(InvalidToken::DisallowedAlgorithm {
                    received: alg.map_or_else(|| "(none)".to_owned(), shown),
                    accepted: accepted.join(", "),
                })
            })
    }

    /// The header's `typ` must be one of `AUTH_TOKEN_TYPES`, when set (`application/` may
    /// prefix it, RFC 7515 §4.1.9).
    fn check_type(&self, typ: Option<&str>) -> Result<(), AuthFailure> {
        if self.token_types.is_empty() {
            return Ok(());
        }
        let typ_matches = typ.is_some_and(|typ| {
            let typ = typ.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            self.token_types.iter().any(|accepted| accepted == typ)
        });
        if typ_matches {
            return Ok(());
        }
        Err(AuthFailure::InvalidToken(InvalidToken::WrongType {
            received: typ.map(str::to_owned),
            accepted: self.token_types.join(", "),
        }))
    }

    /// Checks `exp` (required), `nbf` (when present), `iss` and `aud` (when configured), within
    /// the leeway; returns `exp`.
    fn check_claims(&self, claims: &Map<String, Value>, now: u64) -> Result<u64, AuthFailure> {
        let invalid = AuthFailure::InvalidToken;
        let time = |name: &'static str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(|secs| Some(secs.max(0.0) as u64))
                .ok_or(invalid(InvalidToken::BadTimeClaim(name))),
        };
        let expires = time("exp")?.ok_or(invalid(InvalidToken::MissingClaim("exp".to_owned())))?;
        if expires.saturating_add(self.leeway_secs) < now {
            return Err(invalid(InvalidToken::Expired));
        }
        if time("nbf")?.is_some_and(|not_before| not_before > now.saturating_add(self.leeway_secs))
        {
            return Err(invalid(InvalidToken::NotYetValid));
        }
        if let Some(expected) = &self.issuer {
            match claims.get("iss") {
                None => return Err(invalid(InvalidToken::MissingClaim("iss".to_owned()))),
                Some(Value::String(issuer)) if issuer == expected => {}
                Some(received) => {
                    return Err(invalid(InvalidToken::WrongIssuer {
                        received: shown_claim(received),
                        expected: expected.clone(),
                    }))
                }
            }
        }
        if let Some(expected) = &self.audience {
            let received = claims.get("aud");
            let included = match received {
                None => return Err(invalid(InvalidToken::MissingClaim("aud".to_owned()))),
                Some(Value::String(audience)) => audience == expected,
                Some(Value::Array(audiences)) => audiences
                    .iter()
                    .any(|audience| audience.as_str() == Some(expected)),
                Some(_) => false,
            };
            if !included {
                return Err(invalid(InvalidToken::WrongAudience {
                    received: received.map(shown_claim).unwrap_or_default(),
                    expected: expected.clone(),
                }));
            }
        }
        Ok(expires)
    }

    /// The claim's value when it is a UUID, otherwise `UUIDv5(NAMESPACE_URL, "<iss>#<claim>")`.
    fn user_id(&self, claims: &Map<String, Value>) -> Result<Uuid, AuthFailure> {
        let subject = match claims.get(&self.user_claim) {
            None => {
                return Err(AuthFailure::InvalidToken(InvalidToken::MissingClaim(
                    self.user_claim.clone(),
                )))
            }
            Some(Value::String(subject)) if !subject.is_empty() => subject,
            Some(_) => return Err(AuthFailure::InvalidToken(InvalidToken::BadUserClaim)),
        };
        let issuer = match claims.get("iss") {
            Some(Value::String(issuer)) => issuer.as_str(),
            _ => self.issuer.as_deref().unwrap_or_default(),
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
            Err(AuthFailure::InvalidToken(InvalidToken::NotAJwt))
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(
            bearer_token(long.as_bytes()),
            Err(AuthFailure::InvalidToken(InvalidToken::TooLong))
        );
    }
}
