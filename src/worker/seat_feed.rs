//! Keeps the seat boards of the shows that clients stream on this instance current.
//!
//! On Redis, one subscription per instance listens to those shows' seat channels (sharded
//! Pub/Sub), and a light request over it every few seconds notices a connection that died
//! quietly. Whatever may have been missed (a reconnect, messages dropped because this
//! worker fell behind, a hold that should have lapsed, or simply a few seconds gone by) is
//! made good by a resync: one read of the show's seat states, diffed against the board.
//! While the deployment serves from Postgres, `worker::postgres_feed` marks the boards
//! stale on each change instead, and the same resync carries the change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::domain::ShowId;
use crate::push::seats::{SeatBoard, SeatChange};
use crate::sale::{Feeds, SeatSubscription};
use crate::state::AppState;

/// How often the worker looks at its boards and subscriptions.
const LOOK_EVERY: Duration = Duration::from_millis(200);
/// A board is resynced at least this often, however quiet its channel.
const RESYNC_EVERY: Duration = Duration::from_secs(3);
/// How often the subscription's connections are checked.
const TOUCH_EVERY: Duration = Duration::from_secs(2);
/// Messages that may wait for this worker; past it they are dropped and the boards resync.
const BACKLOG: usize = 8192;

struct Feed {
    state: Arc<AppState>,
    messages: mpsc::Sender<PushInfo>,
    overflowed: Arc<AtomicBool>,
    subscription: Option<SeatSubscription>,
    channels: HashMap<String, ShowId>,
    subscribed: HashSet<ShowId>,
    resynced: HashMap<ShowId, Instant>,
    touched: Instant,
}

pub async fn run(state: Arc<AppState>) {
    let (messages, mut inbox) = mpsc::channel(BACKLOG);
    let mut feed = Feed {
        state,
        messages,
        overflowed: Arc::default(),
        subscription: None,
        channels: HashMap::new(),
        subscribed: HashSet::new(),
        resynced: HashMap::new(),
        touched: Instant::now(),
    };
    let mut look = tokio::time::interval(LOOK_EVERY);
    look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(message) = inbox.recv() => feed.heard(message),
            _ = look.tick() => feed.look().await,
        }
    }
}

impl Feed {
    fn heard(&mut self, message: PushInfo) {
        match message.kind {
            PushKind::Message | PushKind::SMessage => {
                let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (message.data.first(), message.data.get(1))
                else {
                    return;
                };
                let show = std::str::from_utf8(channel).ok().and_then(|c| self.channels.get(c));
                let change = std::str::from_utf8(payload).ok().and_then(SeatChange::parse);
                if let (Some(show), Some(change)) = (show, change)
                    && let Some(board) = self.state.push.seats.get(*show)
                {
                    board.apply(&change);
                }
            }
            // Subscribed again after a reconnect, or the connection went: messages may be lost.
            PushKind::Disconnection | PushKind::Subscribe | PushKind::SSubscribe => self.all_stale(),
            _ => {}
        }
    }

    fn all_stale(&self) {
        self.state.push.seats.all().iter().for_each(|board| board.mark_stale());
    }

    async fn look(&mut self) {
        if self.overflowed.swap(false, Ordering::AcqRel) {
            self.all_stale();
        }
        let watched = self.state.push.seats.watched();
        if watched.is_empty() {
            return;
        }
        if self.state.sale.feeds() == Feeds::Redis {
            self.subscribe(&watched).await;
            self.touch(&watched).await;
        }
        for (show, board) in &watched {
            self.resync_if_due(*show, board).await;
        }
    }

    async fn subscribe(&mut self, watched: &[(ShowId, Arc<SeatBoard>)]) {
        if self.subscription.is_none() {
            let (messages, overflowed) = (self.messages.clone(), self.overflowed.clone());
            let sink = move |message: PushInfo| -> Result<(), std::convert::Infallible> {
                if messages.try_send(message).is_err() {
                    overflowed.store(true, Ordering::Release);
                }
                Ok(())
            };
            match self.state.sale.seat_subscription(sink).await {
                Ok(subscription) => self.subscription = Some(subscription),
                Err(error) => return tracing::debug!(%error, "cannot open the seat subscription yet"),
            }
        }
        let Some(subscription) = self.subscription.as_mut() else { return };
        let unheard: Vec<ShowId> =
            watched.iter().map(|(show, _)| *show).filter(|show| !self.subscribed.contains(show)).collect();
        for show in unheard {
            match self.state.sale.listen_to_seats(subscription, show).await {
                Ok(channel) => {
                    self.subscribed.insert(show);
                    self.channels.insert(channel, show);
                }
                Err(error) => tracing::debug!(%error, %show, "cannot subscribe to the seat channel yet"),
            }
        }
    }

    /// A subscription whose connection fails a request is made anew (a frozen node is not
    /// noticed by a cluster connection's own retries).
    async fn touch(&mut self, watched: &[(ShowId, Arc<SeatBoard>)]) {
        if self.touched.elapsed() < TOUCH_EVERY {
            return;
        }
        self.touched = Instant::now();
        let Some(subscription) = self.subscription.as_mut() else { return };
        for (show, _) in watched {
            if let Err(error) = self.state.sale.touch_seats(subscription, *show).await {
                tracing::debug!(%error, %show, "the seat subscription failed; making it again");
                metrics::counter!("boxoffice_pubsub_resubscribes_total").increment(1);
                self.subscription = None;
                self.subscribed.clear();
                self.all_stale();
                return;
            }
        }
    }

    async fn resync_if_due(&mut self, show: ShowId, board: &SeatBoard) {
        let lapsed = board.next_lapse().is_some_and(|until| until <= self.state.sale.now_ms());
        let due = self.resynced.get(&show).is_none_or(|at| at.elapsed() >= RESYNC_EVERY);
        if !(board.is_stale() || lapsed || due) {
            return;
        }
        let reason = if board.is_stale() {
            "stale"
        } else if lapsed {
            "lapse"
        } else {
            "periodic"
        };
        match self.state.sale.seat_states(show).await {
            Ok(states) => {
                board.resync(&states);
                self.resynced.insert(show, Instant::now());
                metrics::counter!("boxoffice_sse_resyncs_total", "reason" => reason).increment(1);
            }
            Err(error) => tracing::debug!(%error, %show, "cannot resync the seat board"),
        }
    }
}
