//! A season, not one on-sale: which shows the workers work on, and the catalog's settings
//! as they change.
//!
//! Only live shows are ticked, drained and fed (see [`crate::cache::LiveShows`]); the
//! registry of live shows in Postgres tells every instance of the shows another one saw
//! busy. Queue settings are read whole once (at start, and when the listener of changes
//! reconnects), then show by show as Postgres announces a change.

use sqlx::postgres::PgListener;

use super::Sale;
use crate::domain::ShowId;
use crate::domain::queue::QueueConfig;
use crate::store::StoreError;
use crate::store::postgres::SHOW_CHANGED_CHANNEL;

impl Sale {
    /// The shows the workers tick and drain now: the live ones.
    pub fn shows(&self) -> Vec<ShowId> {
        self.live.ids(self.backend.now_ms())
    }

    /// The workers work on the show from now on, as if fans had come (tools that fill a
    /// queue through the store itself).
    pub fn wake(&self, show: ShowId) {
        self.live.busy(show);
    }

    /// Fans (or an operator) are changing the show: it is live. While Postgres serves, it is
    /// in the registry before the change is made, for the rebuild to copy it.
    pub(super) async fn note_busy(&self, show: ShowId) {
        self.live.busy(show);
        if self.backend.marks_live_shows_at_once()
            && self.live.take_mark(show)
            && let Err(error) = self.db.season().mark_busy(&[show]).await
        {
            tracing::debug!(%error, %show, "live show not marked at once; the next round marks it");
            self.live.marks_failed(&[show]);
        }
    }

    /// Sends this instance's marks of busy shows to the registry, reads the registry, and
    /// retires the shows this instance has seen quiet for the quiet time (unless another
    /// instance marked them meanwhile).
    pub async fn follow_season(&self) {
        let marks = self.live.take_marks();
        if !marks.is_empty()
            && let Err(error) = self.db.season().mark_busy(&marks).await
        {
            tracing::debug!(%error, "live shows not marked this time");
            self.live.marks_failed(&marks);
        }
        let quiet = if self.backend.retires_quiet_shows() { self.live.quiet() } else { Vec::new() };
        if !quiet.is_empty() {
            match self.db.season().retire(&quiet, self.settings.workers.quiet_after).await {
                Ok(retired) => self.live.forget(&retired),
                Err(error) => tracing::debug!(%error, "quiet shows not retired this time"),
            }
        }
        match self.db.season().live().await {
            Ok(live) => self.live.registry_read(live),
            Err(error) => tracing::debug!(%error, "cannot read the live shows"),
        }
    }

    /// Reads every show's queue settings, and the sales that end and were not let go of
    /// yet (on failure the known ones stay).
    pub async fn reload_settings(&self) {
        let began = self.queue_configs.read_began();
        match self.db.catalog().queue_configs().await {
            Ok(all) => {
                all.iter().for_each(|(show, config)| self.note_life(*show, config));
                self.queue_configs.replace(began, all);
            }
            Err(error) => tracing::debug!(%error, "cannot read the queue settings"),
        }
        match self.db.season().endings().await {
            Ok(endings) => endings.iter().for_each(|(show, at)| self.live.ending_at(*show, at.timestamp_millis())),
            Err(error) => tracing::debug!(%error, "cannot read the sales' ends"),
        }
    }

    /// Reads one show's settings again: Postgres announced a change.
    pub async fn settings_changed(&self, show: ShowId) {
        if let Err(error) = self.read_settings(show).await {
            tracing::debug!(%error, %show, "cannot read the show's changed settings");
        }
    }

    /// Reads one show's settings from Postgres. A change this instance saved meanwhile
    /// stands: the read may have begun before it committed, and an announcement of an
    /// earlier change may arrive late.
    pub(super) async fn read_settings(&self, show: ShowId) -> Result<Option<QueueConfig>, StoreError> {
        let began = self.queue_configs.read_began();
        let config = self.db.catalog().queue_config(show).await?;
        if let Some(config) = &config
            && self.queue_configs.refresh(began, show, config.clone())
        {
            self.expect_life(show, config);
        }
        Ok(self.queue_configs.get(show).or(config))
    }

    /// Notifications of changes to the shows' settings (payload: the show id).
    pub async fn listen_to_show_changes(&self) -> Result<PgListener, sqlx::Error> {
        self.db.listen(SHOW_CHANGED_CHANNEL).await
    }

    /// The show's settings as this instance uses them from now on.
    pub(super) fn remember_settings(&self, show: ShowId, config: QueueConfig) {
        self.expect_life(show, &config);
        self.queue_configs.put(show, config);
    }

    /// A fair opening still to come (or just past) wakes its show in time for the draw.
    pub(super) fn expect_opening(&self, show: ShowId, config: &QueueConfig) {
        if let Some(opens_at) = config.opens_at
            && opens_at.timestamp_millis() > self.backend.now_ms() - RECENT_OPENING_MS
        {
            self.live.opening_at(show, opens_at.timestamp_millis());
        }
    }
}

/// An opening this recent may not be drawn yet (the deployment may have been down when it
/// came): its show is woken as for one to come, and goes quiet again if it was drawn.
const RECENT_OPENING_MS: i64 = 24 * 3600 * 1000;
