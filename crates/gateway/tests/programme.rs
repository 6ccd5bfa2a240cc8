//! The programme through the binary on the `small` fixture: register deliveries, the report
//! archive, the gateway's own linker, the review queue decided by a person, the daily run.
//! Each action is created once however often the run is repeated; with the review queue
//! worked through, the result is the reference's, except where a person's decision came
//! after a letter was due (and that is checked to be the only reason).

mod common;

use std::collections::{BTreeMap, BTreeSet};

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

/// `report_id -> melde_id` of the fixture's ground truth (empty: not in the register).
fn ground_truth() -> BTreeMap<String, String> {
    std::fs::read_to_string(fixture("programme/small/links.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut cols = l.split(',');
            (cols.next().unwrap().to_owned(), cols.next().unwrap().to_owned())
        })
        .collect()
}

fn card_key(card_id: &str) -> String {
    card_id.trim_start_matches("urn:uuid:").to_owned()
}

fn json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&env.cli_ok(&all)).unwrap()
}

fn plus_days(date: &str, days: i64) -> String {
    let d: jiff::civil::Date = date.parse().unwrap();
    d.checked_add(jiff::Span::new().days(days)).unwrap().to_string()
}

#[test]
fn review_queue_worked_through_gives_the_reference_result() {
    let env = Env::init();
    for i in 1..=3 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    let import = json(&env, &["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    assert!(import["linking"]["review"].as_u64().unwrap() > 0, "the fixture has reports for review: {import}");
    let truth = ground_truth();

    // A person works through the queue, deciding each entry a week after it arrived, as the
    // ground truth says. Confirming a link remembers the card's KVNR, which settles further
    // reports of the same child at once, so the queue shrinks faster than it is worked.
    let mut decided = 0;
    let mut conflict_checked = false;
    loop {
        let queue = json(&env, &["review", "list"]);
        let Some(entry) = queue.as_array().unwrap().first() else { break };
        for field in ["report_id", "version", "reason", "candidates", "reported", "untersuchung"] {
            assert!(!entry[field].is_null(), "review entry without {field}: {entry}");
        }
        let id = entry["report_id"].as_str().unwrap();
        let version = entry["version"].to_string();
        let on = plus_days(entry["received"].as_str().unwrap(), 7);
        let child = &truth[&card_key(entry["card_id"].as_str().unwrap())];
        if !conflict_checked {
            // a decision on an outdated version is refused and changes nothing
            let stale = env.cli(&["review", "reject", id, "--version", "0", "--as-of", &on]);
            assert!(!stale.status.success());
            assert!(String::from_utf8_lossy(&stale.stderr).contains("inzwischen"), "{stale:?}");
            conflict_checked = true;
        }
        if child.is_empty() {
            env.cli_ok(&["review", "reject", id, "--version", &version, "--as-of", &on]);
        } else {
            env.cli_ok(&["review", "accept", id, "--kind", child, "--version", &version, "--as-of", &on]);
        }
        decided += 1;
        assert!(decided < 200, "the queue does not shrink");
    }
    assert!(decided > 0);

    // No report is linked to the wrong child; every report left unlinked is of a child that
    // is not in the register.
    let reports = json(&env, &["reports", "list"]);
    let mut linked_from: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for r in reports.as_array().unwrap() {
        let want = &truth[&card_key(r["card_id"].as_str().unwrap())];
        match r["melde_id"].as_str() {
            Some(got) => {
                assert_eq!(got, want, "report {} linked to the wrong child", r["id"]);
                linked_from.insert(
                    (got.to_owned(), r["checkup"].as_str().unwrap().to_owned()),
                    (
                        r["received_at"].as_str().unwrap()[..10].to_owned(),
                        r["linked_from"].as_str().unwrap().to_owned(),
                    ),
                );
            }
            None => assert!(want.is_empty(), "report {} of a registered child left unlinked", r["id"]),
        }
    }

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("programme/small/expected.json")).unwrap()).unwrap();
    for run in expected["runs"].as_array().unwrap() {
        env.cli_ok(&["jobs", "run", "--as-of", run["as_of"].as_str().unwrap()]);
    }
    let want = &expected["runs"][2]["result"];
    let escalations = json(&env, &["escalations", "list"]);
    let of_kind = |list: &serde_json::Value, art: &str| {
        serde_json::Value::Array(list.as_array().unwrap().iter().filter(|e| e["art"] == art).cloned().collect())
    };
    let letters = json(&env, &["letters", "list"]);
    for (ours, theirs, what) in [
        (of_kind(&escalations, "escalation"), &want["escalations"], "escalations"),
        (of_kind(&escalations, "all_clear"), &want["all_clears"], "all-clears"),
        (letters.clone(), &want["reminders"], "reminders"),
    ] {
        let (ours, theirs) = (keys(&ours, "checkup"), keys(theirs, "checkup"));
        let missing: Vec<_> = theirs.difference(&ours).collect();
        assert!(missing.is_empty(), "{what} of the reference missing: {missing:?}");
        // An extra action is only right where a person linked the report after it was due
        // and the report had arrived before.
        for (child, checkup, created, _) in ours.difference(&theirs) {
            let (received, from) = linked_from
                .get(&(child.clone(), checkup.clone()))
                .unwrap_or_else(|| panic!("extra {what} {child} {checkup} {created} without a late link"));
            assert!(
                received.as_str() <= created.as_str() && created.as_str() < from.as_str(),
                "extra {what} {child} {checkup} {created}: report received {received}, linked from {from}"
            );
        }
    }

    // Every letter is a stored PDF in German, until its child's data is deleted at the end of
    // retention: then the letter is gone and the reminder stays in the statistics.
    let pdf = env.tmp.path().join("letter.pdf");
    let gone: Vec<&serde_json::Value> = letters
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            let child = json(&env, &["children", "show", l["melde_id"].as_str().unwrap(), "--as-of", "2025-12-31"]);
            child["status"] == "deleted"
        })
        .take(1)
        .collect();
    let gone = gone.first().expect("a letter of a deleted child");
    let out = env.cli(&["letters", "pdf", gone["id"].as_str().unwrap(), "--out", pdf.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Aufbewahrungsfrist"));
    let first = letters.as_array().unwrap().last().unwrap();
    let id = first["id"].as_str().unwrap();
    env.cli_ok(&["letters", "pdf", id, "--out", pdf.to_str().unwrap()]);
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    if let Ok(out) = std::process::Command::new("pdftotext").args([pdf.to_str().unwrap(), "-"]).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Früherkennungsuntersuchung"), "{text}");
        assert!(text.contains(first["untersuchung"].as_str().unwrap()), "{text}");
    }
    assert!(!env.cli(&["letters", "pdf", "reminder:NOSUCHCHILD:U3", "--out", pdf.to_str().unwrap()]).status.success());

    // A person can undo a decision: the report goes back into the queue.
    let confirmed = reports.as_array().unwrap().iter().find(|r| r["link_state"] == "confirmed").unwrap();
    let rid = confirmed["id"].as_str().unwrap();
    env.cli_ok(&["review", "reopen", rid]);
    let queue = json(&env, &["review", "list"]);
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["report_id"], rid);
    assert!(env.cli(&["audit", "verify"]).status.success());
}

