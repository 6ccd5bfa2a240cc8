//! The programme through the binary on the `small` fixture: register deliveries, the report
//! archive, the daily run linking with the gateway's own linker. Each action is created
//! once however often the run is repeated, and everything the reference expects is there.
//! (Reports the linker sends to review are not yet linked by a person, so some extra
//! reminders and escalations are expected until the review queue exists.)

mod common;

use std::collections::BTreeSet;

use common::{Env, fixture};

fn keys(list: &serde_json::Value, checkup_field: &str) -> BTreeSet<(String, String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["melde_id"].as_str().unwrap().to_owned(),
                v[checkup_field].as_str().unwrap().to_owned(),
                v["created"].as_str().unwrap().to_owned(),
                v["district"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn daily_run_creates_each_action_once_and_covers_the_reference() {
    let env = Env::init();
    for i in 1..=3 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    let reports = fixture("programme/small/reports.jsonl");
    env.cli_ok(&["reports", "import", reports.to_str().unwrap()]);

    let first: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["jobs", "run", "--as-of", "2025-12-31", "--json"])).unwrap();
    assert!(first["new_actions"].as_u64().unwrap() > 0);
    let again: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["jobs", "run", "--as-of", "2025-12-31", "--json"])).unwrap();
    assert_eq!(again["new_actions"], 0, "a repeated run creates nothing");
    let earlier: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["jobs", "run", "--as-of", "2025-06-30", "--json"])).unwrap();
    assert_eq!(earlier["new_actions"], 0, "an earlier day's actions were all created already");

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("programme/small/expected.json")).unwrap()).unwrap();
    let want = &expected["runs"][2]["result"];

    let escalations: serde_json::Value = serde_json::from_str(&env.cli_ok(&["escalations", "list", "--json"])).unwrap();
    let ours: Vec<_> = escalations.as_array().unwrap().iter().filter(|e| e["art"] == "escalation").cloned().collect();
    for e in &ours {
        for field in ["melde_id", "untersuchung", "kreis", "created", "status"] {
            assert!(e[field].is_string(), "escalation without {field}: {e}");
        }
    }
    let ours_keys = keys(&serde_json::Value::Array(ours), "checkup");
    let missing: Vec<_> = keys(&want["escalations"], "checkup").difference(&ours_keys).cloned().collect();
    assert!(missing.is_empty(), "escalations of the reference missing: {missing:?}");

    let letters: serde_json::Value = serde_json::from_str(&env.cli_ok(&["letters", "list", "--json"])).unwrap();
    let ours_keys = keys(&letters, "checkup");
    let missing: Vec<_> = keys(&want["reminders"], "checkup").difference(&ours_keys).cloned().collect();
    assert!(missing.is_empty(), "reminders of the reference missing: {missing:?}");

    // Filter by district.
    let rostock: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["escalations", "list", "--kreis", "13003", "--json"])).unwrap();
    assert!(rostock.as_array().unwrap().iter().all(|e| e["kreis"] == "13003"));

    // A child's page: states and the actions recorded for it.
    let active: BTreeSet<&str> = want["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "active")
        .map(|c| c["melde_id"].as_str().unwrap())
        .collect();
    let some = want["escalations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| active.contains(e["melde_id"].as_str().unwrap()))
        .unwrap();
    let id = some["melde_id"].as_str().unwrap();
    let child: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["children", "show", id, "--as-of", "2025-12-31", "--json"])).unwrap();
    assert_eq!(child["melde_id"], id);
    assert!(child["kreis"].is_string());
    let checkup = some["checkup"].as_str().unwrap();
    assert!(child["checkups"][checkup]["escalated"].is_string(), "{child}");
    assert!(
        child["aktionen"].as_array().unwrap().iter().any(|a| a["art"] == "escalation" && a["untersuchung"] == checkup)
    );
    assert!(!env.cli(&["children", "show", "MV0000000000"]).status.success());

    // Statistics: the same engine, so the reference's district offices and children appear.
    let stats: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["stats", "--as-of", "2025-12-31", "--json"])).unwrap();
    assert_eq!(stats["summary"]["children_registered"], want["summary"]["children_registered"]);
    assert_eq!(
        stats["districts"].as_object().unwrap().keys().collect::<Vec<_>>(),
        want["districts"].as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert!(stats["summary"]["escalations"].as_u64().unwrap() >= want["summary"]["escalations"].as_u64().unwrap());

    assert!(env.cli(&["audit", "verify"]).status.success());
}
