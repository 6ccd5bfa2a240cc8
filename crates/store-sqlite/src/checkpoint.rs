//! Moves the write-ahead log into the database file in the background.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the WAL's size limit:
//! that commit copies megabytes into the database file and syncs it, and with group commit
//! every report of the group waits for it (the intake's slowest answers). The writer
//! therefore has automatic checkpoints switched off, and this task runs a `PASSIVE`
//! checkpoint on a reader connection at a short interval: it copies what is committed
//! without waiting for, or holding up, the writer or the readers.

use std::sync::Weak;
use std::time::Duration;

use sqlx::SqlitePool;

/// Between checkpoints: under full load about 10 MiB of WAL, the size SQLite's own
/// threshold (1,000 pages) would have let grow in a few hundred milliseconds.
const INTERVAL: Duration = Duration::from_millis(500);

/// Checkpoints through `pool` until the store that `alive` belongs to is dropped or closed.
pub(crate) fn start(pool: SqlitePool, alive: Weak<()>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if alive.upgrade().is_none() || pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
            }
        }
    });
}
