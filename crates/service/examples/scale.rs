//! The programme at scale, with generated data: register import, linking, the daily run and
//! letter rendering for N children, so the growth of cost with size is visible.
//!
//! `cargo run --release -p oegd-service --example scale -- CHILDREN [LINK_SAMPLE] [LETTERS] [SEARCH_REPORTS]`
//! prints one JSON object. What each figure covers:
//! - `register_import_s`: reading a Meldedaten CSV of CHILDREN birth events and storing it
//!   durably (one SQLite transaction) through `registry::import_registry`;
//! - `link_index_s`, `link_us_per_report`: building the linker's index over the stored
//!   register, and deciding LINK_SAMPLE generated reports (a tenth with a typo) on every core;
//!   `link_6x_extrapolated_s` is that per-report cost times 6 × CHILDREN reports;
//! - `daily_run_s`: the engine over CHILDREN children with about six linked reports each
//!   (`engine_s`; of it, `engine_distinct_reports_s` is `ReportSet::new` and
//!   `engine_prepare_s` everything up to the end of `Engine::new`), turning its result into
//!   the store's actions (`actions_of_s`) and recording them durably (`record_actions_s`),
//!   as of the last day; `record_again_s` is recording
//!   the same actions once more, as the next day's run does (none new). The SHA-256 of the
//!   evaluation (as JSON) and of the actions identify the engine's output across builds;
//! - `start_page_s`, `statistics_s`: what the state office's start page counts as due (the
//!   recorded actions read, then `office::due_actions`)
//!   and its statistics page (`office::figures`) compute on every view, over the same store.
//!   The store holds the register and the recorded actions but not the reports (the engine
//!   above gets them in memory), so these are lower bounds of a real view's cost;
//!   `start_page_view_s` (with the overview) and `statistics_view_s` are the first view
//!   through the server's `office_views::OfficeViews`, `start_page_again_s` and
//!   `statistics_again_s` a second view of the unchanged store; `start_page_after_report_s`
//!   a view right after a report came through the intake (`start_page_after_report_kept`:
//!   it was the kept one, while a newer one was computed in the background;
//!   `start_page_refreshed_current`: the view after that is of the store with the report);
//! - `child_page_s`: the state office's page of one child (`child::child`), the mean over
//!   twenty children spread over the register, with the store as above (the register, the
//!   actions, one report); `child_pages_sha256` identifies the twenty pages across builds;
//! - `search`: with SEARCH_REPORTS > 0 (default 0), that many cards of the register's children
//!   are stored through the intake (not timed), then the state office's report search
//!   (`office::search_reports`) is timed by a family name, a birth date, a week of receipt
//!   and without criteria (`search_*_s`, with the rows found and a SHA-256 of them without their random ids);
//! - `letters_per_s`: typesetting LETTERS reminder letters from the run's actions on every
//!   core.

use std::time::Instant;

use jiff::Span;
use jiff::civil::date;
use oegd_domain::{Checkup, Kvnr, MeldeId};
use oegd_linkage::ReportedChild;
use oegd_programme::{AssignedReport, Engine, Profile, ReportSet};
use oegd_service::cohort::{self, CohortSpec, Rng};
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::{admin, letters, linking, office, programme, register, registry};
use oegd_store::{Actor, Store};
use sha2::{Digest, Sha256};

/// Feeds what is written into a SHA-256.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().ok_or("usage: scale CHILDREN [LINK_SAMPLE] [LETTERS] [SEARCH_REPORTS]")?.parse()?;
    let sample: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(20_000);
    let letter_count: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let search_reports: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(
        n,
        sample,
        letter_count,
        search_reports,
        threads,
    ))
}

