//! `review` and `letters pdf`: the person's side of linking, and the stored letters.

use std::path::PathBuf;

use clap::Subcommand;
use oegd_domain::MeldeId;
use oegd_service::datadir::DataDir;
use oegd_service::linking::{self, ReviewEntry, Verdict};
use oegd_service::{ServiceError, admin};
use oegd_store::{Actor, ReportId, Store};

use crate::cli::{DataArg, print_json};

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Reports the linker could not decide, oldest first, with their candidates.
    List {
        #[command(flatten)]
        data: DataArg,
        #[arg(long)]
        json: bool,
    },
    /// One report's link decision (any state), with the comparison behind its score.
    Show {
        #[command(flatten)]
        data: DataArg,
        report_id: String,
        #[arg(long)]
        json: bool,
    },
    /// The report is about a child: the best candidate, or the one given with --kind.
    Accept {
        #[command(flatten)]
        data: DataArg,
        report_id: String,
        /// Link to this child instead of the best candidate.
        #[arg(long = "kind", value_name = "MELDE_ID")]
        child: Option<String>,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// None of the candidates is the child; the report stays unlinked.
    Reject {
        #[command(flatten)]
        data: DataArg,
        report_id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
    /// Undo a decision (the linker's or a person's): the report goes back into the queue.
    Reopen {
        #[command(flatten)]
        data: DataArg,
        report_id: String,
        #[command(flatten)]
        decision: DecisionArgs,
    },
}

#[derive(clap::Args)]
pub struct DecisionArgs {
    /// The version shown by `review list`: the decision fails if someone decided meanwhile.
    #[arg(long)]
    version: Option<i64>,
    /// The day of the decision (default: today, Europe/Berlin); a link counts from then on.
    #[arg(long)]
    as_of: Option<jiff::civil::Date>,
    /// Who decides (recorded in the audit log); default: the operator at this terminal.
    #[arg(long, value_name = "LOGIN")]
    by: Option<String>,
}

fn print_entry(e: &ReviewEntry) {
    let p = &e.reported;
    println!(
        "Meldung {} ({}, {} vom {}, eingegangen {}), Version {}",
        e.report_id,
        e.state.as_str(),
        e.untersuchung.name(),
        e.exam_date,
        e.received,
        e.version
    );
    println!(
        "  Karte:      {} {}{}, geb. {}{}",
        p.given_name,
        p.family_name,
        p.birth_name.as_ref().map(|b| format!(" (geb. {b})")).unwrap_or_default(),
        p.birth_date,
        if p.kvnr.is_some() { ", mit KVNR" } else { "" }
    );
    println!("  Grund:      {}", e.reason);
    if let Some(m) = &e.melde_id {
        println!("  Zugeordnet: {m} (von {} am {:.0})", e.decided_by, e.decided_at);
    }
    for (i, c) in e.candidates.iter().enumerate() {
        let name = match (&c.given_names, &c.family_name) {
            (Some(g), Some(f)) => format!("{} {f}", g.join(" ")),
            _ => "(nicht mehr im Register)".to_owned(),
        };
        println!(
            "  Kandidat {}: {} – {name}{}, geb. {}, Kreis {} – {:.1} Bit",
            i + 1,
            c.melde_id,
            c.birth_name.as_ref().map(|b| format!(" (geb. {b})")).unwrap_or_default(),
            c.birth_date.map_or("-".to_owned(), |d| d.to_string()),
            c.kreis.as_deref().unwrap_or("-"),
            c.score
        );
        for line in &c.comparison {
            println!("      {line}");
        }
    }
}

pub async fn run(command: ReviewCommand, today: jiff::civil::Date, now: jiff::Timestamp) -> Result<(), ServiceError> {
    let (data, report_id, verdict, decision) = match command {
        ReviewCommand::List { data, json } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let queue = linking::review_queue(&store).await;
            store.close().await;
            let queue = queue?;
            if json {
                return print_json(&queue);
            }
            for e in &queue {
                print_entry(e);
                println!();
            }
            println!("{} Meldungen zur Prüfung", queue.len());
            return Ok(());
        }
        ReviewCommand::Show { data, report_id, json } => {
            let store = admin::open_store(&DataDir::new(&data.data)).await?;
            let entry = linking::review_entry(&store, &ReportId(report_id)).await;
            store.close().await;
            let entry = entry?;
            if json {
                return print_json(&entry);
            }
            print_entry(&entry);
            return Ok(());
        }
        ReviewCommand::Accept { data, report_id, child, decision } => {
            let child = child
                .map(|c| MeldeId::parse(&c).map_err(|_| ServiceError::Usage(format!("{c:?} ist keine Melde-ID."))))
                .transpose()?;
            (data, report_id, Verdict::Accept(child), decision)
        }
        ReviewCommand::Reject { data, report_id, decision } => (data, report_id, Verdict::Reject, decision),
        ReviewCommand::Reopen { data, report_id, decision } => (data, report_id, Verdict::Reopen, decision),
    };
    let on = decision.as_of.unwrap_or(today);
    if on > today {
        return Err(ServiceError::Usage("Eine Entscheidung kann nicht in der Zukunft liegen (--as-of).".into()));
    }
    let actor = decision.by.map_or(Actor::Operator, Actor::User);
    let store = admin::open_store(&DataDir::new(&data.data)).await?;
    let result =
        linking::decide(&store, &ReportId(report_id.clone()), &verdict, decision.version, on, &actor, now).await;
    store.close().await;
    let d = result?;
    match (&verdict, &d.melde_id) {
        (Verdict::Accept(_), Some(child)) => {
            println!("Meldung {report_id} dem Kind {child} zugeordnet (zählt ab {}).", d.effective)
        }
        (Verdict::Reject, _) => println!("Meldung {report_id}: keiner der Kandidaten; bleibt ohne Zuordnung."),
        _ => println!("Meldung {report_id} ist wieder zur Prüfung offen."),
    }
    Ok(())
}

/// `letters pdf ID --out FILE`: writes a stored letter.
pub async fn letter_pdf(data: &DataArg, id: &str, out: &PathBuf) -> Result<(), ServiceError> {
    let key = oegd_service::letters::parse_letter_id(id)?;
    let store = admin::open_store(&DataDir::new(&data.data)).await?;
    let pdf = store.letter_pdf(&key).await;
    store.close().await;
    let pdf = pdf?.ok_or_else(|| {
        ServiceError::NotFound(format!(
            "Brief {id} nicht gefunden (noch kein Tageslauf, oder keine solche Erinnerung)."
        ))
    })?;
    if pdf.is_empty() {
        return Err(ServiceError::NotFound(format!(
            "Brief {id}: nach Ablauf der Aufbewahrungsfrist gelöscht (die Erinnerung bleibt in der Statistik)."
        )));
    }
    std::fs::write(out, &pdf).map_err(|e| ServiceError::Usage(format!("{} nicht schreibbar: {e}", out.display())))?;
    println!("Brief {id} geschrieben: {} ({} Bytes)", out.display(), pdf.len());
    Ok(())
}
