//! The fault-injection suite: real processes (Mosquitto, PostgreSQL, triage) under the faults and
//! attacks of an unlucky day, each case asserting exactly which hits were stored afterwards.
//!
//! - `broker_acl_*`: the set-up `triage broker-config` writes, on Mosquitto and on the embedded
//!   broker alike, keeps each agent to its own topics, keeps hits and `$share/triage` for
//!   triage, refuses wrong passwords and another's client id, and a flood of connections locks
//!   no real agent out.
//! - `kill_*`: 3,000 hits from three agents (the agent's own outbox and publisher, each in a
//!   process of its own) while triage, the broker or an agent is killed with SIGKILL at seeded
//!   random moments: every hit is stored exactly once at the end, on the embedded broker and on
//!   Mosquitto.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argus_core::receipt::Receipt;
use argus_testkit::hits::{hit, hit_id};
use argus_testkit::services::{Login, PortLease, lease_port};
use argus_triage::store::Store as _;
use rumqttc::{Client, ConnectReturnCode, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Mosquitto running the set-up `triage broker-config` wrote.
struct SecuredMosquitto {
    port: u16,
    dir: std::path::PathBuf,
    child: std::process::Child,
    _lease: PortLease,
}

impl SecuredMosquitto {
    fn start(dir: &Path, agents: &[&str]) -> Self {
        let lease = lease_port();
        std::fs::create_dir_all(dir).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        argus_triage::broker_config::BrokerConfig {
            listen: format!("127.0.0.1:{}", lease.port),
            triage_user: "triage".into(),
            agents: agents.iter().map(|a| a.to_string()).collect(),
            docks: vec![],
            persistence_dir: data,
        }
        .write(dir)
        .expect("writing the broker set-up");
        let child = std::process::Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(dir.join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("mosquitto.log")).unwrap())
            .spawn()
            .unwrap();
        assert!(
            argus_testkit::services::wait_port(lease.port, Duration::from_secs(10)),
            "mosquitto did not start; see {}/mosquitto.log",
            dir.display()
        );
        Self {
            port: lease.port,
            dir: dir.to_path_buf(),
            child,
            _lease: lease,
        }
    }

    fn password(&self, user: &str) -> String {
        std::fs::read_to_string(self.dir.join("credentials").join(format!("{user}.pass")))
            .unwrap()
            .trim()
            .to_string()
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for SecuredMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages received: (topic, payload).
type Inbox = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// An MQTT client that records what it receives and how its connection and subscriptions went.
struct Peer {
    client: Client,
    connack: Arc<Mutex<Option<ConnectReturnCode>>>,
    subacks: Arc<Mutex<Vec<Vec<SubscribeReasonCode>>>>,
    got: Inbox,
    failed: Arc<Mutex<Option<String>>>,
}

impl Peer {
    fn connect(port: u16, client_id: &str, user: &str, password: &str) -> Self {
        Self::with(port, client_id, user, password, |_| {})
    }

    /// Connects with options of its own (`tune` sees them before the connection).
    fn with(
        port: u16,
        client_id: &str,
        user: &str,
        password: &str,
        tune: impl FnOnce(&mut MqttOptions),
    ) -> Self {
        let mut mo = MqttOptions::new(client_id, "127.0.0.1", port);
        mo.set_credentials(user, password)
            .set_max_packet_size(8 << 20, 8 << 20)
            .set_keep_alive(Duration::from_secs(5));
        tune(&mut mo);
        let (client, mut conn) = Client::new(mo, 100);
        let connack: Arc<Mutex<Option<ConnectReturnCode>>> = Arc::default();
        let subacks: Arc<Mutex<Vec<Vec<SubscribeReasonCode>>>> = Arc::default();
        let got: Inbox = Arc::default();
        let failed: Arc<Mutex<Option<String>>> = Arc::default();
        let (c, s, g, f) = (
            connack.clone(),
            subacks.clone(),
            got.clone(),
            failed.clone(),
        );
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => *c.lock().unwrap() = Some(a.code),
                    Ok(Event::Incoming(Packet::SubAck(a))) => {
                        s.lock().unwrap().push(a.return_codes)
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => g
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec())),
                    Ok(_) => {}
                    Err(e) => {
                        *f.lock().unwrap() = Some(e.to_string());
                        return;
                    }
                }
            }
        });
        Self {
            client,
            connack,
            subacks,
            got,
            failed,
        }
    }

    fn wait_connected(&self) {
        wait_for("a CONNACK", Duration::from_secs(10), || {
            self.connack.lock().unwrap().is_some() || self.failed.lock().unwrap().is_some()
        });
    }

    /// Subscribes and returns whether the broker granted it.
    fn subscribe(&self, filter: &str) -> bool {
        let before = self.subacks.lock().unwrap().len();
        self.client.subscribe(filter, QoS::AtLeastOnce).unwrap();
        wait_for("a SUBACK", Duration::from_secs(10), || {
            self.subacks.lock().unwrap().len() > before
        });
        self.subacks.lock().unwrap()[before]
            .iter()
            .all(|c| !matches!(c, SubscribeReasonCode::Failure))
    }

    fn received(&self, topic_part: &str) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.contains(topic_part))
            .count()
    }
}

/// Publishes hit `name` of `agent` (the peer's own or not) and returns its id.
fn send(peer: &Peer, agent: &str, name: &str, lat: f64) -> String {
    let (id, payload) = hit_payload(name, agent, lat);
    peer.client
        .publish(
            argus_core::topics::AgentTopic::Hits.topic(agent),
            QoS::AtLeastOnce,
            false,
            payload,
        )
        .unwrap();
    id
}

/// Publishes hit `name` as the peer's agent and waits for its receipt.
fn send_receipted(peer: &Peer, agent: &str, name: &str, lat: f64) -> String {
    let id = send(peer, agent, name, lat);
    wait_for("a receipt", Duration::from_secs(30), || {
        receipted(peer).contains_key(&id)
    });
    id
}

fn hit_payload(name: &str, agent: &str, lat: f64) -> (String, Vec<u8>) {
    let mut h = hit(&hit_id(name), agent, "construction_waste", lat, 0.9);
    // Triage checks observed_at against its clock: a hit of now.
    h.observed_at = argus_core::clock::Timestamp::now();
    (h.hit_id.to_string(), serde_json::to_vec(&h).unwrap())
}

fn receipted(peer: &Peer) -> HashMap<String, String> {
    peer.got
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t.ends_with("/receipts"))
        .filter_map(|(_, p)| serde_json::from_slice::<Receipt>(p).ok())
        .flat_map(|r| r.hits)
        .map(|h| (h.hit_id.to_string(), format!("{:?}", h.status)))
        .collect()
}

