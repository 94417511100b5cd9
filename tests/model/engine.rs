//! One engine under the model's requests: a show of a running service, asked over HTTP as
//! fans, operators and the admission ticker would; each answer translated into the model's
//! terms (its seqs by order, its times from the sequence's start, its seats by index).

use std::collections::BTreeMap;
use std::time::Duration;

use boxoffice::domain::fairness::draw_key;
use boxoffice::domain::model::{Answer, Counts, Fan, PRE_QUEUE_SEQ, Refusal, Request, Seat, Standing, Store};
use boxoffice::domain::queue::QueueConfigPatch;

use boxoffice::store::Mode;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use boxoffice::domain::queue::QueueConfig;

use crate::steps::{SEATS, starting_config};
use crate::support::{Reply, SeatId, ShowId, TestApp};

/// How long after a switch its hand-over is done (mode.rs: a second for every instance to
/// follow it), with a margin.
const HAND_OVER: Duration = Duration::from_millis(1100);

/// Retries of an answer the service asked to retry (503).
const RETRIES: usize = 3;

pub struct Engine<'a> {
    app: &'a TestApp,
    show: ShowId,
    seats: Vec<SeatId>,
    /// The clock at the sequence's start: the model's 0.
    base_ms: i64,
    /// Each fan's user token and id.
    users: BTreeMap<Fan, (String, uuid::Uuid)>,
    queue_tokens: BTreeMap<Fan, String>,
    /// Every seq the engine handed out, in order: the model's seq is the rank.
    seqs: Vec<i64>,
    reservations: Vec<String>,
    opening: Opening,
}

/// What the test knows of the show's fair opening: nothing set, its seed (read where the
/// sale keeps it), or the seqs its close kept (taken into `seqs`).
#[derive(Default)]
enum Opening {
    #[default]
    None,
    Seeded(Vec<u8>),
    Closed(Vec<u8>),
}

