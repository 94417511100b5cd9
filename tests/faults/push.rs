//! Server-sent events across three instances of one deployment on a private cluster, while
//! every node kills its Pub/Sub clients: the streams heal by themselves (resubscribe and
//! resync), and admissions and holds made on one instance still reach a stream on another.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::scenario::{app_on, joined, wait_active};
use crate::support::{PrivateCluster, spawn_instance_of};

/// How soon a change must reach a stream on another instance once Pub/Sub is back.
const HEALED_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_on_another_instance_recover_by_themselves_after_pubsub_clients_are_killed() {
    let cluster = tokio::task::block_in_place(PrivateCluster::start);
    let a = app_on(&cluster).await;
    let (b, c) = (spawn_instance_of(&a).await, spawn_instance_of(&a).await);
    let show = a.create_show(2, 10).await;
    a.configure_queue(show, json!({"max_active": 2, "admit_per_second": 50.0, "claim_window_s": 60})).await;
    let seats = a.seat_ids(show).await;
    let watcher = joined(&b, show).await;
    let holder = joined(&b, show).await;
    let waiter = joined(&b, show).await;
    wait_active(&c, show, &watcher).await;
    wait_active(&c, show, &holder).await;
    let mut seat_stream = c.events(&format!("/v1/shows/{show}/seats/events"), &watcher).await.expect("opens");
    let mut queue_stream = c.events(&format!("/v1/shows/{show}/queue/events"), &waiter).await.expect("opens");
    assert_eq!(seat_stream.next_within(HEALED_WITHIN).await.unwrap().kind, "snapshot");
    assert_eq!(queue_stream.next_within(HEALED_WITHIN).await.unwrap().kind, "position");

    let kill = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").clone();
    for port in cluster.seed_ports() {
        let _: Result<i64, _> = kill.query(&mut cluster.node(port));
    }

    let held = b.post(&format!("/v1/shows/{show}/holds"), Some(&holder), json!({"seat_ids": [seats[0]]})).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let started = Instant::now();
    let delta = seat_stream.next_of("seats", HEALED_WITHIN).await.expect("the hold reaches C's seat stream");
    assert_eq!(delta.data["held"], json!([seats[0]]), "after {:?}", started.elapsed());

    let left = b.call(reqwest::Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&watcher), None).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    queue_stream.next_of("active", HEALED_WITHIN).await.expect("A's admission reaches C's queue stream");
}
