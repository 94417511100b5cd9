//! Concerts, shows, seats and queue settings in Postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Catalog, Database};
use crate::domain::catalog::{ConcertInfo, NewSeat, Seat, ShowInfo};
use crate::domain::queue::QueueConfig;
use crate::domain::{ConcertId, SeatId, ShowId};
use crate::store::{CatalogRecord, CatalogStore, StoreError};

/// The catalog while Postgres serves: read from Postgres each time.
pub struct PgCatalog {
    db: Database,
}

impl PgCatalog {
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl CatalogStore for PgCatalog {
    async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, StoreError> {
        let all = self.db.catalog().concerts().await?;
        Ok(all.into_iter().filter(|c| only.is_none_or(|id| c.id == id)).collect())
    }

    async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError> {
        self.db.catalog().seats(show).await
    }

    /// Nothing to do: Postgres recorded it; the rebuild reloads Redis' cache.
    async fn concert_added(&self, _: ConcertId, _: &str) {}

    async fn show_added(&self, _: &ShowInfo) -> Result<(), StoreError> {
        Ok(())
    }

    async fn show_loaded(&self, _: ShowId, _: &QueueConfig, _: &[Seat]) -> Result<(), StoreError> {
        Ok(())
    }

    async fn reload_later(&self) {}
}

/// Postgres is the catalog's record: Redis' cache is filled from it.
#[async_trait]
impl CatalogRecord for Database {
    async fn concerts(&self) -> Result<Vec<ConcertInfo>, StoreError> {
        self.catalog().concerts().await
    }

    async fn concert_exists(&self, id: ConcertId) -> Result<bool, StoreError> {
        self.catalog().concert_exists(id).await
    }

    async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError> {
        self.catalog().seats(show).await
    }

