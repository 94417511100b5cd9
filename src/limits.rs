//! Abuse limits: how often one client address may mint identities and join, and one user
//! may join, hold and buy, before it is answered 429 `rate_limited` with `Retry-After`.
//!
//! Each instance keeps the counts in memory (`governor`'s keyed GCRA limiters), so saying no
//! costs no store call and works whichever store serves, or none. A load balancer spreads
//! one client's requests over every instance, which would multiply each limit by their
//! number; so each request costs as many cells as there are live instances (the heartbeats
//! in Postgres count them), and the deployment as a whole lets a client through at the
//! configured rate. Every limit is shared that way. (Behind a balancer that pins a client to
//! one instance, the limits are that many times stricter; set them accordingly.)

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use uuid::Uuid;

/// The limits, each in requests per minute (0: no limit).
#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub tokens_per_ip: u32,
    pub joins_per_ip: u32,
    pub joins_per_user: u32,
    pub holds_per_user: u32,
    pub reservations_per_user: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for LimitSettings {
    /// A fan joins once or twice, holds a few times and buys once in a minute; a carrier NAT
    /// puts many fans behind one address; a bot mints identities by the thousand.
    fn default() -> Self {
        Self {
            tokens_per_ip: 1000,
            joins_per_ip: 1000,
            joins_per_user: 30,
            holds_per_user: 60,
            reservations_per_user: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A limit per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpLimit {
    Tokens,
    Joins,
}

/// A limit per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLimit {
    Joins,
    Holds,
    Reservations,
}

impl IpLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tokens => "tokens_per_ip",
            Self::Joins => "joins_per_ip",
        }
    }
}

impl UserLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joins => "joins_per_user",
            Self::Holds => "holds_per_user",
            Self::Reservations => "reservations_per_user",
        }
    }
}

/// A limit was reached; the client may try again after this long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryAfter(pub Duration);

struct Keyed<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn per_minute(count: u32) -> Self {
        Self { limiter: NonZeroU32::new(count).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))) }
    }

    fn check(&self, key: &K, cost: NonZeroU32) -> Result<(), RetryAfter> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        match limiter.check_key_n(key, cost) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(not_until)) => Err(RetryAfter(not_until.wait_time_from(DefaultClock::default().now()))),
            // More instances than the limit has cells a minute: each instance lets the limit
            // through on its own, so the deployment as a whole lets through more.
            Err(_) => limiter.check_key(key).map_err(|n| RetryAfter(n.wait_time_from(DefaultClock::default().now()))),
        }
    }

    fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

pub struct Limits {
    tokens_per_ip: Keyed<IpAddr>,
    joins_per_ip: Keyed<IpAddr>,
    joins_per_user: Keyed<Uuid>,
    holds_per_user: Keyed<Uuid>,
    reservations_per_user: Keyed<Uuid>,
    trusted_proxies: Vec<IpNet>,
    instances: AtomicU32,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            tokens_per_ip: Keyed::per_minute(settings.tokens_per_ip),
            joins_per_ip: Keyed::per_minute(settings.joins_per_ip),
            joins_per_user: Keyed::per_minute(settings.joins_per_user),
            holds_per_user: Keyed::per_minute(settings.holds_per_user),
            reservations_per_user: Keyed::per_minute(settings.reservations_per_user),
            trusted_proxies: settings.trusted_proxies.clone(),
            instances: AtomicU32::new(1),
        }
    }

    /// How many instances share the limits now (at least 1).
    pub fn set_instances(&self, live: u32) {
        self.instances.store(live.max(1), Ordering::Relaxed);
    }

    fn cost(&self) -> NonZeroU32 {
        NonZeroU32::new(self.instances.load(Ordering::Relaxed)).unwrap_or(NonZeroU32::MIN)
    }

    pub fn check_ip(&self, limit: IpLimit, ip: IpAddr) -> Result<(), RetryAfter> {
        let keyed = match limit {
            IpLimit::Tokens => &self.tokens_per_ip,
            IpLimit::Joins => &self.joins_per_ip,
        };
        counted(limit.as_str(), keyed.check(&ip, self.cost()))
    }

    pub fn check_user(&self, limit: UserLimit, user: Uuid) -> Result<(), RetryAfter> {
        let keyed = match limit {
            UserLimit::Joins => &self.joins_per_user,
            UserLimit::Holds => &self.holds_per_user,
            UserLimit::Reservations => &self.reservations_per_user,
        };
        counted(limit.as_str(), keyed.check(&user, self.cost()))
    }

    /// Drops the state of clients not seen for a while (memory stays bounded by the
    /// clients of the last minute or so).
    pub fn forget_idle(&self) {
        self.tokens_per_ip.forget_idle();
        self.joins_per_ip.forget_idle();
        self.joins_per_user.forget_idle();
        self.holds_per_user.forget_idle();
        self.reservations_per_user.forget_idle();
    }

    /// The client's address: the socket's peer, or, when the peer is a trusted proxy, the
    /// nearest untrusted address in `X-Forwarded-For` (all its lines, joined by commas).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &str) -> IpAddr {
        client_ip(&self.trusted_proxies, peer, forwarded_for)
    }
}

