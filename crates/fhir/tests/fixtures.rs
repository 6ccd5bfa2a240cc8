//! The shared fixtures (`/work/shared/fixtures/mio-pc`, see its EXPECTED.md) and the edge
//! cases of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use jiff::civil::{Date, date};
use oegd_domain::Checkup;
use oegd_fhir::{CardError, CardInput, MediaType, ParticipationCard, build_card, operation_outcome, read_card};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/mio-pc")
}

fn media(file: &str) -> MediaType {
    if file.ends_with(".xml") { MediaType::Xml } else { MediaType::Json }
}

fn read(sub: &str, file: &str) -> Result<ParticipationCard, CardError> {
    let path = fixtures().join(sub).join(file);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_card(media(file), &body)
}

struct Facts {
    file: &'static str,
    checkup: Checkup,
    date: Date,
    given: &'static str,
    family: &'static str,
    birth_name: Option<&'static str>,
    birth_date: Date,
    kvnr: Option<&'static str>,
    version: &'static str,
    authors: &'static [&'static str],
    card_id: &'static str,
}

const P: &[&str] = &["Practitioner"];
const PO: &[&str] = &["Practitioner", "Organization"];
const OP: &[&str] = &["Organization", "Practitioner"];

#[rustfmt::skip]
fn expected() -> Vec<Facts> {
    use Checkup::*;
    let f = |file, checkup, date, given, family, birth_name, birth_date, kvnr, version, authors, card_id| Facts {
        file, checkup, date, given, family, birth_name, birth_date, kvnr, version, authors, card_id,
    };
    vec![
        f("01-u2-v101-kvnr-prac.json", U2, date(2025, 9, 8), "Mira", "Behrendt", None, date(2025, 9, 3), Some("B730152844"), "1.0.1", P, "urn:uuid:a515b881-31a5-5e7b-8516-2e48f1e35ed1"),
        f("01-u2-v101-kvnr-prac.xml", U2, date(2025, 9, 8), "Mira", "Behrendt", None, date(2025, 9, 3), Some("B730152844"), "1.0.1", P, "urn:uuid:a515b881-31a5-5e7b-8516-2e48f1e35ed1"),
        f("02-u3-v101-mr-prac-org.xml", U3, date(2025, 8, 11), "Paul", "Hinrichsen", None, date(2025, 7, 14), None, "1.0.1", PO, "urn:uuid:aaced05f-3fb8-5fdb-8769-a496070f67d7"),
        f("03-u4-v101-kvnr-maiden-prac-org.json", U4, date(2025, 7, 30), "Ida", "Sturm", Some("Pagel"), date(2025, 4, 22), Some("S482153071"), "1.0.1", PO, "urn:uuid:9ffb69be-4ac1-5a8c-9ee7-a6cd1d3c8b30"),
        f("04-u5-v100-kvnr-prac.json", U5, date(2025, 6, 16), "Emil", "Jäger", None, date(2024, 12, 5), Some("J205774135"), "1.0.0", P, "urn:uuid:3d9c55f3-fbf2-5faa-9686-1870f60a58d7"),
        f("04-u5-v100-kvnr-prac.xml", U5, date(2025, 6, 16), "Emil", "Jäger", None, date(2024, 12, 5), Some("J205774135"), "1.0.0", P, "urn:uuid:3d9c55f3-fbf2-5faa-9686-1870f60a58d7"),
        f("05-u6-v101-pkv-maiden-prac.json", U6, date(2025, 7, 2), "Frieda", "Wollin", Some("Schütt"), date(2024, 8, 19), None, "1.0.1", P, "urn:uuid:575e231a-f4c9-569b-9a48-f808bb235572"),
        f("06-u7-v101-kvnr-prac-org.xml", U7, date(2025, 7, 21), "Theo", "Kaminski", None, date(2023, 10, 9), Some("K641089233"), "1.0.1", PO, "urn:uuid:5c3830f9-55d6-539c-b913-88785d96122b"),
        f("07-u7a-v100-mr-prac-org.json", U7a, date(2025, 7, 10), "Lotta", "Rieck", None, date(2022, 9, 27), None, "1.0.0", PO, "urn:uuid:4a884ff2-a7af-5420-b771-0a95dc7c0bbb"),
        f("08-u8-v101-kvnr-particle-prac.xml", U8, date(2025, 4, 14), "Ole", "van der Meulen", None, date(2021, 6, 30), Some("M319065287"), "1.0.1", P, "urn:uuid:e10ed056-3baa-5d84-a4a8-36aba108ae28"),
        f("09-u9-v101-kvnr-maiden-prac-org-ik.json", U9, date(2025, 3, 3), "Mats", "Reinholz", Some("Ohlsen"), date(2020, 3, 17), Some("R058731464"), "1.0.1", PO, "urn:uuid:5cffee4a-7397-5e27-af9b-4b6fd21a4f57"),
        f("09-u9-v101-kvnr-maiden-prac-org-ik.xml", U9, date(2025, 3, 3), "Mats", "Reinholz", Some("Ohlsen"), date(2020, 3, 17), Some("R058731464"), "1.0.1", PO, "urn:uuid:5cffee4a-7397-5e27-af9b-4b6fd21a4f57"),
        f("10-u3-v100-kvnr-maiden-prac-org.xml", U3, date(2025, 2, 5), "Greta", "Holtfreter", Some("Dabelstein"), date(2025, 1, 8), Some("H926401576"), "1.0.0", PO, "urn:uuid:e486a0fa-8985-51ad-83be-4af0af154013"),
        f("11-u6-v101-noid-org-prac-datetime.json", U6, date(2025, 9, 15), "Leni", "Stahnke", None, date(2024, 10, 31), None, "1.0.1", OP, "urn:uuid:12e7845d-3eea-548d-91ba-54daefe9c16f"),
        f("12-u9-v100-mr-maiden-prac-efn.xml", U9, date(2024, 11, 25), "Finn", "Burmeister", Some("Lewerenz"), date(2019, 11, 2), None, "1.0.0", P, "urn:uuid:891dfb95-fed6-5310-8a94-1a4cb62eca8e"),
    ]
}

