//! Comparators with graded levels: names (exact, Jaro–Winkler, Kölner Phonetik, parts of
//! compound names) and birth dates (exact or one of the usual writing errors).
//!
//! Jaro–Winkler and the one-edit test compute what `strsim`'s `jaro_winkler` and
//! `osa_distance(..) <= 1` compute, without allocating (the tests check them against `strsim`).

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::normalise::{Letters, NameKey};

/// Jaro–Winkler similarity from which two names count as [`NameLevel::Close`].
pub const JW_CLOSE: f64 = 0.94;
/// Jaro–Winkler similarity from which two names count as [`NameLevel::Similar`].
pub const JW_SIMILAR: f64 = 0.85;

/// How well two names agree, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameLevel {
    /// equal after normalisation (case, umlauts, accents, hyphens, particles)
    Exact,
    /// Jaro–Winkler ≥ 0.94, or one edit apart (the longer name of at least 4 letters): a typo
    Close,
    /// one is a part of the other's compound name ("Lea" – "Lea-Sophie")
    Part,
    /// the same Kölner Phonetik code
    Phonetic,
    /// Jaro–Winkler ≥ 0.85
    Similar,
    /// none of the above
    Disagree,
    /// one side has no name to compare
    Missing,
}

/// Compares two prepared names.
///
/// Runs once per name pair of every candidate, so it allocates nothing and computes
/// Jaro–Winkler, its costly part, only when a level still open depends on it: first the
/// one-edit test, then an upper bound of Jaro–Winkler from lengths and shared letters
/// ([`JaroWinkler`]), the exact value only when that bound reaches the level asked about.
/// Both work on the folded bytes (on `char`s, in a stack buffer, for the rare name that
/// keeps letters of another script). The levels are exactly those of
/// `strsim::jaro_winkler` and `strsim::osa_distance` in the order the levels are listed
/// (tests below compare them on random names).
pub(crate) fn compare_names(a: &NameKey, b: &NameKey) -> NameLevel {
    if a.is_empty() || b.is_empty() {
        return NameLevel::Missing;
    }
    let (a_core, b_core) = (a.core.as_str(), b.core.as_str());
    let two_forms = a.two_forms || b.two_forms;
    // `full` differs from `core` only in a name with two forms
    if a_core == b_core || (two_forms && a.full == b.full) {
        return NameLevel::Exact;
    }
    // one edit: in names of 4+ letters, or a letter dropped or doubled in a 3-letter name
    // (letters are bytes in ASCII names, `char`s in the others)
    let ascii = a.ascii && b.ascii;
    let letters = |s: &str| if ascii { s.len() } else { s.chars().count() };
    let (a_len, b_len) = (letters(a_core), letters(b_core));
    let (short, long) = (a_len.min(b_len), a_len.max(b_len));
    if short >= 3 && long >= 4 && long - short <= 1 && with_chars(a_core, b_core, within_one_edit, within_one_edit) {
        return NameLevel::Close;
    }
    // Jaro–Winkler of the two names is that of the better form
    let mut core = JaroWinkler::new(a_core, &a.core_letters, b_core, &b.core_letters, ascii);
    let mut full = two_forms.then(|| JaroWinkler::new(&a.full, &a.full_letters, &b.full, &b.full_letters, ascii));
    let mut reaches = |floor: f64| core.reaches(floor) || full.as_mut().is_some_and(|f| f.reaches(floor));
    if reaches(JW_CLOSE) {
        return NameLevel::Close;
    }
    if (b.core_letters.has_space() && is_part(a_core, b_core))
        || (a.core_letters.has_space() && is_part(b_core, a_core))
    {
        return NameLevel::Part;
    }
    if !a.code.is_empty() && a.code == b.code {
        return NameLevel::Phonetic;
    }
    if reaches(JW_SIMILAR) {
        return NameLevel::Similar;
    }
    NameLevel::Disagree
}

/// `part` is one word of the compound name `whole` (which has several words).
fn is_part(part: &str, whole: &str) -> bool {
    whole.contains(' ') && whole.split(' ').any(|w| w == part)
}

