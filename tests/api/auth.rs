//! JWT attacks get 401; valid tokens of the wrong kind get 403.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::spawn_app;

fn forge(header: serde_json::Value, claims: serde_json::Value, signature: &str) -> String {
    format!("{}.{}.{signature}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

fn admin_claims(exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": uuid::Uuid::new_v4(), "exp": now + exp_offset, "iat": now, "jti": uuid::Uuid::new_v4(), "role": "admin"})
}

fn signed(claims: &serde_json::Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test]
async fn forged_expired_tampered_and_garbage_tokens_are_all_401() {
    let app = spawn_app().await;
    let secret = app.settings.auth.jwt_secret.expose().to_string();
    let valid_admin = app.admin_token();
    let parts: Vec<&str> = valid_admin.split('.').collect();
    let mut raised = admin_claims(3600);
    raised["sub"] = json!(uuid::Uuid::new_v4());
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(raised.to_string()), parts[2]);
    let attacks = [
        ("alg none", forge(json!({"alg": "none", "typ": "JWT"}), admin_claims(3600), "")),
        ("wrong key", signed(&admin_claims(3600), Algorithm::HS256, "another-secret-that-is-32-chars-long!!")),
        ("other algorithm", signed(&admin_claims(3600), Algorithm::HS512, &secret)),
        ("expired", signed(&admin_claims(-3600), Algorithm::HS256, &secret)),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".to_string()),
        ("empty", String::new()),
    ];
    for (attack, token) in attacks {
        let reply = app.post("/v1/admin/concerts", Some(&token), json!({"title": "Hijacked"})).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{attack}: {:?}", reply.body);
        assert_eq!(reply.code(), "unauthorized", "{attack}");
    }
    assert!(app.state.sale.db().catalog().concerts().await.unwrap().is_empty(), "no attack created anything");
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_header_is_401() {
    let app = spawn_app().await;
    let none = app.post("/v1/admin/concerts", None, json!({"title": "x"})).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let basic = app
        .raw(
            app.client
                .post(app.url("/v1/admin/concerts"))
                .header("Authorization", "Basic YWRtaW46YWRtaW4=")
                .json(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(basic.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn a_user_token_on_an_admin_path_is_403() {
    let app = spawn_app().await;
    let (user, _) = app.user().await;
    let reply = app.post("/v1/admin/concerts", Some(&user), json!({"title": "Mine now"})).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(app.state.sale.db().catalog().concerts().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_queue_token_on_an_admin_path_is_403() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let (user, _) = app.user().await;
    let queue_token = app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string();
    let stats = app.get(&format!("/v1/admin/shows/{show}/queue/stats"), Some(&queue_token)).await;
    assert_eq!(stats.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_user_token_where_a_queue_token_is_needed_is_403() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let (user, _) = app.user().await;
    let reply = app.poll(show, &user).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "queue_token_required");
}
