//! An open-loop load generator lighter than k6, for the rates k6 can't send on this machine:
//! request i is due at start + i/RATE whatever the earlier answers did, and its latency is
//! counted from when it was due (so a stalled server shows as latency, not as fewer
//! requests: no coordinated omission). Requests that can't be sent because MAX_IN_FLIGHT
//! are already waiting are counted as dropped. Prints one line:
//! `RESULT sent=.. achieved=.. p50_ms=.. p99_ms=.. max_ms=.. dropped=.. errors=.. cpu_s=..`
//!
//!   open_loop BASE SHOW join|poll RATE SECS TOKENS_FILE [MAX_IN_FLIGHT]
//!
//! Run through loadtest/open_loop.sh.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

struct Answer {
    latency: Duration,
    ok: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 6, "usage: open_loop BASE SHOW join|poll RATE SECS TOKENS_FILE [MAX_IN_FLIGHT]");
    let url = format!("{}/v1/shows/{}/queue", args[0], args[1]);
    let join = args[2] == "join";
    let rate: f64 = args[3].parse()?;
    let secs: f64 = args[4].parse()?;
    let tokens: Arc<Vec<String>> = Arc::new(std::fs::read_to_string(&args[5])?.lines().map(str::to_string).collect());
    let max_in_flight: usize = args.get(6).map(|n| n.parse()).transpose()?.unwrap_or(5_000);
    let client = reqwest::Client::builder().pool_max_idle_per_host(max_in_flight).build()?;

    let total = (rate * secs) as usize;
    let (answers, mut received) = mpsc::unbounded_channel::<Answer>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut dropped = 0usize;
    let started = Instant::now();
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while next < total {
        tick.tick().await;
        let due_now = ((started.elapsed().as_secs_f64() * rate) as usize + 1).min(total);
        for i in next..due_now {
            if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                dropped += 1;
                continue;
            }
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            let token = tokens[i % tokens.len()].clone();
            let request = if join { client.post(&url).body("{}") } else { client.get(&url) }
                .bearer_auth(token)
                .header("content-type", "application/json");
            let (answers, in_flight) = (answers.clone(), in_flight.clone());
            in_flight.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let ok = match request.send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
                let _ = answers.send(Answer { latency: due.elapsed(), ok });
            });
        }
        next = due_now;
    }
    drop(answers);
    let mut latencies = Vec::with_capacity(total);
    let mut errors = 0usize;
    while let Some(answer) = received.recv().await {
        latencies.push(answer.latency);
        errors += usize::from(!answer.ok);
    }
    let took = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "RESULT sent={} achieved={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.1} dropped={dropped} errors={errors} cpu_s={:.2}",
        latencies.len(),
        latencies.len() as f64 / took,
        ms(at(0.50)),
        ms(at(0.99)),
        ms(latencies.last()),
        cpu_seconds()
    );
    Ok(())
}

/// This process' CPU time so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
    ticks / 100.0
}
