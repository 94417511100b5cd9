//! Concerts, shows and seats, and how a show's sections become seats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ConcertId, SeatId, ShowId};

pub const MAX_TITLE_LEN: usize = 200;
pub const MAX_SECTIONS: usize = 20;
pub const MAX_ROWS: u32 = 200;
pub const MAX_SEATS_PER_ROW: u32 = 500;
pub const MAX_SEATS_PER_SHOW: u32 = 50_000;
/// One million, in cents.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;

/// A section of a show as an admin describes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    /// 1 to 100 printable characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(minimum = 1, maximum = 200)]
    pub rows: u32,
    #[schema(minimum = 1, maximum = 500)]
    pub seats_per_row: u32,
    /// Price of one seat, in the currency's main unit with at most two decimals (e.g. 49.99).
    #[schema(minimum = 0, maximum = 1000000)]
    pub price: f64,
}

/// A seat about to be created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeat {
    pub section: String,
    pub row: String,
    pub number: i32,
    pub price_cents: i64,
}

/// A seat of a show, as the seat map shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    pub id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub price_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowInfo {
    pub id: ShowId,
    pub concert_id: ConcertId,
    pub starts_at: DateTime<Utc>,
    pub seat_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcertInfo {
    pub id: ConcertId,
    pub title: String,
    pub shows: Vec<ShowInfo>,
}

pub fn validate_title(title: &str) -> Result<String, String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_LEN {
        return Err(format!("title must be 1 to {MAX_TITLE_LEN} characters"));
    }
    if title.chars().any(char::is_control) {
        return Err("title must not contain control characters".into());
    }
    Ok(title.to_string())
}

/// The seats of a show: rows lettered A, B, ... Z, AA, AB, ..., seats numbered from 1.
pub fn layout(sections: &[SectionSpec]) -> Result<Vec<NewSeat>, String> {
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        return Err(format!("a show needs 1 to {MAX_SECTIONS} sections"));
    }
    let mut names = std::collections::HashSet::new();
    let mut total: u64 = 0;
    let mut prices = Vec::with_capacity(sections.len());
    for s in sections {
        prices.push(validate_section(s)?);
        if !names.insert(s.name.trim()) {
            return Err(format!("section {:?} appears twice", s.name.trim()));
        }
        total += u64::from(s.rows) * u64::from(s.seats_per_row);
    }
    if total > u64::from(MAX_SEATS_PER_SHOW) {
        return Err(format!("a show may have at most {MAX_SEATS_PER_SHOW} seats, these sections make {total}"));
    }
    Ok(sections.iter().zip(prices).flat_map(|(s, cents)| section_seats(s, cents)).collect())
}

/// Checks a section; returns its price in cents.
fn validate_section(s: &SectionSpec) -> Result<i64, String> {
    let name = s.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("a section name must be 1 to 100 printable characters".into());
    }
    if !(1..=MAX_ROWS).contains(&s.rows) {
        return Err(format!("section {name:?}: rows must be between 1 and {MAX_ROWS}"));
    }
    if !(1..=MAX_SEATS_PER_ROW).contains(&s.seats_per_row) {
        return Err(format!("section {name:?}: seats_per_row must be between 1 and {MAX_SEATS_PER_ROW}"));
    }
    price_cents(s.price).map_err(|e| format!("section {name:?}: {e}"))
}

fn section_seats(s: &SectionSpec, cents: i64) -> impl Iterator<Item = NewSeat> + '_ {
    (0..s.rows).flat_map(move |row| {
        (1..=s.seats_per_row).map(move |number| NewSeat {
            section: s.name.trim().to_string(),
            row: row_label(row),
            number: number as i32,
            price_cents: cents,
        })
    })
}

/// A price in cents, refusing negatives, NaN and fractions of a cent.
pub fn price_cents(price: f64) -> Result<i64, String> {
    let cents = (price * 100.0).round();
    let whole_cents = ((price * 100.0) - cents).abs() < 1e-6;
    if !price.is_finite() || price < 0.0 || cents > MAX_PRICE_CENTS as f64 || !whole_cents {
        return Err("price must be a non-negative amount with at most two decimals".into());
    }
    Ok(cents as i64)
}

/// 0 -> "A", 25 -> "Z", 26 -> "AA", like spreadsheet columns.
pub fn row_label(index: u32) -> String {
    let mut n = index + 1;
    let mut label = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        label.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    label.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(name: &str, rows: u32, per_row: u32, price: f64) -> SectionSpec {
        SectionSpec { name: name.into(), rows, seats_per_row: per_row, price }
    }

    #[test]
    fn rows_are_lettered_like_spreadsheet_columns() {
        assert_eq!(row_label(0), "A");
        assert_eq!(row_label(25), "Z");
        assert_eq!(row_label(26), "AA");
        assert_eq!(row_label(27), "AB");
        assert_eq!(row_label(51), "AZ");
        assert_eq!(row_label(52), "BA");
    }

    #[test]
    fn a_layout_has_every_seat_of_every_section() {
        let seats = layout(&[section("Floor", 2, 3, 120.0), section("Balcony", 1, 2, 45.5)]).unwrap();
        assert_eq!(seats.len(), 8);
        assert_eq!(seats[0], NewSeat { section: "Floor".into(), row: "A".into(), number: 1, price_cents: 12000 });
        assert_eq!(seats[5].row, "B");
        assert_eq!(seats[7], NewSeat { section: "Balcony".into(), row: "A".into(), number: 2, price_cents: 4550 });
    }

    #[test]
    fn prices_must_be_whole_cents_and_not_negative() {
        assert_eq!(price_cents(49.99), Ok(4999));
        assert!(price_cents(-1.0).is_err());
        assert!(price_cents(1.001).is_err());
        assert!(price_cents(f64::INFINITY).is_err());
    }

    #[test]
    fn layouts_refuse_empty_oversized_and_duplicate_sections() {
        assert!(layout(&[]).is_err());
        assert!(layout(&[section("A", 0, 10, 1.0)]).is_err());
        assert!(layout(&[section("A", 200, 500, 1.0)]).unwrap_err().contains("at most"));
        assert!(layout(&[section("A", 1, 1, 1.0), section(" A ", 1, 1, 1.0)]).unwrap_err().contains("twice"));
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(validate_title("  Tour  ").unwrap(), "Tour");
        assert!(validate_title("   ").is_err());
        assert!(validate_title(&"x".repeat(201)).is_err());
        assert!(validate_title("a\u{0}b").is_err());
    }
}
