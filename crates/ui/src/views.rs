//! Templates, their view models, and the one mapping of errors to pages.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use oegd_service::ServiceError;
use oegd_service::accounts::StaffSession;
use oegd_store::{StoreError, UserRole};

/// A day as Germans write it.
pub fn de(d: jiff::civil::Date) -> String {
    d.strftime("%d.%m.%Y").to_string()
}

pub fn de_time(t: jiff::Timestamp) -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
    t.to_zoned(tz).strftime("%d.%m.%Y %H:%M").to_string()
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

pub struct UserBar {
    pub login: String,
    pub role: &'static str,
    pub organisation: String,
    pub csrf: String,
}

pub struct Notice {
    pub kind: &'static str,
    pub text: &'static str,
}

/// What the frame of every page shows.
pub struct Layout {
    pub title: String,
    pub user: Option<UserBar>,
    pub nav: Vec<NavItem>,
    pub notice: Option<Notice>,
}

impl Layout {
    pub fn public(title: &str) -> Layout {
        Layout { title: title.to_owned(), user: None, nav: Vec::new(), notice: None }
    }

    pub fn for_staff(title: &str, s: &StaffSession, current: &str) -> Layout {
        let items: &[(&'static str, &'static str)] = match s.role {
            UserRole::Landesamt => &[
                ("/", "Übersicht"),
                ("/statistik", "Statistik"),
                ("/pruefung", "Prüfung"),
                ("/suche", "Meldungen"),
                ("/eskalationen", "Eskalationen"),
                ("/briefe", "Briefe"),
                ("/melderegister", "Melderegister"),
            ],
            UserRole::Gesundheitsamt => &[("/faelle", "Fälle")],
            UserRole::Praxis => &[("/meldung", "Untersuchung melden"), ("/meldungen", "Meine Meldungen")],
            UserRole::Betrieb => &[
                ("/", "Start"),
                ("/betrieb/benutzer", "Benutzer"),
                ("/betrieb/organisationen", "Organisationen"),
                ("/betrieb/zertifikate", "Zertifikate"),
                ("/betrieb/protokoll", "Audit-Protokoll"),
            ],
        };
        let mut nav: Vec<NavItem> =
            items.iter().map(|(href, label)| NavItem { href, label, current: *href == current }).collect();
        nav.push(NavItem { href: "/passwort", label: "Passwort", current: current == "/passwort" });
        Layout {
            title: title.to_owned(),
            user: Some(UserBar {
                login: s.login.clone(),
                role: s.role.label(),
                organisation: s.organisation.name.clone(),
                csrf: s.csrf_token.clone(),
            }),
            nav,
            notice: None,
        }
    }

    /// A fixed message for a `?hinweis=` key (never text from the request).
    pub fn with_notice(mut self, key: Option<&str>) -> Layout {
        self.notice = match key {
            Some("gespeichert") => Some(Notice { kind: "ok", text: "Gespeichert." }),
            Some("konflikt") => Some(Notice {
                kind: "bad",
                text: "Diese Meldung wurde inzwischen von jemand anderem entschieden. Bitte prüfen Sie den aktuellen Stand und entscheiden Sie erneut.",
            }),
            Some("kind_unbekannt") => Some(Notice {
                kind: "bad",
                text: "Dieses Kind ist nicht im Melderegister. Bitte prüfen Sie die Melde-ID.",
            }),
            Some("passwort") => Some(Notice { kind: "ok", text: "Ihr Passwort wurde geändert." }),
            _ => None,
        };
        self
    }
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub l: Layout,
    pub csrf: String,
    pub error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "code.html")]
pub struct CodePage {
    pub l: Layout,
    pub csrf: String,
    pub error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub l: Layout,
    pub csrf: String,
    pub must_change: bool,
    pub min_chars: usize,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub heading: &'static str,
    pub text: &'static str,
}

#[derive(Template)]
#[template(path = "landesamt.html")]
pub struct LandesamtPage {
    pub l: Layout,
    pub o: oegd_service::overview::Overview,
    /// What the next daily run would create that is not recorded yet: reminders, escalations.
    pub due_reminders: usize,
    pub due_escalations: usize,
    /// When these numbers were computed: reports may have arrived since
    /// (`office_views::MAX_STALENESS`).
    pub computed_at: String,
    pub week_start: String,
    pub last_run: String,
}

