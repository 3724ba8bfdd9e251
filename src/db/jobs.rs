//! The job runner under the background workers (provisioning, delivery): one loop that
//! claims due work, runs each piece in a task of its own, backs off while the database is
//! unreachable, wakes on a notify, survives a panicking piece, and stops in order.
//!
//! **Panics.** A panic while claiming or running is logged; a piece that panicked before
//! its result was known is handed back ([`Job::hand_back`] with [`Cut::Panicked`]); the
//! runner waits `after_error` and goes on.
//!
//! **Stopping.** Once the `stop` future completes nothing more is claimed (a claim under way
//! gets [`CLAIM_GRACE`] to finish; what it brings is handed back unstarted). The pieces in
//! flight run on until the drain time is up; those still running then are aborted and handed
//! back ([`Cut::Stopped`], or [`Cut::NotStarted`] when their task never began), within
//! [`HAND_BACK_TIMEOUT`]. The runner's handle completes when that is done.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};

/// How long a stop waits for a claim under way: a claim that committed must reach its
/// pieces (it is short); what it claimed is then handed back.
pub const CLAIM_GRACE: Duration = Duration::from_secs(1);
/// The most a stopping runner spends handing back what the drain time cut off.
pub const HAND_BACK_TIMEOUT: Duration = Duration::from_millis(700);

/// A kind of background work: how to claim it, run it and hand it back.
pub trait Job: Send + Sync + 'static {
    /// One claimed piece of work.
    type Work: Send + 'static;
    /// What the runner keeps of a piece while it runs, to hand it back.
    type Ticket: Send + 'static;
    /// The worker's name in the log.
    const NAME: &'static str;

    fn ticket(&self, work: &Self::Work) -> Self::Ticket;

    /// Claims up to `limit` due pieces; none when nothing is due.
    fn claim(&self, limit: usize) -> impl Future<Output = anyhow::Result<Vec<Self::Work>>> + Send;

    /// Runs one piece to its end. Calls [`Flight::settle`] once its result is known and is
    /// being recorded: from then on a stop or a panic does not hand it back. An error is
    /// logged and makes the runner wait before its next claim (a lost database: see
    /// [`crate::db::retry_wait`]).
    fn run(&self, work: Self::Work, flight: Flight) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Hands back a piece whose result is not known: claimed as the stop came, cut off by the
    /// end of the drain time, or panicked. Logs its own failures.
    fn hand_back(&self, ticket: Self::Ticket, cut: Cut) -> impl Future<Output = ()> + Send;
}

/// Why a piece is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Claimed, never started: as if it had not been claimed.
    NotStarted,
    /// Started, then cut off by the end of the drain time: it may have had an effect.
    Stopped,
    /// Started, then panicked.
    Panicked,
}

/// How a runner runs.
#[derive(Clone)]
pub struct Options {
    /// Pieces in flight at once.
    pub concurrency: usize,
    /// The wait when nothing was due (cut short by `wake`, a piece ending, or the stop).
    pub idle: Duration,
    /// The wait after a failure other than a lost database, or a panic.
    pub after_error: Duration,
    /// Notified when new work may be due: the runner claims at once rather than after `idle`.
    pub wake: Arc<Notify>,
}

impl Options {
    pub fn new(concurrency: usize, idle: Duration, after_error: Duration) -> Self {
        Self {
            concurrency: concurrency.max(1),
            idle,
            after_error,
            wake: Arc::new(Notify::new()),
        }
    }
}

/// A piece in flight: whether its task began and whether its result is known; and the
/// runner's stop, for a piece that must bound its own retries by the drain time.
#[derive(Clone)]
pub struct Flight {
    state: Arc<AtomicU8>,
    claimed_at: Instant,
    stopping: watch::Receiver<Option<Instant>>,
}

const CLAIMED: u8 = 0;
const STARTED: u8 = 1;
const SETTLED: u8 = 2;

impl Flight {
    /// A flight for a piece run outside a runner (tests and tools): never stopping.
    pub fn detached() -> Self {
        let (_, stopping) = watch::channel(None);
        Self {
            state: Arc::new(AtomicU8::new(STARTED)),
            claimed_at: Instant::now(),
            stopping,
        }
    }