/// A connection flood on a broker: 1,000 sockets that never say CONNECT (kept open), and 1,000
/// logins of `dock-1` with a wrong password from 8 threads (each says how many it made).
fn flood(
    port: u16,
) -> (
    Vec<std::net::TcpStream>,
    Vec<std::thread::JoinHandle<usize>>,
) {
    let idle = (0..1000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let logins = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for n in 0..125 {
                    let p = Peer::connect(port, &format!("dock-1-{t}-{n}"), "dock-1", "wrong");
                    p.wait_connected();
                }
                125
            })
        })
        .collect();
    (idle, logins)
}

/// The real `dock-1` logs in during a flood, listens for its receipts and has hit `name`
/// stored.
fn real_agent_gets_in(port: u16, password: &str, name: &str) {
    let a = Peer::connect(port, "dock-1", "dock-1", password);
    a.wait_connected();
    assert_eq!(
        *a.connack.lock().unwrap(),
        Some(ConnectReturnCode::Success),
        "the real agent was locked out"
    );
    assert!(a.subscribe("argus/v1/agents/dock-1/receipts"));
    send_receipted(&a, "dock-1", name, 30.73);
}

/// What both brokers hold with the set-up `triage broker-config` writes, triage running on
/// `port` and storing into `stored`: each agent keeps to its own topics, hits and `$share/triage`
/// are triage's, wrong credentials are refused, and 2,000 connection attempts lock no real agent
/// out.
fn acl_holds(port: u16, password: &dyn Fn(&str) -> String, stored: &dyn Fn() -> u64) {
    // The first agent, with its own credentials: stored, and receipted to it alone.
    let a = Peer::connect(port, "dock-1", "dock-1", &password("dock-1"));
    a.wait_connected();
    assert!(a.subscribe("argus/v1/agents/dock-1/receipts"));
    // The second agent tries what it must not: read hits (plainly, through triage's shared
    // group, or through `#`), read the first agent's receipts.
    let b = Peer::connect(port, "dock-2", "dock-2", &password("dock-2"));
    b.wait_connected();
    assert_eq!(*b.connack.lock().unwrap(), Some(ConnectReturnCode::Success));
    assert!(b.subscribe("argus/v1/agents/dock-2/receipts"));
    for filter in [
        "$share/triage/argus/v1/agents/+/hits",
        "argus/v1/agents/+/hits",
        "argus/v1/agents/dock-1/hits",
        "argus/v1/agents/dock-1/receipts",
        "#",
    ] {
        assert!(
            !b.subscribe(filter),
            "the second agent may subscribe to {filter}"
        );
    }
    let id = send_receipted(&a, "dock-1", "acl-a", 30.7);
    assert_eq!(stored(), 1);
    // The second agent publishes under the first agent's id (from a connection of its own:
    // the embedded broker closes it, Mosquitto drops the message): nothing reaches triage.
    let forger = Peer::connect(port, "dock-2-forger", "dock-2", &password("dock-2"));
    forger.wait_connected();
    let forged = send(&forger, "dock-1", "acl-forged", 30.71);
    // Under its own id it is taken (so the forged one had every chance to arrive first).
    send_receipted(&b, "dock-2", "acl-b", 30.72);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(stored(), 2, "the forged hit was stored");
    assert!(!receipted(&a).contains_key(&forged));
    assert_eq!(b.received("/hits"), 0, "the second agent read hits");
    assert!(
        !receipted(&b).contains_key(&id),
        "the second agent read the first agent's receipts"
    );
    // Wrong credentials are refused; an unknown user too.
    for (user, pw) in [("dock-1", "wrong"), ("nobody", "x")] {
        assert!(
            refused(port, &format!("{user}-x"), user, pw),
            "{user} got in"
        );
    }
    // 2,000 connection attempts — half idle sockets that never say CONNECT, half wrong
    // passwords — and the real agent still gets in and is stored.
    let (idle, flood) = flood(port);
    real_agent_gets_in(port, &password("dock-1"), "acl-late");
    let attempts: usize = flood.into_iter().map(|h| h.join().unwrap()).sum();
    eprintln!(
        "{} idle sockets and {attempts} wrong-password attempts; the real agent got in and was stored",
        idle.len()
    );
    assert_eq!(stored(), 3);
}

/// Whether the broker refuses this login.
fn refused(port: u16, client_id: &str, user: &str, password: &str) -> bool {
    let p = Peer::connect(port, client_id, user, password);
    p.wait_connected();
    p.connack
        .lock()
        .unwrap()
        .is_none_or(|c| c != ConnectReturnCode::Success)
}

/// Sends a CONNECT and resets the connection at once (SO_LINGER 0), before the broker answers.
fn reset_mid_connect(port: u16, client_id: &str, user: &str, password: &str) {
    use std::io::Write as _;
    let field = |s: &str| {
        let mut v = (s.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v
    };
    // MQTT 3.1.1: protocol name and level, flags (username, password, clean session), keep-alive.
    let mut body = field("MQTT");
    body.extend_from_slice(&[4, 0xC2, 0, 30]);
    for s in [client_id, user, password] {
        body.extend(field(s));
    }
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let mut tcp: std::net::TcpStream = s.into();
    tcp.write_all(&packet).unwrap();
    socket2::SockRef::from(&tcp)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(tcp);
}

/// A triage store's sightings.
fn sightings(db: &Path) -> u64 {
    argus_triage::store::Sqlite::open(db)
        .unwrap()
        .counts()
        .unwrap()
        .1
}

#[test]
fn broker_acl_keeps_each_agent_to_its_own_topics_on_mosquitto() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = SecuredMosquitto::start(&tmp.path().join("broker"), &["dock-1", "dock-2"]);
    let triage = argus_triage::testing::triage_on(
        &broker.url(),
        &tmp.path().join("triage"),
        Some(&Login {
            user: "triage".into(),
            password: broker.password("triage"),
            ca_file: None,
        }),
    );
    let db = tmp.path().join("triage/triage.db");
    acl_holds(broker.port, &|u| broker.password(u), &|| sightings(&db));
    drop(triage);
}

