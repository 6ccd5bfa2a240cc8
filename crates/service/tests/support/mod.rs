//! What the service's integration tests share: the shared fixtures and the small programme
//! fixture's register.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of it

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use oegd_service::registry;
use oegd_store::Store;

/// A file of the shared test data (`OEGD_SHARED_DIR`, or `shared` beside the checkout).
pub fn fixture(rel: &str) -> PathBuf {
    std::env::var_os("OEGD_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("fixtures")
        .join(rel)
}

/// Imports delivery `i` (1–3) of the small programme fixture's register.
pub async fn import_small_delivery<S: Store>(store: &S, i: u32, now: Timestamp) {
    let bytes = std::fs::read(fixture(&format!("programme/small/meldedaten_{i}.csv"))).unwrap();
    registry::import_registry(store, "m.csv", &bytes, true, now, &mut |_, _, _| {}).await.unwrap();
}
