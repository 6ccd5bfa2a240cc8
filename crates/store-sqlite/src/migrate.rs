//! Ordered SQL migrations, embedded in the binary. Each runs in its own transaction and is
//! recorded in `schema_migrations`; a database with a version this program does not know is
//! refused rather than touched.

use sqlx::SqlitePool;

use super::map_err;
use oegd_store::{StoreError, StoreResult};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "intake", include_str!("../migrations/0001_intake.sql")),
    (2, "registry", include_str!("../migrations/0002_registry.sql")),
    (3, "programme", include_str!("../migrations/0003_programme.sql")),
    (4, "accounts", include_str!("../migrations/0004_accounts.sql")),
    (5, "link_inputs", include_str!("../migrations/0005_link_inputs.sql")),
    (6, "child_lookups", include_str!("../migrations/0006_child_lookups.sql")),
];

/// The newest schema version this program knows.
pub const SCHEMA_VERSION: i64 = 6;

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT";

pub async fn current(pool: &SqlitePool) -> StoreResult<i64> {
    sqlx::query(CREATE_TABLE).execute(pool).await.map_err(map_err)?;
    let v: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(pool).await.map_err(map_err)?;
    Ok(v.unwrap_or(0))
}

pub async fn check(pool: &SqlitePool) -> StoreResult<()> {
    let found = current(pool).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "database schema version {found} is older than {SCHEMA_VERSION}: run `oegd-gateway migrate`"
        )));
    }
    Ok(())
}

pub async fn apply(pool: &SqlitePool) -> StoreResult<()> {
    let found = current(pool).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(map_err)?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        tracing::info!(version, name, "applied database migration");
    }
    Ok(())
}
