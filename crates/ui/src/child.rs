//! The state office's page of one child: the register's record, the check-up windows with
//! their states, and the timeline (`/kinder/{melde_id}`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use oegd_domain::MeldeId;
use oegd_programme::{CheckupState, ChildStatus, EventKind, Sex};
use oegd_service::child::{self, Event};
use oegd_store::{Actor, LinkState, UserRole};

use crate::UiState;
use crate::session::staff_in;
use crate::views::{Layout, UiError, de, page};

pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

pub struct CheckupRow {
    pub checkup: &'static str,
    pub regular: String,
    pub tolerance: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub dates: String,
}

pub struct Link {
    pub href: String,
    pub label: String,
}

pub struct TimelineRow {
    pub date: String,
    pub tag: &'static str,
    pub tag_class: &'static str,
    pub text: String,
    pub link: Option<Link>,
}

#[derive(Template)]
#[template(path = "child.html")]
pub struct ChildPage {
    pub l: Layout,
    pub melde_id: String,
    pub name: String,
    pub as_of: String,
    pub erased: bool,
    pub status: &'static str,
    pub facts: Vec<Fact>,
    pub checkups: Vec<CheckupRow>,
    pub timeline: Vec<TimelineRow>,
    pub in_review: Vec<String>,
}

fn state_label(s: CheckupState) -> (&'static str, &'static str) {
    match s {
        CheckupState::Fulfilled => ("erfüllt", "abgeschlossen"),
        CheckupState::AllClear => ("Entwarnung (späte Meldung)", "abgeschlossen"),
        CheckupState::Escalated => ("eskaliert", "offen"),
        CheckupState::NotTracked => ("nicht verfolgt (vor dem Zuzug)", "neutral"),
        CheckupState::Superseded => ("überholt (spätere Untersuchung gemeldet)", "neutral"),
        CheckupState::NoAction => ("keine Maßnahme (weggezogen oder verstorben)", "neutral"),
        CheckupState::Reminded => ("erinnert", "bearbeitung"),
        CheckupState::NotDue => ("noch offen", "neutral"),
    }
}

fn status_label(s: ChildStatus) -> &'static str {
    match s {
        ChildStatus::Active => "gemeldet",
        ChildStatus::MovedOut => "weggezogen",
        ChildStatus::Dead => "verstorben",
        ChildStatus::Deleted => "gelöscht (Ende der Aufbewahrungsfrist)",
    }
}

fn event_label(k: EventKind) -> &'static str {
    match k {
        EventKind::Geburt => "Geburt",
        EventKind::Zuzug => "Zuzug",
        EventKind::Aenderung => "Änderung",
        EventKind::Wegzug => "Wegzug",
        EventKind::Tod => "Tod",
    }
}

fn sex_label(s: Sex) -> &'static str {
    match s {
        Sex::Maennlich => "männlich",
        Sex::Weiblich => "weiblich",
        Sex::Divers => "divers",
        Sex::OhneAngabe => "ohne Angabe",
    }
}

fn checkup_name(c: Option<oegd_domain::Checkup>) -> &'static str {
    c.map_or("–", |c| c.name())
}

