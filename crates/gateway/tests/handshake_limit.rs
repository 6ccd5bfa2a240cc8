//! Failed TLS handshakes per source address: a client that fails the handshake again and
//! again (no certificate, revoked, not TLS at all) is refused for the cool-down, even with a
//! good certificate, while another address is served throughout; after the cool-down the
//! address is served again. Against the real server; the second address is 127.0.0.2 (any
//! 127.0.0.0/8 address reaches a server on 127.0.0.1 on Linux). The web interface's listener
//! (`--ui-listen`, no client certificate) has the same guard.

mod common;
mod support;
mod uiclient;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rustls::pki_types::ServerName;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

const FAILURES: u32 = 4;
const COOLDOWN_SECS: u64 = 3;

/// One request over a new connection from `source`: the status, or the error text when the
/// connection or TLS failed.
async fn request_from(source: [u8; 4], server: SocketAddr, ca: &str, certs: Option<&Certs>) -> Result<u16, String> {
    request_path_from(source, server, ca, certs, "/fhir/metadata").await
}

async fn request_path_from(
    source: [u8; 4],
    server: SocketAddr,
    ca: &str,
    certs: Option<&Certs>,
    path: &str,
) -> Result<u16, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket.bind(SocketAddr::from((source, 0))).map_err(|e| e.to_string())?;
    let tcp = socket.connect(server).await.map_err(|e| format!("connect: {e}"))?;
    let config: Arc<rustls::ClientConfig> =
        oegd_pki::client_config(ca, certs.map(|c| (c.cert.as_str(), c.key.as_str())))
            .map_err(|e| format!("client config: {e}"))?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut tls = TlsConnector::from(config).connect(name, tcp).await.map_err(|e| format!("tls: {e}"))?;
    tls.write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    // TLS 1.3: a refused client certificate shows up when reading, not in the handshake.
    tls.read_to_end(&mut answer).await.map_err(|e| format!("read: {e}"))?;
    raw_status(&answer).ok_or_else(|| format!("no HTTP answer ({} bytes)", answer.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_failing_handshakes_is_refused_for_a_while_and_others_are_served() {
    let env = Env::init();
    let config = std::fs::read_to_string(env.data.join("config.toml")).unwrap();
    assert!(
        config.contains("failed_handshakes_per_ip = 100") && config.contains("failed_handshake_cooldown_secs = 60"),
        "defaults:\n{config}"
    );
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    let good = env.issue(PRAXIS_A);
    let revoked = env.issue(PRAXIS_B);
    env.cli_ok(&["cert", "revoke", "--telematik-id", PRAXIS_B]);
    set_config(&env, "limits", "failed_handshakes_per_ip", &FAILURES.to_string());
    set_config(&env, "limits", "failed_handshake_cooldown_secs", &COOLDOWN_SECS.to_string());
    let server = env.start();
    let ca = env.ca();
    const BAD: [u8; 4] = [127, 0, 0, 2];
    const OTHER: [u8; 4] = [127, 0, 0, 1];

    // Before: the good certificate works from both addresses.
    assert_eq!(request_from(BAD, server.addr, &ca, Some(&good)).await, Ok(200));
    assert_eq!(request_from(OTHER, server.addr, &ca, Some(&good)).await, Ok(200));

    // The bad address fails handshakes: no certificate, a revoked one, and plain bytes that
    // are no TLS at all. Each is refused by TLS as before.
    for i in 0..FAILURES {
        match i % 3 {
            0 => assert!(request_from(BAD, server.addr, &ca, None).await.is_err()),
            1 => assert!(request_from(BAD, server.addr, &ca, Some(&revoked)).await.is_err()),
            _ => not_tls_from(BAD, server.addr).await.unwrap(),
        }
    }

    // Now the bad address is refused even with a good certificate: the connection is closed
    // before any TLS work.
    // (The server counts a failure just after its side of the handshake ends, so the
    // client may be a moment ahead: a few tries.)
    let mut refused = request_from(BAD, server.addr, &ca, Some(&good)).await;
    for _ in 0..20 {
        if refused.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        refused = request_from(BAD, server.addr, &ca, Some(&good)).await;
    }
    assert!(refused.is_err(), "a good certificate from the refused address: {refused:?}");
    println!("refused address, good certificate: {}", refused.unwrap_err());
    // Another address is not affected: served, and its submissions stored.
    assert_eq!(request_from(OTHER, server.addr, &ca, Some(&good)).await, Ok(200));
    let mut c = client(server.addr, &ca, Some(&good), false);
    let (_, body) = fresh_card();
    assert_eq!(c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap().status, 201);

    // After the cool-down the bad address is served again.
    tokio::time::sleep(Duration::from_secs(COOLDOWN_SECS) + Duration::from_millis(500)).await;
    assert_eq!(request_from(BAD, server.addr, &ca, Some(&good)).await, Ok(200));
}

/// Plain bytes that are no TLS at all, from `source`: a failed handshake.
async fn not_tls_from(source: [u8; 4], server: SocketAddr) -> std::io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let mut tcp = socket.connect(server).await?;
    let _ = tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_interface_refuses_an_address_failing_handshakes_too() {
    let env = Env::init();
    set_config(&env, "limits", "failed_handshakes_per_ip", &FAILURES.to_string());
    set_config(&env, "limits", "failed_handshake_cooldown_secs", &COOLDOWN_SECS.to_string());
    let (_server, _api, ui) = uiclient::serve(&env);
    let ca = env.ca();
    const BAD: [u8; 4] = [127, 0, 0, 2];
    const OTHER: [u8; 4] = [127, 0, 0, 1];
    assert_eq!(request_path_from(BAD, ui, &ca, None, "/anmelden").await, Ok(200));

    for _ in 0..FAILURES {
        not_tls_from(BAD, ui).await.unwrap();
    }
    // (the server counts a failure just after its side of the handshake ends: a few tries)
    let mut refused = request_path_from(BAD, ui, &ca, None, "/anmelden").await;
    for _ in 0..20 {
        if refused.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        refused = request_path_from(BAD, ui, &ca, None, "/anmelden").await;
    }
    assert!(refused.is_err(), "the login page from the refused address: {refused:?}");
    assert_eq!(request_path_from(OTHER, ui, &ca, None, "/anmelden").await, Ok(200));

    tokio::time::sleep(Duration::from_secs(COOLDOWN_SECS) + Duration::from_millis(500)).await;
    assert_eq!(request_path_from(BAD, ui, &ca, None, "/anmelden").await, Ok(200));
}
