//! The blocking index and the decision.

use std::collections::HashMap;

use ecow::EcoString;
use jiff::civil::Date;
use oegd_domain::{Kvnr, MeldeId};
use serde::{Deserialize, Serialize};

use crate::compare::{DateLevel, NameLevel, compare_names, date_variants};
use crate::normalise::{Letters, NameKey, fold, signature};
use crate::score::{
    Comparison, DateComparison, KVNR_AGREE, KVNR_DISAGREE, KvnrComparison, KvnrLevel, MAX_VARIANT_SCORE, MatchedField,
    NameComparison, SWAP_PENALTY, birth_name_weight, date_weight, family_weight, given_weight,
};

/// How many candidates a decision keeps, best first.
pub const MAX_CANDIDATES: usize = 5;

/// A child in the registration data, as the index needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredChild {
    pub melde_id: MeldeId,
    /// all given names, in register order (see [`crate::normalise::split_given_names`])
    pub given_names: Vec<String>,
    pub family_name: String,
    pub birth_name: Option<String>,
    pub birth_date: Date,
    /// the KVNR remembered from a confirmed link, if any
    pub kvnr: Option<Kvnr>,
}

/// The child as a participation card names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportedChild {
    pub given_name: String,
    pub family_name: String,
    pub birth_name: Option<String>,
    pub birth_date: Date,
    pub kvnr: Option<Kvnr>,
}

/// Score thresholds in bits (log2 likelihood ratio).
///
/// Defaults, and why: with a million registered children the prior odds that a report and
/// one given child belong together are about 2⁻²⁰. A score of 32 bits therefore leaves
/// posterior odds of about 2¹² (1 wrong link in ~4000 at the threshold, far fewer above it);
/// in the `small` fixture every wrong top candidate scores below 20 and every right one
/// whose names and date agree at least as "close" scores above 32. Between 16 and 32
/// (names strong but the date only a variant; one name missing or only phonetic) a person
/// decides. Below 16 (at best one name agrees) the report stays unlinked and is retried on
/// later imports. `margin`: the best candidate must lead the second by at least this many
/// bits to be linked automatically (two children with the same name born the same day).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// link automatically at or above
    pub upper: f64,
    /// review at or above (and below `upper`); unlinked below
    pub lower: f64,
    /// minimum lead of the best candidate over the second for an automatic link
    pub margin: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { upper: 32.0, lower: 16.0, margin: 6.0 }
    }
}

/// What happens to the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "melde_id")]
pub enum Outcome {
    /// linked automatically to this child
    Linked(MeldeId),
    /// a person decides (review queue)
    Review,
    /// no child good enough: retried on later registration imports
    Unlinked,
}

/// Why the outcome is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// the card's KVNR is the one remembered on the child
    KvnrEqual,
    /// the best candidate scored at or above the upper threshold with a clear lead
    AboveUpper,
    /// above the upper threshold, but a twin or sibling (same birth date and family name)
    /// is registered and the given name does not single out the child
    Twin,
    /// above the upper threshold, but the second candidate is too close
    Ambiguous,
    /// between the thresholds
    BetweenThresholds,
    /// below the lower threshold
    BelowLower,
    /// no registered child with this birth date or a variant of it
    NoCandidate,
}

impl Reason {
    /// The reason in German, for the review queue and the audit trail.
    pub fn explain(self) -> &'static str {
        match self {
            Self::KvnrEqual => "Die KVNR der Karte ist bei diesem Kind aus einer bestätigten Zuordnung bekannt.",
            Self::AboveUpper => "Übereinstimmung über der oberen Schwelle mit deutlichem Abstand zum nächsten Kind.",
            Self::Twin => {
                "Ein Zwilling oder Geschwisterkind mit gleichem Geburtsdatum und Familiennamen ist gemeldet, \
                 und der Vorname entscheidet nicht eindeutig: bitte prüfen."
            }
            Self::Ambiguous => "Mehrere Kinder passen fast gleich gut: bitte prüfen.",
            Self::BetweenThresholds => "Übereinstimmung zwischen den Schwellen: bitte prüfen.",
            Self::BelowLower => "Kein gemeldetes Kind passt ausreichend (Kind evtl. noch nicht gemeldet).",
            Self::NoCandidate => {
                "Kein gemeldetes Kind mit diesem oder einem ähnlichen Geburtsdatum (Kind evtl. noch nicht gemeldet)."
            }
        }
    }
}

/// One registered child considered for a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub melde_id: MeldeId,
    /// sum of the weights in bits
    pub score: f64,
    pub comparison: Comparison,
}

/// The result of [`LinkIndex::decide`]: stored as JSON with the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
    /// best first, at most [`MAX_CANDIDATES`], plus any twin or sibling the twin rule
    /// looked at
    pub candidates: Vec<Candidate>,
}

impl Decision {
    /// The decision in German: the reason, then each candidate with its comparison.
    pub fn explain(&self) -> Vec<String> {
        let mut out = vec![self.reason.explain().to_owned()];
        for (i, c) in self.candidates.iter().enumerate() {
            out.push(format!("Kandidat {} ({}): {}", i + 1, c.melde_id, crate::score::bits(c.score)));
            out.extend(c.comparison.explain().into_iter().map(|s| format!("  {s}")));
        }
        out
    }
}