impl<'a> Engine<'a> {
    /// A new show of the app, its queue set as the model's starting settings.
    pub async fn open(app: &'a TestApp, lanes: u32) -> Engine<'a> {
        let show = app.create_show(1, u32::from(SEATS)).await;
        let config = QueueConfig { lanes, ..starting_config() };
        app.configure_queue(show, serde_json::to_value(config).unwrap()).await;
        let mut seats = app.seat_ids(show).await;
        seats.sort();
        let base_ms = app.clock.estimate_ms();
        let (users, queue_tokens, seqs, reservations, opening) = Default::default();
        Engine { app, show, seats, base_ms, users, queue_tokens, seqs, reservations, opening }
    }

    /// The fans' draw keys, once the show's opening committed to a seed.
    pub fn draw_keys(&self) -> Option<BTreeMap<Fan, Vec<u8>>> {
        let (Opening::Seeded(seed) | Opening::Closed(seed)) = &self.opening else { return None };
        Some(self.users.iter().map(|(fan, (_, id))| (*fan, draw_key(seed, *id).to_vec())).collect())
    }

    /// Reads the opening's seed after a change, and the seqs its close kept (lower than any
    /// given after the close, none given before the opening): a drawn place's model seq is
    /// its rank among them.
    async fn follow_opening(&mut self) {
        let row = self.app.state.sale.db().fairness().fairness(self.show).await.expect("the fairness row");
        let Some(row) = row else { return };
        if let (Opening::Seeded(_), Some(base), Some(size)) = (&self.opening, row.draw_base, row.pre_queue_size) {
            let kept: Vec<i64> = (base + 1..=base + size).collect();
            self.seqs.splice(0..0, kept);
            self.opening = Opening::Closed(row.seed);
        } else if let Opening::None = self.opening {
            self.opening = Opening::Seeded(row.seed);
        }
    }

    /// The deployment moves to Postgres with the write-behind caught up, and its hand-over
    /// runs as the worker would: the old streams written out once every instance has
    /// followed the switch (a second), after which Postgres decides holds and sales.
    pub async fn move_to_postgres(&self) {
        if self.app.state.sale.backend().mode() != Mode::Redis {
            return;
        }
        self.app.drain_events("worker").await;
        self.app.state.sale.backend().move_to_postgres("the model test").await.expect("moved to postgres");
        tokio::time::sleep(HAND_OVER).await;
        self.app.drain_events("worker").await;
    }

    /// Redis is rebuilt from Postgres and serves again.
    pub async fn back_to_redis(&self) {
        let backend = self.app.state.sale.backend();
        if backend.mode() == Mode::Redis {
            return;
        }
        // As the worker's rebuild does: this instance's marks first, then the copy.
        self.app.state.sale.follow_season().await;
        let rebuilt = backend.rebuild_redis(async || self.app.drain_events("worker").await).await.expect("rebuilt");
        assert!(rebuilt, "redis rebuilt");
    }

    /// The engine's answer to the request. A 503 (which changes nothing) is retried after a
    /// write-behind round, as a client retries while the worker runs: a show's holds and
    /// sales wait for a round after a switch.
    pub async fn apply(&mut self, request: &Request) -> Result<Answer, String> {
        let mut answer = self.answer_once(request).await;
        for _ in 0..RETRIES {
            match &answer {
                Ok(Answer::Refused(Refusal::TryAgain)) => {
                    self.app.drain_events("worker").await;
                    answer = self.answer_once(request).await;
                }
                _ => break,
            }
        }
        answer
    }

    async fn answer_once(&mut self, request: &Request) -> Result<Answer, String> {
        let path = format!("/v1/shows/{}", self.show);
        let reply = match request {
            Request::Join(fan) => {
                let user = self.user(*fan).await;
                let reply = self.app.post(&format!("{path}/queue"), Some(&user), json!({})).await;
                if !matches!(self.opening, Opening::None) {
                    self.follow_opening().await;
                }
                return self.joined(*fan, reply);
            }
            Request::Tick => {
                self.app.state.sale.admit(self.show).await;
                if !matches!(self.opening, Opening::None) {
                    self.follow_opening().await;
                }
                return Ok(Answer::Done);
            }
            Request::Wait { ms } => {
                self.app.clock.advance(Duration::from_millis(*ms as u64));
                return Ok(Answer::Done);
            }
            Request::Change(patch) => {
                let body = serde_json::to_value(self.on_engine_clock(patch)).unwrap();
                let path = format!("/v1/admin/shows/{}/queue", self.show);
                let reply = self.app.call(Method::PUT, &path, Some(&self.app.admin_token()), Some(body)).await;
                if patch.opens_at.is_some() && reply.status.is_success() {
                    self.follow_opening().await;
                }
                reply
            }
            Request::Counts => return self.counts(self.app.queue_stats(self.show).await),
            Request::MoveTo(Store::Postgres) => {
                self.move_to_postgres().await;
                return Ok(Answer::Done);
            }
            Request::MoveTo(Store::Redis) => {
                self.back_to_redis().await;
                return Ok(Answer::Done);
            }
            _ => {
                let Some(token) = self.queue_tokens.get(&fan_of(request)).cloned() else {
                    return Ok(Answer::Refused(Refusal::NoToken));
                };
                self.call(request, &path, &token).await
            }
        };
        self.answer(request, reply)
    }

    /// The change with its times on the service's clock.
    fn on_engine_clock(&self, patch: &QueueConfigPatch) -> QueueConfigPatch {
        let moved =
            |at: Option<chrono::DateTime<chrono::Utc>>| at.map(|at| at + chrono::Duration::milliseconds(self.base_ms));
        QueueConfigPatch { opens_at: moved(patch.opens_at), on_sale_at: moved(patch.on_sale_at), ..patch.clone() }
    }

    async fn call(&self, request: &Request, path: &str, token: &str) -> Reply {
        let app = self.app;
        match request {
            Request::Standing(_) => app.get(&format!("{path}/queue"), Some(token)).await,
            Request::Leave(_) => app.call(Method::DELETE, &format!("{path}/queue"), Some(token), None).await,
            Request::Hold(_, seats) => app.post(&format!("{path}/holds"), Some(token), self.seat_body(seats)).await,
            Request::Release(_, seat) => {
                let seat = self.seats[usize::from(seat.0)];
                app.call(Method::DELETE, &format!("{path}/holds/{seat}"), Some(token), None).await
            }
            Request::HoldsOf(_) => app.get(&format!("{path}/holds"), Some(token)).await,
            Request::Buy(_, seats, key) => {
                let mut call = app.client.post(app.url(&format!("{path}/reservations"))).bearer_auth(token);
                if let Some(key) = key {
                    call = call.header("Idempotency-Key", format!("key-{key}"));
                }
                app.raw(call.json(&self.seat_body(seats))).await
            }
            _ => unreachable!("answered without a call"),
        }
    }

    fn answer(&mut self, request: &Request, reply: Reply) -> Result<Answer, String> {
        let ok = reply.status.is_success();
        Ok(match request {
            Request::Standing(fan) if ok => {
                if let Some(token) = reply.body["queue_token"].as_str() {
                    self.queue_tokens.insert(*fan, token.to_string());
                }
                Answer::Standing(self.standing(&reply.body)?)
            }
            Request::Leave(_) if reply.status == StatusCode::NO_CONTENT => Answer::Left,
            Request::Hold(..) if reply.status == StatusCode::CREATED => {
                Answer::Held { seats: self.seats_of(&reply.body)?, until_ms: self.time(&reply.body["expires_at"])? }
            }
            Request::HoldsOf(_) if ok => {
                let mut seats = self.seats_of(&reply.body)?;
                seats.sort();
                let until_ms = match &reply.body["expires_at"] {
                    Value::Null => None,
                    at => Some(self.time(at)?),
                };
                Answer::Holds { seats, until_ms }
            }
            Request::Release(..) if reply.status == StatusCode::NO_CONTENT => Answer::Released,
            Request::Buy(..) if ok => self.bought(&reply)?,
            Request::Change(_) if ok => Answer::Done,
            _ => Answer::Refused(self.refusal(&reply)?),
        })
    }

    async fn user(&mut self, fan: Fan) -> String {
        if !self.users.contains_key(&fan) {
            self.users.insert(fan, self.app.user().await);
        }
        self.users[&fan].0.clone()
    }

    fn seat_body(&self, seats: &[Seat]) -> Value {
        json!({"seat_ids": seats.iter().map(|s| self.seats[usize::from(s.0)]).collect::<Vec<_>>()})
    }

    fn joined(&mut self, fan: Fan, reply: Reply) -> Result<Answer, String> {
        if !reply.status.is_success() {
            return Ok(Answer::Refused(self.refusal(&reply)?));
        }
        let token = reply.body["queue_token"].as_str().ok_or("a join without a queue token")?;
        self.queue_tokens.insert(fan, token.to_string());
        let seq = match reply.body["seq"].as_i64().ok_or("a join without a seq")? {
            PRE_QUEUE_SEQ => PRE_QUEUE_SEQ,
            seq => self.model_seq(seq),
        };
        let created = reply.status == StatusCode::CREATED;
        Ok(Answer::Joined { created, seq, standing: self.standing(&reply.body)? })
    }

    /// The model's seq for an engine's: its rank among the seqs handed out, a new one only
    /// after every earlier one (0 for a new seq before an earlier one: out of order).
    fn model_seq(&mut self, seq: i64) -> i64 {
        if let Some(rank) = self.seqs.iter().position(|s| *s == seq) {
            return rank as i64 + 1;
        }
        if self.seqs.last().is_some_and(|last| *last > seq) {
            return 0;
        }
        self.seqs.push(seq);
        self.seqs.len() as i64
    }

    fn standing(&self, body: &Value) -> Result<Standing, String> {
        Ok(match body["status"].as_str() {
            Some("waiting") => Standing::Waiting { position: body["position"].as_u64().ok_or("no position")? },
            Some("active") => Standing::Active { until_ms: self.time(&body["active_until"])? },
            Some("expired") => Standing::Expired,
            Some("pre_queue") => Standing::PreQueue,
            _ => return Err(format!("an unknown standing: {body}")),
        })
    }

    fn time(&self, at: &Value) -> Result<i64, String> {
        let text = at.as_str().ok_or_else(|| format!("not a time: {at}"))?;
        let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("{text}: {e}"))?;
        Ok(at.timestamp_millis() - self.base_ms)
    }

