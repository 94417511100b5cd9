//! Coalescing of one show's concurrent calls into one call (group commit), for Redis scripts
//! and Postgres statements alike.
//!
//! A show is one hash slot, so every join of an on-sale runs on one Redis master, one script
//! at a time (and in Postgres, on one counter row). Measured on a loopback cluster, a single
//! join spent ~23 µs in its script call of which ~5 µs were its commands, and each call was a
//! stream entry that the replica and the write-behind consumer paid for again (XREADGROUP
//! replicates an XCLAIM per entry). So requests for a show that arrive while its calls are in
//! flight (`in_flight` of them: one for Postgres, two for Redis, where a call spends much of
//! its time waiting for the replica's `WAIT`) wait for one to end and then go together as the
//! next: at low load nothing waits, under load one call carries everything that arrived
//! meanwhile, up to `max_batch`.
//!
//! Each show has a queue and a task on the runtime that built the store (the main runtime,
//! not an HTTP worker's, so a saturated worker thread never holds up other workers' calls).
//! The queue is bounded: past it a request is shed as unavailable (503 with Retry-After), and
//! every caller's wait is bounded too.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::domain::ShowId;
use crate::store::StoreError;

/// Runs one call for a batch of requests; replies come back in request order.
pub type BatchCall<Req, Rep> =
    Arc<dyn Fn(ShowId, Vec<Req>) -> BoxFuture<'static, Result<Vec<Rep>, StoreError>> + Send + Sync>;

struct Pending<Req, Rep> {
    request: Req,
    reply: oneshot::Sender<Result<Rep, StoreError>>,
}

pub struct Batcher<Req, Rep> {
    queues: RwLock<HashMap<ShowId, mpsc::Sender<Pending<Req, Rep>>>>,
    call: BatchCall<Req, Rep>,
    runtime: Handle,
    limits: Limits,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most requests in one call.
    pub max_batch: usize,
    /// Calls of one show under way at once. Redis runs a show's calls one after another
    /// anyway; a second call in flight goes to the master while the first waits for its
    /// replica (see `store::redis::replicated`).
    pub in_flight: usize,
    /// Requests waiting per show before new ones are shed.
    pub max_waiting: usize,
    /// Longest a caller waits for its answer (its turn plus its call).
    pub wait: Duration,
    /// The store the calls go to (`redis`, `postgres`), as the metrics label it.
    pub backend: &'static str,
}

impl Limits {
    /// For a show's joins and holds: a call of 256 takes about a millisecond of the show's
    /// Redis master, so other shows on it never wait long; a burst of 10,000 requests at once
    /// for one show waits rather than being shed; and a caller waits for the call in flight,
    /// then its own, each bounded by the store's timeout.
    pub fn per_show(backend: &'static str, store_timeout: Duration) -> Self {
        Self {
            max_batch: 256,
            in_flight: 1,
            max_waiting: 65_536,
            wait: store_timeout * 2 + Duration::from_millis(100),
            backend,
        }
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> Batcher<Req, Rep> {
    /// Must be called inside a tokio runtime: the per-show tasks run on it.
    pub fn new(call: BatchCall<Req, Rep>, limits: Limits) -> Self {
        Self { queues: RwLock::default(), call, runtime: Handle::current(), limits }
    }

    /// Runs `request` in the show's next call and returns its reply.
    pub async fn call(&self, show: ShowId, request: Req) -> Result<Rep, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue(show).try_send(Pending { request, reply }).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!("boxoffice_batch_shed_total", "backend" => self.limits.backend).increment(1);
                StoreError::Unavailable(format!("too many requests waiting for show {show}"))
            }
            mpsc::error::TrySendError::Closed(_) => StoreError::Unavailable("the show's call queue stopped".into()),
        })?;
        match tokio::time::timeout(self.limits.wait, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Unavailable("the batched call was dropped".into())),
            Err(_) => Err(StoreError::Unavailable(format!("no answer from the store within {:?}", self.limits.wait))),
        }
    }

    fn queue(&self, show: ShowId) -> mpsc::Sender<Pending<Req, Rep>> {
        if let Some(queue) =
            self.queues.read().unwrap_or_else(PoisonError::into_inner).get(&show).filter(|q| !q.is_closed())
        {
            return queue.clone();
        }
        let mut queues = self.queues.write().unwrap_or_else(PoisonError::into_inner);
        let queue = queues.entry(show).or_insert_with(|| self.start(show));
        if queue.is_closed() {
            *queue = self.start(show);
        }
        queue.clone()
    }

    fn start(&self, show: ShowId) -> mpsc::Sender<Pending<Req, Rep>> {
        let (sender, receiver) = mpsc::channel(self.limits.max_waiting);
        self.runtime.spawn(drain(show, receiver, self.call.clone(), self.limits));
        sender
    }
}

