//! The waiting queue and active set of a show, on Postgres: the fallback while Redis can't
//! serve. The same rules as the Redis scripts, as transactions: a place is a `queue_entries`
//! row, the show's counters are its `queue_state` row (locked by joins and admission ticks,
//! so N instances share one seq counter and one token bucket), and a show's concurrent joins
//! go as one transaction (the same batching as on Redis).
//!
//! Every write starts with [`Database::begin_fenced`], so nothing is written here once the
//! deployment is back on Redis.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Database, Places};
use crate::clock::Clock;
use crate::domain::ShowId;
use crate::domain::queue::{HOLE_SIZE, Hole, JoinStep, LivePlace, bucket_full, join_step, refill};
use crate::store::batch::{BatchCall, Batcher, Limits};
use crate::store::{AdmissionTick, JoinOutcome, Placement, Presence, QueueCounts, QueueStore, StoreError};

/// Drawn users placed per transaction (a few hundred milliseconds of Postgres each).
const DRAW_CHUNK: usize = 25_000;

// A live place is one not left, expired or confirmed: every query that wants live places
// spells `left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL` word for word (the
// checked queries take literals only; a test below keeps the copies the same).

pub struct PgQueue {
    db: Database,
    clock: Clock,
    joins: Batcher<Uuid, JoinOutcome>,
}

impl PgQueue {
    /// Must be called inside the tokio runtime that should run the batched joins.
    pub fn new(db: Database, clock: Clock) -> Self {
        let (batch_db, batch_clock) = (db.clone(), clock.clone());
        let call: BatchCall<Uuid, JoinOutcome> = Arc::new(move |show, users| {
            let (db, now) = (batch_db.clone(), batch_clock.injected());
            Box::pin(async move { db.bounded(join_batch(&db, now, show, users)).await })
        });
        let joins = Batcher::new(call, Limits::per_show("postgres", db.timeout()));
        Self { db, clock, joins }
    }
}

struct LiveRow {
    user_id: Uuid,
    seq: i64,
    admitted: bool,
    active_until: Option<DateTime<Utc>>,
    claimed: bool,
}

impl LiveRow {
    fn place(&self) -> LivePlace {
        match (self.admitted, self.active_until) {
            (true, Some(until)) => {
                LivePlace::Admitted { seq: self.seq, until_ms: until.timestamp_millis(), claimed: self.claimed }
            }
            (true, None) => LivePlace::Admitted { seq: self.seq, until_ms: 0, claimed: self.claimed },
            (false, _) => LivePlace::Waiting { seq: self.seq },
        }
    }
}

fn no_show(show: ShowId) -> StoreError {
    StoreError::NotFound(format!("no show with id {show}"))
}

/// One transaction for a batch of joins, decided one after another as separate calls would
/// be: a user with a live place keeps it, everyone else gets the next seq.
async fn join_batch(
    db: &Database,
    injected: Option<DateTime<Utc>>,
    show: ShowId,
    users: Vec<Uuid>,
) -> Result<Vec<JoinOutcome>, StoreError> {
    let (mut tx, now) = db.begin_fenced(injected).await?;
    let state = sqlx::query!(
        "SELECT s.last_seq, s.cursor, c.paused, c.session_ttl_s FROM queue_state s JOIN queue_configs c USING (show_id)
         WHERE s.show_id = $1 FOR UPDATE OF s",
        show as _
    )
    .map(|row| (row.last_seq, row.cursor, row.paused, row.session_ttl_s))
    .fetch_optional(&mut *tx)
    .await?;
    let (mut last, cursor, paused, session_ttl_s) = state.ok_or_else(|| no_show(show))?;
    let mut places: HashMap<Uuid, LivePlace> =
        live_places(&mut tx, show, &users).await?.into_iter().map(|row| (row.user_id, row.place())).collect();
    let (now_ms, session_ms) = (now.timestamp_millis(), i64::from(session_ttl_s) * 1000);
    let (mut fresh, mut lapsed, mut claims) = (Vec::new(), Vec::new(), Vec::new());
    let mut outcomes = Vec::with_capacity(users.len());
    for user in &users {
        let step = join_step(places.get(user).copied(), now_ms, session_ms, paused);
        let outcome = match step {
            JoinStep::Keep { seq } => placed(seq, false, Some(cursor), None),
            JoinStep::KeepActive { seq, until_ms, claim } => {
                if claim {
                    claims.push(seq);
                    places.insert(*user, LivePlace::Admitted { seq, until_ms, claimed: true });
                }
                placed(seq, false, Some(cursor), Some(until_ms))
            }
            JoinStep::New { lapsed: gone } | JoinStep::Closed { lapsed: gone } => {
                lapsed.extend(gone);
                places.remove(user);
                if matches!(step, JoinStep::Closed { .. }) {
                    JoinOutcome::Closed
                } else {
                    last += 1;
                    fresh.push((last, *user));
                    places.insert(*user, LivePlace::Waiting { seq: last });
                    placed(last, true, None, None)
                }
            }
        };
        outcomes.push(outcome);
    }
    end_places(&mut tx, show, &lapsed, PlaceEnd::Expired, now).await?;
    claim(&mut tx, show, &claims, now).await?;
    insert_places(&mut tx, show, &fresh, now).await?;
    sqlx::query!("UPDATE queue_state SET last_seq = $2 WHERE show_id = $1", show as _, last).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(outcomes)
}

