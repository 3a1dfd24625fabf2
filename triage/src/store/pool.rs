//! Stores for readers: the HTTP API reads through connections of its own, never through the
//! ingest's, so a read never waits for a batch to commit (SQLite's write-ahead log lets
//! readers run beside the writer; PostgreSQL serves each connection apart).
//!
//! The pool is bounded: at most `size` reads run at once, each on a blocking thread of the
//! runtime (the stores' clients block), and a request beyond that waits for a free store. A
//! store whose connection failed is dropped and made again by the next reader.

use std::sync::{Arc, Mutex};

use super::{Store, StoreError};

/// A bounded pool of stores opened from one URL.
pub struct Pool {
    url: String,
    idle: Mutex<Vec<Box<dyn Store>>>,
    permits: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("url", &argus_core::redact::url(&self.url))
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of at most `size` stores of `url` (opened when first needed).
    pub fn new(url: &str, size: usize) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_string(),
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(size.max(1)),
        })
    }

    /// Runs `f` on a store of the pool, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("the read pool is closed".into()))?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.read_now(f))
            .await
            .map_err(|e| StoreError::Unavailable(format!("a read failed: {e}")))?
    }

    fn read_now<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().map(|mut v| v.pop()).unwrap_or_default();
        let mut store = match idle {
            Some(s) => s,
            None => super::open(&self.url)?,
        };
        let out = f(store.as_mut());
        // A store that failed for its connection is not kept; the next reader makes another.
        if !out.as_ref().is_err_and(StoreError::is_transient)
            && let Ok(mut v) = self.idle.lock()
        {
            v.push(store);
        }
        out
    }
}
