//! What the agent's threads share and `/health` and `/metrics` show: the frame queues, each
//! source's numbers, the disk and clock status.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use argus_video::Frame;

use crate::outbox::Outbox;

/// A bounded frame queue: live sources drop the oldest frame when full, files wait.
#[derive(Debug)]
pub struct FrameQueue {
    frames: Mutex<VecDeque<(u64, Frame)>>,
    cond: Condvar,
    capacity: usize,
    /// Frames dropped because the worker fell behind.
    pub dropped: AtomicU64,
    /// The source has ended (no frame will come any more).
    pub ended: AtomicBool,
}

impl FrameQueue {
    /// A queue of `capacity` frames.
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: Mutex::new(VecDeque::with_capacity(capacity)),
            cond: Condvar::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        }
    }

    /// Adds a frame: waits for room (`live` = false) or drops the oldest (`live` = true).
    pub fn push(&self, index: u64, f: Frame, live: bool) {
        let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        if live {
            while q.len() >= self.capacity {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            while q.len() >= self.capacity {
                q = self.cond.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        }
        q.push_back((index, f));
        self.cond.notify_all();
    }

    /// Says the source has ended: once its frames are taken, [`FrameQueue::next`] ends.
    pub fn end(&self) {
        let _q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        self.ended.store(true, Ordering::SeqCst);
        self.cond.notify_all();
    }

    /// Waits for the oldest frame; `None` once the source has ended and every frame is taken.
    pub fn next(&self) -> Option<(u64, Frame)> {
        let mut q = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(f) = q.pop_front() {
                self.cond.notify_all();
                return Some(f);
            }
            if self.ended.load(Ordering::SeqCst) {
                return None;
            }
            q = self
                .cond
                .wait_timeout(q, std::time::Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Frames waiting.
    pub fn depth(&self) -> usize {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Live numbers of one source, for `/health` and `/metrics`.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Frames decoded.
    pub decoded: AtomicU64,
    /// Frames analysed.
    pub analysed: AtomicU64,
    /// Hits made.
    pub hits: AtomicU64,
    /// Total inference time, microseconds.
    pub infer_us: AtomicU64,
    /// Reconnections or failures.
    pub errors: AtomicU64,
    /// Whether frames are flowing now.
    pub up: AtomicBool,
    /// The last error, for `/health`.
    pub last_error: Mutex<Option<String>>,
}

/// Everything `/health` and `/metrics` show.
#[derive(Debug)]
pub struct AgentState {
    /// Agent id.
    pub agent_id: String,
    /// Per source: id, queue, stats.
    pub sources: Vec<(String, Arc<FrameQueue>, Arc<SourceStats>)>,
    /// The outbox.
    pub outbox: Arc<Outbox>,
    /// The publisher's counters.
    pub publish: Option<Arc<crate::publish::PublishStats>>,
    /// When the agent started.
    pub started: Instant,
    /// The outbox's disk.
    pub disk: Arc<DiskStatus>,
    /// The clock against the docks'.
    pub clock: Arc<ClockStatus>,
}

/// Where the outbox lives, and whether hits are waiting in memory for space there.
#[derive(Debug)]
pub struct DiskStatus {
    /// The outbox folder.
    pub dir: PathBuf,
    /// A hit could not be written for want of space (or another disk fault): hits wait in
    /// memory and frames are dropped until it can.
    pub full: AtomicBool,
    /// Hits held in memory meanwhile.
    pub held: AtomicU64,
}

impl DiskStatus {
    /// The status of the disk holding `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            full: AtomicBool::new(false),
            held: AtomicU64::new(0),
        }
    }

    /// Free space for an unprivileged writer there, bytes.
    pub fn free_bytes(&self) -> Option<u64> {
        let s = rustix::fs::statvfs(&self.dir).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
}

/// This agent's clock against a reference (a dock's OSD timestamps, or triage's receipts): the
/// median offset of the last samples.
#[derive(Debug, Default)]
pub struct ClockStatus {
    samples: Mutex<VecDeque<f64>>,
    /// Messages refused for a time outside the skew window.
    pub refused: AtomicU64,
}

/// Offset samples kept.
const CLOCK_SAMPLES: usize = 64;

impl ClockStatus {
    /// Notes one offset: local time minus the reference's, seconds.
    pub fn record(&self, offset_s: f64) {
        if !offset_s.is_finite() {
            return;
        }
        let mut v = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() == CLOCK_SAMPLES {
            v.pop_front();
        }
        v.push_back(offset_s);
    }

    /// The median offset, seconds, once a sample exists.
    pub fn offset_s(&self) -> Option<f64> {
        let v = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut s: Vec<f64> = v.iter().copied().collect();
        if s.is_empty() {
            return None;
        }
        s.sort_by(f64::total_cmp);
        Some(s[s.len() / 2])
    }

    /// What `/health` shows of it.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "offset_s": self.offset_s(),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }
}