    async fn sold_seats(&self, show: ShowId) -> Result<Vec<SeatId>, StoreError> {
        self.catalog().sold_seats(show).await
    }
}

struct ConcertRow {
    id: ConcertId,
    title: String,
}

#[derive(Clone)]
struct ShowRow {
    id: ShowId,
    concert_id: ConcertId,
    starts_at: DateTime<Utc>,
    seat_count: i32,
}

impl From<ShowRow> for ShowInfo {
    fn from(r: ShowRow) -> Self {
        ShowInfo { id: r.id, concert_id: r.concert_id, starts_at: r.starts_at, seat_count: i64::from(r.seat_count) }
    }
}

struct SeatRow {
    id: SeatId,
    section: String,
    row_label: String,
    number: i32,
    price_cents: i64,
}

struct ConfigRow {
    show_id: ShowId,
    max_active: i32,
    admit_per_second: f64,
    session_ttl_s: i32,
    hold_ttl_s: i32,
    max_seats_per_user: i32,
    claim_window_s: i32,
    paused: bool,
    pow_bits: i32,
    opens_at: Option<DateTime<Utc>>,
    lanes: i16,
    on_sale_at: Option<DateTime<Utc>>,
    closed: bool,
    sold_out: bool,
    ends_at: Option<DateTime<Utc>>,
}

impl From<ConfigRow> for QueueConfig {
    fn from(r: ConfigRow) -> Self {
        QueueConfig {
            max_active: r.max_active as u32,
            admit_per_second: r.admit_per_second,
            session_ttl_s: r.session_ttl_s as u32,
            hold_ttl_s: r.hold_ttl_s as u32,
            max_seats_per_user: r.max_seats_per_user as u32,
            paused: r.paused,
            claim_window_s: r.claim_window_s as u32,
            pow_bits: r.pow_bits as u32,
            opens_at: r.opens_at,
            lanes: r.lanes as u32,
            on_sale_at: r.on_sale_at,
            closed: r.closed,
            sold_out: r.sold_out,
            ends_at: r.ends_at,
        }
    }
}

impl Catalog<'_> {
    #[tracing::instrument(skip(self))]
    pub async fn create_concert(&self, title: &str) -> Result<ConcertId, StoreError> {
        let query =
            sqlx::query_scalar!(r#"INSERT INTO concerts (title) VALUES ($1) RETURNING id AS "id: ConcertId""#, title);
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Creates a show with its seats and queue settings in one transaction.
    #[tracing::instrument(skip(self, seats, config), fields(seats = seats.len()))]
    pub async fn create_show(
        &self,
        concert: ConcertId,
        starts_at: DateTime<Utc>,
        seats: &[NewSeat],
        config: &QueueConfig,
    ) -> Result<ShowInfo, StoreError> {
        self.timed(async {
            let mut tx = self.pool.begin().await?;
            let show = sqlx::query_as!(
                ShowRow,
                r#"INSERT INTO shows (concert_id, starts_at, seat_count) VALUES ($1, $2, $3)
                   RETURNING id AS "id: ShowId", concert_id AS "concert_id: ConcertId", starts_at, seat_count"#,
                concert as _,
                starts_at,
                seats.len() as i32,
            )
            .fetch_one(&mut *tx)
            .await?;
            insert_seats(&mut tx, show.id, seats).await?;
            upsert_config(&mut *tx, show.id, config).await?;
            sqlx::query!("INSERT INTO queue_state (show_id) VALUES ($1)", show.id as _).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(show.into())
        })
        .await
    }

    pub async fn concert_exists(&self, id: ConcertId) -> Result<bool, StoreError> {
        let query =
            sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM concerts WHERE id = $1) AS "exists!""#, id as _);
        self.timed(query.fetch_one(&self.pool)).await
    }

    /// Every concert with its shows, for loading the cache.
    #[tracing::instrument(skip(self))]
    pub async fn concerts(&self) -> Result<Vec<ConcertInfo>, StoreError> {
        let concerts = sqlx::query_as!(ConcertRow, r#"SELECT id AS "id: ConcertId", title FROM concerts ORDER BY id"#);
        let concerts = self.timed(concerts.fetch_all(&self.pool)).await?;
        let shows = sqlx::query_as!(
            ShowRow,
            r#"SELECT id AS "id: ShowId", concert_id AS "concert_id: ConcertId", starts_at, seat_count
               FROM shows ORDER BY starts_at, id"#
        );
        let shows = self.timed(shows.fetch_all(&self.pool)).await?;
        Ok(concerts
            .into_iter()
            .map(|c| ConcertInfo {
                id: c.id,
                title: c.title,
                shows: shows.iter().filter(|s| s.concert_id == c.id).cloned().map(Into::into).collect(),
            })
            .collect())
    }

    pub async fn show(&self, id: ShowId) -> Result<Option<ShowInfo>, StoreError> {
        let query = sqlx::query_as!(
            ShowRow,
            r#"SELECT id AS "id: ShowId", concert_id AS "concert_id: ConcertId", starts_at, seat_count
               FROM shows WHERE id = $1"#,
            id as _
        );
        Ok(self.timed(query.fetch_optional(&self.pool)).await?.map(Into::into))
    }

    pub async fn queue_config(&self, show: ShowId) -> Result<Option<QueueConfig>, StoreError> {
        self.timed(queue_config(&self.pool, show)).await
    }

    /// Every show's queue settings.
    pub async fn queue_configs(&self) -> Result<Vec<(ShowId, QueueConfig)>, StoreError> {
        let query = sqlx::query_as!(
            ConfigRow,
            r#"SELECT show_id AS "show_id: ShowId", max_active, admit_per_second, session_ttl_s, hold_ttl_s,
                      max_seats_per_user, claim_window_s, paused, pow_bits, opens_at, lanes, on_sale_at, closed,
                      sold_out, ends_at
               FROM queue_configs"#
        );
        let rows = self.timed(query.fetch_all(&self.pool)).await?;
        Ok(rows.into_iter().map(|row| (row.show_id, row.into())).collect())
    }

    pub async fn put_queue_config(&self, show: ShowId, config: &QueueConfig) -> Result<(), StoreError> {
        self.timed(upsert_config(&self.pool, show, config)).await
    }

    pub async fn seats(&self, show: ShowId) -> Result<Vec<Seat>, StoreError> {
        self.timed(seats(&self.pool, show)).await
    }

    pub async fn sold_seats(&self, show: ShowId) -> Result<Vec<SeatId>, StoreError> {
        self.timed(sold_seats(&self.pool, show)).await
    }
}

pub(super) async fn queue_config<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    show: ShowId,
) -> Result<Option<QueueConfig>, sqlx::Error> {
    let query = sqlx::query_as!(
        ConfigRow,
        r#"SELECT show_id AS "show_id: ShowId", max_active, admit_per_second, session_ttl_s, hold_ttl_s,
                  max_seats_per_user, claim_window_s, paused, pow_bits, opens_at, lanes, on_sale_at, closed,
                  sold_out, ends_at
           FROM queue_configs WHERE show_id = $1"#,
        show as _
    );
    Ok(query.fetch_optional(executor).await?.map(Into::into))
}

pub(super) async fn seats<'e>(executor: impl sqlx::PgExecutor<'e>, show: ShowId) -> Result<Vec<Seat>, sqlx::Error> {
    let query = sqlx::query_as!(
        SeatRow,
        r#"SELECT id AS "id: SeatId", section, row_label, number, price_cents FROM seats WHERE show_id = $1 ORDER BY id"#,
        show as _
    );
    let rows = query.fetch_all(executor).await?;
    Ok(rows
        .into_iter()
        .map(|r| Seat { id: r.id, section: r.section, row: r.row_label, number: r.number, price_cents: r.price_cents })
        .collect())
}