/// The embedded broker enforces the same files: the `USER.pass` credentials and the
/// `dynamic-security.json` that `triage broker-config` writes for Mosquitto. On top: a will on
/// another's topic is refused at CONNECT, and a flood of refusals is a few log lines.
#[test]
fn broker_acl_keeps_each_agent_to_its_own_topics_on_the_embedded_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("broker");
    let port = lease_port();
    let creds = argus_triage::broker_config::BrokerConfig {
        listen: format!("127.0.0.1:{}", port.port),
        triage_user: "triage".into(),
        agents: vec!["dock-1".into(), "dock-2".into()],
        docks: vec![],
        persistence_dir: dir.join("data"),
    }
    .write(&dir)
    .expect("writing the broker set-up");
    let password = |user: &str| {
        std::fs::read_to_string(creds.join(format!("{user}.pass")))
            .unwrap()
            .trim()
            .to_string()
    };
    let config = tmp.path().join("triage.toml");
    let db = tmp.path().join("triage.db");
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\nhttp = \"127.0.0.1:0\"\n[mqtt]\nlisten = \"127.0.0.1:{}\"\ncredentials = \"{}\"\nacl = \"{}\"\n",
            db.display(),
            port.port,
            creds.display(),
            dir.join("dynamic-security.json").display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("triage.log");
    let mut triage = argus_testkit::services::serve_triage(
        &["--config".into(), config.display().to_string()],
        &log,
    );
    acl_holds(port.port, &password, &|| sightings(&db));
    // A client id is its user's (Mosquitto cannot bind a client id to a user, only pin one):
    // dock-2 cannot take dock-1's, nor one the broker could not route; a refusal is told with
    // a CONNACK, not a silent close.
    for client_id in ["dock-1", "dock-1-x", "dock-2-#"] {
        let p = Peer::connect(port.port, client_id, "dock-2", &password("dock-2"));
        p.wait_connected();
        let why = p.failed.lock().unwrap().clone().unwrap_or_default();
        assert!(
            why.contains("NotAuthorized"),
            "dock-2 as {client_id}: {why:?}"
        );
    }
    // Clients that vanish mid-CONNECT (a reset before the CONNACK), again and again under one
    // id, leave nothing behind that breaks the next login of that id.
    for _ in 0..20 {
        reset_mid_connect(port.port, "dock-2", "dock-2", &password("dock-2"));
    }
    // dock-2's own clients get in; with a will on dock-1's status they do not.
    for client_id in ["dock-2", "dock-2-osd"] {
        let own = Peer::connect(port.port, client_id, "dock-2", &password("dock-2"));
        own.wait_connected();
        assert_eq!(
            *own.connack.lock().unwrap(),
            Some(ConnectReturnCode::Success),
            "dock-2 as {client_id}"
        );
    }
    let will = Peer::with(
        port.port,
        "dock-2-will",
        "dock-2",
        &password("dock-2"),
        |mo| {
            mo.set_last_will(rumqttc::LastWill::new(
                "argus/v1/agents/dock-1/status",
                "offline",
                QoS::AtLeastOnce,
                true,
            ));
        },
    );
    will.wait_connected();
    assert_ne!(
        *will.connack.lock().unwrap(),
        Some(ConnectReturnCode::Success),
        "a will on another agent's topic"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.matches("refused a login").count();
    eprintln!("{lines} log lines for 1,000 refused logins");
    assert!(lines < 50, "each refused login was logged: {lines} lines");
    assert!(
        text.contains("refused a topic"),
        "the refused topics were not logged"
    );
    kill9(&mut triage);
}

// ---------------------------------------------------------------------------------------------
// kill -9

/// Hits each agent makes in the kill cases.
const PER_AGENT: usize = 1000;
const AGENTS: [&str; 3] = ["dock-k1", "dock-k2", "cam-k3"];

