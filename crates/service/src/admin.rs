//! What an operator does at the command line: create a data directory, register
//! organisations, issue and revoke client certificates, verify the audit log.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use oegd_domain::{Kreisschluessel, OrgKind, TelematikId};
use oegd_pki::{CaMaterial, ClientSubject, Revoked};
use oegd_store::{Actor, AuditEvent, CertificateRecord, Organisation, Store, audit};
use oegd_store_any::{AnyStore, Database};
use serde::Serialize;

use crate::config::Config;
use crate::datadir::{DataDir, write_atomically};
use crate::operator::IssuedPem;
use crate::{ServiceError, states};

const CA_DAYS: u32 = 3650;
const SERVER_CERT_DAYS: u32 = 730;

/// What `init` created.
#[derive(Debug, Clone, Serialize)]
pub struct InitSummary {
    pub state: String,
    pub organisations: usize,
    pub ca_certificate: String,
}

/// Creates a data directory: configuration, CA and server certificate, an empty CRL, the
/// database with its migrations, and the state's organisations. Refuses an existing
/// non-empty directory and leaves nothing behind when it fails.
pub async fn init(dir: &DataDir, config: &Config, now: Timestamp) -> Result<InitSummary, ServiceError> {
    let orgs = states::initial_organisations(&config.state).ok_or_else(|| {
        ServiceError::Usage(format!(
            "Unbekanntes Bundesland {:?}; bekannt sind: {}",
            config.state,
            states::STATES.join(", ")
        ))
    })?;
    let root = dir.root();
    let existed = root.exists();
    if existed && std::fs::read_dir(root)?.next().is_some() {
        return Err(ServiceError::Usage(format!(
            "Das Datenverzeichnis {} existiert bereits und ist nicht leer; init ändert nichts.",
            root.display()
        )));
    }
    let result = create(dir, config, orgs, now).await;
    if result.is_err() {
        // Leave the place as we found it.
        if existed {
            if let Ok(entries) = std::fs::read_dir(root) {
                for entry in entries.flatten() {
                    let p = entry.path();
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(root);
        }
    }
    result
}

async fn create(
    dir: &DataDir,
    config: &Config,
    orgs: &[states::InitialOrganisation],
    now: Timestamp,
) -> Result<InitSummary, ServiceError> {
    std::fs::create_dir_all(dir.pki())?;
    // a database URL may hold a password: then the config is readable by its owner only
    write_atomically(&dir.config(), config.to_toml()?.as_bytes(), config.database_url.is_some())?;

    let ca = oegd_pki::create_ca(&format!("oegd-gateway Entwicklungs-CA {}", config.state), now, CA_DAYS)?;
    write_atomically(&dir.ca_cert(), ca.cert_pem.as_bytes(), false)?;
    write_atomically(&dir.ca_key(), ca.key_pem.as_bytes(), true)?;
    let server = oegd_pki::issue_server_cert(&ca, &config.tls.server_names, now, SERVER_CERT_DAYS)?;
    write_atomically(&dir.server_cert(), server.cert_pem.as_bytes(), false)?;
    write_atomically(&dir.server_key(), server.key_pem.as_bytes(), true)?;

    let database = database_of(dir, config, None)?;
    let store = AnyStore::open(&database).await?;
    if !store.is_empty().await? {
        store.close().await;
        return Err(ServiceError::Usage(
            "Die Datenbank enthält bereits Daten eines Gateways; init legt nur eine neue an. \
             Weitere Instanzen verwenden eine Kopie dieses Datenverzeichnisses (gleiche CA und Datenbank)."
                .into(),
        ));
    }
    for o in orgs {
        let telematik_id =
            o.telematik_id().ok_or_else(|| ServiceError::Internal("invalid built-in Telematik-ID".into()))?;
        let org =
            Organisation { telematik_id, kind: o.kind, name: o.name.to_owned(), kreise: o.kreise(), created_at: now };
        store.add_organisation(&org, &Actor::Operator).await?;
    }
    store
        .append_audit(
            &AuditEvent::new(
                &Actor::Operator,
                "gateway.initialised",
                &config.state,
                serde_json::json!({"state": config.state}),
            ),
            now,
        )
        .await?;
    write_crl(dir, &store, now).await?;
    store.close().await;
    Ok(InitSummary {
        state: config.state.clone(),
        organisations: orgs.len(),
        ca_certificate: dir.ca_cert().display().to_string(),
    })
}

/// Which database a data directory uses: `override_url` (`--database-url`), else
/// `OEGD_DATABASE_URL`, else `database_url` of its config, else its SQLite file.
pub fn database_of(dir: &DataDir, config: &Config, override_url: Option<&str>) -> Result<Database, ServiceError> {
    let env = std::env::var("OEGD_DATABASE_URL").ok().filter(|u| !u.trim().is_empty());
    match override_url.map(str::to_owned).or(env).or_else(|| config.database_url.clone()) {
        None => Ok(Database::Sqlite(dir.database())),
        Some(url) => Database::from_url(&url).ok_or_else(|| {
            ServiceError::Usage(
                "Die Datenbank-URL muss mit postgres:// oder postgresql:// beginnen \
                 (ohne URL: SQLite im Datenverzeichnis)."
                    .into(),
            )
        }),
    }
}

fn no_data_dir(dir: &DataDir) -> ServiceError {
    ServiceError::Usage(format!(
        "Kein Datenverzeichnis unter {} (zuerst: oegd-gateway init --data {}).",
        dir.root().display(),
        dir.root().display()
    ))
}

/// The database of an existing data directory (see [`database_of`]).
pub fn existing_database(dir: &DataDir, override_url: Option<&str>) -> Result<Database, ServiceError> {
    if !dir.config().exists() && !dir.database().exists() {
        return Err(no_data_dir(dir));
    }
    let database = if dir.config().exists() {
        database_of(dir, &Config::load(&dir.config())?, override_url)?
    } else {
        // a data directory from before the config knew databases: its SQLite file
        Database::Sqlite(dir.database())
    };
    if let Database::Sqlite(path) = &database {
        if !path.exists() {
            return Err(no_data_dir(dir));
        }
    }
    Ok(database)
}

/// Opens the database of an existing data directory without changing its schema; refuses a
/// schema newer (or older) than this program knows.
pub async fn open_store(dir: &DataDir) -> Result<AnyStore, ServiceError> {
    open_store_with(dir, None).await
}

/// [`open_store`] with a database URL that overrides the configured one (`serve
/// --database-url`).
pub async fn open_store_with(dir: &DataDir, override_url: Option<&str>) -> Result<AnyStore, ServiceError> {
    Ok(AnyStore::open_existing(&existing_database(dir, override_url)?).await?)
}

/// `migrate`: applies pending migrations of the data directory's database (refusing a
/// schema newer than this program knows); returns the schema version now.
pub async fn migrate(dir: &DataDir) -> Result<i64, ServiceError> {
    let store = AnyStore::open(&existing_database(dir, None)?).await?;
    let version = store.schema_version().await;
    store.close().await;
    Ok(version?)
}

/// `backup`: a consistent copy while the server runs. SQLite: `VACUUM INTO` a new database
/// file. PostgreSQL: `pg_dump --format=custom` into `out` (restore with `pg_restore`), which
/// needs `pg_dump` of at least the server's version on this machine.
pub async fn backup(dir: &DataDir, out: &Path) -> Result<(), ServiceError> {
    let store = open_store(dir).await?;
    if let AnyStore::Postgres(_) = &store {
        let found = std::process::Command::new("pg_dump").arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            store.close().await;
            return Err(ServiceError::Usage(
                "Sicherung einer PostgreSQL-Datenbank: pg_dump ist hier nicht installiert. \
                 Sichern Sie mit pg_dump --format=custom --file DATEI DATENBANK-URL \
                 (Wiederherstellen mit pg_restore)."
                    .into(),
            ));
        }
    }
    let result = store.backup_to(out).await;
    store.close().await;
    Ok(result?)
}

pub fn load_ca(dir: &DataDir) -> Result<CaMaterial, ServiceError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", p.display())))
    };
    Ok(CaMaterial { cert_pem: read(&dir.ca_cert())?, key_pem: read(&dir.ca_key())? })
}

