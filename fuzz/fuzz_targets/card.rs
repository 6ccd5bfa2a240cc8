//! The card validator, structure-aware: the input is read as JSON (seeded with the fixture
//! cards, so libFuzzer's mutations mostly give readable bundles with changed values, missing
//! or extra elements), then the same content goes through the full `read_card` path twice,
//! as FHIR JSON and as FHIR XML. Besides the checks of every refused card, the two forms
//! must agree: when both are accepted, they yield the same facts (the service relies on
//! that to tell a resubmission in the other format from a conflict).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oegd_fhir::MediaType;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(json) = serde_json::to_vec(&value) else {
        return;
    };
    let from_json = oegd_fuzz::check_card(MediaType::Json, &json);
    let Some(xml) = oegd_fuzz::json_to_fhir_xml(&value) else {
        return;
    };
    let from_xml = oegd_fuzz::check_card(MediaType::Xml, xml.as_bytes());
    if let (Some(a), Some(b)) = (&from_json, &from_xml) {
        assert_eq!(a, b, "the JSON and XML forms of one card yield different facts");
    }
});
