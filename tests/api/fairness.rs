//! The fair opening: fans who join before `opens_at` are drawn into the first places in
//! HMAC order (checked here by a computation of the test's own, and by
//! docs/verify_draw.py); later joiners queue behind in arrival order; the seed is
//! committed to before the draw and revealed after it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{ShowId, TestApp, spawn_app, spawn_instance_of};

/// A show whose queue opens in a minute (on the test's clock), admitting nobody yet.
async fn show_opening_soon(app: &TestApp) -> ShowId {
    let show = app.create_show(2, 5).await;
    let opens_at = chrono::DateTime::from_timestamp_millis(app.clock.script_arg() + 60_000).unwrap();
    app.configure_queue(show, json!({"opens_at": opens_at, "max_active": 100000, "admit_per_second": 0})).await;
    show
}

fn claims(app: &TestApp, token: &str) -> boxoffice::auth::Claims {
    app.state.tokens.verify(token).unwrap()
}

async fn fairness(app: &TestApp, show: ShowId) -> Value {
    let reply = app.get(&format!("/v1/shows/{show}/fairness"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

fn hmac_of(seed: &[u8], user: Uuid) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(seed).unwrap();
    mac.update(user.to_string().as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Joins a fan through `app`: (user id, the token the join gave, its body).
async fn join(app: &TestApp, show: ShowId) -> (Uuid, String, Value) {
    let (user, id) = app.user().await;
    let reply = app.join(show, &user).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    (id, reply.body["queue_token"].as_str().unwrap().to_string(), reply.body)
}

#[tokio::test]
async fn two_thousand_fans_in_the_pre_queue_are_drawn_in_hmac_order_and_latecomers_queue_behind() {
    let a = spawn_app().await;
    let show = show_opening_soon(&a).await;
    // Started once the opening is set, as it is ahead of a sale: an instance's settings
    // re-read that fell between the show's creation and the opening's setting would leave
    // it without the opening for up to 5 s, and its fans in the queue.
    let instances = [spawn_instance_of(&a).await, spawn_instance_of(&a).await];
    let committed = fairness(&a, show).await;
    assert!(committed["commitment"].is_string(), "{committed}");
    assert!(committed["seed"].is_null() && committed["pre_queue_size"].is_null(), "{committed}");

    let apps = [&a, &instances[0], &instances[1]];
    // Fifty fans at a time: a busy test machine runs other suites beside this one.
    let pre_queued: Vec<(Uuid, String, Value)> =
        futures::stream::iter((0..2000).map(|i| join(apps[i % 3], show))).buffered(50).collect().await;
    for (_, token, body) in &pre_queued[..5] {
        assert_eq!((body["status"].as_str(), &body["position"]), (Some("pre_queue"), &Value::Null));
        assert_eq!(claims(&a, token).seq, Some(0));
    }
    let (_, again_token, _) = &pre_queued[0];
    let again = a.post(&format!("/v1/shows/{show}/queue"), Some(again_token), json!({})).await;
    assert_eq!((again.status, again.body["status"].as_str()), (StatusCode::OK, Some("pre_queue")), "joining again");

    // The seed stays inside until the draw: not in the API, not in the metrics.
    let seed = a.state.sale.db().fairness().fairness(show).await.unwrap().unwrap().seed;
    let seed_hex = hex::encode(&seed);
    assert_eq!(committed["commitment"], hex::encode(Sha256::digest(&seed)));
    let metrics = a.get("/metrics", None).await.body.as_str().unwrap().to_string();
    let config = a.get(&format!("/v1/admin/shows/{show}/queue"), Some(&a.admin_token())).await.body.to_string();
    assert!(!metrics.contains(&seed_hex) && !config.contains(&seed_hex));

    a.clock.advance(Duration::from_secs(61));
    let mut late = Vec::new();
    for i in 0..30 {
        late.push(join(apps[i % 3], show).await);
    }
    a.tick().await;

    let revealed = fairness(&a, show).await;
    assert_eq!(revealed["seed"], seed_hex);
    assert_eq!(revealed["pre_queue_size"], 2000);

    // Each pre-queue token now answers the drawn place, with a token of its own.
    let places: Vec<(Uuid, i64, String)> = futures::stream::iter(pre_queued.iter().map(|(user, token, _)| async {
        let reply = a.poll(show, token).await;
        assert_eq!(reply.body["status"], "waiting", "{} {:?}", reply.status, reply.body);
        let drawn = claims(&a, reply.body["queue_token"].as_str().unwrap());
        (*user, drawn.seq.unwrap(), drawn.draw.unwrap())
    }))
    .buffered(50)
    .collect()
    .await;
    let mut expected: Vec<(Vec<u8>, Uuid)> =
        pre_queued.iter().map(|(user, ..)| (hmac_of(&seed, *user), *user)).collect();
    expected.sort();
    let by_user: HashMap<Uuid, (i64, String)> =
        places.iter().map(|(u, seq, draw)| (*u, (*seq, draw.clone()))).collect();
    for (i, (key, user)) in expected.iter().enumerate() {
        assert_eq!(by_user[user], (i as i64 + 1, hex::encode(key)), "the {i}th in HMAC order");
    }

    let late_seqs: Vec<i64> = late.iter().map(|(_, token, _)| claims(&a, token).seq.unwrap()).collect();
    assert!(late_seqs.windows(2).all(|pair| pair[0] < pair[1]), "latecomers in arrival order: {late_seqs:?}");
    let first_late = a.poll(show, &late[0].1).await;
    assert_eq!(first_late.body["position"], 2001, "behind all 2,000 drawn: {:?}", first_late.body);

    let stats = a.queue_stats(show).await;
    assert_eq!(stats.body["waiting"], 2030, "nobody has two places: {:?}", stats.body);
    let users: HashSet<Uuid> = places.iter().map(|(u, ..)| *u).chain(late.iter().map(|(u, ..)| *u)).collect();
    assert_eq!(users.len(), 2030);

    // From a thread of its own: the service answering it runs on this test's runtime.
    let (address, first) = (a.address.clone(), expected[0].1.to_string());
    let commitment = committed["commitment"].as_str().unwrap().to_string();
    let verified = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verify_draw.py"), &address, &show.to_string()])
            .args(["--user-id", &first, "--commitment", &commitment])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "verify_draw.py: {said}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(said.contains("draw verified: 2000 places") && said.contains("your place: seq 1"), "{said}");
}

#[tokio::test]
async fn the_drawn_go_first_when_admission_starts() {
    let app = spawn_app().await;
    let show = show_opening_soon(&app).await;
    let fans: Vec<(Uuid, String, Value)> = join_all((0..20).map(|_| join(&app, show))).await;
    app.clock.advance(Duration::from_secs(61));
    let (_, latecomer, _) = join(&app, show).await;
    app.configure_queue(show, json!({"admit_per_second": 5.0})).await;
    for _ in 0..10 {
        app.advance(Duration::from_millis(200)).await;
    }
    assert_eq!(app.poll(show, &latecomer).await.body["status"], "waiting", "the drawn are admitted first");
    let mut admitted = 0;
    for (_, token, _) in &fans {
        let drawn = app.poll(show, token).await.body["queue_token"].as_str().unwrap().to_string();
        admitted += usize::from(app.poll(show, &drawn).await.body["status"] == "active");
    }
    assert!(admitted >= 5, "{admitted} of the drawn admitted");
}

/// A join that reached the store before the opening was set (through an instance whose
/// settings were a moment old) keeps its earlier place; the drawn follow; nobody is lost.
#[tokio::test]
async fn a_join_that_raced_the_openings_setting_goes_first_and_nobody_is_dropped() {
    let app = spawn_app().await;
    let show = show_opening_soon(&app).await;
    let early = Uuid::new_v4();
    app.state.sale.queue_store().join(show, early).await.unwrap();
    let fans: Vec<(Uuid, String, Value)> = join_all((0..3).map(|_| join(&app, show))).await;
    app.clock.advance(Duration::from_secs(61));
    app.tick().await;
    assert_eq!(fairness(&app, show).await["pre_queue_size"], 3);

    app.configure_queue(show, json!({"admit_per_second": 100.0})).await;
    app.advance(Duration::from_secs(1)).await;
    for user in fans.iter().map(|(user, ..)| *user).chain([early]) {
        let presence = app.state.sale.queue_store().presence(show, user).await.unwrap();
        assert!(presence.active_until_ms.is_some(), "{user} admitted: {presence:?}");
    }
}

#[tokio::test]
async fn a_fan_who_leaves_the_pre_queue_is_not_drawn() {
    let app = spawn_app().await;
    let show = show_opening_soon(&app).await;
    let (_, stays, _) = join(&app, show).await;
    let (_, leaves, _) = join(&app, show).await;
    let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&leaves), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    app.clock.advance(Duration::from_secs(61));
    app.tick().await;
    assert_eq!(fairness(&app, show).await["pre_queue_size"], 1);
    assert_eq!(app.poll(show, &stays).await.body["position"], 1);
    assert_eq!(app.poll(show, &leaves).await.body["status"], "expired");
}

#[tokio::test]
async fn an_opening_is_set_before_anyone_joins_in_the_future_and_stays_put_once_it_came() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let now = app.clock.script_arg();
    let at = |offset_ms: i64| chrono::DateTime::from_timestamp_millis(now + offset_ms).unwrap();
    let put = |show: ShowId, body: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { app.call(Method::PUT, &format!("/v1/admin/shows/{show}/queue"), Some(&admin), Some(body)).await }
    };

    let started = app.create_show(1, 5).await;
    join(&app, started).await;
    let refused = put(started, json!({"opens_at": at(60_000)})).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "queue_started"));

    let show = app.create_show(1, 5).await;
    let past = put(show, json!({"opens_at": at(-1_000)})).await;
    assert_eq!((past.status, past.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"));
    assert_eq!(put(show, json!({"opens_at": at(60_000)})).await.status, StatusCode::OK);
    let commitment = fairness(&app, show).await["commitment"].clone();
    assert_eq!(put(show, json!({"opens_at": at(120_000)})).await.status, StatusCode::OK, "moved while ahead");
    assert_eq!(fairness(&app, show).await["commitment"], commitment, "moving keeps the seed");

    app.clock.advance(Duration::from_secs(121));
    let moved = put(show, json!({"opens_at": at(600_000)})).await;
    assert_eq!((moved.status, moved.code()), (StatusCode::CONFLICT, "opening_fixed"));
}

#[tokio::test]
async fn a_pre_queued_fans_stream_says_pre_queue_then_the_drawn_place() {
    let app = spawn_app().await;
    let show = show_opening_soon(&app).await;
    let (_, token, _) = join(&app, show).await;
    let mut stream = app.events(&format!("/v1/shows/{show}/queue/events"), &token).await.expect("opens");
    let first = stream.next_within(Duration::from_secs(3)).await.unwrap();
    assert_eq!((first.kind.as_str(), &first.data["status"]), ("position", &json!("pre_queue")));
    app.clock.advance(Duration::from_secs(61));
    app.tick().await;
    let placed = stream.next_of("position", Duration::from_secs(5)).await.expect("the drawn place is pushed");
    assert_eq!((&placed.data["status"], &placed.data["position"]), (&json!("waiting"), &json!(1)));
}

mod on_redis {
    use super::*;

    /// The drawing instance died after giving the drawn their memberships; a fan left; the
    /// next attempt gives the memberships again and lines everyone up.
    #[tokio::test]
    async fn a_fan_who_leaves_while_the_draw_is_placed_stays_out_when_the_placement_runs_again() {
        let app = spawn_app().await;
        let show = show_opening_soon(&app).await;
        let fans: Vec<(Uuid, String, Value)> = join_all((0..3).map(|_| join(&app, show))).await;
        app.clock.advance(Duration::from_secs(61));
        assert!(app.state.sale.close_pre_queue(show).await.unwrap());
        let row = app.state.sale.db().fairness().fairness(show).await.unwrap().unwrap();
        let users: Vec<Uuid> = fans.iter().map(|(user, ..)| *user).collect();
        let order: Vec<Uuid> = boxoffice::domain::fairness::draw(&row.seed, &users).iter().map(|d| d.user).collect();
        let base = row.draw_base.unwrap();

        let early = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&fans[0].1), None).await;
        assert_eq!(
            (early.status, early.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "no place to leave yet"
        );
        assert!(early.headers.contains_key("retry-after"));

        let keys = app.state.sale.redis().keys.show(show);
        for (seq, user) in (base + 1..).zip(&order) {
            let given = redis::Cmd::hset(keys.member_bucket(user), user.as_bytes().as_slice(), seq);
            app.state.sale.redis().query::<()>(given).await.unwrap();
        }
        let leaver = *order.iter().find(|user| **user != fans[0].0).unwrap();
        let (_, token, _) = fans.iter().find(|(user, ..)| *user == leaver).unwrap();
        let left = app.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(token), None).await;
        assert_eq!(left.status, StatusCode::NO_CONTENT, "{:?}", left.body);

        app.state.sale.queue_store().place_drawn(show, base, &order).await.unwrap();
        app.state.sale.queue_store().place_drawn(show, base, &order).await.unwrap();
        assert_eq!(
            app.state.sale.queue_store().place_of(show, leaver).await.unwrap(),
            None,
            "the place stays given up"
        );
        let early_leavers_seq = base + 1 + order.iter().position(|user| *user == fans[0].0).unwrap() as i64;
        let kept = app.state.sale.queue_store().place_of(show, fans[0].0).await.unwrap();
        assert_eq!(kept, Some(early_leavers_seq), "the refused leave changed nothing");
        let stats = app.queue_stats(show).await;
        assert_eq!(stats.body["waiting"], 2, "{:?}", stats.body);

        app.configure_queue(show, json!({"admit_per_second": 100.0})).await;
        app.advance(Duration::from_secs(1)).await;
        for user in order.iter().filter(|user| **user != leaver) {
            let presence = app.state.sale.queue_store().presence(show, *user).await.unwrap();
            assert!(presence.active_until_ms.is_some(), "the drawn who stayed are admitted: {presence:?}");
        }
        let stats = app.queue_stats(show).await;
        assert_eq!(
            (stats.body["waiting"].as_i64(), stats.body["active"].as_i64()),
            (Some(0), Some(2)),
            "{:?}",
            stats.body
        );
    }
}