/// Registers an organisation (the CLI: recorded as the operator).
pub async fn add_organisation<S: Store>(
    store: &S,
    kind: OrgKind,
    name: &str,
    telematik_id: TelematikId,
    kreise: Vec<Kreisschluessel>,
    now: Timestamp,
) -> Result<Organisation, ServiceError> {
    add_organisation_by(store, kind, name, telematik_id, kreise, now, &Actor::Operator).await
}

/// Registers an organisation on behalf of `actor` (the web interface: the operator's login).
pub async fn add_organisation_by<S: Store>(
    store: &S,
    kind: OrgKind,
    name: &str,
    telematik_id: TelematikId,
    kreise: Vec<Kreisschluessel>,
    now: Timestamp,
    actor: &Actor,
) -> Result<Organisation, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ServiceError::Usage("Der Name muss 1 bis 200 Zeichen lang sein.".into()));
    }
    if kind == OrgKind::Gesundheitsamt && kreise.is_empty() {
        return Err(ServiceError::Usage("Ein Gesundheitsamt braucht mindestens einen Kreisschlüssel.".into()));
    }
    if kind != OrgKind::Gesundheitsamt && !kreise.is_empty() {
        return Err(ServiceError::Usage("Nur Gesundheitsämter haben Kreisschlüssel.".into()));
    }
    let org = Organisation { telematik_id, kind, name: name.to_owned(), kreise, created_at: now };
    store.add_organisation(&org, actor).await?;
    Ok(org)
}

