//! `oegd-bench`: submits participation cards to a gateway from many concurrent mutual-TLS
//! clients and reports throughput, latency, errors and the server's peak memory; with
//! `--baselines` it measures in the same run the ceilings of the network stack (the same
//! TLS/HTTP stack answering `201` at once) and of storage (SQLite durable inserts) and
//! gives our throughput as a ratio of each. See docs/PERFORMANCE.md.

mod baseline;
mod gateway;
mod load;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use jiff::ToSpan;
use oegd_domain::{Checkup, Clock, SystemClock};
use serde_json::{Value, json};

use crate::load::{Mode, RunStats};

#[derive(Debug, Parser)]
#[command(name = "oegd-bench", version, about = "Load benchmark of oegd-gateway over mutual TLS")]
struct Args {
    /// The `oegd-gateway` binary (default: the one beside this program).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// Address of a running gateway instead of starting one (needs `--data`).
    #[arg(long, requires = "data")]
    target: Option<SocketAddr>,
    /// Data directory of the running gateway (practices are registered in it with the CLI).
    #[arg(long, requires = "target")]
    data: Option<PathBuf>,
    /// Process id of the running gateway, for its peak memory (with `--target`).
    #[arg(long, requires = "target")]
    server_pid: Option<u32>,
    /// Connection modes to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "keep-alive")]
    mode: Vec<Mode>,
    /// Numbers of concurrent clients to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    clients: Vec<usize>,
    /// Reports submitted in each run (each a distinct valid card).
    #[arg(long, default_value_t = 2000)]
    reports: usize,
    /// Practices registered, each with its own client certificate (default: the largest
    /// number of clients); client i uses practice i mod N.
    #[arg(long)]
    practices: Option<usize>,
    /// Also measure the bare TLS/HTTP stack and SQLite's durable insert rate.
    #[arg(long)]
    baselines: bool,
    /// Transactions in the SQLite baseline.
    #[arg(long, default_value_t = 2000)]
    sqlite_inserts: usize,
    /// Keep the per-client request rate limit of a gateway we start (default: switched off).
    #[arg(long)]
    keep_limits: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One (mode, clients) row.
struct Row {
    mode: Mode,
    clients: usize,
    gateway: RunStats,
    server_peak_kib: Option<u64>,
    /// CPU time the serve process used during the run (None: its pid is unknown).
    server_cpu: Option<Duration>,
    /// CPU time this process used while driving the gateway: the load generator alone.
    client_cpu: Option<Duration>,
    bare: Option<RunStats>,
    /// CPU time this process used during the bare stack's run: the load generator and
    /// the in-process bare server.
    bare_cpu: Option<Duration>,
}

impl Row {
    /// Microseconds of CPU per request: `cpu` spread over the run's requests.
    fn per_request(cpu: Option<Duration>, stats: &RunStats) -> Option<f64> {
        cpu.filter(|_| stats.requests > 0).map(|c| c.as_secs_f64() * 1e6 / stats.requests as f64)
    }

    fn server_us(&self) -> Option<f64> {
        Self::per_request(self.server_cpu, &self.gateway)
    }

