//! `audit verify` against a tampered database: a data directory made by the real binary
//! with several audited changes, then, each on a fresh copy, one kind of tampering done
//! directly in the SQLite file (with the `sqlite3` program, as someone with access to the
//! file would): a changed field, an inserted entry, a deleted entry, two entries swapped,
//! the tail cut off. Every one must make `audit verify` exit with 2 and name the first
//! entry that does not verify.
//!
//! What the chain cannot catch on its own is said here too: someone who rewrites the tail
//! and the recorded head consistently leaves a valid chain; only a head recorded elsewhere
//! (docs/SECURITY.md) shows that.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::run;
use oegd_store::audit::entry_hash;
use serde_json::Value;

/// One row of `audit_log`, as stored.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    object: String,
    details: String,
    prev_hash: String,
    hash: String,
}

/// A data directory with a few audited changes, never modified itself: each case works on
/// a copy.
struct Base {
    tmp: tempfile::TempDir,
    data: PathBuf,
    rows: Vec<Row>,
    head: (i64, String),
}

fn sqlite3(db: &Path, script: &str) -> String {
    let mut child = Command::new("sqlite3")
        .args(["-batch", "-bail"])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sqlite3 program is needed for this test (Debian package sqlite3; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sqlite3 failed on {script:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn read_rows(db: &Path) -> Vec<Row> {
    let out = sqlite3(
        db,
        ".mode json\nSELECT seq, at, actor, action, object, details, prev_hash, hash FROM audit_log ORDER BY seq;\n",
    );
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let text = |r: &Value, c: &str| r[c].as_str().unwrap().to_owned();
    rows.iter()
        .map(|r| Row {
            seq: r["seq"].as_i64().unwrap(),
            at: text(r, "at"),
            actor: text(r, "actor"),
            action: text(r, "action"),
            object: text(r, "object"),
            details: text(r, "details"),
            prev_hash: text(r, "prev_hash"),
            hash: text(r, "hash"),
        })
        .collect()
}

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

/// What `audit verify` said.
struct Verdict {
    code: Option<i32>,
    json: Value,
    text: String,
}

fn verify(data: &Path) -> Verdict {
    let data = data.to_str().unwrap();
    let json_out = run(&["audit", "verify", "--data", data, "--json"]);
    let text_out = run(&["audit", "verify", "--data", data]);
    assert_eq!(json_out.status.code(), text_out.status.code());
    Verdict {
        code: json_out.status.code(),
        json: serde_json::from_slice(&json_out.stdout)
            .unwrap_or_else(|e| panic!("audit verify --json printed no JSON ({e}): {:?}", json_out)),
        text: String::from_utf8_lossy(&text_out.stdout).into_owned(),
    }
}

impl Base {
    fn new() -> Base {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("base");
        let d = data.to_str().unwrap();
        let ok = |args: &[&str]| {
            let out = run(args);
            assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        };
        ok(&["init", "--data", d, "--state", "MV"]);
        let certs = tmp.path().join("certs");
        for (kind, name, id) in [
            ("praxis", "Praxis Dr. Audit", "1-2-AUDIT-PRAXIS-01"),
            ("praxis", "Praxis Dr. Kette", "1-2-AUDIT-PRAXIS-02"),
            ("krankenhaus", "Klinikum Prüfstadt", "5-2-AUDIT-KLINIK-01"),
        ] {
            ok(&["org", "add", "--data", d, "--kind", kind, "--name", name, "--telematik-id", id]);
            let out = certs.join(id);
            ok(&["cert", "issue", "--data", d, "--telematik-id", id, "--out", out.to_str().unwrap()]);
        }
        ok(&["cert", "revoke", "--data", d, "--telematik-id", "1-2-AUDIT-PRAXIS-02"]);

        let v = verify(&data);
        assert_eq!(v.code, Some(0), "the untouched log verifies: {}", v.text);
        assert_eq!(v.json["ok"], true);
        let rows = read_rows(&data.join("gateway.db"));
        assert_eq!(v.json["entries"].as_u64().unwrap(), rows.len() as u64);
        // init's organisations, three organisations, three certificates, one revocation
        assert!(rows.len() >= 10, "expected at least 10 audit entries, got {}", rows.len());
        let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
        for wanted in ["gateway.initialised", "organisation.added", "certificate.issued", "certificate.revoked"] {
            assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
        }
        let head = (v.json["head"]["seq"].as_i64().unwrap(), v.json["head"]["hash"].as_str().unwrap().to_owned());
        assert_eq!(head.0, rows.len() as i64);
        Base { tmp, data, rows, head }
    }

    fn n(&self) -> i64 {
        self.rows.len() as i64
    }

    /// An entry among the changes after `init` (a certificate issued), with entries before
    /// and after it.
    fn middle(&self) -> i64 {
        let k = self.n() - 4;
        assert!(k >= 2);
        k
    }

    fn row(&self, seq: i64) -> &Row {
        self.rows.iter().find(|r| r.seq == seq).unwrap()
    }

    /// A copy of the data directory with `script` applied to its database.
    fn tampered(&self, case: &str, script: &str) -> PathBuf {
        let dir = self.tmp.path().join(case);
        copy_dir(&self.data, &dir);
        sqlite3(&dir.join("gateway.db"), script);
        dir
    }

    /// A forged entry after `prev_hash`, as an INSERT: `chained`, its hash computed as the
    /// gateway does; else a made-up hash.
    fn forged_insert(&self, seq: i64, prev_hash: &str, chained: bool) -> String {
        let (at, actor, action, object, details) =
            ("2026-01-01T00:00:00Z", "operator", "organisation.added", "1-2-FORGED-01", "{}");
        let hash =
            if chained { entry_hash(prev_hash, seq, at, actor, action, object, details) } else { "0".repeat(64) };
        format!(
            "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) \
             VALUES ({seq}, {}, {}, {}, {}, {}, {}, {});",
            sql_text(at),
            sql_text(actor),
            sql_text(action),
            sql_text(object),
            sql_text(details),
            sql_text(prev_hash),
            sql_text(&hash)
        )
    }
}

/// Asserts that `audit verify` on `dir` refuses the log and names entry `seq`.
fn assert_broken_at(case: &str, dir: &Path, seq: i64) -> String {
    let v = verify(dir);
    assert_eq!(v.code, Some(2), "{case}: audit verify must exit with 2, said: {}", v.text);
    assert_eq!(v.json["ok"], false, "{case}");
    assert_eq!(v.json["broken_at"].as_i64(), Some(seq), "{case}: wrong entry named: {}", v.json);
    assert!(
        v.text.contains(&format!("verletzt ab Eintrag {seq}:")),
        "{case}: the text output names entry {seq}: {}",
        v.text
    );
    v.json["reason"].as_str().unwrap().to_owned()
}

#[test]
fn every_kind_of_tampering_is_found_at_its_first_broken_entry() {
    let base = Base::new();
    let (n, k) = (base.n(), base.middle());
    let mut detected = 0;

    // 1. one field of an entry changed: that entry's hash no longer matches
    for field in ["at", "actor", "action", "object", "details", "prev_hash", "hash"] {
        let case = format!("change-{field}");
        let dir = base.tampered(&case, &format!("UPDATE audit_log SET {field} = {field} || 'x' WHERE seq = {k};"));
        let reason = assert_broken_at(&case, &dir, k);
        assert!(reason.contains("hash") || reason.contains("predecessor"), "{case}: {reason}");
        detected += 1;
    }

    // 1b. changed and its hash recomputed: the entry is self-consistent, its successor no
    // longer follows it
    {
        let r = base.row(k);
        let object = "1-2-FORGED-02";
        assert_ne!(r.object, object, "the forged value differs from the stored one");
        let hash = entry_hash(&r.prev_hash, r.seq, &r.at, &r.actor, &r.action, object, &r.details);
        let dir = base.tampered(
            "change-rehashed",
            &format!("UPDATE audit_log SET object = {}, hash = {} WHERE seq = {k};", sql_text(object), sql_text(&hash)),
        );
        let reason = assert_broken_at("change-rehashed", &dir, k + 1);
        assert!(reason.contains("predecessor"), "{reason}");
        detected += 1;
    }

    // 2. an entry inserted in the middle, the later ones renumbered. A forged entry with
    // a wrong hash is itself the first broken one; a correctly chained one verifies, and
    // the chain breaks at the entry after it (the original entry k, which was not chained
    // to the forgery)
    let shift =
        format!("UPDATE audit_log SET seq = -seq WHERE seq >= {k}; UPDATE audit_log SET seq = 1 - seq WHERE seq < 0;");
    {
        let prev = &base.row(k - 1).hash;
        let dir = base.tampered("insert-naive", &format!("{shift}\n{}", base.forged_insert(k, prev, false)));
        assert_broken_at("insert-naive", &dir, k);
        detected += 1;

        let dir = base.tampered("insert-chained", &format!("{shift}\n{}", base.forged_insert(k, prev, true)));
        let reason = assert_broken_at("insert-chained", &dir, k + 1);
        assert!(reason.contains("predecessor") || reason.contains("hash"), "{reason}");
        detected += 1;
    }

    // 2b. a correctly chained entry appended at the end without the head: the gateway
    // writes the head with every entry, so the first entry past it is the forgery
    {
        let dir = base.tampered("insert-at-end", &base.forged_insert(n + 1, &base.head.1, true));
        let reason = assert_broken_at("insert-at-end", &dir, n + 1);
        assert!(reason.contains("after the recorded head"), "{reason}");
        detected += 1;
    }

    // 3. an entry deleted: its number is missing
    {
        let dir = base.tampered("delete", &format!("DELETE FROM audit_log WHERE seq = {k};"));
        let reason = assert_broken_at("delete", &dir, k);
        assert!(reason.contains("missing"), "{reason}");
        detected += 1;

        // the first entry, too
        let dir = base.tampered("delete-first", "DELETE FROM audit_log WHERE seq = 1;");
        assert_broken_at("delete-first", &dir, 1);
        detected += 1;
    }

    // 4. two neighbouring entries swapped (their numbers exchanged), and two far apart
    for (case, a, b) in [("reorder-neighbours", k, k + 1), ("reorder-distant", 2, n - 1)] {
        let dir = base.tampered(
            case,
            &format!(
                "UPDATE audit_log SET seq = -1 WHERE seq = {a}; \
                 UPDATE audit_log SET seq = {a} WHERE seq = {b}; \
                 UPDATE audit_log SET seq = {b} WHERE seq = -1;"
            ),
        );
        assert_broken_at(case, &dir, a);
        detected += 1;
    }

    // 5. the tail cut off: the recorded head names the missing entries
    for keep in [n - 1, n - 3, 0] {
        let case = format!("truncate-to-{keep}");
        let dir = base.tampered(&case, &format!("DELETE FROM audit_log WHERE seq > {keep};"));
        let reason = assert_broken_at(&case, &dir, keep + 1);
        assert!(reason.contains("missing at the end"), "{case}: {reason}");
        detected += 1;
    }

    // 6. the recorded head itself deleted or changed
    {
        let dir = base.tampered("head-deleted", "DELETE FROM audit_head;");
        assert_broken_at("head-deleted", &dir, n);
        detected += 1;
        let dir =
            base.tampered("head-changed", &format!("UPDATE audit_head SET hash = {};", sql_text(&"f".repeat(64))));
        assert_broken_at("head-changed", &dir, n);
        detected += 1;
    }

    assert_eq!(detected, 20);
    eprintln!("audit_tamper: {detected} tampered copies of a log of {n} entries, each found at its first broken entry");
}

/// The limit of a hash chain kept beside the data: whoever can write the database can cut
/// the tail and write a matching head. The log then verifies, and only the head recorded
/// elsewhere before (the `head` of `audit verify --json`) shows that entries are gone.
#[test]
fn a_consistently_rewritten_tail_needs_the_head_recorded_elsewhere() {
    let base = Base::new();
    let keep = base.n() - 2;
    let kept = base.row(keep).hash.clone();
    let dir = base.tampered(
        "truncate-with-head",
        &format!(
            "DELETE FROM audit_log WHERE seq > {keep}; UPDATE audit_head SET seq = {keep}, hash = {};",
            sql_text(&kept)
        ),
    );
    let v = verify(&dir);
    assert_eq!(v.code, Some(0), "{}", v.text);
    let head = (v.json["head"]["seq"].as_i64().unwrap(), v.json["head"]["hash"].as_str().unwrap().to_owned());
    assert_ne!(head, base.head, "the reported head differs from the one recorded before");
    assert_eq!(head.0, keep);
    // the recorded head's entry is gone: comparing it with the database shows the cut
    let still_there =
        sqlite3(&dir.join("gateway.db"), &format!("SELECT hash FROM audit_log WHERE seq = {};", base.head.0));
    assert_ne!(still_there.trim(), base.head.1);
}
