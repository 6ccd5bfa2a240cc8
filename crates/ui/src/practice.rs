//! The practices' workspace: the form to report a check-up (`/meldung`), their own
//! submissions (`/meldungen`) and each one's receipt (`/meldungen/{id}`).
//!
//! The form goes through `oegd_service::webform`, which builds the same participation card
//! as practice software sends and submits it through the same intake as the API, as the
//! practice of the logged-in account. A practice sees its own reports only (another's id is
//! "not found", as on the API) and nothing of the programme.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use oegd_fhir::ParticipationCard;
use oegd_service::accounts::StaffSession;
use oegd_service::webform::{self, CheckupForm, FieldError, FormOutcome, field};
use oegd_service::{Sender, ServiceError};
use oegd_store::{ReportFilter, ReportId, ReportSource, Store, UserRole};
use serde::Deserialize;

use crate::UiState;
use crate::session::{check_csrf, staff_in};
use crate::views::{Layout, Notice, UiError, de, de_time, page};

/// One form field: its value and, after a failed submission, its errors.
pub struct FieldView {
    pub value: String,
    pub errors: Vec<String>,
}

impl FieldView {
    pub fn invalid(&self) -> bool {
        !self.errors.is_empty()
    }
}

#[derive(Template)]
#[template(path = "practice_form.html")]
pub struct FormPage {
    pub l: Layout,
    pub csrf: String,
    pub practice: String,
    pub card: String,
    pub created: String,
    pub form_errors: Vec<String>,
    pub error_count: usize,
    pub given_name: FieldView,
    pub family_name: FieldView,
    pub birth_name: FieldView,
    pub birth_date: FieldView,
    pub kvnr: FieldView,
    pub checkup: FieldView,
    pub exam_date: FieldView,
    pub doctor_given: FieldView,
    pub doctor_family: FieldView,
    pub lanr: FieldView,
    pub checkups: Vec<(&'static str, String)>,
}

pub struct ReportRow {
    pub id: String,
    pub received: String,
    pub checkup: &'static str,
    pub exam_date: String,
    pub child: String,
    pub source: &'static str,
}

#[derive(Template)]
#[template(path = "practice_reports.html")]
pub struct ReportsPage {
    pub l: Layout,
    pub practice: String,
    pub reports: Vec<ReportRow>,
}

#[derive(Template)]
#[template(path = "receipt.html")]
pub struct ReceiptPage {
    pub l: Layout,
    pub report_id: String,
    pub received: String,
    pub sender: String,
    pub office: String,
    pub card_id: String,
    pub sha256: String,
    pub checkup: &'static str,
    pub exam_date: String,
    pub child: String,
    pub source: &'static str,
    pub provenance: String,
}

fn source_label(s: ReportSource) -> &'static str {
    match s {
        ReportSource::Api => "Praxissoftware (Schnittstelle)",
        ReportSource::WebForm => "Meldeformular",
        ReportSource::Import => "Import",
    }
}

fn layout(title: &str, s: &StaffSession, current: &str) -> Layout {
    Layout::for_staff(title, s, current)
}

/// The practice of the account, as the intake knows senders: the organisation's Telematik-ID
/// and the role of its kind (what its client certificate would carry).
fn sender_of(s: &StaffSession) -> Sender {
    Sender { telematik_id: s.organisation.telematik_id.clone(), profession: s.organisation.kind.profession_oid() }
}

/// When a check-up is due (G-BA Kinder-Richtlinie, regular window), as on the booklet.
fn age_text(c: oegd_domain::Checkup) -> &'static str {
    use oegd_domain::Checkup::*;
    match c {
        U1 => "bei der Geburt",
        U2 => "3.–10. Lebenstag",
        U3 => "4.–5. Lebenswoche",
        U4 => "3.–4. Lebensmonat",
        U5 => "6.–7. Lebensmonat",
        U6 => "10.–12. Lebensmonat",
        U7 => "21.–24. Lebensmonat",
        U7a => "34.–36. Lebensmonat",
        U8 => "46.–48. Lebensmonat",
        U9 => "60.–64. Lebensmonat",
        J1 => "13.–14. Lebensjahr",
    }
}

fn berlin_today(state: &UiState) -> jiff::civil::Date {
    oegd_service::child::today(state.clock.now())
}

fn form_page(s: &StaffSession, form: &CheckupForm, errors: &[FieldError]) -> FormPage {
    let view = |name: &str, value: &str| FieldView {
        value: value.to_owned(),
        errors: errors.iter().filter(|e| e.field == name).map(|e| e.message.clone()).collect(),
    };
    FormPage {
        l: layout("Untersuchung melden", s, "/meldung"),
        csrf: s.csrf_token.clone(),
        practice: s.organisation.name.clone(),
        card: form.card.clone(),
        created: form.created.clone(),
        form_errors: errors.iter().filter(|e| e.field == field::FORM).map(|e| e.message.clone()).collect(),
        error_count: errors.len(),
        given_name: view(field::GIVEN_NAME, &form.given_name),
        family_name: view(field::FAMILY_NAME, &form.family_name),
        birth_name: view(field::BIRTH_NAME, &form.birth_name),
        birth_date: view(field::BIRTH_DATE, &form.birth_date),
        kvnr: view(field::KVNR, &form.kvnr),
        checkup: view(field::CHECKUP, &form.checkup),
        exam_date: view(field::EXAM_DATE, &form.exam_date),
        doctor_given: view(field::DOCTOR_GIVEN, &form.doctor_given),
        doctor_family: view(field::DOCTOR_FAMILY, &form.doctor_family),
        lanr: view(field::LANR, &form.lanr),
        checkups: webform::checkups_on_card()
            .into_iter()
            .map(|c| (c.name(), format!("{} ({})", c.name(), age_text(c))))
            .collect(),
    }
}

