//! One store test suite, run against SQLite and against a real PostgreSQL started from the
//! Debian packages: the ingest's promises hold on both.

use argus_core::hit::Hit;
use argus_testkit::hits::{JPEG, hit_id};
use argus_testkit::services::Postgres;
use argus_triage::engine::{Routing, Rules, State};
use argus_triage::ingest::{ChangeError, Ingest, Limits, MAX_PAYLOAD, Outcome};
use argus_triage::store::{self, Run, RunEvent, RunFilter, RunKind, RunState, Store, TicketFilter};

/// A valid hit named `name` (its id is [`hit_id`]`(name)`).
fn hit(name: &str, agent: &str, class: &str, lat: f64, score: f32) -> Hit {
    argus_testkit::hits::hit(&hit_id(name), agent, class, lat, score)
}

/// Opens a new connection to one scenario's database.
type Open = dyn Fn() -> Box<dyn Store>;

fn msg(h: &Hit) -> (String, Vec<u8>) {
    (
        argus_core::topics::AgentTopic::Hits.topic(&h.agent_id),
        serde_json::to_vec(h).unwrap(),
    )
}

fn take(ing: &mut Ingest, msgs: &[(String, Vec<u8>)]) -> Vec<Outcome> {
    let refs: Vec<(&str, &[u8])> = msgs
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_slice()))
        .collect();
    ing.take(&refs, 1_779_876_010.0).unwrap()
}

fn ingest(open: &Open) -> Ingest {
    Ingest::new(
        open(),
        Rules::default(),
        Limits::default(),
        Routing::new(None),
    )
    .unwrap()
}

type Scenario = fn(&Open);

const SUITE: [(&str, Scenario); 11] = [
    ("runs", a_patrol_run_is_claimed_once_and_moves_only_forward),
    (
        "lists",
        lists_are_filtered_before_the_limit_and_page_by_cursor,
    ),
    (
        "poison",
        poison_hits_are_dead_letters_and_the_good_ones_around_them_are_stored,
    ),
    (
        "store_refuses",
        a_message_the_store_refuses_is_split_off_as_a_dead_letter,
    ),
    ("sla", a_passed_deadline_is_reported_once_per_stage),
    (
        "lifecycle",
        a_ticket_walks_its_lifecycle_and_a_returning_violation_links_to_it,
    ),
    (
        "repeats",
        a_hit_delivered_three_times_is_one_sighting_also_across_a_restart,
    ),
    (
        "two_flights",
        two_flights_over_one_pile_make_one_ticket_with_two_sightings,
    ),
    (
        "dead_letters",
        malformed_payloads_become_dead_letters_naming_the_fault,
    ),
    ("audit", the_audit_log_is_complete_and_in_order),
    ("one_batch", one_batch_opens_a_ticket_and_joins_it),
];

#[test]
fn the_store_suite_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    for (name, scenario) in SUITE {
        let url = format!("sqlite:{}", dir.path().join(format!("{name}.db")).display());
        if name == "store_refuses" {
            let db = rusqlite::Connection::open(dir.path().join(format!("{name}.db"))).unwrap();
            drop(store::open(&url).unwrap());
            db.execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON sightings WHEN NEW.agent_id = 'dock-poison' \
                 BEGIN SELECT RAISE(ABORT, 'poison refused'); END;",
            )
            .unwrap();
        }
        eprintln!("sqlite: {name}");
        scenario(&move || store::open(&url).unwrap());
    }
    // The audit log is append-only in the database itself, not only in the service.
    let db = rusqlite::Connection::open(dir.path().join("audit.db")).unwrap();
    let e = db
        .execute("UPDATE audit SET actor = 'someone'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(db.execute("DELETE FROM audit", []).is_err());
    let db = rusqlite::Connection::open(dir.path().join("runs.db")).unwrap();
    let e = db
        .execute("UPDATE run_events SET event = 'ok'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(db.execute("DELETE FROM run_events", []).is_err());
}

#[test]
fn the_store_suite_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"));
    for (name, scenario) in SUITE {
        let url = pg.create_db(name);
        if name == "store_refuses" {
            drop(store::open(&url).unwrap());
            let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            db.batch_execute(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.agent_id = 'dock-poison' THEN RAISE EXCEPTION 'poison refused'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER poison BEFORE INSERT ON sightings FOR EACH ROW EXECUTE FUNCTION poison();",
            )
            .unwrap();
        }
        eprintln!("postgres: {name}");
        scenario(&move || store::open(&url).unwrap());
    }
    let mut db = postgres::Client::connect(&pg.db_url("audit"), postgres::NoTls).unwrap();
    let e = db
        .execute("UPDATE audit SET actor = 'someone'", &[])
        .unwrap_err();
    assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    assert!(db.execute("DELETE FROM audit", &[]).is_err());
    let mut db = postgres::Client::connect(&pg.db_url("runs"), postgres::NoTls).unwrap();
    let e = db
        .execute("UPDATE run_events SET event = 'ok'", &[])
        .unwrap_err();
    assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    assert!(db.execute("DELETE FROM run_events", &[]).is_err());
}

