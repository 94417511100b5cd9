//! Acknowledged means replicated: a script call that changes what a user is told (a join, a
//! hold, an admission) is followed by `WAIT`, so its answer goes out only once a replica has
//! the change and a failover can't take it back.
//!
//! The call and its `WAIT` go out as one pipeline, which redis-rs sends to the master of the
//! script's slot on one connection (`WAIT` has no key, so the script's key decides). `WAIT`
//! then counts exactly that connection's writes, this call's included, whatever the topology
//! does meanwhile: if the connection breaks in between, the `WAIT` fails with it.

use redis::aio::ConnectionLike;
use redis::{Cmd, RedisFuture, Value};

use super::RedisConn;

/// Runs script calls (`EVALSHA`/`EVAL`) with a `WAIT` behind each; other commands (the
/// `SCRIPT LOAD` after a NOSCRIPT) pass through.
pub(super) struct Replicated {
    conn: RedisConn,
    replicas: u32,
    wait_ms: u64,
    /// Replicas that confirmed the last script call.
    pub confirmed: Option<i64>,
}

impl Replicated {
    pub fn new(conn: RedisConn, replicas: u32, wait_ms: u64) -> Self {
        Self { conn, replicas, wait_ms, confirmed: None }
    }
}

fn is_script_call(cmd: &Cmd) -> bool {
    matches!(cmd.args_iter().next(), Some(redis::Arg::Simple(name)) if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL"))
}

impl ConnectionLike for Replicated {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if !is_script_call(cmd) {
            return self.conn.req_packed_command(cmd);
        }
        Box::pin(async move {
            let mut pipeline = redis::pipe();
            pipeline.add_command(cmd.clone()).cmd("WAIT").arg(self.replicas).arg(self.wait_ms);
            let mut replies = self.conn.req_packed_commands(&pipeline, 0, 2).await?.into_iter();
            let (reply, wait) = (replies.next().unwrap_or(Value::Nil), replies.next());
            if !matches!(reply, Value::ServerError(_)) {
                self.confirmed = match wait {
                    Some(Value::Int(replicas)) => Some(replicas),
                    _ => None,
                };
            }
            Ok(reply)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_script_calls_are_followed_by_wait() {
        assert!(is_script_call(redis::cmd("EVALSHA").arg("abc").arg(0)));
        assert!(is_script_call(redis::cmd("eval").arg("return 1").arg(0)));
        assert!(!is_script_call(redis::cmd("SCRIPT").arg("LOAD").arg("return 1")));
        assert!(!is_script_call(&redis::cmd("PING")));
    }
}
