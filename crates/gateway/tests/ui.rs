//! The staff web interface end to end: a real `serve --ui-listen` process over real TLS on
//! a real database with the programme fixture, users made by the CLI, a browser-like client
//! with a cookie jar, password + TOTP login, the state office's start page and review queue,
//! a health office's cases, CSRF, lockout and the security headers.

mod common;
mod uiclient;

use common::{Env, fixture};
use uiclient::{Browser, Resp, add_user, serve};

const CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_log_in_work_the_queue_and_see_only_their_cases() {
    let env = Env::init();
    for i in 1..=3 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    env.cli_ok(&["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    env.cli_ok(&["jobs", "run", "--as-of", "2025-12-31"]);

    let orgs: serde_json::Value = serde_json::from_str(&env.cli_ok(&["org", "list", "--json"])).unwrap();
    let orgs = orgs.as_array().unwrap();
    let landesamt = orgs.iter().find(|o| o["kind"] == "landesamt").unwrap()["telematik_id"].as_str().unwrap();
    let escalations: serde_json::Value = serde_json::from_str(&env.cli_ok(&["escalations", "list", "--json"])).unwrap();
    let escalations: Vec<&serde_json::Value> =
        escalations.as_array().unwrap().iter().filter(|e| e["art"] == "escalation").collect();
    let kreis = escalations[0]["kreis"].as_str().unwrap();
    let office = orgs
        .iter()
        .find(|o| o["kind"] == "gesundheitsamt" && o["kreise"].as_array().unwrap().iter().any(|k| k == kreis))
        .unwrap();
    let own: Vec<&str> = office["kreise"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    let (mine, others): (Vec<&&serde_json::Value>, Vec<&&serde_json::Value>) =
        escalations.iter().partition(|e| own.contains(&e["kreis"].as_str().unwrap()));
    assert!(!others.is_empty(), "the fixture escalates in more than one office's districts");

    // Accounts: the role must fit the organisation.
    let refused = env.cli(&[
        "user",
        "add",
        "--org",
        office["telematik_id"].as_str().unwrap(),
        "--role",
        "landesamt",
        "--name",
        "x",
    ]);
    assert!(!refused.status.success());
    let mut anna = add_user(&env, landesamt, "landesamt", "anna");
    let bert = add_user(&env, landesamt, "landesamt", "bert");
    let mut gesa = add_user(&env, office["telematik_id"].as_str().unwrap(), "gesundheitsamt", "gesa");

    // The fixture is the past: serve's own daily run (as of today) would erase most of it.
    let config = env.data.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("daily_run = true", "daily_run = false");
    std::fs::write(&config, text).unwrap();
    let (_server, _api, ui) = serve(&env);
    let ca = env.ca();

    // Every response carries the security headers, the login page too.
    let mut browser = Browser::new(ui, &ca);
    let page = browser.get("/anmelden").await;
    assert_eq!(page.header("content-security-policy"), CSP);
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert!(page.body.contains("<html lang=\"de\">") && !page.body.contains("<script"));
    assert!(browser.get("/static/ui.css").await.header("content-security-policy") == CSP);
    assert_eq!(browser.get("/gibt-es-nicht").await.status, 404);

    // Unknown user and wrong password get the same answer.
    let unknown =
        browser.post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", "niemand"), ("passwort", "x")]).await;
    let page = browser.get("/anmelden").await;
    let wrong =
        browser.post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", "anna"), ("passwort", "falsch")]).await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let error = |r: &Resp| r.body.split("role=\"alert\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_eq!(error(&unknown), error(&wrong));
    assert!(error(&wrong).contains("Anmeldung fehlgeschlagen"));

    // Login with password and TOTP; the session cookie's attributes.
    browser.login_and_set_password(&mut anna).await;
    let session_cookie = browser.set_cookies.iter().find(|c| c.starts_with("__Host-oegd-sitzung=")).unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }
    let start = browser.get("/").await;
    assert_eq!(start.status, 200, "{}", start.body);
    assert!(start.body.contains("Kindervorsorge auf einen Blick") && start.body.contains("Meldungen in der Prüfung"));
    assert!(start.body.contains("Stand ") && start.body.contains(" Uhr;"), "the time of the numbers");
    assert_eq!(start.header("content-security-policy"), CSP);
    assert!(review_count(&start.body) > 0);

    // The review queue: accept an entry for its second-best (or only) candidate.
    let queue: serde_json::Value = serde_json::from_str(&env.cli_ok(&["review", "list", "--json"])).unwrap();
    let first = &queue.as_array().unwrap()[0];
    let report_id = first["report_id"].as_str().unwrap();
    let candidates = first["candidates"].as_array().unwrap();
    let child = candidates.last().unwrap()["melde_id"].as_str().unwrap();
    let list = browser.get("/pruefung").await;
    assert!(list.body.contains(&format!("/pruefung/{report_id}")));
    let entry = browser.get(&format!("/pruefung/{report_id}")).await;
    assert_eq!(entry.status, 200);
    assert!(entry.body.contains(child) && entry.body.contains("Kind laut Meldung"));
    let version = first["version"].as_i64().unwrap().to_string();
    let path = format!("/pruefung/{report_id}");

    // A POST without the session's CSRF token changes nothing.
    let forged = browser.post(&path, &[("version", &version), ("aktion", "annehmen"), ("kind", child)]).await;
    assert_eq!(forged.status, 403);
    let wrong_token =
        browser.post(&path, &[("_csrf", "00"), ("version", &version), ("aktion", "annehmen"), ("kind", child)]).await;
    assert_eq!(wrong_token.status, 403);
    let shown: serde_json::Value = serde_json::from_str(&env.cli_ok(&["review", "show", report_id, "--json"])).unwrap();
    assert_eq!(shown["state"], "review");

    let csrf = entry.csrf();
    let r =
        browser.post(&path, &[("_csrf", &csrf), ("version", &version), ("aktion", "annehmen"), ("kind", child)]).await;
    assert_eq!((r.status, r.header("location")), (303, format!("{path}?hinweis=gespeichert").as_str()));
    let shown: serde_json::Value = serde_json::from_str(&env.cli_ok(&["review", "show", report_id, "--json"])).unwrap();
    assert_eq!(shown["state"], "confirmed");
    assert_eq!(shown["melde_id"], child);
    assert_eq!(shown["decided_by"], "user:anna");
    // the start page, kept while only reports arrived, shows a person's decision at once
    let in_review_now = || {
        let list: serde_json::Value = serde_json::from_str(&env.cli_ok(&["review", "list", "--json"])).unwrap();
        list.as_array().unwrap().len()
    };
    let before = in_review_now();
    let shown = review_count(&browser.get("/").await.body);
    assert_eq!(before, in_review_now(), "the linker was still at work");
    assert_eq!(shown, before);
    // Deciding on the version seen before is a conflict, said in German.
    let r = browser.post(&path, &[("_csrf", &csrf), ("version", &version), ("aktion", "ablehnen")]).await;
    assert_eq!(r.header("location"), format!("{path}?hinweis=konflikt"));
    let page = browser.get(r.header("location")).await;
    assert!(page.body.contains("inzwischen von jemand anderem entschieden"));

    // A letter as PDF.
    let letters: serde_json::Value = serde_json::from_str(&env.cli_ok(&["letters", "list", "--json"])).unwrap();
    // the newest: older children's letters were erased at the end of retention
    let letter = letters.as_array().unwrap().last().unwrap()["id"].as_str().unwrap();
    let pdf = browser.get(&format!("/briefe/{letter}.pdf")).await;
    assert_eq!((pdf.status, pdf.header("content-type")), (200, "application/pdf"));
    assert_eq!(browser.get("/briefe/reminder:KEIN-KIND:U3.pdf").await.status, 404);
    // The state office has no health office pages.
    assert_eq!(browser.get("/faelle").await.status, 403);

    // Logout ends the session.
    let csrf = browser.get("/").await.csrf();
    assert_eq!(browser.post("/abmelden", &[("_csrf", &csrf)]).await.status, 303);
    assert_eq!(browser.get("/").await.header("location"), "/anmelden");

    // The health office sees its own districts' escalations only.
    let mut office_browser = Browser::new(ui, &ca);
    office_browser.login_and_set_password(&mut gesa).await;
    let cases = office_browser.get("/faelle").await;
    assert_eq!(cases.status, 200, "{}", cases.body);
    assert_eq!(cases.body.matches("href=\"/faelle/").count(), mine.len());
    for e in &mine {
        assert!(cases.body.contains(&format!(
            "/faelle/{}/{}",
            e["melde_id"].as_str().unwrap(),
            e["untersuchung"].as_str().unwrap()
        )));
    }
    let other = others[0];
    let other_path =
        format!("/faelle/{}/{}", other["melde_id"].as_str().unwrap(), other["untersuchung"].as_str().unwrap());
    assert!(!cases.body.contains(&other_path));
    assert_eq!(office_browser.get(&other_path).await.status, 404, "another district's case by URL");
    assert_eq!(office_browser.get("/faelle/0000000000/U6").await.status, 404);
    let own_path =
        format!("/faelle/{}/{}", mine[0]["melde_id"].as_str().unwrap(), mine[0]["untersuchung"].as_str().unwrap());
    let case = office_browser.get(&own_path).await;
    assert_eq!(case.status, 200);
    assert!(case.body.contains("Sorgeberechtigte") && case.body.contains("Anschrift"));
    let r = office_browser
        .post(&own_path, &[("_csrf", &case.csrf()), ("ergebnis", "erreicht"), ("notiz", "Termin vereinbart")])
        .await;
    assert_eq!(r.status, 303);
    let case = office_browser.get(&own_path).await;
    assert!(case.body.contains("Familie erreicht") && case.body.contains("Termin vereinbart"));
    // ... cannot record for another district's case either, nor open the state office's pages.
    let r = office_browser.post(&other_path, &[("_csrf", &case.csrf()), ("ergebnis", "erreicht"), ("notiz", "")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(office_browser.get("/pruefung").await.status, 403);
    assert_eq!(office_browser.get(&format!("/briefe/{letter}.pdf")).await.status, 403);

    // Five wrong passwords lock the account: the right one is refused for now.
    let mut attacker = Browser::new(ui, &ca);
    for _ in 0..5 {
        let page = attacker.get("/anmelden").await;
        let r =
            attacker.post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", "bert"), ("passwort", "geraten")]).await;
        assert_eq!(r.status, 401);
    }
    let page = attacker.get("/anmelden").await;
    let r = attacker
        .post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", "bert"), ("passwort", &bert.password)])
        .await;
    assert_eq!(r.status, 401, "a locked account does not log in");
    assert_eq!(error(&r), error(&wrong), "locked looks like any other failure");
    let audit = env.cli_ok(&["audit", "verify"]);
    assert!(!audit.is_empty());
}

/// The start page's number of reports in review.
#[allow(clippy::unwrap_used, clippy::expect_used)]
fn review_count(body: &str) -> usize {
    let end = body.find("</span><span class=\"what\"><a href=\"/pruefung\">").expect("the review card");
    let start = body[..end].rfind('>').unwrap() + 1;
    body[start..end].parse().unwrap()
}