fn a_hit_delivered_three_times_is_one_sighting_also_across_a_restart(open: &Open) {
    let h = msg(&hit("h1", "dock-1", "construction_waste", 30.7, 0.9));
    let mut ing = ingest(open);
    let out = take(&mut ing, &[h.clone(), h.clone()]);
    assert!(matches!(out[0], Outcome::Opened(_)), "{out:?}");
    assert_eq!(out[1], Outcome::Repeat);
    drop(ing);
    let mut ing = ingest(open);
    assert_eq!(take(&mut ing, &[h]), [Outcome::Repeat]);
    assert_eq!(ing.store().counts().unwrap(), (1, 1, 0));
    let t = &ing.store().tickets(&TicketFilter::default(), 10).unwrap()[0];
    assert_eq!(t.sightings, 1);
    // Sure enough to go out on its own: opened, then dispatched, in the audit log.
    assert_eq!(t.state, State::Dispatched);
    let events: Vec<String> = ing
        .store()
        .audit(&t.ticket_id)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["opened", "dispatched"]);
    // The evidence is kept once, by its hash; the stored hit does not repeat it.
    let s = &ing.store().sightings(&t.ticket_id).unwrap()[0];
    assert_eq!(
        ing.store().evidence(&s.evidence_sha256).unwrap().unwrap(),
        JPEG
    );
    let stored: serde_json::Value = serde_json::from_str(&s.payload).unwrap();
    assert_eq!(stored["evidence"]["jpeg_base64"], "");
    assert_eq!(stored["evidence"]["sha256"], s.evidence_sha256.as_str());
}

fn two_flights_over_one_pile_make_one_ticket_with_two_sightings(open: &Open) {
    let mut ing = ingest(open);
    // 5 m apart (within the 20 m waste radius); a third 200 m away; a stall at the pile.
    let a = hit("a", "dock-1", "construction_waste", 30.7, 0.5);
    let b = hit("b", "dock-2", "construction_waste", 30.700045, 0.45);
    let far = hit("c", "dock-2", "construction_waste", 30.7018, 0.9);
    let stall = hit("d", "dock-2", "vending_in_lane", 30.7, 0.9);
    let out = take(&mut ing, &[msg(&a)]);
    let Outcome::Opened(t1) = &out[0] else {
        panic!("{out:?}")
    };
    // Alone and unsure: it waits for review.
    let t = ing.store().ticket(t1).unwrap().unwrap();
    assert_eq!((t.state, t.review), (State::New, true));
    let out = take(&mut ing, &[msg(&b), msg(&far), msg(&stall)]);
    assert_eq!(out[0], Outcome::Joined(t1.clone()));
    assert!(matches!(&out[1], Outcome::Opened(x) if x != t1));
    assert!(matches!(&out[2], Outcome::Opened(x) if x != t1));
    let t = ing.store().ticket(t1).unwrap().unwrap();
    assert_eq!(t.sightings, 2);
    // A second sighting confirms it: dispatched.
    assert_eq!((t.state, t.review), (State::Dispatched, false));
    assert!(
        t.lat > 30.7 && t.lat < 30.700045,
        "fused position {}",
        t.lat
    );
    assert!(t.uncertainty_m < 2.0);
    // A track's later estimate joins its first hit's ticket without counting again.
    let mut upd = hit("e", "dock-2", "construction_waste", 30.70002, 0.6);
    upd.update_of = Some(hit_id("b"));
    assert_eq!(take(&mut ing, &[msg(&upd)]), [Outcome::Joined(t1.clone())]);
    assert_eq!(ing.store().ticket(t1).unwrap().unwrap().sightings, 2);
    assert_eq!(ing.store().sightings(t1).unwrap().len(), 3);
}

