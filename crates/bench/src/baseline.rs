//! The two ceilings our throughput is compared with, measured on the same machine in the
//! same run: the gateway's TLS and HTTP stack answering `201` without doing anything, and
//! SQLite's rate of durable single-row transactions with the store's settings.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::oneshot;

/// The bare TLS/HTTP server: the gateway's own rustls server configuration (its
/// certificates, trust anchor, CRL-checking client verifier) and its own accept loop
/// (`oegd_web::tls::serve`, handshake, identity, hyper HTTP/1.1), but a handler that reads
/// the body and answers `201` at once. It runs on its own multi-threaded runtime, as the
/// gateway runs in its own process.
pub struct BareServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl BareServer {
    pub fn start(data: &Path) -> Result<BareServer, String> {
        let read = |rel: &str| {
            std::fs::read_to_string(data.join(rel)).map_err(|e| format!("{}: {e}", data.join(rel).display()))
        };
        let tls = oegd_pki::server_config(
            &read("pki/server.crt")?,
            &read("pki/server.key")?,
            &[read("pki/ca.crt")?],
            &data.join("pki/crl.pem"),
        )
        .map_err(|e| format!("server TLS config: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("bare-server")
            .build()
            .map_err(|e| e.to_string())?;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        std_listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = std_listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new().route("/fhir/Bundle", post(|_body: Bytes| async { StatusCode::CREATED }));
        let limits = oegd_web::tls::ConnectionLimits { rate: None, ..Default::default() };
        let _guard = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())?;
        runtime.spawn(oegd_web::tls::serve(listener, tls, app, limits, async {
            let _ = stopped.await;
        }));
        drop(_guard);
        Ok(BareServer { addr, stop: Some(stop), runtime: Some(runtime) })
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            // Dropped inside the load generator's runtime: no blocking wait allowed here.
            rt.shutdown_background();
        }
    }
}

/// The result of the SQLite baseline.
#[derive(Debug, Clone)]
pub struct SqliteStats {
    pub inserts: usize,
    pub blob_bytes: usize,
    pub elapsed: Duration,
}

impl SqliteStats {
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.inserts as f64 / secs } else { 0.0 }
    }
}

/// `inserts` transactions of one `INSERT` of a `blob_bytes` blob each, one writer, in a new
/// database in `dir` with the store's settings (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`).
pub async fn sqlite_inserts(dir: &Path, inserts: usize, blob_bytes: usize) -> Result<SqliteStats, String> {
    let err = |e: sqlx::Error| format!("SQLite baseline: {e}");
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(err)?;
    let mut conn = pool.acquire().await.map_err(err)?;
    sqlx::query("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    // Distinct, incompressible-looking bytes per row (a simple LCG; no crypto needed).
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let blobs: Vec<Vec<u8>> = (0..inserts)
        .map(|_| {
            (0..blob_bytes)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    (state >> 56) as u8
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for blob in &blobs {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.map_err(err)?;
        sqlx::query("INSERT INTO blobs (body) VALUES (?)").bind(blob).execute(&mut *conn).await.map_err(err)?;
        sqlx::query("COMMIT").execute(&mut *conn).await.map_err(err)?;
    }
    let elapsed = start.elapsed();
    drop(conn);
    pool.close().await;
    Ok(SqliteStats { inserts, blob_bytes, elapsed })
}
