//! The catalog is served from the Redis cache and equals what Postgres holds.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_concert_shows_seat_counts_and_seats_available_now() {
    let app = spawn_app().await;
    let show = app.create_show(2, 5).await;
    app.open_wide(show).await;
    let (queue_token, _) = app.active_user(show).await;
    let seats = app.seat_ids(show).await;
    let held = app
        .post(&format!("/v1/shows/{show}/holds"), Some(&queue_token), json!({"seat_ids": [seats[0], seats[1]]}))
        .await;
    assert_eq!(held.status, StatusCode::CREATED);
    let concert = app.state.sale.db().catalog().concerts().await.unwrap()[0].id;
    let detail = app.get(&format!("/v1/concerts/{concert}"), None).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.body["shows"][0]["seat_count"], 10);
    assert_eq!(detail.body["shows"][0]["available"], 8);
}

/// Tests of how the Redis backend does it (its scripts, keys and caches); skipped when the
/// suite runs against the Postgres fallback.
mod on_redis {
    use boxoffice::store::redis::catalog::CatalogCache;

    use super::*;
    use crate::support::TestApp;

    /// The Redis cache of the catalog itself.
    fn cache(app: &TestApp) -> CatalogCache {
        CatalogCache::new(app.state.sale.redis().clone())
    }

    #[tokio::test]
    async fn the_catalog_served_from_redis_equals_what_postgres_holds() {
        let app = spawn_app().await;
        app.create_show(2, 3).await;
        app.create_show(1, 4).await;
        let listed = app.get("/v1/concerts", None).await;
        assert_eq!(listed.status, StatusCode::OK);
        let in_postgres = app.state.sale.db().catalog().concerts().await.unwrap();
        let expected: Vec<_> = in_postgres
            .iter()
            .map(|c| {
                json!({"id": c.id, "title": c.title,
                       "shows": c.shows.iter().map(|s| json!({"id": s.id, "starts_at": s.starts_at})).collect::<Vec<_>>()})
            })
            .collect();
        assert_eq!(listed.body, json!(expected));
        assert_eq!(cache(&app).concerts(None).await.unwrap(), Some(in_postgres), "the Redis cache holds the same");
    }

    #[tokio::test]
    async fn catalog_reads_come_from_the_cache_not_postgres() {
        let app = spawn_app().await;
        app.create_show(1, 2).await;
        let concert = app.state.sale.db().catalog().concerts().await.unwrap()[0].id;
        let key = format!("{}:c:{concert}", app.state.sale.redis().keys.catalog().base);
        app.state.sale.redis().query::<()>(redis::Cmd::hset(key, "title", "Only In Redis")).await.unwrap();
        let listed = app.get("/v1/concerts", None).await;
        assert_eq!(listed.body[0]["title"], "Only In Redis");
    }

    #[tokio::test]
    async fn a_lost_cache_is_reloaded_from_postgres() {
        let app = spawn_app().await;
        let show = app.create_show(1, 2).await;
        let catalog = app.state.sale.redis().keys.catalog();
        app.state.sale.redis().query::<()>(redis::Cmd::del(catalog.loaded())).await.unwrap();
        app.state.sale.redis().query::<()>(redis::Cmd::del(catalog.concerts())).await.unwrap();
        let listed = app.get("/v1/concerts", None).await;
        assert_eq!(listed.body[0]["shows"][0]["id"], show.0);
        assert_eq!(cache(&app).concerts(None).await.unwrap().unwrap().len(), 1);
    }
}
