//! SSE fans for bench_sse.sh (k6 has no SSE): joins N users to a show, opens a queue event
//! stream for each, and reports when each heard `active`.
//!
//!   sse_fans BASE SHOW CLAIM_WINDOW_S < user tokens (one per line)
//!
//! Prints `joined N` once every user has a place, `open N` once every stream has had its
//! first event, then `active SEQ MS` for each fan told `active`: the fan's place and when
//! the event arrived (ms since the epoch; the script compares it with the admission time
//! Postgres recorded). Ends when every fan was told, or when the file `$STOP` appears. With `LEAVE_WHEN_ACTIVE=1` an admitted fan gives the slot back
//! at once (a fan who got in and changed their mind), so a rehearsal's buyers get the room.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, show] = &args[..] else { anyhow::bail!("usage: sse_fans BASE SHOW < users") };
    let users: Vec<String> = std::io::stdin().lock().lines().map_while(Result::ok).collect();
    let queue_tokens = join_all(base, show, users).await;
    let fans = queue_tokens.len();
    println!("joined {fans}");
    let addr = base.trim_start_matches("http://").to_string();
    let (opened, mut first_events) = mpsc::unbounded_channel();
    let (heard, mut delays) = mpsc::unbounded_channel();
    let connecting = Arc::new(Semaphore::new(256));
    let leave = std::env::var("LEAVE_WHEN_ACTIVE").is_ok_and(|v| v == "1");
    let client = reqwest::Client::new();
    for (token, seq) in queue_tokens {
        let (addr, show, opened, heard, connecting) =
            (addr.clone(), show.clone(), opened.clone(), heard.clone(), connecting.clone());
        let (client, queue_url) = (client.clone(), format!("{base}/v1/shows/{show}/queue"));
        tokio::spawn(async move {
            let permit = connecting.acquire_owned().await.unwrap();
            let stream = TcpStream::connect(&addr).await.expect("connect");
            let request = format!(
                "GET /v1/shows/{show}/queue/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            let (read, mut write) = stream.into_split();
            write.write_all(request.as_bytes()).await.expect("send");
            let mut lines = BufReader::new(read).lines();
            let mut kind = String::new();
            let mut first = Some(permit);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(event) = line.strip_prefix("event: ") {
                    kind = event.to_string();
                } else if line.starts_with("data: ") {
                    if first.take().is_some() {
                        opened.send(()).unwrap();
                    }
                    if kind == "active" {
                        heard.send((seq, chrono::Utc::now().timestamp_millis())).unwrap();
                        if leave {
                            client.delete(&queue_url).bearer_auth(&token).send().await.expect("leave");
                        }
                    }
                }
            }
        });
    }
    drop((opened, heard));
    let mut open = 0;
    while open < fans && first_events.recv().await.is_some() {
        open += 1;
    }
    println!("open {open}");
    let stop = std::env::var("STOP").expect("STOP: the file that ends the run");
    let mut look = tokio::time::interval(Duration::from_millis(200));
    let mut admitted = 0;
    while admitted < fans {
        tokio::select! {
            Some((seq, at)) = delays.recv() => {
                println!("active {seq} {at}");
                admitted += 1;
            }
            _ = look.tick() => if std::path::Path::new(&stop).exists() { break },
        }
    }
    Ok(())
}

/// Joins every user (256 at a time); returns their queue tokens and seqs.
async fn join_all(base: &str, show: &str, users: Vec<String>) -> Vec<(String, i64)> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    let url = format!("{base}/v1/shows/{show}/queue");
    let joins = futures::stream::iter(users.into_iter().map(|user| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let reply: serde_json::Value = client
                .post(&url)
                .bearer_auth(user)
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (reply["queue_token"].as_str().expect("joined").to_string(), reply["seq"].as_i64().expect("a seq"))
        }
    }));
    futures::StreamExt::collect(futures::StreamExt::buffer_unordered(joins, 256)).await
}