fn counted(limit: &'static str, outcome: Result<(), RetryAfter>) -> Result<(), RetryAfter> {
    if outcome.is_err() {
        metrics::counter!("boxoffice_rate_limited_total", "limit" => limit).increment(1);
    }
    outcome
}

fn client_ip(trusted: &[IpNet], peer: IpAddr, forwarded_for: &str) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    // Walk back from the peer: the first address no trusted proxy added is the client's. A
    // hop that is not an address ends the walk at the last trusted one: whatever is left
    // of it may have been made up by the client.
    let mut client = peer.to_canonical();
    for hop in forwarded_for.rsplit(',') {
        if !is_trusted(&client) {
            break;
        }
        let Ok(ip) = hop.trim().parse::<IpAddr>() else { break };
        client = ip.to_canonical();
    }
    client
}

/// `BOXOFFICE_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges.
pub fn parse_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IpNet>().or_else(|_| s.parse::<IpAddr>().map(IpNet::from)).map_err(|_| s.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_minute: u32) -> LimitSettings {
        LimitSettings {
            tokens_per_ip: per_minute,
            joins_per_ip: per_minute,
            joins_per_user: per_minute,
            holds_per_user: per_minute,
            reservations_per_user: per_minute,
            trusted_proxies: parse_proxies("10.0.0.0/8, 192.168.1.1").unwrap(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_past_its_limit_is_told_when_to_come_back() {
        let limits = Limits::new(&settings(60));
        for _ in 0..60 {
            assert!(limits.check_ip(IpLimit::Tokens, ip("1.2.3.4")).is_ok());
        }
        let RetryAfter(wait) = limits.check_ip(IpLimit::Tokens, ip("1.2.3.4")).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check_ip(IpLimit::Tokens, ip("1.2.3.5")).is_ok(), "another address has its own count");
        assert!(limits.check_ip(IpLimit::Joins, ip("1.2.3.4")).is_ok(), "another limit has its own count");
    }

    #[test]
    fn with_three_instances_each_lets_a_third_through() {
        let limits = Limits::new(&settings(60));
        limits.set_instances(3);
        let user = Uuid::new_v4();
        let passed = (0..60).filter(|_| limits.check_user(UserLimit::Holds, user).is_ok()).count();
        assert_eq!(passed, 20);
    }

    #[test]
    fn more_instances_than_the_limit_still_let_one_through() {
        let limits = Limits::new(&settings(2));
        limits.set_instances(5);
        assert!(limits.check_user(UserLimit::Reservations, Uuid::new_v4()).is_ok());
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let limits = Limits::new(&settings(0));
        assert!((0..10_000).all(|_| limits.check_ip(IpLimit::Tokens, ip("1.2.3.4")).is_ok()));
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = Limits::new(&settings(1));
        let xff = "6.6.6.6, 7.7.7.7, 10.1.1.1";
        assert_eq!(limits.client_ip(ip("5.5.5.5"), xff), ip("5.5.5.5"), "an untrusted peer is the client");
        assert_eq!(limits.client_ip(ip("10.0.0.2"), xff), ip("7.7.7.7"), "the nearest untrusted hop");
        assert_eq!(limits.client_ip(ip("192.168.1.1"), "garbage"), ip("192.168.1.1"));
        assert_eq!(limits.client_ip(ip("10.0.0.2"), "10.2.2.2"), ip("10.2.2.2"), "all trusted: the first");
        assert_eq!(limits.client_ip(ip("10.0.0.2"), ""), ip("10.0.0.2"), "no header: the proxy itself");
        let spoofed = "6.6.6.6, 10.9.9.9:4711, 10.1.1.1";
        assert_eq!(
            limits.client_ip(ip("10.0.0.2"), spoofed),
            ip("10.1.1.1"),
            "the walk stops at a hop that isn't an address"
        );
        assert_eq!(limits.client_ip(ip("::ffff:10.0.0.2"), xff), ip("7.7.7.7"), "a v4 proxy on a v6 socket");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        assert_eq!(parse_proxies("").unwrap(), vec![]);
        assert_eq!(parse_proxies("::1, 10.0.0.0/8").unwrap().len(), 2);
        assert_eq!(parse_proxies("10.0.0.0/8, nope"), Err("nope".to_string()));
    }
}