/// Errors of the index's updates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkageError {
    #[error("Kind nicht im Index")]
    UnknownChild,
    #[error("Diese KVNR ist bereits einem anderen Kind zugeordnet")]
    KvnrHeldByOtherChild,
}

/// The distinct names of the register, each prepared once ([`NameKey`]: folded, phonetic
/// code, letters) and held once; children refer to them by id. Names of removed children
/// stay (a register's names change little, and the service rebuilds the index from the
/// store for every run).
#[derive(Debug, Clone, Default)]
struct Names {
    keys: Vec<NameKey>,
    /// per key: an id of its `core` (equal cores, equal ids), so that the twin rule compares
    /// family names by a number kept in the block instead of reading each sibling's record
    core_ids: Vec<u32>,
    cores: HashMap<EcoString, u32>,
    given: HashMap<String, u32>,
    family: HashMap<String, u32>,
}

/// What [`Names::key`] returns for an unknown id (never happens: ids come from `intern`).
static NO_NAME: NameKey = NameKey {
    core: EcoString::new(),
    core_letters: Letters::EMPTY,
    code: EcoString::new(),
    ascii: true,
    two_forms: false,
    full: EcoString::new(),
    full_letters: Letters::EMPTY,
};

impl Names {
    fn intern(&mut self, raw: &str, family: bool) -> u32 {
        let map = if family { &mut self.family } else { &mut self.given };
        if let Some(id) = map.get(raw) {
            return *id;
        }
        let id = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let key = if family { NameKey::family(raw) } else { NameKey::given(raw) };
        let next_core = u32::try_from(self.cores.len()).unwrap_or(u32::MAX);
        let core_id = *self.cores.entry(key.core.clone()).or_insert(next_core);
        self.keys.push(key);
        self.core_ids.push(core_id);
        map.insert(raw.to_owned(), id);
        id
    }

    fn core_id(&self, id: u32) -> u32 {
        self.core_ids.get(id as usize).copied().unwrap_or(u32::MAX)
    }

    fn key(&self, id: u32) -> &NameKey {
        self.keys.get(id as usize).unwrap_or(&NO_NAME)
    }

    /// Reads the family names of these candidates, which are rarely in the cache and nearly
    /// all compared next: in a loop of independent loads the processor waits for the cache
    /// misses together, not one after another inside the comparisons.
    fn touch_families(&self, candidates: &[(u32, Hot)]) {
        let sum = candidates.iter().fold(0usize, |sum, (_, hot)| sum ^ self.key(hot.family).core.len());
        std::hint::black_box(sum);
    }
}

/// A registered child with its names prepared for comparison (ids into [`Names`]).
#[derive(Debug, Clone)]
struct Indexed {
    child: RegisteredChild,
    given: Vec<u32>,
    /// all given names together, when there are several
    all_given: Option<u32>,
    family: u32,
    birth: Option<u32>,
}

impl Indexed {
    fn new(child: RegisteredChild, names: &mut Names) -> (Self, u128) {
        let given: Vec<u32> = child.given_names.iter().map(|g| names.intern(g, false)).collect();
        let all_given = (given.len() > 1).then(|| names.intern(&child.given_names.join(" "), false));
        let family = names.intern(&child.family_name, true);
        let birth = child
            .birth_name
            .as_deref()
            .map(|b| names.intern(b, true))
            .filter(|b| !names.key(*b).is_empty() && names.key(*b) != names.key(family));
        let sig = signature(
            given
                .iter()
                .map(|g| names.key(*g).core.as_str())
                .chain(std::iter::once(names.key(family).core.as_str()))
                .chain(birth.iter().map(|b| names.key(*b).core.as_str())),
        );
        (Self { child, given, all_given, family, birth }, sig)
    }
}

impl Indexed {
    fn names(&self) -> ChildNames<'_> {
        ChildNames { given: &self.given, all_given: self.all_given, family: self.family, birth: self.birth }
    }
}

/// The name ids of a registered child that a comparison reads, from its [`Indexed`]
/// record or from its [`Hot`] copy in the block.
#[derive(Debug, Clone, Copy)]
struct ChildNames<'a> {
    given: &'a [u32],
    all_given: Option<u32>,
    family: u32,
    birth: Option<u32>,
}

/// Given names a [`Hot`] holds; a child with more is compared from its record.
const HOT_GIVEN: usize = 3;
/// "No name" in a [`Hot`].
const NO_ID: u32 = u32::MAX;

/// A copy of a child's name ids in its block, beside its signature, so that scoring a
/// candidate reads the block instead of the child's record and its given names' vector
/// (two or three cache misses each in a large index).
#[derive(Debug, Clone, Copy)]
struct Hot {
    given: [u32; HOT_GIVEN],
    /// how many of `given` hold names; more than [`HOT_GIVEN`] given names: `u8::MAX`
    n_given: u8,
    all_given: u32,
    family: u32,
    birth: u32,
    /// [`MeldeId::order_prefix`] of the child's id (as bytes: no 16-byte alignment), so
    /// that ordering candidates of equal score (frequent) does not read each one's record
    id_prefix: [u8; 16],
}

