//! Configuration from the environment (and `.env`), with defaults that need no setup.

mod error;

use std::time::Duration;

use crate::db::DatabaseTarget;
use crate::events::StreamLimits;
use crate::fairness::UserLimits;
use crate::tokens::TokenKey;

pub use error::{ConfigError, ConfigProblem, EntryProblem, HeaderNameProblem, OriginProblem};

/// The SQLite file used when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_FILE: &str = "tasks.db";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How the HTTP layer treats each request.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Bodies over this many bytes are refused with 413.
    pub max_body_bytes: usize,
    /// A request body that has not arrived within this is answered 408.
    pub request_timeout: Duration,
    /// A connection whose next request head has not arrived within this is closed.
    pub request_head_timeout: Duration,
    /// Origins allowed by CORS, each as a browser sends it; empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// Request headers CORS allows beyond the fixed ones (`CORS_ALLOW_HEADERS`), lowercase.
    pub cors_allow_headers: Vec<String>,
    /// A page of tasks or changes ends before the item that would take its JSON past this.
    pub page_max_bytes: usize,
    /// JSON answers over this many bytes are sent uncompressed.
    pub compress_max_bytes: usize,
    /// An answer the client has not wholly taken within this ends its connection.
    pub response_timeout: Duration,
    /// Past this many bytes held for answers not yet sent (the instance's total), new requests
    /// are answered 503.
    pub response_buffer_max_bytes: usize,
}

/// The smallest `PAGE_MAX_BYTES`: room for a page's own fields and a few items.
pub const PAGE_MIN_BYTES: usize = 8 * 1024;

/// How callers prove who they are.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Paths are trusted as they are (development, or a gateway in front authenticates).
    Off,
    /// Every operation under `/users` and `/me` needs a bearer token that passes these rules.
    On(TokenRules),
}

/// Where the keys that sign callers' tokens come from.
#[derive(Clone)]
pub enum KeySource {
    /// The identity provider's JWKS (RS256, PS256, ES256, ES384 and EdDSA keys).
    Jwks(String),
    /// OpenID Connect discovery: the JWKS named by `<issuer>/.well-known/openid-configuration`,
    /// whose `issuer` must equal this one.
    Discovery(String),
    /// An HS256 shared secret of at least `MIN_SECRET_BYTES` bytes.
    SharedSecret(Vec<u8>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Jwks(url) => f.debug_tuple("Jwks").field(url).finish(),
            Self::Discovery(issuer) => f.debug_tuple("Discovery").field(issuer).finish(),
            Self::SharedSecret(_) => f.write_str("SharedSecret(<redacted>)"),
        }
    }
}

/// What a token must be to be accepted, and which claim names the caller.
#[derive(Debug, Clone)]
pub struct TokenRules {
    pub keys: KeySource,
    /// `iss` must equal it (required with a JWKS).
    pub issuer: Option<String>,
    /// `aud` must contain it, when set.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The claim that identifies the caller (`sub` by default).
    pub user_claim: String,
    /// The header `typ` values accepted (`AUTH_TOKEN_TYPES`), lowercase; empty: any.
    pub token_types: Vec<String>,
}

/// The most clock skew `AUTH_LEEWAY_SECS` may allow.
pub const MAX_LEEWAY_SECS: u64 = 3600;

/// The shortest HS256 secret accepted (RFC 7518 §3.2: a key as long as the hash).
pub const MIN_SECRET_BYTES: usize = 32;

/// How long what offline clients rely on is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Deletions, for the change feed: a `since` token older than this is 410 `SYNC_EXPIRED`.
    pub sync_history: Duration,
    /// Idempotency keys, with the answers they replay.
    pub idempotency_keys: Duration,
}

impl Retention {
    /// How much longer than promised deletions are kept, so that a token just young enough still
    /// finds every deletion made after it.
    pub fn deletions_margin(&self) -> Duration {
        self.sync_history.min(Duration::from_secs(3600))
    }

    /// How often expired keys and deletions are purged: a quarter of the shorter lifetime, from
    /// once a second to once an hour.
    pub fn purge_interval(&self) -> Duration {
        (self.sync_history.min(self.idempotency_keys) / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }
}

/// Everything the server needs to know to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseTarget,
    /// Where migrations run, when not on `database` (a direct host behind a pooler's).
    pub migration_database: Option<DatabaseTarget>,
    /// Where the change listener connects when not on `database` (`DATABASE_LISTEN_URL`: a
    /// direct host behind a pooler's); PostgreSQL only.
    pub listen_database: Option<DatabaseTarget>,
    pub database_max_connections: u32,
    pub database_acquire_timeout: Duration,
    pub host: String,
    pub port: u16,
    pub run_migrations: bool,
    /// How long start-up waits for the database, retrying with backoff.
    pub startup_database_wait: Duration,
    pub http: HttpSettings,
    pub auth: AuthConfig,
    /// `CURSOR_SECRET`'s key, which seals list cursors and sync tokens; `None`: the key kept in
    /// the database.
    pub token_key: Option<TokenKey>,
    /// `CURSOR_SECRET_PREVIOUS`'s keys, which still open the tokens they sealed.
    pub previous_token_keys: Vec<TokenKey>,
    pub retention: Retention,
    /// Each user's share of this instance and quotas (`USER_*`).
    pub user_limits: UserLimits,
    pub shutdown_grace: Duration,
    /// A connection on which no byte moved for this long is closed.
    pub idle_timeout: Duration,
    /// Live change events: open streams allowed, heartbeat, ticket lifetime (`EVENTS_*`).
    pub events: StreamLimits,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// What start-up should warn about once logging is up.
    pub warnings: Vec<String>,
}

