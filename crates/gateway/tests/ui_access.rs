//! Access to the staff web interface, table-driven: every page of `oegd_ui::router` (GET)
//! against every role (state office, the health office of the case's district and another
//! one, a practice, operations, not logged in, a locked account), over real HTTPS against
//! `serve --ui-listen` on the programme fixture. Only the combinations the table allows
//! succeed; the rest get the answer the table names (login redirect, 403, 404).
//!
//! A new page is one more row in `pages()`: its path and the outcome for each role.

mod common;
mod support;
mod uiclient;

use common::{Env, fixture};
use support::PRAXIS_A;
use uiclient::*;

/// What a role gets on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `200`, or a redirect within the interface (not to the login or password page).
    Ok,
    /// `303` to `/anmelden`: no (valid) session.
    Login,
    /// `403`: logged in, wrong role.
    Forbidden,
    /// `404`: the role may use the page, but this object is not theirs (or not there).
    NotFound,
}
use Expect::*;

/// The columns, in this order.
const ROLES: [&str; 7] = [
    "landesamt",
    "gesundheitsamt (own district)",
    "gesundheitsamt (other)",
    "praxis",
    "betrieb",
    "anonymous",
    "locked",
];

/// Objects the paths refer to.
struct Ids {
    report: String,
    /// A child with an escalated case in the own office's district, and that check-up.
    melde_id: String,
    checkup: String,
    letter: String,
}

/// Every GET page of the router, with the outcome per role (columns as [`ROLES`]).
fn pages(ids: &Ids) -> Vec<(String, [Expect; 7])> {
    const L_ONLY: [Expect; 7] = [Ok, Forbidden, Forbidden, Forbidden, Forbidden, Login, Login];
    const GA_ONLY: [Expect; 7] = [Forbidden, Ok, Ok, Forbidden, Forbidden, Login, Login];
    const P_ONLY: [Expect; 7] = [Forbidden, Forbidden, Forbidden, Ok, Forbidden, Login, Login];
    const B_ONLY: [Expect; 7] = [Forbidden, Forbidden, Forbidden, Forbidden, Ok, Login, Login];
    const STAFF: [Expect; 7] = [Ok, Ok, Ok, Ok, Ok, Login, Login];
    const PUBLIC: [Expect; 7] = [Ok; 7];
    vec![
        // public
        ("/anmelden".into(), PUBLIC),
        ("/static/ui.css".into(), PUBLIC),
        // without a half session the code page sends everyone to the login
        ("/anmelden/code".into(), [Login; 7]),
        // every logged-in role
        ("/".into(), STAFF),
        ("/passwort".into(), STAFF),
        // state office
        ("/pruefung".into(), L_ONLY),
        (format!("/pruefung/{}", ids.report), L_ONLY),
        ("/pruefung/export.csv".into(), L_ONLY),
        (format!("/briefe/{}.pdf", ids.letter), L_ONLY),
        ("/briefe".into(), L_ONLY),
        (format!("/kinder/{}", ids.melde_id), L_ONLY),
        ("/statistik".into(), L_ONLY),
        ("/statistik.csv?reihe=teilnahme".into(), L_ONLY),
        ("/suche".into(), L_ONLY),
        ("/eskalationen".into(), L_ONLY),
        ("/melderegister".into(), L_ONLY),
        // health offices: the list for both, a case only for its district's office
        ("/faelle".into(), GA_ONLY),
        (
            format!("/faelle/{}/{}", ids.melde_id, ids.checkup),
            [Forbidden, Ok, NotFound, Forbidden, Forbidden, Login, Login],
        ),
        // practices: a report that is not the practice's own is not found
        ("/meldung".into(), P_ONLY),
        ("/meldungen".into(), P_ONLY),
        (format!("/meldungen/{}", ids.report), [Forbidden, Forbidden, Forbidden, NotFound, Forbidden, Login, Login]),
        // operations
        ("/betrieb/benutzer".into(), B_ONLY),
        ("/betrieb/organisationen".into(), B_ONLY),
        ("/betrieb/zertifikate".into(), B_ONLY),
        ("/betrieb/protokoll".into(), B_ONLY),
        // no such page
        ("/gibt-es-nicht".into(), [NotFound; 7]),
    ]
}

