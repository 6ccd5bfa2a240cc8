//! Arbitrary strings and dates never make normalisation or a decision panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use jiff::civil::Date;
use oegd_domain::MeldeId;
use oegd_linkage::normalise::{fold, split_given_names, strip_particles};
use oegd_linkage::phonetic::koelner_phonetik;
use oegd_linkage::{LinkIndex, RegisteredChild, ReportedChild};
use proptest::prelude::*;

fn any_date() -> impl Strategy<Value = Date> {
    (-9999i16..=9999, 1i8..=12, 1i8..=31).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap_or(Date::MIN))
}

proptest! {
    #[test]
    fn normalise_never_panics(s in any::<String>()) {
        let f = fold(&s);
        let _ = strip_particles(&f);
        let _ = split_given_names(&s);
        let _ = koelner_phonetik(&s);
        prop_assert!(!f.starts_with(' ') && !f.ends_with(' ') && !f.contains("  "));
        prop_assert_eq!(fold(&f), f.clone());
    }

    #[test]
    fn decide_never_panics(
        names in proptest::collection::vec((any::<String>(), any::<String>(), any::<Option<String>>()), 0..8),
        born in any_date(),
        g in any::<String>(), f in any::<String>(), b in any::<Option<String>>(),
        reported in any_date(),
        near in any::<bool>(),
    ) {
        let children = names.into_iter().enumerate().map(|(i, (given, family, birth))| RegisteredChild {
            melde_id: MeldeId::parse(&format!("P{i}")).unwrap(),
            given_names: split_given_names(&given),
            family_name: family,
            birth_name: birth,
            birth_date: born,
            kvnr: None,
        });
        let index = LinkIndex::new(children);
        let card = ReportedChild {
            given_name: g,
            family_name: f,
            birth_name: b,
            birth_date: if near { born } else { reported },
            kvnr: None,
        };
        let d = index.decide(&card);
        prop_assert!(d.candidates.windows(2).all(|w| w[0].score >= w[1].score));
    }
}
