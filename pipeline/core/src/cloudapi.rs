//! DJI Cloud API flight tasks over MQTT (`formats.md` §1.2, §1.4): the envelope every message
//! carries, the services the cloud sends a dock (`flighttask_prepare`, `flighttask_execute`,
//! `flighttask_undo`), what a dock sends back (replies, `flighttask_progress` events,
//! `flighttask_resource_get` requests, `update_topo` topology) and the replies to those.
//!
//! Every read checks each field once: ids by pattern, numbers finite and in range, enumerations
//! by value. A message that fails names the field and the value; nothing here panics on input.
//!
//! ```
//! use argus_core::cloudapi::{Envelope, Service, TaskFile, FlighttaskPrepare, TaskType, WaylineType};
//! let prepare = Service::Prepare(FlighttaskPrepare {
//!     flight_id: "0192d7a0-8c4e-7a35-9f00-5a1b2c3d4e5f".into(),
//!     execute_time_ms: 1_767_225_600_000,
//!     task_type: TaskType::Timed,
//!     wayline_type: WaylineType::Waypoint,
//!     file: TaskFile { url: "http://10.0.0.2:8080/waylines/abc.kmz".into(), fingerprint: "9e107d9d372bb6826bd81d3542a419d6".into() },
//!     rth_altitude_m: 100,
//!     out_of_control_action: 0,
//!     exit_wayline_when_rc_lost: 1,
//! });
//! let sent = prepare.envelope(1_767_225_480_000);
//! let read = Envelope::parse(&sent.to_json(), "7CTDM12345")?;
//! assert_eq!(Service::read(&read)?, prepare);
//! # Ok::<(), argus_core::cloudapi::CloudApiError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The longest id (`tid`, `bid`, `flight_id`, serial number) read, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// The largest Cloud API message read, in bytes: a task message is a few hundred.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why a Cloud API message was not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CloudApiError {
    /// Not a JSON object, or too large.
    #[error("not a Cloud API message: {0}")]
    Envelope(String),
    /// A field is missing, of the wrong type, or out of range.
    #[error("`{field}`: {problem}")]
    Field {
        /// The field's path (`data.file.url`).
        field: String,
        /// What is wrong, with the value.
        problem: String,
    },
    /// A method this side does not handle.
    #[error("unknown method `{0}`")]
    UnknownMethod(String),
    /// The envelope's `gateway` is not the serial number of its topic.
    #[error("`gateway` {gateway:?} is not the topic's serial number {topic}")]
    Gateway {
        /// The envelope's gateway.
        gateway: String,
        /// The topic's serial number.
        topic: String,
    },
}

fn field(path: &str, problem: impl Into<String>) -> CloudApiError {
    CloudApiError::Field {
        field: path.into(),
        problem: problem.into(),
    }
}

/// A value for a message, cut short and with control characters escaped.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    let mut out: String = s.chars().take(80).flat_map(char::escape_default).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// A message or bid id, or a flight id: letters, digits and `-`, 1–64 bytes (the Cloud API's
/// flight-id pattern forbids `<>:"/\|?*._`).
pub fn is_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A device serial number: letters and digits, 1–64 bytes (the Demo's `[A-Za-z0-9]+`).
pub fn is_sn(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn id_at(v: &Value, path: &str) -> Result<String, CloudApiError> {
    match v.as_str() {
        Some(s) if is_id(s) => Ok(s.to_string()),
        _ => Err(field(
            path,
            format!("{} is not an id (letters, digits, '-'; 1–64)", shown(v)),
        )),
    }
}

fn get<'a>(obj: &'a Value, path: &str, key: &str) -> Result<&'a Value, CloudApiError> {
    obj.get(key)
        .filter(|v| !v.is_null())
        .ok_or_else(|| field(&format!("{path}.{key}"), "is missing"))
}

fn int_at(
    v: &Value,
    path: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, CloudApiError> {
    match v.as_i64() {
        Some(n) if range.contains(&n) => Ok(n),
        _ => Err(field(
            path,
            format!(
                "{} is not an integer in {}..={}",
                shown(v),
                range.start(),
                range.end()
            ),
        )),
    }
}

/// The envelope of every Cloud API message (`formats.md` §1.2): the reply keeps `tid` and
/// `bid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Transaction id: one request and its reply.
    pub tid: String,
    /// Business id: every message of one business flow.
    pub bid: String,
    /// When it was sent, Unix milliseconds.
    pub timestamp: i64,
    /// What it is (`flighttask_prepare`, `flighttask_progress`, `update_topo`, …).
    pub method: String,
    /// 1: the sender waits for a reply (events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_reply: Option<u8>,
    /// The gateway (dock) that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The method's data.
    pub data: Value,
}

