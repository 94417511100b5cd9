//! The registry of live shows: the shows some instance saw fans in lately (see
//! `cache::LiveShows`). Every instance reads it each second; marks and retirements come in
//! batches, so its cost grows with the shows on sale, not with the catalog.

use std::time::Duration;

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
}
