//! Runs sequences against the model and an engine side by side, in worker threads each with
//! an instance of its own (a deployment's store is the whole deployment's: a move to
//! Postgres must not cross another sequence), and shrinks a divergence to its shortest form.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use boxoffice::domain::model::ShowModel;
use boxoffice::domain::queue::QueueConfig;
use boxoffice::store::Mode;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use crate::engine::Engine;
use boxoffice::domain::model::Request;

use crate::steps::{SEATS, script, sequence, starting_config};
use crate::support::{TestApp, spawn_app};

/// Which engine answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Redis, the show's queue on this many lanes (1: one slot).
    Redis { lanes: u32 },
    /// The Postgres fallback, the deployment pinned to it.
    Postgres,
    /// Redis, the deployment moving to Postgres and back at random steps.
    Moving,
}

/// Longest sequence generated.
const MAX_STEPS: usize = 40;

pub struct Report {
    pub sequences: u64,
    pub divergences: Vec<String>,
    pub seconds: f64,
}

/// How a run draws its sequences: the same ones each run (from a seed), or new ones.
#[derive(Debug, Clone, Copy)]
pub enum Draw {
    Seeded(u64),
    Random,
}

/// Runs `sequences` random sequences over `workers` threads; each divergence is shrunk and
/// reported, and the run goes on (`keep_going`) or stops there.
pub fn check(kind: Kind, sequences: u64, workers: usize, keep_going: bool, draw: Draw) -> Report {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let done = AtomicU64::new(0);
    let started = Instant::now();
    let divergences = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|n| {
                let (runtime, done) = (&runtime, &done);
                let share = sequences.div_ceil(workers as u64);
                let draw = match draw {
                    Draw::Seeded(seed) => Draw::Seeded(seed.wrapping_add(n as u64 * 1_000_003)),
                    Draw::Random => Draw::Random,
                };
                scope.spawn(move || worker(runtime, kind, share, keep_going, done, draw))
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    Report { sequences: done.load(Ordering::Relaxed), divergences, seconds: started.elapsed().as_secs_f64() }
}

fn worker(
    runtime: &tokio::runtime::Runtime,
    kind: Kind,
    share: u64,
    keep_going: bool,
    done: &AtomicU64,
    draw: Draw,
) -> Vec<String> {
    let mut divergences = Vec::new();
    // Sequences this worker ran, those its shrinking ran included.
    let ran = AtomicU64::new(0);
    while ran.load(Ordering::Relaxed) < share {
        let cases = (share - ran.load(Ordering::Relaxed)).min(chunk(kind));
        // A rebuild copies every live show of the deployment: a new one now and then keeps
        // the moving sequences' rebuilds short.
        let app = runtime.block_on(instance(kind));
        let rng_seed = match draw {
            Draw::Seeded(seed) => RngSeed::Fixed(seed.wrapping_add(ran.load(Ordering::Relaxed))),
            Draw::Random => RngSeed::Random,
        };
        let config = Config {
            cases: cases as u32,
            failure_persistence: None,
            max_shrink_iters: 4000,
            rng_seed,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let lost = OnceLock::new();
        let outcome = runner.run(&sequence(MAX_STEPS, kind == Kind::Moving), |sequence| {
            if lost.get().is_some() {
                return Ok(());
            }
            ran.fetch_add(1, Ordering::Relaxed);
            done.fetch_add(1, Ordering::Relaxed);
            let answered = catch_unwind(AssertUnwindSafe(|| runtime.block_on(agree(&app, kind, &sequence))));
            match answered {
                Ok(agreed) => agreed.map_err(TestCaseError::fail),
                Err(panic) if !runtime.block_on(answers(&app)) => {
                    let _ = lost.set(panic_message(&panic));
                    Ok(())
                }
                Err(panic) => resume_unwind(panic),
            }
        });
        // Every sequence would fail against an instance that stopped answering, and shrinking
        // would blame each on its requests: the run stops and says so.
        if let Some(panic) = lost.get() {
            panic!("the instance under test stopped answering ({panic}); no divergence is counted");
        }
        match outcome {
            Ok(()) => {}
            Err(TestError::Fail(reason, sequence)) => {
                divergences.push(format!("{reason}\nthe sequence, shrunk:\n{}", script(&sequence)));
                if !keep_going {
                    break;
                }
            }
            Err(other) => panic!("{other}"),
        }
    }
    divergences
}

/// Sequences run on one instance.
fn chunk(kind: Kind) -> u64 {
    match kind {
        Kind::Moving => 25,
        _ => 1000,
    }
}

/// Whether the instance still answers at all (a panic in a sequence is the engine's, unless
/// the instance itself is gone).
async fn answers(app: &TestApp) -> bool {
    app.client.get(app.url("/healthz")).send().await.is_ok()
}

fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    let text = panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied());
    text.unwrap_or("a panic").to_owned()
}

async fn instance(kind: Kind) -> TestApp {
    let app = spawn_app().await;
    if kind == Kind::Postgres {
        app.state.sale.backend().pin(Mode::Postgres).await.expect("pinned to postgres");
    }
    app
}

/// Runs the sequence on a new show of the engine and the model; the first answer they
/// don't agree on, with the step it came at. The show is live from its first join or
/// change, as one on sale is, and idle before (a move to Postgres and back copies it or
/// leaves it as Redis has it). A deployment that moved ends back on Redis, whatever the
/// outcome (the next sequence, a shrunk one included, starts there).
pub async fn agree(app: &TestApp, kind: Kind, sequence: &[Request]) -> Result<(), String> {
    let lanes = match kind {
        Kind::Redis { lanes } => lanes,
        _ => 1,
    };
    let mut engine = Engine::open(app, lanes).await;
    let mut model = ShowModel::new(SEATS, QueueConfig { lanes, ..starting_config() });
    let outcome = agree_step_by_step(&mut engine, &mut model, sequence).await;
    if kind == Kind::Moving {
        engine.back_to_redis().await;
    }
    outcome
}

async fn agree_step_by_step(
    engine: &mut Engine<'_>,
    model: &mut ShowModel,
    sequence: &[Request],
) -> Result<(), String> {
    for (step, request) in sequence.iter().enumerate() {
        if let Some(keys) = engine.draw_keys() {
            model.know_draw_keys(keys);
        }
        let expected = model.apply(request);
        let got = engine.apply(request).await;
        if std::env::var_os("BOXOFFICE_MODEL_TRACE").is_some() {
            eprintln!("{step}: {request:?} -> {got:?}");
        }
        if got.as_ref() != Ok(&expected) {
            return Err(format!("step {step}, {request:?}: the model says {expected:?}, the engine {got:?}"));
        }
    }
    Ok(())
}
