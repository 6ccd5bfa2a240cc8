//! One mapping of service errors to HTTP responses, each with an `OperationOutcome` body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oegd_service::ServiceError;
use serde_json::json;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR JSON response.
pub fn fhir_json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Serialising a `Value` or a plain struct cannot fail (string keys, no foreign types).
    let mut resp = (status, serde_json::to_string(body).unwrap_or_default()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp
}

/// An OperationOutcome with one issue.
pub fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }]
    });
    fhir_json(status, &body)
}

pub fn error_response(e: ServiceError) -> Response {
    match e {
        ServiceError::Unreadable(issues) => fhir_json(StatusCode::BAD_REQUEST, &oegd_fhir::operation_outcome(&issues)),
        ServiceError::Invalid(issues) => {
            fhir_json(StatusCode::UNPROCESSABLE_ENTITY, &oegd_fhir::operation_outcome(&issues))
        }
        ServiceError::Conflict(m) => outcome(StatusCode::CONFLICT, "conflict", &m),
        ServiceError::Forbidden(m) => outcome(StatusCode::FORBIDDEN, "forbidden", &m),
        ServiceError::NotFound(m) => outcome(StatusCode::NOT_FOUND, "not-found", &m),
        ServiceError::Unavailable(m) => {
            let mut resp = outcome(StatusCode::SERVICE_UNAVAILABLE, "transient", &m);
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            resp
        }
        ServiceError::Usage(m) => outcome(StatusCode::BAD_REQUEST, "invalid", &m),
        ServiceError::Internal(m) => {
            tracing::error!(error = %m, "internal error");
            outcome(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "Interner Fehler; die Meldung wurde nicht gespeichert. / Internal error; nothing was stored.",
            )
        }
    }
}
