//! Redis: one shared connection, and a few for acknowledged writes (cluster or single node,
//! by configuration), every call timed out and counted by the circuit breaker.
//!
//! One connection, shared by every thread, on purpose: its socket is driven by a task on the
//! main runtime, so a reply is read as soon as it arrives even when an HTTP worker thread is
//! saturated. (Per-worker connections were measured at +7% join throughput, but a busy
//! worker then leaves its own replies unread until calls time out and open the breaker.)
//! Acknowledged writes have a few connections of their own: the `WAIT` behind each of them
//! holds up every later command on its connection until a replica answers, and on the shared
//! one that would make every other show and every read on that master wait for it.
//!
//! redis-rs routes around a killed master by itself, but a *frozen* one (SIGSTOP) keeps
//! requests timing out after its replica took over, because timeouts don't refresh the
//! cluster topology. So after a few timeouts in a row the connections are rebuilt.

mod access;
mod breaker;
mod bulk;
pub mod catalog;
mod draw;
pub mod events;
pub mod holds;
mod home;
mod hygiene;
mod ids;
pub mod keys;
mod lanes;
mod layout;
mod masters;
mod one_slot;
pub mod queue;
pub mod rebuild;
mod replicated;
mod reply;
pub(crate) mod scripts;
pub mod subscription;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::ProtocolVersion;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use breaker::Breaker;
pub use breaker::BreakerState;
pub use keys::Keys;
use replicated::Replicated;
use reply::{Refusal, ScriptReply};

use crate::clock::Clock;
use crate::config::{RedisSettings, RedisTarget};
use crate::store::StoreError;
use crate::store::batch::{BatchCall, Batcher, Limits};

/// Failures in a row after which the cluster connection is rebuilt.
const FAILURES_BEFORE_RECONNECT: u32 = 3;

/// Connections acknowledged writes take turns on: enough that a show's next call, or another
/// show's, need not wait behind one that waits for its replica.
const ACKNOWLEDGED_CONNECTIONS: usize = 4;

/// A connection to a Redis Cluster or to one Redis. Cheap to clone: both kinds multiplex
/// every caller over one socket per node.
#[derive(Clone)]
pub enum RedisConn {
    Cluster(ClusterConnection),
    Single(ConnectionManager),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
            RedisConn::Single(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// How to (re)connect.
#[derive(Clone)]
enum Connector {
    Cluster(Box<ClusterClient>),
    Single(Box<redis::Client>),
}

impl Connector {
    /// `connect_timeout`: how long connecting to one node may take.
    fn new(settings: &RedisSettings, connect_timeout: Duration) -> RedisResult<Self> {
        Ok(match &settings.target {
            RedisTarget::Cluster(seeds) => Connector::Cluster(Box::new(
                access::cluster(&settings.access, seeds)
                    .connection_timeout(connect_timeout)
                    .response_timeout(settings.timeout)
                    .retries(3)
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .build()?,
            )),
            RedisTarget::Single(url) => {
                Connector::Single(Box::new(access::client(&settings.access, url, ProtocolVersion::RESP2)?))
            }
        })
    }

    /// The shared connection and the acknowledged writes' own.
    async fn connect_all(&self, timeout: Duration) -> RedisResult<Connections> {
        let connect = || self.connect(timeout);
        let (shared, acknowledged) = futures::try_join!(
            connect(),
            futures::future::try_join_all((0..ACKNOWLEDGED_CONNECTIONS).map(|_| connect()))
        )?;
        Ok(Connections { shared, acknowledged })
    }

    async fn connect(&self, timeout: Duration) -> RedisResult<RedisConn> {
        match self {
            Connector::Cluster(client) => Ok(RedisConn::Cluster(client.get_async_connection().await?)),
            Connector::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2);
                Ok(RedisConn::Single(client.get_connection_manager_with_config(config).await?))
            }
        }
    }
}

#[derive(Clone)]
struct Connections {
    shared: RedisConn,
    acknowledged: Vec<RedisConn>,
}

/// Which connection a call goes out on.
#[derive(Clone, Copy)]
enum Route {
    Shared,
    /// A script call followed by `WAIT` (see [`replicated`]).
    Acknowledged,
}

/// The longest one start-up attempt allows for connecting to a node.
const STARTUP_PATIENCE: Duration = Duration::from_secs(8);

