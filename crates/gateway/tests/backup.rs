//! `backup` while the server takes reports, and a restore from it: the copy is consistent
//! (its audit chain verifies) and holds what was stored before it. On SQLite the copy is a
//! database file; on PostgreSQL (`OEGD_TEST_DATABASE_URL`) a `pg_dump` archive restored with
//! `pg_restore` into a fresh database.

mod common;

use std::path::Path;

use common::*;

const PRAXIS: &str = "1-2098123400";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn report_ids(env_data: &Path) -> Vec<String> {
    let out = run(&["reports", "list", "--json", "--data", env_data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_serving_restores_to_a_consistent_copy() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS);
    let certs = env.issue(PRAXIS);
    let server = env.start();
    let template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap()).unwrap();
    let mut practice = client(server.addr, &env.ca(), Some(&certs), true);
    let mut post = async |n: usize| {
        for _ in 0..n {
            let id = uuid::Uuid::new_v4().to_string();
            let mut card = template.clone();
            card["id"] = id.clone().into();
            card["identifier"]["value"] = format!("urn:uuid:{id}").into();
            let resp = practice.post("/fhir/Bundle", "application/fhir+json", serde_json::to_vec(&card).unwrap());
            assert_eq!(resp.await.unwrap().status, 201);
        }
    };
    post(10).await;
    let before = report_ids(&env.data);
    let file = env.tmp.path().join("backup.dump");
    // the backup runs while the practice keeps sending
    let data = env.data.clone();
    let out_file = file.clone();
    let backup = std::thread::spawn(move || {
        run(&["backup", "--data", data.to_str().unwrap(), "--out", out_file.to_str().unwrap()])
    });
    post(10).await;
    let out = backup.join().unwrap();
    assert!(out.status.success(), "backup: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Sicherung geschrieben"));
    let again = env.cli(&["backup", "--out", file.to_str().unwrap()]);
    assert!(!again.status.success(), "an existing file is not overwritten");
    drop(server);

    // Restore into a new data directory.
    let restored = env.tmp.path().join("restored");
    copy_dir(&env.data, &restored);
    let _restored_db = match &env.pg {
        None => {
            std::fs::remove_file(restored.join("gateway.db")).unwrap();
            let _ = std::fs::remove_file(restored.join("gateway.db-wal"));
            let _ = std::fs::remove_file(restored.join("gateway.db-shm"));
            std::fs::copy(&file, restored.join("gateway.db")).unwrap();
            None
        }
        Some(_) => {
            let db = TestDb::create_blocking().unwrap();
            let status = std::process::Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname", &db.url, file.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success(), "pg_restore");
            let config = std::fs::read_to_string(restored.join("config.toml")).unwrap();
            let config: Vec<String> = config
                .lines()
                .map(|l| {
                    if l.starts_with("database_url") { format!("database_url = \"{}\"", db.url) } else { l.to_owned() }
                })
                .collect();
            std::fs::write(restored.join("config.toml"), config.join("\n") + "\n").unwrap();
            Some(RestoredDb(db))
        }
    };
    let verdict = run(&["audit", "verify", "--json", "--data", restored.to_str().unwrap()]);
    assert!(verdict.status.success(), "{}", String::from_utf8_lossy(&verdict.stdout));
    let restored_ids = report_ids(&restored);
    let all = report_ids(&env.data);
    assert_eq!(all.len(), 20);
    assert!(restored_ids.len() >= before.len() && restored_ids.len() <= all.len());
    assert!(before.iter().all(|id| restored_ids.contains(id)), "everything stored before the backup is in it");
    assert!(restored_ids.iter().all(|id| all.contains(id)));
    // the restored copy works: a report can be read back
    let one = run(&["reports", "list", "--data", restored.to_str().unwrap()]);
    assert!(one.status.success());
}

/// Drops a restored test database at the end.
struct RestoredDb(TestDb);

impl Drop for RestoredDb {
    fn drop(&mut self) {
        self.0.drop_blocking();
    }
}

#[test]
fn backup_without_pg_dump_says_how() {
    let Some(db) = (if pg_requested() { TestDb::create_blocking() } else { None }) else { return };
    let env = Env::init_on(Some(db));
    let out = std::process::Command::new(BIN)
        .args(["backup", "--data", env.data.to_str().unwrap(), "--out", env.tmp.path().join("b").to_str().unwrap()])
        .env("PATH", "/nonexistent")
        .env("OEGD_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump --format=custom"), "{err}");
}
