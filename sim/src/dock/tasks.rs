//! The dock's flight tasks as data: which are being checked, prepared, flying or flown, and
//! what a service may do to each. No I/O: the service around it downloads, renders, streams
//! and answers; every decision about a task is made here, in one place.

use std::collections::HashMap;

/// `data.result` codes the simulated dock answers with. DJI's docks answer wayline errors with
/// codes in the 314xxx range; these are the simulator's own, in that range, one per reason.
pub mod result {
    /// Done.
    pub const OK: i64 = 0;
    /// The message could not be read (a field missing or out of range, an unknown method).
    pub const BAD_MESSAGE: i64 = 314_000;
    /// The wayline could not be downloaded, its MD5 is not the fingerprint, or it cannot be
    /// flown from this dock.
    pub const BAD_WAYLINE: i64 = 314_001;
    /// Execute of a task that is not prepared (unknown, still being checked, or undone).
    pub const NOT_PREPARED: i64 = 314_002;
    /// Execute or prepare of a task already executed.
    pub const ALREADY_EXECUTED: i64 = 314_003;
    /// Another flight is in the air (one at a time).
    pub const BUSY: i64 = 314_004;
    /// Refused on purpose (`--reject-next`).
    pub const REJECTED: i64 = 314_005;
    /// The flight failed in the air (`--fail-at-waypoint`), or its render failed.
    pub const FLIGHT_FAILED: i64 = 314_006;
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Its wayline is being downloaded and checked.
    Checking,
    /// Checked: it may be executed (its render may still be running).
    Prepared,
    /// In the air.
    Flying,
    /// Flown (or failed in the air): never again.
    Flown,
}

/// Why a service is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The task is not prepared.
    #[error("task {0} is not prepared")]
    NotPrepared(String),
    /// The task was executed already.
    #[error("task {0} was executed already")]
    AlreadyExecuted(String),
    /// Another task is flying.
    #[error("task {flying} is flying (one flight at a time)")]
    Busy {
        /// The flying task.
        flying: String,
    },
    /// The same task is being checked already.
    #[error("task {0} is being checked already")]
    Checking(String),
}

impl Refusal {
    /// The `data.result` the refusal is answered with.
    pub fn code(&self) -> i64 {
        match self {
            Refusal::NotPrepared(_) | Refusal::Checking(_) => result::NOT_PREPARED,
            Refusal::AlreadyExecuted(_) => result::ALREADY_EXECUTED,
            Refusal::Busy { .. } => result::BUSY,
        }
    }
}

/// Most tasks remembered: the oldest flown ones are forgotten beyond it.
const MAX_TASKS: usize = 10_000;

/// The dock's tasks.
#[derive(Debug, Default)]
pub struct Tasks {
    states: HashMap<String, TaskState>,
    /// Flown tasks, oldest first (to forget the oldest).
    flown: std::collections::VecDeque<String>,
    flying: Option<String>,
}

impl Tasks {
    /// A task's state.
    pub fn state(&self, id: &str) -> Option<TaskState> {
        self.states.get(id).copied()
    }

    /// The task in the air.
    pub fn flying(&self) -> Option<&str> {
        self.flying.as_deref()
    }

    /// `flighttask_prepare`: a new task (or a prepared one again: the cloud asks again when a
    /// reply was lost) is to be checked.
    pub fn prepare(&mut self, id: &str) -> Result<(), Refusal> {
        match self.state(id) {
            Some(TaskState::Flying | TaskState::Flown) => Err(Refusal::AlreadyExecuted(id.into())),
            Some(TaskState::Checking) => Err(Refusal::Checking(id.into())),
            Some(TaskState::Prepared) | None => {
                self.states.insert(id.into(), TaskState::Checking);
                Ok(())
            }
        }
    }

    /// The check of a task's wayline ended: prepared when `ok`, forgotten otherwise (and when
    /// it was undone meanwhile, it stays forgotten).
    pub fn checked(&mut self, id: &str, ok: bool) {
        if self.state(id) == Some(TaskState::Checking) {
            if ok {
                self.states.insert(id.into(), TaskState::Prepared);
            } else {
                self.states.remove(id);
            }
        }
    }

