//! Health, readiness, metrics and the offline API docs.

use reqwest::StatusCode;

use crate::support::spawn_app;

#[tokio::test]
async fn health_and_readiness_report_up() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["redis"], "up");
    assert_eq!(ready.body["postgres"], "up");
    assert_eq!(ready.body["breaker"], "closed");
    assert_eq!(ready.body["backend"], crate::support::backend(), "serving from the fallback is ready, not down");
    // A replica of a busy machine's cluster may lag past the limit for a moment; the set-up
    // itself (replicas, coverage, eviction policy) has nothing to report.
    let mut problems = ready.body["redis_problems"].clone();
    for _ in 0..50 {
        if problems == serde_json::json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        problems = app.get("/readyz", None).await.body["redis_problems"].clone();
    }
    assert_eq!(problems, serde_json::json!([]), "the test cluster is set up as production needs");
}

#[tokio::test]
async fn readiness_names_what_in_the_redis_set_up_can_lose_data() {
    let (redis, app) = crate::support::spawn_app_on_own_redis().await;
    redis.config_set("maxmemory-policy", "allkeys-lru");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "degraded, not unready");
    let problems = ready.body["redis_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].as_str().unwrap().contains("maxmemory-policy allkeys-lru"), "{problems:?}");

    let wanting_two = crate::support::spawn_app_with(|s| s.redis.wait_replicas = 2).await;
    let problems = wanting_two.get("/readyz", None).await.body["redis_problems"].clone();
    assert_eq!(problems.as_array().unwrap().len(), 3, "each of three masters has one replica: {problems}");
    assert!(problems[0].as_str().unwrap().contains("1 replicas in sync, acknowledgments wait for 2"), "{problems}");
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_request_counts() {
    let app = spawn_app().await;
    app.get("/v1/concerts", None).await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("boxoffice_http_requests_total{route=\"/v1/concerts\",method=\"GET\",status=\"200\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_without_the_internet() {
    let app = spawn_app().await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("src=\"http"), "no script comes from another host");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        let response = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let bare = redirect.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(bare.headers()["location"], "/docs/");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_keeps_the_one_a_proxy_gave() {
    let app = spawn_app().await;
    let fresh = app.client.get(app.url("/v1/concerts")).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    let proxied = app.client.get(app.url("/v1/concerts")).header("X-Request-Id", "lb-7f3a").send().await.unwrap();
    assert_eq!(proxied.headers()["x-request-id"], "lb-7f3a");
    let forged = app.client.get(app.url("/v1/concerts")).header("X-Request-Id", "a b\"c").send().await.unwrap();
    assert_ne!(forged.headers()["x-request-id"], "a b\"c", "only a plain id is kept");
}
