//! A Redis master frozen (SIGSTOP) or killed: requests keep answering within a bounded time,
//! and the service recovers once the cluster has failed over.

use std::time::{Duration, Instant};

use boxoffice::clock::Clock;
use boxoffice::config::RedisTarget;
use reqwest::StatusCode;

use crate::support::{PrivateCluster, TestApp, start, test_settings};

/// Longest any request may take: the Redis timeout plus slack for a loaded machine.
const BOUND: Duration = Duration::from_millis(2500);

async fn app_on(cluster: &PrivateCluster) -> TestApp {
    let mut settings = test_settings().await;
    settings.redis.target = RedisTarget::Cluster(cluster.seeds.split(',').map(|s| format!("redis://{s}")).collect());
    settings.redis.timeout = Duration::from_millis(500);
    start(settings, Clock::RedisServer).await
}

/// Joins new users for `duration`; every answer comes within BOUND and is 201 or 503.
/// Returns how many were 201 in the last five seconds.
async fn join_for(app: &TestApp, show: i64, duration: Duration) -> usize {
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

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill").args([signal, &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_master_never_hangs_a_request_and_the_service_recovers() {
    let cluster = PrivateCluster::start();
    let app = app_on(&cluster).await;
    let show = app.create_show(1, 10).await;
    let config_key = app.state.redis.keys.show(show).config();
    let (_, pid) = cluster.master_of(&config_key);
    assert!(join_for(&app, show, Duration::from_secs(2)).await > 0);

    signal(pid, "-STOP");
    let recovered = join_for(&app, show, Duration::from_secs(15)).await;
    signal(pid, "-CONT");
    assert!(recovered > 0, "joins succeed again once the replica took over, with the old master still frozen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_routed_around() {
    let cluster = PrivateCluster::start();
    let app = app_on(&cluster).await;
    let show = app.create_show(1, 10).await;
    let (_, pid) = cluster.master_of(&app.state.redis.keys.show(show).config());
    assert!(join_for(&app, show, Duration::from_secs(2)).await > 0);
    signal(pid, "-KILL");
    assert!(join_for(&app, show, Duration::from_secs(20)).await > 0, "joins succeed again after the failover");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);
}
