//! Cookies, the logged-in person of a request, CSRF and same-origin checks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use oegd_service::accounts::{self, StaffSession};
use oegd_store::UserRole;

use crate::UiState;
use crate::views::UiError;

/// The full session's token.
pub const SESSION_COOKIE: &str = "__Host-oegd-sitzung";
/// The half session's token (password given, code due).
pub const HALF_COOKIE: &str = "__Host-oegd-anmeldung";
/// The login form's own CSRF token (double submit: there is no session yet).
pub const FORM_COOKIE: &str = "__Host-oegd-formular";

/// The peer address of the request's connection: axum's `ConnectInfo`, which the accept
/// loop (`oegd_web::tls::serve_browsers`) puts on every request.
pub type PeerAddr = axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>;

/// Login attempts (password or code) one address may make at once ...
const LOGIN_BURST: f64 = 30.0;
/// ... and then one per this many seconds. Generous for an office whose staff log in
/// behind one address at the start of the day; the per-account lockout (5 failures, 15
/// minutes) stops guessing one password, this stops one address from trying many accounts.
const LOGIN_SECONDS_PER_ATTEMPT: f64 = 2.0;

/// Takes one login attempt from `ip`'s token bucket: `Ok(())`, or `Err(seconds)` until the
/// next attempt is allowed.
pub fn login_attempt(ip: IpAddr) -> Result<(), u64> {
    static BUCKETS: OnceLock<Mutex<HashMap<IpAddr, (f64, Instant)>>> = OnceLock::new();
    let now = Instant::now();
    let refill = |(tokens, at): (f64, Instant)| {
        (tokens + now.saturating_duration_since(at).as_secs_f64() / LOGIN_SECONDS_PER_ATTEMPT).min(LOGIN_BURST)
    };
    let mut buckets = BUCKETS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if buckets.len() > 4096 {
        // a full bucket and a forgotten one behave the same
        buckets.retain(|_, b| refill(*b) < LOGIN_BURST);
    }
    let tokens = buckets.get(&ip).copied().map_or(LOGIN_BURST, refill);
    if tokens >= 1.0 {
        buckets.insert(ip, (tokens - 1.0, now));
        Ok(())
    } else {
        buckets.insert(ip, (tokens, now));
        // whole seconds, rounded up
        Err((((1.0 - tokens) * LOGIN_SECONDS_PER_ATTEMPT).ceil() as u64).max(1))
    }
}

/// A cookie value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_hexdigit()))
}

/// `Set-Cookie` value: `Secure; HttpOnly; SameSite=Strict; Path=/`, a session cookie unless
/// `max_age` is given.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{name}={value}; Secure; HttpOnly; SameSite=Strict; Path=/{age}")
}

pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", Some(0))
}

/// The logged-in person, or a redirect to the login page.
pub async fn staff(state: &UiState, headers: &HeaderMap) -> Result<StaffSession, UiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Err(UiError::Login) };
    accounts::session(&state.store, &token, state.session_idle, state.clock.now()).await?.ok_or(UiError::Login)
}

/// [`staff`] with one of `roles`, and a password that need not be changed first.
pub async fn staff_in(state: &UiState, headers: &HeaderMap, roles: &[UserRole]) -> Result<StaffSession, UiError> {
    let s = staff(state, headers).await?;
    if s.must_change_password {
        return Err(UiError::ChangePassword);
    }
    if !roles.contains(&s.role) {
        return Err(UiError::Forbidden);
    }
    Ok(s)
}

/// The form's CSRF token must be the session's.
pub fn check_csrf(session: &StaffSession, given: &str) -> Result<(), UiError> {
    if accounts::constant_time_eq(&session.csrf_token, given) { Ok(()) } else { Err(UiError::Csrf) }
}

/// Refuses a POST whose `Origin` (or, without one, `Referer`) is not this host: a second
/// line behind the CSRF token and `SameSite=Strict`.
pub async fn same_origin_posts(req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .or_else(|| req.headers().get(header::REFERER))
            .and_then(|h| h.to_str().ok());
        if let Some(origin) = origin {
            let ours = origin.strip_prefix("https://").map(|rest| rest.split('/').next().unwrap_or("")) == Some(host);
            if !ours || host.is_empty() {
                return (StatusCode::FORBIDDEN, "Anfrage von fremder Herkunft abgelehnt.").into_response();
            }
        }
    }
    next.run(req).await
}
