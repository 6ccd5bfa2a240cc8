//! A full disk: the data directory lives on a small tmpfs (8 MiB). With the disk filled,
//! submissions get `503` with an OperationOutcome and `Retry-After` (never a 201 that was
//! not stored, never a 500); reading still works; once space returns, submissions get 201
//! again, every report acknowledged before is there exactly once, and the audit chain and
//! the database are intact.
//!
//! Mounting needs root (as in CI). Where it is impossible the test prints why and skips.

mod common;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use support::*;

/// A tmpfs mount, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs", dir.to_str().unwrap()])
            .output()
            .map_err(|e| format!("mount not runnable: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Mount(dir.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a filler file until the filesystem refuses; returns its size.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Also the last few bytes.
    while let Ok(n) = f.write(&chunk[..512]) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = f.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_gets_503_loses_nothing_and_recovers() {
    if std::env::var("OEGD_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        println!("SKIPPED: the database is PostgreSQL (OEGD_TEST_DATABASE_URL), not files in the data directory");
        return;
    }
    // The data directory made by `init`, then moved onto a small tmpfs mounted in its place.
    let env = Env::init();
    let original = env.data.with_extension("orig");
    std::fs::rename(&env.data, &original).unwrap();
    let _mount = match Mount::tmpfs(&env.data, "8M") {
        Ok(m) => m,
        Err(reason) => {
            eprintln!(
                "SKIPPED full_disk_gets_503_loses_nothing_and_recovers: cannot mount a small filesystem ({reason})"
            );
            println!("SKIPPED: {reason}");
            return;
        }
    };
    let copied = Command::new("cp").arg("-a").arg(original.join(".")).arg(&env.data).status().unwrap();
    assert!(copied.success(), "copying the data directory onto the tmpfs");
    let mnt = env.data.clone();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    let certs = env.issue(PRAXIS_A);
    let mut server = env.start();
    let ca = env.ca();
    let mut c = client(server.addr, &ca, Some(&certs), true);

    let mut acked: Vec<(String, String)> = Vec::new();
    for _ in 0..5 {
        let (card_id, body) = fresh_card();
        let resp = c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
        assert_eq!(resp.status, 201);
        acked.push((card_id, resp.header("location").unwrap().to_owned()));
    }

    // Fill the disk. SQLite may still have room inside its WAL file, so keep submitting
    // until the refusals come (bounded); every answer is a 201 or a 503.
    let filler = mnt.join("filler");
    let filled = fill(&filler);
    let mut refusal = None;
    let mut accepted_while_full = 0;
    for _ in 0..2000 {
        let (card_id, body) = fresh_card();
        let resp = c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
        match resp.status {
            201 => {
                accepted_while_full += 1;
                acked.push((card_id, resp.header("location").unwrap().to_owned()));
            }
            503 => {
                refusal = Some(resp);
                break;
            }
            s => panic!("disk full: status {s}: {}", String::from_utf8_lossy(&resp.body)),
        }
    }
    let refusal = refusal.expect("no 503 on a full disk");
    let oo = refusal.json().expect("503 without a JSON body");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["code"], "transient");
    let diagnostics = oo["issue"][0]["diagnostics"].as_str().unwrap().to_owned();
    assert!(diagnostics.contains("vorübergehend nicht verfügbar"), "{diagnostics}");
    assert!(refusal.header("retry-after").is_some(), "503 without Retry-After");
    // Still refused, and still a clear answer, on a second try and a new connection.
    let (_, body) = fresh_card();
    let resp = client(server.addr, &ca, Some(&certs), false)
        .post("/fhir/Bundle", "application/fhir+json", body)
        .await
        .unwrap();
    assert_eq!(resp.status, 503);
    // Reading needs no space.
    let (_, loc) = &acked[0];
    assert_eq!(c.get(loc).await.unwrap().status, 200);
    assert_eq!(c.get("/fhir/metadata").await.unwrap().status, 200);

    // Space returns: the next submission is stored (a few attempts while the server's
    // background linker catches up; bounded).
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        let (card_id, body) = fresh_card();
        let resp = c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
        if resp.status == 201 {
            acked.push((card_id, resp.header("location").unwrap().to_owned()));
            recovered = true;
            break;
        }
        assert_eq!(resp.status, 503, "{}", String::from_utf8_lossy(&resp.body));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "no 201 after space returned");

    // And after a restart, everything acknowledged is there exactly once.
    server.terminate();
    let stored = stored_reports(&env);
    for (card_id, location) in &acked {
        let rows: Vec<_> = stored.iter().filter(|r| r["card_id"] == card_id.as_str()).collect();
        assert_eq!(rows.len(), 1, "acknowledged card stored {} times", rows.len());
        assert_eq!(format!("/fhir/Bundle/{}", rows[0]["id"].as_str().unwrap()), *location);
    }
    assert_eq!(stored.len(), acked.len(), "a refused card was stored");
    assert_integrity_ok(&env.data.join("gateway.db"));
    assert_audit_ok(&env);
    let server = env.start();
    let (_, body) = fresh_card();
    let resp = client(server.addr, &ca, Some(&certs), false)
        .post("/fhir/Bundle", "application/fhir+json", body)
        .await
        .unwrap();
    assert_eq!(resp.status, 201, "after restart");
    println!(
        "full disk (tmpfs 8 MiB, filler {filled} bytes): {accepted_while_full} more 201s from space inside the database files, \
         then 503 ({diagnostics}); after freeing space 201 again; {} acknowledged reports all present once; integrity_check and audit verify ok",
        acked.len()
    );
}
