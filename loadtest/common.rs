//! Shared by the benchmark programs: connecting like the service does, and finding the
//! Redis master that holds a show.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use boxoffice::clock::Clock;
use boxoffice::config::Settings;
use boxoffice::store::redis::Redis;

pub async fn redis(settings: &Settings) -> anyhow::Result<Arc<Redis>> {
    Ok(Arc::new(Redis::connect(&settings.redis, Clock::RedisServer, Duration::from_secs(30)).await?))
}

/// A direct connection to the master serving `key`'s hash slot (for INFO and MEMORY USAGE,
/// which describe one node).
pub fn master_connection(seed: &str, key: &str) -> anyhow::Result<redis::Connection> {
    let mut seed_conn = redis::Client::open(format!("redis://{seed}"))?.get_connection()?;
    let is_cluster = redis::cmd("INFO").arg("cluster").query::<String>(&mut seed_conn)?.contains("cluster_enabled:1");
    if !is_cluster {
        return Ok(seed_conn);
    }
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut seed_conn)?;
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut seed_conn)?;
    for line in nodes.lines().filter(|l| l.contains("master")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let serves = fields[8..].iter().any(|range| match range.split_once('-') {
            Some((a, b)) => a.parse::<u16>().is_ok_and(|a| a <= slot) && b.parse::<u16>().is_ok_and(|b| slot <= b),
            None => range.parse::<u16>().ok() == Some(slot),
        });
        if serves {
            let address = fields[1].split('@').next().unwrap_or_default();
            return Ok(redis::Client::open(format!("redis://{address}"))?.get_connection()?);
        }
    }
    anyhow::bail!("no master serves slot {slot}")
}

pub fn used_memory(conn: &mut redis::Connection) -> anyhow::Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query(conn)?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no used_memory in INFO"))
}

/// The first seed of REDIS_CLUSTER_NODES, or REDIS_URL's host:port.
pub fn first_seed() -> String {
    let nodes = std::env::var("REDIS_CLUSTER_NODES").or_else(|_| std::env::var("REDIS_URL")).unwrap_or_default();
    nodes.split(',').next().unwrap_or_default().trim_start_matches("redis://").to_string()
}