impl Envelope {
    /// A new message (fresh `tid` and `bid`) sent at `timestamp` (Unix ms).
    pub fn new(method: &str, timestamp: i64, data: Value) -> Self {
        Self {
            tid: uuid::Uuid::now_v7().to_string(),
            bid: uuid::Uuid::now_v7().to_string(),
            timestamp,
            method: method.into(),
            need_reply: None,
            gateway: None,
            data,
        }
    }

    /// The reply to this message: same `tid`, `bid` and `method`.
    pub fn reply(&self, timestamp: i64, data: Value) -> Self {
        Self {
            tid: self.tid.clone(),
            bid: self.bid.clone(),
            timestamp,
            method: self.method.clone(),
            need_reply: None,
            gateway: None,
            data,
        }
    }

    /// The reply carrying `result` (0: success), as every `*_reply` topic expects.
    pub fn result_reply(&self, timestamp: i64, result: i64) -> Self {
        self.reply(timestamp, json!({ "result": result }))
    }

    /// Its JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and a JSON value always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a message that arrived on a topic of the device `topic_sn`: a JSON object with
    /// `tid`, `bid` (ids), `timestamp` (Unix ms, integer), `method` (lower-case letters and `_`),
    /// `data` (an object), an optional `need_reply` (0 or 1) and `gateway` (that serial
    /// number).
    pub fn parse(payload: &[u8], topic_sn: &str) -> Result<Self, CloudApiError> {
        if payload.len() > MAX_MESSAGE_BYTES {
            return Err(CloudApiError::Envelope(format!(
                "{} bytes, more than {MAX_MESSAGE_BYTES}",
                payload.len()
            )));
        }
        let v: Value =
            serde_json::from_slice(payload).map_err(|e| CloudApiError::Envelope(e.to_string()))?;
        if !v.is_object() {
            return Err(CloudApiError::Envelope(format!(
                "{} is not an object",
                shown(&v)
            )));
        }
        let tid = id_at(get(&v, "", "tid")?, "tid")?;
        let bid = id_at(get(&v, "", "bid")?, "bid")?;
        // Between 2001 and 2286: a clock that is far off is the receiver's to judge.
        let timestamp = int_at(
            get(&v, "", "timestamp")?,
            "timestamp",
            1_000_000_000_000..=9_999_999_999_999,
        )?;
        let method = match get(&v, "", "method")?.as_str() {
            Some(m)
                if (1..=MAX_ID_LEN).contains(&m.len())
                    && m.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
            {
                m.to_string()
            }
            _ => {
                return Err(field(
                    "method",
                    format!("{} is not a method name", shown(&v["method"])),
                ));
            }
        };
        let need_reply = match v.get("need_reply").filter(|n| !n.is_null()) {
            None => None,
            Some(n) => Some(int_at(n, "need_reply", 0..=1)? as u8),
        };
        let gateway = match v.get("gateway").filter(|g| !g.is_null()) {
            None => None,
            Some(g) => match g.as_str() {
                Some(s) if s == topic_sn => Some(s.to_string()),
                _ => {
                    return Err(CloudApiError::Gateway {
                        gateway: g
                            .as_str()
                            .map_or_else(|| shown(g), |s| s.chars().take(64).collect()),
                        topic: topic_sn.into(),
                    });
                }
            },
        };
        let data = get(&v, "", "data")?.clone();
        if !data.is_object() {
            return Err(field("data", format!("{} is not an object", shown(&data))));
        }
        Ok(Self {
            tid,
            bid,
            timestamp,
            method,
            need_reply,
            gateway,
            data,
        })
    }

    /// Whether the sender waits for a reply.
    pub fn needs_reply(&self) -> bool {
        self.need_reply == Some(1)
    }

    /// A reply's `data.result` (0: success).
    pub fn result(&self) -> Result<i64, CloudApiError> {
        int_at(
            get(&self.data, "data", "result")?,
            "data.result",
            i64::from(i32::MIN)..=i64::from(i32::MAX),
        )
    }
}

/// `task_type` of `flighttask_prepare` (Demo `TaskTypeEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    /// 0: flown at `execute_time` once executed (verification flights).
    Immediate,
    /// 1: flown at `execute_time` (scheduled patrols).
    Timed,
    /// 2: flown when `ready_conditions` hold (not sent by Argus).
    Conditional,
}

impl TaskType {
    fn code(self) -> i64 {
        match self {
            TaskType::Immediate => 0,
            TaskType::Timed => 1,
            TaskType::Conditional => 2,
        }
    }

    fn from_code(n: i64) -> Option<Self> {
        [TaskType::Immediate, TaskType::Timed, TaskType::Conditional]
            .into_iter()
            .find(|t| t.code() == n)
    }
}

