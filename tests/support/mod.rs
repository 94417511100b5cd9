//! Test harness shared by the integration test binaries: `spawn_app()` starts the service on
//! port 0 against the real local stack (scripts/stack.sh), with its own Postgres database
//! and its own Redis key prefix, and a hand-moved clock. Each test's database is a copy of a
//! template migrated once per migration set, and is dropped when the test's last instance
//! goes.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use boxoffice::app::Application;
use boxoffice::clock::Clock;
use boxoffice::config::{Settings, Source};
pub use boxoffice::domain::{SeatId, ShowId};
use boxoffice::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub clock: Clock,
    pub settings: Settings,
    _app: tokio::task::JoinHandle<std::io::Result<()>>,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

fn stack_variable(name: &str) -> String {
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
    Settings::from_source(&Source::from_pairs(pairs)).expect("test settings")
}

/// A database with every migration applied, to copy (much faster than migrating each test's
/// database). One per migration set and server; made once, by whichever test process
/// gets there first (an advisory lock keeps the others waiting).
async fn migrated_template(server_url: &str) -> String {
    static MADE: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let mut made = MADE.lock().await;
    let mut hasher = std::hash::DefaultHasher::new();
    for migration in boxoffice::store::postgres::MIGRATOR.iter() {
        std::hash::Hash::hash(&(migration.version, &*migration.checksum), &mut hasher);
    }
    let template = format!("bo_template_{:016x}", std::hash::Hasher::finish(&hasher));
    let key = format!("{server_url} {template}");
    if made.contains(&key) {
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
    made.push(key);
    template
}

/// How many live instances use each test database; the last one out drops it.
static DATABASE_USERS: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

fn database_used(url: &str) {
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
fn released(settings: &Settings) {
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

fn redis_nodes(target: &boxoffice::config::RedisTarget) -> Vec<String> {
    match target {
        boxoffice::config::RedisTarget::Cluster(seeds) => seeds.clone(),
        boxoffice::config::RedisTarget::Single(url) => vec![url.clone()],
    }
}

/// Deletes the keys under `prefix` that a master holds (replicas follow).
fn delete_keys(node: &str, prefix: &str) {
    let Ok(mut conn) = redis::Client::open(node).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
    else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut conn);
    if !matches!(role.as_deref(), Ok([redis::Value::BulkString(role), ..]) if role == b"master") {
        return;
    }
    let mut cursor = 0_u64;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query::<(u64, Vec<Vec<u8>>)>(&mut conn)
        else {
            return;
        };
        let mut pipe = redis::pipe();
        keys.iter().for_each(|key| {
            pipe.cmd("UNLINK").arg(key).ignore();
        });
        let _: redis::RedisResult<()> = pipe.query(&mut conn);
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// True when `url`'s last user is gone.
fn database_released(url: &str) -> bool {
    let mut users = DATABASE_USERS.lock().unwrap();
    let Some(i) = users.iter().position(|(db, _)| db == url) else { return false };
    users[i].1 -= 1;
    if users[i].1 > 0 {
        return false;
    }
    users.remove(i);
    true
}

fn drop_database(url: &str) {
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

fn replace_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("DATABASE_URL has a database name");
    format!("{base}/{database}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings().await;
    adjust(&mut settings);
    start(settings, Clock::manual()).await
}

/// An app on a standalone Redis of its own, for tests that count what Redis was asked.
pub async fn spawn_app_on_own_redis() -> (StandaloneRedis, TestApp) {
    let redis = StandaloneRedis::start();
    let url = redis.url();
    let app = spawn_app_with(|s| {
        s.redis.target = boxoffice::config::RedisTarget::Single(url);
        s.redis.wait_replicas = 0;
    })
    .await;
    (redis, app)
}

/// Another instance of the same deployment: same database, same key prefix, same clock.
pub async fn spawn_instance_of(app: &TestApp) -> TestApp {
    start(app.settings.clone(), app.clock.clone()).await
}

/// The backend the suite runs against: `redis`, or `postgres` with
/// `BOXOFFICE_TEST_BACKEND=postgres` (the deployment pinned to the fallback).
pub fn backend() -> &'static str {
    match std::env::var("BOXOFFICE_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "redis",
    }
}

pub async fn start(settings: Settings, clock: Clock) -> TestApp {
    // Quiet unless asked: `TEST_LOG=1 scripts/test.sh` shows the service's logs.
    if std::env::var_os("TEST_LOG").is_some() {
        boxoffice::telemetry::init_logs();
    }
    let app = Application::build_with_clock(settings.clone(), clock.clone()).await.expect("the app builds");
    if backend() == "postgres" {
        app.state().switch.pin(boxoffice::store::Mode::Postgres).await.expect("pin the deployment to postgres");
    }
    database_used(settings.database.url.expose());
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let handle = tokio::spawn(app.run_until_stopped());
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build().unwrap();
    TestApp { address, client, state, clock, settings, _app: handle }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self._app.abort();
        released(&self.settings);
    }
}

impl TestApp {
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        reply(request).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn admin_token(&self) -> String {
        self.state.tokens.issue_admin(Duration::from_secs(3600)).token
    }

    /// A fresh anonymous user: (user token, user id).
    pub async fn user(&self) -> (String, Uuid) {
        let reply = self.post("/v1/tokens", None, json!({})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let id = reply.body["user_id"].as_str().unwrap().parse().unwrap();
        (reply.body["token"].as_str().unwrap().to_string(), id)
    }

    /// Creates a concert with one show of `rows` x `seats_per_row` seats; returns the show id.
    pub async fn create_show(&self, rows: u32, seats_per_row: u32) -> ShowId {
        let admin = self.admin_token();
        let concert = self.post("/v1/admin/concerts", Some(&admin), json!({"title": "Test Concert"})).await;
        assert_eq!(concert.status, StatusCode::CREATED, "{:?}", concert.body);
        let show = self
            .post(
                &format!("/v1/admin/concerts/{}/shows", concert.body["id"]),
                Some(&admin),
                json!({"starts_at": "2030-06-01T20:00:00Z",
                       "sections": [{"name": "Floor", "rows": rows, "seats_per_row": seats_per_row, "price": 50.0}]}),
            )
            .await;
        assert_eq!(show.status, StatusCode::CREATED, "{:?}", show.body);
        let id = ShowId(show.body["id"].as_i64().unwrap());
        self.state.shows.refresh(&self.state.db).await;
        id
    }

    pub async fn configure_queue(&self, show: ShowId, config: Value) -> Reply {
        let reply = self
            .call(Method::PUT, &format!("/v1/admin/shows/{show}/queue"), Some(&self.admin_token()), Some(config))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply
    }

    pub async fn seat_ids(&self, show: ShowId) -> Vec<SeatId> {
        self.state.db.seats(show).await.unwrap().into_iter().map(|s| s.id).collect()
    }

    pub async fn join(&self, show: ShowId, user_token: &str) -> Reply {
        self.post(&format!("/v1/shows/{show}/queue"), Some(user_token), json!({})).await
    }

    pub async fn poll(&self, show: ShowId, queue_token: &str) -> Reply {
        self.get(&format!("/v1/shows/{show}/queue"), Some(queue_token)).await
    }

    /// One admission tick of every show, as the ticker would run it.
    pub async fn tick(&self) {
        boxoffice::worker::admission::tick_all(&self.state).await;
    }

    /// Moves the injected clock, then ticks.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.tick().await;
    }

    /// A user admitted into the show's active set: returns their queue token. Opens the
    /// queue wide first.
    pub async fn active_user(&self, show: ShowId) -> (String, Uuid) {
        let (user, id) = self.user().await;
        let joined = self.join(show, &user).await;
        let queue_token = joined.body["queue_token"].as_str().unwrap().to_string();
        for _ in 0..50 {
            self.advance(Duration::from_millis(200)).await;
            if self.poll(show, &queue_token).await.body["status"] == "active" {
                return (queue_token, id);
            }
        }
        panic!("user was never admitted to show {show}");
    }

    /// Makes admission immediate for the show (tests that are not about admission).
    pub async fn open_wide(&self, show: ShowId) {
        self.configure_queue(show, json!({"max_active": 100000, "admit_per_second": 100000.0})).await;
    }

    /// A new show that admits everyone at once, and its seat ids.
    pub async fn open_show(&self, rows: u32, seats_per_row: u32) -> (ShowId, Vec<SeatId>) {
        let show = self.create_show(rows, seats_per_row).await;
        self.open_wide(show).await;
        (show, self.seat_ids(show).await)
    }

    /// Drains the event streams when the suite runs on Redis (on Postgres there are none).
    pub async fn drain_events_if_on_redis(&self) {
        if backend() == "redis" {
            self.drain_events("worker").await;
        }
    }

    /// Deletes every key of the show from Redis, as a Redis restarted empty would have.
    pub async fn forget_show_in_redis(&self, show: ShowId) {
        let keys = self.state.redis.keys.show(show);
        let mut doomed = keys.fixed();
        doomed.extend((0..boxoffice::store::redis::keys::MEMBER_BUCKETS).map(|n| keys.membership(n)));
        for chunk in doomed.chunks(1000) {
            self.state.redis.query::<()>(redis::Cmd::del(chunk)).await.unwrap();
        }
    }

    /// Drains every show's event stream into Postgres as the write-behind worker would.
    pub async fn drain_events(&self, consumer: &str) {
        while boxoffice::worker::write_behind::drain_all(&self.state, consumer).await.expect("write-behind round") > 0 {
        }
    }
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request is answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body, headers }
}

/// A standalone `redis-server` of the test's own, on a free port; stopped on drop.
pub struct StandaloneRedis {
    port: u16,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl StandaloneRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("boxoffice-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/stack.sh installs it)");
        let redis = Self { port, child, dir };
        for _ in 0..100 {
            if redis.connection().is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the standalone redis-server on {port} did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection()
    }

    /// Commands this server has run, INFO itself and the instances' once-a-second health
    /// probe (PING) excluded.
    pub fn config_set(&self, name: &str, value: &str) {
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(&mut self.connection().unwrap()).unwrap();
    }

    pub fn command_calls(&self) -> u64 {
        self.calls_where(|name| name != "info" && name != "ping")
    }

    /// How often this server has run one command (lower case, e.g. `evalsha`).
    pub fn calls_of(&self, command: &str) -> u64 {
        self.calls_where(|name| name == command)
    }

    fn calls_where(&self, counted: impl Fn(&str) -> bool) -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut self.connection().unwrap()).unwrap();
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_")?.split_once(':'))
            .filter(|(name, _)| counted(name))
            .filter_map(|(_, stats)| stats.strip_prefix("calls=")?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for StandaloneRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

/// Runs one of the project's scripts; returns its stdout's last line.
fn run_script(name: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(script(name))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("BOXOFFICE_REDIS_BASE_PORT")
        .env_remove("BOXOFFICE_PG_PORT")
        .output()
        .expect("the script runs");
    assert!(output.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string()
}

fn scratch_dir(what: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".local")
        .join(format!("{what}-{}", Uuid::new_v4().simple()));
    dir.to_string_lossy().into_owned()
}

/// A six-node Redis Cluster of the test's own (scripts/redis-cluster.sh), stopped on drop.
pub struct PrivateCluster {
    pub dir: String,
    pub seeds: String,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let dir = scratch_dir("test-cluster");
        let seeds = run_script("redis-cluster.sh", &["start", "--dir", &dir]);
        Self { dir, seeds }
    }

    /// Port and pid of the master serving a key's hash slot.
    pub fn master_of(&self, key: &str) -> (u16, u32) {
        let seed = self.seeds.split(',').next().unwrap();
        let mut conn = redis::Client::open(format!("redis://{seed}")).unwrap().get_connection().unwrap();
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut conn).unwrap();
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut conn).unwrap();
        let port = nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().unwrap()..=b.parse().unwrap()).contains(&slot),
                    None => range.parse::<u16>().ok() == Some(slot),
                });
                serves.then(|| fields[1].split(['@', ':']).nth(1).unwrap().parse::<u16>().unwrap())
            })
            .expect("a master serves the slot");
        (port, self.pid(port))
    }

    /// Waits until every replica of the master on `port` has acknowledged all it was sent,
    /// so that killing the master tests the failover itself, not asynchronous replication's
    /// window (which can lose the last acknowledged writes: see "Known limits" in the README).
    pub async fn wait_replicated(&self, port: u16) {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
        for _ in 0..100 {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).unwrap();
            let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("");
            let master_offset = field("master_repl_offset:");
            let replica = field("slave0:");
            if !replica.is_empty() && replica.split(',').any(|kv| kv == format!("offset={master_offset}")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the replica of 127.0.0.1:{port} never caught up");
    }
}