/// Every variable the server reads: one that is set but blank is refused, never read as unset.
pub const SETTINGS: [&str; 43] = [
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "DATABASE_LISTEN_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_ACQUIRE_TIMEOUT_MS",
    "DATABASE_STATEMENT_TIMEOUT_MS",
    "HOST",
    "PORT",
    "RUN_MIGRATIONS",
    "STARTUP_DATABASE_WAIT_SECS",
    "MAX_BODY_BYTES",
    "REQUEST_TIMEOUT_MS",
    "REQUEST_HEAD_TIMEOUT_MS",
    "IDLE_TIMEOUT_SECS",
    "SHUTDOWN_GRACE_SECS",
    "PAGE_MAX_BYTES",
    "COMPRESS_MAX_BYTES",
    "RESPONSE_TIMEOUT_SECS",
    "RESPONSE_BUFFER_MAX_MB",
    "EVENTS_MAX_STREAMS_PER_USER",
    "EVENTS_MAX_STREAMS",
    "EVENTS_HEARTBEAT_SECS",
    "CORS_ORIGINS",
    "CORS_ALLOW_HEADERS",
    "CURSOR_SECRET",
    "CURSOR_SECRET_PREVIOUS",
    "SYNC_RETENTION_DAYS",
    "IDEMPOTENCY_KEY_TTL_HOURS",
    "USER_MAX_CONCURRENT_WRITES",
    "USER_WRITES_PER_MINUTE",
    "USER_MAX_TASKS",
    "USER_MAX_TOMBSTONES",
    "USER_MAX_LISTS",
    "LOG",
    "LOG_FORMAT",
    "AUTH_DISABLED",
    "AUTH_ISSUER",
    "AUTH_JWKS_URL",
    "AUTH_JWT_SECRET",
    "AUTH_AUDIENCE",
    "AUTH_LEEWAY_SECS",
    "AUTH_USER_CLAIM",
    "AUTH_TOKEN_TYPES",
];

/// The `AUTH_*` settings that only shape an authentication that another one turns on.
const AUTH_REFINEMENTS: [&str; 4] = [
    "AUTH_AUDIENCE",
    "AUTH_LEEWAY_SECS",
    "AUTH_USER_CLAIM",
    "AUTH_TOKEN_TYPES",
];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration from `lookup` (a variable name to its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        if let Some(blank) = SETTINGS
            .into_iter()
            .find(|name| lookup(name).is_some_and(|value| value.trim().is_empty()))
        {
            return Err(ConfigError::new(blank, ConfigProblem::Blank));
        }
        let var = |name: &str| lookup(name);
        let statement_timeout = parse_millis(&var, "DATABASE_STATEMENT_TIMEOUT_MS", 5_000)?;
        let acquire_timeout = parse_millis(&var, "DATABASE_ACQUIRE_TIMEOUT_MS", 5_000)?;
        let request_timeout = parse_millis(&var, "REQUEST_TIMEOUT_MS", 10_000)?;
        // A request's database work must end on the database's side first: a statement the
        // database gave up on certainly did nothing, so the 503 that says so is true.
        for (name, timeout) in [
            ("DATABASE_STATEMENT_TIMEOUT_MS", statement_timeout),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", acquire_timeout),
        ] {
            if timeout >= request_timeout {
                return Err(ConfigError::new(
                    name,
                    ConfigProblem::NotBelow {
                        value: timeout,
                        limit_setting: "REQUEST_TIMEOUT_MS",
                        limit: request_timeout,
                    },
                ));
            }
        }
        let database = match var("DATABASE_URL") {
            Some(url) => database_target("DATABASE_URL", &url)?,
            None => DatabaseTarget::sqlite_file(DEFAULT_SQLITE_FILE),
        }
        .with_statement_timeout(statement_timeout);
        // sqlx has no channel binding and ignores the parameter: say so instead of silently.
        let mut warnings: Vec<String> = ["DATABASE_URL", "MIGRATION_DATABASE_URL"]
            .into_iter()
            .filter(|name| var(name).is_some_and(|url| url.contains("channel_binding=require")))
            .map(|name| {
                format!(
                    "{name} asks for channel_binding=require, which the PostgreSQL driver (sqlx) \
                     does not implement and ignores; the connection is still encrypted and \
                     verified as sslmode asks"
                )
            })
            .collect();
        let host = match var("HOST") {
            Some(host) => valid_host(host.trim())?,
            None => "127.0.0.1".to_owned(),
        };
        let auth = auth_config(&var, &host)?;
        warnings.extend(auth_warnings(&auth));
        let token_key = var("CURSOR_SECRET")
            .map(|secret| TokenKey::from_secret(&secret))
            .transpose()
            .map_err(|short| {
                ConfigError::new("CURSOR_SECRET", ConfigProblem::ShortCursorSecret(short))
            })?;
        let previous_token_keys = var("CURSOR_SECRET_PREVIOUS")
            .map(|secrets| previous_token_keys(&secrets))
            .transpose()?
            .unwrap_or_default();
        warnings.extend(token_warnings(
            token_key.is_some(),
            previous_token_keys.len(),
        ));
        let cors_origins = var("CORS_ORIGINS")
            .map(|origins| comma_separated(&origins, "CORS_ORIGINS", cors_origin))
            .transpose()?
            .unwrap_or_default();
        let cors_allow_headers = var("CORS_ALLOW_HEADERS")
            .map(|names| comma_separated(&names, "CORS_ALLOW_HEADERS", header_name))
            .transpose()?
            .unwrap_or_default();
        if !cors_allow_headers.is_empty() && cors_origins.is_empty() {
            return Err(ConfigError::new(
                "CORS_ALLOW_HEADERS",
                ConfigProblem::HeadersWithoutOrigins,
            ));
        }
        let migration_database = var("MIGRATION_DATABASE_URL")
            .map(|url| database_target("MIGRATION_DATABASE_URL", &url))
            .transpose()?;
        let listen_database = listen_database(&var, &database)?;
        let idle_timeout =
            Duration::from_secs(parse(&var, "IDLE_TIMEOUT_SECS", 60, |s: &u64| *s >= 1)?);
        let events = stream_limits(&var, idle_timeout)?;
        Ok(Self {
            database,
            migration_database,
            listen_database,
            database_max_connections: parse(&var, "DATABASE_MAX_CONNECTIONS", 10, |n: &u32| {
                *n >= 1
            })?,
            database_acquire_timeout: acquire_timeout,
            host,
            port: parse(&var, "PORT", 8000, |_: &u16| true)?,
            run_migrations: parse(&var, "RUN_MIGRATIONS", true, |_: &bool| true)?,
            startup_database_wait: Duration::from_secs(parse(
                &var,
                "STARTUP_DATABASE_WAIT_SECS",
                30,
                |_: &u64| true,
            )?),
            http: HttpSettings {
                max_body_bytes: parse(&var, "MAX_BODY_BYTES", 1024 * 1024, |n: &usize| *n >= 1)?,
                request_timeout,
                request_head_timeout: parse_millis(&var, "REQUEST_HEAD_TIMEOUT_MS", 10_000)?,
                cors_origins,
                cors_allow_headers,
                page_max_bytes: parse(&var, "PAGE_MAX_BYTES", 1024 * 1024, |n: &usize| {
                    *n >= PAGE_MIN_BYTES
                })?,
                compress_max_bytes: parse(&var, "COMPRESS_MAX_BYTES", 4 * 1024 * 1024, |_| true)?,
                response_timeout: Duration::from_secs(parse(
                    &var,
                    "RESPONSE_TIMEOUT_SECS",
                    30,
                    |s: &u64| *s >= 1,
                )?),
                response_buffer_max_bytes: parse(
                    &var,
                    "RESPONSE_BUFFER_MAX_MB",
                    256,
                    |mb: &usize| (1..=usize::MAX >> 20).contains(mb),
                )? << 20,
            },
            auth,
            token_key,
            previous_token_keys,
            retention: Retention {
                sync_history: parse_lifetime(&var, "SYNC_RETENTION_DAYS", 30.0, 86_400.0)?,
                idempotency_keys: parse_lifetime(&var, "IDEMPOTENCY_KEY_TTL_HOURS", 24.0, 3_600.0)?,
            },
            user_limits: user_limits(&var)?,
            shutdown_grace: Duration::from_secs(parse(
                &var,
                "SHUTDOWN_GRACE_SECS",
                30,
                |_: &u64| true,
            )?),
            idle_timeout,
            events,
            log_filter: match var("LOG") {
                Some(filter) => match tracing_subscriber::EnvFilter::try_new(filter.trim()) {
                    Ok(_) => filter.trim().to_owned(),
                    Err(reason) => {
                        let problem = ConfigProblem::LogFilter {
                            value: filter,
                            reason,
                        };
                        return Err(ConfigError::new("LOG", problem));
                    }
                },
                None => "info".to_owned(),
            },
            log_format: match var("LOG_FORMAT").as_deref() {
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    let problem = ConfigProblem::UnknownLogFormat {
                        value: other.to_owned(),
                    };
                    return Err(ConfigError::new("LOG_FORMAT", problem));
                }
            },
            warnings,
        })
    }
}

