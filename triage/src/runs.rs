//! Patrol runs: one flight of a plan by a dock (scheduled, asked for by an operator, or sent to
//! verify a camera's ticket), the states it goes through, and its append-only events.
//!
//! ```text
//! scheduled → preparing → prepared → executing → in_progress → ok | partially_done | failed
//!                                                              | rejected | canceled | timeout
//! scheduled → missed | skipped (with the reason: blackout, dock offline, dock busy, …)
//! ```

use serde::Serialize;

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// An instant of the plan's schedule.
    Scheduled,
    /// An operator asked for it.
    Manual,
    /// A camera's ticket asked for a look.
    Verification,
}

impl RunKind {
    /// Every kind.
    pub const ALL: [RunKind; 3] = [RunKind::Scheduled, RunKind::Manual, RunKind::Verification];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::Manual => "manual",
            RunKind::Verification => "verification",
        }
    }

    /// The kind of a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Claimed for its instant; nothing sent yet.
    Scheduled,
    /// `flighttask_prepare` sent, no reply yet.
    Preparing,
    /// The dock accepted the task.
    Prepared,
    /// `flighttask_execute` sent, no reply yet.
    Executing,
    /// Flying (`flighttask_progress`).
    InProgress,
    /// Flown.
    Ok,
    /// Flown in part.
    PartiallyDone,
    /// Failed (the dock said so, or did not answer).
    Failed,
    /// The dock refused the task.
    Rejected,
    /// Cancelled (`flighttask_undo`, or by the dock).
    Canceled,
    /// The dock timed the task out.
    Timeout,
    /// Its instant passed while triage was away, beyond the catch-up window.
    Missed,
    /// Not flown, for the reason given (blackout, dock offline, dock busy, out of limits).
    Skipped,
}

impl RunState {
    /// Every state.
    pub const ALL: [RunState; 13] = [
        RunState::Scheduled,
        RunState::Preparing,
        RunState::Prepared,
        RunState::Executing,
        RunState::InProgress,
        RunState::Ok,
        RunState::PartiallyDone,
        RunState::Failed,
        RunState::Rejected,
        RunState::Canceled,
        RunState::Timeout,
        RunState::Missed,
        RunState::Skipped,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Scheduled => "scheduled",
            RunState::Preparing => "preparing",
            RunState::Prepared => "prepared",
            RunState::Executing => "executing",
            RunState::InProgress => "in_progress",
            RunState::Ok => "ok",
            RunState::PartiallyDone => "partially_done",
            RunState::Failed => "failed",
            RunState::Rejected => "rejected",
            RunState::Canceled => "canceled",
            RunState::Timeout => "timeout",
            RunState::Missed => "missed",
            RunState::Skipped => "skipped",
        }
    }

    /// The state of a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the run is over.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunState::Scheduled
                | RunState::Preparing
                | RunState::Prepared
                | RunState::Executing
                | RunState::InProgress
        )
    }

    /// Whether a run in this state holds its dock: sent to it and not over (a run still
    /// `scheduled` has not reached the dock).
    pub fn occupies_dock(self) -> bool {
        !self.is_final() && self != RunState::Scheduled
    }

    /// Whether a run may go from this state to `to`.
    pub fn can_move_to(self, to: RunState) -> bool {
        use RunState::*;
        match self {
            Scheduled => matches!(to, Preparing | Missed | Skipped | Canceled | Failed),
            Preparing => matches!(to, Prepared | Failed | Rejected | Canceled | Timeout),
            Prepared => matches!(to, Executing | Failed | Canceled | Timeout | Missed),
            Executing => matches!(
                to,
                InProgress | Ok | PartiallyDone | Failed | Rejected | Canceled | Timeout
            ),
            InProgress => matches!(to, Ok | PartiallyDone | Failed | Canceled | Timeout),
            _ => false,
        }
    }
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Its id, a UUIDv7: the Cloud API task's `flight_id` and the hits' `source.flight_id`.
    pub run_id: String,
    /// The plan flown.
    pub plan_id: String,
    /// SHA-256 of the plan file's text as flown.
    pub plan_sha256: String,
    /// The dock.
    pub dock_id: String,
    /// Why it exists.
    pub kind: RunKind,
    /// Its instant, Unix seconds (unique per plan).
    pub scheduled_at: f64,
    /// Where it is.
    pub state: RunState,
    /// Why it is there (a skip's, a failure's reason).
    pub reason: Option<String>,
    /// The wayline KMZ's MD5 (the task's `fingerprint`).
    pub kmz_md5: Option<String>,
    /// For a verification: the ticket looked at.
    pub ticket_id: Option<String>,
    /// When its state last changed, Unix seconds.
    pub updated_at: f64,
}