/// `GET /meldung`: an empty form with a new card id.
pub async fn form(State(state): State<UiState>, headers: HeaderMap) -> Result<Response, UiError> {
    let s = staff_in(&state, &headers, &[UserRole::Praxis]).await?;
    let form = webform::new_form(state.clock.now());
    Ok(page(&form_page(&s, &form, &[])))
}

#[derive(Deserialize)]
pub struct FormFields {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    karte: String,
    #[serde(default)]
    erstellt: String,
    #[serde(default)]
    vorname: String,
    #[serde(default)]
    nachname: String,
    #[serde(default)]
    geburtsname: String,
    #[serde(default)]
    geburtsdatum: String,
    #[serde(default)]
    kvnr: String,
    #[serde(default)]
    untersuchung: String,
    #[serde(default)]
    untersuchungsdatum: String,
    #[serde(default)]
    arzt_vorname: String,
    #[serde(default)]
    arzt_nachname: String,
    #[serde(default)]
    lanr: String,
}

/// `POST /meldung`: the card through the intake; errors at their fields, or the receipt.
pub async fn submit(
    State(state): State<UiState>,
    headers: HeaderMap,
    Form(f): Form<FormFields>,
) -> Result<Response, UiError> {
    let s = staff_in(&state, &headers, &[UserRole::Praxis]).await?;
    check_csrf(&s, &f.csrf)?;
    let form = CheckupForm {
        card: f.karte,
        created: f.erstellt,
        given_name: f.vorname,
        family_name: f.nachname,
        birth_name: f.geburtsname,
        birth_date: f.geburtsdatum,
        kvnr: f.kvnr,
        checkup: f.untersuchung,
        exam_date: f.untersuchungsdatum,
        doctor_given: f.arzt_vorname,
        doctor_family: f.arzt_nachname,
        lanr: f.lanr,
    };
    let outcome =
        webform::submit(state.gateway.as_ref(), &sender_of(&s), &s.organisation, &form, berlin_today(&state)).await;
    match outcome {
        Ok(FormOutcome::Received(sub)) => {
            let hint = if sub.created { "neu" } else { "wiederholt" };
            Ok(Redirect::to(&format!("/meldungen/{}?eingang={hint}", sub.report.id.0)).into_response())
        }
        Ok(FormOutcome::Rejected(errors)) => {
            let mut r = page(&form_page(&s, &form, &errors));
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(ServiceError::Forbidden(_)) => Err(UiError::Forbidden),
        Err(e) => Err(e.into()),
    }
}

fn child_of(facts_json: &str) -> String {
    match serde_json::from_str::<ParticipationCard>(facts_json) {
        Ok(c) if !c.patient.family.is_empty() => {
            format!("{} {}, geb. {}", c.patient.given, c.patient.family, de(c.patient.birth_date))
        }
        _ => "(Daten gelöscht)".to_owned(),
    }
}

/// `GET /meldungen`: the practice's own reports, newest first.
pub async fn reports(State(state): State<UiState>, headers: HeaderMap) -> Result<Response, UiError> {
    let s = staff_in(&state, &headers, &[UserRole::Praxis]).await?;
    let filter = ReportFilter { sender: Some(s.organisation.telematik_id.clone()), limit: None };
    let mut rows = Vec::new();
    for summary in state.store.reports(&filter).await?.into_iter().rev().take(500) {
        // the sender's own report: the facts name the child it reported
        let child = match state.store.report(&summary.id).await? {
            Some(r) if r.sender == s.organisation.telematik_id => child_of(&r.facts_json),
            _ => continue,
        };
        rows.push(ReportRow {
            id: summary.id.0.clone(),
            received: de_time(summary.received_at),
            checkup: summary.checkup.name(),
            exam_date: de(summary.exam_date),
            child,
            source: source_label(summary.source),
        });
    }
    Ok(page(&ReportsPage {
        l: layout("Meine Meldungen", &s, "/meldungen"),
        practice: s.organisation.name.clone(),
        reports: rows,
    }))
}

#[derive(Deserialize)]
pub struct ReceiptQuery {
    eingang: Option<String>,
}

/// `GET /meldungen/{id}`: the receipt of one of the practice's reports.
pub async fn receipt(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ReceiptQuery>,
) -> Result<Response, UiError> {
    let s = staff_in(&state, &headers, &[UserRole::Praxis]).await?;
    let report = state.gateway.report_for(&sender_of(&s), &ReportId(id)).await?;
    let office = state.gateway.receiving_office();
    let provenance = oegd_service::receipt::receipt(&report, office);
    let mut l = layout("Eingangsbestätigung", &s, "/meldungen");
    l.notice = match q.eingang.as_deref() {
        Some("neu") => Some(Notice { kind: "ok", text: "Ihre Meldung ist eingegangen und gespeichert." }),
        Some("wiederholt") => Some(Notice {
            kind: "ok",
            text: "Diese Meldung war bereits eingegangen; es gilt die erste Eingangsbestätigung. Es wurde nichts doppelt gespeichert.",
        }),
        _ => None,
    };
    Ok(page(&ReceiptPage {
        l,
        report_id: report.id.0.clone(),
        received: de_time(report.received_at),
        sender: format!("{} ({})", s.organisation.name, report.sender),
        office: format!("{} ({})", office.name, office.telematik_id),
        card_id: report.card_id.clone(),
        sha256: report.body_sha256.clone(),
        checkup: report.checkup.name(),
        exam_date: de(report.exam_date),
        child: child_of(&report.facts_json),
        source: source_label(report.source),
        provenance: serde_json::to_string_pretty(&provenance).unwrap_or_default(),
    }))
}
