use oegd_fhir::Issue;
use oegd_store::StoreError;

/// Why a request could not be served. German messages are shown to users; none carries
/// personal data.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The body could not be read at all (malformed, DOCTYPE, ...).
    #[error("report unreadable")]
    Unreadable(Vec<Issue>),
    /// The card breaks the profile.
    #[error("report invalid")]
    Invalid(Vec<Issue>),
    /// The same card id was sent before with different content.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Storage cannot take writes now (disk full, locked); nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// Wrong use of the CLI or configuration.
    #[error("{0}")]
    Usage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "storage unavailable");
                ServiceError::Unavailable(
                    "Der Speicher ist vorübergehend nicht verfügbar; bitte später erneut senden.".into(),
                )
            }
            StoreError::AlreadyExists(m) => ServiceError::Usage(format!("existiert bereits: {m}")),
            StoreError::NotFound(m) => ServiceError::NotFound(m),
            StoreError::Conflict(_) => ServiceError::Conflict(
                "Der Eintrag wurde inzwischen von jemand anderem geändert; bitte neu laden und erneut entscheiden."
                    .into(),
            ),
            StoreError::SchemaTooNew { found, supported } => ServiceError::Usage(format!(
                "Das Datenbankschema (Version {found}) ist neuer als dieses Programm (kennt bis Version \
                 {supported}); es ändert nichts daran. Bitte die neuere Programmversion verwenden."
            )),
            StoreError::Internal(m) => ServiceError::Internal(m),
        }
    }
}

impl From<std::io::Error> for ServiceError {
    fn from(e: std::io::Error) -> Self {
        ServiceError::Internal(e.to_string())
    }
}

impl From<oegd_pki::PkiError> for ServiceError {
    fn from(e: oegd_pki::PkiError) -> Self {
        ServiceError::Internal(format!("PKI: {e}"))
    }
}
