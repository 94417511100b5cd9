//! Sustained write-behind throughput: fills one show's event stream with N joins (default
//! 300,000) while no worker runs, then drains it into Postgres the way the worker does and
//! prints events/s and joins/s. The joins go 16 at a time, so an event carries about as many
//! joins as under the HTTP benchmark's load. Run it through loadtest/bench_write_behind.sh.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark tool: a broken assumption should stop it loudly"
)]

use std::time::{Duration, Instant};

use boxoffice::app::Application;
use boxoffice::config::Settings;
use boxoffice::domain::catalog::{SectionSpec, layout};
use boxoffice::domain::queue::QueueConfig;
use futures::{StreamExt, TryStreamExt};

/// Joins at a time while filling the stream; a batched join call carries about this many.
const JOINS_IN_FLIGHT: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let joins: u64 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(300_000);
    let mut settings = Settings::from_env()?;
    settings.workers.enabled = false;
    let app = Application::build(settings).await?;
    let state = app.state();
    let concert = state.sale.db().catalog().create_concert("Write-behind benchmark").await?;
    let seats = layout(&[SectionSpec { name: "A".into(), rows: 1, seats_per_row: 10, price: 1.0 }])
        .map_err(anyhow::Error::msg)?;
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let config = QueueConfig { admit_per_second: 0.0, ..QueueConfig::default() };
    let show = state.sale.db().catalog().create_show(concert, starts, &seats, &config).await?.id;
    state.sale.load_show(show).await?;
    state.sale.wake(show);

    let filled = Instant::now();
    futures::stream::iter(0..joins)
        .map(|_| state.sale.queue_store().join(show, uuid::Uuid::new_v4()))
        .buffer_unordered(JOINS_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let in_stream = state.sale.events().stats(&state.sale.events().home(show)).await?.length;
    println!(
        "stream filled with {joins} joins in {in_stream} events ({:.1} joins each) in {:.1} s",
        joins as f64 / in_stream.max(1) as f64,
        filled.elapsed().as_secs_f64()
    );

    let pool = &state.sale.db().pool;
    let wal_before: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(pool).await?;
    let started = Instant::now();
    while state.sale.write_behind("bench-drain").await? > 0 {}
    let took = started.elapsed().as_secs_f64().max(f64::EPSILON);
    let wal: f64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::float8")
        .bind(&wal_before)
        .fetch_one(pool)
        .await?;
    let stored: i64 = sqlx::query_scalar(
        "SELECT pg_total_relation_size('queue_entries') + pg_total_relation_size('write_behind_events')",
    )
    .fetch_one(pool)
    .await?;
    let (events, announced, entries): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(cardinality(user_ids)), 0),
                (SELECT count(*) FROM queue_entries WHERE show_id = $1)
         FROM write_behind_events WHERE show_id = $1",
    )
    .bind(show)
    .fetch_one(pool)
    .await?;
    let left = state.sale.events().stats(&state.sale.events().home(show)).await?;
    println!(
        "drained {events} events ({announced} joins, {entries} queue entries) into Postgres in {took:.1} s: \
         {:.0} events/s, {:.0} joins/s sustained",
        events as f64 / took,
        entries as f64 / took
    );
    println!("stream afterwards: {} entries, {} unacknowledged", left.length, left.unacked);
    let per_join = |bytes: f64| bytes / joins.max(1) as f64;
    println!(
        "Postgres WAL written by the drain: {:.1} MB, {:.0} B per join ({:.0} MB per million joins); \
         queue_entries + write_behind_events on disk: {:.0} B per join (indexes included)",
        wal / 1e6,
        per_join(wal),
        per_join(wal),
        per_join(stored as f64)
    );
    let complete = announced as u64 == joins && entries as u64 == joins && left.unacked == 0;
    anyhow::ensure!(complete, "not every join was written");
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
