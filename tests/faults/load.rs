//! A mixed load of fans for the fault tests: each fan gets a token, joins, polls as told
//! (at most every half second), holds a seat once admitted and buys it (clicking again when
//! the purchase answers 503), then the next fan comes. Meanwhile passers-by keep arriving,
//! one every 100 ms, each joining and leaving again at once (so joins go on whatever the
//! fans are busy with, and nobody who won't buy takes an active slot). Every request is recorded with its status and time; every 201 join, hold and sale
//! is kept, so the invariants can be checked once the fault is over.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::support::{SeatId, ShowId, TestApp};

/// One request: what, when it was sent (since the load started), its status (0: no answer)
/// and how long it took.
#[derive(Debug, Clone)]
pub struct Record {
    pub what: &'static str,
    pub sent: Duration,
    pub status: u16,
    pub took: Duration,
}

impl Record {
    /// The answer the rules call for: anything but a 5xx or no answer at all.
    pub fn normal(&self) -> bool {
        (200..500).contains(&self.status)
    }
}

/// A join answered 201: the place the fan was promised.
#[derive(Debug, Clone)]
pub struct Ack {
    pub user: Uuid,
    pub seq: i64,
    pub queue_token: String,
}

/// A hold or a sale answered 201.
#[derive(Debug, Clone)]
pub struct SeatAck {
    pub user: Uuid,
    pub seat: SeatId,
    pub sent: Duration,
    pub answered: Duration,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub records: Vec<Record>,
    pub joins: Vec<Ack>,
    /// Reservations answered 201: (reservation id, seats).
    pub sales: Vec<(String, Vec<SeatId>)>,
    pub holds: Vec<SeatAck>,
    pub sold: Vec<SeatAck>,
    /// Purchases of a seat held a moment before, refused with `hold_missing`.
    pub holds_missing: usize,
}

impl Outcome {
    /// Both loads' records, as one (their clocks started together, near enough).
    pub fn merge(mut self, other: Outcome) -> Outcome {
        self.records.extend(other.records);
        self.joins.extend(other.joins);
        self.sales.extend(other.sales);
        self.holds.extend(other.holds);
        self.sold.extend(other.sold);
        self.holds_missing += other.holds_missing;
        self
    }

    /// Holds answered 201 that did not keep the seat for their holder: another fan was told
    /// it held or bought the seat while the hold lasted (and its holder had not bought it),
    /// or the holder's purchase found the hold gone.
    pub fn lost_holds(&self, ttl: Duration) -> usize {
        let bought = |hold: &SeatAck| self.sold.iter().any(|s| s.user == hold.user && s.seat == hold.seat);
        let taken = |hold: &SeatAck| {
            let lasted = hold.answered..hold.sent + ttl;
            self.holds
                .iter()
                .chain(&self.sold)
                .any(|other| other.seat == hold.seat && other.user != hold.user && lasted.contains(&other.sent))
        };
        let lost: Vec<&SeatAck> = self.holds.iter().filter(|hold| !bought(hold) && taken(hold)).collect();
        for hold in &lost {
            let others: Vec<String> = self
                .holds
                .iter()
                .map(|other| ("hold", other))
                .chain(self.sold.iter().map(|other| ("sale", other)))
                .filter(|(_, other)| other.seat == hold.seat && other.user != hold.user)
                .map(|(what, other)| {
                    format!("{what} by {} sent {:?} answered {:?}", other.user, other.sent, other.answered)
                })
                .collect();
            println!(
                "lost hold: seat {} held by {} (sent {:?}, answered {:?}); others on it: {others:?}",
                hold.seat, hold.user, hold.sent, hold.answered
            );
        }
        lost.len() + self.holds_missing
    }

    /// Answers other than 2xx, by status (0: no answer).
    pub fn errors(&self) -> std::collections::BTreeMap<u16, usize> {
        self.statuses().into_iter().filter(|(status, _)| !(200..300).contains(status)).collect()
    }

