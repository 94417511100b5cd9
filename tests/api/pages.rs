//! The pages the service serves (the fan's waiting room at `/`, the console at `/admin`)
//! and what they need from the API: the serving backend on every answer, the per-fan seat
//! limit with the seat map, held and sold seats in the stats. The pages themselves are
//! driven in a real browser by `scripts/e2e.sh`.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::json;

use crate::support::{backend, spawn_app};

#[tokio::test]
async fn the_waiting_room_and_the_console_are_served_with_a_policy_that_allows_only_this_service() {
    let app = spawn_app().await;
    for (path, marker) in [("/", "/assets/fan.js"), ("/admin", "/assets/admin.js")] {
        let page = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert!(page.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        let policy = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        assert!(policy.contains("default-src 'self'") && policy.contains("script-src 'self'"), "{policy}");
        assert!(page.text().await.unwrap().contains(marker), "{path} loads {marker}");
    }
    let script = app.client.get(app.url("/assets/fan.js")).send().await.unwrap();
    assert_eq!(script.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
}

#[tokio::test]
async fn an_unchanged_asset_is_answered_304_and_an_unknown_one_is_a_json_404() {
    let app = spawn_app().await;
    let first = app.client.get(app.url("/assets/style.css")).send().await.unwrap();
    let tag = first.headers()[ETAG].clone();
    let again = app.client.get(app.url("/assets/style.css")).header(IF_NONE_MATCH, tag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    let missing = app.get("/assets/../Cargo.toml", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unknown = app.get("/assets/nothing.js", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "not_found");
    let wrong_method = app.post("/", None, json!({})).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_api_answer_names_the_backend_serving_the_deployment() {
    let app = spawn_app().await;
    let answer = app.client.get(app.url("/v1/concerts")).send().await.unwrap();
    assert_eq!(answer.headers()["boxoffice-backend"], backend());
    let refused = app.client.get(app.url("/v1/shows/1/queue")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["boxoffice-backend"], backend(), "errors too: a 503 is when it matters");
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert!(page.headers().get("boxoffice-backend").is_none(), "only the API says it");
}

#[tokio::test]
async fn the_seat_map_says_how_many_seats_a_fan_may_hold_and_the_stats_count_held_and_sold_seats() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(2, 5).await;
    app.configure_queue(show, json!({"max_seats_per_user": 3})).await;
    let (buyer, _) = app.active_user(show).await;
    let map = app.get(&format!("/v1/shows/{show}/seats"), Some(&buyer)).await;
    assert_eq!(map.body["max_seats_per_user"], 3);

    let (holder, _) = app.active_user(show).await;
    let holds = format!("/v1/shows/{show}/holds");
    for (fan, seats) in [(&buyer, &seats[..1]), (&holder, &seats[1..3])] {
        let held = app.post(&holds, Some(fan), json!({"seat_ids": seats})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    }
    let bought =
        app.post(&format!("/v1/shows/{show}/reservations"), Some(&buyer), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    let stats = app.queue_stats(show).await;
    assert_eq!((stats.body["held"].as_u64(), stats.body["sold"].as_u64()), (Some(2), Some(1)), "{:?}", stats.body);
}