/// Jaro–Winkler of two folded names, computed when first needed and only if an upper
/// bound reaches the similarity asked about. The bound: Jaro's matches `m` are at most the
/// characters the names have in common counted with multiplicity ([`Letters::common`]),
/// transpositions at least 0, and the Winkler prefix is the actual common prefix (at most
/// 4). Without a bound (a name not ASCII, a letter more than three times) the value is
/// computed.
struct JaroWinkler<'a> {
    a: &'a str,
    b: &'a str,
    bound: f64,
    value: Option<f64>,
}

impl<'a> JaroWinkler<'a> {
    fn new(a: &'a str, a_letters: &Letters, b: &'a str, b_letters: &Letters, ascii: bool) -> Self {
        let mut bound = f64::INFINITY;
        if ascii
            && !a.is_empty()
            && !b.is_empty()
            && let Some(m) = a_letters.common(b_letters)
        {
            bound = 0.0;
            if m > 0 {
                let (x, y) = (a.as_bytes(), b.as_bytes());
                let prefix = x.iter().take(4).zip(y).take_while(|(p, q)| p == q).count();
                let m = m as f64;
                let jaro_max = (m / x.len() as f64 + m / y.len() as f64 + 1.0) / 3.0;
                bound = jaro_max + 0.1 * prefix as f64 * (1.0 - jaro_max);
            }
        }
        Self { a, b, bound, value: None }
    }

    /// Jaro–Winkler is at least `floor`.
    fn reaches(&mut self, floor: f64) -> bool {
        // the margin absorbs rounding: the bound only has to be an upper bound
        if self.bound < floor - 1e-9 {
            return false;
        }
        let (a, b) = (self.a, self.b);
        *self.value.get_or_insert_with(|| with_chars(a, b, jaro_winkler_bytes, jaro_winkler)) >= floor
    }
}

/// Applies `f` to the bytes of two ASCII names, or `g` to their `char`s (in stack buffers
/// up to 32 characters).
fn with_chars<R>(a: &str, b: &str, f: fn(&[u8], &[u8]) -> R, g: fn(&[char], &[char]) -> R) -> R {
    if a.is_ascii() && b.is_ascii() {
        return f(a.as_bytes(), b.as_bytes());
    }
    const STACK: usize = 32;
    let (mut x, mut y) = (['\0'; STACK], ['\0'; STACK]);
    let (nx, ny) = (a.chars().count(), b.chars().count());
    if nx <= STACK && ny <= STACK {
        x.iter_mut().zip(a.chars()).for_each(|(s, c)| *s = c);
        y.iter_mut().zip(b.chars()).for_each(|(s, c)| *s = c);
        g(x.get(..nx).unwrap_or_default(), y.get(..ny).unwrap_or_default())
    } else {
        g(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>())
    }
}

