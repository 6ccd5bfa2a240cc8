//! FHIR XML → [`Element`] tree.
//!
//! FHIR XML puts primitive values in `value` attributes, extension URLs in `url` and
//! element ids in `id`; a repeated element is simply written several times; a resource sits
//! inside a wrapper element named after its type. We map all of that onto the same tree the
//! JSON reader builds. Security: any DOCTYPE is refused outright (no DTD, no entity
//! declarations, so no XXE or entity expansion); only the five predefined entities and
//! numeric character references are understood. The XHTML narrative is skipped unread
//! (its well-formedness is still checked).

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::tree::{Child, Element, Prim, Seg, Shape, push_seg};
use crate::{Issue, MAX_DEPTH};

const FHIR_NS: &str = "http://hl7.org/fhir";
/// FHIR XML elements carry `value`, `id`, `url` and namespace declarations; narrative XHTML
/// a few more.
const MAX_ATTRIBUTES: usize = 32;

/// Elements rendered with an index in locations of unreadable documents (in XML we cannot
/// know the cardinality; these are the repeating ones of a card).
const REPEATING: &[&str] = &[
    "entry",
    "extension",
    "profile",
    "identifier",
    "name",
    "given",
    "prefix",
    "suffix",
    "coding",
    "author",
    "participant",
    "telecom",
    "address",
    "line",
];

struct Frame<'a> {
    name: &'a str,
    /// Position among the parent's children of the same name.
    idx: usize,
    el: Element<'a>,
    /// The type element of a resource (`<Patient>` inside `<resource>`): merged into its
    /// wrapper and left out of locations.
    is_resource: bool,
    /// Children seen per name: a short list for the few names of a real element, then a
    /// map (a hostile element may have 100 000 differently named children).
    few_names: Vec<(&'a str, usize)>,
    more_names: HashMap<&'a str, usize>,
}

/// More differently named children than any element of a participation card has.
const FEW_NAMES: usize = 32;

impl<'a> Frame<'a> {
    fn new(name: &'a str, idx: usize, is_resource: bool) -> Self {
        let el = Element::default();
        Frame { name, idx, el, is_resource, few_names: Vec::new(), more_names: HashMap::new() }
    }

    fn next_idx(&mut self, name: &'a str) -> usize {
        let n = if let Some((_, n)) = self.few_names.iter_mut().find(|(seen, _)| *seen == name) {
            n
        } else if self.few_names.len() < FEW_NAMES {
            self.few_names.push((name, 1));
            return 0;
        } else {
            self.more_names.entry(name).or_insert(0)
        };
        *n += 1;
        *n - 1
    }
}

/// A slice of the body with the body's lifetime: events of a slice reader borrow from the
/// input, so names and values need not be copied.
fn within<'a>(text: &'a str, part: &[u8]) -> Option<&'a str> {
    let start = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    let s = text.get(start..end)?;
    (s.as_bytes().as_ptr() == part.as_ptr()).then_some(s)
}

fn line_col(text: &str, pos: u64) -> (usize, usize) {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(text.len());
    let before = text.as_bytes().get(..pos).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, col)
}

fn render(stack: &[Frame<'_>]) -> String {
    let mut out = String::new();
    for (i, f) in stack.iter().enumerate() {
        if i == 0 {
            push_seg(&mut out, Seg::Root(f.name));
        } else if !f.is_resource {
            push_seg(&mut out, Seg::Field(f.name));
            if f.idx > 0 || REPEATING.contains(&f.name) {
                push_seg(&mut out, Seg::Index(f.idx));
            }
        }
    }
    if out.is_empty() { "Bundle".to_owned() } else { out }
}

struct Parser<'a> {
    text: &'a str,
    reader: Reader<&'a [u8]>,
    stack: Vec<Frame<'a>>,
    root: Option<Element<'a>>,
    issues: Vec<Issue>,
}

/// Parses an XML body. `Err` means unreadable; `Ok` carries the tree and issues already
/// found (stray text, foreign attributes), which make the card invalid.
pub(crate) fn parse(body: &[u8]) -> Result<(Element<'_>, Vec<Issue>), Vec<Issue>> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let (line, col) = line_col(std::str::from_utf8(body.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or(""), u64::MAX);
        vec![Issue::fatal(
            "structure",
            "Bundle",
            format!(
                "Der Inhalt ist kein gültiges UTF-8 (Zeile {line}, Spalte {col}). / The body is not valid UTF-8 (line {line}, column {col})."
            ),
        )]
    })?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(true);
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut p = Parser { text, reader, stack: Vec::with_capacity(16), root: None, issues: Vec::new() };
    p.run().map_err(|issue| vec![issue])?;
    let Parser { root, issues, .. } = p;
    match root {
        Some(root) => Ok((root, issues)),
        None => Err(vec![Issue::fatal(
            "structure",
            "Bundle",
            "Das Dokument enthält kein Wurzelelement. / The document has no root element.",
        )]),
    }
}

