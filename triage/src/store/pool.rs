//! Stores for readers: the HTTP API reads through connections of its own, never through the
//! ingest's, so a read never waits for a batch to commit (SQLite's write-ahead log lets
//! readers run beside the writer; PostgreSQL serves each connection apart).
//!
//! Reads run on threads of their own, each with its own store; the public readers' pool runs at
//! a lower CPU priority than the rest of triage (nice +10): when the machine is busy, ingest goes first and readers wait,
//! so a crowd of readers slows itself down, not the intake. The queue in front of them is
//! bounded; a request beyond it waits for room. A store whose connection failed is dropped and
//! made again for the next read; a read that panics costs that read, not its thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::{Store, StoreError};

/// The niceness of the public readers' threads (0 is normal, 19 the lowest priority).
pub const NICE: i32 = 10;

/// Reads waiting per reader thread before a new one waits to be queued.
const QUEUE_PER_THREAD: usize = 4;

/// One read: gets the thread's store (or why there is none) and says whether to drop it.
type Job = Box<dyn FnOnce(Result<&mut dyn Store, StoreError>) -> bool + Send>;

/// A bounded pool of reader threads, each with a store opened from one URL.
pub struct Pool {
    url: String,
    jobs: flume::Sender<Job>,
    threads: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &argus_core::redact::url(&self.url))
            .field("threads", &self.threads)
            .field("queued", &self.jobs.len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of `size` reader threads on `url` at niceness `nice` (each opens its store when
    /// first needed). The threads end when the pool is dropped.
    pub fn new(url: &str, size: usize, nice: i32) -> Result<Arc<Self>, std::io::Error> {
        let size = size.max(1);
        let (jobs, queue) = flume::bounded::<Job>(size * QUEUE_PER_THREAD);
        for k in 0..size {
            let (queue, url) = (queue.clone(), url.to_string());
            std::thread::Builder::new()
                .name(format!("triage-read-{k}"))
                .spawn(move || reader(&url, &queue, nice))?;
        }
        Ok(Arc::new(Self {
            url: url.to_string(),
            jobs,
            threads: size,
        }))
    }

    /// Runs `f` on a reader thread's store and waits for its answer.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |store| {
            let out = store.and_then(f);
            let broken = out.as_ref().is_err_and(StoreError::is_transient);
            let _ = tx.send(out);
            broken
        });
        self.jobs
            .send_async(job)
            .await
            .map_err(|_| StoreError::Unavailable("the readers have stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Failed("it gave no answer (see the log)".into()))?
    }
}

/// A reader thread: takes jobs until the pool is gone.
fn reader(url: &str, queue: &flume::Receiver<Job>, nice: i32) {
    if nice > 0 {
        lower_priority(nice);
    }
    let mut store: Option<Box<dyn Store>> = None;
    while let Ok(job) = queue.recv() {
        if store.is_none() {
            match super::open(url) {
                Ok(s) => store = Some(s),
                Err(e) => {
                    job(Err(e));
                    continue;
                }
            }
        }
        let Some(s) = store.as_mut() else { continue };
        match std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(s.as_mut())))) {
            Ok(false) => {}
            Ok(true) => store = None,
            Err(_) => {
                tracing::error!("a read panicked; its store is opened again");
                store = None;
            }
        }
    }
}

/// Lowers this thread's CPU priority to `nice` (on Linux a thread has a niceness of its own).
fn lower_priority(nice: i32) {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(error = %e, "cannot lower a reader thread's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn niceness(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        // The 19th field of the line, the 17th after the name.
        fields[16].parse().unwrap()
    }

    #[test]
    fn reads_run_on_low_priority_threads_and_survive_failures() {
        let tmp = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", tmp.path().join("t.db").display());
        drop(super::super::open(&url).unwrap());
        let pool = Pool::new(&url, 2, NICE).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let tid = pool
                .read(|s| {
                    s.counts()?;
                    Ok(rustix::thread::gettid().as_raw_nonzero().get())
                })
                .await
                .unwrap();
            assert_eq!(niceness(tid), NICE, "a reader at normal priority");
            // A read that panics is an error for its caller (a failure, not a store that is
            // away: the request answers 500, not 503); the pool goes on serving.
            let e = pool
                .read(|_| -> Result<(), StoreError> { panic!("a bug in one read") })
                .await
                .unwrap_err();
            assert!(
                matches!(e, StoreError::Failed(_)) && !e.is_transient(),
                "{e}"
            );
            for _ in 0..4 {
                pool.read(|s| s.counts()).await.unwrap();
            }
        });
        // A store that cannot be opened is an error for each read, not a dead thread.
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let bad = Pool::new(&format!("sqlite:{}/t.db", file.display()), 1, 0).unwrap();
        rt.block_on(async {
            for _ in 0..2 {
                assert!(bad.read(|s| s.counts()).await.is_err());
            }
        });
    }
}
