//! Who may do what on the FHIR API: every route against every kind of client, as a table.
//!
//! Identities: two practices, a hospital, two health offices, the state office, a valid
//! certificate of the gateway's CA for an organisation that is not registered, one whose
//! role (profession OID) does not match the registered organisation, and the ones that must
//! never reach a handler: no certificate, a revoked, an expired and a not yet valid
//! certificate, one from another CA, and the gateway's own server certificate presented as
//! a client certificate. There is no operator identity on the API: operators work through
//! the CLI on the data directory, and the PKI has no operator role.
//!
//! Every cell is checked; on a mismatch the whole table (expected / got) is printed.

mod common;
mod support;

use std::fmt::Write as _;

use common::*;
use oegd_domain::{ProfessionOid, TelematikId};
use support::*;

const KRANKENHAUS: &str = "2-2098777700";
const PRAXIS_REVOKED: &str = "1-2098999900";
const UNREGISTERED: &str = "1-2098555500";

/// A TLS-level refusal: the client never got an HTTP answer.
const TLS: u16 = 0;

#[derive(Clone, Copy)]
enum Route {
    Submit,
    ReadOwnersBundle,
    ReadOwnersReceipt,
    ReadMissingBundle,
    Metadata,
    UnknownPath,
    DeleteBundle,
    PutBundle,
}

const ROUTES: [(Route, &str); 8] = [
    (Route::Submit, "POST /fhir/Bundle"),
    (Route::ReadOwnersBundle, "GET /fhir/Bundle/{A's}"),
    (Route::ReadOwnersReceipt, "GET /fhir/Provenance/{A's}"),
    (Route::ReadMissingBundle, "GET /fhir/Bundle/{none}"),
    (Route::Metadata, "GET /fhir/metadata"),
    (Route::UnknownPath, "GET /fhir/Patient"),
    (Route::DeleteBundle, "DELETE /fhir/Bundle/{A's}"),
    (Route::PutBundle, "PUT /fhir/Bundle/{A's}"),
];

/// Expected status per route, in the order of [`ROUTES`].
type Expect = [u16; 8];

const REFUSED: Expect = [TLS; 8];
/// The sender of the report that is read: may read it and its receipt.
const OWNER: Expect = [201, 200, 200, 404, 200, 404, 405, 405];
/// Another practice or a hospital: may submit, learns nothing of A's report.
const OTHER_SENDER: Expect = [201, 404, 404, 404, 200, 404, 405, 405];
/// The state office receives every report.
const STATE_OFFICE: Expect = [403, 200, 200, 404, 200, 404, 405, 405];
/// Health offices neither submit cards nor read them over the API.
const HEALTH_OFFICE: Expect = [403, 404, 404, 404, 200, 404, 405, 405];
/// A certificate of the gateway's CA whose organisation is unknown or whose role does not
/// match: only what is public for any authenticated client (the CapabilityStatement).
const UNKNOWN_ORG: Expect = [403, 404, 404, 404, 200, 404, 405, 405];

fn pem_certs(cert: &str, key: &str, ca: &str, dir: std::path::PathBuf) -> Certs {
    Certs { cert: cert.to_owned(), key: key.to_owned(), ca: ca.to_owned(), dir }
}

/// A client certificate of the data directory's CA with any identity and validity,
/// issued directly with the PKI crate (the CLI only issues valid ones for registered
/// organisations).
fn issue_direct(
    env: &Env,
    id: &str,
    profession: ProfessionOid,
    not_before: jiff::Timestamp,
    not_after: jiff::Timestamp,
) -> Certs {
    let ca = oegd_pki::CaMaterial {
        cert_pem: std::fs::read_to_string(env.data.join("pki/ca.crt")).unwrap(),
        key_pem: std::fs::read_to_string(env.data.join("pki/ca.key")).unwrap(),
    };
    let subject = oegd_pki::ClientSubject {
        telematik_id: TelematikId::parse(id).unwrap(),
        profession,
        org_name: format!("Test {id}"),
    };
    let issued = oegd_pki::issue_client_cert(&ca, &subject, not_before, not_after).unwrap();
    pem_certs(&issued.cert_pem, &issued.key_pem, &ca.cert_pem, env.tmp.path().to_owned())
}

async fn call(client: &mut oegd_web::client::ApiClient, route: Route, own: &str) -> u16 {
    use oegd_web::client::Method;
    let receipt = own.replace("/fhir/Bundle/", "/fhir/Provenance/");
    let result = match route {
        Route::Submit => {
            let (_, body) = fresh_card();
            client.post("/fhir/Bundle", "application/fhir+json", body).await
        }
        Route::ReadOwnersBundle => client.get(own).await,
        Route::ReadOwnersReceipt => client.get(&receipt).await,
        Route::ReadMissingBundle => client.get("/fhir/Bundle/00000000-0000-4000-8000-000000000000").await,
        Route::Metadata => client.get("/fhir/metadata").await,
        Route::UnknownPath => client.get("/fhir/Patient").await,
        Route::DeleteBundle => client.request(Method::DELETE, own, None, Vec::new()).await,
        Route::PutBundle => {
            let (_, body) = fresh_card();
            client.request(Method::PUT, own, Some("application/fhir+json"), body).await
        }
    };
    match result {
        Ok(resp) => {
            // Every refusal by a handler carries an OperationOutcome.
            if resp.status >= 400 && resp.status != 405 {
                let oo = resp.json().unwrap_or_default();
                assert_eq!(oo["resourceType"], "OperationOutcome", "{} without an OperationOutcome", resp.status);
            }
            resp.status
        }
        Err(_) => TLS,
    }
}