    /// The bare server's CPU per request: the process's CPU in the bare run less the load
    /// generator's, taken from the gateway's run with the same cards, clients and mode.
    fn bare_server_us(&self) -> Option<f64> {
        let bare = self.bare.as_ref()?;
        let client = Self::per_request(self.client_cpu, &self.gateway)?;
        Self::per_request(self.bare_cpu, bare).map(|all| (all - client).max(0.0))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oegd-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("oegd-bench: some requests were not accepted (see errors)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("oegd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Synthetic names (no real persons) combined with the report number.
const GIVEN: [&str; 8] = ["Mia", "Noah", "Emma", "Ben", "Lina", "Paul", "Ella", "Finn"];
const FAMILY: [&str; 8] = ["Testkind", "Beispiel", "Muster", "Probe", "Versuch", "Modell", "Entwurf", "Skizze"];

/// `count` distinct valid participation cards (JSON), built before the clock starts.
fn cards(run: usize, count: usize) -> Result<Vec<Vec<u8>>, String> {
    let now = SystemClock.now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let birth = today.checked_sub(200.days()).map_err(|e| e.to_string())?;
    let exam = today.checked_sub(10.days()).map_err(|e| e.to_string())?;
    (0..count)
        .map(|i| {
            let pick = |list: &[&'static str; 8], k: usize| -> &'static str { list.get(k % 8).copied().unwrap_or("X") };
            let input = oegd_fhir::CardInput {
                practice_name: format!("Benchmark-Praxis {}", i % 97),
                practitioner_given: "Erika".into(),
                practitioner_family: "Benchmark".into(),
                practitioner_lanr: Some("123456601".into()),
                patient_given: format!("{}{}", pick(&GIVEN, i), i % 1000),
                patient_family: format!("{}-{}-{}", pick(&FAMILY, i / 8), run, i),
                patient_birth_name: None,
                birth_date: birth,
                kvnr: None,
                checkup: Checkup::U5,
                exam_date: exam,
                timestamp: now,
                card_uuid: uuid::Uuid::new_v4(),
            };
            serde_json::to_vec(&oegd_fhir::build_card(&input)).map_err(|e| e.to_string())
        })
        .collect()
}

async fn run(args: Args) -> Result<bool, String> {
    let bin = args.gateway_bin.clone().unwrap_or_else(gateway::default_bin);
    let tmp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let max_clients = args.clients.iter().copied().max().unwrap_or(1).max(1);
    let practices = args.practices.unwrap_or(max_clients).max(1);

    // The gateway under test.
    let (data, addr, server, started) = match (&args.target, &args.data) {
        (Some(addr), Some(data)) => (data.clone(), *addr, None, false),
        _ => {
            let data = tmp.path().join("data");
            gateway::init(&bin, &data, args.keep_limits)?;
            let server = gateway::ServeProcess::start(&bin, &data)?;
            (data, server.addr, Some(server), true)
        }
    };
    let server_pid = server.as_ref().map(gateway::ServeProcess::pid).or(args.server_pid);
    let identities = gateway::register_practices(&bin, &data, &tmp.path().join("certs"), practices)?;
    let bare = if args.baselines { Some(baseline::BareServer::start(&data)?) } else { None };

    let mut rows = Vec::new();
    let mut all_ok = true;
    let mut body_bytes = 0usize;
    let mut bodies_seen = 0usize;
    for (m, &mode) in args.mode.iter().enumerate() {
        for (c, &clients) in args.clients.iter().enumerate() {
            let bodies = Arc::new(cards(m * 1000 + c, args.reports)?);
            body_bytes += bodies.iter().map(Vec::len).sum::<usize>();
            bodies_seen += bodies.len();
            let cpu = || (server_pid.and_then(|pid| gateway::cpu_time(Some(pid))), gateway::cpu_time(None));
            let (server_before, client_before) = cpu();
            let stats = load::drive(addr, &identities, clients, mode, bodies.clone()).await?;
            let (server_after, client_after) = cpu();
            all_ok &= stats.ok == stats.requests;
            let server_peak_kib = server_pid.and_then(gateway::peak_rss_kib);
            let server_cpu = server_after.zip(server_before).map(|(a, b)| a.saturating_sub(b));
            let client_cpu = client_after.zip(client_before).map(|(a, b)| a.saturating_sub(b));
            let (bare_stats, bare_cpu) = match &bare {
                Some(b) => {
                    let before = gateway::cpu_time(None);
                    let s = load::drive(b.addr, &identities, clients, mode, bodies).await?;
                    let used = gateway::cpu_time(None).zip(before).map(|(a, b)| a.saturating_sub(b));
                    all_ok &= s.ok == s.requests;
                    (Some(s), used)
                }
                None => (None, None),
            };
            if !args.json {
                eprintln!(
                    "  {} {clients} clients: {:.0} reports/s{}",
                    mode.as_str(),
                    stats.throughput(),
                    bare_stats.as_ref().map(|b| format!(" (bare {:.0}/s)", b.throughput())).unwrap_or_default()
                );
            }
            rows.push(Row {
                mode,
                clients,
                gateway: stats,
                server_peak_kib,
                server_cpu,
                client_cpu,
                bare: bare_stats,
                bare_cpu,
            });
        }
    }
    drop(bare);
    let avg_body = body_bytes.checked_div(bodies_seen).unwrap_or(5000);

    let sqlite = if args.baselines {
        let dir = tempfile::tempdir_in(tmp.path()).map_err(|e| e.to_string())?;
        Some(baseline::sqlite_inserts(dir.path(), args.sqlite_inserts, avg_body).await?)
    } else {
        None
    };

    let info = RunInfo { addr, started, keep_limits: args.keep_limits, practices, reports: args.reports, avg_body };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&info, &rows, sqlite.as_ref())).map_err(|e| e.to_string())?
        );
    } else {
        print_text(&info, &rows, sqlite.as_ref(), &data);
    }
    drop(server);
    Ok(all_ok)
}

struct RunInfo {
    addr: SocketAddr,
    started: bool,
    keep_limits: bool,
    practices: usize,
    reports: usize,
    avg_body: usize,
}

fn ratio(ours: f64, base: f64) -> Option<f64> {
    (base > 0.0).then(|| ours / base)
}

fn to_json(info: &RunInfo, rows: &[Row], sqlite: Option<&baseline::SqliteStats>) -> Value {
    let sqlite_rate = sqlite.map(baseline::SqliteStats::rate);
    json!({
        "gateway": {
            "addr": info.addr.to_string(),
            "started_by_bench": info.started,
            "rate_limit": if info.started && !info.keep_limits { "off" } else { "as configured" },
        },
        "practices": info.practices,
        "reports_per_run": info.reports,
        "average_card_bytes": info.avg_body,
        "runs": rows.iter().map(|r| {
            let ours = r.gateway.throughput();
            json!({
                "mode": r.mode.as_str(),
                "clients": r.clients,
                "gateway": r.gateway.to_json(),
                "server_peak_rss_kib": r.server_peak_kib,
                "server_cpu_us_per_report": r.server_us(),
                "client_cpu_us_per_request": Row::per_request(r.client_cpu, &r.gateway),
                "bare_server_cpu_us_per_request": r.bare_server_us(),
                "bare_tls_http": r.bare.as_ref().map(RunStats::to_json),
                "ratio_to_bare_tls_http": r.bare.as_ref().and_then(|b| ratio(ours, b.throughput())),
                "ratio_to_sqlite_inserts": sqlite_rate.and_then(|s| ratio(ours, s)),
            })
        }).collect::<Vec<_>>(),
        "sqlite_durable_inserts": sqlite.map(|s| json!({
            "inserts": s.inserts,
            "blob_bytes": s.blob_bytes,
            "elapsed_s": s.elapsed.as_secs_f64(),
            "per_s": (s.rate() * 10.0).round() / 10.0,
            "settings": "WAL, synchronous=FULL, one INSERT per BEGIN IMMEDIATE transaction, one writer",
        })),
    })
}

fn print_text(info: &RunInfo, rows: &[Row], sqlite: Option<&baseline::SqliteStats>, data: &Path) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "oegd-bench: gateway at {} ({}), {} practices, {} reports per run, cards of {} bytes on average",
        info.addr,
        if info.started {
            if info.keep_limits {
                "started by oegd-bench, SQLite, configured rate limit"
            } else {
                "started by oegd-bench, SQLite, rate limit off"
            }
        } else {
            "running gateway"
        },
        info.practices,
        info.reports,
        info.avg_body
    );
    if !info.started {
        println!("data directory: {}", data.display());
    }
    println!();
    println!(
        "{:<15} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>11}  {:>10} {:>8} {:>8}  errors",
        "mode",
        "clients",
        "reports/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "server MiB",
        "bare /s",
        "of bare",
        "of SQL"
    );
    let sqlite_rate = sqlite.map(baseline::SqliteStats::rate);
    for r in rows {
        let g = &r.gateway;
        let ours = g.throughput();
        let pct = |x: Option<f64>| x.map(|v| format!("{:.0} %", v * 100.0)).unwrap_or_else(|| "-".into());
        let errors = g.errors();
        let errors = if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
        };
        println!(
            "{:<15} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11}  {:>10} {:>8} {:>8}  {}",
            r.mode.as_str(),
            r.clients,
            ours,
            ms(g.percentile(50.0)),
            ms(g.percentile(95.0)),
            ms(g.percentile(99.0)),
            ms(g.max()),
            r.server_peak_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or_else(|| "-".into()),
            r.bare.as_ref().map(|b| format!("{:.0}", b.throughput())).unwrap_or_else(|| "-".into()),
            pct(r.bare.as_ref().and_then(|b| ratio(ours, b.throughput()))),
            pct(sqlite_rate.and_then(|s| ratio(ours, s))),
            errors
        );
    }
    if rows.iter().any(|r| r.bare.is_some()) {
        println!();
        println!("bare TLS/HTTP stack (same rustls config and accept loop, handler answers 201 at once):");
        for r in rows {
            if let Some(b) = &r.bare {
                println!(
                    "  {:<15} {:>3} clients: {:>7.0} /s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}",
                    r.mode.as_str(),
                    r.clients,
                    b.throughput(),
                    ms(b.percentile(50.0)),
                    ms(b.percentile(99.0)),
                    ms(b.max()),
                    b.errors().values().sum::<usize>()
                );
            }
        }
    }
    if let Some(s) = sqlite {
        println!();
        println!(
            "SQLite durable inserts (WAL, synchronous=FULL, one {}-byte INSERT per transaction, one writer): {:.0} /s ({} in {:.2} s)",
            s.blob_bytes,
            s.rate(),
            s.inserts,
            s.elapsed.as_secs_f64()
        );
    }
    if rows.iter().any(|r| r.server_cpu.is_some()) {
        println!();
        println!("CPU per request (µs; /proc/PID/stat, 10 ms resolution):");
        let us = |x: Option<f64>| x.map(|v| format!("{v:.0}")).unwrap_or_else(|| "-".into());
        for r in rows {
            println!(
                "  {:<15} {:>3} clients: gateway server {:>6}, bare server {:>6}, load generator {:>6}",
                r.mode.as_str(),
                r.clients,
                us(r.server_us()),
                us(r.bare_server_us()),
                us(Row::per_request(r.client_cpu, &r.gateway)),
            );
        }
    }
    println!();
    println!("server MiB: peak resident memory (VmHWM) of the serve process since its start, after the run.");
}
