//! Sequences the differential test found an engine disagreeing with the model on, shrunk,
//! kept as tests: each names the engine and the rule it broke.

use boxoffice::domain::model::{Fan, Request, Seat, Store};
use boxoffice::domain::queue::QueueConfigPatch;

use crate::runner::{Kind, agree};
use crate::support::spawn_app;

use Request::{Buy, Counts, Hold, HoldsOf, Join, Leave, MoveTo, Release, Tick, Wait};

async fn agrees(kind: Kind, requests: Vec<Request>) {
    let app = spawn_app().await;
    if kind == Kind::Postgres {
        app.state.sale.backend().pin(boxoffice::store::Mode::Postgres).await.unwrap();
    }
    if let Err(divergence) = agree(&app, kind, &requests).await {
        panic!("{kind:?}: {divergence}");
    }
}

const A: Fan = Fan(0);
const B: Fan = Fan(1);
const C: Fan = Fan(2);
const D: Fan = Fan(3);

/// Rule 8 on Redis: a hold ended when its time came by the store's clock, not when Redis
/// expired its key (a test's clock, or a script's `now`, could be past the hold's end while
/// the key lived on, and a purchase went through on an ended hold).
#[tokio::test]
async fn on_redis_a_hold_past_its_end_can_be_neither_bought_nor_kept_from_another_fan() {
    let sequence = vec![
        Join(A),
        Join(B),
        Tick,
        Hold(A, vec![Seat(0)]),
        Wait { ms: 20_000 },
        Buy(A, vec![Seat(0)], None),
        Release(A, Seat(0)),
        HoldsOf(A),
        Hold(B, vec![Seat(0)]),
    ];
    agrees(Kind::Redis { lanes: 1 }, sequence).await;
}

/// Rules 1, 3 and 7 on lanes: a fan joining again took a seq from home before the lane found
/// their place, so everyone who joined after was told one more fan ahead, and
/// `joined_total` counted the join twice.
#[tokio::test]
async fn on_lanes_joining_again_takes_no_place_from_anyone() {
    for lanes in [2, 3] {
        agrees(Kind::Redis { lanes }, vec![Join(A), Join(A), Join(B), Counts]).await;
    }
}

/// Rule 2 on lanes: a paused laned show told a waiting fan who joined again that the queue
/// was closed, as if they had no place.
#[tokio::test]
async fn on_lanes_a_paused_queue_keeps_the_places_of_fans_joining_again() {
    let pause = Request::Change(QueueConfigPatch { paused: Some(true), ..QueueConfigPatch::default() });
    agrees(Kind::Redis { lanes: 2 }, vec![Join(A), pause, Join(A), Join(B), Counts]).await;
}

/// Rule 7 on the Postgres fallback: a show nobody had joined counted one fan waiting.
#[tokio::test]
async fn on_postgres_a_show_nobody_joined_counts_nobody_waiting() {
    agrees(Kind::Postgres, vec![Counts, Join(A), Leave(A), Counts]).await;
}

/// Rules 6 and 7 on lanes: a fan whose session lapsed, who joined again and then left, was
/// still counted waiting (and Postgres never heard that they left): the lane took home's
/// end of the old session for the leave of the new place.
#[tokio::test]
async fn on_lanes_leaving_a_place_taken_after_a_lapsed_session_leaves_it() {
    let lapsed = vec![Join(A), Tick, Wait { ms: 10_000 }, Join(A), Leave(A), Counts, Join(B), Counts];
    agrees(Kind::Redis { lanes: 2 }, lapsed).await;
}

/// Rule 4 on the Postgres fallback and on lanes: a bucket a tick left full was kept by some
/// engines and dropped by others, and a kept one's late-tick credit admitted more after a
/// long wait. A bucket left full now holds what a new one does (domain::queue::refill).
#[tokio::test]
async fn a_long_wait_after_a_full_bucket_admits_no_more_on_any_engine() {
    let rate_one = Request::Change(QueueConfigPatch { admit_per_second: Some(1.0), ..QueueConfigPatch::default() });
    let quiet_first = vec![Tick, rate_one.clone(), Wait { ms: 1_000 }, Join(B), Join(A), Tick, Join(A), Counts];
    let lapsing = vec![
        rate_one,
        Join(C),
        Join(A),
        Tick,
        Wait { ms: 10_000 },
        Tick,
        Join(B),
        Join(D),
        Wait { ms: 10_000 },
        Tick,
        Hold(D, vec![Seat(0)]),
        Counts,
    ];
    for kind in [Kind::Redis { lanes: 1 }, Kind::Redis { lanes: 3 }, Kind::Postgres] {
        agrees(kind, quiet_first.clone()).await;
        agrees(kind, lapsing.clone()).await;
    }
}

