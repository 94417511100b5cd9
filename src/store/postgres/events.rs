//! The write-behind sink: stream events land in `write_behind_events` exactly once (the
//! stream, its lane, and the entry id are the primary key), and the ones that are new in this
//! batch are applied to `queue_entries` and the `holds` mirror in the same transaction, so
//! that Postgres can take over the queue and the holds if Redis goes away.
//!
//! A laned show's joins come from its lanes' streams and its admissions from its own, each
//! written by its own consumer: an admission may come first. It records the place then
//! (with the admission's time as the join's until the join arrives and sets it).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::WriteBehind;
use crate::domain::{SeatId, ShowId, from_millis};
use crate::store::StoreError;
use crate::store::event::{EventKind, HoldChange, StreamEvent, hold_changes};

/// A hold Redis acknowledged, for Postgres to take over.
#[derive(Debug, Clone, Copy)]
pub struct AdoptedHold {
    pub seat: SeatId,
    pub holder: Uuid,
    pub until: DateTime<Utc>,
    /// When it was taken, if known: a stay that ended after that took the hold with it.
    pub taken: Option<DateTime<Utc>>,
}

/// The places one kind of event stamps, with when (and, for an admission or a claim, until
/// when they are active).
struct Stamped {
    seqs: Vec<i64>,
    times: Vec<DateTime<Utc>>,
    untils: Vec<Option<DateTime<Utc>>>,
}

/// The `queue_entries` columns that events stamp, in the order a batch applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Admitted,
    Claimed,
    Left,
    Expired,
    Confirmed,
}

impl Stamp {
    fn column(self) -> &'static str {
        match self {
            Self::Admitted => "admitted_at",
            Self::Claimed => "claimed_at",
            Self::Left => "left_at",
            Self::Expired => "expired_at",
            Self::Confirmed => "confirmed_at",
        }
    }
}

/// Which column an event kind stamps, for kinds that end or advance a place.
fn stamped_column(kind: EventKind) -> Option<Stamp> {
    match kind {
        EventKind::Admitted => Some(Stamp::Admitted),
        EventKind::Claimed => Some(Stamp::Claimed),
        EventKind::Left => Some(Stamp::Left),
        EventKind::Expired => Some(Stamp::Expired),
        EventKind::Confirmed => Some(Stamp::Confirmed),
        _ => None,
    }
}

impl WriteBehind<'_> {
    /// Records a batch of one show's events in stream order; returns how many were new.
    ///
    /// `redis_serves`: the deployment is on Redis, whose holds Postgres mirrors. Otherwise
    /// these are events an old stream still held after the switch to Postgres: their places
    /// are recorded (a user who joined again on Postgres keeps the earlier place), but their
    /// holds are not (Postgres decides holds now).
    #[tracing::instrument(skip(self, events), fields(events = events.len()))]
    pub async fn record_events(
        &self,
        show: ShowId,
        lane: u16,
        events: &[StreamEvent],
        redis_serves: bool,
    ) -> Result<u64, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let fresh = insert_new_events(&mut tx, show, lane, events).await?;
            let fresh_events: Vec<&StreamEvent> = events.iter().filter(|e| fresh.contains(&e.id_parts())).collect();
            apply_to_queue_entries(&mut tx, show, &fresh_events).await?;
            record_holes(&mut tx, show, &fresh_events).await?;
            if redis_serves {
                mirror_holds(&mut tx, show, &fresh_events).await?;
            } else {
                keep_earliest_places(&mut tx, show, &fresh_events).await?;
                adopt_stream_holds(&mut tx, show, &fresh_events).await?;
            }
            tx.commit().await?;
            Ok(fresh.len() as u64)
        })
        .await
    }

    /// Holds an instance acknowledged on Redis that may not have reached Postgres before
    /// Redis became unreachable: each is kept where its seat is still free, as an old
    /// stream's holds are.
    #[tracing::instrument(skip(self, held), fields(holds = held.len()))]
    pub async fn adopt_holds(&self, show: ShowId, held: &[AdoptedHold]) -> Result<(), StoreError> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            adopt(&mut tx, show, held).await?;
            tx.commit().await
        })
        .await
    }
}

