//! `reports import` of the programme fixture's bulk file: every card validates, every line
//! gets a receipt, and resubmitted cards are stored once (README of the fixture, "Intake").

mod common;

use common::{Env, fixture};

#[test]
fn the_fixture_archive_imports_completely_and_once() {
    let env = Env::init();
    let file = fixture("programme/small/reports.jsonl");
    let out = env.cli(&["reports", "import", file.to_str().unwrap(), "--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{summary}");
    assert_eq!(summary["lines"], 1778);
    assert_eq!(summary["created"], 1754, "distinct cards (MANIFEST reports_unique)");
    assert_eq!(summary["duplicates"], 24, "resubmissions");
    assert!(summary["failed"].as_array().unwrap().is_empty(), "{summary}");

    // Importing the archive again stores nothing new.
    let again: serde_json::Value =
        serde_json::from_slice(&env.cli(&["reports", "import", file.to_str().unwrap(), "--json"]).stdout).unwrap();
    assert_eq!(again["created"], 0);
    assert_eq!(again["duplicates"], 1778);
    assert!(env.cli(&["audit", "verify"]).status.success());
}
