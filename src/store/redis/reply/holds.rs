//! The replies of the scripts of a show's seats.

use super::{Refusal, ScriptReply, count};
use crate::domain::SeatId;
use crate::store::{HoldCheck, HoldOutcome, Unavailable};

/// hold.lua: each request's outcome, in the order asked.
pub struct HoldReply(pub Vec<HoldOutcome>);

impl ScriptReply for HoldReply {
    const SCRIPT: &'static str = "hold.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig, Refusal::NotActive, Refusal::OverLimit];

    /// A request: a code, a count and that many values: `{1, 2, expires at, recorded at}`,
    /// `{0, n, the n seats not available}`, `{R.NOT_ACTIVE, 0}`, `{R.OVER_LIMIT, 1, limit}`.
    fn decode(mut reply: &[i64]) -> Option<Self> {
        let mut outcomes = Vec::new();
        while let [code, n, rest @ ..] = reply {
            let (values, next) = rest.split_at_checked(usize::try_from(*n).ok()?)?;
            outcomes.push(match (*code, values) {
                (1, &[expires_at_ms, recorded_at_ms]) => HoldOutcome::Held { expires_at_ms, recorded_at_ms },
                (0, seats) => HoldOutcome::Unavailable(seats.iter().copied().map(SeatId).collect()),
                (code, []) if code == Refusal::NotActive.code() => HoldOutcome::NotActive,
                (code, &[limit]) if code == Refusal::OverLimit.code() => {
                    HoldOutcome::OverLimit { limit: u32::try_from(limit).ok()? }
                }
                _ => return None,
            });
            reply = next;
        }
        (reply.is_empty() && !outcomes.is_empty()).then_some(HoldReply(outcomes))
    }
}

/// availability.lua: how many seats are sold and held now.
pub struct AvailabilityReply(pub Unavailable);

impl ScriptReply for AvailabilityReply {
    const SCRIPT: &'static str = "availability.lua";
    const REFUSALS: &'static [Refusal] = &[Refusal::NoConfig];

    fn decode(reply: &[i64]) -> Option<Self> {
        let [sold, held] = *reply else { return None };
        Some(AvailabilityReply(Unavailable { sold: count(sold)?, held: count(held)? }))
    }
}

/// check_holds.lua: whether the user holds every seat of a purchase.
pub struct CheckHoldsReply(pub HoldCheck);

impl ScriptReply for CheckHoldsReply {
    const SCRIPT: &'static str = "check_holds.lua";
    const REFUSALS: &'static [Refusal] = &[];

    /// `{0}` all held, `{1, the seats sold}`, `{2, the seats not held}`.
    fn decode(reply: &[i64]) -> Option<Self> {
        let seats = |seats: &[i64]| seats.iter().copied().map(SeatId).collect();
        Some(CheckHoldsReply(match reply {
            [0] => HoldCheck::AllHeld,
            [1, sold @ ..] => HoldCheck::Sold(seats(sold)),
            [2, missing @ ..] => HoldCheck::Missing(seats(missing)),
            _ => return None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::reply::decode;

    #[test]
    fn a_hold_reply_gives_each_requests_outcome_in_order() {
        let (not_active, over) = (Refusal::NotActive.code(), Refusal::OverLimit.code());
        let HoldReply(outcomes) = decode(&[1, 2, 500, 400, 0, 2, 7, 8, not_active, 0, over, 1, 4]).unwrap().unwrap();
        assert_eq!(
            outcomes,
            [
                HoldOutcome::Held { expires_at_ms: 500, recorded_at_ms: 400 },
                HoldOutcome::Unavailable(vec![SeatId(7), SeatId(8)]),
                HoldOutcome::NotActive,
                HoldOutcome::OverLimit { limit: 4 },
            ]
        );
    }

    #[test]
    fn a_hold_reply_cut_short_is_not_decoded() {
        assert!(decode::<HoldReply>(&[1, 2, 500]).is_err());
        assert_eq!(decode::<HoldReply>(&[Refusal::NoConfig.code()]).unwrap().err(), Some(Refusal::NoConfig));
    }
}
