//! The conformance suite against a real PostgreSQL server, one fresh database per check
//! (`OEGD_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`; skipped
//! with a reason when unreachable unless `OEGD_REQUIRE_POSTGRES=1`).

use oegd_store::{Store, StoreError};
use oegd_store_conformance::testdb::TestDb;
use oegd_store_conformance::{Fixture, conformance_tests};
use oegd_store_postgres::PgStore;

struct Pg {
    db: TestDb,
    store: PgStore,
}

impl Fixture for Pg {
    type S = PgStore;

    async fn open() -> Option<Self> {
        let db = TestDb::create().await?;
        let store = PgStore::open(&db.url).await.unwrap();
        Some(Pg { db, store })
    }

    fn store(&self) -> PgStore {
        self.store.clone()
    }

    async fn finish(self) {
        self.store.close().await;
        self.db.drop_database().await;
    }
}

conformance_tests!(Pg);

#[tokio::test]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(db) = TestDb::create().await else { return };
    // several instances starting at once on an empty database
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move { PgStore::open(&url).await.map(|s| drop(s)) }));
    }
    for task in tasks {
        let store = task.await.unwrap();
        assert!(store.is_ok(), "{store:?}");
    }
    let store = PgStore::open_existing(&db.url).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), oegd_store_postgres::SCHEMA_VERSION);
    assert!(store.is_empty().await.unwrap());
    store
        .append_audit(
            &oegd_store::AuditEvent::new(&oegd_store::Actor::Operator, "t", "o", serde_json::json!({})),
            jiff::Timestamp::UNIX_EPOCH,
        )
        .await
        .unwrap();
    assert!(!store.is_empty().await.unwrap());
    // a later program version migrated this database further
    sqlx_exec(&db.url, "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')").await;
    store.close().await;
    let newer = PgStore::open_existing(&db.url).await;
    assert!(matches!(newer, Err(StoreError::SchemaTooNew { found: 99, .. })), "{newer:?}");
    let newer = PgStore::open(&db.url).await;
    assert!(matches!(newer, Err(StoreError::SchemaTooNew { found: 99, .. })), "{newer:?}");
    db.drop_database().await;
}

async fn sqlx_exec(url: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    conn.execute(sql).await.unwrap();
}

#[tokio::test]
async fn unreachable_server_is_unavailable_and_names_no_password() {
    let err = PgStore::open_existing("postgres://someone:geheim@127.0.0.1:1/db").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("geheim"), "{err}");
}
