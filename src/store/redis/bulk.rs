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

#[cfg(test)]
mod tests {
    use redis::Arg;

    use super::*;
    use crate::domain::ShowId;
    use crate::store::redis::keys::Keys;

    fn args(cmd: &Cmd) -> Vec<Vec<u8>> {
        cmd.args_iter()
            .filter_map(|arg| if let Arg::Simple(bytes) = arg { Some(bytes.to_vec()) } else { None })
            .collect()
    }

    fn ids(users: &[Uuid]) -> Vec<Vec<u8>> {
        users.iter().map(|user| user.as_bytes().to_vec()).collect()
    }

    #[test]
    fn users_are_pushed_in_their_order_a_thousand_per_command() {
        let users: Vec<Uuid> = (0..2500).map(|_| Uuid::new_v4()).collect();
        let commands = push_users("list", &users);
        assert_eq!(commands.iter().map(|cmd| args(cmd).len() - 2).collect::<Vec<_>>(), [1000, 1000, 500]);
        let pushed: Vec<Vec<u8>> = commands.iter().flat_map(|cmd| args(cmd).into_iter().skip(2)).collect();
        assert_eq!(pushed, ids(&users));
    }

    #[test]
    fn every_member_is_set_once_in_its_own_bucket_with_its_seq() {
        let keys = Keys::new("bo").show(ShowId(1));
        let users: Vec<Uuid> = (0..50_000).map(|_| Uuid::new_v4()).collect();
        let commands = set_members(&keys, users.iter().zip(1..));
        let mut set = Vec::new();
        for cmd in &commands {
            let args = args(cmd);
            let fields: Vec<(Uuid, i64)> = args[2..]
                .chunks(2)
                .map(|pair| (Uuid::from_slice(&pair[0]).unwrap(), String::from_utf8_lossy(&pair[1]).parse().unwrap()))
                .collect();
            assert!(fields.iter().all(|(user, _)| keys.member_bucket(user).as_bytes() == args[1]));
            set.extend(fields);
        }
        set.sort_by_key(|(_, seq)| *seq);
        assert_eq!(set, users.iter().copied().zip(1..).collect::<Vec<_>>());
        let buckets: std::collections::HashSet<u16> = users.iter().map(member_bucket).collect();
        assert_eq!(commands.len(), buckets.len(), "one HSET per bucket");
    }

    #[test]
    fn pipelines_hold_a_bounded_number_of_arguments_and_keep_the_order() {
        let commands: Vec<Cmd> = (0..200).map(|i| Cmd::rpush("list", vec![i; 999])).collect();
        let pipes = pipelines(commands.clone());
        let per_pipe = PIPELINE_ARGS.div_ceil(1001);
        assert_eq!(pipes.len(), 200usize.div_ceil(per_pipe));
        assert!(pipes.iter().all(|pipe| pipe.cmd_iter().count() <= per_pipe));
        let sent: Vec<Vec<Vec<u8>>> = pipes.iter().flat_map(|pipe| pipe.cmd_iter().map(args)).collect();
        assert_eq!(sent, commands.iter().map(args).collect::<Vec<_>>(), "in order");
    }
}