impl<'a> Parser<'a> {
    fn fatal(&self, code: &'static str, pos: u64, de: &str, en: &str) -> Issue {
        let (line, col) = line_col(self.text, pos);
        Issue::fatal(
            code,
            render(&self.stack),
            format!("{de} (Zeile {line}, Spalte {col}). / {en} (line {line}, column {col})."),
        )
    }

    fn invalid(&mut self, code: &'static str, de: &str, en: &str) {
        // One past what the validator reports, so it says that it stopped; beyond that
        // nothing is collected (and no line is counted: that is linear in the body, so a
        // body with an issue per element would otherwise take quadratic time).
        if self.issues.len() > crate::validate::MAX_ISSUES {
            return;
        }
        let (line, col) = line_col(self.text, self.reader.buffer_position());
        self.issues.push(Issue::error(
            code,
            render(&self.stack),
            format!("{de} (Zeile {line}, Spalte {col}). / {en} (line {line}, column {col})."),
        ));
    }

    fn run(&mut self) -> Result<(), Issue> {
        loop {
            let event = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let msg = e.to_string();
                    return Err(self.fatal(
                        "structure",
                        self.reader.error_position(),
                        "Kein wohlgeformtes XML",
                        &format!("Malformed XML: {msg}"),
                    ));
                }
            };
            match event {
                Event::Decl(d) => {
                    if let Some(enc) = d.encoding() {
                        let ok = enc.map(|e| e.eq_ignore_ascii_case("utf-8")).unwrap_or(false);
                        if !ok {
                            return Err(self.fatal(
                                "not-supported",
                                self.reader.buffer_position(),
                                "Nur die Zeichenkodierung UTF-8 wird angenommen",
                                "Only UTF-8 encoded XML is accepted",
                            ));
                        }
                    }
                }
                Event::DocType(_) => {
                    return Err(self.fatal(
                        "security",
                        self.reader.buffer_position(),
                        "Eine DOCTYPE-Deklaration ist nicht erlaubt; DTDs und Entitäten werden aus Sicherheitsgründen abgelehnt",
                        "A DOCTYPE declaration is refused; DTDs and entities are not accepted for security reasons",
                    ));
                }
                Event::Start(e) => {
                    let name = self.open(&e)?;
                    let in_text =
                        self.stack.len() >= 2 && self.stack.get(self.stack.len() - 2).is_some_and(|f| f.name == "text");
                    if name == "div" && in_text {
                        // The narrative is opaque to us: skip it, still checking it is well-formed.
                        if let Err(err) = self.reader.read_to_end(e.name()) {
                            let msg = err.to_string();
                            return Err(self.fatal(
                                "structure",
                                self.reader.error_position(),
                                "Kein wohlgeformtes XML im Narrativ (text.div)",
                                &format!("Malformed XML in the narrative (text.div): {msg}"),
                            ));
                        }
                        self.close();
                    }
                }
                Event::Empty(e) => {
                    self.open(&e)?;
                    self.close();
                }
                Event::End(_) => self.close(),
                Event::Text(t) => {
                    if !t.bytes().all(|b| b.is_ascii_whitespace()) {
                        self.stray_text()?;
                    }
                }
                Event::CData(_) | Event::GeneralRef(_) => self.stray_text()?,
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if !self.stack.is_empty() {
            return Err(self.fatal(
                "structure",
                self.reader.buffer_position(),
                "Das Dokument endet, bevor alle Elemente geschlossen sind",
                "The document ends before all elements are closed",
            ));
        }
        Ok(())
    }

    fn stray_text(&mut self) -> Result<(), Issue> {
        if self.stack.is_empty() {
            return Err(self.fatal(
                "structure",
                self.reader.buffer_position(),
                "Text außerhalb des Wurzelelements",
                "Text outside the root element",
            ));
        }
        self.invalid(
            "structure",
            "FHIR-XML erlaubt hier keinen Textinhalt; Werte gehören in das Attribut value",
            "FHIR XML allows no text content here; values belong in the value attribute",
        );
        Ok(())
    }

