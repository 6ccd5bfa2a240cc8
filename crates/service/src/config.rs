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
    pub api: ApiConfig,
    pub tls: TlsConfig,
    #[serde(default)]
    pub programme: ProgrammeConfig,
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
            api: ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 8443)), max_report_bytes: 1024 * 1024 },
            tls: TlsConfig {
                server_names: vec!["localhost".into(), "127.0.0.1".into()],
                trusted_ca_files: vec![],
                client_cert_days: 365,
            },
            programme: ProgrammeConfig::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Self, ServiceError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServiceError::Usage(format!("Konfiguration {} nicht lesbar: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| ServiceError::Usage(format!("Konfiguration {} fehlerhaft: {e}", path.display())))
    }

    pub fn to_toml(&self) -> Result<String, ServiceError> {
        toml::to_string_pretty(self).map_err(|e| ServiceError::Internal(e.to_string()))
    }
}
