//! Record linkage of reported children (participation cards) to registered children.
//!
//! A card names one given name, the family name, perhaps the birth name, the birth date and
//! perhaps the KVNR; the registration data name all given names, family and birth name and
//! the birth date, but no KVNR. The first link of a child is therefore probabilistic
//! (Fellegi–Sunter); once a link is confirmed, the KVNR is remembered on the child and
//! later cards with it link exactly. PROGRAMME.md, "Linking reports to children".
//!
//! Pure library: no IO, no clock, no database. The caller stores the [`Decision`] (JSON,
//! with its score and the comparison that produced it) and feeds register imports and
//! confirmed links back into the [`LinkIndex`].
//!
//! # Module map
//!
//! - [`normalise`]: names → comparable form (case, umlauts, diacritics, hyphens, particles).
//! - [`phonetic`]: Kölner Phonetik.
//! - [`compare`]: comparators with graded levels (Jaro–Winkler and one-edit test without
//!   allocating, checked against `strsim`; phonetic,
//!   compound-name parts) and birth-date variants (swapped day/month, transposed or mistyped
//!   digit).
//! - [`score`]: Fellegi–Sunter weights (m/u table in its doc), the per-field
//!   [`Comparison`] with German explanations.
//! - [`index`]: [`LinkIndex`]: blocking on birth date and its variants, KVNR index,
//!   thresholds, twin rule, [`LinkIndex::decide`]; incremental [`LinkIndex::upsert`] and
//!   [`LinkIndex::remember_kvnr`].

pub mod compare;
pub mod index;
pub mod normalise;
pub mod phonetic;
pub mod score;

pub use compare::{DateLevel, NameLevel};
pub use index::{
    Candidate, Decision, LinkIndex, LinkageError, MAX_CANDIDATES, Outcome, Reason, RegisteredChild, ReportedChild,
    Thresholds,
};
pub use score::{Comparison, DateComparison, KvnrComparison, KvnrLevel, MatchedField, NameComparison};
