//! The Redis failures operators meet, one test each, under the mixed load of joins, polls,
//! holds and purchases. Each fault hits the master of the show's slot (or every node) of a
//! private cluster, the cluster heals (what was killed is started again, as an orchestrator
//! would), and the test waits until the deployment serves from a healthy Redis again. Then
//! it checks the invariants (no 201 join or hold lost, no seq handed out twice, nobody with
//! two places, no seat sold twice, every request answered within the bound) and prints one
//! row of the fault matrix (`loadtest/fault_matrix.sh` collects them):
//! requests, errors by status, max latency, lost acknowledgments, double sales. The last
//! rows split the show over 3 lanes and hit the master of one of its lanes instead.

use std::time::{Duration, Instant};

use boxoffice::store::Mode;

use crate::load::{Load, Outcome};
use crate::scenario::{BOUND, FANS, Violations, app_on, on_sale, redis_has_the_places, signal, violations};
use crate::support::{PrivateCluster, TestApp};

/// The fault's target: the master of the show's slot, its pid and its replica.
struct Target {
    port: u16,
    pid: u32,
    replica: u16,
}

/// Sends one command to one node (from a blocking thread: a slow node blocks the caller).
async fn on_node(cluster: &PrivateCluster, port: u16, cmd: redis::Cmd) {
    let mut conn = cluster.node(port);
    tokio::task::spawn_blocking(move || {
        let _: redis::RedisResult<redis::Value> = cmd.query(&mut conn);
    })
    .await
    .unwrap();
}

/// Sends `cmd` to each node of `ports`, again every `every`, for `for_`.
async fn send_repeatedly(cluster: &PrivateCluster, ports: &[u16], cmd: redis::Cmd, every: Duration, for_: Duration) {
    let started = Instant::now();
    while started.elapsed() < for_ {
        for port in ports {
            on_node(cluster, *port, cmd.clone()).await;
        }
        tokio::time::sleep(every).await;
    }
}

