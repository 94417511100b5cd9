//! The service under test: `spawn_app()` starts it on port 0 with its own database and key
//! prefix and a hand-moved clock; `TestApp` calls it and reaches its state.

use std::sync::Arc;
use std::time::Duration;

use boxoffice::app::Application;
use boxoffice::clock::Clock;
use boxoffice::config::Settings;
use boxoffice::domain::{SeatId, ShowId};
use boxoffice::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    pub clock: Clock,
    pub settings: Settings,
    server: actix_web::dev::ServerHandle,
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
        app.state().sale.backend().pin(boxoffice::store::Mode::Postgres).await.expect("pin the deployment to postgres");
    }
    database_used(settings.database.url.expose());
    let address = format!("http://127.0.0.1:{}", app.port());
    let (state, server) = (app.state(), app.handle());
    let handle = tokio::spawn(app.run_until_stopped());
    let client =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build().unwrap();
    TestApp { address, client, state, clock, settings, server, _app: handle }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop is sent at once; the server's task carries it out and ends.
        drop(self.server.stop(false));
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
        ShowId(show.body["id"].as_i64().unwrap())
    }

    pub async fn configure_queue(&self, show: ShowId, config: Value) -> Reply {
        let reply = self
            .call(Method::PUT, &format!("/v1/admin/shows/{show}/queue"), Some(&self.admin_token()), Some(config))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply
    }

    /// The show's queue counts, as an admin reads them.
    pub async fn queue_stats(&self, show: ShowId) -> Reply {
        self.get(&format!("/v1/admin/shows/{show}/queue/stats"), Some(&self.admin_token())).await
    }

    pub async fn seat_ids(&self, show: ShowId) -> Vec<SeatId> {
        self.state.sale.db().catalog().seats(show).await.unwrap().into_iter().map(|s| s.id).collect()
    }

    pub async fn join(&self, show: ShowId, user_token: &str) -> Reply {
        self.post(&format!("/v1/shows/{show}/queue"), Some(user_token), json!({})).await
    }

    /// A new fan (a user token of their own) joins the show.
    pub async fn join_new_fan(&self, show: ShowId) -> Reply {
        let (user, _) = self.user().await;
        self.join(show, &user).await
    }

    pub async fn leave(&self, show: ShowId, queue_token: &str) -> Reply {
        self.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(queue_token), None).await
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
        let keys = self.state.sale.redis().keys.show(show);
        let mut doomed = keys.fixed();
        doomed.extend((0..boxoffice::store::redis::keys::MEMBER_BUCKETS).map(|n| keys.membership(n)));
        for chunk in doomed.chunks(1000) {
            self.state.sale.redis().query::<()>(redis::Cmd::del(chunk)).await.unwrap();
        }
    }

    /// How many rows of a table of Postgres' record the show has.
    pub async fn rows_of(&self, table: &str, show: ShowId) -> i64 {
        let query = format!("SELECT count(*) FROM {table} WHERE show_id = $1");
        sqlx::query_scalar(sqlx::AssertSqlSafe(query)).bind(show).fetch_one(&self.state.sale.db().pool).await.unwrap()
    }

    /// Drains every show's event stream into Postgres as the write-behind worker would.
    pub async fn drain_events(&self, consumer: &str) {
        while self.state.sale.write_behind(consumer).await.expect("write-behind round") > 0 {}
    }
}

pub async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the request is answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body, headers }
}
