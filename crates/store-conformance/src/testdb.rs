//! Fresh PostgreSQL databases for tests: `CREATE DATABASE oegd_test_<random>` on the server
//! of `OEGD_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped again at the end (best effort).
//!
//! When the server cannot be reached a test skips with a clear reason, unless
//! `OEGD_REQUIRE_POSTGRES=1` (CI), then it fails.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server URL tests use.
pub fn server_url() -> String {
    std::env::var("OEGD_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Whether a missing server is a failure (`OEGD_REQUIRE_POSTGRES=1`) rather than a skip.
pub fn required() -> bool {
    std::env::var("OEGD_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDb {
    /// `postgres://.../oegd_test_<random>`
    pub url: String,
    pub name: String,
    server: String,
}

impl TestDb {
    /// Creates a fresh database. `None` (after printing why) when the server is unreachable
    /// and not required; panics when it is required.
    pub async fn create() -> Option<TestDb> {
        let server = server_url();
        let name = format!("oegd_test_{}", uuid::Uuid::new_v4().simple());
        match create_database(&server, &name).await {
            Ok(url) => Some(TestDb { url, name, server }),
            Err(e) if !required() => {
                eprintln!(
                    "SKIPPED: PostgreSQL at {} not usable ({e}); set OEGD_TEST_DATABASE_URL or start PostgreSQL \
                     (OEGD_REQUIRE_POSTGRES=1 makes this a failure)",
                    redact(&server)
                );
                None
            }
            Err(e) => {
                panic!("PostgreSQL required (OEGD_REQUIRE_POSTGRES=1) but not usable at {}: {e}", redact(&server))
            }
        }
    }

    /// The same, for code without a runtime (or inside one: runs on its own thread).
    pub fn create_blocking() -> Option<TestDb> {
        block_on(TestDb::create())
    }

    /// Drops the database, ending any connection still open to it (a killed server's).
    pub async fn drop_database(&self) {
        if let Err(e) = drop_database(&self.server, &self.name).await {
            eprintln!("note: test database {} not dropped: {e}", self.name);
        }
    }

    /// Runs SQL in this database (tests that tamper with what a server stored).
    pub fn execute_blocking(&self, sql: &str) {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        block_on(async move {
            let pool = connect(&url).await.expect("test database");
            sqlx::raw_sql(&sql).execute(&pool).await.expect("SQL on the test database");
            pool.close().await;
        });
    }

    /// Runs a query with one text column in this database.
    pub fn query_blocking(&self, sql: &str) -> Vec<String> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        block_on(async move {
            let pool = connect(&url).await.expect("test database");
            let rows: Vec<String> =
                sqlx::query_scalar(&sql).fetch_all(&pool).await.expect("query on the test database");
            pool.close().await;
            rows
        })
    }

    pub fn drop_blocking(&self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        block_on(async move {
            if let Err(e) = drop_database(&server, &name).await {
                eprintln!("note: test database {name} not dropped: {e}");
            }
        });
    }
}

fn block_on<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
    })
    .join()
    .expect("test database thread")
}

fn redact(url: &str) -> String {
    PgConnectOptions::from_str(url)
        .map(|o| format!("{}:{}", o.get_host(), o.get_port()))
        .unwrap_or_else(|_| "(unreadable URL)".into())
}

async fn connect(server: &str) -> Result<sqlx::PgPool, String> {
    let opts = PgConnectOptions::from_str(server).map_err(|e| e.to_string())?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(opts)
        .await
        .map_err(|e| e.to_string())
}

async fn create_database(server: &str, name: &str) -> Result<String, String> {
    let pool = connect(server).await?;
    let sql = format!("CREATE DATABASE {name}");
    sqlx::query(&sql).execute(&pool).await.map_err(|e| e.to_string())?;
    pool.close().await;
    let mut url = url_of(server)?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

async fn drop_database(server: &str, name: &str) -> Result<(), String> {
    let pool = connect(server).await?;
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    sqlx::query(&sql).execute(&pool).await.map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(())
}

fn url_of(server: &str) -> Result<url::Url, String> {
    url::Url::parse(server).map_err(|e| e.to_string())
}
