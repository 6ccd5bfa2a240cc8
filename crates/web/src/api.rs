//! The FHIR API: `POST /fhir/Bundle`, `GET /fhir/Bundle/{id}`, `GET /fhir/Provenance/{id}`,
//! `GET /fhir/metadata`. Every handler is a translation: request → service call → response.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use oegd_fhir::MediaType;
use oegd_service::{Gateway, Sender, receipt};
use oegd_store::{ReportId, ReportSource, Store};
use serde_json::json;

use crate::errors::{error_response, fhir_json, outcome};

pub const PC_BUNDLE_PROFILE: &str = "https://fhir.kbv.de/StructureDefinition/KBV_PR_MIO_PC_Bundle";

pub struct ApiState<S> {
    pub gateway: Arc<Gateway<S>>,
    pub max_body_bytes: usize,
}

impl<S> Clone for ApiState<S> {
    fn clone(&self) -> Self {
        Self { gateway: self.gateway.clone(), max_body_bytes: self.max_body_bytes }
    }
}

/// The API's routes. Each request must carry the connection's [`Sender`] as an extension
/// (the accept loop in [`crate::tls`] puts it there).
pub fn router<S: Store>(state: ApiState<S>) -> Router {
    Router::new()
        .route("/fhir/Bundle", post(submit::<S>))
        .route("/fhir/Bundle/{id}", get(read_bundle::<S>))
        .route("/fhir/Provenance/{id}", get(read_receipt::<S>))
        .route("/fhir/metadata", get(metadata::<S>))
        .fallback(|| async {
            outcome(StatusCode::NOT_FOUND, "not-supported", "Unbekannter Pfad. / Unknown path; see /fhir/metadata.")
        })
        .with_state(state)
}

/// An oversized body up to this size is read and discarded, so that the client, still
/// sending, receives the 413 instead of a broken pipe, and the connection stays usable.
/// Beyond it the connection is closed.
const DRAIN_CAP: usize = 8 * 1024 * 1024;
/// The longest wait for the next piece of a body.
const BODY_FRAME_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest time for a whole body: a client sending a byte every few seconds does not
/// hold its connection for ever (1 MiB in this time needs about 9 KB/s).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

enum BodyRead {
    Complete(Vec<u8>),
    TooLarge { drained: bool },
    Incomplete,
}

/// Reads a body of at most `limit` bytes; a larger one is drained (not kept) up to
/// [`DRAIN_CAP`].
async fn read_body(mut body: Body, limit: usize, declared_too_large: bool) -> BodyRead {
    let mut kept = Vec::new();
    let mut total = 0usize;
    let mut too_large = declared_too_large;
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    loop {
        let frame_deadline = deadline.min(tokio::time::Instant::now() + BODY_FRAME_TIMEOUT);
        let frame = match tokio::time::timeout_at(frame_deadline, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(_))) | Err(_) => {
                return if too_large { BodyRead::TooLarge { drained: false } } else { BodyRead::Incomplete };
            }
        };
        let Ok(data) = frame.into_data() else { continue };
        total = total.saturating_add(data.len());
        if total > DRAIN_CAP {
            return BodyRead::TooLarge { drained: false };
        }
        if total > limit && !too_large {
            too_large = true;
            kept = Vec::new();
        }
        if !too_large {
            kept.extend_from_slice(&data);
        }
    }
    if too_large { BodyRead::TooLarge { drained: true } } else { BodyRead::Complete(kept) }
}