impl Hot {
    fn of(c: &Indexed) -> Self {
        let mut given = [NO_ID; HOT_GIVEN];
        given.iter_mut().zip(&c.given).for_each(|(h, g)| *h = *g);
        let n_given = if c.given.len() > HOT_GIVEN { u8::MAX } else { u8::try_from(c.given.len()).unwrap_or(u8::MAX) };
        Self {
            given,
            n_given,
            all_given: c.all_given.unwrap_or(NO_ID),
            family: c.family,
            birth: c.birth.unwrap_or(NO_ID),
            id_prefix: c.child.melde_id.order_prefix().to_be_bytes(),
        }
    }

    /// The names, or `None` for a child with more given names than the copy holds.
    fn names(&self) -> Option<ChildNames<'_>> {
        let given = self.given.get(..usize::from(self.n_given))?;
        Some(ChildNames {
            given,
            all_given: (self.all_given != NO_ID).then_some(self.all_given),
            family: self.family,
            birth: (self.birth != NO_ID).then_some(self.birth),
        })
    }
}

/// Which of the card's names a comparison is about.
#[derive(Debug, Clone, Copy)]
enum Side {
    Given,
    Family,
    GivenAsFamily,
    FamilyAsGiven,
    Birth,
}

/// The card's names prepared once per decision.
struct Report<'a> {
    child: &'a ReportedChild,
    given: NameKey,
    family: NameKey,
    /// the given name prepared as a family name and vice versa, for swapped cards
    given_as_family: NameKey,
    family_as_given: NameKey,
    birth: Option<NameKey>,
    sig: u128,
}

impl<'a> Report<'a> {
    fn new(child: &'a ReportedChild) -> Self {
        // each name folded once, then prepared both ways
        let (given_folded, family_folded) = (fold(&child.given_name), fold(&child.family_name));
        let given_as_family = NameKey::family_folded(given_folded.clone());
        let family_as_given = NameKey::given_folded(family_folded.clone());
        let given = NameKey::given_folded(given_folded);
        let family = NameKey::family_folded(family_folded);
        let sig = signature([given.core.as_str(), family.core.as_str()]);
        Self {
            child,
            given_as_family,
            family_as_given,
            given,
            family,
            birth: child.birth_name.as_deref().map(NameKey::family).filter(|b| !b.is_empty()),
            sig,
        }
    }

    fn name(&self, side: Side) -> &NameKey {
        match side {
            Side::Given => &self.given,
            Side::Family => &self.family,
            Side::GivenAsFamily => &self.given_as_family,
            Side::FamilyAsGiven => &self.family_as_given,
            Side::Birth => self.birth.as_ref().unwrap_or(&NO_NAME),
        }
    }
}

/// The best level of the card's `side` name against several registered names, by weight.
fn best_of(
    cx: &mut Cx<'_, '_>,
    side: Side,
    against: impl Iterator<Item = (u32, MatchedField)>,
    weight: fn(NameLevel) -> f64,
) -> NameComparison {
    let mut best = NameComparison { level: NameLevel::Missing, weight: f64::NEG_INFINITY, matched: None };
    for (id, field) in against {
        let level = cx.level(side, id);
        let w = weight(level);
        if w > best.weight || (best.matched.is_none() && level != NameLevel::Missing) {
            best = NameComparison { level, weight: w, matched: Some(field) };
        }
        if level == NameLevel::Exact {
            break;
        }
    }
    if best.weight == f64::NEG_INFINITY {
        best.weight = 0.0;
    }
    best
}