/// `wayline_type` of `flighttask_prepare` (Demo `WaylineTypeEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaylineType {
    /// 0: waypoints.
    Waypoint,
    /// 1: 2D mapping (an area).
    Mapping2d,
    /// 2: 3D mapping.
    Mapping3d,
    /// 3: a strip (a corridor).
    MappingStrip,
}

impl WaylineType {
    fn code(self) -> i64 {
        match self {
            WaylineType::Waypoint => 0,
            WaylineType::Mapping2d => 1,
            WaylineType::Mapping3d => 2,
            WaylineType::MappingStrip => 3,
        }
    }

    fn from_code(n: i64) -> Option<Self> {
        [
            WaylineType::Waypoint,
            WaylineType::Mapping2d,
            WaylineType::Mapping3d,
            WaylineType::MappingStrip,
        ]
        .into_iter()
        .find(|t| t.code() == n)
    }
}

/// Where a dock downloads a wayline and how it checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFile {
    /// An `http`/`https` URL.
    pub url: String,
    /// The KMZ's MD5, lower-case hex (the Demo's wayline `sign`).
    pub fingerprint: String,
}

impl TaskFile {
    fn to_json(&self) -> Value {
        json!({ "url": self.url, "fingerprint": self.fingerprint })
    }

    fn read(v: &Value, path: &str) -> Result<Self, CloudApiError> {
        let url = match get(v, path, "url")?.as_str() {
            Some(u)
                if (u.starts_with("http://") || u.starts_with("https://"))
                    && u.len() <= 2048
                    && !u.chars().any(|c| c.is_control() || c == ' ') =>
            {
                u.to_string()
            }
            _ => {
                return Err(field(
                    &format!("{path}.url"),
                    format!("{} is not an http(s) URL", shown(&v["url"])),
                ));
            }
        };
        let fingerprint = match get(v, path, "fingerprint")?.as_str() {
            Some(f) if f.len() == 32 && f.bytes().all(|b| b.is_ascii_hexdigit()) => {
                f.to_ascii_lowercase()
            }
            _ => {
                return Err(field(
                    &format!("{path}.fingerprint"),
                    format!("{} is not an MD5 (32 hex digits)", shown(&v["fingerprint"])),
                ));
            }
        };
        Ok(Self { url, fingerprint })
    }
}

/// `flighttask_prepare`: a dock downloads the wayline and gets ready to fly it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlighttaskPrepare {
    /// The task (Argus: the run's id).
    pub flight_id: String,
    /// When to fly, Unix milliseconds.
    pub execute_time_ms: i64,
    /// Immediate or timed.
    pub task_type: TaskType,
    /// What the KMZ holds.
    pub wayline_type: WaylineType,
    /// The KMZ.
    pub file: TaskFile,
    /// Return-to-home height, metres (20–1500).
    pub rth_altitude_m: i64,
    /// When the link is lost: 0 return home, 1 hover, 2 land.
    pub out_of_control_action: u8,
    /// When the remote controller's link is lost: 0 go on with the wayline, 1 leave it.
    pub exit_wayline_when_rc_lost: u8,
}

/// A command from the cloud to a dock, on `thing/product/{sn}/services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `flighttask_prepare`.
    Prepare(FlighttaskPrepare),
    /// `flighttask_execute {flight_id}`: fly a prepared task.
    Execute {
        /// The task.
        flight_id: String,
    },
    /// `flighttask_undo {flight_ids}`: cancel tasks not yet flown.
    Undo {
        /// The tasks.
        flight_ids: Vec<String>,
    },
    /// `return_home {}`: the aircraft in flight leaves its task and flies home (how a task
    /// already flying is cancelled).
    ReturnHome,
}

