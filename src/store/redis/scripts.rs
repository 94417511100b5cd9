//! The Lua scripts, each with the shared prelude (`lua/prelude.lua`) in front.
//! redis-rs sends them as EVALSHA and loads them on the first NOSCRIPT.

use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

macro_rules! scripts {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(pub static $name: LazyLock<Script> = LazyLock::new(|| with_prelude(include_str!($file)));)*
    };
}

scripts! {
    JOIN => "lua/join.lua",
    PRESENCE => "lua/presence.lua",
    LEAVE => "lua/leave.lua",
    REINSTATE => "lua/reinstate.lua",
    ADMIT => "lua/admit.lua",
    COUNTS => "lua/counts.lua",
    HOLD => "lua/hold.lua",
    RELEASE => "lua/release.lua",
    HOLDS_OF => "lua/holds_of.lua",
    SEAT_STATES => "lua/seat_states.lua",
    AVAILABILITY => "lua/availability.lua",
    CHECK_HOLDS => "lua/check_holds.lua",
    COMPLETE_SALE => "lua/complete_sale.lua",
    TRIM_ACKED => "lua/trim_acked.lua",
    STREAM_STATS => "lua/stream_stats.lua",
    LEASE => "lua/lease.lua",
    PUT_CONFIG => "lua/put_config.lua",
}

/// The catalog script needs none of the show helpers.
pub static CATALOG_READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/catalog_read.lua")));

#[cfg(test)]
mod tests {
    #[test]
    fn the_join_script_leaves_holes_as_large_as_the_domain_says() {
        let hole = format!("local HOLE_SIZE = {}", crate::domain::queue::HOLE_SIZE);
        assert!(include_str!("lua/join.lua").contains(&hole), "join.lua must say {hole:?}");
    }

    #[test]
    fn no_script_scans_the_keyspace() {
        let lua = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/redis/lua")).unwrap();
        for file in lua {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap().to_uppercase();
            for scan in ["'KEYS'", "'SCAN'", "\"KEYS\"", "\"SCAN\""] {
                assert!(!text.contains(scan), "{} calls {scan}", path.display());
            }
        }
    }
}
