//! Test harness: a real data directory made by the real binary, a real server process on a
//! loopback port, and real mTLS clients.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

pub use oegd_store_conformance::testdb::TestDb;
use oegd_web::client::ApiClient;

/// Whether the end-to-end tests run on PostgreSQL (`OEGD_TEST_DATABASE_URL` set).
pub fn pg_requested() -> bool {
    std::env::var("OEGD_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

pub const BIN: &str = env!("CARGO_BIN_EXE_oegd-gateway");

/// `../shared` beside the repository (or `OEGD_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("OEGD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn fixture(rel: &str) -> PathBuf {
    shared_dir().join("fixtures").join(rel)
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub data: PathBuf,
    /// The PostgreSQL database of this data directory (with `OEGD_TEST_DATABASE_URL`),
    /// dropped with the `Env`.
    pub pg: Option<TestDb>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(db) = &self.pg {
            db.drop_blocking();
        }
    }
}

pub struct Certs {
    pub cert: String,
    pub key: String,
    pub ca: String,
    pub dir: PathBuf,
}

impl Env {
    /// A data directory made by `init`: on SQLite, or with `OEGD_TEST_DATABASE_URL` set on a
    /// fresh PostgreSQL database of that server (so every end-to-end test runs on either).
    pub fn init() -> Env {
        Self::init_on(
            pg_requested().then(|| {
                TestDb::create_blocking().expect("OEGD_TEST_DATABASE_URL is set, but PostgreSQL is not usable")
            }),
        )
    }

    /// A data directory on the given PostgreSQL database (or SQLite for `None`).
    pub fn init_on(pg: Option<TestDb>) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let mut args = vec!["init", "--data", data.to_str().unwrap(), "--state", "MV"];
        if let Some(db) = &pg {
            args.extend(["--database-url", db.url.as_str()]);
        }
        let out = run(&args);
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        Env { tmp, data, pg }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--data", self.data.to_str().unwrap()]);
        run(&full)
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn add_org(&self, kind: &str, name: &str, id: &str) {
        self.cli_ok(&["org", "add", "--kind", kind, "--name", name, "--telematik-id", id]);
    }

    pub fn issue(&self, id: &str) -> Certs {
        let dir = self.tmp.path().join("certs").join(id);
        self.cli_ok(&["cert", "issue", "--telematik-id", id, "--out", dir.to_str().unwrap()]);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        Certs { cert: read("client.crt"), key: read("client.key"), ca: read("ca.crt"), dir }
    }

    pub fn ca(&self) -> String {
        std::fs::read_to_string(self.data.join("pki/ca.crt")).unwrap()
    }

    pub fn start(&self) -> Server {
        Server::start(&self.data)
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("OEGD_LOG", "warn").env_remove("OEGD_DATABASE_URL").output().unwrap()
}

/// A server process.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_at(data, "127.0.0.1:0")
    }

    pub fn start_at(data: &Path, listen: &str) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--data", data.to_str().unwrap(), "--api-listen", listen])
            .env("OEGD_LOG", "warn")
            .env_remove("OEGD_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        // "oegd-gateway: FHIR-API auf https://127.0.0.1:PORT/fhir (mTLS); ..."
        let addr = line
            .split("https://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in server output: {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn client(addr: SocketAddr, ca: &str, certs: Option<&Certs>, keep_alive: bool) -> ApiClient {
    let tls: Arc<rustls::ClientConfig> =
        oegd_pki::client_config(ca, certs.map(|c| (c.cert.as_str(), c.key.as_str()))).unwrap();
    ApiClient::new(addr, "localhost", tls, keep_alive).unwrap()
}

pub fn content_type_of(path: &Path) -> &'static str {
    if path.extension().and_then(|e| e.to_str()) == Some("xml") {
        "application/fhir+xml"
    } else {
        "application/fhir+json"
    }
}
