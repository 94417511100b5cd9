//! Fans who hang up mid-request (a closed tab, a phone losing signal): clients that reset
//! the connection a few milliseconds after sending a write, on every write endpoint, beside
//! clients that wait for their answers; on Redis, and on the Postgres fallback with Postgres
//! frozen (SIGSTOP) for a few seconds in the middle. Afterwards Postgres has logged no BEGIN
//! inside an open transaction, no session is idle in a transaction, and every write a
//! waiting client was told succeeded is in Postgres. A fair opening runs through it: its
//! pre-queue joined and its opening set again by both kinds of client, then drawn with the
//! seed it committed to first, every fan told they were in the pre-queue in the draw.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use boxoffice::clock::Clock;
use boxoffice::store::Mode;
use rand::Rng;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::support::{PrivatePostgres, SeatId, ShowId, TestApp, start, test_settings_on};

const LOAD: Duration = Duration::from_secs(8);
const FANS: usize = 40;
const WAITING_CLIENTS: usize = 2;

/// What a waiting client was told succeeded.
#[derive(Default)]
struct Told {
    joins: Vec<(Uuid, i64)>,
    sales: Vec<String>,
    /// Its show's `max_active`, each value saved, in order.
    settings: Vec<u32>,
    settings_show: Option<ShowId>,
    /// Fans told they are in the fair show's pre-queue.
    pre_queued: Vec<Uuid>,
}

/// The sale the load runs on: a show whose fans are all active, and for each waiting client
/// a show of its own whose settings it changes (a change reads, then writes the whole row);
/// beside it a fair show, opening just after the load, its commitment as first published.
struct Sale {
    show: ShowId,
    settings_shows: Vec<ShowId>,
    seats: Vec<SeatId>,
    fans: Vec<String>,
    fair: FairShow,
}

struct FairShow {
    show: ShowId,
    /// Its settings: the opening, and nobody admitted.
    settings: Value,
    commitment: String,
}

/// A show opening `in_` from now, with its commitment published.
async fn fair_show(app: &TestApp, in_: Duration) -> FairShow {
    let show = app.create_show(1, 5).await;
    let opens_at = chrono::Utc::now() + in_;
    let settings = json!({"opens_at": opens_at, "admit_per_second": 0});
    app.configure_queue(show, settings.clone()).await;
    let commitment = app.get(&format!("/v1/shows/{show}/fairness"), None).await.body["commitment"].clone();
    FairShow { show, settings, commitment: commitment.as_str().expect("a commitment").to_string() }
}

