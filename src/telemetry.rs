//! Logs and metrics. Logs go to stdout as text, or JSON with `BOXOFFICE_LOG_FORMAT=json`;
//! `RUST_LOG` filters them (`boxoffice=debug` adds a line per request). Tokens and secrets
//! are never logged: requests are logged by route pattern and status, never with headers.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Installs the log subscriber; a second call (tests) is a no-op.
pub fn init_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = std::env::var("BOXOFFICE_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// The process-wide Prometheus recorder (installed once, shared by every app in a process).
#[expect(clippy::expect_used, reason = "fixed buckets, and the OnceLock installs the recorder once")]
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .expect("valid buckets")
                .install_recorder()
                .expect("the metrics recorder is installed once")
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every `"boxoffice_..."` name the code records a metric under.
    fn recorded_metrics() -> BTreeSet<String> {
        let sources = crate::source_tree::sources("");
        sources.iter().flat_map(|(_, text)| metric_names(text, "\"boxoffice_")).collect()
    }

    fn metric_names(text: &str, marker: &str) -> Vec<String> {
        text.match_indices(marker)
            .map(|(at, _)| {
                let name = &text[at + marker.len() - "boxoffice_".len()..];
                let end = name.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(name.len());
                name[..end].to_string()
            })
            .collect()
    }

    #[test]
    fn the_grafana_dashboard_charts_only_metrics_the_service_records() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/dashboards/boxoffice.json");
        let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let recorded = recorded_metrics();
        let mut charted = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap();
                for name in metric_names(expr, "boxoffice_") {
                    let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
                    assert!(recorded.contains(&name) || recorded.contains(base), "{name} in {:?}", panel["title"]);
                    charted += 1;
                }
            }
        }
        assert!(charted > 30, "the dashboard charts the sale: {charted} series");
    }
}
