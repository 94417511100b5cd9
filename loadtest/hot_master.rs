//! What one show's joins cost its Redis master, by how many joins share a script call.
//!
//! Joins go straight through the queue store (the batched, replica-acknowledged join script
//! the service calls), with 1, 16, 256 and 4,096 joins in flight. For each level it prints
//! joins/s, joins per call (the group commit's batch, read off the show's event stream: one
//! entry per call), the CPU the show's master and its replica used, and the master's
//! microseconds per join. The ceiling of one master for one show is 1 s over that cost at
//! full batches: an HTTP run at a lower rate makes smaller batches, and extrapolating its
//! CPU linearly understates the master. What binds before the master's core is the show's
//! chain of calls (two in flight, each waiting for its replica). Then, at 4,096 in flight,
//! the same show's joins through 1, 2 and 3 lanes (its config's `lanes`, see
//! src/store/redis/lanes.rs): joins/s, every master's CPU and the busiest one's cost per
//! join. Run it through loadtest/bench_hot_master.sh.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

#[path = "common.rs"]
#[allow(dead_code, reason = "shared by the benchmarks; this one needs part of it")]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use boxoffice::config::Settings;
use boxoffice::domain::ShowId;
use boxoffice::domain::queue::QueueConfig;
use boxoffice::store::QueueStore;
use boxoffice::store::redis::Redis;
use boxoffice::store::redis::events::EventStream;
use boxoffice::store::redis::queue::RedisQueue;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

const LEVELS: [usize; 4] = [1, 16, 256, 4096];
/// Lanes compared (see src/store/redis/lanes.rs), at the top level.
const LANES: [usize; 3] = [1, 2, 3];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs: u64 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(10);
    let settings = Settings::from_env()?;
    let redis = common::redis(&settings).await?;
    let queue = RedisQueue::new(redis.clone());
    let hz = clock_ticks()?;
    println!("{secs} s per level; wait for replicas: {}", settings.redis.wait_replicas);
    println!(
        "{:>9} {:>10} {:>10} {:>12} {:>12} {:>12} {:>16}",
        "in flight", "joins/s", "per call", "master CPU", "replica CPU", "client CPU", "master µs/join"
    );
    for (n, in_flight) in LEVELS.into_iter().enumerate() {
        let show = ShowId(9_000 + n as i64);
        queue.put_config(show, &QueueConfig { admit_per_second: 0.0, ..QueueConfig::default() }).await?;
        let keys = redis.keys.show(show);
        let mut master = common::master_connection(&common::first_seed(), &keys.config())?;
        let pids = [process_id(&mut master)?, replica_process_id(&mut master)?, std::process::id()];
        let before = pids.map(cpu_ticks);
        let started = Instant::now();
        let joins = join_for(&queue, show, in_flight, Duration::from_secs(secs)).await?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = |i: usize| (cpu_ticks(pids[i]) - before[i]) as f64 / hz;
        let calls: u64 = redis::cmd("XLEN").arg(keys.events()).query(&mut master)?;
        println!(
            "{in_flight:>9} {:>10.0} {:>10.1} {:>11.0}% {:>11.0}% {:>11.0}% {:>16.2}",
            joins as f64 / wall,
            joins as f64 / calls.max(1) as f64,
            100.0 * cpu(0) / wall,
            100.0 * cpu(1) / wall,
            100.0 * cpu(2) / wall,
            1e6 * cpu(0) / joins.max(1) as f64
        );
    }
    compare_lanes(&redis, &queue, secs, hz).await
}

