//! Due windows of the check-ups (G-BA Kinder-Richtlinie), computed from the date of birth.

use jiff::civil::Date;
use oegd_domain::Checkup;
use serde::{Deserialize, Serialize};

use crate::offset::Offset;

/// The four window offsets of a check-up, relative to the date of birth. Both ends of a
/// window are inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRule {
    pub regular_start: Offset,
    pub regular_end: Offset,
    pub tolerance_start: Offset,
    pub tolerance_end: Offset,
}

/// The dates of one check-up's windows for one child. Invariant (for the G-BA table):
/// `tolerance_start <= regular_start <= regular_end <= tolerance_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    pub regular_start: Date,
    pub regular_end: Date,
    pub tolerance_start: Date,
    pub tolerance_end: Date,
}

impl Window {
    /// Whether `day` lies in the regular window (ends inclusive).
    pub fn in_regular(&self, day: Date) -> bool {
        self.regular_start <= day && day <= self.regular_end
    }

    /// Whether `day` lies in the tolerance window (ends inclusive).
    pub fn in_tolerance(&self, day: Date) -> bool {
        self.tolerance_start <= day && day <= self.tolerance_end
    }
}

const fn d(days: i32) -> Offset {
    Offset::days(days)
}

const fn m(months: i32, days: i32) -> Offset {
    Offset::months_days(months, days)
}

impl WindowRule {
    /// The windows of the G-BA Kinder-Richtlinie (the table in PROGRAMME.md).
    pub const fn standard(checkup: Checkup) -> WindowRule {
        let (regular_start, regular_end, tolerance_start, tolerance_end) = match checkup {
            Checkup::U1 => (d(0), d(0), d(0), d(0)),
            Checkup::U2 => (d(2), d(9), d(2), d(13)),
            Checkup::U3 => (d(21), d(34), d(14), d(55)),
            Checkup::U4 => (m(2, 0), m(4, -1), m(1, 0), m(4, 14)),
            Checkup::U5 => (m(5, 0), m(7, -1), m(4, 0), m(8, -1)),
            Checkup::U6 => (m(9, 0), m(12, -1), m(8, 0), m(14, -1)),
            Checkup::U7 => (m(20, 0), m(24, -1), m(19, 0), m(27, -1)),
            Checkup::U7a => (m(33, 0), m(36, -1), m(32, 0), m(38, -1)),
            Checkup::U8 => (m(45, 0), m(48, -1), m(42, 0), m(50, -1)),
            Checkup::U9 => (m(59, 0), m(64, -1), m(57, 0), m(66, -1)),
            Checkup::J1 => (m(144, 0), m(168, -1), m(144, 0), m(180, -1)),
        };
        WindowRule { regular_start, regular_end, tolerance_start, tolerance_end }
    }

    /// The windows for a child born on `birth`; `None` only outside jiff's date range.
    pub fn for_birth(&self, birth: Date) -> Option<Window> {
        Some(Window {
            regular_start: self.regular_start.apply(birth)?,
            regular_end: self.regular_end.apply(birth)?,
            tolerance_start: self.tolerance_start.apply(birth)?,
            tolerance_end: self.tolerance_end.apply(birth)?,
        })
    }
}