    pub fn statuses(&self) -> HashMap<u16, usize> {
        let mut counts = HashMap::new();
        for record in &self.records {
            *counts.entry(record.status).or_default() += 1;
        }
        counts
    }

    pub fn max_latency(&self) -> Duration {
        self.records.iter().map(|r| r.took).max().unwrap_or_default()
    }

    /// Share of the requests sent in `window` (those `counted`) that got their normal answer.
    pub fn normal_share(&self, window: std::ops::Range<Duration>, counted: impl Fn(&Record) -> bool) -> (f64, usize) {
        let sent: Vec<&Record> = self.records.iter().filter(|r| window.contains(&r.sent) && counted(r)).collect();
        let normal = sent.iter().filter(|r| r.normal()).count();
        (normal as f64 / sent.len().max(1) as f64, sent.len())
    }

    /// When the first request of a kind (`join`, `hold`...) sent at or after `from` was
    /// answered 2xx.
    pub fn first_served_after(&self, what: &str, from: Duration) -> Option<Duration> {
        self.records
            .iter()
            .filter(|r| r.what == what && r.sent >= from && (200..300).contains(&r.status))
            .map(|r| r.sent + r.took)
            .min()
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    fans: Vec<JoinHandle<Outcome>>,
    pub started: Instant,
}

impl Load {
    /// `fans` fans at a time, each followed by the next when done, and the arrivals.
    pub fn start(app: Arc<TestApp>, show: ShowId, seats: Arc<Vec<SeatId>>, fans: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let fan =
            || Fan { app: app.clone(), show, seats: seats.clone(), started, log: Outcome::default(), purchase: None };
        let mut tasks: Vec<JoinHandle<Outcome>> = (0..fans).map(|_| tokio::spawn(fan().run(stop.clone()))).collect();
        tasks.push(tokio::spawn(fan().arrivals(stop.clone())));
        Self { stop, fans: tasks, started }
    }

    /// Time since the load started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub async fn stop(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Outcome::default();
        for fan in self.fans {
            all = all.merge(fan.await.expect("a fan ran to the end"));
        }
        all
    }
}

struct Fan {
    app: Arc<TestApp>,
    show: ShowId,
    seats: Arc<Vec<SeatId>>,
    started: Instant,
    log: Outcome,
    /// The idempotency key of the purchase being made: the same for every click.
    purchase: Option<String>,
}

impl Fan {
    async fn run(mut self, stop: Arc<AtomicBool>) -> Outcome {
        while !stop.load(Ordering::Relaxed) {
            self.journey(&stop).await;
        }
        self.log
    }

