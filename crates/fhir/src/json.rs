//! FHIR JSON → [`Element`] tree in one pass over the body.
//!
//! serde_json does the tokenising; our visitor builds the tree directly, so duplicate keys
//! (which `serde_json::Value` would silently overwrite) and excessive nesting are caught
//! while reading. The visitor keeps a stack of keys and indices: when the parser fails, the
//! stack still names where it was.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::tree::{Child, Element, Prim, Seg, Shape, push_seg};
use crate::{Issue, MAX_DEPTH};

enum PSeg<'de> {
    Key(Cow<'de, str>),
    Idx(usize),
}

enum Fail {
    Duplicate(String),
    TooDeep,
    LongKey,
}

/// Longest key read, in bytes. FHIR's element names are far shorter; the limit keeps a key
/// that had to be unescaped (and so is copied for every item of its array) from making a
/// body of a megabyte allocate gigabytes.
const MAX_KEY_BYTES: usize = 128;

struct Ctx<'de> {
    path: RefCell<Vec<PSeg<'de>>>,
    /// The children of every object being read, innermost last: an object takes its own off
    /// the top when it ends, into a vector of the exact size (one allocation per object).
    children: RefCell<Vec<Child<'de>>>,
    /// The keys seen so far in every object being read, innermost last, for the duplicate
    /// check.
    keys: RefCell<Vec<Cow<'de, str>>>,
    depth: Cell<usize>,
    fail: RefCell<Option<Fail>>,
    issues: RefCell<Vec<Issue>>,
    /// The key whose value was read last in the current object: a syntax error is most
    /// often right after it (a missing comma).
    after: RefCell<Option<Cow<'de, str>>>,
}

impl Ctx<'_> {
    fn render(&self) -> String {
        let mut out = String::from("Bundle");
        for seg in self.path.borrow().iter() {
            match seg {
                PSeg::Key(k) => push_seg(&mut out, Seg::Field(k)),
                PSeg::Idx(i) => push_seg(&mut out, Seg::Index(*i)),
            }
        }
        out
    }

    fn issue(&self, code: &'static str, diagnostics: &str) {
        // One past what the validator reports, so it says that it stopped; a body with an
        // issue per element does not make the answer grow with it.
        if self.issues.borrow().len() > crate::validate::MAX_ISSUES {
            return;
        }
        let expr = self.render();
        self.issues.borrow_mut().push(Issue::error(code, expr, diagnostics));
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            *self.fail.borrow_mut() = Some(Fail::TooDeep);
            return Err(E::custom("nesting too deep"));
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }
}