/// The authentication settings: on with `AUTH_JWKS_URL` (and `AUTH_ISSUER`) or `AUTH_JWT_SECRET`;
/// off otherwise, which only a loopback `host` or `AUTH_DISABLED=true` allows.
fn auth_config(
    var: &impl Fn(&str) -> Option<String>,
    host: &str,
) -> Result<AuthConfig, ConfigError> {
    let disabled = parse(var, "AUTH_DISABLED", false, |_: &bool| true)?;
    let keys = match (var("AUTH_JWKS_URL"), var("AUTH_JWT_SECRET")) {
        (Some(_), Some(_)) => {
            let problem = ConfigProblem::ExclusiveWith {
                other: "AUTH_JWT_SECRET",
            };
            return Err(ConfigError::new("AUTH_JWKS_URL", problem));
        }
        (Some(url), None) => {
            let url = url.trim().to_owned();
            if !is_key_url(&url) {
                let problem = ConfigProblem::NotAKeyUrl { value: url };
                return Err(ConfigError::new("AUTH_JWKS_URL", problem));
            }
            KeySource::Jwks(url)
        }
        (None, Some(secret)) if secret.len() < MIN_SECRET_BYTES => {
            let problem = ConfigProblem::ShortSharedSecret {
                bytes: secret.len(),
            };
            return Err(ConfigError::new("AUTH_JWT_SECRET", problem));
        }
        (None, Some(secret)) => KeySource::SharedSecret(secret.into_bytes()),
        (None, None) if var("AUTH_ISSUER").is_some() => {
            let issuer = var("AUTH_ISSUER").unwrap_or_default().trim().to_owned();
            if !is_key_url(&issuer) {
                let problem = ConfigProblem::NotADiscoveryIssuer { value: issuer };
                return Err(ConfigError::new("AUTH_ISSUER", problem));
            }
            KeySource::Discovery(issuer)
        }
        (None, None) => {
            if let Some(refinement) = AUTH_REFINEMENTS
                .into_iter()
                .find(|name| var(name).is_some())
            {
                return Err(ConfigError::new(
                    refinement,
                    ConfigProblem::RefinesNoAuthentication,
                ));
            }
            if disabled || is_loopback(host) {
                return Ok(AuthConfig::Off);
            }
            let problem = ConfigProblem::UnauthenticatedBeyondLoopback {
                value: host.to_owned(),
            };
            return Err(ConfigError::new("HOST", problem));
        }
    };
    if disabled {
        return Err(ConfigError::new(
            "AUTH_DISABLED",
            ConfigProblem::ContradictsAuthentication,
        ));
    }
    let issuer = var("AUTH_ISSUER").map(|issuer| issuer.trim().to_owned());
    if matches!(keys, KeySource::Jwks(_)) && issuer.is_none() {
        return Err(ConfigError::new(
            "AUTH_ISSUER",
            ConfigProblem::IssuerRequiredWithJwks,
        ));
    }
    Ok(AuthConfig::On(TokenRules {
        keys,
        issuer,
        audience: var("AUTH_AUDIENCE").map(|audience| audience.trim().to_owned()),
        leeway: Duration::from_secs(parse(var, "AUTH_LEEWAY_SECS", 60, |secs: &u64| {
            *secs <= MAX_LEEWAY_SECS
        })?),
        user_claim: var("AUTH_USER_CLAIM")
            .map(|claim| claim.trim().to_owned())
            .unwrap_or_else(|| "sub".to_owned()),
        token_types: var("AUTH_TOKEN_TYPES")
            .map(|types| comma_separated(&types, "AUTH_TOKEN_TYPES", token_type))
            .transpose()?
            .unwrap_or_default(),
    }))
}

/// What start-up says about the authentication settings.
fn auth_warnings(auth: &AuthConfig) -> Option<String> {
    match auth {
        AuthConfig::Off => Some(
            "authentication is off (AUTH_ISSUER, AUTH_JWKS_URL and AUTH_JWT_SECRET are unset): every \
             /users/{user_id} path is trusted as it is"
                .to_owned(),
        ),
        AuthConfig::On(rules) if rules.audience.is_none() => Some(
            "AUTH_AUDIENCE is not set: tokens the issuer made for any other audience are \
             accepted too"
                .to_owned(),
        ),
        AuthConfig::On(_) => None,
    }
}

