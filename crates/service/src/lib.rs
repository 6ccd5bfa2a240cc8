//! The gateway's application core.
//!
//! Turns requests from the edges (FHIR API, CLI, later the web UI) into domain operations
//! over a [`Store`](oegd_store::Store). It knows nothing of HTTP: the web crate maps
//! [`ServiceError`] to responses once.

pub mod accounts;
pub mod admin;
pub mod cases;
pub mod child;
pub mod cohort;
pub mod config;
pub mod datadir;
pub mod erasure;
mod error;
pub mod import;
mod intake;
pub mod letters;
pub mod linking;
pub mod office;
pub mod office_views;
pub mod operator;
pub mod overview;
pub mod programme;
pub mod receipt;
pub mod register;
pub mod registry;
pub mod states;
pub mod webform;

pub use error::ServiceError;
pub use intake::{Gateway, Sender, Submission};

/// SHA-256 (hex) of submitted bytes, as the receipt states it.
pub fn receipt_sha256(bytes: &[u8]) -> String {
    intake::sha256_hex(bytes)
}
