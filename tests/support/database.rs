//! The test's Postgres: settings naming a fresh database copied from a template migrated
//! once per migration set, dropped (with the test's Redis keys) when its last instance goes;
//! and a Postgres server of a test's own for the fault tests.

use std::time::Duration;

use boxoffice::config::{Settings, Source};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use super::*;

pub fn stack_variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh (or `source .local/stack.env` after scripts/stack.sh up)")
    })
}

/// Settings for a test instance: the local stack, a fresh database and key prefix, port 0,
/// no background workers (tests drive admission and write-behind themselves), and store
/// timeouts generous enough for a slow, busy machine (the API tests check rules, not
/// latency; the fault tests set their own timeouts).
pub async fn test_settings() -> Settings {
    let target = match (std::env::var("REDIS_CLUSTER_NODES"), std::env::var("REDIS_URL")) {
        (Ok(nodes), _) => ("REDIS_CLUSTER_NODES", nodes),
        (Err(_), Ok(url)) => ("REDIS_URL", url),
        _ => ("REDIS_CLUSTER_NODES", stack_variable("REDIS_CLUSTER_NODES")),
    };
    test_settings_on(&stack_variable("DATABASE_URL"), target).await
}

/// Settings against a given Postgres server (a fresh database on it) and Redis.
pub async fn test_settings_on(server_url: &str, (redis_var, redis_value): (&str, String)) -> Settings {
    let database = format!("bo_test_{}", Uuid::new_v4().simple());
    let template = migrated_template(server_url).await;
    let mut conn = PgConnection::connect(server_url).await.expect("connect to the test Postgres");
    conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{database}" TEMPLATE "{template}""#)))
        .await
        .expect("create a test database");
    let db_url = replace_database(server_url, &database);
    let prefix = format!("test-{}", &Uuid::new_v4().simple().to_string()[..10]);
    let pairs = [
        ("DATABASE_URL", db_url.as_str()),
        ("BOXOFFICE_HTTP_ADDR", "127.0.0.1:0"),
        ("BOXOFFICE_HTTP_WORKERS", "2"),
        ("BOXOFFICE_REDIS_PREFIX", prefix.as_str()),
        ("BOXOFFICE_WORKERS", "false"),
        // Thousands of test fans come from one loopback address and retry at will: the
        // abuse limits are off unless a test is about them (tests/api/limits.rs).
        ("BOXOFFICE_LIMIT_TOKENS_PER_IP", "0"),
        ("BOXOFFICE_LIMIT_JOINS_PER_IP", "0"),
        ("BOXOFFICE_LIMIT_JOINS_PER_USER", "0"),
        ("BOXOFFICE_LIMIT_HOLDS_PER_USER", "0"),
        ("BOXOFFICE_LIMIT_RESERVATIONS_PER_USER", "0"),
        ("BOXOFFICE_DB_MAX_CONNECTIONS", "10"),
        ("BOXOFFICE_REDIS_TIMEOUT_MS", "5000"),
        ("BOXOFFICE_DB_TIMEOUT_MS", "10000"),
        (redis_var, redis_value.as_str()),
    ];
    let mut settings = Settings::from_source(&Source::from_pairs(pairs)).expect("test settings");
    // actix would otherwise take a signal for every instance of the test process: a Ctrl-C
    // would stop their servers and leave the tests failing against closed ports.
    settings.http.stop_on_signals = false;
    settings
}