/// `CURSOR_SECRET_PREVIOUS`'s keys: comma-separated secrets, each as long as `CURSOR_SECRET`'s.
fn previous_token_keys(secrets: &str) -> Result<Vec<TokenKey>, ConfigError> {
    secrets
        .split(',')
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .enumerate()
        .map(|(index, secret)| {
            TokenKey::from_secret(secret).map_err(|problem| {
                let problem = ConfigProblem::ShortPreviousCursorSecret {
                    number: index + 1,
                    problem,
                };
                ConfigError::new("CURSOR_SECRET_PREVIOUS", problem)
            })
        })
        .collect()
}

/// What start-up says about the keys that seal list cursors and sync tokens.
fn token_warnings(secret_set: bool, previous_keys: usize) -> Vec<String> {
    let mut warnings = Vec::new();
    if !secret_set {
        warnings.push(
            "CURSOR_SECRET is not set: list cursors and sync tokens are sealed with a key kept in \
             the database (made by the first start), so restarts and every instance on the same \
             database accept them; a server on another database does not (its sync tokens get \
             410 SYNC_EXPIRED, a full sync; its cursors 400)"
                .to_owned(),
        );
    }
    if previous_keys > 0 {
        warnings.push(format!(
            "CURSOR_SECRET_PREVIOUS holds {previous_keys} key(s) that still open the tokens they \
             sealed; new tokens are sealed with the current key only; once a key is removed, its \
             sync tokens get 410 SYNC_EXPIRED (a full sync) and its cursors 400"
        ));
    }
    warnings
}

/// Splits a comma-separated setting and checks each entry with `entry`, which says what is
/// wrong with a bad one.
fn comma_separated<P: Into<EntryProblem>>(
    value: &str,
    name: &'static str,
    entry: impl Fn(&str) -> Result<String, P>,
) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .map(|item| {
            if item.is_empty() {
                return Err(ConfigError::new(name, ConfigProblem::EmptyEntry));
            }
            entry(item).map_err(|problem| {
                let problem = ConfigProblem::BadEntry {
                    entry: item.to_owned(),
                    problem: problem.into(),
                };
                ConfigError::new(name, problem)
            })
        })
        .collect()
}

/// An origin exactly as a browser sends it in `Origin`: `scheme://host[:port]`, lowercase, no
/// default port, no path, no trailing slash.
fn cors_origin(entry: &str) -> Result<String, OriginProblem> {
    if entry == "*" {
        return Err(OriginProblem::Wildcard);
    }
    if !entry.contains("://") {
        return Err(OriginProblem::NoScheme);
    }
    let url = url::Url::parse(entry).map_err(OriginProblem::NotAUrl)?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(OriginProblem::Opaque);
    }
    let origin = origin.ascii_serialization();
    match entry.strip_prefix(&*origin) {
        Some("") => Ok(origin),
        Some("/") => Err(OriginProblem::TrailingSlash { origin }),
        Some(_) if url.query().is_some() || url.fragment().is_some() => {
            Err(OriginProblem::QueryOrFragment { origin })
        }
        Some(rest) if rest.starts_with('/') => Err(OriginProblem::Path { origin }),
        _ => Err(OriginProblem::NotAsSent { origin }),
    }
}

/// A request header name for `CORS_ALLOW_HEADERS`, lowercase.
fn header_name(entry: &str) -> Result<String, HeaderNameProblem> {
    match poem::http::HeaderName::from_bytes(entry.as_bytes()) {
        Ok(_) if entry == "*" => Err(HeaderNameProblem::Wildcard),
        Ok(name) => Ok(name.as_str().to_owned()),
        Err(_) => Err(HeaderNameProblem::NotAName),
    }
}

/// A `typ` for `AUTH_TOKEN_TYPES`: a media type's subtype such as `at+jwt` (an `application/`
/// prefix dropped), lowercase.
fn token_type(entry: &str) -> Result<String, EntryProblem> {
    let lowercase = entry.to_ascii_lowercase();
    let name = lowercase.strip_prefix("application/").unwrap_or(&lowercase);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(EntryProblem::TokenType)
    }
}

/// `HOST` as given when it is an IP address or a host name.
fn valid_host(host: &str) -> Result<String, ConfigError> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let host_name = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if host_name || name.parse::<std::net::IpAddr>().is_ok() {
        Ok(host.to_owned())
    } else {
        let problem = ConfigProblem::NotAHost {
            value: host.to_owned(),
        };
        Err(ConfigError::new("HOST", problem))
    }
}

/// The database at the URL variable `name` holds.
fn database_target(name: &'static str, url: &str) -> Result<DatabaseTarget, ConfigError> {
    DatabaseTarget::parse(url.trim())
        .map_err(|reason| ConfigError::new(name, ConfigProblem::DatabaseUrl(reason)))
}

/// Whether keys (or the document that names them) may be fetched from `url`: fetched in the
/// clear they could be anyone's, so https, or http on this machine only.
pub fn is_key_url(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|parsed| {
        parsed.scheme() == "https"
            || (parsed.scheme() == "http" && parsed.host_str().is_some_and(is_loopback))
    })
}

/// Whether `host` is a loopback address (or `localhost`).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// A duration of at least 1 ms from variable `name` (in milliseconds), or `default_ms`.
fn parse_millis(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    parse(var, name, default_ms, |ms: &u64| *ms >= 1).map(Duration::from_millis)
}

/// A lifetime in days or hours (`unit_secs` each; fractions allowed), at most ten years.
fn parse_lifetime(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    unit_secs: f64,
) -> Result<Duration, ConfigError> {
    const TEN_YEARS_SECS: f64 = 10.0 * 366.0 * 86_400.0;
    parse(var, name, default, |units: &f64| {
        *units > 0.0 && units * unit_secs <= TEN_YEARS_SECS
    })
    .map(|units| Duration::from_secs_f64(units * unit_secs))
}

/// The `USER_*` settings: each at least 1.
fn user_limits(var: &impl Fn(&str) -> Option<String>) -> Result<UserLimits, ConfigError> {
    let defaults = UserLimits::default();
    Ok(UserLimits {
        max_concurrent_writes: parse(
            var,
            "USER_MAX_CONCURRENT_WRITES",
            defaults.max_concurrent_writes,
            |n: &usize| *n >= 1,
        )?,
        writes_per_minute: parse(
            var,
            "USER_WRITES_PER_MINUTE",
            defaults.writes_per_minute,
            |_| true,
        )?,
        max_tasks: parse(var, "USER_MAX_TASKS", defaults.max_tasks, |n: &i64| *n >= 1)?,
        max_tombstones: parse(
            var,
            "USER_MAX_TOMBSTONES",
            defaults.max_tombstones,
            |n: &i64| *n >= 1,
        )?,
        max_lists: parse(var, "USER_MAX_LISTS", defaults.max_lists, |n: &i64| *n >= 1)?,
    })
}

