//! Linkage quality on the `small` programme fixture: every distinct report of reports.csv
//! decided against the latest record of every child in meldedaten_1..3.csv, compared with
//! the ground truth in reports.csv/links.csv. Run with `--nocapture` for the table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use jiff::civil::Date;
use oegd_domain::{Kvnr, MeldeId};
use oegd_linkage::normalise::split_given_names;
use oegd_linkage::{Decision, LinkIndex, Outcome, RegisteredChild, ReportedChild};

fn fixture_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // crates/linkage → /work/main → /work/shared (or a clone's ../shared)
    for up in [here.join("../../../shared"), here.join("../../shared")] {
        let dir = up.join("fixtures/programme/small");
        if dir.is_dir() {
            return dir;
        }
    }
    panic!("fixture shared/fixtures/programme/small not found from {}", here.display());
}

fn rows(path: PathBuf) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers.iter().zip(r.iter()).map(|(h, v)| (h.to_owned(), v.to_owned())).collect()
        })
        .collect()
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// The latest record of every child across the three deliveries, fed to the index with
/// `upsert` in delivery order (an `aenderung` replaces the record; `wegzug`/`tod` rows
/// change nothing here: the child stays linkable until deleted).
fn build_index() -> LinkIndex {
    let mut index = LinkIndex::new([]);
    for n in 1..=3 {
        for row in rows(fixture_dir().join(format!("meldedaten_{n}.csv"))) {
            if !matches!(row["ereignis"].as_str(), "geburt" | "zuzug" | "aenderung") {
                continue;
            }
            index.upsert(RegisteredChild {
                melde_id: MeldeId::parse(&row["melde_id"]).unwrap(),
                given_names: split_given_names(&row["vornamen"]),
                family_name: row["familienname"].clone(),
                birth_name: opt(&row["geburtsname"]),
                birth_date: date(&row["geburtsdatum"]),
                kvnr: None,
            });
        }
    }
    index
}

struct Report {
    id: String,
    child: ReportedChild,
    truth: Option<MeldeId>,
    noise: Vec<String>,
}

fn reports() -> Vec<Report> {
    let dir = fixture_dir();
    let noise: HashMap<String, String> =
        rows(dir.join("links.csv")).into_iter().map(|r| (r["report_id"].clone(), r["noise"].clone())).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for row in rows(dir.join("reports.csv")) {
        if !seen.insert(row["report_id"].clone()) {
            continue;
        }
        out.push(Report {
            id: row["report_id"].clone(),
            child: ReportedChild {
                given_name: row["given_name"].clone(),
                family_name: row["family_name"].clone(),
                birth_name: opt(&row["birth_name"]),
                birth_date: date(&row["birth_date"]),
                kvnr: Kvnr::parse(&row["kvnr"]).ok(),
            },
            truth: opt(&row["melde_id"]).map(|m| MeldeId::parse(&m).unwrap()),
            noise: noise[&row["report_id"]].split(';').map(str::to_owned).collect(),
        });
    }
    out
}

#[derive(Default, Clone, Copy)]
struct Tally {
    reports: usize,
    linked_right: usize,
    linked_wrong: usize,
    review_right_top: usize,
    review_other: usize,
    unlinked: usize,
}

impl Tally {
    fn add(&mut self, decision: &Decision, truth: Option<&MeldeId>) {
        self.reports += 1;
        match (&decision.outcome, truth) {
            (Outcome::Linked(id), Some(t)) if id == t => self.linked_right += 1,
            (Outcome::Linked(_), _) => self.linked_wrong += 1,
            (Outcome::Review, Some(t)) if decision.candidates.first().is_some_and(|c| &c.melde_id == t) => {
                self.review_right_top += 1;
            }
            (Outcome::Review, _) => self.review_other += 1,
            (Outcome::Unlinked, _) => self.unlinked += 1,
        }
    }

    fn row(&self, label: &str) -> String {
        let found = self.linked_right + self.review_right_top;
        format!(
            "{label:<18} {:>6} {:>7} {:>6} {:>8} {:>7} {:>8} {:>9}",
            self.reports,
            self.linked_right,
            self.linked_wrong,
            self.review_right_top,
            self.review_other,
            self.unlinked,
            pct(found, self.reports)
        )
    }
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 { "-".to_owned() } else { format!("{:.1} %", 100.0 * a as f64 / b as f64) }
}

