//! The `small` fixture: the engine with ground-truth links must reproduce `expected.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;

use common::{expected, load_reports, load_rows, programme_start};
use jiff::civil::Date;
use oegd_programme::{Engine, Profile, ReportSet};
use serde_json::Value;

/// Describes the differences between two JSON lists of objects keyed by `key_fields`.
fn diff_list(part: &str, got: &Value, want: &Value, key_fields: &[&str], out: &mut Vec<String>) {
    let key = |v: &Value| key_fields.iter().map(|k| v[*k].to_string()).collect::<Vec<_>>().join("/");
    let index = |v: &Value| -> BTreeMap<String, Value> {
        v.as_array().into_iter().flatten().map(|x| (key(x), x.clone())).collect()
    };
    let (g, w) = (index(got), index(want));
    for (k, wv) in &w {
        match g.get(k) {
            None => out.push(format!("{part}: missing {k}: {wv}")),
            Some(gv) if gv != wv => out.push(format!("{part}: differs {k}:\n   got  {gv}\n   want {wv}")),
            _ => {}
        }
    }
    for (k, gv) in &g {
        if !w.contains_key(k) {
            out.push(format!("{part}: extra {k}: {gv}"));
        }
    }
    if out.is_empty() && got != want {
        out.push(format!("{part}: same elements, different order"));
    }
}

fn check_run(run: &Value) -> Vec<String> {
    let as_of: Date = run["as_of"].as_str().unwrap().parse().unwrap();
    let files: Vec<&str> = run["meldedaten"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let rows = load_rows(&files);
    let reports = load_reports();
    let set = ReportSet::new(&reports);
    let profile = Profile::mv();
    let engine = Engine::new(&profile, programme_start(), &rows, &set);
    let got = serde_json::to_value(engine.evaluate(as_of)).unwrap();
    let want = &run["result"];

    let mut diffs = Vec::new();
    assert_eq!(got["profile"], want["profile"]);
    assert_eq!(got["programme_start"], want["programme_start"]);
    assert_eq!(got["as_of"], want["as_of"]);
    diff_list("reminders", &got["reminders"], &want["reminders"], &["melde_id", "checkup"], &mut diffs);
    diff_list("escalations", &got["escalations"], &want["escalations"], &["melde_id", "checkup"], &mut diffs);
    diff_list("all_clears", &got["all_clears"], &want["all_clears"], &["melde_id", "checkup"], &mut diffs);
    diff_list("children", &got["children"], &want["children"], &["melde_id"], &mut diffs);
    for (k, w) in want["districts"].as_object().unwrap() {
        if got["districts"][k] != *w {
            diffs.push(format!("districts {k}:\n   got  {}\n   want {w}", got["districts"][k]));
        }
    }
    if got["districts"].as_object().map(|o| o.len()) != want["districts"].as_object().map(|o| o.len()) {
        diffs.push("districts: different keys".to_owned());
    }
    for (k, w) in want["summary"].as_object().unwrap() {
        if got["summary"][k] != *w {
            diffs.push(format!("summary.{k}: got {} want {w}", got["summary"][k]));
        }
    }
    if got["summary"].as_object().map(|o| o.len()) != want["summary"].as_object().map(|o| o.len()) {
        diffs.push(format!("summary: different keys: {}", got["summary"]));
    }
    if got["warnings"] != want["warnings"] {
        diffs.push(format!("warnings: {}", got["warnings"]));
    }
    diffs.into_iter().map(|d| format!("[{as_of}] {d}")).collect()
}

#[test]
fn reproduces_expected_json_for_all_three_runs() {
    let expected = expected();
    let runs = expected["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    let mut diffs = Vec::new();
    for run in runs {
        diffs.extend(check_run(run));
    }
    if !diffs.is_empty() {
        let shown: Vec<_> = diffs.iter().take(60).cloned().collect();
        panic!("{} differences:\n{}", diffs.len(), shown.join("\n"));
    }
}

#[test]
fn ni_profile_invites_and_escalates_to_the_jugendamt_on_the_same_data() {
    use oegd_domain::Checkup;
    use oegd_programme::{CheckupState, ChildReport, EscalationTarget};

    let rows = load_rows(&["meldedaten_1.csv", "meldedaten_2.csv", "meldedaten_3.csv"]);
    let reports = load_reports();
    let set = ReportSet::new(&reports);
    let profile = Profile::ni();
    let ev = Engine::new(&profile, programme_start(), &rows, &set).evaluate(Date::constant(2025, 12, 31));
    assert_eq!(ev.profile, "NI-default");
    assert!(ev.invitations.len() > 300, "{}", ev.invitations.len());
    assert!(!ev.reminders.is_empty());
    assert!(!ev.escalations.is_empty());
    assert!(ev.escalations.iter().all(|e| e.target == EscalationTarget::Jugendamt));
    let untracked = [Checkup::U3, Checkup::U4, Checkup::U9];
    assert!(ev.invitations.iter().all(|a| !untracked.contains(&a.checkup)));
    assert!(ev.reminders.iter().all(|a| !untracked.contains(&a.checkup)));
    assert!(ev.escalations.iter().all(|a| !untracked.contains(&a.checkup)));
    assert!(ev.all_clears.iter().all(|a| !untracked.contains(&a.checkup)));
    // invitations go out 28 days before the regular window, before any reminder
    for inv in &ev.invitations {
        assert!(inv.created >= inv.regular_start.checked_sub(jiff::Span::new().days(28)).unwrap());
        assert!(inv.created <= inv.regular_end);
    }
    // every reminder asks for the same check-up, with the tolerance end as deadline
    assert!(ev.reminders.iter().all(|r| r.asks_for == r.checkup && r.deadline.is_some()));
    // escalations say where they go; the districts name the Jugendamt
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["escalations"][0]["target"], "jugendamt");
    assert_eq!(json["districts"]["13003"]["gesundheitsamt"], "Jugendamt 13003");
    assert_eq!(json["districts"]["03241"]["gesundheitsamt"], "Jugendamt Region Hannover");
    // per child only U5–U8 are tracked; deletion at the 7th birthday
    for c in &ev.children {
        if let ChildReport::Registered(c) = c {
            let names: Vec<_> = c.checkups.keys().map(|k| k.name()).collect();
            assert_eq!(names, ["U5", "U6", "U7", "U7a", "U8"]);
            assert!(c.deleted_on <= c.birth_date.checked_add(jiff::Span::new().years(7)).unwrap());
            assert!(
                c.checkups
                    .values()
                    .all(|s| s.state != CheckupState::Reminded || s.invited.is_some() || c.tracked_from > c.birth_date)
            );
        }
    }
}