/// Up to `in_flight` calls at a time for the show, each with everything waiting (up to
/// `max_batch`) when it starts.
async fn drain<Req, Rep>(
    show: ShowId,
    mut receiver: mpsc::Receiver<Pending<Req, Rep>>,
    call: BatchCall<Req, Rep>,
    limits: Limits,
) {
    let mut running = FuturesUnordered::new();
    let mut batch = Vec::with_capacity(limits.max_batch);
    loop {
        tokio::select! {
            biased;
            Some(()) = running.next(), if !running.is_empty() => {}
            received = receiver.recv_many(&mut batch, limits.max_batch), if running.len() < limits.in_flight => {
                if received == 0 {
                    break;
                }
                // Requests whose callers gave up waiting are not run: under overload, work nobody
                // waits for any more would only delay the requests behind it.
                batch.retain(|pending| !pending.reply.is_closed());
                if !batch.is_empty() {
                    running.push(run_batch(show, std::mem::take(&mut batch), call.clone(), limits.backend));
                }
            }
        }
    }
    while running.next().await.is_some() {}
}

async fn run_batch<Req, Rep>(
    show: ShowId,
    batch: Vec<Pending<Req, Rep>>,
    call: BatchCall<Req, Rep>,
    backend: &'static str,
) {
    metrics::histogram!("boxoffice_batch_size", "backend" => backend).record(batch.len() as f64);
    let (requests, replies): (Vec<Req>, Vec<_>) = batch.into_iter().map(|p| (p.request, p.reply)).unzip();
    let count = requests.len();
    let started = tokio::time::Instant::now();
    let outcome = call(show, requests).await.and_then(|results| match results.len() {
        n if n == count => Ok(results),
        n => Err(StoreError::Internal(anyhow::anyhow!("a batched call of {count} requests returned {n} replies"))),
    });
    metrics::histogram!("boxoffice_batch_call_seconds", "backend" => backend).record(started.elapsed().as_secs_f64());
    deliver(replies, outcome);
}

