//! One validator for both formats: walks the card along the KBV profiles (PC Bundle,
//! Composition, Encounter; CMR/PC Patient, Practitioner, Organization), reports every
//! problem with its location and, if there is none, yields the facts.
//!
//! Element tables (`Spec`) list what each profile admits and how often; anything else is an
//! error, which is also how a full examination document (Observations, sections) is turned
//! away: the gateway never stores medical findings.

use jiff::civil::Date;
use oegd_domain::{Checkup, Kvnr};

use crate::card::{CardOrganization, CardPatient, CardPractitioner, ParticipationCard};
use crate::datetime::{Partial, is_instant, parse_date, parse_date_time};
use crate::tree::{Element, Path, Prim, Shape};
use crate::{Issue, PC_BUNDLE_PROFILE};

/// More issues than this are not worth reading; a hostile body could otherwise produce
/// one per element.
pub(crate) const MAX_ISSUES: usize = 100;
/// Most entries a bundle may have: a card has five or six; more are refused unread, so
/// that the checks across entries stay cheap.
const MAX_ENTRIES: usize = 50;
/// Longest primitive value (in characters) the validator reads.
const MAX_PRIMITIVE_CHARS: usize = 1024;

const KBV_SD: &str = "https://fhir.kbv.de/StructureDefinition/";
const SNOMED: &str = "http://snomed.info/sct";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
const DE_BASIS_ID_TYPE: &str = "http://fhir.de/CodeSystem/identifier-type-de-basis";
const KVID_10: &str = "http://fhir.de/NamingSystem/gkv/kvid-10";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const PARTICIPATION_STATUS: &str = "314845004";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rep {
    One,
    Many,
}
use Rep::{Many, One};

type Spec = &'static [(&'static str, Rep)];

const BUNDLE: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("identifier", One),
    ("type", One),
    ("timestamp", One),
    ("entry", Many),
    ("signature", One),
];
const META: Spec = &[
    ("id", One),
    ("extension", Many),
    ("versionId", One),
    ("lastUpdated", One),
    ("source", One),
    ("profile", Many),
    ("security", Many),
    ("tag", Many),
];
const ENTRY: Spec = &[("id", One), ("extension", Many), ("fullUrl", One), ("resource", One)];
const NARRATIVE: Spec = &[("id", One), ("extension", Many), ("status", One), ("div", One)];
const CODEABLE: Spec = &[("id", One), ("extension", Many), ("coding", Many), ("text", One)];
const CODING: Spec = &[
    ("id", One),
    ("extension", Many),
    ("system", One),
    ("version", One),
    ("code", One),
    ("display", One),
    ("userSelected", One),
];
const REFERENCE: Spec =
    &[("id", One), ("extension", Many), ("reference", One), ("type", One), ("identifier", One), ("display", One)];
const IDENTIFIER: Spec = &[
    ("id", One),
    ("extension", Many),
    ("use", One),
    ("type", One),
    ("system", One),
    ("value", One),
    ("period", One),
    ("assigner", One),
];
const HUMAN_NAME: Spec = &[
    ("id", One),
    ("extension", Many),
    ("use", One),
    ("text", One),
    ("family", One),
    ("given", Many),
    ("prefix", Many),
    ("suffix", Many),
    ("period", One),
];
const PERIOD: Spec = &[("id", One), ("extension", Many), ("start", One), ("end", One)];
const ADDRESS: Spec = &[
    ("id", One),
    ("extension", Many),
    ("use", One),
    ("type", One),
    ("text", One),
    ("line", Many),
    ("city", One),
    ("district", One),
    ("state", One),
    ("postalCode", One),
    ("country", One),
    ("period", One),
];
const CONTACT_POINT: Spec =
    &[("id", One), ("extension", Many), ("system", One), ("value", One), ("use", One), ("rank", One), ("period", One)];
const COMPOSITION: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("text", One),
    ("extension", Many),
    ("identifier", One),
    ("status", One),
    ("type", One),
    ("subject", One),
    ("encounter", One),
    ("date", One),
    ("author", Many),
    ("title", One),
];
const ENCOUNTER: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("text", One),
    ("extension", Many),
    ("identifier", Many),
    ("status", One),
    ("class", One),
    ("type", Many),
    ("subject", One),
    ("participant", Many),
    ("period", One),
    ("serviceProvider", One),
];
const PARTICIPANT: Spec = &[("id", One), ("extension", Many), ("type", Many), ("period", One), ("individual", One)];
/// No sex, no address, no contact data: the card names the child and nothing more.
const PATIENT: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("text", One),
    ("extension", Many),
    ("identifier", Many),
    ("name", Many),
    ("birthDate", One),
];
const PRACTITIONER: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("text", One),
    ("extension", Many),
    ("identifier", Many),
    ("name", Many),
    ("telecom", Many),
    ("address", Many),
    ("qualification", Many),
];
const ORGANIZATION: Spec = &[
    ("id", One),
    ("meta", One),
    ("language", One),
    ("text", One),
    ("extension", Many),
    ("identifier", Many),
    ("type", Many),
    ("name", One),
    ("alias", Many),
    ("telecom", Many),
    ("address", Many),
];

fn msg(de: &str, en: &str) -> String {
    let mut s = String::with_capacity(de.len() + en.len() + 3);
    s.push_str(de);
    s.push_str(" / ");
    s.push_str(en);
    s
}

/// Quotes a code or other non-personal value from the input, shortened and stripped of
/// control characters so it cannot flood or garble a diagnostic.
fn q(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(120).collect();
    if s.chars().count() > 120 {
        out.push('…');
    }
    out
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

fn is_urn_uuid(s: &str) -> bool {
    s.strip_prefix("urn:uuid:").is_some_and(is_uuid)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn digit_at(s: &str, i: usize) -> u32 {
    s.as_bytes().get(i).map_or(0, |b| u32::from(b.wrapping_sub(b'0')))
}

/// LANR: digits 1–6 weighted 4,9,4,9,4,9; the 7th digit is (10 − sum mod 10) mod 10.
/// Pseudo numbers of the KBV (555555…, 999999…) carry no check digit.
fn lanr_ok(s: &str) -> bool {
    if !digits(s, 9) {
        return false;
    }
    if s.starts_with("555555") || s.starts_with("999999") {
        return true;
    }
    let sum: u32 = [4, 9, 4, 9, 4, 9].iter().enumerate().map(|(i, w)| digit_at(s, i) * w).sum();
    (10 - sum % 10) % 10 == digit_at(s, 6)
}

/// EFN: 15 digits with a Luhn check digit.
fn efn_ok(s: &str) -> bool {
    digits(s, 15)
        && s.bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
            })
            .sum::<u32>()
            % 10
            == 0
}

/// IK: 9 digits; digits 3–8 weighted 2,1,2,1,2,1, cross sums, mod 10 = 9th digit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Composition,
    Encounter,
    Patient,
    Practitioner,
    Organization,
}