/// Jaro–Winkler similarity, computed exactly as `strsim::generic_jaro_winkler` does (same
/// matching window, same transposition count, same floating-point expression), with the
/// match flags on the stack.
pub(crate) fn jaro_winkler<T: Copy + PartialEq>(a: &[T], b: &[T]) -> f64 {
    const STACK: usize = 64;
    let sim = if a.len() <= STACK && b.len() <= STACK {
        let (mut fa, mut fb) = ([false; STACK], [false; STACK]);
        jaro(a, b, fa.get_mut(..a.len()).unwrap_or_default(), fb.get_mut(..b.len()).unwrap_or_default())
    } else {
        jaro(a, b, &mut vec![false; a.len()], &mut vec![false; b.len()])
    };
    if sim > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

/// [`jaro_winkler`] of two ASCII names, with the match flags as bits of a `u64` and, for
/// each letter of `b`, the set of its positions: a letter of `a` takes the first unmatched
/// position of its letter in `b` inside the window (the lowest set bit), as the scan in
/// [`jaro`] does, so matches, transpositions and the result are the same. Names longer
/// than 64 bytes (or not ASCII) go to [`jaro_winkler`].
pub(crate) fn jaro_winkler_bytes(a: &[u8], b: &[u8]) -> f64 {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len > 64 || b_len > 64 || !a.is_ascii() || !b.is_ascii() {
        return jaro_winkler(a, b);
    }
    if a_len == 0 && b_len == 0 {
        return 1.0;
    } else if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let below = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut positions = [0u64; 128];
    for (j, c) in b.iter().enumerate() {
        if let Some(p) = positions.get_mut(usize::from(*c)) {
            *p |= 1 << j;
        }
    }
    let range = (a_len.max(b_len) / 2).saturating_sub(1);
    let (mut a_matched, mut b_matched) = (0u64, 0u64);
    for (i, c) in a.iter().enumerate() {
        let window = below(b_len.min(i + range + 1)) & !below(i.saturating_sub(range));
        let free = positions.get(usize::from(*c)).copied().unwrap_or(0) & window & !b_matched;
        if free != 0 {
            b_matched |= free & free.wrapping_neg();
            a_matched |= 1 << i;
        }
    }
    let matches = a_matched.count_ones() as usize;
    if matches == 0 {
        return 0.0;
    }
    // the matched letters of both names in order, pairwise
    let (mut am, mut bm, mut half_transpositions) = (a_matched, b_matched, 0usize);
    while am != 0 {
        let (i, j) = (am.trailing_zeros() as usize, bm.trailing_zeros() as usize);
        if a.get(i) != b.get(j) {
            half_transpositions += 1;
        }
        am &= am - 1;
        bm &= bm.wrapping_sub(1);
    }
    let transpositions = half_transpositions / 2;
    let sim = ((matches as f64 / a_len as f64)
        + (matches as f64 / b_len as f64)
        + ((matches - transpositions) as f64 / matches as f64))
        / 3.0;
    if sim > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        sim + 0.1 * prefix as f64 * (1.0 - sim)
    } else {
        sim
    }
}

