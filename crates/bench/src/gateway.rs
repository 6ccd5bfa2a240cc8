//! The gateway under test: a `serve` process started by us in a temporary data directory,
//! or one already running; practices registered with the real CLI.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::Arc;

/// Runs `oegd-gateway ARGS --data DIR` and returns its stdout, or its stderr as the error.
pub fn cli(bin: &Path, data: &Path, args: &[&str]) -> Result<String, String> {
    let data = data.to_str().ok_or("data directory is not UTF-8")?;
    let out: Output = Command::new(bin)
        .args(args)
        .args(["--data", data])
        .env("OEGD_LOG", "warn")
        .env_remove("OEGD_DATABASE_URL")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("oegd-gateway {} failed: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&out.stderr)))
    }
}

/// A fresh data directory made by `init` (SQLite). Without `keep_limits` the per-client
/// request rate limit is switched off in its `config.toml`, so one fast client is measured
/// rather than throttled (`[limits] requests_per_second = 0`).
pub fn init(bin: &Path, data: &Path, keep_limits: bool) -> Result<(), String> {
    let data_str = data.to_str().ok_or("data directory is not UTF-8")?;
    let out = Command::new(bin)
        .args(["init", "--data", data_str, "--state", "MV"])
        .env("OEGD_LOG", "warn")
        .env_remove("OEGD_DATABASE_URL")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("init failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    if !keep_limits {
        let path = data.join("config.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut table: toml::Table = text.parse().map_err(|e| format!("config.toml: {e}"))?;
        let limits = table.entry("limits").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(limits) = limits {
            limits.insert("requests_per_second".into(), toml::Value::Integer(0));
        }
        let text = toml::to_string(&table).map_err(|e| format!("config.toml: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Registers `n` practices (`org add`, `cert issue`) and returns one mTLS client
/// configuration per practice. The Telematik-IDs carry this process's id, so a benchmark
/// can run repeatedly against one data directory.
pub fn register_practices(
    bin: &Path,
    data: &Path,
    certs: &Path,
    n: usize,
) -> Result<Vec<Arc<rustls::ClientConfig>>, String> {
    let tag = std::process::id() % 100_000;
    let mut configs = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("1-77{tag:05}{i:05}");
        let name = format!("Benchmark-Praxis {i}");
        cli(bin, data, &["org", "add", "--kind", "praxis", "--name", &name, "--telematik-id", &id])?;
        let dir = certs.join(&id);
        let dir_str = dir.to_str().ok_or("certificate directory is not UTF-8")?;
        cli(bin, data, &["cert", "issue", "--telematik-id", &id, "--out", dir_str])?;
        let read =
            |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
        let (cert, key, ca) = (read("client.crt")?, read("client.key")?, read("ca.crt")?);
        configs.push(oegd_pki::client_config(&ca, Some((&cert, &key))).map_err(|e| format!("client TLS: {e}"))?);
    }
    Ok(configs)
}

/// A `serve` process started by the benchmark.
pub struct ServeProcess {
    child: Child,
    pub addr: SocketAddr,
    // Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl ServeProcess {
    pub fn start(bin: &Path, data: &Path) -> Result<ServeProcess, String> {
        let data = data.to_str().ok_or("data directory is not UTF-8")?;
        let mut child = Command::new(bin)
            .args(["serve", "--data", data, "--api-listen", "127.0.0.1:0"])
            .env("OEGD_LOG", "warn")
            .env_remove("OEGD_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        // "oegd-gateway: FHIR-API auf https://127.0.0.1:PORT/fhir (mTLS); ..."
        let addr = read
            .ok()
            .and_then(|_| line.split("https://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(ServeProcess { child, addr, _stdout: reader }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("serve did not report its address (first line: {:?})", line.trim()))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // SIGTERM: a graceful stop, as an operator would.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Peak resident memory (`VmHWM`) of a process in KiB, from `/proc/PID/status`.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// CPU time (user and system, all threads) a process has used so far, from
/// `/proc/PID/stat` (`pid` `None`: this process). The kernel counts it in clock ticks of
/// `USER_HZ`, which is 100 on every Linux this runs on, so the resolution is 10 ms.
pub fn cpu_time(pid: Option<u32>) -> Option<std::time::Duration> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |pid| format!("/proc/{pid}/stat"));
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Field 3 (state) is fields[0], so utime (14) and stime (15) are fields[11] and [12].
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// The `oegd-gateway` binary beside this one (`target/<profile>/`).
pub fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("oegd-gateway")))
        .unwrap_or_else(|| PathBuf::from("oegd-gateway"))
}