fn kill9(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// The hit ids an agent makes: the same for every run of the case.
fn agent_hit_ids(agent: &str) -> Vec<String> {
    (0..PER_AGENT)
        .map(|i| hit_id(&format!("{agent}-{i:05}")).to_string())
        .collect()
}

/// Every row's hit id in a store's sightings (`sqlite:PATH` or `postgres://…`).
fn stored_hit_ids(db: &str) -> Vec<String> {
    match db.strip_prefix("sqlite:") {
        Some(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            let mut q = conn.prepare("SELECT hit_id FROM sightings").unwrap();
            q.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
        None => postgres::Client::connect(db, postgres::NoTls)
            .unwrap()
            .query("SELECT hit_id FROM sightings", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect(),
    }
}

/// Asserts that `stored` holds every hit of the [`AGENTS`], once, and nothing else; says so in
/// figures.
fn exactly_the_agents_hits(stored: &[String]) -> String {
    let want: std::collections::BTreeSet<String> =
        AGENTS.iter().flat_map(|a| agent_hit_ids(a)).collect();
    let got: std::collections::BTreeSet<String> = stored.iter().cloned().collect();
    let figures = format!(
        "{} hits sent, {} stored, {} doubled, {} missing",
        want.len(),
        got.len(),
        stored.len() - got.len(),
        want.difference(&got).count()
    );
    assert_eq!(stored.len(), got.len(), "a hit was stored twice: {figures}");
    assert_eq!(
        got, want,
        "the stored hits are not the hits sent: {figures}"
    );
    figures
}

/// Runs as an agent when the test binary is started with `ARGUS_FAULT_AGENT=ID,URL,OUTBOX`:
/// puts its hits (those not already in or through its outbox, by a marker file per hit) into a
/// durable outbox at ~300/s and publishes them with the agent's publisher until each is
/// receipted. The kill cases start it as a child process and SIGKILL it; it is not a test of
/// its own (ignored unless asked for by name).
#[test]
#[ignore = "a child process of the kill cases"]
fn helper_fault_agent_process() {
    let Ok(spec) = std::env::var("ARGUS_FAULT_AGENT") else {
        return;
    };
    // The publisher's connects, losses and refusals, for the kill cases' failure report.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut parts = spec.splitn(3, ',');
    let (agent, url, dir) = (
        parts.next().unwrap().to_string(),
        parts.next().unwrap().to_string(),
        std::path::PathBuf::from(parts.next().unwrap()),
    );
    let outbox =
        Arc::new(argus_edge_agent::outbox::Outbox::open(&dir.join("outbox"), 100_000).unwrap());
    let _publisher = argus_edge_agent::publish::Publisher::spawn(
        argus_edge_agent::publish::PublisherOptions {
            connection: argus_net::mqtt::Connection {
                url,
                credentials: None,
                ca_pem: None,
            },
            agent_id: agent.clone(),
            keep_alive: Duration::from_secs(5),
            receipt_timeout: Duration::from_secs(2),
        },
        outbox.clone(),
    )
    .unwrap();
    // What a previous (killed) run of this agent accepted is in the outbox or receipted; the
    // made/ marker says which hits were accepted, so each is made once across kills.
    let made = dir.join("made");
    std::fs::create_dir_all(&made).unwrap();
    let topic = argus_core::topics::AgentTopic::Hits.topic(&agent);
    for (i, id) in agent_hit_ids(&agent).into_iter().enumerate() {
        if made.join(&id).exists() {
            continue;
        }
        let mut h = hit(
            &id,
            &agent,
            "construction_waste",
            30.5 + i as f64 * 0.001,
            0.9,
        );
        h.position.lon =
            121.0 + (AGENTS.iter().position(|a| *a == agent).unwrap_or(0)) as f64 * 0.01;
        h.observed_at = argus_core::clock::Timestamp::now();
        let entry = argus_edge_agent::outbox::Entry {
            id: id.clone(),
            topic: topic.clone(),
            payload: serde_json::to_vec(&h).unwrap(),
        };
        outbox.put(&entry).unwrap();
        std::fs::write(made.join(&id), b"").unwrap();
        std::thread::sleep(Duration::from_micros(3300));
    }
    while !outbox.is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(dir.join("done"), b"").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn spawn_agent(agent: &str, url: &str, dir: &Path) -> std::process::Child {
    std::fs::create_dir_all(dir).unwrap();
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_fault_agent_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            "ARGUS_FAULT_AGENT",
            format!("{agent},{url},{}", dir.display()),
        )
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("agent.log")).unwrap())
        .spawn()
        .unwrap()
}

/// The [`AGENTS`] as child processes on `url`, each in a folder of its own under `dir`.
fn spawn_agents(url: &str, dir: &Path) -> (Vec<std::path::PathBuf>, Vec<std::process::Child>) {
    let dirs: Vec<_> = AGENTS.iter().map(|a| dir.join(a)).collect();
    let children = AGENTS
        .iter()
        .zip(&dirs)
        .map(|(a, d)| spawn_agent(a, url, d))
        .collect();
    (dirs, children)
}

/// Waits until every agent has made its hits and had each receipted. A slow machine (fsync
/// under a busy disk) may take long; what fails is a minute without progress, and the failure
/// says where each agent stands and what its log and triage's logs end with.
fn wait_agents_done(dirs: &[std::path::PathBuf]) {
    let count = |d: &Path| std::fs::read_dir(d).map_or(0, |r| r.count());
    let progress = || -> Vec<(bool, usize, usize)> {
        dirs.iter()
            .map(|d| {
                (
                    d.join("done").exists(),
                    count(&d.join("made")),
                    count(&d.join("outbox")),
                )
            })
            .collect()
    };
    let mut last = progress();
    let mut since = Instant::now();
    loop {
        let now = progress();
        if now.iter().all(|(done, ..)| *done) {
            return;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(60) {
            let tail = |p: &Path| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let lines: Vec<_> = text.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            };
            let mut report = String::new();
            for (d, (done, made, waiting)) in dirs.iter().zip(&now) {
                report += &format!(
                    "\n{}: done {done}, {made} made, {waiting} in the outbox; log:\n{}",
                    d.display(),
                    tail(&d.join("agent.log"))
                );
            }
            if let Some(parent) = dirs.first().and_then(|d| d.parent()) {
                for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with("triage-") && name.ends_with(".log") {
                        report += &format!("\n{name}:\n{}", tail(&e.path()));
                    }
                }
            }
            panic!("no agent made progress for a minute:{report}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the kill case runs triage's broker.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Broker {
    Embedded,
    Mosquitto,
}

/// What to kill.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Triage,
    Broker,
    Agent,
}

fn run_kill_case(broker: Broker, victim: Victim, seed: u64) {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("triage.db");
    let mut mosquitto = (broker == Broker::Mosquitto)
        .then(|| argus_testkit::services::Mosquitto::start(&tmp.path().join("mosquitto")));
    let embedded = argus_testkit::services::lease_port();
    let url = match &mosquitto {
        Some(m) => m.url(),
        None => format!("mqtt://127.0.0.1:{}", embedded.port),
    };
    let triage_bin = argus_testkit::services::workspace_bin("triage");
    let on_mosquitto = mosquitto.is_some();
    let start_triage = |n: usize| {
        let mut args = vec![
            "serve".to_string(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--db".into(),
            format!("sqlite:{}", db.display()),
        ];
        if on_mosquitto {
            args.extend(["--mqtt".into(), url.clone()]);
        } else {
            args.extend([
                "--broker-listen".into(),
                format!("127.0.0.1:{}", embedded.port),
            ]);
        }
        argus_testkit::services::start_triage(
            triage_bin.to_str().unwrap(),
            &args,
            &tmp.path().join(format!("triage-{n}.log")),
        )
    };
    let mut triage = start_triage(0);
    let (agent_dirs, mut agents) = spawn_agents(&url, tmp.path());
    // Five kills at seeded moments while the hits flow (~3.5 s of making them).
    let mut kills = 0;
    let mut starts = 1;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(rng.random_range(200..900)));
        match victim {
            Victim::Triage => {
                kill9(&mut triage);
                std::thread::sleep(Duration::from_millis(rng.random_range(50..500)));
                triage = start_triage(starts);
                starts += 1;
            }
            Victim::Broker => {
                let m = mosquitto.as_mut().expect("a broker to kill");
                m.kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(50..500)));
                m.restart();
            }
            Victim::Agent => {
                let k = rng.random_range(0..agents.len());
                kill9(&mut agents[k]);
                std::thread::sleep(Duration::from_millis(rng.random_range(50..500)));
                agents[k] = spawn_agent(AGENTS[k], &url, &agent_dirs[k]);
            }
        }
        kills += 1;
    }
    wait_agents_done(&agent_dirs);
    let figures = exactly_the_agents_hits(&stored_hit_ids(&format!("sqlite:{}", db.display())));
    eprintln!("{broker:?}, {kills} kills of the {victim:?}: {figures}");
    for a in &mut agents {
        kill9(a);
    }
    kill9(&mut triage);
}

#[test]
fn kill_triage_five_times_on_the_embedded_broker_loses_and_doubles_nothing() {
    run_kill_case(Broker::Embedded, Victim::Triage, 1);
}

#[test]
fn kill_triage_five_times_on_mosquitto_loses_and_doubles_nothing() {
    run_kill_case(Broker::Mosquitto, Victim::Triage, 2);
}

#[test]
fn kill_mosquitto_five_times_loses_and_doubles_nothing() {
    run_kill_case(Broker::Mosquitto, Victim::Broker, 3);
}

#[test]
fn kill_agents_five_times_loses_and_doubles_nothing() {
    run_kill_case(Broker::Mosquitto, Victim::Agent, 4);
}

// ---------------------------------------------------------------------------------------------
// The store away

/// `/health`'s status code, or 0 when nothing answers.
fn health(port: u16) -> u16 {
    argus_testkit::services::http(port, "GET", "/health", &[], b"").map_or(0, |(s, _)| s)
}

/// Which store the outage case takes away, and how.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outage {
    /// Another process holds SQLite's write lock for 10 s.
    SqliteLock,
    /// PostgreSQL is restarted (down for 3 s).
    PostgresRestart,
}

