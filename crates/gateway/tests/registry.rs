//! `registry import` through the binary: the fixture's three Meldedaten deliveries are
//! stored once each however often they are imported, a file with unreadable rows reports
//! them by line (and with `--strict` imports nothing), and the audit chain stays intact.

mod common;

use common::{Env, fixture};

fn import(env: &Env, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["registry", "import", file.to_str().unwrap()];
    args.extend(extra);
    env.cli(&args)
}

#[test]
fn deliveries_are_imported_once_and_bad_rows_reported() {
    let env = Env::init();
    let mut total = 0;
    for (n, name) in ["meldedaten_1.csv", "meldedaten_2.csv", "meldedaten_3.csv"].iter().enumerate() {
        let file = fixture(&format!("programme/small/{name}"));
        let out = import(&env, &file, &["--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["imported"], true);
        assert_eq!(summary["delivery"], n as i64 + 1);
        assert!(summary["errors"].as_array().unwrap().is_empty(), "{summary}");
        total += summary["rows"].as_u64().unwrap();

        // The same file again changes nothing.
        let again: serde_json::Value = serde_json::from_slice(&import(&env, &file, &["--json"]).stdout).unwrap();
        assert_eq!(again["imported"], false);
        assert_eq!(again["delivery"], n as i64 + 1);
    }
    assert_eq!(total, 318 + 34 + 33, "MANIFEST.json row counts");

    // A file with one good and two bad rows.
    let good = std::fs::read_to_string(fixture("programme/small/meldedaten_3.csv")).unwrap();
    let mut lines = good.lines();
    let header = lines.next().unwrap();
    let first = lines.next().unwrap();
    let broken_date = first.replacen(",20", ",31.12.", 1);
    let text = format!("{header}\r\n{first}\r\nunbekannt,2025-07-01,X\r\n{broken_date}\r\n");
    let path = env.data.parent().unwrap().join("teilweise.csv");
    std::fs::write(&path, &text).unwrap();

    let strict = import(&env, &path, &["--strict"]);
    assert!(!strict.status.success());
    let stderr = String::from_utf8_lossy(&strict.stderr);
    assert!(stderr.contains("Zeile 3") && stderr.contains("Zeile 4"), "{stderr}");

    let out = import(&env, &path, &["--json"]);
    assert_eq!(out.status.code(), Some(3), "row errors give exit code 3");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["imported"], true);
    assert_eq!(summary["rows"], 1);
    let lines: Vec<u64> = summary["errors"].as_array().unwrap().iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4]);

    assert!(env.cli(&["audit", "verify"]).status.success());
}