impl PrivateCluster {
    /// A plain connection to one node, to inflict a fault through (bounded: a frozen node
    /// must not hang the test).
    pub fn node(&self, port: u16) -> redis::Connection {
        self.try_node(port).unwrap()
    }

    fn try_node(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(conn)
    }

    /// The ports of all six nodes.
    pub fn seed_ports(&self) -> Vec<u16> {
        self.seeds.split(',').map(|seed| seed.rsplit(':').next().unwrap().parse().unwrap()).collect()
    }

    fn role(&self, port: u16) -> Option<String> {
        let mut conn = self.try_node(port).ok()?;
        let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).ok()?;
        info.lines().find_map(|line| line.trim().strip_prefix("role:").map(str::to_string))
    }

    /// The port of a replica of the master on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let mut conn = self.node(port);
        let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).unwrap();
        let replica = info.lines().find_map(|l| l.strip_prefix("slave0:")).expect("the master has a replica");
        replica.split(',').find_map(|kv| kv.strip_prefix("port=")).unwrap().parse().unwrap()
    }

    /// The pid of the node on `port`.
    pub fn pid(&self, port: u16) -> u32 {
        std::fs::read_to_string(format!("{}/{port}/redis.pid", self.dir)).unwrap().trim().parse().unwrap()
    }

    /// Starts a node that was killed again, with its cluster config: it rejoins as the
    /// replica of the node that took over (and, with no persistence, resyncs from it).
    pub fn restart_node(&self, port: u16) {
        run_script("redis-cluster.sh", &["restart-node", &port.to_string(), "--dir", &self.dir]);
    }

    /// Waits until the node on `port` is a master (a replica took over).
    pub async fn wait_until_master(&self, port: u16, limit: Duration) {
        let started = std::time::Instant::now();
        while self.role(port).as_deref() != Some("master") {
            assert!(started.elapsed() < limit, "127.0.0.1:{port} never took over");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The pids of all six nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.seeds
            .split(',')
            .map(|seed| seed.rsplit(':').next().unwrap())
            .filter_map(|port| std::fs::read_to_string(format!("{}/{port}/redis.pid", self.dir)).ok())
            .map(|pid| pid.trim().parse().unwrap())
            .collect()
    }

    /// Sends a signal (`-STOP`, `-CONT`, `-KILL`) to every node.
    pub fn signal_all(&self, signal: &str) {
        for pid in self.pids() {
            let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
        }
    }

    /// Kills every node and starts a new, empty cluster on the same ports.
    pub fn restart_empty(&self) {
        self.signal_all("-KILL");
        let base = self.seeds.split(',').next().unwrap().rsplit(':').next().unwrap().to_string();
        run_script("redis-cluster.sh", &["stop", "--dir", &self.dir, "--base-port", &base]);
        run_script("redis-cluster.sh", &["start", "--dir", &self.dir, "--base-port", &base]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        run_script("redis-cluster.sh", &["stop", "--dir", &self.dir]);
    }
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
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy to one address that a test can cut (every connection through it closes, new
/// ones are refused) and heal: one instance losing Redis while the others keep it.
pub struct CuttableProxy {
    pub port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CuttableProxy {
    pub async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (is_cut, open_links) = (cut.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_cut.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                open_links.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self { port, cut, links, accept }
    }

    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        self.links.lock().unwrap().drain(..).for_each(|link| link.abort());
    }

    pub fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.links.lock().unwrap().drain(..).for_each(|link| link.abort());
    }
}

/// One server-sent event as a client sees it.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub id: Option<String>,
    pub data: Value,
}

/// A client of one event stream, reading events as they come.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>>,
    buffer: String,
    pub comments: usize,
}

