//! Postgres: the durable record. Catalog and reservations are written here first; the
//! write-behind worker brings the queue's history over from Redis.
//!
//! Every call is bounded twice: the pool's acquire timeout and a server-side
//! `statement_timeout`, and around both a client-side timeout, so a frozen server cannot
//! hang a request.

pub mod catalog;
pub mod events;
pub mod fairness;
pub mod holds;
mod ids;
pub mod live;
pub mod mode;
pub mod queue;
pub mod reservations;
pub mod retention;
pub mod snapshot;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use crate::config::DatabaseSettings;
use crate::store::{Constraint, StoreError};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The channel the seat triggers notify while Postgres serves, with the show id (migration
/// `..._seat_notify.sql`).
pub const SEATS_CHANNEL: &str = "bo_seats";

/// The channel a show's queue settings changes are announced on, with the show id
/// (migration `..._live_shows.sql`).
pub const SHOW_CHANGED_CHANNEL: &str = "bo_show_changed";

/// The pool's second guard against a write running inside someone else's transaction: a
/// connection given back while sqlx still counts it inside a transaction (a cancelled
/// request, say) is closed, not lent again. (The first guard is sqlx >= 0.9.1 itself: in
/// 0.9.0 a `begin()` cancelled during its BEGIN gave the connection back inside one.)
fn not_in_a_transaction(conn: &sqlx::PgConnection) -> bool {
    use sqlx::Connection;
    let clean = !conn.is_in_transaction();
    if !clean {
        metrics::counter!("boxoffice_db_connections_closed_in_transaction_total").increment(1);
        tracing::warn!("a pooled Postgres connection came back inside a transaction: closed");
    }
    clean
}

/// One role of the database, as the Redis side is split by role: a view of the pool whose
/// methods are that role's queries (`db.catalog().seats(show)`).
macro_rules! roles {
    ($($(#[$doc:meta])* $name:ident => $accessor:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub struct $name<'a>(&'a Database);

            impl std::ops::Deref for $name<'_> {
                type Target = Database;
                fn deref(&self) -> &Database {
                    self.0
                }
            }
        )*

        impl Database {
            $(pub fn $accessor(&self) -> $name<'_> {
                $name(self)
            })*
        }
    };
}

roles! {
    /// Concerts, shows, seats and queue settings.
    Catalog => catalog,
    /// The fair opening: the seed, the pre-queue, the draw and its published entries.
    Fairness => fairness,
    /// Which store serves the deployment, the instances' reports, the rebuild of Redis.
    Deployment => deployment,
    /// Sales and the Idempotency-Keys that replay them.
    Sales => sales,
    /// What Postgres knows of places: spent challenges, ended places.
    Places => places,
    /// The write-behind sink of the Redis event streams.
    WriteBehind => write_behind,
    /// Which shows are live: the registry the instances share (see `live`).
    Season => season,
    /// Deleting what was kept long enough, and exporting a show's history first.
    Retention => retention,
}

#[derive(Clone)]
pub struct Database {
    pub pool: PgPool,
    timeout: Duration,
}

impl Database {
    /// A pool that connects on first use, so the service can start while Postgres is down.
    pub fn connect_lazy(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let statement_timeout = settings.timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(settings.url.expose())
            .map_err(|e| StoreError::Internal(anyhow::anyhow!("DATABASE_URL is invalid: {e}")))?
            .application_name("boxoffice")
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.timeout)
            .after_release(|conn, _| Box::pin(async move { Ok(not_in_a_transaction(conn)) }))
            .connect_lazy_with(options);
        Ok(Self { pool, timeout: settings.timeout })
    }

    /// Runs one database operation, bounded by the configured timeout.
    pub async fn timed<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), operation).await {
            Ok(result) => result.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(format!("postgres call timed out after {:?}", self.timeout))),
        }
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection that `LISTEN`s to `channel` (connecting and subscribing bounded too).
    pub async fn listen(&self, channel: &str) -> Result<PgListener, sqlx::Error> {
        let bound = |_| sqlx::Error::PoolTimedOut;
        let mut listener =
            tokio::time::timeout(self.timeout, PgListener::connect_with(&self.pool)).await.map_err(bound)??;
        tokio::time::timeout(self.timeout, listener.listen(channel)).await.map_err(bound)??;
        Ok(listener)
    }

    /// Runs a multi-step operation (its own transaction, say), bounded by the timeout.
    pub async fn bounded<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        match tokio::time::timeout(self.timeout + Duration::from_millis(500), operation).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("postgres call timed out after {:?}", self.timeout))),
        }
    }

    /// Starts a transaction of the Postgres fallback: waits out a switch back to Redis in
    /// progress, refuses when the deployment is on Redis, and fixes the transaction's "now".
    pub async fn begin_fenced(
        &self,
        injected: Option<DateTime<Utc>>,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, DateTime<Utc>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (mode, now): (String, DateTime<Utc>) =
            sqlx::query!(r#"SELECT mode AS "mode!", now AS "now!" FROM bo_fence($1)"#, injected)
                .map(|row| (row.mode, row.now))
                .fetch_one(&mut *tx)
                .await?;
        if mode == "redis" {
            return Err(StoreError::ModeChanged);
        }
        Ok((tx, now))
    }

    /// Starts a transaction whatever the backend (for what Postgres records in every mode,
    /// such as the fair opening), and fixes its "now".
    pub async fn begin_at(
        &self,
        injected: Option<DateTime<Utc>>,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, DateTime<Utc>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = sqlx::query_scalar!(r#"SELECT COALESCE($1, clock_timestamp()) AS "now!""#, injected)
            .fetch_one(&mut *tx)
            .await?;
        Ok((tx, now))
    }

    /// Runs `work` in a fenced transaction of its own (see [`Self::begin_fenced`]), bounded
    /// by the timeout.
    pub async fn fenced<T>(
        &self,
        injected: Option<DateTime<Utc>>,
        work: impl for<'c> AsyncFnOnce(&'c mut sqlx::PgConnection, DateTime<Utc>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.bounded(async {
            let (mut tx, now) = self.begin_fenced(injected).await?;
            let outcome = work(&mut tx, now).await?;
            tx.commit().await?;
            Ok(outcome)
        })
        .await
    }

    pub async fn ping(&self) -> bool {
        self.timed(sqlx::query_scalar!("SELECT 1 AS one").fetch_one(&self.pool)).await.is_ok()
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        MIGRATOR.run(&self.pool).await
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound("no such row".into()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(Constraint::named(db.constraint().unwrap_or("unique constraint")))
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(format!("postgres: {error}"))
            }
            // 57014: statement_timeout; 57P01..03: the server is shutting down or starting;
            // 40001, 40P01: a serialization failure or deadlock, which a retry resolves.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01")) =>
            {
                StoreError::Unavailable(format!("postgres: {error}"))
            }
            _ => StoreError::Internal(error.into()),
        }
    }
}
