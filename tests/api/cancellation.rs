//! Cancellation safety: a request that goes away mid-transaction (a fan hanging up, our own
//! timeout) must not leave its pooled connection inside a transaction, where the next
//! borrower's write would run and could be rolled back with it.

use std::time::Duration;

use boxoffice::store::postgres::Database;
use rand::Rng;
use sqlx::{Connection, PgConnection};

use crate::support::{database_used, released, test_settings};

const ROUNDS: u32 = 2_000;

/// One transaction of two writes, cancelled after `budget` (in `begin()`, between the
/// statements, in the commit, or not at all).
async fn cancelled_transaction(db: &Database, round: i64, budget: Duration) {
    let transaction = async {
        let mut tx = db.pool.begin().await?;
        sqlx::query("INSERT INTO cancel_probe (n, kind) VALUES ($1, 'tx')").bind(round).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO cancel_probe (n, kind) VALUES ($1, 'tx2')").bind(round).execute(&mut *tx).await?;
        tx.commit().await
    };
    let _ = tokio::time::timeout(budget, transaction).await;
}

#[tokio::test]
async fn the_write_after_a_cancelled_transaction_is_committed_whatever_point_it_was_cancelled_at() {
    let mut settings = test_settings().await;
    settings.database.max_connections = 1;
    let url = settings.database.url.expose().to_string();
    database_used(&url);
    let db = Database::connect_lazy(&settings.database).unwrap();
    let mut observer = PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE cancel_probe (n BIGINT NOT NULL, kind TEXT NOT NULL)")
        .execute(&mut observer)
        .await
        .unwrap();

    let mut rng = rand::rng();
    for round in 0..i64::from(ROUNDS) {
        cancelled_transaction(&db, round, Duration::from_micros(rng.random_range(0..2_000))).await;
        sqlx::query("INSERT INTO cancel_probe (n, kind) VALUES ($1, 'next')")
            .bind(round)
            .execute(&db.pool)
            .await
            .unwrap();
        let seen: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cancel_probe WHERE n = $1 AND kind = 'next')")
                .bind(round)
                .fetch_one(&mut observer)
                .await
                .unwrap();
        assert!(
            seen,
            "round {round}: the next borrower's write is not committed (it ran inside a leftover transaction)"
        );
    }
    let cut_short: i64 = sqlx::query_scalar("SELECT count(*) FROM cancel_probe WHERE kind = 'tx' AND n NOT IN (SELECT n FROM cancel_probe WHERE kind = 'tx2')")
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert_eq!(cut_short, 0, "a transaction cut short was committed in part");
    let idle_in_transaction: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
    )
    .fetch_one(&mut observer)
    .await
    .unwrap();
    assert_eq!(idle_in_transaction, 0, "a pooled connection was left inside a transaction");
    db.pool.close().await;
    drop(observer);
    released(&settings);
}