/// The G-BA window of `checkup` for a child born on `birth`.
pub fn window(checkup: Checkup, birth: Date) -> Option<Window> {
    WindowRule::standard(checkup).for_birth(birth)
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use proptest::prelude::*;

    use super::*;
    use crate::offset::days_between;

    #[test]
    fn table_examples() {
        let b = date(2024, 1, 31);
        let u4 = window(Checkup::U4, b).unwrap();
        assert_eq!(u4.regular_start, date(2024, 3, 31)); // one step: 31 Jan + 2m = 31 Mar
        assert_eq!(u4.regular_end, date(2024, 5, 30)); // 31 May − 1d
        assert_eq!(u4.tolerance_start, date(2024, 2, 29)); // clamped, leap year
        assert_eq!(u4.tolerance_end, date(2024, 6, 14)); // 31 May + 14d
        let u3 = window(Checkup::U3, b).unwrap();
        assert_eq!((u3.regular_start, u3.regular_end), (date(2024, 2, 21), date(2024, 3, 5)));
        let u9 = window(Checkup::U9, date(2019, 1, 3)).unwrap();
        assert_eq!(u9.tolerance_end, date(2024, 7, 2));
        let u1 = window(Checkup::U1, b).unwrap();
        assert_eq!((u1.regular_start, u1.tolerance_end), (b, b));
    }

    #[test]
    fn leap_day_births() {
        let b = date(2024, 2, 29);
        let u6 = window(Checkup::U6, b).unwrap();
        assert_eq!(u6.regular_start, date(2024, 11, 29));
        assert_eq!(u6.regular_end, date(2025, 2, 27)); // 28 Feb 2025 (clamped) − 1d
        assert_eq!(u6.tolerance_end, date(2025, 4, 28));
        let j1 = window(Checkup::J1, b).unwrap();
        assert_eq!(j1.regular_start, date(2036, 2, 29));
        assert_eq!(j1.regular_end, date(2038, 2, 27));
    }

    fn any_birth() -> impl Strategy<Value = Date> {
        (1990i16..2090, 1i8..=12, 1i8..=31).prop_map(|(y, mo, da)| {
            let first = date(y, mo, 1);
            date(y, mo, da.min(first.days_in_month()))
        })
    }

    proptest! {
        #[test]
        fn windows_are_ordered(b in any_birth()) {
            let mut previous: Option<Window> = None;
            for c in Checkup::ALL {
                let w = window(c, b).unwrap();
                prop_assert!(b <= w.tolerance_start);
                prop_assert!(w.tolerance_start <= w.regular_start);
                prop_assert!(w.regular_start <= w.regular_end);
                prop_assert!(w.regular_end <= w.tolerance_end);
                // ends are inclusive
                prop_assert!(w.in_regular(w.regular_start) && w.in_regular(w.regular_end));
                prop_assert!(w.in_tolerance(w.tolerance_start) && w.in_tolerance(w.tolerance_end));
                prop_assert!(!w.in_tolerance(crate::offset::add_days(w.tolerance_end, 1)));
                if let Some(p) = previous {
                    // check-ups fall due in the order of the enum
                    prop_assert!(p.regular_start < w.regular_start);
                    prop_assert!(p.tolerance_end < w.tolerance_end);
                }
                previous = Some(w);
            }
        }

        #[test]
        fn month_offsets_clamp_and_stay_in_month(b in any_birth(), months in 0i32..200) {
            let r = Offset::months(months).apply(b).unwrap();
            let total = i32::from(b.year()) * 12 + i32::from(b.month()) - 1 + months;
            prop_assert_eq!(i32::from(r.year()) * 12 + i32::from(r.month()) - 1, total);
            prop_assert!(r.day() <= b.day());
            prop_assert!(r.day() == b.day() || r.day() == r.days_in_month());
        }

        #[test]
        fn offsets_are_monotonic(b1 in any_birth(), gap in 0i64..4000, c in proptest::sample::select(Checkup::ALL.to_vec())) {
            let b2 = crate::offset::add_days(b1, gap);
            let (w1, w2) = (window(c, b1).unwrap(), window(c, b2).unwrap());
            prop_assert!(w1.regular_start <= w2.regular_start);
            prop_assert!(w1.regular_end <= w2.regular_end);
            prop_assert!(w1.tolerance_start <= w2.tolerance_start);
            prop_assert!(w1.tolerance_end <= w2.tolerance_end);
            // a window moves with the birth date, up to differing month lengths and clamping
            let moved = days_between(w1.tolerance_end, w2.tolerance_end);
            prop_assert!((gap - 7..=gap + 7).contains(&moved), "{} vs {}", moved, gap);
        }

        #[test]
        fn later_month_offsets_are_later(b in any_birth(), m1 in 0i32..100, extra in 0i32..100, days in -30i32..30) {
            let a = Offset::months_days(m1, days).apply(b).unwrap();
            let z = Offset::months_days(m1 + extra, days).apply(b).unwrap();
            prop_assert!(a <= z);
        }
    }
}