pub struct QueueRow {
    pub report_id: String,
    pub received: String,
    pub checkup: &'static str,
    pub name: String,
    pub birth_date: String,
    pub candidates: usize,
    pub best_score: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
pub struct QueuePage {
    pub l: Layout,
    pub entries: Vec<QueueRow>,
}

pub struct CandidateView {
    pub melde_id: String,
    pub name: String,
    pub birth_name: String,
    pub birth_date: String,
    pub kreis: String,
    pub score: String,
    pub comparison: Vec<String>,
}

pub struct EntryView {
    pub report_id: String,
    pub state: &'static str,
    pub linked: Option<String>,
    pub decided: bool,
    pub decided_by: String,
    pub version: i64,
    pub reason: String,
    pub name: String,
    pub birth_name: String,
    pub birth_date: String,
    pub kvnr: String,
    pub checkup: &'static str,
    pub exam_date: String,
    pub received: String,
    pub sender: String,
    pub candidates: Vec<CandidateView>,
}

#[derive(Template)]
#[template(path = "entry.html")]
pub struct EntryPage {
    pub l: Layout,
    pub csrf: String,
    pub e: EntryView,
}

pub struct CaseRow {
    pub href: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub name: String,
    pub birth_date: String,
    pub checkup: &'static str,
    pub escalated_on: String,
    pub all_clear: String,
    pub last_outcome: String,
}

#[derive(Template)]
#[template(path = "cases.html")]
pub struct CasesPage {
    pub l: Layout,
    pub organisation: String,
    pub kreise: String,
    pub cases: Vec<CaseRow>,
}

pub struct OutcomeView {
    pub at: String,
    pub label: String,
    pub note: String,
    pub by: String,
}

pub struct CaseView {
    pub href: String,
    pub melde_id: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub name: String,
    pub birth_date: String,
    pub guardians: String,
    pub street: String,
    pub place: String,
    pub auskunftssperre: bool,
    pub checkup: &'static str,
    pub escalated_on: String,
    pub district: String,
    pub all_clear_on: Option<String>,
    pub outcomes: Vec<OutcomeView>,
}

#[derive(Template)]
#[template(path = "case.html")]
pub struct CasePage {
    pub l: Layout,
    pub csrf: String,
    pub c: CaseView,
    pub outcomes: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "operator.html")]
pub struct OperatorPage {
    pub l: Layout,
    pub orgs: Vec<(String, &'static str, String, String)>,
    pub users: Vec<(String, &'static str, String, &'static str)>,
}

#[derive(Template)]
#[template(path = "praxis.html")]
pub struct PraxisPage {
    pub l: Layout,
    pub organisation: String,
}

/// Renders a template as a page.
pub fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Interner Fehler").into_response()
        }
    }
}

/// Every way a request can fail, each answered once here.
#[derive(Debug)]
pub enum UiError {
    /// No (valid) session: to the login page.
    Login,
    /// The one-time password must be replaced first.
    ChangePassword,
    Forbidden,
    NotFound,
    Csrf,
    BadRequest(&'static str),
    Internal(String),
}

impl From<ServiceError> for UiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(_) => UiError::NotFound,
            other => UiError::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        UiError::from(ServiceError::from(e))
    }
}

fn message(status: StatusCode, heading: &'static str, text: &'static str) -> Response {
    let mut r = page(&MessagePage { l: Layout::public(heading), heading, text });
    *r.status_mut() = status;
    r
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => Redirect::to("/anmelden").into_response(),
            UiError::ChangePassword => Redirect::to("/passwort").into_response(),
            UiError::Forbidden => {
                message(StatusCode::FORBIDDEN, "Kein Zugriff", "Für diese Seite fehlt Ihnen die Berechtigung.")
            }
            UiError::NotFound => message(
                StatusCode::NOT_FOUND,
                "Nicht gefunden",
                "Diese Seite gibt es nicht, oder sie ist für Sie nicht sichtbar.",
            ),
            UiError::Csrf => message(
                StatusCode::FORBIDDEN,
                "Formular abgelaufen",
                "Das Formular ist ungültig oder abgelaufen. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
            ),
            UiError::BadRequest(text) => message(StatusCode::BAD_REQUEST, "Ungültige Eingabe", text),
            UiError::Internal(e) => {
                // service errors name fields, never values
                tracing::error!(error = %e, "UI request failed");
                message(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Interner Fehler",
                    "Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es später noch einmal.",
                )
            }
        }
    }
}

/// The stylesheet, compiled in.
pub const STYLESHEET: &str = include_str!("../static/ui.css");

pub fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
        .into_response()
}