impl Kind {
    fn from_type(t: &str) -> Option<Kind> {
        Some(match t {
            "Composition" => Kind::Composition,
            "Encounter" => Kind::Encounter,
            "Patient" => Kind::Patient,
            "Practitioner" => Kind::Practitioner,
            "Organization" => Kind::Organization,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Composition => "Composition",
            Kind::Encounter => "Encounter",
            Kind::Patient => "Patient",
            Kind::Practitioner => "Practitioner",
            Kind::Organization => "Organization",
        }
    }

    /// Profile names this resource may declare; 1.0.0 references the PC profiles from the
    /// Composition but the CMR profiles from the Encounter, so both are accepted there.
    fn profiles(self, version: Option<&str>) -> &'static [&'static str] {
        let v100 = version != Some("1.0.1");
        match self {
            Kind::Composition => &["KBV_PR_MIO_PC_Composition_Examination_Participation"],
            Kind::Encounter => &["KBV_PR_MIO_PC_Encounter"],
            Kind::Patient if v100 => &["KBV_PR_MIO_CMR_Patient", "KBV_PR_MIO_PC_Patient"],
            Kind::Patient => &["KBV_PR_MIO_CMR_Patient"],
            Kind::Practitioner if v100 => &["KBV_PR_MIO_CMR_Practitioner", "KBV_PR_MIO_PC_Practitioner"],
            Kind::Practitioner => &["KBV_PR_MIO_CMR_Practitioner"],
            Kind::Organization if v100 => &["KBV_PR_MIO_CMR_Organization", "KBV_PR_MIO_PC_Organization"],
            Kind::Organization => &["KBV_PR_MIO_CMR_Organization"],
        }
    }
}

/// What we learnt from one entry.
enum Facts {
    None,
    Composition {
        subject: Option<usize>,
        encounter: Option<usize>,
        authors: Vec<Option<usize>>,
    },
    Encounter {
        checkup: Option<Checkup>,
        exam_date: Option<Date>,
        subject: Option<usize>,
        performer: Option<usize>,
        provider: Option<usize>,
    },
    Patient(Option<CardPatient>),
    Practitioner(Option<CardPractitioner>),
    Organization(Option<CardOrganization>),
}

struct Entry<'t> {
    full_url: Option<&'t str>,
    kind: Option<Kind>,
    resource: Option<&'t Element<'t>>,
    /// The profile name the resource declares (for the 1.0.0 duplicate-Patient shape).
    profile: Option<&'t str>,
    referenced: bool,
}

struct V<'t> {
    issues: Vec<Issue>,
    truncated: bool,
    version: Option<&'static str>,
    entries: Vec<Entry<'t>>,
}

pub(crate) fn validate(root: &Element<'_>, issues: Vec<Issue>) -> Result<ParticipationCard, Vec<Issue>> {
    // The readers stop collecting one past the limit, so more than MAX_ISSUES here means
    // they were cut short.
    let mut issues = issues;
    let truncated = issues.len() > MAX_ISSUES;
    issues.truncate(MAX_ISSUES);
    let mut v = V { issues, truncated, version: None, entries: Vec::new() };
    let card = v.bundle(root);
    if v.truncated {
        v.issues.push(Issue::error(
            "too-costly",
            "Bundle",
            msg(
                &format!("Nach {MAX_ISSUES} Fehlern wurde die Prüfung abgebrochen."),
                &format!("Validation stopped after {MAX_ISSUES} issues."),
            ),
        ));
    }
    match card {
        Some(card) if v.issues.is_empty() => Ok(card),
        _ if v.issues.is_empty() => Err(vec![Issue::error(
            "exception",
            "Bundle",
            msg("Die Teilnahmekarte konnte nicht ausgewertet werden.", "The card could not be evaluated."),
        )]),
        _ => Err(v.issues),
    }
}

impl<'t> V<'t> {
    fn err(&mut self, code: &'static str, path: &Path<'_>, diagnostics: String) {
        if self.issues.len() >= MAX_ISSUES {
            self.truncated = true;
            return;
        }
        self.issues.push(Issue::error(code, path.render(), diagnostics));
    }

    /// FHIR allows strings up to 1 MB; nothing on a participation card needs more than a
    /// few dozen characters, and a megabyte name would travel on into linking and letters.
    /// Reports a too long value once per location.
    fn too_long(&mut self, path: &Path<'_>, s: &str) -> bool {
        if s.len() <= MAX_PRIMITIVE_CHARS || s.chars().count() <= MAX_PRIMITIVE_CHARS {
            return false;
        }
        let at = path.render();
        if !self.issues.iter().any(|i| i.code == "too-long" && i.expression == at) {
            self.err(
                "too-long",
                path,
                msg(
                    &format!("Der Wert ist länger als {MAX_PRIMITIVE_CHARS} Zeichen."),
                    &format!("The value is longer than {MAX_PRIMITIVE_CHARS} characters."),
                ),
            );
        }
        true
    }

    fn missing(&mut self, path: &Path<'_>) {
        let p = path.render();
        self.err(
            "required",
            path,
            msg(&format!("Das Pflichtelement {p} fehlt."), &format!("The required element {p} is missing.")),
        );
    }

    /// Checks that only elements of `spec` occur, each as often as allowed and (in JSON) in
    /// the right shape.
    fn shape(&mut self, el: &'t Element<'t>, path: &Path<'_>, spec: Spec) {
        if el.value.is_some() {
            self.err(
                "structure",
                path,
                msg(
                    "Ein zusammengesetztes Element darf keinen einfachen Wert haben.",
                    "A complex element cannot have a primitive value.",
                ),
            );
        }
        let mut counts = [0u32; 16];
        let mut reported: Vec<&str> = Vec::new();
        for child in &el.children {
            let name: &str = &child.name;
            let (base, underscore) = match name.strip_prefix('_') {
                Some(b) => (b, true),
                None => (name, false),
            };
            let Some(pos) = spec.iter().position(|(n, _)| *n == base) else {
                // Past MAX_ISSUES names nothing more is reported anyway; the guard keeps this
                // linear for a body with 100 000 unknown keys.
                if reported.len() >= MAX_ISSUES {
                    self.truncated = true;
                } else if !reported.contains(&name) {
                    reported.push(name);
                    let p = path.field(name);
                    self.err(
                        "structure",
                        &p,
                        msg(
                            &format!(
                                "Das Element „{}“ ist im Profil der Teilnahmekarte hier nicht vorgesehen.",
                                q(name)
                            ),
                            &format!("Element \"{}\" is not allowed here by the participation card profile.", q(name)),
                        ),
                    );
                }
                continue;
            };
            if underscore {
                continue;
            }
            // Every allowed primitive, read later or not (the XHTML narrative is opaque).
            if let Some(v) = child.el.str()
                && base != "div"
            {
                self.too_long(&path.field(name), v);
            }
            let rep = spec.get(pos).map_or(Many, |(_, r)| *r);
            let count = counts.get_mut(pos);
            let n = count.map_or(0, |c| {
                *c += 1;
                *c
            });
            match (rep, child.shape) {
                (One, Shape::Array) if n == 1 => {
                    let p = path.field(name);
                    self.err(
                        "structure",
                        &p,
                        msg(
                            "Das Element darf nur einmal vorkommen und ist daher kein Array.",
                            "The element occurs at most once, so it must not be an array.",
                        ),
                    );
                }
                (Many, Shape::Single) => {
                    let p = path.field(name);
                    self.err(
                        "structure",
                        &p,
                        msg(
                            "Das Element kann wiederholt werden und muss in JSON ein Array sein.",
                            "The element repeats and must be an array in JSON.",
                        ),
                    );
                }
                (One, Shape::Unknown | Shape::Single) if n == 2 => {
                    let p = path.field(name);
                    self.err(
                        "structure",
                        &p,
                        msg("Das Element darf höchstens einmal vorkommen.", "The element may occur at most once."),
                    );
                }
                _ => {}
            }
        }
    }

