//! Seat maps, which never change once a show exists: kept in memory after the first load.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::domain::catalog::Seat;
use crate::domain::{SeatId, ShowId};

#[derive(Debug)]
pub struct SeatMap {
    pub seats: Vec<Seat>,
    index: HashMap<SeatId, usize>,
}

impl SeatMap {
    pub fn new(seats: Vec<Seat>) -> Self {
        let index = seats.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        Self { seats, index }
    }

    pub fn contains(&self, seat: SeatId) -> bool {
        self.index.contains_key(&seat)
    }
}

#[derive(Default)]
pub struct SeatMaps {
    maps: RwLock<HashMap<ShowId, Arc<SeatMap>>>,
}

impl SeatMaps {
    pub fn get(&self, show: ShowId) -> Option<Arc<SeatMap>> {
        self.maps.read().unwrap_or_else(PoisonError::into_inner).get(&show).cloned()
    }

    pub fn insert(&self, show: ShowId, seats: Vec<Seat>) -> Arc<SeatMap> {
        let map = Arc::new(SeatMap::new(seats));
        self.maps.write().unwrap_or_else(PoisonError::into_inner).insert(show, map.clone());
        map
    }
}
