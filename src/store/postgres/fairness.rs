//! The fair opening's record in Postgres, whichever store serves the queue: the seed and
//! its commitment, the pre-queue, when it closed and the draw. Postgres is where every
//! instance sees the same answer to "is the pre-queue still open?", under a row lock that
//! the close takes for itself.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Fairness;
use crate::domain::ShowId;
use crate::domain::fairness::{self, Drawn};
use crate::store::StoreError;

/// A show's fairness record as stored (the seed stays inside until the draw is done).
#[derive(Debug, Clone)]
pub struct FairnessRow {
    pub seed: Vec<u8>,
    pub commitment: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub pre_queue_size: Option<i64>,
    pub draw_base: Option<i64>,
    pub drawn_at: Option<DateTime<Utc>>,
}

/// What a join before (or at) the opening comes to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PreJoin {
    /// In the pre-queue (`created`: just now).
    PreQueued { created: bool },
    /// The opening has come and the pre-queue isn't closed yet: close it, then join.
    Due,
    /// The pre-queue closed: join the queue, behind it.
    Open,
    /// The draw is done: the pre-queue is history.
    Drawn,
}

/// One published draw entry.
#[derive(Debug, Clone)]
pub struct DrawEntry {
    pub seq: i64,
    pub user_hash: String,
    pub hmac: String,
}

impl Fairness<'_> {
    pub async fn fairness(&self, show: ShowId) -> Result<Option<FairnessRow>, StoreError> {
        let query = sqlx::query_as!(
            FairnessRow,
            "SELECT seed, commitment, closed_at, pre_queue_size, draw_base, drawn_at FROM show_fairness WHERE show_id = $1",
            show as _
        );
        self.timed(query.fetch_optional(&self.pool)).await
    }

    /// Chooses the seed the first time a show gets an opening; moving the opening keeps it
    /// (a new seed for each try would let an organizer pick the draw they like).
    pub async fn commit_seed(&self, show: ShowId) -> Result<(), StoreError> {
        let seed: [u8; fairness::SEED_LEN] = rand::random();
        let query = sqlx::query!(
            "INSERT INTO show_fairness (show_id, seed, commitment) VALUES ($1, $2, $3) ON CONFLICT (show_id) DO NOTHING",
            show as _,
            seed.as_slice(),
            fairness::commitment(&seed)
        );
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// A join of a show with an opening: into the pre-queue while it is open (under a
    /// shared lock of the fairness row, which the close takes exclusively).
    #[tracing::instrument(skip(self))]
    pub async fn pre_join(&self, show: ShowId, user: Uuid, now: Option<DateTime<Utc>>) -> Result<PreJoin, StoreError> {
        self.bounded(async {
            let (mut tx, now) = self.begin_at(now).await?;
            let outcome = pre_join_in(&mut tx, show, user, now).await?;
            tx.commit().await?;
            Ok(outcome)
        })
        .await
    }

    /// Closes the pre-queue at the opening: `close_backend` keeps seqs for its users in the
    /// store that serves the queue and returns where they start. Idempotent.
    #[tracing::instrument(skip(self, close_backend))]
    pub async fn close_pre_queue(
        &self,
        show: ShowId,
        now: Option<DateTime<Utc>>,
        close_backend: impl AsyncFnOnce(i64) -> Result<i64, StoreError>,
    ) -> Result<(), StoreError> {
        let closed = sqlx::query_scalar!(
            r#"SELECT closed_at IS NOT NULL AS "closed!" FROM show_fairness WHERE show_id = $1"#,
            show as _
        );
        if self.timed(closed.fetch_optional(&self.pool)).await? != Some(false) {
            return Ok(());
        }
        self.bounded(async {
            let (mut tx, now) = self.begin_at(now).await?;
            // Postgres' clock and opening decide (an instance's settings may be a moment old).
            let due: Option<bool> = sqlx::query_scalar!(
                r#"SELECT f.closed_at IS NULL AND c.opens_at <= $2 AS "due!"
                 FROM show_fairness f JOIN queue_configs c USING (show_id) WHERE f.show_id = $1 FOR UPDATE OF f"#,
                show as _,
                now
            )
            .fetch_optional(&mut *tx)
            .await?;
            if due != Some(true) {
                return Ok(());
            }
            let size: i64 =
                sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM pre_queue WHERE show_id = $1"#, show as _)
                    .fetch_one(&mut *tx)
                    .await?;
            let base = close_backend(size).await?;
            sqlx::query!(
                "UPDATE show_fairness SET closed_at = $2, pre_queue_size = $3, draw_base = $4 WHERE show_id = $1",
                show as _,
                now,
                size,
                base
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(%show, pre_queue = size, "pre-queue closed");
            Ok(())
        })
        .await
    }

    /// The draw of a closed, undrawn show for this instance to do (a lease of `lease`),
    /// with the pre-queue; `None` when there is nothing to draw or another instance is at it.
    pub async fn claim_draw(
        &self,
        show: ShowId,
        lease: std::time::Duration,
    ) -> Result<Option<(FairnessRow, Vec<Uuid>)>, StoreError> {
        let claim = sqlx::query_as!(
            FairnessRow,
            "UPDATE show_fairness SET drawing_until = now() + $2 * interval '1 millisecond'
             WHERE show_id = $1 AND closed_at IS NOT NULL AND drawn_at IS NULL
               AND (drawing_until IS NULL OR drawing_until < now())
             RETURNING seed, commitment, closed_at, pre_queue_size, draw_base, drawn_at",
            show as _,
            lease.as_millis() as i64
        );
        let Some(row) = self.timed(claim.fetch_optional(&self.pool)).await? else { return Ok(None) };
        let users = sqlx::query_scalar!("SELECT user_id FROM pre_queue WHERE show_id = $1", show as _);
        Ok(Some((row, self.timed(users.fetch_all(&self.pool)).await?)))
    }

    /// Records the draw (what the entries endpoint publishes) and its places, dated by the
    /// close (a draw placed on Redis has no join events to write behind). Idempotent.
    pub async fn record_draw(&self, show: ShowId, base: i64, drawn: &[Drawn]) -> Result<(), StoreError> {
        for (i, chunk) in drawn.chunks(10_000).enumerate() {
            let first = base + 1 + (i * 10_000) as i64;
            let users: Vec<Uuid> = chunk.iter().map(|d| d.user).collect();
            let hashes: Vec<String> = users.iter().map(|u| fairness::user_hash(*u)).collect();
            let keys: Vec<String> = chunk.iter().map(|d| hex::encode(d.key)).collect();
            let insert = sqlx::query!(
                "WITH drawn AS (
                    INSERT INTO draw_entries (show_id, seq, user_id, user_hash, hmac)
                    SELECT $1, $2 + ord - 1, user_id, user_hash, hmac
                    FROM UNNEST($3::uuid[], $4::text[], $5::text[]) WITH ORDINALITY AS d(user_id, user_hash, hmac, ord)
                    ON CONFLICT (show_id, seq) DO NOTHING)
                 INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
                 SELECT $1, $2 + ord - 1, user_id, f.closed_at
                 FROM UNNEST($3::uuid[]) WITH ORDINALITY AS d(user_id, ord) JOIN show_fairness f ON f.show_id = $1
                 ON CONFLICT (show_id, seq) DO NOTHING",
                show as _,
                first,
                &users,
                &hashes,
                &keys
            );
            self.timed(insert.execute(&self.pool)).await?;
        }
        Ok(())
    }

    /// The draw is done: the seed may be revealed, and admission on Postgres need not wait
    /// (a take-over during a draw placed on Redis made it wait).
    pub async fn finish_draw(&self, show: ShowId) -> Result<(), StoreError> {
        let query = sqlx::query!(
            "WITH done AS (UPDATE show_fairness SET drawn_at = now(), drawing_until = NULL WHERE show_id = $1)
             UPDATE queue_state SET draw_pending = false WHERE show_id = $1",
            show as _
        );
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// Whether anyone is in the show's pre-queue.
    pub async fn has_pre_queue(&self, show: ShowId) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM pre_queue WHERE show_id = $1) AS "exists!""#,
            show as _
        );
        self.timed(query.fetch_one(&self.pool)).await
    }

    pub async fn in_pre_queue(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM pre_queue WHERE show_id = $1 AND user_id = $2) AS "exists!""#,
            show as _,
            user
        );
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Leaves the pre-queue before the opening; false when the user wasn't in it, or the
    /// opening came (from then on the pre-queue's size is fixed: the close counts it, and a
    /// close retried after a failed attempt must count the same).
    pub async fn leave_pre_queue(
        &self,
        show: ShowId,
        user: Uuid,
        now: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query!(
            "DELETE FROM pre_queue p USING show_fairness f, queue_configs c
             WHERE p.show_id = $1 AND p.user_id = $2 AND f.show_id = $1 AND f.closed_at IS NULL
               AND c.show_id = $1 AND c.opens_at > COALESCE($3, now())",
            show as _,
            user,
            now
        );
        Ok(self.timed(query.execute(&self.pool)).await?.rows_affected() == 1)
    }

    pub async fn draw_entries(&self, show: ShowId, after_seq: i64, limit: i64) -> Result<Vec<DrawEntry>, StoreError> {
        let query = sqlx::query_as!(
            DrawEntry,
            "SELECT seq, user_hash, hmac FROM draw_entries WHERE show_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            show as _,
            after_seq,
            limit
        );
        self.timed(query.fetch_all(&self.pool)).await
    }
}