fn run_store_outage_case(outage: Outage) {
    let tmp = tempfile::tempdir().unwrap();
    let mosquitto = argus_testkit::services::Mosquitto::start(&tmp.path().join("mosquitto"));
    let mut pg = (outage == Outage::PostgresRestart)
        .then(|| argus_testkit::services::Postgres::start(&tmp.path().join("pg")));
    let sqlite = tmp.path().join("triage.db");
    let db = match &pg {
        Some(pg) => pg.url(),
        None => format!("sqlite:{}", sqlite.display()),
    };
    let http = argus_testkit::services::lease_port();
    let mut triage = argus_testkit::services::serve_triage(
        &[
            "--http".into(),
            format!("127.0.0.1:{}", http.port),
            "--db".into(),
            db.clone(),
            "--mqtt".into(),
            mosquitto.url(),
        ],
        &tmp.path().join("triage.log"),
    );
    wait_for("a healthy triage", Duration::from_secs(20), || {
        health(http.port) == 200
    });
    let (agent_dirs, mut agents) = spawn_agents(&mosquitto.url(), tmp.path());
    std::thread::sleep(Duration::from_millis(800));
    // Health is polled all through the outage.
    let statuses: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (statuses, polling, port) = (statuses.clone(), polling.clone(), http.port);
        std::thread::spawn(move || {
            while polling.load(Ordering::SeqCst) {
                let s = health(port);
                statuses.lock().unwrap().push((Instant::now(), s));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let began = Instant::now();
    match outage {
        Outage::SqliteLock => {
            let conn = rusqlite::Connection::open(&sqlite).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            std::thread::sleep(Duration::from_secs(10));
            conn.execute_batch("COMMIT").unwrap();
        }
        Outage::PostgresRestart => {
            pg.as_mut().unwrap().restart(Duration::from_secs(3));
        }
    }
    let ended = Instant::now();
    wait_agents_done(&agent_dirs);
    wait_for("healthy again", Duration::from_secs(30), || {
        health(http.port) == 200
    });
    let recovered = ended.elapsed();
    polling.store(false, Ordering::SeqCst);
    poller.join().unwrap();
    let statuses = statuses.lock().unwrap().clone();
    let during: Vec<u16> = statuses
        .iter()
        .filter(|(t, _)| *t > began && *t < ended)
        .map(|(_, s)| *s)
        .collect();
    let figures = exactly_the_agents_hits(&stored_hit_ids(&db));
    eprintln!(
        "{outage:?}: {figures}; /health during the outage {:?}; all receipted and healthy {:.1} s after it ended",
        during
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, s| {
                *m.entry(*s).or_insert(0) += 1;
                m
            }),
        recovered.as_secs_f64()
    );
    assert!(
        during.contains(&503),
        "/health never said 503 during the outage: {during:?}"
    );
    let log = std::fs::read_to_string(tmp.path().join("triage.log")).unwrap();
    assert!(
        log.contains("the store cannot take hits now") && log.contains("the store is back"),
        "the log does not tell the outage:\n{log}"
    );
    for a in &mut agents {
        kill9(a);
    }
    kill9(&mut triage);
}

#[test]
fn a_ten_second_sqlite_lock_stalls_intake_which_resumes_by_itself() {
    run_store_outage_case(Outage::SqliteLock);
}

#[test]
fn a_postgres_restart_stalls_intake_which_resumes_by_itself() {
    run_store_outage_case(Outage::PostgresRestart);
}

// ---------------------------------------------------------------------------------------------
// Poison

/// Every poison hit of the list ([`argus_testkit::hits::poisons`]) mixed into a stream of
/// 1,000 good hits, through a real broker: the good ones are all stored within 5 s of the last
/// being sent, each poison is a dead letter with its reason (and a receipt saying so), and
/// nothing holds the queue up. On the embedded broker with SQLite, and on Mosquitto with
/// PostgreSQL.
fn run_poison_case(on_mosquitto: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mosquitto = on_mosquitto
        .then(|| argus_testkit::services::Mosquitto::start(&tmp.path().join("mosquitto")));
    let pg = on_mosquitto.then(|| argus_testkit::services::Postgres::start(&tmp.path().join("pg")));
    let db = match &pg {
        Some(pg) => pg.url(),
        None => format!("sqlite:{}", tmp.path().join("triage.db").display()),
    };
    let port = argus_testkit::services::lease_port();
    let mut args = vec![
        "serve".to_string(),
        "--http".into(),
        "127.0.0.1:0".into(),
        "--db".into(),
        db.clone(),
    ];
    match &mosquitto {
        Some(m) => args.extend(["--mqtt".into(), m.url()]),
        None => args.extend(["--broker-listen".into(), format!("127.0.0.1:{}", port.port)]),
    }
    let mut triage = argus_testkit::services::start_triage(
        argus_testkit::services::workspace_bin("triage")
            .to_str()
            .unwrap(),
        &args,
        &tmp.path().join("triage.log"),
    );
    let broker_port = mosquitto.as_ref().map_or(port.port, |m| m.port);
    let agent = Peer::connect(broker_port, "dock-p", "dock-p", "");
    agent.wait_connected();
    assert!(agent.subscribe("argus/v1/agents/dock-p/receipts"));
    let now = argus_core::clock::now_unix_s();
    let poisons = argus_testkit::hits::poisons();
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let every = 1000 / poisons.len();
    for i in 0..1000 {
        let name = format!("poison-case-{i}");
        let mut h = hit(
            &hit_id(&name),
            "dock-p",
            "construction_waste",
            30.5 + i as f64 * 0.001,
            0.9,
        );
        h.observed_at = argus_core::clock::Timestamp::from_unix_s(now).unwrap();
        good.push(h.hit_id.clone());
        agent
            .client
            .publish(
                "argus/v1/agents/dock-p/hits",
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&h).unwrap(),
            )
            .unwrap();
        if i % every == 0 && i / every < poisons.len() {
            let (why, poison) = &poisons[i / every];
            let mut p = hit(
                &hit_id(&format!("{name}-poison")),
                "dock-p",
                "construction_waste",
                30.4,
                0.9,
            );
            p.observed_at = argus_core::clock::Timestamp::from_unix_s(now).unwrap();
            // "Ahead" is judged against triage's clock, which is not the poison list's.
            let payload = if *why == "ahead" {
                p.observed_at = argus_core::clock::Timestamp::from_unix_s(now + 3600.0).unwrap();
                serde_json::to_vec(&p).unwrap()
            } else {
                argus_testkit::hits::poisoned(&p, poison)
            };
            let sent: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            bad.push((
                why.to_string(),
                sent["hit_id"].as_str().unwrap().to_string(),
            ));
            agent
                .client
                .publish(
                    "argus/v1/agents/dock-p/hits",
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .unwrap();
        }
    }
    let sent = Instant::now();
    wait_for("the good hits receipted", Duration::from_secs(30), || {
        let r = receipted(&agent);
        good.iter()
            .all(|id| r.get(id.as_str()).is_some_and(|s| s == "Stored"))
    });
    let took = sent.elapsed();
    let dead: Vec<(String, String)> = match &pg {
        Some(pg) => postgres::Client::connect(&pg.url(), postgres::NoTls)
            .unwrap()
            .query(
                "SELECT reason, encode(payload, 'escape') FROM dead_letters",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        None => {
            let conn = rusqlite::Connection::open(tmp.path().join("triage.db")).unwrap();
            let mut q = conn
                .prepare("SELECT reason, payload FROM dead_letters")
                .unwrap();
            q.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    String::from_utf8_lossy(&r.get::<_, Vec<u8>>(1)?).into_owned(),
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        }
    };
    eprintln!(
        "broker {}: {} good hits stored {:.2} s after the last was sent; {} poisons, {} dead letters",
        if on_mosquitto {
            "Mosquitto + PostgreSQL"
        } else {
            "embedded + SQLite"
        },
        good.len(),
        took.as_secs_f64(),
        bad.len(),
        dead.len()
    );
    assert!(took < Duration::from_secs(5), "the good hits took {took:?}");
    assert_eq!(dead.len(), bad.len(), "{dead:?}");
    for (why, id) in &bad {
        assert!(
            dead.iter()
                .any(|(reason, payload)| payload.contains(id.as_str())
                    && reason.contains(why.as_str()))
                || dead
                    .iter()
                    .any(|(reason, _)| reason.contains(id.as_str()) && reason.contains("hit_id")),
            "no dead letter naming {why} for {id}: {dead:?}"
        );
    }
    kill9(&mut triage);
}

#[test]
fn poison_hits_among_good_ones_on_the_embedded_broker_and_sqlite() {
    run_poison_case(false);
}

#[test]
fn poison_hits_among_good_ones_on_mosquitto_and_postgres() {
    run_poison_case(true);
}

// ---------------------------------------------------------------------------------------------
// Scale-out

/// A hit of the scale-out cases at grid point `k` (about 110 m apart), `offset_m` north of it.
fn grid_hit(name: &str, agent: &str, k: usize, offset_m: f64) -> argus_core::hit::Hit {
    let mut h = hit(
        &hit_id(name),
        agent,
        "construction_waste",
        30.5 + (k / 100) as f64 * 0.001 + offset_m / 111_320.0,
        0.9,
    );
    h.position.lon = 121.0 + (k % 100) as f64 * 0.0012;
    h.observed_at = argus_core::clock::Timestamp::now();
    h
}

/// An agent in this process: the edge agent's own outbox and publisher.
struct InProcessAgent {
    id: String,
    url: String,
    outbox: Arc<argus_edge_agent::outbox::Outbox>,
    publisher: Option<argus_edge_agent::publish::Publisher>,
}

impl InProcessAgent {
    /// Its outbox, not yet published.
    fn open(id: &str, url: &str, dir: &Path) -> Self {
        let outbox =
            Arc::new(argus_edge_agent::outbox::Outbox::open(&dir.join(id), 100_000).unwrap());
        Self {
            id: id.into(),
            url: url.into(),
            outbox,
            publisher: None,
        }
    }

    /// Starts publishing the outbox.
    fn publish(&mut self) {
        self.publisher = Some(
            argus_edge_agent::publish::Publisher::spawn(
                argus_edge_agent::publish::PublisherOptions {
                    connection: argus_net::mqtt::Connection {
                        url: self.url.clone(),
                        credentials: None,
                        ca_pem: None,
                    },
                    agent_id: self.id.clone(),
                    keep_alive: Duration::from_secs(5),
                    receipt_timeout: Duration::from_secs(2),
                },
                self.outbox.clone(),
            )
            .unwrap(),
        );
    }

    fn send(&self, h: &argus_core::hit::Hit) {
        self.outbox
            .put(&argus_edge_agent::outbox::Entry {
                id: h.hit_id.to_string(),
                topic: argus_core::topics::AgentTopic::Hits.topic(&self.id),
                payload: serde_json::to_vec(h).unwrap(),
            })
            .unwrap();
    }
}

const OPERATOR: &str = "operator-token-scale-out-0123456789";

/// `n` triage instances on one PostgreSQL behind one Mosquitto, started at the same moment on
/// an empty database; 6,000 hits spread over a district, then 1,000 hits that each join an
/// earlier ticket while 300 operators' transitions (dispatched → in progress) of those same
/// tickets run through the instances' APIs. `kill_one` SIGKILLs one instance in the middle of
/// the second phase, never to return. The tickets, their sightings, states and SLA breaches
/// must be what one triage would have made. Returns hits/s of the first phase.
fn run_scale_out(n: usize, kill_one: bool) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let mosquitto = argus_testkit::services::Mosquitto::start(&tmp.path().join("mosquitto"));
    let pg = argus_testkit::services::Postgres::start(&tmp.path().join("pg"));
    let tokens = tmp.path().join("tokens.txt");
    std::fs::write(&tokens, format!("operator:{OPERATOR}\n")).unwrap();
    let config = tmp.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "db = \"{}\"\ntokens = \"{}\"\n[mqtt]\nurl = \"{}\"\n\
             [rules]\nsla = {{ dispatch_s = 1, response_s = 3, completion_s = 3600 }}\n\
             # The operators all come from this one address.\n\
             [http_limits]\nper_second = 10000\nburst = 10000\nconcurrent = 100\n",
            pg.url(),
            tokens.display(),
            mosquitto.url()
        ),
    )
    .unwrap();
    let bin = argus_testkit::services::workspace_bin("triage");
    let ports: Vec<PortLease> = (0..n).map(|_| lease_port()).collect();
    // All at once on the empty database: each start must succeed.
    let mut children: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(k, p)| {
            std::process::Command::new(&bin)
                .args(["serve", "--config"])
                .arg(&config)
                .args(["--http", &format!("127.0.0.1:{}", p.port)])
                .env("RUST_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(tmp.path().join(format!("triage-{k}.log"))).unwrap())
                .spawn()
                .unwrap()
        })
        .collect();
    for (k, p) in ports.iter().enumerate() {
        wait_for("every instance up", Duration::from_secs(30), || {
            if let Ok(Some(status)) = children[k].try_wait() {
                panic!(
                    "instance {k} exited ({status}): {}",
                    std::fs::read_to_string(tmp.path().join(format!("triage-{k}.log"))).unwrap()
                );
            }
            health(p.port) == 200
        });
    }
    let mut agents: Vec<InProcessAgent> = ["dock-s1", "dock-s2", "cam-s3"]
        .iter()
        .map(|a| InProcessAgent::open(a, &mosquitto.url(), &tmp.path().join("agents")))
        .collect();
    let drained = |agents: &[InProcessAgent]| agents.iter().all(|a| a.outbox.is_empty());
    // Phase one: 6,000 hits, each its own ticket, waiting in the agents' outboxes (their
    // synced writes would otherwise be what is measured), then let go at once.
    for k in 0..6000 {
        agents[k % 3].send(&grid_hit(&format!("spread-{k}"), &agents[k % 3].id, k, 0.0));
    }
    let began = Instant::now();
    for a in &mut agents {
        a.publish();
    }
    wait_for(
        "the spread hits receipted",
        Duration::from_secs(300),
        || drained(&agents),
    );
    let rate = 6000.0 / began.elapsed().as_secs_f64();
    // Phase two: joins and transitions of the same tickets, at once.
    let mut db = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let ticket_of = |db: &mut postgres::Client, k: usize| -> String {
        db.query_one(
            "SELECT ticket_id FROM sightings WHERE hit_id = $1",
            &[&hit_id(&format!("spread-{k}")).as_str()],
        )
        .unwrap()
        .get(0)
    };
    let moved: Vec<String> = (0..300).map(|k| ticket_of(&mut db, k * 6)).collect();
    let http_ports: Vec<u16> = ports.iter().map(|p| p.port).collect();
    let operators = {
        let moved = moved.clone();
        let http_ports = http_ports.clone();
        std::thread::spawn(move || {
            let mut refused = Vec::new();
            for (k, t) in moved.iter().enumerate() {
                // Round the instances; one may be gone (killed): try the next.
                let mut done = false;
                for attempt in 0..http_ports.len() {
                    let port = http_ports[(k + attempt) % http_ports.len()];
                    let r = argus_testkit::services::http(
                        port,
                        "POST",
                        &format!("/api/v1/tickets/{t}/transition"),
                        &[
                            ("Authorization", &format!("Bearer {OPERATOR}")),
                            ("Content-Type", "application/json"),
                        ],
                        br#"{"to":"in_progress","note":"scale-out"}"#,
                    );
                    if let Some((200, _)) = r {
                        done = true;
                        break;
                    }
                    if let Some((code, body)) = r {
                        refused.push(format!("{t}: {code} {}", String::from_utf8_lossy(&body)));
                    }
                }
                assert!(
                    done,
                    "transition of {t} failed on every instance: {refused:?}"
                );
            }
            refused
        })
    };
    for j in 0..1000 {
        let k = j * 6;
        agents[(k + 1) % 3].send(&grid_hit(
            &format!("join-{k}"),
            &agents[(k + 1) % 3].id,
            k,
            3.0,
        ));
        if kill_one && j == 500 {
            kill9(&mut children[n - 1]);
        }
    }
    let refused = operators.join().unwrap();
    wait_for("the joins receipted", Duration::from_secs(300), || {
        drained(&agents)
    });
    // Let every dispatched ticket pass its 3 s response deadline and be swept.
    std::thread::sleep(Duration::from_secs(5));
    // What one triage makes of this input: ticket k holds spread-k (and join-k for every
    // sixth below 6,000); the first 300 of those are in progress, the rest dispatched.
    let rows = db
        .query(
            "SELECT t.ticket_id, t.state, string_agg(s.hit_id, ',' ORDER BY s.hit_id), \
             (SELECT count(*) FROM audit a WHERE a.ticket_id = t.ticket_id AND a.event = 'sla_breach'), \
             (SELECT count(DISTINCT a.detail::json->>'stage') FROM audit a WHERE a.ticket_id = t.ticket_id AND a.event = 'sla_breach') \
             FROM tickets t JOIN sightings s ON s.ticket_id = t.ticket_id GROUP BY t.ticket_id, t.state",
            &[],
        )
        .unwrap();
    let mut got = std::collections::BTreeSet::new();
    let mut doubled_breaches = 0;
    let mut dispatched_unbreached = 0;
    for r in &rows {
        let state: String = r.get(1);
        let hits: String = r.get(2);
        let breaches: i64 = r.get(3);
        let stages: i64 = r.get(4);
        if breaches > stages {
            doubled_breaches += 1;
        }
        if state == "dispatched" && breaches == 0 {
            dispatched_unbreached += 1;
        }
        got.insert((hits, state));
    }
    let mut want = std::collections::BTreeSet::new();
    for k in 0..6000 {
        let mut hits = vec![hit_id(&format!("spread-{k}"))];
        if k % 6 == 0 {
            hits.push(hit_id(&format!("join-{k}")));
        }
        hits.sort();
        let state = if k % 6 == 0 && k / 6 < 300 {
            "in_progress"
        } else {
            "dispatched"
        };
        want.insert((hits.join(","), state.to_string()));
    }
    let transitions: i64 = db
        .query_one(
            "SELECT count(*) FROM audit WHERE event = 'transition' AND actor LIKE 'operator%'",
            &[],
        )
        .unwrap()
        .get(0);
    eprintln!(
        "{n} instance(s){}: {rate:.0} hits/s over 6,000 spread hits; {} tickets ({} expected), {} equal; \
         {transitions} transitions ({} refused on the way and retried); {doubled_breaches} doubled breaches",
        if kill_one { ", one killed" } else { "" },
        got.len(),
        want.len(),
        got.intersection(&want).count(),
        refused.len()
    );
    assert_eq!(
        got.difference(&want).take(5).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "tickets one triage would not have made"
    );
    assert_eq!(got, want, "the tickets differ from one triage's");
    assert_eq!(transitions, 300, "a transition was lost or doubled");
    assert_eq!(doubled_breaches, 0, "an SLA breach was recorded twice");
    assert_eq!(dispatched_unbreached, 0, "an SLA breach was not recorded");
    for c in &mut children {
        kill9(c);
    }
    rate
}

