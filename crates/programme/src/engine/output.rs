//! What the engine produces: actions with stable keys, per-child states, district counts
//! and a summary. Field names and shapes follow the fixture's `expected.json` (`result`).

use std::collections::BTreeMap;

use jiff::civil::Date;
use oegd_domain::{Checkup, Kreisschluessel, MeldeId};
use serde::{Deserialize, Serialize};

use crate::profile::{EscalationTarget, LetterVariant};

/// The kind of an action; with the child and the check-up it forms the action's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Invitation,
    Reminder,
    Escalation,
    AllClear,
    Deletion,
}

/// The stable key of an action: the job creates each key at most once, ever.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActionKey {
    pub kind: ActionKind,
    pub melde_id: MeldeId,
    /// `None` for a deletion.
    pub checkup: Option<Checkup>,
}

/// An invitation letter before the regular window (profiles with invitations only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub created: Date,
    pub district: Kreisschluessel,
    pub auskunftssperre: bool,
    pub regular_start: Date,
    pub regular_end: Date,
}

/// A reminder letter to the guardians.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub created: Date,
    pub district: Kreisschluessel,
    pub auskunftssperre: bool,
    pub variant: LetterVariant,
    /// The check-up the letter asks for (the next one for `next-checkup`).
    pub asks_for: Checkup,
    /// `same-checkup` letters: the end of the tolerance window, printed in the letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Date>,
}

/// A case handed to the district's office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub created: Date,
    pub district: Kreisschluessel,
    pub auskunftssperre: bool,
    /// The kind of office; written only when it is not the Gesundheitsamt (the default).
    #[serde(default, skip_serializing_if = "EscalationTarget::is_gesundheitsamt")]
    pub target: EscalationTarget,
}

/// A notice that a report of an escalated check-up has arrived (Entwarnung).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllClear {
    pub melde_id: MeldeId,
    pub checkup: Checkup,
    pub created: Date,
    /// The district that received the escalation.
    pub district: Kreisschluessel,
    pub report_id: String,
    pub escalated_on: Date,
}

/// Deletion of a child's personal data (`created` is the run that deletes; the same as
/// `deleted_on` unless that was before the programme's first day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub melde_id: MeldeId,
    pub created: Date,
    pub deleted_on: Date,
}

impl Invitation {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: ActionKind::Invitation, melde_id: self.melde_id.clone(), checkup: Some(self.checkup) }
    }
}

impl Reminder {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: ActionKind::Reminder, melde_id: self.melde_id.clone(), checkup: Some(self.checkup) }
    }
}

impl Escalation {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: ActionKind::Escalation, melde_id: self.melde_id.clone(), checkup: Some(self.checkup) }
    }
}

impl AllClear {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: ActionKind::AllClear, melde_id: self.melde_id.clone(), checkup: Some(self.checkup) }
    }
}

impl Deletion {
    pub fn key(&self) -> ActionKey {
        ActionKey { kind: ActionKind::Deletion, melde_id: self.melde_id.clone(), checkup: None }
    }
}

/// A child's registration status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChildStatus {
    Active,
    MovedOut,
    Dead,
    Deleted,
}

/// The state of a check-up (PROGRAMME.md rule 11, in order of precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckupState {
    Fulfilled,
    AllClear,
    Escalated,
    NotTracked,
    Superseded,
    NoAction,
    Reminded,
    NotDue,
}

impl CheckupState {
    pub const ALL: [CheckupState; 8] = [
        CheckupState::Fulfilled,
        CheckupState::AllClear,
        CheckupState::Escalated,
        CheckupState::NotTracked,
        CheckupState::Superseded,
        CheckupState::NoAction,
        CheckupState::Reminded,
        CheckupState::NotDue,
    ];
}

/// One check-up of one child, with the dates that apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckupReport {
    pub state: CheckupState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_clear: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked: Option<Date>,
}

/// A registered child as of the evaluation day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredChild {
    pub melde_id: MeldeId,
    pub birth_date: Date,
    pub registered_on: Date,
    pub status: ChildStatus,
    pub district: Kreisschluessel,
    pub auskunftssperre: bool,
    pub tracked_from: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_date: Option<Date>,
    /// The day the data will be deleted if nothing changes.
    pub deleted_on: Date,
    pub checkups: BTreeMap<Checkup, CheckupReport>,
}

