//! The keys tokens are checked with: an HS256 shared secret, or the identity provider's JWKS
//! (named by its OpenID Connect discovery document, or configured), fetched at start, cached by
//! `kid`, refetched once on an unknown `kid` (at most every 30 s) and refreshed in the
//! background; a failed fetch (a set with two keys under one `kid` among them) keeps the keys
//! already known, and a well-formed set replaces them, even with no usable key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::{AuthFailure, InvalidToken};
use crate::config::KeySource;

/// How long a fetch of the JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The least time between two refetches an unknown `kid` (or an empty key set) asks for.
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How often the key set is refreshed when its response says nothing (`Cache-Control: max-age`).
const DEFAULT_REFRESH: Duration = Duration::from_secs(600);
/// The bounds put on a `max-age`.
const REFRESH_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(86_400));
/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The algorithms JWKS keys may have; a key is used with its own only.
const JWKS_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A key and the one algorithm it verifies.
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
    /// The public key's parameters as published, to tell when a `kid` names another key.
    material: String,
}

/// Where verifying keys come from.
pub enum KeyRing {
    Shared(Arc<VerifyingKey>),
    Jwks(Arc<JwksCache>),
}

/// Why the keys tokens are checked with cannot be set up at start.
#[derive(Debug, thiserror::Error)]
pub enum KeySetupError {
    #[error("AUTH_JWT_SECRET is not usable: {0}")]
    UnusableSecret(jsonwebtoken::errors::Error),
    #[error("cannot make the JWKS client: {0}")]
    Client(reqwest::Error),
    #[error(
        "AUTH_JWKS_URL {0}: set AUTH_JWKS_URL to its jwks_uri, or unset it and keep AUTH_ISSUER \
         alone (discovery)"
    )]
    JwksUrlIsDiscovery(DiscoveryDocument),
}

/// A discovery document fetched where a key set was expected, and the key set it names.
#[derive(Debug, thiserror::Error)]
#[error("answers an OpenID Connect discovery document, not a key set (its jwks_uri is {jwks_uri})")]
pub struct DiscoveryDocument {
    pub jwks_uri: String,
}

/// Why a fetch of the key set failed (the keys already known stay in use).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Request(reqwest::Error),
    #[error("it answered {0}")]
    Status(reqwest::StatusCode),
    #[error("the document is over {} bytes", MAX_JWKS_BYTES)]
    TooLarge,
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "the discovery document names the issuer {named:?}, not AUTH_ISSUER {issuer:?}: it is \
         not trusted"
    )]
    WrongIssuer {
        named: Option<String>,
        issuer: String,
    },
    #[error(
        "the discovery document's jwks_uri {url:?} is not an https URL (http only on a loopback \
         host)"
    )]
    JwksUriNotKeyUrl { url: Option<String> },
    #[error(transparent)]
    NotAKeySet(DiscoveryDocument),
    #[error("the document has no \"keys\" array")]
    NoKeys,
    #[error("it lists two keys under the kid {0:?}: which one signs is unknown")]
    DuplicateKid(String),
}

impl KeyRing {
    pub async fn start(source: &KeySource) -> Result<Self, KeySetupError> {
        match source {
            KeySource::SharedSecret(secret) => Ok(Self::Shared(Arc::new(VerifyingKey {
                key: DecodingKey::from_secret(secret).map_err(KeySetupError::UnusableSecret)?,
                algorithm: Algorithm::HS256,
                material: String::new(),
            }))),
            KeySource::Jwks(url) => Ok(Self::Jwks(JwksCache::start(url.clone(), None).await?)),
            KeySource::Discovery(issuer) => {
                let document = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                Ok(Self::Jwks(
                    JwksCache::start(document, Some(issuer.clone())).await?,
                ))
            }
        }
    }