    /// The result is known: the piece is no longer handed back.
    pub fn settle(&self) {
        self.state.store(SETTLED, Ordering::SeqCst);
    }

    /// When the piece was claimed.
    pub fn claimed_at(&self) -> Instant {
        self.claimed_at
    }

    /// `Some(end of the drain time)` once the runner is stopping.
    pub fn stopping(&self) -> &watch::Receiver<Option<Instant>> {
        &self.stopping
    }

    fn start(&self) {
        let _ = self
            .state
            .compare_exchange(CLAIMED, STARTED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// What to hand back as, when cut off now; `None` once settled.
    fn cut(&self, cut: Cut) -> Option<Cut> {
        match self.state.load(Ordering::SeqCst) {
            CLAIMED => Some(Cut::NotStarted),
            STARTED => Some(cut),
            _ => None,
        }
    }
}

/// Starts a runner for `job`, stopping once `stop` completes and draining for up to `drain`
/// (see the module documentation). Aborting the handle aborts the pieces in flight too,
/// without handing anything back.
pub fn spawn<J: Job>(
    job: J,
    options: Options,
    stop: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> JoinHandle<()> {
    tokio::spawn(run(Arc::new(job), options, stop, drain))
}

struct Runner<J: Job> {
    job: Arc<J>,
    options: Options,
    running: JoinSet<anyhow::Result<()>>,
    flights: HashMap<tokio::task::Id, (J::Ticket, Flight)>,
    /// Handed back once the runner has stopped.
    left: Vec<(J::Ticket, Cut)>,
    /// Connection errors in a row (see `db::retry_wait`).
    db_failures: u32,
    /// The wait before the next claim, after a failure.
    pause: Option<Duration>,
}

async fn run<J: Job>(job: Arc<J>, options: Options, stop: impl Future<Output = ()> + Send + 'static, drain: Duration) {
    // `Some(end of the drain time)` once `stop` has completed.
    let (stopping_tx, mut stopping) = watch::channel(None::<Instant>);
    // Ended with the runner, also when the runner is aborted.
    let _stop_task = AbortOnDrop(tokio::spawn(async move {
        stop.await;
        let _ = stopping_tx.send(Some(Instant::now() + drain));
        // Kept until the runner ends, so `changed` never reports a closed channel.
        std::future::pending::<()>().await;
    }));
    let mut runner = Runner {
        job,
        options,
        running: JoinSet::new(),
        flights: HashMap::new(),
        left: Vec::new(),
        db_failures: 0,
        pause: None,
    };
    while stopping.borrow_and_update().is_none() {
        while let Some(joined) = runner.running.try_join_next_with_id() {
            runner.ended(joined, Cut::Panicked).await;
        }
        if let Some(wait) = runner.pause.take() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stopping.changed() => {}
            }
            continue;
        }
        let free = runner.options.concurrency.saturating_sub(runner.running.len());
        if free == 0 {
            tokio::select! {
                Some(joined) = runner.running.join_next_with_id() => runner.ended(joined, Cut::Panicked).await,
                _ = stopping.changed() => {}
            }
            continue;
        }
        let claimed = {
            let job = runner.job.clone();
            let claiming = std::panic::AssertUnwindSafe(job.claim(free)).catch_unwind();
            tokio::pin!(claiming);
            tokio::select! {
                claimed = &mut claiming => claimed,
                _ = stopping.changed() => match tokio::time::timeout(CLAIM_GRACE, claiming).await {
                    Ok(claimed) => claimed,
                    Err(_) => break,
                },
            }
        };
        match claimed {
            Ok(Ok(claimed)) if claimed.is_empty() => {
                runner.db_failures = 0;
                let wake = runner.options.wake.clone();
                tokio::select! {
                    _ = tokio::time::sleep(runner.options.idle) => {}
                    _ = wake.notified() => {}
                    Some(joined) = runner.running.join_next_with_id() => runner.ended(joined, Cut::Panicked).await,
                    _ = stopping.changed() => {}
                }
            }
            Ok(Ok(claimed)) if stopping.borrow().is_some() => {
                for work in &claimed {
                    runner.left.push((runner.job.ticket(work), Cut::NotStarted));
                }
            }
            Ok(Ok(claimed)) => {
                runner.db_failures = 0;
                let claimed_at = Instant::now();
                for work in claimed {
                    let flight = Flight {
                        state: Arc::new(AtomicU8::new(CLAIMED)),
                        claimed_at,
                        stopping: stopping.clone(),
                    };
                    let ticket = runner.job.ticket(&work);
                    let (job, task_flight) = (runner.job.clone(), flight.clone());
                    let id = runner
                        .running
                        .spawn(async move {
                            task_flight.start();
                            job.run(work, task_flight).await
                        })
                        .id();
                    runner.flights.insert(id, (ticket, flight));
                }
            }
            Ok(Err(err)) => runner.failed(err),
            Err(panic) => {
                tracing::error!(
                    worker = J::NAME,
                    panic = panic_message(&*panic),
                    "claiming work panicked; retrying"
                );
                runner.pause = Some(runner.options.after_error);
            }
        }
    }
    // Draining: the pieces in flight finish (each within its own timeout), until the drain
    // time is up.
    let deadline = stopping.borrow().unwrap_or_else(Instant::now);
    let in_flight = runner.running.len();
    let _ = tokio::time::timeout_at(deadline.into(), async {
        while let Some(joined) = runner.running.join_next_with_id().await {
            runner.ended(joined, Cut::Panicked).await;
        }
    })
    .await;
    runner.running.abort_all();
    while let Some(joined) = runner.running.join_next_with_id().await {
        runner.ended(joined, Cut::Stopped).await;
    }
    let left = std::mem::take(&mut runner.left);
    if !left.is_empty() {
        tracing::warn!(
            worker = J::NAME,
            pieces = left.len(),
            "work still in flight at the end of the drain time is handed back"
        );
    }
    let job = runner.job.clone();
    let hand_back = async {
        for (ticket, cut) in left {
            job.hand_back(ticket, cut).await;
        }
    };
    if tokio::time::timeout(HAND_BACK_TIMEOUT, hand_back).await.is_err() {
        tracing::error!(
            worker = J::NAME,
            "handing work back took too long; it is claimed again when its claim runs out"
        );
    }
    tracing::info!(worker = J::NAME, in_flight, "worker stopped");
}

impl<J: Job> Runner<J> {
    /// A piece's task ended: `Ok` or `Err` from [`Job::run`], a panic, or (while stopping)
    /// an abort, which hands it back as `cut`.
    async fn ended(&mut self, joined: Result<(tokio::task::Id, anyhow::Result<()>), JoinError>, cut: Cut) {
        match joined {
            Ok((id, result)) => {
                self.flights.remove(&id);
                match result {
                    Ok(()) => self.db_failures = 0,
                    Err(err) => self.failed(err),
                }
            }
            Err(err) => {
                let Some((ticket, flight)) = self.flights.remove(&err.id()) else {
                    return;
                };
                if err.is_panic() {
                    let panic = err.into_panic();
                    tracing::error!(
                        worker = J::NAME,
                        panic = panic_message(&*panic),
                        "a piece of work panicked; it is handed back and the worker goes on"
                    );
                    if let Some(cut) = flight.cut(Cut::Panicked) {
                        self.job.hand_back(ticket, cut).await;
                    }
                    self.pause = Some(self.options.after_error);
                } else if let Some(cut) = flight.cut(cut) {
                    self.left.push((ticket, cut));
                }
            }
        }
    }

