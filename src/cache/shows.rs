//! The shows this instance knows of, which its workers tick and drain: re-read from Postgres
//! every few seconds by the sale (a new show is picked up without a restart).

use std::sync::{PoisonError, RwLock};

use crate::domain::ShowId;

/// The shows the workers tick and drain.
#[derive(Default)]
pub struct ShowList(RwLock<Vec<ShowId>>);

impl ShowList {
    pub fn get(&self) -> Vec<ShowId> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A show this instance just created or loaded: ticked from now on, not from the next
    /// refresh (its first fans would wait for it).
    pub fn add(&self, show: ShowId) {
        let mut shows = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if !shows.contains(&show) {
            shows.push(show);
        }
    }

    pub fn set(&self, shows: Vec<ShowId>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = shows;
    }
}