/// A JSON value as the map visitor needs to see it.
enum JVal<'de> {
    Null,
    Prim(Prim<'de>),
    Obj(Element<'de>),
    /// An array of this many items; they are already the parent's children when it had a
    /// key to give them (see [`ValSeed::key`]).
    Arr(usize),
}

struct ValSeed<'c, 'de> {
    ctx: &'c Ctx<'de>,
    /// The key of the member this value belongs to: an array's items become children of
    /// that name as they are read. `None` for the body itself, for `resourceType` and inside
    /// arrays (a nested array makes the card invalid anyway), where the items are read and
    /// dropped.
    key: Option<Cow<'de, str>>,
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_, 'de> {
    type Value = JVal<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_, 'de> {
    type Value = JVal<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JVal::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Other))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Other))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Other))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Other))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JVal::Prim(Prim::Str(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        ctx.enter()?;
        let mut items = 0;
        loop {
            ctx.path.borrow_mut().push(PSeg::Idx(items));
            let Some(v) = seq.next_element_seed(ValSeed { ctx, key: None })? else {
                ctx.path.borrow_mut().pop();
                break;
            };
            let el = match v {
                // A null in a primitive array stands for a value given only by extensions
                // in the `_name` twin; keep the slot so indices line up.
                JVal::Null => Element::default(),
                JVal::Prim(p) => Element { value: Some(p), ..Element::default() },
                JVal::Obj(el) => el,
                JVal::Arr(_) => {
                    ctx.issue(
                        "structure",
                        "Verschachtelte Arrays sind in FHIR JSON nicht erlaubt. / Nested arrays are not allowed in FHIR JSON.",
                    );
                    Element::default()
                }
            };
            if let Some(name) = &self.key {
                ctx.children.borrow_mut().push(Child { name: name.clone(), shape: Shape::Array, el });
            }
            items += 1;
            ctx.path.borrow_mut().pop();
        }
        ctx.leave();
        Ok(JVal::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        ctx.enter()?;
        let mut el = Element::default();
        let first_child = ctx.children.borrow().len();
        let first_key = ctx.keys.borrow().len();
        let mut key_set: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            // Linear scan for the usual small objects; a set once an object grows large, so
            // a hostile body with many keys cannot make this quadratic.
            let dup = match &mut key_set {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let mut keys = ctx.keys.borrow_mut();
                    let dup = keys.iter().skip(first_key).any(|seen| *seen == key);
                    keys.push(key.clone());
                    if keys.len() - first_key > 32 {
                        key_set = Some(keys.drain(first_key..).collect());
                    }
                    dup
                }
            };
            if key.len() > MAX_KEY_BYTES {
                *ctx.fail.borrow_mut() = Some(Fail::LongKey);
                return Err(de::Error::custom("key too long"));
            }
            ctx.path.borrow_mut().push(PSeg::Key(key.clone()));
            ctx.after.borrow_mut().take();
            if dup {
                *ctx.fail.borrow_mut() = Some(Fail::Duplicate(key.to_string()));
                return Err(de::Error::custom("duplicate key"));
            }
            let is_resource_type = key == "resourceType";
            let items_key = (!is_resource_type).then(|| key.clone());
            let v = map.next_value_seed(ValSeed { ctx, key: items_key })?;
            let done = key.clone();
            match v {
                JVal::Null => ctx.issue(
                    "structure",
                    "null ist in FHIR JSON nicht erlaubt; das Element ist wegzulassen. / \
                     null is not allowed in FHIR JSON; omit the element.",
                ),
                JVal::Prim(p) if is_resource_type => match p {
                    Prim::Str(s) => el.resource_type = Some(s),
                    Prim::Other => ctx.issue(
                        "structure",
                        "resourceType muss eine Zeichenkette sein. / resourceType must be a string.",
                    ),
                },
                JVal::Prim(p) => ctx.children.borrow_mut().push(Child {
                    name: key,
                    shape: Shape::Single,
                    el: Element { value: Some(p), ..Element::default() },
                }),
                JVal::Obj(_) | JVal::Arr(_) if is_resource_type => {
                    ctx.issue("structure", "resourceType muss eine Zeichenkette sein. / resourceType must be a string.")
                }
                JVal::Obj(child) => {
                    ctx.children.borrow_mut().push(Child { name: key, shape: Shape::Single, el: child })
                }
                JVal::Arr(0) => ctx.issue(
                    "structure",
                    "Leere Arrays sind in FHIR JSON nicht erlaubt. / Empty arrays are not allowed in FHIR JSON.",
                ),
                JVal::Arr(_) => {}
            }
            ctx.path.borrow_mut().pop();
            *ctx.after.borrow_mut() = Some(done);
        }
        el.children = ctx.children.borrow_mut().drain(first_child..).collect();
        ctx.keys.borrow_mut().truncate(first_key);
        ctx.leave();
        Ok(JVal::Obj(el))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Parses a JSON body. `Err` means unreadable; `Ok` carries the tree and the issues already
/// found while reading (nulls, empty arrays), which make the card invalid.
pub(crate) fn parse(body: &[u8]) -> Result<(Element<'_>, Vec<Issue>), Vec<Issue>> {
    let ctx = Ctx {
        path: RefCell::new(Vec::with_capacity(16)),
        children: RefCell::new(Vec::with_capacity(64)),
        keys: RefCell::new(Vec::with_capacity(64)),
        depth: Cell::new(0),
        fail: RefCell::new(None),
        issues: RefCell::new(Vec::new()),
        after: RefCell::new(None),
    };
    // One UTF-8 check of the whole body is much cheaper than serde_json's check of every
    // string on its own; a body that fails it is read byte-wise as before, so that the
    // error names the place.
    let result = match std::str::from_utf8(body) {
        Ok(text) => read_value(&ctx, serde_json::Deserializer::from_str(text)),
        Err(_) => read_value(&ctx, serde_json::Deserializer::from_slice(body)),
    };
    let value = match result {
        Ok(v) => v,
        Err(e) => return Err(vec![unreadable(&ctx, &e)]),
    };
    let mut issues = ctx.issues.into_inner();
    match value {
        JVal::Obj(el) => Ok((el, issues)),
        _ => {
            issues.push(Issue::error(
                "structure",
                "Bundle",
                "Der Inhalt ist kein JSON-Objekt, also keine FHIR-Ressource. / The body is not a JSON object, hence no FHIR resource.",
            ));
            Ok((Element::default(), issues))
        }
    }
}

fn read_value<'de, R: serde_json::de::Read<'de>>(
    ctx: &Ctx<'de>,
    mut de: serde_json::Deserializer<R>,
) -> Result<JVal<'de>, serde_json::Error> {
    let value = ValSeed { ctx, key: None }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

fn unreadable(ctx: &Ctx<'_>, e: &serde_json::Error) -> Issue {
    let (line, col) = (e.line(), e.column());
    let mut expression = ctx.render();
    match ctx.fail.borrow_mut().take() {
        Some(Fail::Duplicate(key)) => Issue::fatal(
            "structure",
            expression,
            format!(
                "Der Schlüssel „{key}“ kommt doppelt vor (Zeile {line}, Spalte {col}); FHIR verbietet doppelte Schlüssel. / \
                 Duplicate key \"{key}\" at line {line}, column {col}; FHIR forbids duplicate keys."
            ),
        ),
        Some(Fail::LongKey) => Issue::fatal(
            "too-costly",
            expression,
            format!(
                "Ein Schlüssel ist länger als {MAX_KEY_BYTES} Bytes (Zeile {line}, Spalte {col}); \
                 FHIR kennt keine so langen Elementnamen. / \
                 A key longer than {MAX_KEY_BYTES} bytes at line {line}, column {col}; no FHIR element name is that long."
            ),
        ),
        Some(Fail::TooDeep) => Issue::fatal(
            "too-costly",
            expression,
            format!(
                "Die Verschachtelung ist tiefer als {MAX_DEPTH} Ebenen (Zeile {line}, Spalte {col}). / \
                 Nesting deeper than {MAX_DEPTH} levels at line {line}, column {col}."
            ),
        ),
        None => {
            let what = match e.classify() {
                serde_json::error::Category::Eof => "Der Inhalt endet vorzeitig",
                _ => "Syntaxfehler",
            };
            // serde_json's message names the expected token; it never quotes string values.
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or("");
            let (nach, after) = match ctx.after.borrow().as_deref() {
                Some(key) => {
                    push_seg(&mut expression, Seg::Field(key));
                    (" direkt nach diesem Element", " right after this element")
                }
                None => ("", ""),
            };
            Issue::fatal(
                "structure",
                expression,
                format!(
                    "Kein gültiges JSON: {what}{nach} in Zeile {line}, Spalte {col}. / \
                     Malformed JSON{after} at line {line}, column {col}: {msg}."
                ),
            )
        }
    }
}
