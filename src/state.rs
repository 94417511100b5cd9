//! What every handler and worker shares: the sale (every rule, over the stores and caches),
//! the tokens, the abuse limits, the event streams' seat boards and bound, the metrics.

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::Tokens;
use crate::config::Settings;
use crate::limits::{IpLimit, Limits, UserLimit};
use crate::push::Push;
use crate::sale::Sale;

pub struct AppState {
    pub settings: Settings,
    pub sale: Sale,
    pub tokens: Tokens,
    pub metrics: PrometheusHandle,
    /// The event streams' seat boards and their bound.
    pub push: Push,
    pub limits: Limits,
}

impl AppState {
    pub fn new(settings: Settings, sale: Sale, tokens: Tokens, metrics: PrometheusHandle) -> Self {
        Self {
            push: Push::new(settings.http.max_streams, settings.http.keep_alive),
            limits: Limits::new(&settings.limits),
            settings,
            sale,
            tokens,
            metrics,
        }
    }

    /// 429 unless the client's address is within the limit.
    pub fn limit_ip(&self, limit: IpLimit, req: &actix_web::HttpRequest) -> Result<(), crate::error::ApiError> {
        let Some(peer) = req.peer_addr() else { return Ok(()) };
        // Every X-Forwarded-For line, in order: a proxy may add a line of its own.
        let lines: Vec<&str> = req.headers().get_all("X-Forwarded-For").filter_map(|v| v.to_str().ok()).collect();
        let ip = self.limits.client_ip(peer.ip(), &lines.join(","));
        self.limits.check_ip(limit, ip).map_err(|wait| crate::error::ApiError::rate_limited(limit.as_str(), wait.0))
    }

    /// 429 unless the user is within the limit.
    pub fn limit_user(&self, limit: UserLimit, user: uuid::Uuid) -> Result<(), crate::error::ApiError> {
        self.limits.check_user(limit, user).map_err(|wait| crate::error::ApiError::rate_limited(limit.as_str(), wait.0))
    }
}