/// `DATABASE_LISTEN_URL`: where the change listener connects instead of `DATABASE_URL` (a direct
/// host behind a pooler's, which cannot `LISTEN`); a PostgreSQL URL beside a PostgreSQL database.
fn listen_database(
    var: &impl Fn(&str) -> Option<String>,
    database: &DatabaseTarget,
) -> Result<Option<DatabaseTarget>, ConfigError> {
    const NAME: &str = "DATABASE_LISTEN_URL";
    match (var(NAME), database) {
        (None, _) => Ok(None),
        (Some(_), DatabaseTarget::Sqlite { .. }) => {
            Err(ConfigError::new(NAME, ConfigProblem::ListenBesideSqlite))
        }
        (Some(url), DatabaseTarget::Postgres(_)) => match database_target(NAME, &url)? {
            target @ DatabaseTarget::Postgres(_) => Ok(Some(target)),
            _ => Err(ConfigError::new(NAME, ConfigProblem::NotPostgres)),
        },
    }
}

/// The event streams' limits and heartbeat; a heartbeat must come before a connection that moved
/// nothing is closed (`IDLE_TIMEOUT_SECS`).
fn stream_limits(
    var: &impl Fn(&str) -> Option<String>,
    idle_timeout: Duration,
) -> Result<StreamLimits, ConfigError> {
    let defaults = StreamLimits::default();
    let heartbeat = Duration::from_secs(parse(
        var,
        "EVENTS_HEARTBEAT_SECS",
        defaults.heartbeat.as_secs(),
        |s: &u64| *s >= 1,
    )?);
    if heartbeat >= idle_timeout {
        return Err(ConfigError::new(
            "EVENTS_HEARTBEAT_SECS",
            ConfigProblem::NotBelow {
                value: heartbeat,
                limit_setting: "IDLE_TIMEOUT_SECS",
                limit: idle_timeout,
            },
        ));
    }
    Ok(StreamLimits {
        per_user: parse(
            var,
            "EVENTS_MAX_STREAMS_PER_USER",
            defaults.per_user,
            |n: &usize| *n >= 1,
        )?,
        per_instance: parse(
            var,
            "EVENTS_MAX_STREAMS",
            defaults.per_instance,
            |n: &usize| *n >= 1,
        )?,
        heartbeat,
        ticket_lifetime: defaults.ticket_lifetime,
    })
}

