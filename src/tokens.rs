//! The keys that seal list cursors and sync tokens: each token is encrypted and authenticated
//! (AES-256-GCM-SIV) under the current key and names that key by a short id, so that any key still
//! accepted opens it and a key no longer held is told from a forgery.

use aes_gcm_siv::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

/// Bytes of a token naming its key: the first bytes of a hash of the key, never the key.
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A secret shorter than `TokenKey::MIN_SECRET_LEN` bytes: `len` is how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at least {} bytes long (got {len})", TokenKey::MIN_SECRET_LEN)]
pub struct SecretTooShort {
    pub len: usize,
}

/// One key: the cipher a secret derives, and the id tokens name it by.
#[derive(Clone)]
pub struct TokenKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256GcmSiv,
}

impl TokenKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_SECRET_LEN: usize = 32;

    /// The key of a secret: the same on every instance, and across restarts.
    pub fn from_secret(secret: &str) -> Result<Self, SecretTooShort> {
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(SecretTooShort { len: secret.len() });
        }
        let id = derive(secret, b"task-api token key id");
        Ok(Self {
            id: id[..KEY_ID_LEN]
                .try_into()
                .expect("a hash is longer than an id"),
            cipher: Aes256GcmSiv::new(&derive(secret, b"task-api token cipher").into()),
        })
    }

    /// A new random secret (32 random bytes, base64url): what the database keeps when
    /// `CURSOR_SECRET` is not set.
    pub fn new_secret() -> String {
        URL_SAFE_NO_PAD.encode(<[u8; 32]>::generate())
    }

    /// A key of a new random secret.
    pub fn random() -> Self {
        Self::from_secret(&Self::new_secret()).expect("a new secret is long enough")
    }

    /// The id tokens name this key by, in hex (for logs).
    pub fn id(&self) -> String {
        self.id.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn decrypt(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: &self.id,
        };
        self.cipher.decrypt(&nonce, payload).ok()
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({})", self.id())
    }
}

/// HMAC-SHA256 of `purpose` under `secret`: a key of its own for each use of one secret.
fn derive(secret: &str, purpose: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

/// Why a token cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// It names a key this server does not hold (any more): made before a key was retired, or by
    /// a server with another key.
    UnknownKey,
    /// It is not a token this server's keys made: changed, truncated or made up.
    Invalid,
}

/// The key that seals new tokens, and the previous ones that still open old tokens.
#[derive(Clone, Debug)]
pub struct TokenKeys {
    current: TokenKey,
    previous: Vec<TokenKey>,
}

impl TokenKeys {
    pub fn new(current: TokenKey, previous: Vec<TokenKey>) -> Self {
        Self { current, previous }
    }

    pub fn current(&self) -> &TokenKey {
        &self.current
    }

    pub fn previous(&self) -> &[TokenKey] {
        &self.previous
    }

    /// An opaque token of `value`: base64url of the current key's id, a random nonce, and the
    /// value's JSON encrypted and authenticated (with the key id) under that key.
    pub fn seal<T: Serialize>(&self, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("a token's value always serialises");
        let key = &self.current;
        let nonce = Nonce::generate();
        let payload = Payload {
            msg: &json,
            aad: &key.id,
        };
        let ciphertext = key
            .cipher
            .encrypt(&nonce, payload)
            .expect("a token's value is far below the cipher's limit");
        URL_SAFE_NO_PAD.encode([&key.id[..], &nonce[..], &ciphertext].concat())
    }

    /// The value of a token that one of these keys sealed.
    pub fn open<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Invalid)?;
        if bytes.len() < KEY_ID_LEN + NONCE_LEN + TAG_LEN {
            return Err(TokenError::Invalid);
        }
        let (id, sealed) = bytes.split_at(KEY_ID_LEN);
        // Two keys may share an id (one chance in 2³²): each of them is tried.
        let mut named = std::iter::once(&self.current)
            .chain(&self.previous)
            .filter(|key| key.id == id)
            .peekable();
        if named.peek().is_none() {
            return Err(TokenError::UnknownKey);
        }
        let json = named
            .find_map(|key| key.decrypt(sealed))
            .ok_or(TokenError::Invalid)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(current: &TokenKey, previous: &[&TokenKey]) -> TokenKeys {
        TokenKeys::new(
            current.clone(),
            previous.iter().map(|key| (*key).clone()).collect(),
        )
    }

    #[test]
    fn a_token_opens_under_its_key_and_hides_what_it_holds() {
        let keys = keys(&TokenKey::random(), &[]);
        let value = ("a search term".to_owned(), 42);
        let token = keys.seal(&value);
        assert_eq!(keys.open::<(String, i64)>(&token), Ok(value.clone()));
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("search"));
        assert!(!token.contains("search"));
        assert_ne!(keys.seal(&value), token, "a new nonce each time");
    }

    #[test]
    fn a_configured_secret_seals_alike_in_every_process() {
        let secret = "x".repeat(TokenKey::MIN_SECRET_LEN);
        let one = keys(&TokenKey::from_secret(&secret).unwrap(), &[]);
        let other = keys(&TokenKey::from_secret(&secret).unwrap(), &[]);
        assert_eq!(other.open::<u8>(&one.seal(&7u8)), Ok(7));
        assert_eq!(one.current().id(), other.current().id());
        assert_eq!(one.current().id().len(), 2 * KEY_ID_LEN);
        assert!(TokenKey::from_secret("short").is_err());
        assert!(TokenKey::new_secret().len() >= TokenKey::MIN_SECRET_LEN);
        assert!(!format!("{one:?}").contains(&secret));
    }

    #[test]
    fn previous_keys_open_old_tokens_and_new_tokens_use_the_current_key() {
        let (old, new) = (TokenKey::random(), TokenKey::random());
        let before = keys(&old, &[]);
        let during = keys(&new, &[&old]);
        let after = keys(&new, &[]);
        let old_token = before.seal(&1u8);
        assert_eq!(during.open::<u8>(&old_token), Ok(1));
        let new_token = during.seal(&2u8);
        assert_eq!(after.open::<u8>(&new_token), Ok(2));
        assert_eq!(after.open::<u8>(&old_token), Err(TokenError::UnknownKey));
        assert_eq!(before.open::<u8>(&new_token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn changed_truncated_and_made_up_tokens_are_invalid() {
        let keys = keys(&TokenKey::random(), &[]);
        let token = keys.seal(&"value");
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for at in [KEY_ID_LEN, KEY_ID_LEN + NONCE_LEN, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            let changed = URL_SAFE_NO_PAD.encode(changed);
            assert_eq!(keys.open::<String>(&changed), Err(TokenError::Invalid));
        }
        let truncated = URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]);
        assert_eq!(keys.open::<String>(&truncated), Err(TokenError::Invalid));
        for made_up in ["", "made-up", "not base64!", &"A".repeat(20)] {
            assert_eq!(keys.open::<String>(made_up), Err(TokenError::Invalid));
        }
        // A changed key id names a key this server does not hold.
        let mut renamed = bytes;
        renamed[0] ^= 1;
        let renamed = URL_SAFE_NO_PAD.encode(renamed);
        assert_eq!(keys.open::<String>(&renamed), Err(TokenError::UnknownKey));
        // A genuine token of another type does not open as this one.
        assert_eq!(keys.open::<u8>(&token), Err(TokenError::Invalid));
    }
}