    /// The algorithms tokens may be signed with.
    pub fn algorithms(&self) -> &'static [Algorithm] {
        match self {
            Self::Shared(_) => &[Algorithm::HS256],
            Self::Jwks(_) => JWKS_ALGORITHMS,
        }
    }

    pub fn has_keys(&self) -> bool {
        match self {
            Self::Shared(_) => true,
            Self::Jwks(cache) => !cache.current().keys.is_empty(),
        }
    }

    /// Goes up whenever a refresh drops or changes a key: what verified before may not now.
    pub fn revision(&self) -> u64 {
        match self {
            Self::Shared(_) => 0,
            Self::Jwks(cache) => cache.revision.load(Ordering::Acquire),
        }
    }

    /// The key a token names (by `kid`; a token without one when there is only one key), and
    /// the revision it belongs to.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
    ) -> Result<(Arc<VerifyingKey>, u64), AuthFailure> {
        match self {
            Self::Shared(key) => Ok((key.clone(), 0)),
            Self::Jwks(cache) => cache.key_for(kid).await,
        }
    }
}

/// The keys of one fetch of the JWKS.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<VerifyingKey>>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<VerifyingKey>> {
        match kid {
            Some(kid) => self.keys.get(kid).cloned(),
            None if self.keys.len() == 1 => self.keys.values().next().cloned(),
            None => None,
        }
    }
}

pub struct JwksCache {
    /// The JWKS, or with `issuer` the discovery document that names it.
    url: String,
    /// With discovery: the issuer the document must name exactly.
    issuer: Option<String>,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    revision: AtomicU64,
    /// Held while a refetch runs (single flight); the time of the last one asked for.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl JwksCache {
    /// Fetches the keys now (a failure is logged: tokens get 503 until a fetch succeeds; a JWKS
    /// URL that answers a discovery document stops start) and refreshes them in the background
    /// while the cache lives.
    async fn start(url: String, issuer: Option<String>) -> Result<Arc<Self>, KeySetupError> {
        // reqwest is built without a crypto provider of its own: use ring, as sqlx does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // The configured URL is the one trusted: a redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(KeySetupError::Client)?;
        let cache = Arc::new(Self {
            url,
            issuer,
            client,
            keys: RwLock::new(Arc::default()),
            revision: AtomicU64::new(0),
            last_refetch: tokio::sync::Mutex::new(None),
        });
        let first = match cache.refresh().await {
            Err(FetchError::NotAKeySet(document)) => {
                return Err(KeySetupError::JwksUrlIsDiscovery(document))
            }
            outcome => outcome.ok(),
        };
        tokio::spawn(keep_fresh(Arc::downgrade(&cache), first));
        Ok(cache)
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().expect("never poisoned").clone()
    }

    /// The key `kid` names in the set known now, with the revision it belongs to.
    fn known_key(&self, kid: Option<&str>) -> Result<(Arc<VerifyingKey>, u64), AuthFailure> {
        let revision = self.revision.load(Ordering::Acquire);
        let known = self.current();
        match known.find(kid) {
            Some(key) => Ok((key, revision)),
            None if known.keys.is_empty() => Err(AuthFailure::NoUsableKey),
            None => Err(AuthFailure::InvalidToken(InvalidToken::UnknownKey)),
        }
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<(Arc<VerifyingKey>, u64), AuthFailure> {
        if let Ok(found) = self.known_key(kid) {
            return Ok(found);
        }
        let mut last_refetch = self.last_refetch.lock().await;
        // Another request may have refetched while this one waited.
        if let Ok(found) = self.known_key(kid) {
            return Ok(found);
        }
        if last_refetch.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL) {
            *last_refetch = Some(Instant::now());
            let _ = self.refresh().await;
        }
        drop(last_refetch);
        self.known_key(kid)
    }

