//! Names → comparable form.
//!
//! [`fold`] lower-cases, writes German umlauts out (ä→ae, ö→oe, ü→ue, ß→ss), folds other
//! diacritics (é→e, ş→s, ç→c through NFKD; ł→l, ı→i, ø→oe, æ→ae … through a table for the
//! letters NFKD does not decompose) and turns hyphens, apostrophes and other punctuation
//! into single spaces. [`strip_particles`] removes name particles (von, van, der, de, zu,
//! al, el, …) from a folded family name so that "von der Lühe" compares equal to "Lühe".

use ecow::EcoString;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Letters that NFKD leaves alone (or decomposes the German way we do not want) and their
/// ASCII spelling. Checked before NFKD.
fn table(c: char) -> Option<&'static str> {
    Some(match c {
        'ä' => "ae",
        'ö' => "oe",
        'ü' => "ue",
        'ß' => "ss",
        'ł' => "l",
        'ı' => "i",
        'đ' | 'ð' => "d",
        'ø' => "oe",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ħ' => "h",
        'ŧ' => "t",
        'ŀ' => "l",
        _ => return None,
    })
}

struct Folder {
    out: String,
    pending_space: bool,
}

impl Folder {
    fn push(&mut self, c: char) {
        if self.pending_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_space = false;
        self.out.push(c);
    }

    fn push_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.push(c));
    }

    fn letter(&mut self, c: char) {
        if let Some(rep) = table(c) {
            self.push_str(rep);
        } else if c.is_ascii_alphanumeric() {
            self.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            // NFKD: keep the base letters, drop the combining marks; a letter without an
            // ASCII decomposition (Cyrillic, Arabic, …) is kept as it is.
            // A compatibility decomposition may yield a capital (U+A7F8 → Ħ): lower-case it
            // before the table, or folding would not be idempotent.
            decompose_compatible(c, |d| {
                for d in d.to_lowercase() {
                    if let Some(rep) = table(d) {
                        self.push_str(rep);
                    } else if d.is_alphanumeric() && !is_combining_mark(d) {
                        self.push(d);
                    }
                }
            });
        } else if !is_combining_mark(c) {
            // whitespace, hyphen, apostrophe, dot, any other punctuation: a word boundary
            self.pending_space = true;
        }
    }
}

/// Folds a name to lower-case ASCII words separated by single spaces (see the module doc).
/// Letters of scripts without an ASCII decomposition are kept, lower-cased.
pub fn fold(name: &str) -> String {
    let mut f = Folder { out: String::with_capacity(name.len() + 4), pending_space: false };
    // A name already in NFC (nearly every one) is its own NFC: skip the composing iterator.
    if unicode_normalization::is_nfc_quick(name.chars()) == unicode_normalization::IsNormalized::Yes {
        for c in name.chars() {
            for l in c.to_lowercase() {
                f.letter(l);
            }
        }
    } else {
        for c in name.nfc() {
            for l in c.to_lowercase() {
                f.letter(l);
            }
        }
    }
    f.out
}

/// Name particles removed from family names (after [`fold`]): German, Dutch, French,
/// Italian, Spanish, Portuguese and Arabic articles and prepositions.
pub const PARTICLES: &[&str] = &[
    "von", "vom", "van", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du", "zu", "zum", "zur", "ten",
    "ter", "te", "le", "la", "al", "el", "y",
];

/// Removes the particles from a folded family name ("von der luehe" → "luehe"). A name that
/// consists of particles only is returned unchanged.
pub fn strip_particles(folded: &str) -> String {
    let core: Vec<&str> = folded.split(' ').filter(|t| !t.is_empty() && !PARTICLES.contains(t)).collect();
    if core.is_empty() { folded.to_owned() } else { core.join(" ") }
}

/// Splits the registration data's `vornamen` ("Jule Charlotte", "Lea-Sophie Marie") into the
/// single given names; a hyphenated name stays one name.
pub fn split_given_names(vornamen: &str) -> Vec<String> {
    vornamen.split_whitespace().map(str::to_owned).collect()
}