async fn sale(app: &TestApp) -> Sale {
    let (show, seats) = app.open_show(20, 25).await;
    app.configure_queue(show, json!({"max_seats_per_user": 50, "claim_window_s": 3600})).await;
    let mut settings_shows = Vec::new();
    for _ in 0..WAITING_CLIENTS {
        settings_shows.push(app.create_show(1, 5).await);
    }
    let mut fans = Vec::new();
    for _ in 0..FANS {
        let (user, _) = app.user().await;
        fans.push(app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string());
    }
    let started = Instant::now();
    for fan in &fans {
        while app.poll(show, fan).await.body["status"] != "active" {
            assert!(started.elapsed() < Duration::from_secs(30), "the fans were never admitted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The load starts now: the fair show opens once it is over.
    let fair = fair_show(app, LOAD + Duration::from_secs(1)).await;
    Sale { show, settings_shows, seats, fans, fair }
}

/// A write the load sends, and whom it comes from.
fn a_write(app: &TestApp, sale: &Sale, user_token: &str, rng: &mut impl Rng) -> (Method, String, String, Value) {
    let fan = sale.fans[rng.random_range(0..sale.fans.len())].clone();
    let seat = sale.seats[rng.random_range(0..sale.seats.len())];
    let show = sale.show;
    let fair = sale.fair.show;
    match rng.random_range(0..8) {
        0 => (Method::POST, format!("/v1/shows/{show}/queue"), user_token.to_string(), Value::Null),
        1 => (Method::POST, format!("/v1/shows/{show}/holds"), fan, json!({"seat_ids": [seat]})),
        2 => (Method::DELETE, format!("/v1/shows/{show}/holds/{seat}"), fan, Value::Null),
        3 => (Method::POST, format!("/v1/shows/{show}/reservations"), fan, json!({"seat_ids": [seat]})),
        4 => (Method::DELETE, format!("/v1/shows/{show}/queue"), user_token.to_string(), Value::Null),
        5 => (Method::POST, format!("/v1/shows/{fair}/queue"), user_token.to_string(), Value::Null),
        6 => (Method::PUT, format!("/v1/admin/shows/{fair}/queue"), app.admin_token(), sale.fair.settings.clone()),
        _ => {
            let max_active = rng.random_range(1000..2000);
            (Method::PUT, format!("/v1/admin/shows/{show}/queue"), app.admin_token(), json!({"max_active": max_active}))
        }
    }
}

/// Sends the request, then resets the connection (no FIN: SO_LINGER 0) after up to `wait`.
async fn hang_up(app: &TestApp, (method, path, token, body): (Method, String, String, Value), wait: Duration) {
    let address = app.address.trim_start_matches("http://").to_string();
    let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else { return };
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    tokio::time::sleep(wait).await;
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn hang_ups(app: Arc<TestApp>, sale: Arc<Sale>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let (user, _) = app.user().await;
        let (write, wait) = {
            let mut rng = rand::rng();
            (a_write(&app, &sale, &user, &mut rng), Duration::from_micros(rng.random_range(0..5_000)))
        };
        hang_up(&app, write, wait).await;
    }
}

/// A client that waits for its answers, writing as the hang-ups do; returns what it was told.
async fn waiting_client(app: Arc<TestApp>, sale: Arc<Sale>, client: usize, stop: Arc<AtomicBool>) -> Told {
    let settings_show = sale.settings_shows[client];
    let mut told = Told { settings_show: Some(settings_show), ..Told::default() };
    while !stop.load(Ordering::Relaxed) {
        let (user, id) = app.user().await;
        let joined = app.join(sale.show, &user).await;
        if joined.status == StatusCode::CREATED {
            told.joins.push((id, joined.body["seq"].as_i64().unwrap()));
        }
        let pre_queued = app.join(sale.fair.show, &user).await;
        if pre_queued.status == StatusCode::CREATED && pre_queued.body["status"] == "pre_queue" {
            told.pre_queued.push(id);
        }
        let path = format!("/v1/admin/shows/{}/queue", sale.fair.show);
        app.call(Method::PUT, &path, Some(&app.admin_token()), Some(sale.fair.settings.clone())).await;
        let (fan, seat) = {
            let mut rng = rand::rng();
            (sale.fans[rng.random_range(0..sale.fans.len())].clone(), sale.seats[rng.random_range(0..sale.seats.len())])
        };
        let show = sale.show;
        if app.post(&format!("/v1/shows/{show}/holds"), Some(&fan), json!({"seat_ids": [seat]})).await.status
            == StatusCode::CREATED
        {
            let bought =
                app.post(&format!("/v1/shows/{show}/reservations"), Some(&fan), json!({"seat_ids": [seat]})).await;
            if bought.status == StatusCode::CREATED {
                told.sales.push(bought.body["id"].as_str().unwrap().to_string());
            }
        }
        let max_active = 3000 + told.settings.len() as u32;
        let path = format!("/v1/admin/shows/{settings_show}/queue");
        let changed =
            app.call(Method::PUT, &path, Some(&app.admin_token()), Some(json!({"max_active": max_active}))).await;
        if changed.status == StatusCode::OK {
            told.settings.push(max_active);
        }
    }
    told
}

/// Freezes every process of the Postgres server (the postmaster and its backends) for `for_`.
fn freeze(postgres_dir: &str, for_: Duration) {
    let pid = std::fs::read_to_string(format!("{postgres_dir}/data/postmaster.pid")).unwrap();
    let pid = pid.lines().next().unwrap().trim().to_string();
    let children = std::process::Command::new("pgrep").args(["-P", &pid]).output().unwrap();
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout).lines().map(str::to_string).collect();
    pids.push(pid);
    let signal = |sig: &str| {
        std::process::Command::new("kill").arg(sig).args(&pids).status().unwrap();
    };
    signal("-STOP");
    std::thread::sleep(for_);
    signal("-CONT");
}

async fn hang_ups_lose_nothing(mode: Mode, stall: Option<Duration>) {
    let postgres = PrivatePostgres::start();
    let nodes = std::env::var("REDIS_CLUSTER_NODES").expect("run with scripts/test.sh");
    let mut settings = test_settings_on(&postgres.url, ("REDIS_CLUSTER_NODES", nodes)).await;
    settings.workers.enabled = true;
    settings.database.timeout = Duration::from_millis(1500);
    let app = Arc::new(start(settings, Clock::RedisServer).await);
    if mode == Mode::Postgres {
        app.state.sale.backend().pin(Mode::Postgres).await.unwrap();
    }
    let sale = Arc::new(sale(&app).await);

    let stop = Arc::new(AtomicBool::new(false));
    let hangers: Vec<_> = (0..6).map(|_| tokio::spawn(hang_ups(app.clone(), sale.clone(), stop.clone()))).collect();
    let waiters: Vec<_> = (0..WAITING_CLIENTS)
        .map(|client| tokio::spawn(waiting_client(app.clone(), sale.clone(), client, stop.clone())))
        .collect();
    tokio::time::sleep(LOAD / 2).await;
    if let Some(stall) = stall {
        let dir = postgres.dir.clone();
        tokio::task::spawn_blocking(move || freeze(&dir, stall)).await.unwrap();
    }
    tokio::time::sleep(LOAD / 2).await;
    stop.store(true, Ordering::Relaxed);
    futures::future::join_all(hangers).await;
    let told: Vec<Told> = futures::future::join_all(waiters).await.into_iter().map(Result::unwrap).collect();

    if mode == Mode::Redis {
        let started = Instant::now();
        while app.get("/readyz", None).await.body["write_behind"]["backlog"] != 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "the write-behind did not drain");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        app.drain_events("check").await;
    }
    let pool = &app.state.sale.db().pool;
    let log = std::fs::read_to_string(format!("{}/postgres.log", postgres.dir)).unwrap_or_default();
    assert!(!log.contains("there is already a transaction in progress"), "a BEGIN ran inside an open transaction");
    // A request cut short mid-transaction leaves its rollback queued on the connection until
    // the pool flushes it (at once, unless Postgres was frozen): a leaked transaction stays.
    let settled = Instant::now();
    loop {
        let idle_in_transaction: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if idle_in_transaction == 0 {
            break;
        }
        assert!(settled.elapsed() < Duration::from_secs(10), "a session stayed idle in a transaction");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (joins, sales, settings): (usize, usize, usize) =
        told.iter().fold((0, 0, 0), |(j, s, c), t| (j + t.joins.len(), s + t.sales.len(), c + t.settings.len()));
    assert!(joins > 4 && settings > 4, "the waiting clients got through: {joins} joins, {settings} settings");
    for told in &told {
        for (user, seq) in &told.joins {
            let kept: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM queue_entries WHERE show_id = $1 AND user_id = $2 AND seq = $3)",
            )
            .bind(sale.show)
            .bind(user)
            .bind(seq)
            .fetch_one(pool)
            .await
            .unwrap();
            assert!(kept, "an acknowledged join (seq {seq}) is not in Postgres");
        }
        for id in &told.sales {
            let kept: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reservations WHERE id = $1::uuid)")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
            assert!(kept, "an acknowledged purchase ({id}) is not in Postgres");
        }
    }
    for told in &told {
        let (Some(show), Some(last_saved)) = (told.settings_show, told.settings.last()) else { continue };
        let kept: i32 = sqlx::query_scalar("SELECT max_active FROM queue_configs WHERE show_id = $1")
            .bind(show)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(kept, *last_saved as i32, "a saved setting did not read back");
    }
    let drawn = drawn_as_committed(&app, &sale.fair).await;
    let pre_queued: Vec<Uuid> = told.iter().flat_map(|t| t.pre_queued.iter().copied()).collect();
    assert!(!pre_queued.is_empty(), "no waiting client got into the pre-queue");
    for user in &pre_queued {
        assert!(drawn.contains(&hex::encode(Sha256::digest(user.to_string()))), "a pre-queued fan was not drawn");
    }
    eprintln!(
        "hang-ups on {mode:?}: {joins} joins, {sales} purchases, {settings} settings changes, {} pre-queue joins \
         acknowledged and kept; {} drawn",
        pre_queued.len(),
        drawn.len()
    );
}

