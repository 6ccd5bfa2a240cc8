//! `demo`: a complete training environment on one machine. Creates a data directory with
//! the state's organisations and a development CA, registers practices and a hospital with
//! their own client certificates, starts the server, lets the simulated practices submit
//! participation cards over mutual TLS as their software would, and prints what happened
//! and how to try it by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use oegd_domain::{Checkup, Clock, OrgKind, TelematikId};
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::{ServiceError, admin};
use oegd_web::client::ApiClient;

use crate::serve;

struct DemoPractice {
    telematik_id: &'static str,
    kind: OrgKind,
    name: &'static str,
    doctor_given: &'static str,
    doctor_family: &'static str,
    lanr: &'static str,
}

const PRACTICES: [DemoPractice; 3] = [
    DemoPractice {
        telematik_id: "1-2098123400",
        kind: OrgKind::Praxis,
        name: "Kinderarztpraxis Dr. Anja Möller",
        doctor_given: "Anja",
        doctor_family: "Möller",
        lanr: "123456601",
    },
    DemoPractice {
        telematik_id: "1-2098456700",
        kind: OrgKind::Praxis,
        name: "Praxis für Kinder- und Jugendmedizin Jörg Schütt",
        doctor_given: "Jörg",
        doctor_family: "Schütt",
        lanr: "234567701",
    },
    DemoPractice {
        telematik_id: "5-2-260120157",
        kind: OrgKind::Krankenhaus,
        name: "Klinikum Südstadt Rostock, Geburtshilfe",
        doctor_given: "Lars",
        doctor_family: "Bräuer",
        lanr: "345678801",
    },
];

/// Synthetic children: (given, family, birth date, KVNR).
const CHILDREN: &[(&str, &str, &str, Option<&str>)] = &[
    ("Mira", "Behrendt", "2025-09-03", Some("B730152844")),
    ("Jonas", "Krüger", "2025-05-17", None),
    ("Lotta", "Weiß", "2024-12-02", None),
    ("Emil", "Jäger", "2024-12-05", Some("J205774135")),
    ("Ida", "Sturm", "2025-04-22", Some("S482153071")),
    ("Theo", "Kaminski", "2023-10-09", Some("K641089233")),
];

