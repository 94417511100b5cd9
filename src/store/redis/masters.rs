//! Which master serves which slots: a laned show's lanes are laid out on masters of their
//! own, picked when its config is written (see `home::put_config`).

use super::Redis;
use super::keys::lane_tags;
use crate::domain::ShowId;
use crate::store::StoreError;

/// The lane tags a show asking for `lanes` lanes gets on this deployment, comma-separated:
/// one per master at most, none ('') for one lane or one master.
#[tracing::instrument(skip(redis))]
pub(super) async fn tags_for(redis: &Redis, show: ShowId, lanes: u32) -> Result<String, StoreError> {
    if lanes <= 1 || !redis.is_cluster() {
        return Ok(String::new());
    }
    let nodes: String = redis.query(redis::cmd("CLUSTER").arg("NODES").clone()).await?;
    let masters = slot_masters(&nodes);
    let master_of = |slot: u16| masters.iter().find(|(lo, hi, _)| (*lo..=*hi).contains(&slot)).map(|m| m.2.clone());
    let tags = lane_tags(show, lanes as usize, master_of);
    Ok(if tags.len() > 1 { tags.join(",") } else { String::new() })
}

/// The slot ranges of each master in a `CLUSTER NODES` answer, by the master's address.
fn slot_masters(nodes: &str) -> Vec<(u16, u16, String)> {
    let mut ranges = Vec::new();
    for fields in nodes.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()) {
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else { continue };
        if !flags.split(',').any(|f| f == "master") {
            continue;
        }
        let address = address.split('@').next().unwrap_or_default().to_string();
        // Slots being migrated are listed as `[slot->-node]`: the node still serves them.
        for range in fields.iter().skip(8).filter(|r| !r.starts_with('[')) {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(lo), Ok(hi)) = (lo.parse(), hi.parse()) {
                ranges.push((lo, hi, address.clone()));
            }
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_name_each_masters_slot_ranges_and_skip_replicas_and_migrations() {
        let nodes = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 [5461->-b2]
b2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7003@17003 master - 0 0 3 connected 10923-16383 42
d4 127.0.0.1:7004@17004 slave a1 0 0 1 connected
";
        let ranges = slot_masters(nodes);
        let at = |port: &str| format!("127.0.0.1:{port}");
        assert_eq!(
            ranges,
            [(0, 5460, at("7001")), (5461, 10922, at("7002")), (10923, 16383, at("7003")), (42, 42, at("7003"))]
        );
    }
}