impl TestApp {
    /// Opens an event stream with the token in the Authorization header: the stream, or the
    /// (JSON error) reply when it is refused.
    pub async fn events(&self, path: &str, token: &str) -> Result<EventStream, Reply> {
        self.open_events(self.client.get(self.url(path)).bearer_auth(token)).await
    }

    pub async fn open_events(&self, request: reqwest::RequestBuilder) -> Result<EventStream, Reply> {
        // A client without the overall timeout: a stream stays open as long as it likes.
        let response = request.timeout(Duration::from_secs(3600)).send().await.expect("the stream is answered");
        if response.status() != StatusCode::OK {
            let (status, headers) = (response.status(), response.headers().clone());
            let text = response.text().await.unwrap_or_default();
            return Err(Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers });
        }
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
        assert_eq!(content_type, "text/event-stream");
        Ok(EventStream { body: Box::pin(response.bytes_stream()), buffer: String::new(), comments: 0 })
    }
}

impl EventStream {
    /// The next event within `limit`, or `None` (the stream ended, or nothing came).
    pub async fn next_within(&mut self, limit: Duration) -> Option<Event> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = self.parse(&frame) {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
                _ => return None,
            }
        }
    }

    /// The next event of this kind within `limit`, skipping others.
    pub async fn next_of(&mut self, kind: &str, limit: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_within(left).await?;
            if event.kind == kind {
                return Some(event);
            }
        }
    }

    fn parse(&mut self, frame: &str) -> Option<Event> {
        let (mut kind, mut id, mut data) = (None, None, None);
        for line in frame.lines() {
            if line.starts_with(':') {
                self.comments += 1;
            } else if let Some(value) = line.strip_prefix("event: ") {
                kind = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_string());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).expect("data is one line of JSON"));
            }
        }
        Some(Event { kind: kind?, id, data: data? })
    }
}
