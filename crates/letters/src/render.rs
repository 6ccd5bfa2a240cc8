//! [`LetterRenderer`]: compiles the template with one letter's data and exports the PDF.

use typst::diag::SourceDiagnostic;
use typst::ecow::EcoVec;
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

use crate::LetterError;
use crate::data::TemplateData;
use crate::model::Letter;
use crate::world::{LetterWorld, Shared};

/// The letter template (typst markup). It reads its data with `json("/letter.json")`.
const TEMPLATE: &str = include_str!("../templates/letter.typ");
const TEMPLATE_PATH: &str = "/letter.typ";
const DATA_PATH: &str = "/letter.json";

/// How many compilations an unused memoised result survives in typst's global cache.
/// Every letter has different data, so little is reused; evicting keeps memory flat over
/// thousands of letters while the template's parse and font data stay warm.
const CACHE_MAX_AGE: usize = 5;

/// Typesets letters. Build it once (parsing the embedded fonts takes a moment) and render
/// any number of letters with it, from any number of threads.
pub struct LetterRenderer {
    shared: Shared,
}

impl std::fmt::Debug for LetterRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LetterRenderer").field("fonts", &self.shared.fonts.len()).finish_non_exhaustive()
    }
}

impl LetterRenderer {
    /// Loads the embedded fonts and prepares the template.
    pub fn new() -> Result<Self, LetterError> {
        let fonts: Vec<Font> = typst_assets::fonts().flat_map(|data| Font::iter(Bytes::new(data))).collect();
        if fonts.is_empty() {
            return Err(LetterError::Setup("no embedded fonts (typst-assets without its `fonts` feature?)".into()));
        }
        let book = FontBook::from_fonts(&fonts);
        let main_id = file_id(TEMPLATE_PATH)?;
        let data_id = file_id(DATA_PATH)?;
        let shared = Shared {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(book),
            fonts,
            main: Source::new(main_id, TEMPLATE.to_owned()),
            data_id,
        };
        Ok(LetterRenderer { shared })
    }

    /// Renders one letter to the bytes of a PDF file.
    pub fn render_pdf(&self, letter: &Letter) -> Result<Vec<u8>, LetterError> {
        letter.validate()?;
        let data = TemplateData::new(letter).to_json().map_err(|e| LetterError::Setup(e.to_string()))?;
        let date = Datetime::from_ymd(
            i32::from(letter.date.year()),
            letter.date.month().unsigned_abs(),
            letter.date.day().unsigned_abs(),
        )
        .ok_or_else(|| LetterError::InvalidLetter("the letter date is out of range".into()))?;
        let world = LetterWorld { shared: &self.shared, data: Bytes::new(data), today: date };

        let compiled = typst::compile::<PagedDocument>(&world);
        typst::comemo::evict(CACHE_MAX_AGE);
        let document = compiled.output.map_err(|errors| LetterError::Typeset(describe(&errors)))?;

        let options = PdfOptions {
            // Stable document identifier and creation date: the same letter gives the same bytes.
            ident: Smart::Custom(letter.reference.clone()),
            creator: Smart::Custom(Some("oegd-gateway".into())),
            timestamp: Some(Timestamp::new_utc(date)),
            ..PdfOptions::default()
        };
        typst_pdf::pdf(&document, &options).map_err(|errors| LetterError::Pdf(describe(&errors)))
    }
}

fn file_id(path: &str) -> Result<FileId, LetterError> {
    let vpath = VirtualPath::new(path).map_err(|e| LetterError::Setup(format!("virtual path {path}: {e:?}")))?;
    Ok(FileId::new(RootedPath::new(VirtualRoot::Project, vpath)))
}

/// The diagnostics' messages, without source excerpts (which could hold personal data).
fn describe(diagnostics: &EcoVec<SourceDiagnostic>) -> String {
    diagnostics.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ")
}