impl Service {
    /// Its method.
    pub fn method(&self) -> &'static str {
        match self {
            Service::Prepare(_) => "flighttask_prepare",
            Service::Execute { .. } => "flighttask_execute",
            Service::Undo { .. } => "flighttask_undo",
            Service::ReturnHome => "return_home",
        }
    }

    /// The message, sent at `now_ms`.
    pub fn envelope(&self, now_ms: i64) -> Envelope {
        let data = match self {
            Service::Prepare(p) => json!({
                "flight_id": p.flight_id,
                "execute_time": p.execute_time_ms,
                "task_type": p.task_type.code(),
                "wayline_type": p.wayline_type.code(),
                "file": p.file.to_json(),
                "rth_altitude": p.rth_altitude_m,
                "out_of_control_action": p.out_of_control_action,
                "exit_wayline_when_rc_lost": p.exit_wayline_when_rc_lost,
            }),
            Service::Execute { flight_id } => json!({ "flight_id": flight_id }),
            Service::Undo { flight_ids } => json!({ "flight_ids": flight_ids }),
            Service::ReturnHome => json!({}),
        };
        Envelope::new(self.method(), now_ms, data)
    }

    /// Reads a service message (the dock's side).
    pub fn read(e: &Envelope) -> Result<Self, CloudApiError> {
        let d = &e.data;
        match e.method.as_str() {
            "flighttask_prepare" => {
                let code =
                    |key: &str, range| int_at(get(d, "data", key)?, &format!("data.{key}"), range);
                let task_type = TaskType::from_code(code("task_type", 0..=2)?)
                    .ok_or_else(|| field("data.task_type", "unknown"))?;
                let wayline_type = WaylineType::from_code(code("wayline_type", 0..=3)?)
                    .ok_or_else(|| field("data.wayline_type", "unknown"))?;
                Ok(Service::Prepare(FlighttaskPrepare {
                    flight_id: id_at(get(d, "data", "flight_id")?, "data.flight_id")?,
                    execute_time_ms: code("execute_time", 0..=9_999_999_999_999)?,
                    task_type,
                    wayline_type,
                    file: TaskFile::read(get(d, "data", "file")?, "data.file")?,
                    rth_altitude_m: code("rth_altitude", 20..=1500)?,
                    out_of_control_action: code("out_of_control_action", 0..=2)? as u8,
                    exit_wayline_when_rc_lost: code("exit_wayline_when_rc_lost", 0..=1)? as u8,
                }))
            }
            "flighttask_execute" => Ok(Service::Execute {
                flight_id: id_at(get(d, "data", "flight_id")?, "data.flight_id")?,
            }),
            "flighttask_undo" => {
                let ids = get(d, "data", "flight_ids")?
                    .as_array()
                    .filter(|a| (1..=100).contains(&a.len()))
                    .ok_or_else(|| field("data.flight_ids", "is not a list of 1–100 ids"))?;
                let flight_ids = ids
                    .iter()
                    .enumerate()
                    .map(|(k, v)| id_at(v, &format!("data.flight_ids[{k}]")))
                    .collect::<Result<_, _>>()?;
                Ok(Service::Undo { flight_ids })
            }
            "return_home" => Ok(Service::ReturnHome),
            other => Err(CloudApiError::UnknownMethod(
                other.chars().take(64).collect(),
            )),
        }
    }
}

/// A flight task's status in `flighttask_progress` (Demo `FlighttaskStatusEnum`; DJI's "Task
/// Management" page lists the same without `partially_done`: both are read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Sent to the aircraft.
    Sent,
    /// Flying.
    InProgress,
    /// Flown.
    Ok,
    /// Paused.
    Paused,
    /// Refused by the aircraft.
    Rejected,
    /// Failed.
    Failed,
    /// Cancelled.
    Canceled,
    /// Timed out.
    Timeout,
    /// Flown in part.
    PartiallyDone,
}

impl TaskStatus {
    /// Every status.
    pub const ALL: [TaskStatus; 9] = [
        TaskStatus::Sent,
        TaskStatus::InProgress,
        TaskStatus::Ok,
        TaskStatus::Paused,
        TaskStatus::Rejected,
        TaskStatus::Failed,
        TaskStatus::Canceled,
        TaskStatus::Timeout,
        TaskStatus::PartiallyDone,
    ];

    /// Its wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Sent => "sent",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Ok => "ok",
            TaskStatus::Paused => "paused",
            TaskStatus::Rejected => "rejected",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
            TaskStatus::Timeout => "timeout",
            TaskStatus::PartiallyDone => "partially_done",
        }
    }

    /// Whether the task is over.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            TaskStatus::Sent | TaskStatus::InProgress | TaskStatus::Paused
        )
    }
}

impl std::str::FromStr for TaskStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a task status"))
    }
}

/// `flighttask_progress` on `…/events`: where a task is.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The task.
    pub flight_id: String,
    /// Its status.
    pub status: TaskStatus,
    /// The waypoint reached, when flying.
    pub current_waypoint_index: Option<u32>,
    /// Share done, 0–100.
    pub percent: Option<f64>,
    /// The event's `result` (0 unless it failed).
    pub result: i64,
}

impl Progress {
    /// The event's data, as DJI's docks send it (`{result, output: {ext, progress, status}}`).
    pub fn to_data(&self) -> Value {
        let mut ext = json!({ "flight_id": self.flight_id });
        if let Some(i) = self.current_waypoint_index {
            ext["current_waypoint_index"] = json!(i);
        }
        let mut out = json!({ "ext": ext, "status": self.status.as_str() });
        if let Some(p) = self.percent {
            out["progress"] = json!({ "percent": p });
        }
        json!({ "result": self.result, "output": out })
    }

    /// The event message (`need_reply` = 1), from the gateway `sn` at `now_ms`.
    pub fn envelope(&self, sn: &str, bid: &str, now_ms: i64) -> Envelope {
        let mut e = Envelope::new("flighttask_progress", now_ms, self.to_data());
        e.bid = bid.into();
        e.need_reply = Some(1);
        e.gateway = Some(sn.into());
        e
    }