/// A database with every migration applied, to copy (much faster than migrating each test's
/// database). One per migration set and server; made once, by whichever test process
/// gets there first (an advisory lock keeps the others waiting).
pub async fn migrated_template(server_url: &str) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    for migration in boxoffice::store::postgres::MIGRATOR.iter() {
        std::hash::Hash::hash(&(migration.version, &*migration.checksum), &mut hasher);
    }
    let template = format!("bo_template_{:016x}", std::hash::Hasher::finish(&hasher));
    let key = format!("{server_url} {template}");
    if TEMPLATES_MADE.lock().unwrap().contains(&key) {
        return template;
    }
    let mut conn = PgConnection::connect(server_url).await.expect("connect to the test Postgres");
    conn.execute("SELECT pg_advisory_lock(740700)").await.expect("the template lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&template)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    if !exists {
        let building = format!("{template}_building");
        conn.execute(sqlx::AssertSqlSafe(format!(r#"DROP DATABASE IF EXISTS "{building}""#))).await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{building}""#))).await.unwrap();
        let mut fresh = PgConnection::connect(&replace_database(server_url, &building)).await.unwrap();
        boxoffice::store::postgres::MIGRATOR.run(&mut fresh).await.expect("migrate the template");
        fresh.close().await.unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(r#"ALTER DATABASE "{building}" RENAME TO "{template}""#)))
            .await
            .unwrap();
    }
    conn.execute("SELECT pg_advisory_unlock(740700)").await.unwrap();
    TEMPLATES_MADE.lock().unwrap().push(key);
    template
}

/// The templates this process made or found, as `<server url> <template>`: a server stopped
/// for good takes its own out (another may come up on its port).
static TEMPLATES_MADE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// How many live instances use each test database; the last one out drops it.
pub static DATABASE_USERS: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

pub fn database_used(url: &str) {
    let mut users = DATABASE_USERS.lock().unwrap();
    match users.iter_mut().find(|(db, _)| db == url) {
        Some((_, n)) => *n += 1,
        None => users.push((url.to_string(), 1)),
    }
}

/// Drops the test's database and deletes its Redis keys when its last instance goes, on a
/// thread of its own that nobody waits for (`Drop` can't use the test's runtime, and waiting
/// made the suite a third slower). Best effort: a server a fault test stopped is gone, and
/// scripts/test.sh sweeps what an interrupted run left.
pub fn released(settings: &Settings) {
    if !database_released(settings.database.url.expose()) {
        return;
    }
    let (prefix, nodes) = (settings.redis.key_prefix.clone(), redis_nodes(&settings.redis.target));
    let url = settings.database.url.expose().to_string();
    std::thread::spawn(move || {
        drop_database(&url);
        nodes.iter().for_each(|node| delete_keys(node, &prefix));
    });
}

/// True when `url`'s last user is gone.
pub fn database_released(url: &str) -> bool {
    let mut users = DATABASE_USERS.lock().unwrap();
    let Some(i) = users.iter().position(|(db, _)| db == url) else { return false };
    users[i].1 -= 1;
    if users[i].1 > 0 {
        return false;
    }
    users.remove(i);
    true
}

pub fn drop_database(url: &str) {
    let (server, database) =
        (replace_database(url, "postgres"), url.rsplit('/').next().unwrap_or_default().to_string());
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    runtime.block_on(async {
        let connect = tokio::time::timeout(Duration::from_secs(2), PgConnection::connect(&server));
        if let Ok(Ok(mut conn)) = connect.await {
            let drop = format!(r#"DROP DATABASE IF EXISTS "{database}" WITH (FORCE)"#);
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.execute(sqlx::AssertSqlSafe(drop))).await;
        }
    });
}

pub fn replace_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("DATABASE_URL has a database name");
    format!("{base}/{database}")
}

/// A Postgres server of the test's own (scripts/postgres.sh), stopped on drop.
pub struct PrivatePostgres {
    pub dir: String,
    pub url: String,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = scratch_dir("test-postgres");
        let url = run_script("postgres.sh", &["start", "--dir", &dir]);
        Self { dir, url }
    }

    pub fn stop(&self) {
        run_script("postgres.sh", &["stop", "--dir", &self.dir, "--port", &self.port()]);
    }

    pub fn restart(&self) {
        run_script("postgres.sh", &["start", "--dir", &self.dir, "--port", &self.port()]);
    }

    fn port(&self) -> String {
        self.url.rsplit(':').next().unwrap().split('/').next().unwrap().to_string()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let prefix = format!("{} ", self.url);
        TEMPLATES_MADE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|key| !key.starts_with(&prefix));
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
