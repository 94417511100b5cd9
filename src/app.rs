//! Building and running the service: stores, shared state, workers and the HTTP server.
//! `Application::build` binds the configured address; tests bind port 0 and read `port()`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next, from_fn};
use actix_web::{App, HttpServer, ResponseError, web};
use tracing::Instrument;
use tracing::field::Empty;

use crate::auth::Tokens;
use crate::clock::Clock;
use crate::config::Settings;
use crate::error::{ApiError, Code};
use crate::sale::Sale;
use crate::state::AppState;
use crate::store::postgres::Database;
use crate::store::redis::Redis;
use crate::worker::{self, Workers};
use crate::{http, telemetry};

/// How long start-up waits for Redis and Postgres to become reachable.
const STARTUP_WAIT: Duration = Duration::from_secs(60);
/// How long a client may take to send a request's head.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an idle keep-alive connection stays open: longer than the longest poll interval.
const KEEP_ALIVE: Duration = Duration::from_secs(75);

pub struct Application {
    port: u16,
    server: Server,
    state: Arc<AppState>,
    _workers: Workers,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::RedisServer).await
    }

    /// Builds with an injected clock (tests move time by hand).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        // Installed first: what the stores record while they connect is kept.
        let metrics = telemetry::metrics();
        let db = Database::connect_lazy(&settings.database)?;
        migrate_when_reachable(&db).await?;
        let redis = Arc::new(Redis::connect(&settings.redis, clock, STARTUP_WAIT).await?);
        let tokens = Tokens::new(&settings.auth.jwt_secret, settings.auth.user_token_ttl);
        let sale = Sale::new(settings.clone(), db, redis, tokens.clone());
        sale.report_redis_hygiene().await;
        sale.start().await?;
        let state = Arc::new(AppState::new(settings, sale, tokens, metrics));
        if let Err(error) = state.sale.concerts(None).await {
            tracing::warn!(%error, "could not load the catalog cache at start-up; it loads on first read");
        }
        let listener = TcpListener::bind(state.settings.http.addr)?;
        let port = listener.local_addr()?.port();
        let server = http_server(state.clone(), listener)?;
        let workers = worker::spawn(state.clone(), state.settings.workers.enabled);
        Ok(Self { port, server, state, _workers: workers })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Stops the server from elsewhere (a test stops each instance it is done with: its
    /// workers and listener are threads of their own, which dropping the task leaves).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, then finishes in-flight requests and stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn migrate_when_reachable(db: &Database) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        match db.migrate().await {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() < STARTUP_WAIT && is_unreachable(&error) => {
                tracing::warn!(%error, "postgres not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => anyhow::bail!("cannot apply database migrations: {error}"),
        }
    }
}

/// Postgres not (yet) there: no connection, or a server still starting (57P03).
fn is_unreachable(error: &sqlx::migrate::MigrateError) -> bool {
    let sqlx::migrate::MigrateError::Execute(error) = error else { return false };
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

fn http_server(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let (workers, stop_on_signals) = (state.settings.http.workers, state.settings.http.stop_on_signals);
    let tokens = web::Data::new(state.tokens.clone());
    let data = web::Data::from(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(ErrorHandlers::new().default_handler(json_error_body))
            .wrap(from_fn(record_request))
            .wrap(from_fn(http::tell_backend))
            .app_data(data.clone())
            .app_data(tokens.clone())
            .configure(http::routes)
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(10)
    // An on-sale opens thousands of connections in the same second: on a busy machine a
    // worker may read a request's head later than actix's default 5 s, which would answer
    // 408 to a fan who did nothing wrong.
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    // Fans are told to come back in up to 36 s (`poll_after_ms`: 30 s and its jitter); with
    // actix's default of 5 s an idle connection can close just as a client reuses it, and
    // that request fails with no answer. Idle connections outlast any poll interval.
    .keep_alive(KEEP_ALIVE)
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n);
    }
    if !stop_on_signals {
        server = server.disable_signals();
    }
    Ok(server.run())
}

/// Every request runs in a span of its own (its id, method and route; the user and the show
/// once a token names them, see `auth::extract`), so every log line and store call under it
/// says whose request it was. Counts and times it by route pattern (never by raw path: ids
/// would explode the label set), and logs it at debug level (method, route, status; never
/// headers, which carry tokens). The id comes back in `X-Request-Id`.
async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let id = request_id(&req);
    let span = tracing::info_span!("request", %id, %method, %route, user = Empty, show = Empty);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| tracing::debug!(status, elapsed_ms = elapsed.as_secs_f64() * 1e3, "request"));
    if let Ok(value) = header::HeaderValue::from_str(&id) {
        response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    let labels = [("route", route), ("method", method), ("status", status.to_string())];
    metrics::counter!("boxoffice_http_requests_total", &labels).increment(1);
    metrics::histogram!("boxoffice_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    Ok(response)
}

/// The id a proxy gave the request (`X-Request-Id`: up to 64 letters, digits, `-` and `_`),
/// or a new one.
fn request_id(req: &ServiceRequest) -> String {
    let given = req.headers().get("x-request-id").and_then(|value| value.to_str().ok());
    let usable = |id: &&str| {
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    given.filter(usable).map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string)
}

/// Errors raised outside our handlers (actix's own 4xx, for example) get the JSON error body.
fn json_error_body<B: MessageBody + 'static>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status.as_u16() {
        413 => ApiError::new(Code::PayloadTooLarge, "the request body is too large"),
        404 => ApiError::not_found("no such resource"),
        405 => ApiError::new(Code::MethodNotAllowed, "method not allowed"),
        415 => ApiError::unsupported_media_type(),
        s if s >= 500 => ApiError::internal(format!("unhandled {status}")),
        _ => ApiError::new(Code::BadRequest, status.canonical_reason().unwrap_or("bad request")),
    };
    let (req, _) = res.into_parts();
    let mut response = error.error_response();
    *response.status_mut() = status;
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, response).map_into_right_body()))
}