/// Parses variable `name`, or takes `default` when it is unset; `valid` rules out values.
fn parse<T: std::str::FromStr + std::fmt::Display>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError> {
    let Some(value) = var(name) else {
        return Ok(default);
    };
    let like = default.to_string();
    let problem = match value.trim().parse::<T>() {
        Ok(parsed) if valid(&parsed) => return Ok(parsed),
        Ok(_) => ConfigProblem::OutOfRange { value, like },
        Err(_) => ConfigProblem::NotParsed { value, like },
    };
    Err(ConfigError::new(name, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        config_error(vars).map_err(|err| err.to_string())
    }

    fn config_error(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    #[test]
    fn defaults_need_no_setup() {
        let config = config(&[]).unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 8000);
        assert!(config.run_migrations);
        assert_eq!(config.database_acquire_timeout, Duration::from_secs(5));
        assert_eq!(config.http.page_max_bytes, 1024 * 1024);
        assert_eq!(config.http.compress_max_bytes, 4 * 1024 * 1024);
        assert_eq!(config.http.response_timeout, Duration::from_secs(30));
        assert_eq!(config.http.response_buffer_max_bytes, 256 * 1024 * 1024);
        assert!(matches!(
            config.database,
            DatabaseTarget::Sqlite {
                in_memory: false,
                ..
            }
        ));
    }

    #[test]
    fn neon_url_is_accepted_unchanged() {
        let url = "postgresql://alex:secret@ep-cool-darkness-123456.us-east-2.aws.neon.tech/dbname?sslmode=require&channel_binding=require";
        let config = config(&[("DATABASE_URL", url)]).unwrap();
        assert!(matches!(config.database, DatabaseTarget::Postgres(_)));
        assert_eq!(
            config
                .warnings
                .iter()
                .filter(|warning| warning.contains("channel_binding"))
                .count(),
            1,
            "channel_binding is ignored, and said so"
        );
    }

    #[test]
    fn bad_values_are_named_in_one_line() {
        let err = config(&[("PORT", "eighty")]).unwrap_err();
        assert!(err.starts_with("PORT is invalid"), "{err}");
        let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.starts_with("DATABASE_URL is invalid"), "{err}");
        let err = config(&[("CURSOR_SECRET", "short")]).unwrap_err();
        assert!(err.starts_with("CURSOR_SECRET is invalid"), "{err}");
        let long = "k".repeat(32);
        let err = config(&[("CURSOR_SECRET_PREVIOUS", &format!("{long}, short"))]).unwrap_err();
        assert!(
            err.starts_with("CURSOR_SECRET_PREVIOUS is invalid: its secret number 2"),
            "{err}"
        );
        for (name, value) in [
            ("PAGE_MAX_BYTES", "8191"),
            ("COMPRESS_MAX_BYTES", "-1"),
            ("RESPONSE_TIMEOUT_SECS", "0"),
            ("RESPONSE_BUFFER_MAX_MB", "0"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(&format!("{name} is invalid")), "{err}");
        }
        let err = config(&[("RUN_MIGRATIONS", "maybe")]).unwrap_err();
        assert!(err.starts_with("RUN_MIGRATIONS is invalid"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn authentication_settings_are_checked_at_start() {
        let off = config(&[]).unwrap();
        assert!(matches!(off.auth, AuthConfig::Off));
        assert!(off
            .warnings
            .iter()
            .any(|w| w.contains("authentication is off")));
        let err = config(&[("HOST", "0.0.0.0")]).unwrap_err();
        assert!(err.starts_with("authentication is off"), "{err}");
        assert!(!err.contains('\n'));
        assert!(config(&[("HOST", "0.0.0.0"), ("AUTH_DISABLED", "true")]).is_ok());
        assert!(config(&[("HOST", "::1")]).is_ok());
        assert!(config(&[("HOST", "localhost")]).is_ok());

        let err = config(&[("AUTH_JWT_SECRET", "too short")]).unwrap_err();
        assert_eq!(
            err,
            "AUTH_JWT_SECRET is invalid: it has 9 bytes, and an HS256 secret needs at least 32"
        );
        let secret = "0123456789abcdef0123456789abcdef";
        let on = config(&[("AUTH_JWT_SECRET", secret), ("HOST", "0.0.0.0")]).unwrap();
        let AuthConfig::On(rules) = &on.auth else {
            panic!("a secret turns authentication on");
        };
        assert_eq!(rules.user_claim, "sub");
        assert_eq!(rules.leeway, Duration::from_secs(60));
        assert!(
            !format!("{:?}", on.auth).contains(secret),
            "the secret is never printed"
        );
        assert!(on.warnings.iter().any(|w| w.contains("AUTH_AUDIENCE")));

        for url in ["ftp://idp.example.com/jwks", "http://idp.example.com/jwks"] {
            let err = config(&[("AUTH_JWKS_URL", url), ("AUTH_ISSUER", "x")]).unwrap_err();
            assert!(err.starts_with("AUTH_JWKS_URL is invalid"), "{err}");
        }
        let local = config(&[
            ("AUTH_JWKS_URL", "http://127.0.0.1:8080/jwks"),
            ("AUTH_ISSUER", "x"),
        ]);
        assert!(local.is_ok(), "a JWKS on this machine may be plain http");
        let err = config(&[("AUTH_JWT_SECRET", secret), ("AUTH_LEEWAY_SECS", "3601")]).unwrap_err();
        assert!(err.starts_with("AUTH_LEEWAY_SECS is invalid"), "{err}");
        let err = config(&[("AUTH_JWKS_URL", "https://idp.example.com/jwks")]).unwrap_err();
        assert!(err.starts_with("AUTH_ISSUER is required"), "{err}");
        let err = config(&[
            ("AUTH_JWKS_URL", "https://idp.example.com/jwks"),
            ("AUTH_JWT_SECRET", secret),
        ])
        .unwrap_err();
        assert!(err.contains("not both"), "{err}");
        for (name, value) in [
            ("AUTH_JWT_SECRET", secret),
            ("AUTH_ISSUER", "https://idp.example.com"),
        ] {
            let err = config(&[(name, value), ("AUTH_DISABLED", "true")]).unwrap_err();
            assert!(err.starts_with("AUTH_DISABLED=true contradicts"), "{err}");
        }
        let jwks = config(&[
            ("CURSOR_SECRET", secret),
            ("AUTH_JWKS_URL", "https://idp.example.com/jwks"),
            ("AUTH_ISSUER", "https://idp.example.com"),
            ("AUTH_AUDIENCE", "task-api"),
            ("AUTH_USER_CLAIM", "uid"),
            ("AUTH_LEEWAY_SECS", "5"),
        ])
        .unwrap();
        let AuthConfig::On(rules) = &jwks.auth else {
            panic!("a JWKS URL turns authentication on");
        };
        assert_eq!(rules.audience.as_deref(), Some("task-api"));
        assert_eq!(rules.user_claim, "uid");
        assert_eq!(rules.leeway, Duration::from_secs(5));
        assert!(jwks.warnings.is_empty(), "{:?}", jwks.warnings);
    }

    /// Variables and their values.
    type Variables = &'static [(&'static str, &'static str)];

    /// One bad value per setting, with what else must be set for it to be read, and what the
    /// line says.
    const BAD_SETTINGS: [(&str, Variables, &str); 43] = [
        (
            "DATABASE_URL",
            &[("DATABASE_URL", "mysql://x")],
            "is invalid",
        ),
        (
            "MIGRATION_DATABASE_URL",
            &[("MIGRATION_DATABASE_URL", "db.example.com")],
            "is invalid",
        ),
        (
            "DATABASE_LISTEN_URL",
            &[("DATABASE_LISTEN_URL", "postgres://db.example.com/tasks")],
            "DATABASE_URL is SQLite",
        ),
        (
            "DATABASE_MAX_CONNECTIONS",
            &[("DATABASE_MAX_CONNECTIONS", "0")],
            "is invalid",
        ),
        (
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            &[("DATABASE_ACQUIRE_TIMEOUT_MS", "10000")],
            "must be below",
        ),
        (
            "DATABASE_STATEMENT_TIMEOUT_MS",
            &[("DATABASE_STATEMENT_TIMEOUT_MS", "5s")],
            "is invalid",
        ),
        ("HOST", &[("HOST", "local host")], "is invalid"),
        ("PORT", &[("PORT", "eighty")], "is invalid"),
        (
            "RUN_MIGRATIONS",
            &[("RUN_MIGRATIONS", "maybe")],
            "is invalid",
        ),
        (
            "STARTUP_DATABASE_WAIT_SECS",
            &[("STARTUP_DATABASE_WAIT_SECS", "-1")],
            "is invalid",
        ),
        ("MAX_BODY_BYTES", &[("MAX_BODY_BYTES", "1MB")], "is invalid"),
        (
            "REQUEST_TIMEOUT_MS",
            &[("REQUEST_TIMEOUT_MS", "0")],
            "is invalid",
        ),
        (
            "REQUEST_HEAD_TIMEOUT_MS",
            &[("REQUEST_HEAD_TIMEOUT_MS", "0")],
            "is invalid",
        ),
        (
            "IDLE_TIMEOUT_SECS",
            &[("IDLE_TIMEOUT_SECS", "0")],
            "is invalid",
        ),
        (
            "SHUTDOWN_GRACE_SECS",
            &[("SHUTDOWN_GRACE_SECS", "30s")],
            "is invalid",
        ),
        (
            "PAGE_MAX_BYTES",
            &[("PAGE_MAX_BYTES", "8191")],
            "is invalid",
        ),
        (
            "COMPRESS_MAX_BYTES",
            &[("COMPRESS_MAX_BYTES", "4MB")],
            "is invalid",
        ),
        (
            "RESPONSE_TIMEOUT_SECS",
            &[("RESPONSE_TIMEOUT_SECS", "0")],
            "is invalid",
        ),
        (
            "RESPONSE_BUFFER_MAX_MB",
            &[("RESPONSE_BUFFER_MAX_MB", "0")],
            "is invalid",
        ),
        (
            "EVENTS_MAX_STREAMS_PER_USER",
            &[("EVENTS_MAX_STREAMS_PER_USER", "0")],
            "is invalid",
        ),
        (
            "EVENTS_MAX_STREAMS",
            &[("EVENTS_MAX_STREAMS", "-5")],
            "is invalid",
        ),
        (
            "EVENTS_HEARTBEAT_SECS",
            &[("EVENTS_HEARTBEAT_SECS", "60")],
            "must be below IDLE_TIMEOUT_SECS",
        ),
        (
            "CORS_ORIGINS",
            &[("CORS_ORIGINS", "http://localhost:5173/")],
            "no trailing slash",
        ),
        (
            "CORS_ALLOW_HEADERS",
            &[
                ("CORS_ORIGINS", "http://localhost:5173"),
                ("CORS_ALLOW_HEADERS", "trace parent"),
            ],
            "not a header name",
        ),
        ("CURSOR_SECRET", &[("CURSOR_SECRET", "short")], "is invalid"),
        (
            "CURSOR_SECRET_PREVIOUS",
            &[("CURSOR_SECRET_PREVIOUS", "short")],
            "is invalid",
        ),
        (
            "SYNC_RETENTION_DAYS",
            &[("SYNC_RETENTION_DAYS", "0")],
            "is invalid",
        ),
        (
            "IDEMPOTENCY_KEY_TTL_HOURS",
            &[("IDEMPOTENCY_KEY_TTL_HOURS", "-1")],
            "is invalid",
        ),
        (
            "USER_MAX_CONCURRENT_WRITES",
            &[("USER_MAX_CONCURRENT_WRITES", "0")],
            "is invalid",
        ),
        (
            "USER_WRITES_PER_MINUTE",
            &[("USER_WRITES_PER_MINUTE", "0")],
            "is invalid",
        ),
        ("USER_MAX_TASKS", &[("USER_MAX_TASKS", "0")], "is invalid"),
        (
            "USER_MAX_TOMBSTONES",
            &[("USER_MAX_TOMBSTONES", "many")],
            "is invalid",
        ),
        ("USER_MAX_LISTS", &[("USER_MAX_LISTS", "0")], "is invalid"),
        ("LOG", &[("LOG", "task_api=loud")], "is invalid"),
        (
            "LOG_FORMAT",
            &[("LOG_FORMAT", "xml")],
            "must be pretty or json",
        ),
        ("AUTH_DISABLED", &[("AUTH_DISABLED", "yes")], "is invalid"),
        (
            "AUTH_ISSUER",
            &[("AUTH_ISSUER", "idp.example.com")],
            "is invalid",
        ),
        (
            "AUTH_JWKS_URL",
            &[
                ("AUTH_JWKS_URL", "http://idp.example.com/jwks"),
                ("AUTH_ISSUER", "x"),
            ],
            "is invalid",
        ),
        (
            "AUTH_JWT_SECRET",
            &[("AUTH_JWT_SECRET", "too short")],
            "is invalid",
        ),
        (
            "AUTH_AUDIENCE",
            &[("AUTH_AUDIENCE", "task-api")],
            "authentication is off",
        ),
        (
            "AUTH_LEEWAY_SECS",
            &[("AUTH_JWT_SECRET", SECRET), ("AUTH_LEEWAY_SECS", "3601")],
            "is invalid",
        ),
        (
            "AUTH_USER_CLAIM",
            &[("AUTH_USER_CLAIM", "uid")],
            "authentication is off",
        ),
        (
            "AUTH_TOKEN_TYPES",
            &[("AUTH_JWT_SECRET", SECRET), ("AUTH_TOKEN_TYPES", "at jwt")],
            "not a token type",
        ),
    ];

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_bad_value_of_every_setting_stops_start_with_one_line_naming_it() {
        let named: Vec<&str> = BAD_SETTINGS.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(named, SETTINGS, "one bad value per setting, in order");
        for (name, vars, says) in BAD_SETTINGS {
            let err = config(vars).expect_err(name);
            assert!(err.starts_with(name), "{name}: {err}");
            assert!(err.contains(says), "{name}: {err}");
            assert!(!err.contains('\n'), "{name}: {err}");
        }
    }

    #[test]
    fn a_bad_setting_is_an_error_that_names_it_and_says_what_is_wrong() {
        for (name, vars, _) in BAD_SETTINGS {
            assert_eq!(config_error(vars).expect_err(name).setting, name);
        }
        let problem = |vars: &[(&str, &str)]| config_error(vars).unwrap_err().problem;
        assert!(matches!(
            problem(&[("PORT", "eighty")]),
            ConfigProblem::NotParsed { value, like } if value == "eighty" && like == "8000"
        ));
        assert!(matches!(
            problem(&[("DATABASE_MAX_CONNECTIONS", " 0")]),
            ConfigProblem::OutOfRange { value, like } if value == " 0" && like == "10"
        ));
        assert!(matches!(
            problem(&[("DATABASE_URL", "mysql://x")]),
            ConfigProblem::DatabaseUrl(crate::db::DatabaseUrlError::UnknownScheme)
        ));
        assert!(matches!(
            problem(&[("DATABASE_STATEMENT_TIMEOUT_MS", "10000")]),
            ConfigProblem::NotBelow { value, limit_setting: "REQUEST_TIMEOUT_MS", limit }
                if value == limit && limit == Duration::from_secs(10)
        ));
        assert!(matches!(
            problem(&[("CORS_ORIGINS", "https://app.example.com, http://localhost:5173/")]),
            ConfigProblem::BadEntry {
                entry,
                problem: EntryProblem::Origin(OriginProblem::TrailingSlash { origin }),
            } if entry == "http://localhost:5173/" && origin == "http://localhost:5173"
        ));
        assert!(matches!(
            problem(&[("CURSOR_SECRET_PREVIOUS", &format!("{SECRET},short"))]),
            ConfigProblem::ShortPreviousCursorSecret { number: 2, problem } if problem.len == 5
        ));
        let exclusive = config_error(&[
            ("AUTH_JWKS_URL", "https://idp.example.com/jwks"),
            ("AUTH_JWT_SECRET", SECRET),
        ])
        .unwrap_err();
        assert_eq!(exclusive.setting, "AUTH_JWKS_URL");
        assert!(matches!(
            exclusive.problem,
            ConfigProblem::ExclusiveWith {
                other: "AUTH_JWT_SECRET"
            }
        ));
        let exposed = config_error(&[("HOST", "0.0.0.0")]).unwrap_err();
        assert_eq!(exposed.setting, "HOST");
        assert!(matches!(
            exposed.problem,
            ConfigProblem::UnauthenticatedBeyondLoopback { value } if value == "0.0.0.0"
        ));
    }

    #[test]
    fn a_setting_set_but_blank_is_refused_never_read_as_unset() {
        for name in SETTINGS {
            for blank in ["", "  "] {
                let err = config(&[(name, blank)]).unwrap_err();
                assert!(
                    err.starts_with(&format!("{name} is set but blank")),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn half_configured_authentication_never_means_off() {
        for name in AUTH_REFINEMENTS {
            let err = config(&[(name, "60"), ("AUTH_DISABLED", "true")]).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "{name} is set but authentication is off (no AUTH_ISSUER, AUTH_JWKS_URL or \
                     AUTH_JWT_SECRET): set the provider's, or unset {name}"
                )
            );
        }
        let discovery = config(&[("AUTH_ISSUER", "https://idp.example.com")]).unwrap();
        let AuthConfig::On(rules) = &discovery.auth else {
            panic!("AUTH_ISSUER alone turns authentication on");
        };
        assert!(
            matches!(&rules.keys, KeySource::Discovery(issuer) if issuer == "https://idp.example.com")
        );
        for issuer in ["http://idp.example.com", "idp.example.com"] {
            let err = config(&[("AUTH_ISSUER", issuer)]).unwrap_err();
            assert!(
                err.starts_with("AUTH_ISSUER is invalid for OpenID Connect discovery"),
                "{err}"
            );
        }
        let on = config(&[("AUTH_JWT_SECRET", SECRET), ("AUTH_AUDIENCE", "task-api")]);
        assert!(on.is_ok());
    }

    #[test]
    fn cors_origins_are_taken_exactly_as_browsers_send_them() {
        let origins = config(&[(
            "CORS_ORIGINS",
            "http://localhost:5173, https://app.example.com,https://[::1]:8443",
        )])
        .unwrap();
        assert_eq!(
            origins.http.cors_origins,
            [
                "http://localhost:5173",
                "https://app.example.com",
                "https://[::1]:8443"
            ]
        );
        for (origin, says) in [
            (
                "http://localhost:5173/",
                "no trailing slash (a browser sends http://localhost:5173)",
            ),
            ("*", "* is refused"),
            ("https://app.example.com/app", "no path"),
            ("https://app.example.com?x=1", "no query or fragment"),
            ("localhost:5173", "no scheme"),
            ("app.example.com", "no scheme"),
            (
                "HTTPS://App.Example.com",
                "as a browser sends it: https://app.example.com",
            ),
            (
                "https://app.example.com:443",
                "as a browser sends it: https://app.example.com",
            ),
            (
                "https://user@app.example.com",
                "as a browser sends it: https://app.example.com",
            ),
            ("http://", "not an origin"),
        ] {
            let err = config(&[("CORS_ORIGINS", origin)]).unwrap_err();
            assert_eq!(
                err.split_once(": ").map(|(name, _)| name),
                Some("CORS_ORIGINS is invalid"),
                "{err}"
            );
            assert!(err.contains(says), "{origin}: {err}");
            assert!(!err.contains('\n'));
        }
        let err = config(&[("CORS_ORIGINS", "http://localhost:5173,")]).unwrap_err();
        assert!(err.contains("an empty entry"), "{err}");
    }

    #[test]
    fn cors_allow_headers_are_header_names() {
        let allowed = config(&[
            ("CORS_ORIGINS", "http://localhost:5173"),
            ("CORS_ALLOW_HEADERS", "traceparent, TraceState,x-request-id"),
        ])
        .unwrap();
        assert_eq!(
            allowed.http.cors_allow_headers,
            ["traceparent", "tracestate", "x-request-id"]
        );
        for names in ["*", "trace parent", "x:y", "traceparent,,tracestate"] {
            let err = config(&[
                ("CORS_ORIGINS", "http://localhost:5173"),
                ("CORS_ALLOW_HEADERS", names),
            ])
            .unwrap_err();
            assert!(err.starts_with("CORS_ALLOW_HEADERS is invalid"), "{err}");
        }
        let err = config(&[("CORS_ALLOW_HEADERS", "traceparent")]).unwrap_err();
        assert!(err.contains("CORS_ORIGINS is not"), "{err}");
    }

    #[test]
    fn start_up_says_which_keys_seal_tokens() {
        let says = |config: &Config, what: &str| {
            config.warnings.iter().any(|warning| warning.contains(what))
        };
        let kept = config(&[]).unwrap();
        assert!(kept.token_key.is_none());
        assert!(says(&kept, "kept in the database"));
        let secret = "s".repeat(32);
        let set = config(&[("CURSOR_SECRET", &secret)]).unwrap();
        assert!(set.token_key.is_some());
        assert!(!says(&set, "CURSOR_SECRET"), "{:?}", set.warnings);
        let rotating = config(&[
            ("CURSOR_SECRET", &secret),
            (
                "CURSOR_SECRET_PREVIOUS",
                &format!("{}, {},", "p".repeat(32), "q".repeat(40)),
            ),
        ])
        .unwrap();
        assert_eq!(rotating.previous_token_keys.len(), 2);
        assert!(says(&rotating, "CURSOR_SECRET_PREVIOUS holds 2 key(s)"));
        assert!(
            !format!("{rotating:?}").contains(&secret),
            "secrets are never printed"
        );
    }

    #[test]
    fn database_timeouts_must_end_before_the_request_timeout() {
        let err = config(&[("DATABASE_STATEMENT_TIMEOUT_MS", "10000")]).unwrap_err();
        assert_eq!(
            err,
            "DATABASE_STATEMENT_TIMEOUT_MS (10000 ms) must be below REQUEST_TIMEOUT_MS (10000 ms)"
        );
        let err = config(&[("REQUEST_TIMEOUT_MS", "3000")]).unwrap_err();
        assert!(
            err.starts_with("DATABASE_STATEMENT_TIMEOUT_MS (5000 ms)"),
            "{err}"
        );
        let err = config(&[
            ("REQUEST_TIMEOUT_MS", "3000"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "1000"),
        ])
        .unwrap_err();
        assert!(
            err.starts_with("DATABASE_ACQUIRE_TIMEOUT_MS (5000 ms)"),
            "{err}"
        );
        assert!(config(&[("DATABASE_STATEMENT_TIMEOUT_MS", "0")]).is_err());
        let config = config(&[
            ("REQUEST_TIMEOUT_MS", "3000"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "1000"),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        ])
        .unwrap();
        assert_eq!(config.http.request_timeout, Duration::from_secs(3));
        assert_eq!(config.http.request_head_timeout, Duration::from_secs(10));
    }
}
