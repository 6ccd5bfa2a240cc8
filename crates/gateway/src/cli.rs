//! Command-line interface: parsing and one function per subcommand. Every listing can also
//! be printed as JSON (`--json`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use oegd_domain::{Clock, Kreisschluessel, OrgKind, SystemClock, TelematikId};
use oegd_service::admin;
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::{Gateway, ServiceError, import};
use oegd_store::{ReportFilter, Store};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "oegd-gateway",
    version,
    about = "Sicheres Gateway des Öffentlichen Gesundheitsdienstes: Meldeeingang für Teilnahmekarten der Kinder-Früherkennung"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct DataArg {
    /// The data directory (created by `init`).
    #[arg(long, env = "OEGD_DATA")]
    pub data: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: database, development CA, server certificate, config, organisations.
    Init {
        #[command(flatten)]
        data: DataArg,
        /// Federal state (MV, NI).
        #[arg(long, default_value = "MV")]
        state: String,
        /// Address of the FHIR API written to the config.
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
        /// PostgreSQL database for several instances (postgres://user@host/db), written to the
        /// config; without it SQLite in the data directory.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Run the server (FHIR API with mutual TLS).
    Serve {
        #[command(flatten)]
        data: DataArg,
        /// Overrides the config's API address.
        #[arg(long)]
        api_listen: Option<std::net::SocketAddr>,
        /// Overrides the config's database (also OEGD_DATABASE_URL).
        #[arg(long)]
        database_url: Option<String>,
        /// Serve the staff web interface here (TLS, login with password and TOTP); overrides
        /// the config's `[ui] listen`.
        #[arg(long)]
        ui_listen: Option<std::net::SocketAddr>,
    },
    /// A complete training environment on this machine.
    Demo {
        /// Data directory to use (default: a new temporary one).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:8443")]
        api_listen: std::net::SocketAddr,
        /// Where the staff web interface listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        ui_listen: std::net::SocketAddr,
        /// Children in the synthetic cohort (0: none).
        #[arg(long, default_value_t = crate::demo::DEFAULT_COHORT)]
        kohorte: usize,
        /// Exit after the simulated practices have submitted, instead of serving until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
    /// Staff accounts of the web interface.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Registered organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Client certificates.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// The register of children (Meldedaten).
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// A child of the register: check-up states and the actions recorded for it.
    Children {
        #[command(subcommand)]
        command: ChildrenCommand,
    },
    /// Programme statistics as of a day: participation, reminders, escalations per district.
    Stats {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        as_of: Option<jiff::civil::Date>,
        #[arg(long)]
        json: bool,
    },
    /// The check-up programme's daily run.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Cases handed to the health offices.
    Escalations {
        #[command(subcommand)]
        command: ActionsCommand,
    },
    /// Reminder and invitation letters.
    Letters {
        #[command(subcommand)]
        command: LettersCommand,
    },
    /// The review queue: reports the linker could not link to a child with certainty.
    Review {
        #[command(subcommand)]
        command: crate::review::ReviewCommand,
    },
    /// Received reports.
    Reports {
        #[command(subcommand)]
        command: ReportsCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Apply pending database migrations.
    Migrate {
        #[command(flatten)]
        data: DataArg,
    },
    /// Write a consistent copy of the database while the server runs.
    Backup {
        #[command(flatten)]
        data: DataArg,
        /// Target file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account; prints a one-time initial password and the TOTP secret (otpauth URI).
    Add {
        #[command(flatten)]
        data: DataArg,
        /// The member's organisation (must be registered and fit the role).
        #[arg(long, value_parser = parse_telematik_id)]
        org: TelematikId,
        /// landesamt, gesundheitsamt, praxis (also hospitals) or betrieb (operator, of the state office).
        #[arg(long)]
        role: String,
        /// The login name (a–z, 0–9, . - _).
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Register an organisation.
    Add {
        #[command(flatten)]
        data: DataArg,
        /// praxis, krankenhaus, gesundheitsamt, landesamt
        #[arg(long, value_parser = parse_kind)]
        kind: OrgKind,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_telematik_id)]
        telematik_id: TelematikId,
        /// District key(s) a Gesundheitsamt serves (repeatable).
        #[arg(long, value_parser = parse_kreis)]
        kreis: Vec<Kreisschluessel>,
    },
    /// List organisations.
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Issue a client certificate (writes client.crt, client.key, ca.crt).
    Issue {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_parser = parse_telematik_id)]
        telematik_id: TelematikId,
        #[arg(long)]
        out: PathBuf,
        /// Validity in days (default from the config).
        #[arg(long)]
        days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke every certificate of an organisation; a running server refuses them at once.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        #[arg(long, value_parser = parse_telematik_id)]
        telematik_id: TelematikId,
    },
    /// List issued certificates.
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// List received reports (no personal data).
    List {
        #[command(flatten)]
        data: DataArg,
        /// Only reports of this sender.
        #[arg(long, value_parser = parse_telematik_id)]
        sender: Option<TelematikId>,
        #[arg(long)]
        json: bool,
    },
    /// Import digitised or migrated reports (JSON lines with received_at, sender_telematik_id, bundle).
    Import {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Import a Meldedaten CSV file (idempotent; unreadable rows are reported and skipped).
    Import {
        #[command(flatten)]
        data: DataArg,
        file: PathBuf,
        /// Import nothing if any row is unreadable.
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ChildrenCommand {
    /// One child as of a day (default: today, Europe/Berlin).
    Show {
        #[command(flatten)]
        data: DataArg,
        melde_id: String,
        #[arg(long)]
        as_of: Option<jiff::civil::Date>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// The daily run as of a day (default: today, Europe/Berlin); creates each action once.
    Run {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        as_of: Option<jiff::civil::Date>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ActionsCommand {
    /// List them, oldest first.
    List {
        #[command(flatten)]
        data: DataArg,
        /// Only this district (Kreisschlüssel).
        #[arg(long, value_parser = parse_kreis)]
        kreis: Option<Kreisschluessel>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LettersCommand {
    /// List them, oldest first, with the id for `letters pdf`.
    List {
        #[command(flatten)]
        data: DataArg,
        /// Only this district (Kreisschlüssel).
        #[arg(long, value_parser = parse_kreis)]
        kreis: Option<Kreisschluessel>,
        #[arg(long)]
        json: bool,
    },
    /// Write a letter's PDF (id as `letters list` shows it, e.g. reminder:MELDE_ID:U6).
    Pdf {
        #[command(flatten)]
        data: DataArg,
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; names the first broken entry.
    Verify {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
}

fn parse_kind(s: &str) -> Result<OrgKind, String> {
    OrgKind::parse(s).ok_or_else(|| "praxis, krankenhaus, gesundheitsamt oder landesamt".to_owned())
}
fn parse_telematik_id(s: &str) -> Result<TelematikId, String> {
    TelematikId::parse(s).map_err(|e| e.to_string())
}
fn parse_kreis(s: &str) -> Result<Kreisschluessel, String> {
    Kreisschluessel::parse(s).map_err(|e| e.to_string())
}

pub fn print_json<T: Serialize>(value: &T) -> Result<(), ServiceError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ServiceError::Internal(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn berlin_today(clock: &dyn Clock) -> jiff::civil::Date {
    clock.now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC)).date()
}

/// Lists recorded programme actions of the given kinds. An escalation's `status` is
/// `all_clear` once a late report has arrived, else `open`.
async fn list_actions(
    data: &DataArg,
    kinds: &[&str],
    kreis: Option<Kreisschluessel>,
    json: bool,
) -> Result<(), ServiceError> {
    let store = admin::open_store(&DataDir::new(&data.data)).await?;
    let all = oegd_store::Store::actions(&store, None).await;
    store.close().await;
    let all = all?;
    let cleared: std::collections::BTreeSet<_> =
        all.iter().filter(|a| a.kind == "all_clear").map(|a| (a.melde_id.clone(), a.checkup)).collect();
    let mut rows = Vec::new();
    for a in all.iter().filter(|a| kinds.contains(&a.kind.as_str())) {
        if kreis.as_ref().is_some_and(|k| a.district.as_ref() != Some(k)) {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_str(&a.payload_json).map_err(|e| ServiceError::Internal(e.to_string()))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("art".into(), a.kind.clone().into());
            obj.insert("untersuchung".into(), a.checkup.map(|c| c.name()).unwrap_or_default().into());
            obj.insert("kreis".into(), a.district.as_ref().map(|d| d.as_str().to_owned()).unwrap_or_default().into());
            if oegd_service::letters::LETTER_KINDS.contains(&a.kind.as_str()) {
                obj.insert("id".into(), oegd_service::letters::letter_id(&a.key()).into());
            }
            if a.kind == "escalation" {
                let status = if cleared.contains(&(a.melde_id.clone(), a.checkup)) { "all_clear" } else { "open" };
                obj.insert("status".into(), status.into());
            }
        }
        rows.push((a, value));
    }
    if json {
        return print_json(&rows.iter().map(|(_, v)| v).collect::<Vec<_>>());
    }
    let last = if kinds.contains(&"escalation") { "STATUS" } else { "BRIEF-ID" };
    println!("{:<12}  {:<10}  {:<14}  {:<4}  {:<6}  {last}", "ERSTELLT", "ART", "MELDE-ID", "U", "KREIS");
    for (a, v) in &rows {
        println!(
            "{:<12}  {:<10}  {:<14}  {:<4}  {:<6}  {}",
            a.created.to_string(),
            a.kind,
            a.melde_id,
            a.checkup.map(|c| c.name()).unwrap_or("-"),
            a.district.as_ref().map(|d| d.as_str()).unwrap_or("-"),
            v.get("status").or_else(|| v.get("id")).and_then(|s| s.as_str()).unwrap_or("")
        );
    }
    println!("{} Einträge", rows.len());
    Ok(())
}

pub async fn run(cli: Cli) -> Result<ExitCode, ServiceError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Init { data, state, api_listen, database_url } => {
            let dir = DataDir::new(&data.data);
            let mut config = Config::new(&state);
            config.database_url = database_url;
            if let Some(addr) = api_listen {
                config.api.listen = addr;
            }
            let summary = admin::init(&dir, &config, clock.now()).await?;
            println!(
                "Datenverzeichnis {} angelegt: Bundesland {}, {} Organisationen, CA-Zertifikat {}",
                dir.root().display(),
                summary.state,
                summary.organisations,
                summary.ca_certificate
            );
        }
        Command::Serve { data, api_listen, database_url, ui_listen } => {
            crate::serve::run(&DataDir::new(&data.data), api_listen, ui_listen, database_url.as_deref(), clock).await?;
        }
        Command::Demo { data, api_listen, ui_listen, kohorte, once } => {
            crate::demo::run(data, api_listen, ui_listen, kohorte, once, clock).await?;
        }
        Command::Org { command } => org(command, clock).await?,
        Command::User { command: UserCommand::Add { data, org, role, name, json } } => {
            let role = oegd_store::UserRole::parse(&role).ok_or_else(|| {
                ServiceError::Usage(format!("Unbekannte Rolle {role:?} (landesamt, gesundheitsamt, praxis, betrieb)."))
            })?;
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let created = oegd_service::accounts::add_user(&store, &name, &org, role, clock.now()).await;
            store.close().await;
            let created = created?;
            if json {
                print_json(&created)?;
            } else {
                println!("Benutzer {} angelegt ({}, {}).", created.login, created.role.label(), created.organisation);
                println!("Einmal-Passwort (bei der ersten Anmeldung zu ändern): {}", created.initial_password);
                println!("TOTP für die Authenticator-App: {}", created.totp_uri);
            }
        }
        Command::Cert { command } => cert(command, clock).await?,
        Command::Registry { command: RegistryCommand::Import { data, file, strict, json } } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let bytes = std::fs::read(&file)
                .map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", file.display())))?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut bar = crate::progress::Progress::new();
            let mut progress = |step: oegd_service::registry::ImportStep, done: usize, total: usize| {
                use oegd_service::registry::ImportStep;
                let label = match step {
                    ImportStep::Reading => "Meldedaten lesen",
                    ImportStep::Storing => "Ereignisse speichern",
                    ImportStep::Linking => "Meldungen zuordnen",
                };
                bar.show(label, done, total);
            };
            let result =
                oegd_service::registry::import_registry(&store, &name, &bytes, strict, clock.now(), &mut progress)
                    .await;
            bar.finish();
            store.close().await;
            let summary = result?;
            if json {
                print_json(&summary)?;
            } else {
                for e in &summary.errors {
                    println!("Zeile {}: {}", e.line, e.message);
                }
                if summary.imported {
                    println!(
                        "Lieferung {} importiert: {} Ereignisse, {} Zeilen nicht lesbar",
                        summary.delivery,
                        summary.rows,
                        summary.errors.len()
                    );
                    let l = &summary.linking;
                    println!(
                        "Zuordnung erneut versucht für {} Meldungen: {} zugeordnet, {} zur Prüfung, {} weiter ohne Zuordnung",
                        l.examined, l.linked, l.review, l.unlinked
                    );
                } else {
                    println!(
                        "Diese Datei wurde bereits als Lieferung {} importiert; nichts geändert.",
                        summary.delivery
                    );
                }
            }
            if !summary.errors.is_empty() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Jobs { command: JobsCommand::Run { data, as_of, json } } => {
            let dir = DataDir::new(&data.data);
            let config = Config::load(&dir.config())?;
            let profile =
                oegd_programme::Profile::by_state(&config.state).map_err(|e| ServiceError::Usage(e.to_string()))?;
            let as_of = as_of.unwrap_or_else(|| berlin_today(clock.as_ref()));
            let store = admin::open_store(&dir).await?;
            let sender = oegd_service::letters::sender_for(&profile);
            let result = oegd_service::programme::run_jobs(&store, &profile, &sender, as_of, clock.now()).await;
            store.close().await;
            let run = result?;
            if json {
                print_json(&run)?;
            } else {
                println!(
                    "Tageslauf zum {}: {} Meldungen ({} zugeordnet, {} zur Prüfung, {} ohne Zuordnung)",
                    run.as_of, run.reports, run.linked, run.review, run.unlinked
                );
                for (kind, n) in &run.actions {
                    println!("  {kind}: {n}");
                }
                println!(
                    "  neu angelegt: {}, Briefe gesetzt: {}, Kinder gelöscht (Aufbewahrungsfrist): {}",
                    run.new_actions, run.letters, run.erased
                );
            }
        }
        Command::Children { command: ChildrenCommand::Show { data, melde_id, as_of, json } } => {
            let dir = DataDir::new(&data.data);
            let config = Config::load(&dir.config())?;
            let profile =
                oegd_programme::Profile::by_state(&config.state).map_err(|e| ServiceError::Usage(e.to_string()))?;
            let melde_id = oegd_domain::MeldeId::parse(&melde_id).map_err(|e| ServiceError::Usage(e.to_string()))?;
            let as_of = as_of.unwrap_or_else(|| berlin_today(clock.as_ref()));
            let store = admin::open_store(&dir).await?;
            let result = oegd_service::programme::evaluate(&store, &profile, as_of).await;
            let actions = store.actions(None).await;
            store.close().await;
            let (evaluation, _) = result?;
            let child = evaluation
                .children
                .into_iter()
                .find(|c| c.melde_id() == &melde_id)
                .ok_or_else(|| ServiceError::NotFound(format!("Kind {melde_id} ist nicht im Register.")))?;
            let recorded: Vec<serde_json::Value> = actions?
                .into_iter()
                .filter(|a| a.melde_id == melde_id)
                .map(|a| {
                    serde_json::json!({
                        "art": a.kind,
                        "melde_id": a.melde_id,
                        "untersuchung": a.checkup.map(|c| c.name()),
                        "kreis": a.district,
                        "created": a.created,
                    })
                })
                .collect();
            let mut value = serde_json::to_value(&child).map_err(|e| ServiceError::Internal(e.to_string()))?;
            if let Some(obj) = value.as_object_mut() {
                if let Some(district) = obj.get("district").cloned() {
                    obj.insert("kreis".into(), district);
                }
                obj.insert("as_of".into(), as_of.to_string().into());
                obj.insert("aktionen".into(), recorded.clone().into());
            }
            if json {
                print_json(&value)?;
            } else {
                println!(
                    "Kind {melde_id} zum {as_of}: {}",
                    value.get("status").and_then(|s| s.as_str()).unwrap_or("-")
                );
                if let Some(checkups) = value.get("checkups").and_then(|c| c.as_object()) {
                    for (checkup, report) in checkups {
                        let text = |k: &str| report.get(k).and_then(|v| v.as_str()).unwrap_or("");
                        let dates: Vec<String> = [
                            ("invited", "eingeladen"),
                            ("reminded", "erinnert"),
                            ("escalated", "eskaliert"),
                            ("all_clear", "Entwarnung"),
                            ("linked", "Meldung zugeordnet"),
                        ]
                        .iter()
                        .filter(|(k, _)| !text(k).is_empty())
                        .map(|(k, label)| format!("{label} {}", text(k)))
                        .collect();
                        println!("  {checkup:<4} {:<12} {}", text("state"), dates.join(", "));
                    }
                }
                for a in &recorded {
                    let text = |k: &str| a.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
                    println!(
                        "  {}  {:<10} {:<4} Kreis {}",
                        text("created"),
                        text("art"),
                        text("untersuchung"),
                        text("kreis")
                    );
                }
            }
        }
        Command::Stats { data, as_of, json } => {
            let dir = DataDir::new(&data.data);
            let config = Config::load(&dir.config())?;
            let profile =
                oegd_programme::Profile::by_state(&config.state).map_err(|e| ServiceError::Usage(e.to_string()))?;
            let as_of = as_of.unwrap_or_else(|| berlin_today(clock.as_ref()));
            let store = admin::open_store(&dir).await?;
            let result = oegd_service::programme::evaluate(&store, &profile, as_of).await;
            store.close().await;
            let (evaluation, [_, linked, review, unlinked]) = result?;
            let value = serde_json::json!({
                "as_of": as_of,
                "summary": evaluation.summary,
                "districts": evaluation.districts,
                "linking": {"linked": linked, "review": review, "unlinked": unlinked},
            });
            if json {
                print_json(&value)?;
            } else {
                let s = &evaluation.summary;
                println!(
                    "Stand {as_of}: {} Kinder im Register, {} Meldungen ({linked} zugeordnet, {review} zur Prüfung, {unlinked} ohne Zuordnung)",
                    s.children_registered, s.reports_received_unique
                );
                println!(
                    "Erinnerungen {}, Eskalationen {}, Entwarnungen (späte Meldungen nach Eskalation) {}, Median Untersuchung→Meldung {} Tage",
                    s.reminders,
                    s.escalations,
                    s.all_clears,
                    s.median_report_delay_days.map_or("-".to_owned(), |d| format!("{d:.1}"))
                );
                println!(
                    "{:<6}  {:<45}  {:>7}  {:>11}  {:>11}  {:>11}  {:>6}",
                    "KREIS", "GESUNDHEITSAMT", "KINDER", "ERINNERUNG", "ESKALATION", "ENTWARNUNG", "OFFEN"
                );
                for (kreis, d) in &evaluation.districts {
                    println!(
                        "{:<6}  {:<45}  {:>7}  {:>11}  {:>11}  {:>11}  {:>6}",
                        kreis,
                        d.gesundheitsamt,
                        d.active_children,
                        d.reminders,
                        d.escalations,
                        d.all_clears,
                        d.open_escalations
                    );
                }
            }
        }
        Command::Escalations { command: ActionsCommand::List { data, kreis, json } } => {
            list_actions(&data, &["escalation", "all_clear"], kreis, json).await?;
        }
        Command::Letters { command: LettersCommand::List { data, kreis, json } } => {
            list_actions(&data, &oegd_service::letters::LETTER_KINDS, kreis, json).await?;
        }
        Command::Letters { command: LettersCommand::Pdf { data, id, out } } => {
            crate::review::letter_pdf(&data, &id, &out).await?;
        }
        Command::Review { command } => {
            crate::review::run(command, berlin_today(clock.as_ref()), clock.now()).await?;
        }
        Command::Reports { command: ReportsCommand::Import { data, file, json } } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let gateway = Gateway::new(store, clock).await?;
            let input = std::fs::File::open(&file)
                .map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", file.display())))?;
            // the line count first, for the progress bar (a cheap pass over the file)
            let total = std::io::BufRead::lines(std::io::BufReader::new(&input)).count();
            let input = std::fs::File::open(&file)
                .map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", file.display())))?;
            let mut bar = crate::progress::Progress::new();
            let summary = import::import_reports(&gateway, std::io::BufReader::new(input), |line| {
                bar.show("Meldungen importieren", usize::try_from(line).unwrap_or(usize::MAX), total)
            })
            .await;
            bar.finish();
            let summary = summary?;
            if json {
                print_json(&summary)?;
            } else {
                for f in &summary.failed {
                    println!("Zeile {}: {}", f.line, f.reason);
                }
                println!(
                    "{} Zeilen: {} neue Meldungen, {} wiederholte Karten (einmal gespeichert), {} fehlerhaft",
                    summary.lines,
                    summary.created,
                    summary.duplicates,
                    summary.failed.len()
                );
                let l = &summary.linking;
                println!(
                    "Zuordnung: {} zugeordnet, {} zur Prüfung (review list), {} ohne Zuordnung",
                    l.linked, l.review, l.unlinked
                );
            }
            if !summary.failed.is_empty() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Reports { command: ReportsCommand::List { data, sender, json } } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let reports = store.reports(&ReportFilter { sender, limit: None }).await;
            let links = store.link_decisions(None).await;
            store.close().await;
            let links: std::collections::HashMap<_, _> = links?.into_iter().map(|d| (d.report_id.clone(), d)).collect();
            let reports = reports?;
            if json {
                let rows: Vec<serde_json::Value> = reports
                    .iter()
                    .map(|r| {
                        let mut v = serde_json::to_value(r).unwrap_or_default();
                        if let Some(obj) = v.as_object_mut() {
                            let link = links.get(&r.id);
                            obj.insert("link_state".into(), link.map(|d| d.state.as_str()).into());
                            obj.insert(
                                "melde_id".into(),
                                link.and_then(|d| d.melde_id.as_ref()).map(|m| m.as_str()).into(),
                            );
                            obj.insert(
                                "linked_from".into(),
                                link.filter(|d| d.melde_id.is_some()).map(|d| d.effective.to_string()).into(),
                            );
                        }
                        v
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                println!(
                    "{:<36}  {:<20}  {:<24}  {:<4}  {:<10}  {:<6}  ZUORDNUNG",
                    "ID", "ABSENDER", "EINGANG", "U", "DATUM", "QUELLE"
                );
                for r in &reports {
                    let link = links.get(&r.id);
                    println!(
                        "{:<36}  {:<20}  {:<24}  {:<4}  {:<10}  {:<6}  {} {}",
                        r.id,
                        r.sender,
                        format!("{:.0}", r.received_at),
                        r.checkup,
                        r.exam_date,
                        r.source.as_str(),
                        link.map_or("-", |d| d.state.as_str()),
                        link.and_then(|d| d.melde_id.as_ref()).map_or("", |m| m.as_str()),
                    );
                }
                println!("{} Meldungen", reports.len());
            }
        }
        Command::Audit { command: AuditCommand::Verify { data, json } } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let result = admin::verify_audit(&store).await?;
            if json {
                print_json(&match &result {
                    Ok(v) => serde_json::json!({"ok": true, "entries": v.entries, "head": v.head}),
                    Err(b) => serde_json::json!({"ok": false, "broken_at": b.seq, "reason": b.reason}),
                })?;
            }
            match result {
                Ok(v) => {
                    if !json {
                        let head = v
                            .head
                            .map(|h| format!(" (letzter Eintrag {}, Hash {})", h.seq, h.hash))
                            .unwrap_or_default();
                        println!("Audit-Protokoll intakt: {} Einträge{head}", v.entries);
                    }
                }
                Err(b) => {
                    if !json {
                        println!("Audit-Protokoll verletzt ab Eintrag {}: {}", b.seq, b.reason);
                    }
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Migrate { data } => {
            let version = admin::migrate(&DataDir::new(&data.data)).await?;
            println!("Datenbankschema auf Version {version}");
        }
        Command::Backup { data, out } => {
            if out.exists() {
                return Err(ServiceError::Usage(format!("{} existiert bereits.", out.display())));
            }
            admin::backup(&DataDir::new(&data.data), &out).await?;
            println!("Sicherung geschrieben: {}", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn org(command: OrgCommand, clock: Arc<dyn Clock>) -> Result<(), ServiceError> {
    match command {
        OrgCommand::Add { data, kind, name, telematik_id, kreis } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let org = admin::add_organisation(&store, kind, &name, telematik_id, kreis, clock.now()).await?;
            println!("Organisation registriert: {} ({}, {})", org.name, org.kind.label(), org.telematik_id);
        }
        OrgCommand::List { data, json } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let orgs = store.organisations().await?;
            if json {
                print_json(&orgs)?;
            } else {
                println!("{:<24}  {:<15}  {:<12}  NAME", "TELEMATIK-ID", "ART", "KREISE");
                for o in &orgs {
                    let kreise: Vec<&str> = o.kreise.iter().map(Kreisschluessel::as_str).collect();
                    println!("{:<24}  {:<15}  {:<12}  {}", o.telematik_id, o.kind.label(), kreise.join(","), o.name);
                }
            }
        }
    }
    Ok(())
}

async fn cert(command: CertCommand, clock: Arc<dyn Clock>) -> Result<(), ServiceError> {
    match command {
        CertCommand::Issue { data, telematik_id, out, days, json } => {
            let dir = DataDir::new(&data.data);
            let config = Config::load(&dir.config())?;
            let store = admin::open_store(&dir).await?;
            let days = days.unwrap_or(config.tls.client_cert_days);
            let issued = admin::issue_certificate(&dir, &store, &telematik_id, days, &out, clock.now()).await?;
            if json {
                print_json(&issued)?;
            } else {
                println!(
                    "Zertifikat für {} ausgestellt (Seriennummer {}, gültig bis {:.0}):\n  {}\n  {}\n  {}",
                    issued.telematik_id,
                    issued.serial,
                    issued.not_after,
                    issued.certificate,
                    issued.key,
                    issued.ca_certificate
                );
            }
        }
        CertCommand::Revoke { data, telematik_id } => {
            let dir = DataDir::new(&data.data);
            let store = admin::open_store(&dir).await?;
            let revoked = admin::revoke_certificates(&dir, &store, &telematik_id, clock.now()).await?;
            for c in &revoked {
                println!("Gesperrt: {} (Seriennummer {})", c.telematik_id, c.serial_hex);
            }
            println!("Sperrliste aktualisiert: {}", dir.crl().display());
        }
        CertCommand::List { data, json } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let certs = store.certificates().await?;
            if json {
                print_json(&certs)?;
            } else {
                println!("{:<34}  {:<24}  {:<22}  STATUS", "SERIENNUMMER", "TELEMATIK-ID", "GÜLTIG BIS");
                for c in &certs {
                    let status = c.revoked_at.map(|t| format!("gesperrt {t:.0}")).unwrap_or_else(|| "gültig".into());
                    println!(
                        "{:<34}  {:<24}  {:<22}  {}",
                        c.serial_hex,
                        c.telematik_id,
                        format!("{:.0}", c.not_after),
                        status
                    );
                }
            }
        }
    }
    Ok(())
}