    /// A primitive child as a string; `required` reports its absence.
    fn prim(&mut self, parent: &'t Element<'t>, name: &str, path: &Path<'_>, required: bool) -> Option<&'t str> {
        let p = path.field(name);
        let Some(el) = parent.first(name) else {
            if required {
                self.missing(&p);
            }
            return None;
        };
        for child in &el.children {
            if child.name != "extension" && child.name != "id" {
                self.err(
                    "structure",
                    &p,
                    msg(
                        "Ein einfaches Element darf nur Erweiterungen enthalten.",
                        "A primitive element may only contain extensions.",
                    ),
                );
                break;
            }
        }
        match &el.value {
            Some(Prim::Str(s)) if s.trim().is_empty() => {
                self.err("value", &p, msg("Der Wert ist leer.", "The value is empty."));
                None
            }
            Some(Prim::Str(s)) if self.too_long(&p, s) => None,
            Some(Prim::Str(s)) => Some(s),
            Some(Prim::Other) => {
                self.err("value", &p, msg("Der Wert muss eine Zeichenkette sein.", "The value must be a string."));
                None
            }
            None => {
                if required {
                    self.missing(&p);
                }
                None
            }
        }
    }

    /// A primitive that must equal a fixed value.
    fn fixed(&mut self, parent: &'t Element<'t>, name: &str, path: &Path<'_>, want: &str) -> bool {
        match self.prim(parent, name, path, true) {
            Some(v) if v == want => true,
            Some(v) => {
                let p = path.field(name);
                self.err(
                    "value",
                    &p,
                    msg(
                        &format!("Erwartet wird „{want}“, angegeben ist „{}“.", q(v)),
                        &format!("Expected \"{want}\", found \"{}\".", q(v)),
                    ),
                );
                false
            }
            None => false,
        }
    }

    /// The single child `name` of a complex type, shape-checked against `spec`.
    fn complex(
        &mut self,
        parent: &'t Element<'t>,
        name: &str,
        path: &Path<'_>,
        spec: Spec,
        required: bool,
    ) -> Option<&'t Element<'t>> {
        let el = parent.first(name);
        match el {
            Some(el) => self.shape(el, &path.field(name), spec),
            None if required => self.missing(&path.field(name)),
            None => {}
        }
        el
    }

    /// Checks `extension` children have a URL (their content belongs to other profiles).
    fn extensions(&mut self, el: &'t Element<'t>, path: &Path<'_>) {
        for (i, ext) in el.all("extension").enumerate() {
            let pe = path.field("extension");
            let pi = pe.index(i);
            self.prim(ext, "url", &pi, true);
        }
    }

    fn narrative(&mut self, res: &'t Element<'t>, path: &Path<'_>) {
        if let Some(text) = self.complex(res, "text", path, NARRATIVE, false) {
            let pt = path.field("text");
            self.prim(text, "status", &pt, true);
            if text.first("div").is_none() {
                self.missing(&pt.field("div"));
            }
        }
    }

    /// A Coding with fixed system, checking the code with `check`.
    fn coding(&mut self, coding: &'t Element<'t>, path: &Path<'_>, system: &str) -> Option<&'t str> {
        self.shape(coding, path, CODING);
        self.fixed(coding, "system", path, system);
        self.prim(coding, "code", path, true)
    }

    /// The one coding of a CodeableConcept (the profiles fix `coding` to 1..1).
    fn single_coding(&mut self, cc: &'t Element<'t>, path: &Path<'_>) -> Option<&'t Element<'t>> {
        self.shape(cc, path, CODEABLE);
        let pc = path.field("coding");
        let mut codings = cc.all("coding");
        let first = codings.next();
        if first.is_none() {
            self.missing(&pc);
        }
        if codings.next().is_some() {
            let p1 = pc.index(1);
            self.err("structure", &p1, msg("Genau eine Codierung ist erlaubt.", "Exactly one coding is allowed."));
        }
        first
    }

    /// Resolves a Reference against the bundle's fullUrls; the target must be one of `kinds`.
    fn reference(
        &mut self,
        el: Option<&'t Element<'t>>,
        path: &Path<'_>,
        kinds: &[Kind],
        required: bool,
    ) -> Option<usize> {
        let Some(el) = el else {
            if required {
                self.missing(path);
            }
            return None;
        };
        self.shape(el, path, REFERENCE);
        let target = self.prim(el, "reference", path, true)?;
        let pr = path.field("reference");
        let Some(idx) = self.entries.iter().position(|e| e.full_url == Some(target)) else {
            self.err(
                "not-found",
                &pr,
                msg(
                    &format!("Der Verweis „{}“ zeigt auf keinen Eintrag (fullUrl) des Bundles.", q(target)),
                    &format!("Reference \"{}\" does not resolve to an entry (fullUrl) in the bundle.", q(target)),
                ),
            );
            return None;
        };
        let entry = self.entries.get_mut(idx)?;
        entry.referenced = true;
        let kind = entry.kind;
        if kind.is_some_and(|k| kinds.contains(&k)) {
            Some(idx)
        } else {
            let want = kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(" oder ");
            let want_en = want.replace(" oder ", " or ");
            let got = kind.map_or("?", Kind::name);
            self.err(
                "value",
                &pr,
                msg(
                    &format!("Der Verweis zeigt auf eine Ressource vom Typ {got}; erwartet wird {want}."),
                    &format!("The reference points to a {got}; expected {want_en}."),
                ),
            );
            None
        }
    }

    fn profile(&mut self, res: &'t Element<'t>, path: &Path<'_>, names: &[&str]) -> Option<&'t str> {
        let meta = self.complex(res, "meta", path, META, false);
        let pm = path.field("meta");
        let pp = pm.field("profile");
        let Some(meta) = meta else {
            self.missing(&pp);
            return None;
        };
        let mut found = None;
        let mut count = 0;
        for (i, prof) in meta.all("profile").enumerate() {
            count += 1;
            let pi = pp.index(i);
            let Some(url) = prof.str() else {
                self.missing(&pi);
                continue;
            };
            let ok = url.strip_prefix(KBV_SD).and_then(|rest| rest.split_once('|')).and_then(|(name, ver)| {
                (names.contains(&name) && self.version.is_none_or(|v| v == ver)).then_some(name)
            });
            match ok {
                Some(name) if found.is_none() => found = Some(name),
                _ => {
                    let want = names
                        .iter()
                        .map(|n| format!("{KBV_SD}{n}|{}", self.version.unwrap_or("1.0.1")))
                        .collect::<Vec<_>>()
                        .join(" oder ");
                    self.err(
                        "value",
                        &pi,
                        msg(
                            &format!("Unerwartetes Profil „{}“; erwartet wird {want}.", q(url)),
                            &format!("Unexpected profile \"{}\"; expected {}.", q(url), want.replace(" oder ", " or ")),
                        ),
                    );
                }
            }
        }
        if count == 0 {
            self.missing(&pp);
        }
        found
    }

    fn bundle(&mut self, root: &'t Element<'t>) -> Option<ParticipationCard> {
        match root.resource_type.as_deref() {
            Some("Bundle") => {}
            Some(other) => {
                let p = Path::root("resourceType");
                self.err(
                    "structure",
                    &p,
                    msg(
                        &format!(
                            "Erwartet wird ein Bundle (Teilnahmekarte), angegeben ist eine Ressource vom Typ „{}“.",
                            q(other)
                        ),
                        &format!("Expected a Bundle (participation card), found a \"{}\" resource.", q(other)),
                    ),
                );
                return None;
            }
            None => {
                let p = Path::root("resourceType");
                self.err(
                    "structure",
                    &p,
                    msg(
                        "Der Ressourcentyp fehlt; erwartet wird ein Bundle.",
                        "The resource type is missing; expected a Bundle.",
                    ),
                );
                return None;
            }
        }
        let path = Path::root("Bundle");
        self.shape(root, &path, BUNDLE);

        // meta.profile: the PC Bundle in 1.0.0 or 1.0.1, nothing else.
        let pm = path.field("meta");
        let pp = pm.field("profile");
        match self.complex(root, "meta", &path, META, false) {
            None => self.missing(&pp),
            Some(meta) => {
                let mut n = 0;
                for (i, prof) in meta.all("profile").enumerate() {
                    n += 1;
                    let pi = pp.index(i);
                    let version = prof.str().and_then(|u| u.strip_prefix(PC_BUNDLE_PROFILE)).and_then(|r| match r {
                        "|1.0.0" => Some("1.0.0"),
                        "|1.0.1" => Some("1.0.1"),
                        _ => None,
                    });
                    match version {
                        Some(v) if self.version.is_none() => self.version = Some(v),
                        _ => {
                            let url = prof.str().map(q).unwrap_or_default();
                            self.err(
                                "value",
                                &pi,
                                msg(
                                    &format!(
                                        "Das Profil „{url}“ ist nicht das der Teilnahmekarte; erwartet wird {PC_BUNDLE_PROFILE}|1.0.1 oder |1.0.0."
                                    ),
                                    &format!(
                                        "Profile \"{url}\" is not the participation card's; expected {PC_BUNDLE_PROFILE}|1.0.1 or |1.0.0."
                                    ),
                                ),
                            );
                        }
                    }
                }
                if n == 0 {
                    self.missing(&pp);
                }
            }
        }

        // identifier: the card id, urn:uuid.
        let pid = path.field("identifier");
        let mut card_id = None;
        if let Some(ident) = self.complex(root, "identifier", &path, IDENTIFIER, true) {
            self.fixed(ident, "system", &pid, "urn:ietf:rfc:3937");
            if let Some(value) = self.prim(ident, "value", &pid, true) {
                if is_urn_uuid(value) {
                    card_id = Some(value);
                } else {
                    let pv = pid.field("value");
                    self.err(
                        "value",
                        &pv,
                        msg(
                            "Die Kennung der Karte muss „urn:uuid:“ gefolgt von einer UUID (Kleinbuchstaben) sein.",
                            "The card id must be \"urn:uuid:\" followed by a lower-case UUID.",
                        ),
                    );
                }
            }
        }
        self.fixed(root, "type", &path, "document");
        let timestamp = self.prim(root, "timestamp", &path, true);
        if let Some(ts) = timestamp
            && !is_instant(ts)
        {
            let p = path.field("timestamp");
            self.err(
                "value",
                &p,
                msg(
                    "Der Zeitstempel ist kein FHIR-instant (JJJJ-MM-TTThh:mm:ss mit Zeitzone).",
                    "The timestamp is not a FHIR instant (YYYY-MM-DDThh:mm:ss with time zone).",
                ),
            );
        }

        // Entries: index the fullUrls first so references can be resolved in any order.
        let pe = path.field("entry");
        if root.all("entry").nth(MAX_ENTRIES).is_some() {
            self.err(
                "too-costly",
                &pe,
                msg(
                    &format!("Mehr als {MAX_ENTRIES} Einträge; eine Teilnahmekarte hat etwa fünf."),
                    &format!("More than {MAX_ENTRIES} entries; a participation card has about five."),
                ),
            );
            return None;
        }
        let mut any = false;
        for (i, entry) in root.all("entry").enumerate() {
            any = true;
            let pi = pe.index(i);
            self.shape(entry, &pi, ENTRY);
            let full_url = self.prim(entry, "fullUrl", &pi, true);
            if let Some(url) = full_url {
                let pf = pi.field("fullUrl");
                if !is_urn_uuid(url) {
                    self.err(
                        "value",
                        &pf,
                        msg(
                            "fullUrl muss „urn:uuid:“ gefolgt von einer UUID sein.",
                            "fullUrl must be \"urn:uuid:\" followed by a UUID.",
                        ),
                    );
                } else if self.entries.iter().any(|e| e.full_url == Some(url)) {
                    self.err(
                        "invariant",
                        &pf,
                        msg("Die fullUrl kommt mehrfach vor.", "The fullUrl occurs more than once."),
                    );
                }
            }
            let resource = entry.first("resource");
            let pr = pi.field("resource");
            let kind = match resource.map(|r| r.resource_type.as_deref()) {
                None => {
                    self.missing(&pr);
                    None
                }
                Some(None) => {
                    self.missing(&pr.field("resourceType"));
                    None
                }
                Some(Some(t)) => {
                    let kind = Kind::from_type(t);
                    if kind.is_none() {
                        self.err(
                            "not-supported",
                            &pr,
                            msg(
                                &format!(
                                    "Ressourcen vom Typ „{}“ gehören nicht auf die Teilnahmekarte; medizinische Befunde \
                                     (eine vollständige Untersuchungsdokumentation) werden nicht angenommen.",
                                    q(t)
                                ),
                                &format!(
                                    "Resources of type \"{}\" are not part of a participation card; medical findings \
                                     (a full examination document) are not accepted.",
                                    q(t)
                                ),
                            ),
                        );
                    }
                    kind
                }
            };
            self.entries.push(Entry { full_url, kind, resource, profile: None, referenced: false });
        }
        if !any {
            self.missing(&pe);
            return None;
        }

        // The first entry must be the Composition.
        if let Some(first) = self.entries.first()
            && first.resource.is_some()
            && first.kind != Some(Kind::Composition)
        {
            let p0 = pe.index(0);
            let pr = p0.field("resource");
            self.err(
                "structure",
                &pr,
                msg(
                    "Der erste Eintrag eines Dokuments muss die Composition sein.",
                    "The first entry of a document must be the Composition.",
                ),
            );
        }

        // Each resource along its profile.
        let mut facts = Vec::with_capacity(self.entries.len());
        for i in 0..self.entries.len() {
            let pi = pe.index(i);
            let pr = pi.field("resource");
            let (kind, res) = match self.entries.get(i) {
                Some(Entry { kind: Some(k), resource: Some(r), .. }) => (*k, *r),
                _ => {
                    facts.push(Facts::None);
                    continue;
                }
            };
            let profile = self.profile(res, &pr, kind.profiles(self.version));
            if let Some(e) = self.entries.get_mut(i) {
                e.profile = profile;
            }
            self.extensions(res, &pr);
            self.narrative(res, &pr);
            let f = match kind {
                Kind::Composition => self.composition(res, &pr),
                Kind::Encounter => self.encounter(res, &pr),
                Kind::Patient => Facts::Patient(self.patient(res, &pr)),
                Kind::Practitioner => Facts::Practitioner(self.practitioner(res, &pr)),
                Kind::Organization => Facts::Organization(self.organization(res, &pr)),
            };
            facts.push(f);
        }

        self.cross_check(&pe, facts, card_id, timestamp)
    }

    fn cross_check(
        &mut self,
        pe: &Path<'_>,
        facts: Vec<Facts>,
        card_id: Option<&str>,
        timestamp: Option<&str>,
    ) -> Option<ParticipationCard> {
        // One Composition, one Encounter; Patients: one, or in 1.0.0 one per profile name.
        let mut compositions = Vec::new();
        let mut encounters = Vec::new();
        let mut patients = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            match e.kind {
                Some(Kind::Composition) => compositions.push(i),
                Some(Kind::Encounter) => encounters.push(i),
                Some(Kind::Patient) => patients.push(i),
                _ => {}
            }
        }
        for (what, list) in [(Kind::Composition, &compositions), (Kind::Encounter, &encounters)] {
            if list.is_empty() {
                self.err(
                    "required",
                    pe,
                    msg(
                        &format!("Die Teilnahmekarte enthält keine {}.", what.name()),
                        &format!("The card contains no {}.", what.name()),
                    ),
                );
            }
            for &i in list.iter().skip(1) {
                let pi = pe.index(i);
                let pr = pi.field("resource");
                self.err(
                    "structure",
                    &pr,
                    msg(
                        &format!("Nur eine {} ist erlaubt.", what.name()),
                        &format!("Only one {} is allowed.", what.name()),
                    ),
                );
            }
        }
        if patients.is_empty() {
            self.err(
                "required",
                pe,
                msg("Die Teilnahmekarte enthält keinen Patient.", "The card contains no Patient."),
            );
        }
        let duplicate_ok = self.version == Some("1.0.0")
            && patients.len() == 2
            && patients.first().and_then(|i| self.entries.get(*i)).and_then(|e| e.profile)
                != patients.get(1).and_then(|i| self.entries.get(*i)).and_then(|e| e.profile);
        if patients.len() > 1 && !duplicate_ok {
            for &i in patients.iter().skip(1) {
                let pi = pe.index(i);
                let pr = pi.field("resource");
                self.err(
                    "structure",
                    &pr,
                    msg(
                        "Nur ein Patient ist erlaubt (in Version 1.0.0 höchstens je einer unter dem CMR- und dem PC-Profil).",
                        "Only one Patient is allowed (in version 1.0.0 at most one per CMR and PC profile).",
                    ),
                );
            }
        }

        // Every entry must be reachable from the Composition or Encounter.
        for i in 0..self.entries.len() {
            let unreferenced =
                self.entries.get(i).is_some_and(|e| !e.referenced && e.kind.is_some_and(|k| k != Kind::Composition));
            if unreferenced {
                let pi = pe.index(i);
                self.err(
                    "invariant",
                    &pi,
                    msg(
                        "Auf diesen Eintrag verweist nichts in der Teilnahmekarte.",
                        "Nothing in the card references this entry.",
                    ),
                );
            }
        }

        let comp_idx = *compositions.first()?;
        let enc_idx = *encounters.first()?;
        let Some(Facts::Composition { subject, encounter, authors }) = facts.get(comp_idx) else { return None };
        let Some(Facts::Encounter { checkup, exam_date, subject: enc_subject, performer, provider }) =
            facts.get(enc_idx)
        else {
            return None;
        };
        let pc = pe.index(comp_idx);
        let pcr = pc.field("resource");
        let pen = pe.index(enc_idx);
        let penr = pen.field("resource");
        if encounter.is_some_and(|e| e != enc_idx) {
            let p = pcr.field("encounter");
            self.err(
                "value",
                &p,
                msg("Der Verweis muss auf die Encounter der Karte zeigen.", "Must reference the card's Encounter."),
            );
        }

        let patient_of = |i: Option<usize>| match i.and_then(|i| facts.get(i)) {
            Some(Facts::Patient(p)) => p.as_ref(),
            _ => None,
        };
        let patient = patient_of(*subject);
        if let (Some(s), Some(es)) = (subject, enc_subject)
            && s != es
        {
            let same_content = patient.is_some() && patient == patient_of(Some(*es));
            if !(duplicate_ok && same_content) {
                let p = penr.field("subject");
                self.err(
                    "value",
                    &p,
                    msg(
                        "Composition und Encounter müssen denselben Patienten nennen.",
                        "Composition and Encounter must name the same patient.",
                    ),
                );
            }
        }
        // No plausibility check of the exam date against the birth date: the profile has
        // none, and a mistyped birth date on a real check-up is for linking to sort out
        // (the programme fixture holds such cards), not a reason to refuse the report.

        let practitioner = match performer.and_then(|i| facts.get(i)) {
            Some(Facts::Practitioner(p)) => p.clone(),
            _ => None,
        };
        let org_of = |i: usize| match facts.get(i) {
            Some(Facts::Organization(o)) => o.clone(),
            _ => None,
        };
        let organization = provider.and_then(org_of).or_else(|| {
            authors.iter().flatten().find_map(|i| {
                (self.entries.get(*i).and_then(|e| e.kind) == Some(Kind::Organization)).then(|| org_of(*i)).flatten()
            })
        });
        let authors: Vec<String> = authors
            .iter()
            .map(|a| a.and_then(|i| self.entries.get(i)).and_then(|e| e.kind).map_or("?", Kind::name).to_owned())
            .collect();

        Some(ParticipationCard {
            card_id: card_id?.to_owned(),
            profile_version: self.version?.to_owned(),
            timestamp: timestamp?.to_owned(),
            checkup: (*checkup)?,
            exam_date: (*exam_date)?,
            patient: patient?.clone(),
            practitioner,
            organization,
            authors,
        })
    }

    fn composition(&mut self, res: &'t Element<'t>, path: &Path<'_>) -> Facts {
        self.shape(res, path, COMPOSITION);
        self.fixed(res, "status", path, "final");
        let pt = path.field("type");
        if let Some(cc) = self.complex(res, "type", path, CODEABLE, true)
            && let Some(coding) = self.single_coding(cc, &pt)
        {
            let pcs = pt.field("coding");
            let p0 = pcs.index(0);
            if let Some(code) = self.coding(coding, &p0, SNOMED)
                && code != PARTICIPATION_STATUS
            {
                let p = p0.field("code");
                self.err(
                    "code-invalid",
                    &p,
                    msg(
                        &format!(
                            "Der Dokumenttyp muss SNOMED CT {PARTICIPATION_STATUS} (Patient participation status) sein, angegeben ist „{}“.",
                            q(code)
                        ),
                        &format!(
                            "The document type must be SNOMED CT {PARTICIPATION_STATUS} (Patient participation status), found \"{}\".",
                            q(code)
                        ),
                    ),
                );
            }
        }
        let ps = path.field("subject");
        let subject = self.reference(res.first("subject"), &ps, &[Kind::Patient], true);
        let pen = path.field("encounter");
        let encounter = self.reference(res.first("encounter"), &pen, &[Kind::Encounter], true);
        if let Some(date) = self.prim(res, "date", path, true)
            && parse_date_time(date).is_none()
        {
            let p = path.field("date");
            self.err("value", &p, msg("Das Datum ist kein FHIR-dateTime.", "The date is not a FHIR dateTime."));
        }
        let pa = path.field("author");
        let mut authors = Vec::new();
        for (i, a) in res.all("author").enumerate() {
            let pi = pa.index(i);
            authors.push(self.reference(Some(a), &pi, &[Kind::Practitioner, Kind::Organization], true));
        }
        if authors.is_empty() {
            self.missing(&pa);
        } else if authors.len() > 2 {
            self.err(
                "structure",
                &pa,
                msg(
                    "Höchstens zwei Autoren (Arzt/Ärztin und Einrichtung) sind erlaubt.",
                    "At most two authors (practitioner and organization) are allowed.",
                ),
            );
        }
        self.fixed(res, "title", path, "Teilnahmekarte");
        Facts::Composition { subject, encounter, authors }
    }

    fn encounter(&mut self, res: &'t Element<'t>, path: &Path<'_>) -> Facts {
        self.shape(res, path, ENCOUNTER);
        self.fixed(res, "status", path, "finished");
        let pcl = path.field("class");
        if let Some(class) = self.complex(res, "class", path, CODING, true) {
            self.fixed(class, "system", &pcl, ACT_CODE);
            self.fixed(class, "code", &pcl, "AMB");
        }

        // type 1..1: the check-up.
        let pt = path.field("type");
        let mut checkup = None;
        let mut types = res.all("type");
        match types.next() {
            None => self.missing(&pt),
            Some(cc) => {
                let p0 = pt.index(0);
                if let Some(coding) = self.single_coding(cc, &p0) {
                    let pcs = p0.field("coding");
                    let pc0 = pcs.index(0);
                    if let Some(code) = self.coding(coding, &pc0, SNOMED) {
                        let pcode = pc0.field("code");
                        match Checkup::from_snomed_code(code) {
                            Some(c) if c.on_participation_card() => checkup = Some(c),
                            Some(c) => self.err(
                                "code-invalid",
                                &pcode,
                                msg(
                                    &format!(
                                        "Die {c} (Code {}) wird nicht auf der Teilnahmekarte bestätigt; erlaubt sind U2–U9 und U7a.",
                                        q(code)
                                    ),
                                    &format!(
                                        "{c} (code {}) is not confirmed on the participation card; allowed are U2–U9 and U7a.",
                                        q(code)
                                    ),
                                ),
                            ),
                            None => self.err(
                                "code-invalid",
                                &pcode,
                                msg(
                                    &format!(
                                        "Der Code „{}“ gehört nicht zum Wertebereich der Untersuchungen \
                                         (KBV_VS_MIO_PC_PN_Examination_Number: U2–U9, U7a).",
                                        q(code)
                                    ),
                                    &format!(
                                        "Code \"{}\" is not in the examination value set \
                                         (KBV_VS_MIO_PC_PN_Examination_Number: U2–U9, U7a).",
                                        q(code)
                                    ),
                                ),
                            ),
                        }
                    }
                }
            }
        }
        if types.next().is_some() {
            let p1 = pt.index(1);
            self.err(
                "structure",
                &p1,
                msg("Genau eine Untersuchung (type) ist erlaubt.", "Exactly one examination type is allowed."),
            );
        }

        let ps = path.field("subject");
        let subject = self.reference(res.first("subject"), &ps, &[Kind::Patient], true);

        // participant 1..1: the examining doctor (PPRF).
        let pp = path.field("participant");
        let mut performer = None;
        let mut parts = res.all("participant");
        match parts.next() {
            None => self.missing(&pp),
            Some(part) => {
                let p0 = pp.index(0);
                self.shape(part, &p0, PARTICIPANT);
                let ptype = p0.field("type");
                let mut ptypes = part.all("type");
                match ptypes.next() {
                    None => self.missing(&ptype),
                    Some(cc) => {
                        let pt0 = ptype.index(0);
                        if let Some(coding) = self.single_coding(cc, &pt0) {
                            let pcs = pt0.field("coding");
                            let pc0 = pcs.index(0);
                            if let Some(code) = self.coding(coding, &pc0, PARTICIPATION_TYPE)
                                && code != "PPRF"
                            {
                                let pcode = pc0.field("code");
                                self.err(
                                    "code-invalid",
                                    &pcode,
                                    msg(
                                        &format!(
                                            "Erwartet wird „PPRF“ (primary performer), angegeben ist „{}“.",
                                            q(code)
                                        ),
                                        &format!("Expected \"PPRF\" (primary performer), found \"{}\".", q(code)),
                                    ),
                                );
                            }
                        }
                    }
                }
                if ptypes.next().is_some() {
                    let p1 = ptype.index(1);
                    self.err("structure", &p1, msg("Genau ein Typ ist erlaubt.", "Exactly one type is allowed."));
                }
                let pi = p0.field("individual");
                performer = self.reference(part.first("individual"), &pi, &[Kind::Practitioner], true);
            }
        }
        if parts.next().is_some() {
            let p1 = pp.index(1);
            self.err(
                "structure",
                &p1,
                msg("Genau ein Untersucher (participant) ist erlaubt.", "Exactly one participant is allowed."),
            );
        }

        // period.start: the date of the check-up.
        let pper = path.field("period");
        let pstart = pper.field("start");
        let mut exam_date = None;
        match self.complex(res, "period", path, PERIOD, false) {
            None => self.err(
                "required",
                &pstart,
                msg(
                    "Das Datum der Untersuchung (Encounter.period.start) fehlt.",
                    "The date of the check-up (Encounter.period.start) is missing.",
                ),
            ),
            Some(period) => {
                if period.first("start").is_none() {
                    self.err(
                        "required",
                        &pstart,
                        msg(
                            "Das Datum der Untersuchung (Encounter.period.start) fehlt.",
                            "The date of the check-up (Encounter.period.start) is missing.",
                        ),
                    );
                } else if let Some(start) = self.prim(period, "start", &pper, true) {
                    match parse_date_time(start) {
                        Some(Partial::Full(d)) => exam_date = Some(d),
                        _ => self.err(
                            "value",
                            &pstart,
                            msg(
                                "Das Datum der Untersuchung muss ein taggenaues FHIR-Datum sein (JJJJ-MM-TT, ggf. mit Uhrzeit und Zeitzone).",
                                "The date of the check-up must be a FHIR date with day precision (YYYY-MM-DD, optionally with time and zone).",
                            ),
                        ),
                    }
                }
                if let Some(end) = self.prim(period, "end", &pper, false)
                    && parse_date_time(end).is_none()
                {
                    let p = pper.field("end");
                    self.err("value", &p, msg("Kein FHIR-dateTime.", "Not a FHIR dateTime."));
                }
            }
        }

        let psp = path.field("serviceProvider");
        let provider = self.reference(res.first("serviceProvider"), &psp, &[Kind::Organization], false);
        Facts::Encounter { checkup, exam_date, subject, performer, provider }
    }

    /// The identifier's type code and system (`type.coding[0]`), shape-checked.
    fn identifier_type(&mut self, ident: &'t Element<'t>, path: &Path<'_>) -> (Option<&'t str>, Option<&'t str>) {
        self.shape(ident, path, IDENTIFIER);
        let pt = path.field("type");
        let Some(cc) = self.complex(ident, "type", path, CODEABLE, false) else { return (None, None) };
        let Some(coding) = cc.first("coding") else {
            self.missing(&pt.field("coding"));
            return (None, None);
        };
        let pcs = pt.field("coding");
        let p0 = pcs.index(0);
        self.shape(coding, &p0, CODING);
        (self.prim(coding, "system", &p0, true), self.prim(coding, "code", &p0, true))
    }

    fn patient(&mut self, res: &'t Element<'t>, path: &Path<'_>) -> Option<CardPatient> {
        self.shape(res, path, PATIENT);
        let (mut kvnr, mut pkv_id, mut patient_number) = (None, None, None);
        let pid = path.field("identifier");
        for (i, ident) in res.all("identifier").enumerate() {
            let pi = pid.index(i);
            let (tsys, tcode) = self.identifier_type(ident, &pi);
            let system = self.prim(ident, "system", &pi, false);
            let value = self.prim(ident, "value", &pi, true);
            let pv = pi.field("value");
            let slice = match (tsys, tcode) {
                (Some(DE_BASIS_ID_TYPE), Some("GKV")) => "GKV",
                (Some(DE_BASIS_ID_TYPE), Some("PKV")) => "PKV",
                (Some(V2_0203), Some("MR")) => "MR",
                (None, None) if system == Some(KVID_10) => "GKV",
                _ => "other",
            };
            let slot = match slice {
                "GKV" => {
                    if system != Some(KVID_10) {
                        let ps = pi.field("system");
                        self.err(
                            "value",
                            &ps,
                            msg(
                                &format!("Die KVNR braucht das System {KVID_10}."),
                                &format!("The KVNR needs the system {KVID_10}."),
                            ),
                        );
                    }
                    if let Some(v) = value
                        && Kvnr::parse(v).is_err()
                    {
                        self.err(
                            "value",
                            &pv,
                            msg(
                                "Die KVNR ist ungültig (Format: ein Großbuchstabe und neun Ziffern, letzte Ziffer Prüfziffer).",
                                "The KVNR is invalid (format: one upper-case letter and nine digits, the last a check digit).",
                            ),
                        );
                        continue;
                    }
                    &mut kvnr
                }
                "PKV" => &mut pkv_id,
                "MR" => &mut patient_number,
                _ => continue,
            };
            if slot.is_some() {
                self.err(
                    "structure",
                    &pi,
                    msg(
                        &format!("Die Kennung vom Typ {slice} darf nur einmal vorkommen."),
                        &format!("The {slice} identifier may occur only once."),
                    ),
                );
            } else {
                *slot = value.map(str::to_owned);
            }
        }

        // name: slice official (1..1, one given, family) and maiden (0..1, family).
        let pn = path.field("name");
        let (mut official, mut maiden) = (None, None);
        for (i, name) in res.all("name").enumerate() {
            let pi = pn.index(i);
            self.shape(name, &pi, HUMAN_NAME);
            let family = self.prim(name, "family", &pi, true);
            let pg = pi.field("given");
            match self.prim(name, "use", &pi, true) {
                Some("official") => {
                    let givens: Vec<&Element<'t>> = name.all("given").collect();
                    let given = match givens.as_slice() {
                        [] => {
                            self.missing(&pg);
                            None
                        }
                        [g] => match g.str() {
                            Some(s) if !s.trim().is_empty() => Some(s),
                            _ => {
                                self.err("value", &pg, msg("Der Vorname ist leer.", "The given name is empty."));
                                None
                            }
                        },
                        _ => {
                            self.err(
                                "structure",
                                &pg,
                                msg(
                                    "Die Teilnahmekarte erlaubt genau einen Eintrag für den Vornamen (given); mehrere Vornamen gehören mit Leerzeichen in einen.",
                                    "The card allows exactly one given element; several given names belong space-separated into one.",
                                ),
                            );
                            None
                        }
                    };
                    if official.is_some() {
                        self.err(
                            "structure",
                            &pi,
                            msg("Nur ein amtlicher Name (official) ist erlaubt.", "Only one official name is allowed."),
                        );
                    } else {
                        official = Some((given, family));
                    }
                }
                Some("maiden") => {
                    if name.first("given").is_some() {
                        self.err(
                            "structure",
                            &pg,
                            msg(
                                "Der Geburtsname (maiden) enthält nur den Familiennamen.",
                                "The birth name (maiden) holds only the family name.",
                            ),
                        );
                    }
                    if maiden.is_some() {
                        self.err(
                            "structure",
                            &pi,
                            msg(
                                "Nur ein Geburtsname (maiden) ist erlaubt.",
                                "Only one birth name (maiden) is allowed.",
                            ),
                        );
                    } else {
                        maiden = Some(family);
                    }
                }
                Some(other) => {
                    let pu = pi.field("use");
                    self.err(
                        "code-invalid",
                        &pu,
                        msg(
                            &format!(
                                "Namensart „{}“ ist nicht vorgesehen; erlaubt sind official und maiden.",
                                q(other)
                            ),
                            &format!("Name use \"{}\" is not allowed; use official or maiden.", q(other)),
                        ),
                    );
                }
                None => {}
            }
        }
        if official.is_none() {
            self.err(
                "required",
                &pn,
                msg("Der amtliche Name des Kindes (use official) fehlt.", "The child's official name is missing."),
            );
        }

        let birth_date = match self.prim(res, "birthDate", path, true) {
            Some(s) => match parse_date(s) {
                Some(Partial::Full(d)) => Some(d),
                _ => {
                    let p = path.field("birthDate");
                    self.err(
                        "value",
                        &p,
                        msg(
                            "Das Geburtsdatum ist kein gültiges, taggenaues FHIR-Datum (JJJJ-MM-TT).",
                            "The birth date is not a valid FHIR date with day precision (YYYY-MM-DD).",
                        ),
                    );
                    None
                }
            },
            None => None,
        };

        let (given, family) = official?;
        Some(CardPatient {
            given: given?.to_owned(),
            family: family?.to_owned(),
            birth_name: maiden.flatten().map(str::to_owned),
            birth_date: birth_date?,
            kvnr,
            pkv_id,
            patient_number,
        })
    }

    fn practitioner(&mut self, res: &'t Element<'t>, path: &Path<'_>) -> Option<CardPractitioner> {
        self.shape(res, path, PRACTITIONER);
        let (mut lanr, mut efn) = (None, None);
        let pid = path.field("identifier");
        for (i, ident) in res.all("identifier").enumerate() {
            let pi = pid.index(i);
            let (tsys, tcode) = self.identifier_type(ident, &pi);
            self.prim(ident, "system", &pi, false);
            let value = self.prim(ident, "value", &pi, true);
            let pv = pi.field("value");
            match (tsys, tcode, value) {
                (Some(V2_0203), Some("LANR"), Some(v)) => {
                    if lanr_ok(v) {
                        lanr = Some(v.to_owned());
                    } else {
                        self.err(
                            "value",
                            &pv,
                            msg(
                                "Die LANR ist ungültig (neun Ziffern, siebte Ziffer Prüfziffer).",
                                "The LANR is invalid (nine digits, the seventh a check digit).",
                            ),
                        );
                    }
                }
                (Some(V2_0203), Some("DN"), Some(v)) => {
                    if efn_ok(v) {
                        efn = Some(v.to_owned());
                    } else {
                        self.err(
                            "value",
                            &pv,
                            msg(
                                "Die EFN ist ungültig (15 Ziffern mit Prüfziffer).",
                                "The EFN is invalid (15 digits with check digit).",
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        let pn = path.field("name");
        let mut display = None;
        for (i, name) in res.all("name").enumerate() {
            let pi = pn.index(i);
            self.shape(name, &pi, HUMAN_NAME);
            let family = self.prim(name, "family", &pi, true);
            if display.is_none()
                && let Some(family) = family
            {
                let mut parts: Vec<&str> = name.all("prefix").filter_map(Element::str).collect();
                parts.extend(name.all("given").filter_map(Element::str));
                parts.push(family);
                display = Some(parts.join(" "));
            }
        }
        if res.first("name").is_none() {
            self.missing(&pn);
        }
        for (i, t) in res.all("telecom").enumerate() {
            let pt = path.field("telecom");
            self.shape(t, &pt.index(i), CONTACT_POINT);
        }
        for (i, a) in res.all("address").enumerate() {
            let pa = path.field("address");
            self.shape(a, &pa.index(i), ADDRESS);
        }
        Some(CardPractitioner { name: display?, lanr, efn })
    }

    fn organization(&mut self, res: &'t Element<'t>, path: &Path<'_>) -> Option<CardOrganization> {
        self.shape(res, path, ORGANIZATION);
        let (mut bsnr, mut ik) = (None, None);
        let pid = path.field("identifier");
        for (i, ident) in res.all("identifier").enumerate() {
            let pi = pid.index(i);
            let (tsys, tcode) = self.identifier_type(ident, &pi);
            self.prim(ident, "system", &pi, false);
            let value = self.prim(ident, "value", &pi, true);
            let pv = pi.field("value");
            match (tsys, tcode, value) {
                (Some(V2_0203), Some("BSNR"), Some(v)) => {
                    if digits(v, 9) {
                        bsnr = Some(v.to_owned());
                    } else {
                        self.err("value", &pv, msg("Die BSNR hat nicht neun Ziffern.", "The BSNR is not nine digits."));
                    }
                }
                (Some(V2_0203), Some("XX"), Some(v)) => {
                    // Format only: the profile fixes no check digit, and issuers' IKs in the
                    // programme fixture do not follow the published ARGE-IK check digit.
                    if digits(v, 9) {
                        ik = Some(v.to_owned());
                    } else {
                        self.err(
                            "value",
                            &pv,
                            msg(
                                "Das Institutionskennzeichen hat nicht neun Ziffern.",
                                "The IK (Institutionskennzeichen) is not nine digits.",
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        let name = self.prim(res, "name", path, true);
        for (i, t) in res.all("telecom").enumerate() {
            let pt = path.field("telecom");
            self.shape(t, &pt.index(i), CONTACT_POINT);
        }
        let pa = path.field("address");
        let (mut address_line, mut postal_code, mut city) = (None, None, None);
        for (i, a) in res.all("address").enumerate() {
            let pi = pa.index(i);
            self.shape(a, &pi, ADDRESS);
            if i == 0 {
                address_line = a.all("line").find_map(Element::str).map(str::to_owned);
                postal_code = a.str_of("postalCode").map(str::to_owned);
                city = a.str_of("city").map(str::to_owned);
            }
        }
        Some(CardOrganization { name: name?.to_owned(), bsnr, ik, address_line, postal_code, city })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        assert!(lanr_ok("730158434"));
        assert!(!lanr_ok("730158534"));
        assert!(efn_ok("276130004839207"));
        assert!(!efn_ok("276130004839208"));
        assert!(is_urn_uuid("urn:uuid:a515b881-31a5-5e7b-8516-2e48f1e35ed1"));
        assert!(!is_urn_uuid("urn:uuid:A515B881-31a5-5e7b-8516-2e48f1e35ed1"));
    }
}
