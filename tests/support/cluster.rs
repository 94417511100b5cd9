//! A six-node Redis Cluster of a test's own (scripts/redis-cluster.sh), for the fault tests.

use std::time::Duration;

use uuid::Uuid;

pub fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
}

/// Runs one of the project's scripts; returns its stdout's last line.
pub fn run_script(name: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(script(name))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("BOXOFFICE_REDIS_BASE_PORT")
        .env_remove("BOXOFFICE_PG_PORT")
        .output()
        .expect("the script runs");
    assert!(output.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_string()
}

pub fn scratch_dir(what: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".local")
        .join(format!("{what}-{}", Uuid::new_v4().simple()));
    dir.to_string_lossy().into_owned()
}

/// A six-node Redis Cluster of the test's own (scripts/redis-cluster.sh), stopped on drop.
pub struct PrivateCluster {
    pub dir: String,
    pub seeds: String,
}

impl PrivateCluster {
    pub fn start() -> Self {
        let dir = scratch_dir("test-cluster");
        let seeds = run_script("redis-cluster.sh", &["start", "--dir", &dir]);
        Self { dir, seeds }
    }

    /// A cluster run as a managed one is: TLS only and an ACL user (`--tls`). The plain
    /// connections of the fault helpers below can't reach it: reach it with [`Self::access`].
    pub fn start_tls() -> Self {
        let dir = scratch_dir("test-cluster-tls");
        let seeds = run_script("redis-cluster.sh", &["start", "--dir", &dir, "--tls"]);
        Self { dir, seeds }
    }

    /// The TLS cluster's seeds as `rediss://` addresses, and how to sign in.
    pub fn access(&self) -> (Vec<String>, boxoffice::config::RedisAccess) {
        let file = |name: &str| std::fs::read(format!("{}/tls/{name}", self.dir)).expect("a TLS cluster");
        let password = String::from_utf8(file("password")).unwrap().trim().to_string();
        let access = boxoffice::config::RedisAccess {
            username: Some("boxoffice".into()),
            password: Some(boxoffice::config::Secret::new(password)),
            tls_ca: Some(boxoffice::config::Pem(file("ca.crt"))),
        };
        (self.seeds.split(',').map(|seed| format!("rediss://{seed}")).collect(), access)
    }

    /// Port and pid of the master serving a key's hash slot.
    pub fn master_of(&self, key: &str) -> (u16, u32) {
        let seed = self.seeds.split(',').next().unwrap();
        let mut conn = redis::Client::open(format!("redis://{seed}")).unwrap().get_connection().unwrap();
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut conn).unwrap();
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut conn).unwrap();
        let port = nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                    Some((a, b)) => (a.parse::<u16>().unwrap()..=b.parse().unwrap()).contains(&slot),
                    None => range.parse::<u16>().ok() == Some(slot),
                });
                serves.then(|| fields[1].split(['@', ':']).nth(1).unwrap().parse::<u16>().unwrap())
            })
            .expect("a master serves the slot");
        (port, self.pid(port))
    }

    /// Waits until every replica of the master on `port` has acknowledged all it was sent,
    /// so that killing the master tests the failover itself, not asynchronous replication's
    /// window (which can lose the last acknowledged writes: see "Known limits" in the README).
    pub async fn wait_replicated(&self, port: u16) {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
        for _ in 0..100 {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).unwrap();
            let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("");
            let master_offset = field("master_repl_offset:");
            let replica = field("slave0:");
            if !replica.is_empty() && replica.split(',').any(|kv| kv == format!("offset={master_offset}")) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the replica of 127.0.0.1:{port} never caught up");
    }
}

impl PrivateCluster {
    /// A plain connection to one node, to inflict a fault through (bounded: a frozen node
    /// must not hang the test).
    pub fn node(&self, port: u16) -> redis::Connection {
        self.try_node(port).unwrap()
    }

    fn try_node(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
        let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(conn)
    }

    /// The ports of all six nodes.
    pub fn seed_ports(&self) -> Vec<u16> {
        self.seeds.split(',').map(|seed| seed.rsplit(':').next().unwrap().parse().unwrap()).collect()
    }

    fn role(&self, port: u16) -> Option<String> {
        let mut conn = self.try_node(port).ok()?;
        let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).ok()?;
        info.lines().find_map(|line| line.trim().strip_prefix("role:").map(str::to_string))
    }

    /// The port of a replica of the master on `port`.
    pub fn replica_of(&self, port: u16) -> u16 {
        let mut conn = self.node(port);
        let info: String = redis::cmd("INFO").arg("replication").query(&mut conn).unwrap();
        let replica = info.lines().find_map(|l| l.strip_prefix("slave0:")).expect("the master has a replica");
        replica.split(',').find_map(|kv| kv.strip_prefix("port=")).unwrap().parse().unwrap()
    }

    /// The pid of the node on `port`.
    pub fn pid(&self, port: u16) -> u32 {
        std::fs::read_to_string(format!("{}/{port}/redis.pid", self.dir)).unwrap().trim().parse().unwrap()
    }

    /// Starts a node that was killed again, with its cluster config: it rejoins as the
    /// replica of the node that took over (and, with no persistence, resyncs from it).
    pub fn restart_node(&self, port: u16) {
        run_script("redis-cluster.sh", &["restart-node", &port.to_string(), "--dir", &self.dir]);
    }

    /// Waits until the node on `port` is a master (a replica took over).
    pub async fn wait_until_master(&self, port: u16, limit: Duration) {
        let started = std::time::Instant::now();
        while self.role(port).as_deref() != Some("master") {
            assert!(started.elapsed() < limit, "127.0.0.1:{port} never took over");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The pids of all six nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.seeds
            .split(',')
            .map(|seed| seed.rsplit(':').next().unwrap())
            .filter_map(|port| std::fs::read_to_string(format!("{}/{port}/redis.pid", self.dir)).ok())
            .map(|pid| pid.trim().parse().unwrap())
            .collect()
    }

    /// Sends a signal (`-STOP`, `-CONT`, `-KILL`) to every node.
    pub fn signal_all(&self, signal: &str) {
        for pid in self.pids() {
            let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
        }
    }

    /// Kills every node and starts a new, empty cluster on the same ports.
    pub fn restart_empty(&self) {
        self.signal_all("-KILL");
        let base = self.seeds.split(',').next().unwrap().rsplit(':').next().unwrap().to_string();
        run_script("redis-cluster.sh", &["stop", "--dir", &self.dir, "--base-port", &base]);
        run_script("redis-cluster.sh", &["start", "--dir", &self.dir, "--base-port", &base]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        run_script("redis-cluster.sh", &["stop", "--dir", &self.dir]);
    }
}
