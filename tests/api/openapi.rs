//! The committed spec matches the code, and covers the whole contract.

use crate::support::spawn_app;

#[test]
fn the_committed_openapi_spec_matches_the_code() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap_or_default();
    let generated = boxoffice::http::docs::openapi_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn the_spec_describes_every_path_of_the_contract() {
    let spec: serde_json::Value = serde_json::from_str(&boxoffice::http::docs::openapi_json()).unwrap();
    let contract = [
        ("/v1/tokens", "post"),
        ("/v1/concerts", "get"),
        ("/v1/concerts/{concert_id}", "get"),
        ("/v1/shows/{show_id}/seats", "get"),
        ("/v1/shows/{show_id}/queue", "post"),
        ("/v1/shows/{show_id}/queue", "get"),
        ("/v1/shows/{show_id}/queue", "delete"),
        ("/v1/shows/{show_id}/holds", "post"),
        ("/v1/shows/{show_id}/holds", "get"),
        ("/v1/shows/{show_id}/holds/{seat_id}", "delete"),
        ("/v1/shows/{show_id}/reservations", "post"),
        ("/v1/reservations/{reservation_id}", "get"),
        ("/v1/admin/concerts", "post"),
        ("/v1/admin/concerts/{concert_id}/shows", "post"),
        ("/v1/admin/shows/{show_id}/queue", "put"),
        ("/v1/admin/shows/{show_id}/queue/stats", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ];
    for (path, method) in contract {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} is missing from the spec");
    }
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = spawn_app().await;
    let served: serde_json::Value =
        app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let generated: serde_json::Value = serde_json::from_str(&boxoffice::http::docs::openapi_json()).unwrap();
    assert_eq!(served, generated);
}

/// Every answer the server gives a careless or hostile client (no token, the wrong kind of
/// token, a broken body, an id that isn't one) is a status the spec lists for that operation.
#[tokio::test]
async fn every_status_a_bad_request_gets_is_in_the_spec() {
    let app = spawn_app().await;
    let spec: serde_json::Value = serde_json::from_str(&boxoffice::http::docs::openapi_json()).unwrap();
    let (user, _) = app.user().await;
    let admin = app.admin_token();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let documented: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            for (id, token, body) in
                [("1", None, None), ("1", Some(&user), None), ("x", Some(&admin), None), ("1", Some(&admin), Some("{"))]
            {
                let concrete =
                    path.split('/').map(|p| if p.starts_with('{') { id } else { p }).collect::<Vec<_>>().join("/");
                let mut request = app.client.request(method.clone(), app.url(&concrete));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = body {
                    request = request.header("content-type", "application/json").body(body);
                }
                let status = request.send().await.unwrap().status().as_u16().to_string();
                assert!(documented.contains(&&status), "{method} {concrete} answered {status}, not in {documented:?}");
            }
        }
    }
}

#[test]
fn every_error_code_the_api_can_answer_is_documented() {
    let spec = boxoffice::http::docs::openapi_json();
    for code in boxoffice::error::Code::ALL {
        assert!(spec.contains(&format!("`{}`", code.as_str())), "`{}` is not in openapi.json", code.as_str());
    }
}
