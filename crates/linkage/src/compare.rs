//! Comparators with graded levels: names (exact, Jaro–Winkler, Kölner Phonetik, parts of
//! compound names) and birth dates (exact or one of the usual writing errors).
//!
//! Jaro–Winkler and the optimal-string-alignment distance come from the `strsim` crate.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::normalise::NameKey;

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
pub(crate) fn compare_names(a: &NameKey, b: &NameKey) -> NameLevel {
    if a.is_empty() || b.is_empty() {
        return NameLevel::Missing;
    }
    if a.core == b.core || a.full == b.full {
        return NameLevel::Exact;
    }
    let mut jw = strsim::jaro_winkler(&a.core, &b.core);
    if a.full != a.core || b.full != b.core {
        jw = jw.max(strsim::jaro_winkler(&a.full, &b.full));
    }
    if jw >= JW_CLOSE {
        return NameLevel::Close;
    }
    // one edit: in names of 4+ letters, or a letter dropped or doubled in a 3-letter name
    let (short, long) = (a.core.len().min(b.core.len()), a.core.len().max(b.core.len()));
    if short >= 3 && long >= 4 && long - short <= 1 && strsim::osa_distance(&a.core, &b.core) <= 1 {
        return NameLevel::Close;
    }
    if is_part(&a.core, &b.core) || is_part(&b.core, &a.core) {
        return NameLevel::Part;
    }
    if !a.code.is_empty() && a.code == b.code {
        return NameLevel::Phonetic;
    }
    if jw >= JW_SIMILAR {
        return NameLevel::Similar;
    }
    NameLevel::Disagree
}

/// `part` is one word of the compound name `whole` (which has several words).
fn is_part(part: &str, whole: &str) -> bool {
    whole.contains(' ') && whole.split(' ').any(|w| w == part)
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
