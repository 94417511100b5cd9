//! Sustained write-behind throughput: fills one show's event stream with N joins (default
//! 300,000) while no worker runs, then drains it into Postgres the way the worker does and
//! prints events/s. Run it through loadtest/bench_write_behind.sh.

use std::time::{Duration, Instant};

use boxoffice::app::Application;
use boxoffice::config::Settings;
use boxoffice::domain::catalog::{SectionSpec, layout};
use boxoffice::domain::queue::QueueConfig;
use boxoffice::worker::write_behind::drain_all;
use futures::{StreamExt, TryStreamExt};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events: u64 = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(300_000);
    let mut settings = Settings::from_env()?;
    settings.workers.enabled = false;
    let app = Application::build(settings).await?;
    let state = app.state();
    let concert = state.db.create_concert("Write-behind benchmark").await?;
    let seats = layout(&[SectionSpec { name: "A".into(), rows: 1, seats_per_row: 10, price: 1.0 }])
        .map_err(anyhow::Error::msg)?;
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let config = QueueConfig { admit_per_second: 0.0, ..QueueConfig::default() };
    let show = state.db.create_show(concert, starts, &seats, &config).await?.id;
    state.load_show(show).await?;
    state.shows.refresh(&state).await;

    let filled = Instant::now();
    futures::stream::iter(0..events)
        .map(|_| state.queue.join(show, uuid::Uuid::new_v4()))
        .buffer_unordered(256)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    println!("stream filled with {events} join events in {:.1} s", filled.elapsed().as_secs_f64());

    let started = Instant::now();
    while drain_all(&state, "bench-drain").await? {}
    let took = started.elapsed();
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM write_behind_events WHERE show_id = $1")
        .bind(show)
        .fetch_one(&state.db.pool)
        .await?;
    let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM queue_entries WHERE show_id = $1")
        .bind(show)
        .fetch_one(&state.db.pool)
        .await?;
    let left = state.events.stats(show).await?;
    println!(
        "drained {recorded} events ({entries} queue entries) into Postgres in {:.1} s: {:.0} events/s sustained",
        took.as_secs_f64(),
        recorded as f64 / took.as_secs_f64().max(f64::EPSILON)
    );
    println!("stream afterwards: {} entries, {} unacknowledged", left.length, left.unacked);
    anyhow::ensure!(recorded as u64 == events && left.unacked == 0, "not every event was written");
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}
