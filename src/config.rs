//! Typed settings, read from environment variables over an optional TOML file.
//!
//! Every setting has one name, the environment variable's (`DATABASE_URL`,
//! `BOXOFFICE_HTTP_ADDR`, ...). The file named by `BOXOFFICE_CONFIG` is a flat TOML table
//! using the same names; the environment wins over the file. Errors name the variable.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::limits::LimitSettings;

/// The JWT secret used when none is configured outside production. It is public, so
/// start-up prints a warning whenever it is in use.
pub const DEV_JWT_SECRET: &str = "boxoffice-development-secret-do-not-use-in-production";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("cannot read the config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub workers: WorkerSettings,
    pub limits: LimitSettings,
    pub retention: RetentionSettings,
}

/// How long what a season leaves in Postgres is kept (see `store::postgres::retention`).
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// Places, holes and pre-queues of a show, counted from the end of its sale.
    pub queue_history: Duration,
    /// Write-behind events of a show, counted the same way.
    pub events: Duration,
    pub idempotency_keys: Duration,
    /// Counted from the challenge's expiry.
    pub spent_challenges: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// actix worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Event streams this instance keeps open at most; past it new ones get 503.
    pub max_streams: usize,
    /// How often a quiet event stream gets a keep-alive comment: below the idle timeout of
    /// any proxy in front (it is also how soon a client that went away frees its slot).
    pub keep_alive: Duration,
    /// Whether SIGTERM and SIGINT stop the server (they do in a deployment; a test's
    /// instances stop when the test is done with them, and a signal ends the test process).
    pub stop_on_signals: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    /// Bound on every Postgres call, pool acquisition included.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RedisTarget {
    Cluster(Vec<String>),
    Single(String),
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub target: RedisTarget,
    /// Prefix of every key, so several deployments (or tests) can share one cluster.
    pub key_prefix: String,
    /// Bound on every Redis call.
    pub timeout: Duration,
    /// Replicas that must confirm a join, hold or admission before it is acknowledged
    /// (`WAIT`); 0 acknowledges what the master alone has. By default 1 on a cluster, 0 on
    /// a single Redis (a development server, usually without a replica).
    pub wait_replicas: u32,
    /// How long a write waits for those replicas before it is answered 503 instead.
    pub wait_timeout: Duration,
    pub access: RedisAccess,
}

/// How every connection to Redis signs in and is encrypted, the same for every node: what a
/// managed Redis (ElastiCache or MemoryDB in cluster mode) asks for. TLS is chosen by the
/// addresses' scheme (`rediss://`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisAccess {
    /// An ACL user (`REDIS_USERNAME`); with a password alone, Redis' `default` user.
    pub username: Option<String>,
    /// `REDIS_PASSWORD`, the ACL user's password or the `AUTH` token.
    pub password: Option<Secret>,
    /// The CA certificate (PEM) the nodes' certificates are checked against, read from
    /// `REDIS_TLS_CA_FILE`; without it the system's trust store (a managed Redis' public CA).
    pub tls_ca: Option<Pem>,
}

/// PEM text, read once at start.
#[derive(Clone, PartialEq)]
pub struct Pem(pub Vec<u8>);

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pem({} bytes)", self.0.len())
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_secret: Secret,
    pub secret_is_dev_default: bool,
    pub user_token_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Run the admission ticker and write-behind worker in this process.
    pub enabled: bool,
    pub admission_tick: Duration,
    pub write_behind_poll: Duration,
    /// How long a write-behind lease on a show lasts without renewal; a crashed consumer's
    /// shows are taken over after it.
    pub write_behind_lease: Duration,
    /// How long every instance must have reached Redis without a failure before the
    /// deployment leaves the Postgres fallback (so a flapping Redis doesn't flap the sale).
    pub redis_recovery: Duration,
    /// After a switch to Postgres, how long holds and sales of a show wait for the holds Redis
    /// acknowledged to reach Postgres before Postgres decides them anyway (Redis is still
    /// unreachable then). Above the Redis Cluster's failover time.
    pub hold_handover: Duration,
    /// How long a show must have had nobody in line (and its event streams drained) before
    /// the instances stop working on it (see `cache::LiveShows`).
    pub quiet_after: Duration,
    /// How long after a show starts its sale ends by itself (a new show's `ends_at`).
    pub end_grace: Duration,
}