#[test]
fn a_niedersachsen_data_dir_invites_and_escalates_to_the_jugendamt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = common::run(&["init", "--data", data.to_str().unwrap(), "--state", "NI"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data", data.to_str().unwrap()]);
        let out = common::run(&all);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&["registry", "import", fixture("programme/small/meldedaten_1.csv").to_str().unwrap()]);
    cli(&["jobs", "run", "--as-of", "2020-06-30"]);
    let letters: serde_json::Value = serde_json::from_str(&cli(&["letters", "list", "--json"])).unwrap();
    let invitation = letters.as_array().unwrap().iter().find(|l| l["art"] == "invitation").expect("an invitation");
    let escalations: serde_json::Value = serde_json::from_str(&cli(&["escalations", "list", "--json"])).unwrap();
    let escalations = escalations.as_array().unwrap();
    assert!(!escalations.is_empty());
    assert!(escalations.iter().filter(|e| e["art"] == "escalation").all(|e| e["target"] == "jugendamt"));
    // only U5–U8 are tracked in Niedersachsen
    for l in letters.as_array().unwrap() {
        assert!(["U5", "U6", "U7", "U8"].contains(&l["untersuchung"].as_str().unwrap()), "{l}");
    }
    let pdf = dir.path().join("einladung.pdf");
    cli(&["letters", "pdf", invitation["id"].as_str().unwrap(), "--out", pdf.to_str().unwrap()]);
    if let Ok(out) = std::process::Command::new("pdftotext").args([pdf.to_str().unwrap(), "-"]).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Einladung zur Früherkennungsuntersuchung"), "{text}");
        assert!(text.contains("Niedersächsisches Landesgesundheitsamt"), "{text}");
    }
}

#[test]
fn reports_before_the_register_are_linked_when_the_register_arrives() {
    let env = Env::init();
    let import = json(&env, &["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    assert_eq!(import["linking"]["linked"], 0, "no register yet: {}", import["linking"]);
    let first = json(&env, &["registry", "import", fixture("programme/small/meldedaten_1.csv").to_str().unwrap()]);
    let relinked = first["linking"]["linked"].as_u64().unwrap();
    assert!(relinked > 1000, "{}", first["linking"]);
    // the next delivery re-tries only what is still open
    let second = json(&env, &["registry", "import", fixture("programme/small/meldedaten_2.csv").to_str().unwrap()]);
    let open = first["linking"]["review"].as_u64().unwrap() + first["linking"]["unlinked"].as_u64().unwrap();
    assert_eq!(second["linking"]["examined"].as_u64().unwrap(), open);
    assert!(second["linking"]["linked"].as_u64().unwrap() > 0, "{}", second["linking"]);
    // the same file again changes nothing and links nothing
    let again = json(&env, &["registry", "import", fixture("programme/small/meldedaten_2.csv").to_str().unwrap()]);
    assert_eq!(again["imported"], false);
    assert_eq!(again["linking"]["examined"], 0);
}
