//! A fair opening in the model: the pre-queue before it, and its draw.

use std::collections::{BTreeMap, BTreeSet};

use super::Fan;

/// Where a show's fair opening stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Opening {
    /// No opening set: joins take places at once.
    #[default]
    None,
    /// Opens at `at_ms`; until then joins go to the pre-queue.
    Set {
        at_ms: i64,
        pre_queue: BTreeSet<Fan>,
    },
    /// The opening came: the pre-queue's places are kept ahead of everyone who joins later,
    /// from `base` + 1 on, until the draw gives them.
    Closed {
        base: i64,
        pre_queue: BTreeSet<Fan>,
    },
    Drawn,
}

impl Opening {
    /// Whether the opening came by `now` and the pre-queue is still to be closed.
    pub fn due(&self, now: i64) -> bool {
        matches!(self, Opening::Set { at_ms, .. } if *at_ms <= now)
    }

    pub fn has_come(&self, now: i64) -> bool {
        match self {
            Opening::None => false,
            Opening::Set { at_ms, .. } => *at_ms <= now,
            Opening::Closed { .. } | Opening::Drawn => true,
        }
    }

    pub fn has_pre_queue(&self) -> bool {
        match self {
            Opening::Set { pre_queue, .. } | Opening::Closed { pre_queue, .. } => !pre_queue.is_empty(),
            Opening::None | Opening::Drawn => false,
        }
    }

    pub fn in_pre_queue(&self, fan: Fan) -> bool {
        match self {
            Opening::Set { pre_queue, .. } | Opening::Closed { pre_queue, .. } => pre_queue.contains(&fan),
            Opening::None | Opening::Drawn => false,
        }
    }

    /// The pre-queue's size when it closes now, with its places starting after `last_seq`.
    pub fn close(&mut self, last_seq: i64) -> usize {
        let Opening::Set { pre_queue, .. } = self else { return 0 };
        let pre_queue = std::mem::take(pre_queue);
        let size = pre_queue.len();
        *self = Opening::Closed { base: last_seq, pre_queue };
        size
    }

    /// The closed pre-queue in draw order (ascending draw key), with the seqs kept for it.
    pub fn draw(&mut self, keys: &BTreeMap<Fan, Vec<u8>>) -> Vec<(i64, Fan)> {
        let Opening::Closed { base, pre_queue } = std::mem::replace(self, Opening::Drawn) else { return Vec::new() };
        let mut order: Vec<Fan> = pre_queue.into_iter().collect();
        order.sort_by_key(|fan| keys.get(fan).cloned().unwrap_or_default());
        order.into_iter().enumerate().map(|(i, fan)| (base + 1 + i as i64, fan)).collect()
    }
}
