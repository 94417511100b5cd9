//! The deployment's backend mode, kept in Postgres (the one store every instance can still
//! reach when Redis can't serve), and the bookkeeping of a switch: the holes a switch to
//! Postgres leaves for places Redis may have handed out unrecorded, the instances' view of
//! Redis, and the lock that keeps Postgres writes out while Redis takes over again.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgConnection;

use super::Deployment;
use crate::domain::ShowId;
use crate::domain::queue::{HOLE_SIZE, Hole, Taker, last_after_hole};
use crate::store::{Mode, StoreError};

/// `bo_fence()` takes this lock shared; a switch takes it exclusively.
const MODE_LOCK: i64 = 740_600;
/// Held (per session) by the one instance rebuilding Redis.
const REBUILD_LOCK: i64 = 740_601;
/// Per show (with the show id): one instance reloads a show Redis lost.
const SHOW_LOCK: i32 = 7406;
/// How many Postgres timeouts a reload of Redis may take in all (a frozen Postgres must not
/// hang it; copying a big show takes a few seconds).
const REBUILD_BOUND_IN_TIMEOUTS: u32 = 10;
/// Where mode changes are announced.
pub const CHANNEL: &str = "bo_backend_mode";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeRow {
    pub mode: Mode,
    pub epoch: i64,
    pub pinned: bool,
}

type RawMode = (String, i64, bool);

fn parsed((mode, epoch, pinned): RawMode) -> Result<ModeRow, StoreError> {
    let mode = Mode::parse(&mode).ok_or_else(|| StoreError::Internal(anyhow::anyhow!("unknown mode {mode:?}")))?;
    Ok(ModeRow { mode, epoch, pinned })
}

