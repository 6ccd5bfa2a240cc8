//! Hostile bodies of up to the API's 1 MiB limit shaped to make a reader or the validator
//! work quadratically or recurse deeply: each must be refused (not accepted, no panic, no
//! stack overflow) and the answer must stay small. A quadratic path shows up as a test that
//! runs for minutes (nextest's slow-timeout ends it); the printed times are for reading,
//! not asserted.

use oegd_fhir::{CardError, MediaType, read_card};

const MIB: usize = 1024 * 1024;

fn refused(name: &str, media: MediaType, body: &[u8]) {
    assert!(body.len() <= MIB + 64 * 1024, "{name}: body of {} bytes is above the API limit", body.len());
    let started = std::time::Instant::now();
    let result = read_card(media, body);
    let took = started.elapsed();
    let err = match result {
        Ok(_) => panic!("{name}: accepted"),
        Err(e) => e,
    };
    let issues = err.issues();
    assert!(!issues.is_empty() && issues.len() <= 101, "{name}: {} issues", issues.len());
    let text: usize = issues.iter().map(|i| i.expression.len() + i.diagnostics.len()).sum();
    assert!(text < 256 * 1024, "{name}: {text} bytes of issue text");
    let kind = if matches!(err, CardError::Unreadable(_)) { "unreadable" } else { "invalid" };
    let first: String = issues[0].diagnostics.chars().take(70).collect();
    println!("{name:<45} {kind:<10} {:>3} issues, {took:>12?}  {first}", issues.len());
}

fn repeat(prefix: &str, item: impl Fn(usize) -> String, suffix: &str, budget: usize) -> Vec<u8> {
    let mut s = String::from(prefix);
    let mut i = 0;
    while s.len() + suffix.len() < budget {
        s.push_str(&item(i));
        i += 1;
    }
    // Drop a trailing separator.
    if s.ends_with(',') {
        s.pop();
    }
    s.push_str(suffix);
    s.into_bytes()
}

#[test]
fn big_hostile_bodies_are_refused_in_linear_time() {
    let budget = MIB - 1024;
    let json = MediaType::Json;
    let xml = MediaType::Xml;
    refused("JSON 500 000 nested arrays", json, &[vec![b'['; 500_000], vec![b']'; 500_000]].concat());
    // A key that must be unescaped is a copy of its own; once per item of its array it
    // would be half a megabyte times 250 000.
    let long_key = format!("\\u006b{}", "k".repeat(MIB / 2));
    refused(
        "JSON half-megabyte escaped key of a long array",
        json,
        &repeat(&format!("{{\"resourceType\":\"Bundle\",\"{long_key}\":["), |_| "0,".to_owned(), "]}", budget),
    );
    refused(
        "JSON 100 000 distinct unknown keys",
        json,
        &repeat("{\"resourceType\":\"Bundle\",", |i| format!("\"k{i}\":0,"), "}", budget),
    );
    refused(
        "JSON 100 000 repeated unknown key in objects",
        json,
        &repeat("{\"resourceType\":\"Bundle\",\"entry\":[", |_| "{\"x\":0},".to_owned(), "]}", budget),
    );
    refused(
        "JSON 300 000 empty entries",
        json,
        &repeat("{\"resourceType\":\"Bundle\",\"entry\":[", |_| "{},".to_owned(), "]}", budget),
    );
    refused(
        "JSON 100 000 entries with resources",
        json,
        &repeat(
            "{\"resourceType\":\"Bundle\",\"type\":\"document\",\"entry\":[",
            |i| format!("{{\"fullUrl\":\"urn:uuid:{i}\",\"resource\":{{\"resourceType\":\"Patient\"}}}},"),
            "]}",
            budget,
        ),
    );
    refused(
        "JSON 100 000 references",
        json,
        &repeat(
            "{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Composition\",\"author\":[",
            |i| format!("{{\"reference\":\"urn:uuid:{i}\"}},"),
            "]}}]}",
            budget,
        ),
    );
    refused(
        "JSON 200 000 array items of a primitive",
        json,
        &repeat("{\"resourceType\":\"Bundle\",\"id\":[", |_| "\"a\",".to_owned(), "]}", budget),
    );
    refused(
        "JSON one 1 MiB key",
        json,
        format!("{{\"resourceType\":\"Bundle\",\"{}\":1}}", "k".repeat(budget)).as_bytes(),
    );
    refused(
        "JSON one 1 MiB id",
        json,
        format!("{{\"resourceType\":\"Bundle\",\"id\":\"{}\"}}", "k".repeat(budget)).as_bytes(),
    );
    refused(
        "XML 100 000 distinct child names",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\">", |i| format!("<k{i}/>"), "</Bundle>", budget),
    );
    refused(
        "XML 100 000 entries",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\">", |_| "<entry/>".to_owned(), "</Bundle>", budget),
    );
    refused(
        "XML 100 000 attributes",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\" ", |i| format!("a{i}=\"\" "), "/>", budget),
    );
    refused(
        "XML 100 000 namespaced attributes",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\" ", |i| format!("x:a{i}=\"\" "), "/>", budget),
    );
    refused("XML 140 000 nested elements", xml, &[b"<a>".repeat(140_000), b"</a>".repeat(140_000)].concat());
    refused(
        "XML 100 000 character references",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\"><id value=\"", |_| "&#65;".to_owned(), "\"/></Bundle>", budget),
    );
    refused(
        "XML 1 MiB element name",
        xml,
        format!("<Bundle xmlns=\"http://hl7.org/fhir\"><{}/></Bundle>", "k".repeat(budget - 64)).as_bytes(),
    );
    refused(
        "XML 100 000 comments",
        xml,
        &repeat("<Bundle xmlns=\"http://hl7.org/fhir\">", |_| "<!--x-->".to_owned(), "</Bundle>", budget),
    );
}
