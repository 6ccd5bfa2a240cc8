//! Ordered SQL migrations, embedded in the binary, in their own version number space (the
//! same numbers as the SQLite backend's for the same content). Pending migrations are
//! applied in one transaction under an advisory lock, so instances starting at once apply
//! them once; a database with a version this program does not know is refused.

use sqlx::PgPool;

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

/// Key of the advisory lock held while migrating ("oegd" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f65_6764;

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL)";

async fn current_in(conn: &mut sqlx::PgConnection) -> StoreResult<i64> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(conn).await.map_err(map_err)?;
    Ok(v.unwrap_or(0))
}

/// The schema version of the database (0: empty). Reads only.
pub async fn current(pool: &PgPool) -> StoreResult<i64> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(pool).await.map_err(map_err)?;
    Ok(v.unwrap_or(0))
}

pub async fn check(pool: &PgPool) -> StoreResult<()> {
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

pub async fn apply(pool: &PgPool) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(map_err)?;
    sqlx::query(CREATE_TABLE).execute(&mut *tx).await.map_err(map_err)?;
    let found = current_in(&mut *tx).await?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    let pending: Vec<(i64, &'static str, &'static str)> =
        MIGRATIONS.iter().copied().filter(|(v, _, _)| *v > found).collect();
    let mut applied = Vec::new();
    for (version, name, sql) in pending {
        // no arguments: the simple query protocol, which runs a script of several statements
        sqlx::Executor::execute(&mut *tx, sql).await.map_err(map_err)?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        applied.push((version, name));
    }
    tx.commit().await.map_err(map_err)?;
    for (version, name) in applied {
        tracing::info!(version, name, "applied database migration");
    }
    Ok(())
}
