//! A synthetic cohort of children for the demo and for measurements at scale: names from
//! small German (and a few other) lists, birth dates spread over a period, a district each,
//! deterministic for a seed. Nothing here is a real person.

use jiff::Span;
use jiff::civil::Date;
use oegd_domain::Checkup;

pub const GIVEN: &[&str] = &[
    "Emma", "Mia", "Hannah", "Emilia", "Sophia", "Lina", "Ella", "Mila", "Clara", "Lea", "Marie", "Leni", "Anna",
    "Ida", "Frieda", "Noah", "Leon", "Paul", "Ben", "Finn", "Elias", "Felix", "Henry", "Luis", "Emil", "Theo", "Jonas",
    "Matteo", "Anton", "Jakob", "Oskar", "Karl", "Ayşe", "Zeynep", "Weronika", "Łukasz", "Jördis", "Sönke", "Malte",
    "Greta",
];
pub const FAMILY: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Braun",
    "Hofmann",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Yılmaz",
    "Kowalski",
    "Nguyen",
];
/// Municipality keys (AGS) of Mecklenburg-Vorpommern, one in each of its eight districts.
pub const AGS_MV: &[&str] =
    &["13003000", "13004000", "13071107", "13072055", "13073088", "13074087", "13075039", "13076150"];

/// The check-ups a cohort is reported for.
pub const CHECKUPS: [Checkup; 9] = [
    Checkup::U2,
    Checkup::U3,
    Checkup::U4,
    Checkup::U5,
    Checkup::U6,
    Checkup::U7,
    Checkup::U7a,
    Checkup::U8,
    Checkup::U9,
];

/// A small, fast, deterministic generator (xorshift64); not for anything secret.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get(self.below(xs.len())).copied().unwrap_or("X")
    }
    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One synthetic child.
#[derive(Debug, Clone)]
pub struct CohortChild {
    pub melde_id: String,
    pub given: String,
    pub family: String,
    pub birth: Date,
    pub ags: &'static str,
    pub house_number: usize,
}

/// How to make a cohort.
pub struct CohortSpec {
    pub children: usize,
    /// Births on `first_birth` and the `birth_days - 1` days after it.
    pub first_birth: Date,
    pub birth_days: usize,
    /// `MV` + this prefix + a number make the Melde-IDs.
    pub id_prefix: &'static str,
    /// A number after the family name (`Müller417`), for realistically many distinct family
    /// names in large cohorts; plain names read better in a demo.
    pub numbered_family_names: bool,
}

/// Makes the cohort; the same spec and seed make the same children.
pub fn generate(spec: &CohortSpec, rng: &mut Rng) -> Vec<CohortChild> {
    (0..spec.children)
        .map(|i| {
            let offset = i64::try_from(rng.below(spec.birth_days.max(1))).unwrap_or(0);
            let birth = spec.first_birth.checked_add(Span::new().days(offset)).unwrap_or(spec.first_birth);
            let given = rng.pick(GIVEN).to_owned();
            let family = if spec.numbered_family_names {
                format!("{}{}", rng.pick(FAMILY), rng.below(5000))
            } else {
                rng.pick(FAMILY).to_owned()
            };
            CohortChild {
                melde_id: format!("MV{}{i:010}", spec.id_prefix),
                given,
                family,
                birth,
                ags: rng.pick(AGS_MV),
                house_number: 1 + rng.below(120),
            }
        })
        .collect()
}

/// A Meldedaten file with one birth event per child (the format `registry import` reads).
pub fn registry_csv(children: &[CohortChild]) -> String {
    let mut csv = String::from(
        "ereignis,ereignis_datum,melde_id,familienname,vornamen,geburtsname,geburtsdatum,geschlecht,strasse,hausnummer,plz,wohnort,ags,sorgeberechtigte,auskunftssperre\r\n",
    );
    for c in children {
        csv.push_str(&format!(
            "geburt,{birth},{id},{family},{given},,{birth},w,Lindenstraße,{house},18055,Rostock,{ags},Anna {family},nein\r\n",
            birth = c.birth,
            id = c.melde_id,
            family = c.family,
            given = c.given,
            house = c.house_number,
            ags = c.ags,
        ));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cohort_is_deterministic_and_readable_as_meldedaten() {
        let spec = CohortSpec {
            children: 50,
            first_birth: jiff::civil::date(2022, 1, 1),
            birth_days: 365,
            id_prefix: "T",
            numbered_family_names: false,
        };
        let a = generate(&spec, &mut Rng(7));
        let b = generate(&spec, &mut Rng(7));
        assert_eq!(
            a.iter().map(|c| &c.melde_id).collect::<Vec<_>>(),
            b.iter().map(|c| &c.melde_id).collect::<Vec<_>>()
        );
        assert_eq!(a.iter().map(|c| c.birth).collect::<Vec<_>>(), b.iter().map(|c| c.birth).collect::<Vec<_>>());
        let read = oegd_programme::read_registry(registry_csv(&a).as_bytes());
        assert!(read.errors.is_empty(), "{:?}", read.errors);
        assert_eq!(read.rows.len(), 50);
    }
}
