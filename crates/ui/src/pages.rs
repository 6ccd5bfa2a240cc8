//! The handlers: each checks the session and role, calls the service core, renders a page.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use oegd_domain::{Checkup, MeldeId};
use oegd_service::accounts;
use oegd_service::cases::{self, CaseStatus, Outcome};
use oegd_service::linking::{self, Verdict};
use oegd_store::{Actor, LinkState, ReportId, Store, UserRole};
use serde::Deserialize;

use crate::UiState;
use crate::session::{
    FORM_COOKIE, HALF_COOKIE, PeerAddr, SESSION_COOKIE, check_csrf, clear_cookie, cookie, login_attempt, set_cookie,
    staff, staff_in,
};
use crate::views::*;

type Result<T> = std::result::Result<T, UiError>;

/// Same answer for unknown login, wrong password, locked account: nothing tells them apart.
const LOGIN_FAILED: &str = "Anmeldung fehlgeschlagen: Benutzername oder Passwort ist falsch, oder das Konto ist nach \
     wiederholten Fehlversuchen vorübergehend gesperrt.";
const TOO_MANY_LOGINS: &str = "Zu viele Anmeldeversuche von Ihrem Rechner. Bitte warten Sie einen Moment und \
     versuchen Sie es dann erneut.";
const CODE_FAILED: &str = "Der Code ist nicht richtig oder abgelaufen. Bitte geben Sie den aktuellen Code ein.";

#[derive(Deserialize)]
pub struct NoticeQuery {
    hinweis: Option<String>,
}

fn redirect_with_cookies(to: &str, cookies: &[String]) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        if let Ok(v) = c.parse() {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn berlin_today(state: &UiState) -> jiff::civil::Date {
    state.clock.now().to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC)).date()
}

pub async fn stylesheet() -> Response {
    crate::views::stylesheet()
}

pub async fn not_found() -> Response {
    UiError::NotFound.into_response()
}

// --- login --------------------------------------------------------------------------------