/// Something that happened to a run (append-only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvent {
    /// Order of writing (assigned by the store).
    pub seq: i64,
    /// The run.
    pub run_id: String,
    /// When, Unix seconds.
    pub at: f64,
    /// What (`claimed`, `prepare_sent`, `services_reply`, `flighttask_progress`, a state).
    pub event: String,
    /// Its details.
    pub detail: serde_json::Value,
}

impl RunEvent {
    /// A new event (its `seq` is assigned when it is written).
    pub fn new(run_id: &str, at: f64, event: &str, detail: serde_json::Value) -> Self {
        Self {
            seq: 0,
            run_id: run_id.into(),
            at,
            event: event.into(),
            detail,
        }
    }
}

/// Which runs a list asks for; `None` matches all. Newest instant first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Of this plan.
    pub plan_id: Option<String>,
    /// Of this dock.
    pub dock_id: Option<String>,
    /// Not over yet (or over).
    pub open: Option<bool>,
    /// Verifying this ticket.
    pub ticket_id: Option<String>,
}

/// Counts for `/metrics`: runs by state, and the dead letters that came from docks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatrolCounts {
    /// Runs stored, by state (states without runs left out).
    pub runs: Vec<(RunState, u64)>,
    /// Dead letters whose topic is a dock's ([`argus_core::topics::DockTopic::PREFIXES`]).
    pub dock_dead_letters: u64,
}

/// The dead letters from docks, as an SQL condition on `topic`.
pub(crate) fn dock_topic_sql() -> String {
    argus_core::topics::DockTopic::PREFIXES
        .iter()
        .map(|p| format!("topic LIKE '{p}%'"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The states a run is not over in, as an SQL list (`'scheduled', …`).
pub(crate) fn open_states_sql() -> String {
    RunState::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A run list as SQL, newest instant first; `marker(n)` spells the n-th parameter.
pub(crate) fn list_query(
    f: &RunFilter,
    limit: usize,
    marker: impl Fn(usize) -> String,
) -> (String, Vec<String>, i64) {
    let mut params = Vec::new();
    let mut conds = Vec::new();
    for (column, value) in [
        ("plan_id", &f.plan_id),
        ("dock_id", &f.dock_id),
        ("ticket_id", &f.ticket_id),
    ] {
        if let Some(v) = value {
            params.push(v.clone());
            conds.push(format!("{column} = {}", marker(params.len())));
        }
    }
    match f.open {
        Some(true) => conds.push(format!("state IN ({})", open_states_sql())),
        Some(false) => conds.push(format!("state NOT IN ({})", open_states_sql())),
        None => {}
    }
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM patrol_runs");
    if !conds.is_empty() {
        sql += " WHERE ";
        sql += &conds.join(" AND ");
    }
    sql += &format!(
        " ORDER BY scheduled_at DESC, run_id DESC LIMIT {}",
        marker(params.len() + 1)
    );
    (sql, params, limit.min(i64::MAX as usize) as i64)
}

/// The `patrol_runs` columns, in the order both stores read them.
pub(crate) const RUN_COLUMNS: &str = "run_id, plan_id, plan_sha256, dock_id, kind, scheduled_at, \
     state, reason, kmz_md5, ticket_id, updated_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_final_states_go_nowhere() {
        for s in RunState::ALL {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
            if s.is_final() {
                assert!(RunState::ALL.iter().all(|t| !s.can_move_to(*t)), "{s:?}");
            } else {
                assert!(!s.can_move_to(s), "{s:?} to itself");
            }
        }
        for k in RunKind::ALL {
            assert_eq!(RunKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(RunState::parse("done"), None);
        // The path of a good flight.
        use RunState::*;
        for w in [Scheduled, Preparing, Prepared, Executing, InProgress, Ok].windows(2) {
            assert!(w[0].can_move_to(w[1]), "{w:?}");
        }
        assert!(Prepared.can_move_to(Missed) && !InProgress.can_move_to(Missed));
        assert!(!Ok.can_move_to(Failed));
    }
}