pub async fn run(
    data: Option<PathBuf>,
    api_listen: SocketAddr,
    ui_listen: SocketAddr,
    cohort_size: usize,
    once: bool,
    clock: Arc<dyn Clock>,
) -> Result<(), ServiceError> {
    let root =
        data.unwrap_or_else(|| std::env::temp_dir().join(format!("oegd-demo-{}", uuid::Uuid::new_v4().simple())));
    let dir = DataDir::new(&root);
    let now = clock.now();

    println!("== oegd-gateway Demo ==\n");
    let fresh = !dir.database().exists();
    if fresh {
        let mut config = Config::new("MV");
        config.api.listen = api_listen;
        // the demo replays the programme fixture's past; a daily run for today would find
        // most of its children past retention
        config.programme.daily_run = false;
        admin::init(&dir, &config, now).await?;
        println!("1. Datenverzeichnis angelegt: {}", root.display());
        println!("   Entwicklungs-CA (ECDSA P-256), Serverzertifikat, SQLite-Datenbank, LAGuS und 8 Gesundheitsämter.");
    } else {
        println!("1. Vorhandenes Datenverzeichnis: {}", root.display());
    }

    let store = admin::open_store(&dir).await?;
    println!(
        "2. Praxen und Klinik mit eigenem Client-Zertifikat (Telematik-ID und Rolle in der Admission-Erweiterung):"
    );
    for p in PRACTICES {
        let id = TelematikId::parse(p.telematik_id).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if oegd_store::Store::organisation(&store, &id).await?.is_none() {
            admin::add_organisation(&store, p.kind, p.name, id.clone(), vec![], now).await?;
        }
        let out = root.join("clients").join(p.telematik_id);
        if !out.join("client.crt").exists() {
            admin::issue_certificate(&dir, &store, &id, 365, &out, now).await?;
        }
        println!("   {:<16} {:<50} {}", p.telematik_id, p.name, out.display());
    }
    store.close().await;

    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = match serve::start_with(&dir, Some(api_listen), Some(ui_listen), None, clock.clone()).await {
        Ok(s) => s,
        // a port is taken (another demo?): any free ones
        Err(_) => serve::start_with(&dir, Some(any_port), Some(any_port), None, clock.clone()).await?,
    };
    let addr = server.api_addr;
    println!("3. Server gestartet: FHIR-API https://{addr}/fhir (nur mit gültigem Client-Zertifikat)\n");

    println!("4. Die Praxissoftware meldet Teilnahmekarten (KBV_PR_MIO_PC_Bundle 1.0.1):");
    let ca = std::fs::read_to_string(dir.ca_cert())?;
    let examples = root.join("examples");
    std::fs::create_dir_all(&examples)?;
    let mut first_location = None;
    for (i, (given, family, birth, kvnr)) in CHILDREN.iter().enumerate() {
        let practice = PRACTICES.get(i % PRACTICES.len()).unwrap_or(&PRACTICES[0]);
        let mut client = practice_client(&root, practice, addr, &ca)?;
        let birth: jiff::civil::Date = birth.parse().map_err(|e: jiff::Error| ServiceError::Internal(e.to_string()))?;
        let (checkup, exam) = due_checkup(birth, now);
        let card = example_card(practice, given, family, birth, *kvnr, checkup, exam, now)?;
        if i == 0 {
            std::fs::write(examples.join("teilnahmekarte.json"), &card)?;
        }
        let resp = client.post("/fhir/Bundle", "application/fhir+json", card).await.map_err(internal)?;
        let loc = resp.header("location").unwrap_or("-").to_owned();
        println!("   {} meldet {} vom {}: HTTP {} {}", practice.name, checkup, exam, resp.status, loc);
        first_location.get_or_insert(loc);
    }

    println!("\n5. Was das Gateway außerdem tut:");
    let p0 = &PRACTICES[0];
    let mut client = practice_client(&root, p0, addr, &ca)?;
    let card = std::fs::read(examples.join("teilnahmekarte.json"))?;
    let resp = client.post("/fhir/Bundle", "application/fhir+json", card.clone()).await.map_err(internal)?;
    println!("   Dieselbe Karte noch einmal: HTTP {} (erste Quittung, nichts doppelt gespeichert)", resp.status);

    let mut broken: serde_json::Value =
        serde_json::from_slice(&card).map_err(|e| ServiceError::Internal(e.to_string()))?;
    if let Some(id) = broken.pointer_mut("/identifier/value") {
        *id = format!("urn:uuid:{}", uuid::Uuid::new_v4()).into();
    }
    for entry in broken.get_mut("entry").and_then(|e| e.as_array_mut()).into_iter().flatten() {
        if let Some(resource) = entry.get_mut("resource").and_then(|r| r.as_object_mut())
            && resource.get("resourceType").and_then(|t| t.as_str()) == Some("Encounter")
        {
            resource.remove("period");
        }
    }
    let body = serde_json::to_vec(&broken).map_err(|e| ServiceError::Internal(e.to_string()))?;
    std::fs::write(examples.join("fehlerhafte-teilnahmekarte.json"), &body)?;
    let resp = client.post("/fhir/Bundle", "application/fhir+json", body).await.map_err(internal)?;
    println!("   Karte ohne Untersuchungsdatum: HTTP {}", resp.status);
    if let Some(oo) = resp.json() {
        for issue in oo.get("issue").and_then(|i| i.as_array()).into_iter().flatten() {
            println!(
                "     {} – {}",
                issue.pointer("/expression/0").and_then(|e| e.as_str()).unwrap_or(""),
                issue.get("diagnostics").and_then(|d| d.as_str()).unwrap_or("")
            );
        }
    }
    if let Some(loc) = &first_location {
        let mut other = practice_client(&root, &PRACTICES[1], addr, &ca)?;
        let resp = other.get(loc).await.map_err(internal)?;
        println!(
            "   Eine andere Praxis fragt die Meldung der ersten ab: HTTP {} (sieht nur eigene Meldungen)",
            resp.status
        );
    }
    let anonymous = oegd_pki::client_config(&ca, None)?;
    let mut anon = ApiClient::new(addr, "localhost", anonymous, false).map_err(internal)?;
    match anon.get("/fhir/metadata").await {
        Ok(r) => println!("   Ohne Client-Zertifikat: HTTP {} (unerwartet!)", r.status),
        Err(_) => println!("   Ohne Client-Zertifikat: Verbindung abgelehnt (erreicht keinen Handler)"),
    }

    let store = admin::open_store(&dir).await?;
    let reports = oegd_store::Store::reports(&store, &Default::default()).await?;
    let audit = admin::verify_audit(&store).await?;
    store.close().await;
    println!(
        "\n6. Gespeichert: {} Meldungen; Audit-Protokoll: {}",
        reports.len(),
        match audit {
            Ok(v) => format!("intakt, {} Einträge", v.entries),
            Err(b) => format!("VERLETZT ab Eintrag {}", b.seq),
        }
    );

    programme_demo(&dir, &examples, clock.clone()).await?;
    let logins = cohort_demo(&dir, cohort_size, clock.clone()).await?;

    let c = root.join("clients").join(p0.telematik_id);
    println!("\nSelbst ausprobieren (in einem zweiten Terminal):\n");
    println!(
        "  curl --cacert {ca} --cert {crt} --key {key} \\\n    -H 'Content-Type: application/fhir+json' --data-binary @{card} \\\n    https://localhost:{port}/fhir/Bundle",
        ca = c.join("ca.crt").display(),
        crt = c.join("client.crt").display(),
        key = c.join("client.key").display(),
        card = examples.join("fehlerhafte-teilnahmekarte.json").display(),
        port = addr.port()
    );
    println!("\n  oegd-gateway reports list --data {}", root.display());
    println!("  oegd-gateway audit verify --data {}", root.display());
    println!("  oegd-gateway review list --data {}", root.display());
    println!("  oegd-gateway stats --data {} --as-of {PROGRAMME_AS_OF}", root.display());

    if let Some(ui) = server.ui_addr {
        println!(
            "\nWeb-Oberfläche: https://localhost:{}/ (Zertifikat der Entwicklungs-CA: {})",
            ui.port(),
            dir.ca_cert().display()
        );
        println!("Anmeldung mit Benutzername und Startpasswort, danach der sechsstellige Code einer Authenticator-App");
        println!(
            "mit dem TOTP-Geheimnis (oder: oathtool --totp -b GEHEIMNIS). Das Startpasswort wird sofort ersetzt.\n"
        );
        println!("  {:<16} {:<22} {:<24} {}", "BENUTZER", "ROLLE", "STARTPASSWORT", "TOTP-GEHEIMNIS");
        for l in &logins {
            println!(
                "  {:<16} {:<22} {:<24} {}",
                l.login,
                l.role.label(),
                l.initial_password,
                totp_secret(&l.totp_uri)
            );
        }
    }

    if once {
        server.stop().await;
        return Ok(());
    }
    println!("\nDer Server läuft, bis Sie Strg-C drücken.");
    serve::shutdown_signal().await;
    server.stop().await;
    Ok(())
}

