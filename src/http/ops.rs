//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;
use crate::store::Mode;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)))
        .service(super::resource("/metrics").route(web::get().to(metrics)));
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `up` or `down`.
    redis: &'static str,
    /// `up` or `down`.
    postgres: &'static str,
    /// `closed`, `open` or `half_open`.
    breaker: &'static str,
    /// The store user requests are served from: `redis`, or `postgres` while the deployment
    /// is on the fallback (also while Redis is being rebuilt).
    backend: &'static str,
    /// `redis`, `postgres` or `rebuilding`.
    mode: &'static str,
    write_behind: WriteBehindHealth,
    /// What in the Redis set-up can lose or refuse data: an eviction policy other than
    /// `noeviction`, a master with fewer replicas in sync than acknowledgments wait for,
    /// slots no node serves. Empty when all is well; null when Redis could not be asked.
    redis_problems: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema, Default)]
pub struct WriteBehindHealth {
    /// Stream entries waiting in Redis to be written to Postgres (one entry carries one
    /// state change, or every join of one batched script call).
    backlog: u64,
    /// Age of the oldest event not yet in Postgres, in seconds.
    oldest_unwritten_s: f64,
}

fn up(ok: bool) -> &'static str {
    if ok { "up" } else { "down" }
}

/// Whether the service can serve users, from either backend: 200 while the backend the
/// deployment is on answers, or Postgres does (serving from the fallback is degraded, not
/// unready: a load balancer must keep the instance); 503 only when nothing can serve.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness, description = "cannot serve user requests")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (redis_up, postgres_up) = tokio::join!(state.redis.ping(), state.db.ping());
    let mode = state.switch.mode();
    let lag = state.write_behind_lag.snapshot();
    let redis_problems = if redis_up { state.redis.hygiene_problems().await.ok() } else { None };
    let body = Readiness {
        redis: up(redis_up),
        postgres: up(postgres_up),
        breaker: state.redis.breaker_state().as_str(),
        backend: mode.backend(),
        mode: mode.as_str(),
        write_behind: WriteBehindHealth {
            backlog: lag.backlog,
            oldest_unwritten_s: lag.oldest_unwritten.as_secs_f64(),
        },
        redis_problems,
    };
    if postgres_up || (mode == Mode::Redis && redis_up) {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "2")).json(body)
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
