//! Two gateway instances on one PostgreSQL database, as behind a load balancer: practices
//! submit concurrently through both (the same card through both at once, too), one instance
//! is killed with SIGKILL mid-load and started again. Every acknowledged report is stored
//! exactly once, the audit chain is one intact chain, and the day's run happened exactly
//! once across all instances.
//!
//! Needs PostgreSQL (`OEGD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`);
//! skipped with a reason when unreachable, unless `OEGD_REQUIRE_POSTGRES=1`.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const PRAXIS: &str = "1-2098123400";

fn card_with_id(template: &serde_json::Value, id: &str) -> Vec<u8> {
    let mut card = template.clone();
    card["id"] = id.into();
    card["identifier"]["value"] = format!("urn:uuid:{id}").into();
    serde_json::to_vec(&card).unwrap()
}

/// Polls `check` every 250 ms until it holds, for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    check()
}

type Acks = Arc<Mutex<Vec<(String, String)>>>;

/// A practice sending distinct cards to one instance until `stop` (or the instance dies).
fn load(
    addr: std::net::SocketAddr,
    ca: Arc<String>,
    certs: Arc<Certs>,
    template: Arc<serde_json::Value>,
    acks: Acks,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut c = client(addr, &ca, Some(&certs), true);
        let mut sent = 0;
        while !stop.load(Ordering::Relaxed) {
            let id = uuid::Uuid::new_v4().to_string();
            match c.post("/fhir/Bundle", "application/fhir+json", card_with_id(&template, &id)).await {
                Ok(resp) if resp.status == 201 => {
                    acks.lock().unwrap().push((format!("urn:uuid:{id}"), resp.header("location").unwrap().to_owned()));
                    sent += 1;
                }
                // the per-client rate limit: wait as a well-behaved client does
                Ok(resp) if resp.status == 429 => tokio::time::sleep(Duration::from_millis(200)).await,
                Ok(resp) => panic!("unexpected status {}", resp.status),
                // the instance was killed: a load balancer would send the practice elsewhere
                Err(_) => break,
            }
        }
        sent
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_one_database_sigkill_loses_nothing_and_runs_the_day_once() {
    let Some(db) = TestDb::create_blocking() else { return };
    let env = Env::init_on(Some(db));
    let db = env.pg.as_ref().unwrap();
    // The daily run is due at once on both instances.
    let config_path = env.data.join("config.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("database_url"), "init writes the database to the config: {config}");
    let config: Vec<&str> =
        config.lines().map(|l| if l.starts_with("daily_run_at") { "daily_run_at = \"00:00\"" } else { l }).collect();
    std::fs::write(&config_path, config.join("\n") + "\n").unwrap();
    env.cli_ok(&["registry", "import", fixture("programme/small/meldedaten_1.csv").to_str().unwrap()]);
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS);
    let certs = Arc::new(env.issue(PRAXIS));
    let ca = Arc::new(env.ca());
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap()).unwrap();
    let template = Arc::new(template);

    let mut a = env.start();
    let b = env.start();
    assert_ne!(a.addr, b.addr);
    let acks: Acks = Arc::default();
    let stop_a = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(load(a.addr, ca.clone(), certs.clone(), template.clone(), acks.clone(), stop_a.clone()));
        workers.push(load(b.addr, ca.clone(), certs.clone(), template.clone(), acks.clone(), stop_b.clone()));
    }

    // The same cards through both instances at the same moment: each stored once, and both
    // answers name the same report.
    let mut same = Vec::new();
    for _ in 0..20 {
        let id = uuid::Uuid::new_v4().to_string();
        let body = card_with_id(&template, &id);
        let (mut ca_, mut cb) = (client(a.addr, &ca, Some(&certs), false), client(b.addr, &ca, Some(&certs), false));
        let (ra, rb) = tokio::join!(
            ca_.post("/fhir/Bundle", "application/fhir+json", body.clone()),
            cb.post("/fhir/Bundle", "application/fhir+json", body)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [200, 201], "one instance stores the card, the other answers with it");
        assert_eq!(ra.header("location"), rb.header("location"));
        same.push(format!("urn:uuid:{id}"));
    }

    // The day's run, done by one of them while the load goes on.
    let finished = eventually(Duration::from_secs(240), || {
        db.query_blocking("SELECT as_of FROM daily_runs WHERE finished_at IS NOT NULL").len() == 1
    });
    assert!(finished, "the daily run finished on one instance");
    let acked_before_kill = acks.lock().unwrap().len();
    assert!(acked_before_kill > 0, "the load reached the instances");

    // SIGKILL one instance mid-load; the other keeps serving.
    a.kill();
    stop_a.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // ... and it comes back (the daily run is done: it must not run it again)
    let a2 = env.start();
    let mut c = client(a2.addr, &ca, Some(&certs), false);
    let id = uuid::Uuid::new_v4().to_string();
    let resp = c.post("/fhir/Bundle", "application/fhir+json", card_with_id(&template, &id)).await.unwrap();
    assert_eq!(resp.status, 201);
    acks.lock().unwrap().push((format!("urn:uuid:{id}"), resp.header("location").unwrap().to_owned()));
    tokio::time::sleep(Duration::from_secs(5)).await; // more than two ticks of its programme task
    stop_b.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for w in workers {
        sent += w.await.unwrap();
    }
    drop(a2);
    drop(b);

    // Every acknowledged report exactly once, under the acknowledged location.
    let stored = env.cli_ok(&["reports", "list", "--json"]);
    let stored: Vec<serde_json::Value> = serde_json::from_str(&stored).unwrap();
    let mut by_card: HashMap<String, Vec<String>> = HashMap::new();
    for r in &stored {
        by_card
            .entry(r["card_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(r["id"].as_str().unwrap().to_owned());
    }
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() > acked_before_kill, "the surviving instance kept acknowledging");
    for (card, location) in &acks {
        let ids = by_card.get(card).unwrap_or_else(|| panic!("acknowledged report {card} is missing"));
        assert_eq!(ids.len(), 1, "{card} stored {} times", ids.len());
        assert_eq!(location, &format!("/fhir/Bundle/{}", ids[0]));
    }
    for card in &same {
        assert_eq!(by_card.get(card).map(Vec::len), Some(1), "{card} sent through both at once");
    }
    assert!(by_card.values().all(|ids| ids.len() == 1));
    eprintln!(
        "{} reports acknowledged ({} by the load workers), {} stored",
        acks.len() + same.len(),
        sent,
        stored.len()
    );

    // One intact chain, and one daily run across all instances.
    assert_audit_ok(&env);
    assert_eq!(db.query_blocking("SELECT as_of FROM daily_runs").len(), 1);
    let claimed = db.query_blocking("SELECT object FROM audit_log WHERE action = 'programme.daily_run_claimed'");
    assert_eq!(claimed.len(), 1, "claimed once: {claimed:?}");
    let runs = db.query_blocking("SELECT object FROM audit_log WHERE action = 'programme.daily_run'");
    assert_eq!(runs.len(), 1, "actions recorded by one run: {runs:?}");
}

/// `audit verify --json` says the chain is intact.
fn assert_audit_ok(env: &Env) {
    let verdict: serde_json::Value = serde_json::from_str(&env.cli_ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verdict["ok"], true, "audit verify: {verdict}");
}

#[test]
fn serve_refuses_a_newer_schema_and_migrate_says_so() {
    let Some(db) = TestDb::create_blocking() else { return };
    let env = Env::init_on(Some(db));
    assert!(env.cli_ok(&["migrate"]).contains("Datenbankschema auf Version"));
    env.pg.as_ref().unwrap().execute_blocking("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')");
    let out = run(&["serve", "--data", env.data.to_str().unwrap(), "--api-listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Datenbankschema (Version 99) ist neuer"), "{err}");
    let out = env.cli(&["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Version 99"));
}