fn login_page(csrf: String, error: Option<&'static str>, status: StatusCode) -> Result<Response> {
    let mut r = page(&LoginPage { l: Layout::public("Anmeldung"), csrf: csrf.clone(), error });
    *r.status_mut() = status;
    if let Ok(v) = set_cookie(FORM_COOKIE, &csrf, Some(3600)).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

pub async fn login_form() -> Result<Response> {
    login_page(accounts::new_token()?, None, StatusCode::OK)
}

/// Every login attempt (password or code) takes a token of its address's bucket; without
/// one: `429` with `Retry-After` and the login page saying so.
fn login_rate(peer: Option<&PeerAddr>) -> Result<Option<Response>> {
    // every request of `serve` has its peer; without (never), all share one bucket
    let ip = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.0.ip());
    match login_attempt(ip) {
        Ok(()) => Ok(None),
        Err(secs) => {
            tracing::warn!(%ip, "login attempts from one address above the rate limit");
            let mut r = login_page(accounts::new_token()?, Some(TOO_MANY_LOGINS), StatusCode::TOO_MANY_REQUESTS)?;
            if let Ok(v) = secs.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(Some(r))
        }
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    benutzer: String,
    #[serde(default)]
    passwort: String,
}

pub async fn login(
    State(state): State<UiState>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response> {
    if let Some(throttled) = login_rate(peer.as_ref())? {
        return Ok(throttled);
    }
    let expected = cookie(&headers, FORM_COOKIE).ok_or(UiError::Csrf)?;
    if !accounts::constant_time_eq(&expected, &f.csrf) {
        return Err(UiError::Csrf);
    }
    let login = f.benutzer.trim().to_lowercase();
    match accounts::login_password(&state.store, &login, &f.passwort, state.clock.now()).await? {
        Some(half) => Ok(redirect_with_cookies(
            "/anmelden/code",
            &[set_cookie(HALF_COOKIE, &half.token, Some(300)), clear_cookie(FORM_COOKIE)],
        )),
        None => login_page(accounts::new_token()?, Some(LOGIN_FAILED), StatusCode::UNAUTHORIZED),
    }
}

pub async fn code_form(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    let Some(token) = cookie(&headers, HALF_COOKIE) else { return Ok(Redirect::to("/anmelden").into_response()) };
    let Some(half) = accounts::half_session(&state.store, &token, state.clock.now()).await? else {
        return Ok(Redirect::to("/anmelden").into_response());
    };
    Ok(page(&CodePage { l: Layout::public("Zweiter Faktor"), csrf: half.csrf_token, error: None }))
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn code(
    State(state): State<UiState>,
    peer: Option<PeerAddr>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Result<Response> {
    if let Some(throttled) = login_rate(peer.as_ref())? {
        return Ok(throttled);
    }
    let Some(token) = cookie(&headers, HALF_COOKIE) else { return Ok(Redirect::to("/anmelden").into_response()) };
    let now = state.clock.now();
    let Some(half) = accounts::half_session(&state.store, &token, now).await? else {
        return Ok(Redirect::to("/anmelden").into_response());
    };
    if !accounts::constant_time_eq(&half.csrf_token, &f.csrf) {
        return Err(UiError::Csrf);
    }
    match accounts::login_second_factor(&state.store, &token, &f.code, now).await? {
        Some(session) => {
            Ok(redirect_with_cookies("/", &[set_cookie(SESSION_COOKIE, &session, None), clear_cookie(HALF_COOKIE)]))
        }
        None => {
            // the half session survives a wrong code (until the lockout), so the person may retry
            match accounts::half_session(&state.store, &token, now).await? {
                Some(h) => {
                    let mut r = page(&CodePage {
                        l: Layout::public("Zweiter Faktor"),
                        csrf: h.csrf_token,
                        error: Some(CODE_FAILED),
                    });
                    *r.status_mut() = StatusCode::UNAUTHORIZED;
                    Ok(r)
                }
                None => login_page(accounts::new_token()?, Some(LOGIN_FAILED), StatusCode::UNAUTHORIZED),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn logout(State(state): State<UiState>, headers: HeaderMap, Form(f): Form<CsrfOnly>) -> Result<Response> {
    let s = staff(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        accounts::logout(&state.store, &token, state.clock.now()).await?;
    }
    Ok(redirect_with_cookies("/anmelden", &[clear_cookie(SESSION_COOKIE)]))
}

pub async fn password_form(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    let s = staff(&state, &headers).await?;
    Ok(page(&PasswordPage {
        l: Layout::for_staff("Passwort ändern", &s, "/passwort"),
        csrf: s.csrf_token.clone(),
        must_change: s.must_change_password,
        min_chars: accounts::MIN_PASSWORD_CHARS,
        error: None,
    }))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    bisher: String,
    #[serde(default)]
    neu: String,
    #[serde(default)]
    wiederholung: String,
}

pub async fn password(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Result<Response> {
    let s = staff(&state, &headers).await?;
    check_csrf(&s, &f.csrf)?;
    match accounts::change_password(&state.store, &s.login, &f.bisher, &f.neu, &f.wiederholung, state.clock.now()).await
    {
        Ok(()) => Ok(Redirect::to("/?hinweis=passwort").into_response()),
        Err(oegd_service::ServiceError::Usage(text)) => {
            let mut r = page(&PasswordPage {
                l: Layout::for_staff("Passwort ändern", &s, "/passwort"),
                csrf: s.csrf_token.clone(),
                must_change: s.must_change_password,
                min_chars: accounts::MIN_PASSWORD_CHARS,
                error: Some(text),
            });
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

// --- start pages --------------------------------------------------------------------------

pub async fn start(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> Result<Response> {
    let s = staff_in(&state, &headers, &UserRole::ALL).await?;
    let l = Layout::for_staff("Übersicht", &s, "/").with_notice(q.hinweis.as_deref());
    match s.role {
        UserRole::Landesamt => {
            let kept = state.office_views.start_page(&state.store, &state.profile, state.clock.now()).await?;
            let view = &kept.value;
            let o = view.overview.clone();
            Ok(page(&LandesamtPage {
                l,
                due_reminders: view.due.get("reminder").copied().unwrap_or(0),
                due_escalations: view.due.get("escalation").copied().unwrap_or(0),
                computed_at: de_time(kept.computed_at),
                week_start: o.week_start.map(de).unwrap_or_default(),
                last_run: o.last_run.map(de).unwrap_or_else(|| "noch kein Lauf".into()),
                o,
            }))
        }
        UserRole::Gesundheitsamt => Ok(Redirect::to("/faelle").into_response()),
        UserRole::Praxis => Ok(page(&PraxisPage { l, organisation: s.organisation.name.clone() })),
        UserRole::Betrieb => {
            let orgs = state
                .store
                .organisations()
                .await?
                .into_iter()
                .map(|o| {
                    let kreise: Vec<&str> = o.kreise.iter().map(|k| k.as_str()).collect();
                    (o.telematik_id.to_string(), o.kind.label(), o.name, kreise.join(", "))
                })
                .collect();
            let now = state.clock.now();
            let users = state
                .store
                .users()
                .await?
                .into_iter()
                .map(|u| {
                    let status = if u.locked_until.is_some_and(|t| t > now) {
                        "gesperrt"
                    } else if u.must_change_password {
                        "Startpasswort"
                    } else {
                        "aktiv"
                    };
                    (u.login, u.role.label(), u.organisation.to_string(), status)
                })
                .collect();
            Ok(page(&OperatorPage { l, orgs, users }))
        }
    }
}

// --- review queue -------------------------------------------------------------------------

fn state_label(s: LinkState) -> &'static str {
    match s {
        LinkState::Linked => "automatisch zugeordnet",
        LinkState::Review => "in Prüfung",
        LinkState::Unlinked => "ohne Zuordnung",
        LinkState::Confirmed => "von einer Person zugeordnet",
        LinkState::Rejected => "abgelehnt (keines der Kinder)",
    }
}

pub async fn queue(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let entries = linking::review_queue(&state.store).await?;
    let rows = entries
        .iter()
        .map(|e| QueueRow {
            report_id: e.report_id.0.clone(),
            received: de(e.received),
            checkup: e.untersuchung.name(),
            name: format!("{} {}", e.reported.given_name, e.reported.family_name),
            birth_date: de(e.reported.birth_date),
            candidates: e.candidates.len(),
            best_score: e.candidates.first().map(|c| format!("{:.1}", c.score)).unwrap_or_else(|| "–".into()),
        })
        .collect();
    Ok(page(&QueuePage {
        l: Layout::for_staff("Prüfung", &s, "/pruefung").with_notice(q.hinweis.as_deref()),
        entries: rows,
    }))
}

pub async fn entry(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(report_id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let e = linking::review_entry(&state.store, &ReportId(report_id)).await?;
    let dash = || "–".to_owned();
    let view = EntryView {
        report_id: e.report_id.0.clone(),
        state: state_label(e.state),
        linked: e.melde_id.as_ref().map(|m| m.to_string()),
        decided: matches!(e.state, LinkState::Confirmed | LinkState::Rejected | LinkState::Linked),
        decided_by: if e.decided_by == Actor::System.to_string() {
            "dem Verfahren".into()
        } else {
            e.decided_by.clone()
        },
        version: e.version,
        reason: e.reason.clone(),
        name: format!("{} {}", e.reported.given_name, e.reported.family_name),
        birth_name: e.reported.birth_name.clone().unwrap_or_else(dash),
        birth_date: de(e.reported.birth_date),
        kvnr: e.reported.kvnr.clone().unwrap_or_else(dash),
        checkup: e.untersuchung.name(),
        exam_date: de(e.exam_date),
        received: de(e.received),
        sender: e.sender.to_string(),
        candidates: e
            .candidates
            .iter()
            .map(|c| CandidateView {
                melde_id: c.melde_id.to_string(),
                name: match (&c.given_names, &c.family_name) {
                    (Some(g), Some(f)) => format!("{} {}", g.join(" "), f),
                    _ => "nicht mehr im Melderegister".into(),
                },
                birth_name: c.birth_name.clone().unwrap_or_else(dash),
                birth_date: c.birth_date.map(de).unwrap_or_else(dash),
                kreis: c.kreis.clone().unwrap_or_else(dash),
                score: format!("{:.2}", c.score),
                comparison: c.comparison.clone(),
            })
            .collect(),
    };
    Ok(page(&EntryPage {
        l: Layout::for_staff("Prüfung", &s, "/pruefung").with_notice(q.hinweis.as_deref()),
        csrf: s.csrf_token.clone(),
        e: view,
    }))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    aktion: String,
    #[serde(default)]
    kind: String,
}

pub async fn decide(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(report_id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    check_csrf(&s, &f.csrf)?;
    let version: i64 = f.version.parse().map_err(|_| UiError::BadRequest("Die Version des Eintrags fehlt."))?;
    let verdict = match f.aktion.as_str() {
        "annehmen" => {
            let child = MeldeId::parse(f.kind.trim())
                .map_err(|_| UiError::BadRequest("Die Melde-ID des Kindes ist nicht lesbar."))?;
            Verdict::Accept(Some(child))
        }
        "ablehnen" => Verdict::Reject,
        "wiederoeffnen" => Verdict::Reopen,
        _ => return Err(UiError::BadRequest("Unbekannte Entscheidung.")),
    };
    let id = ReportId(report_id);
    let back = |hint: &str| Redirect::to(&format!("/pruefung/{}?hinweis={hint}", id.0)).into_response();
    let now = state.clock.now();
    match linking::decide(
        &state.store,
        &id,
        &verdict,
        Some(version),
        berlin_today(&state),
        &Actor::User(s.login.clone()),
        now,
    )
    .await
    {
        Ok(_) => Ok(back("gespeichert")),
        Err(oegd_service::ServiceError::Conflict(_)) => Ok(back("konflikt")),
        Err(oegd_service::ServiceError::NotFound(_)) if matches!(verdict, Verdict::Accept(_)) => {
            // the report exists (it has a decision) or the child does not: tell which
            if state.store.link_decision(&id).await?.is_none() {
                return Err(UiError::NotFound);
            }
            Ok(back("kind_unbekannt"))
        }
        Err(e) => Err(e.into()),
    }
}

// --- health office cases -----------------------------------------------------------------

fn status_view(s: CaseStatus) -> (&'static str, &'static str) {
    let class = match s {
        CaseStatus::Open => "offen",
        CaseStatus::InProgress => "bearbeitung",
        CaseStatus::Closed => "abgeschlossen",
    };
    (s.label(), class)
}

fn case_href(c: &cases::Case) -> String {
    format!("/faelle/{}/{}", c.melde_id, c.checkup.name())
}

pub async fn cases(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Gesundheitsamt]).await?;
    let list = cases::cases(&state.store, &s.organisation.kreise).await?;
    let rows = list
        .iter()
        .map(|c| {
            let (status, status_class) = status_view(c.status);
            CaseRow {
                href: case_href(c),
                status,
                status_class,
                name: c
                    .child
                    .as_ref()
                    .map_or_else(|| "(Daten gelöscht)".into(), |k| format!("{} {}", k.given_names, k.family_name)),
                birth_date: c.child.as_ref().map(|k| de(k.birth_date)).unwrap_or_default(),
                checkup: c.checkup.name(),
                escalated_on: de(c.escalated_on),
                all_clear: c.all_clear.map(de).unwrap_or_else(|| "–".into()),
                last_outcome: c
                    .outcomes
                    .last()
                    .and_then(|o| Outcome::parse(&o.outcome))
                    .map_or_else(|| "–".into(), |o| o.label().to_owned()),
            }
        })
        .collect();
    let kreise: Vec<&str> = s.organisation.kreise.iter().map(|k| k.as_str()).collect();
    Ok(page(&CasesPage {
        l: Layout::for_staff("Fälle", &s, "/faelle"),
        organisation: s.organisation.name.clone(),
        kreise: kreise.join(", "),
        cases: rows,
    }))
}

fn case_key(melde_id: &str, checkup: &str) -> Result<(MeldeId, Checkup)> {
    let m = MeldeId::parse(melde_id).map_err(|_| UiError::NotFound)?;
    let c = Checkup::from_name(checkup).ok_or(UiError::NotFound)?;
    Ok((m, c))
}

pub async fn case(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path((melde_id, checkup)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Gesundheitsamt]).await?;
    let (m, u) = case_key(&melde_id, &checkup)?;
    let c = cases::case(&state.store, &s.organisation.kreise, &m, u).await?;
    let (status, status_class) = status_view(c.status);
    let child = c.child.as_ref();
    let view = CaseView {
        href: case_href(&c),
        melde_id: c.melde_id.to_string(),
        status,
        status_class,
        name: child.map_or_else(|| "(Daten gelöscht)".into(), |k| format!("{} {}", k.given_names, k.family_name)),
        birth_date: child.map(|k| de(k.birth_date)).unwrap_or_default(),
        guardians: child.map(|k| k.guardians.join("; ")).filter(|g| !g.is_empty()).unwrap_or_else(|| "–".into()),
        street: child.map(|k| k.street.clone()).unwrap_or_default(),
        place: child.map(|k| k.place.clone()).unwrap_or_default(),
        auskunftssperre: child.is_some_and(|k| k.auskunftssperre),
        checkup: c.checkup.name(),
        escalated_on: de(c.escalated_on),
        district: c.district.to_string(),
        all_clear_on: c.all_clear.map(de),
        outcomes: c
            .outcomes
            .iter()
            .map(|o| OutcomeView {
                at: de_time(o.recorded_at),
                label: Outcome::parse(&o.outcome).map_or_else(|| o.outcome.clone(), |x| x.label().to_owned()),
                note: o.note.clone(),
                by: o.recorded_by.trim_start_matches("user:").to_owned(),
            })
            .collect(),
    };
    Ok(page(&CasePage {
        l: Layout::for_staff("Fall", &s, "/faelle").with_notice(q.hinweis.as_deref()),
        csrf: s.csrf_token.clone(),
        c: view,
        outcomes: Outcome::ALL.iter().map(|o| (o.as_str(), o.label())).collect(),
    }))
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    ergebnis: String,
    #[serde(default)]
    notiz: String,
}

pub async fn record_outcome(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path((melde_id, checkup)): Path<(String, String)>,
    Form(f): Form<OutcomeForm>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Gesundheitsamt]).await?;
    check_csrf(&s, &f.csrf)?;
    let (m, u) = case_key(&melde_id, &checkup)?;
    let outcome = Outcome::parse(&f.ergebnis).ok_or(UiError::BadRequest("Bitte wählen Sie ein Ergebnis aus."))?;
    match cases::record_outcome(
        &state.store,
        &s.organisation.kreise,
        &m,
        u,
        outcome,
        &f.notiz,
        &Actor::User(s.login.clone()),
        state.clock.now(),
    )
    .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/faelle/{m}/{}?hinweis=gespeichert", u.name())).into_response()),
        Err(oegd_service::ServiceError::Usage(_)) => {
            Err(UiError::BadRequest("Die Notiz darf höchstens 4000 Zeichen lang sein."))
        }
        Err(e) => Err(e.into()),
    }
}

// --- letters ------------------------------------------------------------------------------

pub async fn letter_pdf(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response> {
    staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let id = file.strip_suffix(".pdf").ok_or(UiError::NotFound)?;
    let key = oegd_service::letters::parse_letter_id(id).map_err(|_| UiError::NotFound)?;
    let pdf = state.store.letter_pdf(&key).await?.filter(|b| !b.is_empty()).ok_or(UiError::NotFound)?;
    let name = format!("brief-{}.pdf", id.replace(':', "-"));
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        pdf,
    )
        .into_response())
}