/// Each caller gets its own result, or the call's error.
fn deliver<Rep>(replies: Vec<oneshot::Sender<Result<Rep, StoreError>>>, outcome: Result<Vec<Rep>, StoreError>) {
    match outcome {
        Ok(results) => replies.into_iter().zip(results).for_each(|(reply, result)| drop(reply.send(Ok(result)))),
        Err(error) => replies.into_iter().for_each(|reply| drop(reply.send(Err(error.copy())))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A call that records the batches it was given and echoes each request doubled.
    fn recording(batches: Arc<Mutex<Vec<Vec<u32>>>>, pause: Duration) -> BatchCall<u32, u32> {
        Arc::new(move |_, requests: Vec<u32>| {
            let batches = batches.clone();
            Box::pin(async move {
                batches.lock().unwrap().push(requests.clone());
                tokio::time::sleep(pause).await;
                Ok(requests.iter().map(|r| r * 2).collect())
            })
        })
    }

    fn limits(max_batch: usize, max_waiting: usize) -> Limits {
        Limits { max_batch, in_flight: 1, max_waiting, wait: Duration::from_secs(5), backend: "test" }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_request_goes_at_once_and_gets_its_own_reply() {
        let batches = Arc::default();
        let batcher = Batcher::new(recording(Arc::clone(&batches), Duration::from_millis(1)), limits(8, 64));
        assert_eq!(batcher.call(ShowId(1), 21).await.unwrap(), 42);
        assert_eq!(*batches.lock().unwrap(), vec![vec![21]]);
    }

    fn spawn_call(batcher: &Arc<Batcher<u32, u32>>, n: u32) -> tokio::task::JoinHandle<Result<u32, StoreError>> {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.call(ShowId(1), n).await })
    }

    /// Lets every task run until all of them wait (time is paused, so nothing else moves).
    async fn settle() {
        tokio::time::sleep(Duration::from_micros(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn requests_arriving_during_a_call_go_together_in_order_in_the_next_one() {
        let batches = Arc::default();
        let batcher = Arc::new(Batcher::new(recording(Arc::clone(&batches), Duration::from_millis(10)), limits(3, 64)));
        let mut calls = vec![spawn_call(&batcher, 0)];
        settle().await;
        calls.extend((1..7).map(|n| spawn_call(&batcher, n)));
        let mut replies = Vec::new();
        for call in calls {
            replies.push(call.await.unwrap().unwrap());
        }
        assert_eq!(replies, [0, 2, 4, 6, 8, 10, 12]);
        assert_eq!(*batches.lock().unwrap(), vec![vec![0], vec![1, 2, 3], vec![4, 5, 6]]);
    }

    #[tokio::test(start_paused = true)]
    async fn with_two_calls_in_flight_the_next_starts_during_the_first_and_the_rest_wait_for_one_to_end() {
        let batches = Arc::default();
        let two = Limits { in_flight: 2, ..limits(3, 64) };
        let batcher = Arc::new(Batcher::new(recording(Arc::clone(&batches), Duration::from_millis(10)), two));
        let mut calls = vec![spawn_call(&batcher, 0)];
        settle().await;
        calls.push(spawn_call(&batcher, 1));
        settle().await;
        assert_eq!(*batches.lock().unwrap(), vec![vec![0], vec![1]], "the second went while the first was under way");
        calls.extend((2..6).map(|n| spawn_call(&batcher, n)));
        settle().await;
        assert_eq!(batches.lock().unwrap().len(), 2, "both slots taken: the rest wait");
        let mut replies = Vec::new();
        for call in calls {
            replies.push(call.await.unwrap().unwrap());
        }
        assert_eq!(replies, [0, 2, 4, 6, 8, 10]);
        assert_eq!(*batches.lock().unwrap(), vec![vec![0], vec![1], vec![2, 3, 4], vec![5]]);
    }

    #[tokio::test(start_paused = true)]
    async fn shows_are_batched_apart() {
        let batches = Arc::default();
        let batcher = Batcher::new(recording(Arc::clone(&batches), Duration::from_millis(1)), limits(8, 64));
        let (a, b) = tokio::join!(batcher.call(ShowId(1), 1), batcher.call(ShowId(2), 2));
        assert_eq!((a.unwrap(), b.unwrap()), (2, 4));
        assert_eq!(batches.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_sheds_new_requests_as_unavailable() {
        let batches = Arc::default();
        let batcher = Arc::new(Batcher::new(recording(Arc::clone(&batches), Duration::from_secs(1)), limits(1, 1)));
        let in_flight = spawn_call(&batcher, 1);
        settle().await;
        let waiting = spawn_call(&batcher, 2);
        settle().await;
        assert!(
            matches!(batcher.call(ShowId(1), 3).await, Err(StoreError::Unavailable(_))),
            "the queue of one is taken"
        );
        assert_eq!(in_flight.await.unwrap().unwrap(), 2);
        assert_eq!(waiting.await.unwrap().unwrap(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_call_fails_every_request_in_it() {
        let call: BatchCall<u32, u32> =
            Arc::new(|_, _| Box::pin(async { Err(StoreError::Unavailable("redis timed out".into())) }));
        let batcher = Batcher::new(call, limits(8, 64));
        let (a, b) = tokio::join!(batcher.call(ShowId(1), 1), batcher.call(ShowId(1), 2));
        assert!(matches!(a, Err(StoreError::Unavailable(_))) && matches!(b, Err(StoreError::Unavailable(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_answering_the_wrong_number_of_requests_fails_them_all() {
        let call: BatchCall<u32, u32> = Arc::new(|_, _| Box::pin(async { Ok(vec![7]) }));
        let batcher = Batcher::new(call, limits(8, 64));
        let (a, b) = tokio::join!(batcher.call(ShowId(1), 1), batcher.call(ShowId(1), 2));
        assert!(matches!(a, Err(StoreError::Internal(_))) && matches!(b, Err(StoreError::Internal(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_whose_callers_gave_up_are_not_run() {
        let batches = Arc::default();
        let slow = recording(Arc::clone(&batches), Duration::from_secs(3));
        let batcher = Arc::new(Batcher::new(slow, Limits { wait: Duration::from_secs(2), ..limits(8, 64) }));
        let first = spawn_call(&batcher, 1);
        settle().await;
        let abandoned = spawn_call(&batcher, 2);
        assert!(matches!(abandoned.await.unwrap(), Err(StoreError::Unavailable(_))), "gave up after 2 s");
        assert!(first.await.unwrap().is_err(), "the 3 s call outlasted its caller too");
        let _waiting = spawn_call(&batcher, 3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(*batches.lock().unwrap(), vec![vec![1], vec![3]], "request 2 never reached Redis");
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_never_waits_longer_than_the_bound() {
        let batches = Arc::default();
        let slow = recording(Arc::clone(&batches), Duration::from_secs(60));
        let batcher = Batcher::new(slow, Limits { wait: Duration::from_secs(2), ..limits(8, 64) });
        let started = tokio::time::Instant::now();
        assert!(matches!(batcher.call(ShowId(1), 1).await, Err(StoreError::Unavailable(_))));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