#[test]
fn fixture_path_resolves() {
    assert!(fixtures().join("EXPECTED.md").is_file(), "{}", fixtures().display());
}

#[test]
fn valid_fixtures_yield_expected_facts() {
    let table = expected();
    let listed = std::fs::read_dir(fixtures().join("valid")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(listed, table.len(), "every valid fixture is in the table");
    for f in table {
        let card = match read("valid", f.file) {
            Ok(card) => card,
            Err(e) => panic!("{} rejected: {e}", f.file),
        };
        assert_eq!(card.checkup, f.checkup, "{}", f.file);
        assert_eq!(card.exam_date, f.date, "{}", f.file);
        assert_eq!(card.patient.given, f.given, "{}", f.file);
        assert_eq!(card.patient.family, f.family, "{}", f.file);
        assert_eq!(card.patient.birth_name.as_deref(), f.birth_name, "{}", f.file);
        assert_eq!(card.patient.birth_date, f.birth_date, "{}", f.file);
        assert_eq!(card.patient.kvnr.as_deref(), f.kvnr, "{}", f.file);
        assert_eq!(card.profile_version, f.version, "{}", f.file);
        assert_eq!(card.authors, f.authors, "{}", f.file);
        assert_eq!(card.card_id, f.card_id, "{}", f.file);
        assert!(card.practitioner.is_some(), "{}", f.file);
    }
}

#[test]
fn json_and_xml_twins_are_identical() {
    for stem in ["01-u2-v101-kvnr-prac", "04-u5-v100-kvnr-prac", "09-u9-v101-kvnr-maiden-prac-org-ik"] {
        let json = read("valid", &format!("{stem}.json")).expect("json twin");
        let xml = read("valid", &format!("{stem}.xml")).expect("xml twin");
        assert_eq!(json, xml, "{stem}");
        assert_eq!(serde_json::to_string(&json).ok(), serde_json::to_string(&xml).ok(), "{stem}");
    }
}

#[test]
fn facts_details() {
    let card = read("valid", "09-u9-v101-kvnr-maiden-prac-org-ik.xml").expect("valid");
    let prac = card.practitioner.expect("practitioner");
    assert_eq!(prac.name, "Dr. med. Uwe Tessenow");
    assert_eq!(prac.lanr.as_deref(), Some("648230834"));
    assert_eq!(prac.efn.as_deref(), Some("276130004839207"));
    let org = card.organization.expect("organization");
    assert_eq!(org.name, "Kinderzentrum Vorpommern");
    assert_eq!(org.ik.as_deref(), Some("261307741"));
    assert_eq!(org.city.as_deref(), Some("Anklam"));
    assert_eq!(org.address_line.as_deref(), Some("Peenewiesen 2"));
    assert_eq!(card.timestamp, "2025-03-03T13:22:58+01:00");

    let card = read("valid", "05-u6-v101-pkv-maiden-prac.json").expect("valid");
    assert_eq!(card.patient.pkv_id.as_deref(), Some("OPK-4471902"));
    let card = read("valid", "07-u7a-v100-mr-prac-org.json").expect("valid");
    assert_eq!(card.patient.patient_number.as_deref(), Some("22-0927-RL"));
    assert_eq!(card.organization.and_then(|o| o.bsnr).as_deref(), Some("984409900"));
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Unreadable,
    Invalid,
}

#[rustfmt::skip]
const INVALID: &[(&str, Verdict, &str)] = &[
    ("i01-missing-period-start.json", Verdict::Invalid, "Bundle.entry[1].resource.period.start"),
    ("i02-exam-code-u1.xml", Verdict::Invalid, "Bundle.entry[1].resource.type[0].coding[0].code"),
    ("i03-exam-code-unknown.json", Verdict::Invalid, "Bundle.entry[1].resource.type[0].coding[0].code"),
    ("i04-wrong-composition-type.xml", Verdict::Invalid, "Bundle.entry[0].resource.type.coding[0].code"),
    ("i05-missing-meta-profile.json", Verdict::Invalid, "Bundle.meta.profile"),
    ("i06-wrong-profile.xml", Verdict::Invalid, "Bundle.meta.profile[0]"),
    ("i07-dangling-subject-reference.json", Verdict::Invalid, "Bundle.entry[0].resource.subject.reference"),
    ("i08-two-given-names.xml", Verdict::Invalid, "Bundle.entry[2].resource.name[0].given"),
    ("i09-bad-birthdate-format.json", Verdict::Invalid, "Bundle.entry[2].resource.birthDate"),
    ("i10-bundle-type-collection.xml", Verdict::Invalid, "Bundle.type"),
    ("i11-missing-identifier.json", Verdict::Invalid, "Bundle.identifier"),
    ("i12-empty-entry.json", Verdict::Invalid, "Bundle.entry"),
    ("i13-not-a-bundle-patient.json", Verdict::Invalid, "resourceType"),
    ("i14-malformed.json", Verdict::Unreadable, "Bundle.entry[2].resource.name"),
    ("i15-malformed.xml", Verdict::Unreadable, "Bundle.entry[2].resource.birthDate"),
    ("i16-xxe-external-entity.xml", Verdict::Unreadable, "Bundle"),
    ("i17-encounter-status-in-progress.json", Verdict::Invalid, "Bundle.entry[1].resource.status"),
    ("i18-author-references-patient.xml", Verdict::Invalid, "Bundle.entry[0].resource.author[0].reference"),
];

#[test]
fn invalid_fixtures_are_rejected_at_the_expected_location() {
    let listed = std::fs::read_dir(fixtures().join("invalid")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(listed, INVALID.len(), "every invalid fixture is in the table");
    for (file, verdict, location) in INVALID {
        let (got, issues) = match read("invalid", file) {
            Ok(_) => panic!("{file} accepted"),
            Err(CardError::Unreadable(i)) => (Verdict::Unreadable, i),
            Err(CardError::Invalid(i)) => (Verdict::Invalid, i),
        };
        assert_eq!(&got, verdict, "{file}: {issues:#?}");
        assert!(issues.iter().any(|i| i.expression == *location), "{file}: no issue at {location}: {issues:#?}");
        for issue in &issues {
            assert!(issue.diagnostics.contains(" / "), "{file}: diagnostics German / English: {issue:?}");
        }
    }
}

#[test]
fn unreadable_diagnostics_name_line_and_column() {
    let Err(CardError::Unreadable(issues)) = read("invalid", "i14-malformed.json") else { panic!("unreadable") };
    assert!(issues.iter().any(|i| i.diagnostics.contains("Zeile") && i.diagnostics.contains("column")), "{issues:?}");
    let Err(CardError::Unreadable(issues)) = read("invalid", "i15-malformed.xml") else { panic!("unreadable") };
    assert!(issues.iter().any(|i| i.diagnostics.contains("Zeile")), "{issues:?}");
    let Err(CardError::Unreadable(issues)) = read("invalid", "i16-xxe-external-entity.xml") else {
        panic!("unreadable")
    };
    assert!(issues.iter().any(|i| i.code == "security"), "{issues:?}");
}

#[test]
fn diagnostics_carry_no_personal_data() {
    for (file, _, _) in INVALID {
        let Err(e) = read("invalid", file) else { continue };
        for issue in e.issues() {
            for word in ["Joris", "Wendt", "Lena", "Marie", "2022-02-11", "2025-05-30", "R423188057", "Tilda"] {
                assert!(!issue.diagnostics.contains(word), "{file}: {issue:?}");
            }
        }
    }
}

// ---- edge cases built from a valid card -------------------------------------------------

fn valid_json() -> serde_json::Value {
    let body = std::fs::read(fixtures().join("valid/01-u2-v101-kvnr-prac.json")).expect("fixture");
    serde_json::from_slice(&body).expect("json")
}

fn valid_xml() -> String {
    std::fs::read_to_string(fixtures().join("valid/01-u2-v101-kvnr-prac.xml")).expect("fixture")
}

fn invalid_issues(media: MediaType, body: &[u8]) -> Vec<oegd_fhir::Issue> {
    match read_card(media, body) {
        Err(CardError::Invalid(i)) => i,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn has(issues: &[oegd_fhir::Issue], expr: &str) -> bool {
    issues.iter().any(|i| i.expression == expr)
}

#[test]
fn v100_patient_duplicated_under_both_profiles_is_accepted() {
    let body = std::fs::read(fixtures().join("valid/04-u5-v100-kvnr-prac.json")).unwrap();
    let mut card: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let original = read_card(MediaType::Json, &body).unwrap();
    let mut pc = card["entry"][2].clone();
    let url = "urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f";
    pc["fullUrl"] = url.into();
    pc["resource"]["id"] = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f".into();
    pc["resource"]["meta"]["profile"][0] = "https://fhir.kbv.de/StructureDefinition/KBV_PR_MIO_PC_Patient|1.0.0".into();
    card["entry"].as_array_mut().unwrap().push(pc.clone());
    card["entry"][0]["resource"]["subject"]["reference"] = url.into();
    let dup = read_card(MediaType::Json, &serde_json::to_vec(&card).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dup, original);

    // The duplicate must say the same.
    card["entry"][4]["resource"]["birthDate"] = "2024-12-06".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).unwrap());
    assert!(has(&issues, "Bundle.entry[1].resource.subject"), "{issues:?}");

    // Version 1.0.1 has one Patient only.
    let body = std::fs::read(fixtures().join("valid/01-u2-v101-kvnr-prac.json")).unwrap();
    let mut card: serde_json::Value = serde_json::from_slice(&body).unwrap();
    pc["resource"]["meta"]["profile"][0] =
        "https://fhir.kbv.de/StructureDefinition/KBV_PR_MIO_CMR_Patient|1.0.1".into();
    card["entry"].as_array_mut().unwrap().push(pc);
    card["entry"][0]["resource"]["subject"]["reference"] = url.into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).unwrap());
    assert!(has(&issues, "Bundle.entry[4].resource"), "{issues:?}");
}

