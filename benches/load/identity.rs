//! The identity provider of the authenticated scenario: a JWKS served on 127.0.0.1, and tokens.

use std::io::{Read, Write};
use std::net::TcpListener;

use chrono::Utc;
use uuid::Uuid;

use anyhow::{anyhow, Context, Result};

/// The test-only Ed25519 key the integration tests sign with too.
pub(crate) const SIGNING_KEY_PEM: &str = include_str!("../../tests/api/keys/test-only-ed25519.pem");
pub(crate) const ISSUER: &str = "https://idp.load-benchmark.test";
pub(crate) const KEY_ID: &str = "bench-ed25519";

/// A JWKS of one Ed25519 key served on 127.0.0.1 (by a thread, one connection at a time: the
/// server fetches it once at start), and tokens signed with the key.
pub(crate) struct IdentityProvider {
    pub(crate) jwks_url: String,
    pub(crate) key: jsonwebtoken::EncodingKey,
}

impl IdentityProvider {
    pub(crate) fn start() -> Result<Self> {
        let key = jsonwebtoken::EncodingKey::from_ed_pem(SIGNING_KEY_PEM.as_bytes())
            .map_err(|err| anyhow!("the signing key: {err}"))?;
        let mut jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::EdDSA)
                .map_err(|err| anyhow!("the JWK: {err}"))?;
        jwk.common.key_id = Some(KEY_ID.to_owned());
        let body = serde_json::json!({ "keys": [jwk] }).to_string();
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen for the JWKS")?;
        let jwks_url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().context("the JWKS address")?
        );
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Ok(Self { jwks_url, key })
    }

    /// What a server needs to trust this provider.
    pub(crate) fn server_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AUTH_JWKS_URL", self.jwks_url.clone()),
            ("AUTH_ISSUER", ISSUER.to_owned()),
            ("AUTH_AUDIENCE", "task-api".to_owned()),
        ]
    }

    /// A token for `user`, valid for a day.
    pub(crate) fn token_for(&self, user: Uuid) -> String {
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": ISSUER, "aud": "task-api", "sub": user, "iat": now, "exp": now + 86_400,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(KEY_ID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("an Ed25519 key signs")
    }
}
