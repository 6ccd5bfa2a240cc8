//! German date formats as used in official letters.

use jiff::civil::Date;

/// "31. März 2026": the long form for running text.
pub fn date_long(date: Date) -> String {
    format!("{}. {} {}", date.day(), month_name(date.month()), date.year())
}

/// "31.03.2026": the numeric form (DIN 5008) for the information block.
pub fn date_numeric(date: Date) -> String {
    format!("{:02}.{:02}.{:04}", date.day(), date.month(), date.year())
}

fn month_name(month: i8) -> &'static str {
    match month {
        1 => "Januar",
        2 => "Februar",
        3 => "März",
        4 => "April",
        5 => "Mai",
        6 => "Juni",
        7 => "Juli",
        8 => "August",
        9 => "September",
        10 => "Oktober",
        11 => "November",
        // jiff guarantees 1..=12.
        _ => "Dezember",
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn formats() {
        assert_eq!(date_long(date(2026, 3, 31)), "31. März 2026");
        assert_eq!(date_long(date(2025, 1, 1)), "1. Januar 2025");
        assert_eq!(date_long(date(2025, 12, 24)), "24. Dezember 2025");
        assert_eq!(date_numeric(date(2026, 3, 1)), "01.03.2026");
        let all: Vec<_> = (1..=12).map(month_name).collect();
        assert_eq!(all.len(), 12);
        assert!(all.windows(2).all(|w| w.first() != w.get(1)));
    }
}