fn placed(seq: i64, created: bool, cursor: Option<i64>, active_until_ms: Option<i64>) -> JoinOutcome {
    JoinOutcome::Placed(Placement { seq, created, cursor, active_until_ms, holes_total: None })
}

async fn live_places(tx: &mut PgConnection, show: ShowId, users: &[Uuid]) -> Result<Vec<LiveRow>, sqlx::Error> {
    sqlx::query_as!(
        LiveRow,
        r#"SELECT DISTINCT ON (user_id) user_id, seq, admitted_at IS NOT NULL AS "admitted!", active_until,
                claimed_at IS NOT NULL AS "claimed!"
           FROM queue_entries
           WHERE show_id = $1 AND user_id = ANY($2) AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL
           ORDER BY user_id, seq"#,
        show as _,
        users
    )
    .fetch_all(tx)
    .await
}

async fn insert_places(
    tx: &mut PgConnection,
    show: ShowId,
    places: &[(i64, Uuid)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if places.is_empty() {
        return Ok(());
    }
    let (seqs, users): (Vec<i64>, Vec<Uuid>) = places.iter().copied().unzip();
    sqlx::query!(
        "INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
         SELECT $1, seq, user_id, $4 FROM UNNEST($2::bigint[], $3::uuid[]) AS p(seq, user_id)",
        show as _,
        &seqs,
        &users,
        now
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Ends places (`column`: expired_at, left_at or confirmed_at); an admitted user's holds go
/// with the place.
pub(super) async fn end_places(
    tx: &mut PgConnection,
    show: ShowId,
    seqs: &[i64],
    end: PlaceEnd,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "WITH ended AS (
            UPDATE queue_entries SET
                left_at = CASE WHEN $4 = 'left_at' THEN $3 ELSE left_at END,
                expired_at = CASE WHEN $4 = 'expired_at' THEN $3 ELSE expired_at END,
                confirmed_at = CASE WHEN $4 = 'confirmed_at' THEN $3 ELSE confirmed_at END
            WHERE show_id = $1 AND seq = ANY($2) RETURNING user_id)
         DELETE FROM holds h USING ended e WHERE h.show_id = $1 AND h.user_id = e.user_id",
        show as _,
        seqs,
        now,
        end.column(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// How a place ends: the column of `queue_entries` it stamps.
#[derive(Debug, Clone, Copy)]
pub(super) enum PlaceEnd {
    Left,
    Expired,
    Confirmed,
}

impl PlaceEnd {
    fn column(self) -> &'static str {
        match self {
            Self::Left => "left_at",
            Self::Expired => "expired_at",
            Self::Confirmed => "confirmed_at",
        }
    }
}

/// The first request after admission turns the claim window into the full session.
pub(super) async fn claim(
    tx: &mut PgConnection,
    show: ShowId,
    seqs: &[i64],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query!("UPDATE queue_entries SET claimed_at = $3::timestamptz,
                active_until = $3::timestamptz + make_interval(secs => (SELECT session_ttl_s FROM queue_configs WHERE show_id = $1))
         WHERE show_id = $1 AND seq = ANY($2) AND claimed_at IS NULL", show as _, seqs, now)
    .execute(tx)
    .await?;
    Ok(())
}

struct PresenceRow {
    cursor: i64,
    now: DateTime<Utc>,
    seq: Option<i64>,
    admitted: Option<bool>,
    active_until: Option<DateTime<Utc>>,
    claimed: Option<bool>,
}

struct AdmissionState {
    cursor: i64,
    last_seq: i64,
    tokens: Option<f64>,
    tokens_at: Option<DateTime<Utc>>,
    max_active: i32,
    admit_per_second: f64,
    paused: bool,
    claim_window_s: i32,
    draw_pending: bool,
}

impl PgQueue {
    async fn presence_row(&self, show: ShowId, user: Uuid) -> Result<PresenceRow, StoreError> {
        let query = sqlx::query_as!(
            PresenceRow,
            r#"SELECT s.cursor, coalesce($3, clock_timestamp()) AS "now!", e.seq AS "seq?", e.admitted AS "admitted?",
                      e.active_until AS "active_until?", e.claimed AS "claimed?"
               FROM queue_state s LEFT JOIN LATERAL (
                  SELECT seq, admitted_at IS NOT NULL AS admitted, active_until, claimed_at IS NOT NULL AS claimed
                  FROM queue_entries
                  WHERE show_id = s.show_id AND user_id = $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL
                  ORDER BY seq LIMIT 1) e ON true
               WHERE s.show_id = $1"#,
            show as _,
            user,
            self.clock.injected()
        );
        self.db.timed(query.fetch_optional(&self.db.pool)).await?.ok_or_else(|| no_show(show))
    }

    async fn claim_session(&self, show: ShowId, seq: i64) -> Result<Option<i64>, StoreError> {
        self.db
            .fenced(self.clock.injected(), async |tx, now| {
                claim(tx, show, &[seq], now).await?;
                let until: Option<DateTime<Utc>> = sqlx::query_scalar!(
                    "SELECT active_until FROM queue_entries WHERE show_id = $1 AND seq = $2",
                    show as _,
                    seq
                )
                .fetch_one(tx)
                .await?;
                Ok(until.map(|u| u.timestamp_millis()))
            })
            .await
    }

    async fn admit_in(
        &self,
        tx: &mut PgConnection,
        show: ShowId,
        now: DateTime<Utc>,
        max_batch: u32,
    ) -> Result<AdmissionTick, StoreError> {
        let state: AdmissionState = sqlx::query_as!(
            AdmissionState,
            "SELECT s.cursor, s.last_seq, s.tokens, s.tokens_at, c.max_active, c.admit_per_second, c.paused,
                    c.claim_window_s, s.draw_pending
             FROM queue_state s JOIN queue_configs c USING (show_id) WHERE s.show_id = $1 FOR UPDATE OF s",
            show as _
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| no_show(show))?;
        let expired = expire_lapsed(tx, show, now).await?;
        let elapsed_ms = state.tokens_at.map_or(0, |t| (now - t).num_milliseconds());
        let mut tokens = refill(state.tokens, elapsed_ms, state.admit_per_second);
        let (mut cursor, mut admitted) = (state.cursor, 0);
        let active = active_count(tx, show, now).await?;
        // Paused, or the drawn pre-queue is still being placed ahead of everyone.
        if !state.paused && !state.draw_pending {
            let room = (i64::from(state.max_active) - active).max(0);
            let want = (tokens.floor() as i64).min(room).min(i64::from(max_batch));
            if want > 0 {
                let seqs = admit_waiting(tx, show, now, want, state.claim_window_s).await?;
                admitted = seqs.len() as i64;
                cursor = advanced_cursor(tx, show, cursor, &seqs).await?;
                if admitted < want {
                    // Nobody else waits: every seq handed out so far is behind the cursor.
                    cursor = cursor.max(state.last_seq);
                }
                tokens -= admitted as f64;
            }
        }
        // As on Redis: a full bucket nobody waits for goes (at a rate of 0 too, which a new
        // bucket at another rate must not inherit).
        let tokens = (cursor < state.last_seq || !bucket_full(tokens, state.admit_per_second)).then_some(tokens);
        sqlx::query!(
            "UPDATE queue_state SET tokens = $2, tokens_at = $3, cursor = $4, admitted_total = admitted_total + $5
             WHERE show_id = $1",
            show as _,
            tokens,
            now,
            cursor,
            admitted
        )
        .execute(&mut *tx)
        .await?;
        // Every seq handed out is behind the cursor once nobody waits (see above).
        let busy = cursor < state.last_seq || active + admitted > 0;
        Ok(AdmissionTick { cursor, admitted: admitted as u64, expired, holes_total: None, busy })
    }
}

/// Ends sessions whose claim window or session ran out, with their holds.
async fn expire_lapsed(tx: &mut PgConnection, show: ShowId, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let expired: i64 = sqlx::query_scalar!(r#"WITH lapsed AS (UPDATE queue_entries SET expired_at = $2
                         WHERE show_id = $1 AND admitted_at IS NOT NULL AND active_until <= $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL RETURNING user_id),
              dropped AS (DELETE FROM holds h USING lapsed l WHERE h.show_id = $1 AND h.user_id = l.user_id)
         SELECT count(*) AS "count!" FROM lapsed"#, show as _, now)
    .fetch_one(tx)
    .await?;
    Ok(expired as u64)
}

async fn active_count(tx: &mut PgConnection, show: ShowId, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM queue_entries WHERE show_id = $1 AND admitted_at IS NOT NULL AND active_until > $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL"#, show as _, now)
    .fetch_one(tx)
    .await
}

/// Admits the first `want` waiters by seq (reinstated places, whose seqs are lowest, first).
async fn admit_waiting(
    tx: &mut PgConnection,
    show: ShowId,
    now: DateTime<Utc>,
    want: i64,
    claim_window_s: i32,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!("UPDATE queue_entries q SET admitted_at = $2::timestamptz, active_until = $2::timestamptz + make_interval(secs => $4)
         FROM (SELECT seq FROM queue_entries WHERE show_id = $1 AND admitted_at IS NULL AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL ORDER BY seq LIMIT $3) w
         WHERE q.show_id = $1 AND q.seq = w.seq RETURNING q.seq", show as _, now, want, f64::from(claim_window_s))
    .fetch_all(tx)
    .await
}

/// The cursor after admitting `seqs`: the highest of them outside the holes (reinstated
/// places in a hole, or behind the cursor, don't move it).
async fn advanced_cursor(tx: &mut PgConnection, show: ShowId, cursor: i64, seqs: &[i64]) -> Result<i64, sqlx::Error> {
    let highest: Option<i64> = sqlx::query_scalar!(
        "SELECT max(seq) FROM UNNEST($2::bigint[]) AS a(seq)
         WHERE NOT EXISTS (SELECT 1 FROM queue_holes h WHERE h.show_id = $1 AND a.seq >= h.lo AND a.seq < h.hi)",
        show as _,
        seqs
    )
    .fetch_one(tx)
    .await?;
    Ok(highest.map_or(cursor, |h| h.max(cursor)))
}

#[async_trait]
impl QueueStore for PgQueue {
    #[tracing::instrument(skip(self))]
    async fn join(&self, show: ShowId, user: Uuid) -> Result<JoinOutcome, StoreError> {
        self.joins.call(show, user).await
    }

    #[tracing::instrument(skip(self))]
    async fn presence(&self, show: ShowId, user: Uuid) -> Result<Presence, StoreError> {
        let row = self.presence_row(show, user).await?;
        let mut presence = Presence { cursor: row.cursor, active_until_ms: None, waiting: false };
        let (Some(seq), Some(admitted)) = (row.seq, row.admitted) else { return Ok(presence) };
        match row.active_until {
            _ if !admitted => presence.waiting = true,
            Some(until) if until > row.now && row.claimed == Some(true) => {
                presence.active_until_ms = Some(until.timestamp_millis());
            }
            Some(until) if until > row.now => presence.active_until_ms = self.claim_session(show, seq).await?,
            _ => {}
        }
        Ok(presence)
    }

    #[tracing::instrument(skip(self))]
    async fn reinstate(&self, show: ShowId, user: Uuid, seq: i64) -> Result<(), StoreError> {
        self.db
            .fenced(self.clock.injected(), async |tx, now| {
                sqlx::query!("INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
                     SELECT $1, $2, $3, $4 WHERE NOT EXISTS (
                        SELECT 1 FROM queue_entries WHERE show_id = $1 AND user_id = $3 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL) ON CONFLICT DO NOTHING", show as _, seq, user, now)
                .execute(tx)
                .await?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn leave(&self, show: ShowId, user: Uuid) -> Result<bool, StoreError> {
        self.db
            .fenced(self.clock.injected(), async |tx, now| {
                let seqs: Vec<i64> = sqlx::query_scalar!("SELECT seq FROM queue_entries WHERE show_id = $1 AND user_id = $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL FOR UPDATE", show as _, user)
                .fetch_all(&mut *tx)
                .await?;
                end_places(tx, show, &seqs, PlaceEnd::Left, now).await?;
                Ok(!seqs.is_empty())
            })
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn admit(&self, show: ShowId, max_batch: u32) -> Result<AdmissionTick, StoreError> {
        self.db.fenced(self.clock.injected(), async |tx, now| self.admit_in(tx, show, now, max_batch).await).await
    }

    async fn cursor(&self, show: ShowId) -> Result<i64, StoreError> {
        let query = sqlx::query_scalar!("SELECT cursor FROM queue_state WHERE show_id = $1", show as _);
        self.db.timed(query.fetch_optional(&self.db.pool)).await?.ok_or_else(|| no_show(show))
    }

    /// The seqs kept for a pre-queue count as joined from its close, before its draw places
    /// them (as on Redis, whose seq counter moved past them).
    #[tracing::instrument(skip(self))]
    async fn counts(&self, show: ShowId) -> Result<QueueCounts, StoreError> {
        let query = sqlx::query!(
            r#"SELECT count(e.seq) FILTER (WHERE e.admitted_at IS NULL AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL) AS "waiting!",
                      count(e.seq) FILTER (WHERE e.admitted_at IS NOT NULL AND e.active_until > coalesce($2, clock_timestamp())
                                       AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL) AS "active!",
                      count(e.seq) + CASE WHEN s.draw_pending THEN coalesce(max(f.pre_queue_size), 0) ELSE 0 END AS "joined!",
                      count(e.admitted_at) AS "admitted!", s.cursor
               FROM queue_state s LEFT JOIN queue_entries e USING (show_id) LEFT JOIN show_fairness f USING (show_id)
               WHERE s.show_id = $1 GROUP BY s.cursor, s.draw_pending"#,
            show as _,
            self.clock.injected()
        )
        .map(|row| (row.waiting, row.active, row.joined, row.admitted, row.cursor));
        let counts = self.db.timed(query.fetch_optional(&self.db.pool)).await?;
        let (waiting, active, joined, admitted, cursor) = counts.ok_or_else(|| no_show(show))?;
        Ok(QueueCounts {
            waiting: waiting as u64,
            active: active as u64,
            joined_total: joined as u64,
            admitted_total: admitted as u64,
            cursor,
        })
    }

    async fn holes(&self, show: ShowId) -> Result<Vec<Hole>, StoreError> {
        let query = sqlx::query!("SELECT lo, hi FROM queue_holes WHERE show_id = $1 ORDER BY lo", show as _);
        let rows = self.db.timed(query.map(|row| (row.lo, row.hi)).fetch_all(&self.db.pool)).await?;
        Ok(rows.into_iter().map(|(lo, hi)| Hole { lo, hi }).collect())
    }

    async fn place_of(&self, show: ShowId, user: Uuid) -> Result<Option<i64>, StoreError> {
        let query = sqlx::query_scalar!(
            "SELECT seq FROM queue_entries WHERE show_id = $1 AND user_id = $2 AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL ORDER BY seq LIMIT 1",
            show as _,
            user
        );
        self.db.timed(query.fetch_optional(&self.db.pool)).await
    }

    #[tracing::instrument(skip(self))]
    async fn close_for_draw(&self, show: ShowId, pre_queue_size: i64) -> Result<i64, StoreError> {
        let work = async |tx: &mut PgConnection, _now| -> Result<i64, sqlx::Error> {
            let (last, known) =
                sqlx::query!("SELECT last_seq, draw_base FROM queue_state WHERE show_id = $1 FOR UPDATE", show as _)
                    .map(|row| (row.last_seq, row.draw_base))
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(base) = known {
                return Ok(base);
            }
            if pre_queue_size < HOLE_SIZE {
                sqlx::query!(
                    "INSERT INTO queue_holes (show_id, lo, hi) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    show as _,
                    last + 1 + pre_queue_size,
                    last + 1 + HOLE_SIZE
                )
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query!(
                "UPDATE queue_state SET last_seq = $2, draw_base = $3, draw_pending = true WHERE show_id = $1",
                show as _,
                last + HOLE_SIZE.max(pre_queue_size),
                last
            )
            .execute(&mut *tx)
            .await?;
            Ok(last)
        };
        self.db.fenced(self.clock.injected(), async |tx, now| Ok(work(tx, now).await?)).await
    }

    #[tracing::instrument(skip(self, users), fields(users = users.len()))]
    async fn place_drawn(&self, show: ShowId, base: i64, users: &[Uuid]) -> Result<(), StoreError> {
        // In chunks: one insert of half a million rows outlasts the bound on a call. A chunk
        // inserted again changes nothing; admission goes on once all are in.
        for (i, chunk) in users.chunks(DRAW_CHUNK).enumerate() {
            let before = base + (i * DRAW_CHUNK) as i64;
            let insert = async |tx: &mut PgConnection, now: DateTime<Utc>| {
                sqlx::query!(
                    "INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
                     SELECT $1, $2 + ord, user_id, $4 FROM UNNEST($3::uuid[]) WITH ORDINALITY AS d(user_id, ord)
                     ON CONFLICT (show_id, seq) DO NOTHING",
                    show as _,
                    before,
                    chunk,
                    now
                )
                .execute(tx)
                .await
            };
            self.db.fenced(self.clock.injected(), async |tx, now| Ok(insert(tx, now).await?)).await?;
        }
        let done = sqlx::query!("UPDATE queue_state SET draw_pending = false WHERE show_id = $1", show as _);
        self.db.fenced(self.clock.injected(), async |tx, _| Ok(done.execute(tx).await?)).await.map(drop)
    }

    /// The challenge id is unique to its show (it carries the show, signed), so one table
    /// serves every show.
    #[tracing::instrument(skip(self))]
    async fn spend_challenge(&self, _show: ShowId, id: &str, expires_at_ms: i64) -> Result<bool, StoreError> {
        let query = sqlx::query!(
            "INSERT INTO pow_spent (challenge, expires_at) VALUES ($1, to_timestamp($2 / 1000.0))
             ON CONFLICT (challenge) DO NOTHING",
            id as _,
            expires_at_ms as f64
        );
        Ok(self.db.timed(query.execute(&self.db.pool)).await?.rows_affected() == 1)
    }
}

impl Places<'_> {
    /// Whether Postgres knows the place with this seq as ended, or as another user's. A
    /// queue token for a place it lacks, or knows as the user's and live, was issued by a
    /// Redis that lost the place (a failover, or a switch before the write-behind had it).
    pub async fn place_closed(&self, show: ShowId, user: Uuid, seq: i64) -> Result<bool, StoreError> {
        let query = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM queue_entries WHERE show_id = $1 AND seq = $2 AND (user_id <> $3
                   OR left_at IS NOT NULL OR expired_at IS NOT NULL OR confirmed_at IS NOT NULL)) AS "closed!""#,
            show as _,
            seq,
            user
        );
        self.timed(query.fetch_one(&self.pool)).await
    }
}

#[cfg(test)]
mod tests {
    /// A live place: not left, expired or confirmed.
    const LIVE: &str = "left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL";

    #[test]
    fn every_query_of_live_places_spells_the_same_predicate() {
        let mut seen = 0;
        for (path, text) in crate::source_tree::sources("store/postgres") {
            let queries = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = queries.split_whitespace().collect::<Vec<_>>().join(" ");
            for (at, _) in code.match_indices("left_at IS NULL") {
                assert!(code[at..].starts_with(LIVE), "{path} has a live-place predicate that isn't the one");
                seen += 1;
            }
        }
        assert!(seen >= 10, "the queries of live places: {seen}");
    }
    use super::*;

    #[test]
    fn a_row_of_an_admitted_user_is_an_admitted_place() {
        let row = LiveRow {
            user_id: Uuid::nil(),
            seq: 3,
            admitted: true,
            active_until: DateTime::from_timestamp_millis(5_000),
            claimed: false,
        };
        assert_eq!(row.place(), LivePlace::Admitted { seq: 3, until_ms: 5_000, claimed: false });
        let waiting = LiveRow { admitted: false, active_until: None, ..row };
        assert_eq!(waiting.place(), LivePlace::Waiting { seq: 3 });
    }
}
