use super::*;

use crate::domain::queue::{QueueConfig, QueueConfigPatch};

fn settings() -> QueueConfig {
    QueueConfig {
        max_active: 1,
        admit_per_second: 1000.0,
        session_ttl_s: 30,
        claim_window_s: 10,
        hold_ttl_s: 20,
        max_seats_per_user: 2,
        ..QueueConfig::default()
    }
}

fn run(model: &mut ShowModel, requests: &[Request]) -> Vec<Answer> {
    requests.iter().map(|request| model.apply(request)).collect()
}

const A: Fan = Fan(0);
const B: Fan = Fan(1);

#[test]
fn joining_again_keeps_the_place_and_a_later_fan_queues_behind() {
    let mut model = ShowModel::new(4, settings());
    let answers = run(&mut model, &[Request::Join(A), Request::Join(B), Request::Join(A)]);
    assert_eq!(answers[0], Answer::Joined { created: true, seq: 1, standing: Standing::Waiting { position: 1 } });
    assert_eq!(answers[1], Answer::Joined { created: true, seq: 2, standing: Standing::Waiting { position: 2 } });
    assert_eq!(answers[2], Answer::Joined { created: false, seq: 1, standing: Standing::Waiting { position: 1 } });
}

#[test]
fn admission_passes_over_a_fan_who_left_and_positions_count_them_until_then() {
    let mut model = ShowModel::new(4, settings());
    run(&mut model, &[Request::Join(A), Request::Join(B), Request::Leave(A)]);
    assert_eq!(model.apply(&Request::Standing(B)), Answer::Standing(Standing::Waiting { position: 2 }));
    model.apply(&Request::Tick);
    assert_eq!(model.apply(&Request::Standing(B)), Answer::Standing(Standing::Active { until_ms: 30_000 }));
}

#[test]
fn an_unclaimed_admission_lapses_after_the_claim_window_and_frees_the_slot() {
    let mut model = ShowModel::new(4, settings());
    run(&mut model, &[Request::Join(A), Request::Join(B), Request::Tick, Request::Wait { ms: 10_000 }, Request::Tick]);
    assert_eq!(model.apply(&Request::Standing(A)), Answer::Standing(Standing::Expired));
    assert_eq!(model.apply(&Request::Standing(B)), Answer::Standing(Standing::Active { until_ms: 40_000 }));
}

#[test]
fn a_hold_is_all_or_nothing_and_only_its_holder_releases_it() {
    let mut model = ShowModel::new(4, QueueConfig { max_active: 2, ..settings() });
    run(&mut model, &[Request::Join(A), Request::Join(B), Request::Tick]);
    assert_eq!(model.apply(&Request::Hold(A, vec![Seat(0)])), Answer::Held { seats: vec![Seat(0)], until_ms: 20_000 });
    assert_eq!(
        model.apply(&Request::Hold(B, vec![Seat(1), Seat(0)])),
        Answer::Refused(Refusal::SeatUnavailable(vec![Seat(0)]))
    );
    assert_eq!(model.apply(&Request::Release(B, Seat(0))), Answer::Refused(Refusal::HoldNotFound));
    assert_eq!(
        model.apply(&Request::Counts),
        Answer::Counts(Counts { active: 2, joined_total: 2, admitted_total: 2, held: 1, ..Counts::default() })
    );
}

#[test]
fn a_purchase_is_made_once_per_key_and_the_last_seat_sells_the_show_out() {
    let mut model = ShowModel::new(1, settings());
    run(&mut model, &[Request::Join(A), Request::Tick, Request::Hold(A, vec![Seat(0)])]);
    let bought = Answer::Bought { reservation: 1, created: true, seats: vec![Seat(0)] };
    assert_eq!(model.apply(&Request::Buy(A, vec![Seat(0)], Some(7))), bought);
    let again = Answer::Bought { reservation: 1, created: false, seats: vec![Seat(0)] };
    assert_eq!(model.apply(&Request::Buy(A, vec![Seat(0)], Some(7))), again);
    assert_eq!(model.apply(&Request::Standing(A)), Answer::Standing(Standing::Expired), "buying ends the session");
    assert_eq!(model.apply(&Request::Join(B)), Answer::Refused(Refusal::SoldOut));
}

#[test]
fn a_paused_queue_keeps_places_and_takes_nobody_new() {
    let mut model = ShowModel::new(4, settings());
    model.apply(&Request::Join(A));
    model.apply(&Request::Change(QueueConfigPatch { paused: Some(true), ..QueueConfigPatch::default() }));
    assert_eq!(model.apply(&Request::Join(B)), Answer::Refused(Refusal::QueueClosed));
    assert!(matches!(model.apply(&Request::Join(A)), Answer::Joined { created: false, .. }));
    model.apply(&Request::Tick);
    assert_eq!(model.apply(&Request::Standing(A)), Answer::Standing(Standing::Waiting { position: 1 }));
}

#[test]
fn the_pre_queue_is_drawn_in_key_order_ahead_of_a_fan_who_joined_at_the_opening() {
    let mut model = ShowModel::new(4, settings());
    model.know_draw_keys([(A, vec![2]), (B, vec![1])].into());
    let opening = QueueConfigPatch { opens_at: chrono::DateTime::from_timestamp_millis(1_000), ..Default::default() };
    let c = Fan(2);
    let answers = run(&mut model, &[Request::Change(opening), Request::Join(A), Request::Join(B)]);
    assert_eq!(answers[1], Answer::Joined { created: true, seq: PRE_QUEUE_SEQ, standing: Standing::PreQueue });
    run(&mut model, &[Request::Wait { ms: 1_000 }]);
    let late = model.apply(&Request::Join(c));
    assert_eq!(late, Answer::Joined { created: true, seq: 3, standing: Standing::Waiting { position: 3 } });
    assert_eq!(model.apply(&Request::Leave(A)), Answer::Refused(Refusal::TryAgain), "not while it is drawn");
    model.apply(&Request::Tick);
    assert_eq!(model.apply(&Request::Standing(B)), Answer::Standing(Standing::Active { until_ms: 31_000 }));
    assert_eq!(model.apply(&Request::Standing(A)), Answer::Standing(Standing::Waiting { position: 1 }));
    assert_eq!(model.apply(&Request::Standing(c)), Answer::Standing(Standing::Waiting { position: 2 }));
}

#[test]
fn an_opening_is_set_before_anyone_joined_and_stays_once_it_came() {
    let mut model = ShowModel::new(4, settings());
    let at = |ms| {
        Request::Change(QueueConfigPatch {
            opens_at: chrono::DateTime::from_timestamp_millis(ms),
            ..Default::default()
        })
    };
    assert_eq!(model.apply(&at(0)), Answer::Refused(Refusal::InvalidConfig), "in the past");
    assert_eq!(model.apply(&at(5_000)), Answer::Done);
    run(&mut model, &[Request::Wait { ms: 5_000 }]);
    assert_eq!(model.apply(&at(9_000)), Answer::Refused(Refusal::OpeningFixed));
    let mut started = ShowModel::new(4, settings());
    started.apply(&Request::Join(A));
    assert_eq!(started.apply(&at(5_000)), Answer::Refused(Refusal::QueueStarted));
}