/// A name prepared for comparison: folded, without particles (family names), and its
/// Kölner Phonetik code. Computed once per registered child and once per report.
///
/// Laid out for the comparator: a decision compares the card's names with a few dozen
/// registered names each, nearly all of them read from memory that is not in the cache.
/// The strings are [`EcoString`]s (up to 15 bytes inline, no pointer to follow), and what
/// [`crate::compare::compare_names`] reads for every pair (`core`, its letters, the code,
/// the flags) sits first, in one 64-byte cache line; `full` and its letters are read only
/// for a name with particles.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[repr(C, align(64))]
pub(crate) struct NameKey {
    /// folded, particles removed (family names) or equal to `full` (given names)
    pub core: EcoString,
    /// the letters of `core` and of `full` ([`Letters`]), for the comparator's cheap upper
    /// bound of Jaro–Winkler
    pub core_letters: Letters,
    /// Kölner Phonetik of `core`
    pub code: EcoString,
    /// `full` and `core` are ASCII (then the comparator works on bytes)
    pub ascii: bool,
    /// `full` differs from `core` (a family name with particles)
    pub two_forms: bool,
    /// folded, particles kept
    pub full: EcoString,
    pub full_letters: Letters,
}

impl NameKey {
    pub fn given(name: &str) -> Self {
        Self::given_folded(fold(name))
    }

    pub fn family(name: &str) -> Self {
        Self::family_folded(fold(name))
    }

    /// [`NameKey::given`] of a name already [`fold`]ed (a report folds each name once and
    /// prepares it both ways, for swapped names).
    pub fn given_folded(full: String) -> Self {
        let code = crate::phonetic::code_folded(&full).into();
        let letters = Letters::of(&full);
        let ascii = full.is_ascii();
        let full = EcoString::from(full);
        Self { core: full.clone(), full, code, core_letters: letters, full_letters: letters, ascii, two_forms: false }
    }

    /// [`NameKey::family`] of a name already [`fold`]ed.
    pub fn family_folded(full: String) -> Self {
        let core = strip_particles(&full);
        let code = crate::phonetic::code_folded(&core).into();
        Self {
            core_letters: Letters::of(&core),
            full_letters: Letters::of(&full),
            ascii: full.is_ascii(),
            two_forms: full != core,
            full: full.into(),
            core: core.into(),
            code,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.core.is_empty()
    }
}

/// The characters of a folded name with their multiplicity, as layers of sets: `layers[k]`
/// holds the characters that occur more than `k` times (a–z, 0–9 and space one bit each,
/// every other character the same bit 63, which only over-counts). Then the characters two
/// names have in common, counted with multiplicity (Σ min(count in a, count in b), an upper
/// bound of Jaro's matches), is the sum of the layers' shared bits. Bit 62 of the first
/// layer, which no character uses, says that some character occurs more than three times
/// (then there is no bound); kept there so that the letters take 24 bytes and fit beside
/// the name in [`NameKey`]'s first cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Letters {
    layers: [u64; 3],
}

/// In `layers[0]`: a character occurs more than three times.
const MORE: u64 = 1 << 62;

impl Letters {
    pub const EMPTY: Self = Self { layers: [0; 3] };

    pub fn of(folded: &str) -> Self {
        let mut l = Self::default();
        let mut more = false;
        for c in folded.chars() {
            let bit = letter_bit(c);
            match l.layers.iter_mut().find(|layer| **layer & bit == 0) {
                Some(layer) => *layer |= bit,
                None => more = true,
            }
        }
        if more {
            l.layers[0] |= MORE;
        }
        l
    }

    /// Σ over characters of min(count here, count there), or `None` when a character occurs
    /// more than three times in either name.
    pub fn common(&self, other: &Self) -> Option<usize> {
        if (self.layers[0] | other.layers[0]) & MORE != 0 {
            return None;
        }
        Some(
            self.layers
                .iter()
                .zip(&other.layers)
                .map(|(a, b)| if a & b == 0 { 0 } else { (a & b).count_ones() as usize })
                .sum(),
        )
    }

    /// The name has several words.
    pub fn has_space(&self) -> bool {
        self.layers[0] & (1 << 36) != 0
    }
}