    fn seats_of(&self, body: &Value) -> Result<Vec<Seat>, String> {
        let ids = body["seat_ids"].as_array().ok_or_else(|| format!("no seat_ids in {body}"))?;
        ids.iter()
            .map(|id| {
                let index = self.seats.iter().position(|seat| Some(seat.0) == id.as_i64());
                index.map(|i| Seat(i as u8)).ok_or_else(|| format!("not a seat of the show: {id}"))
            })
            .collect()
    }

    fn bought(&mut self, reply: &Reply) -> Result<Answer, String> {
        let id = reply.body["id"].as_str().ok_or("a reservation without an id")?.to_string();
        let reservation = match self.reservations.iter().position(|r| *r == id) {
            Some(i) => i + 1,
            None => {
                self.reservations.push(id);
                self.reservations.len()
            }
        };
        let created = reply.status == StatusCode::CREATED;
        Ok(Answer::Bought { reservation, created, seats: self.seats_of(&reply.body)? })
    }

    fn counts(&self, reply: Reply) -> Result<Answer, String> {
        let count = |name: &str| reply.body[name].as_u64().ok_or_else(|| format!("no {name} in {}", reply.body));
        Ok(Answer::Counts(Counts {
            waiting: count("waiting")?,
            active: count("active")?,
            joined_total: count("joined_total")?,
            admitted_total: count("admitted_total")?,
            held: count("held")?,
            sold: count("sold")?,
        }))
    }