/// Where settings are read from: the environment over an optional file.
#[derive(Debug, Default, Clone)]
pub struct Source {
    values: HashMap<String, String>,
}

impl Source {
    /// The process environment over the file named by `BOXOFFICE_CONFIG`, if any.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut source = match std::env::var("BOXOFFICE_CONFIG") {
            Ok(path) if !path.is_empty() => Self::from_file(&path)?,
            _ => Self::default(),
        };
        source.values.extend(std::env::vars());
        Ok(source)
    }

    pub fn from_file(path: &str) -> Result<Self, ConfigError> {
        let file_error = |reason: String| ConfigError::File { path: path.to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| file_error(e.to_string()))?;
        let values = table
            .into_iter()
            .map(|(key, value)| match value {
                toml::Value::String(s) => (key, s),
                other => (key, other.to_string()),
            })
            .collect();
        Ok(Self { values })
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let values = pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self { values }
    }

    fn get(&self, var: &str) -> Option<&str> {
        self.values.get(var).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    fn require(&self, var: &'static str, hint: &'static str) -> Result<&str, ConfigError> {
        self.get(var).ok_or(ConfigError::Missing { var, hint })
    }

    fn parse_or<T>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => {
                raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { var, reason: format!("{raw:?}: {e}") })
            }
        }
    }

    fn millis_or(&self, var: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse_or(var, default_ms)?;
        if ms == 0 {
            return Err(ConfigError::Invalid { var, reason: "must be greater than 0".into() });
        }
        Ok(Duration::from_millis(ms))
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_env()?)
    }

    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let environment = environment(src)?;
        Ok(Self {
            http: HttpSettings {
                addr: src.parse_or("BOXOFFICE_HTTP_ADDR", SocketAddr::from(([0, 0, 0, 0], 8080)))?,
                workers: src.parse_or("BOXOFFICE_HTTP_WORKERS", 0usize).map(|n| (n > 0).then_some(n))?,
                max_streams: src.parse_or("BOXOFFICE_SSE_MAX_STREAMS", 50_000)?,
                keep_alive: src.millis_or("BOXOFFICE_SSE_KEEP_ALIVE_MS", 15_000)?,
                stop_on_signals: true,
            },
            database: DatabaseSettings {
                url: Secret::new(src.require("DATABASE_URL", "a postgres:// URL (scripts/stack.sh up prints one)")?),
                max_connections: src.parse_or("BOXOFFICE_DB_MAX_CONNECTIONS", 20)?,
                timeout: src.millis_or("BOXOFFICE_DB_TIMEOUT_MS", 3000)?,
            },
            redis: RedisSettings {
                wait_replicas: src
                    .parse_or("BOXOFFICE_REDIS_WAIT_REPLICAS", default_wait_replicas(&redis_target(src)?))?,
                target: redis_target(src)?,
                key_prefix: key_prefix(src)?,
                timeout: src.millis_or("BOXOFFICE_REDIS_TIMEOUT_MS", 1000)?,
                wait_timeout: src.millis_or("BOXOFFICE_REDIS_WAIT_MS", 250)?,
                access: redis_access(src, &redis_target(src)?)?,
            },
            auth: auth(src, environment)?,
            workers: WorkerSettings {
                enabled: src.parse_or("BOXOFFICE_WORKERS", true)?,
                admission_tick: src.millis_or("BOXOFFICE_ADMISSION_TICK_MS", 100)?,
                write_behind_poll: src.millis_or("BOXOFFICE_WRITE_BEHIND_POLL_MS", 100)?,
                write_behind_lease: src.millis_or("BOXOFFICE_WRITE_BEHIND_LEASE_MS", 10_000)?,
                redis_recovery: src.millis_or("BOXOFFICE_REDIS_RECOVERY_MS", 5_000)?,
                hold_handover: src.millis_or("BOXOFFICE_HOLD_HANDOVER_MS", 10_000)?,
                quiet_after: src.millis_or("BOXOFFICE_QUIET_AFTER_MS", 30_000)?,
                end_grace: src.millis_or("BOXOFFICE_END_GRACE_MS", 6 * 3600 * 1000)?,
            },
            limits: limits(src)?,
            retention: RetentionSettings {
                queue_history: days(src, "BOXOFFICE_RETAIN_QUEUE_HISTORY_DAYS", 90)?,
                events: days(src, "BOXOFFICE_RETAIN_EVENTS_DAYS", 30)?,
                idempotency_keys: days(src, "BOXOFFICE_RETAIN_IDEMPOTENCY_KEYS_DAYS", 7)?,
                spent_challenges: days(src, "BOXOFFICE_RETAIN_SPENT_CHALLENGES_DAYS", 0)?,
            },
            environment,
        })
    }
}