/// Waits until the deployment is on Redis and every master has its replica in sync.
async fn healed(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let replicated = app.state.sale.redis().serving_problems().await.is_ok_and(|problems| problems.is_empty());
        if replicated
            && app.state.sale.backend().mode() == Mode::Redis
            && app.state.sale.db().deployment().mode_row().await.unwrap().mode == Mode::Redis
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the deployment never came back to a healthy Redis");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the load, inflicts the fault, waits for the cluster to heal, prints the row and
/// checks the invariants.
async fn scenario(name: &str, fault: impl AsyncFnOnce(&PrivateCluster, &Target, &TestApp)) -> Outcome {
    scenario_on(name, 1, fault).await
}

/// As [`scenario`], the show's queue over `lanes` lanes; with more than one, the fault hits
/// the master of a lane that the show's own slot is not on.
async fn scenario_on(name: &str, lanes: u32, fault: impl AsyncFnOnce(&PrivateCluster, &Target, &TestApp)) -> Outcome {
    let cluster = PrivateCluster::start();
    let app = app_on(&cluster).await;
    let (show, seats) = on_sale(&app).await;
    let home = cluster.master_of(&app.state.sale.redis().keys.show(show).config());
    let (port, pid) = if lanes == 1 {
        home
    } else {
        app.configure_queue(show, serde_json::json!({"lanes": lanes})).await;
        let streams = app.state.sale.events().streams(show).await.unwrap();
        assert_eq!(streams.len(), lanes as usize + 1, "a lane on each master");
        let masters = streams[1..].iter().map(|lane| cluster.master_of(&lane.keys().events()));
        masters.into_iter().find(|master| *master != home).expect("a lane on a master of its own")
    };
    let target = Target { port, pid, replica: cluster.replica_of(port) };
    let load = Load::start(app.clone(), show, seats, FANS);
    tokio::time::sleep(Duration::from_secs(3)).await;

    fault(&cluster, &target, &app).await;
    let healed_after = healed(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outcome = load.stop().await;
    let found = violations(&app, show, &outcome).await;
    let switches = app.state.sale.db().deployment().mode_row().await.unwrap().epoch;
    report(name, &outcome, &found, healed_after, switches);
    assert!(outcome.max_latency() <= BOUND, "a request took {:?}", outcome.max_latency());
    assert_eq!(found, Violations::default());
    assert!(!outcome.sales.is_empty(), "seats were sold");
    redis_has_the_places(&app, show, &outcome).await;
    outcome
}

/// SIGKILL, the replica's failover, and the killed node started again (as an orchestrator
/// would) a few seconds later.
async fn kill_and_restart(cluster: &PrivateCluster, target: &Target) {
    signal(target.pid, "-KILL");
    cluster.wait_until_master(target.replica, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| cluster.restart_node(target.port));
}

/// SIGSTOP past the failover (node timeout 2 s), then SIGCONT: the old master wakes up with
/// writes queued.
async fn freeze_for_ten_seconds(target: &Target) {
    signal(target.pid, "-STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    signal(target.pid, "-CONT");
}

fn report(name: &str, outcome: &Outcome, found: &Violations, healed_after: Duration, switches: i64) {
    println!(
        "fault-matrix | {name} | {} | {:?} | {} ms | {} | {} | {switches} | {:.1} s",
        outcome.records.len(),
        outcome.errors(),
        outcome.max_latency().as_millis(),
        found.lost_acks(),
        found.double_sales,
        healed_after.as_secs_f64(),
    );
    println!(
        "{name}: {found:?}; {} joins, {} holds, {} sales acknowledged",
        outcome.joins.len(),
        outcome.holds.len(),
        outcome.sales.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_loses_no_acknowledged_join_or_hold() {
    scenario("1 master killed (SIGKILL)", async |cluster, target, _| kill_and_restart(cluster, target).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_frozen_past_its_failover_cannot_make_its_queued_writes_win() {
    scenario("2 master frozen 10 s, resumed", async |_, target, _| freeze_for_ten_seconds(target).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_loses_nothing() {
    let outcome = scenario("3 CLUSTER FAILOVER", async |cluster, target, _| {
        on_node(cluster, target.replica, redis::cmd("CLUSTER").arg("FAILOVER").clone()).await;
        cluster.wait_until_master(target.replica, Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    assert!(outcome.joins.len() > 10, "the sale went on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_taken_over_by_the_replica_loses_no_acknowledged_write() {
    scenario("4 CLUSTER FAILOVER TAKEOVER", async |cluster, target, _| {
        on_node(cluster, target.replica, redis::cmd("CLUSTER").arg("FAILOVER").arg("TAKEOVER").clone()).await;
        cluster.wait_until_master(target.replica, Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_master_that_stays_up_keeps_every_answer_bounded() {
    scenario("5 slow master (DEBUG SLEEP 0.3 s, 10 s)", async |cluster, target, _| {
        let sleep = redis::cmd("DEBUG").arg("SLEEP").arg("0.3").clone();
        send_repeatedly(cluster, &[target.port], sleep, Duration::from_millis(200), Duration::from_secs(10)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reset_mid_command_duplicate_no_place_or_hold() {
    scenario("6 connections reset (CLIENT KILL, 10 s)", async |cluster, target, _| {
        let kill = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").clone();
        send_repeatedly(cluster, &[target.port], kill, Duration::from_millis(300), Duration::from_secs(10)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_failure_while_the_replica_resyncs_loses_no_acknowledged_write() {
    scenario("7 second failure during resync", async |cluster, target, _| {
        signal(target.pid, "-KILL");
        cluster.wait_until_master(target.replica, Duration::from_secs(15)).await;
        // The old master comes back as a replica; its full sync waits out the master's
        // diskless-sync delay (5 s), and the new master dies meanwhile.
        tokio::task::block_in_place(|| cluster.restart_node(target.port));
        tokio::time::sleep(Duration::from_secs(1)).await;
        signal(cluster.pid(target.replica), "-KILL");
        tokio::time::sleep(Duration::from_secs(8)).await;
        tokio::task::block_in_place(|| cluster.restart_node(target.replica));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_pubsub_connections_resubscribe_and_resync_by_themselves() {
    scenario("8 Pub/Sub killed (CLIENT KILL TYPE pubsub)", async |cluster, _, app| {
        let kill = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").clone();
        send_repeatedly(cluster, &cluster.seed_ports(), kill, Duration::from_secs(1), Duration::from_secs(6)).await;
        resubscribed(cluster, app).await;
    })
    .await;
}

/// The cursor feed subscribed again by itself (a node counts its subscriber), and said so.
async fn resubscribed(cluster: &PrivateCluster, app: &TestApp) {
    let channel = app.state.sale.redis().keys.cursor_channel();
    let started = Instant::now();
    loop {
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let counted =
            metrics.lines().any(|l| l.starts_with("boxoffice_pubsub_resubscribes_total") && !l.ends_with(" 0"));
        let subscribers: i64 = cluster
            .seed_ports()
            .into_iter()
            .map(|port| {
                let reply: (String, i64) =
                    redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query(&mut cluster.node(port)).unwrap();
                reply.1
            })
            .sum();
        if counted && subscribers >= 1 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the cursor feed did not subscribe again by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lane_master_loses_no_acknowledged_join_of_a_laned_show() {
    scenario_on("L1 lane master killed (SIGKILL)", 3, async |cluster, target, _| {
        kill_and_restart(cluster, target).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_master_frozen_past_its_failover_loses_no_acknowledged_join_of_a_laned_show() {
    scenario_on("L2 lane master frozen 10 s, resumed", 3, async |_, target, _| freeze_for_ten_seconds(target).await)
        .await;
}