    /// Reads a `flighttask_progress` event's data (`output` may be left out: the Demo's model
    /// is the output itself).
    pub fn read(e: &Envelope) -> Result<Self, CloudApiError> {
        if e.method != "flighttask_progress" {
            return Err(CloudApiError::UnknownMethod(e.method.clone()));
        }
        let (out, path) = match e.data.get("output") {
            Some(o) if o.is_object() => (o, "data.output"),
            _ => (&e.data, "data"),
        };
        let ext = get(out, path, "ext")?;
        let ext_path = format!("{path}.ext");
        let flight_id = id_at(
            get(ext, &ext_path, "flight_id")?,
            &format!("{ext_path}.flight_id"),
        )?;
        let status_v = get(out, path, "status")?;
        let status = status_v
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                field(
                    &format!("{path}.status"),
                    format!("{} is not a task status", shown(status_v)),
                )
            })?;
        let current_waypoint_index = match ext
            .get("current_waypoint_index")
            .filter(|v| !v.is_null())
        {
            None => None,
            Some(v) => {
                Some(int_at(v, &format!("{ext_path}.current_waypoint_index"), 0..=65_535)? as u32)
            }
        };
        let percent = match out
            .get("progress")
            .and_then(|p| p.get("percent"))
            .filter(|v| !v.is_null())
        {
            None => None,
            Some(v) => match v.as_f64() {
                Some(p) if (0.0..=100.0).contains(&p) => Some(p),
                _ => {
                    return Err(field(
                        &format!("{path}.progress.percent"),
                        format!("{} is not in 0–100", shown(v)),
                    ));
                }
            },
        };
        let result = match e.data.get("result").filter(|v| !v.is_null()) {
            None => 0,
            Some(_) => e.result()?,
        };
        Ok(Self {
            flight_id,
            status,
            current_waypoint_index,
            percent,
            result,
        })
    }
}

/// `flighttask_resource_get` on `…/requests`: the dock asks again for a task's wayline URL.
pub fn read_resource_get(e: &Envelope) -> Result<String, CloudApiError> {
    if e.method != "flighttask_resource_get" {
        return Err(CloudApiError::UnknownMethod(
            e.method.chars().take(64).collect(),
        ));
    }
    id_at(get(&e.data, "data", "flight_id")?, "data.flight_id")
}

/// The answer to `flighttask_resource_get`: `{result: 0, output: {file: {url, fingerprint}}}`.
pub fn resource_reply(request: &Envelope, now_ms: i64, file: &TaskFile) -> Envelope {
    request.reply(
        now_ms,
        json!({ "result": 0, "output": { "file": file.to_json() } }),
    )
}

/// Reads the answer to `flighttask_resource_get`.
pub fn read_resource_reply(e: &Envelope) -> Result<TaskFile, CloudApiError> {
    let result = e.result()?;
    if result != 0 {
        return Err(field("data.result", format!("{result}: the cloud refused")));
    }
    let out = get(&e.data, "data", "output")?;
    TaskFile::read(get(out, "data.output", "file")?, "data.output.file")
}

/// `update_topo` on `sys/product/{sn}/status`: a gateway's online state and the devices behind
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Whether the gateway is online (its last will sends an empty `data`).
    pub online: bool,
    /// The serial numbers of the devices behind it (the aircraft, when it is powered).
    pub sub_devices: Vec<String>,
}

impl Topology {
    /// The message the gateway `sn` (of DJI device type `domain-type-sub_type`) sends.
    pub fn envelope(&self, now_ms: i64) -> Envelope {
        let data = if self.online {
            json!({
                "domain": "3", "type": 119, "sub_type": 0,
                "sub_devices": self.sub_devices.iter().map(|sn| json!({
                    "sn": sn, "domain": "0", "type": 91, "sub_type": 0, "index": "A",
                })).collect::<Vec<_>>(),
            })
        } else {
            json!({})
        };
        Envelope::new("update_topo", now_ms, data)
    }

