//! Nothing acknowledged is ever lost: practices submit concurrently while the server is
//! killed with SIGKILL; after a restart every report that got a 201 is there exactly once
//! and the audit chain is intact.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

const PRAXIS: &str = "1-2098123400";

fn card_with_id(template: &serde_json::Value, id: &str) -> Vec<u8> {
    let mut card = template.clone();
    card["id"] = id.into();
    card["identifier"]["value"] = format!("urn:uuid:{id}").into();
    serde_json::to_vec(&card).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_report() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS);
    let certs = Arc::new(env.issue(PRAXIS));
    let ca = Arc::new(env.ca());
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap()).unwrap();
    let template = Arc::new(template);
    // (card id, Location) of every 201 the clients saw.
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();

    for round in 0..3 {
        let mut server = env.start();
        let addr = server.addr;
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let (certs, ca, template, acknowledged) =
                (certs.clone(), ca.clone(), template.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                let mut c = client(addr, &ca, Some(&certs), worker % 2 == 0);
                for i in 0..10_000 {
                    let id = uuid::Uuid::new_v4().to_string();
                    let _ = i;
                    match c.post("/fhir/Bundle", "application/fhir+json", card_with_id(&template, &id)).await {
                        Ok(resp) if resp.status == 201 => {
                            let loc = resp.header("location").unwrap().to_owned();
                            acknowledged.lock().unwrap().push((format!("urn:uuid:{id}"), loc));
                        }
                        Ok(resp) => panic!("unexpected status {}", resp.status),
                        Err(_) => break, // the server is gone
                    }
                }
            }));
        }
        // Let load build up, then pull the plug at a different moment each round.
        tokio::time::sleep(Duration::from_millis(700 + 400 * round)).await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 50, "load too small to mean anything: {}", acknowledged.len());

    let server = env.start();
    let listed: serde_json::Value = serde_json::from_str(&env.cli_ok(&["reports", "list", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    for (card_id, location) in &acknowledged {
        let n = listed.iter().filter(|r| r["card_id"] == card_id.as_str()).count();
        assert_eq!(n, 1, "acknowledged card stored {n} times");
        let id = location.trim_start_matches("/fhir/Bundle/");
        assert!(listed.iter().any(|r| r["id"] == id));
    }
    // Sending an acknowledged card again returns its first receipt.
    let mut c = client(server.addr, &ca, Some(&certs), true);
    let (card_id, location) = &acknowledged[acknowledged.len() / 2];
    let id = card_id.trim_start_matches("urn:uuid:");
    let resp = c.post("/fhir/Bundle", "application/fhir+json", card_with_id(&template, id)).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("location"), Some(location.as_str()));

    let verdict: serde_json::Value = serde_json::from_str(&env.cli_ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert!(verdict["entries"].as_u64().unwrap() as usize >= acknowledged.len());
    println!("{} acknowledged reports survived 3 SIGKILLs", acknowledged.len());
}
