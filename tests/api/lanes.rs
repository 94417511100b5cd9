//! Lanes (src/store/redis/lanes.rs): one show's queue over several hash slots, set by the
//! show's `lanes`, keeps one first-come order, and the sale runs on it end to end.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn lanes_are_set_before_the_first_join() {
    let app = spawn_app().await;
    let show = app.create_show(1, 4).await;
    let path = format!("/v1/admin/shows/{show}/queue");
    let admin = app.admin_token();
    let put = |body| app.call(reqwest::Method::PUT, &path, Some(&admin), Some(body));

    assert_eq!(app.configure_queue(show, json!({"lanes": 3})).await.body["lanes"], 3);
    let too_many = put(json!({"lanes": 17})).await;
    assert_eq!((too_many.status, too_many.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"));

    let (fan, _) = app.user().await;
    assert_eq!(app.join(show, &fan).await.status, StatusCode::CREATED);
    let late = put(json!({"lanes": 1})).await;
    assert_eq!((late.status, late.code()), (StatusCode::CONFLICT, "lanes_fixed"));
    assert_eq!(app.get(&path, Some(&admin)).await.body["lanes"], 3, "unchanged");
    assert_eq!(app.configure_queue(show, json!({"max_active": 7})).await.body["lanes"], 3, "other settings change");
}

/// How the Redis backend does it; skipped on the Postgres fallback.
mod on_redis {
    use std::collections::HashSet;

    use boxoffice::domain::ShowId;
    use boxoffice::domain::queue::QueueConfig;
    use boxoffice::store::redis::queue::RedisQueue;
    use boxoffice::store::{JoinOutcome, Placement, QueueStore};
    use futures::future::join_all;
    use reqwest::StatusCode;
    use serde_json::json;
    use uuid::Uuid;

    use crate::support::{TestApp, spawn_app};

    /// A show of its own, which the app doesn't tick (it isn't in the catalog), over 3 lanes
    /// (one per master of the test cluster).
    async fn laned_show(app: &TestApp, admit_per_second: f64) -> (ShowId, RedisQueue) {
        let redis = app.state.sale.redis().clone();
        let show = ShowId(9_000_000 + i64::from(rand::random::<u32>() >> 8));
        let config = QueueConfig { max_active: 100_000, admit_per_second, lanes: 3, ..QueueConfig::default() };
        let queue = RedisQueue::new(redis);
        queue.put_config(show, &config).await.unwrap();
        let streams = app.state.sale.events().streams(show).await.unwrap();
        assert_eq!(streams.len(), 4, "home and 3 lanes");
        (show, queue)
    }

    fn placed(outcome: JoinOutcome) -> Placement {
        match outcome {
            JoinOutcome::Placed(place) => place,
            JoinOutcome::Closed => panic!("the show is open"),
        }
    }

    fn seq_of(outcome: JoinOutcome) -> (i64, bool) {
        let place = placed(outcome);
        (place.seq, place.created)
    }

    /// The seqs of the show's admitted events, in stream order.
    async fn admitted_seqs(app: &TestApp, show: ShowId) -> Vec<i64> {
        let events = app.state.sale.redis().keys.show(show).events();
        let entries: redis::streams::StreamRangeReply =
            app.state.sale.redis().query(redis::cmd("XRANGE").arg(events).arg("-").arg("+").clone()).await.unwrap();
        entries
            .ids
            .iter()
            .filter(|entry| entry.get::<String>("k").as_deref() == Some("admit"))
            .map(|entry| entry.get::<i64>("q").unwrap())
            .collect()
    }

    #[tokio::test]
    async fn fans_joining_a_laned_show_at_once_get_distinct_places_and_keep_them_when_they_join_again() {
        let app = spawn_app().await;
        let (show, queue) = laned_show(&app, 0.0).await;
        let users: Vec<Uuid> = (0..600).map(|_| Uuid::new_v4()).collect();
        let first: Vec<(i64, bool)> = join_all(users.iter().map(|u| queue.join(show, *u)))
            .await
            .into_iter()
            .map(|o| seq_of(o.unwrap()))
            .collect();
        assert!(first.iter().all(|(_, created)| *created));
        assert_eq!(first.iter().map(|(seq, _)| seq).collect::<HashSet<_>>().len(), users.len(), "one seq each");
        let again: Vec<(i64, bool)> = join_all(users.iter().map(|u| queue.join(show, *u)))
            .await
            .into_iter()
            .map(|o| seq_of(o.unwrap()))
            .collect();
        let kept: Vec<(i64, bool)> = first.iter().map(|(seq, _)| (*seq, false)).collect();
        assert_eq!(again, kept, "a second join is answered with the place the fan has");
    }

    #[tokio::test]
    async fn a_laned_show_admits_its_fans_once_each_in_the_order_they_joined_whatever_their_lane() {
        let app = spawn_app().await;
        let (show, queue) = laned_show(&app, 100_000.0).await;
        let users: Vec<Uuid> = (0..900).map(|_| Uuid::new_v4()).collect();
        // In waves (each still batched per lane): 900 calls at once on a busy single core
        // outlast Redis' timeout and open the breaker, which is right but not this test's point.
        let mut seqs = Vec::new();
        for wave in users.chunks(150) {
            let joined = join_all(wave.iter().map(|u| queue.join(show, *u))).await;
            seqs.extend(joined.into_iter().map(|o| seq_of(o.unwrap()).0));
        }
        seqs.sort_unstable();
        let mut admitted = 0;
        for _ in 0..100 {
            admitted += queue.admit(show, 100).await.unwrap().admitted;
            if admitted >= 900 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(admitted_seqs(&app, show).await, seqs, "every fan admitted once, in seq order");
        let tick = queue.admit(show, 100).await.unwrap();
        assert_eq!((tick.admitted, tick.cursor), (0, *seqs.last().unwrap()), "nothing left, the cursor past the last");
    }

    #[tokio::test]
    async fn a_fan_admitted_off_a_lane_is_told_so_on_joining_again_and_joins_at_the_back_once_gone() {
        let app = spawn_app().await;
        let (show, queue) = laned_show(&app, 100_000.0).await;
        let fan = Uuid::new_v4();
        let seq = placed(queue.join(show, fan).await.unwrap()).seq;
        assert_eq!(queue.admit(show, 100).await.unwrap().admitted, 1);
        let again = placed(queue.join(show, fan).await.unwrap());
        assert_eq!((again.seq, again.created, again.cursor), (seq, false, Some(seq)));
        assert!(again.active_until_ms.is_some(), "told the session runs");

        assert!(queue.leave(show, fan).await.unwrap(), "the session ends");
        let active = app.state.sale.redis().keys.show(show).active();
        let still: i64 = app.state.sale.redis().query(redis::Cmd::zcard(active)).await.unwrap();
        assert_eq!(still, 0);
        let back = placed(queue.join(show, fan).await.unwrap());
        assert!(back.created && back.seq > seq, "a new place at the back: {back:?} after {seq}");
        assert_eq!(placed(queue.join(show, fan).await.unwrap()).seq, back.seq, "and that place is kept");
    }

    /// An instance that took a range of seqs from home and died before placing it on its
    /// lane: admission fences the range off (an empty block) once it is old, and goes on.
    #[tokio::test]
    async fn a_range_nobody_placed_is_fenced_off_and_admission_goes_past_it() {
        let app = spawn_app().await;
        let (show, queue) = laned_show(&app, 100_000.0).await;
        let mut seqs = Vec::new();
        for _ in 0..3 {
            seqs.push(placed(queue.join(show, Uuid::new_v4()).await.unwrap()).seq);
        }
        let redis = app.state.sale.redis();
        let home = redis.keys.show(show);
        let taken: i64 = redis.query(redis::Cmd::incr(home.seq(), 5)).await.unwrap();
        let long_ago = app.clock.script_arg() - 60_000;
        let range = format!("0:{}:5:{long_ago}", taken - 4);
        redis.query::<()>(redis::Cmd::rpush(home.ranges(), range)).await.unwrap();
        for _ in 0..3 {
            seqs.push(placed(queue.join(show, Uuid::new_v4()).await.unwrap()).seq);
        }
        assert!(seqs[3] > taken, "joins after the dead range: {seqs:?}");

        for _ in 0..5 {
            queue.admit(show, 100).await.unwrap();
        }
        assert_eq!(admitted_seqs(&app, show).await, seqs, "everyone placed admitted, past the range");
        let lane = app.state.sale.events().streams(show).await.unwrap()[1].keys().block(taken - 4);
        let fence: Option<String> = redis.query(redis::Cmd::get(lane)).await.unwrap();
        assert_eq!(fence.as_deref(), Some(""), "the range's block is fenced off: a late placement is refused");
    }

    #[tokio::test]
    async fn a_fan_who_leaves_a_lane_is_passed_over_and_the_others_keep_their_order() {
        let app = spawn_app().await;
        let (show, queue) = laned_show(&app, 100_000.0).await;
        let mut seqs = Vec::new();
        let fans: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for fan in &fans {
            seqs.push(placed(queue.join(show, *fan).await.unwrap()).seq);
        }
        assert!(queue.leave(show, fans[1]).await.unwrap());
        assert!(!queue.leave(show, fans[1]).await.unwrap(), "gone already");
        assert!(!queue.leave(show, Uuid::new_v4()).await.unwrap(), "never there");
        assert_eq!(queue.admit(show, 100).await.unwrap().admitted, 2);
        assert_eq!(admitted_seqs(&app, show).await, [seqs[0], seqs[2]]);
    }

    /// Fans of a show over 3 lanes, from joining to a sale, over HTTP; then Postgres holds
    /// each one's place with its join and admission, whichever stream it heard from first.
    #[tokio::test]
    async fn a_laned_show_sells_end_to_end_and_postgres_records_every_place_once() {
        let app = spawn_app().await;
        let (show, seats) = app.open_show(1, 4).await;
        app.configure_queue(show, json!({"lanes": 3})).await;
        let mut fans = Vec::new();
        for _ in 0..30 {
            let (token, user) = app.user().await;
            let joined = app.join(show, &token).await;
            assert_eq!(joined.status, StatusCode::CREATED, "{:?}", joined.body);
            fans.push((token, user, joined.body["queue_token"].as_str().unwrap().to_string()));
        }
        let stats = app.queue_stats(show).await;
        assert_eq!((stats.body["joined_total"].as_i64(), stats.body["waiting"].as_i64()), (Some(30), Some(30)));

        app.tick().await;
        for (_, _, queue_token) in &fans {
            assert_eq!(app.poll(show, queue_token).await.body["status"], "active");
        }
        let (.., buyer) = &fans[0];
        let held = app.post(&format!("/v1/shows/{show}/holds"), Some(buyer), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
        let bought =
            app.post(&format!("/v1/shows/{show}/reservations"), Some(buyer), json!({"seat_ids": [seats[0]]})).await;
        assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);

        // Home's stream (the admissions) written first, then the lanes' (the joins).
        let events = app.state.sale.events();
        let streams = events.streams(show).await.unwrap();
        for stream in &streams {
            events.ensure_group(stream).await.unwrap();
            let batch = events.new_entries(stream, "test", 1000).await.unwrap();
            app.state.sale.db().write_behind().record_events(show, stream.lane, &batch, true).await.unwrap();
        }
        let places: Vec<(uuid::Uuid, bool, bool)> = sqlx::query_as(
            "SELECT user_id, admitted_at IS NOT NULL, joined_at <= admitted_at FROM queue_entries WHERE show_id = $1",
        )
        .bind(show)
        .fetch_all(&app.state.sale.db().pool)
        .await
        .unwrap();
        let mut recorded: Vec<uuid::Uuid> = places.iter().map(|p| p.0).collect();
        let mut expected: Vec<uuid::Uuid> = fans.iter().map(|f| f.1).collect();
        recorded.sort_unstable();
        expected.sort_unstable();
        assert_eq!(recorded, expected, "one place each");
        assert!(places.iter().all(|p| p.1 && p.2), "admitted, and joined before: {places:?}");
        let lanes: Vec<i16> =
            sqlx::query_scalar("SELECT DISTINCT lane FROM write_behind_events WHERE show_id = $1 ORDER BY lane")
                .bind(show)
                .fetch_all(&app.state.sale.db().pool)
                .await
                .unwrap();
        assert_eq!(lanes, [0, 1, 2, 3], "30 fans reach every lane (they'd all miss one 1 time in 64,000)");
    }

    /// Redis rebuilt from Postgres after a fallback: the laned show comes back on one slot,
    /// its lanes cleared, every fan where they stood, and admission goes on in join order.
    #[tokio::test]
    async fn a_laned_show_rebuilt_from_postgres_runs_on_one_slot_with_every_place_kept() {
        let app = spawn_app().await;
        let show = app.create_show(1, 4).await;
        app.configure_queue(show, json!({"lanes": 3, "max_active": 2, "admit_per_second": 1000.0})).await;
        let mut tokens = Vec::new();
        for _ in 0..20 {
            let (user, _) = app.user().await;
            tokens.push(app.join(show, &user).await.body["queue_token"].as_str().unwrap().to_string());
        }
        app.tick().await;
        assert_eq!(
            app.call(reqwest::Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&tokens[9]), None).await.status,
            StatusCode::NO_CONTENT
        );
        let mut before = Vec::new();
        for token in &tokens {
            before.push(app.poll(show, token).await.body["position"].clone());
        }
        let lane_keys: Vec<String> = app.state.sale.events().streams(show).await.unwrap()[1..]
            .iter()
            .map(|stream| stream.keys().placed())
            .collect();

        // The write-behind had kept up: Postgres knows every place when it takes over.
        app.drain_events("worker").await;
        let backend = app.state.sale.backend();
        backend.move_to_postgres("a test's fallback").await.unwrap();
        // As the worker's rebuild does: this instance's marks of live shows first (the
        // worker that sends them each second may not have yet), then the copy.
        app.state.sale.follow_season().await;
        assert!(backend.rebuild_redis(async || app.drain_events("worker").await).await.unwrap(), "rebuilt");

        assert_eq!(app.state.sale.events().streams(show).await.unwrap().len(), 1, "one slot");
        for key in lane_keys {
            assert!(!app.state.sale.redis().query::<bool>(redis::Cmd::exists(&key)).await.unwrap(), "{key} cleared");
        }
        let mut after = Vec::new();
        for token in &tokens {
            after.push(app.poll(show, token).await.body["position"].clone());
        }
        assert_eq!(after, before, "every fan where they stood");
        let (late, _) = app.user().await;
        let last = before.last().unwrap().as_i64().unwrap();
        assert_eq!(app.join(show, &late).await.body["position"], last + 1, "a new join queues behind the last");
        app.configure_queue(show, json!({"max_active": 4})).await;
        app.tick().await;
        let statuses: Vec<String> = {
            let mut all = Vec::new();
            for token in &tokens[..5] {
                all.push(app.poll(show, token).await.body["status"].as_str().unwrap_or_default().to_string());
            }
            all
        };
        assert_eq!(statuses, ["active", "active", "active", "active", "waiting"], "the next two in join order");
    }

    /// A fair opening on a laned show: the drawn wait on home and are admitted first, in
    /// draw order, before the latecomers on the lanes; a drawn fan who joins again keeps the
    /// drawn place, and one who leaves is passed over.
    #[tokio::test]
    async fn a_laned_show_with_a_fair_opening_admits_the_drawn_first_in_draw_order() {
        let app = spawn_app().await;
        let show = app.create_show(2, 5).await;
        let opens_at = chrono::DateTime::from_timestamp_millis(app.clock.script_arg() + 60_000).unwrap();
        let config = json!({"lanes": 3, "opens_at": opens_at, "max_active": 100000, "admit_per_second": 0});
        app.configure_queue(show, config).await;
        let mut pre_queued = Vec::new();
        for _ in 0..30 {
            let (user, _) = app.user().await;
            let joined = app.join(show, &user).await;
            assert_eq!(joined.body["status"], "pre_queue", "{:?}", joined.body);
            pre_queued.push((user, joined.body["queue_token"].as_str().unwrap().to_string()));
        }
        app.clock.advance(std::time::Duration::from_secs(61));
        let mut late = Vec::new();
        for _ in 0..10 {
            let (user, _) = app.user().await;
            let joined = app.join(show, &user).await;
            assert_eq!(joined.status, StatusCode::CREATED, "{:?}", joined.body);
            late.push(joined.body["seq"].as_i64().unwrap());
        }
        app.tick().await;
        let mut drawn = Vec::new();
        for (user, token) in &pre_queued {
            let reply = app.poll(show, token).await;
            assert_eq!(reply.body["status"], "waiting", "{:?}", reply.body);
            let token = reply.body["queue_token"].as_str().unwrap().to_string();
            drawn.push((user.clone(), app.state.tokens.verify(&token).unwrap().seq.unwrap(), token));
        }
        drawn.sort_by_key(|(_, seq, _)| *seq);
        assert_eq!(drawn.iter().map(|d| d.1).collect::<Vec<_>>(), (1..=30).collect::<Vec<i64>>());
        assert!(late.iter().all(|seq| *seq > 30), "latecomers behind the drawn: {late:?}");

        let again = app.join(show, &drawn[4].0).await;
        assert_eq!((again.status, again.body["seq"].as_i64()), (StatusCode::OK, Some(5)), "{:?}", again.body);
        let left = app.call(reqwest::Method::DELETE, &format!("/v1/shows/{show}/queue"), Some(&drawn[7].2), None).await;
        assert_eq!(left.status, StatusCode::NO_CONTENT);

        app.configure_queue(show, json!({"admit_per_second": 100000.0})).await;
        for _ in 0..5 {
            app.advance(std::time::Duration::from_millis(200)).await;
        }
        let expected: Vec<i64> = (1..=30).filter(|seq| *seq != 8).chain(late.iter().copied()).collect();
        assert_eq!(admitted_seqs(&app, show).await, expected, "the drawn first, in draw order, then the lanes'");
        let stats = app.queue_stats(show).await;
        assert_eq!(
            (stats.body["waiting"].as_i64(), stats.body["active"].as_i64()),
            (Some(0), Some(39)),
            "{:?}",
            stats.body
        );
    }
}
