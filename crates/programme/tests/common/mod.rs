//! Loading the `small` fixture (shared by the integration tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(dead_code)]

use std::path::PathBuf;

use jiff::civil::Date;
use oegd_domain::{Checkup, MeldeId};
use oegd_programme::{AssignedReport, RegistryRow, read_registry};

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/programme/small")
}

pub fn load_rows(files: &[&str]) -> Vec<RegistryRow> {
    let mut rows = Vec::new();
    for name in files {
        let f = read_registry(std::fs::File::open(fixture_dir().join(name)).expect("open meldedaten"));
        assert!(f.errors.is_empty(), "{name}: {:?}", f.errors);
        rows.extend(f.rows);
    }
    rows
}

/// All report rows, assigned by the ground truth (`melde_id` column).
pub fn load_reports() -> Vec<AssignedReport> {
    let mut reader = csv::Reader::from_path(fixture_dir().join("reports.csv")).expect("open reports.csv");
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, exam, exam_date, received, melde) =
        (col("report_id"), col("exam"), col("exam_date"), col("received_date"), col("melde_id"));
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            let melde_id = r.get(melde).filter(|s| !s.is_empty()).map(|s| MeldeId::parse(s).expect("melde_id"));
            AssignedReport {
                report_id: r[id].to_owned(),
                melde_id,
                checkup: Checkup::from_name(&r[exam]).expect("exam"),
                exam_date: r[exam_date].parse::<Date>().expect("exam_date"),
                received: r[received].parse::<Date>().expect("received_date"),
                linked_on: None,
            }
        })
        .collect()
}

pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

pub fn programme_start() -> Date {
    Date::constant(2019, 1, 3)
}