fn days(src: &Source, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
    Ok(Duration::from_secs(src.parse_or::<u64>(var, default)? * 24 * 3600))
}

fn limits(src: &Source) -> Result<LimitSettings, ConfigError> {
    let proxies = src.get("BOXOFFICE_TRUSTED_PROXIES").unwrap_or_default();
    let defaults = LimitSettings::default();
    Ok(LimitSettings {
        tokens_per_ip: src.parse_or("BOXOFFICE_LIMIT_TOKENS_PER_IP", defaults.tokens_per_ip)?,
        joins_per_ip: src.parse_or("BOXOFFICE_LIMIT_JOINS_PER_IP", defaults.joins_per_ip)?,
        joins_per_user: src.parse_or("BOXOFFICE_LIMIT_JOINS_PER_USER", defaults.joins_per_user)?,
        holds_per_user: src.parse_or("BOXOFFICE_LIMIT_HOLDS_PER_USER", defaults.holds_per_user)?,
        reservations_per_user: src.parse_or("BOXOFFICE_LIMIT_RESERVATIONS_PER_USER", defaults.reservations_per_user)?,
        trusted_proxies: crate::limits::parse_proxies(proxies).map_err(|bad| ConfigError::Invalid {
            var: "BOXOFFICE_TRUSTED_PROXIES",
            reason: format!("{bad:?} is neither an address nor a CIDR range"),
        })?,
    })
}

fn environment(src: &Source) -> Result<Environment, ConfigError> {
    match src.get("BOXOFFICE_ENV").unwrap_or("development") {
        "development" | "dev" => Ok(Environment::Development),
        "production" | "prod" => Ok(Environment::Production),
        other => Err(ConfigError::Invalid {
            var: "BOXOFFICE_ENV",
            reason: format!("{other:?}: expected development or production"),
        }),
    }
}

fn default_wait_replicas(target: &RedisTarget) -> u32 {
    match target {
        RedisTarget::Cluster(_) => 1,
        RedisTarget::Single(_) => 0,
    }
}

/// `REDIS_CLUSTER_NODES` wins over `REDIS_URL` when both are set.
fn redis_target(src: &Source) -> Result<RedisTarget, ConfigError> {
    if let Some(nodes) = src.get("REDIS_CLUSTER_NODES") {
        let seeds: Vec<String> = nodes.split(',').map(str::trim).filter(|s| !s.is_empty()).map(seed_url).collect();
        if seeds.is_empty() {
            return Err(ConfigError::Invalid {
                var: "REDIS_CLUSTER_NODES",
                reason: "expected comma-separated host:port seeds".into(),
            });
        }
        return Ok(RedisTarget::Cluster(seeds));
    }
    match src.get("REDIS_URL") {
        Some(url) => Ok(RedisTarget::Single(url.to_string())),
        None => Err(ConfigError::Missing {
            var: "REDIS_CLUSTER_NODES",
            hint: "set REDIS_CLUSTER_NODES (host:port,...) for a cluster or REDIS_URL for one node",
        }),
    }
}

