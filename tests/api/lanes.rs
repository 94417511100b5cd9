//! Lanes, work in progress (src/store/redis/lanes.rs): one show's queue over several hash
//! slots keeps one first-come order.

/// How the Redis backend does it; skipped on the Postgres fallback.
mod on_redis {
    use std::collections::HashSet;

    use boxoffice::domain::ShowId;
    use boxoffice::domain::queue::QueueConfig;
    use boxoffice::store::redis::keys::lane_tags;
    use boxoffice::store::redis::lanes::LanedShow;
    use boxoffice::store::redis::queue::RedisQueue;
    use boxoffice::store::{JoinOutcome, Placement};
    use futures::future::join_all;
    use uuid::Uuid;

    use crate::support::{TestApp, spawn_app};

    /// A show of its own, which the app doesn't tick (it isn't in the catalog), over 3 lanes.
    async fn laned_show(app: &TestApp, admit_per_second: f64) -> (ShowId, LanedShow) {
        let redis = app.state.sale.redis().clone();
        let show = ShowId(9_000_000 + i64::from(rand::random::<u16>()));
        let config = QueueConfig { max_active: 100_000, admit_per_second, ..QueueConfig::default() };
        RedisQueue::new(redis.clone()).put_config(show, &config).await.unwrap();
        let thirds = |slot: u16| Some(slot / 5462);
        let lanes = lane_tags(show, 3, thirds).iter().map(|tag| redis.keys.lane(tag)).collect();
        (show, LanedShow::new(redis, show, lanes))
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
        let (_, laned) = laned_show(&app, 0.0).await;
        let users: Vec<Uuid> = (0..600).map(|_| Uuid::new_v4()).collect();
        let first: Vec<(i64, bool)> =
            join_all(users.iter().map(|u| laned.join(*u))).await.into_iter().map(|o| seq_of(o.unwrap())).collect();
        assert!(first.iter().all(|(_, created)| *created));
        assert_eq!(first.iter().map(|(seq, _)| seq).collect::<HashSet<_>>().len(), users.len(), "one seq each");
        let again: Vec<(i64, bool)> =
            join_all(users.iter().map(|u| laned.join(*u))).await.into_iter().map(|o| seq_of(o.unwrap())).collect();
        let kept: Vec<(i64, bool)> = first.iter().map(|(seq, _)| (*seq, false)).collect();
        assert_eq!(again, kept, "a second join is answered with the place the fan has");
    }

    #[tokio::test]
    async fn a_laned_show_admits_its_fans_once_each_in_the_order_they_joined_whatever_their_lane() {
        let app = spawn_app().await;
        let (show, laned) = laned_show(&app, 100_000.0).await;
        let users: Vec<Uuid> = (0..900).map(|_| Uuid::new_v4()).collect();
        let mut seqs: Vec<i64> =
            join_all(users.iter().map(|u| laned.join(*u))).await.into_iter().map(|o| seq_of(o.unwrap()).0).collect();
        seqs.sort_unstable();
        let mut admitted = 0;
        for _ in 0..100 {
            admitted += laned.admit(100).await.unwrap().admitted;
            if admitted >= 900 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(admitted_seqs(&app, show).await, seqs, "every fan admitted once, in seq order");
        let tick = laned.admit(100).await.unwrap();
        assert_eq!((tick.admitted, tick.cursor), (0, *seqs.last().unwrap()), "nothing left, the cursor past the last");
    }

    #[tokio::test]
    async fn a_fan_admitted_off_a_lane_is_told_so_on_joining_again_and_joins_at_the_back_once_gone() {
        let app = spawn_app().await;
        let (show, laned) = laned_show(&app, 100_000.0).await;
        let fan = Uuid::new_v4();
        let seq = placed(laned.join(fan).await.unwrap()).seq;
        assert_eq!(laned.admit(100).await.unwrap().admitted, 1);
        let again = placed(laned.join(fan).await.unwrap());
        assert_eq!((again.seq, again.created, again.cursor), (seq, false, Some(seq)));
        assert!(again.active_until_ms.is_some(), "told the session runs");

        assert!(laned.leave(fan).await.unwrap(), "the session ends");
        let active = app.state.sale.redis().keys.show(show).active();
        let still: i64 = app.state.sale.redis().query(redis::Cmd::zcard(active)).await.unwrap();
        assert_eq!(still, 0);
        let back = placed(laned.join(fan).await.unwrap());
        assert!(back.created && back.seq > seq, "a new place at the back: {back:?} after {seq}");
        assert_eq!(placed(laned.join(fan).await.unwrap()).seq, back.seq, "and that place is kept");
    }

    #[tokio::test]
    async fn a_fan_who_leaves_a_lane_is_passed_over_and_the_others_keep_their_order() {
        let app = spawn_app().await;
        let (show, laned) = laned_show(&app, 100_000.0).await;
        let mut seqs = Vec::new();
        let fans: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for fan in &fans {
            seqs.push(placed(laned.join(*fan).await.unwrap()).seq);
        }
        assert!(laned.leave(fans[1]).await.unwrap());
        assert!(!laned.leave(fans[1]).await.unwrap(), "gone already");
        assert!(!laned.leave(Uuid::new_v4()).await.unwrap(), "never there");
        assert_eq!(laned.admit(100).await.unwrap().admitted, 2);
        assert_eq!(admitted_seqs(&app, show).await, [seqs[0], seqs[2]]);
    }
}
