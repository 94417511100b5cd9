//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;
use crate::store::redis::BreakerState;

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
    write_behind: WriteBehindHealth,
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

/// Whether the service can serve: 200 while Redis is reachable (Postgres down only stops
/// sales and write-behind, which catches up later), 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness, description = "cannot serve user requests")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (redis_up, postgres_up) = tokio::join!(state.redis.ping(), state.db.ping());
    let breaker = state.redis.breaker_state();
    let lag = state.write_behind_lag.snapshot();
    let body = Readiness {
        redis: up(redis_up),
        postgres: up(postgres_up),
        breaker: breaker.as_str(),
        write_behind: WriteBehindHealth {
            backlog: lag.backlog,
            oldest_unwritten_s: lag.oldest_unwritten.as_secs_f64(),
        },
    };
    if redis_up && breaker != BreakerState::Open {
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
