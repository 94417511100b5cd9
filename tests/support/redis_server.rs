//! Redis for tests: deleting a test's keys on the shared cluster, and a standalone
//! `redis-server` of a test's own.

use std::time::Duration;

pub fn redis_nodes(target: &boxoffice::config::RedisTarget) -> Vec<String> {
    match target {
        boxoffice::config::RedisTarget::Cluster(seeds) => seeds.clone(),
        boxoffice::config::RedisTarget::Single(url) => vec![url.clone()],
    }
}

/// Deletes the keys under `prefix` that a master holds (replicas follow).
pub fn delete_keys(node: &str, prefix: &str) {
    let Ok(mut conn) = redis::Client::open(node).and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
    else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let role: redis::RedisResult<Vec<redis::Value>> = redis::cmd("ROLE").query(&mut conn);
    if !matches!(role.as_deref(), Ok([redis::Value::BulkString(role), ..]) if role == b"master") {
        return;
    }
    let mut cursor = 0_u64;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query::<(u64, Vec<Vec<u8>>)>(&mut conn)
        else {
            return;
        };
        let mut pipe = redis::pipe();
        keys.iter().for_each(|key| {
            pipe.cmd("UNLINK").arg(key).ignore();
        });
        let _: redis::RedisResult<()> = pipe.query(&mut conn);
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// A standalone `redis-server` of the test's own, on a free port; stopped on drop.
pub struct StandaloneRedis {
    port: u16,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl StandaloneRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("boxoffice-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/stack.sh installs it)");
        let redis = Self { port, child, dir };
        for _ in 0..100 {
            if redis.connection().is_ok() {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the standalone redis-server on {port} did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection()
    }

    /// Commands this server has run, INFO itself and the instances' once-a-second health
    /// probe (PING) excluded.
    pub fn config_set(&self, name: &str, value: &str) {
        let _: () =
            redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(&mut self.connection().unwrap()).unwrap();
    }

    /// The keys whose names start with `prefix`.
    pub fn keys_starting(&self, prefix: &str) -> Vec<Vec<u8>> {
        let mut conn = self.connection().unwrap();
        let (mut cursor, mut found) = (0_u64, Vec::new());
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(format!("{prefix}*")).query(&mut conn).unwrap();
            found.extend(keys);
            if next == 0 {
                return found;
            }
            cursor = next;
        }
    }

    /// Writes this server has made (it never saves, so since it started).
    pub fn changes(&self) -> u64 {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut self.connection().unwrap()).unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("rdb_changes_since_last_save:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap()
    }

    pub fn command_calls(&self) -> u64 {
        self.calls_where(|name| name != "info" && name != "ping")
    }

    /// How often this server has run one command (lower case, e.g. `evalsha`).
    pub fn calls_of(&self, command: &str) -> u64 {
        self.calls_where(|name| name == command)
    }

    fn calls_where(&self, counted: impl Fn(&str) -> bool) -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut self.connection().unwrap()).unwrap();
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_")?.split_once(':'))
            .filter(|(name, _)| counted(name))
            .filter_map(|(_, stats)| stats.strip_prefix("calls=")?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for StandaloneRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
