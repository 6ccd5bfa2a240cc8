//! Abuse limits: a client (Telematik-ID of its certificate) above its request rate gets
//! `429 Too Many Requests` with `Retry-After` and a German OperationOutcome, while other
//! clients carry on; one address cannot hold more connections than configured.

mod common;
mod support;

use std::time::Duration;

use common::*;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_gets_429_and_others_are_not_affected() {
    let env = Env::init();
    let config = std::fs::read_to_string(env.data.join("config.toml")).unwrap();
    assert!(config.contains("[limits]") && config.contains("requests_per_second = 200"), "defaults:\n{config}");
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    set_config(&env, "limits", "requests_per_second", "1");
    set_config(&env, "limits", "request_burst", "3");
    let a = env.issue(PRAXIS_A);
    let b = env.issue(PRAXIS_B);
    let server = env.start();
    let ca = env.ca();

    // A sends as fast as it can: after its burst of 3 it is throttled. (A bound of 100
    // requests for liveness: at one token a second they cannot all pass.)
    let mut ca_client = client(server.addr, &ca, Some(&a), true);
    let mut created = 0;
    let mut throttled = None;
    for _ in 0..100 {
        let (_, body) = fresh_card();
        let resp = ca_client.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
        match resp.status {
            201 => created += 1,
            429 => {
                throttled = Some(resp);
                break;
            }
            s => panic!("unexpected {s}"),
        }
    }
    let resp = throttled.expect("no 429 within 100 requests at 1 request a second");
    assert!(created >= 3, "the burst of 3 was not granted: {created}");
    let retry_after: u64 = resp.header("retry-after").expect("Retry-After").parse().expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    let oo = resp.json().unwrap();
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["code"], "throttled");
    let diagnostics = oo["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(diagnostics.contains("Zu viele Anfragen") && diagnostics.contains("Sekunden"), "{diagnostics}");
    println!("429 after {created} submissions; Retry-After: {retry_after}; {diagnostics}");

    // B has its own bucket: its burst is untouched by A.
    let mut cb = client(server.addr, &ca, Some(&b), true);
    let (_, body) = fresh_card();
    assert_eq!(cb.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap().status, 201);
    assert_eq!(cb.get("/fhir/metadata").await.unwrap().status, 200);
    assert_eq!(cb.get("/fhir/metadata").await.unwrap().status, 200);

    // A, having waited as told, is served again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (_, body) = fresh_card();
    let resp = ca_client.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
    assert_eq!(resp.status, 201, "after Retry-After: {}", String::from_utf8_lossy(&resp.body));
    created += 1;

    // Throttled submissions stored nothing.
    let stored = stored_reports(&env);
    assert_eq!(stored.iter().filter(|r| r["sender"] == PRAXIS_A).count(), created);
    assert_eq!(stored.iter().filter(|r| r["sender"] == PRAXIS_B).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_connections_than_configured() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    set_config(&env, "limits", "max_connections_per_ip", "2");
    set_config(&env, "limits", "header_read_timeout_secs", "60");
    let a = env.issue(PRAXIS_A);
    let server = env.start();
    let (addr, ca) = (server.addr, env.ca());

    let result = tokio::task::spawn_blocking(move || {
        // Two idle connections take both slots of 127.0.0.1.
        let first = RawTls::connect(addr, &ca, Some(&a)).unwrap();
        let _second = RawTls::connect(addr, &ca, Some(&a)).unwrap();
        // A third is closed at once: the handshake fails, or the first read sees the end.
        let third = RawTls::connect(addr, &ca, Some(&a)).and_then(|mut t| {
            t.send(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let (answer, _) = t.read_to_close(1 << 16);
            Ok(raw_status(&answer))
        });
        assert!(!matches!(third, Ok(Some(_))), "a third connection from one address was served: {third:?}");
        // Freeing a slot lets the next one in (the server notices the close shortly; a
        // bounded number of attempts).
        drop(first);
        for _ in 0..100 {
            if let Ok(mut t) = RawTls::connect(addr, &ca, Some(&a)) {
                if t.send(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_ok() {
                    let (answer, _) = t.read_to_close(1 << 20);
                    if raw_status(&answer) == Some(200) {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })
    .await
    .unwrap();
    assert!(result, "no connection accepted after a slot was freed");
}
