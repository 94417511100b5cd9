//! Hold storm against a running service: 10,000 users are admitted, then all of them ask for
//! the same seat at once (exactly one may win). Then it leaves, in <out dir>, what the wrk
//! runs of loadtest/bench_holds.sh need: the users' queue tokens, a seat of each user's own,
//! and a contended seat already held by someone else. Run it through loadtest/bench_holds.sh,
//! which starts the service.
//!
//!   hold_storm <base url> <admin token> [users, default 10000] [out dir]

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};

const SETUP_IN_FLIGHT: usize = 512;

struct Bench {
    client: reqwest::Client,
    base: String,
    admin: String,
}

impl Bench {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let (status, body) = self.send(method, path, &self.admin, Some(body)).await?;
        anyhow::ensure!(status < 300, "{path}: {status} {body}");
        Ok(body)
    }

    /// A show with `seats` seats, admitting everyone at once.
    async fn show(&self, seats: u32) -> anyhow::Result<i64> {
        let concert = self.admin(reqwest::Method::POST, "/v1/admin/concerts", json!({"title": "Hold storm"})).await?;
        let rows = seats.div_ceil(500);
        let show = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/admin/concerts/{}/shows", concert["id"]),
                json!({"starts_at": "2030-01-01T20:00:00Z",
                       "sections": [{"name": "Floor", "rows": rows, "seats_per_row": 500, "price": 50}]}),
            )
            .await?;
        let id = show["id"].as_i64().unwrap();
        let open = json!({"max_active": 1_000_000, "admit_per_second": 100000.0, "hold_ttl_s": 600});
        self.admin(reqwest::Method::PUT, &format!("/v1/admin/shows/{id}/queue"), open).await?;
        Ok(id)
    }

    /// `n` users joined and admitted; returns their queue tokens.
    async fn active_users(&self, show: i64, n: usize) -> anyhow::Result<Vec<String>> {
        let tokens: Vec<String> = futures::stream::iter(0..n)
            .map(|_| async move {
                let (_, user) = self.send(reqwest::Method::POST, "/v1/tokens", "", Some(json!({}))).await?;
                let token = user["token"].as_str().unwrap_or_default().to_string();
                let (_, joined) =
                    self.send(reqwest::Method::POST, &format!("/v1/shows/{show}/queue"), &token, None).await?;
                Ok::<_, anyhow::Error>(joined["queue_token"].as_str().unwrap_or_default().to_string())
            })
            .buffer_unordered(SETUP_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let path = format!("/v1/admin/shows/{show}/queue/stats");
        while self.send(reqwest::Method::GET, &path, &self.admin, None).await?.1["active"].as_u64().unwrap_or(0)
            < n as u64
        {
            anyhow::ensure!(Instant::now() < deadline, "users were not admitted in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(tokens)
    }
}

impl Bench {
    /// Every token asks for `seat`, all at once; statuses counted, latencies sorted, wall
    /// time in ms.
    async fn contend(&self, tokens: &[String], show: i64, seat: i64) -> (BTreeMap<u16, usize>, Vec<Duration>, f64) {
        let path = format!("/v1/shows/{show}/holds");
        let started = Instant::now();
        let answers: Vec<(u16, Duration)> = join_all(tokens.iter().map(|token| {
            let path = &path;
            async move {
                let asked = Instant::now();
                let sent = self.send(reqwest::Method::POST, path, token, Some(json!({"seat_ids": [seat]}))).await;
                (sent.map(|r| r.0).unwrap_or(0), asked.elapsed())
            }
        }))
        .await;
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let mut statuses = BTreeMap::new();
        for (status, _) in &answers {
            *statuses.entry(*status).or_default() += 1;
        }
        let mut latencies: Vec<Duration> = answers.into_iter().map(|(_, d)| d).collect();
        latencies.sort();
        (statuses, latencies, wall)
    }
}

fn report_contention(statuses: &BTreeMap<u16, usize>, latencies: &[Duration], what: &str) {
    let winners = statuses.get(&201).copied().unwrap_or(0);
    let verdict = if winners == 1 && statuses.len() == 2 { "exactly one winner" } else { "WRONG" };
    println!("  statuses: {statuses:?} -> {verdict}");
    println!(
        "  latency as each client saw it ({what}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        percentile(latencies, 1.0)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (base, admin) = (args.first().cloned().unwrap_or_default(), args.get(1).cloned().unwrap_or_default());
    let users: usize = args.get(2).map(|n| n.parse()).transpose()?.unwrap_or(10_000);
    let out = std::path::PathBuf::from(args.get(3).cloned().unwrap_or_else(|| ".".into()));
    let client = reqwest::Client::builder().pool_max_idle_per_host(users).timeout(Duration::from_secs(60)).build()?;
    let bench = Bench { client, base, admin };

    let show = bench.show(users as u32 + 4).await?;
    let tokens = bench.active_users(show, users).await?;
    let seats: Vec<i64> = {
        let (_, map) = bench.send(reqwest::Method::GET, &format!("/v1/shows/{show}/seats"), &tokens[0], None).await?;
        map["seats"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect()
    };

    // Open one connection per user first, so the storm times holds rather than TCP handshakes.
    let mine = format!("/v1/shows/{show}/holds");
    join_all(tokens.iter().map(|token| bench.send(reqwest::Method::GET, &mine, token, None))).await;

    // The storm: every user, at once, for the same seat.
    let (statuses, latencies, wall) = bench.contend(&tokens, show, seats[0]).await;
    println!("hold storm: {users} concurrent requests for one seat, answered in {wall:.0} ms");
    report_contention(&statuses, &latencies, "all sent at once, so it includes queueing");
    anyhow::ensure!(statuses.get(&201) == Some(&1) && statuses.len() == 2, "the storm did not have exactly one winner");

    // For the wrk runs (loadtest/bench_holds.sh): the first user holds the contended seat, so
    // every request of the others must lose; each of the others has a seat of their own.
    let (status, body) =
        bench.send(reqwest::Method::POST, &mine, &tokens[0], Some(json!({"seat_ids": [seats[1]]}))).await?;
    anyhow::ensure!(status == 201, "could not hold the contended seat: {status} {body}");
    let own: Vec<String> = (1..users).map(|i| seats[(i + 2) % seats.len()].to_string()).collect();
    std::fs::write(out.join("tokens.txt"), tokens[1..].join("\n") + "\n")?;
    std::fs::write(out.join("own_seats.txt"), own.join("\n") + "\n")?;
    std::fs::write(out.join("contended.txt"), format!("{show} {}\n", seats[1]))?;
    Ok(())
}
