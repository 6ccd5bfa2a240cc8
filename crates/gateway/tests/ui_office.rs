//! The state office's and the operator's pages end to end, over real HTTPS against a real
//! `serve --ui-listen` process on the programme fixture: charts (SVG with text alternative)
//! and their numbers as CSV, the report search, escalations by district, letters, CSV exports
//! (BOM, `;`), the register import by upload (row errors with line numbers; the same file
//! twice changes nothing), role checks for every page, and the operator's work: users (one-time
//! credentials that work, lock and unlock), a certificate issued as ZIP that works against the
//! API and, once revoked, is refused; the audit log with its verification.

mod common;
mod uiclient;

use common::{Env, fixture};
use uiclient::{Body, Browser, Resp, User, add_user, enc, serve};

/// A CSV download as German Excel reads it, whose header line begins with `header`.
fn assert_csv(r: &Resp, header: &str) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
    assert!(r.header("content-disposition").starts_with("attachment; filename="));
    assert!(r.bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 with BOM");
    let text = r.body.trim_start_matches('\u{feff}').to_owned();
    assert!(text.contains("\r\n") && text.split("\r\n").next().unwrap().starts_with(header), "{text}");
    text
}

/// The files of a ZIP whose entries are stored (what the operator's download is).
fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut at = 0;
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
    while bytes[at..].starts_with(b"PK\x03\x04") {
        assert_eq!(u16_at(at + 8), 0, "stored");
        let crc = u32_at(at + 14) as u32;
        let size = u32_at(at + 18);
        let (name_len, extra_len) = (u16_at(at + 26), u16_at(at + 28));
        let name = String::from_utf8(bytes[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let start = at + 30 + name_len + extra_len;
        let data = bytes[start..start + size].to_vec();
        assert_eq!(crc32(&data), crc, "CRC of {name}");
        files.push((name, data));
        at = start + size;
    }
    assert!(bytes[at..].starts_with(b"PK\x01\x02"), "central directory follows");
    files
}

async fn upload(b: &mut Browser, csrf: String, data: Vec<u8>) -> Resp {
    let fields = [("_csrf", csrf.as_str())];
    b.send("POST", "/melderegister", Body::Multipart(&fields, ("datei", "meldedaten_3.csv", &data))).await
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_office_lists_charts_exports_and_register_import() {
    let env = Env::init();
    for i in 1..=2 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    env.cli_ok(&["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    env.cli_ok(&["jobs", "run", "--as-of", "2025-12-31"]);
    let orgs: serde_json::Value = serde_json::from_str(&env.cli_ok(&["org", "list", "--json"])).unwrap();
    let orgs = orgs.as_array().unwrap();
    let id_of = |kind: &str| orgs.iter().find(|o| o["kind"] == kind).unwrap()["telematik_id"].as_str().unwrap();
    let landesamt = id_of("landesamt");
    let office = id_of("gesundheitsamt");
    env.add_org("praxis", "Kinderarztpraxis Dr. Özdemir", "1-2012345600");
    let mut anna = add_user(&env, landesamt, "landesamt", "anna");
    let mut gesa = add_user(&env, office, "gesundheitsamt", "gesa");
    let mut paula = add_user(&env, "1-2012345600", "praxis", "paula");
    let mut olaf = add_user(&env, landesamt, "betrieb", "olaf");
    let config = env.data.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace("daily_run = true", "daily_run = false");
    std::fs::write(&config, text).unwrap();
    let (_server, _api, ui) = serve(&env);
    let ca = env.ca();

    let mut b = Browser::new(ui, &ca);
    b.login_and_set_password(&mut anna).await;

    // The start page: the programme at a glance, with what the next run would do.
    let start = b.get("/").await;
    assert_eq!(start.status, 200, "{}", start.body);
    for what in [
        "Meldungen diese Woche",
        "Meldungen in der Prüfung",
        "Erinnerungen fällig",
        "Eskalationen fällig",
        "Entwarnungen",
    ] {
        assert!(start.body.contains(what), "start page lacks {what}");
    }

    // Charts: inline SVG with title, description and role, the numbers as a table and CSV.
    let stats = b.get("/statistik").await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    for id in ["teilnahme", "untersuchung", "briefe", "verzug"] {
        assert!(stats.body.contains(&format!("aria-labelledby=\"{id}-t {id}-d\"")), "chart {id}");
        assert!(
            stats.body.contains(&format!("<title id=\"{id}-t\">"))
                && stats.body.contains(&format!("<desc id=\"{id}-d\">"))
        );
        assert!(stats.body.contains(&format!("/statistik.csv?reihe={id}")));
    }
    assert!(stats.body.contains("Zahlen als Tabelle") && !stats.body.contains("<script"));
    let csv = assert_csv(&b.get("/statistik.csv?reihe=briefe").await, "Monat;Erinnerungen;Eskalationen");
    assert!(csv.lines().count() > 1, "the fixture's run created reminders: {csv}");
    let escalations_in_csv: usize =
        csv.lines().skip(1).map(|l| l.split(';').nth(2).unwrap().parse::<usize>().unwrap()).sum();
    let listed: serde_json::Value = serde_json::from_str(&env.cli_ok(&["escalations", "list", "--json"])).unwrap();
    let escalations = listed.as_array().unwrap().iter().filter(|e| e["art"] == "escalation").count();
    assert_eq!(escalations_in_csv, escalations, "the chart's numbers are the recorded escalations");
    assert_csv(&b.get("/statistik.csv?reihe=teilnahme").await, "Quartal;Kreis");
    assert_eq!(b.get("/statistik.csv?reihe=gibtesnicht").await.status, 400);

    // The report search: by family name and birth date, as page and as CSV; the child is one
    // of the review queue's, taken from the queue's own CSV.
    let queue = assert_csv(
        &b.get("/pruefung/export.csv").await,
        "Meldungs-ID;Eingang;Untersuchung;Vorname;Familienname;Geburtsdatum;Kandidaten;Bester Wert",
    );
    let first: Vec<&str> = queue.lines().nth(1).expect("the fixture has a review queue").split(';').collect();
    let (family, birth) = (first[4].to_owned(), first[5].to_owned());
    let birth_de = {
        let p: Vec<&str> = birth.split('-').collect();
        format!("{}.{}.{}", p[2], p[1], p[0])
    };
    let found = b.get(&format!("/suche?name={}&geburtsdatum={}", enc(&family), enc(&birth_de))).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(found.body.contains(&family) && found.body.contains(&birth_de), "{}", found.body);
    assert!(!found.body.contains("Keine Meldungen gefunden"));
    let csv = assert_csv(
        &b.get(&format!("/suche?name={}&geburtsdatum={birth}&format=csv", enc(&family))).await,
        "Meldungs-ID;Eingang;Untersuchung;Untersuchungsdatum;Vorname;Familienname;Geburtsdatum;Absender;Absender-Name;Zuordnung;Melde-ID",
    );
    assert!(csv.lines().skip(1).all(|l| l.contains(&family) && l.contains(&birth)), "{csv}");
    assert!(csv.lines().count() > 1);
    let nobody = b.get("/suche?name=Niemandsname-Xyz").await;
    assert!(nobody.body.contains("Keine Meldungen gefunden"));
    assert_eq!(b.get("/suche?geburtsdatum=31.02.2024").await.status, 400, "an impossible date is refused");
    // all reports, paged by 50
    let all = b.get("/suche").await;
    let total: serde_json::Value = serde_json::from_str(&env.cli_ok(&["reports", "list", "--json"])).unwrap();
    let total = total.as_array().unwrap().len();
    assert!(all.body.contains(&format!("{total} Einträge")), "pager counts every report");
    if total > 50 {
        assert!(all.body.contains("/suche?seite=2"));
        assert_eq!(b.get("/suche?seite=2").await.status, 200);
    }
    // a page past the end (or absurdly far) shows the last one; page 0 the first
    let pages = total.div_ceil(50).max(1);
    for seite in [pages + 3, usize::MAX] {
        let last = b.get(&format!("/suche?seite={seite}")).await;
        assert_eq!(last.status, 200);
        assert!(last.body.contains(&format!("Seite {pages} von {pages} · {total} Einträge")), "{}", last.body);
    }
    assert!(b.get("/suche?seite=0").await.body.contains(&format!("Seite 1 von {pages}")));
    let nobody_far = b.get("/suche?name=Niemandsname-Xyz&seite=3").await;
    assert!(nobody_far.status == 200 && nobody_far.body.contains("Keine Meldungen gefunden"));

    // Escalations by district and letters, with their CSV.
    let esc = b.get("/eskalationen").await;
    assert_eq!(esc.status, 200);
    let kreis =
        listed.as_array().unwrap().iter().find(|e| e["art"] == "escalation").unwrap()["kreis"].as_str().unwrap();
    assert!(esc.body.contains(&format!("id=\"kreis-{kreis}\"")));
    let csv = assert_csv(
        &b.get("/eskalationen?format=csv").await,
        "Kreis;Melde-ID;Untersuchung;Eskaliert am;Entwarnung am;Letztes Ergebnis",
    );
    assert_eq!(csv.lines().count() - 1, escalations);
    let letters = b.get("/briefe").await;
    assert_eq!(letters.status, 200);
    let pdf_link = letters.body.split("href=\"/briefe/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let csv = assert_csv(&b.get("/briefe?format=csv").await, "Brief-ID;Art;Melde-ID;Untersuchung;Erstellt am;Kreis");
    assert!(csv.contains("Erinnerung"));
    // the newest letter's PDF opens (older ones may be erased at the end of retention)
    let pdf = b.get(&format!("/briefe/{pdf_link}")).await;
    assert_eq!((pdf.status, pdf.header("content-type")), (200, "application/pdf"));

    // The register import: a delivery with one unreadable row; the row is named by its line
    // and reason, the rest imported; the same file again changes nothing.
    let mut file = std::fs::read(fixture("programme/small/meldedaten_3.csv")).unwrap();
    if !file.ends_with(b"\n") {
        file.extend_from_slice(b"\r\n");
    }
    let bad_line = String::from_utf8_lossy(&file).lines().count() + 1;
    file.extend_from_slice(
        "geburt,2025-02-30,MVX1,Kaputt,Zeile,,2025-02-30,w,Weg,1,18055,Rostock,13003000,,nein\r\n".as_bytes(),
    );
    let page = b.get("/melderegister").await;
    assert_eq!(page.status, 200);
    let deliveries = |r: &Resp| r.body.split("Bisherige Lieferungen").nth(1).unwrap_or("").matches("<tr><td>").count();
    let deliveries_before = deliveries(&page);
    assert_eq!(deliveries_before, 2);
    let r = upload(&mut b, page.csrf(), file.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("importiert:") && r.body.contains("Zeilen nicht lesbar"), "{}", r.body);
    assert!(r.body.contains(&format!("<tr><td>{bad_line}</td>")), "the bad row by its line number: {}", r.body);
    let deliveries_after = deliveries(&b.get("/melderegister").await);
    assert_eq!(deliveries_after, 3);
    let r = upload(&mut b, page.csrf(), file.clone()).await;
    assert!(r.body.contains("bereits als Lieferung"), "{}", r.body);
    assert_eq!(deliveries(&b.get("/melderegister").await), 3, "the same file twice changes nothing");
    // nothing readable: refused as a whole; without the session's token: refused
    let r = upload(&mut b, page.csrf(), b"kein;csv\r\nnur;unsinn\r\n".to_vec()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("keine lesbare Zeile"));
    let r = upload(&mut b, "00".into(), file.clone()).await;
    assert_eq!(r.status, 403);
    assert_eq!(deliveries(&b.get("/melderegister").await), 3);
    // the state office has no operator pages
    assert_eq!(b.get("/betrieb/benutzer").await.status, 403);
    assert_eq!(b.get("/betrieb/protokoll").await.status, 403);

    // Other roles get none of the state office's pages, nor their CSV.
    let state_office_pages = [
        "/statistik",
        "/statistik.csv?reihe=briefe",
        "/suche",
        "/suche?format=csv",
        "/eskalationen",
        "/eskalationen?format=csv",
        "/briefe",
        "/briefe?format=csv",
        "/pruefung/export.csv",
        "/melderegister",
    ];
    for user in [&mut gesa, &mut paula, &mut olaf] {
        let mut other = Browser::new(ui, &ca);
        other.login_and_set_password(user).await;
        for path in state_office_pages {
            let r = other.get(path).await;
            assert_eq!(r.status, 403, "{} opened {path}", user.login);
            assert!(!r.body.contains(&family));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_manages_users_certificates_and_reads_the_audit_log() {
    let env = Env::init();
    let orgs: serde_json::Value = serde_json::from_str(&env.cli_ok(&["org", "list", "--json"])).unwrap();
    let landesamt = orgs.as_array().unwrap().iter().find(|o| o["kind"] == "landesamt").unwrap()["telematik_id"]
        .as_str()
        .unwrap()
        .to_owned();
    const PRAXIS: &str = "1-2098765400";
    env.add_org("praxis", "Praxis für Kinder- und Jugendmedizin Weiß", PRAXIS);
    let mut olaf = add_user(&env, &landesamt, "betrieb", "olaf");
    let mut anna = add_user(&env, &landesamt, "landesamt", "anna");
    let bert = add_user(&env, &landesamt, "landesamt", "bert");
    let (_server, api, ui) = serve(&env);
    let ca = env.ca();

    let mut op = Browser::new(ui, &ca);
    op.login_and_set_password(&mut olaf).await;
    let users = op.get("/betrieb/benutzer").await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert!(users.body.contains("anna") && users.body.contains("bert"));
    assert_csv(
        &op.get("/betrieb/benutzer?format=csv").await,
        "Benutzername;Rolle;Organisation;Gesperrt bis;Startpasswort;Angelegt",
    );

    // A new user: the one-time password and TOTP secret are shown once, and they work.
    let csrf = users.csrf();
    let created = op
        .post(
            "/betrieb/benutzer",
            &[("_csrf", &csrf), ("benutzer", "neu.nutzer"), ("organisation", PRAXIS), ("rolle", "praxis")],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let code_after = |label: &str| {
        created.body.split(&format!("<dt>{label}</dt><dd><code>")).nth(1).unwrap().split('<').next().unwrap().to_owned()
    };
    let mut neu = User {
        login: "neu.nutzer".into(),
        password: code_after("Startpasswort"),
        secret: code_after("TOTP-Geheimnis"),
    };
    Browser::new(ui, &ca).login_and_set_password(&mut neu).await;
    // a role that does not fit the organisation is refused in German, nothing created
    let r = op
        .post(
            "/betrieb/benutzer",
            &[("_csrf", &csrf), ("benutzer", "falsch"), ("organisation", PRAXIS), ("rolle", "landesamt")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("passt nicht"));
    assert!(!op.get("/betrieb/benutzer").await.body.contains(">falsch<"));

    // Lock: a logged-in user's session ends at once; a locked user cannot log in; unlock.
    let mut anna_browser = Browser::new(ui, &ca);
    anna_browser.login_and_set_password(&mut anna).await;
    assert_eq!(anna_browser.get("/").await.status, 200);
    let r = op.post("/betrieb/benutzer/anna/sperre", &[("_csrf", &csrf), ("aktion", "sperren")]).await;
    assert_eq!((r.status, r.header("location")), (303, "/betrieb/benutzer?hinweis=gesperrt"));
    assert_eq!(anna_browser.get("/").await.header("location"), "/anmelden", "the lock ended the session");
    op.post("/betrieb/benutzer/bert/sperre", &[("_csrf", &csrf), ("aktion", "sperren")]).await;
    assert!(op.get("/betrieb/benutzer").await.body.contains("gesperrt"));
    assert_eq!(Browser::new(ui, &ca).login(&bert).await.status, 401, "locked");
    let r = op.post("/betrieb/benutzer/bert/sperre", &[("_csrf", &csrf), ("aktion", "entsperren")]).await;
    assert_eq!(r.header("location"), "/betrieb/benutzer?hinweis=entsperrt");
    let r = Browser::new(ui, &ca).login(&bert).await;
    assert_eq!((r.status, r.header("location")), (303, "/"), "unlocked: {}", r.body);
    // not oneself, not an unknown login, not without the token
    let r = op.post("/betrieb/benutzer/olaf/sperre", &[("_csrf", &csrf), ("aktion", "sperren")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        op.post("/betrieb/benutzer/niemand/sperre", &[("_csrf", &csrf), ("aktion", "sperren")]).await.status,
        404
    );
    assert_eq!(op.post("/betrieb/benutzer/anna/sperre", &[("aktion", "entsperren")]).await.status, 403);

    // Organisations.
    let o = op.get("/betrieb/organisationen").await;
    assert!(o.body.contains(PRAXIS) && o.body.contains("Weiß"));
    assert_csv(
        &op.get("/betrieb/organisationen?format=csv").await,
        "Telematik-ID;Art;Name;Kreise;Benutzer;Gültige Zertifikate",
    );
    // A new organisation from the form; a health office needs a valid district; nothing is
    // created on a refusal, and an existing Telematik-ID is not taken twice.
    let ocsrf = o.csrf();
    let new_org = |art: &'static str, id: &'static str, kreise: &'static str| {
        [
            ("_csrf", ocsrf.clone()),
            ("art", art.into()),
            ("name", "Gesundheitsamt Testkreis".into()),
            ("telematik_id", id.into()),
            ("kreise", kreise.into()),
        ]
    };
    const NEW_GA: &str = "5-2-20999000";
    for (form, says) in [
        (new_org("gesundheitsamt", NEW_GA, ""), "mindestens einen Kreisschlüssel"),
        (new_org("gesundheitsamt", NEW_GA, "1307"), "kein Kreisschlüssel"),
        (new_org("gesundheitsamt", "kein-id", "13071"), "Telematik-ID ist ungültig"),
        (new_org("gesundheitsamt", PRAXIS, "13071"), "existiert bereits"),
    ] {
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = op.post("/betrieb/organisationen", &fields).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert!(!op.get("/betrieb/organisationen").await.body.contains(NEW_GA));
    let form = new_org("gesundheitsamt", NEW_GA, "13071, 13072");
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = op.post("/betrieb/organisationen", &fields).await;
    assert_eq!((r.status, r.header("location")), (303, "/betrieb/organisationen?hinweis=organisation"), "{}", r.body);
    let o = op.get("/betrieb/organisationen?hinweis=organisation").await;
    assert!(o.body.contains("Die Organisation ist angelegt"));
    assert!(o.body.contains(NEW_GA) && o.body.contains("13071, 13072"));
    assert!(env.cli_ok(&["org", "list"]).contains(NEW_GA), "the CLI sees it too");

    // A certificate: issued as ZIP (client.crt, client.key, ca.crt); it works against the API.
    let page = op.get("/betrieb/zertifikate").await;
    let zip =
        op.post("/betrieb/zertifikate", &[("_csrf", &page.csrf()), ("organisation", PRAXIS), ("tage", "30")]).await;
    assert_eq!((zip.status, zip.header("content-type")), (200, "application/zip"), "{}", zip.body);
    let files = unzip(&zip.bytes);
    let file = |n: &str| String::from_utf8(files.iter().find(|(name, _)| name == n).unwrap().1.clone()).unwrap();
    let certs =
        common::Certs { cert: file("client.crt"), key: file("client.key"), ca: file("ca.crt"), dir: env.data.clone() };
    assert_eq!(certs.ca, ca);
    let mut client = common::client(api, &ca, Some(&certs), false);
    assert_eq!(client.get("/fhir/metadata").await.unwrap().status, 200);
    assert!(op.get("/betrieb/zertifikate").await.body.contains("gültig"));
    assert_eq!(
        op.post("/betrieb/zertifikate", &[("_csrf", &page.csrf()), ("organisation", PRAXIS), ("tage", "0")])
            .await
            .status,
        400
    );
    // ... revoked, it is refused for the next connection.
    let r = op.post("/betrieb/zertifikate/sperren", &[("_csrf", &page.csrf()), ("organisation", PRAXIS)]).await;
    assert_eq!(r.header("location"), "/betrieb/zertifikate?hinweis=widerrufen");
    let mut client = common::client(api, &ca, Some(&certs), false);
    assert!(client.get("/fhir/metadata").await.is_err(), "a revoked certificate is refused");
    assert_csv(
        &op.get("/betrieb/zertifikate?format=csv").await,
        "Seriennummer;Telematik-ID;Ausgestellt;Gültig bis;Gesperrt",
    );

    // The audit log, paged, with its verification; every action above is in it.
    let log = op.get("/betrieb/protokoll").await;
    assert_eq!(log.status, 200);
    assert!(log.body.contains("Die Kette ist intakt"), "{}", log.body);
    for action in ["user.locked", "user.unlocked", "certificate.revoked", "organisation.added"] {
        assert!(log.body.contains(action), "{action} in the newest entries");
    }
    assert!(log.body.contains("user:olaf"), "actions are attributed to the operator's login");
    assert!(log.body.contains("<td>user:olaf</td><td>user.added</td>"), "the user added in the interface, by whom");
    assert_csv(&op.get("/betrieb/protokoll?format=csv").await, "Nr.;Zeit;Wer;Aktion;Objekt;Details;Hash");
    let verified = env.cli_ok(&["audit", "verify"]);
    assert!(!verified.is_empty());

    // The operator sees no children's data: none of the state office's or offices' pages.
    for path in ["/statistik", "/suche", "/eskalationen", "/briefe", "/pruefung", "/faelle", "/melderegister"] {
        assert_eq!(op.get(path).await.status, 403, "operator opened {path}");
    }
}