fn letter_bit(c: char) -> u64 {
    1u64 << match c {
        'a'..='z' => u32::from(c) - u32::from('a'),
        '0'..='9' => 26 + u32::from(c) - u32::from('0'),
        ' ' => 36,
        _ => 63,
    }
}

/// Bigram signature of the words of some names (a 128-bit set of hashed bigrams, words
/// padded with a boundary mark). Used by the index as a cheap pre-filter before the full
/// comparison: a candidate whose names share too few bigrams with the report cannot score.
pub(crate) fn signature<'a>(names: impl IntoIterator<Item = &'a str>) -> u128 {
    let mut sig = 0u128;
    for name in names {
        for word in name.split(' ').filter(|w| !w.is_empty()) {
            let mut prev = '^';
            for c in word.chars().chain(std::iter::once('$')) {
                let h = (u32::from(prev).wrapping_mul(0x9E37_79B1) ^ u32::from(c).wrapping_mul(0x85EB_CA77))
                    .rotate_left(13)
                    .wrapping_mul(0xC2B2_AE3D);
                sig |= 1u128 << (h >> 25);
                prev = c;
            }
        }
    }
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`fold`] without the NFC shortcut.
    fn fold_through_nfc(name: &str) -> String {
        let mut f = Folder { out: String::new(), pending_space: false };
        for c in name.nfc() {
            for l in c.to_lowercase() {
                f.letter(l);
            }
        }
        f.out
    }

    #[test]
    fn nfc_shortcut_folds_the_same() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet: Vec<char> = "aAüÜu\u{308}e\u{301}ßẞ -'.İıŁłØǅ\u{a7f8}Ωω1é\u{327}ç\u{1e9e}ﬁ㎏".chars().collect();
        for _ in 0..20_000 {
            let len = (x % 9) as usize;
            let name: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            assert_eq!(fold(&name), fold_through_nfc(&name), "{name:?}");
        }
    }

    #[test]
    fn folding_is_idempotent_for_capitals_from_decomposition() {
        // found by the never_panics property test
        let once = fold("\u{a7f8}");
        assert_eq!(fold(&once), once);
    }

    #[test]
    fn folds_umlauts_accents_and_separators() {
        for (input, want) in [
            ("Möller", "moeller"),
            ("Moeller", "moeller"),
            ("Haß", "hass"),
            ("HASS", "hass"),
            ("Rüß", "ruess"),
            ("Ayşe", "ayse"),
            ("Kılıç", "kilic"),
            ("Łukasz Wałęsa", "lukasz walesa"),
            ("Jérôme", "jerome"),
            ("Zoé", "zoe"),
            ("Maëlle", "maelle"),
            ("Lea-Sophie", "lea sophie"),
            ("  O'Brien -- Smith ", "o brien smith"),
            ("Mu\u{0308}ller", "mueller"), // decomposed input
            ("Søren Ærø", "soeren aeroe"),
            ("ẞTRASSE", "sstrasse"),
            ("İpek", "ipek"),
            ("Nguyễn Thị", "nguyen thi"),
            ("", ""),
            ("---", ""),
        ] {
            assert_eq!(fold(input), want, "{input}");
        }
    }

    #[test]
    fn strips_particles() {
        assert_eq!(strip_particles(&fold("von der Lühe")), "luehe");
        assert_eq!(strip_particles(&fold("Al-Masri")), "masri");
        assert_eq!(strip_particles(&fold("van den Berg")), "berg");
        assert_eq!(strip_particles(&fold("Schmidt-Sommer")), "schmidt sommer");
        assert_eq!(strip_particles(&fold("Von")), "von");
        assert_eq!(NameKey::family("von der Lühe").core, NameKey::family("Luehe").core);
    }

    #[test]
    fn splits_given_names() {
        assert_eq!(split_given_names("Hannes Heinrich  Friedrich"), ["Hannes", "Heinrich", "Friedrich"]);
        assert_eq!(split_given_names("Lea-Sophie Marie"), ["Lea-Sophie", "Marie"]);
    }

    #[test]
    fn signature_overlap() {
        let a = signature(["max", "hinz"]);
        let b = signature(["maax", "hinz"]);
        assert!((a & b).count_ones() * 10 >= a.count_ones() * 8);
    }
}
