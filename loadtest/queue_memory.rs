//! Joins N users (default 1,000,000) to one show straight through the queue store and prints
//! what each waiting user costs in Redis memory, from INFO memory on the master holding the
//! show. Run it through loadtest/queue_memory.sh, which starts a fresh cluster for it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

#[path = "common.rs"]
mod common;

use std::time::Instant;

use boxoffice::config::Settings;
use boxoffice::domain::queue::QueueConfig;
use boxoffice::store::QueueStore;
use boxoffice::store::redis::queue::RedisQueue;
use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

const SHOW: boxoffice::domain::ShowId = boxoffice::domain::ShowId(1);
const IN_FLIGHT: usize = 256;
const TARGET_BYTES: f64 = 48.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let waiters: u64 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(1_000_000);
    let settings = Settings::from_env()?;
    let redis = common::redis(&settings).await?;
    let queue = RedisQueue::new(redis.clone());
    queue.put_config(SHOW, &QueueConfig { admit_per_second: 0.0, ..QueueConfig::default() }).await?;
    let keys = redis.keys.show(SHOW);
    let mut node = common::master_connection(&common::first_seed(), &keys.config())?;

    let before = common::used_memory(&mut node)?;
    let started = Instant::now();
    futures::stream::iter(0..waiters)
        .map(|_| queue.join(SHOW, Uuid::new_v4()))
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let elapsed = started.elapsed();
    let after = common::used_memory(&mut node)?;
    let stream: i64 = redis::cmd("MEMORY").arg("USAGE").arg(keys.events()).arg("SAMPLES").arg(0).query(&mut node)?;
    let counts = queue.counts(SHOW).await?;

    let total = (after - before) as f64;
    let queue_state = total - stream as f64;
    let per_waiter = queue_state / waiters as f64;
    println!("waiters joined:              {} (waiting now: {})", waiters, counts.waiting);
    println!("joins/s through the store:   {:.0} ({IN_FLIGHT} in flight)", waiters as f64 / elapsed.as_secs_f64());
    println!("redis memory added:          {:.1} MiB", total / 1048576.0);
    println!("  event stream (write-behind, trimmed once written): {:.1} MiB", stream as f64 / 1048576.0);
    println!("  queue state (list + membership + counters):       {:.1} MiB", queue_state / 1048576.0);
    println!("bytes per waiting user:      {per_waiter:.1} (target <= {TARGET_BYTES})");
    println!("  with the unwritten stream: {:.1}", total / waiters as f64);
    println!("{}", if per_waiter <= TARGET_BYTES { "PASS" } else { "FAIL: over the memory target" });
    Ok(())
}
