//! The Lua scripts, each with the shared prelude (`lua/prelude.lua`) in front.
//! redis-rs sends them as EVALSHA and loads them on the first NOSCRIPT.

use std::sync::LazyLock;

use redis::Script;

use super::keys;
use crate::store::event::lua_event_table;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{}{}{PRELUDE}\n{body}", keys::lua_key_table(keys::SHOW_KEYS), lua_event_table()))
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
    CLOSE_DRAW => "lua/close_draw.lua",
    PLACE_DRAWN => "lua/place_drawn.lua",
    RESERVE => "lua/reserve.lua",
    PLACE => "lua/place.lua",
    PLACES_OF => "lua/places_of.lua",
    ADMIT_PLAN => "lua/admit_plan.lua",
    READ_BLOCK => "lua/read_block.lua",
    ADMIT_COMMIT => "lua/admit_commit.lua",
    FORGET => "lua/forget.lua",
    LEAVE_LANE => "lua/leave_lane.lua",
}

/// The catalog script needs none of the show helpers.
pub static CATALOG_READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!("{}{}", keys::lua_key_table(keys::CATALOG_KEYS), include_str!("lua/catalog_read.lua")))
});

#[cfg(test)]
pub(crate) mod tests {
    use super::PRELUDE;

    #[test]
    fn the_scripts_leave_holes_as_large_as_the_domain_says() {
        let hole = format!("local HOLE_SIZE = {}", crate::domain::queue::HOLE_SIZE);
        assert!(PRELUDE.contains(&hole), "prelude.lua must say {hole:?}");
    }

    /// Every Lua script: its path and its text.
    pub(crate) fn scripts() -> Vec<(String, String)> {
        let lua = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/redis/lua")).unwrap();
        lua.map(|file| {
            let path = file.unwrap().path();
            (path.display().to_string(), std::fs::read_to_string(&path).unwrap())
        })
        .collect()
    }

    /// The quoted names after `key(base, '` and `K.` in a script.
    fn names_used(text: &str) -> Vec<String> {
        let quoted = text.split("key(base, '").skip(1).filter_map(|rest| rest.split('\'').next());
        let fields = text.split("K.").skip(1).map(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '_').next());
        quoted.map(str::to_string).chain(fields.flatten().map(str::to_string)).collect()
    }

    #[test]
    fn every_key_a_script_names_is_one_keys_rs_owns() {
        for (path, text) in scripts() {
            let known =
                if path.ends_with("catalog_read.lua") { super::keys::CATALOG_KEYS } else { super::keys::SHOW_KEYS };
            for name in names_used(&text) {
                assert!(
                    known.iter().any(|(owned, _)| *owned == name),
                    "{path} names the key {name:?}, which keys.rs doesn't"
                );
            }
        }
    }

    #[test]
    fn no_script_spells_a_key_name_itself() {
        for (path, text) in scripts() {
            let code: String = text.lines().filter(|line| !line.trim_start().starts_with("--")).collect();
            assert!(!code.contains("base .. '"), "{path} builds a key name from base and a literal");
            let suffix_like = code.match_indices("':").any(|(at, _)| code[at + 2..].starts_with(char::is_alphabetic));
            assert!(!suffix_like, "{path} has a literal that looks like a key suffix (':name')");
        }
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
