//! A local identity provider for the tests: signing keys made offline (RSA, P-256, P-384, Ed25519 PEM
//! files kept for tests only), tokens signed with them, and a JWKS served on 127.0.0.1 that can be
//! rotated, taken down and counted, named by an OpenID Connect discovery document.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Json};
use poem::{handler, EndpointExt, IntoResponse, Response, Route, Server};
use serde_json::{json, Value};
use task_api::config::{AuthConfig, KeySource, TokenRules};

/// The issuer and audience the tests' tokens carry.
pub const ISSUER: &str = "https://idp.task-api.test";
pub const AUDIENCE: &str = "task-api";

const RSA_PEM: &str = include_str!("keys/test-only-rsa.pem");
pub const RSA_PUBLIC_PEM: &str = include_str!("keys/test-only-rsa-public.pem");
const P256_PEM: &str = include_str!("keys/test-only-p256.pem");
const P384_PEM: &str = include_str!("keys/test-only-p384.pem");
const ED25519_PEM: &str = include_str!("keys/test-only-ed25519.pem");
const ED25519_ROTATED_PEM: &str = include_str!("keys/test-only-ed25519-rotated.pem");

/// A private key, its `kid` and its algorithm.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    pub fn rsa() -> Self {
        Self::new(
            "rsa-1",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()),
        )
    }

    pub fn p256() -> Self {
        Self::new(
            "ec-1",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(P256_PEM.as_bytes()),
        )
    }

    /// The RSA key published for RSASSA-PSS (its JWK's `alg` is PS256).
    pub fn rsa_pss() -> Self {
        Self::new(
            "rsa-pss-1",
            Algorithm::PS256,
            EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()),
        )
    }

    pub fn p384() -> Self {
        Self::new(
            "ec-384",
            Algorithm::ES384,
            EncodingKey::from_ec_pem(P384_PEM.as_bytes()),
        )
    }

    pub fn ed25519() -> Self {
        Self::new(
            "ed-1",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(ED25519_PEM.as_bytes()),
        )
    }

    /// Another Ed25519 key, for rotations.
    pub fn ed25519_rotated() -> Self {
        Self::new(
            "ed-2",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(ED25519_ROTATED_PEM.as_bytes()),
        )
    }

    /// An HS256 secret.
    pub fn secret(secret: &str) -> Self {
        Self::new(
            "hs",
            Algorithm::HS256,
            EncodingKey::from_secret(secret.as_bytes()),
        )
    }

    fn new(
        kid: &str,
        algorithm: Algorithm,
        key: jsonwebtoken::errors::Result<EncodingKey>,
    ) -> Self {
        Self {
            kid: kid.to_owned(),
            algorithm,
            key: key.expect("the test key reads"),
        }
    }

    /// The same key under another `kid`.
    pub fn with_kid(mut self, kid: &str) -> Self {
        self.kid = kid.to_owned();
        self
    }

    /// The public key as a JWKS entry.
    pub fn jwk(&self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.algorithm).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        serde_json::to_value(jwk).unwrap()
    }

    /// A token with these claims, signed with this key, naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        self.sign_with(&header, claims)
    }

    pub fn sign_with(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.key).unwrap()
    }

    /// A token with a header of any JSON (an `alg` jsonwebtoken does not name, such as
    /// `Ed25519`), signed with this key's algorithm.
    pub fn sign_with_raw_header(&self, header: &Value, claims: &Value) -> String {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, self.algorithm).unwrap();
        format!("{message}.{signature}")
    }

    /// A token for `subject`, valid for ten minutes.
    pub fn token_for(&self, subject: &str) -> String {
        self.sign(&claims_for(subject))
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The claims of a token for `subject` valid for ten minutes, from the tests' issuer and for
/// their audience.
pub fn claims_for(subject: &str) -> Value {
    let now = unix_now();
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 600 })
}

/// What the JWKS endpoint serves, and how often it was asked.
struct Published {
    keys: Vec<Value>,
    /// The `issuer` and `jwks_uri` the discovery document names.
    discovered_issuer: String,
    jwks_uri: String,
    answering: bool,
    max_age: Option<u64>,
    fetches: usize,
}

/// A JWKS endpoint on 127.0.0.1, and its discovery document.
pub struct IdentityProvider {
    pub jwks_url: String,
    /// `http://127.0.0.1:<port>`: its discovery document is under it.
    pub issuer: String,
    published: Arc<Mutex<Published>>,
}

