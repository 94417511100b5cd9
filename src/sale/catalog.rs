//! The catalog: concerts and their shows (Postgres is the source of truth; the serving
//! store keeps what readers ask), each show's seats and queue settings.

use chrono::{DateTime, Utc};
use futures::future::try_join_all;

use super::Sale;
use crate::domain::catalog::{ConcertInfo, SectionSpec, ShowInfo, layout, validate_title};
use crate::domain::life::SaleState;
use crate::domain::queue::{QueueConfig, QueueConfigPatch};
use crate::domain::{ConcertId, ShowId};
use crate::error::{ApiError, Code};
use crate::store::{QueueStore, StoreError};

/// A show's seats and how many are free now.
pub struct Availability {
    pub show: ShowInfo,
    /// Seats neither sold nor held right now.
    pub available: i64,
}

/// A show just created.
pub struct ShowCreated {
    pub id: ShowId,
    pub seat_count: i64,
}

impl Sale {
    /// Every concert with its shows (`only`: just that one; empty when there's no such).
    pub async fn concerts(&self, only: Option<ConcertId>) -> Result<Vec<ConcertInfo>, ApiError> {
        Ok(self.backend.catalog().concerts(only).await?)
    }

    /// One concert with each show's seats free now.
    pub async fn concert(&self, id: ConcertId) -> Result<(ConcertInfo, Vec<Availability>), ApiError> {
        let concert = self.concerts(Some(id)).await?.into_iter().next();
        let concert = concert.ok_or_else(|| ApiError::not_found(format!("no concert with id {id}")))?;
        let shows = try_join_all(concert.shows.iter().map(|show| self.free_seats(show))).await?;
        Ok((concert, shows))
    }

    async fn free_seats(&self, show: &ShowInfo) -> Result<Availability, StoreError> {
        let taken = self.availability_of(show.id).await?;
        let available = (show.seat_count - (taken.sold + taken.held) as i64).max(0);
        Ok(Availability { show: show.clone(), available })
    }

    pub async fn create_concert(&self, title: &str) -> Result<(ConcertId, String), ApiError> {
        let title = validate_title(title).map_err(|e| ApiError::new(Code::InvalidTitle, e))?;
        let id = self.db.catalog().create_concert(&title).await?;
        self.backend.catalog().concert_added(id, &title).await;
        Ok((id, title))
    }

    /// A show of a concert, its seats laid out section by section, with the default queue;
    /// its sale ends a grace after it starts.
    pub async fn create_show(
        &self,
        concert: ConcertId,
        starts_at: DateTime<Utc>,
        sections: &[SectionSpec],
    ) -> Result<ShowCreated, ApiError> {
        let seats = layout(sections).map_err(|e| ApiError::new(Code::InvalidSections, e))?;
        if starts_at <= Utc::now() {
            return Err(ApiError::new(Code::InvalidStartsAt, "starts_at must be in the future"));
        }
        if !self.db.catalog().concert_exists(concert).await? {
            return Err(ApiError::not_found(format!("no concert with id {concert}")));
        }
        let grace = chrono::Duration::from_std(self.settings.workers.end_grace).unwrap_or_default();
        let config = QueueConfig { ends_at: Some(starts_at + grace), ..QueueConfig::default() };
        let show = self.db.catalog().create_show(concert, starts_at, &seats, &config).await?;
        let cached = async {
            self.backend.catalog().show_added(&show).await?;
            self.load_show(show.id).await
        };
        if let Err(error) = cached.await {
            tracing::warn!(%error, show = %show.id, "show saved, catalog cache not updated");
            self.backend.catalog().reload_later().await;
        }
        Ok(ShowCreated { id: show.id, seat_count: show.seat_count })
    }

    /// A show's queue settings as Postgres has them.
    pub async fn settings_of(&self, show: ShowId) -> Result<QueueConfig, ApiError> {
        self.db
            .catalog()
            .queue_config(show)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no show with id {show}")))
    }

    /// Changes a show's queue settings; unset fields keep their value.
    #[tracing::instrument(skip(self))]
    pub async fn change_settings(&self, show: ShowId, patch: &QueueConfigPatch) -> Result<QueueConfig, ApiError> {
        let current = self.settings_of(show).await?;
        if self.sale_state(show).await? == SaleState::Ended {
            return Err(ApiError::new(Code::ShowEnded, "this show's sale has ended; its settings can't change"));
        }
        let config = patch.apply(&current).map_err(|e| ApiError::new(Code::InvalidConfig, e))?;
        if config.lanes != current.lanes && self.anyone_joined(show).await? {
            return Err(ApiError::new(Code::LanesFixed, "lanes can change only before the show's first join"));
        }
        if let Some(wanted) = patch.opens_at {
            self.set_opening(show, &current, wanted).await?;
        }
        if self.backend.marks_live_shows_at_once() {
            // Redis learns the change below; while Postgres serves, the rebuild must copy it.
            self.note_busy(show).await;
        }
        self.db.catalog().put_queue_config(show, &config).await?;
        self.remember_settings(show, config.clone());
        self.load_show(show).await?;
        Ok(config)
    }

    /// Whether anyone joined the show: its queue, or the pre-queue of its fair opening.
    async fn anyone_joined(&self, show: ShowId) -> Result<bool, StoreError> {
        Ok(self.backend.counts(show).await?.joined_total > 0 || self.db.fairness().has_pre_queue(show).await?)
    }

    /// After a show was created or its settings changed in Postgres: its seat map, sales and
    /// settings reach the serving store (the workers take it up once fans come).
    #[tracing::instrument(skip(self))]
    pub async fn load_show(&self, show: ShowId) -> Result<(), StoreError> {
        let config = self
            .db
            .catalog()
            .queue_config(show)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no show with id {show}")))?;
        let seats = self.db.catalog().seats(show).await?;
        self.backend.show_changed(show, &config, &seats).await?;
        self.seat_maps.insert(show, seats);
        Ok(())
    }
}
