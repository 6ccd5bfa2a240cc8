//! Builds a valid 1.0.1 participation card in JSON, for the demo, the web form and
//! benchmarks. Pure: the card's id and time come in with the input, the entries' ids are
//! derived from the card's id, so the same input always gives the same card.

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_domain::Checkup;
use serde_json::{Value, json};
use uuid::Uuid;

/// What a practice enters to confirm a check-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInput {
    pub practice_name: String,
    pub practitioner_given: String,
    pub practitioner_family: String,
    /// Lebenslange Arztnummer, nine digits with check digit.
    pub practitioner_lanr: Option<String>,
    pub patient_given: String,
    pub patient_family: String,
    pub patient_birth_name: Option<String>,
    pub birth_date: Date,
    pub kvnr: Option<String>,
    /// U2–U9 or U7a (U1 and J1 are not on the card; a card built with them is rejected).
    pub checkup: Checkup,
    pub exam_date: Date,
    pub timestamp: Timestamp,
    pub card_uuid: Uuid,
}

const SNOMED_VERSION: &str = "http://snomed.info/sct/900000000000207008/version/20210131";

fn profile(name: &str) -> Value {
    json!({ "profile": [format!("https://fhir.kbv.de/StructureDefinition/{name}|1.0.1")] })
}

/// Entry ids derived from the card id: flipping low bits of the node field keeps the UUID's
/// version and variant intact.
fn derived(card: Uuid, n: u128) -> Uuid {
    Uuid::from_u128(card.as_u128() ^ (n + 1))
}

fn instant(ts: Timestamp) -> String {
    let ts = ts.round(jiff::Unit::Second).unwrap_or(ts);
    match jiff::tz::TimeZone::get("Europe/Berlin") {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

/// A valid `KBV_PR_MIO_PC_Bundle|1.0.1` card (Composition, Encounter, Patient, Practitioner,
/// Organization) as FHIR JSON.
pub fn build_card(input: &CardInput) -> Value {
    let [composition, encounter, patient, practitioner, organization] =
        [0, 1, 2, 3, 4].map(|n| derived(input.card_uuid, n).to_string());
    let url = |id: &str| format!("urn:uuid:{id}");

    let mut patient_ids = Vec::new();
    if let Some(kvnr) = &input.kvnr {
        patient_ids.push(json!({
            "type": { "coding": [{
                "system": "http://fhir.de/CodeSystem/identifier-type-de-basis",
                "code": "GKV",
                "display": "Gesetzliche Krankenversicherung"
            }]},
            "system": "http://fhir.de/NamingSystem/gkv/kvid-10",
            "value": kvnr
        }));
    }
    let mut names = vec![json!({
        "use": "official",
        "family": input.patient_family,
        "given": [input.patient_given]
    })];
    if let Some(birth_name) = &input.patient_birth_name {
        names.push(json!({ "use": "maiden", "family": birth_name }));
    }
    let mut patient_res = json!({
        "resourceType": "Patient",
        "id": patient,
        "meta": profile("KBV_PR_MIO_CMR_Patient"),
    });
    if let Some(obj) = patient_res.as_object_mut() {
        if !patient_ids.is_empty() {
            obj.insert("identifier".into(), Value::Array(patient_ids));
        }
        obj.insert("name".into(), Value::Array(names));
        obj.insert("birthDate".into(), Value::String(input.birth_date.to_string()));
    }

    let mut practitioner_res = json!({
        "resourceType": "Practitioner",
        "id": practitioner,
        "meta": profile("KBV_PR_MIO_CMR_Practitioner"),
    });
    if let Some(obj) = practitioner_res.as_object_mut() {
        if let Some(lanr) = &input.practitioner_lanr {
            obj.insert(
                "identifier".into(),
                json!([{
                    "use": "official",
                    "type": { "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "LANR",
                        "display": "Lifelong physician number"
                    }]},
                    "system": "https://fhir.kbv.de/NamingSystem/KBV_NS_Base_ANR",
                    "value": lanr
                }]),
            );
        }
        obj.insert(
            "name".into(),
            json!([{
                "use": "official",
                "family": input.practitioner_family,
                "given": [input.practitioner_given]
            }]),
        );
    }

    let code = input.checkup.snomed_code().unwrap_or("");
    json!({
        "resourceType": "Bundle",
        "id": input.card_uuid.to_string(),
        "meta": profile("KBV_PR_MIO_PC_Bundle"),
        "identifier": { "system": "urn:ietf:rfc:3937", "value": url(&input.card_uuid.to_string()) },
        "type": "document",
        "timestamp": instant(input.timestamp),
        "entry": [
            {
                "fullUrl": url(&composition),
                "resource": {
                    "resourceType": "Composition",
                    "id": composition,
                    "meta": profile("KBV_PR_MIO_PC_Composition_Examination_Participation"),
                    "status": "final",
                    "type": { "coding": [{
                        "system": "http://snomed.info/sct",
                        "version": SNOMED_VERSION,
                        "code": "314845004",
                        "display": "Patient participation status (finding)"
                    }]},
                    "subject": { "reference": url(&patient) },
                    "encounter": { "reference": url(&encounter) },
                    "date": input.exam_date.to_string(),
                    "author": [
                        { "reference": url(&practitioner) },
                        { "reference": url(&organization) }
                    ],
                    "title": "Teilnahmekarte"
                }
            },
            {
                "fullUrl": url(&encounter),
                "resource": {
                    "resourceType": "Encounter",
                    "id": encounter,
                    "meta": profile("KBV_PR_MIO_PC_Encounter"),
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "version": "2.0.0",
                        "code": "AMB",
                        "display": "ambulatory"
                    },
                    "type": [{ "coding": [{
                        "system": "http://snomed.info/sct",
                        "version": SNOMED_VERSION,
                        "code": code
                    }]}],
                    "subject": { "reference": url(&patient) },
                    "participant": [{
                        "type": [{ "coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "version": "2.0.0",
                            "code": "PPRF",
                            "display": "primary performer"
                        }]}],
                        "individual": { "reference": url(&practitioner) }
                    }],
                    "period": { "start": input.exam_date.to_string() },
                    "serviceProvider": { "reference": url(&organization) }
                }
            },
            { "fullUrl": url(&patient), "resource": patient_res },
            { "fullUrl": url(&practitioner), "resource": practitioner_res },
            {
                "fullUrl": url(&organization),
                "resource": {
                    "resourceType": "Organization",
                    "id": organization,
                    "meta": profile("KBV_PR_MIO_CMR_Organization"),
                    "name": input.practice_name
                }
            }
        ]
    })
}
