//! Rough throughput of `decide` against a synthetic register (ignored by default; run with
//! `cargo test --release -p oegd-linkage --test throughput -- --ignored --nocapture`).
//! Synthetic names are uniform over small lists, so blocks hold more same-name pairs than
//! a real register would: a pessimistic measure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Instant;

use jiff::civil::{Date, date};
use oegd_domain::MeldeId;
use oegd_linkage::{LinkIndex, Outcome, RegisteredChild, ReportedChild};

const GIVEN: &[&str] = &[
    "Emma",
    "Mia",
    "Hannah",
    "Emilia",
    "Sophia",
    "Lina",
    "Ella",
    "Mila",
    "Clara",
    "Lea",
    "Marie",
    "Leni",
    "Anna",
    "Ida",
    "Frieda",
    "Noah",
    "Leon",
    "Paul",
    "Ben",
    "Finn",
    "Elias",
    "Felix",
    "Henry",
    "Luis",
    "Emil",
    "Theo",
    "Jonas",
    "Matteo",
    "Anton",
    "Jakob",
    "Maximilian",
    "Oskar",
    "Karl",
    "Ayşe",
    "Zeynep",
    "Mohammed",
    "Weronika",
    "Łukasz",
    "Jördis",
    "Sönke",
    "Lasse-Jonte",
    "Lea-Sophie",
    "Malte",
    "Johanna",
    "Greta",
    "Mats",
    "Ole",
    "Till",
    "Tom",
    "Lotta",
];
const FAMILY: &[&str] = &[
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
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Werner",
    "Krause",
    "Lehmann",
    "Köhler",
    "Maaß",
    "Voß",
    "Kılıç",
    "Kowalski",
    "Nguyen",
    "Al-Masri",
    "von der Lühe",
    "Schmidt-Sommer",
    "Lüdtke",
    "Thiede",
    "Pagel",
    "Brandt",
    "Haase",
    "Peters",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

#[test]
#[ignore = "performance measure, not a check"]
fn throughput() {
    let children: usize = std::env::var("CHILDREN").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let reports: usize = std::env::var("REPORTS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let start = date(2019, 1, 1);
    let mut rng = Rng(42);
    let mut all = Vec::with_capacity(children);
    for i in 0..children {
        let days = (rng.next() % 2190) as i32;
        let born: Date = start.checked_add(jiff::Span::new().days(days)).unwrap();
        let mut given = vec![rng.pick(GIVEN).to_owned()];
        if rng.next() & 1 == 1 {
            given.push(rng.pick(GIVEN).to_owned());
        }
        // a 10-letter random suffix makes family names realistically diverse
        let family = format!("{}{}", rng.pick(FAMILY), (rng.next() % 5000));
        all.push(RegisteredChild {
            melde_id: MeldeId::parse(&format!("S{i}")).unwrap(),
            given_names: given,
            family_name: family,
            birth_name: None,
            birth_date: born,
            kvnr: None,
        });
    }
    let cards: Vec<ReportedChild> = (0..reports)
        .map(|_| {
            let c = &all[(rng.next() as usize) % children];
            let mut given = c.given_names[0].clone();
            if rng.next() % 10 < 1 {
                given.push('x'); // a typo
            }
            ReportedChild {
                given_name: given,
                family_name: c.family_name.clone(),
                birth_name: None,
                birth_date: c.birth_date,
                kvnr: None,
            }
        })
        .collect();
    let t = Instant::now();
    let index = LinkIndex::new(all);
    println!("index of {children} children built in {:.2?}", t.elapsed());
    let t = Instant::now();
    let linked = cards.iter().filter(|c| matches!(index.decide(c).outcome, Outcome::Linked(_))).count();
    let el = t.elapsed();
    println!(
        "{reports} reports decided in {el:.2?} on one thread: {:.1} µs per report, {linked} linked; \
         6,000,000 reports on 2 threads ≈ {:.0} s",
        el.as_secs_f64() * 1e6 / reports as f64,
        el.as_secs_f64() / reports as f64 * 6_000_000.0 / 2.0
    );
}
