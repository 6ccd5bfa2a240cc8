//! What the service's integration tests share: the shared fixtures and the small programme
//! fixture's register.
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of it

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use oegd_domain::Clock;
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::{Gateway, admin, import, registry};
use oegd_store::Store;
use oegd_store_any::AnyStore;

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

/// A data directory in `root` with the small programme fixture: its three register
/// deliveries and its reports, taken in through the intake at `clock`'s time.
pub async fn small_fixture_gateway(root: &Path, now: Timestamp, clock: Arc<dyn Clock>) -> Gateway<AnyStore> {
    let dir = DataDir::new(root.join("data"));
    admin::init(&dir, &Config::new("MV"), now).await.unwrap();
    let store = admin::open_store(&dir).await.unwrap();
    for i in 1..=3 {
        import_small_delivery(&store, i, now).await;
    }
    let gateway = Gateway::new(store, clock).await.unwrap();
    let file = std::fs::File::open(fixture("programme/small/reports.jsonl")).unwrap();
    let summary = import::import_reports(&gateway, std::io::BufReader::new(file), |_| {}).await.unwrap();
    assert!(summary.failed.is_empty());
    gateway
}