fn run(id: &str, plan: &str, at: f64) -> Run {
    Run {
        run_id: id.into(),
        plan_id: plan.into(),
        plan_sha256: "ab".repeat(32),
        dock_id: "dock-1".into(),
        kind: RunKind::Scheduled,
        scheduled_at: at,
        state: RunState::Scheduled,
        reason: None,
        kmz_md5: Some("9e107d9d372bb6826bd81d3542a419d6".into()),
        ticket_id: None,
        updated_at: at - 120.0,
    }
}

/// A run is claimed once per plan and instant (by whichever instance inserts first), moves only
/// from the state it is in, keeps its events in order, and knows the tickets its flight's hits
/// made.
fn a_patrol_run_is_claimed_once_and_moves_only_forward(open: &Open) {
    let (mut a, mut b) = (open(), open());
    let t0 = 1_779_876_000.0;
    let first = run(hit_id("r1").as_ref(), "u03-area", t0);
    let claimed = RunEvent::new(&first.run_id, t0 - 120.0, "claimed", serde_json::json!({}));
    assert!(a.claim_run(&first, &claimed).unwrap());
    // Another instance claiming the same instant under another id: refused, nothing written.
    let twin = run(hit_id("r1-twin").as_ref(), "u03-area", t0);
    let twin_event = RunEvent::new(&twin.run_id, t0 - 119.0, "claimed", serde_json::json!({}));
    assert!(!b.claim_run(&twin, &twin_event).unwrap());
    assert_eq!(b.run(&twin.run_id).unwrap(), None);
    assert!(b.run_events(&twin.run_id).unwrap().is_empty());
    // The next instant and another plan's are runs of their own.
    let next = run(hit_id("r2").as_ref(), "u03-area", t0 + 3600.0);
    let other = run(hit_id("r3").as_ref(), "r010-corridor", t0);
    for r in [&next, &other] {
        let ev = RunEvent::new(&r.run_id, t0, "claimed", serde_json::json!({}));
        assert!(b.claim_run(r, &ev).unwrap());
    }
    // Forward along a good flight, each step once.
    let path = [
        RunState::Scheduled,
        RunState::Preparing,
        RunState::Prepared,
        RunState::Executing,
        RunState::InProgress,
        RunState::Ok,
    ];
    for (k, w) in path.windows(2).enumerate() {
        let ev = RunEvent::new(
            &first.run_id,
            t0 + k as f64,
            w[1].as_str(),
            serde_json::json!({ "step": k }),
        );
        assert!(a.move_run(&first.run_id, w[0], w[1], None, &ev).unwrap());
        // The second instance, reading the same state, finds the move made.
        assert!(!b.move_run(&first.run_id, w[0], w[1], None, &ev).unwrap());
        if w[1] == RunState::InProgress {
            let progress = RunEvent::new(
                &first.run_id,
                t0 + 3.5,
                "flighttask_progress",
                serde_json::json!({ "current_waypoint_index": 3 }),
            );
            a.add_run_event(&progress).unwrap();
        }
    }
    let stored = b.run(&first.run_id).unwrap().unwrap();
    assert_eq!(stored.state, RunState::Ok);
    assert_eq!(stored.kmz_md5, first.kmz_md5);
    assert_eq!(stored.updated_at, t0 + 4.0);
    let events: Vec<String> = b
        .run_events(&first.run_id)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            "claimed",
            "preparing",
            "prepared",
            "executing",
            "in_progress",
            "flighttask_progress",
            "ok"
        ]
    );
    // A skip keeps its reason.
    let ev = RunEvent::new(&next.run_id, t0, "skipped", serde_json::json!({}));
    assert!(
        a.move_run(
            &next.run_id,
            RunState::Scheduled,
            RunState::Skipped,
            Some("blackout 12:00-13:30"),
            &ev
        )
        .unwrap()
    );
    assert_eq!(
        a.run(&next.run_id).unwrap().unwrap().reason.as_deref(),
        Some("blackout 12:00-13:30")
    );
    // Lists: newest instant first, by plan, open or over.
    assert_eq!(
        run_ids(
            a.as_mut(),
            RunFilter {
                plan_id: Some("u03-area".into()),
                ..RunFilter::default()
            }
        ),
        [next.run_id.clone(), first.run_id.clone()]
    );
    assert_eq!(
        run_ids(
            a.as_mut(),
            RunFilter {
                open: Some(true),
                ..RunFilter::default()
            }
        ),
        std::slice::from_ref(&other.run_id)
    );
    assert_eq!(a.runs(&RunFilter::default(), 2).unwrap().len(), 2);
    // A verification flight is found by its ticket.
    let mut verify = run(hit_id("r4").as_ref(), "verify-t1", t0 + 60.0);
    verify.kind = RunKind::Verification;
    verify.ticket_id = Some("T-0001".into());
    let ev = RunEvent::new(&verify.run_id, t0, "claimed", serde_json::json!({}));
    assert!(a.claim_run(&verify, &ev).unwrap());
    assert_eq!(
        run_ids(
            a.as_mut(),
            RunFilter {
                ticket_id: Some("T-0001".into()),
                ..RunFilter::default()
            }
        ),
        std::slice::from_ref(&verify.run_id)
    );
    assert!(
        run_ids(
            a.as_mut(),
            RunFilter {
                ticket_id: Some("T-0002".into()),
                ..RunFilter::default()
            }
        )
        .is_empty()
    );
    // Counted by state for `/metrics`.
    let mut counts = a.patrol_counts().unwrap();
    counts.runs.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts.runs,
        [
            (RunState::Ok, 1),
            (RunState::Scheduled, 2),
            (RunState::Skipped, 1)
        ]
    );
    assert_eq!(counts.dock_dead_letters, 0);
    // The flight's hits: the tickets they made, each once.
    let mut ing = ingest(open);
    let mut on_flight = hit("f1", "dock-1", "construction_waste", 30.7, 0.9);
    on_flight.source.flight_id = Some(first.run_id.clone());
    let mut again = hit("f2", "dock-1", "construction_waste", 30.700001, 0.9);
    again.source.flight_id = Some(first.run_id.clone());
    let mut elsewhere = hit("f3", "dock-1", "vending_in_lane", 30.71, 0.9);
    elsewhere.source.flight_id = Some(first.run_id.clone());
    let unrelated = hit("f4", "cam-1", "construction_waste", 30.72, 0.9);
    let out = take(
        &mut ing,
        &[
            msg(&on_flight),
            msg(&again),
            msg(&elsewhere),
            msg(&unrelated),
        ],
    );
    let (Outcome::Opened(pile), Outcome::Opened(stall)) = (&out[0], &out[2]) else {
        panic!("{out:?}")
    };
    assert_eq!(
        a.flight_tickets(&first.run_id).unwrap(),
        [pile.clone(), stall.clone()]
    );
    assert_eq!(
        a.sightings(pile).unwrap()[0].flight_id.as_deref(),
        Some(first.run_id.as_str())
    );
    assert!(a.flight_tickets(&next.run_id).unwrap().is_empty());
}