    fn failed(&mut self, err: anyhow::Error) {
        if crate::db::is_lost_database(&err) {
            let wait = crate::db::retry_wait(self.db_failures);
            self.db_failures = self.db_failures.saturating_add(1);
            tracing::warn!(
                worker = J::NAME,
                error = format!("{err:#}"),
                ?wait,
                "the worker lost the database; retrying"
            );
            self.pause = Some(wait).filter(|w| !w.is_zero());
        } else {
            self.db_failures = 0;
            tracing::error!(
                worker = J::NAME,
                error = format!("{err:#}"),
                "the worker failed; retrying"
            );
            self.pause = Some(self.options.after_error);
        }
    }
}

/// What a panic said, when it said it as text.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Pieces are numbers: 0 panics, 1 sleeps for a second, others end at once.
    #[derive(Default)]
    struct Numbers {
        due: Mutex<Vec<u32>>,
        done: Mutex<Vec<u32>>,
        handed_back: Mutex<Vec<(u32, Cut)>>,
    }

    impl Job for Arc<Numbers> {
        type Work = u32;
        type Ticket = u32;
        const NAME: &'static str = "numbers";

        fn ticket(&self, work: &u32) -> u32 {
            *work
        }

        async fn claim(&self, limit: usize) -> anyhow::Result<Vec<u32>> {
            let mut due = self.due.lock().unwrap();
            let n = limit.min(due.len());
            Ok(due.drain(..n).collect())
        }

