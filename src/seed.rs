//! The demo concert: two shows, each with 1,000 seats in three priced sections.

use chrono::{Duration, NaiveTime, Utc};

use crate::domain::ConcertId;
use crate::domain::catalog::{SectionSpec, layout};
use crate::domain::queue::QueueConfig;
use crate::store::postgres::Database;

const EIGHT_PM: NaiveTime = NaiveTime::from_hms_opt(20, 0, 0).unwrap();

pub const DEMO_TITLE: &str = "Aurora Lights — World Tour 2027";

fn demo_sections() -> Vec<SectionSpec> {
    let section =
        |name: &str, rows, seats_per_row, price| SectionSpec { name: name.into(), rows, seats_per_row, price };
    vec![section("Floor", 10, 30, 149.0), section("Lower Bowl", 15, 30, 89.5), section("Balcony", 10, 25, 45.0)]
}

/// Creates the demo concert unless a concert with its title exists; returns its id and
/// whether it was created now.
pub async fn seed_demo(db: &Database) -> anyhow::Result<(ConcertId, bool)> {
    let existing: Option<ConcertId> = db
        .timed(
            sqlx::query_scalar!(r#"SELECT id AS "id: ConcertId" FROM concerts WHERE title = $1"#, DEMO_TITLE)
                .fetch_optional(&db.pool),
        )
        .await?;
    if let Some(id) = existing {
        return Ok((id, false));
    }
    let concert = db.catalog().create_concert(DEMO_TITLE).await?;
    let seats = layout(&demo_sections()).map_err(anyhow::Error::msg)?;
    let first_night = (Utc::now() + Duration::days(60)).date_naive().and_time(EIGHT_PM).and_utc();
    for night in [first_night, first_night + Duration::days(1)] {
        db.catalog().create_show(concert, night, &seats, &QueueConfig::default()).await?;
    }
    Ok((concert, true))
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_demo_show_has_a_thousand_seats_in_three_sections() {
        let seats = super::layout(&super::demo_sections()).unwrap();
        assert_eq!(seats.len(), 1000);
        let sections: std::collections::BTreeSet<_> = seats.iter().map(|s| s.section.as_str()).collect();
        assert_eq!(sections.len(), 3);
    }
}
