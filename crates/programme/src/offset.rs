//! Calendar offsets such as `+4m-1d`: months first (end-of-month clamping), then days.

use std::fmt;
use std::str::FromStr;

use jiff::Span;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A calendar offset from a date: `months` calendar months (clamping the day to the end of
/// the month: 31 Jan + 1m = 28/29 Feb), then `days` days (PROGRAMME.md, rule 10).
///
/// Written as `+Nm+Kd`, `+Nm-Kd`, `+Nm`, `+Kd`, `-Kd` or `+0d`; `y` (12 months) is accepted
/// on input. Months always come before days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Offset {
    pub months: i32,
    pub days: i32,
}

/// The offset text is not of the form `+Nm+Kd`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Versatz: erwartet z. B. „+4m-1d“, „+14d“ oder „+12m“ (Monate vor Tagen)")]
pub struct ParseOffsetError;

impl Offset {
    pub const ZERO: Offset = Offset { months: 0, days: 0 };

    pub const fn days(days: i32) -> Offset {
        Offset { months: 0, days }
    }

    pub const fn months(months: i32) -> Offset {
        Offset { months, days: 0 }
    }

    pub const fn months_days(months: i32, days: i32) -> Offset {
        Offset { months, days }
    }

    /// `date + self`, months first (clamped), then days. `None` only outside jiff's
    /// supported range (years −9999 … 9999).
    pub fn apply(self, date: Date) -> Option<Date> {
        let with_months = if self.months == 0 {
            date
        } else {
            date.checked_add(Span::new().try_months(i64::from(self.months)).ok()?).ok()?
        };
        if self.days == 0 {
            Some(with_months)
        } else {
            with_months.checked_add(Span::new().try_days(i64::from(self.days)).ok()?).ok()
        }
    }

    pub fn parse(s: &str) -> Result<Offset, ParseOffsetError> {
        let s = s.trim();
        let mut rest = s;
        let mut months: Option<i32> = None;
        let mut days: Option<i32> = None;
        if rest.is_empty() {
            return Err(ParseOffsetError);
        }
        while !rest.is_empty() {
            let (sign, after_sign) = match rest.as_bytes().first() {
                Some(b'+') => (1i64, rest.get(1..).ok_or(ParseOffsetError)?),
                Some(b'-') => (-1i64, rest.get(1..).ok_or(ParseOffsetError)?),
                _ => return Err(ParseOffsetError),
            };
            let digits = after_sign.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 6 {
                return Err(ParseOffsetError);
            }
            let number: i64 = after_sign.get(..digits).and_then(|d| d.parse().ok()).ok_or(ParseOffsetError)?;
            let unit = after_sign.as_bytes().get(digits).copied().ok_or(ParseOffsetError)?;
            rest = after_sign.get(digits + 1..).ok_or(ParseOffsetError)?;
            let value = i32::try_from(sign * number).map_err(|_| ParseOffsetError)?;
            match unit {
                b'm' | b'y' if months.is_none() && days.is_none() => {
                    months = Some(if unit == b'y' { value.checked_mul(12).ok_or(ParseOffsetError)? } else { value });
                }
                b'd' if days.is_none() => days = Some(value),
                _ => return Err(ParseOffsetError),
            }
        }
        Ok(Offset { months: months.unwrap_or(0), days: days.unwrap_or(0) })
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.months, self.days) {
            (0, d) => write!(f, "{d:+}d"),
            (m, 0) => write!(f, "{m:+}m"),
            (m, d) => write!(f, "{m:+}m{d:+}d"),
        }
    }
}

impl FromStr for Offset {
    type Err = ParseOffsetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Offset::parse(s)
    }
}

impl TryFrom<String> for Offset {
    type Error = ParseOffsetError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Offset::parse(&s)
    }
}

impl From<Offset> for String {
    fn from(o: Offset) -> String {
        o.to_string()
    }
}

/// Whole days from `from` to `to` (negative if `to` is earlier).
pub(crate) fn days_between(from: Date, to: Date) -> i64 {
    from.duration_until(to).as_secs() / 86_400
}

/// `date + days`, saturating at jiff's range ends.
pub(crate) fn add_days(date: Date, days: i64) -> Date {
    match Span::new().try_days(days) {
        Ok(span) => date.saturating_add(span),
        Err(_) => {
            if days < 0 {
                Date::MIN
            } else {
                Date::MAX
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn parses_and_prints() {
        for (text, o) in [
            ("+14d", Offset::days(14)),
            ("-28d", Offset::days(-28)),
            ("+2m", Offset::months(2)),
            ("+4m-1d", Offset::months_days(4, -1)),
            ("+4m+14d", Offset::months_days(4, 14)),
            ("+0d", Offset::ZERO),
        ] {
            assert_eq!(Offset::parse(text), Ok(o), "{text}");
            assert_eq!(o.to_string(), text);
        }
        assert_eq!(Offset::parse("+1y"), Ok(Offset::months(12)));
        for bad in ["", "14d", "+d", "+14", "+1d+2m", "+1m+1m", "+1w", "+9999999d", "+1m 1d"] {
            assert!(Offset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_first_then_days_with_clamping() {
        assert_eq!(Offset::months(1).apply(date(2023, 1, 31)), Some(date(2023, 2, 28)));
        assert_eq!(Offset::months(2).apply(date(2023, 1, 31)), Some(date(2023, 3, 31)));
        assert_eq!(Offset::months_days(1, -1).apply(date(2024, 1, 31)), Some(date(2024, 2, 28)));
        assert_eq!(Offset::months(12).apply(date(2024, 2, 29)), Some(date(2025, 2, 28)));
        assert_eq!(Offset::days(28).apply(date(2024, 2, 1)), Some(date(2024, 2, 29)));
        assert_eq!(days_between(date(2024, 2, 1), date(2024, 3, 1)), 29);
        assert_eq!(add_days(date(2024, 2, 28), 2), date(2024, 3, 1));
    }
}
