//! FHIR `date`, `dateTime` and `instant`, checked against the real calendar (the KBV parser
//! accepts 2025-02-29; we do not). Hand-written instead of regexes: these run for every card.

use jiff::civil::Date;

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// A date as written: year, optional month, optional day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partial {
    Year,
    YearMonth,
    Full(Date),
}

/// FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real calendar date.
pub(crate) fn parse_date(s: &str) -> Option<Partial> {
    let b = s.as_bytes();
    let year = num(b.get(0..4)?)?;
    if year == 0 {
        return None;
    }
    match b.len() {
        4 => Some(Partial::Year),
        7 | 10 => {
            if b.get(4) != Some(&b'-') {
                return None;
            }
            let month = num(b.get(5..7)?)?;
            if !(1..=12).contains(&month) {
                return None;
            }
            if b.len() == 7 {
                return Some(Partial::YearMonth);
            }
            if b.get(7) != Some(&b'-') {
                return None;
            }
            let day = num(b.get(8..10)?)?;
            let date = Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()?;
            Some(Partial::Full(date))
        }
        _ => None,
    }
}

/// `hh:mm:ss[.f+](Z|±hh:mm)`; the zone is mandatory in FHIR whenever a time is given.
fn time_and_zone(b: &[u8]) -> bool {
    let two = |r: std::ops::Range<usize>, max: u32| b.get(r).and_then(num).is_some_and(|v| v <= max);
    if b.len() < 9 || !two(0..2, 23) || b.get(2) != Some(&b':') || !two(3..5, 59) || b.get(5) != Some(&b':') {
        return false;
    }
    if !two(6..8, 60) {
        return false;
    }
    let mut rest = b.get(8..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = frac.get(n..).unwrap_or_default();
    }
    match rest {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] if *sign == b'+' || *sign == b'-' => {
            num(&[*h1, *h2]).is_some_and(|h| h <= 14) && num(&[*m1, *m2]).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

/// FHIR `dateTime`: a date of any precision, or a full date with time and zone.
pub(crate) fn parse_date_time(s: &str) -> Option<Partial> {
    match s.split_once('T') {
        None => parse_date(s),
        Some((date, time)) => match parse_date(date)? {
            full @ Partial::Full(_) if time_and_zone(time.as_bytes()) => Some(full),
            _ => None,
        },
    }
}

/// FHIR `instant`: full date, time to the second, and zone.
pub(crate) fn is_instant(s: &str) -> bool {
    s.contains('T') && matches!(parse_date_time(s), Some(Partial::Full(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(matches!(parse_date("2024-02-29"), Some(Partial::Full(_))));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("09.10.2023"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("0000"), None);
        assert_eq!(parse_date("2025"), Some(Partial::Year));
        assert_eq!(parse_date("2025-07"), Some(Partial::YearMonth));
        assert_eq!(parse_date("2025-7-01"), None);
        assert_eq!(parse_date("2025-07-1x"), None);
    }

    #[test]
    fn date_times() {
        assert!(matches!(parse_date_time("2025-09-15T10:20:00+02:00"), Some(Partial::Full(_))));
        assert!(matches!(parse_date_time("2025-09-15T10:20:00.123Z"), Some(Partial::Full(_))));
        assert_eq!(parse_date_time("2025-09-15T10:20:00"), None);
        assert_eq!(parse_date_time("2025-09-15T24:00:00Z"), None);
        assert_eq!(parse_date_time("2025-09T10:20:00Z"), None);
        assert_eq!(parse_date_time("2025-09-15T10:20:00+2:00"), None);
        assert!(is_instant("2025-09-08T14:03:51+02:00"));
        assert!(!is_instant("2025-09-08"));
    }
}