fn outcome(r: &Resp) -> Option<Expect> {
    match (r.status, r.header("location")) {
        (200, _) => Some(Ok),
        (303, "/anmelden") => Some(Login),
        (303, "/passwort") => None,
        (303, _) => Some(Ok),
        (403, _) => Some(Forbidden),
        (404, _) => Some(NotFound),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ui_page_against_every_role() {
    let env = Env::init();
    for i in 1..=3 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    env.cli_ok(&["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    env.cli_ok(&["jobs", "run", "--as-of", "2025-12-31"]);
    let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&env.cli_ok(args)).unwrap() };

    let orgs = json(&["org", "list", "--json"]);
    let orgs = orgs.as_array().unwrap();
    let landesamt = orgs.iter().find(|o| o["kind"] == "landesamt").unwrap()["telematik_id"].as_str().unwrap();
    let escalations = json(&["escalations", "list", "--json"]);
    let case = escalations.as_array().unwrap().iter().find(|e| e["art"] == "escalation").unwrap();
    let kreis = case["kreis"].as_str().unwrap();
    let covers = |o: &serde_json::Value| o["kreise"].as_array().unwrap().iter().any(|k| k == kreis);
    let own = orgs.iter().find(|o| o["kind"] == "gesundheitsamt" && covers(o)).unwrap();
    let other = orgs.iter().find(|o| o["kind"] == "gesundheitsamt" && !covers(o)).unwrap();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    let queue = json(&["review", "list", "--json"]);
    let letters = json(&["letters", "list", "--json"]);
    let ids = Ids {
        report: queue[0]["report_id"].as_str().unwrap().to_owned(),
        melde_id: case["melde_id"].as_str().unwrap().to_owned(),
        checkup: case["untersuchung"].as_str().unwrap().to_owned(),
        letter: letters.as_array().unwrap().last().unwrap()["id"].as_str().unwrap().to_owned(),
    };

    let mut users = [
        add_user(&env, landesamt, "landesamt", "lea"),
        add_user(&env, own["telematik_id"].as_str().unwrap(), "gesundheitsamt", "gabi"),
        add_user(&env, other["telematik_id"].as_str().unwrap(), "gesundheitsamt", "gero"),
        add_user(&env, PRAXIS_A, "praxis", "paul"),
        add_user(&env, landesamt, "betrieb", "bodo"),
    ];
    let mut locked = add_user(&env, landesamt, "landesamt", "lotte");
    // The fixture is the past: serve's own daily run (as of today) would erase most of it.
    let config = env.data.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("daily_run = true", "daily_run = false");
    std::fs::write(&config, text).unwrap();
    let (_server, _api, ui) = serve(&env);
    let ca = env.ca();

    // One browser per column, logged in as its role.
    let mut browsers = Vec::new();
    for user in &mut users {
        let mut b = Browser::new(ui, &ca);
        b.login_and_set_password(user).await;
        browsers.push(b);
    }
    browsers.push(Browser::new(ui, &ca));
    let mut lotte = Browser::new(ui, &ca);
    lotte.login_and_set_password(&mut locked).await;
    assert_eq!(lotte.get("/").await.status, 200);
    // Five wrong passwords lock her account (from another address: not this test's login
    // budget); her open session then counts for nothing.
    let mut attacker = Browser::new(ui, &ca);
    attacker.source = Some([127, 0, 0, 3].into());
    for _ in 0..5 {
        let page = attacker.get("/anmelden").await;
        let r =
            attacker.post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", "lotte"), ("passwort", "falsch")]).await;
        assert_eq!(r.status, 401);
    }
    browsers.push(lotte);

    let table = pages(&ids);
    let mut failures = Vec::new();
    let mut allowed = 0;
    for (path, expected) in &table {
        for (col, b) in browsers.iter_mut().enumerate() {
            let r = b.get(path).await;
            let got = outcome(&r);
            if got != Some(expected[col]) {
                failures.push(format!(
                    "{path} as {}: expected {:?}, got {} {}",
                    ROLES[col],
                    expected[col],
                    r.status,
                    r.header("location")
                ));
            }
            if expected[col] == Ok {
                allowed += 1;
            }
        }
    }
    println!(
        "{} pages x {} roles = {} combinations checked, {allowed} allowed",
        table.len(),
        ROLES.len(),
        table.len() * ROLES.len()
    );
    assert!(failures.is_empty(), "{} combinations wrong:\n{}", failures.len(), failures.join("\n"));
}