/// One show's joins at 4,096 in flight through 1 slot (the service's path) and through 2 and
/// 3 lanes: joins/s, the CPU of every master the show used, and the busiest one's cost per
/// join, whose inverse is the show's ceiling were that master's core the limit.
async fn compare_lanes(redis: &Arc<Redis>, queue: &RedisQueue, secs: u64, hz: f64) -> anyhow::Result<()> {
    let in_flight = *LEVELS.last().unwrap();
    println!("\none show over lanes, {in_flight} joins in flight");
    println!(
        "{:>5} {:>10} {:>26} {:>12} {:>18} {:>14}",
        "lanes", "joins/s", "masters' CPU", "client CPU", "busiest µs/join", "ceiling/s"
    );
    // Lanes are laid out only before a show's first join: a show of its own each run.
    let first_show = 9_100 + 10 * i64::from(rand::random::<u16>());
    for (n, lanes) in LANES.into_iter().enumerate() {
        let show = ShowId(first_show + n as i64);
        let config = QueueConfig { admit_per_second: 0.0, lanes: lanes as u32, ..QueueConfig::default() };
        queue.put_config(show, &config).await?;
        let streams = EventStream::new(redis.clone()).streams(show).await?;
        let expected = if lanes == 1 { 1 } else { lanes + 1 };
        anyhow::ensure!(
            streams.len() == expected,
            "the cluster has masters for {} lanes, not {lanes}",
            streams.len() - 1
        );
        let mut pids: Vec<u32> = Vec::new();
        for key in streams.iter().map(|stream| stream.keys().events()) {
            let pid = process_id(&mut common::master_connection(&common::first_seed(), &key)?)?;
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        let me = std::process::id();
        let before: Vec<u64> = pids.iter().chain([&me]).map(|pid| cpu_ticks(*pid)).collect();
        let started = Instant::now();
        let time = Duration::from_secs(secs);
        let joins = join_for(queue, show, in_flight, time).await?;
        let wall = started.elapsed().as_secs_f64();
        let shares: Vec<f64> =
            pids.iter().chain([&me]).zip(&before).map(|(pid, b)| (cpu_ticks(*pid) - b) as f64 / hz / wall).collect();
        let (masters, client) = shares.split_at(pids.len());
        let busiest = masters.iter().copied().fold(0.0, f64::max);
        let per_join = 1e6 * busiest * wall / joins.max(1) as f64;
        let listed: Vec<String> = masters.iter().map(|share| format!("{:.0}%", 100.0 * share)).collect();
        println!(
            "{lanes:>5} {:>10.0} {:>26} {:>11.0}% {per_join:>18.2} {:>14.0}",
            joins as f64 / wall,
            listed.join(" "),
            100.0 * client[0],
            1e6 / per_join
        );
    }
    Ok(())
}

/// Joins new users to `show`, `in_flight` at a time, until `time` is up; returns how many.
async fn join_for(queue: &RedisQueue, show: ShowId, in_flight: usize, time: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + time;
    let joined = futures::stream::iter(std::iter::repeat_with(Uuid::new_v4).take_while(|_| Instant::now() < deadline))
        .map(|user| queue.join(show, user))
        .buffer_unordered(in_flight)
        .try_fold(0u64, |n, _| async move { Ok(n + 1) })
        .await?;
    Ok(joined)
}

fn process_id(node: &mut redis::Connection) -> anyhow::Result<u32> {
    let info: String = redis::cmd("INFO").arg("server").query(node)?;
    field(&info, "process_id:")
}

/// The replica's own process (both run on this machine): its port from INFO replication.
fn replica_process_id(master: &mut redis::Connection) -> anyhow::Result<u32> {
    let info: String = redis::cmd("INFO").arg("replication").query(master)?;
    let line = info.lines().find(|l| l.starts_with("slave0:")).ok_or_else(|| anyhow::anyhow!("no replica"))?;
    let port = line.split(',').find_map(|kv| kv.strip_prefix("port=")).ok_or_else(|| anyhow::anyhow!("{line}"))?;
    let mut replica = redis::Client::open(format!("redis://127.0.0.1:{port}"))?.get_connection()?;
    process_id(&mut replica)
}

fn field<T: std::str::FromStr>(info: &str, name: &str) -> anyhow::Result<T> {
    info.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {name} in INFO"))
}

/// User and system CPU of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
    after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum()
}

fn clock_ticks() -> anyhow::Result<f64> {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}
