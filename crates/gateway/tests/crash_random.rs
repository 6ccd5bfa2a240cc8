//! Crash safety, many times: practices submit (and resubmit) concurrently while the server
//! is killed with SIGKILL at random moments, up to 20 times or for 60 seconds, whichever
//! comes first, and restarted each time. Afterwards every report that got a 201 is stored
//! exactly once, no card is stored twice, the database passes `PRAGMA integrity_check`
//! and `audit verify` passes.
//!
//! The moments come from a seeded generator; the seed is printed, and `OEGD_TEST_SEED=N`
//! repeats a run.

mod common;
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use support::*;

const MAX_KILLS: usize = 20;
const MAX_WALL: Duration = Duration::from_secs(60);
const WORKERS_PER_PRACTICE: usize = 3;

/// What the clients saw acknowledged: card id → Location.
type Acks = Arc<Mutex<HashMap<String, String>>>;

/// Submits until the server goes away. One submission in eight resends a card this worker
/// already had acknowledged, which must come back as 200 with the first Location.
async fn worker(
    addr: std::net::SocketAddr,
    ca: Arc<String>,
    certs: Arc<Certs>,
    keep_alive: bool,
    seed: u64,
    acks: Acks,
) {
    let mut rng = Rng::new(seed);
    let mut mine: Vec<(String, Vec<u8>)> = Vec::new();
    let mut c = client(addr, &ca, Some(&certs), keep_alive);
    loop {
        let resend = !mine.is_empty() && rng.range(0, 8) == 0;
        let (card_id, body) = if resend {
            let i = rng.range(0, mine.len() as u64) as usize;
            mine[i].clone()
        } else {
            fresh_card()
        };
        let resp = match c.post("/fhir/Bundle", "application/fhir+json", body.clone()).await {
            Ok(resp) => resp,
            Err(_) => return, // killed
        };
        match resp.status {
            201 => {
                assert!(!resend, "a resent acknowledged card was stored again");
                let loc = resp.header("location").unwrap().to_owned();
                let previous = acks.lock().unwrap().insert(card_id.clone(), loc);
                assert!(previous.is_none(), "201 twice for one card");
                mine.push((card_id, body));
            }
            200 => {
                // A resend, or a card whose first answer was lost in a kill.
                let loc = resp.header("location").unwrap();
                if resend {
                    assert_eq!(acks.lock().unwrap().get(&card_id).map(String::as_str), Some(loc));
                }
            }
            429 => tokio::time::sleep(Duration::from_secs(1)).await,
            s => panic!("unexpected status {s}: {}", String::from_utf8_lossy(&resp.body)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_lose_nothing_acknowledged() {
    let seed = Rng::seed_from_env();
    println!("seed {seed} (repeat with OEGD_TEST_SEED={seed})");
    let mut rng = Rng::new(seed);

    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    let practices = [Arc::new(env.issue(PRAXIS_A)), Arc::new(env.issue(PRAXIS_B))];
    let ca = Arc::new(env.ca());
    let acks: Acks = Arc::default();

    let started = Instant::now();
    let mut kills = 0;
    let mut moments = Vec::new();
    while kills < MAX_KILLS && started.elapsed() < MAX_WALL {
        let mut server = env.start();
        let addr = server.addr;
        let mut tasks = Vec::new();
        for (p, certs) in practices.iter().enumerate() {
            for w in 0..WORKERS_PER_PRACTICE {
                let (ca, certs, acks) = (ca.clone(), certs.clone(), acks.clone());
                let worker_seed = rng.next_u64();
                tasks.push(tokio::spawn(worker(addr, ca, certs, (p + w) % 2 == 0, worker_seed, acks)));
            }
        }
        // The moment of the kill: anywhere from just after start-up to well into the load.
        let wait = Duration::from_millis(rng.range(20, 1500));
        moments.push(wait.as_millis());
        tokio::time::sleep(wait).await;
        server.kill();
        kills += 1;
        for t in tasks {
            t.await.unwrap();
        }
    }

    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() > 100, "load too small to mean anything: {}", acks.len());

    // Restart once more: the server opens the database after all those kills.
    let mut server = env.start();
    let stored = stored_reports(&env);
    let mut per_card: HashMap<&str, Vec<&serde_json::Value>> = HashMap::new();
    for r in &stored {
        per_card.entry(r["card_id"].as_str().unwrap()).or_default().push(r);
    }
    for (card_id, location) in &acks {
        let rows = per_card.get(card_id.as_str()).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(rows.len(), 1, "acknowledged card stored {} times", rows.len());
        assert_eq!(format!("/fhir/Bundle/{}", rows[0]["id"].as_str().unwrap()), *location);
    }
    let twice = per_card.values().filter(|rows| rows.len() > 1).count();
    assert_eq!(twice, 0, "{twice} cards stored more than once");
    // The restarted server answers an acknowledged card with its first receipt.
    let (card_id, location) = acks.iter().next().unwrap();
    let id = card_id.trim_start_matches("urn:uuid:");
    let sender = stored.iter().find(|r| r["card_id"] == card_id.as_str()).unwrap()["sender"].as_str().unwrap();
    let certs = if sender == PRAXIS_A { &practices[0] } else { &practices[1] };
    let mut c = client(server.addr, &ca, Some(certs), false);
    let resp = c.post("/fhir/Bundle", "application/fhir+json", card_with_id(id)).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("location"), Some(location.as_str()));
    server.terminate();

    assert_integrity_ok(&env.data.join("gateway.db"));
    let verdict = assert_audit_ok(&env);
    println!(
        "{kills} SIGKILLs in {:.1} s (moments after start, ms: {moments:?}): {} acknowledged reports, all present exactly once \
         ({} stored in all, {} audit entries); integrity_check ok, audit verify ok",
        started.elapsed().as_secs_f64(),
        acks.len(),
        stored.len(),
        verdict["entries"]
    );
}