pub struct Redis {
    conns: Arc<RwLock<Connections>>,
    next_acknowledged: AtomicUsize,
    connector: Connector,
    timeout: Duration,
    /// Replaced by a fresh one when the deployment returns to Redis.
    breaker: RwLock<Arc<Breaker>>,
    failures_in_a_row: Arc<AtomicU32>,
    rebuilding: Arc<AtomicBool>,
    pub keys: Keys,
    pub clock: Clock,
    settings: RedisSettings,
}

impl Redis {
    /// Connects, retrying for up to `wait` (a cluster may still be forming at start-up).
    ///
    /// Each attempt allows twice as long as the one before, up to [`STARTUP_PATIENCE`]: an
    /// attempt opens every connection to every node at once (with TLS, a handshake each),
    /// which a busy machine may not finish within the call timeout however often it tries.
    /// Rebuilds later keep the call timeout: a frozen node must not hold them up.
    #[tracing::instrument(name = "redis_connect", skip_all)]
    pub async fn connect(settings: &RedisSettings, clock: Clock, wait: Duration) -> Result<Self, StoreError> {
        let connector_for = |patience| Connector::new(settings, patience).map_err(|e| StoreError::Internal(e.into()));
        let deadline = tokio::time::Instant::now() + wait;
        let mut patience = settings.timeout;
        let conns = loop {
            match tokio::time::timeout(patience * 3, connector_for(patience)?.connect_all(patience)).await {
                Ok(Ok(conns)) => break conns,
                failure if tokio::time::Instant::now() >= deadline => {
                    let why = match failure {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    return Err(StoreError::Unavailable(format!("cannot connect to Redis: {why}")));
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    patience = (patience * 2).min(STARTUP_PATIENCE.max(settings.timeout));
                }
            }
        };
        let connector = connector_for(settings.timeout)?;
        Ok(Self {
            conns: Arc::new(RwLock::new(conns)),
            next_acknowledged: AtomicUsize::new(0),
            connector,
            timeout: settings.timeout,
            breaker: RwLock::new(Arc::new(Breaker::default())),
            failures_in_a_row: Arc::default(),
            rebuilding: Arc::default(),
            keys: Keys::new(settings.key_prefix.clone()),
            clock,
            settings: settings.clone(),
        })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    /// The bound on every call.
    pub fn is_cluster(&self) -> bool {
        matches!(self.settings.target, RedisTarget::Cluster(_))
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn breaker(&self) -> Arc<Breaker> {
        self.breaker.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker().state()
    }

    /// A closed breaker: the deployment has checked that Redis serves again (every instance
    /// reached it for a while, and it was rebuilt).
    pub fn reset_breaker(&self) {
        *self.breaker.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Breaker::default());
    }

    /// Runs one Redis operation under the breaker, bounded by the configured timeout.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_on(Route::Shared, op).await
    }

    async fn run_on<T, F, Fut>(&self, route: Route, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let Some(_permit) = self.breaker().permit() else {
            return Err(StoreError::Unsent("redis circuit breaker is open".into()));
        };
        self.unguarded_on(route, op).await
    }

    fn connection(&self, route: Route) -> RedisConn {
        let conns = self.conns.read().unwrap_or_else(|e| e.into_inner());
        match route {
            Route::Shared => conns.shared.clone(),
            Route::Acknowledged => {
                let turn = self.next_acknowledged.fetch_add(1, Ordering::Relaxed);
                conns.acknowledged[turn % conns.acknowledged.len()].clone()
            }
        }
    }

    /// Runs one operation bounded by the timeout but past the breaker (probes that decide
    /// whether the deployment may come back to Redis); its outcome still counts.
    async fn run_unguarded<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.unguarded_on(Route::Shared, op).await
    }

    async fn unguarded_on<T, F, Fut>(&self, route: Route, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(RedisConn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, op(self.connection(route))).await {
            Ok(Ok(value)) => {
                self.on_answer(true);
                Ok(value)
            }
            // redis-rs' own response timeout: the same as ours.
            Ok(Err(error)) if error.is_timeout() => Err(self.on_timeout()),
            Ok(Err(error)) if is_infrastructure_error(&error) => Err(self.on_failure(format!("redis: {error}"))),
            Ok(Err(error)) => {
                self.on_answer(true);
                Err(refusal(&error).unwrap_or_else(|| StoreError::Internal(anyhow::anyhow!("redis: {error}"))))
            }
            Err(_) => Err(self.on_timeout()),
        }
    }