/// A ticket opened and joined within one batch is written once, as the batch leaves it, with
/// its audit events in the order they happened.
fn one_batch_opens_a_ticket_and_joins_it(open: &Open) {
    let mut ing = ingest(open);
    let a = msg(&hit("a", "dock-1", "construction_waste", 30.7, 0.5));
    let b = msg(&hit("b", "dock-2", "construction_waste", 30.700045, 0.45));
    let out = take(&mut ing, &[a.clone(), b, a]);
    let Outcome::Opened(t) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(out[1..], [Outcome::Joined(t.clone()), Outcome::Repeat]);
    assert_eq!(ing.store().counts().unwrap(), (1, 2, 0));
    let ticket = ing.store().ticket(t).unwrap().unwrap();
    assert_eq!((ticket.sightings, ticket.state), (2, State::Dispatched));
    let events = ing.store().audit(t).unwrap();
    assert_eq!(events.first().map(|e| e.event.as_str()), Some("opened"));
    assert_eq!(events.last().map(|e| e.event.as_str()), Some("dispatched"));
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    // After a restart the index is rebuilt from what was stored: a third sighting joins it.
    drop(ing);
    let mut ing = ingest(open);
    let c = msg(&hit("c", "dock-3", "construction_waste", 30.70002, 0.7));
    assert_eq!(take(&mut ing, &[c]), [Outcome::Joined(t.clone())]);
    assert_eq!(ing.store().ticket(t).unwrap().unwrap().sightings, 3);
}

