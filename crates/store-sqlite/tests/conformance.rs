//! The conformance suite against a real SQLite file (the same checks as PostgreSQL's).

use oegd_store_conformance::{Fixture, conformance_tests};
use oegd_store_sqlite::SqliteStore;

struct Sqlite {
    _dir: tempfile::TempDir,
    store: SqliteStore,
}

impl Fixture for Sqlite {
    type S = SqliteStore;

    async fn open() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gateway.db")).await.unwrap();
        Some(Sqlite { _dir: dir, store })
    }

    fn store(&self) -> SqliteStore {
        self.store.clone()
    }

    async fn finish(self) {
        self.store.close().await;
    }
}

conformance_tests!(Sqlite);