#[test]
fn scale_out_two_and_three_instances_make_the_tickets_of_one() {
    let one = run_scale_out(1, false);
    let two = run_scale_out(2, false);
    let three = run_scale_out(3, false);
    eprintln!("hits/s: 1 instance {one:.0}, 2 instances {two:.0}, 3 instances {three:.0}");
}

#[test]
fn scale_out_with_one_instance_killed_for_good_loses_nothing() {
    run_scale_out(2, true);
}

// ---------------------------------------------------------------------------------------------
// Memory

/// A process's resident memory now and at its peak, bytes (from /proc).
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// 1 GB of hits (7,500 hits with 100 kB evidence each, 1.0 GB as published) through the
/// embedded broker into SQLite: triage's resident memory stays under 300 MB, at the end and at
/// its peak.
#[test]
fn a_gigabyte_of_hits_through_the_embedded_broker_keeps_triage_under_300_mb() {
    use base64::Engine as _;
    use sha2::Digest as _;
    const HITS: usize = 7_500;
    const BOUND: u64 = 300 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let port = lease_port();
    let db = tmp.path().join("triage.db");
    let mut triage = argus_testkit::services::serve_triage(
        &[
            "--http".into(),
            "127.0.0.1:0".into(),
            "--db".into(),
            format!("sqlite:{}", db.display()),
            "--broker-listen".into(),
            format!("127.0.0.1:{}", port.port),
        ],
        &tmp.path().join("triage.log"),
    );
    let (before, _) = rss(triage.id());
    let mut mo = MqttOptions::new("dock-m", "127.0.0.1", port.port);
    mo.set_max_packet_size(4 << 20, 4 << 20).set_inflight(200);
    let (client, mut conn) = Client::new(mo, 64);
    std::thread::spawn(move || for _ in conn.iter() {});
    let now = argus_core::clock::now_unix_s();
    let mut sent_bytes = 0usize;
    let mut peak = 0;
    let began = Instant::now();
    for i in 0..HITS {
        // 100 kB of evidence that differs from hit to hit (each is stored once, by hash).
        let mut jpeg = vec![0u8; 100_000];
        for (k, b) in jpeg.iter_mut().enumerate() {
            *b = (k as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u32) as u8;
        }
        let mut h = hit(
            &hit_id(&format!("mem-{i}")),
            "dock-m",
            "construction_waste",
            30.5 + (i / 100) as f64 * 0.001,
            0.9,
        );
        h.position.lon = 121.0 + (i % 100) as f64 * 0.0012;
        h.observed_at = argus_core::clock::Timestamp::from_unix_s(now).unwrap();
        h.evidence.sha256 = format!("{:x}", sha2::Sha256::digest(&jpeg));
        h.evidence.jpeg_base64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
        let payload = serde_json::to_vec(&h).unwrap();
        sent_bytes += payload.len();
        client
            .publish(
                "argus/v1/agents/dock-m/hits",
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .unwrap();
        if i % 500 == 0 {
            peak = peak.max(rss(triage.id()).0);
        }
    }
    let stored = || {
        argus_triage::store::Sqlite::open(&db)
            .ok()
            .and_then(|mut s| s.counts().ok())
            .map_or(0, |c| c.1)
    };
    wait_for("every hit stored", Duration::from_secs(300), || {
        peak = peak.max(rss(triage.id()).0);
        stored() as usize >= HITS
    });
    let took = began.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (after, hwm) = rss(triage.id());
    eprintln!(
        "{HITS} hits, {:.2} GB published in {:.1} s: triage's RSS {} MB before, {} MB after, peak {} MB (sampled {} MB); bound {} MB",
        sent_bytes as f64 / 1e9,
        took.as_secs_f64(),
        before >> 20,
        after >> 20,
        hwm >> 20,
        peak >> 20,
        BOUND >> 20
    );
    assert!(sent_bytes >= 1_000_000_000, "only {sent_bytes} bytes sent");
    assert!(
        after <= BOUND && hwm <= BOUND,
        "RSS {after} after, {hwm} at peak"
    );
    kill9(&mut triage);
}

// ---------------------------------------------------------------------------------------------
// SLA deadlines without a broker

/// With the broker stopped for 120 s, a ticket's dispatch deadline that passes meanwhile is
/// recorded as a breach on time: the SLA sweeper runs on a timer of its own, whatever the
/// broker's state. After the outage intake resumes by itself.
#[test]
fn an_sla_breach_is_recorded_on_time_while_the_broker_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = argus_testkit::services::Mosquitto::start(&tmp.path().join("broker"));
    let db = tmp.path().join("triage.db");
    let config = tmp.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "db = \"sqlite:{}\"\nhttp = \"127.0.0.1:0\"\n[mqtt]\nurl = \"{}\"\n\
             [rules]\nsla = {{ dispatch_s = 15, response_s = 3600, completion_s = 86400 }}\n",
            db.display(),
            broker.url()
        ),
    )
    .unwrap();
    let mut triage = argus_testkit::services::serve_triage(
        &["--config".into(), config.display().to_string()],
        &tmp.path().join("triage.log"),
    );
    // A street camera's uncertain sighting: a ticket that waits for review, due for dispatch
    // 15 s after it opens.
    let port = broker.port;
    let sends = std::sync::atomic::AtomicUsize::new(0);
    // One connection per send, closed once the broker has the hit (or after 5 s).
    let publish = |name: &str, lat: f64| {
        let mut h = hit(&hit_id(name), "cam-sla", "vending_in_lane", lat, 0.5);
        h.source.kind = argus_core::hit::SourceKind::Camera;
        h.observed_at = argus_core::clock::Timestamp::now();
        let n = sends.fetch_add(1, Ordering::Relaxed);
        let (client, mut conn) =
            Client::new(MqttOptions::new(format!("sla-{n}"), "127.0.0.1", port), 10);
        client
            .publish(
                argus_core::topics::AgentTopic::Hits.topic("cam-sla"),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&h).unwrap(),
            )
            .unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        for ev in conn.iter() {
            if matches!(ev, Ok(Event::Incoming(Packet::PubAck(_)))) || Instant::now() > until {
                break;
            }
            if ev.is_err() {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    publish("sla-1", 30.7);
    wait_for("the ticket", Duration::from_secs(30), || {
        sightings(&db) == 1
    });
    let read = || {
        let c = rusqlite::Connection::open(&db).unwrap();
        let due: f64 = c
            .query_row("SELECT due_at FROM tickets", [], |r| r.get(0))
            .unwrap();
        let breaches: Vec<f64> = c
            .prepare("SELECT at FROM audit WHERE event = 'sla_breach'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (due, breaches)
    };
    let stopped = Instant::now();
    broker.kill();
    wait_for(
        "the breach, with the broker down",
        Duration::from_secs(60),
        || !read().1.is_empty(),
    );
    let (due, breaches) = read();
    let late = breaches[0] - due;
    eprintln!(
        "breach recorded {late:.2} s after its deadline, {:.0} s into the outage",
        stopped.elapsed().as_secs_f64()
    );
    assert!((0.0..=2.0).contains(&late), "recorded {late} s late");
    // The outage lasts 120 s; the breach is recorded once however long it lasts.
    std::thread::sleep(Duration::from_secs(120).saturating_sub(stopped.elapsed()));
    assert_eq!(read().1.len(), 1, "the breach was recorded again");
    broker.restart();
    // As an agent does for want of a receipt, the hit is sent again until it is stored (triage
    // reconnects within its backoff, at most 10 s).
    let until = Instant::now() + Duration::from_secs(60);
    while sightings(&db) < 2 {
        assert!(Instant::now() < until, "no intake after the outage");
        publish("sla-2", 30.8);
        std::thread::sleep(Duration::from_secs(2));
    }
    kill9(&mut triage);
}