async fn run(
    n: usize,
    sample: usize,
    letter_count: usize,
    search_reports: usize,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let now = oegd_domain::Clock::now(&oegd_domain::SystemClock);
    let tmp = std::env::temp_dir().join(format!("oegd-scale-{}-{}", n, std::process::id()));
    let dir = DataDir::new(&tmp);
    admin::init(&dir, &Config::new("MV"), now).await?;
    let store = admin::open_store(&dir).await?;

    // the register: one birth a child over six years, names from small lists with a number
    // so that family names are realistically diverse
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = date(2019, 1, 1);
    let spec =
        CohortSpec { children: n, first_birth: start, birth_days: 2190, id_prefix: "", numbered_family_names: true };
    let children = cohort::generate(&spec, &mut rng);
    let csv = cohort::registry_csv(&children);
    let t = Instant::now();
    let import = registry::import_registry(&store, "scale.csv", csv.as_bytes(), true, now, &mut |_, _, _| {}).await?;
    let register_import_s = t.elapsed().as_secs_f64();
    drop(csv);

    // linking: the index over the stored register, then a sample of reports on every core
    let t = Instant::now();
    let (index, _) = linking::current_index(&store).await?;
    let link_index_s = t.elapsed().as_secs_f64();
    let reports: Vec<ReportedChild> = (0..sample)
        .map(|_| {
            let c = children.get(rng.below(n)).unwrap_or(&children[0]);
            let mut given = c.given.clone();
            if rng.below(10) == 0 {
                given.push('e'); // a typo
            }
            ReportedChild {
                given_name: given,
                family_name: c.family.clone(),
                birth_name: None,
                birth_date: c.birth,
                kvnr: None::<Kvnr>,
            }
        })
        .collect();
    let t = Instant::now();
    let per = reports.len().div_ceil(threads).max(1);
    let linked: usize = std::thread::scope(|s| {
        let handles: Vec<_> = reports
            .chunks(per)
            .map(|part| {
                let index = &index;
                s.spawn(move || {
                    part.iter().filter(|r| matches!(index.decide(r).outcome, oegd_linkage::Outcome::Linked(_))).count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let link_s = t.elapsed().as_secs_f64();
    let link_us = link_s * 1e6 / sample.max(1) as f64;
    drop(index);

    // the daily run: the engine with about six linked reports a child, and its actions
    // recorded durably
    let checkups = [Checkup::U3, Checkup::U4, Checkup::U5, Checkup::U6, Checkup::U7, Checkup::U7a, Checkup::U8];
    let mut assigned = Vec::with_capacity(n * 6);
    for c in &children {
        for checkup in checkups {
            if rng.below(10) == 0 {
                continue; // missed
            }
            let Some(w) = oegd_programme::window(checkup, c.birth) else { continue };
            let received = w.regular_start.checked_add(Span::new().days(rng.below(40) as i64))?;
            assigned.push(AssignedReport {
                report_id: format!("{}-{}", c.melde_id, checkup.name()),
                melde_id: Some(MeldeId::parse(&c.melde_id)?),
                checkup,
                exam_date: received,
                received,
                linked_on: None,
            });
        }
    }
    let rows = register::rows(&store).await?;
    let profile = Profile::mv();
    let as_of = date(2025, 12, 31);
    let t = Instant::now();
    let set = ReportSet::new(&assigned);
    let engine_reports_s = t.elapsed().as_secs_f64();
    let engine = Engine::new(&profile, start, &rows, &set);
    let engine_prepare_s = t.elapsed().as_secs_f64();
    let evaluation = engine.evaluate(as_of);
    let engine_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let actions = programme::actions_of(&evaluation)?;
    let actions_of_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let recorded = store.record_actions(&actions, as_of, now, &Actor::System).await?;
    let record_s = t.elapsed().as_secs_f64();
    // the next day's run finds the same actions recorded already (none new)
    let t = Instant::now();
    let recorded_again = store.record_actions(&actions, as_of, now, &Actor::System).await?;
    let record_again_s = t.elapsed().as_secs_f64();
    // what the state office's start page and statistics page evaluate on every view
    let t = Instant::now();
    let recorded_actions = std::sync::Arc::new(store.actions(None).await?);
    let due = office::due_actions(&store, &profile, as_of, recorded_actions).await?;
    let start_page_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let figures = office::figures(&store, &profile, as_of).await?;
    let statistics_s = t.elapsed().as_secs_f64();
    // the same through the server's views: the first view computes (the start page with its
    // overview), a second one of the unchanged store finds it kept
    let views = oegd_service::office_views::OfficeViews::default();
    let shared_profile = std::sync::Arc::new(profile.clone());
    let noon = as_of.at(12, 0, 0, 0).in_tz("Europe/Berlin")?.timestamp();
    let mut view_s = [0.0; 4];
    for (i, slot) in view_s.iter_mut().enumerate() {
        let t = Instant::now();
        if i < 2 {
            views.start_page(&store, &shared_profile, noon).await?;
        } else {
            views.figures(&store, &shared_profile, noon).await?;
        }
        *slot = t.elapsed().as_secs_f64();
    }
    // a report arrives through the intake, as a practice's would: the next view is the kept
    // one (only an arrival since) while a newer one is computed in the background
    let gateway = oegd_service::Gateway::new(store.clone(), std::sync::Arc::new(oegd_domain::SystemClock)).await?;
    let card = oegd_service::webform::card_bytes(&oegd_fhir::CardInput {
        practice_name: "Skalierungs-Praxis".into(),
        practitioner_given: "Erika".into(),
        practitioner_family: "Skala".into(),
        practitioner_lanr: Some("123456601".into()),
        patient_given: "Mia".into(),
        patient_family: "Skala".into(),
        patient_birth_name: None,
        birth_date: as_of.checked_sub(Span::new().days(200))?,
        kvnr: None,
        checkup: Checkup::U5,
        exam_date: as_of.checked_sub(Span::new().days(10))?,
        timestamp: now,
        card_uuid: uuid::Uuid::new_v4(),
    })?;
    let sender = oegd_domain::TelematikId::parse("1-2098123400")?;
    gateway.import_card(&sender, now, oegd_fhir::MediaType::Json, &card).await?;
    let t = Instant::now();
    let during = views.start_page(&store, &shared_profile, noon).await?;
    let start_page_after_report_s = t.elapsed().as_secs_f64();
    let after_report_kept = during.version < store.data_version().await?;
    // past MAX_STALENESS: waits for the background computation (not timed)
    let later = noon.checked_add(oegd_service::office_views::MAX_STALENESS + jiff::SignedDuration::from_secs(1))?;
    let refreshed = views.start_page(&store, &shared_profile, later).await?;
    let refreshed_current = refreshed.version == store.data_version().await?;
    // the state office's page of one child, for twenty children spread over the register;
    // the pages' SHA-256 (of their Debug form) identifies them across builds
    let step = (n / 20).max(1);
    let page_children: Vec<MeldeId> =
        children.iter().step_by(step).take(20).map(|c| MeldeId::parse(&c.melde_id)).collect::<Result<_, _>>()?;
    let mut pages = Sha256::new();
    let t = Instant::now();
    for id in &page_children {
        let view = oegd_service::child::child(&store, &profile, id, as_of).await?;
        pages.update(format!("{view:?}").as_bytes());
    }
    let child_page_s = t.elapsed().as_secs_f64() / page_children.len().max(1) as f64;
    let child_pages_sha256 = hex::encode(pages.finalize());
    // the state office's report search over SEARCH_REPORTS reports of the register's
    // children, stored through the intake from 64 tasks (not timed): by a family name, by a
    // birth date, by a week of receipt, and everything (the page without criteria)
    let mut search_s = serde_json::Map::new();
    if search_reports > 0 {
        let gateway = std::sync::Arc::new(gateway);
        let shared_children = std::sync::Arc::new(children.clone());
        let per_task = search_reports.div_ceil(64);
        let mut tasks = Vec::new();
        for task in 0..64 {
            let (gateway, children, sender) =
                (std::sync::Arc::clone(&gateway), std::sync::Arc::clone(&shared_children), sender.clone());
            tasks.push(tokio::spawn(async move {
                for i in (task * per_task)..((task + 1) * per_task).min(search_reports) {
                    let c = &children[i % children.len()];
                    let checkup = checkups[(i / children.len()) % checkups.len()];
                    let Some(w) = oegd_programme::window(checkup, c.birth) else { continue };
                    let exam_date = w.regular_start.min(as_of);
                    let card = oegd_service::webform::card_bytes(&oegd_fhir::CardInput {
                        practice_name: "Skalierungs-Praxis".into(),
                        practitioner_given: "Erika".into(),
                        practitioner_family: "Skala".into(),
                        practitioner_lanr: Some("123456601".into()),
                        patient_given: c.given.clone(),
                        patient_family: c.family.clone(),
                        patient_birth_name: None,
                        birth_date: c.birth,
                        kvnr: None,
                        checkup,
                        exam_date,
                        timestamp: now,
                        card_uuid: uuid::Uuid::new_v4(),
                    })?;
                    let received =
                        exam_date.checked_add(Span::new().days(10))?.at(12, 0, 0, 0).in_tz("Europe/Berlin")?;
                    gateway.import_card(&sender, received.timestamp(), oegd_fhir::MediaType::Json, &card).await?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
        for task in tasks {
            task.await?.map_err(|e| e.to_string())?;
        }
        // children with reports (the first SEARCH_REPORTS of the register), and the week in
        // which the report of one of them came (its first: the U3, received ten days after the
        // window opened)
        let with_report = search_reports.min(n);
        let someone = &children[with_report / 2];
        let week_start = {
            let c = &children[with_report / 4];
            let w = oegd_programme::window(checkups[0], c.birth).ok_or("no U3 window")?;
            w.regular_start.min(as_of).checked_add(Span::new().days(10))?
        };
        let queries = [
            ("name", office::ReportQuery { name: Some(someone.family.clone()), ..Default::default() }),
            (
                "birth_date",
                office::ReportQuery { birth_date: Some(children[with_report / 3].birth), ..Default::default() },
            ),
            (
                "week",
                office::ReportQuery {
                    from: Some(week_start),
                    to: Some(week_start.checked_add(Span::new().days(6))?),
                    ..Default::default()
                },
            ),
            ("all", office::ReportQuery::default()),
        ];
        for (what, query) in queries {
            let t = Instant::now();
            let rows = office::search_reports(&store, &query).await?;
            search_s.insert(format!("search_{what}_s"), t.elapsed().as_secs_f64().into());
            search_s.insert(format!("search_{what}_rows"), rows.len().into());
            // without the report ids (random per run), in a fixed order
            let mut found: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {:?} {} {} {} {} {:?} {:?}",
                        r.received,
                        r.sender,
                        r.checkup,
                        r.exam_date,
                        r.given_name,
                        r.family_name,
                        r.birth_date,
                        r.link,
                        r.melde_id
                    )
                })
                .collect();
            found.sort();
            let digest = hex::encode(Sha256::digest(found.join("\n")));
            search_s.insert(format!("search_{what}_sha256"), digest.into());
        }
    }
    // fingerprints of the engine's output (not timed), to compare builds: the whole
    // evaluation as JSON, and the actions in recording order
    let evaluation_sha256 = {
        let mut w = HashWriter(Sha256::new());
        serde_json::to_writer(&mut w, &evaluation)?;
        hex::encode(w.0.finalize())
    };
    let actions_sha256 = {
        let mut h = Sha256::new();
        for a in &actions {
            h.update(a.kind.as_bytes());
            h.update([0]);
            h.update(a.payload_json.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    };
    drop(evaluation);

    // letters from the run's reminders, typeset on every core
    let sender = letters::sender_for(&profile);
    let latest = register::latest_records(&rows, None);
    let letter_inputs: Vec<_> = actions
        .iter()
        .filter(|a| a.kind == "reminder")
        .take(letter_count)
        .filter_map(|a| latest.get(&a.melde_id).and_then(|r| letters::letter_for(&profile, &sender, a, r).ok()))
        .collect();
    let renderer = oegd_letters::LetterRenderer::new()?;
    let t = Instant::now();
    let per = letter_inputs.len().div_ceil(threads).max(1);
    let rendered: usize = std::thread::scope(|s| {
        let handles: Vec<_> = letter_inputs
            .chunks(per)
            .map(|part| {
                let renderer = &renderer;
                s.spawn(move || part.iter().filter(|l| renderer.render_pdf(l).is_ok()).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let letters_s = t.elapsed().as_secs_f64();
    store.close().await;
    let _ = std::fs::remove_dir_all(&tmp);

    let out = serde_json::json!({
        "children": n,
        "threads": threads,
        "register_rows": import.rows,
        "register_import_s": register_import_s,
        "link_index_s": link_index_s,
        "link_sample": sample,
        "link_sample_linked": linked,
        "link_us_per_report": link_us,
        "link_6x_extrapolated_s": link_us * 6.0 * n as f64 / 1e6,
        "reports_in_daily_run": assigned.len(),
        "engine_s": engine_s,
        "engine_distinct_reports_s": engine_reports_s,
        "engine_prepare_s": engine_prepare_s,
        "actions_of_s": actions_of_s,
        "record_actions_s": record_s,
        "record_actions_new": recorded,
        "record_again_s": record_again_s,
        "record_again_new": recorded_again,
        "daily_run_s": engine_s + actions_of_s + record_s,
        "start_page_s": start_page_s,
        "start_page_view_s": view_s[0],
        "start_page_again_s": view_s[1],
        "statistics_view_s": view_s[2],
        "statistics_again_s": view_s[3],
        "start_page_after_report_s": start_page_after_report_s,
        "start_page_after_report_kept": after_report_kept,
        "start_page_refreshed_current": refreshed_current,
        "start_page_due": due.values().sum::<usize>(),
        "statistics_s": statistics_s,
        "search_reports": search_reports,
        "search": search_s,
        "child_page_s": child_page_s,
        "child_pages_sha256": child_pages_sha256,
        "statistics_districts": figures.participation_by_checkup.len(),
        "actions": actions.len(),
        "evaluation_sha256": evaluation_sha256,
        "actions_sha256": actions_sha256,
        "letters": rendered,
        "letters_per_s": rendered as f64 / letters_s.max(1e-9),
    });
    println!("{out}");
    Ok(())
}