    /// `flighttask_execute`: a prepared task takes off, when nothing else is flying.
    pub fn execute(&mut self, id: &str) -> Result<(), Refusal> {
        match self.state(id) {
            Some(TaskState::Flying | TaskState::Flown) => Err(Refusal::AlreadyExecuted(id.into())),
            Some(TaskState::Checking) | None => Err(Refusal::NotPrepared(id.into())),
            Some(TaskState::Prepared) => {
                if let Some(flying) = &self.flying {
                    return Err(Refusal::Busy {
                        flying: flying.clone(),
                    });
                }
                self.states.insert(id.into(), TaskState::Flying);
                self.flying = Some(id.into());
                Ok(())
            }
        }
    }

    /// The flight of a task is over (landed or failed).
    pub fn landed(&mut self, id: &str) {
        if self.flying.as_deref() == Some(id) {
            self.flying = None;
        }
        if self.states.insert(id.into(), TaskState::Flown) != Some(TaskState::Flown) {
            self.flown.push_back(id.into());
        }
        while self.flown.len() > MAX_TASKS {
            if let Some(old) = self.flown.pop_front() {
                self.states.remove(&old);
            }
        }
    }

    /// `flighttask_undo`: drops the tasks not yet flying; returns those dropped.
    pub fn undo(&mut self, ids: &[String]) -> Vec<String> {
        let dropped: Vec<String> = ids
            .iter()
            .filter(|id| {
                matches!(
                    self.state(id),
                    Some(TaskState::Checking | TaskState::Prepared)
                )
            })
            .cloned()
            .collect();
        for id in &dropped {
            self.states.remove(id);
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_checked_prepared_flown_once() {
        let mut t = Tasks::default();
        t.prepare("a").unwrap();
        assert_eq!(t.execute("a"), Err(Refusal::NotPrepared("a".into())));
        t.checked("a", true);
        assert_eq!(t.state("a"), Some(TaskState::Prepared));
        t.execute("a").unwrap();
        assert_eq!(t.flying(), Some("a"));
        assert_eq!(t.execute("a").unwrap_err().code(), result::ALREADY_EXECUTED);
        assert_eq!(t.prepare("a"), Err(Refusal::AlreadyExecuted("a".into())));
        t.landed("a");
        assert_eq!((t.flying(), t.state("a")), (None, Some(TaskState::Flown)));
        assert_eq!(t.execute("a"), Err(Refusal::AlreadyExecuted("a".into())));
    }

    #[test]
    fn one_flight_at_a_time_and_unknown_tasks_are_refused() {
        let mut t = Tasks::default();
        for id in ["a", "b"] {
            t.prepare(id).unwrap();
            t.checked(id, true);
        }
        t.execute("a").unwrap();
        assert_eq!(t.execute("b"), Err(Refusal::Busy { flying: "a".into() }));
        assert_eq!(t.execute("zz").unwrap_err().code(), result::NOT_PREPARED);
        t.landed("a");
        t.execute("b").unwrap();
    }

    #[test]
    fn a_failed_check_or_an_undo_forgets_the_task() {
        let mut t = Tasks::default();
        t.prepare("a").unwrap();
        assert_eq!(t.prepare("a"), Err(Refusal::Checking("a".into())));
        t.checked("a", false);
        assert_eq!(t.state("a"), None);
        for id in ["b", "c", "d"] {
            t.prepare(id).unwrap();
        }
        t.checked("b", true);
        t.checked("d", true);
        t.execute("d").unwrap();
        let gone = t.undo(&["b".into(), "c".into(), "d".into(), "x".into()]);
        assert_eq!(gone, ["b", "c"]);
        // Undone while being checked: the check's end does not bring it back.
        t.checked("c", true);
        assert_eq!(t.state("c"), None);
        assert_eq!(t.execute("b").unwrap_err().code(), result::NOT_PREPARED);
        assert_eq!(t.flying(), Some("d"));
        // Prepared again after a lost reply: checked again.
        t.prepare("e").unwrap();
        t.checked("e", true);
        t.prepare("e").unwrap();
        assert_eq!(t.state("e"), Some(TaskState::Checking));
    }
}