    /// Runs one command and converts its reply.
    pub async fn query<T: FromRedisValue + Send>(&self, cmd: Cmd) -> Result<T, StoreError> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await }).await
    }

    fn on_answer(&self, healthy: bool) {
        self.breaker().record(healthy);
        if healthy {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    fn on_timeout(&self) -> StoreError {
        metrics::counter!("boxoffice_redis_timeouts_total").increment(1);
        self.on_failure(format!("redis call timed out after {:?}", self.timeout))
    }

    /// A timeout or a connection-level error. Several in a row rebuild the connection: a
    /// frozen master keeps redis-rs timing out, and nodes restarted on the same ports (new
    /// ids, new topology) keep refusing the old connections.
    fn on_failure(&self, why: String) -> StoreError {
        self.breaker().record(false);
        let in_a_row = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= FAILURES_BEFORE_RECONNECT {
            self.rebuild_connection();
        }
        StoreError::Unavailable(why)
    }

    /// Replaces the connection in the background; one rebuild at a time.
    fn rebuild_connection(&self) {
        if self.rebuilding.swap(true, Ordering::SeqCst) {
            return;
        }
        let (conns, connector, timeout) = (self.conns.clone(), self.connector.clone(), self.timeout);
        let (rebuilding, timeouts) = (self.rebuilding.clone(), self.failures_in_a_row.clone());
        tokio::spawn(async move {
            tracing::debug!("rebuilding the redis connection after repeated failures");
            metrics::counter!("boxoffice_redis_reconnects_total").increment(1);
            match tokio::time::timeout(timeout * 3, connector.connect_all(timeout)).await {
                Ok(Ok(fresh)) => {
                    *conns.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                    timeouts.store(0, Ordering::Relaxed);
                    tracing::info!("redis connection rebuilt");
                }
                Ok(Err(error)) => tracing::debug!(%error, "redis connection rebuild failed"),
                Err(_) => tracing::debug!("redis connection rebuild timed out"),
            }
            rebuilding.store(false, Ordering::SeqCst);
        });
    }

    /// `PING` (every master of a cluster), for readiness.
    pub async fn ping(&self) -> bool {
        self.query::<String>(redis::cmd("PING")).await.is_ok()
    }

    /// `PING` (every master of a cluster) past the breaker: can Redis serve right now?
    pub async fn probe(&self) -> Result<(), StoreError> {
        self.probe_within(self.timeout).await
    }

    /// A probe bounded by `limit` (at most the Redis timeout): every master answers, every
    /// slot is served, and every master has the replicas in sync acknowledgments wait for.
    pub async fn probe_within(&self, limit: Duration) -> Result<(), StoreError> {
        let cmd = redis::cmd("PING");
        let probe = async {
            self.run_unguarded(|mut conn| async move { cmd.query_async::<String>(&mut conn).await }).await?;
            let problems = self.serving_problems().await?;
            if problems.is_empty() { Ok(()) } else { Err(StoreError::Unavailable(problems.join("; "))) }
        };
        match tokio::time::timeout(limit, probe).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(format!("redis did not answer a probe within {limit:?}"))),
        }
    }

    /// A plain client for Pub/Sub. In a cluster a `PUBLISH` reaches every node, so
    /// subscribing on any one node hears every channel; `attempt` picks the seed.
    pub fn pubsub_client(&self, attempt: usize) -> RedisResult<redis::Client> {
        let url = match &self.settings.target {
            RedisTarget::Cluster(seeds) => &seeds[attempt % seeds.len()],
            RedisTarget::Single(url) => url,
        };
        access::client(&self.settings.access, url, ProtocolVersion::RESP2)
    }
}

/// Whether an error says Redis is unreachable or failing over, rather than that a command
/// was wrong. Only these count against the breaker and become 503s.
fn is_infrastructure_error(error: &RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::ClusterConnectionNotFound
        )
}

/// The refusals the code acts on, by Redis' error code (never by the message's text).
fn refusal(error: &RedisError) -> Option<StoreError> {
    match error.code()? {
        "NOGROUP" => Some(StoreError::NoStreamGroup),
        "BUSYGROUP" => Some(StoreError::StreamGroupExists),
        _ => None,
    }
}