/// Inserts the events, skipping ids already recorded; returns the ids that were new.
async fn insert_new_events(
    tx: &mut sqlx::PgConnection,
    show: ShowId,
    lane: u16,
    events: &[StreamEvent],
) -> Result<std::collections::HashSet<(i64, i64)>, sqlx::Error> {
    let (ms, n): (Vec<i64>, Vec<i64>) = events.iter().map(StreamEvent::id_parts).unzip();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let users: Vec<String> = events.iter().map(|e| array_literal(&e.users)).collect();
    let seqs: Vec<Option<i64>> = events.iter().map(|e| e.seq).collect();
    let seats: Vec<String> = events.iter().map(|e| array_literal(&e.seats)).collect();
    let untils: Vec<Option<DateTime<Utc>>> = events.iter().map(|e| e.until_ms.map(from_millis)).collect();
    let occurred: Vec<DateTime<Utc>> = events.iter().map(|e| from_millis(e.at_ms())).collect();
    let rows: Vec<(i64, i64)> = sqlx::query!(
        "INSERT INTO write_behind_events
            (show_id, lane, stream_ms, stream_seq, kind, user_ids, seq, seat_ids, until_at, occurred_at)
         SELECT $1, $10, ms, n, kind, users::uuid[], seq, seats::bigint[], until_at, occurred_at
         FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[]) WITH ORDINALITY
              AS e(ms, n, kind, users, seq, seats, until_at, occurred_at, ord)
         ORDER BY ord
         ON CONFLICT DO NOTHING
         RETURNING stream_ms, stream_seq",
        show as _,
        &ms,
        &n,
        &kinds as _,
        &users,
        &seqs as _,
        &seats,
        &untils as _,
        &occurred,
        lane as i16,
    )
    .map(|row| (row.stream_ms, row.stream_seq))
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

/// `{1,2,3}`: arrays of arrays of different lengths can't be bound, so the seats and users of
/// each event travel as text.
fn array_literal<T: ToString>(values: &[T]) -> String {
    let inner: Vec<String> = values.iter().map(ToString::to_string).collect();
    format!("{{{}}}", inner.join(","))
}

async fn apply_to_queue_entries(
    tx: &mut sqlx::PgConnection,
    show: ShowId,
    events: &[&StreamEvent],
) -> Result<(), sqlx::Error> {
    // Joins first, then the places of other events whose join has not arrived (a laned
    // show's admissions; a drawn place has no join event, and may be left or ended before
    // the draw is recorded).
    let (joins, others): (Vec<&StreamEvent>, Vec<&StreamEvent>) =
        events.iter().partition(|e| e.kind == EventKind::Joined);
    for batch in [joins, others] {
        let places: Vec<(i64, Uuid, DateTime<Utc>)> =
            batch.iter().flat_map(|e| e.places().map(|(seq, user)| (seq, user, from_millis(e.at_ms())))).collect();
        insert_places(&mut *tx, show, &places).await?;
    }
    for column in [Stamp::Admitted, Stamp::Claimed, Stamp::Left, Stamp::Expired, Stamp::Confirmed] {
        let stamped: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = events
            .iter()
            .filter(|e| stamped_column(e.kind) == Some(column))
            .flat_map(|e| e.places().map(|(seq, _)| (seq, from_millis(e.at_ms()), e.until_ms.map(from_millis))))
            .collect();
        if stamped.is_empty() {
            continue;
        }
        let seqs: Vec<i64> = stamped.iter().map(|s| s.0).collect();
        let times: Vec<DateTime<Utc>> = stamped.iter().map(|s| s.1).collect();
        let untils: Vec<Option<DateTime<Utc>>> = stamped.iter().map(|s| s.2).collect();
        stamp(&mut *tx, show, column, &Stamped { seqs, times, untils }).await?;
    }
    Ok(())
}

