//! The identity reader on arbitrary DER: what `web::tls` calls on every verified client
//! certificate (and the Admission extension decoder on its own).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(identity) = oegd_pki::read_identity(data) {
        // an identity is only ever one of the known roles with a readable Telematik-ID
        assert!(!identity.telematik_id.as_str().is_empty(), "empty Telematik-ID");
    }
    let _ = oegd_pki::admission::decode(data);
});