impl Deployment<'_> {
    pub async fn mode_row(&self) -> Result<ModeRow, StoreError> {
        let query =
            sqlx::query!("SELECT mode, epoch, pinned FROM backend_mode").map(|row| (row.mode, row.epoch, row.pinned));
        parsed(self.timed(query.fetch_one(&self.pool)).await?)
    }

    /// Moves the deployment from Redis to Postgres (or pins it to Postgres). Each show's
    /// counters are taken from what Postgres knows and the `cursors` this instance has seen,
    /// and a hole is left after the last seq Postgres knows. A no-op when another instance
    /// switched first.
    #[tracing::instrument(skip(self, cursors))]
    pub async fn switch_to_postgres(
        &self,
        reason: &str,
        cursors: &[(ShowId, i64)],
        pin: bool,
    ) -> Result<ModeRow, StoreError> {
        self.bounded(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query!("SELECT pg_advisory_xact_lock($1)", MODE_LOCK).execute(&mut *tx).await?;
            let current = parsed(
                sqlx::query!("SELECT mode, epoch, pinned FROM backend_mode FOR UPDATE")
                    .map(|row| (row.mode, row.epoch, row.pinned))
                    .fetch_one(&mut *tx)
                    .await?,
            )?;
            if current.mode != Mode::Redis || (current.pinned && !pin) {
                if pin {
                    sqlx::query!("UPDATE backend_mode SET pinned = true").execute(&mut *tx).await?;
                }
                tx.commit().await?;
                return Ok(ModeRow { pinned: current.pinned || pin, ..current });
            }
            let shows: Vec<ShowId> =
                sqlx::query_scalar!(r#"SELECT id AS "id: ShowId" FROM shows"#).fetch_all(&mut *tx).await?;
            take_over_shows(&mut tx, &shows, cursors).await?;
            let row = set_mode(&mut tx, Mode::Postgres, reason, pin).await?;
            tx.commit().await?;
            Ok(row)
        })
        .await
    }

    /// Redis lost a show's state (its keys are gone) while the deployment is on Redis: its
    /// counters are taken over as in a switch (so the reloaded show hands out no seq twice),
    /// and `reload` runs on the same transaction, under a per-show lock, unless `still_lost`
    /// says another instance has reloaded the show meanwhile.
    pub async fn take_over_lost_show(
        &self,
        show: ShowId,
        cursor: Option<i64>,
        still_lost: impl AsyncFnOnce() -> Result<bool, StoreError>,
        reload: impl AsyncFnOnce(&mut PgConnection) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A request waits for this: bounded like any call, with room for the copy.
        tokio::time::timeout(self.timeout() * REBUILD_BOUND_IN_TIMEOUTS, async {
            let mut tx = self.pool.begin().await?;
            let lock = sqlx::query!("SELECT pg_advisory_xact_lock($1, $2)", SHOW_LOCK, show.0 as i32);
            lock.execute(&mut *tx).await?;
            if !still_lost().await? {
                return Ok(());
            }
            let lost: Option<bool> =
                sqlx::query_scalar!("SELECT redis_loaded FROM queue_state WHERE show_id = $1", show as _)
                    .fetch_optional(&mut *tx)
                    .await?;
            if lost == Some(true) {
                tracing::warn!(%show, "redis lost the show's state: reloading it from postgres");
                take_over_shows(&mut tx, &[show], &cursor.map(|c| vec![(show, c)]).unwrap_or_default()).await?;
            }
            reload(&mut tx).await?;
            mark_loaded(&mut tx, show).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable(format!("reloading show {show} timed out"))))
    }

    /// Postgres → rebuilding, unless pinned or not on Postgres. True when this call did it.
    pub async fn begin_rebuild(&self) -> Result<bool, StoreError> {
        let query = sqlx::query!(
            "WITH changed AS (UPDATE backend_mode SET mode = 'rebuilding', changed_at = now(),
                                     reason = 'redis is reachable again: rebuilding it'
                              WHERE mode = 'postgres' AND NOT pinned RETURNING epoch)
             SELECT pg_notify($1, epoch::text) FROM changed",
            CHANNEL
        );
        Ok(self.timed(query.execute(&self.pool)).await?.rows_affected() == 1)
    }

    /// Rebuilding → Postgres: the rebuild failed.
    pub async fn abort_rebuild(&self, why: &str) -> Result<(), StoreError> {
        let query = sqlx::query!(
            "WITH changed AS (UPDATE backend_mode SET mode = 'postgres', changed_at = now(), reason = $2
                              WHERE mode = 'rebuilding' RETURNING epoch)
             SELECT pg_notify($1, epoch::text) FROM changed",
            CHANNEL,
            why
        );
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// Holds the rebuild lock (one rebuilder in the deployment) for as long as the returned
    /// connection lives; `None` when another instance holds it. The connection is closed, not
    /// returned to the pool, when dropped: that is what releases the lock, whatever path the
    /// rebuild ends on.
    pub async fn rebuild_lock(&self) -> Result<Option<sqlx::pool::PoolConnection<sqlx::Postgres>>, StoreError> {
        let mut conn = self.timed(self.pool.acquire()).await?;
        conn.close_on_drop();
        let query = sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "won!""#, REBUILD_LOCK);
        let won: bool = self.timed(query.fetch_one(&mut *conn)).await?;
        Ok(won.then_some(conn))
    }

    /// Flips rebuilding → Redis: with the mode lock held exclusively (in-flight Postgres writes
    /// finish first, new ones wait and then see Redis), runs `copy` (which answers the shows
    /// it copied) and then switches. If `copy` fails nothing changes. The shows copied, or
    /// `None` when the deployment was not rebuilding.
    pub async fn finish_rebuild(
        &self,
        conn: &mut PgConnection,
        copy: impl AsyncFnOnce() -> Result<Vec<ShowId>, StoreError>,
    ) -> Result<Option<Vec<ShowId>>, StoreError> {
        let flip = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::query!("SELECT pg_advisory_xact_lock($1)", MODE_LOCK).execute(&mut *tx).await?;
            let mode: String = sqlx::query_scalar!("SELECT mode FROM backend_mode").fetch_one(&mut *tx).await?;
            if mode != Mode::Rebuilding.as_str() {
                return Ok(None);
            }
            let copied = copy().await?;
            give_back_unused_holes(&mut tx, &copied).await?;
            set_mode(&mut tx, Mode::Redis, "redis rebuilt from postgres", false).await?;
            tx.commit().await?;
            Ok(Some(copied))
        };
        tokio::time::timeout(self.timeout() * REBUILD_BOUND_IN_TIMEOUTS, flip)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the rebuild of redis timed out".into())))
    }

    /// Sets the mode by hand (tests, operators): pinned keeps automatic switching away.
    pub async fn pin_mode(&self, mode: Mode) -> Result<ModeRow, StoreError> {
        if mode != Mode::Redis {
            return self.switch_to_postgres("pinned by an operator", &[], true).await;
        }
        let query = sqlx::query!("UPDATE backend_mode SET pinned = true WHERE mode = 'redis'");
        self.timed(query.execute(&self.pool)).await?;
        self.mode_row().await
    }

    /// The show's old event stream is written to its end, on Postgres for at least the second
    /// every instance takes to follow a switch: Postgres has every hold Redis acknowledged.
    pub async fn holds_handed_over(&self, show: ShowId) -> Result<(), StoreError> {
        let query = sqlx::query!(
            "UPDATE queue_state q SET holds_handover = false FROM backend_mode m
             WHERE q.show_id = $1 AND q.holds_handover AND m.mode <> 'redis'
               AND m.changed_at < clock_timestamp() - interval '1 second'",
            show as _
        );
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// Whether Postgres may decide the show's holds and sales: their hand-over is done, or
    /// the switch is older than `bound` (Redis stayed unreachable: its unwritten holds can't
    /// be had).
    pub async fn holds_decidable(&self, show: ShowId, bound: Duration) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT NOT coalesce(q.holds_handover, false)
                      OR m.changed_at < clock_timestamp() - $2::bigint * interval '1 millisecond' AS "decidable!"
               FROM backend_mode m LEFT JOIN queue_state q ON q.show_id = $1"#,
            show as _,
            bound.as_millis() as i64
        );
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Lets the deployment switch by itself again.
    pub async fn unpin_backend(&self) -> Result<ModeRow, StoreError> {
        let query = sqlx::query!("UPDATE backend_mode SET pinned = false");
        self.timed(query.execute(&self.pool)).await?;
        self.mode_row().await
    }

    /// This instance is alive and has reached Redis without a failure for `redis_ok_for`
    /// (measured here, dated by the Postgres clock, so instances' clocks don't matter).
    pub async fn heartbeat(&self, instance: &str, redis_ok_for: Option<Duration>) -> Result<(), StoreError> {
        let query = sqlx::query!(
            "INSERT INTO backend_instances (id, seen_at, redis_ok_since)
             VALUES ($1, now(), now() - $2::bigint * interval '1 millisecond')
             ON CONFLICT (id) DO UPDATE SET seen_at = now(), redis_ok_since = EXCLUDED.redis_ok_since",
            instance,
            redis_ok_for.map(|d| d.as_millis() as i64)
        );
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// How many instances were heard from within `alive`.
    pub async fn live_instances(&self, alive: Duration) -> Result<i64, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT count(*) AS "live!" FROM backend_instances WHERE seen_at > now() - $1::bigint * interval '1 millisecond'"#,
            alive.as_millis() as i64
        );
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Whether the deployment left Redis at least `steady` ago and every instance heard from
    /// within `alive` has reached Redis for `steady` since.
    pub async fn all_instances_reach_redis(&self, alive: Duration, steady: Duration) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT count(*) > 0 AND bool_and(redis_ok_since IS NOT NULL
                                                AND redis_ok_since <= now() - $2::bigint * interval '1 millisecond')
                      AND (SELECT changed_at FROM backend_mode) <= now() - $2::bigint * interval '1 millisecond' AS "steady!"
               FROM backend_instances WHERE seen_at > now() - $1::bigint * interval '1 millisecond'"#,
            alive.as_millis() as i64,
            steady.as_millis() as i64
        );
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Redis has the show's queue now (it was created or reloaded there).
    pub async fn mark_loaded_in_redis(&self, conn: &mut PgConnection, show: ShowId) -> Result<(), StoreError> {
        self.timed(mark_loaded(conn, show)).await
    }

    /// Every show's holes.
    pub async fn holes(&self) -> Result<HashMap<ShowId, Vec<Hole>>, StoreError> {
        let query = sqlx::query!(r#"SELECT show_id AS "show_id: ShowId", lo, hi FROM queue_holes ORDER BY lo"#)
            .map(|row| (row.show_id, row.lo, row.hi));
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        let mut holes: HashMap<ShowId, Vec<Hole>> = HashMap::new();
        for (show, lo, hi) in rows {
            holes.entry(show).or_default().push(Hole { lo, hi });
        }
        Ok(holes)
    }
}

