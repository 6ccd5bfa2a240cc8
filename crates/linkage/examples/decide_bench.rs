//! Cost of [`LinkIndex::decide`] against a generated register, and a digest of every
//! decision so that two builds of the linker can be shown to decide identically.
//!
//! ```text
//! cargo run --release -p oegd-linkage --example decide_bench -- \
//!     [--children N] [--reports M] [--threads T] [--workload scale|varied] [--digest] [--dump FILE]
//! cargo run --release -p oegd-linkage --example decide_bench -- --fixture DIR [--digest] [--dump FILE]
//! ```
//!
//! - `scale` (default): the register and reports of `crates/service/examples/scale.rs` (one
//!   given name from 40, a family name from 30 with a number below 5000, one birth date
//!   in six years; a tenth of the reports with an `e` appended to the given name).
//! - `varied`: the same register shape with several given names, birth names, particles,
//!   diacritics, twins and remembered KVNRs, and reports with typos in either name,
//!   swapped names, date errors, spelled-out umlauts, birth names, KVNRs (equal, different,
//!   unknown) and unregistered children. Used for the equivalence check, not as a realistic
//!   cost.
//! - `--fixture DIR`: the `small` programme fixture (meldedaten_1..3.csv upserted in
//!   delivery order, every distinct report of reports.csv decided in order, the KVNR of
//!   each automatic link remembered), as `tests/fixture_small.rs` does.
//!
//! Prints one line of JSON: the time to build the index, microseconds per report (wall
//! time over T threads, and per report per thread), how many were linked, and with
//! `--digest` an FNV-1a hash over the JSON of every decision (computed after the timed
//! run, untimed). `--dump FILE` writes the decisions as JSON lines for a `diff`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, reason = "a benchmark")]

use std::io::Write;
use std::time::Instant;

use jiff::Span;
use jiff::civil::{Date, date};
use oegd_domain::{Kvnr, MeldeId};
use oegd_linkage::normalise::split_given_names;
use oegd_linkage::{Decision, LinkIndex, Outcome, RegisteredChild, ReportedChild};

const GIVEN: &[&str] = &[
    "Emma", "Mia", "Hannah", "Emilia", "Sophia", "Lina", "Ella", "Mila", "Clara", "Lea", "Marie", "Leni", "Anna",
    "Ida", "Frieda", "Noah", "Leon", "Paul", "Ben", "Finn", "Elias", "Felix", "Henry", "Luis", "Emil", "Theo", "Jonas",
    "Matteo", "Anton", "Jakob", "Oskar", "Karl", "Ayşe", "Zeynep", "Weronika", "Łukasz", "Jördis", "Sönke", "Malte",
    "Greta",
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
/// Extra names of the `varied` workload: compounds, particles, diacritics, short names.
const GIVEN_EXTRA: &[&str] = &[
    "Lea-Sophie",
    "Lasse-Jonte",
    "Zoé",
    "Maëlle",
    "Jérôme",
    "Max",
    "Lia",
    "Lua",
    "Ole",
    "Til",
    "Anna-Maria",
    "Christoph",
];
const FAMILY_EXTRA: &[&str] = &[
    "von der Lühe",
    "Al-Masri",
    "Schmidt-Sommer",
    "van den Berg",
    "Kılıç",
    "Nguyễn Thị",
    "Maaß",
    "Voß",
    "Meier",
    "Mayr",
    "O'Brien",
    "de la Cruz",
];

/// xorshift64, as in scale.rs, so that the `scale` workload is that example's.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
}