fn cell(status: u16) -> String {
    if status == TLS { "TLS".to_owned() } else { status.to_string() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)] // certificates are checked against the real clock
async fn every_route_against_every_identity() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    env.add_org("krankenhaus", "Klinikum Südstadt", KRANKENHAUS);
    env.add_org("praxis", "Praxis Gesperrt", PRAXIS_REVOKED);
    let a = env.issue(PRAXIS_A);
    let revoked = env.issue(PRAXIS_REVOKED);
    env.cli_ok(&["cert", "revoke", "--telematik-id", PRAXIS_REVOKED]);

    let now = jiff::Timestamp::now();
    let day = jiff::SignedDuration::from_hours(24);
    let expired = issue_direct(&env, PRAXIS_A, ProfessionOid::PraxisArzt, now - day * 30, now - day);
    let not_yet_valid = issue_direct(&env, PRAXIS_A, ProfessionOid::PraxisArzt, now + day, now + day * 30);
    let unregistered = issue_direct(&env, UNREGISTERED, ProfessionOid::PraxisArzt, now - day, now + day);
    let wrong_role = issue_direct(&env, PRAXIS_A, ProfessionOid::InstitutionOegd, now - day, now + day);
    let foreign_ca = oegd_pki::create_ca("Fremde CA", now - day, 30).unwrap();
    let foreign = oegd_pki::issue_client_cert(
        &foreign_ca,
        &oegd_pki::ClientSubject {
            telematik_id: TelematikId::parse(PRAXIS_A).unwrap(),
            profession: ProfessionOid::PraxisArzt,
            org_name: "Fremd".into(),
        },
        now - day,
        now + day,
    )
    .unwrap();
    let foreign = pem_certs(&foreign.cert_pem, &foreign.key_pem, &foreign_ca.cert_pem, env.tmp.path().to_owned());
    let server_as_client = pem_certs(
        &std::fs::read_to_string(env.data.join("pki/server.crt")).unwrap(),
        &std::fs::read_to_string(env.data.join("pki/server.key")).unwrap(),
        &env.ca(),
        env.tmp.path().to_owned(),
    );

    let identities: Vec<(&str, Option<Certs>, Expect)> = vec![
        ("Praxis A (owner)", Some(a), OWNER),
        ("Praxis B", Some(env.issue(PRAXIS_B)), OTHER_SENDER),
        ("Krankenhaus", Some(env.issue(KRANKENHAUS)), OTHER_SENDER),
        ("Gesundheitsamt Rostock", Some(env.issue(GA_ROSTOCK)), HEALTH_OFFICE),
        ("Gesundheitsamt Schwerin", Some(env.issue(GA_SCHWERIN)), HEALTH_OFFICE),
        ("Landesamt (LAGuS)", Some(env.issue(LAGUS)), STATE_OFFICE),
        ("unregistered organisation", Some(unregistered), UNKNOWN_ORG),
        ("Praxis A's ID with ÖGD role", Some(wrong_role), UNKNOWN_ORG),
        ("no client certificate", None, REFUSED),
        ("revoked certificate", Some(revoked), REFUSED),
        ("expired certificate", Some(expired), REFUSED),
        ("not yet valid certificate", Some(not_yet_valid), REFUSED),
        ("certificate of another CA", Some(foreign), REFUSED),
        ("server certificate as client", Some(server_as_client), REFUSED),
    ];

    let server = env.start();
    let ca = env.ca();
    // The report whose reading is tested: submitted by Praxis A.
    let own = {
        let mut c = client(server.addr, &ca, identities[0].1.as_ref(), false);
        let (_, body) = fresh_card();
        let resp = c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
        assert_eq!(resp.status, 201);
        resp.header("location").unwrap().to_owned()
    };

    let mut table = String::new();
    let _ = write!(table, "{:<30}", "");
    for (_, name) in ROUTES {
        let _ = write!(table, " | {name:<26}");
    }
    table.push('\n');
    let mut mismatches = 0;
    let mut checked = 0;
    let mut allowed = 0;
    for (who, certs, expect) in &identities {
        let _ = write!(table, "{who:<30}");
        for (i, (route, _)) in ROUTES.iter().enumerate() {
            // A new connection per call: a refusal must not depend on an earlier request.
            let mut c = client(server.addr, &ca, certs.as_ref(), false);
            let got = call(&mut c, *route, &own).await;
            let want = expect[i];
            checked += 1;
            if got < 300 && got != TLS {
                allowed += 1;
            }
            let mark = if got == want { String::new() } else { format!(" ≠{}", cell(want)) };
            if got != want {
                mismatches += 1;
            }
            let _ = write!(table, " | {:<26}", format!("{}{mark}", cell(got)));
        }
        table.push('\n');
    }
    println!("{table}");
    assert_eq!(mismatches, 0, "{mismatches} cells differ (≠ shows the expected value):\n{table}");
    println!(
        "access combinations checked: {checked} ({} identities × {} routes), {allowed} allowed",
        identities.len(),
        ROUTES.len()
    );

    // Nothing a refused client tried changed anything: the reports are A's and the ones
    // of the three senders' successful submissions, and the audit chain is intact.
    let stored = stored_reports(&env);
    assert_eq!(stored.len(), 1 + 3, "reports: {stored:?}");
    assert_audit_ok(&env);
}
