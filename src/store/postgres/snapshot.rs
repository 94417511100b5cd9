//! Reading a show's whole state, to rebuild Redis from.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::catalog;
use crate::domain::queue::{Hole, gaps, in_hole};
use crate::domain::{SeatId, ShowId};
use crate::store::StoreError;
use crate::store::snapshot::{PendingDraw, ShowSnapshot};

#[derive(sqlx::FromRow)]
struct PlaceRow {
    seq: i64,
    user_id: Uuid,
    live: bool,
    admitted: bool,
    active_until: Option<DateTime<Utc>>,
    claimed: bool,
}

/// Reads the show, all on `conn` (a transaction that may hold changes not yet committed, or
/// a connection taken before a lock that holds others up). `now`: an injected time, else the
/// server's.
pub async fn show_snapshot(
    conn: &mut PgConnection,
    show: ShowId,
    now: Option<DateTime<Utc>>,
) -> Result<ShowSnapshot, StoreError> {
    let config = catalog::queue_config(&mut *conn, show)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))?;
    let (seats, sold) = (catalog::seats(&mut *conn, show).await?, catalog::sold_seats(&mut *conn, show).await?);
    let (last_seq, cursor, admitted_total, now): (i64, i64, i64, DateTime<Utc>) = sqlx::query!(
        r#"SELECT last_seq, cursor, admitted_total, coalesce($2, clock_timestamp()) AS "now!" FROM queue_state WHERE show_id = $1"#,
        show as _,
        now
    )
    .map(|row| (row.last_seq, row.cursor, row.admitted_total, row.now))
    .fetch_one(&mut *conn)
    .await?;
    let pending_draw = sqlx::query!(
        r#"SELECT s.draw_base AS "base!", s.draw_base + f.pre_queue_size AS "end!"
           FROM queue_state s JOIN show_fairness f USING (show_id) WHERE s.show_id = $1 AND s.draw_pending"#,
        show as _
    )
    .map(|row| PendingDraw { base: row.base, end: row.end })
    .fetch_optional(&mut *conn)
    .await?;
    let holes: Vec<(i64, i64)> =
        sqlx::query!("SELECT lo, hi FROM queue_holes WHERE show_id = $1 ORDER BY lo", show as _)
            .map(|row| (row.lo, row.hi))
            .fetch_all(&mut *conn)
            .await?;
    let places: Vec<PlaceRow> = sqlx::query_as!(PlaceRow, r#"SELECT seq, user_id, (left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL) AS "live!", admitted_at IS NOT NULL AS "admitted!", active_until, claimed_at IS NOT NULL AS "claimed!"
         FROM queue_entries WHERE show_id = $1 AND (seq > $2 OR (left_at IS NULL AND expired_at IS NULL AND confirmed_at IS NULL)) ORDER BY seq"#, show as _, cursor)
    .fetch_all(&mut *conn)
    .await?;
    let holds: Vec<(SeatId, Uuid, DateTime<Utc>)> = sqlx::query!(
        r#"SELECT seat_id AS "seat_id: SeatId", user_id, expires_at FROM holds WHERE show_id = $1 AND expires_at > $2"#,
        show as _,
        now
    )
    .map(|row| (row.seat_id, row.user_id, row.expires_at))
    .fetch_all(&mut *conn)
    .await?;
    let mut snapshot = ShowSnapshot {
        show,
        config,
        seats,
        sold,
        last_seq,
        cursor,
        admitted_total,
        holes: holes.into_iter().map(|(lo, hi)| Hole { lo, hi }).collect(),
        list: Vec::new(),
        left_on_list: 0,
        members: Vec::new(),
        reinstated: Vec::new(),
        active: Vec::new(),
        holds: holds.into_iter().map(|(seat, user, until)| (seat, user, until.timestamp_millis())).collect(),
        now_ms: now.timestamp_millis(),
        pending_draw,
    };
    places.iter().for_each(|place| sort_place(&mut snapshot, place));
    let on_list: Vec<i64> =
        places.iter().map(|p| p.seq).filter(|seq| *seq > cursor && !in_hole(*seq, &snapshot.holes)).collect();
    let kept: Vec<Hole> = snapshot.holes.iter().copied().chain(pending_draw.map(PendingDraw::as_hole)).collect();
    let missing = gaps(&on_list, cursor, last_seq, &kept);
    if !missing.is_empty() {
        tracing::warn!(%show, ?missing, "places no store recorded: skipped as holes");
        snapshot.holes.extend(missing);
    }
    Ok(snapshot)
}

/// Puts a place where Redis keeps it: on the waiting list, in the reinstated set, in the
/// active set; live places are members.
fn sort_place(snapshot: &mut ShowSnapshot, place: &PlaceRow) {
    let on_list = place.seq > snapshot.cursor && !in_hole(place.seq, &snapshot.holes);
    let waiting = place.live && !place.admitted;
    if on_list {
        snapshot.list.push(place.user_id);
        snapshot.left_on_list += u64::from(!waiting);
    }
    let until = place.active_until.map_or(0, |u| u.timestamp_millis());
    // A lapsed session stays until a tick ends it, as Redis keeps it.
    let active = place.live && place.admitted;
    if waiting || active {
        snapshot.members.push((place.user_id, place.seq));
    }
    if waiting && !on_list {
        snapshot.reinstated.push((place.user_id, place.seq));
    }
    if active {
        snapshot.active.push((place.user_id, until, place.claimed));
    }
}