fn redis_access(src: &Source, target: &RedisTarget) -> Result<RedisAccess, ConfigError> {
    let tls_ca = match src.get("REDIS_TLS_CA_FILE") {
        None => None,
        Some(path) => Some(Pem(std::fs::read(path).map_err(|e| ConfigError::Invalid {
            var: "REDIS_TLS_CA_FILE",
            reason: format!("cannot read {path}: {e}"),
        })?)),
    };
    let addresses = match target {
        RedisTarget::Cluster(seeds) => seeds.clone(),
        RedisTarget::Single(url) => vec![url.clone()],
    };
    if tls_ca.is_some() && !addresses.iter().all(|address| address.starts_with("rediss://")) {
        return Err(ConfigError::Invalid {
            var: "REDIS_TLS_CA_FILE",
            reason: "set, but the Redis addresses are not all rediss:// (TLS)".into(),
        });
    }
    Ok(RedisAccess {
        username: src.get("REDIS_USERNAME").map(str::to_string),
        password: src.get("REDIS_PASSWORD").map(Secret::new),
        tls_ca,
    })
}

fn seed_url(seed: &str) -> String {
    if seed.contains("://") { seed.to_string() } else { format!("redis://{seed}") }
}

fn key_prefix(src: &Source) -> Result<String, ConfigError> {
    let prefix = src.get("BOXOFFICE_REDIS_PREFIX").unwrap_or("bo").to_string();
    let valid = prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid || prefix.len() > 40 {
        return Err(ConfigError::Invalid {
            var: "BOXOFFICE_REDIS_PREFIX",
            reason: "use up to 40 letters, digits, '-' or '_' (no braces: they would change hash slots)".into(),
        });
    }
    Ok(prefix)
}

