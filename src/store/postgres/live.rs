//! The registry of live shows: the shows some instance saw fans in lately (see
//! `cache::LiveShows`). Every instance reads it each second; marks and retirements come in
//! batches, so its cost grows with the shows on sale, not with the catalog.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Season;
use crate::domain::ShowId;
use crate::store::StoreError;

impl Season<'_> {
    /// Marks the shows busy now (shows that don't exist are left out).
    pub async fn mark_busy(&self, shows: &[ShowId]) -> Result<(), StoreError> {
        let query = sqlx::query!(
            "INSERT INTO live_shows (show_id, busy_at) SELECT id, now() FROM shows WHERE id = ANY($1)
             ON CONFLICT (show_id) DO UPDATE SET busy_at = now()",
            shows as _
        );
        self.timed(query.execute(&self.pool)).await?;
        Ok(())
    }

    /// Every show some instance marked busy and nobody retired since.
    pub async fn live(&self) -> Result<Vec<ShowId>, StoreError> {
        let query = sqlx::query_scalar!(r#"SELECT show_id AS "show_id: ShowId" FROM live_shows ORDER BY show_id"#);
        self.timed(query.fetch_all(&self.pool)).await
    }

    /// Removes those of the shows nobody marked busy for `quiet_for`; returns them.
    pub async fn retire(&self, shows: &[ShowId], quiet_for: Duration) -> Result<Vec<ShowId>, StoreError> {
        let query = sqlx::query_scalar!(
            r#"DELETE FROM live_shows WHERE show_id = ANY($1) AND busy_at < now() - make_interval(secs => $2)
               RETURNING show_id AS "show_id: ShowId""#,
            shows as _,
            quiet_for.as_secs_f64()
        );
        self.timed(query.fetch_all(&self.pool)).await
    }

    /// The shows whose sale ends (or ended) and that were not let go of yet, with when.
    pub async fn endings(&self) -> Result<Vec<(ShowId, DateTime<Utc>)>, StoreError> {
        let query = sqlx::query!(
            r#"SELECT show_id AS "show_id: ShowId", ends_at AS "ends_at!" FROM queue_configs
               WHERE released_at IS NULL AND ends_at IS NOT NULL"#
        )
        .map(|row| (row.show_id, row.ends_at));
        self.timed(query.fetch_all(&self.pool)).await
    }

    /// The ended show's Redis keys are gone: Postgres alone answers for it from now on.
    pub async fn released(&self, show: ShowId) -> Result<(), StoreError> {
        let query = sqlx::query!("UPDATE queue_configs SET released_at = now() WHERE show_id = $1", show as _);
        self.timed(query.execute(&self.pool)).await?;
        let query = sqlx::query!("DELETE FROM live_shows WHERE show_id = $1", show as _);
        self.timed(query.execute(&self.pool)).await.map(drop)
    }

    /// Marks the show sold out once every seat is sold; true when this call did.
    pub async fn sold_out_if_all_sold(&self, show: ShowId) -> Result<bool, StoreError> {
        let query = sqlx::query!(
            "UPDATE queue_configs SET sold_out = true, updated_at = now()
             WHERE show_id = $1 AND NOT sold_out
               AND (SELECT count(*) FROM sold_seats WHERE show_id = $1) >= (SELECT seat_count FROM shows WHERE id = $1)",
            show as _
        );
        Ok(self.timed(query.execute(&self.pool)).await?.rows_affected() == 1)
    }
}