struct Run {
    all: Tally,
    registered: Tally,
    unregistered: Tally,
    per_label: BTreeMap<String, Tally>,
    /// highest score of any candidate that is not the reported child
    max_wrong: f64,
    /// lowest score of the reported child, and per noise label
    min_right: BTreeMap<String, f64>,
}

/// Decides every report in receipt order. With `remember`, the KVNR of every automatic
/// link is remembered on the child (as a confirmed link would), so later cards link by it.
fn run(remember: bool) -> Run {
    let mut index = build_index();
    let mut r = Run {
        all: Tally::default(),
        registered: Tally::default(),
        unregistered: Tally::default(),
        per_label: BTreeMap::new(),
        max_wrong: f64::NEG_INFINITY,
        min_right: BTreeMap::new(),
    };
    for report in reports() {
        let d = index.decide(&report.child);
        let truth = report.truth.as_ref();
        r.all.add(&d, truth);
        if truth.is_some() {
            r.registered.add(&d, truth)
        } else {
            r.unregistered.add(&d, truth)
        }
        for label in &report.noise {
            r.per_label.entry(label.clone()).or_default().add(&d, truth);
        }
        for c in &d.candidates {
            if Some(&c.melde_id) == truth {
                for label in &report.noise {
                    let min = r.min_right.entry(label.clone()).or_insert(f64::INFINITY);
                    *min = min.min(c.score);
                }
            } else {
                r.max_wrong = r.max_wrong.max(c.score);
            }
        }
        if let Outcome::Linked(id) = &d.outcome {
            if Some(id) != truth {
                eprintln!("WRONG LINK {}: {:?} → {id}\n{}", report.id, report.child.given_name, d.explain().join("\n"));
            }
            if remember && let Some(k) = &report.child.kvnr {
                // a KVNR held by another child is left alone here (a person would look)
                let _ = index.remember_kvnr(id, k.clone());
            }
        }
        if std::env::var_os("LINKAGE_DUMP").is_some() && !matches!(d.outcome, Outcome::Linked(_)) {
            eprintln!(
                "{:?} {:?} truth={truth:?} [{}] {} {}: {}",
                d.outcome,
                d.reason,
                report.noise.join(";"),
                report.child.given_name,
                report.child.family_name,
                d.candidates.iter().map(|c| format!("{}={:.1}", c.melde_id, c.score)).collect::<Vec<_>>().join(" ")
            );
        }
    }
    r
}

fn print(title: &str, r: &Run) {
    println!("\n{title}");
    println!(
        "{:<18} {:>6} {:>7} {:>6} {:>8} {:>7} {:>8} {:>9}",
        "noise", "n", "linked", "WRONG", "review✓", "review✗", "unlinked", "found"
    );
    for (label, t) in &r.per_label {
        println!("{}", t.row(label));
    }
    println!("{}", r.registered.row("registered"));
    println!("{}", r.unregistered.row("unregistered"));
    println!("{}", r.all.row("all"));
    println!(
        "highest score of a wrong candidate: {:.1}; lowest score of the right child per noise label: {}",
        r.max_wrong,
        r.min_right.iter().map(|(l, m)| format!("{l} {m:.1}")).collect::<Vec<_>>().join(", ")
    );
    let auto = r.all.linked_right + r.all.linked_wrong;
    println!(
        "precision of automatic links {} ({} of {auto}); automatic recall {}; recall incl. review with the right top candidate {}",
        pct(r.all.linked_right, auto),
        r.all.linked_right,
        pct(r.registered.linked_right, r.registered.reports),
        pct(r.registered.linked_right + r.registered.review_right_top, r.registered.reports),
    );
}

#[test]
fn small_fixture_precision_and_recall() {
    for (title, remember) in
        [("first links only (no KVNR remembered)", false), ("KVNR remembered after each automatic link", true)]
    {
        let r = run(remember);
        print(title, &r);
        assert_eq!(r.all.linked_wrong, 0, "{title}: no wrong automatic link");
        assert_eq!(r.unregistered.linked_right + r.unregistered.linked_wrong, 0, "{title}: unregistered never linked");
        let found = r.registered.linked_right + r.registered.review_right_top;
        assert!(found * 1000 >= r.registered.reports * 990, "{title}: recall incl. review ≥ 99 %");
        assert!(r.registered.linked_right * 100 >= r.registered.reports * 90, "{title}: automatic recall ≥ 90 %");
    }
}