/// Waits for the fair show's draw; checks its seed is the one committed to at first and the
/// published entries are as many as it drew; the drawn fans' hashes.
async fn drawn_as_committed(app: &TestApp, fair: &FairShow) -> std::collections::HashSet<String> {
    let show = fair.show;
    let started = Instant::now();
    let published = loop {
        let published = app.get(&format!("/v1/shows/{show}/fairness"), None).await.body;
        if published["seed"].is_string() {
            break published;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the fair show was not drawn: {published}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(published["commitment"], fair.commitment.as_str(), "the commitment changed");
    let seed = hex::decode(published["seed"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&seed)), fair.commitment, "the seed is not the one committed to");
    let mut drawn = std::collections::HashSet::new();
    let mut after = 0;
    loop {
        let page = app.get(&format!("/v1/shows/{show}/fairness/entries?after_seq={after}&limit=1000"), None).await;
        for entry in page.body["entries"].as_array().unwrap() {
            drawn.insert(entry["user_hash"].as_str().unwrap().to_string());
        }
        match page.body["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(Some(drawn.len() as i64), published["pre_queue_size"].as_i64(), "entries published: {published}");
    drawn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_hanging_up_mid_write_on_redis_leave_no_transaction_open_and_lose_no_acknowledged_write() {
    hang_ups_lose_nothing(Mode::Redis, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_hanging_up_mid_write_on_the_fallback_with_postgres_frozen_lose_no_acknowledged_write() {
    hang_ups_lose_nothing(Mode::Postgres, Some(Duration::from_secs(3))).await;
}
