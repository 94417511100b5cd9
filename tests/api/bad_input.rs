//! Malformed, oversized and misdirected requests get a clear JSON 4xx and change nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ShowId, TestApp, spawn_app};

/// Every mutating endpoint with a JSON body, and a token allowed to call it.
async fn json_endpoints(app: &TestApp) -> Vec<(Method, String, String)> {
    let show = app.create_show(2, 5).await;
    app.open_wide(show).await;
    let (queue_token, _) = app.active_user(show).await;
    let admin = app.admin_token();
    let concert = app.state.sale.db().catalog().concerts().await.unwrap()[0].id;
    vec![
        (Method::POST, "/v1/admin/concerts".into(), admin.clone()),
        (Method::POST, format!("/v1/admin/concerts/{concert}/shows"), admin.clone()),
        (Method::PUT, format!("/v1/admin/shows/{show}/queue"), admin),
        (Method::POST, format!("/v1/shows/{show}/holds"), queue_token.clone()),
        (Method::POST, format!("/v1/shows/{show}/reservations"), queue_token),
    ]
}

async fn snapshot(app: &TestApp) -> (usize, usize, serde_json::Value) {
    let concerts = app.state.sale.db().catalog().concerts().await.unwrap();
    let shows = concerts.iter().map(|c| c.shows.len()).sum();
    let config = json!(app.state.sale.db().catalog().queue_config(concerts[0].shows[0].id).await.unwrap());
    (concerts.len(), shows, config)
}

#[tokio::test]
async fn malformed_wrongly_typed_oversized_and_non_json_bodies_are_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let endpoints = json_endpoints(&app).await;
    let before = snapshot(&app).await;
    let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(70 * 1024));
    let bodies: [(&str, String, &str, StatusCode); 6] = [
        ("malformed", "{\"title\": ".into(), "application/json", StatusCode::BAD_REQUEST),
        (
            "wrong types",
            "{\"title\": 5, \"seat_ids\": \"a\", \"max_active\": \"x\", \"sections\": 1}".into(),
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        ("an array", "[]".into(), "application/json", StatusCode::BAD_REQUEST),
        ("unknown fields", "{\"nonsense\": true}".into(), "application/json", StatusCode::BAD_REQUEST),
        ("over 64 KiB", huge, "application/json", StatusCode::PAYLOAD_TOO_LARGE),
        ("not JSON", "title=x".into(), "application/x-www-form-urlencoded", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (method, path, token) in &endpoints {
        for (what, body, content_type, expected) in &bodies {
            let request = app
                .client
                .request(method.clone(), app.url(path))
                .bearer_auth(token)
                .header("content-type", *content_type)
                .body(body.clone());
            let reply = app.raw(request).await;
            assert_eq!(reply.status, *expected, "{what} to {method} {path}: {:?}", reply.body);
            assert!(reply.body["error"]["code"].is_string(), "{what} to {path} answers a JSON error: {:?}", reply.body);
        }
    }
    assert_eq!(snapshot(&app).await, before);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json_404_and_405() {
    let app = spawn_app().await;
    let missing = app.get("/v1/nowhere", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    let wrong_method = app.call(Method::DELETE, "/v1/concerts", None, None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.code(), "method_not_allowed");
    assert_eq!(wrong_method.headers["allow"], "GET");
}

#[tokio::test]
async fn every_path_answers_a_method_it_lacks_with_405_and_the_methods_the_contract_gives_it() {
    let app = spawn_app().await;
    let spec: serde_json::Value = serde_json::from_str(&boxoffice::http::docs::openapi_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = concrete_path(path);
        let listed: Vec<&str> =
            ["get", "post", "put", "delete"].into_iter().filter(|m| item.get(*m).is_some()).collect();
        let refused = app.call(Method::PATCH, &concrete, None, None).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"), "{path}");
        let allow = refused.headers["allow"].to_str().unwrap().to_lowercase();
        assert_eq!(allow.split(", ").collect::<Vec<_>>(), listed, "{path}");
        for method in listed {
            let answered = app.call(method.to_uppercase().parse().unwrap(), &concrete, None, None).await;
            assert_ne!(answered.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is served");
        }
    }
}

/// `/v1/shows/{show_id}/holds` -> `/v1/shows/1/holds`.
fn concrete_path(template: &str) -> String {
    template.split('/').map(|part| if part.starts_with('{') { "1" } else { part }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn ids_that_are_not_numbers_or_do_not_exist_are_404() {
    let app = spawn_app().await;
    for path in [
        "/v1/concerts/abc",
        "/v1/concerts/99999999999999999999999",
        "/v1/concerts/424242",
        "/v1/reservations/not-a-uuid",
    ] {
        let (user, _) = app.user().await;
        let reply = app.get(path, Some(&user)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}: {:?}", reply.body);
    }
    let admin = app.admin_token();
    let unknown_concert = app
        .post(
            "/v1/admin/concerts/424242/shows",
            Some(&admin),
            json!({"starts_at": "2030-01-01T20:00:00Z", "sections": [{"name": "A", "rows": 1, "seats_per_row": 1, "price": 1.0}]}),
        )
        .await;
    assert_eq!(unknown_concert.status, StatusCode::NOT_FOUND);
    let unknown_show =
        app.call(Method::PUT, "/v1/admin/shows/424242/queue", Some(&admin), Some(json!({"paused": true}))).await;
    assert_eq!(unknown_show.status, StatusCode::NOT_FOUND);
    let (user, _) = app.user().await;
    let unknown_queue = app.join(ShowId(424242), &user).await;
    assert_eq!(unknown_queue.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_request_with_a_non_object_body_is_400() {
    let app = spawn_app().await;
    for body in ["[1]", "\"x\"", "{"] {
        let reply =
            app.raw(app.client.post(app.url("/v1/tokens")).header("content-type", "application/json").body(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let empty = app.raw(app.client.post(app.url("/v1/tokens"))).await;
    assert_eq!(empty.status, StatusCode::CREATED);
    let null = app.raw(app.client.post(app.url("/v1/tokens")).header("content-type", "application/json").body("null"));
    assert_eq!(null.await.status, StatusCode::CREATED, "the spec allows null for the optional body");
}

/// JSON has one kind of number: `7.0` is the integer 7, as the OpenAPI document's `integer`
/// says; `7.5` is not an integer.
#[tokio::test]
async fn a_whole_number_written_with_a_fraction_is_the_integer_it_is() {
    let app = spawn_app().await;
    let (show, seats) = app.open_show(1, 5).await;
    let path = format!("/v1/admin/shows/{show}/queue");
    let whole = app.call(Method::PUT, &path, Some(&app.admin_token()), Some(json!({"max_active": 7.0}))).await;
    assert_eq!((whole.status, &whole.body["max_active"]), (StatusCode::OK, &json!(7)));
    let fraction = app.call(Method::PUT, &path, Some(&app.admin_token()), Some(json!({"max_active": 7.5}))).await;
    assert_eq!((fraction.status, fraction.code()), (StatusCode::BAD_REQUEST, "invalid_body"));

    let (token, _) = app.active_user(show).await;
    let held =
        app.post(&format!("/v1/shows/{show}/holds"), Some(&token), json!({"seat_ids": [seats[0].0 as f64]})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
}
