//! The life of a show's sale, in the fan's terms. An operator sees the state and sets the
//! settings it comes from (`on_sale_at`, `opens_at`, `paused`, `closed`, `sold_out`,
//! `ends_at`); it also moves by itself as time passes and seats sell.
//!
//! - scheduled: joining hasn't opened; a join is told when it will (`not_on_sale_yet`).
//! - pre-queue: a fair opening is ahead; joiners wait in the pre-queue for the draw.
//! - on sale: first come, first served.
//! - paused: nobody new joins and nobody is admitted; places are kept (`queue_closed`).
//! - sold out: every seat is sold; a join is told so (`sold_out`).
//! - closed: nobody new joins (`sale_closed`); those in line keep their places and go on.
//! - ended: the sale is over for good (`show_ended`); its queue tokens are refused, and
//!   once its history is in Postgres its Redis keys are removed.
//!
//! The first that holds, in this order: ended, sold out, closed, scheduled, pre-queue,
//! paused, on sale.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::queue::QueueConfig;

#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Scheduled,
    PreQueue,
    OnSale,
    Paused,
    SoldOut,
    Closed,
    Ended,
}

impl SaleState {
    /// The state the settings give at `now`.
    pub fn of(config: &QueueConfig, now: DateTime<Utc>) -> Self {
        let ahead = |at: Option<DateTime<Utc>>| at.is_some_and(|at| now < at);
        if config.ends_at.is_some_and(|at| now >= at) {
            Self::Ended
        } else if config.sold_out {
            Self::SoldOut
        } else if config.closed {
            Self::Closed
        } else if ahead(config.on_sale_at) {
            Self::Scheduled
        } else if ahead(config.opens_at) {
            Self::PreQueue
        } else if config.paused {
            Self::Paused
        } else {
            Self::OnSale
        }
    }

    /// Whether a fan without a place may get one now (a paused queue says so itself).
    pub fn takes_new_places(self) -> bool {
        matches!(self, Self::PreQueue | Self::OnSale | Self::Paused)
    }

    /// Whether fans who have a place keep going (polls, holds, purchases).
    pub fn serves_places(self) -> bool {
        self != Self::Ended
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::PreQueue => "pre_queue",
            Self::OnSale => "on_sale",
            Self::Paused => "paused",
            Self::SoldOut => "sold_out",
            Self::Closed => "closed",
            Self::Ended => "ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(1_000_000 + minutes)
    }

    fn ending() -> QueueConfig {
        QueueConfig { ends_at: Some(at(600)), ..QueueConfig::default() }
    }

    #[test]
    fn a_sale_goes_from_scheduled_to_the_pre_queue_to_on_sale_to_ended_as_time_passes() {
        let config = QueueConfig { on_sale_at: Some(at(0)), opens_at: Some(at(30)), ..ending() };
        assert_eq!(SaleState::of(&config, at(-1)), SaleState::Scheduled);
        assert_eq!(SaleState::of(&config, at(0)), SaleState::PreQueue);
        assert_eq!(SaleState::of(&config, at(30)), SaleState::OnSale);
        assert_eq!(SaleState::of(&config, at(600)), SaleState::Ended);
    }

    #[test]
    fn ended_comes_before_everything_and_sold_out_before_what_the_operator_set() {
        let config = QueueConfig { sold_out: true, closed: true, paused: true, ..ending() };
        assert_eq!(SaleState::of(&config, at(1)), SaleState::SoldOut);
        assert_eq!(SaleState::of(&config, at(600)), SaleState::Ended);
        let config = QueueConfig { closed: true, paused: true, ..ending() };
        assert_eq!(SaleState::of(&config, at(1)), SaleState::Closed);
        let config = QueueConfig { paused: true, ..ending() };
        assert_eq!(SaleState::of(&config, at(1)), SaleState::Paused);
    }

    #[test]
    fn a_sale_without_an_end_never_ends_by_itself() {
        assert_eq!(SaleState::of(&QueueConfig::default(), at(1_000_000)), SaleState::OnSale);
    }

    #[test]
    fn only_an_open_sale_makes_new_places_and_only_an_ended_one_turns_its_places_away() {
        let making: Vec<SaleState> = [
            SaleState::Scheduled,
            SaleState::PreQueue,
            SaleState::OnSale,
            SaleState::Paused,
            SaleState::SoldOut,
            SaleState::Closed,
            SaleState::Ended,
        ]
        .into_iter()
        .filter(|s| s.takes_new_places())
        .collect();
        assert_eq!(making, [SaleState::PreQueue, SaleState::OnSale, SaleState::Paused]);
        assert!(!SaleState::Ended.serves_places() && SaleState::SoldOut.serves_places());
    }
}
