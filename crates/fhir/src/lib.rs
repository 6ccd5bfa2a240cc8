//! Reads a KBV MIO participation card ("Teilnahmekarte", `KBV_PR_MIO_PC_Bundle` 1.0.0 and
//! 1.0.1, FHIR R4) in JSON or XML, validates it against the profiles and extracts the facts
//! the gateway keeps: which check-up, when, for which child, by which doctor.
//!
//! Module layout:
//!
//! - [`tree`](crate::tree): the small format-neutral element tree and lazily rendered
//!   FHIRPath-like locations.
//! - `json`: JSON → tree (serde_json driven by our own visitor: duplicate keys, nesting
//!   depth, nulls and empty arrays are caught while reading, with line/column).
//! - `xml`: XML → tree (quick-xml; any DOCTYPE refused, only the predefined entities and
//!   character references, XHTML narrative kept opaque).
//! - `validate`: one validator for both formats; walks the profiles element by element,
//!   reports every problem and, if there is none, yields the facts.
//! - `datetime`: FHIR `date`/`dateTime`/`instant` with real calendar checks.
//! - `card`: the facts ([`ParticipationCard`]) as the service stores them.
//! - `outcome`: [`Issue`] → FHIR `OperationOutcome`.
//! - `build`: [`build_card`], a valid 1.0.1 JSON card for the demo, the web form and
//!   benchmarks.
//!
//! Invariant: the JSON and the XML form of the same card yield identical facts, so the
//! service can tell a resubmission from a conflicting card by hashing them.

mod build;
mod card;
mod datetime;
mod json;
mod outcome;
mod tree;
mod validate;
mod xml;

use std::fmt;

use serde::Serialize;

pub use build::{CardInput, build_card};
pub use card::{CardOrganization, CardPatient, CardPractitioner, ParticipationCard};
pub use outcome::operation_outcome;

/// Canonical URL of the participation card bundle profile (without version).
pub const PC_BUNDLE_PROFILE: &str = "https://fhir.kbv.de/StructureDefinition/KBV_PR_MIO_PC_Bundle";

/// Nesting deeper than this is refused before validation; a card needs about 12 levels.
pub const MAX_DEPTH: usize = 64;

/// The two FHIR serialisations the API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Xml,
}

impl MediaType {
    /// Parses a `Content-Type` header value. Parameters other than `charset=utf-8` (and
    /// FHIR's `fhirVersion=4.0`) make the type unsupported, since a card in another charset
    /// would be misread.
    pub fn from_content_type(value: &str) -> Option<MediaType> {
        let mut parts = value.split(';');
        let essence = parts.next()?.trim();
        let media = if essence.eq_ignore_ascii_case("application/fhir+json")
            || essence.eq_ignore_ascii_case("application/json")
        {
            MediaType::Json
        } else if essence.eq_ignore_ascii_case("application/fhir+xml")
            || essence.eq_ignore_ascii_case("application/xml")
        {
            MediaType::Xml
        } else {
            return None;
        };
        for param in parts {
            let param = param.trim();
            if param.is_empty() {
                continue;
            }
            let (name, val) = param.split_once('=')?;
            let val = val.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "charset" if val.eq_ignore_ascii_case("utf-8") => {}
                "fhirversion" if val == "4.0" || val == "4.0.1" => {}
                _ => return None,
            }
        }
        Some(media)
    }

    /// The canonical FHIR media type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Json => "application/fhir+json",
            MediaType::Xml => "application/fhir+xml",
        }
    }
}

/// FHIR `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One problem with a card, located FHIRPath-like. Diagnostics are German, then " / " and
/// English; they may quote codes but never personal data (names, KVNR, birth dates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR issue type: "structure", "required", "value", "invariant", "code-invalid",
    /// "not-supported", "security", "too-costly", ...
    pub code: &'static str,
    pub expression: String,
    pub diagnostics: String,
}

/// Longest location and diagnostics text of an issue, in characters: a location or message
/// built from a hostile body (a key of a megabyte) is shortened in the middle, so that an
/// answer never echoes the body back.
const MAX_EXPRESSION_CHARS: usize = 300;
const MAX_DIAGNOSTICS_CHARS: usize = 1000;

fn clip(s: String, max: usize) -> String {
    if s.len() <= max || s.chars().count() <= max {
        return s;
    }
    let half = max / 2;
    let head: String = s.chars().take(half).collect();
    let tail: Vec<char> = s.chars().rev().take(half).collect();
    let mut out = head;
    out.push('…');
    out.extend(tail.into_iter().rev());
    out
}

impl Issue {
    pub fn error(code: &'static str, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            expression: clip(expression.into(), MAX_EXPRESSION_CHARS),
            diagnostics: clip(diagnostics.into(), MAX_DIAGNOSTICS_CHARS),
        }
    }

    pub fn fatal(code: &'static str, expression: impl Into<String>, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Fatal,
            code,
            expression: clip(expression.into(), MAX_EXPRESSION_CHARS),
            diagnostics: clip(diagnostics.into(), MAX_DIAGNOSTICS_CHARS),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.expression, self.diagnostics)
    }
}

/// Why a card was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    /// The body cannot be read at all (malformed, DOCTYPE, duplicate keys, too deep): 400.
    Unreadable(Vec<Issue>),
    /// The body is readable but breaks the profile: 422.
    Invalid(Vec<Issue>),
}

impl CardError {
    pub fn issues(&self) -> &[Issue] {
        match self {
            CardError::Unreadable(i) | CardError::Invalid(i) => i,
        }
    }
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, issues) = match self {
            CardError::Unreadable(i) => ("unreadable card", i),
            CardError::Invalid(i) => ("invalid card", i),
        };
        write!(f, "{what}")?;
        for (n, issue) in issues.iter().enumerate() {
            write!(f, "{}{issue}", if n == 0 { ": " } else { "; " })?;
        }
        Ok(())
    }
}

impl std::error::Error for CardError {}

/// Reads, validates and extracts a participation card. Every problem found is reported, not
/// just the first; nothing in the body can make this panic.
pub fn read_card(media: MediaType, body: &[u8]) -> Result<ParticipationCard, CardError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let parsed = match media {
        MediaType::Json => json::parse(body),
        MediaType::Xml => xml::parse(body),
    };
    let (root, issues) = parsed.map_err(CardError::Unreadable)?;
    validate::validate(&root, issues).map_err(CardError::Invalid)
}

#[cfg(test)]
mod clip_tests {
    use super::*;

    #[test]
    fn long_issue_texts_are_shortened_in_the_middle() {
        let issue = Issue::error("structure", format!("Bundle.{}", "ä".repeat(100_000)), "x".repeat(5000));
        assert_eq!(issue.expression.chars().count(), MAX_EXPRESSION_CHARS + 1);
        assert!(issue.expression.starts_with("Bundle.ää") && issue.expression.contains('…'));
        assert_eq!(issue.diagnostics.chars().count(), MAX_DIAGNOSTICS_CHARS + 1);
        let short = Issue::error("value", "Bundle.id", "kurz");
        assert_eq!((short.expression.as_str(), short.diagnostics.as_str()), ("Bundle.id", "kurz"));
    }
}
