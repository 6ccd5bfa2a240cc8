//! The configuration file (`config.toml` in the data directory).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ServiceError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The federal state whose organisations and programme profile apply (`MV`, `NI`).
    pub state: String,
    /// The PostgreSQL database shared by all instances (`postgres://user@host:port/db`);
    /// without it, the SQLite file `gateway.db` of the data directory. `OEGD_DATABASE_URL`
    /// overrides it (and keeps a password out of this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    pub api: ApiConfig,
    pub tls: TlsConfig,
    #[serde(default)]
    pub programme: ProgrammeConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The staff web interface; without `[ui] listen` (or `serve --ui-listen`) none is served.
    #[serde(default, skip_serializing_if = "UiConfig::is_default")]
    pub ui: UiConfig,
}

/// The staff web interface (TLS with the server certificate, no client certificate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Where the interface listens, e.g. `"127.0.0.1:8080"`; none when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Minutes without a request after which a session ends.
    pub session_idle_minutes: u32,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { listen: None, session_idle_minutes: 30 }
    }
}

impl UiConfig {
    fn is_default(&self) -> bool {
        *self == UiConfig::default()
    }
}

/// Protection against runaway and hostile clients. The defaults are generous: they stop a
/// client stuck in a loop or an attacker holding connections open, not a practice or a
/// hospital resubmitting a backlog (200 requests a second are 720 000 an hour; a whole
/// state sends about 100 000 participation cards a year).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second one client (the Telematik-ID of its certificate) may make on
    /// average; beyond that it gets `429 Too Many Requests` with `Retry-After`. 0: no limit.
    pub requests_per_second: u32,
    /// How many requests a client may make at once before the average applies (the size of
    /// its token bucket).
    pub request_burst: u32,
    /// Open connections in total; further ones wait in the listen queue.
    pub max_connections: u32,
    /// Open connections from one IP address (several practices may share one address
    /// behind a TI access point, so this is not small); further ones are closed at once.
    pub max_connections_per_ip: u32,
    /// Seconds a client has to complete the TLS handshake.
    pub handshake_timeout_secs: u32,
    /// Seconds a client has to send a request's header, and the longest an idle
    /// keep-alive connection stays open.
    pub header_read_timeout_secs: u32,
    /// Failed TLS handshakes (no or an unknown client certificate, revoked, expired, not TLS
    /// at all, too slow) from one IP address within `failed_handshake_cooldown_secs` after
    /// which that address is refused for as long; other addresses are not affected. Behind
    /// a shared address (a TI access point) one broken client counts for all, hence not
    /// small. 0: no limit.
    pub failed_handshakes_per_ip: u32,
    /// The window in which failed handshakes add up, and how long an address that reached
    /// `failed_handshakes_per_ip` is refused.
    pub failed_handshake_cooldown_secs: u32,
}

impl LimitsConfig {
    fn check(&self) -> Result<(), String> {
        if self.requests_per_second > 0 && self.request_burst == 0 {
            return Err("[limits] request_burst muss mindestens 1 sein.".into());
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err("[limits] max_connections und max_connections_per_ip müssen mindestens 1 sein.".into());
        }
        if self.handshake_timeout_secs == 0 || self.header_read_timeout_secs == 0 {
            return Err("[limits] Zeitgrenzen müssen mindestens 1 Sekunde betragen.".into());
        }
        if self.failed_handshakes_per_ip > 0 && self.failed_handshake_cooldown_secs == 0 {
            return Err("[limits] failed_handshake_cooldown_secs muss mindestens 1 sein.".into());
        }
        Ok(())
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            requests_per_second: 200,
            request_burst: 1000,
            max_connections: 1024,
            max_connections_per_ip: 256,
            handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            failed_handshakes_per_ip: 100,
            failed_handshake_cooldown_secs: 60,
        }
    }
}

/// The check-up programme while `serve` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeConfig {
    /// Local time (Europe/Berlin) of the daily run, e.g. `"02:00"`. Across several processes
    /// on one database the run happens once (a claim in the database).
    pub daily_run_at: jiff::civil::Time,
    /// Whether `serve` runs the daily run at all (a state may run it from cron with
    /// `jobs run` instead).
    pub daily_run: bool,
}

impl Default for ProgrammeConfig {
    fn default() -> Self {
        ProgrammeConfig { daily_run_at: jiff::civil::time(2, 0, 0, 0), daily_run: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the FHIR API listens (mutual TLS).
    pub listen: SocketAddr,
    /// Largest accepted request body; larger requests get 413.
    pub max_report_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// DNS names and IP addresses the server certificate is issued for.
    pub server_names: Vec<String>,
    /// PEM files of further CAs whose client certificates are trusted (a real TI or state
    /// PKI); the identity is read from the same Admission extension.
    #[serde(default)]
    pub trusted_ca_files: Vec<PathBuf>,
    /// Validity of client certificates issued by `cert issue`, in days.
    pub client_cert_days: u32,
}

impl Config {
    pub fn new(state: &str) -> Self {
        Config {
            state: state.to_owned(),
            database_url: None,
            api: ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8443)), max_report_bytes: 1024 * 1024 },
            tls: TlsConfig {
                server_names: vec!["localhost".into(), "127.0.0.1".into()],
                trusted_ca_files: vec![],
                client_cert_days: 365,
            },
            programme: ProgrammeConfig::default(),
            limits: LimitsConfig::default(),
            ui: UiConfig::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ServiceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServiceError::Usage(format!("Konfiguration {} nicht lesbar: {e}", path.display())))?;
        let config: Config = toml::from_str(&text)
            .map_err(|e| ServiceError::Usage(format!("Konfiguration {} fehlerhaft: {e}", path.display())))?;
        config.limits.check().map_err(|m| ServiceError::Usage(format!("Konfiguration {}: {m}", path.display())))?;
        Ok(config)
    }

    pub fn to_toml(&self) -> Result<String, ServiceError> {
        toml::to_string_pretty(self).map_err(|e| ServiceError::Internal(e.to_string()))
    }
}
