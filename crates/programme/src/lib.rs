//! The child check-up programme (Kinder-Früherkennung, "verbindliches Einladungs- und
//! Meldewesen") as a pure, deterministic library: no IO besides reading from
//! [`std::io::Read`], no clock, no database. Time is a parameter (the "as of" day).
//!
//! # Module map
//!
//! - [`offset`]: calendar offsets `+Nm+Kd` (months first with end-of-month clamping, then
//!   days; PROGRAMME.md rule 10).
//! - [`window`]: the G-BA due windows per check-up and date of birth.
//! - [`profile`]: a state's rules as data (serde/TOML): tracked check-ups, windows,
//!   invitation, reminder and escalation days, letter wording, escalation target, deletion,
//!   link wait. [`Profile::mv`] (default) and [`Profile::ni`].
//! - [`registry`]: the Meldedaten CSV reader; unreadable rows become German [`RowError`]s
//!   that name the column, never the personal data in it.
//! - [`engine`]: the replay engine: registry rows and assigned reports in, actions
//!   (invitations, reminders, escalations, all-clears, deletions), per-child states,
//!   district counts and a summary out ([`Evaluation`]).
//!
//! # Invariants
//!
//! - **As of D** = what a daily run on every day from the programme's first day through D
//!   would have created (PROGRAMME.md, "Precise semantics" 1–12).
//! - **Causality**: nothing in the actions or states as of D depends on data dated after D
//!   (registration events after D and reports received after D are ignored). The one
//!   exception is the input statistic `summary.report_rows` (rows handed in).
//! - **Exactly once**: every action has a stable key ([`ActionKey`]: kind, child,
//!   check-up). For D1 ≤ D2 the actions as of D1 are a subset of those as of D2, with the
//!   same creation days; evaluating twice gives the same result. A caller that stores the
//!   keys and inserts only new ones creates each letter and escalation once, however often
//!   and for whichever days it runs.
//! - **Efficiency**: the input is sorted once; each child is replayed independently in
//!   O(events + reports + check-ups), jumping between the days on which something can
//!   happen instead of walking every calendar day.
//! - **Determinism**: same input, same output, whatever the number of threads.

pub mod engine;
pub mod offset;
pub mod profile;
pub mod registry;
pub mod window;

pub use engine::output::{
    ActionKey, ActionKind, AllClear, CheckupCounts, CheckupReport, CheckupState, ChildReport, ChildStatus,
    DeletedChild, Deletion, DistrictStats, Escalation, Evaluation, Invitation, RegisteredChild, Reminder, Summary,
    Warning,
};
pub use engine::{AssignedReport, Engine, ReportSet, evaluate};
pub use offset::{Offset, ParseOffsetError};
pub use profile::{
    CheckupRule, DeletionAt, DeletionRule, DistrictOffice, EscalationRule, EscalationTarget, LetterVariant, Profile,
    ProfileError,
};
pub use registry::{Address, EventKind, PersonRecord, RegistryFile, RegistryRow, RowError, Sex, read_registry};
pub use window::{Window, WindowRule, window};
