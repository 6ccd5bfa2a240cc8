//! The FHIR XML reader (and the validator behind it) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oegd_fhir::MediaType;

fuzz_target!(|data: &[u8]| {
    oegd_fuzz::check_card(MediaType::Xml, data);
});
