//! The FHIR API end to end: the real binary serves on a loopback port with the certificates
//! `init` and `cert issue` made; practices submit the KBV fixture cards over mutual TLS.

mod common;

use std::collections::BTreeMap;

use common::*;

const PRAXIS_A: &str = "1-2098123400";
const PRAXIS_B: &str = "1-2098456700";
const LAGUS: &str = "9-oegd-mv-lagus";
const GA_ROSTOCK: &str = "9-oegd-mv-13003";

/// `file → location` of the invalid fixtures, read from EXPECTED.md.
fn expected_locations() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixture("mio-pc/EXPECTED.md")).unwrap();
    let mut map = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `invalid/")) {
        let line = line.replace("\\|", "\u{1}");
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let file = cols[1].trim_matches('`').to_owned();
        let location = cols[4].split('`').nth(1).unwrap_or("").trim_start_matches("(root) ").to_owned();
        map.insert(file, location);
    }
    assert_eq!(map.len(), 18, "EXPECTED.md lists 18 invalid files");
    map
}

fn files(sub: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(fixture(&format!("mio-pc/{sub}"))).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_over_mutual_tls() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    let a = env.issue(PRAXIS_A);
    let b = env.issue(PRAXIS_B);
    let lagus = env.issue(LAGUS);
    let ga = env.issue(GA_ROSTOCK);
    let server = env.start();
    let ca = env.ca();
    let mut practice = client(server.addr, &ca, Some(&a), true);

    // Every valid card: 201, Location, a receipt naming sender, office and the bytes' hash.
    // The JSON/XML twins are one card: the second form gets 200 and the first receipt.
    let mut locations: BTreeMap<String, String> = BTreeMap::new();
    let mut created = 0;
    for path in files("valid") {
        let body = std::fs::read(&path).unwrap();
        let resp = practice.post("/fhir/Bundle", content_type_of(&path), body.clone()).await.unwrap();
        let receipt = resp.json().unwrap();
        let twin = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let location = resp.header("location").unwrap().to_owned();
        assert!(location.starts_with("/fhir/Bundle/"), "{location}");
        assert_eq!(receipt["resourceType"], "Provenance");
        assert_eq!(receipt["agent"][0]["who"]["identifier"]["value"], PRAXIS_A);
        assert_eq!(receipt["agent"][1]["who"]["identifier"]["value"], LAGUS);
        if let Some(first) = locations.get(&twin) {
            assert_eq!(resp.status, 200, "{} is a twin and must not be stored again", path.display());
            assert_eq!(&location, first);
        } else {
            assert_eq!(resp.status, 201, "{}: {}", path.display(), String::from_utf8_lossy(&resp.body));
            let sha = receipt["extension"][0]["valueString"].as_str().unwrap();
            assert_eq!(sha, oegd_service_sha256(&body));
            locations.insert(twin, location);
            created += 1;
        }
    }
    assert_eq!(created, 12, "12 distinct valid cards");

    // Every invalid card: 400 or 422 with an OperationOutcome at the expected location.
    let expected = expected_locations();
    for path in files("invalid") {
        let name = format!("invalid/{}", path.file_name().unwrap().to_str().unwrap());
        let resp = practice.post("/fhir/Bundle", content_type_of(&path), std::fs::read(&path).unwrap()).await.unwrap();
        let oo = resp.json().unwrap_or_else(|| panic!("{name}: no JSON body"));
        assert_eq!(oo["resourceType"], "OperationOutcome", "{name}");
        let issues = oo["issue"].as_array().unwrap();
        assert!(!issues.is_empty(), "{name}");
        for issue in issues {
            assert!(
                issue["severity"].is_string() && issue["code"].is_string() && issue["diagnostics"].is_string(),
                "{name}"
            );
        }
        let malformed = name.contains("malformed") || name.contains("xxe");
        if malformed {
            assert_eq!(resp.status, 400, "{name}");
        } else {
            assert_eq!(resp.status, 422, "{name}: {oo}");
            let want = &expected[&name];
            assert!(
                issues.iter().any(|i| i["expression"].as_array().is_some_and(|e| e.iter().any(|x| x == want.as_str()))),
                "{name}: expected an issue at {want}, got {oo}"
            );
        }
    }

    // Nothing of the invalid ones was stored.
    let listed: serde_json::Value = serde_json::from_str(&env.cli_ok(&["reports", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 12);

    // Same identifier, different content: 409, nothing stored.
    let path = fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json");
    let mut card: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    card["timestamp"] = "2025-09-09T10:00:00+02:00".into();
    card["entry"][1]["resource"]["period"]["start"] = "2025-09-09".into();
    let resp =
        practice.post("/fhir/Bundle", "application/fhir+json", serde_json::to_vec(&card).unwrap()).await.unwrap();
    assert_eq!(resp.status, 409, "{}", String::from_utf8_lossy(&resp.body));

    // Media type and size.
    let resp = practice.post("/fhir/Bundle", "text/plain", b"hallo".to_vec()).await.unwrap();
    assert_eq!(resp.status, 415);
    let resp = practice.post("/fhir/Bundle", "application/fhir+json", vec![b' '; 1024 * 1024 + 1]).await.unwrap();
    assert_eq!(resp.status, 413);
    assert_eq!(resp.json().unwrap()["resourceType"], "OperationOutcome");

    // Reading: the sender and the state office may, another practice may not (404).
    let (_, loc) = locations.iter().next().unwrap();
    let resp = practice.get(loc).await.unwrap();
    assert_eq!(resp.status, 200);
    let receipt_link = resp.header("link").unwrap().to_owned();
    assert!(receipt_link.contains("/fhir/Provenance/"));
    let mut other = client(server.addr, &ca, Some(&b), false);
    assert_eq!(other.get(loc).await.unwrap().status, 404);
    assert_eq!(other.get("/fhir/Bundle/does-not-exist").await.unwrap().status, 404);
    let mut office = client(server.addr, &ca, Some(&lagus), false);
    assert_eq!(office.get(loc).await.unwrap().status, 200);
    let receipt_path = loc.replace("/fhir/Bundle/", "/fhir/Provenance/");
    assert_eq!(office.get(&receipt_path).await.unwrap().json().unwrap()["resourceType"], "Provenance");

    // A health office cannot submit cards.
    let mut ga_client = client(server.addr, &ca, Some(&ga), false);
    let resp = ga_client.post("/fhir/Bundle", "application/fhir+json", std::fs::read(&path).unwrap()).await.unwrap();
    assert_eq!(resp.status, 403);

    // The CapabilityStatement.
    let meta = practice.get("/fhir/metadata").await.unwrap().json().unwrap();
    assert_eq!(meta["resourceType"], "CapabilityStatement");
    assert_eq!(meta["fhirVersion"], "4.0.1");

    // No certificate: never reaches a handler.
    let mut anonymous = client(server.addr, &ca, None, false);
    assert!(anonymous.get("/fhir/metadata").await.is_err());

    // A certificate of another gateway's CA: refused.
    let foreign = Env::init();
    foreign.add_org("praxis", "Fremde Praxis", PRAXIS_A);
    let foreign_cert = foreign.issue(PRAXIS_A);
    let mut stranger = client(server.addr, &ca, Some(&foreign_cert), false);
    assert!(stranger.get("/fhir/metadata").await.is_err());

    // Revocation takes effect for the next connection, without a restart.
    assert_eq!(other.get("/fhir/metadata").await.unwrap().status, 200);
    env.cli_ok(&["cert", "revoke", "--telematik-id", PRAXIS_B]);
    assert!(other.get("/fhir/metadata").await.is_err(), "revoked certificate still accepted");
    assert_eq!(practice.get("/fhir/metadata").await.unwrap().status, 200, "other practices are unaffected");

    // Every change is in an intact audit chain.
    let out = env.cli_ok(&["audit", "verify", "--json"]);
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["ok"], true, "{verdict}");
}

fn oegd_service_sha256(bytes: &[u8]) -> String {
    oegd_service::receipt_sha256(bytes)
}

#[test]
fn init_refuses_an_existing_directory_and_changes_nothing() {
    let env = Env::init();
    let before = std::fs::read(env.data.join("config.toml")).unwrap();
    let db_size = || env.pg.is_none().then(|| std::fs::metadata(env.data.join("gateway.db")).unwrap().len());
    // read first: a command that opens the database may checkpoint what an earlier one left
    // in the write-ahead log, which changes the file's size but not its data
    let audit_before = env.cli_ok(&["audit", "verify"]);
    let db_before = db_size();
    let out = run(&["init", "--data", env.data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("existiert bereits"));
    assert_eq!(std::fs::read(env.data.join("config.toml")).unwrap(), before);
    assert_eq!(db_size(), db_before);
    assert_eq!(env.cli_ok(&["audit", "verify"]), audit_before);
    if let Some(db) = &env.pg {
        // another data directory on a database that already holds a gateway's data
        let other = env.tmp.path().join("other");
        let out = run(&["init", "--data", other.to_str().unwrap(), "--database-url", &db.url]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("enthält bereits Daten"), "{out:?}");
        assert!(!other.exists(), "a failed init leaves nothing behind");
        assert_eq!(env.cli_ok(&["audit", "verify"]), audit_before);
    }

    let orgs: serde_json::Value = serde_json::from_str(&env.cli_ok(&["org", "list", "--json"])).unwrap();
    let orgs = orgs.as_array().unwrap();
    assert_eq!(orgs.len(), 9, "LAGuS and eight Gesundheitsämter");
    assert!(orgs.iter().any(|o| o["kind"] == "gesundheitsamt" && o["kreise"][0] == "13075"));
}

#[test]
fn audit_verify_names_a_tampered_entry() {
    let env = Env::init();
    env.add_org("praxis", "Praxis Eins", PRAXIS_A);
    assert!(env.cli(&["audit", "verify"]).status.success());
    if let Some(db) = &env.pg {
        db.execute_blocking("UPDATE audit_log SET actor = 'forged' WHERE seq = 4");
    } else {
        let db = env.data.join("gateway.db");
        let status = std::process::Command::new("python3")
            .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_log SET actor='forged' WHERE seq=4\"); c.commit()", db.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = env.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ab Eintrag 4"), "{}", String::from_utf8_lossy(&out.stdout));
}
