//! The Lua scripts, each with the shared prelude (`lua/prelude.lua`) in front.
//! redis-rs sends them as EVALSHA and loads them on the first NOSCRIPT.

use std::sync::LazyLock;

use redis::Script;

use super::{keys, reply};
use crate::store::event::lua_event_table;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn with_prelude(body: &str) -> Script {
    let tables =
        [keys::lua_key_table(keys::SHOW_KEYS), lua_event_table(), reply::lua_refusal_table(), lua_queue_constants()]
            .concat();
    Script::new(&format!("{tables}{PRELUDE}\n{body}"))
}

/// The queue's constants the scripts compute with, from the domain: `Q.NAME`.
fn lua_queue_constants() -> String {
    use crate::domain::queue::{BUCKET_MS, HOLE_SIZE, LATE_TICK_CREDIT_MS};
    format!(
        "local Q = {{BUCKET_MS = {BUCKET_MS}, LATE_TICK_CREDIT_MS = {LATE_TICK_CREDIT_MS}, HOLE_SIZE = {HOLE_SIZE}}}\n"
    )
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
    /// A redis-server of its own on a Unix socket, to run the prelude's helpers.
    struct LuaHost {
        child: std::process::Child,
        dir: std::path::PathBuf,
    }

    impl LuaHost {
        fn start() -> (LuaHost, redis::Connection) {
            let dir = std::env::temp_dir().join(format!("bo-lua-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let socket = dir.join("redis.sock");
            let child = std::process::Command::new("redis-server")
                .args(["--port", "0", "--save", "", "--appendonly", "no", "--unixsocket"])
                .arg(&socket)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server on PATH (scripts/stack.sh installs it)");
            let host = LuaHost { child, dir };
            let client = redis::Client::open(format!("redis+unix://{}", socket.display())).unwrap();
            for _ in 0..100 {
                if let Ok(conn) = client.get_connection() {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
                    return (host, conn);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("redis-server did not start");
        }
    }

    impl Drop for LuaHost {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn the_scripts_refill_the_admission_bucket_exactly_as_the_domain_does() {
        use crate::domain::queue::{bucket_full, refill};
        let probe = super::with_prelude(
            "local out = {}\n\
             for i = 1, #ARGV, 3 do\n\
               local tokens = bucket_tokens(tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]))\n\
               out[#out + 1] = string.format('%.17g', tokens)\n\
               out[#out + 1] = bucket_full(tokens, tonumber(ARGV[i + 2])) and 1 or 0\n\
             end\n\
             return out",
        );
        let (_host, mut conn) = LuaHost::start();
        let mut cases = Vec::new();
        for rate in [0.0, 0.5, 1.0, 3.0, 7.0, 10.0, 25.0, 333.0, 1000.0, 12_345.0] {
            for tokens in [None, Some(0.0), Some(0.25), Some(0.999), Some(1.0), Some(2.5), Some(99.0), Some(5000.0)] {
                for elapsed in [-5, 0, 1, 33, 100, 250, 999, 1000, 1001, 60_000] {
                    cases.push((tokens, elapsed, rate));
                }
            }
        }
        let mut call = probe.prepare_invoke();
        for (tokens, elapsed, rate) in &cases {
            call.arg(tokens.map_or(String::from("none"), |t| t.to_string())).arg(elapsed).arg(rate);
        }
        let answers: Vec<redis::Value> = call.invoke(&mut conn).unwrap();
        for ((tokens, elapsed, rate), answer) in cases.iter().zip(answers.chunks_exact(2)) {
            let lua: f64 = redis::from_redis_value::<String>(answer[0].clone()).unwrap().parse().unwrap();
            let lua_full: i64 = redis::from_redis_value(answer[1].clone()).unwrap();
            let rust = refill(*tokens, *elapsed, *rate);
            assert_eq!(lua.to_bits(), rust.to_bits(), "refill({tokens:?}, {elapsed}, {rate}): Lua {lua}, Rust {rust}");
            assert_eq!(lua_full == 1, bucket_full(rust, *rate), "bucket_full({rust}, {rate})");
        }
        assert_eq!(answers.len(), cases.len() * 2);
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