struct Args {
    children: usize,
    reports: usize,
    threads: usize,
    workload: String,
    fixture: Option<String>,
    digest: bool,
    dump: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        children: 1_000_000,
        reports: 20_000,
        threads: std::thread::available_parallelism().map_or(1, |t| t.get()),
        workload: "scale".to_owned(),
        fixture: None,
        digest: false,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--children" => a.children = value().parse().expect("--children N"),
            "--reports" => a.reports = value().parse().expect("--reports M"),
            "--threads" => a.threads = value().parse().expect("--threads T"),
            "--workload" => a.workload = value(),
            "--fixture" => a.fixture = Some(value()),
            "--digest" => a.digest = true,
            "--dump" => a.dump = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    if let Some(dir) = &a.fixture {
        return fixture(dir, &a);
    }
    let varied = match a.workload.as_str() {
        "scale" => false,
        "varied" => true,
        other => panic!("unknown workload {other}"),
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (children, kvnrs) = register(&mut rng, a.children, varied);
    let reports: Vec<ReportedChild> = (0..a.reports).map(|_| report(&mut rng, &children, &kvnrs, varied)).collect();

    let t = Instant::now();
    let mut index = LinkIndex::new(children);
    for (id, k) in &kvnrs {
        index.remember_kvnr(id, k.clone()).expect("generated KVNRs are distinct");
    }
    let index_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let per = reports.len().div_ceil(a.threads).max(1);
    let linked: usize = std::thread::scope(|s| {
        let handles: Vec<_> = reports
            .chunks(per)
            .map(|part| {
                let index = &index;
                s.spawn(move || part.iter().filter(|r| matches!(index.decide(r).outcome, Outcome::Linked(_))).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let decide_s = t.elapsed().as_secs_f64();
    let digest = (a.digest || a.dump.is_some()).then(|| digest(reports.iter().map(|r| index.decide(r)), &a));
    let us = decide_s * 1e6 / a.reports.max(1) as f64;
    println!(
        "{{\"workload\":\"{}\",\"children\":{},\"reports\":{},\"threads\":{},\"index_s\":{index_s:.3},\"decide_s\":{decide_s:.3},\
         \"us_per_report\":{us:.2},\"us_per_report_per_thread\":{:.2},\"linked\":{linked}{}}}",
        a.workload,
        a.children,
        a.reports,
        a.threads,
        us * a.threads.min(a.reports.max(1)) as f64,
        digest.map(|d| format!(",\"digest\":\"{d:016x}\"")).unwrap_or_default()
    );
}

/// FNV-1a over the JSON of every decision (and writes them to `--dump`).
fn digest(decisions: impl Iterator<Item = Decision>, a: &Args) -> u64 {
    let mut dump = a.dump.as_ref().map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("dump file")));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for d in decisions {
        let json = serde_json::to_string(&d).expect("decision as JSON");
        for b in json.bytes().chain(std::iter::once(b'\n')) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        if let Some(f) = dump.as_mut() {
            writeln!(f, "{json}").expect("dump");
        }
    }
    h
}

fn valid_kvnr(rng: &mut Rng) -> Kvnr {
    let letter = char::from(b'A' + rng.below(26) as u8);
    let body = rng.below(100_000_000);
    (0..10).find_map(|c| Kvnr::parse(&format!("{letter}{body:08}{c}")).ok()).expect("one check digit fits")
}

fn register(rng: &mut Rng, n: usize, varied: bool) -> (Vec<RegisteredChild>, Vec<(MeldeId, Kvnr)>) {
    let start = date(2019, 1, 1);
    let mut out: Vec<RegisteredChild> = Vec::with_capacity(n + n / 50);
    let mut kvnrs = Vec::new();
    for i in 0..n {
        let birth = start.checked_add(Span::new().days(rng.below(2190) as i64)).unwrap();
        let given = rng.pick(GIVEN).to_owned();
        let family = format!("{}{}", rng.pick(FAMILY), rng.below(5000));
        let melde_id = MeldeId::parse(&format!("MV{i:010}")).unwrap();
        if !varied {
            out.push(RegisteredChild {
                melde_id,
                given_names: vec![given],
                family_name: family,
                birth_name: None,
                birth_date: birth,
                kvnr: None,
            });
            continue;
        }
        let mut given_names = vec![if rng.percent(20) { rng.pick(GIVEN_EXTRA).to_owned() } else { given }];
        for _ in 0..[0, 0, 0, 1, 1, 2][rng.below(6)] {
            let list = if rng.percent(30) { GIVEN_EXTRA } else { GIVEN };
            given_names.push(rng.pick(list).to_owned());
        }
        // plain family names (no number) make same-name children in one block
        let family_name = match rng.below(10) {
            0 => rng.pick(FAMILY_EXTRA).to_owned(),
            1 | 2 => rng.pick(FAMILY).to_owned(),
            _ => family,
        };
        let birth_name = rng.percent(10).then(|| format!("{}{}", rng.pick(FAMILY), rng.below(5000)));
        if rng.percent(5) {
            kvnrs.push((melde_id.clone(), valid_kvnr(rng)));
        }
        let twin = rng.percent(2);
        out.push(RegisteredChild {
            melde_id,
            given_names,
            family_name: family_name.clone(),
            birth_name,
            birth_date: birth,
            kvnr: None,
        });
        if twin {
            out.push(RegisteredChild {
                melde_id: MeldeId::parse(&format!("MVT{i:010}")).unwrap(),
                given_names: split_given_names(rng.pick(GIVEN)),
                family_name,
                birth_name: None,
                birth_date: birth,
                kvnr: None,
            });
        }
    }
    // a remembered KVNR is unique to its child
    kvnrs.sort_by(|a, b| a.1.cmp(&b.1));
    kvnrs.dedup_by(|a, b| a.1 == b.1);
    (out, kvnrs)
}

/// One random edit: substitute, delete, insert or transpose a letter.
fn typo(rng: &mut Rng, s: &str) -> String {
    let mut c: Vec<char> = s.chars().collect();
    if c.is_empty() {
        return "x".to_owned();
    }
    let i = rng.below(c.len());
    let letter = char::from(b'a' + rng.below(26) as u8);
    match rng.below(4) {
        0 => c[i] = letter,
        1 => {
            c.remove(i);
        }
        2 => c.insert(i, letter),
        _ if i + 1 < c.len() => c.swap(i, i + 1),
        _ => c.push(letter),
    }
    c.into_iter().collect()
}

fn date_error(rng: &mut Rng, d: Date) -> Date {
    let candidates = [
        Date::new(d.year(), d.day(), d.month()).ok(),
        d.checked_add(Span::new().days(if rng.percent(50) { 1 } else { -10 })).ok(),
        Date::new(d.year() + 1, d.month(), d.day()).ok(),
        d.checked_add(Span::new().days(rng.below(60) as i64 - 30)).ok(),
    ];
    candidates[rng.below(candidates.len())].unwrap_or(d)
}

fn report(rng: &mut Rng, children: &[RegisteredChild], kvnrs: &[(MeldeId, Kvnr)], varied: bool) -> ReportedChild {
    let c = &children[rng.below(children.len())];
    if !varied {
        let mut given = c.given_names[0].clone();
        if rng.below(10) == 0 {
            given.push('e'); // a typo
        }
        return ReportedChild {
            given_name: given,
            family_name: c.family_name.clone(),
            birth_name: None,
            birth_date: c.birth_date,
            kvnr: None,
        };
    }
    if rng.percent(5) {
        // a child not (yet) in the register
        return ReportedChild {
            given_name: rng.pick(GIVEN).to_owned(),
            family_name: format!("{}{}", rng.pick(FAMILY), rng.below(5000)),
            birth_name: None,
            birth_date: date(2019, 1, 1).checked_add(Span::new().days(rng.below(2190) as i64)).unwrap(),
            kvnr: rng.percent(30).then(|| valid_kvnr(rng)),
        };
    }
    let mut given = match rng.below(20) {
        0 => c.given_names.join(" "),
        1 | 2 => c.given_names[rng.below(c.given_names.len())].clone(),
        3 => c.given_names[0].split('-').next().unwrap_or_default().to_owned(),
        _ => c.given_names[0].clone(),
    };
    let mut family = c.family_name.clone();
    if rng.percent(10) {
        given = typo(rng, &given);
    }
    if rng.percent(6) {
        family = typo(rng, &family);
    }
    if rng.percent(5) {
        given = given.replace('ü', "ue").replace('ö', "o").replace('é', "e");
        family = family.replace('ü', "ue").replace('ö', "o").replace("ß", "ss");
    }
    if rng.percent(3) {
        family = family.replace("von der ", "").replace("van den ", "").replace('-', " ");
    }
    if rng.percent(3) {
        std::mem::swap(&mut given, &mut family);
    }
    if rng.percent(2) {
        family = format!("{}{}", rng.pick(FAMILY), rng.below(5000)); // married name
    }
    let birth_date = if rng.percent(5) { date_error(rng, c.birth_date) } else { c.birth_date };
    let birth_name = match rng.below(30) {
        0 => c.birth_name.clone().or_else(|| Some(c.family_name.clone())),
        1 => Some(rng.pick(FAMILY).to_owned()),
        _ => None,
    };
    let kvnr = match rng.below(10) {
        0 | 1 => {
            kvnrs.iter().find(|(id, _)| *id == c.melde_id).map(|(_, k)| k.clone()).or_else(|| Some(valid_kvnr(rng)))
        }
        2 if !kvnrs.is_empty() => Some(kvnrs[rng.below(kvnrs.len())].1.clone()),
        _ => None,
    };
    ReportedChild { given_name: given, family_name: family, birth_name, birth_date, kvnr }
}

fn csv_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect())
        .collect()
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn fixture(dir: &str, a: &Args) {
    let dir = std::path::Path::new(dir);
    let mut index = LinkIndex::new([]);
    for n in 1..=3 {
        for row in csv_rows(&dir.join(format!("meldedaten_{n}.csv"))) {
            if !matches!(row["ereignis"].as_str(), "geburt" | "zuzug" | "aenderung") {
                continue;
            }
            index.upsert(RegisteredChild {
                melde_id: MeldeId::parse(&row["melde_id"]).unwrap(),
                given_names: split_given_names(&row["vornamen"]),
                family_name: row["familienname"].clone(),
                birth_name: opt(&row["geburtsname"]),
                birth_date: row["geburtsdatum"].parse().unwrap(),
                kvnr: None,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    let reports: Vec<ReportedChild> = csv_rows(&dir.join("reports.csv"))
        .into_iter()
        .filter(|row| seen.insert(row["report_id"].clone()))
        .map(|row| ReportedChild {
            given_name: row["given_name"].clone(),
            family_name: row["family_name"].clone(),
            birth_name: opt(&row["birth_name"]),
            birth_date: row["birth_date"].parse().unwrap(),
            kvnr: Kvnr::parse(&row["kvnr"]).ok(),
        })
        .collect();
    let t = Instant::now();
    let mut decisions = Vec::with_capacity(reports.len());
    for r in &reports {
        let d = index.decide(r);
        if let (Outcome::Linked(id), Some(k)) = (&d.outcome, &r.kvnr) {
            let _ = index.remember_kvnr(id, k.clone());
        }
        decisions.push(d);
    }
    let decide_s = t.elapsed().as_secs_f64();
    let linked = decisions.iter().filter(|d| matches!(d.outcome, Outcome::Linked(_))).count();
    let digest = (a.digest || a.dump.is_some()).then(|| digest(decisions.into_iter(), a));
    println!(
        "{{\"workload\":\"fixture\",\"reports\":{},\"decide_s\":{decide_s:.4},\"us_per_report\":{:.2},\"linked\":{linked}{}}}",
        reports.len(),
        decide_s * 1e6 / reports.len().max(1) as f64,
        digest.map(|d| format!(",\"digest\":\"{d:016x}\"")).unwrap_or_default()
    );
}
