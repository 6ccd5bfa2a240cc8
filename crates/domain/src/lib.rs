//! The gateway's domain vocabulary.
//!
//! Values here are parsed once at the edge and cannot hold an invalid value afterwards
//! ("parse, don't validate"). This crate does no IO and reads no clock: time comes in
//! through [`Clock`].

mod checkup;
mod clock;
mod ids;
mod org;

pub use checkup::Checkup;
pub use clock::{Clock, FixedClock, SystemClock};
pub use ids::{Ags, Kreisschluessel, Kvnr, MeldeId, ParseIdError, TelematikId};
pub use org::{OrgKind, ProfessionOid};