/// What `cert issue` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedSummary {
    pub telematik_id: TelematikId,
    pub serial: String,
    pub not_after: Timestamp,
    pub certificate: String,
    pub key: String,
    pub ca_certificate: String,
}

/// Issues a client certificate for a registered organisation and writes `client.crt`,
/// `client.key` (mode 0600) and `ca.crt` into `out`; recorded once the files are written.
pub async fn issue_certificate<S: Store>(
    dir: &DataDir,
    store: &S,
    telematik_id: &TelematikId,
    days: u32,
    out: &Path,
    now: Timestamp,
) -> Result<IssuedSummary, ServiceError> {
    let (issued, record) = mint_certificate(dir, store, telematik_id, days, now).await.map_err(|e| match e {
        ServiceError::NotFound(_) => {
            ServiceError::Usage(format!("Organisation {telematik_id} ist nicht registriert (org add)."))
        }
        other => other,
    })?;
    std::fs::create_dir_all(out)?;
    let (crt, key, ca_crt) = (out.join("client.crt"), out.join("client.key"), out.join("ca.crt"));
    write_atomically(&crt, issued.cert_pem.as_bytes(), false)?;
    write_atomically(&key, issued.key_pem.as_bytes(), true)?;
    write_atomically(&ca_crt, issued.ca_pem.as_bytes(), false)?;
    store.record_certificate(&record, &Actor::Operator).await?;
    Ok(IssuedSummary {
        telematik_id: issued.telematik_id.clone(),
        serial: issued.serial.clone(),
        not_after: issued.not_after,
        certificate: crt.display().to_string(),
        key: key.display().to_string(),
        ca_certificate: ca_crt.display().to_string(),
    })
}

/// Makes a client certificate for a registered organisation, signed by the data directory's
/// CA, with the record to store once it is handed over (the CLI: files written; the web
/// interface: before the download).
pub(crate) async fn mint_certificate<S: Store>(
    dir: &DataDir,
    store: &S,
    telematik_id: &TelematikId,
    days: u32,
    now: Timestamp,
) -> Result<(IssuedPem, CertificateRecord), ServiceError> {
    let org = store
        .organisation(telematik_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("Organisation {telematik_id} ist nicht registriert.")))?;
    if days == 0 || days > 3650 {
        return Err(ServiceError::Usage("Gültigkeit: 1 bis 3650 Tage.".into()));
    }
    let ca = load_ca(dir)?;
    let subject = ClientSubject {
        telematik_id: org.telematik_id.clone(),
        profession: org.kind.profession_oid(),
        org_name: org.name.clone(),
    };
    let not_after = now
        .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let issued = oegd_pki::issue_client_cert(&ca, &subject, now, not_after)?;
    let record = CertificateRecord {
        serial_hex: issued.serial_hex.clone(),
        telematik_id: org.telematik_id.clone(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        issued_at: now,
        revoked_at: None,
    };
    let pem = IssuedPem {
        telematik_id: org.telematik_id,
        serial: issued.serial_hex,
        not_after: issued.not_after,
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
        ca_pem: ca.cert_pem,
    };
    Ok((pem, record))
}

/// Revokes every certificate of an organisation and publishes the new CRL, which a running
/// server honours for the next connection.
pub async fn revoke_certificates<S: Store>(
    dir: &DataDir,
    store: &S,
    telematik_id: &TelematikId,
    now: Timestamp,
) -> Result<Vec<CertificateRecord>, ServiceError> {
    let revoked = store.revoke_certificates(telematik_id, now, &Actor::Operator).await?;
    if revoked.is_empty() {
        return Err(ServiceError::Usage(format!("Für {telematik_id} gibt es kein gültiges Zertifikat zu sperren.")));
    }
    write_crl(dir, store, now).await?;
    Ok(revoked)
}

/// Writes the CRL of all revoked certificates (atomically).
pub async fn write_crl<S: Store>(dir: &DataDir, store: &S, now: Timestamp) -> Result<(), ServiceError> {
    let ca = load_ca(dir)?;
    let revoked: Vec<Revoked> = store
        .certificates()
        .await?
        .into_iter()
        .filter_map(|c| c.revoked_at.map(|at| Revoked { serial_hex: c.serial_hex, revoked_at: at }))
        .collect();
    let next_update =
        now.checked_add(SignedDuration::from_hours(24 * 30)).map_err(|e| ServiceError::Internal(e.to_string()))?;
    // The CRL number must grow with every new list; the time in seconds does.
    let number = u64::try_from(now.as_second()).unwrap_or(0);
    let pem = oegd_pki::create_crl(&ca, &revoked, number, now, next_update)?;
    write_atomically(&dir.crl(), pem.as_bytes(), false)?;
    Ok(())
}

/// Verifies the audit chain.
pub async fn verify_audit<S: Store>(store: &S) -> Result<Result<audit::Verified, audit::ChainBreak>, ServiceError> {
    let (entries, head) = store.audit_log().await?;
    Ok(audit::verify(&entries, head.as_ref()))
}
