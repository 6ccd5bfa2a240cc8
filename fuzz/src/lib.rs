//! Shared checks of the fuzz targets: what must hold for any input, beyond "does not panic".
//!
//! A failed `assert!` here is a finding just like a panic inside the code under test:
//! libFuzzer stores the input under `fuzz/artifacts/TARGET/`.

use oegd_fhir::{MediaType, ParticipationCard, operation_outcome, read_card};
use serde_json::{Map, Value};

/// The validator stops after this many issues (and says so in one more issue); a hostile
/// body must not make the answer grow with its size.
pub const MAX_ISSUES: usize = 100;

/// Reads a card and checks the promises of `read_card` for a refused one: it names at
/// least one issue, no more than the cap, every issue has a location, and the
/// `OperationOutcome` built from them serialises.
pub fn check_card(media: MediaType, body: &[u8]) -> Option<ParticipationCard> {
    match read_card(media, body) {
        Ok(card) => {
            assert!(card.card_id.starts_with("urn:uuid:"), "accepted card without urn:uuid identifier");
            Some(card)
        }
        Err(err) => {
            let issues = err.issues();
            assert!(!issues.is_empty(), "refused card without an issue");
            assert!(
                issues.len() <= MAX_ISSUES + 1,
                "{} issues for one card: the answer grows with the body",
                issues.len()
            );
            for issue in issues {
                assert!(!issue.expression.is_empty(), "issue without a location");
                assert!(!issue.diagnostics.is_empty(), "issue without diagnostics");
            }
            let outcome = operation_outcome(issues);
            assert!(serde_json::to_vec(&outcome).is_ok(), "OperationOutcome does not serialise");
            None
        }
    }
}

/// Writes a FHIR resource given as JSON in the FHIR XML form (the rules of
/// <https://hl7.org/fhir/R4/xml.html>): primitives as `value` attributes, repeating elements
/// written several times, contained resources wrapped in an element of their type, `id` of
/// a data type and `url` of an extension as attributes, `_name` primitive extensions merged
/// into their element. `None` when the value is not a resource (an object with a string
/// `resourceType`).
pub fn json_to_fhir_xml(resource: &Value) -> Option<String> {
    let obj = resource.as_object()?;
    let rt = obj.get("resourceType")?.as_str()?;
    if !is_xml_name(rt) {
        return None;
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push('<');
    out.push_str(rt);
    out.push_str(" xmlns=\"http://hl7.org/fhir\">");
    write_children(&mut out, obj, true, false)?;
    out.push_str("</");
    out.push_str(rt);
    out.push('>');
    Some(out)
}

fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // kept as they are by a reader that does not normalise attribute values
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

fn prim_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Writes the members of an object as child elements. `is_resource`: `id` is an element
/// (the resource id), not an attribute. `is_extension`: `url` is an attribute.
fn write_children(out: &mut String, obj: &Map<String, Value>, is_resource: bool, is_extension: bool) -> Option<()> {
    for (key, value) in obj {
        if key == "resourceType" || key.starts_with('_') {
            continue;
        }
        if (!is_resource && key == "id") || (is_extension && key == "url") {
            continue; // written as attributes by the caller
        }
        if !is_xml_name(key) {
            return None;
        }
        let ext = obj.get(&format!("_{key}"));
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_ext = ext.and_then(|e| e.as_array()).and_then(|a| a.get(i));
                    write_element(out, key, item, item_ext)?;
                }
            }
            v => write_element(out, key, v, ext)?,
        }
    }
    // a primitive given only by its extension (`"_given": {...}` without `given`)
    for (key, ext) in obj {
        if let Some(name) = key.strip_prefix('_')
            && !obj.contains_key(name)
        {
            if !is_xml_name(name) {
                return None;
            }
            write_element(out, name, &Value::Null, Some(ext))?;
        }
    }
    Some(())
}

fn write_element(out: &mut String, name: &str, value: &Value, ext: Option<&Value>) -> Option<()> {
    match value {
        Value::Object(obj) => {
            if let Some(rt) = obj.get("resourceType").and_then(Value::as_str) {
                if !is_xml_name(rt) {
                    return None;
                }
                out.push_str(&format!("<{name}><{rt}>"));
                write_children(out, obj, true, false)?;
                out.push_str(&format!("</{rt}></{name}>"));
                return Some(());
            }
            if name == "div" {
                return None; // narrative XHTML: not part of the generated documents
            }
            let is_extension = name == "extension" || name == "modifierExtension";
            out.push('<');
            out.push_str(name);
            for attr in ["id", "url"] {
                if attr == "url" && !is_extension {
                    continue;
                }
                if let Some(v) = obj.get(attr) {
                    let text = prim_text(v)?;
                    out.push_str(&format!(" {attr}=\""));
                    escape_attr(out, &text);
                    out.push('"');
                }
            }
            out.push('>');
            write_children(out, obj, false, is_extension)?;
            out.push_str(&format!("</{name}>"));
        }
        Value::Array(_) => return None, // arrays of arrays have no XML form
        v => {
            out.push('<');
            out.push_str(name);
            if let Some(text) = prim_text(v) {
                out.push_str(" value=\"");
                escape_attr(out, &text);
                out.push('"');
            }
            match ext.and_then(Value::as_object) {
                Some(e) => {
                    if let Some(id) = e.get("id").and_then(prim_text) {
                        out.push_str(" id=\"");
                        escape_attr(out, &id);
                        out.push('"');
                    }
                    out.push('>');
                    write_children(out, e, false, false)?;
                    out.push_str(&format!("</{name}>"));
                }
                None => out.push_str("/>"),
            }
        }
    }
    Some(())
}
