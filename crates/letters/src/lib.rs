//! Letters to families, typeset as PDF.
//!
//! A pure library: a [`Letter`] (data) goes in, the bytes of a PDF file come out. The state
//! office sends these letters to the guardians of a child whose check-up (U-Untersuchung) has
//! no report (reminders), or, in profiles that invite, before a check-up falls due.
//!
//! Typesetting is done by the [typst](https://typst.app) compiler used as a library, with the
//! fonts embedded in `typst-assets` (no system fonts). It is a heavy dependency and lives in
//! this crate only.
//!
//! # Module map
//!
//! - `model`: the input: [`Letter`], [`Sender`], [`Addressee`], [`LetterKind`] and
//!   [`Letter::validate`].
//! - `render`: [`LetterRenderer`]: fonts and template loaded once, then `render_pdf` per letter.
//! - `world`: the minimal `typst::World` (one main source, one data file, embedded fonts,
//!   no clock: "today" is the letter date).
//! - `data`: the letter as the template reads it (a JSON file in typst's virtual file system).
//! - `german`: German date formats ("31. März 2026", "31.03.2026").
//! - `templates/letter.typ`: the layout (DIN 5008 form B, window envelope DL) and all the
//!   wording, in German.
//!
//! # Invariants
//!
//! - Letter data never becomes markup: the template reads it with `json(...)` and prints strings
//!   as text, so any name prints literally.
//! - No clock, no file system, no network: the same letter gives the same PDF bytes.
//! - Which reminder variant a check-up gets is decided by the programme profile, not here.

mod data;
mod german;
mod model;
mod render;
mod world;

pub use german::{date_long, date_numeric};
pub use model::{Addressee, Letter, LetterKind, MAX_ADDRESS_LINES, Sender};
pub use render::LetterRenderer;

/// What can go wrong when rendering a letter.
#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    /// The letter data cannot be printed as it is (for example an address with too many lines).
    #[error("invalid letter: {0}")]
    InvalidLetter(String),
    /// The renderer could not be set up (fonts, template paths).
    #[error("letter renderer setup failed: {0}")]
    Setup(String),
    /// The template failed to compile with this letter's data.
    #[error("typesetting the letter failed: {0}")]
    Typeset(String),
    /// The PDF export failed.
    #[error("exporting the letter as PDF failed: {0}")]
    Pdf(String),
}
