//! The operator's pages (role `betrieb`): users (add with a one-time password and TOTP secret
//! shown once, lock, unlock), organisations, certificates (issue: a ZIP with client.crt,
//! client.key and ca.crt, handed over once and never stored with its key; revoke), and the
//! audit log with its verification. None of these pages shows children's data.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use oegd_domain::{Kreisschluessel, OrgKind, TelematikId};
use oegd_service::accounts::{self, StaffSession};
use oegd_service::{ServiceError, admin, operator};
use oegd_store::{Actor, Store, UserRole};
use serde::Deserialize;

use crate::UiState;
use crate::export::{Csv, zip};
use crate::office::{Pager, pager};
use crate::session::{check_csrf, staff_in};
use crate::views::{Layout, UiError, de_time, page};

type Result<T> = std::result::Result<T, UiError>;

async fn operator(state: &UiState, headers: &HeaderMap) -> Result<StaffSession> {
    staff_in(state, headers, &[UserRole::Betrieb]).await
}

fn actor(s: &StaffSession) -> Actor {
    Actor::User(s.login.clone())
}

#[derive(Deserialize)]
pub struct Hint {
    hinweis: Option<String>,
    seite: Option<usize>,
    format: Option<String>,
}

/// Fixed notices of these pages (never text from the request).
fn notice(key: Option<&str>) -> Option<(&'static str, &'static str)> {
    match key {
        Some("gesperrt") => Some(("ok", "Das Konto ist gesperrt; seine Sitzungen sind beendet.")),
        Some("entsperrt") => Some(("ok", "Das Konto ist entsperrt.")),
        Some("widerrufen") => Some(("ok", "Die Zertifikate sind gesperrt; die Sperrliste ist veröffentlicht.")),
        Some("organisation") => {
            Some(("ok", "Die Organisation ist angelegt. Zertifikate stellen Sie unter „Zertifikate“ aus."))
        }
        _ => None,
    }
}

fn usage_page(e: ServiceError) -> Result<String> {
    match e {
        ServiceError::Usage(text) => Ok(text),
        ServiceError::NotFound(text) => Ok(text),
        other => Err(other.into()),
    }
}

// --- users ----------------------------------------------------------------------------------

pub struct UserView {
    pub login: String,
    pub role: &'static str,
    pub organisation: String,
    pub status: &'static str,
    pub locked: bool,
    pub created: String,
}

pub struct Credentials {
    pub login: String,
    pub password: String,
    pub secret: String,
    pub uri: String,
}

#[derive(Template)]
#[template(path = "betrieb_benutzer.html")]
pub struct UsersPage {
    pub l: Layout,
    pub csrf: String,
    pub me: String,
    pub notice: Option<(&'static str, &'static str)>,
    pub error: Option<String>,
    pub created: Option<Credentials>,
    pub users: Vec<UserView>,
    pub orgs: Vec<(String, String)>,
    pub roles: Vec<(&'static str, &'static str)>,
}

