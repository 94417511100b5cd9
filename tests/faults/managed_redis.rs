//! A cluster run as a managed one is (ElastiCache or MemoryDB in cluster mode): TLS on every
//! connection, clients, replication and the cluster bus alike; the `default` user off; an
//! ACL user with a password. Every connection the service makes signs in and speaks TLS:
//! the commands, the cursor broadcast and the seat channels.

use std::sync::Arc;
use std::time::Duration;

use boxoffice::clock::Clock;
use boxoffice::config::{RedisAccess, RedisTarget};
use boxoffice::store::Mode;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::scenario::{joined, settings_for, wait_active};
use crate::support::{PrivateCluster, spawn_instance_of, start};

const PUSHED_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_runs_on_a_cluster_that_takes_only_tls_and_an_acl_user() {
    let cluster = tokio::task::block_in_place(PrivateCluster::start_tls);
    let (seeds, access) = cluster.access();
    refuses_plain_and_anonymous_connections(&seeds[0], &access);
    let mut settings = settings_for(RedisTarget::Cluster(seeds)).await;
    settings.redis.access = access;
    let a = Arc::new(start(settings, Clock::RedisServer).await);
    let b = spawn_instance_of(&a).await;
    let show = a.create_show(2, 10).await;
    a.configure_queue(show, json!({"max_active": 2, "admit_per_second": 50.0, "claim_window_s": 60})).await;
    let seats = a.seat_ids(show).await;
    let (watcher, holder, waiter) = (joined(&b, show).await, joined(&b, show).await, joined(&b, show).await);
    wait_active(&b, show, &watcher).await;
    wait_active(&b, show, &holder).await;
    let mut seat_stream = b.events(&format!("/v1/shows/{show}/seats/events"), &watcher).await.expect("opens");
    let mut queue_stream = b.events(&format!("/v1/shows/{show}/queue/events"), &waiter).await.expect("opens");
    assert_eq!(seat_stream.next_within(PUSHED_WITHIN).await.unwrap().kind, "snapshot");
    assert_eq!(queue_stream.next_within(PUSHED_WITHIN).await.unwrap().kind, "position");

    let held = a.post(&format!("/v1/shows/{show}/holds"), Some(&holder), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let delta = seat_stream.next_of("seats", PUSHED_WITHIN).await.expect("the hold reaches B over the seat channel");
    assert_eq!(delta.data["held"], json!([seats[0]]));
    let bought =
        a.post(&format!("/v1/shows/{show}/reservations"), Some(&holder), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    let left = a.call(Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&watcher), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    queue_stream.next_of("active", PUSHED_WITHIN).await.expect("the admission reaches B over the cursor channel");

    for app in [&a, &Arc::new(b)] {
        let ready = app.get("/readyz", None).await;
        assert_eq!((ready.status, &ready.body["backend"]), (StatusCode::OK, &json!("redis")), "{:?}", ready.body);
        assert_eq!(ready.body["redis_problems"], json!([]), "replication and policy checked over TLS");
        assert_eq!(app.state.sale.backend().mode(), Mode::Redis, "served from Redis throughout");
    }

    // Managed services refuse CONFIG: readiness says what it can't check, and stays ready.
    let (seeds, access) = cluster.access();
    for seed in &seeds {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("boxoffice")
            .arg("-config")
            .query(&mut signed_in(seed, &access))
            .unwrap();
    }
    let ready = a.get("/readyz", None).await;
    assert_eq!((ready.status, &ready.body["backend"]), (StatusCode::OK, &json!("redis")), "{:?}", ready.body);
    let problems = ready.body["redis_problems"].to_string();
    assert!(problems.contains("can't be read"), "{problems}");
}

/// A TLS connection to one node, signed in as the service is.
fn signed_in(seed: &str, access: &RedisAccess) -> redis::Connection {
    let info = redis::IntoConnectionInfo::into_connection_info(seed).unwrap();
    let user = info
        .redis_settings()
        .clone()
        .set_username("boxoffice")
        .set_password(access.password.as_ref().unwrap().expose());
    let client = redis::Client::build_with_tls(info.set_redis_settings(user), certificates(access)).unwrap();
    client.get_connection_with_timeout(Duration::from_secs(2)).unwrap()
}

fn certificates(access: &RedisAccess) -> redis::TlsCertificates {
    redis::TlsCertificates { client_tls: None, root_cert: Some(access.tls_ca.clone().unwrap().0) }
}

/// The cluster really asks for both: a plain connection is cut, a TLS one without the user
/// is refused its commands.
fn refuses_plain_and_anonymous_connections(seed: &str, access: &RedisAccess) {
    let plain = redis::Client::open(seed.replace("rediss://", "redis://")).unwrap();
    let answer = plain
        .get_connection_with_timeout(Duration::from_secs(2))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(answer.is_err(), "a plain connection was answered");
    let anonymous = redis::Client::build_with_tls(seed, certificates(access)).unwrap();
    let mut conn = anonymous.get_connection_with_timeout(Duration::from_secs(2)).expect("TLS with the CA connects");
    let refused = redis::cmd("PING").query::<String>(&mut conn).expect_err("no command without signing in");
    assert_eq!(refused.code(), Some("NOAUTH"), "{refused}");
}