fn jaro<T: Copy + PartialEq>(a: &[T], b: &[T], a_flags: &mut [bool], b_flags: &mut [bool]) -> f64 {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len == 0 && b_len == 0 {
        return 1.0;
    } else if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let range = (a_len.max(b_len) / 2).saturating_sub(1);
    let mut matches = 0usize;
    for (i, (x, fa)) in a.iter().zip(a_flags.iter_mut()).enumerate() {
        let (lo, hi) = (i.saturating_sub(range), b_len.min(i + range + 1));
        for (y, fb) in b.iter().zip(b_flags.iter_mut()).take(hi).skip(lo) {
            if x == y && !*fb {
                *fa = true;
                *fb = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut from_b = b.iter().zip(b_flags.iter()).filter(|(_, f)| **f).map(|(y, _)| y);
    let transpositions = a
        .iter()
        .zip(a_flags.iter())
        .filter(|(_, f)| **f)
        .filter(|(x, _)| from_b.next().is_some_and(|y| y != *x))
        .count()
        / 2;
    ((matches as f64 / a_len as f64)
        + (matches as f64 / b_len as f64)
        + ((matches - transpositions) as f64 / matches as f64))
        / 3.0
}

/// Optimal-string-alignment distance at most 1: equal, or one substitution, insertion,
/// deletion or transposition of adjacent letters apart (`strsim::osa_distance(a, b) <= 1`
/// without its three rows).
pub(crate) fn within_one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let p = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    match long.len() - short.len() {
        0 if p == short.len() => true,
        0 => {
            short.get(p + 1..) == long.get(p + 1..)
                || (short.get(p) == long.get(p + 1)
                    && short.get(p + 1) == long.get(p)
                    && short.get(p + 2..) == long.get(p + 2..))
        }
        1 => short.get(p..) == long.get(p + 1..),
        _ => false,
    }
}

/// How a reported birth date relates to a registered one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateLevel {
    Exact,
    /// day and month swapped (2022-08-01 ↔ 2022-01-08)
    DayMonthSwapped,
    /// two adjacent digits transposed (21.09. ↔ 12.09.)
    DigitsTransposed,
    /// one digit mistyped (25.07. ↔ 15.07.)
    DigitMistyped,
    /// none of the above (possible only for a candidate found through the KVNR)
    Differs,
}

fn digits_ymd(d: Date) -> Option<[u8; 8]> {
    let y = u16::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let m = u8::try_from(d.month()).ok()?;
    let day = u8::try_from(d.day()).ok()?;
    let y = [(y / 1000) as u8, (y / 100 % 10) as u8, (y / 10 % 10) as u8, (y % 10) as u8];
    Some([y[0], y[1], y[2], y[3], m / 10, m % 10, day / 10, day % 10])
}

fn date_from_ymd(d: &[u8; 8]) -> Option<Date> {
    let [y0, y1, y2, y3, m0, m1, d0, d1] = d.map(i16::from);
    let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
    let month = i8::try_from(m0 * 10 + m1).ok()?;
    let day = i8::try_from(d0 * 10 + d1).ok()?;
    Date::new(year, month, day).ok()
}

/// Positions of YYYYMMDD in the order the date is written on German forms (DDMMYYYY), so
/// that transpositions across the day/month and month/year boundary are found too.
const WRITTEN_ORDER: [usize; 8] = [6, 7, 4, 5, 0, 1, 2, 3];

/// The dates that a registered birth date could have become on a card through one of the
/// usual errors: day and month swapped, two adjacent digits transposed (in YYYY-MM-DD or in
/// DD.MM.YYYY), one digit mistyped. Only valid dates; not `date` itself; each date once,
/// with its most likely error. The relation is symmetric, so the variants of a reported
/// date are the registered dates to look up.
pub fn date_variants(date: Date) -> Vec<(Date, DateLevel)> {
    let mut out: Vec<(Date, DateLevel)> = Vec::with_capacity(48);
    let mut add = |d: Date, level: DateLevel| {
        if d != date && !out.iter().any(|(o, _)| *o == d) {
            out.push((d, level));
        }
    };
    if let Ok(swapped) = Date::new(date.year(), date.day(), date.month()) {
        add(swapped, DateLevel::DayMonthSwapped);
    }
    let Some(ymd) = digits_ymd(date) else { return out };
    for order in [[0, 1, 2, 3, 4, 5, 6, 7], WRITTEN_ORDER] {
        for w in order.windows(2) {
            if let [i, j] = *w {
                let mut v = ymd;
                v.swap(i, j);
                if let Some(d) = date_from_ymd(&v) {
                    add(d, DateLevel::DigitsTransposed);
                }
            }
        }
    }
    for i in 0..8 {
        for digit in 0..10u8 {
            let mut v = ymd;
            if let Some(slot) = v.get_mut(i) {
                *slot = digit;
            }
            if let Some(d) = date_from_ymd(&v) {
                add(d, DateLevel::DigitMistyped);
            }
        }
    }
    out
}

/// Relates a reported to a registered birth date.
pub fn compare_dates(reported: Date, registered: Date) -> DateLevel {
    if reported == registered {
        return DateLevel::Exact;
    }
    date_variants(reported).into_iter().find(|(d, _)| *d == registered).map_or(DateLevel::Differs, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    use jiff::civil::date;
    use proptest::prelude::*;

    use crate::normalise::{fold, strip_particles};
    use crate::phonetic::koelner_phonetik;

    fn level(a: &str, b: &str) -> NameLevel {
        compare_names(&NameKey::given(a), &NameKey::given(b))
    }

    fn family_level(a: &str, b: &str) -> NameLevel {
        compare_names(&NameKey::family(a), &NameKey::family(b))
    }

    #[test]
    fn name_levels() {
        assert_eq!(level("Möller", "Moeller"), NameLevel::Exact);
        assert_eq!(family_level("von der Lühe", "Luehe"), NameLevel::Exact);
        assert_eq!(level("Lasse-Jontr", "Lasse-Jonte"), NameLevel::Close);
        assert_eq!(level("Maax", "Max"), NameLevel::Close);
        assert_eq!(level("Paual", "Paula"), NameLevel::Close);
        assert_eq!(level("Lea", "Lea-Sophie"), NameLevel::Part);
        assert_eq!(family_level("Schmidt", "Schmidt-Sommer"), NameLevel::Part);
        assert_eq!(level("Lua", "Lia"), NameLevel::Phonetic);
        assert_eq!(family_level("Meier", "Mayr"), NameLevel::Phonetic);
        assert_eq!(level("Jakob", "Johanna"), NameLevel::Disagree);
        assert_eq!(level("", "Anna"), NameLevel::Missing);
        // one edit counted in letters, not bytes, in names of other scripts (found by
        // `compare_names_equals_the_reference`: were Similar, Phonetic and Close)
        assert_eq!(level("Ελένη", "Λένη"), NameLevel::Close);
        assert_eq!(family_level("Məmmədov", "Mmmədov"), NameLevel::Close);
        assert_eq!(level("abc", "abω"), NameLevel::Disagree);
    }

    /// Random names over a small alphabet (so that many pairs are similar), with a space
    /// and a non-ASCII letter now and then.
    fn names(seed: u64, count: usize) -> Vec<String> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: Vec<char> = "aeilnorst mü".chars().collect();
        (0..count)
            .map(|_| {
                let len = 1 + (next() % 12) as usize;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            })
            .collect()
    }

    #[test]
    fn jaro_winkler_and_one_edit_equal_strsim() {
        let mut names = names(0x2545_f491_4f6c_dd1d, 300);
        names.extend(
            ["martha", "marhta", "dwayne", "duane", "dixon", "dicksonx", "a", "", "emma", "emilia"].map(String::from),
        );
        names.push("x".repeat(70)); // beyond the stack buffers
        names.push("y".repeat(69) + "x");
        names.push("ab".repeat(32)); // exactly the width of the bit masks
        names.push("ba".repeat(31) + "bb");
        let mut close_pairs = 0;
        for a in &names {
            for b in &names {
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                let want = strsim::jaro_winkler(a, b);
                assert_eq!(jaro_winkler(&ac, &bc).to_bits(), want.to_bits(), "{a:?} {b:?}");
                assert_eq!(with_chars(a, b, jaro_winkler, jaro_winkler).to_bits(), want.to_bits(), "{a:?} {b:?}");
                if a.is_ascii() && b.is_ascii() {
                    let got = jaro_winkler_bytes(a.as_bytes(), b.as_bytes());
                    assert_eq!(got.to_bits(), want.to_bits(), "{a:?} {b:?}");
                }
                let osa = strsim::osa_distance(a, b) <= 1;
                assert_eq!(within_one_edit(&ac, &bc), osa, "{a:?} {b:?}");
                let ascii = a.is_ascii() && b.is_ascii();
                for floor in [JW_CLOSE, JW_SIMILAR] {
                    let mut lazy = JaroWinkler::new(a, &Letters::of(a), b, &Letters::of(b), ascii);
                    assert_eq!(lazy.reaches(floor), want >= floor, "{a:?} {b:?} {floor}");
                    if let Some(got) = lazy.value {
                        assert_eq!(got.to_bits(), want.to_bits(), "{a:?} {b:?}");
                    }
                }
                if want >= JW_SIMILAR {
                    close_pairs += 1;
                }
            }
        }
        assert!(close_pairs > 200, "the sample holds similar pairs: {close_pairs}");
    }

    /// The level of two raw names the straightforward way: folded (a family name without
    /// its particles: `core`, with them: `full`), then the levels in the order
    /// [`NameLevel`] lists them, with `strsim`'s Jaro–Winkler of the better form and its
    /// optimal-string-alignment distance of the cores, the lengths counted in letters.
    fn reference_level(a: &str, b: &str, family: bool) -> NameLevel {
        let prepare = |raw: &str| {
            let full = fold(raw);
            let core = if family { strip_particles(&full) } else { full.clone() };
            (full, core)
        };
        let ((a_full, a_core), (b_full, b_core)) = (prepare(a), prepare(b));
        if a_core.is_empty() || b_core.is_empty() {
            return NameLevel::Missing;
        }
        if a_core == b_core {
            return NameLevel::Exact;
        }
        let jw = strsim::jaro_winkler(&a_core, &b_core).max(strsim::jaro_winkler(&a_full, &b_full));
        let longer = a_core.chars().count().max(b_core.chars().count());
        if jw >= JW_CLOSE || (strsim::osa_distance(&a_core, &b_core) <= 1 && longer >= 4) {
            return NameLevel::Close;
        }
        let part = |part: &str, whole: &str| {
            let words: Vec<&str> = whole.split(' ').collect();
            words.len() > 1 && words.contains(&part)
        };
        if part(&a_core, &b_core) || part(&b_core, &a_core) {
            return NameLevel::Part;
        }
        let code = koelner_phonetik(&a_core);
        if !code.is_empty() && code == koelner_phonetik(&b_core) {
            return NameLevel::Phonetic;
        }
        if jw >= JW_SIMILAR {
            return NameLevel::Similar;
        }
        NameLevel::Disagree
    }

    /// Pieces of real names: umlauts and ß (also written out), accents, ł, hyphenated and
    /// several-word names, particles, a name that is a particle only, letters that folding
    /// keeps (ə, Greek, Cyrillic), an apostrophe, nothing.
    const PIECES: &str = "Anna|Lea|Lea-Sophie|Max|Maximilian|Jürgen|Juergen|Zoé|Zoe|Łukasz|Lukas|Müller|Mueller|\
        Möller|Moeller|Weiß|Weiss|Groß|Özdemir|Wałęsa|Schmidt|Schmidt-Sommer|Meier|Mayr|Maier|Lua|Lia|O'Brien|\
        Nguyễn Thị|von der Lühe|Luehe|van den Berg|de la Cruz|zu Guttenberg|Al-Masri|Von|Élodie|Məmmədov|Ελένη|\
        Дмитрий|-|";

    /// Particles put before a name (by [`name`] or by an [`Edit`]).
    const PARTICLES_RAW: &[&str] = &["von", "van", "de", "zu", "von der", "van den", "al-", "de la", "zum", "di"];

    /// A word: a piece of a real name or random letters over a small alphabet (so that
    /// random pairs are often alike) with umlauts, ß, é, ł, a Greek and a Cyrillic letter.
    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(PIECES.split('|').collect::<Vec<_>>()).prop_map(String::from),
            "[aeilnorstmhkdäöüßéłωд]{0,9}",
        ]
    }

    /// A name: an optional particle, then one to three words joined by spaces or hyphens.
    fn name() -> impl Strategy<Value = String> {
        (
            proptest::option::weighted(0.25, proptest::sample::select(PARTICLES_RAW)),
            proptest::collection::vec((word(), proptest::sample::select(&[" ", "-"][..])), 1..=3),
        )
            .prop_map(|(particle, words)| {
                let mut name = particle.map(|p| format!("{p} ")).unwrap_or_default();
                for (i, (w, sep)) in words.iter().enumerate() {
                    if i > 0 {
                        name.push_str(sep);
                    }
                    name.push_str(w);
                }
                name
            })
    }

    /// One change of a raw name: a letter substituted, inserted, deleted, two adjacent
    /// letters transposed, a word appended (a compound name), a particle put before it,
    /// everything upper-cased.
    #[derive(Debug, Clone)]
    enum Edit {
        Substitute(proptest::sample::Index, char),
        Insert(proptest::sample::Index, char),
        Delete(proptest::sample::Index),
        Transpose(proptest::sample::Index),
        Append(String),
        Particle(&'static str),
        Upper,
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let letter = proptest::sample::select("aeilnorsthküßéłд -".chars().collect::<Vec<_>>());
        prop_oneof![
            3 => (any::<proptest::sample::Index>(), letter.clone()).prop_map(|(i, c)| Edit::Substitute(i, c)),
            3 => (any::<proptest::sample::Index>(), letter).prop_map(|(i, c)| Edit::Insert(i, c)),
            3 => any::<proptest::sample::Index>().prop_map(Edit::Delete),
            3 => any::<proptest::sample::Index>().prop_map(Edit::Transpose),
            1 => word().prop_map(Edit::Append),
            1 => proptest::sample::select(PARTICLES_RAW).prop_map(Edit::Particle),
            1 => Just(Edit::Upper),
        ]
    }

    fn apply(name: &str, edit: &Edit) -> String {
        let mut c: Vec<char> = name.chars().collect();
        let n = c.len();
        match edit {
            Edit::Substitute(i, x) if n > 0 => c[i.index(n)] = *x,
            Edit::Insert(i, x) => c.insert(i.index(n + 1), *x),
            Edit::Delete(i) if n > 0 => {
                c.remove(i.index(n));
            }
            Edit::Transpose(i) if n > 1 => c.swap(i.index(n - 1), i.index(n - 1) + 1),
            Edit::Append(w) => return format!("{name}-{w}"),
            Edit::Particle(p) => return format!("{p} {name}"),
            Edit::Upper => return name.to_uppercase(),
            _ => {}
        }
        c.into_iter().collect()
    }

    /// Two names of one kind (given or family, as the index compares them; a birth name is
    /// prepared as a family name): unrelated, or the second made from the first by up to
    /// two edits (most often one), in either order.
    fn name_pair() -> impl Strategy<Value = (String, String, bool)> {
        let related = (name(), proptest::collection::vec(edit(), 0..=2), any::<bool>()).prop_map(|(a, edits, swap)| {
            let b = edits.iter().fold(a.clone(), |b, e| apply(&b, e));
            if swap { (b, a) } else { (a, b) }
        });
        let pair = prop_oneof![1 => (name(), name()), 4 => related];
        (pair, any::<bool>()).prop_map(|((a, b), family)| (a, b, family))
    }

    fn fast_level(a: &str, b: &str, family: bool) -> NameLevel {
        if family { compare_names(&NameKey::family(a), &NameKey::family(b)) } else { level(a, b) }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// `compare_names` (lazy Jaro–Winkler bound, one-edit test first, two forms of a
        /// family name) gives the level of the straightforward reference, both ways round.
        #[test]
        fn compare_names_equals_the_reference((a, b, family) in name_pair()) {
            let want = reference_level(&a, &b, family);
            prop_assert_eq!(fast_level(&a, &b, family), want, "{:?} {:?} family {}", a, b, family);
            prop_assert_eq!(fast_level(&b, &a, family), want, "{:?} {:?} family {}", b, a, family);
        }
    }

    /// The pairs of the property test reach every level, the high ones often.
    #[test]
    fn name_pairs_reach_every_level() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = name_pair();
        let mut counts = std::collections::HashMap::new();
        for _ in 0..4096 {
            let (a, b, family) = strategy.new_tree(&mut runner).unwrap().current();
            *counts.entry(reference_level(&a, &b, family)).or_insert(0) += 1;
        }
        for level in [
            NameLevel::Exact,
            NameLevel::Close,
            NameLevel::Part,
            NameLevel::Phonetic,
            NameLevel::Similar,
            NameLevel::Disagree,
            NameLevel::Missing,
        ] {
            assert!(counts.get(&level).copied().unwrap_or(0) >= 40, "{level:?}: {counts:?}");
        }
    }

    #[test]
    fn date_variants_cover_the_usual_errors() {
        let v = date_variants(date(2022, 8, 1));
        assert!(v.contains(&(date(2022, 1, 8), DateLevel::DayMonthSwapped)));
        let v = date_variants(date(2021, 9, 21));
        assert!(v.contains(&(date(2021, 9, 12), DateLevel::DigitsTransposed)));
        let v = date_variants(date(2020, 7, 25));
        assert!(v.contains(&(date(2020, 7, 15), DateLevel::DigitMistyped)));
        assert!(v.contains(&(date(2021, 7, 25), DateLevel::DigitMistyped)));
        assert!(!v.iter().any(|(d, _)| *d == date(2020, 7, 25)));
        // 2025-04-12 written 12.04.2025, card says 04.12.2025
        assert_eq!(compare_dates(date(2025, 12, 4), date(2025, 4, 12)), DateLevel::DayMonthSwapped);
        // 28.03. ↔ 29.03.
        assert_eq!(compare_dates(date(2022, 3, 29), date(2022, 3, 28)), DateLevel::DigitMistyped);
        assert_eq!(compare_dates(date(2022, 3, 29), date(2023, 4, 30)), DateLevel::Differs);
        // each variant once, all valid, symmetric
        let d = date(2023, 11, 30);
        let v = date_variants(d);
        for (w, l) in &v {
            assert_eq!(v.iter().filter(|(x, _)| x == w).count(), 1);
            assert!(date_variants(*w).iter().any(|(x, _)| *x == d), "{w} {l:?}");
        }
    }

    #[test]
    fn date_variants_at_the_edges() {
        let _ = date_variants(Date::MIN);
        let v = date_variants(Date::MAX);
        assert!(v.iter().all(|(d, _)| *d != Date::MAX));
        let _ = date_variants(date(-5, 3, 3));
    }
}
