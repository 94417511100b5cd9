//! After a master's failover the queue's rules still hold: places, their order, the active
//! bound, single sales. (What each Redis failure does under load is in `matrix.rs`.)

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::scenario::{BOUND, app_on, signal, written_behind};
use crate::support::{PrivateCluster, SeatId, ShowId, TestApp};

/// Joins new users for `duration`; every answer comes within BOUND and is 201 or 503.
/// Returns how many were 201 in the last five seconds.
async fn join_for(app: &TestApp, show: ShowId, duration: Duration) -> usize {
    let started = Instant::now();
    let mut recent_ok = Vec::new();
    while started.elapsed() < duration {
        let (user, _) = app.user().await;
        let asked = Instant::now();
        let reply = app.join(show, &user).await;
        let took = asked.elapsed();
        assert!(took < BOUND, "a join took {took:?}");
        assert!(
            reply.status == StatusCode::CREATED || reply.status == StatusCode::SERVICE_UNAVAILABLE,
            "{}: {:?}",
            reply.status,
            reply.body
        );
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(reply.headers.contains_key("retry-after"));
        }
        recent_ok.push((started.elapsed(), reply.status == StatusCode::CREATED));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let since = duration.saturating_sub(Duration::from_secs(5));
    recent_ok.iter().filter(|(at, ok)| *at >= since && *ok).count()
}

/// Users who joined before the kill, in join order: (user token, queue token, seq, position).
async fn joined_users(app: &TestApp, show: ShowId, n: usize) -> Vec<(String, String, i64, i64)> {
    let mut users = Vec::new();
    for _ in 0..n {
        let (user, _) = app.user().await;
        let reply = app.join(show, &user).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let queue_token = reply.body["queue_token"].as_str().unwrap().to_string();
        let seq = app.state.tokens.verify(&queue_token).unwrap().seq.unwrap();
        users.push((user, queue_token, seq, reply.body["position"].as_i64().unwrap()));
    }
    users
}

async fn status_of(app: &TestApp, show: ShowId, queue_token: &str) -> String {
    app.poll(show, queue_token).await.body["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_places_order_the_active_bound_and_single_sales_all_hold() {
    let cluster = PrivateCluster::start();
    let app = app_on(&cluster).await;
    let show = app.create_show(1, 10).await;
    let seats = app.seat_ids(show).await;
    app.configure_queue(show, json!({"max_active": 3, "admit_per_second": 1000.0})).await;
    let users = joined_users(&app, show, 8).await;
    app.tick().await;
    for (_, queue_token, ..) in &users[..3] {
        assert_eq!(status_of(&app, show, queue_token).await, "active");
    }
    let hold = |i: usize, seat: SeatId| {
        let path = format!("/v1/shows/{show}/holds");
        let token = users[i].1.clone();
        let app = &app;
        async move { app.post(&path, Some(&token), json!({"seat_ids": [seat]})).await.status }
    };
    assert_eq!(hold(0, seats[0]).await, StatusCode::CREATED);
    let (port, pid) = cluster.master_of(&app.state.sale.redis().keys.show(show).config());
    cluster.wait_replicated(port).await;
    written_behind(&app).await;

    signal(pid, "-KILL");
    assert!(join_for(&app, show, Duration::from_secs(15)).await > 0, "joins succeed again after the failover");

    for (user, _, seq, position) in &users {
        let again = app.join(show, user).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
        let token = again.body["queue_token"].as_str().unwrap();
        assert_eq!(app.state.tokens.verify(token).unwrap().seq, Some(*seq), "the same place after the failover");
        if let Some(now) = again.body["position"].as_i64().filter(|_| again.body["status"] == "waiting") {
            assert!(now <= *position, "a position never goes up: {position} then {now}");
        }
    }
    assert_eq!(hold(1, seats[0]).await, StatusCode::CONFLICT, "the hold survived the failover");
    let sale = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/shows/{show}/reservations"),
            Some(&users[0].1),
            Some(json!({"seat_ids": [seats[0]]})),
        )
        .await;
    assert_eq!(sale.status, StatusCode::CREATED, "{:?}", sale.body);
    assert_eq!(hold(2, seats[0]).await, StatusCode::CONFLICT, "a sold seat is never held again");

    // The buyer's slot came back: exactly the next user in join order is admitted, no more.
    app.tick().await;
    let statuses: Vec<String> = futures::future::join_all(users.iter().map(|u| status_of(&app, show, &u.1))).await;
    assert_eq!(statuses[..5], ["expired", "active", "active", "active", "waiting"], "{statuses:?}");
    assert!(app.state.sale.queue_store().counts(show).await.unwrap().active <= 3);
}
