//! The durable outbox: every hit is on disk before it is published, and leaves the disk only
//! when triage's receipt says it is stored (see [`crate::publish`]). A crash, a kill -9 or a
//! power cut loses nothing: the next start publishes what is left, oldest first.
//!
//! One file per hit, `{hit_id}.json` (UUIDv7 ids sort by time), written to a temporary name,
//! synced and renamed, so a file is either whole or absent. The outbox is bounded: when it holds
//! `max` hits, [`Outbox::put`] refuses with [`OutboxError::Full`] and the caller applies the
//! agent's policy (it waits for the broker; hits are never dropped).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Outbox errors.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// A disk operation failed.
    #[error("outbox {path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The outbox holds its maximum.
    #[error("outbox is full ({max} hits waiting for the broker)")]
    Full {
        /// Its bound.
        max: usize,
    },
    /// An id that cannot be a file name.
    #[error("{0:?} is not a hit id")]
    BadId(String),
}

/// A hit waiting for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The hit id.
    pub id: String,
    /// The MQTT topic.
    pub topic: String,
    /// The payload.
    pub payload: Vec<u8>,
}

/// The outbox.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    max: usize,
    ids: Mutex<BTreeSet<String>>,
    changed: Condvar,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Outbox {
    /// Opens (creating) the outbox folder and indexes what a previous run left.
    pub fn open(dir: &Path, max: usize) -> Result<Self, OutboxError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut ids = BTreeSet::new();
        for e in fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json") {
                ids.insert(id.to_string());
            } else if name.ends_with(".tmp") {
                // A write that never reached its rename: the hit was never accepted.
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max: max.max(1),
            ids: Mutex::new(ids),
            changed: Condvar::new(),
        })
    }

    /// The id set; a panic elsewhere while holding it leaves it whole (inserts and removes
    /// are single steps), so a poisoned lock is taken over.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Stores a hit durably. Returns once it is on disk.
    pub fn put(&self, e: &Entry) -> Result<(), OutboxError> {
        if !valid_id(&e.id) {
            return Err(OutboxError::BadId(e.id.clone()));
        }
        if self.len() >= self.max {
            return Err(OutboxError::Full { max: self.max });
        }
        let tmp = self.dir.join(format!("{}.tmp", e.id));
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        // Line 1: the topic; the rest: the payload.
        f.write_all(e.topic.as_bytes()).map_err(io(&tmp))?;
        f.write_all(b"\n").map_err(io(&tmp))?;
        f.write_all(&e.payload).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        let path = self.path(&e.id);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        self.lock().insert(e.id.clone());
        self.changed.notify_all();
        Ok(())
    }

    /// Stores a hit, waiting while the outbox is full (the broker is away); gives up after
    /// `timeout` with [`OutboxError::Full`].
    pub fn put_waiting(&self, e: &Entry, timeout: Duration) -> Result<(), OutboxError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.put(e) {
                Err(OutboxError::Full { .. }) if std::time::Instant::now() < deadline => {
                    let ids = self.lock();
                    let _ = self.changed.wait_timeout(ids, Duration::from_millis(200));
                }
                r => return r,
            }
        }
    }

    /// Reads one waiting hit.
    pub fn get(&self, id: &str) -> Result<Entry, OutboxError> {
        let path = self.path(id);
        let bytes = fs::read(&path).map_err(io(&path))?;
        let nl = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        Ok(Entry {
            id: id.to_string(),
            topic: String::from_utf8_lossy(&bytes[..nl]).into_owned(),
            payload: bytes.get(nl + 1..).unwrap_or_default().to_vec(),
        })
    }

    /// Removes a hit the broker acknowledged.
    pub fn remove(&self, id: &str) -> Result<(), OutboxError> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        self.lock().remove(id);
        self.changed.notify_all();
        Ok(())
    }

    /// Whether a hit is waiting.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains(id)
    }

    /// Up to `n` waiting hit ids, oldest first, that `skip` does not pass over.
    pub fn first_ids(&self, n: usize, skip: impl Fn(&str) -> bool) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|id| !skip(id))
            .take(n)
            .cloned()
            .collect()
    }

    /// How long the oldest waiting hit has waited, by the time in its UUIDv7 id (`None` when
    /// the outbox is empty or the oldest id holds no time).
    pub fn oldest_age(&self) -> Option<Duration> {
        let ids = self.lock();
        let oldest = ids.iter().next()?;
        let (s, ns) = uuid::Uuid::try_parse(oldest)
            .ok()?
            .get_timestamp()?
            .to_unix();
        let at = std::time::UNIX_EPOCH + Duration::new(s, ns);
        Some(
            std::time::SystemTime::now()
                .duration_since(at)
                .unwrap_or_default(),
        )
    }

    /// Waiting hit ids, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    /// Waiting hits.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no hit is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `timeout` for the outbox to change (a put or a remove).
    pub fn wait_change(&self, timeout: Duration) {
        let ids = self.lock();
        let _ = self.changed.wait_timeout(ids, timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Entry {
        Entry {
            id: id.into(),
            topic: "argus/v1/agents/a/hits".into(),
            payload: format!("{{\"hit_id\":\"{id}\"}}\nsecond line").into_bytes(),
        }
    }

    #[test]
    fn hits_survive_a_reopen_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(dir.path(), 10).unwrap();
        o.put(&entry("0002")).unwrap();
        o.put(&entry("0001")).unwrap();
        std::fs::write(dir.path().join("0003.tmp"), b"half").unwrap();
        drop(o);
        let o = Outbox::open(dir.path(), 10).unwrap();
        assert_eq!(
            o.ids(),
            vec!["0001", "0002"],
            "oldest first; half-written files are not hits"
        );
        assert_eq!(o.get("0002").unwrap(), entry("0002"));
        o.remove("0001").unwrap();
        o.remove("0001").unwrap();
        assert_eq!(Outbox::open(dir.path(), 10).unwrap().ids(), vec!["0002"]);
    }

    #[test]
    fn a_full_outbox_refuses_and_bad_ids_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(dir.path(), 2).unwrap();
        o.put(&entry("a")).unwrap();
        o.put(&entry("b")).unwrap();
        assert!(matches!(
            o.put(&entry("c")),
            Err(OutboxError::Full { max: 2 })
        ));
        assert!(matches!(
            o.put_waiting(&entry("c"), Duration::from_millis(50)),
            Err(OutboxError::Full { .. })
        ));
        assert!(matches!(o.put(&entry("../x")), Err(OutboxError::BadId(_))));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                o.remove("a").unwrap();
            });
            o.put_waiting(&entry("c"), Duration::from_secs(5)).unwrap();
        });
        assert_eq!(o.ids(), vec!["b", "c"]);
    }
}