async fn users_page(
    state: &UiState,
    s: &StaffSession,
    notice_key: Option<&str>,
    error: Option<String>,
    created: Option<Credentials>,
) -> Result<Response> {
    let now = state.clock.now();
    let names: std::collections::BTreeMap<TelematikId, String> =
        state.store.organisations().await?.into_iter().map(|o| (o.telematik_id, o.name)).collect();
    let users = state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| {
            let locked = u.locked_until.is_some_and(|t| t > now);
            UserView {
                status: if locked {
                    "gesperrt"
                } else if u.must_change_password {
                    "Startpasswort"
                } else {
                    "aktiv"
                },
                locked,
                role: u.role.label(),
                organisation: names.get(&u.organisation).cloned().unwrap_or_else(|| u.organisation.to_string()),
                created: de_time(u.created_at),
                login: u.login,
            }
        })
        .collect();
    let bad = error.is_some();
    let mut r = page(&UsersPage {
        l: Layout::for_staff("Benutzer", s, "/betrieb/benutzer"),
        csrf: s.csrf_token.clone(),
        me: s.login.clone(),
        notice: notice(notice_key),
        error,
        created,
        users,
        orgs: names.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
        roles: UserRole::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

pub async fn users(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<Hint>) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    if q.format.as_deref() == Some("csv") {
        let mut csv = Csv::new(&["Benutzername", "Rolle", "Organisation", "Gesperrt bis", "Startpasswort", "Angelegt"]);
        for u in state.store.users().await? {
            csv.row([
                u.login,
                u.role.as_str().to_owned(),
                u.organisation.to_string(),
                u.locked_until.map(|t| t.to_string()).unwrap_or_default(),
                if u.must_change_password { "ja" } else { "nein" }.to_owned(),
                u.created_at.to_string(),
            ]);
        }
        return Ok(csv.into_response("benutzer.csv"));
    }
    users_page(&state, &s, q.hinweis.as_deref(), None, None).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    benutzer: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    rolle: String,
}

pub async fn add_user(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(f): Form<NewUserForm>,
) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    let Some(role) = UserRole::parse(&f.rolle) else {
        return users_page(&state, &s, None, Some("Bitte wählen Sie eine Rolle.".into()), None).await;
    };
    let Ok(org) = TelematikId::parse(f.organisation.trim()) else {
        return users_page(&state, &s, None, Some("Bitte wählen Sie eine Organisation.".into()), None).await;
    };
    let login = f.benutzer.trim().to_lowercase();
    match accounts::add_user_by(&state.store, &login, &org, role, state.clock.now(), &actor(&s)).await {
        Ok(c) => {
            let secret = c.totp_uri.split("secret=").nth(1).and_then(|r| r.split('&').next()).unwrap_or("").to_owned();
            let created = Credentials { login: c.login.clone(), password: c.initial_password, secret, uri: c.totp_uri };
            users_page(&state, &s, None, None, Some(created)).await
        }
        Err(e) => {
            let text = usage_page(e)?;
            users_page(&state, &s, None, Some(text), None).await
        }
    }
}

#[derive(Deserialize)]
pub struct LockForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    aktion: String,
}

pub async fn lock_user(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(login): Path<String>,
    Form(f): Form<LockForm>,
) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    let lock = match f.aktion.as_str() {
        "sperren" => true,
        "entsperren" => false,
        _ => return Err(UiError::BadRequest("Unbekannte Aktion.")),
    };
    match operator::set_locked(&state.store, &login, lock, &actor(&s), state.clock.now()).await {
        Ok(()) => Ok(Redirect::to(if lock {
            "/betrieb/benutzer?hinweis=gesperrt"
        } else {
            "/betrieb/benutzer?hinweis=entsperrt"
        })
        .into_response()),
        Err(ServiceError::NotFound(_)) => Err(UiError::NotFound),
        Err(e) => {
            let text = usage_page(e)?;
            users_page(&state, &s, None, Some(text), None).await
        }
    }
}

// --- organisations --------------------------------------------------------------------------

pub struct OrgView {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub kreise: String,
    pub users: usize,
    pub valid_certs: usize,
}

#[derive(Template)]
#[template(path = "betrieb_organisationen.html")]
pub struct OrgsPage {
    pub l: Layout,
    pub csrf: String,
    pub notice: Option<(&'static str, &'static str)>,
    pub error: Option<String>,
    pub orgs: Vec<OrgView>,
    pub kinds: Vec<(&'static str, &'static str)>,
}

pub async fn organisations(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<Hint>,
) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    orgs_page(&state, &s, q.hinweis.as_deref(), None, q.format.as_deref() == Some("csv")).await
}

