//! Cost of typesetting letters with [`LetterRenderer`]: generated letters on T threads, the
//! first (cold) letter timed apart from the warm passes, and a digest of every PDF so that two
//! builds can be shown to produce the same bytes.
//!
//! ```text
//! cargo run --release -p oegd-service --example letters_bench -- \
//!     [--letters N] [--threads T] [--passes P] [--digest] [--out DIR]
//! ```
//!
//! - `setup_ms`: `LetterRenderer::new` (the embedded fonts parsed, the template prepared);
//! - `first_ms`: the first letter on the main thread (typst's lazily built tables, the
//!   rayon pool, an empty memo cache);
//! - `passes`: P warm passes of N letters each, split into T contiguous parts on T scoped
//!   threads as `oegd_service::letters::render_all` does; letters per second of wall time.
//!
//! The letters are the three kinds in turn (reminder for the same check-up, for the next one,
//! invitation) with generated names, addresses (with and without guardians) and dates, MV
//! sender. `--digest` is an FNV-1a hash over every PDF of the last pass in order (untimed);
//! `--out DIR` writes them as `DIR/00000.pdf`, … for `pdftotext`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "a benchmark")]

use std::time::Instant;

use jiff::civil::{Date, date};
use oegd_domain::Checkup;
use oegd_letters::{Addressee, Letter, LetterKind, LetterRenderer};
use oegd_programme::Profile;
use oegd_service::cohort::Rng;
use oegd_service::letters::sender_for;

const GIVEN: &[&str] = &[
    "Emma",
    "Mia",
    "Hannah",
    "Emilia",
    "Sophia",
    "Lina",
    "Ella",
    "Clara",
    "Lea-Sophie",
    "Noah",
    "Leon",
    "Paul",
    "Finn",
    "Elias",
    "Felix",
    "Jonas",
    "Ayşe",
    "Zeynep",
    "Łukasz",
    "Jördis",
    "Sönke",
    "Malte",
    "Greta",
    "Zoé",
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
    "Schröder",
    "Neumann",
    "Krüger",
    "Köhler",
    "Yılmaz",
    "Kowalski",
    "Nguyen",
    "von der Heide",
];
const STREETS: &[&str] =
    &["Lindenstraße", "Große Mühlenstraße", "Am Strand", "Kröpeliner Straße", "Doberaner Platz", "Weg zum Hafen"];
const CITIES: &[(&str, &str)] =
    &[("18055", "Rostock"), ("18057", "Rostock"), ("19053", "Schwerin"), ("17489", "Greifswald"), ("23966", "Wismar")];

fn days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap()
}

fn generate(n: usize) -> Vec<Letter> {
    let mut rng = Rng(0x1e77_e125);
    let sender = sender_for(&Profile::mv());
    (0..n)
        .map(|i| {
            let family = format!("{} {}", rng.pick(FAMILY), rng.below(5000));
            let child_name = format!("{} {family}", rng.pick(GIVEN));
            let birth = days(date(2019, 1, 1), rng.below(2190) as i64);
            let letter_date = days(date(2026, 1, 5), rng.below(60) as i64);
            let guardians: Vec<String> = (0..rng.below(3))
                .map(|_| format!("{} {family}", rng.pick(&["Anna", "Jörg", "Svenja", "Murat"])))
                .collect();
            let mut lines = match guardians.as_slice() {
                [] => vec!["An die Sorgeberechtigten von".to_owned(), child_name.clone()],
                [one] => vec![one.clone()],
                [one, two, ..] => vec![one.clone(), two.clone()],
            };
            let (plz, city) = CITIES[rng.below(CITIES.len())];
            lines.push(format!("{} {}", rng.pick(STREETS), 1 + rng.below(120)));
            lines.push(format!("{plz} {city}"));
            let kind = match i % 3 {
                0 => LetterKind::ReminderSameCheckup { missed: Checkup::U6, deadline: days(letter_date, 60) },
                1 => LetterKind::ReminderNextCheckup {
                    missed: Checkup::U4,
                    next: Checkup::U5,
                    next_from: days(letter_date, 20),
                    next_until: days(letter_date, 80),
                },
                _ => LetterKind::Invitation {
                    checkup: Checkup::U7,
                    from: days(letter_date, 10),
                    until: days(letter_date, 70),
                },
            };
            Letter {
                reference: format!("KV-{:010}-{}", rng.below(10_000_000_000), ["U6", "U4", "U7"][i % 3]),
                date: letter_date,
                sender: sender.clone(),
                addressee: Addressee { lines },
                child_name,
                child_birth_date: birth,
                guardians,
                kind,
            }
        })
        .collect()
}

/// Renders `letters` split into `threads` contiguous parts, one scoped thread each.
fn render_all(renderer: &LetterRenderer, letters: &[Letter], threads: usize) -> Vec<Vec<u8>> {
    let per_thread = letters.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = letters
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().map(|l| renderer.render_pdf(l).unwrap()).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

fn fnv1a(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
}

fn main() {
    let mut n = 200usize;
    let mut threads = 2usize;
    let mut passes = 3usize;
    let mut digest = false;
    let mut out: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--letters" => n = value().parse().unwrap(),
            "--threads" => threads = value().parse().unwrap(),
            "--passes" => passes = value().parse().unwrap(),
            "--digest" => digest = true,
            "--out" => out = Some(value().into()),
            other => panic!("unknown argument {other:?}"),
        }
    }
    let letters = generate(n);

    let t = Instant::now();
    let renderer = LetterRenderer::new().unwrap();
    let setup_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let first = renderer.render_pdf(&letters[0]).unwrap();
    let first_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut rates = Vec::with_capacity(passes);
    let mut pdfs = vec![first];
    for _ in 0..passes {
        let t = Instant::now();
        pdfs = render_all(&renderer, &letters, threads.max(1));
        rates.push(letters.len() as f64 / t.elapsed().as_secs_f64());
    }
    let bytes: usize = pdfs.iter().map(Vec::len).sum();

    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    if digest {
        for pdf in &pdfs {
            fnv1a(&mut hash, pdf);
        }
    }
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).unwrap();
        for (i, pdf) in pdfs.iter().enumerate() {
            std::fs::write(dir.join(format!("{i:05}.pdf")), pdf).unwrap();
        }
    }
    let rates_text: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
    println!(
        "{{\"letters\":{n},\"threads\":{threads},\"setup_ms\":{setup_ms:.1},\"first_ms\":{first_ms:.1},\
         \"letters_per_s\":[{}],\"avg_pdf_bytes\":{},\"digest\":\"{}\"}}",
        rates_text.join(","),
        bytes / pdfs.len().max(1),
        if digest { format!("{hash:016x}") } else { String::new() },
    );
}