fn malformed_payloads_become_dead_letters_naming_the_fault(open: &Open) {
    let mut ing = ingest(open);
    let good = hit("ok", "dock-1", "construction_waste", 30.7, 0.9);
    let mut wrong_agent = msg(&hit("x1", "dock-9", "construction_waste", 30.7, 0.9));
    wrong_agent.0 = "argus/v1/agents/dock-1/hits".into();
    let mut bad_sha = hit("x2", "dock-1", "construction_waste", 30.7, 0.9);
    bad_sha.evidence.sha256 = "00".repeat(32);
    let mut v = serde_json::to_value(&good).unwrap();
    v["schema"] = "argus.hit/9".into();
    let cases: Vec<((String, Vec<u8>), &str)> = vec![
        (
            ("argus/v1/agents/dock-1/hits".into(), b"{not json".to_vec()),
            "not JSON",
        ),
        (
            (
                "argus/v1/agents/dock-1/hits".into(),
                serde_json::to_vec(&v).unwrap(),
            ),
            "unknown schema",
        ),
        (wrong_agent, "disagrees with the topic"),
        (msg(&bad_sha), "SHA-256"),
        (
            (
                "argus/v1/agents/dock-1/hits".into(),
                vec![b' '; MAX_PAYLOAD + 1],
            ),
            "limit",
        ),
        (
            (
                "argus/v1/elsewhere".into(),
                serde_json::to_vec(&good).unwrap(),
            ),
            "topic",
        ),
    ];
    let mut msgs: Vec<(String, Vec<u8>)> = cases.iter().map(|(m, _)| m.clone()).collect();
    msgs.push(msg(&good));
    let out = take(&mut ing, &msgs);
    for ((_, want), got) in cases.iter().zip(&out) {
        assert!(
            matches!(got, Outcome::Dead(r) if r.to_string().contains(want)),
            "{want}: {got:?}"
        );
    }
    // The good one in the same batch is taken.
    assert!(matches!(out.last().unwrap(), Outcome::Opened(_)));
    let dead = ing.store().dead_letters(100).unwrap();
    assert_eq!(dead.len(), cases.len());
    assert_eq!(dead[1].size, MAX_PAYLOAD + 1);
    assert_eq!(dead[1].payload.len(), crate::store::DEAD_LETTER_KEEP);
    assert_eq!(ing.counters.get().3, cases.len() as u64);
    // Docks' dead letters are counted apart (an agent's `argus/v1/…` are not among them).
    let dock = |topic: &str| store::NewDeadLetter {
        at: 1_779_876_020.0,
        topic: topic.into(),
        reason: "unknown serial number".into(),
        payload: b"{}".to_vec(),
        size: 2,
    };
    ing.store()
        .apply(
            &[],
            &[
                dock("thing/product/7CTDM12345/events"),
                dock("sys/product/7CTDM12345/status"),
                dock("thing/productx/7CTDM12345/events"),
            ],
        )
        .unwrap();
    assert_eq!(ing.store().patrol_counts().unwrap().dock_dead_letters, 2);
}