/// Records places; a place recorded by its admission gets its join's time (the earlier).
async fn insert_places(
    tx: &mut sqlx::PgConnection,
    show: ShowId,
    places: &[(i64, Uuid, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    if places.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = places.iter().map(|j| j.0).collect();
    let users: Vec<Uuid> = places.iter().map(|j| j.1).collect();
    let times: Vec<DateTime<Utc>> = places.iter().map(|j| j.2).collect();
    sqlx::query!(
        "INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
         SELECT DISTINCT ON (seq) $1, seq, user_id, joined_at
         FROM UNNEST($2::bigint[], $3::uuid[], $4::timestamptz[]) AS j(seq, user_id, joined_at) ORDER BY seq, joined_at
         ON CONFLICT (show_id, seq) DO UPDATE SET joined_at = EXCLUDED.joined_at
         WHERE queue_entries.user_id = EXCLUDED.user_id AND EXCLUDED.joined_at < queue_entries.joined_at",
        show as _,
        &seqs,
        &users,
        &times
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Stamps `column` of these places with their times (one statement per column, in order:
/// a place admitted and claimed in one batch gets both). An admission or a claim also says
/// until when the user is active.
async fn stamp(tx: &mut sqlx::PgConnection, show: ShowId, column: Stamp, places: &Stamped) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE queue_entries q SET
            admitted_at = CASE WHEN $5 = 'admitted_at' THEN v.at ELSE q.admitted_at END,
            claimed_at = CASE WHEN $5 = 'claimed_at' THEN v.at ELSE q.claimed_at END,
            left_at = CASE WHEN $5 = 'left_at' THEN v.at ELSE q.left_at END,
            expired_at = CASE WHEN $5 = 'expired_at' THEN v.at ELSE q.expired_at END,
            confirmed_at = CASE WHEN $5 = 'confirmed_at' THEN v.at ELSE q.confirmed_at END,
            active_until = coalesce(v.until, q.active_until)
         FROM UNNEST($2::bigint[], $3::timestamptz[], $4::timestamptz[]) AS v(seq, at, until)
         WHERE q.show_id = $1 AND q.seq = v.seq",
        show as _,
        &places.seqs,
        &places.times,
        &places.untils as _,
        column.column(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Holes Redis opened (after a failover, or closing a pre-queue), so positions on the
/// fallback skip them too; Redis' seqs went past them, so a switch's hole comes after.
async fn record_holes(tx: &mut sqlx::PgConnection, show: ShowId, events: &[&StreamEvent]) -> Result<(), sqlx::Error> {
    for hole in events.iter().filter_map(|e| e.hole()) {
        sqlx::query!(
            "WITH hole AS (INSERT INTO queue_holes (show_id, lo, hi) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING)
             UPDATE queue_state SET last_seq = greatest(last_seq, $3 - 1) WHERE show_id = $1",
            show as _,
            hole.lo,
            hole.hi
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Applies what the events did to holds: the last event about a seat decides.
async fn mirror_holds(tx: &mut sqlx::PgConnection, show: ShowId, events: &[&StreamEvent]) -> Result<(), sqlx::Error> {
    let changes = hold_changes(events.iter().copied());
    let (mut held, mut released) = (Vec::new(), Vec::new());
    for (seat, change) in changes {
        match change {
            HoldChange::Held { user, until_ms } => held.push((seat, user, from_millis(until_ms))),
            HoldChange::Released { by } => released.push((seat, by)),
        }
    }
    if !held.is_empty() {
        let seats: Vec<SeatId> = held.iter().map(|h| h.0).collect();
        let users: Vec<Uuid> = held.iter().map(|h| h.1).collect();
        let untils: Vec<DateTime<Utc>> = held.iter().map(|h| h.2).collect();
        sqlx::query!("INSERT INTO holds (show_id, seat_id, user_id, expires_at)
             SELECT $1, seat, user_id, until FROM UNNEST($2::bigint[], $3::uuid[], $4::timestamptz[]) AS h(seat, user_id, until)
             ON CONFLICT (show_id, seat_id) DO UPDATE SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at", show as _, &seats as _, &users, &untils)
        .execute(&mut *tx)
        .await?;
    }
    if !released.is_empty() {
        let seats: Vec<SeatId> = released.iter().map(|r| r.0).collect();
        let users: Vec<Option<Uuid>> = released.iter().map(|r| r.1).collect();
        sqlx::query!(
            "DELETE FROM holds h USING UNNEST($2::bigint[], $3::uuid[]) AS r(seat, user_id)
             WHERE h.show_id = $1 AND h.seat_id = r.seat AND (r.user_id IS NULL OR h.user_id = r.user_id)",
            show as _,
            &seats as _,
            &users as _
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Holds Redis acknowledged that arrive after the switch to Postgres: each is kept where its
/// seat is still free (Postgres decided no other hold or sale of it meanwhile, which the
/// hand-over makes the rule). Releases are not applied: they may be older than a hold the
/// same fan made on Postgres since.
async fn adopt_stream_holds(
    tx: &mut sqlx::PgConnection,
    show: ShowId,
    events: &[&StreamEvent],
) -> Result<(), sqlx::Error> {
    let held: Vec<AdoptedHold> = hold_changes(events.iter().copied())
        .into_iter()
        .filter_map(|(seat, change)| match change {
            HoldChange::Held { user, until_ms } => {
                Some(AdoptedHold { seat, holder: user, until: from_millis(until_ms), taken: None })
            }
            HoldChange::Released { .. } => None,
        })
        .collect();
    adopt(tx, show, &held).await
}

/// Keeps each hold whose seat is still free (or lapsed, or already the holder's), under the
/// show's holds lock.
async fn adopt(tx: &mut sqlx::PgConnection, show: ShowId, held: &[AdoptedHold]) -> Result<(), sqlx::Error> {
    if held.is_empty() {
        return Ok(());
    }
    // One row a seat (an insert can't change a row twice): its latest hold, which renewed
    // or outlived the others.
    let mut held = held.to_vec();
    held.sort_by_key(|hold| (hold.seat, std::cmp::Reverse(hold.until)));
    held.dedup_by_key(|hold| hold.seat);
    let seats: Vec<SeatId> = held.iter().map(|h| h.seat).collect();
    let users: Vec<Uuid> = held.iter().map(|h| h.holder).collect();
    let untils: Vec<DateTime<Utc>> = held.iter().map(|h| h.until).collect();
    let taken: Vec<Option<DateTime<Utc>>> = held.iter().map(|h| h.taken).collect();
    sqlx::query!("SELECT pg_advisory_xact_lock($1, $2)", super::holds::HOLDS_LOCK, show.0 as i32)
        .execute(&mut *tx)
        .await?;
    // A holder whose stay ended (left, expired, bought) after the hold was taken lost it then;
    // one who released the seat since (through any instance) let it go. A release in the very
    // millisecond of the take is not told from one just before it: the hold is kept.
    sqlx::query!("INSERT INTO holds (show_id, seat_id, user_id, expires_at)
         SELECT $1, seat, user_id, until FROM UNNEST($2::bigint[], $3::uuid[], $4::timestamptz[], $5::timestamptz[]) AS h(seat, user_id, until, taken)
         WHERE until > clock_timestamp()
           AND NOT EXISTS (SELECT 1 FROM sold_seats s WHERE s.show_id = $1 AND s.seat_id = h.seat)
           AND NOT EXISTS (SELECT 1 FROM queue_entries e WHERE e.show_id = $1 AND e.user_id = h.user_id
                             AND greatest(e.left_at, e.expired_at, e.confirmed_at) >= h.taken)
           AND NOT EXISTS (SELECT 1 FROM write_behind_events r WHERE r.show_id = $1 AND r.kind = 'release'
                             AND r.stream_ms > (extract(epoch FROM h.taken) * 1000)::bigint
                             AND h.seat = ANY(r.seat_ids) AND h.user_id = ANY(r.user_ids))
         ON CONFLICT (show_id, seat_id) DO UPDATE SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at
         WHERE holds.user_id = EXCLUDED.user_id OR holds.expires_at <= clock_timestamp()", show as _, &seats as _, &users, &untils, &taken as _)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A user who joined on Postgres and whose earlier join on Redis arrives now has two live
/// places: the earlier one stays, the later one ends.
async fn keep_earliest_places(
    tx: &mut sqlx::PgConnection,
    show: ShowId,
    events: &[&StreamEvent],
) -> Result<(), sqlx::Error> {
    let users: Vec<Uuid> =
        events.iter().filter(|e| e.kind == EventKind::Joined).flat_map(|e| e.users.iter().copied()).collect();
    if users.is_empty() {
        return Ok(());
    }
    sqlx::query!("UPDATE queue_entries q SET left_at = q.joined_at
         FROM (SELECT seq, row_number() OVER (PARTITION BY user_id ORDER BY seq) AS rank FROM queue_entries
               WHERE show_id = $1 AND user_id = ANY($2) AND left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL) d
         WHERE q.show_id = $1 AND q.seq = d.seq AND d.rank > 1", show as _, &users)
    .execute(tx)
    .await?;
    Ok(())
}
