//! A per-show map that a worker re-reads wholesale from Postgres every few seconds, and that
//! this instance also writes at once when it changes an entry (a show it created, settings
//! it saved). A re-read that began before such a write may have read Postgres before the
//! write committed: it must not undo it, or the instance would stop ticking a new show, or
//! go back to old settings, until the next re-read. Entries written since it began stay.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::domain::ShowId;

pub struct Refreshed<V> {
    inner: RwLock<Inner<V>>,
}

struct Inner<V> {
    entries: HashMap<ShowId, Entry<V>>,
    writes: u64,
}

impl<V> Inner<V> {
    /// This instance's write: stamped, so a re-read that began before it leaves it.
    fn insert(&mut self, show: ShowId, value: V) {
        self.writes += 1;
        let written = self.writes;
        self.entries.insert(show, Entry { value, written });
    }
}

struct Entry<V> {
    value: V,
    /// The write that put it (0: a re-read).
    written: u64,
}

/// When a re-read of Postgres began, counted in this instance's writes.
#[derive(Debug, Clone, Copy)]
pub struct ReadBegan(u64);

impl<V> Default for Refreshed<V> {
    fn default() -> Self {
        Self { inner: RwLock::new(Inner { entries: HashMap::new(), writes: 0 }) }
    }
}

impl<V: Clone> Refreshed<V> {
    pub fn get(&self, show: ShowId) -> Option<V> {
        self.read().entries.get(&show).map(|e| e.value.clone())
    }

    /// Every show in the map, in id order.
    pub fn ids(&self) -> Vec<ShowId> {
        let mut ids: Vec<ShowId> = self.read().entries.keys().copied().collect();
        ids.sort();
        ids
    }

    /// This instance's own write: it stands until a re-read that began after it.
    pub fn put(&self, show: ShowId, value: V) {
        self.write().insert(show, value);
    }

    /// Taken just before reading Postgres, for [`Self::replace`].
    pub fn read_began(&self) -> ReadBegan {
        ReadBegan(self.read().writes)
    }

    /// One show's entry, as a read of Postgres that began at `began` gave it: a write, as
    /// [`Self::put`], unless the show was written since the read began. Whether it was taken.
    pub fn refresh(&self, began: ReadBegan, show: ShowId, value: V) -> bool {
        let mut inner = self.write();
        if inner.entries.get(&show).is_some_and(|entry| entry.written > began.0) {
            return false;
        }
        inner.insert(show, value);
        true
    }

    /// Everything, as a read of Postgres that began at `began` gave it, but for what this
    /// instance wrote since.
    pub fn replace(&self, began: ReadBegan, all: impl IntoIterator<Item = (ShowId, V)>) {
        let mut inner = self.write();
        let mut entries: HashMap<ShowId, Entry<V>> =
            all.into_iter().map(|(show, value)| (show, Entry { value, written: 0 })).collect();
        entries.extend(inner.entries.drain().filter(|(_, entry)| entry.written > began.0));
        inner.entries = entries;
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner<V>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner<V>> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(id: i64) -> ShowId {
        ShowId(id)
    }

    #[test]
    fn a_reread_that_began_before_a_write_does_not_undo_it() {
        let map = Refreshed::default();
        map.put(show(1), "old");
        let began = map.read_began();
        map.put(show(1), "saved");
        map.put(show(2), "created");
        map.replace(began, [(show(1), "old")]);
        assert_eq!(map.get(show(1)), Some("saved"));
        assert_eq!(map.ids(), [show(1), show(2)]);
    }

    #[test]
    fn a_reread_of_one_show_that_began_before_a_write_does_not_undo_it() {
        let map = Refreshed::default();
        map.put(show(1), "old");
        let began = map.read_began();
        map.put(show(1), "saved");
        assert!(!map.refresh(began, show(1), "old"));
        assert_eq!(map.get(show(1)), Some("saved"));
        let began = map.read_began();
        let wholesale = map.read_began();
        assert!(map.refresh(began, show(1), "changed elsewhere"));
        map.replace(wholesale, [(show(1), "saved")]);
        assert_eq!(map.get(show(1)), Some("changed elsewhere"), "a reload that began before it doesn't undo it");
    }

    #[test]
    fn a_reread_that_began_after_a_write_replaces_everything() {
        let map = Refreshed::default();
        map.put(show(1), "saved");
        map.put(show(3), "gone since");
        let began = map.read_began();
        map.replace(began, [(show(1), "changed elsewhere"), (show(2), "new elsewhere")]);
        assert_eq!(map.get(show(1)), Some("changed elsewhere"));
        assert_eq!(map.ids(), [show(1), show(2)]);
    }
}
