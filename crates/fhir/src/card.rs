//! The facts of a participation card as the gateway keeps them.
//!
//! Only format-neutral values go in here: the JSON and XML forms of one card must serialise
//! to the same bytes (the service hashes them to tell a resubmission from a conflict).

use jiff::civil::Date;
use oegd_domain::Checkup;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipationCard {
    /// `Bundle.identifier.value`, `urn:uuid:` + UUID: the card's id for idempotency.
    pub card_id: String,
    /// "1.0.0" or "1.0.1", from `Bundle.meta.profile`.
    pub profile_version: String,
    /// `Bundle.timestamp` as written.
    pub timestamp: String,
    pub checkup: Checkup,
    /// `Encounter.period.start`, the local date as written.
    pub exam_date: Date,
    pub patient: CardPatient,
    /// The examining doctor (`Encounter.participant` of type PPRF).
    pub practitioner: Option<CardPractitioner>,
    /// The practice (`Encounter.serviceProvider`, else the authoring Organization).
    pub organization: Option<CardOrganization>,
    /// Resource types of `Composition.author` in order: "Practitioner" / "Organization".
    pub authors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPatient {
    pub given: String,
    pub family: String,
    /// Family name at birth (`name` slice `maiden`).
    pub birth_name: Option<String>,
    pub birth_date: Date,
    /// KVNR (10 characters, check digit verified) from the GKV identifier.
    pub kvnr: Option<String>,
    /// Private insurance number (PKV identifier).
    pub pkv_id: Option<String>,
    /// The practice's patient number (MR identifier).
    pub patient_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPractitioner {
    /// Display name: prefix, given and family name, space separated ("Dr. med. Uwe Tessenow").
    pub name: String,
    pub lanr: Option<String>,
    pub efn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardOrganization {
    pub name: String,
    pub bsnr: Option<String>,
    /// Institutionskennzeichen.
    pub ik: Option<String>,
    /// First address line (street and number).
    pub address_line: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
}