pub(super) async fn mark_loaded(tx: &mut PgConnection, show: ShowId) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE queue_state SET redis_loaded = true WHERE show_id = $1", show as _).execute(tx).await?;
    Ok(())
}

async fn set_mode(tx: &mut PgConnection, mode: Mode, reason: &str, pin: bool) -> Result<ModeRow, StoreError> {
    let row: RawMode = sqlx::query!(
        "UPDATE backend_mode SET mode = $1, epoch = epoch + 1, reason = $2, pinned = $3, changed_at = now()
         RETURNING mode, epoch, pinned",
        mode.as_str(),
        reason,
        pin
    )
    .map(|row| (row.mode, row.epoch, row.pinned))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("SELECT pg_notify($1, $2)", CHANNEL, row.1.to_string()).execute(&mut *tx).await?;
    parsed(row)
}

/// The shows a rebuild left as Redis had them (nobody joined them on Postgres) go on with
/// Redis' seqs, which never skipped the hole their take-over left after the last recorded
/// place: that hole goes, and the show's last seq is the one before it again, its cursor no
/// further (an admission tick with nobody waiting moves it to the last seq). A take-over's
/// hole is the last, ends where [`last_after_hole`] puts it, and holds no recorded place;
/// any other hole (a draw's, Redis' own after a failover) is kept.
async fn give_back_unused_holes(tx: &mut PgConnection, copied: &[ShowId]) -> Result<(), sqlx::Error> {
    let last_holes = sqlx::query!(
        r#"SELECT h.show_id AS "show_id: ShowId", h.lo FROM queue_holes h JOIN queue_state s USING (show_id)
           WHERE h.hi = s.last_seq + 1 AND NOT h.show_id = ANY($1)
             AND NOT EXISTS (SELECT 1 FROM queue_entries e WHERE e.show_id = h.show_id AND e.seq >= h.lo)"#,
        copied as _
    )
    .fetch_all(&mut *tx)
    .await?;
    let (shows, los): (Vec<ShowId>, Vec<i64>) = last_holes.iter().map(|hole| (hole.show_id, hole.lo)).unzip();
    let ends: Vec<i64> = los.iter().map(|lo| last_after_hole(lo - 1, Taker::Postgres) + 1).collect();
    sqlx::query!(
        "WITH unused AS (
            DELETE FROM queue_holes h USING UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS t(show_id, lo, hi)
            WHERE h.show_id = t.show_id AND h.lo = t.lo AND h.hi = t.hi
            RETURNING h.show_id, h.lo)
         UPDATE queue_state s SET last_seq = u.lo - 1, cursor = least(s.cursor, u.lo - 1)
         FROM unused u WHERE s.show_id = u.show_id",
        &shows as _,
        &los,
        &ends
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes over shows' counters from what Postgres knows: the highest seq (or what an earlier
/// switch reserved), the cursor (what admissions Postgres recorded, or what an instance saw),
/// and leaves a hole after that seq for places Redis may have handed out unrecorded (see
/// [`last_after_hole`]). Their holds are handed over by the write-behind (see [`Database::holds_handed_over`]).
async fn take_over_shows(
    tx: &mut PgConnection,
    shows: &[ShowId],
    cursors: &[(ShowId, i64)],
) -> Result<(), sqlx::Error> {
    let (seen_shows, seen_cursors): (Vec<ShowId>, Vec<i64>) = cursors.iter().copied().unzip();
    sqlx::query!("INSERT INTO queue_state (show_id) SELECT UNNEST($1::bigint[]) ON CONFLICT DO NOTHING", shows as _)
        .execute(&mut *tx)
        .await?;
    let known = sqlx::query!(
        r#"WITH entries AS (
            SELECT show_id, max(seq) AS max_seq, max(seq) FILTER (WHERE admitted_at IS NOT NULL) AS max_admitted,
                   count(*) FILTER (WHERE admitted_at IS NOT NULL) AS admitted
            FROM queue_entries WHERE show_id = ANY($1) GROUP BY show_id)
         SELECT s.show_id AS "show_id!: ShowId",
                greatest(s.last_seq, coalesce(e.max_seq, 0), coalesce(f.draw_base + greatest(f.pre_queue_size, $4), 0)) AS "max_seq!",
                greatest(s.cursor, coalesce(e.max_admitted, 0), coalesce(c.cursor, 0)) AS "cursor!",
                greatest(s.admitted_total, coalesce(e.admitted, 0)) AS "admitted!"
         FROM queue_state s
         LEFT JOIN entries e USING (show_id)
         LEFT JOIN show_fairness f USING (show_id)
         LEFT JOIN UNNEST($2::bigint[], $3::bigint[]) AS c(show_id, cursor) USING (show_id)
         WHERE s.show_id = ANY($1)"#,
        shows as _,
        &seen_shows as _,
        &seen_cursors,
        HOLE_SIZE,
    )
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<ShowId> = known.iter().map(|k| k.show_id).collect();
    let max_seqs: Vec<i64> = known.iter().map(|k| k.max_seq).collect();
    let fenced: Vec<i64> = max_seqs.iter().map(|&seq| last_after_hole(seq, Taker::Postgres)).collect();
    let cursors: Vec<i64> = known.iter().map(|k| k.cursor).collect();
    let admitted: Vec<i64> = known.iter().map(|k| k.admitted).collect();
    sqlx::query!(
        "WITH known AS (
            SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
                AS k(show_id, max_seq, fenced, cursor, admitted)),
         holes AS (
            INSERT INTO queue_holes (show_id, lo, hi) SELECT show_id, max_seq + 1, fenced + 1 FROM known
            ON CONFLICT DO NOTHING)
         UPDATE queue_state s SET last_seq = k.fenced, cursor = k.cursor, admitted_total = k.admitted,
                                  tokens = NULL, tokens_at = NULL, holds_handover = true
         FROM known k WHERE s.show_id = k.show_id",
        &ids as _,
        &max_seqs,
        &fenced,
        &cursors,
        &admitted,
    )
    .execute(&mut *tx)
    .await?;
    take_over_closes(tx, shows).await
}

/// A pre-queue Redis closed (the close is recorded with the show's fairness, its hole may
/// not have been written behind yet): Postgres keeps the same seqs for the drawn, and its
/// admission waits for the draw as Redis' did.
async fn take_over_closes(tx: &mut PgConnection, shows: &[ShowId]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "WITH closed AS (
            UPDATE queue_state s SET draw_base = f.draw_base, draw_pending = f.drawn_at IS NULL
            FROM show_fairness f
            WHERE s.show_id = f.show_id AND s.show_id = ANY($1) AND f.draw_base IS NOT NULL
            RETURNING s.show_id, f.draw_base, f.pre_queue_size)
         INSERT INTO queue_holes (show_id, lo, hi)
         SELECT show_id, draw_base + 1 + pre_queue_size, draw_base + 1 + $2 FROM closed WHERE pre_queue_size < $2
         ON CONFLICT DO NOTHING",
        shows as _,
        HOLE_SIZE
    )
    .execute(tx)
    .await?;
    Ok(())
}
