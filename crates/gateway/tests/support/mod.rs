//! Helpers of the reliability and security tests (hostile input, rate limits, access,
//! crash, full disk), on top of `common`: raw TLS connections that can misbehave in ways
//! the well-mannered `ApiClient` cannot, the server's memory from `/proc`, configuration
//! edits, counting stored reports, and a seeded random generator.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Certs, Env, fixture};

pub const PRAXIS_A: &str = "1-2098123400";
pub const PRAXIS_B: &str = "1-2098456700";
pub const LAGUS: &str = "9-oegd-mv-lagus";
pub const GA_ROSTOCK: &str = "9-oegd-mv-13003";
pub const GA_SCHWERIN: &str = "9-oegd-mv-13004";

/// A valid participation card (JSON) whose `Bundle.id` and `Bundle.identifier` carry `id`.
pub fn card_with_id(id: &str) -> Vec<u8> {
    let mut card = card_template();
    card["id"] = id.into();
    card["identifier"]["value"] = format!("urn:uuid:{id}").into();
    serde_json::to_vec(&card).unwrap()
}

pub fn card_template() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap()).unwrap()
}

/// A fresh card with a new identifier.
pub fn fresh_card() -> (String, Vec<u8>) {
    let id = uuid::Uuid::new_v4().to_string();
    let body = card_with_id(&id);
    (format!("urn:uuid:{id}"), body)
}

/// Sets `key = value` in the `[section]` of the data directory's `config.toml` (the line
/// must exist: `init` writes every key).
pub fn set_config(env: &Env, section: &str, key: &str, value: &str) {
    let path = env.data.join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut current = String::new();
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|line| {
            let t = line.trim();
            if t.starts_with('[') {
                current = t.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if current == section && t.split('=').next().map(str::trim) == Some(key) {
                found = true;
                return format!("{key} = {value}");
            }
            line.to_owned()
        })
        .collect();
    assert!(found, "no {key} in [{section}] of config.toml:\n{text}");
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

/// Stored reports as `reports list --json` gives them.
pub fn stored_reports(env: &Env) -> Vec<serde_json::Value> {
    let out = env.cli_ok(&["reports", "list", "--json"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

/// `audit verify --json` says the chain is intact.
pub fn assert_audit_ok(env: &Env) -> serde_json::Value {
    let verdict: serde_json::Value = serde_json::from_str(&env.cli_ok(&["audit", "verify", "--json"])).unwrap();
    assert_eq!(verdict["ok"], true, "audit verify: {verdict}");
    verdict
}

/// `PRAGMA integrity_check` of the database (python3's sqlite3, which CI installs; the
/// server must be stopped or idle).
pub fn assert_integrity_ok(db: &Path) {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(';'.join(r[0] for r in c.execute('PRAGMA integrity_check')))",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "integrity check could not run: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "PRAGMA integrity_check");
}

/// Resident memory of a process from `/proc/PID/status`: (current `VmRSS`, peak `VmHWM`)
/// in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A blocking TLS connection with an optional client certificate, for requests the
/// `ApiClient` will not send (broken HTTP, slow writers, huge heads).
pub struct RawTls {
    pub stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl RawTls {
    pub fn connect(addr: SocketAddr, ca: &str, certs: Option<&Certs>) -> std::io::Result<RawTls> {
        let config: Arc<rustls::ClientConfig> =
            oegd_pki::client_config(ca, certs.map(|c| (c.cert.as_str(), c.key.as_str()))).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so that a refused certificate shows here.
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(RawTls { stream })
    }

    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.sock.set_read_timeout(Some(t)).unwrap();
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads until the server closes the connection, an error, or `limit` bytes.
    pub fn read_to_close(&mut self, limit: usize) -> (Vec<u8>, Option<std::io::Error>) {
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => {
                    out.extend_from_slice(buf.get(..n).unwrap_or_default());
                    if out.len() >= limit {
                        return (out, None);
                    }
                }
                Err(e) => return (out, Some(e)),
            }
        }
    }
}

/// The status code of a raw HTTP response, if it starts like one.
pub fn raw_status(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response.get(..response.len().min(64)).unwrap_or_default()).into_owned();
    let mut parts = text.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The body of a raw HTTP response (after the blank line), as JSON if it is.
pub fn raw_json_body(response: &[u8]) -> Option<serde_json::Value> {
    let pos = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let body = response.get(pos + 4..)?;
    serde_json::from_slice(body).ok()
}

/// SplitMix64: a small seeded generator, so that a failing run can be repeated with the
/// printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A seed from `OEGD_TEST_SEED` or else from the clock.
    pub fn seed_from_env() -> u64 {
        std::env::var("OEGD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::UNIX_EPOCH.elapsed().map(|d| d.as_nanos() as u64).unwrap_or(0x5eed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}