async fn submit<S: Store>(
    State(state): State<ApiState<S>>,
    Extension(sender): Extension<Sender>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(media) = MediaType::from_content_type(content_type) else {
        return outcome(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Nur application/fhir+json oder application/fhir+xml werden angenommen. / \
             Only application/fhir+json or application/fhir+xml are accepted.",
        );
    };
    let too_large = |drained: bool| {
        let mut response = outcome(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            &format!(
                "Die Meldung ist größer als {} Bytes. / The report is larger than {} bytes.",
                state.max_body_bytes, state.max_body_bytes
            ),
        );
        if !drained {
            // The rest of the body was not read, so the connection cannot carry another
            // request: say so, and hyper closes it after the answer.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_CAP as u64) {
        return too_large(false);
    }
    let declared_too_large = declared.is_some_and(|n| n > state.max_body_bytes as u64);
    let bytes = match read_body(body, state.max_body_bytes, declared_too_large).await {
        BodyRead::Complete(bytes) => bytes,
        BodyRead::TooLarge { drained } => return too_large(drained),
        BodyRead::Incomplete => {
            return outcome(
                StatusCode::BAD_REQUEST,
                "incomplete",
                "Die Anfrage wurde unvollständig übertragen. / Incomplete request body.",
            );
        }
    };
    match state.gateway.submit_card(&sender, media, &bytes, ReportSource::Api).await {
        Ok(sub) => {
            let status = if sub.created { StatusCode::CREATED } else { StatusCode::OK };
            let body = receipt::receipt(&sub.report, state.gateway.receiving_office());
            let mut resp = fhir_json(status, &body);
            if let Ok(loc) = HeaderValue::from_str(&format!("/fhir/Bundle/{}", sub.report.id)) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
        Err(e) => error_response(e),
    }
}

/// The stored card exactly as submitted (its bytes and media type), with a link to its
/// receipt.
async fn read_bundle<S: Store>(
    State(state): State<ApiState<S>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Response {
    match state.gateway.report_for(&sender, &ReportId(id)).await {
        Ok(report) => {
            let mut resp = (StatusCode::OK, report.body).into_response();
            let h = resp.headers_mut();
            if let Ok(ct) = HeaderValue::from_str(&format!("{}; charset=utf-8", report.media_type)) {
                h.insert(header::CONTENT_TYPE, ct);
            }
            if let Ok(link) = HeaderValue::from_str(&format!("</fhir/Provenance/{}>; rel=\"receipt\"", report.id)) {
                h.insert(header::LINK, link);
            }
            resp
        }
        Err(e) => error_response(e),
    }
}

async fn read_receipt<S: Store>(
    State(state): State<ApiState<S>>,
    Extension(sender): Extension<Sender>,
    Path(id): Path<String>,
) -> Response {
    match state.gateway.report_for(&sender, &ReportId(id)).await {
        Ok(report) => fhir_json(StatusCode::OK, &receipt::receipt(&report, state.gateway.receiving_office())),
        Err(e) => error_response(e),
    }
}

/// What this server does, as a FHIR CapabilityStatement.
async fn metadata<S: Store>(State(state): State<ApiState<S>>) -> Response {
    let body = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": state.gateway.now().strftime("%Y-%m-%d").to_string(),
        "publisher": state.gateway.receiving_office().name,
        "kind": "instance",
        "software": { "name": "oegd-gateway", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Sicherer Meldeeingang für Teilnahmekarten der Kinder-Früherkennung (KBV MIO U-Heft)" },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/fhir+xml"],
        "rest": [{
            "mode": "server",
            "security": {
                "cors": false,
                "description": "Mutual TLS: a client certificate issued by the gateway's CA (or a configured trusted CA) carrying the institution's Telematik-ID and profession OID in the Admission extension (1.3.36.8.3.3). The sender of a report is the certificate's organisation. Request bodies above the configured limit are refused with 413. A client (Telematik-ID) above its configured request rate gets 429 with Retry-After; when storage cannot take writes (disk full) submissions get 503 with Retry-After and nothing is stored."
            },
            "resource": [
                {
                    "type": "Bundle",
                    "supportedProfile": [format!("{PC_BUNDLE_PROFILE}|1.0.1"), format!("{PC_BUNDLE_PROFILE}|1.0.0")],
                    "documentation": "POST a KBV_PR_MIO_PC_Bundle (participation card). 201 with a Provenance receipt; the same Bundle.identifier from the same sender again: 200 with the first receipt; same identifier, other content: 409; 400 unreadable, 422 invalid (OperationOutcome listing every problem), 413 too large, 415 other media type. GET returns the card as submitted to its sender and the state office.",
                    "interaction": [{ "code": "create" }, { "code": "read" }],
                    "versioning": "no-version",
                    "conditionalCreate": false
                },
                {
                    "type": "Provenance",
                    "documentation": "The receipt of a submitted card: time of receipt, sender, receiving office, SHA-256 of the submitted bytes.",
                    "interaction": [{ "code": "read" }]
                }
            ]
        }]
    });
    fhir_json(StatusCode::OK, &body)
}