/// A deleted child: nothing but the id and the date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedChild {
    pub melde_id: MeldeId,
    /// Always [`ChildStatus::Deleted`].
    pub status: ChildStatus,
    pub deleted_on: Date,
}

/// A child in the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChildReport {
    Deleted(DeletedChild),
    Registered(RegisteredChild),
}

impl ChildReport {
    pub fn melde_id(&self) -> &MeldeId {
        match self {
            ChildReport::Deleted(c) => &c.melde_id,
            ChildReport::Registered(c) => &c.melde_id,
        }
    }

    pub fn status(&self) -> ChildStatus {
        match self {
            ChildReport::Deleted(_) => ChildStatus::Deleted,
            ChildReport::Registered(c) => c.status,
        }
    }
}

/// Counts of one check-up in one district.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckupCounts {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invitations: usize,
    pub reminders: usize,
    pub escalations: usize,
    pub all_clears: usize,
}

impl CheckupCounts {
    pub(crate) fn is_empty(&self) -> bool {
        self.invitations == 0 && self.reminders == 0 && self.escalations == 0 && self.all_clears == 0
    }
}

/// Counts per district (Kreisschlüssel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistrictStats {
    /// The office receiving escalations (a Gesundheitsamt or, per profile, a Jugendamt).
    pub gesundheitsamt: String,
    pub active_children: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invitations: usize,
    pub reminders: usize,
    pub escalations: usize,
    pub all_clears: usize,
    /// Escalations without an all-clear.
    pub open_escalations: usize,
    /// Only check-ups with at least one action.
    pub by_checkup: BTreeMap<Checkup, CheckupCounts>,
}

/// Totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Children registered on or before the evaluation day (deleted ones included).
    pub children_registered: usize,
    /// Non-zero counts only.
    pub children_by_status: BTreeMap<ChildStatus, usize>,
    /// Report rows given to the engine (all submissions, whatever their receipt date).
    pub report_rows: usize,
    /// Distinct reports (by `report_id`) received on or before the evaluation day.
    pub reports_received_unique: usize,
    pub reports_linked: usize,
    pub reports_unlinked: usize,
    /// Check-up states of the registered, not deleted children (non-zero counts only).
    pub states: BTreeMap<CheckupState, usize>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invitations: usize,
    pub reminders: usize,
    pub escalations: usize,
    pub all_clears: usize,
    /// Reports of an escalated check-up that arrived after the escalation (= all-clears).
    pub late_reports_after_escalation: usize,
    /// Median of receipt − examination date over the distinct reports received; `null`
    /// without reports.
    pub median_report_delay_days: Option<f64>,
}

/// A registration event the engine could not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub melde_id: MeldeId,
    pub date: Date,
    /// Line in its file, if known.
    pub line: u64,
    /// German.
    pub message: String,
}

/// Everything as of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The profile's id.
    pub profile: String,
    pub as_of: Date,
    pub programme_start: Date,
    pub summary: Summary,
    pub districts: BTreeMap<Kreisschluessel, DistrictStats>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invitations: Vec<Invitation>,
    pub reminders: Vec<Reminder>,
    pub escalations: Vec<Escalation>,
    pub all_clears: Vec<AllClear>,
    pub deletions: Vec<Deletion>,
    /// Sorted by `melde_id`.
    pub children: Vec<ChildReport>,
    pub warnings: Vec<Warning>,
}

impl Evaluation {
    /// Every action with its creation day, by key.
    pub fn actions(&self) -> BTreeMap<ActionKey, Date> {
        let mut out = BTreeMap::new();
        for a in &self.invitations {
            out.insert(a.key(), a.created);
        }
        for a in &self.reminders {
            out.insert(a.key(), a.created);
        }
        for a in &self.escalations {
            out.insert(a.key(), a.created);
        }
        for a in &self.all_clears {
            out.insert(a.key(), a.created);
        }
        for a in &self.deletions {
            out.insert(a.key(), a.created);
        }
        out
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