        async fn run(&self, work: u32, flight: Flight) -> anyhow::Result<()> {
            match work {
                0 => panic!("piece 0 panics"),
                1 => tokio::time::sleep(Duration::from_secs(1)).await,
                _ => {}
            }
            flight.settle();
            self.done.lock().unwrap().push(work);
            Ok(())
        }

        async fn hand_back(&self, ticket: u32, cut: Cut) {
            self.handed_back.lock().unwrap().push((ticket, cut));
        }
    }

    fn options() -> Options {
        Options::new(2, Duration::from_millis(10), Duration::from_millis(10))
    }

    #[tokio::test]
    async fn a_panicking_piece_is_handed_back_and_the_worker_goes_on() {
        let numbers = Arc::new(Numbers::default());
        numbers.due.lock().unwrap().extend([2, 0, 3]);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let options = options();
        let worker = spawn(
            numbers.clone(),
            options.clone(),
            async move {
                let _ = stop_rx.await;
            },
            Duration::from_secs(5),
        );
        let started = Instant::now();
        while numbers.done.lock().unwrap().len() < 2 && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Work that comes after the panic is claimed too, woken without waiting `idle`.
        numbers.due.lock().unwrap().push(4);
        options.wake.notify_one();
        while numbers.done.lock().unwrap().len() < 3 && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!worker.is_finished(), "the worker is still running");
        let mut done = numbers.done.lock().unwrap().clone();
        done.sort();
        assert_eq!(done, [2, 3, 4]);
        assert_eq!(*numbers.handed_back.lock().unwrap(), [(0, Cut::Panicked)]);
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(2), worker)
            .await
            .expect("stops")
            .unwrap();
    }

    #[tokio::test]
    async fn a_stop_drains_what_is_in_flight_and_hands_back_what_the_drain_cuts_off() {
        // Drained: piece 1 takes a second and the drain time is two.
        let numbers = Arc::new(Numbers::default());
        numbers.due.lock().unwrap().push(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let worker = spawn(numbers.clone(), options(), stop, Duration::from_secs(2));
        while !numbers.due.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = stop_tx.send(());
        numbers.due.lock().unwrap().push(5);
        tokio::time::timeout(Duration::from_secs(3), worker)
            .await
            .expect("stops")
            .unwrap();
        assert_eq!(
            *numbers.done.lock().unwrap(),
            [1],
            "drained; nothing claimed after the stop"
        );
        assert!(numbers.handed_back.lock().unwrap().is_empty());

        // Cut off: the drain time is shorter than the piece.
        let numbers = Arc::new(Numbers::default());
        numbers.due.lock().unwrap().push(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = async move {
            let _ = stop_rx.await;
        };
        let worker = spawn(numbers.clone(), options(), stop, Duration::from_millis(100));
        while !numbers.due.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(1), worker)
            .await
            .expect("stops at the end of the drain time")
            .unwrap();
        assert!(numbers.done.lock().unwrap().is_empty());
        assert_eq!(*numbers.handed_back.lock().unwrap(), [(1, Cut::Stopped)]);
    }
}