    /// Reads an `update_topo` message.
    pub fn read(e: &Envelope) -> Result<Self, CloudApiError> {
        if e.method != "update_topo" {
            return Err(CloudApiError::UnknownMethod(
                e.method.chars().take(64).collect(),
            ));
        }
        let Some(obj) = e.data.as_object().filter(|o| !o.is_empty()) else {
            return Ok(Self {
                online: false,
                sub_devices: vec![],
            });
        };
        let subs = match obj.get("sub_devices").filter(|v| !v.is_null()) {
            None => vec![],
            Some(v) => v
                .as_array()
                .filter(|a| a.len() <= 16)
                .ok_or_else(|| field("data.sub_devices", "is not a list of at most 16 devices"))?
                .iter()
                .enumerate()
                .map(|(k, d)| match d.get("sn").and_then(Value::as_str) {
                    Some(sn) if is_sn(sn) => Ok(sn.to_string()),
                    _ => Err(field(
                        &format!("data.sub_devices[{k}].sn"),
                        format!("{} is not a serial number", shown(&d["sn"])),
                    )),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            online: true,
            sub_devices: subs,
        })
    }
}

/// An aircraft's OSD on `thing/product/{aircraft_sn}/osd` (`formats.md` §1.3): where it is,
/// its heading and its gimbal, as [`crate::osd::parse`] reads it back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AircraftOsd {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// `height`: absolute height, metres.
    pub height_m: f64,
    /// `elevation`: height above the take-off point, metres.
    pub elevation_m: f64,
    /// `attitude_head`: heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// The gimbal's pitch, degrees (−90 nadir).
    pub gimbal_pitch_deg: f64,
    /// The gimbal's roll, degrees.
    pub gimbal_roll_deg: f64,
    /// The gimbal's yaw, degrees clockwise from north.
    pub gimbal_yaw_deg: f64,
    /// `mode_code`: 0 standby, 4 take-off, 5 wayline, 9 return home, 10 landing.
    pub mode_code: u8,
}

/// The payload key of the simulated camera: `{type-subtype-gimbalindex}` of DJI's M3E camera.
pub const PAYLOAD_KEY: &str = "66-0-0";

impl AircraftOsd {
    /// The message's `data`.
    pub fn to_data(&self) -> Value {
        json!({
            "latitude": self.lat,
            "longitude": self.lon,
            "height": self.height_m,
            "elevation": self.elevation_m,
            "attitude_head": self.heading_deg,
            "mode_code": self.mode_code,
            PAYLOAD_KEY: {
                "payload_index": PAYLOAD_KEY,
                "gimbal_pitch": self.gimbal_pitch_deg,
                "gimbal_roll": self.gimbal_roll_deg,
                "gimbal_yaw": self.gimbal_yaw_deg,
            },
        })
    }

    /// The OSD message relayed by the gateway `gateway`, at `timestamp_ms` (the instant of the
    /// pose).
    pub fn message(&self, gateway: &str, timestamp_ms: i64) -> Vec<u8> {
        osd_message(gateway, timestamp_ms, self.to_data())
    }
}

/// A dock's own OSD on `thing/product/{dock_sn}/osd`: where it stands and whether its aircraft
/// is home.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DockOsd {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Height of the dock, metres.
    pub height_m: f64,
    /// `mode_code`: 0 idle, 4 working (a flight task).
    pub mode_code: u8,
    /// `drone_in_dock`.
    pub drone_in_dock: bool,
}

impl DockOsd {
    /// The message from the dock `sn` at `timestamp_ms`.
    pub fn message(&self, sn: &str, timestamp_ms: i64) -> Vec<u8> {
        osd_message(
            sn,
            timestamp_ms,
            json!({
                "latitude": self.lat,
                "longitude": self.lon,
                "height": self.height_m,
                "mode_code": self.mode_code,
                "drone_in_dock": u8::from(self.drone_in_dock),
            }),
        )
    }
}