    /// Fetches the key set and puts it in place (a failure keeps the old one); returns the
    /// set's `max-age`, or why the fetch failed.
    async fn refresh(&self) -> Result<Duration, FetchError> {
        match self.fetch().await {
            Ok((fetched, max_age)) => {
                let mut keys = self.keys.write().expect("never poisoned");
                let dropped = keys.keys.iter().any(|(kid, old)| {
                    fetched.keys.get(kid).is_none_or(|new| {
                        new.algorithm != old.algorithm || new.material != old.material
                    })
                });
                let usable = fetched.keys.len();
                *keys = Arc::new(fetched);
                if dropped {
                    self.revision.fetch_add(1, Ordering::AcqRel);
                }
                if usable == 0 {
                    // The provider's word: every key is revoked. Asked again sooner.
                    tracing::warn!(
                        url = %self.url,
                        "the JWKS lists no usable signing key: no token can be checked"
                    );
                    return Ok(max_age.unwrap_or(DEFAULT_REFRESH).min(REFETCH_INTERVAL));
                }
                tracing::info!(url = %self.url, keys = usable, "JWKS fetched");
                Ok(max_age.unwrap_or(DEFAULT_REFRESH))
            }
            Err(reason) => {
                metrics::counter!("auth_jwks_fetch_failures_total").increment(1);
                tracing::warn!(
                    url = %self.url,
                    %reason,
                    known_keys = self.current().keys.len(),
                    "cannot fetch the JWKS; the keys already known stay in use"
                );
                Err(reason)
            }
        }
    }

    /// The JWKS's URL: the configured one, or the one the discovery document names when it
    /// names the issuer exactly.
    async fn jwks_url(&self) -> Result<String, FetchError> {
        let Some(issuer) = &self.issuer else {
            return Ok(self.url.clone());
        };
        let (document, _) = self.get_json(&self.url).await?;
        match document.get("issuer").and_then(Value::as_str) {
            Some(named) if named == issuer => {}
            named => {
                return Err(FetchError::WrongIssuer {
                    named: named.map(str::to_owned),
                    issuer: issuer.clone(),
                })
            }
        }
        match document.get("jwks_uri").and_then(Value::as_str) {
            Some(url) if crate::config::is_key_url(url) => Ok(url.to_owned()),
            url => Err(FetchError::JwksUriNotKeyUrl {
                url: url.map(str::to_owned),
            }),
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), FetchError> {
        let url = self.jwks_url().await?;
        let (document, max_age) = self.get_json(&url).await?;
        let Some(entries) = document.get("keys").and_then(Value::as_array) else {
            if let Some(named) = document.get("jwks_uri").and_then(Value::as_str) {
                return Err(FetchError::NotAKeySet(DiscoveryDocument {
                    jwks_uri: named.to_owned(),
                }));
            }
            return Err(FetchError::NoKeys);
        };
        let mut set = KeySet::default();
        for entry in entries {
            match verifying_key(entry) {
                Ok((kid, key)) => {
                    if set.keys.insert(kid.clone(), Arc::new(key)).is_some() {
                        return Err(FetchError::DuplicateKid(kid));
                    }
                }
                Err(reason) => tracing::warn!(
                    url = %url,
                    kid = entry.get("kid").and_then(serde_json::Value::as_str),
                    %reason,
                    "a JWKS key is skipped"
                ),
            }
        }
        Ok((set, max_age))
    }

    /// The JSON document at `url` (at most `MAX_JWKS_BYTES`) and its `max-age`.
    async fn get_json(&self, url: &str) -> Result<(Value, Option<Duration>), FetchError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(FetchError::Request)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Request)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
        }
        let document: Value = serde_json::from_slice(&body).map_err(FetchError::NotJson)?;
        Ok((document, max_age))
    }
}

/// Refreshes the key set when it is due (after a failed fetch: sooner, within
/// `REFETCH_INTERVAL`), until the cache is dropped.
async fn keep_fresh(cache: Weak<JwksCache>, mut outcome: Option<Duration>) {
    let mut period = DEFAULT_REFRESH;
    loop {
        let next = match outcome {
            Some(max_age) => {
                period = max_age;
                max_age
            }
            None => period.min(REFETCH_INTERVAL),
        };
        tokio::time::sleep(next).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        // One fetch at a time: an older answer never lands after a newer one.
        let _flight = cache.last_refetch.lock().await;
        outcome = cache.refresh().await.ok();
    }
}

