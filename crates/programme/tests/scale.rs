//! Scale check (ignored by default): `SCALE_CHILDREN=1000000 cargo test --release -p
//! oegd-programme --test scale -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Instant;

use jiff::Span;
use jiff::civil::date;
use oegd_domain::{Ags, Checkup, MeldeId};
use oegd_programme::{Address, AssignedReport, Engine, EventKind, PersonRecord, Profile, RegistryRow, ReportSet, Sex};

#[test]
#[ignore = "scale check; run explicitly"]
fn one_daily_run_over_many_children() {
    let n: usize = std::env::var("SCALE_CHILDREN").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let start = date(2019, 1, 1);
    let as_of = date(2025, 12, 31);
    let mut rows = Vec::with_capacity(n + n / 10);
    let mut reports = Vec::with_capacity(n * 6);
    let checkups =
        [Checkup::U2, Checkup::U3, Checkup::U4, Checkup::U5, Checkup::U6, Checkup::U7, Checkup::U7a, Checkup::U8];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..n {
        let birth = start.checked_add(Span::new().days((rnd() % 2555) as i64)).unwrap();
        let id = MeldeId::parse(&format!("MV{i:010}")).unwrap();
        let record = PersonRecord {
            family_name: "Muster".into(),
            given_names: vec!["Lena".into()],
            birth_name: None,
            birth_date: birth,
            sex: Sex::Weiblich,
            address: Address {
                street: "Weg".into(),
                house_number: "1".into(),
                plz: "18055".into(),
                city: "Rostock".into(),
            },
            ags: Ags::parse(["13003000", "13071107", "13075039"][i % 3]).unwrap(),
            guardians: vec!["Anna Muster".into()],
            auskunftssperre: i % 50 == 0,
        };
        rows.push(RegistryRow {
            line: 0,
            event: EventKind::Geburt,
            event_date: birth,
            melde_id: id.clone(),
            record: Some(record),
        });
        if i % 20 == 0 {
            let d = birth.checked_add(Span::new().days(400)).unwrap();
            rows.push(RegistryRow {
                line: 0,
                event: EventKind::Wegzug,
                event_date: d,
                melde_id: id.clone(),
                record: None,
            });
        }
        for (k, c) in checkups.iter().enumerate() {
            if rnd() % 10 == 0 {
                continue; // missed
            }
            let w = oegd_programme::window(*c, birth).unwrap();
            let received = w.regular_start.checked_add(Span::new().days((rnd() % 40) as i64)).unwrap();
            if received > as_of {
                break;
            }
            reports.push(AssignedReport {
                report_id: format!("{i}-{k}"),
                melde_id: Some(id.clone()),
                checkup: *c,
                exam_date: w.regular_start,
                received,
                linked_on: None,
            });
        }
    }
    rows.sort_by_key(|r| r.event_date);
    reports.sort_by_key(|r| r.received);
    let profile = Profile::mv();
    let t0 = Instant::now();
    let set = ReportSet::new(&reports);
    let t_set = Instant::now();
    let engine = Engine::new(&profile, start, &rows, &set).with_threads(2);
    let t1 = Instant::now();
    let ev = engine.evaluate(as_of);
    let t2 = Instant::now();
    eprintln!(
        "{n} children, {} rows, {} reports: prepare {:?} (distinct reports {:?}, engine new {:?}), evaluate {:?}; {} reminders, {} escalations",
        rows.len(),
        reports.len(),
        t1 - t0,
        t_set - t0,
        t1 - t_set,
        t2 - t1,
        ev.reminders.len(),
        ev.escalations.len()
    );
    // a fingerprint of the whole evaluation, to compare builds (SipHash with fixed keys)
    let mut h = Fingerprint(std::hash::DefaultHasher::new());
    serde_json::to_writer(&mut h, &ev).unwrap();
    eprintln!("evaluation fingerprint {:016x}", std::hash::Hasher::finish(&h.0));
    assert_eq!(ev.summary.children_registered, n);
}

struct Fingerprint(std::hash::DefaultHasher);

impl std::io::Write for Fingerprint {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::hash::Hasher::write(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