    fn refusal(&self, reply: &Reply) -> Result<Refusal, String> {
        let seats = || self.seats_of(&reply.body["error"]);
        Ok(match (reply.status.as_u16(), reply.code()) {
            (409, "queue_closed") => Refusal::QueueClosed,
            (409, "not_on_sale_yet") => Refusal::NotOnSaleYet,
            (409, "sale_closed") => Refusal::SaleClosed,
            (409, "sold_out") => Refusal::SoldOut,
            (404, "not_in_queue") => Refusal::NotInQueue,
            (403, "not_active") => Refusal::NotActive,
            (409, "seat_unavailable") => Refusal::SeatUnavailable(seats()?),
            (422, "too_many_seats") => Refusal::TooManySeats,
            (404, "hold_not_found") => Refusal::HoldNotFound,
            (409, "hold_missing") => Refusal::HoldMissing(seats()?),
            (409, "seat_sold") => Refusal::SeatSold(seats()?),
            (422, "idempotency_key_reused") => Refusal::IdempotencyKeyReused,
            (422, "invalid_config") => Refusal::InvalidConfig,
            (409, "opening_fixed") => Refusal::OpeningFixed,
            (409, "queue_started") => Refusal::QueueStarted,
            (409, "lanes_fixed") => Refusal::LanesFixed,
            (503, "unavailable") => Refusal::TryAgain,
            (status, _) => return Err(format!("{status} {}", reply.body)),
        })
    }
}

fn fan_of(request: &Request) -> Fan {
    match request {
        Request::Join(fan)
        | Request::Standing(fan)
        | Request::Leave(fan)
        | Request::Hold(fan, _)
        | Request::Release(fan, _)
        | Request::HoldsOf(fan)
        | Request::Buy(fan, ..) => *fan,
        _ => unreachable!("a request of no fan"),
    }
}