fn auth(src: &Source, environment: Environment) -> Result<AuthSettings, ConfigError> {
    let (secret, is_default) = match (src.get("BOXOFFICE_JWT_SECRET"), environment) {
        (Some(secret), _) if secret.len() < 32 => {
            return Err(ConfigError::Invalid {
                var: "BOXOFFICE_JWT_SECRET",
                reason: "must be at least 32 characters".into(),
            });
        }
        (Some(secret), _) => (secret.to_string(), false),
        (None, Environment::Production) => {
            return Err(ConfigError::Missing {
                var: "BOXOFFICE_JWT_SECRET",
                hint: "production needs a secret of at least 32 characters",
            });
        }
        (None, Environment::Development) => (DEV_JWT_SECRET.to_string(), true),
    };
    let ttl_s: u64 = src.parse_or("BOXOFFICE_TOKEN_TTL_S", 24 * 3600)?;
    Ok(AuthSettings {
        jwt_secret: Secret::new(secret),
        secret_is_dev_default: is_default,
        user_token_ttl: Duration::from_secs(ttl_s.max(60)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal<'a>(extra: &[(&'a str, &'a str)]) -> Source {
        let mut pairs = vec![("DATABASE_URL", "postgres://localhost/x"), ("REDIS_URL", "redis://127.0.0.1:6379")];
        pairs.extend_from_slice(extra);
        Source::from_pairs(pairs)
    }

    #[test]
    fn a_missing_database_url_is_named_in_the_error() {
        let err = Settings::from_source(&Source::from_pairs([("REDIS_URL", "redis://x")])).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { var: "DATABASE_URL", .. }));
        assert!(err.to_string().starts_with("DATABASE_URL is not set"));
    }

    #[test]
    fn a_bad_address_is_named_with_its_value() {
        let err = Settings::from_source(&minimal(&[("BOXOFFICE_HTTP_ADDR", "nowhere")])).unwrap_err();
        assert!(err.to_string().contains("BOXOFFICE_HTTP_ADDR is invalid: \"nowhere\""), "{err}");
    }

    #[test]
    fn cluster_nodes_win_over_a_single_url() {
        let settings =
            Settings::from_source(&minimal(&[("REDIS_CLUSTER_NODES", "127.0.0.1:7301, 127.0.0.1:7302")])).unwrap();
        assert_eq!(
            settings.redis.target,
            RedisTarget::Cluster(vec!["redis://127.0.0.1:7301".into(), "redis://127.0.0.1:7302".into()])
        );
    }

    #[test]
    fn production_refuses_to_start_without_a_jwt_secret() {
        let err = Settings::from_source(&minimal(&[("BOXOFFICE_ENV", "production")])).unwrap_err();
        assert!(matches!(err, ConfigError::Missing { var: "BOXOFFICE_JWT_SECRET", .. }));
    }

    #[test]
    fn development_falls_back_to_the_default_secret_and_says_so() {
        let settings = Settings::from_source(&minimal(&[])).unwrap();
        assert!(settings.auth.secret_is_dev_default);
        assert_eq!(settings.auth.jwt_secret.expose(), DEV_JWT_SECRET);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let settings = Settings::from_source(&minimal(&[("BOXOFFICE_JWT_SECRET", &"s".repeat(40))])).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("sssss") && !printed.contains("postgres://"), "{printed}");
    }

    #[test]
    fn a_managed_cluster_is_reached_over_tls_with_its_acl_user_and_the_password_stays_secret() {
        let ca = std::env::temp_dir().join(format!("boxoffice-ca-{}.crt", std::process::id()));
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let settings = Settings::from_source(&minimal(&[
            ("REDIS_CLUSTER_NODES", "rediss://clustercfg.example.cache.amazonaws.com:6379"),
            ("REDIS_USERNAME", "boxoffice"),
            ("REDIS_PASSWORD", "hunter2-hunter2"),
            ("REDIS_TLS_CA_FILE", ca.to_str().unwrap()),
        ]))
        .unwrap();
        std::fs::remove_file(&ca).unwrap();
        let access = &settings.redis.access;
        assert_eq!(access.username.as_deref(), Some("boxoffice"));
        assert_eq!(access.password.as_ref().map(Secret::expose), Some("hunter2-hunter2"));
        assert_eq!(access.tls_ca.as_ref().map(|pem| pem.0.len()), Some(28));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_ca_certificate_for_plain_addresses_or_one_that_cannot_be_read_is_refused() {
        let missing = Settings::from_source(&minimal(&[("REDIS_TLS_CA_FILE", "/nonexistent/ca.crt")])).unwrap_err();
        assert!(missing.to_string().starts_with("REDIS_TLS_CA_FILE is invalid: cannot read"), "{missing}");
        let cargo_toml = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let plain = Settings::from_source(&minimal(&[("REDIS_TLS_CA_FILE", cargo_toml)])).unwrap_err();
        assert!(plain.to_string().contains("not all rediss://"), "{plain}");
    }

    #[test]
    fn a_key_prefix_with_braces_is_refused() {
        let err = Settings::from_source(&minimal(&[("BOXOFFICE_REDIS_PREFIX", "a{b}")])).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "BOXOFFICE_REDIS_PREFIX", .. }));
    }

    #[test]
    fn the_file_is_read_and_the_environment_overrides_it() {
        let path = std::env::temp_dir().join(format!("boxoffice-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(
            &path,
            "DATABASE_URL = \"postgres://file/db\"\nREDIS_URL = \"redis://file\"\nBOXOFFICE_DB_MAX_CONNECTIONS = 7\n",
        )
        .unwrap();
        let mut source = Source::from_file(path.to_str().unwrap()).unwrap();
        source.values.insert("REDIS_URL".into(), "redis://env".into());
        let settings = Settings::from_source(&source).unwrap();
        assert_eq!(settings.database.max_connections, 7);
        assert_eq!(settings.redis.target, RedisTarget::Single("redis://env".into()));
        std::fs::remove_file(path).ok();
    }
}