async fn orgs_page(
    state: &UiState,
    s: &StaffSession,
    notice_key: Option<&str>,
    error: Option<String>,
    csv: bool,
) -> Result<Response> {
    let now = state.clock.now();
    let users = state.store.users().await?;
    let certs = state.store.certificates().await?;
    let orgs: Vec<OrgView> = state
        .store
        .organisations()
        .await?
        .into_iter()
        .map(|o| OrgView {
            users: users.iter().filter(|u| u.organisation == o.telematik_id).count(),
            valid_certs: certs
                .iter()
                .filter(|c| c.telematik_id == o.telematik_id && c.revoked_at.is_none() && c.not_after > now)
                .count(),
            id: o.telematik_id.to_string(),
            kind: o.kind.label(),
            kreise: o.kreise.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            name: o.name,
        })
        .collect();
    if csv {
        let mut csv = Csv::new(&["Telematik-ID", "Art", "Name", "Kreise", "Benutzer", "Gültige Zertifikate"]);
        for o in orgs {
            csv.row([o.id, o.kind.to_owned(), o.name, o.kreise, o.users.to_string(), o.valid_certs.to_string()]);
        }
        return Ok(csv.into_response("organisationen.csv"));
    }
    let bad = error.is_some();
    let mut r = page(&OrgsPage {
        l: Layout::for_staff("Organisationen", s, "/betrieb/organisationen"),
        csrf: s.csrf_token.clone(),
        notice: notice(notice_key),
        error,
        orgs,
        kinds: OrgKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

#[derive(Deserialize)]
pub struct NewOrgForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    art: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    telematik_id: String,
    #[serde(default)]
    kreise: String,
}

/// Registers an organisation, as `oegd-gateway org add` does; its certificates are issued on
/// the certificates page.
pub async fn add_organisation(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(f): Form<NewOrgForm>,
) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    let refuse = |text: String| orgs_page(&state, &s, None, Some(text), false);
    let Some(kind) = OrgKind::parse(&f.art) else {
        return refuse("Bitte wählen Sie die Art der Organisation.".into()).await;
    };
    let Ok(id) = TelematikId::parse(f.telematik_id.trim()) else {
        return refuse("Die Telematik-ID ist ungültig (z. B. 1-20123456789).".into()).await;
    };
    let mut kreise = Vec::new();
    for k in f.kreise.split([',', ' ', ';']).filter(|k| !k.is_empty()) {
        match Kreisschluessel::parse(k) {
            Ok(k) => kreise.push(k),
            // the value is the operator's own input, shown back only to them
            Err(_) => return refuse(format!("„{k}“ ist kein Kreisschlüssel (fünf Ziffern, z. B. 13071).")).await,
        }
    }
    match admin::add_organisation_by(&state.store, kind, &f.name, id, kreise, state.clock.now(), &actor(&s)).await {
        Ok(_) => Ok(Redirect::to("/betrieb/organisationen?hinweis=organisation").into_response()),
        Err(e) => {
            let text = usage_page(e)?;
            refuse(text).await
        }
    }
}

// --- certificates ---------------------------------------------------------------------------

pub struct CertView {
    pub serial: String,
    pub org: String,
    pub org_name: String,
    pub issued: String,
    pub not_after: String,
    pub status: &'static str,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "betrieb_zertifikate.html")]
pub struct CertsPage {
    pub l: Layout,
    pub csrf: String,
    pub notice: Option<(&'static str, &'static str)>,
    pub error: Option<String>,
    pub certs: Vec<CertView>,
    pub orgs: Vec<(String, String)>,
    pub can_issue: bool,
}

async fn certs_page(
    state: &UiState,
    s: &StaffSession,
    notice_key: Option<&str>,
    error: Option<String>,
) -> Result<Response> {
    let now = state.clock.now();
    let names: std::collections::BTreeMap<TelematikId, String> =
        state.store.organisations().await?.into_iter().map(|o| (o.telematik_id, o.name)).collect();
    let mut certs: Vec<CertView> = state
        .store
        .certificates()
        .await?
        .into_iter()
        .map(|c| {
            let status = if c.revoked_at.is_some() {
                "gesperrt"
            } else if c.not_after <= now {
                "abgelaufen"
            } else {
                "gültig"
            };
            CertView {
                serial: c.serial_hex,
                org_name: names.get(&c.telematik_id).cloned().unwrap_or_default(),
                org: c.telematik_id.to_string(),
                issued: de_time(c.issued_at),
                not_after: de_time(c.not_after),
                revocable: status == "gültig",
                status,
            }
        })
        .collect();
    certs.reverse();
    let bad = error.is_some();
    let mut r = page(&CertsPage {
        l: Layout::for_staff("Zertifikate", s, "/betrieb/zertifikate"),
        csrf: s.csrf_token.clone(),
        notice: notice(notice_key),
        error,
        certs,
        orgs: names.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
        can_issue: state.data_dir.is_some(),
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

pub async fn certificates(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<Hint>) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    if q.format.as_deref() == Some("csv") {
        let mut csv = Csv::new(&["Seriennummer", "Telematik-ID", "Ausgestellt", "Gültig bis", "Gesperrt"]);
        for c in state.store.certificates().await? {
            csv.row([
                c.serial_hex,
                c.telematik_id.to_string(),
                c.issued_at.to_string(),
                c.not_after.to_string(),
                c.revoked_at.map(|t| t.to_string()).unwrap_or_default(),
            ]);
        }
        return Ok(csv.into_response("zertifikate.csv"));
    }
    certs_page(&state, &s, q.hinweis.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    tage: String,
}

/// Issues a certificate and answers with the ZIP: the key exists only in this response.
pub async fn issue(State(state): State<UiState>, headers: HeaderMap, Form(f): Form<IssueForm>) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    let Some(dir) = state.data_dir.as_ref() else {
        return certs_page(&state, &s, None, Some("Dieser Server kann keine Zertifikate ausstellen.".into())).await;
    };
    let Ok(org) = TelematikId::parse(f.organisation.trim()) else {
        return certs_page(&state, &s, None, Some("Bitte wählen Sie eine Organisation.".into())).await;
    };
    let Ok(days) = f.tage.trim().parse::<u32>() else {
        return certs_page(&state, &s, None, Some("Gültigkeit: bitte eine Zahl von Tagen (1 bis 3650).".into())).await;
    };
    let issued = match operator::issue_certificate(dir, &state.store, &org, days, &actor(&s), state.clock.now()).await {
        Ok(i) => i,
        Err(e) => {
            let text = usage_page(e)?;
            return certs_page(&state, &s, None, Some(text)).await;
        }
    };
    let archive = zip(&[
        ("client.crt", issued.cert_pem.as_bytes()),
        ("client.key", issued.key_pem.as_bytes()),
        ("ca.crt", issued.ca_pem.as_bytes()),
    ]);
    let name = format!(
        "zertifikat-{}-{}.zip",
        issued.telematik_id.as_str().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
        issued.serial
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        archive,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    organisation: String,
}

pub async fn revoke(State(state): State<UiState>, headers: HeaderMap, Form(f): Form<RevokeForm>) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    let Some(dir) = state.data_dir.as_ref() else {
        return certs_page(&state, &s, None, Some("Dieser Server kann keine Zertifikate sperren.".into())).await;
    };
    let org = TelematikId::parse(f.organisation.trim()).map_err(|_| UiError::BadRequest("Unbekannte Organisation."))?;
    match operator::revoke_certificates(dir, &state.store, &org, &actor(&s), state.clock.now()).await {
        Ok(_) => Ok(Redirect::to("/betrieb/zertifikate?hinweis=widerrufen").into_response()),
        Err(e) => {
            let text = usage_page(e)?;
            certs_page(&state, &s, None, Some(text)).await
        }
    }
}

// --- audit log ------------------------------------------------------------------------------

pub struct AuditView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub details: String,
}

#[derive(Template)]
#[template(path = "betrieb_protokoll.html")]
pub struct AuditLogPage {
    pub l: Layout,
    pub intact: bool,
    pub verification: String,
    pub entries: Vec<AuditView>,
    pub pager: Pager,
}

pub async fn audit_log(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<Hint>) -> Result<Response> {
    let s = operator(&state, &headers).await?;
    let csv = q.format.as_deref() == Some("csv");
    let all = operator::audit_page(&state.store, 0, 0).await?;
    let (pg, range) = pager(all.total, q.seite, "/betrieb/protokoll");
    let (offset, limit) = if csv { (0, all.total) } else { (range.start, range.len()) };
    let p = operator::audit_page(&state.store, offset, limit).await?;
    if csv {
        let mut out = Csv::new(&["Nr.", "Zeit", "Wer", "Aktion", "Objekt", "Details", "Hash"]);
        for e in p.entries {
            out.row([e.seq.to_string(), e.at, e.actor, e.action, e.object, e.details, e.hash]);
        }
        return Ok(out.into_response("audit-protokoll.csv"));
    }
    let (intact, verification) = match &p.verification {
        Ok(v) => (true, format!("Die Kette ist intakt: alle {} Einträge geprüft.", v.entries)),
        Err(b) => (false, format!("Die Kette ist ab Eintrag {} verletzt: {}", b.seq, b.reason)),
    };
    let entries = p
        .entries
        .into_iter()
        .map(|e| AuditView {
            at: e.at.parse::<jiff::Timestamp>().map(de_time).unwrap_or(e.at),
            seq: e.seq,
            actor: e.actor,
            action: e.action,
            object: e.object,
            details: e.details,
        })
        .collect();
    Ok(page(&AuditLogPage {
        l: Layout::for_staff("Audit-Protokoll", &s, "/betrieb/protokoll"),
        intact,
        verification,
        entries,
        pager: pg,
    }))
}
