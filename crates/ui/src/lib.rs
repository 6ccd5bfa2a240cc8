//! The staff web interface: server-rendered German pages for the state office (start page,
//! review queue, letters), the health offices (their escalated cases) and, so far as built,
//! practices and operators.
//!
//! - Pages are askama templates (checked at compile time) and plain HTML forms: everything
//!   works without JavaScript, and there is none. One stylesheet is compiled into the binary.
//! - Every response carries a strict `Content-Security-Policy` and the other security
//!   headers ([`security_headers`]).
//! - Login: password (Argon2id), then a TOTP code; sessions live in the database (the browser
//!   holds a random token in a `__Host-` cookie, `Secure; HttpOnly; SameSite=Strict`); every
//!   POST carries the session's CSRF token, and a POST from another origin is refused.
//! - Role checks on every route; a health office sees only its own districts' cases.
//!
//! Like `oegd-web`, this crate knows HTTP; it calls the service core for everything else.

mod charts;
mod child;
mod export;
mod office;
mod operator;
mod pages;
mod practice;
mod registry;
mod session;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use jiff::SignedDuration;
use oegd_domain::Clock;
use oegd_store_any::AnyStore;

/// What every handler needs.
#[derive(Clone)]
pub struct UiState {
    pub store: AnyStore,
    pub clock: Arc<dyn Clock>,
    /// A session without a request for this long is ended.
    pub session_idle: SignedDuration,
    /// The intake, shared with the API: the practices' form submits through it.
    pub gateway: Arc<oegd_service::Gateway<AnyStore>>,
    /// The state's programme profile (check-up windows and states of a child's page).
    pub profile: Arc<oegd_programme::Profile>,
    /// The data directory (CA key, CRL): the operator issues and revokes certificates with
    /// it; `None` where the server has none at hand.
    pub data_dir: Option<oegd_service::datadir::DataDir>,
    /// The start page and statistics, kept while the store is unchanged.
    pub office_views: Arc<oegd_service::office_views::OfficeViews>,
}

/// The policy: only our own stylesheet and images; no script at all; no framing; forms only
/// to ourselves.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds the security headers to every response.
pub async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // not `no-referrer`: with it, browsers send `Origin: null` on our own form posts, which
    // the same-origin check must refuse; `same-origin` sends nothing to other sites either
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=()"));
    // pages hold personal data: never cached (the stylesheet sets its own)
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// The interface's routes.
pub fn router(state: UiState) -> Router {
    Router::new()
        .route("/", get(pages::start))
        .route("/anmelden", get(pages::login_form).post(pages::login))
        .route("/anmelden/code", get(pages::code_form).post(pages::code))
        .route("/abmelden", post(pages::logout))
        .route("/passwort", get(pages::password_form).post(pages::password))
        .route("/pruefung", get(pages::queue))
        .route("/pruefung/{report_id}", get(pages::entry).post(pages::decide))
        .route("/faelle", get(pages::cases))
        .route("/faelle/{melde_id}/{checkup}", get(pages::case).post(pages::record_outcome))
        .route("/briefe/{file}", get(pages::letter_pdf))
        .route("/kinder/{melde_id}", get(child::child_page))
        .route("/meldung", get(practice::form).post(practice::submit))
        .route("/meldungen", get(practice::reports))
        .route("/meldungen/{report_id}", get(practice::receipt))
        .route("/statistik", get(office::statistik))
        .route("/statistik.csv", get(office::statistik_csv))
        .route("/suche", get(office::search))
        .route("/eskalationen", get(office::escalations))
        .route("/briefe", get(office::letters))
        .route("/pruefung/export.csv", get(office::queue_csv))
        .route(
            "/melderegister",
            get(registry::form).post(registry::upload).layer(DefaultBodyLimit::max(registry::MAX_UPLOAD + 64 * 1024)),
        )
        .route("/betrieb/benutzer", get(operator::users).post(operator::add_user))
        .route("/betrieb/benutzer/{login}/sperre", post(operator::lock_user))
        .route("/betrieb/organisationen", get(operator::organisations).post(operator::add_organisation))
        .route("/betrieb/zertifikate", get(operator::certificates).post(operator::issue))
        .route("/betrieb/zertifikate/sperren", post(operator::revoke))
        .route("/betrieb/protokoll", get(operator::audit_log))
        .route("/static/ui.css", get(pages::stylesheet))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(session::same_origin_posts))
        .layer(axum::middleware::map_response(security_headers))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}
