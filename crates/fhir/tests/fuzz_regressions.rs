//! Inputs found by fuzzing (`fuzz/`, see docs/RELIABILITY.md), kept as regression tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use oegd_fhir::{CardError, MediaType, read_card};

/// The validator's limit, and the one issue more that says it stopped.
const MAX_ISSUES: usize = 100;

fn invalid_issues(media: MediaType, body: &str) -> Vec<oegd_fhir::Issue> {
    match read_card(media, body.as_bytes()) {
        Err(CardError::Invalid(issues)) => issues,
        other => panic!("expected an invalid card, got {other:?}"),
    }
}

fn assert_capped(issues: &[oegd_fhir::Issue]) {
    assert_eq!(issues.len(), MAX_ISSUES + 1, "at most {MAX_ISSUES} issues and the note that validation stopped");
    let last = issues.last().unwrap();
    assert_eq!(last.code, "too-costly");
    assert!(last.diagnostics.contains("100"), "{}", last.diagnostics);
}

/// Found by the `fhir_xml` target's check that a refused card names at most 101 issues:
/// the XML reader collected one issue per element with an unknown attribute (or in a
/// foreign namespace) before validation, and computed the line and column of each by
/// scanning the body from its start. A 1 MB body of `<a b="1"/>` gave 100 000 issues and
/// took more than two minutes of CPU. Now the reader stops collecting past the limit.
#[test]
fn xml_with_an_issue_per_element_is_cut_off_at_the_limit() {
    let elements = 20_000;
    let unknown_attributes =
        format!(r#"<Bundle xmlns="http://hl7.org/fhir">{}</Bundle>"#, r#"<a b="1"/>"#.repeat(elements));
    assert_capped(&invalid_issues(MediaType::Xml, &unknown_attributes));

    let foreign =
        format!(r#"<Bundle xmlns="http://hl7.org/fhir">{}</Bundle>"#, r#"<a xmlns="urn:x"/>"#.repeat(elements));
    assert_capped(&invalid_issues(MediaType::Xml, &foreign));

    // a few stay a few, each with its line
    let few = format!(r#"<Bundle xmlns="http://hl7.org/fhir">{}</Bundle>"#, "\n<a b=\"1\"/>".repeat(3));
    let issues = invalid_issues(MediaType::Xml, &few);
    assert!(issues.len() < MAX_ISSUES, "{issues:?}");
    assert!(issues.iter().any(|i| i.diagnostics.contains("line 4")), "{issues:?}");
}

/// The JSON reader's issues (null values, wrongly typed primitives) are capped the same way.
#[test]
fn json_with_an_issue_per_member_is_cut_off_at_the_limit() {
    let members: Vec<String> = (0..20_000).map(|i| format!(r#""x{i}": null"#)).collect();
    let body = format!(r#"{{"resourceType": "Bundle", {}}}"#, members.join(", "));
    assert_capped(&invalid_issues(MediaType::Json, &body));
}
