//! Writing many values with plain commands in bounded pipelines: a show's rebuild, and a
//! fair opening's drawn pre-queue. Inside a Lua script each value would cost several times
//! as much (it becomes a Lua string and back), and the script would hold Redis meanwhile.

use futures::{StreamExt, TryStreamExt};
use redis::{Cmd, Pipeline};
use uuid::Uuid;

use super::Redis;
use super::keys::{ShowKeys, member_bucket};
use crate::store::StoreError;

/// Values per command, and arguments per pipeline (some milliseconds of Redis each).
pub const CHUNK: usize = 1000;
const PIPELINE_ARGS: usize = 60_000;
const IN_FLIGHT: usize = 4;

/// Runs the commands in order, in pipelines of bounded size, each bounded by the Redis
/// timeout.
pub async fn send(redis: &Redis, commands: Vec<Cmd>) -> Result<(), StoreError> {
    for pipe in pipelines(commands) {
        run(redis, pipe).await?;
    }
    Ok(())
}

/// As `send`, with a few pipelines in flight at once (so Redis needn't wait for the next
/// one to come): for commands whose order doesn't matter.
pub async fn send_unordered(redis: &Redis, commands: Vec<Cmd>) -> Result<(), StoreError> {
    let runs = futures::stream::iter(pipelines(commands)).map(|pipe| run(redis, pipe));
    runs.buffer_unordered(IN_FLIGHT).try_collect().await
}

fn pipelines(commands: Vec<Cmd>) -> Vec<Pipeline> {
    let (mut pipes, mut pipe, mut args) = (Vec::new(), Pipeline::new(), 0);
    for cmd in commands {
        args += cmd.args_iter().count();
        pipe.add_command(cmd).ignore();
        if args >= PIPELINE_ARGS {
            pipes.push(std::mem::take(&mut pipe));
            args = 0;
        }
    }
    if !pipe.is_empty() {
        pipes.push(pipe);
    }
    pipes
}

async fn run(redis: &Redis, pipe: Pipeline) -> Result<(), StoreError> {
    redis.run(move |mut conn| async move { pipe.query_async::<()>(&mut conn).await }).await
}

/// RPUSH of the users, in order, onto `list`.
pub fn push_users(list: &str, users: &[Uuid]) -> Vec<Cmd> {
    let push = |chunk: &[Uuid]| {
        let mut cmd = redis::cmd("RPUSH");
        cmd.arg(list);
        for user in chunk {
            cmd.arg(user.as_bytes().as_slice());
        }
        cmd
    };
    users.chunks(CHUNK).map(push).collect()
}

/// One HSET per membership bucket of all the users' seqs in it.
pub fn set_members<'a>(keys: &ShowKeys, members: impl IntoIterator<Item = (&'a Uuid, i64)>) -> Vec<Cmd> {
    let mut by_bucket: Vec<(u16, &Uuid, i64)> =
        members.into_iter().map(|(user, seq)| (member_bucket(user), user, seq)).collect();
    by_bucket.sort_unstable_by_key(|(bucket, ..)| *bucket);
    let set = |bucket: &[(u16, &Uuid, i64)]| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(keys.membership(bucket[0].0));
        for (_, user, seq) in bucket {
            cmd.arg(user.as_bytes().as_slice()).arg(*seq);
        }
        cmd
    };
    by_bucket.chunk_by(|a, b| a.0 == b.0).map(set).collect()
}