impl Redis {
    /// A call of a show script: KEYS[1] is the show's config hash (it routes the call to the
    /// show's slot), ARGV starts with the key base and the clock's "now".
    pub(crate) fn show_script(
        &self,
        script: &'static redis::Script,
        show: crate::domain::ShowId,
    ) -> redis::ScriptInvocation<'static> {
        let keys = self.keys.show(show);
        self.script_at(script, &keys.config(), &keys.base)
    }

    /// A call of a script on the slot of `key` (its KEYS[1]), whose keys share `base`.
    pub(crate) fn script_at(
        &self,
        script: &'static redis::Script,
        key: &str,
        base: &str,
    ) -> redis::ScriptInvocation<'static> {
        let mut call = script.prepare_invoke();
        call.key(key).arg(base).arg(self.clock.script_arg());
        call
    }

    pub(crate) async fn invoke<T: FromRedisValue + Send>(
        &self,
        call: redis::ScriptInvocation<'static>,
    ) -> Result<T, StoreError> {
        self.run(move |mut conn| async move { call.invoke_async(&mut conn).await }).await
    }

    /// A script call answered only once `wait_replicas` replicas have its writes (see
    /// [`replicated`]); a plain call when none are asked for. A shortfall is a failure for
    /// the breaker: a Redis that can't replicate can't acknowledge, and Postgres can.
    pub(crate) async fn invoke_replicated<T: FromRedisValue + Send>(
        &self,
        call: redis::ScriptInvocation<'static>,
        what: &'static str,
    ) -> Result<T, StoreError> {
        let replicas = self.settings.wait_replicas;
        if replicas == 0 {
            return self.invoke(call).await;
        }
        let wait_ms = self.settings.wait_timeout.as_millis() as u64;
        let (value, confirmed) = self
            .run_on(Route::Acknowledged, move |conn| async move {
                let mut conn = Replicated::new(conn, replicas, wait_ms);
                let value: T = call.invoke_async(&mut conn).await?;
                Ok((value, conn.confirmed))
            })
            .await?;
        match confirmed {
            Some(confirmed) if confirmed >= i64::from(replicas) => Ok(value),
            confirmed => {
                metrics::counter!("boxoffice_redis_unreplicated_total", "op" => what).increment(1);
                self.breaker().record(false);
                Err(StoreError::Unavailable(format!(
                    "{what} not acknowledged: {} of {replicas} replicas confirmed it within {wait_ms} ms",
                    confirmed.unwrap_or(0)
                )))
            }
        }
    }

    /// A script call whose reply decodes as `T`: its result, or the refusal it answered with.
    async fn ask<T: ScriptReply>(
        &self,
        call: redis::ScriptInvocation<'static>,
    ) -> Result<Result<T, Refusal>, StoreError> {
        reply::decode(&self.invoke::<Vec<i64>>(call).await?)
    }

    /// [`Self::ask`], answered once replicated (see [`Self::invoke_replicated`]).
    async fn ask_replicated<T: ScriptReply>(
        &self,
        call: redis::ScriptInvocation<'static>,
        what: &'static str,
    ) -> Result<Result<T, Refusal>, StoreError> {
        reply::decode(&self.invoke_replicated::<Vec<i64>>(call, what).await?)
    }

    /// Batches calls of a show script that takes its requests one after another in ARGV:
    /// `add` appends one request's arguments, `parse` splits the reply into one per request.
    /// Each call is acknowledged once replicated (see [`Self::invoke_replicated`]).
    pub(crate) fn show_script_batcher<Req: Send + 'static, Rep: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        script: &'static redis::Script,
        add: fn(&mut redis::ScriptInvocation<'static>, &Req),
        parse: fn(crate::domain::ShowId, &[i64]) -> Result<Vec<Rep>, StoreError>,
    ) -> Batcher<Req, Rep> {
        let redis = self.clone();
        let call: BatchCall<Req, Rep> = Arc::new(move |show, requests: Vec<Req>| {
            let redis = redis.clone();
            Box::pin(async move {
                let mut call = redis.show_script(script, show);
                requests.iter().for_each(|request| add(&mut call, request));
                let reply: Vec<i64> = redis.invoke_replicated(call, what).await?;
                parse(show, &reply)
            })
        });
        // A second call goes to the master while the first waits for its replica: one show's
        // joins went from 112,000/s to 132,000/s (loadtest/bench_hot_master.sh).
        Batcher::new(call, Limits { in_flight: 2, ..Limits::per_show("redis", self.timeout) })
    }
}