/// The last as-of date of the programme fixture the demo replays.
const PROGRAMME_AS_OF: &str = "2025-12-31";

/// The programme fixture beside the repository (`../shared`, or `OEGD_SHARED_DIR`).
fn programme_fixture() -> Option<PathBuf> {
    let shared = std::env::var_os("OEGD_SHARED_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared"));
    let dir = shared.join("fixtures/programme/small");
    dir.join("reports.jsonl").exists().then_some(dir)
}

/// Step 7: the check-up programme on the fixture's register and report archive.
async fn programme_demo(dir: &DataDir, examples: &std::path::Path, clock: Arc<dyn Clock>) -> Result<(), ServiceError> {
    let Some(fixture) = programme_fixture() else {
        println!(
            "\n7. Vorsorgeprogramm: Testdaten ../shared/fixtures/programme nicht gefunden (OEGD_SHARED_DIR setzen)."
        );
        return Ok(());
    };
    println!("\n7. Das Vorsorgeprogramm (Meldedaten und Meldungsarchiv der Testdaten):");
    let store = admin::open_store(dir).await?;
    for i in 1..=3 {
        let path = fixture.join(format!("meldedaten_{i}.csv"));
        let bytes = std::fs::read(&path)?;
        let name = format!("meldedaten_{i}.csv");
        let r = oegd_service::registry::import_registry(&store, &name, &bytes, false, clock.now(), &mut |_, _, _| {})
            .await?;
        println!("   Meldedaten-Lieferung {}: {} Ereignisse", r.delivery, r.rows);
    }
    let gateway = oegd_service::Gateway::new(store.clone(), clock.clone()).await?;
    let file = std::fs::File::open(fixture.join("reports.jsonl"))?;
    let imported = oegd_service::import::import_reports(&gateway, std::io::BufReader::new(file), |_| {}).await?;
    // counted from the store: the server's own linker may have decided some meanwhile
    let mut states = std::collections::BTreeMap::new();
    for d in oegd_store::Store::link_decisions(&store, None).await? {
        *states.entry(d.state.as_str()).or_insert(0usize) += 1;
    }
    let count = |s: &str| states.get(s).copied().unwrap_or(0);
    println!(
        "   Meldungsarchiv: {} Meldungen; zugeordnet {}, zur Prüfung {} (review list), ohne Zuordnung {}",
        imported.created,
        count("linked") + count("confirmed"),
        count("review"),
        count("unlinked") + count("rejected")
    );
    let profile = oegd_programme::Profile::mv();
    let sender = oegd_service::letters::sender_for(&profile);
    let as_of: jiff::civil::Date = PROGRAMME_AS_OF.parse().map_err(internal)?;
    let run = oegd_service::programme::run_jobs(&store, &profile, &sender, as_of, clock.now()).await?;
    println!(
        "   Tageslauf zum {as_of}: {} Erinnerungen, {} Eskalationen an Gesundheitsämter, {} Entwarnungen, {} Briefe gesetzt",
        run.actions.get("reminder").unwrap_or(&0),
        run.actions.get("escalation").unwrap_or(&0),
        run.actions.get("all_clear").unwrap_or(&0),
        run.letters
    );
    if let Some(reminder) = oegd_store::Store::actions(&store, Some("reminder")).await?.pop()
        && let Some(pdf) = oegd_store::Store::letter_pdf(&store, &reminder.key()).await?
        && !pdf.is_empty()
    {
        let path = examples.join("erinnerung.pdf");
        std::fs::write(&path, pdf)?;
        println!("   Ein Erinnerungsschreiben (PDF): {}", path.display());
    }
    store.close().await;
    Ok(())
}

