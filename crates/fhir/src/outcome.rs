//! Issues → FHIR R4 `OperationOutcome`, the body of every 400/422 answer.

use serde_json::{Value, json};

use crate::Issue;

/// A FHIR R4 `OperationOutcome` listing every issue; `expression` is a one-element array as
/// the resource defines it.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            json!({
                "severity": i.severity.as_str(),
                "code": i.code,
                "diagnostics": i.diagnostics,
                "expression": [i.expression],
            })
        })
        .collect();
    if issues.is_empty() {
        // OperationOutcome.issue is 1..*.
        return json!({ "resourceType": "OperationOutcome", "issue": [{
            "severity": "information",
            "code": "informational",
            "diagnostics": "Keine Probleme gefunden. / No issues found."
        }]});
    }
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}