pub(super) async fn sold_seats<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    show: ShowId,
) -> Result<Vec<SeatId>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT seat_id AS "seat_id: SeatId" FROM sold_seats WHERE show_id = $1 ORDER BY seat_id"#,
        show as _
    )
    .fetch_all(executor)
    .await
}

async fn insert_seats(tx: &mut sqlx::PgConnection, show: ShowId, seats: &[NewSeat]) -> Result<(), sqlx::Error> {
    let sections: Vec<&str> = seats.iter().map(|s| s.section.as_str()).collect();
    let rows: Vec<&str> = seats.iter().map(|s| s.row.as_str()).collect();
    let numbers: Vec<i32> = seats.iter().map(|s| s.number).collect();
    let prices: Vec<i64> = seats.iter().map(|s| s.price_cents).collect();
    sqlx::query!(
        "INSERT INTO seats (show_id, section, row_label, number, price_cents)
         SELECT $1, section, row_label, number, price_cents
         FROM UNNEST($2::text[], $3::text[], $4::int[], $5::bigint[]) WITH ORDINALITY
              AS s(section, row_label, number, price_cents, ord)
         ORDER BY ord",
        show as _,
        &sections as _,
        &rows as _,
        &numbers,
        &prices,
    )
    .execute(tx)
    .await?;
    Ok(())
}

async fn upsert_config<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    show: ShowId,
    c: &QueueConfig,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO queue_configs
            (show_id, max_active, admit_per_second, session_ttl_s, hold_ttl_s, max_seats_per_user, claim_window_s, paused,
             pow_bits, opens_at, lanes, on_sale_at, closed, sold_out, ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (show_id) DO UPDATE SET
            max_active = EXCLUDED.max_active, admit_per_second = EXCLUDED.admit_per_second,
            session_ttl_s = EXCLUDED.session_ttl_s, hold_ttl_s = EXCLUDED.hold_ttl_s,
            max_seats_per_user = EXCLUDED.max_seats_per_user, claim_window_s = EXCLUDED.claim_window_s,
            paused = EXCLUDED.paused, pow_bits = EXCLUDED.pow_bits, opens_at = EXCLUDED.opens_at,
            lanes = EXCLUDED.lanes, on_sale_at = EXCLUDED.on_sale_at, closed = EXCLUDED.closed,
            sold_out = EXCLUDED.sold_out, ends_at = EXCLUDED.ends_at, updated_at = now()",
        show as _,
        c.max_active as i32,
        c.admit_per_second,
        c.session_ttl_s as i32,
        c.hold_ttl_s as i32,
        c.max_seats_per_user as i32,
        c.claim_window_s as i32,
        c.paused,
        c.pow_bits as i32,
        c.opens_at,
        c.lanes as i16,
        c.on_sale_at,
        c.closed,
        c.sold_out,
        c.ends_at,
    )
    .execute(executor)
    .await?;
    Ok(())
}
