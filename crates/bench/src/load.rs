//! The load generator: C concurrent mTLS clients posting prepared bodies, and the statistics
//! of one run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oegd_web::client::ApiClient;
use serde_json::{Value, json};

/// How a client uses its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One TLS connection per client, reused for every report.
    KeepAlive,
    /// A new TCP connection and full TLS handshake for every report.
    NewConnection,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::KeepAlive => "keep-alive",
            Mode::NewConnection => "new-connection",
        }
    }
}

/// The outcome of one load run.
#[derive(Debug, Clone)]
pub struct RunStats {
    pub requests: usize,
    pub ok: usize,
    pub elapsed: Duration,
    /// Sorted latencies of all requests (successful or not).
    pub latencies: Vec<Duration>,
    /// Count by HTTP status ("201", "429", ...) or "transport" for a failed exchange.
    pub by_status: BTreeMap<String, usize>,
}

impl RunStats {
    /// Accepted reports (status `expected`) per second of wall time.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank.
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let idx = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies.get(idx).copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }

    pub fn errors(&self) -> BTreeMap<String, usize> {
        self.by_status.iter().filter(|(k, _)| k.as_str() != "201").map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        json!({
            "requests": self.requests,
            "accepted": self.ok,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "throughput_per_s": (self.throughput() * 10.0).round() / 10.0,
            "latency_ms": {
                "p50": ms(self.percentile(50.0)),
                "p95": ms(self.percentile(95.0)),
                "p99": ms(self.percentile(99.0)),
                "max": ms(self.max()),
            },
            "errors": self.errors(),
        })
    }
}

/// Posts every body once to `addr` from `clients` concurrent clients; client `i` uses the
/// identity `identities[i % len]`. A response with status 201 counts as accepted.
pub async fn drive(
    addr: SocketAddr,
    identities: &[Arc<rustls::ClientConfig>],
    clients: usize,
    mode: Mode,
    bodies: Arc<Vec<Vec<u8>>>,
) -> Result<RunStats, String> {
    if identities.is_empty() {
        return Err("no client identities".into());
    }
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients.max(1) {
        let tls = identities.get(i % identities.len()).cloned().ok_or("no identity")?;
        let mut client = ApiClient::new(addr, "localhost", tls, mode == Mode::KeepAlive).map_err(|e| e.to_string())?;
        let next = next.clone();
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(n) else { break };
                let t = Instant::now();
                let result = client.post("/fhir/Bundle", "application/fhir+json", body.clone()).await;
                latencies.push(t.elapsed());
                let key = match result {
                    Ok(resp) => resp.status.to_string(),
                    Err(_) => "transport".to_owned(),
                };
                *by_status.entry(key).or_default() += 1;
            }
            (latencies, by_status)
        }));
    }
    let mut latencies = Vec::with_capacity(bodies.len());
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (l, s) = task.await.map_err(|e| format!("client task failed: {e}"))?;
        latencies.extend(l);
        for (k, v) in s {
            *by_status.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let ok = by_status.get("201").copied().unwrap_or(0);
    Ok(RunStats { requests: latencies.len(), ok, elapsed, latencies, by_status })
}