#[handler]
fn jwks(Data(published): Data<&Arc<Mutex<Published>>>) -> Response {
    let mut published = published.lock().unwrap();
    published.fetches += 1;
    if !published.answering {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut response = Json(json!({ "keys": published.keys })).into_response();
    if let Some(seconds) = published.max_age {
        response.headers_mut().insert(
            "cache-control",
            format!("public, max-age={seconds}").parse().unwrap(),
        );
    }
    response
}

#[handler]
fn discovery(Data(published): Data<&Arc<Mutex<Published>>>) -> Response {
    let published = published.lock().unwrap();
    Json(json!({
        "issuer": published.discovered_issuer,
        "jwks_uri": published.jwks_uri,
        "authorization_endpoint": format!("{}/authorize", published.discovered_issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "EdDSA"],
    }))
    .into_response()
}

impl IdentityProvider {
    /// Serves a JWKS of `keys`' public halves.
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let published = Arc::new(Mutex::new(Published {
            keys: vec![],
            discovered_issuer: String::new(),
            jwks_uri: String::new(),
            answering: true,
            max_age: None,
            fetches: 0,
        }));
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let route = Route::new()
            .at("/.well-known/jwks.json", jwks)
            .at("/.well-known/openid-configuration", discovery)
            .data(published.clone());
        tokio::spawn(Server::new_with_acceptor(acceptor).run(route));
        let issuer = format!("http://127.0.0.1:{port}");
        let jwks_url = format!("{issuer}/.well-known/jwks.json");
        {
            let mut published = published.lock().unwrap();
            published.discovered_issuer = issuer.clone();
            published.jwks_uri = jwks_url.clone();
        }
        let provider = Self {
            jwks_url,
            issuer,
            published,
        };
        provider.publish(keys);
        provider
    }

    /// Publishes exactly these keys from now on.
    pub fn publish(&self, keys: &[&SigningKey]) {
        self.published.lock().unwrap().keys = keys.iter().map(|key| key.jwk()).collect();
    }

    /// Publishes raw JWKS entries (keys of kinds the server must refuse).
    pub fn publish_entries(&self, entries: Vec<Value>) {
        self.published.lock().unwrap().keys = entries;
    }

    /// Answers `Cache-Control: max-age=<seconds>` from now on.
    pub fn set_max_age(&self, seconds: u64) {
        self.published.lock().unwrap().max_age = Some(seconds);
    }

    /// Names this issuer in the discovery document from now on.
    pub fn set_discovered_issuer(&self, issuer: &str) {
        self.published.lock().unwrap().discovered_issuer = issuer.to_owned();
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// Server settings that find this provider's keys by discovery (`AUTH_ISSUER` alone), for
    /// the tests' audience.
    pub fn discovery_auth_config(&self) -> AuthConfig {
        AuthConfig::On(TokenRules {
            issuer: Some(self.issuer.clone()),
            ..rules(KeySource::Discovery(self.issuer.clone()))
        })
    }

    /// The claims of a token from this provider (its own issuer) for `subject`.
    pub fn claims_for(&self, subject: &str) -> Value {
        let mut claims = claims_for(subject);
        claims["iss"] = json!(self.issuer);
        claims
    }

    /// Answers 503 from now on (or again 200).
    pub fn set_answering(&self, answering: bool) {
        self.published.lock().unwrap().answering = answering;
    }

    /// How many times the JWKS was asked for.
    pub fn fetches(&self) -> usize {
        self.published.lock().unwrap().fetches
    }

    /// Server settings that trust this provider.
    pub fn auth_config(&self) -> AuthConfig {
        jwks_auth_config(&self.jwks_url)
    }
}

/// Server settings that trust HS256 tokens signed with `secret`, from the tests' issuer and for
/// their audience.
pub fn shared_secret_auth_config(secret: &str) -> AuthConfig {
    trusting(KeySource::SharedSecret(secret.as_bytes().to_vec()))
}

/// Server settings that trust the JWKS at `url` for the tests' issuer and audience.
pub fn jwks_auth_config(url: &str) -> AuthConfig {
    trusting(KeySource::Jwks(url.to_owned()))
}

/// Server settings that trust `keys` for the tests' issuer and audience, with the defaults'
/// leeway and user claim.
fn trusting(keys: KeySource) -> AuthConfig {
    AuthConfig::On(rules(keys))
}

fn rules(keys: KeySource) -> TokenRules {
    TokenRules {
        keys,
        issuer: Some(ISSUER.to_owned()),
        audience: Some(AUDIENCE.to_owned()),
        leeway: std::time::Duration::from_secs(60),
        user_claim: "sub".to_owned(),
        token_types: Vec::new(),
    }
}