/// Rule 11: after a move to Postgres and back for a show nobody had joined, whose counters
/// Postgres had moved past its hole, the instance kept Postgres' cursor, and the first fans
/// to join the rebuilt Redis were told fewer places ahead than they had.
#[tokio::test]
async fn after_a_move_and_back_positions_come_from_the_store_that_serves() {
    let there_and_back = vec![MoveTo(Store::Postgres), Tick, MoveTo(Store::Redis), Join(B), Join(A), Counts];
    agrees(Kind::Moving, there_and_back).await;
}

/// Rules 6, 8 and 11: a fan's hold, journaled by the instance that acknowledged it, came
/// back at the switch to Postgres after the fan had left (and taken the hold with them).
#[tokio::test]
async fn a_hold_that_ended_with_its_fans_stay_does_not_come_back_at_a_switch() {
    let left_before_the_switch = vec![
        Join(A),
        Tick,
        Hold(A, vec![Seat(0)]),
        Leave(A),
        MoveTo(Store::Postgres),
        Counts,
        Join(B),
        Tick,
        Hold(B, vec![Seat(0)]),
    ];
    agrees(Kind::Moving, left_before_the_switch).await;
}

/// Rules 8 and 11: a fan who held a seat twice (the second hold renewing the first) left
/// two entries for it in the journal of acknowledged holds, and the hand-over at a switch
/// failed on them (Postgres: ON CONFLICT cannot affect a row twice): every hold and
/// purchase then answered 500.
#[tokio::test]
async fn a_seat_held_twice_before_a_switch_is_handed_over_once() {
    let held_twice = vec![
        Join(A),
        Tick,
        Hold(A, vec![Seat(0)]),
        Wait { ms: 1_000 },
        Hold(A, vec![Seat(0)]),
        MoveTo(Store::Postgres),
        Hold(A, vec![Seat(1)]),
        HoldsOf(A),
        Counts,
    ];
    agrees(Kind::Moving, held_twice).await;
}

/// Rule 11: a show nobody had joined idles through a move to Postgres and back (the rebuild
/// copies only live shows, so Redis keeps its own counters); the hole Postgres opened for it
/// at the switch must go with the rebuild, or the seqs Redis hands out next fall in it and
/// positions skip them at the next switch.
#[tokio::test]
async fn a_show_that_idled_through_a_move_and_back_counts_every_place_at_the_next_switch() {
    let idle_then_sold = vec![
        Tick,
        MoveTo(Store::Postgres),
        MoveTo(Store::Redis),
        Join(A),
        Tick,
        Wait { ms: 30_000 },
        Tick,
        Join(D),
        MoveTo(Store::Postgres),
        Join(B),
        Counts,
    ];
    agrees(Kind::Moving, idle_then_sold).await;
}

/// Rules 6, 8 and 11: the journal of acknowledged holds dated a hold by the instance's
/// clock, while Postgres dates a stay's end by Redis' (the event stream's): with the two a
/// second apart, a hold whose fan then left came back at the switch to Postgres.
#[tokio::test]
async fn a_hold_dated_by_another_clock_than_its_fans_leave_does_not_come_back_at_a_switch() {
    let left_a_second_later_by_the_instance = vec![
        Join(A),
        Tick,
        Wait { ms: 1000 },
        Join(B),
        Tick,
        Hold(A, vec![Seat(4), Seat(2)]),
        Leave(A),
        MoveTo(Store::Postgres),
        Counts,
    ];
    agrees(Kind::Moving, left_a_second_later_by_the_instance).await;
}

/// Rule 11: an admission tick on the fallback with nobody waiting moved a show's cursor past
/// the hole of its switch; the rebuild gave that hole back but left the cursor there, so
/// after the next switch a place Redis had handed out in between counted as passed, and a
/// fan who left it and joined again was told one place fewer ahead.
#[tokio::test]
async fn a_show_ticked_idle_through_a_move_and_back_counts_places_not_yet_passed() {
    let ticked_idle =
        vec![MoveTo(Store::Postgres), Tick, MoveTo(Store::Redis), Join(A), MoveTo(Store::Postgres), Leave(A), Join(A)];
    agrees(Kind::Moving, ticked_idle).await;
}

/// The opening at one second of the sequence's clock.
fn opening_at_one_second() -> Request {
    Request::Change(QueueConfigPatch { opens_at: chrono::DateTime::from_timestamp_millis(1_000), ..Default::default() })
}

/// Rule 12: a fan who left the pre-queue and polls between its close and its draw is told
/// it waits in it (the draw has the last word), and expired once it is drawn.
#[tokio::test]
async fn a_fan_who_left_the_pre_queue_learns_so_at_the_draw() {
    let left_before_the_opening = vec![
        opening_at_one_second(),
        Join(D),
        Leave(D),
        Wait { ms: 1_000 },
        Join(A),
        Request::Standing(D),
        Tick,
        Request::Standing(D),
    ];
    for kind in [Kind::Redis { lanes: 1 }, Kind::Postgres] {
        agrees(kind, left_before_the_opening.clone()).await;
    }
}

