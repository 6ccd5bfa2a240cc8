//! The receipt ("Eingangsbestätigung") for a stored report, as a FHIR `Provenance`.
//!
//! It names the receipt id (= the report id), the time of receipt, the sender's and the
//! receiving office's Telematik-IDs, the card's identifier, and the SHA-256 of the bytes as
//! submitted, so a practice can prove what it sent and when it was received.

use oegd_store::{Organisation, StoredReport};
use serde_json::{Value, json};

pub const TELEMATIK_ID_SYSTEM: &str = "https://gematik.de/fhir/sid/telematik-id";
/// Extension carrying the SHA-256 (hex) of the submitted bytes.
pub const SHA256_EXTENSION: &str = "urn:oegd-gateway:fhir:StructureDefinition:submission-sha256";

pub fn receipt(report: &StoredReport, office: &Organisation) -> Value {
    json!({
        "resourceType": "Provenance",
        "id": report.id.0,
        "meta": { "lastUpdated": format!("{:.3}", report.received_at) },
        "extension": [{ "url": SHA256_EXTENSION, "valueString": report.body_sha256 }],
        "target": [{ "reference": format!("Bundle/{}", report.id.0) }],
        "recorded": format!("{:.3}", report.received_at),
        "activity": { "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
            "code": "CREATE",
            "display": "create"
        }]},
        "agent": [
            {
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
                "who": { "identifier": { "system": TELEMATIK_ID_SYSTEM, "value": report.sender.as_str() } }
            },
            {
                "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian" }] },
                "who": {
                    "identifier": { "system": TELEMATIK_ID_SYSTEM, "value": office.telematik_id.as_str() },
                    "display": office.name
                }
            }
        ],
        "entity": [{
            "role": "source",
            "what": { "identifier": { "system": "urn:ietf:rfc:3986", "value": report.card_id } }
        }]
    })
}