fn given_candidates(c: ChildNames<'_>) -> impl Iterator<Item = (u32, MatchedField)> + '_ {
    c.given
        .iter()
        .enumerate()
        .map(|(i, g)| (*g, MatchedField::GivenName { position: u8::try_from(i + 1).unwrap_or(u8::MAX) }))
        .chain(c.all_given.into_iter().map(|a| (a, MatchedField::AllGivenNames)))
}

fn family_candidates(c: ChildNames<'_>) -> impl Iterator<Item = (u32, MatchedField)> + '_ {
    std::iter::once((c.family, MatchedField::FamilyName)).chain(c.birth.map(|b| (b, MatchedField::BirthName)))
}

/// What a comparison needs: the card and the register's names, and the levels already
/// computed for this card.
struct Cx<'r, 'a> {
    report: &'r Report<'a>,
    names: &'r Names,
    /// levels of the card's given name (or its family name read as a given name) against
    /// registered given names, and of its family or birth name (or its given name read as
    /// a family name) against registered family names: apart, so that the family names
    /// (nearly one per candidate) do not push out the few given names most candidates share
    given_memo: Memo,
    family_memo: Memo,
}

impl Cx<'_, '_> {
    /// [`compare_names`] of the card's `side` name and the register's name `id`, remembered
    /// for the rest of the decision: the candidates of one card share many names (a few
    /// hundred given names cover most children), and the comparison is a pure function.
    fn level(&mut self, side: Side, id: u32) -> NameLevel {
        let memo = match side {
            Side::Given | Side::FamilyAsGiven => &mut self.given_memo,
            Side::Family | Side::GivenAsFamily | Side::Birth => &mut self.family_memo,
        };
        let key = (u64::from(id) << 3 | side as u64) + 1;
        let i = (id as usize ^ (side as usize) << 4) % MEMO;
        if let (Some(k), Some(l)) = (memo.keys.get(i), memo.levels.get(i))
            && *k == key
        {
            return *l;
        }
        let level = compare_names(self.report.name(side), self.names.key(id));
        if let (Some(k), Some(l)) = (memo.keys.get_mut(i), memo.levels.get_mut(i)) {
            (*k, *l) = (key, level);
        }
        level
    }
}

/// Entries of [`Memo`].
const MEMO: usize = 128;

/// A direct-mapped cache of name levels for one decision (key 0: empty).
struct Memo {
    keys: [u64; MEMO],
    levels: [NameLevel; MEMO],
}

impl Memo {
    fn new() -> Self {
        Self { keys: [0; MEMO], levels: [NameLevel::Missing; MEMO] }
    }
}

/// Compares the card with a registered child (`kvnr`: the KVNR remembered on the child).
fn compare(cx: &mut Cx<'_, '_>, c: ChildNames<'_>, kvnr: Option<&Kvnr>, date: DateLevel) -> Comparison {
    let given = best_of(cx, Side::Given, given_candidates(c), given_weight);
    let family = best_of(cx, Side::Family, family_candidates(c), family_weight);
    let mut names_swapped = false;
    let (given, family) = if given.level == NameLevel::Exact && family.level == NameLevel::Exact {
        (given, family)
    } else {
        let sg = best_of(cx, Side::FamilyAsGiven, given_candidates(c), given_weight);
        let sf = best_of(cx, Side::GivenAsFamily, family_candidates(c), family_weight);
        if sg.weight + sf.weight + SWAP_PENALTY > given.weight + family.weight {
            names_swapped = true;
            (sg, sf)
        } else {
            (given, family)
        }
    };
    let birth_name = match &cx.report.birth {
        Some(_) => best_of(cx, Side::Birth, family_candidates(c), birth_name_weight),
        None => NameComparison { level: NameLevel::Missing, weight: 0.0, matched: None },
    };
    let kvnr = match (&cx.report.child.kvnr, kvnr) {
        (Some(a), Some(b)) if a == b => KvnrComparison { level: KvnrLevel::Equal, weight: KVNR_AGREE },
        (Some(_), Some(_)) => KvnrComparison { level: KvnrLevel::Different, weight: KVNR_DISAGREE },
        _ => KvnrComparison { level: KvnrLevel::NotCompared, weight: 0.0 },
    };
    Comparison {
        given_name: given,
        family_name: family,
        birth_name,
        birth_date: DateComparison { level: date, weight: date_weight(date) },
        kvnr,
        names_swapped,
        swap_weight: if names_swapped { SWAP_PENALTY } else { 0.0 },
    }
}

/// Share of the report's bigram bits that a candidate with the card's birth date must
/// have (pre-filter), in tenths.
const SIGNATURE_MIN_TENTHS: u32 = 4;
/// The same for a candidate whose birth date is only a variant of the card's: it can reach
/// the review threshold only with strongly agreeing names.
const SIGNATURE_MIN_TENTHS_VARIANT: u32 = 6;

/// The children born on one day: their slots, and their bigram signatures beside them, so
/// that the pre-filter reads one contiguous array instead of one cache line per child.
#[derive(Debug, Clone, Default)]
struct Block {
    slots: Vec<u32>,
    sigs: Vec<u128>,
    /// the core id ([`Names::core_ids`]) of each child's family name, for the twin rule
    family_cores: Vec<u32>,
    hot: Vec<Hot>,
}

impl Block {
    /// Appends to `out` the children whose signature passes the pre-filter (or who hold
    /// the card's KVNR), each with a copy of its [`Hot`] entry. The pre-filter: a candidate
    /// must share at least `min_tenths` tenths of the report's bigram bits (every candidate
    /// passes when the report has none). The report's count is taken once per block;
    /// `count * 10 >= need` is tested as `count >= ceil(need / 10)`, so the loop is two
    /// `popcnt`s and a compare per child (the build targets x86-64-v2, which has `popcnt`:
    /// `.cargo/config.toml`). The copies are taken here, in a short loop whose loads do not
    /// depend on each other, so that the processor waits for their cache misses together
    /// instead of one after another while scoring.
    fn passing(&self, report_sig: u128, min_tenths: u32, kvnr_slot: Option<u32>, out: &mut Vec<(u32, Hot)>) {
        let min = (report_sig.count_ones() * min_tenths).div_ceil(10);
        for ((slot, sig), hot) in self.slots.iter().zip(&self.sigs).zip(&self.hot) {
            if (report_sig & *sig).count_ones() >= min || Some(*slot) == kvnr_slot {
                out.push((*slot, *hot));
            }
        }
    }
}

/// A scored candidate during a decision: the slot, not yet the [`MeldeId`] (cloned only
/// for the few candidates a decision keeps).
#[derive(Debug, Clone)]
struct Scored {
    slot: u32,
    /// [`MeldeId::order_prefix`] of the child's id (ties of `score` are ordered by the id)
    id_prefix: u128,
    score: f64,
    comparison: Comparison,
}

/// Registered children indexed for linking: blocks by birth date (with the usual date
/// errors) and by remembered KVNR. [`LinkIndex::decide`] takes `&self`, so reports can be
/// decided in parallel; updates ([`LinkIndex::upsert`], [`LinkIndex::remember_kvnr`]) need
/// `&mut self`.
#[derive(Debug, Clone, Default)]
pub struct LinkIndex {
    slots: Vec<Option<Indexed>>,
    names: Names,
    free: Vec<u32>,
    by_id: HashMap<MeldeId, u32>,
    by_date: HashMap<Date, Block>,
    by_kvnr: HashMap<Kvnr, u32>,
    /// per slot: the child has a remembered KVNR (so that a card with a KVNR reads the
    /// record only of the candidates that have one)
    has_kvnr: Vec<u64>,
    thresholds: Thresholds,
}

impl LinkIndex {
    /// An index of these children with the default [`Thresholds`]. A later child with the
    /// same `melde_id` replaces an earlier one.
    pub fn new(children: impl IntoIterator<Item = RegisteredChild>) -> Self {
        Self::with_thresholds(children, Thresholds::default())
    }

    /// An index with the given thresholds.
    pub fn with_thresholds(children: impl IntoIterator<Item = RegisteredChild>, thresholds: Thresholds) -> Self {
        let mut index = Self { thresholds, ..Self::default() };
        for child in children {
            index.upsert(child);
        }
        index
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    /// Number of children in the index.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The child as the index holds it.
    pub fn get(&self, melde_id: &MeldeId) -> Option<&RegisteredChild> {
        let slot = *self.by_id.get(melde_id)?;
        self.indexed(slot).map(|i| &i.child)
    }

    fn indexed(&self, slot: u32) -> Option<&Indexed> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// Adds a child or replaces its record (a registration import's `geburt`, `zuzug` or
    /// `aenderung`). A KVNR remembered on the old record is kept when the new one has none.
    pub fn upsert(&mut self, mut child: RegisteredChild) {
        let old = self.take(&child.melde_id);
        if child.kvnr.is_none() {
            child.kvnr = old.and_then(|o| o.child.kvnr);
        }
        if let Some(k) = &child.kvnr {
            // a KVNR belongs to one child: an older holder loses it
            if let Some(other) = self.by_kvnr.get(k).copied()
                && let Some(Some(o)) = self.slots.get_mut(other as usize)
            {
                o.child.kvnr = None;
                self.set_has_kvnr(other, false);
            }
        }
        let (indexed, sig) = Indexed::new(child, &mut self.names);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.by_id.insert(indexed.child.melde_id.clone(), slot);
        let block = self.by_date.entry(indexed.child.birth_date).or_default();
        block.slots.push(slot);
        block.sigs.push(sig);
        block.family_cores.push(self.names.core_id(indexed.family));
        block.hot.push(Hot::of(&indexed));
        self.set_has_kvnr(slot, indexed.child.kvnr.is_some());
        if let Some(k) = &indexed.child.kvnr {
            self.by_kvnr.insert(k.clone(), slot);
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(indexed);
        }
    }

    /// Removes a child (deleted from the register). Returns its last record.
    pub fn remove(&mut self, melde_id: &MeldeId) -> Option<RegisteredChild> {
        self.take(melde_id).map(|i| i.child)
    }

    fn take(&mut self, melde_id: &MeldeId) -> Option<Indexed> {
        let slot = self.by_id.remove(melde_id)?;
        let old = self.slots.get_mut(slot as usize)?.take()?;
        if let Some(block) = self.by_date.get_mut(&old.child.birth_date) {
            if let Some(pos) = block.slots.iter().position(|s| *s == slot) {
                // `remove`, not `swap_remove`: the block keeps its order, as before
                block.slots.remove(pos);
                block.sigs.remove(pos);
                block.family_cores.remove(pos);
                block.hot.remove(pos);
            }
            if block.slots.is_empty() {
                self.by_date.remove(&old.child.birth_date);
            }
        }
        if let Some(k) = &old.child.kvnr
            && self.by_kvnr.get(k) == Some(&slot)
        {
            self.by_kvnr.remove(k);
        }
        self.set_has_kvnr(slot, false);
        self.free.push(slot);
        Some(old)
    }

    fn set_has_kvnr(&mut self, slot: u32, has: bool) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if self.has_kvnr.len() <= word {
            self.has_kvnr.resize(word + 1, 0);
        }
        if let Some(w) = self.has_kvnr.get_mut(word) {
            if has { *w |= bit } else { *w &= !bit }
        }
    }

    /// The KVNR remembered on the child in `slot`, read from its record only if it has one.
    fn kvnr_of(&self, slot: u32) -> Option<&Kvnr> {
        let word = self.has_kvnr.get(slot as usize / 64).copied().unwrap_or(0);
        if word & (1u64 << (slot % 64)) == 0 {
            return None;
        }
        self.indexed(slot)?.child.kvnr.as_ref()
    }

    /// Remembers the KVNR of a confirmed link on the child, so later cards with it link
    /// exactly. Fails if the child is unknown or another child already holds the KVNR (then
    /// [`LinkIndex::forget_kvnr`] on that child first, after a person has looked at it).
    pub fn remember_kvnr(&mut self, melde_id: &MeldeId, kvnr: Kvnr) -> Result<(), LinkageError> {
        let slot = *self.by_id.get(melde_id).ok_or(LinkageError::UnknownChild)?;
        match self.by_kvnr.get(&kvnr) {
            Some(s) if *s != slot => return Err(LinkageError::KvnrHeldByOtherChild),
            _ => {}
        }
        let entry = self.slots.get_mut(slot as usize).and_then(Option::as_mut).ok_or(LinkageError::UnknownChild)?;
        if let Some(old) = entry.child.kvnr.replace(kvnr.clone()) {
            self.by_kvnr.remove(&old);
        }
        self.by_kvnr.insert(kvnr, slot);
        self.set_has_kvnr(slot, true);
        Ok(())
    }

    /// Forgets the KVNR remembered on a child (a link was undone). Returns it.
    pub fn forget_kvnr(&mut self, melde_id: &MeldeId) -> Result<Option<Kvnr>, LinkageError> {
        let slot = *self.by_id.get(melde_id).ok_or(LinkageError::UnknownChild)?;
        let entry = self.slots.get_mut(slot as usize).and_then(Option::as_mut).ok_or(LinkageError::UnknownChild)?;
        let old = entry.child.kvnr.take();
        if let Some(k) = &old {
            self.by_kvnr.remove(k);
        }
        self.set_has_kvnr(slot, false);
        Ok(old)
    }

    /// Decides a report: linked, review or unlinked, with the best candidates and why.
    pub fn decide(&self, reported: &ReportedChild) -> Decision {
        let report = Report::new(reported);
        let mut cx = Cx { report: &report, names: &self.names, given_memo: Memo::new(), family_memo: Memo::new() };
        let mut scored: Vec<Scored> = Vec::with_capacity(64);
        let score_slot = |slot: u32, level: DateLevel, scored: &mut Vec<Scored>, cx: &mut Cx<'_, '_>| {
            if let Some(c) = self.indexed(slot) {
                let comparison = compare(cx, c.names(), c.child.kvnr.as_ref(), level);
                let id_prefix = c.child.melde_id.order_prefix();
                scored.push(Scored { slot, id_prefix, score: comparison.total(), comparison });
            }
        };
        // a candidate found in a block: its names from the block, the record only for a
        // child with more given names than the block holds or for the KVNR
        let score_in_block =
            |(slot, hot): &(u32, Hot), level: DateLevel, scored: &mut Vec<Scored>, cx: &mut Cx<'_, '_>| {
                let slot = *slot;
                let Some(names) = hot.names() else { return score_slot(slot, level, scored, cx) };
                let kvnr = if reported.kvnr.is_some() { self.kvnr_of(slot) } else { None };
                let comparison = compare(cx, names, kvnr, level);
                let id_prefix = u128::from_be_bytes(hot.id_prefix);
                scored.push(Scored { slot, id_prefix, score: comparison.total(), comparison });
            };

        let kvnr_slot = reported.kvnr.as_ref().and_then(|k| self.by_kvnr.get(k).copied());

        let mut passing: Vec<(u32, Hot)> = Vec::with_capacity(64);
        if let Some(block) = self.by_date.get(&reported.birth_date) {
            block.passing(report.sig, SIGNATURE_MIN_TENTHS, kvnr_slot, &mut passing);
            self.names.touch_families(&passing);
            for candidate in &passing {
                score_in_block(candidate, DateLevel::Exact, &mut scored, &mut cx);
            }
        }
        let best_exact = scored.iter().map(|c| c.score).fold(f64::NEG_INFINITY, f64::max);
        // A variant-date candidate scores at most MAX_VARIANT_SCORE: when the exact block
        // already leads that by the margin, the variants cannot change the outcome.
        if best_exact < MAX_VARIANT_SCORE + self.thresholds.margin {
            for (date, level) in date_variants(reported.birth_date) {
                if let Some(block) = self.by_date.get(&date) {
                    passing.clear();
                    block.passing(report.sig, SIGNATURE_MIN_TENTHS_VARIANT, kvnr_slot, &mut passing);
                    self.names.touch_families(&passing);
                    for candidate in &passing {
                        score_in_block(candidate, level, &mut scored, &mut cx);
                    }
                }
            }
        }
        if let Some(k) = kvnr_slot
            && !scored.iter().any(|c| c.slot == k)
            && let Some(c) = self.indexed(k)
        {
            let level = crate::compare::compare_dates(reported.birth_date, c.child.birth_date);
            score_slot(k, level, &mut scored, &mut cx);
        }
        // Best first; the melde_id breaks ties, so the order is total and only the first
        // MAX_CANDIDATES need sorting (the KVNR's child, if further back, is found by
        // `outcome` wherever it is).
        let order = |a: &Scored, b: &Scored| {
            b.score
                .total_cmp(&a.score)
                .then(a.id_prefix.cmp(&b.id_prefix))
                .then_with(|| self.id_of(a.slot).cmp(&self.id_of(b.slot)))
        };
        if scored.len() > MAX_CANDIDATES {
            scored.select_nth_unstable_by(MAX_CANDIDATES - 1, order);
        }
        let first = MAX_CANDIDATES.min(scored.len());
        if let Some(top) = scored.get_mut(..first) {
            top.sort_unstable_by(order);
        }

        let mut siblings = Vec::new();
        let (outcome, reason) = self.outcome(&mut cx, kvnr_slot, &mut scored, &mut siblings);
        scored.truncate(MAX_CANDIDATES);
        let mut candidates: Vec<Candidate> = scored
            .into_iter()
            .filter_map(|c| {
                Some(Candidate { melde_id: self.id_of(c.slot)?.clone(), score: c.score, comparison: c.comparison })
            })
            .collect();
        if !siblings.is_empty() {
            candidates.extend(siblings);
            candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.melde_id.cmp(&b.melde_id)));
        }
        Decision { outcome, reason, candidates }
    }

    fn id_of(&self, slot: u32) -> Option<&MeldeId> {
        self.indexed(slot).map(|c| &c.child.melde_id)
    }

    fn outcome(
        &self,
        cx: &mut Cx<'_, '_>,
        kvnr_slot: Option<u32>,
        scored: &mut Vec<Scored>,
        siblings: &mut Vec<Candidate>,
    ) -> (Outcome, Reason) {
        let t = self.thresholds;
        if let Some(k) = kvnr_slot
            && let Some(pos) = scored.iter().position(|c| c.slot == k)
            && let Some(id) = self.id_of(k)
        {
            // decisive: move the KVNR's child to the front
            let entry = scored.remove(pos);
            scored.insert(0, entry);
            return (Outcome::Linked(id.clone()), Reason::KvnrEqual);
        }
        let Some(top) = scored.first() else {
            return (Outcome::Unlinked, Reason::NoCandidate);
        };
        if top.score < t.lower {
            return (Outcome::Unlinked, Reason::BelowLower);
        }
        if top.score < t.upper {
            return (Outcome::Review, Reason::BetweenThresholds);
        }
        if let Some(second) = scored.get(1)
            && top.score - second.score < t.margin
        {
            return (Outcome::Review, Reason::Ambiguous);
        }
        if !self.twins_allow(cx, top, scored, siblings) {
            return (Outcome::Review, Reason::Twin);
        }
        match self.id_of(top.slot) {
            Some(id) => (Outcome::Linked(id.clone()), Reason::AboveUpper),
            None => (Outcome::Unlinked, Reason::NoCandidate),
        }
    }

    /// The twin rule: when a sibling with the same birth date and family name is
    /// registered, link automatically only if the card's given name equals one of the
    /// child's given names and disagrees with every given name of each sibling. Siblings
    /// that are not among the top candidates are added to `siblings`, so the reviewer sees
    /// them.
    fn twins_allow(&self, cx: &mut Cx<'_, '_>, top: &Scored, scored: &[Scored], siblings: &mut Vec<Candidate>) -> bool {
        let Some(top_child) = self.indexed(top.slot) else { return false };
        let Some(block) = self.by_date.get(&top_child.child.birth_date) else { return true };
        let mut allow = true;
        let top_core = self.names.core_id(top_child.family);
        // siblings by family name core from the block's own array: no look-up of the
        // other children's records (a cache miss each in a large index)
        for (&slot, _) in block.slots.iter().zip(&block.family_cores).filter(|(_, core)| **core == top_core) {
            if slot == top.slot {
                continue;
            }
            let Some(sib) = self.indexed(slot) else { continue };
            let given_sib = if top.comparison.names_swapped { Side::FamilyAsGiven } else { Side::Given };
            let sib_given = best_of(cx, given_sib, given_candidates(sib.names()), given_weight);
            if top.comparison.given_name.level != NameLevel::Exact || sib_given.level != NameLevel::Disagree {
                allow = false;
            }
            if !scored.iter().take(MAX_CANDIDATES).any(|c| c.slot == slot) {
                let level = crate::compare::compare_dates(cx.report.child.birth_date, sib.child.birth_date);
                let comparison = compare(cx, sib.names(), sib.child.kvnr.as_ref(), level);
                let score = comparison.total();
                siblings.push(Candidate { melde_id: sib.child.melde_id.clone(), score, comparison });
            }
        }
        allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn child(id: &str, given: &[&str], family: &str, born: Date) -> RegisteredChild {
        RegisteredChild {
            melde_id: MeldeId::parse(id).unwrap(),
            given_names: given.iter().map(|g| (*g).to_owned()).collect(),
            family_name: family.to_owned(),
            birth_name: None,
            birth_date: born,
            kvnr: None,
        }
    }

    fn card(given: &str, family: &str, born: Date) -> ReportedChild {
        ReportedChild {
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            birth_name: None,
            birth_date: born,
            kvnr: None,
        }
    }

    fn id(s: &str) -> MeldeId {
        MeldeId::parse(s).unwrap()
    }

    fn index() -> LinkIndex {
        LinkIndex::new([
            child("A", &["Jakob"], "Tessmann", date(2020, 4, 4)),
            child("B", &["Johanna", "Viktoria"], "Tessmann", date(2020, 4, 4)),
            child("C", &["Till"], "von der Lühe", date(2022, 10, 23)),
            child("D", &["Anna-Maria"], "Zühlke", date(2022, 8, 1)),
            child("E", &["Lea"], "Berg", date(2021, 1, 1)),
            child("F", &["Lia"], "Berg", date(2021, 1, 1)),
        ])
    }

    #[test]
    fn links_noisy_names() {
        let ix = index();
        let d = ix.decide(&card("Till", "Luehe", date(2022, 10, 23)));
        assert_eq!(d.outcome, Outcome::Linked(id("C")));
        let d = ix.decide(&card("Luehe", "Till", date(2022, 10, 23)));
        assert_eq!(d.outcome, Outcome::Linked(id("C")));
        assert!(d.candidates[0].comparison.names_swapped);
        let d = ix.decide(&card("Nobody", "Else", date(2022, 10, 23)));
        assert_eq!(d.outcome, Outcome::Unlinked);
        let d = ix.decide(&card("Till", "Lühe", date(2019, 1, 1)));
        assert_eq!((d.outcome, d.reason), (Outcome::Unlinked, Reason::NoCandidate));
    }

    #[test]
    fn swapped_date_goes_to_review_with_the_child_on_top() {
        let d = index().decide(&card("Anna-Maria", "Zühlke", date(2022, 1, 8)));
        assert_eq!(d.outcome, Outcome::Review);
        assert_eq!(d.candidates[0].melde_id, id("D"));
        assert_eq!(d.candidates[0].comparison.birth_date.level, DateLevel::DayMonthSwapped);
    }

    #[test]
    fn twins() {
        let ix = index();
        // the given name singles out the twin
        assert_eq!(ix.decide(&card("Jakob", "Tessmann", date(2020, 4, 4))).outcome, Outcome::Linked(id("A")));
        assert_eq!(ix.decide(&card("Viktoria", "Tessmann", date(2020, 4, 4))).outcome, Outcome::Linked(id("B")));
        // a typo in a twin's given name: review, both twins shown
        let d = ix.decide(&card("Jakop", "Tessmann", date(2020, 4, 4)));
        assert_eq!((d.outcome, d.reason), (Outcome::Review, Reason::Twin));
        assert!(d.candidates.iter().any(|c| c.melde_id == id("B")));
        // given names close to each other (Lea/Lia): no automatic link
        let d = ix.decide(&card("Lea", "Berg", date(2021, 1, 1)));
        assert_eq!(d.outcome, Outcome::Review);
        assert_eq!(d.candidates[0].melde_id, id("E"));
    }

    #[test]
    fn kvnr_decides_and_can_be_forgotten() {
        let mut ix = index();
        let k = Kvnr::parse("B730152844").unwrap();
        ix.remember_kvnr(&id("E"), k.clone()).unwrap();
        assert_eq!(ix.remember_kvnr(&id("F"), k.clone()), Err(LinkageError::KvnrHeldByOtherChild));
        assert_eq!(ix.remember_kvnr(&id("X"), k.clone()), Err(LinkageError::UnknownChild));
        let mut c = card("Lea", "Berg", date(2021, 1, 1));
        c.kvnr = Some(k.clone());
        let d = ix.decide(&c);
        assert_eq!((d.outcome.clone(), d.reason), (Outcome::Linked(id("E")), Reason::KvnrEqual));
        // even with a wrong date, the KVNR finds the child
        c.birth_date = date(2021, 6, 30);
        assert_eq!(ix.decide(&c).outcome, Outcome::Linked(id("E")));
        // a different KVNR on a card counts strongly against the child
        let mut other = card("Lea", "Berg", date(2021, 1, 1));
        other.kvnr = Some(Kvnr::parse("S482153071").unwrap());
        let d = ix.decide(&other);
        let e = d.candidates.iter().find(|c| c.melde_id == id("E")).unwrap();
        assert_eq!(e.comparison.kvnr.level, KvnrLevel::Different);
        // an update of the record keeps the KVNR
        ix.upsert(child("E", &["Lea"], "Berg-Schulz", date(2021, 1, 1)));
        assert_eq!(ix.get(&id("E")).unwrap().kvnr, Some(k.clone()));
        assert_eq!(ix.forget_kvnr(&id("E")).unwrap(), Some(k));
        assert_eq!(ix.decide(&c).outcome, Outcome::Unlinked);
    }

    #[test]
    fn upsert_moves_a_child_and_remove_deletes_it() {
        let mut ix = index();
        assert_eq!(ix.len(), 6);
        ix.upsert(child("C", &["Till"], "Schulz", date(2022, 10, 24)));
        assert_eq!(ix.len(), 6);
        assert_eq!(ix.decide(&card("Till", "Schulz", date(2022, 10, 24))).outcome, Outcome::Linked(id("C")));
        assert_eq!(ix.decide(&card("Till", "Lühe", date(2022, 10, 23))).outcome, Outcome::Unlinked);
        assert!(ix.remove(&id("C")).is_some());
        assert_eq!(ix.len(), 5);
        assert!(ix.decide(&card("Till", "Schulz", date(2022, 10, 24))).candidates.is_empty());
        ix.upsert(child("G", &["Till"], "Schulz", date(2022, 10, 24)));
        assert_eq!(ix.decide(&card("Till", "Schulz", date(2022, 10, 24))).outcome, Outcome::Linked(id("G")));
    }

    #[test]
    fn same_name_same_day_is_ambiguous() {
        let mut ix = index();
        ix.upsert(child("H", &["Till"], "von der Lühe", date(2022, 10, 23)));
        let d = ix.decide(&card("Till", "von der Lühe", date(2022, 10, 23)));
        assert_eq!(d.outcome, Outcome::Review);
    }

    #[test]
    fn decision_is_json_and_explains_itself_in_german() {
        let d = index().decide(&card("Theodor", "Luehe", date(2022, 10, 23)));
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"kind\":\"review\""), "{json}");
        let back: Decision = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        let text = d.explain().join("\n");
        assert!(text.contains("Familienname: stimmt überein"), "{text}");
        assert!(text.contains("Vorname: weicht ab"), "{text}");
        let linked = index().decide(&card("Jakob", "Tessmann", date(2020, 4, 4)));
        let json = serde_json::to_value(&linked).unwrap();
        assert_eq!(json["outcome"], serde_json::json!({"kind": "linked", "melde_id": "A"}));
    }
}