/// An OSD message: the envelope without `method` (OSD is a property push, not a call), from
/// the gateway `gateway`.
pub fn osd_message(gateway: &str, timestamp_ms: i64, data: Value) -> Vec<u8> {
    let v = json!({
        "tid": uuid::Uuid::now_v7().to_string(),
        "bid": uuid::Uuid::now_v7().to_string(),
        "timestamp": timestamp_ms,
        "gateway": gateway,
        "data": data,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SN: &str = "7CTDM12345";
    const FLIGHT: &str = "0192d7a0-8c4e-7a35-9f00-5a1b2c3d4e5f";

    fn prepare() -> FlighttaskPrepare {
        FlighttaskPrepare {
            flight_id: FLIGHT.into(),
            execute_time_ms: 1_767_225_600_000,
            task_type: TaskType::Timed,
            wayline_type: WaylineType::Mapping2d,
            file: TaskFile {
                url: "http://10.0.0.2:8080/waylines/x.kmz".into(),
                fingerprint: "9e107d9d372bb6826bd81d3542a419d6".into(),
            },
            rth_altitude_m: 100,
            out_of_control_action: 0,
            exit_wayline_when_rc_lost: 1,
        }
    }

    fn round(e: &Envelope) -> Envelope {
        Envelope::parse(&e.to_json(), SN).unwrap()
    }

    #[test]
    fn services_read_back_as_written_with_the_wire_names_of_the_demo() {
        let p = prepare();
        let e = Service::Prepare(p.clone()).envelope(1_767_225_480_000);
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["method"], "flighttask_prepare");
        assert_eq!(v["data"]["task_type"], 1);
        assert_eq!(v["data"]["wayline_type"], 1);
        assert_eq!(v["data"]["execute_time"], 1_767_225_600_000_i64);
        assert_eq!(v["data"]["file"]["fingerprint"], p.file.fingerprint);
        assert_eq!(v["data"]["rth_altitude"], 100);
        for s in [
            Service::Prepare(p),
            Service::Execute {
                flight_id: FLIGHT.into(),
            },
            Service::Undo {
                flight_ids: vec![FLIGHT.into(), "abc-1".into()],
            },
            Service::ReturnHome,
        ] {
            assert_eq!(
                Service::read(&round(&s.envelope(1_767_225_480_000))).unwrap(),
                s
            );
        }
    }

    #[test]
    fn replies_keep_tid_and_bid() {
        let e = Service::Execute {
            flight_id: FLIGHT.into(),
        }
        .envelope(1_767_225_480_000);
        let r = round(&e.result_reply(1_767_225_481_000, 0));
        assert_eq!(
            (r.tid.as_str(), r.bid.as_str()),
            (e.tid.as_str(), e.bid.as_str())
        );
        assert_eq!(r.result(), Ok(0));
        assert_eq!(
            round(&e.result_reply(1_767_225_481_000, 314_000)).result(),
            Ok(314_000)
        );
    }

    #[test]
    fn progress_reads_both_shapes_and_every_status() {
        for status in TaskStatus::ALL {
            let p = Progress {
                flight_id: FLIGHT.into(),
                status,
                current_waypoint_index: Some(3),
                percent: Some(42.5),
                result: 0,
            };
            let e = round(&p.envelope(SN, "bid-1", 1_767_225_480_000));
            assert!(e.needs_reply());
            assert_eq!(e.gateway.as_deref(), Some(SN));
            assert_eq!(Progress::read(&e).unwrap(), p);
        }
        // The Demo's model without `output`.
        let raw = format!(
            r#"{{"tid":"t1","bid":"b1","timestamp":1767225480000,"method":"flighttask_progress","need_reply":1,"gateway":"{SN}","data":{{"ext":{{"flight_id":"{FLIGHT}","current_waypoint_index":7}},"progress":{{"current_step":19,"percent":100}},"status":"partially_done"}}}}"#
        );
        let p = Progress::read(&Envelope::parse(raw.as_bytes(), SN).unwrap()).unwrap();
        assert_eq!(
            (p.status, p.current_waypoint_index, p.percent),
            (TaskStatus::PartiallyDone, Some(7), Some(100.0))
        );
        assert!(p.status.is_final() && !TaskStatus::InProgress.is_final());
    }

    #[test]
    fn requests_and_topology_read_back() {
        let mut q = Envelope::new(
            "flighttask_resource_get",
            1_767_225_480_000,
            json!({ "flight_id": FLIGHT }),
        );
        q.gateway = Some(SN.into());
        let q = round(&q);
        assert_eq!(read_resource_get(&q).unwrap(), FLIGHT);
        let file = prepare().file;
        let r = round(&resource_reply(&q, 1_767_225_480_500, &file));
        assert_eq!(r.tid, q.tid);
        assert_eq!(read_resource_reply(&r).unwrap(), file);
        for t in [
            Topology {
                online: true,
                sub_devices: vec!["1581F5BKD225D00B".into()],
            },
            Topology {
                online: true,
                sub_devices: vec![],
            },
            Topology {
                online: false,
                sub_devices: vec![],
            },
        ] {
            assert_eq!(
                Topology::read(&round(&t.envelope(1_767_225_480_000))).unwrap(),
                t
            );
        }
    }

    /// A valid progress message with one field replaced.
    fn progress_with(path: &[&str], value: Value) -> Vec<u8> {
        let p = Progress {
            flight_id: FLIGHT.into(),
            status: TaskStatus::InProgress,
            current_waypoint_index: Some(1),
            percent: Some(10.0),
            result: 0,
        };
        let mut v: Value =
            serde_json::from_slice(&p.envelope(SN, "b", 1_767_225_480_000).to_json()).unwrap();
        let mut at = &mut v;
        for k in &path[..path.len() - 1] {
            at = &mut at[*k];
        }
        at[path[path.len() - 1]] = value;
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn hostile_messages_are_named_errors() {
        let read = |bytes: &[u8]| Envelope::parse(bytes, SN).and_then(|e| Progress::read(&e));
        assert!(matches!(read(b"not json"), Err(CloudApiError::Envelope(_))));
        assert!(matches!(read(b"[1,2]"), Err(CloudApiError::Envelope(_))));
        assert!(matches!(
            read(&vec![b' '; MAX_MESSAGE_BYTES + 1]),
            Err(CloudApiError::Envelope(_))
        ));
        for (path, value, names) in [
            (&["tid"][..], json!("a/b"), "tid"),
            (&["tid"][..], json!("x".repeat(65)), "tid"),
            (&["bid"][..], json!(7), "bid"),
            (&["timestamp"][..], json!(1.5), "timestamp"),
            (&["timestamp"][..], json!(-1), "timestamp"),
            (&["method"][..], json!("Flight\ntask"), "method"),
            (&["need_reply"][..], json!(2), "need_reply"),
            (&["data"][..], json!("x"), "data"),
            (
                &["data", "output", "status"][..],
                json!("landed"),
                "data.output.status",
            ),
            (
                &["data", "output", "ext", "flight_id"][..],
                json!("a.b"),
                "data.output.ext.flight_id",
            ),
            (
                &["data", "output", "ext", "flight_id"][..],
                json!("<script>"),
                "data.output.ext.flight_id",
            ),
            (
                &["data", "output", "ext", "current_waypoint_index"][..],
                json!(-3),
                "current_waypoint_index",
            ),
            (
                &["data", "output", "progress", "percent"][..],
                json!(1e308),
                "percent",
            ),
            (&["data", "result"][..], json!("0"), "data.result"),
        ] {
            let e = read(&progress_with(path, value.clone())).unwrap_err();
            assert!(e.to_string().contains(names), "{path:?} = {value}: {e}");
        }
        let e = read(&progress_with(&["gateway"], json!("OTHER1"))).unwrap_err();
        assert!(matches!(e, CloudApiError::Gateway { .. }), "{e}");
        // A control character in a value is shown escaped.
        let e = read(&progress_with(
            &["data", "output", "status"],
            json!("a\u{1b}[2J"),
        ))
        .unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
        // Unknown methods are named as such.
        let mut odd = Service::Execute {
            flight_id: FLIGHT.into(),
        }
        .envelope(1_767_225_480_000);
        odd.method = "flighttask_pause".into();
        assert_eq!(
            Service::read(&round(&odd)),
            Err(CloudApiError::UnknownMethod("flighttask_pause".into()))
        );
    }

    #[test]
    fn a_prepare_out_of_range_is_refused_by_field() {
        let good: Value = serde_json::from_slice(
            &Service::Prepare(prepare())
                .envelope(1_767_225_480_000)
                .to_json(),
        )
        .unwrap();
        for (key, value) in [
            ("task_type", json!(7)),
            ("wayline_type", json!(-1)),
            ("rth_altitude", json!(5)),
            ("rth_altitude", json!(100.5)),
            ("out_of_control_action", json!(3)),
            ("exit_wayline_when_rc_lost", json!(2)),
            ("execute_time", json!("soon")),
            (
                "file",
                json!({ "url": "file:///etc/passwd", "fingerprint": "9e107d9d372bb6826bd81d3542a419d6" }),
            ),
            (
                "file",
                json!({ "url": "http://x/y.kmz", "fingerprint": "xyz" }),
            ),
        ] {
            let mut v = good.clone();
            v["data"][key] = value.clone();
            let e = Envelope::parse(&serde_json::to_vec(&v).unwrap(), SN)
                .and_then(|e| Service::read(&e))
                .unwrap_err();
            assert!(e.to_string().contains(key), "{key} = {value}: {e}");
        }
    }
    #[test]
    fn osd_reads_back_through_the_osd_parser() {
        let a = AircraftOsd {
            lat: 30.701,
            lon: 121.02,
            height_m: 44.5,
            elevation_m: 40.0,
            heading_deg: 35.0,
            gimbal_pitch_deg: -90.0,
            gimbal_roll_deg: 0.0,
            gimbal_yaw_deg: 35.0,
            mode_code: 5,
        };
        let s = crate::osd::parse(&a.message(SN, 1_767_225_480_250)).unwrap();
        assert_eq!((s.lat, s.lon), (a.lat, a.lon));
        assert_eq!((s.height_m, s.abs_alt_m), (Some(40.0), Some(44.5)));
        assert!((s.t_s - 1_767_225_480.25).abs() < 1e-6);
        let g = s.gimbal.unwrap();
        assert_eq!((g.pitch_deg, g.yaw_deg), (-90.0, 35.0));
        let d = DockOsd {
            lat: 30.7,
            lon: 121.02,
            height_m: 4.5,
            mode_code: 4,
            drone_in_dock: false,
        };
        let v: Value = serde_json::from_slice(&d.message(SN, 1_767_225_480_000)).unwrap();
        assert_eq!(v["gateway"], SN);
        assert_eq!(v["timestamp"], 1_767_225_480_000_i64);
        assert_eq!(
            (&v["data"]["mode_code"], &v["data"]["drone_in_dock"]),
            (&json!(4), &json!(0))
        );
        assert!(v.get("method").is_none());
    }
}
