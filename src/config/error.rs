//! What is wrong with a setting that stops the server at start: the setting, what is wrong with
//! it, and the one line that tells the operator both.

use std::fmt;
use std::time::Duration;

use crate::db::DatabaseUrlError;
use crate::tokens::SecretTooShort;

use super::MIN_SECRET_BYTES;

/// A setting that stops the server from starting, and what is wrong with it.
#[derive(Debug)]
pub struct ConfigError {
    /// The variable the line names first (for a rule between settings, the one it is about).
    pub setting: &'static str,
    pub problem: ConfigProblem,
}

/// What is wrong with a setting.
#[derive(Debug)]
pub enum ConfigProblem {
    /// Set to nothing but whitespace (never read as unset).
    Blank,
    /// Not a value of the setting's type; `like` is its default.
    NotParsed { value: String, like: String },
    /// A value of the setting's type that it does not allow; `like` is its default.
    OutOfRange { value: String, like: String },
    /// A timeout that does not end before `limit_setting`'s, as it must.
    NotBelow {
        value: Duration,
        limit_setting: &'static str,
        limit: Duration,
    },
    /// Not a database URL the server can use.
    DatabaseUrl(DatabaseUrlError),
    /// A URL for PostgreSQL's `LISTEN` while the database is SQLite.
    ListenBesideSqlite,
    /// A database URL that is not PostgreSQL's, where only PostgreSQL will do.
    NotPostgres,
    /// Neither an IP address nor a host name.
    NotAHost { value: String },
    /// An empty entry in a comma-separated list.
    EmptyEntry,
    /// An entry of a comma-separated list that is not what the list holds.
    BadEntry {
        entry: String,
        problem: EntryProblem,
    },
    /// `CURSOR_SECRET` is too short to derive a key from.
    ShortCursorSecret(SecretTooShort),
    /// One of `CURSOR_SECRET_PREVIOUS`'s secrets (`number` counts from 1) is too short.
    ShortPreviousCursorSecret {
        number: usize,
        problem: SecretTooShort,
    },
    /// A filter the log cannot read.
    LogFilter {
        value: String,
        reason: tracing_subscriber::filter::ParseError,
    },
    /// Neither `pretty` nor `json`.
    UnknownLogFormat { value: String },
    /// Set beside `other`, which sets the same thing another way.
    ExclusiveWith { other: &'static str },
    /// Keys (or the document naming them) could be anyone's from this URL: not https, or http
    /// beyond this machine.
    NotAKeyUrl { value: String },
    /// An issuer whose discovery document could be anyone's: not https, or http beyond this
    /// machine.
    NotADiscoveryIssuer { value: String },
    /// An HS256 secret of `bytes` bytes, shorter than `MIN_SECRET_BYTES`.
    ShortSharedSecret { bytes: usize },
    /// Shapes authentication, which is off.
    RefinesNoAuthentication,
    /// Authentication is off on a host (`value`) other machines can reach.
    UnauthenticatedBeyondLoopback { value: String },
    /// `AUTH_DISABLED=true` beside a setting that turns authentication on.
    ContradictsAuthentication,
    /// `AUTH_ISSUER` is missing beside `AUTH_JWKS_URL`.
    IssuerRequiredWithJwks,
    /// `CORS_ALLOW_HEADERS` without `CORS_ORIGINS`.
    HeadersWithoutOrigins,
}

impl ConfigError {
    pub fn new(setting: &'static str, problem: ConfigProblem) -> Self {
        Self { setting, problem }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setting = self.setting;
        match &self.problem {
            ConfigProblem::Blank => write!(
                f,
                "{setting} is set but blank: give it a value or unset it (a blank value is never \
                 read as unset)"
            ),
            ConfigProblem::NotParsed { value, like }
            | ConfigProblem::OutOfRange { value, like } => {
                write!(
                    f,
                    "{setting} is invalid: {value:?} (expected a value like {like})"
                )
            }
            ConfigProblem::NotBelow {
                value,
                limit_setting,
                limit,
            } => write!(
                f,
                "{setting} ({} ms) must be below {limit_setting} ({} ms)",
                value.as_millis(),
                limit.as_millis()
            ),
            ConfigProblem::DatabaseUrl(reason) => write!(f, "{setting} is invalid: {reason}"),
            ConfigProblem::ListenBesideSqlite => write!(
                f,
                "{setting} is set but DATABASE_URL is SQLite: the listener is for PostgreSQL \
                 only (SQLite's changes are told within the process)"
            ),
            ConfigProblem::NotPostgres => {
                write!(f, "{setting} is invalid: it must be a PostgreSQL URL")
            }
            ConfigProblem::NotAHost { value } => write!(
                f,
                "{setting} is invalid: {value:?} (expected an address such as 127.0.0.1, 0.0.0.0 \
                 or ::, or a host name)"
            ),
            ConfigProblem::EmptyEntry => {
                write!(f, "{setting} is invalid: an empty entry (a stray comma?)")
            }
            ConfigProblem::BadEntry { entry, problem } => {
                write!(f, "{setting} is invalid: {entry:?}: {problem}")
            }
            ConfigProblem::ShortCursorSecret(problem) => {
                write!(f, "{setting} is invalid: it {problem}")
            }
            ConfigProblem::ShortPreviousCursorSecret { number, problem } => {
                write!(
                    f,
                    "{setting} is invalid: its secret number {number} {problem}"
                )
            }
            ConfigProblem::LogFilter { value, reason } => write!(
                f,
                "{setting} is invalid: {value:?} ({reason}; e.g. info or task_api=debug)"
            ),
            ConfigProblem::UnknownLogFormat { value } => {
                write!(f, "{setting} must be pretty or json, got {value:?}")
            }
            ConfigProblem::ExclusiveWith { other } => {
                write!(f, "set {setting} or {other}, not both")
            }
            ConfigProblem::NotAKeyUrl { value } => write!(
                f,
                "{setting} is invalid: {value:?} (expected an https URL such as \
                 https://example.com/.well-known/jwks.json; http only on a loopback host)"
            ),
            ConfigProblem::NotADiscoveryIssuer { value } => write!(
                f,
                "{setting} is invalid for OpenID Connect discovery: {value:?} (expected the \
                 provider's https URL, e.g. https://idp.example.com; http only on a loopback \
                 host; or set AUTH_JWKS_URL or AUTH_JWT_SECRET beside it)"
            ),
            ConfigProblem::ShortSharedSecret { bytes } => write!(
                f,
                "{setting} is invalid: it has {bytes} bytes, and an HS256 secret needs at least \
                 {MIN_SECRET_BYTES}"
            ),
            ConfigProblem::RefinesNoAuthentication => write!(
                f,
                "{setting} is set but authentication is off (no AUTH_ISSUER, AUTH_JWKS_URL or \
                 AUTH_JWT_SECRET): set the provider's, or unset {setting}"
            ),
            ConfigProblem::UnauthenticatedBeyondLoopback { value } => write!(
                f,
                "authentication is off (none of AUTH_ISSUER, AUTH_JWKS_URL, AUTH_JWT_SECRET is \
                 set) and {setting}={value} is not a loopback address: set one of them, or \
                 AUTH_DISABLED=true when a gateway in front authenticates every request"
            ),
            ConfigProblem::ContradictsAuthentication => write!(
                f,
                "{setting}=true contradicts AUTH_ISSUER, AUTH_JWKS_URL or AUTH_JWT_SECRET: set \
                 one or the other"
            ),
            ConfigProblem::IssuerRequiredWithJwks => write!(
                f,
                "{setting} is required with AUTH_JWKS_URL: tokens must name the issuer whose keys \
                 sign them"
            ),
            ConfigProblem::HeadersWithoutOrigins => write!(
                f,
                "{setting} is set but CORS_ORIGINS is not: without origins there is no CORS to \
                 allow headers in"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with an entry of a comma-separated setting.
#[derive(Debug, thiserror::Error)]
pub enum EntryProblem {
    #[error(transparent)]
    Origin(#[from] OriginProblem),
    #[error(transparent)]
    HeaderName(#[from] HeaderNameProblem),
    #[error("not a token type (e.g. at+jwt or jwt)")]
    TokenType,
}

/// How `CORS_ORIGINS` entries are shown to be written.
const ORIGIN_EXAMPLE: &str = "e.g. https://app.example.com or http://localhost:5173";

/// Why a `CORS_ORIGINS` entry is not an origin as a browser sends it; `origin` is what a browser
/// would send.
#[derive(Debug, thiserror::Error)]
pub enum OriginProblem {
    #[error(
        "* is refused (answers vary by caller): list each front end's origin, {}",
        ORIGIN_EXAMPLE
    )]
    Wildcard,
    #[error(
        "no scheme: write the origin as a browser sends it, {}",
        ORIGIN_EXAMPLE
    )]
    NoScheme,
    #[error("not an origin ({0})")]
    NotAUrl(url::ParseError),
    /// A URL without a host, whose origin is opaque.
    #[error("not an origin: {}", ORIGIN_EXAMPLE)]
    Opaque,
    #[error("no trailing slash (a browser sends {origin})")]
    TrailingSlash { origin: String },
    #[error("no query or fragment (a browser sends {origin})")]
    QueryOrFragment { origin: String },
    #[error("no path (a browser sends {origin})")]
    Path { origin: String },
    /// Another spelling of the origin: case, a default port, user information.
    #[error("write it as a browser sends it: {origin}")]
    NotAsSent { origin: String },
}

/// Why a `CORS_ALLOW_HEADERS` entry is not a header name.
#[derive(Debug, thiserror::Error)]
pub enum HeaderNameProblem {
    #[error("* is refused: name each header, e.g. traceparent")]
    Wildcard,
    #[error("not a header name (letters, digits and !#$%&'*+-.^_`|~ only)")]
    NotAName,
}