    /// A passer-by every 100 ms (one at a time), who gets a token, joins and leaves.
    async fn arrivals(mut self, stop: Arc<AtomicBool>) -> Outcome {
        let path = format!("/v1/shows/{}/queue", self.show);
        while !stop.load(Ordering::Relaxed) {
            let Some(user_token) = self.user_token(&stop).await else { break };
            let Some(queue_token) = self.join(&user_token, &stop).await else { break };
            for _ in 0..10 {
                if let (200 | 204 | 404, _) = self.send("leave", Method::DELETE, &path, &queue_token, Value::Null).await
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.log
    }

    /// Sends one request and records it; returns the status, the body and when it was sent.
    async fn send(&mut self, what: &'static str, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
        let sent = Instant::now();
        let mut request = self.app.client.request(method, self.app.url(path)).json(&body);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(key) = &self.purchase {
            request = request.header("Idempotency-Key", key.clone());
        }
        let (status, body) = match request.send().await {
            Ok(response) => (response.status().as_u16(), response.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        };
        self.log.records.push(Record { what, sent: sent - self.started, status, took: sent.elapsed() });
        (status, body)
    }

    /// One fan, from token to sale (or until told to stop).
    async fn journey(&mut self, stop: &AtomicBool) {
        let Some(user_token) = self.user_token(stop).await else { return };
        let Some(queue_token) = self.join(&user_token, stop).await else { return };
        if self.wait_until_active(&queue_token, stop).await {
            self.buy(&queue_token, stop).await;
        }
    }

    async fn user_token(&mut self, stop: &AtomicBool) -> Option<String> {
        while !stop.load(Ordering::Relaxed) {
            match self.send("token", Method::POST, "/v1/tokens", "", json!({})).await {
                (201, body) => return body["token"].as_str().map(str::to_string),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        None
    }

    async fn join(&mut self, user_token: &str, stop: &AtomicBool) -> Option<String> {
        let path = format!("/v1/shows/{}/queue", self.show);
        while !stop.load(Ordering::Relaxed) {
            let (status, body) = self.send("join", Method::POST, &path, user_token, json!({})).await;
            let Some(token) = body["queue_token"].as_str().map(str::to_string) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            if status == 201 {
                let claims = self.app.state.tokens.verify(&token).expect("a valid queue token");
                self.log.joins.push(Ack { user: claims.sub, seq: claims.seq.unwrap(), queue_token: token.clone() });
            }
            return Some(token);
        }
        None
    }

    async fn wait_until_active(&mut self, queue_token: &str, stop: &AtomicBool) -> bool {
        let path = format!("/v1/shows/{}/queue", self.show);
        while !stop.load(Ordering::Relaxed) {
            let (status, body) = self.send("poll", Method::GET, &path, queue_token, Value::Null).await;
            match (status, body["status"].as_str()) {
                (200, Some("active")) => return true,
                (200, Some("expired")) => return false,
                (200, _) => {
                    let wait = body["poll_after_ms"].as_u64().unwrap_or(500).clamp(100, 500);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        false
    }

    /// Holds a random seat (five seats taken at most; after a 503 it waits and tries again,
    /// for up to 15 s) and buys it.
    async fn buy(&mut self, queue_token: &str, stop: &AtomicBool) {
        let holds = format!("/v1/shows/{}/holds", self.show);
        let (mut taken, mut busy) = (0, 0);
        while taken < 5 && busy < 50 && !stop.load(Ordering::Relaxed) {
            let seat = self.seats[rand::rng().random_range(0..self.seats.len())];
            let sent = self.started.elapsed();
            match self.send("hold", Method::POST, &holds, queue_token, json!({"seat_ids": [seat]})).await.0 {
                201 => {
                    self.log.holds.push(self.seat_ack(queue_token, seat, sent));
                    return self.confirm(queue_token, seat).await;
                }
                403 => return,
                503 | 0 => {
                    busy += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                _ => taken += 1,
            }
        }
    }

    fn seat_ack(&self, queue_token: &str, seat: SeatId, sent: Duration) -> SeatAck {
        let user = self.app.state.tokens.verify(queue_token).expect("a valid queue token").sub;
        SeatAck { user, seat, sent, answered: self.started.elapsed() }
    }

    /// Buys the held seat, clicking again (for up to 6 s) while the answer is a 503.
    async fn confirm(&mut self, queue_token: &str, seat: SeatId) {
        let path = format!("/v1/shows/{}/reservations", self.show);
        self.purchase = Some(Uuid::new_v4().to_string());
        let answer = self.click_to_buy(&path, queue_token, seat).await;
        self.purchase = None;
        answer
    }

    async fn click_to_buy(&mut self, path: &str, queue_token: &str, seat: SeatId) {
        for _ in 0..20 {
            let sent = self.started.elapsed();
            let (status, body) =
                self.send("confirm", Method::POST, path, queue_token, json!({"seat_ids": [seat]})).await;
            match (status, body["code"].as_str()) {
                (201, _) => {
                    self.log.sales.push((body["id"].as_str().unwrap_or_default().to_string(), vec![seat]));
                    self.log.sold.push(self.seat_ack(queue_token, seat, sent));
                    return;
                }
                (409, Some("hold_missing")) => {
                    println!("hold missing: seat {seat} bought at {sent:?}, answered {:?}", self.started.elapsed());
                    self.log.holds_missing += 1;
                    return;
                }
                (503 | 0, _) => tokio::time::sleep(Duration::from_millis(300)).await,
                _ => return,
            }
        }
    }
}