/// Rules 7, 11 and 12: closing a pre-queue on Redis opened a hole whose end Postgres' last
/// seq didn't follow; the switch's hole then started where the draw's did, was dropped as
/// a duplicate, and after the move back every seq of it counted as joined.
#[tokio::test]
async fn a_drawn_show_moved_to_postgres_and_back_counts_its_joins_truly() {
    let drawn_then_moved = vec![
        opening_at_one_second(),
        Join(A),
        Wait { ms: 1_000 },
        Tick,
        MoveTo(Store::Postgres),
        Tick,
        MoveTo(Store::Redis),
        Counts,
    ];
    agrees(Kind::Moving, drawn_then_moved).await;
}

/// Rule 13: a show's lanes could change while fans were in its pre-queue (no seq was
/// given yet); the draw then placed them as on one slot, and a drawn fan joining again on
/// the laned show was given a second place.
#[tokio::test]
async fn lanes_stay_as_they_were_once_a_fan_is_in_the_pre_queue() {
    let laned_after_a_pre_queue_join = vec![
        opening_at_one_second(),
        Join(D),
        Request::Change(QueueConfigPatch { lanes: Some(2), ..Default::default() }),
        Wait { ms: 1_000 },
        Tick,
        Join(D),
    ];
    agrees(Kind::Redis { lanes: 1 }, laned_after_a_pre_queue_join).await;
}

/// Rules 12 and 13: a laned show's lanes changed before anyone joined, and the draw placed
/// its pre-queue on the lanes the instance had read before the change; a drawn fan joining
/// again on the new lanes was given a second place.
#[tokio::test]
async fn a_draw_places_the_pre_queue_on_the_lanes_the_show_has_now() {
    let relaned_then_drawn = vec![
        opening_at_one_second(),
        Tick,
        Request::Change(QueueConfigPatch { lanes: Some(3), ..Default::default() }),
        Join(D),
        Wait { ms: 1_000 },
        Tick,
        Join(D),
    ];
    agrees(Kind::Redis { lanes: 2 }, relaned_then_drawn).await;
}

/// Rule 4: a tick at a rate of 0 with nobody waiting left Postgres a bucket of 0 tokens,
/// which the next rate inherited (nobody admitted), where Redis drops a full bucket nobody
/// waits for and the next rate starts with a new one.
#[tokio::test]
async fn on_postgres_a_new_rate_starts_with_a_new_bucket_when_nobody_waited() {
    let rate = |r| Request::Change(QueueConfigPatch { admit_per_second: Some(r), ..Default::default() });
    let stopped_then_started = vec![rate(0.0), Tick, rate(0.5), Join(D), Tick, Join(A)];
    for kind in [Kind::Postgres, Kind::Redis { lanes: 1 }] {
        agrees(kind, stopped_then_started.clone()).await;
    }
}

/// Rules 6 and 11: a session that lapsed on the fallback with no tick after it was dropped
/// by the rebuild, where Redis keeps it until a tick ends it; back on Redis, the fan who
/// left was told they had no place to leave.
#[tokio::test]
async fn a_session_lapsed_before_a_move_back_ends_at_the_next_tick_as_on_redis() {
    let lapsed_on_the_fallback =
        vec![MoveTo(Store::Postgres), Join(A), Tick, Wait { ms: 10_000 }, MoveTo(Store::Redis), Leave(A)];
    agrees(Kind::Moving, lapsed_on_the_fallback).await;
}

/// Rules 7, 11 and 12: a pre-queue closed on Redis and drawn after a move to Postgres.
/// Postgres didn't know of the close: it counted the kept seqs as not joined, and admitted
/// a fan who joined after the opening before the drawn.
#[tokio::test]
async fn a_pre_queue_closed_on_redis_is_drawn_first_on_postgres() {
    let closed_then_moved = vec![
        opening_at_one_second(),
        Join(A),
        Wait { ms: 1_000 },
        Join(B),
        MoveTo(Store::Postgres),
        Counts,
        Tick,
        Request::Standing(A),
        Request::Standing(B),
        Counts,
    ];
    agrees(Kind::Moving, closed_then_moved).await;
}