#[test]
fn xml_schema_location_is_tolerated() {
    let xml = valid_xml().replacen(
        r#"<Bundle xmlns="http://hl7.org/fhir">"#,
        r#"<Bundle xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir fhir-all.xsd">"#,
        1,
    );
    assert!(read_card(MediaType::Xml, xml.as_bytes()).is_ok());
    let wrong_ns = valid_xml().replacen(r#"xmlns="http://hl7.org/fhir""#, r#"xmlns="urn:other""#, 1);
    assert!(matches!(read_card(MediaType::Xml, wrong_ns.as_bytes()), Err(CardError::Invalid(_))));
}

#[test]
fn duplicate_json_keys_are_unreadable() {
    let body = br#"{"resourceType":"Bundle","type":"document","type":"collection"}"#;
    match read_card(MediaType::Json, body) {
        Err(CardError::Unreadable(i)) => {
            assert!(i.iter().any(|i| i.expression == "Bundle.type" && i.diagnostics.contains("doppelt")), "{i:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deep_nesting_is_unreadable() {
    let mut body = String::from(r#"{"resourceType":"Bundle","meta":"#);
    for _ in 0..200 {
        body.push_str(r#"{"a":"#);
    }
    body.push('1');
    for _ in 0..200 {
        body.push('}');
    }
    body.push('}');
    let Err(CardError::Unreadable(i)) = read_card(MediaType::Json, body.as_bytes()) else { panic!("unreadable") };
    assert!(i.iter().any(|i| i.code == "too-costly"), "{i:?}");

    let mut xml = String::from(r#"<Bundle xmlns="http://hl7.org/fhir">"#);
    for _ in 0..200 {
        xml.push_str("<meta>");
    }
    for _ in 0..200 {
        xml.push_str("</meta>");
    }
    xml.push_str("</Bundle>");
    assert!(matches!(read_card(MediaType::Xml, xml.as_bytes()), Err(CardError::Unreadable(_))));
}

#[test]
fn nulls_and_empty_arrays_are_invalid() {
    let mut card = valid_json();
    card["entry"][2]["resource"]["birthDate"] = serde_json::Value::Null;
    card["entry"][2]["resource"]["identifier"] = serde_json::json!([]);
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(has(&issues, "Bundle.entry[2].resource.birthDate"), "{issues:?}");
    assert!(has(&issues, "Bundle.entry[2].resource.identifier"), "{issues:?}");
}

#[test]
fn duplicate_json_keys_are_found_in_any_object_of_any_size() {
    let duplicate_at = |body: &str| match read_card(MediaType::Json, body.as_bytes()) {
        Err(CardError::Unreadable(i)) if i[0].diagnostics.contains("doppelt") => i[0].expression.clone(),
        other => panic!("{body}: {other:?}"),
    };
    // The first occurrence was null or an empty array, so it left no element behind.
    assert_eq!(duplicate_at(r#"{"resourceType":"Bundle","id":null,"id":"a"}"#), "Bundle.id");
    assert_eq!(duplicate_at(r#"{"resourceType":"Bundle","entry":[],"entry":[{}]}"#), "Bundle.entry");
    // Inside an array item, after a nested object that used the same key.
    assert_eq!(
        duplicate_at(r#"{"resourceType":"Bundle","entry":[{"a":1},{"x":{"a":1},"a":1,"a":2}]}"#),
        "Bundle.entry[1].a"
    );
    // Past the 32 keys after which an object's keys are kept in a set.
    let many: String = (0..40).map(|i| format!(r#""k{i}":"v","#)).collect();
    assert_eq!(duplicate_at(&format!(r#"{{"resourceType":"Bundle",{many}"k3":"w"}}"#)), "Bundle.k3");
    // In an object still scanning its list, after a child object that used the set.
    assert_eq!(duplicate_at(&format!(r#"{{"resourceType":"Bundle","a":1,"x":{{{many}"z":1}},"a":2}}"#)), "Bundle.a");
    // In an object using the set, after a small child object.
    assert_eq!(duplicate_at(&format!(r#"{{"resourceType":"Bundle",{many}"x":{{"a":1}},"k0":2}}"#)), "Bundle.k0");
    // A key too long for any FHIR name is refused before it is copied for its array's items.
    let long = format!(r#"{{"resourceType":"Bundle","\u006b{}":[1,2]}}"#, "k".repeat(200));
    let Err(CardError::Unreadable(i)) = read_card(MediaType::Json, long.as_bytes()) else { panic!("unreadable") };
    assert_eq!(i[0].code, "too-costly", "{i:?}");
    // The same keys in sibling objects are no duplicates.
    let siblings = format!(r#"{{"resourceType":"Bundle","entry":[{{{many}"z":1}},{{{many}"z":1}}]}}"#);
    assert!(matches!(read_card(MediaType::Json, siblings.as_bytes()), Err(CardError::Invalid(_))));
}

#[test]
fn json_with_invalid_utf8_is_unreadable_at_its_place() {
    let mut body = serde_json::to_vec(&valid_json()).expect("json");
    let at = body.windows(6).position(|w| w == b"\"Mira\"").expect("a given name") + 2;
    body[at] = 0xFF;
    let Err(CardError::Unreadable(issues)) = read_card(MediaType::Json, &body) else { panic!("unreadable") };
    assert!(issues[0].expression.starts_with("Bundle.entry[2].resource.name[0].given"), "{issues:?}");
    assert!(issues[0].diagnostics.contains("Zeile 1, Spalte"), "{issues:?}");
}

#[test]
fn doctype_is_refused_even_when_unused() {
    let xml = valid_xml().replacen("<Bundle", "<!DOCTYPE Bundle [ <!ENTITY unused \"x\"> ]>\n<Bundle", 1);
    match read_card(MediaType::Xml, xml.as_bytes()) {
        Err(CardError::Unreadable(i)) => assert!(i.iter().any(|i| i.code == "security"), "{i:?}"),
        other => panic!("{other:?}"),
    }
    let plain = valid_xml().replacen("<Bundle", "<!DOCTYPE Bundle>\n<Bundle", 1);
    assert!(matches!(read_card(MediaType::Xml, plain.as_bytes()), Err(CardError::Unreadable(_))));
}

#[test]
fn unknown_entity_is_unreadable_and_char_refs_work() {
    let xml = valid_xml().replacen(r#"<family value="Behrendt">"#, r#"<family value="&bogus;">"#, 1);
    assert!(matches!(read_card(MediaType::Xml, xml.as_bytes()), Err(CardError::Unreadable(_))));
    let xml = valid_xml().replacen(r#"<family value="Behrendt">"#, r#"<family value="Beh&#114;endt&amp;">"#, 1);
    let card = read_card(MediaType::Xml, xml.as_bytes()).expect("valid");
    assert_eq!(card.patient.family, "Behrendt&");
}

#[test]
fn impossible_birth_date_is_invalid() {
    let mut card = valid_json();
    card["entry"][2]["resource"]["birthDate"] = "2025-02-29".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(has(&issues, "Bundle.entry[2].resource.birthDate"), "{issues:?}");
    assert!(!issues.iter().any(|i| i.diagnostics.contains("2025-02-29")), "no birth date in diagnostics");
}

#[test]
fn wrong_kvnr_check_digit_is_invalid() {
    let mut card = valid_json();
    card["entry"][2]["resource"]["identifier"][0]["value"] = "B730152845".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(has(&issues, "Bundle.entry[2].resource.identifier[0].value"), "{issues:?}");
    assert!(!issues.iter().any(|i| i.diagnostics.contains("B730152845")));
}

#[test]
fn full_examination_document_is_rejected() {
    let mut card = valid_json();
    let obs = serde_json::json!({
        "fullUrl": "urn:uuid:0b6f7c52-2d7b-4a53-9d0e-0c1a2f7e9a11",
        "resource": {
            "resourceType": "Observation",
            "id": "0b6f7c52-2d7b-4a53-9d0e-0c1a2f7e9a11",
            "status": "final",
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "27113001" }] },
            "valueQuantity": { "value": 3.4, "unit": "kg" }
        }
    });
    if let Some(entries) = card["entry"].as_array_mut() {
        entries.push(obs);
    }
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(
        issues.iter().any(|i| i.expression == "Bundle.entry[4].resource" && i.diagnostics.contains("Befunde")),
        "{issues:?}"
    );
}

#[test]
fn patient_sex_and_address_are_not_allowed() {
    let mut card = valid_json();
    card["entry"][2]["resource"]["gender"] = "female".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(has(&issues, "Bundle.entry[2].resource.gender"), "{issues:?}");
}

#[test]
fn several_defects_are_all_reported() {
    let mut card = valid_json();
    card["type"] = "collection".into();
    card["entry"][1]["resource"]["status"] = "in-progress".into();
    if let Some(enc) = card["entry"][1]["resource"].as_object_mut() {
        enc.remove("period");
    }
    card["entry"][2]["resource"]["birthDate"] = "09.10.2023".into();
    card["entry"][0]["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    for expr in [
        "Bundle.type",
        "Bundle.entry[1].resource.status",
        "Bundle.entry[1].resource.period.start",
        "Bundle.entry[2].resource.birthDate",
        "Bundle.entry[0].resource.subject.reference",
    ] {
        assert!(has(&issues, expr), "missing {expr}: {issues:#?}");
    }
}

#[test]
fn json_shape_is_checked() {
    let mut card = valid_json();
    // identifier is 0..1 on Bundle: an array is wrong; given repeats: a bare string is wrong.
    card["identifier"] = serde_json::json!([card["identifier"].clone()]);
    card["entry"][2]["resource"]["name"][0]["given"] = "Mira".into();
    let issues = invalid_issues(MediaType::Json, &serde_json::to_vec(&card).expect("json"));
    assert!(has(&issues, "Bundle.identifier"), "{issues:?}");
    assert!(has(&issues, "Bundle.entry[2].resource.name[0].given"), "{issues:?}");
}

#[test]
fn other_roots_and_junk() {
    for (media, body) in [
        (MediaType::Json, &b"[]"[..]),
        (MediaType::Json, b"{}"),
        (MediaType::Json, b"{\"resourceType\":\"Patient\"}"),
        (MediaType::Xml, b"<Patient xmlns=\"http://hl7.org/fhir\"/>"),
    ] {
        assert!(matches!(read_card(media, body), Err(CardError::Invalid(_))), "{}", String::from_utf8_lossy(body));
    }
    for (media, body) in [
        (MediaType::Json, &b""[..]),
        (MediaType::Json, b"{\"resourceType\":\"Bundle\"} x"),
        (MediaType::Xml, b""),
        (MediaType::Xml, b"<Bundle xmlns=\"http://hl7.org/fhir\"><a></b></Bundle>"),
        (MediaType::Xml, b"\xff\xfe<Bundle/>"),
    ] {
        assert!(matches!(read_card(media, body), Err(CardError::Unreadable(_))), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn content_types() {
    assert_eq!(MediaType::from_content_type("application/fhir+json"), Some(MediaType::Json));
    assert_eq!(MediaType::from_content_type("application/json; charset=utf-8"), Some(MediaType::Json));
    assert_eq!(MediaType::from_content_type("Application/FHIR+XML;Charset=UTF-8"), Some(MediaType::Xml));
    assert_eq!(MediaType::from_content_type("application/xml"), Some(MediaType::Xml));
    assert_eq!(MediaType::from_content_type("application/fhir+json; fhirVersion=4.0"), Some(MediaType::Json));
    assert_eq!(MediaType::from_content_type("application/json; charset=iso-8859-1"), None);
    assert_eq!(MediaType::from_content_type("text/xml"), None);
    assert_eq!(MediaType::from_content_type("text/plain"), None);
    assert_eq!(MediaType::from_content_type(""), None);
    assert_eq!(MediaType::from_content_type("application/fhir+json; foo"), None);
}

#[test]
fn operation_outcome_shape() {
    let Err(e) = read("invalid", "i01-missing-period-start.json") else { panic!("invalid") };
    let oo = operation_outcome(e.issues());
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let issue = &oo["issue"][0];
    assert_eq!(issue["severity"], "error");
    assert!(issue["expression"].is_array());
    assert_eq!(issue["expression"].as_array().map(Vec::len), Some(1));
    assert!(issue["diagnostics"].is_string());
}

fn input() -> CardInput {
    CardInput {
        practice_name: "Kinderarztpraxis am Markt".into(),
        practitioner_given: "Henrike".into(),
        practitioner_family: "Voßwinkel".into(),
        practitioner_lanr: Some("730158434".into()),
        patient_given: "Mira".into(),
        patient_family: "Behrendt".into(),
        patient_birth_name: Some("Özdemir".into()),
        birth_date: date(2025, 9, 3),
        kvnr: Some("B730152844".into()),
        checkup: Checkup::U2,
        exam_date: date(2025, 9, 8),
        timestamp: "2025-09-08T12:03:51.25Z".parse().expect("timestamp"),
        card_uuid: "a515b881-31a5-4e7b-8516-2e48f1e35ed1".parse().expect("uuid"),
    }
}

#[test]
fn build_card_round_trips() {
    let input = input();
    let json = build_card(&input);
    let body = serde_json::to_vec(&json).expect("json");
    let card = read_card(MediaType::Json, &body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(card.card_id, format!("urn:uuid:{}", input.card_uuid));
    assert_eq!(card.profile_version, "1.0.1");
    assert_eq!(card.checkup, input.checkup);
    assert_eq!(card.exam_date, input.exam_date);
    assert_eq!(card.patient.given, input.patient_given);
    assert_eq!(card.patient.family, input.patient_family);
    assert_eq!(card.patient.birth_name, input.patient_birth_name);
    assert_eq!(card.patient.birth_date, input.birth_date);
    assert_eq!(card.patient.kvnr, input.kvnr);
    assert_eq!(card.timestamp, "2025-09-08T14:03:51+02:00");
    assert_eq!(card.authors, ["Practitioner", "Organization"]);
    let prac = card.practitioner.expect("practitioner");
    assert_eq!(prac.name, "Henrike Voßwinkel");
    assert_eq!(prac.lanr, input.practitioner_lanr);
    assert_eq!(card.organization.map(|o| o.name), Some(input.practice_name.clone()));
    assert_eq!(build_card(&input), json, "pure");

    // Without optional data too.
    let bare = CardInput { practitioner_lanr: None, patient_birth_name: None, kvnr: None, ..input };
    let card = read_card(MediaType::Json, &serde_json::to_vec(&build_card(&bare)).expect("json"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(card.patient.kvnr, None);
}

#[test]
fn build_card_with_u1_is_rejected() {
    let input = CardInput { checkup: Checkup::U1, ..input() };
    let body = serde_json::to_vec(&build_card(&input)).expect("json");
    let issues = invalid_issues(MediaType::Json, &body);
    assert!(has(&issues, "Bundle.entry[1].resource.type[0].coding[0].code"), "{issues:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_card(MediaType::Json, &body);
        let _ = read_card(MediaType::Xml, &body);
    }

    #[test]
    fn mutated_cards_never_panic(cut in 0usize..6000, byte in any::<u8>(), xml in any::<bool>()) {
        let mut body = if xml { valid_xml().into_bytes() } else { serde_json::to_vec(&valid_json()).unwrap_or_default() };
        if !body.is_empty() {
            let i = cut % body.len();
            if let Some(b) = body.get_mut(i) { *b = byte; }
        }
        let _ = read_card(if xml { MediaType::Xml } else { MediaType::Json }, &body);
        body.truncate(cut);
        let _ = read_card(if xml { MediaType::Xml } else { MediaType::Json }, &body);
    }
}