async fn pre_join_in(
    tx: &mut PgConnection,
    show: ShowId,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<PreJoin, sqlx::Error> {
    let opens_at: Option<DateTime<Utc>> =
        sqlx::query_scalar!("SELECT opens_at FROM queue_configs WHERE show_id = $1", show as _)
            .fetch_optional(&mut *tx)
            .await?
            .flatten();
    let state = sqlx::query!(r#"SELECT closed_at IS NOT NULL AS "closed!", drawn_at IS NOT NULL AS "drawn!" FROM show_fairness WHERE show_id = $1 FOR SHARE"#, show as _)
    .fetch_optional(&mut *tx)
    .await?;
    let (Some(opens_at), Some((closed, drawn))) = (opens_at, state.map(|row| (row.closed, row.drawn))) else {
        return Ok(PreJoin::Drawn);
    };
    if drawn {
        return Ok(PreJoin::Drawn);
    }
    let member: bool = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pre_queue WHERE show_id = $1 AND user_id = $2) AS "exists!""#,
        show as _,
        user
    )
    .fetch_one(&mut *tx)
    .await?;
    if member {
        return Ok(PreJoin::PreQueued { created: false });
    }
    if closed {
        return Ok(PreJoin::Open);
    }
    if now >= opens_at {
        return Ok(PreJoin::Due);
    }
    sqlx::query!("INSERT INTO pre_queue (show_id, user_id, joined_at) VALUES ($1, $2, $3)", show as _, user, now)
        .execute(tx)
        .await?;
    Ok(PreJoin::PreQueued { created: true })
}
