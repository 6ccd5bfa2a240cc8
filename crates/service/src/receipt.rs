//! The receipt ("Eingangsbestätigung") for a stored report, as a FHIR `Provenance`.
//!
//! It names the receipt id (= the report id), the time of receipt, the sender's and the
//! receiving office's Telematik-IDs, the card's identifier, and the SHA-256 of the bytes as
//! submitted, so a practice can prove what it sent and when it was received.
//!
//! The resource is a typed value serialised straight to JSON: every accepted card is
//! answered with one, and building it as a `serde_json::Value` (a map per object) cost
//! about 4 % of the server's CPU under load (docs/PERFORMANCE.md, "Fewer hand-offs").

use oegd_store::{Organisation, StoredReport};
use serde::Serialize;

pub const TELEMATIK_ID_SYSTEM: &str = "https://gematik.de/fhir/sid/telematik-id";
/// Extension carrying the SHA-256 (hex) of the submitted bytes.
pub const SHA256_EXTENSION: &str = "urn:oegd-gateway:fhir:StructureDefinition:submission-sha256";

/// The receipt of `report`, received by `office`; serialise it with serde.
pub fn receipt<'a>(report: &'a StoredReport, office: &'a Organisation) -> Provenance<'a> {
    let recorded = format!("{:.3}", report.received_at);
    Provenance {
        resource_type: "Provenance",
        id: &report.id.0,
        meta: Meta { last_updated: recorded.clone() },
        extension: [Extension { url: SHA256_EXTENSION, value_string: &report.body_sha256 }],
        target: [Reference { reference: format!("Bundle/{}", report.id.0) }],
        recorded,
        activity: CodeableConcept {
            coding: [Coding {
                system: "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                code: "CREATE",
                display: Some("create"),
            }],
        },
        agent: [
            Agent {
                kind: participant("author"),
                who: Who {
                    identifier: Identifier { system: TELEMATIK_ID_SYSTEM, value: report.sender.as_str() },
                    display: None,
                },
            },
            Agent {
                kind: participant("custodian"),
                who: Who {
                    identifier: Identifier { system: TELEMATIK_ID_SYSTEM, value: office.telematik_id.as_str() },
                    display: Some(&office.name),
                },
            },
        ],
        entity: [Entity {
            role: "source",
            what: What { identifier: Identifier { system: "urn:ietf:rfc:3986", value: &report.card_id } },
        }],
    }
}

fn participant(code: &'static str) -> CodeableConcept {
    CodeableConcept {
        coding: [Coding {
            system: "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
            code,
            display: None,
        }],
    }
}

/// A FHIR R4 `Provenance` with the elements the receipt uses, in FHIR's element order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance<'a> {
    resource_type: &'static str,
    id: &'a str,
    meta: Meta,
    extension: [Extension<'a>; 1],
    target: [Reference; 1],
    recorded: String,
    activity: CodeableConcept,
    agent: [Agent<'a>; 2],
    entity: [Entity<'a>; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    last_updated: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Extension<'a> {
    url: &'static str,
    value_string: &'a str,
}

#[derive(Debug, Serialize)]
struct Reference {
    reference: String,
}

#[derive(Debug, Serialize)]
struct CodeableConcept {
    coding: [Coding; 1],
}

#[derive(Debug, Serialize)]
struct Coding {
    system: &'static str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Agent<'a> {
    #[serde(rename = "type")]
    kind: CodeableConcept,
    who: Who<'a>,
}

#[derive(Debug, Serialize)]
struct Who<'a> {
    identifier: Identifier<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Identifier<'a> {
    system: &'static str,
    value: &'a str,
}

#[derive(Debug, Serialize)]
struct Entity<'a> {
    role: &'static str,
    what: What<'a>,
}

#[derive(Debug, Serialize)]
struct What<'a> {
    identifier: Identifier<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use oegd_domain::{Checkup, OrgKind, TelematikId};
    use oegd_store::{ReportId, ReportSource};

    /// The typed receipt serialises to exactly the JSON the receipt always had (it was built
    /// with `serde_json::json!` before): same members, same order.
    #[test]
    fn the_receipt_is_the_provenance_it_always_was() {
        let received_at: jiff::Timestamp = "2026-03-01T09:30:00.125Z".parse().unwrap();
        let report = StoredReport {
            id: ReportId("0192f0c2-aaaa-7bbb-8ccc-123456789abc".into()),
            sender: TelematikId::parse("1-20123456789").unwrap(),
            card_id: "urn:uuid:5d7e2c1a-0000-4000-8000-000000000001".into(),
            received_at,
            source: ReportSource::Api,
            media_type: "application/fhir+json".into(),
            body: b"{}".to_vec(),
            body_sha256: "ab".repeat(32),
            facts_json: "{}".into(),
            facts_sha256: "cd".repeat(32),
            checkup: Checkup::U5,
            exam_date: jiff::civil::date(2026, 2, 27),
            receiving_office: TelematikId::parse("5-2-LAGuS").unwrap(),
        };
        let office = Organisation {
            telematik_id: TelematikId::parse("5-2-LAGuS").unwrap(),
            kind: OrgKind::Landesamt,
            name: "Landesamt für Gesundheit und Soziales".into(),
            kreise: Vec::new(),
            created_at: received_at,
        };
        let expected = serde_json::json!({
            "resourceType": "Provenance",
            "id": report.id.0,
            "meta": { "lastUpdated": "2026-03-01T09:30:00.125Z" },
            "extension": [{ "url": SHA256_EXTENSION, "valueString": report.body_sha256 }],
            "target": [{ "reference": format!("Bundle/{}", report.id.0) }],
            "recorded": "2026-03-01T09:30:00.125Z",
            "activity": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                "code": "CREATE",
                "display": "create"
            }]},
            "agent": [
                {
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
                    "who": { "identifier": { "system": TELEMATIK_ID_SYSTEM, "value": "1-20123456789" } }
                },
                {
                    "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "custodian" }] },
                    "who": {
                        "identifier": { "system": TELEMATIK_ID_SYSTEM, "value": "5-2-LAGuS" },
                        "display": office.name
                    }
                }
            ],
            "entity": [{
                "role": "source",
                "what": { "identifier": { "system": "urn:ietf:rfc:3986", "value": report.card_id } }
            }]
        });
        assert_eq!(serde_json::to_string(&receipt(&report, &office)).unwrap(), expected.to_string());
    }
}