/// Rules 7, 11 and 12: a pre-queue drawn on Redis, then a move to Postgres: the drawn
/// places no event had named yet were missing from Postgres' counts and positions, and a
/// drawn fan who had left was not known to have left.
#[tokio::test]
async fn a_pre_queue_drawn_on_redis_is_whole_on_postgres() {
    let drawn_then_moved = vec![
        opening_at_one_second(),
        Join(A),
        Join(B),
        Join(C),
        Join(D),
        Wait { ms: 1_000 },
        Tick,
        Leave(D),
        MoveTo(Store::Postgres),
        Counts,
        Request::Standing(C),
        Request::Standing(D),
        Tick,
        Counts,
    ];
    agrees(Kind::Moving, drawn_then_moved).await;
}

/// Rules 11 and 12: a pre-queue closed on the fallback and drawn after the move back to
/// Redis. The rebuild didn't carry the close: Redis admitted without waiting for the draw,
/// took the kept seqs for places nobody recorded, and never placed the drawn.
#[tokio::test]
async fn a_pre_queue_closed_on_postgres_is_drawn_first_on_redis() {
    let closed_then_rebuilt = vec![
        opening_at_one_second(),
        Join(A),
        MoveTo(Store::Postgres),
        Wait { ms: 1_000 },
        Join(B),
        MoveTo(Store::Redis),
        Counts,
        Tick,
        Request::Standing(A),
        Request::Standing(B),
        Counts,
    ];
    agrees(Kind::Moving, closed_then_rebuilt).await;
}

/// Rules 1, 11 and 12: a drawn fan, moved to Postgres and back before anyone named their
/// place, joined again and was given a second place (the rebuild had no drawn places).
#[tokio::test]
async fn a_drawn_fan_keeps_their_place_through_a_move_and_back() {
    // Two of the four are admitted, whatever the draw's seed: the other two are named by no
    // event before the move.
    let everyone = [A, B, C, D].map(Join);
    let mut drawn_moved_and_back = vec![opening_at_one_second()];
    drawn_moved_and_back.extend(everyone.clone());
    drawn_moved_and_back.extend([Wait { ms: 5_000 }, Tick, MoveTo(Store::Postgres), MoveTo(Store::Redis)]);
    drawn_moved_and_back.extend(everyone);
    agrees(Kind::Moving, drawn_moved_and_back).await;
}

/// Rules 5, 11 and 12: a pre-queue closed on Redis, moved to Postgres and back before its
/// draw: the drawn fan was never placed, and was refused a hold once the tick drew them.
#[tokio::test]
async fn a_pre_queue_closed_before_a_move_and_back_is_drawn_and_admitted() {
    let closed_moved_and_back = vec![
        opening_at_one_second(),
        Join(C),
        Wait { ms: 1_000 },
        Join(A),
        MoveTo(Store::Postgres),
        MoveTo(Store::Redis),
        Tick,
        Hold(C, vec![Seat(0)]),
    ];
    agrees(Kind::Moving, closed_moved_and_back).await;
}

/// Rule 14 on lanes: a fan whose claim window ran out still had a membership on their
/// lane, which a closed sale took for a place: they were let in and given a new one.
#[tokio::test]
async fn on_lanes_a_closed_sale_turns_away_a_fan_whose_stay_ended() {
    let close = Request::Change(QueueConfigPatch { closed: Some(true), ..QueueConfigPatch::default() });
    let lapsed_then_closed = vec![Join(D), Tick, Wait { ms: 10_000 }, Tick, close, Join(D)];
    for lanes in [1, 2] {
        agrees(Kind::Redis { lanes }, lapsed_then_closed.clone()).await;
    }
}

/// Rule 14: a scheduled sale takes no joins until `on_sale_at`, then takes them in order.
#[tokio::test]
async fn a_scheduled_sale_takes_joins_from_its_on_sale_time() {
    let on_sale_at = |ms| chrono::DateTime::from_timestamp_millis(ms);
    let scheduled = Request::Change(QueueConfigPatch { on_sale_at: on_sale_at(5_000), ..QueueConfigPatch::default() });
    let sequence = vec![scheduled, Join(A), Wait { ms: 5_000 }, Join(B), Join(A), Counts];
    for kind in [Kind::Redis { lanes: 1 }, Kind::Postgres] {
        agrees(kind, sequence.clone()).await;
    }
}

/// Rule 10 in the model: a purchase retried with its Idempotency-Key and the same seats in
/// another order was refused as another purchase; every engine gives the reservation back
/// (the key's fingerprint is of the set of seats). Found by the 100k soak on Postgres.
#[tokio::test]
async fn a_purchase_retried_with_its_seats_in_another_order_is_the_same_purchase() {
    let sequence = vec![
        Join(A),
        Tick,
        Hold(A, vec![Seat(4), Seat(2)]),
        Buy(A, vec![Seat(2), Seat(4)], Some(1)),
        Buy(A, vec![Seat(4), Seat(2)], Some(1)),
    ];
    for kind in [Kind::Redis { lanes: 1 }, Kind::Postgres] {
        agrees(kind, sequence.clone()).await;
    }
}
