//! Bulk import of reports: digitised paper and fax reports and migrations from an old
//! system, one JSON object a line:
//! `{"received_at": "YYYY-MM-DD", "sender_telematik_id": "...", "bundle": {...card...}}`.
//! Each line goes through the same validation and storage as the API; a line that fails is
//! reported with its number and reason and skipped.

use std::io::BufRead;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use oegd_domain::TelematikId;
use oegd_fhir::MediaType;
use oegd_store::Store;
use serde::{Deserialize, Serialize};

use crate::{Gateway, ServiceError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    received_at: String,
    sender_telematik_id: String,
    bundle: serde_json::Value,
}

/// A line that was not imported.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub lines: u64,
    /// Newly stored reports.
    pub created: u64,
    /// Lines that repeated a card already stored (acknowledged again, stored once).
    pub duplicates: u64,
    pub failed: Vec<LineError>,
    /// The linker's run over the new reports.
    pub linking: crate::linking::LinkRun,
}

/// The day a report was received, as the instant the day starts in Germany.
pub fn start_of_day_berlin(date: Date) -> Result<jiff::Timestamp, ServiceError> {
    let tz = TimeZone::get("Europe/Berlin").map_err(|e| ServiceError::Internal(e.to_string()))?;
    date.to_zoned(tz).map(|z| z.timestamp()).map_err(|e| ServiceError::Internal(e.to_string()))
}

pub async fn import_reports<S: Store>(
    gateway: &Gateway<S>,
    input: impl BufRead,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ServiceError> {
    let mut summary = ImportSummary::default();
    for (index, line) in input.lines().enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|e| ServiceError::Usage(format!("Zeile {number}: nicht lesbar ({e})")))?;
        if line.trim().is_empty() {
            continue;
        }
        summary.lines += 1;
        progress(number);
        match import_line(gateway, &line).await {
            Ok(true) => summary.created += 1,
            Ok(false) => summary.duplicates += 1,
            Err(ServiceError::Unavailable(m)) => return Err(ServiceError::Unavailable(m)),
            Err(ServiceError::Internal(m)) => return Err(ServiceError::Internal(m)),
            Err(e) => summary.failed.push(LineError { line: number, reason: describe(&e) }),
        }
    }
    summary.linking = crate::linking::link_pending(gateway.store(), gateway.now()).await?;
    Ok(summary)
}

async fn import_line<S: Store>(gateway: &Gateway<S>, line: &str) -> Result<bool, ServiceError> {
    let parsed: Line = serde_json::from_str(line).map_err(|e| {
        ServiceError::Usage(format!("kein gültiges Importobjekt (Spalte {}): {}", e.column(), e.classify_str()))
    })?;
    let date: Date =
        parsed.received_at.parse().map_err(|_| ServiceError::Usage("received_at ist kein Datum JJJJ-MM-TT".into()))?;
    let sender = TelematikId::parse(&parsed.sender_telematik_id)
        .map_err(|_| ServiceError::Usage("sender_telematik_id ist keine gültige Telematik-ID".into()))?;
    let body = serde_json::to_vec(&parsed.bundle).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let sub = gateway.import_card(&sender, start_of_day_berlin(date)?, MediaType::Json, &body).await?;
    Ok(sub.created)
}

fn describe(e: &ServiceError) -> String {
    match e {
        ServiceError::Unreadable(issues) | ServiceError::Invalid(issues) => {
            let parts: Vec<String> = issues.iter().map(|i| format!("{}: {}", i.expression, i.diagnostics)).collect();
            format!("Teilnahmekarte ungültig – {}", parts.join("; "))
        }
        other => other.to_string(),
    }
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "Lesefehler",
            serde_json::error::Category::Syntax => "JSON-Syntaxfehler",
            serde_json::error::Category::Data => "Felder fehlen oder sind unbekannt",
            serde_json::error::Category::Eof => "Zeile endet vorzeitig",
        }
    }
}
