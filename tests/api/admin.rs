//! Admin: concerts, shows and queue settings.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ShowId, spawn_app};

#[tokio::test]
async fn an_admin_creates_a_concert_and_a_show_with_its_seats() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    let concert = app.post("/v1/admin/concerts", Some(&admin), json!({"title": "  Night Drive  "})).await;
    assert_eq!(concert.status, StatusCode::CREATED);
    assert_eq!(concert.body["title"], "Night Drive");
    let show = app
        .post(
            &format!("/v1/admin/concerts/{}/shows", concert.body["id"]),
            Some(&admin),
            json!({"starts_at": "2030-05-01T19:30:00+02:00", "sections": [
                {"name": "Floor", "rows": 2, "seats_per_row": 10, "price": 120},
                {"name": "Balcony", "rows": 3, "seats_per_row": 5, "price": 39.99}]}),
        )
        .await;
    assert_eq!(show.status, StatusCode::CREATED, "{:?}", show.body);
    assert_eq!(show.body["seat_count"], 35);
    let id = ShowId(show.body["id"].as_i64().unwrap());
    assert!(!app.state.sale.shows().contains(&id), "a show nobody joined costs the workers nothing");
    let seats = app.state.sale.db().catalog().seats(id).await.unwrap();
    assert_eq!(seats.len(), 35);
    assert_eq!(
        (seats[34].section.as_str(), seats[34].row.as_str(), seats[34].number, seats[34].price_cents),
        ("Balcony", "C", 5, 3999)
    );
    let listed = app.get("/v1/concerts", None).await;
    assert_eq!(listed.body[0]["shows"][0]["starts_at"], "2030-05-01T17:30:00Z");
}

#[tokio::test]
async fn invalid_titles_sections_and_dates_are_422_and_create_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token();
    for title in ["", "   ", &"x".repeat(201)] {
        let reply = app.post("/v1/admin/concerts", Some(&admin), json!({"title": title})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}");
    }
    let concert = app.post("/v1/admin/concerts", Some(&admin), json!({"title": "Ok"})).await.body["id"].clone();
    let path = format!("/v1/admin/concerts/{concert}/shows");
    let section = |rows: i64, per_row: i64, price: f64| json!({"name": "A", "rows": rows, "seats_per_row": per_row, "price": price});
    let bad_shows = [
        json!({"starts_at": "2030-01-01T00:00:00Z", "sections": []}),
        json!({"starts_at": "2030-01-01T00:00:00Z", "sections": [section(0, 10, 1.0)]}),
        json!({"starts_at": "2030-01-01T00:00:00Z", "sections": [section(1, 10, -5.0)]}),
        json!({"starts_at": "2030-01-01T00:00:00Z", "sections": [section(1, 10, 1.005)]}),
        json!({"starts_at": "2030-01-01T00:00:00Z", "sections": [section(200, 500, 1.0)]}),
        json!({"starts_at": "2001-01-01T00:00:00Z", "sections": [section(1, 10, 1.0)]}),
    ];
    for body in bad_shows {
        let reply = app.post(&path, Some(&admin), body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", reply.body);
    }
    let bad_date =
        app.post(&path, Some(&admin), json!({"starts_at": "next friday", "sections": [section(1, 1, 1.0)]})).await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    assert!(app.state.sale.db().catalog().concerts().await.unwrap()[0].shows.is_empty());
}

#[tokio::test]
async fn queue_settings_change_only_the_fields_sent() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let admin = app.admin_token();
    let path = format!("/v1/admin/shows/{show}/queue");
    let first = app.call(Method::PUT, &path, Some(&admin), Some(json!({"max_active": 7, "paused": true}))).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = app.call(Method::PUT, &path, Some(&admin), Some(json!({"hold_ttl_s": 120}))).await;
    assert_eq!(second.body["max_active"], 7);
    assert_eq!(second.body["paused"], true);
    assert_eq!(second.body["hold_ttl_s"], 120);
    let defaults = boxoffice::domain::queue::QueueConfig::default();
    assert_eq!(second.body["admit_per_second"], defaults.admit_per_second, "fields not sent keep their values");
    assert_eq!(second.body["session_ttl_s"], defaults.session_ttl_s);
    assert_eq!(second.body["max_seats_per_user"], defaults.max_seats_per_user);
    assert_eq!(second.body["claim_window_s"], defaults.claim_window_s);
    assert_eq!(app.get(&path, Some(&admin)).await.body, second.body);
}

#[tokio::test]
async fn out_of_range_queue_settings_are_422_and_keep_the_old_ones() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    let admin = app.admin_token();
    let path = format!("/v1/admin/shows/{show}/queue");
    let before = app.get(&path, Some(&admin)).await.body;
    for bad in [
        json!({"max_active": 0}),
        json!({"admit_per_second": -1}),
        json!({"hold_ttl_s": 0}),
        json!({"max_seats_per_user": 500}),
    ] {
        let reply = app.call(Method::PUT, &path, Some(&admin), Some(bad.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let negative = app.call(Method::PUT, &path, Some(&admin), Some(json!({"max_active": -3}))).await;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&path, Some(&admin)).await.body, before);
}

#[tokio::test]
async fn queue_stats_report_counts_rate_and_backend() {
    let app = spawn_app().await;
    let show = app.create_show(1, 5).await;
    for _ in 0..3 {
        let (user, _) = app.user().await;
        app.join(show, &user).await;
    }
    let stats = app.queue_stats(show).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.body["waiting"], 3);
    assert_eq!(stats.body["joined_total"], 3);
    assert_eq!(stats.body["active"], 0);
    assert_eq!(stats.body["admitted_total"], 0);
    assert_eq!(stats.body["admit_rate_per_s"], 0.0, "nobody admitted yet");
    assert_eq!(stats.body["backend"], crate::support::backend(), "the backend that answered");
    let unknown = app.get("/v1/admin/shows/999999/queue/stats", Some(&app.admin_token())).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