/// `/kinder/{melde_id}`: state office only; an unknown id is "not found".
pub async fn child_page(
    State(state): State<UiState>,
    headers: HeaderMap,
    Path(melde_id): Path<String>,
) -> Result<Response, UiError> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let melde_id = MeldeId::parse(&melde_id).map_err(|_| UiError::NotFound)?;
    let today = child::today(state.clock.now());
    let v = child::child(&state.store, &state.profile, &melde_id, today).await?;
    let dash = || "–".to_owned();
    let hidden_address = v.record.as_ref().is_some_and(|r| r.auskunftssperre);
    let office = |k: &Option<oegd_domain::Kreisschluessel>| {
        k.as_ref()
            .map_or_else(|| "dem Gesundheitsamt".to_owned(), |k| format!("{} (Kreis {k})", state.profile.office(k)))
    };

    let name = match &v.record {
        Some(r) if !r.family_name.is_empty() => format!("{} {}", r.given_names.join(" "), r.family_name),
        _ => "(Daten gelöscht)".to_owned(),
    };
    let mut facts = Vec::new();
    if let Some(r) = &v.record {
        facts.push(Fact { label: "Geburtsname", value: r.birth_name.clone().unwrap_or_else(dash) });
        facts.push(Fact { label: "Geburtsdatum", value: de(r.birth_date) });
        facts.push(Fact { label: "Geschlecht", value: sex_label(r.sex).to_owned() });
        facts.push(Fact {
            label: "Anschrift",
            value: if hidden_address {
                "Auskunftssperre: die Anschrift wird nicht angezeigt".to_owned()
            } else if r.address.city.is_empty() {
                dash()
            } else {
                format!("{} {}, {} {}", r.address.street, r.address.house_number, r.address.plz, r.address.city)
                    .trim()
                    .to_owned()
            },
        });
        facts.push(Fact {
            label: "Sorgeberechtigte",
            value: if r.guardians.is_empty() { dash() } else { r.guardians.join("; ") },
        });
    }
    if let Some(d) = &v.district {
        facts.push(Fact { label: "Kreis", value: format!("{d} · {}", state.profile.office(d)) });
    }
    if let Some(d) = v.tracked_from {
        facts.push(Fact { label: "Im Programm seit", value: de(d) });
    }
    if let Some(d) = v.exit_date {
        facts.push(Fact { label: "Abgang", value: de(d) });
    }
    if let Some(d) = v.deleted_on {
        facts.push(Fact { label: "Löschung der Daten", value: de(d) });
    }

    let checkups = v
        .checkups
        .iter()
        .map(|c| {
            let (state_text, class) = c.report.as_ref().map_or(("–", "neutral"), |r| state_label(r.state));
            let dates = c
                .report
                .as_ref()
                .map(|r| {
                    [
                        ("eingeladen", r.invited),
                        ("erinnert", r.reminded),
                        ("eskaliert", r.escalated),
                        ("Entwarnung", r.all_clear),
                        ("Meldung zugeordnet", r.linked),
                    ]
                    .iter()
                    .filter_map(|(label, d)| d.map(|d| format!("{label} {}", de(d))))
                    .collect::<Vec<_>>()
                    .join(", ")
                })
                .unwrap_or_default();
            CheckupRow {
                checkup: c.checkup.name(),
                regular: c.window.map_or_else(dash, |w| format!("{} – {}", de(w.regular_start), de(w.regular_end))),
                tolerance: c.window.map_or_else(dash, |w| de(w.tolerance_end)),
                state: state_text,
                state_class: class,
                dates,
            }
        })
        .collect();

    let timeline = v
        .timeline
        .iter()
        .map(|e| {
            let date = de(e.date);
            match &e.event {
                Event::Registration { kind, place, kreis } => {
                    let mut text = match kind {
                        EventKind::Geburt => "Geburt im Melderegister".to_owned(),
                        EventKind::Zuzug => "Zuzug in das Land".to_owned(),
                        EventKind::Aenderung => "Änderung von Name oder Anschrift".to_owned(),
                        EventKind::Wegzug => "Wegzug aus dem Land".to_owned(),
                        EventKind::Tod => "Tod".to_owned(),
                    };
                    match (place, kreis) {
                        (Some(p), Some(k)) if !hidden_address => text.push_str(&format!(": {p} (Kreis {k})")),
                        (_, Some(k)) => text.push_str(&format!(" (Kreis {k})")),
                        _ => {}
                    }
                    TimelineRow { date, tag: event_label(*kind), tag_class: "register", text, link: None }
                }
                Event::Report(r) => {
                    let by = if r.decided_by == Actor::System.to_string() {
                        "automatisch zugeordnet".to_owned()
                    } else {
                        format!("zugeordnet von {}", r.decided_by.trim_start_matches("user:"))
                    };
                    let how = match r.source {
                        oegd_store::ReportSource::Api => "über die Schnittstelle",
                        oegd_store::ReportSource::WebForm => "über das Meldeformular",
                        oegd_store::ReportSource::Import => "als Import",
                    };
                    let practice = r.practice.clone().unwrap_or_else(|| "(Name gelöscht)".to_owned());
                    let confirmed = if r.state == LinkState::Confirmed {
                        format!("; zählt ab {}", de(r.effective))
                    } else {
                        String::new()
                    };
                    TimelineRow {
                        date,
                        tag: "Meldung",
                        tag_class: "meldung",
                        text: format!(
                            "{} am {} in {} ({}), {how} eingegangen; {by}{confirmed}",
                            r.checkup.name(),
                            de(r.exam_date),
                            practice,
                            r.sender,
                        ),
                        link: Some(Link {
                            href: format!("/pruefung/{}", r.report_id.0),
                            label: format!("Meldung {} ansehen", r.checkup.name()),
                        }),
                    }
                }
                Event::Letter { kind, checkup, letter_id, pdf } => {
                    let what = if kind == "invitation" { "Einladung" } else { "Erinnerung" };
                    TimelineRow {
                        date,
                        tag: "Brief",
                        tag_class: "brief",
                        text: format!("{what} zur {} an die Sorgeberechtigten", checkup_name(*checkup)),
                        link: pdf.then(|| Link {
                            href: format!("/briefe/{letter_id}.pdf"),
                            label: format!("{what} {} (PDF)", checkup_name(*checkup)),
                        }),
                    }
                }
                Event::Escalation { checkup, district } => TimelineRow {
                    date,
                    tag: "Eskalation",
                    tag_class: "eskalation",
                    text: format!(
                        "{} nicht wahrgenommen: Fall an {} übergeben",
                        checkup_name(*checkup),
                        office(district)
                    ),
                    link: None,
                },
                Event::AllClear { checkup, district } => TimelineRow {
                    date,
                    tag: "Entwarnung",
                    tag_class: "entwarnung",
                    text: format!(
                        "Späte Meldung der {} nach der Eskalation: Entwarnung an {}",
                        checkup_name(*checkup),
                        office(district)
                    ),
                    link: None,
                },
                Event::Deletion => TimelineRow {
                    date,
                    tag: "Löschung",
                    tag_class: "register",
                    text: "Ende der Aufbewahrungsfrist: personenbezogene Daten werden gelöscht".to_owned(),
                    link: None,
                },
            }
        })
        .collect();

    Ok(page(&ChildPage {
        l: Layout::for_staff("Kind", &s, "/pruefung"),
        melde_id: v.melde_id.to_string(),
        name,
        as_of: de(v.as_of),
        erased: v.erased,
        status: v.status.map_or("noch nicht im Programm", status_label),
        facts,
        checkups,
        timeline,
        in_review: v.in_review.iter().map(|r| r.0.clone()).collect(),
    }))
}