fn the_audit_log_is_complete_and_in_order(open: &Open) {
    let mut ing = ingest(open);
    let out = take(
        &mut ing,
        &[msg(&hit("a1", "dock-1", "illegal_structure", 30.7, 0.9))],
    );
    let Outcome::Opened(t) = &out[0] else {
        panic!("{out:?}")
    };
    let events = ing.store().audit(t).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        ing.store().ticket(t).unwrap().unwrap().state,
        State::Dispatched
    );
}

fn a_ticket_walks_its_lifecycle_and_a_returning_violation_links_to_it(open: &Open) {
    let mut ing = ingest(open);
    let out = take(
        &mut ing,
        &[msg(&hit("p1", "dock-1", "construction_waste", 30.7, 0.9))],
    );
    let Outcome::Opened(t) = out[0].clone() else {
        panic!("{out:?}")
    };
    let now = 1_779_876_100.0;
    // Not a step: dispatched → closed.
    let e = ing
        .transition(&t, State::Closed, "operator:ana", None, now)
        .unwrap_err();
    assert!(matches!(e, ChangeError::NotAllowed { .. }), "{e}");
    for (k, to) in [
        State::InProgress,
        State::Resolved,
        State::Verified,
        State::Closed,
    ]
    .into_iter()
    .enumerate()
    {
        let after = ing
            .transition(&t, to, "operator:ana", Some("on it"), now + k as f64)
            .unwrap();
        assert_eq!(after.state, to);
    }
    let stored = ing.store().ticket(&t).unwrap().unwrap();
    assert_eq!((stored.state, stored.due_at), (State::Closed, None));
    let events: Vec<(String, String)> = ing
        .store()
        .audit(&t)
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.event))
        .collect();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(
        events[2],
        ("operator:ana".to_string(), "transition".to_string())
    );
    // The pile is dumped again a week later: a new ticket that names the closed one.
    let again = take(
        &mut ing,
        &[msg(&hit(
            "p2",
            "dock-2",
            "construction_waste",
            30.70001,
            0.9,
        ))],
    );
    let Outcome::Opened(t2) = again[0].clone() else {
        panic!("{again:?}")
    };
    assert_eq!(
        ing.store().ticket(&t2).unwrap().unwrap().recurs,
        Some(t.clone())
    );
    assert_eq!(
        ing.store().audit(&t).unwrap().last().unwrap().event,
        "recurred"
    );
    // A report filed through the API waits for review.
    let filed = ing
        .file(
            "construction_waste",
            argus_core::geodesy::GeoPoint {
                lat: 30.8,
                lon: 121.1,
            },
            "rubble by the school gate",
            "operator:ana",
            now,
        )
        .unwrap();
    assert_eq!(
        ing.store().ticket(&filed.ticket_id).unwrap().unwrap().state,
        State::New
    );
    // Open311's `status=closed`, one at a time: the closed ticket, though two open ones are
    // newer (the filter is the store's, before the limit); `status=open` finds those two.
    let mut ids = |open: bool, limit: usize| -> Vec<String> {
        let f = TicketFilter {
            open: Some(open),
            ..TicketFilter::default()
        };
        let mut v: Vec<String> = ing
            .store()
            .tickets(&f, limit)
            .unwrap()
            .into_iter()
            .map(|t| t.ticket_id)
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(false, 1), std::slice::from_ref(&t));
    let mut open = vec![t2, filed.ticket_id];
    open.sort();
    assert_eq!(ids(true, 5), open);
}