/// Children in the demo's synthetic cohort unless `--kohorte` says otherwise.
pub const DEFAULT_COHORT: usize = 2000;

fn totp_secret(uri: &str) -> &str {
    uri.split("secret=").nth(1).and_then(|r| r.split('&').next()).unwrap_or("")
}

fn add_days(d: jiff::civil::Date, days: usize) -> jiff::civil::Date {
    d.checked_add(jiff::Span::new().days(i64::try_from(days).unwrap_or(0))).unwrap_or(d)
}

/// Step 8: a synthetic cohort of `size` children born over the last five years, their
/// check-ups reported by the demo practices (most on time, some late, some never), the daily
/// run once a week through the last year, and a web interface account for each role.
async fn cohort_demo(
    dir: &DataDir,
    size: usize,
    clock: Arc<dyn Clock>,
) -> Result<Vec<oegd_service::accounts::NewCredentials>, ServiceError> {
    use oegd_service::cohort::{self, CohortSpec, Rng};
    let now = clock.now();
    let today = now.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").map_err(internal)?).date();
    let store = admin::open_store(dir).await?;
    let mut logins = Vec::new();
    if size > 0 {
        println!("\n8. Eine synthetische Kohorte von {size} Kindern (geboren in den letzten fünf Jahren):");
        let mut rng = Rng(0x5eed_0000_0000_0001);
        let first = today.checked_sub(jiff::Span::new().years(5)).map_err(internal)?;
        let spec = CohortSpec {
            children: size,
            first_birth: first,
            birth_days: 5 * 365 - 30,
            id_prefix: "K",
            numbered_family_names: false,
        };
        let children = cohort::generate(&spec, &mut rng);
        let csv = cohort::registry_csv(&children);
        let r = oegd_service::registry::import_registry(
            &store,
            "kohorte.csv",
            csv.as_bytes(),
            true,
            now,
            &mut |_, _, _| {},
        )
        .await?;
        println!("   Meldedaten-Lieferung {}: {} Geburten", r.delivery, r.rows);
        // the practices' reports: most check-ups reported in their window, a few with a typo in
        // the name (to the review queue), about one in eight never
        let mut lines = String::new();
        for (i, c) in children.iter().enumerate() {
            let practice = PRACTICES.get(i % PRACTICES.len()).unwrap_or(&PRACTICES[0]);
            let sender =
                if practice.kind == OrgKind::Krankenhaus { PRACTICES[0].telematik_id } else { practice.telematik_id };
            let practice = PRACTICES.iter().find(|p| p.telematik_id == sender).unwrap_or(&PRACTICES[0]);
            for checkup in cohort::CHECKUPS {
                let Some(w) = oegd_programme::window(checkup, c.birth) else { continue };
                if w.regular_start > today || !rng.chance(88) {
                    continue;
                }
                let span = usize::try_from((w.regular_end - w.regular_start).get_days()).unwrap_or(1).max(1);
                let exam = add_days(w.regular_start, rng.below(span));
                let received = add_days(exam, 1 + rng.below(14));
                if received > today {
                    continue;
                }
                let mut given = c.given.clone();
                if rng.chance(3) {
                    given.push('e');
                }
                let input = oegd_fhir::CardInput {
                    practice_name: practice.name.to_owned(),
                    practitioner_given: practice.doctor_given.to_owned(),
                    practitioner_family: practice.doctor_family.to_owned(),
                    practitioner_lanr: Some(practice.lanr.to_owned()),
                    patient_given: given,
                    patient_family: c.family.clone(),
                    patient_birth_name: None,
                    birth_date: c.birth,
                    kvnr: None,
                    checkup,
                    exam_date: exam,
                    timestamp: oegd_service::import::start_of_day_berlin(exam)?,
                    card_uuid: uuid::Uuid::new_v4(),
                };
                let line = serde_json::json!({
                    "received_at": received.to_string(),
                    "sender_telematik_id": sender,
                    "bundle": oegd_fhir::build_card(&input),
                });
                lines.push_str(&line.to_string());
                lines.push('\n');
            }
        }
        let gateway = oegd_service::Gateway::new(store.clone(), clock.clone()).await?;
        let imported =
            oegd_service::import::import_reports(&gateway, std::io::Cursor::new(lines.into_bytes()), |_| {}).await?;
        println!(
            "   Meldungen der Praxen: {} gespeichert, {} fehlerhaft; zugeordnet {}, zur Prüfung {}",
            imported.created,
            imported.failed.len(),
            imported.linking.linked,
            imported.linking.review
        );
        let profile = oegd_programme::Profile::mv();
        let sender = oegd_service::letters::sender_for(&profile);
        let mut letters = 0;
        let year_ago = today.checked_sub(jiff::Span::new().days(364)).map_err(internal)?;
        let mut day = year_ago;
        let totals = loop {
            let run = oegd_service::programme::run_jobs(&store, &profile, &sender, day, clock.now()).await?;
            letters += run.letters;
            if day >= today {
                break run.actions;
            }
            day = add_days(day, 7).min(today);
        };
        println!(
            "   Tageslauf wöchentlich vom {year_ago} bis {today}: {} Erinnerungen, {} Eskalationen, {} Entwarnungen, {letters} Briefe gesetzt",
            totals.get("reminder").unwrap_or(&0),
            totals.get("escalation").unwrap_or(&0),
            totals.get("all_clear").unwrap_or(&0),
        );
    }
    // a web interface account for each role
    let orgs = oegd_store::Store::organisations(&store).await?;
    let escalated: Vec<oegd_domain::Kreisschluessel> =
        oegd_store::Store::actions(&store, Some("escalation")).await?.into_iter().filter_map(|a| a.district).collect();
    let landesamt = orgs.iter().find(|o| o.kind == OrgKind::Landesamt);
    let office = orgs
        .iter()
        .filter(|o| o.kind == OrgKind::Gesundheitsamt)
        .max_by_key(|o| escalated.iter().filter(|d| o.kreise.contains(d)).count());
    let practice = TelematikId::parse(PRACTICES[0].telematik_id).map_err(internal)?;
    let wanted = [
        ("landesamt", landesamt.map(|o| o.telematik_id.clone()), oegd_store::UserRole::Landesamt),
        ("gesundheitsamt", office.map(|o| o.telematik_id.clone()), oegd_store::UserRole::Gesundheitsamt),
        ("praxis", Some(practice), oegd_store::UserRole::Praxis),
        ("betrieb", landesamt.map(|o| o.telematik_id.clone()), oegd_store::UserRole::Betrieb),
    ];
    for (login, org, role) in wanted {
        let Some(org) = org else { continue };
        match oegd_service::accounts::add_user(&store, login, &org, role, now).await {
            Ok(c) => logins.push(c),
            // a second demo run on the same directory: the accounts exist
            Err(ServiceError::Usage(_)) => {}
            Err(e) => return Err(e),
        }
    }
    store.close().await;
    Ok(logins)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

fn practice_client(
    root: &std::path::Path,
    p: &DemoPractice,
    addr: SocketAddr,
    ca: &str,
) -> Result<ApiClient, ServiceError> {
    let dir = root.join("clients").join(p.telematik_id);
    let cert = std::fs::read_to_string(dir.join("client.crt"))?;
    let key = std::fs::read_to_string(dir.join("client.key"))?;
    let tls = oegd_pki::client_config(ca, Some((&cert, &key)))?;
    ApiClient::new(addr, "localhost", tls, true).map_err(internal)
}

/// The last check-up a child of this age could have had, and a plausible date for it.
fn due_checkup(birth: jiff::civil::Date, now: jiff::Timestamp) -> (Checkup, jiff::civil::Date) {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let months = |m: i32| birth.checked_add(jiff::Span::new().months(m)).unwrap_or(birth);
    let days = |d: i32| birth.checked_add(jiff::Span::new().days(d)).unwrap_or(birth);
    let candidates = [
        (Checkup::U2, days(5)),
        (Checkup::U3, days(30)),
        (Checkup::U4, months(3)),
        (Checkup::U5, months(6)),
        (Checkup::U6, months(11)),
        (Checkup::U7, months(22)),
        (Checkup::U7a, months(35)),
    ];
    candidates.into_iter().rfind(|(_, d)| *d < today).unwrap_or((Checkup::U2, days(5)))
}

/// A participation card as the practice's software would write it.
#[allow(clippy::too_many_arguments)]
fn example_card(
    practice: &DemoPractice,
    given: &str,
    family: &str,
    birth: jiff::civil::Date,
    kvnr: Option<&str>,
    checkup: Checkup,
    exam: jiff::civil::Date,
    now: jiff::Timestamp,
) -> Result<Vec<u8>, ServiceError> {
    let input = oegd_fhir::CardInput {
        practice_name: practice.name.to_owned(),
        practitioner_given: practice.doctor_given.to_owned(),
        practitioner_family: practice.doctor_family.to_owned(),
        practitioner_lanr: Some(practice.lanr.to_owned()),
        patient_given: given.to_owned(),
        patient_family: family.to_owned(),
        patient_birth_name: None,
        birth_date: birth,
        kvnr: kvnr.map(str::to_owned),
        checkup,
        exam_date: exam,
        timestamp: now,
        card_uuid: uuid::Uuid::new_v4(),
    };
    serde_json::to_vec_pretty(&oegd_fhir::build_card(&input)).map_err(internal)
}