/// Why an entry of a JWKS is skipped (the set's other keys are still used).
#[derive(Debug, thiserror::Error)]
enum SkippedKey {
    #[error("not a usable JWK: {0}")]
    NotAJwk(serde_json::Error),
    #[error("it is an encryption key (use: enc)")]
    Encryption,
    #[error("symmetric (oct) keys are never accepted from a JWKS")]
    Symmetric,
    #[error(
        "its algorithm ({0:?}) or curve is not one of RS256, PS256, ES256, ES384, EdDSA (Ed25519)"
    )]
    Unsupported(Option<KeyAlgorithm>),
    #[error("not a usable key: {0}")]
    Unusable(jsonwebtoken::errors::Error),
}

/// A key of a JWKS with its `kid` (empty when it has none), when it is a signing key of an
/// allowed kind: RSA (RS256, or PS256 when its `alg` says so), P-256 (ES256), P-384 (ES384) or
/// Ed25519 (EdDSA, `alg` `EdDSA` or its newer name `Ed25519`); never `oct`.
fn verifying_key(entry: &Value) -> Result<(String, VerifyingKey), SkippedKey> {
    let mut entry = entry.clone();
    if entry["alg"] == "Ed25519" {
        entry["alg"] = Value::from("EdDSA");
    }
    let jwk: Jwk = serde_json::from_value(entry).map_err(SkippedKey::NotAJwk)?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Err(SkippedKey::Encryption);
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::OctetKey(_), _) => return Err(SkippedKey::Symmetric),
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::RSA(_), Some(KeyAlgorithm::PS256)) => Algorithm::PS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES384))
            if ec.curve == EllipticCurve::P384 =>
        {
            Algorithm::ES384
        }
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::OctetKeyPair(okp), None | Some(KeyAlgorithm::EdDSA))
            if okp.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        (_, alg) => return Err(SkippedKey::Unsupported(alg)),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(SkippedKey::Unusable)?;
    let material = serde_json::to_string(&jwk.algorithm).unwrap_or_default();
    Ok((
        jwk.common.key_id.unwrap_or_default(),
        VerifyingKey {
            key,
            algorithm,
            material,
        },
    ))
}

/// The `max-age` of a `Cache-Control` value, within `REFRESH_BOUNDS`; none when absent or 0.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|directive| directive.trim().strip_prefix("max-age="))
        .find_map(|seconds| seconds.trim_matches('"').parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .map(|seconds| Duration::from_secs(seconds).clamp(REFRESH_BOUNDS.0, REFRESH_BOUNDS.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn max_age_is_read_and_bounded() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("max-age=0"), None);
        assert_eq!(max_age("no-cache"), None);
        assert_eq!(max_age("max-age=99999999"), Some(REFRESH_BOUNDS.1));
    }

    #[test]
    fn only_signing_keys_of_allowed_kinds_are_taken() {
        let oct = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "s"});
        assert!(verifying_key(&oct)
            .err()
            .is_some_and(|reason| reason.to_string().contains("oct")));
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "kid": "e",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let (kid, key) = verifying_key(&ed).unwrap();
        assert_eq!((kid.as_str(), key.algorithm), ("e", Algorithm::EdDSA));
        let mut enc = ed.clone();
        enc["use"] = json!("enc");
        assert!(matches!(verifying_key(&enc), Err(SkippedKey::Encryption)));
        let mut wrong_alg = ed.clone();
        wrong_alg["alg"] = json!("RS256");
        assert!(matches!(
            verifying_key(&wrong_alg),
            Err(SkippedKey::Unsupported(Some(KeyAlgorithm::RS256)))
        ));
    }
}
