//! The service side of two web workspaces, on a real data directory with the programme
//! fixture: a child's timeline (a person's link shows at once: the report joins it and its
//! check-up turns fulfilled), and the practices' form (the same card through the same intake
//! as the API: the API takes it as a resubmission of the form's card).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::Path;
use std::sync::Arc;
use support::small_fixture_gateway;

use jiff::Timestamp;
use jiff::civil::date;
use oegd_domain::{Clock, OrgKind, TelematikId};
use oegd_fhir::MediaType;
use oegd_programme::{CheckupState, Profile};
use oegd_service::child::{self, Event};
use oegd_service::linking::{self, Verdict};
use oegd_service::webform::{self, CheckupForm, FormOutcome, field};
use oegd_service::{Gateway, Sender, letters, programme};
use oegd_store::{Actor, LinkState, Organisation, ReportSource, Store};

/// 2026-01-15: a fortnight after the fixture's last day.
const NOW: Timestamp = Timestamp::constant(1_768_471_200, 0);

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        NOW
    }
}

async fn loaded(root: &Path) -> Gateway<oegd_store_any::AnyStore> {
    let gateway = small_fixture_gateway(root, NOW, Arc::new(FixedClock)).await;
    let profile = Profile::mv();
    programme::run_jobs(gateway.store(), &profile, &letters::sender_for(&profile), date(2025, 12, 31), NOW)
        .await
        .unwrap();
    gateway
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_childs_timeline_shows_a_persons_link_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = loaded(tmp.path()).await;
    let store = gateway.store();
    let profile = Profile::mv();
    let today = child::today(NOW);

    // a review entry with a candidate whose check-up is still open
    let mut pick = None;
    'entries: for e in linking::review_queue(store).await.unwrap() {
        for c in &e.candidates {
            let Ok(view) = child::child(store, &profile, &c.melde_id, today).await else { continue };
            let open = view.checkups.iter().find(|l| l.checkup == e.untersuchung).and_then(|l| l.report.as_ref());
            if open.is_some_and(|r| matches!(r.state, CheckupState::NotDue | CheckupState::Reminded)) {
                pick = Some((e.report_id.clone(), c.melde_id.clone(), e.untersuchung, e.version, view));
                break 'entries;
            }
        }
    }
    let (report, kind, checkup, version, before) = pick.expect("the fixture has such an entry");
    assert!(before.in_review.contains(&report));
    let has_report =
        |v: &child::ChildView| v.timeline.iter().any(|t| matches!(&t.event, Event::Report(r) if r.report_id == report));
    assert!(!has_report(&before));
    // the timeline is in date order and starts with the child's registration
    assert!(before.timeline.windows(2).all(|w| w[0].date <= w[1].date));
    assert!(matches!(before.timeline[0].event, Event::Registration { .. }));

    linking::decide(
        store,
        &report,
        &Verdict::Accept(Some(kind.clone())),
        Some(version),
        today,
        &Actor::User("anna".into()),
        NOW,
    )
    .await
    .unwrap();
    let after = child::child(store, &profile, &kind, today).await.unwrap();
    assert!(has_report(&after));
    let entry = after
        .timeline
        .iter()
        .find_map(|t| match &t.event {
            Event::Report(r) if r.report_id == report => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((entry.state, entry.decided_by.as_str(), entry.effective), (LinkState::Confirmed, "user:anna", today));
    assert!(entry.practice.is_some());
    let line = after.checkups.iter().find(|l| l.checkup == checkup).unwrap();
    assert_eq!(line.report.as_ref().unwrap().state, CheckupState::Fulfilled);
    assert!(!after.in_review.contains(&report));

    // letters on the timeline carry their id; an unknown child is not found
    let with_letter = store.actions(Some("reminder")).await.unwrap().pop().unwrap();
    let view = child::child(store, &profile, &with_letter.melde_id, today).await.unwrap();
    assert!(view.timeline.iter().any(|t| matches!(&t.event, Event::Letter { letter_id, .. }
        if *letter_id == letters::letter_id(&with_letter.key()))));
    let unknown = oegd_domain::MeldeId::parse("MV0000000000").unwrap();
    assert!(matches!(
        child::child(store, &profile, &unknown, today).await,
        Err(oegd_service::ServiceError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_is_the_apis_card_through_the_apis_intake() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = loaded(tmp.path()).await;
    let practice = Organisation {
        telematik_id: TelematikId::parse("1-20781234500").unwrap(),
        kind: OrgKind::Praxis,
        name: "Kinderarztpraxis Dr. Möller".into(),
        kreise: vec![],
        created_at: NOW,
    };
    gateway.store().add_organisation(&practice, &Actor::Operator).await.unwrap();
    let sender = Sender { telematik_id: practice.telematik_id.clone(), profession: practice.kind.profession_oid() };
    let today = child::today(NOW);
    let form = CheckupForm {
        given_name: "Jülie".into(),
        family_name: "von der Lühe".into(),
        birth_date: "2025-03-14".into(),
        kvnr: "B730152844".into(),
        checkup: "U4".into(),
        exam_date: "20.06.2025".into(),
        doctor_given: "Uwe".into(),
        doctor_family: "Tessenow".into(),
        ..webform::new_form(NOW)
    };

    // an error: nothing stored, the message at its field
    let bad = CheckupForm { kvnr: "B730152845".into(), ..form.clone() };
    match webform::submit(&gateway, &sender, &practice, &bad, today).await.unwrap() {
        FormOutcome::Rejected(errors) => assert_eq!(errors.iter().map(|e| e.field).collect::<Vec<_>>(), [field::KVNR]),
        FormOutcome::Received(_) => panic!("an invalid KVNR was accepted"),
    }
    let mine = oegd_store::ReportFilter { sender: Some(practice.telematik_id.clone()), limit: None };
    assert!(gateway.store().reports(&mine).await.unwrap().is_empty());

    let FormOutcome::Received(first) = webform::submit(&gateway, &sender, &practice, &form, today).await.unwrap()
    else {
        panic!("a valid form was refused");
    };
    assert!(first.created);
    assert_eq!(first.report.source, ReportSource::WebForm);
    assert_eq!(first.report.media_type, "application/fhir+json");
    // the same form again (a double click): the first receipt, nothing new
    let FormOutcome::Received(again) = webform::submit(&gateway, &sender, &practice, &form, today).await.unwrap()
    else {
        panic!()
    };
    assert_eq!((again.created, &again.report.id), (false, &first.report.id));
    // the same card over the API is the same report: the intake cannot tell them apart
    let body = webform::card_bytes(&webform::card_input(&form, &practice, today, NOW).unwrap()).unwrap();
    let api = gateway.submit_card(&sender, MediaType::Json, &body, ReportSource::Api).await.unwrap();
    assert_eq!((api.created, &api.report.id), (false, &first.report.id));
    assert_eq!(api.report.body, body);
    // another practice never sees it
    let other = Sender {
        telematik_id: TelematikId::parse("1-2098765432").unwrap(),
        profession: OrgKind::Praxis.profession_oid(),
    };
    assert!(gateway.report_for(&other, &first.report.id).await.is_err());
    assert_eq!(gateway.report_for(&sender, &first.report.id).await.unwrap().id, first.report.id);
}

/// The state office's report search, against a reference that reads every report one by one
/// (its facts as a whole card) and its link decision: the same rows, newest first, for
/// queries by name part (lower case), birth date, receipt days, practice and combined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_search_finds_what_reading_every_report_finds() {
    use oegd_service::office::{ReportQuery, search_reports, search_reports_page};
    let tmp = tempfile::tempdir().unwrap();
    let gateway = loaded(tmp.path()).await;
    let store = gateway.store();
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();

    // (received day, id, sender, given, family, birth name, birth date, link, Melde-ID,
    // received at)
    let mut all = Vec::new();
    for summary in store.reports(&oegd_store::ReportFilter::default()).await.unwrap() {
        let report = store.report(&summary.id).await.unwrap().unwrap();
        let card: oegd_fhir::ParticipationCard = serde_json::from_str(&report.facts_json).unwrap();
        let link = store.link_decision(&summary.id).await.unwrap();
        all.push((
            summary.received_at.to_zoned(berlin.clone()).date(),
            summary.id.0.clone(),
            summary.sender.as_str().to_owned(),
            card.patient.given,
            card.patient.family,
            card.patient.birth_name.unwrap_or_default(),
            card.patient.birth_date,
            link.as_ref().map_or(LinkState::Unlinked, |d| d.state),
            link.and_then(|d| d.melde_id).map(|m| m.as_str().to_owned()),
            summary.received_at,
        ));
    }
    assert!(all.len() > 1000, "the fixture's reports");
    let probe = all[all.len() / 2].clone();
    let (first_day, last_day) = (all.iter().map(|r| r.0).min().unwrap(), all.iter().map(|r| r.0).max().unwrap());
    let middle = probe.0;
    let queries = [
        ReportQuery::default(),
        ReportQuery { name: Some(probe.4.to_lowercase()), ..Default::default() },
        ReportQuery { name: Some(format!(" {}  {} ", probe.3.to_uppercase(), probe.4)), ..Default::default() },
        ReportQuery { name: Some("ü".into()), ..Default::default() },
        ReportQuery { name: Some("nobody-is-called-this".into()), ..Default::default() },
        ReportQuery { birth_date: Some(probe.6), ..Default::default() },
        ReportQuery { from: Some(middle), ..Default::default() },
        ReportQuery { to: Some(middle), ..Default::default() },
        ReportQuery { from: Some(middle), to: Some(middle), ..Default::default() },
        ReportQuery { from: Some(first_day), to: Some(last_day), ..Default::default() },
        ReportQuery { practice: Some(probe.2[2..].to_owned()), ..Default::default() },
        ReportQuery {
            name: Some(probe.4.clone()),
            birth_date: Some(probe.6),
            from: Some(first_day),
            to: Some(middle),
            practice: Some(probe.2.clone()),
        },
        // days at the ends of the calendar: an open end, and nothing
        ReportQuery { to: Some(date(9999, 12, 31)), ..Default::default() },
        ReportQuery { from: Some(date(9999, 12, 31)), ..Default::default() },
    ];
    let finds_nothing = |i: usize| i == 4 || i == queries.len() - 1;
    for (i, q) in queries.iter().enumerate() {
        let parts: Vec<String> = q.name.as_deref().unwrap_or("").split_whitespace().map(str::to_lowercase).collect();
        let mut want: Vec<_> = all
            .iter()
            .filter(|r| {
                let full = format!("{} {}", r.3, r.4).to_lowercase();
                let birth_name = r.5.to_lowercase();
                parts.iter().all(|p| full.contains(p.as_str()) || birth_name.contains(p.as_str()))
                    && q.birth_date.is_none_or(|d| r.6 == d)
                    && q.from.is_none_or(|d| r.0 >= d)
                    && q.to.is_none_or(|d| r.0 <= d)
                    && q.practice.as_deref().is_none_or(|p| r.2.contains(p))
            })
            .cloned()
            .collect();
        // newest first: by the instant of receipt, then by id
        want.sort_by(|a, b| (b.9, &b.1).cmp(&(a.9, &a.1)));
        let rows = search_reports(store, q).await.unwrap();
        let got: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let stored = all.iter().find(|a| a.1 == r.id.0).unwrap();
                (
                    r.received,
                    r.id.0,
                    r.sender.as_str().to_owned(),
                    r.given_name,
                    r.family_name,
                    stored.5.clone(),
                    r.birth_date,
                    r.link,
                    r.melde_id.map(|m| m.as_str().to_owned()),
                    stored.9,
                )
            })
            .collect();
        // (the query's number, not its names, in a failure)
        assert!(got == want, "query {i}: {} rows, {} expected", got.len(), want.len());
        assert_eq!(want.is_empty(), finds_nothing(i), "query {i} finds reports, or none where none can match");
        // a page of it: those positions of the same result, and the number of all
        for keep in [0..3, 10..60, want.len().saturating_sub(2)..want.len() + 5, want.len() + 1..want.len() + 9] {
            let page = search_reports_page(store, q, keep.clone()).await.unwrap();
            let ids: Vec<&str> = page.rows.iter().map(|r| r.id.0.as_str()).collect();
            let expected: Vec<&str> = want.iter().skip(keep.start).take(keep.len()).map(|w| w.1.as_str()).collect();
            assert!(page.total == want.len() && ids == expected, "query {i}, positions {keep:?}");
        }
    }
}
