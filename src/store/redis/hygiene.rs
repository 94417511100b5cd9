//! What makes Redis lose or refuse data, checked from the service's side: an eviction policy
//! that drops keys under memory pressure (a waiting list or a hold evicted is a place or a
//! seat lost), a master without a replica in sync (its acknowledgments can't be replicated,
//! and its failure loses its data), slots no node serves.
//!
//! Checked at start-up and by `/readyz`; the replication part is also what the switch's
//! probe asks, so the deployment serves from Postgres while Redis can't replicate.

use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{Cmd, RedisResult, Value};

use super::{Redis, RedisConn};
use crate::store::StoreError;

/// A replica counts as in sync while it acknowledged within this many seconds (replicas
/// acknowledge every second).
const MAX_REPLICA_LAG_S: u64 = 2;
const ALL_SLOTS: u64 = 16384;

impl RedisConn {
    /// Sends `cmd` to every master (or every node) and returns each node's answer.
    async fn on_each_node(&mut self, cmd: Cmd, masters_only: bool) -> RedisResult<Vec<(String, Value)>> {
        match self {
            RedisConn::Cluster(conn) => {
                let nodes =
                    if masters_only { MultipleNodeRoutingInfo::AllMasters } else { MultipleNodeRoutingInfo::AllNodes };
                let reply = conn.route_command(cmd, RoutingInfo::MultiNode((nodes, None))).await?;
                match reply {
                    Value::Map(pairs) => Ok(pairs.into_iter().map(|(node, value)| (text(&node), value)).collect()),
                    other => Ok(vec![("cluster".into(), other)]),
                }
            }
            RedisConn::Single(conn) => Ok(vec![("redis".into(), cmd.query_async(conn).await?)]),
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

/// Replicas of a master that are online and acknowledged recently, from `INFO replication`.
pub fn replicas_in_sync(info: &str) -> u32 {
    let field = |entry: &str, name: &str| {
        entry.split(',').find_map(|pair| pair.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(str::to_string)
    };
    info.lines()
        .filter_map(|line| line.strip_prefix("slave").and_then(|rest| rest.split_once(':')))
        .filter(|(index, _)| index.chars().all(|c| c.is_ascii_digit()))
        .filter(|(_, entry)| field(entry, "state").as_deref() == Some("online"))
        .filter(|(_, entry)| {
            field(entry, "lag").and_then(|lag| lag.parse::<u64>().ok()).is_some_and(|lag| lag <= MAX_REPLICA_LAG_S)
        })
        .count() as u32
}

/// A `key:value` line of an `INFO` or `CLUSTER INFO` answer.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':'))
}

impl Redis {
    /// What keeps Redis from serving every show durably: slots no node serves, masters with
    /// fewer replicas in sync than acknowledgments wait for.
    pub async fn serving_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = self.coverage_problems().await?;
        problems.extend(self.replication_problems().await?);
        Ok(problems)
    }

    async fn coverage_problems(&self) -> Result<Vec<String>, StoreError> {
        if !matches!(self.settings.target, crate::config::RedisTarget::Cluster(_)) {
            return Ok(Vec::new());
        }
        let cmd = redis::cmd("CLUSTER").arg("INFO").clone();
        let info: String = self.run_unguarded(|mut conn| async move { cmd.query_async(&mut conn).await }).await?;
        let state = info_field(&info, "cluster_state").unwrap_or("?");
        let slots: u64 = info_field(&info, "cluster_slots_ok").and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((state != "ok" || slots < ALL_SLOTS)
            .then(|| format!("cluster state {state}, {slots} of {ALL_SLOTS} slots served"))
            .into_iter()
            .collect())
    }

    /// Masters with fewer replicas in sync than acknowledgments wait for (none asked: none).
    pub async fn replication_problems(&self) -> Result<Vec<String>, StoreError> {
        let wanted = self.settings.wait_replicas;
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("INFO");
        cmd.arg("replication");
        // Past the breaker: the probes that decide whether the deployment may use Redis ask.
        let masters = self.run_unguarded(|mut conn| async move { conn.on_each_node(cmd, true).await }).await?;
        Ok(masters
            .into_iter()
            .filter_map(|(node, info)| {
                let in_sync = replicas_in_sync(&text(&info));
                (in_sync < wanted)
                    .then(|| format!("master {node} has {in_sync} replicas in sync, acknowledgments wait for {wanted}"))
            })
            .collect())
    }

    /// Everything that can make Redis lose or refuse data, as sentences for operators.
    pub async fn hygiene_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = self.serving_problems().await?;
        let mut policy = redis::cmd("CONFIG");
        policy.arg("GET").arg("maxmemory-policy");
        // Managed Redis services refuse CONFIG; the other checks still stand.
        match self.run(|mut conn| async move { conn.on_each_node(policy, false).await }).await {
            Ok(nodes) => problems.extend(nodes.iter().filter_map(|(node, answer)| policy_problem(node, answer))),
            Err(error) => problems.push(unreadable_policy("every node", &error)),
        }
        Ok(problems)
    }
}

/// What a node's `CONFIG GET maxmemory-policy` answer says is wrong, if anything.
fn policy_problem(node: &str, answer: &Value) -> Option<String> {
    if let Value::ServerError(refused) = answer {
        return Some(unreadable_policy(&format!("node {node}"), refused));
    }
    let answer = text(answer);
    let value = answer.split_whitespace().nth(1).unwrap_or("?");
    (value != "noeviction")
        .then(|| format!("node {node} has maxmemory-policy {value}: keys can be evicted (use noeviction)"))
}

fn unreadable_policy(nodes: &str, why: &dyn std::fmt::Display) -> String {
    format!("the maxmemory-policy of {nodes} can't be read ({why}): make sure it is noeviction")
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=127.0.0.1,port=7304,state=online,offset=1200,lag=0\r\n\
        slave1:ip=127.0.0.1,port=7305,state=wait_bgsave,offset=0,lag=0\r\n\
        master_failover_state:no-failover\r\nmaster_replid:abc\r\n";

    #[test]
    fn only_online_replicas_that_acknowledged_lately_are_in_sync() {
        assert_eq!(replicas_in_sync(INFO), 1);
        assert_eq!(replicas_in_sync(&INFO.replace("lag=0\r\nslave1", "lag=7\r\nslave1")), 0);
        assert_eq!(replicas_in_sync("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"), 0);
    }

    #[test]
    fn info_fields_are_read_by_name() {
        assert_eq!(info_field("cluster_state:ok\r\ncluster_slots_ok:16384\r\n", "cluster_slots_ok"), Some("16384"));
        assert_eq!(info_field(INFO, "role"), Some("master"));
        assert_eq!(info_field(INFO, "nothing"), None);
    }
}