    /// Pushes a frame for a start tag and reads its attributes.
    fn open(&mut self, e: &BytesStart<'_>) -> Result<&'a str, Issue> {
        let pos = self.reader.buffer_position();
        let qname = e.name();
        let raw = qname.as_ref();
        let Some(name) = within(self.text, raw.as_bytes()) else {
            return Err(self.fatal("structure", pos, "Ungültiger Elementname", "Invalid element name"));
        };
        if name.contains(':') {
            return Err(self.fatal(
                "not-supported",
                pos,
                "Namensraum-Präfixe werden nicht unterstützt; FHIR-XML nutzt den Standard-Namensraum",
                "Namespace prefixes are not supported; FHIR XML uses the default namespace",
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.fatal("too-costly", pos, "Die Verschachtelung ist zu tief", "Nesting is too deep"));
        }
        if self.stack.is_empty() && self.root.is_some() {
            return Err(self.fatal("structure", pos, "Mehr als ein Wurzelelement", "More than one root element"));
        }
        let is_resource = match self.stack.last() {
            None => true,
            Some(parent) => parent.name == "resource" || parent.name == "contained",
        };
        let idx = match self.stack.last_mut() {
            Some(parent) if !is_resource => parent.next_idx(name),
            _ => 0,
        };
        self.stack.push(Frame::new(name, idx, is_resource));
        let is_root = self.stack.len() == 1;
        let mut xmlns_ok = !is_root;
        // No FHIR element has more than a few attributes. The cap was first a guard against
        // quick-xml's quadratic duplicate check (RUSTSEC-2026-0194, fixed in 0.41); it stays,
        // since nothing legitimate comes near it.
        for (n, attr) in e.attributes().enumerate() {
            if n >= MAX_ATTRIBUTES {
                return Err(self.fatal(
                    "too-costly",
                    pos,
                    &format!("Mehr als {MAX_ATTRIBUTES} Attribute an einem Element"),
                    &format!("More than {MAX_ATTRIBUTES} attributes on one element"),
                ));
            }
            let attr = match attr {
                Ok(a) => a,
                Err(err) => {
                    let msg = err.to_string();
                    return Err(self.fatal(
                        "structure",
                        pos,
                        "Fehlerhafte Attribute",
                        &format!("Malformed attributes: {msg}"),
                    ));
                }
            };
            let key = attr.key.as_ref();
            let value = match within(self.text, attr.value.as_bytes()) {
                Some(raw) if !raw.contains('&') => Cow::Borrowed(raw),
                Some(raw) => match quick_xml::escape::unescape(raw) {
                    Ok(v) => Cow::Owned(v.into_owned()),
                    Err(err) => {
                        let msg = err.to_string();
                        return Err(self.fatal(
                            "structure",
                            pos,
                            "Unbekannte Entität oder fehlerhafte Zeichenreferenz in einem Attribut",
                            &format!("Unknown entity or bad character reference in an attribute: {msg}"),
                        ));
                    }
                },
                None => return Err(self.fatal("structure", pos, "Ungültiges Attribut", "Invalid attribute")),
            };
            match key {
                "value" => {
                    if let Some(f) = self.stack.last_mut() {
                        f.el.value = Some(Prim::Str(value));
                    }
                }
                "url" | "id" => {
                    let child_name = if key == "url" { "url" } else { "id" };
                    if let Some(f) = self.stack.last_mut() {
                        f.el.children.push(Child {
                            name: Cow::Borrowed(child_name),
                            shape: Shape::Single,
                            el: Element { value: Some(Prim::Str(value)), ..Element::default() },
                        });
                    }
                }
                "xmlns" => {
                    if value == FHIR_NS {
                        xmlns_ok = true;
                    } else if name != "div" {
                        self.invalid(
                            "structure",
                            "Element in einem fremden Namensraum",
                            "Element in a foreign namespace",
                        );
                    }
                }
                // Namespace declarations and foreign attributes such as xsi:schemaLocation.
                k if k.contains(':') => {}
                _ => self.invalid(
                    "structure",
                    "Unbekanntes Attribut; FHIR-XML kennt nur value, url und id",
                    "Unknown attribute; FHIR XML knows only value, url and id",
                ),
            }
        }
        if !xmlns_ok {
            self.invalid(
                "structure",
                "Das Wurzelelement steht nicht im FHIR-Namensraum http://hl7.org/fhir",
                "The root element is not in the FHIR namespace http://hl7.org/fhir",
            );
        }
        Ok(name)
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else { return };
        let Frame { name, mut el, is_resource, .. } = frame;
        let Some(parent) = self.stack.last_mut() else {
            el.resource_type = Some(Cow::Borrowed(name));
            self.root = Some(el);
            return;
        };
        if is_resource {
            if parent.el.resource_type.is_some() || !parent.el.children.is_empty() {
                self.invalid(
                    "structure",
                    "Mehr als eine Ressource in einem resource-Element",
                    "More than one resource inside one resource element",
                );
                return;
            }
            el.resource_type = Some(Cow::Borrowed(name));
            parent.el.resource_type = el.resource_type;
            parent.el.children = el.children;
            parent.el.value = el.value;
        } else {
            parent.el.children.push(Child { name: Cow::Borrowed(name), shape: Shape::Unknown, el });
        }
    }
}