fn a_passed_deadline_is_reported_once_per_stage(open: &Open) {
    let mut ing = ingest(open);
    let t0 = 1_779_876_010.0; // when `take` receives
    let out = take(
        &mut ing,
        &[msg(&hit("s1", "dock-1", "vending_in_lane", 30.7, 0.45))],
    );
    let Outcome::Opened(t) = out[0].clone() else {
        panic!("{out:?}")
    };
    // Unsure: waits for review, to be dispatched within 30 s.
    assert!(ing.sweep(t0 + 10.0).unwrap().is_empty());
    let late = ing.sweep(t0 + 31.0).unwrap();
    assert_eq!(late.len(), 1);
    assert!(ing.sweep(t0 + 60.0).unwrap().is_empty(), "reported once");
    let breach = ing.store().audit(&t).unwrap().pop().unwrap();
    assert_eq!(
        (breach.event.as_str(), breach.detail["stage"].as_str()),
        ("sla_breach", Some("new"))
    );
    // Dispatched by a person: the response clock (30 min) starts, and is reported in its turn.
    ing.transition(&t, State::Dispatched, "operator:ana", None, t0 + 60.0)
        .unwrap();
    assert!(ing.sweep(t0 + 60.0 + 1799.0).unwrap().is_empty());
    assert_eq!(ing.sweep(t0 + 60.0 + 1801.0).unwrap().len(), 1);
    let breach = ing.store().audit(&t).unwrap().pop().unwrap();
    assert_eq!(breach.detail["stage"].as_str(), Some("dispatched"));
}

/// Every poison hit of the fault list ([`argus_testkit::hits::poisons`]) mixed among good hits: each is a dead letter naming its fault, every good
/// one is stored, and an update from another agent or from 5 km away is refused.
fn poison_hits_are_dead_letters_and_the_good_ones_around_them_are_stored(open: &Open) {
    let mut ing = ingest(open);
    let good = |k: usize| {
        hit(
            &format!("good-{k}"),
            "dock-1",
            "construction_waste",
            30.7 + k as f64 * 0.01,
            0.9,
        )
    };
    let poisons = argus_testkit::hits::poisons();
    let mut msgs = Vec::new();
    for (k, (_, poison)) in poisons.iter().enumerate() {
        msgs.push(msg(&good(2 * k)));
        let h = hit(
            &format!("poison-{k}"),
            "dock-1",
            "construction_waste",
            30.6,
            0.9,
        );
        let (topic, _) = msg(&h);
        msgs.push((topic, argus_testkit::hits::poisoned(&h, poison)));
    }
    let out = take(&mut ing, &msgs);
    for (k, (why, _)) in poisons.iter().enumerate() {
        assert!(matches!(out[2 * k], Outcome::Opened(_)), "{:?}", out[2 * k]);
        let Outcome::Dead(r) = &out[2 * k + 1] else {
            panic!("poison {k} was taken: {:?}", out[2 * k + 1])
        };
        assert!(r.to_string().contains(why), "{why}: {r}");
    }
    let dead = ing.store().dead_letters(100).unwrap();
    assert_eq!(dead.len(), poisons.len());
    // Updates: only the first hit's agent, only near it.
    let first = hit("first", "dock-1", "construction_waste", 30.5, 0.9);
    let mut other_agent = hit("upd-1", "dock-2", "construction_waste", 30.5, 0.9);
    other_agent.update_of = Some(hit_id("first"));
    let mut far = hit("upd-2", "dock-1", "construction_waste", 30.545, 0.9);
    far.update_of = Some(hit_id("first"));
    let mut near = hit("upd-3", "dock-1", "construction_waste", 30.50005, 0.9);
    near.update_of = Some(hit_id("first"));
    let out = take(
        &mut ing,
        &[msg(&first), msg(&other_agent), msg(&far), msg(&near)],
    );
    let Outcome::Opened(t) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(
        matches!(&out[1], Outcome::Dead(r) if r.to_string().contains("not of \"dock-2\"")),
        "{:?}",
        out[1]
    );
    assert!(
        matches!(&out[2], Outcome::Dead(r) if r.to_string().contains("5004 m")),
        "{:?}",
        out[2]
    );
    assert_eq!(out[3], Outcome::Joined(t.clone()));
}

