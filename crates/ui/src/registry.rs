//! The register import (`/melderegister`): a Meldedaten CSV uploaded as a form, imported
//! exactly as `oegd-gateway registry import` does it; the result with the rows that could not
//! be read (line number and German reason). The same file twice changes nothing.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use oegd_service::registry;
use oegd_store::{Store, UserRole};

use crate::UiState;
use crate::session::{check_csrf, staff_in};
use crate::views::{Layout, UiError, de_time, page};

type Result<T> = std::result::Result<T, UiError>;

/// The largest file the form takes (a state's yearly births fit many times over).
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

pub struct DeliveryView {
    pub seq: i64,
    pub file_name: String,
    pub imported_at: String,
    pub rows: u64,
    pub rejected: u32,
}

pub struct ImportResult {
    pub file_name: String,
    pub delivery: i64,
    pub imported: bool,
    pub rows: usize,
    pub linked: usize,
    pub review: usize,
    pub errors: Vec<(u64, String)>,
}

#[derive(Template)]
#[template(path = "melderegister.html")]
pub struct RegisterPage {
    pub l: Layout,
    pub csrf: String,
    pub max_mib: usize,
    pub result: Option<ImportResult>,
    pub error: Option<String>,
    pub deliveries: Vec<DeliveryView>,
}

async fn render(
    state: &UiState,
    s: &oegd_service::accounts::StaffSession,
    result: Option<ImportResult>,
    error: Option<String>,
) -> Result<Response> {
    let mut deliveries: Vec<DeliveryView> = state
        .store
        .deliveries()
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            seq: d.seq,
            file_name: d.file_name,
            imported_at: de_time(d.imported_at),
            rows: d.rows,
            rejected: d.rejected,
        })
        .collect();
    deliveries.reverse();
    let bad = error.is_some();
    let mut r = page(&RegisterPage {
        l: Layout::for_staff("Melderegister", s, "/melderegister"),
        csrf: s.csrf_token.clone(),
        max_mib: MAX_UPLOAD / 1024 / 1024,
        result,
        error,
        deliveries,
    });
    if bad {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(r)
}

pub async fn form(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    render(&state, &s, None, None).await
}

/// A file name as shown and stored: its last path part, printable, at most 200 characters.
fn clean_name(name: Option<&str>) -> String {
    let name = name.unwrap_or("meldedaten.csv").rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.trim().is_empty() { "meldedaten.csv".into() } else { name }
}

pub async fn upload(State(state): State<UiState>, headers: HeaderMap, mut form: Multipart) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let mut csrf = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let text = format!("Die Datei ist zu groß (höchstens {} MiB).", MAX_UPLOAD / 1024 / 1024);
                return render(&state, &s, None, Some(text)).await;
            }
            Err(_) => return Err(UiError::BadRequest("Das Formular ist unvollständig angekommen.")),
        };
        match field.name() {
            Some("_csrf") => csrf = field.text().await.ok(),
            Some("datei") => {
                let name = clean_name(field.file_name());
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes.to_vec())),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        let text = format!("Die Datei ist zu groß (höchstens {} MiB).", MAX_UPLOAD / 1024 / 1024);
                        return render(&state, &s, None, Some(text)).await;
                    }
                    Err(_) => return Err(UiError::BadRequest("Die Datei ist unvollständig angekommen.")),
                }
            }
            _ => {}
        }
    }
    check_csrf(&s, csrf.as_deref().unwrap_or(""))?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return render(&state, &s, None, Some("Bitte wählen Sie eine Meldedaten-Datei (CSV) aus.".into())).await;
    };
    // a file without a single readable row is refused as a whole (nothing stored)
    let read = oegd_programme::read_registry(bytes.as_slice());
    if read.rows.is_empty() {
        let mut text = "Die Datei enthält keine lesbare Zeile; nichts wurde importiert.".to_owned();
        if let Some(e) = read.errors.first() {
            text.push_str(&format!(" Zeile {}: {}", e.line, e.message));
        }
        return render(&state, &s, None, Some(text)).await;
    }
    let actor = oegd_store::Actor::User(s.login.clone());
    let r =
        registry::import_registry_by(&state.store, &name, &bytes, false, state.clock.now(), &mut |_, _, _| {}, &actor)
            .await
            .map_err(UiError::from)?;
    tracing::info!(
        delivery = r.delivery,
        rows = r.rows,
        rejected = r.errors.len(),
        imported = r.imported,
        "register import from the web interface"
    );
    let result = ImportResult {
        file_name: name,
        delivery: r.delivery,
        imported: r.imported,
        rows: r.rows,
        linked: r.linking.linked,
        review: r.linking.review,
        errors: r.errors.into_iter().map(|e| (e.line, e.message)).collect(),
    };
    render(&state, &s, Some(result), None).await
}
