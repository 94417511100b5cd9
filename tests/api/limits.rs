//! Abuse limits: one address minting identities in a loop, one user holding in a loop, and
//! `X-Forwarded-For` believed only from a trusted proxy, get 429 `rate_limited` with
//! `Retry-After`; a fan doing what a fan does never sees one. (The other API tests turn the
//! limits off: their thousands of fans share one loopback address.)

use std::time::Instant;

use boxoffice::limits::{LimitSettings, parse_proxies};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Reply, TestApp, spawn_app_with};

async fn with_limits(limits: LimitSettings) -> TestApp {
    spawn_app_with(|settings| settings.limits = limits).await
}

fn assert_rate_limited(reply: &Reply) {
    assert_eq!((reply.status, reply.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{:?}", reply.body);
    let retry: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

async fn mint(app: &TestApp, forwarded_for: Option<&str>) -> Reply {
    let mut request = app.client.post(app.url("/v1/tokens"));
    if let Some(hops) = forwarded_for {
        request = request.header("X-Forwarded-For", hops);
    }
    app.raw(request).await
}

#[tokio::test]
async fn one_address_minting_identities_in_a_loop_is_stopped_with_retry_after() {
    let app = with_limits(LimitSettings { tokens_per_ip: 100, ..LimitSettings::default() }).await;
    let (started, mut minted) = (Instant::now(), 0);
    let refused = loop {
        let reply = mint(&app, None).await;
        if reply.status != StatusCode::CREATED {
            break reply;
        }
        minted += 1;
        assert!(minted <= 1000, "never refused");
    };
    assert_rate_limited(&refused);
    // 100 at once, then one more every 0.6 s (the limit is 100 a minute).
    let allowed = 100 + (started.elapsed().as_secs_f64() / 0.6).ceil() as usize;
    assert!((100..=allowed).contains(&minted), "{minted} minted, {allowed} allowed");
    let metrics = app.get("/metrics", None).await.body.as_str().unwrap().to_string();
    assert!(metrics.contains(r#"boxoffice_rate_limited_total{limit="tokens_per_ip"}"#), "counted in metrics");
}

#[tokio::test]
async fn a_fan_doing_what_fans_do_never_sees_a_429_under_the_default_limits() {
    let app = with_limits(LimitSettings::default()).await;
    let (show, seats) = app.open_show(2, 10).await;
    // Fifty fans behind one carrier NAT, each refreshing the queue page a few times.
    for _ in 0..50 {
        let (user, _) = app.user().await;
        for _ in 0..3 {
            assert!(app.join(show, &user).await.status.is_success());
        }
    }
    let (fan, _) = app.active_user(show).await;
    for _ in 0..20 {
        assert_eq!(app.poll(show, &fan).await.status, StatusCode::OK);
    }
    let holds = format!("/v1/shows/{show}/holds");
    for seat in &seats[..10] {
        assert_eq!(app.post(&holds, Some(&fan), json!({"seat_ids": [seat]})).await.status, StatusCode::CREATED);
        let released = app.call(Method::DELETE, &format!("{holds}/{seat}"), Some(&fan), None).await;
        assert_eq!(released.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(app.post(&holds, Some(&fan), json!({"seat_ids": [seats[11]]})).await.status, StatusCode::CREATED);
    let bought =
        app.post(&format!("/v1/shows/{show}/reservations"), Some(&fan), json!({"seat_ids": [seats[11]]})).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
}

#[tokio::test]
async fn one_user_holding_in_a_loop_is_stopped() {
    let app = with_limits(LimitSettings { holds_per_user: 5, ..LimitSettings::default() }).await;
    let (show, seats) = app.open_show(1, 10).await;
    let (fan, _) = app.active_user(show).await;
    let (other, _) = app.active_user(show).await;
    let holds = format!("/v1/shows/{show}/holds");
    for seat in &seats[..5] {
        app.post(&holds, Some(&fan), json!({"seat_ids": [seat]})).await;
    }
    let refused = app.post(&holds, Some(&fan), json!({"seat_ids": [seats[6]]})).await;
    assert_rate_limited(&refused);
    let mine = app.get(&holds, Some(&fan)).await.body["seat_ids"].clone();
    assert!(!mine.as_array().unwrap().contains(&json!(seats[6])), "the refused hold changed nothing: {mine}");
    let theirs = app.post(&holds, Some(&other), json!({"seat_ids": [seats[7]]})).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "another user has their own count");
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let trusted = parse_proxies("127.0.0.1/32").unwrap();
    let app =
        with_limits(LimitSettings { tokens_per_ip: 2, trusted_proxies: trusted, ..LimitSettings::default() }).await;
    for _ in 0..2 {
        assert_eq!(mint(&app, Some("203.0.113.7")).await.status, StatusCode::CREATED);
    }
    assert_rate_limited(&mint(&app, Some("203.0.113.7")).await);
    assert_eq!(mint(&app, Some("203.0.113.8")).await.status, StatusCode::CREATED, "another client behind the proxy");

    let untrusting = with_limits(LimitSettings { tokens_per_ip: 2, ..LimitSettings::default() }).await;
    assert_eq!(mint(&untrusting, Some("203.0.113.1")).await.status, StatusCode::CREATED);
    assert_eq!(mint(&untrusting, Some("203.0.113.2")).await.status, StatusCode::CREATED);
    assert_rate_limited(&mint(&untrusting, Some("203.0.113.3")).await);
}