/// A hit the store itself refuses (here a trigger stands for any value the database cannot
/// keep) is split off its batch and kept as a dead letter with the store's reason; the hits
/// sharing its batch are stored.
fn a_message_the_store_refuses_is_split_off_as_a_dead_letter(open: &Open) {
    let mut ing = ingest(open);
    let mut msgs: Vec<_> = (0..9)
        .map(|k| {
            msg(&hit(
                &format!("s{k}"),
                "dock-1",
                "construction_waste",
                30.7 + k as f64 * 0.01,
                0.9,
            ))
        })
        .collect();
    msgs.insert(
        4,
        msg(&hit("bad", "dock-poison", "construction_waste", 30.6, 0.9)),
    );
    let out = take(&mut ing, &msgs);
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Outcome::Opened(_)))
            .count(),
        9,
        "{out:?}"
    );
    let Outcome::Dead(r) = &out[4] else {
        panic!("{out:?}")
    };
    assert!(r.to_string().contains("poison refused"), "{r}");
    assert_eq!(ing.store().counts().unwrap(), (9, 9, 1));
    let dead = ing.store().dead_letters(10).unwrap();
    assert!(
        dead[0].reason.contains("the store refused it"),
        "{}",
        dead[0].reason
    );
}

fn lists_are_filtered_before_the_limit_and_page_by_cursor(open: &Open) {
    let mut ing = ingest(open);
    // 30 piles 1 km apart, each its own ticket: 20 opened together (one instant: ties), 10 a
    // minute later; every third one far to the east.
    let t0 = 1_779_876_000.0;
    for k in 0..30 {
        let mut h = hit(
            &format!("list-{k}"),
            "dock-1",
            "construction_waste",
            30.5 + 0.01 * f64::from(k),
            0.9,
        );
        if k % 3 == 0 {
            h.position.lon = 122.0;
        }
        let now = if k < 20 { t0 } else { t0 + 60.0 };
        let m = msg(&h);
        ing.take(&[(m.0.as_str(), m.1.as_slice())], now).unwrap();
    }
    let store = ing.store();
    // Every page is full, none repeats a ticket, and together they are the list.
    let mut f = TicketFilter::default();
    let mut seen: Vec<(f64, String)> = Vec::new();
    loop {
        let page = store.tickets(&f, 7).unwrap();
        assert!(
            page.len() == 7 || seen.len() + page.len() == 30,
            "{}",
            page.len()
        );
        seen.extend(page.iter().map(|t| (t.opened_at, t.ticket_id.clone())));
        match page.last() {
            Some(last) if page.len() == 7 => f.after = Some(store::Cursor::after(last)),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 30);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    sorted.dedup();
    assert_eq!(seen, sorted, "newest first, ties by id, no repeats");
    // Filters apply before the limit: a bbox around the eastern ten, the ones since t0 + 30 s.
    let east = TicketFilter {
        bbox: Some([30.0, 121.5, 31.0, 122.5]),
        open: Some(true),
        ..TicketFilter::default()
    };
    let page = store.tickets(&east, 5).unwrap();
    assert_eq!(page.len(), 5);
    assert!(page.iter().all(|t| (t.lon - 122.0).abs() < 1e-6));
    assert_eq!(store.tickets(&east, 100).unwrap().len(), 10);
    let late = TicketFilter {
        since: Some(t0 + 30.0),
        ..TicketFilter::default()
    };
    assert_eq!(store.tickets(&late, 100).unwrap().len(), 10);
    let closed = TicketFilter {
        open: Some(false),
        ..TicketFilter::default()
    };
    assert!(store.tickets(&closed, 100).unwrap().is_empty());
}

/// The ids of the runs a filter lists (at most 10).
fn run_ids(store: &mut dyn Store, f: RunFilter) -> Vec<String> {
    store
        .runs(&f, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run_id)
        .collect()
}
