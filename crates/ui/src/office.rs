//! The state office's lists and figures: charts (`/statistik`), the report search
//! (`/suche`), escalations by district (`/eskalationen`), letters (`/briefe`), each list also
//! as CSV (`?format=csv`), and the review queue as CSV (`/pruefung/export.csv`).

use std::collections::BTreeSet;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::civil::Date;
use oegd_service::cases::Outcome;
use oegd_service::office::{self, Figures, ReportQuery, Share};
use oegd_service::office_views::Kept;
use oegd_store::{LinkState, UserRole};
use serde::Deserialize;

use crate::UiState;
use crate::charts::{self, Chart, Series, de_num};
use crate::export::Csv;
use crate::session::staff_in;
use crate::views::{Layout, UiError, de, de_time, page};

type Result<T> = std::result::Result<T, UiError>;

/// Rows per page of a list.
pub const PAGE: usize = 50;

fn wants_csv(format: Option<&str>) -> bool {
    format == Some("csv")
}

/// A day as typed: `TT.MM.JJJJ` or `JJJJ-MM-TT`; empty is none.
fn parse_day(s: Option<&str>, what: &'static str) -> Result<Option<Date>> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let parsed = if let Some((d, rest)) = s.split_once('.') {
        rest.split_once('.').and_then(|(m, y)| Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok())
    } else {
        s.parse().ok()
    };
    parsed.map(Some).ok_or(UiError::BadRequest(what))
}

fn link_label(s: LinkState) -> &'static str {
    match s {
        LinkState::Linked => "zugeordnet",
        LinkState::Confirmed => "zugeordnet (Person)",
        LinkState::Review => "in Prüfung",
        LinkState::Unlinked => "ohne Zuordnung",
        LinkState::Rejected => "abgelehnt",
    }
}

/// A page of a list: which rows, and the links to the neighbours.
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub total: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// `base` is the list's URL with its query but without `seite`.
pub fn pager(total: usize, page: Option<usize>, base: &str) -> (Pager, std::ops::Range<usize>) {
    let pages = total.div_ceil(PAGE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let sep = if base.contains('?') { '&' } else { '?' };
    let link = |p: usize| format!("{base}{sep}seite={p}");
    let range = (page - 1) * PAGE..(page * PAGE).min(total);
    (
        Pager {
            page,
            pages,
            total,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        },
        range,
    )
}

/// Query-string encoding of a form value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// --- charts ---------------------------------------------------------------------------------

pub struct Figure {
    pub svg: String,
    pub csv: &'static str,
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "statistik.html")]
pub struct StatistikPage {
    pub l: Layout,
    /// When these figures were computed (`office_views::MAX_STALENESS`).
    pub computed_at: String,
    pub median: String,
    pub late: usize,
    pub figures: Vec<(&'static str, Figure)>,
}

#[derive(Deserialize)]
pub struct SeriesQuery {
    reihe: Option<String>,
}

fn pct(s: Option<&Share>) -> Option<f64> {
    s.and_then(|s| s.percent())
}

fn pct_text(s: Option<&Share>) -> String {
    s.and_then(|s| s.percent().map(|p| format!("{} % ({}/{})", de_num(p, 1), s.reported, s.due)))
        .unwrap_or_else(|| "–".into())
}

/// The four series as tables: (name, header, rows).
fn tables(f: &Figures) -> Vec<(&'static str, Vec<String>, Vec<Vec<String>>)> {
    let districts: Vec<_> = f.participation_by_quarter.keys().cloned().collect();
    let quarters: BTreeSet<String> = f.participation_by_quarter.values().flat_map(|m| m.keys().cloned()).collect();
    let mut head = vec!["Quartal".to_owned()];
    head.extend(districts.iter().map(|d| format!("Kreis {d}")));
    let rows = quarters
        .iter()
        .map(|q| {
            let mut r = vec![q.clone()];
            r.extend(districts.iter().map(|d| pct_text(f.participation_by_quarter.get(d).and_then(|m| m.get(q)))));
            r
        })
        .collect();
    let teilnahme = ("teilnahme", head, rows);

    let checkups: BTreeSet<_> = f.participation_by_checkup.values().flat_map(|m| m.keys().copied()).collect();
    let mut head = vec!["Untersuchung".to_owned()];
    head.extend(districts.iter().map(|d| format!("Kreis {d}")));
    let rows = checkups
        .iter()
        .map(|c| {
            let mut r = vec![c.name().to_owned()];
            r.extend(districts.iter().map(|d| pct_text(f.participation_by_checkup.get(d).and_then(|m| m.get(c)))));
            r
        })
        .collect();
    let untersuchung = ("untersuchung", head, rows);

    let briefe = (
        "briefe",
        vec!["Monat".to_owned(), "Erinnerungen".to_owned(), "Eskalationen".to_owned()],
        f.letters_by_month.iter().map(|(m, (r, e))| vec![m.clone(), r.to_string(), e.to_string()]).collect(),
    );
    let verzug = (
        "verzug",
        vec!["Monat des Eingangs".to_owned(), "Median Tage".to_owned(), "Meldungen".to_owned()],
        f.delay_by_month.iter().map(|(m, (d, n))| vec![m.clone(), de_num(*d, 1), n.to_string()]).collect(),
    );
    vec![teilnahme, untersuchung, briefe, verzug]
}

async fn figures(state: &UiState) -> Result<Arc<Kept<Figures>>> {
    Ok(state.office_views.figures(&state.store, &state.profile, state.clock.now()).await?)
}

pub async fn statistik(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let kept = figures(&state).await?;
    let f = &kept.value;
    let mut tables = tables(f).into_iter();
    let districts: Vec<_> = f.participation_by_quarter.keys().cloned().collect();
    let mut out = Vec::new();

    let quarters: Vec<String> = {
        let all: BTreeSet<String> = f.participation_by_quarter.values().flat_map(|m| m.keys().cloned()).collect();
        all.into_iter().collect()
    };
    let series: Vec<Series> = districts
        .iter()
        .map(|d| Series {
            name: format!("Kreis {d}"),
            values: quarters.iter().map(|q| pct(f.participation_by_quarter.get(d).and_then(|m| m.get(q)))).collect(),
        })
        .collect();
    let svg = charts::line_chart(&Chart {
        id: "teilnahme",
        title: "Teilnahme je Kreis über die Zeit",
        desc: "Anteil der gemeldeten Früherkennungsuntersuchungen an den fälligen, je Kreis und Quartal, in dem das Untersuchungsfenster endete. Die Zahlen stehen auch in der Tabelle darunter.",
        x_label: "Quartal (Ende des Untersuchungsfensters)",
        y_label: "Teilnahme in Prozent",
        categories: &quarters,
        series: &series,
        y_max: Some(100.0),
    });
    if let Some((csv, head, rows)) = tables.next() {
        out.push(("Teilnahme je Kreis über die Zeit", Figure { svg, csv, head, rows }));
    }

    let checkups: Vec<_> = {
        let all: BTreeSet<_> = f.participation_by_checkup.values().flat_map(|m| m.keys().copied()).collect();
        all.into_iter().collect()
    };
    let names: Vec<String> = checkups.iter().map(|c| c.name().to_owned()).collect();
    let series: Vec<Series> = districts
        .iter()
        .map(|d| Series {
            name: format!("Kreis {d}"),
            values: checkups.iter().map(|c| pct(f.participation_by_checkup.get(d).and_then(|m| m.get(c)))).collect(),
        })
        .collect();
    let svg = charts::bar_chart(&Chart {
        id: "untersuchung",
        title: "Teilnahme je Kreis und Untersuchung",
        desc: "Anteil der gemeldeten an den fälligen Untersuchungen je Untersuchung (U2 bis U9) und Kreis, über den ganzen Zeitraum.",
        x_label: "Untersuchung",
        y_label: "Teilnahme in Prozent",
        categories: &names,
        series: &series,
        y_max: Some(100.0),
    });
    if let Some((csv, head, rows)) = tables.next() {
        out.push(("Teilnahme je Kreis und Untersuchung", Figure { svg, csv, head, rows }));
    }

    let months: Vec<String> = f.letters_by_month.keys().cloned().collect();
    let series = vec![
        Series {
            name: "Erinnerungen".into(),
            values: f.letters_by_month.values().map(|(r, _)| Some(*r as f64)).collect(),
        },
        Series {
            name: "Eskalationen".into(),
            values: f.letters_by_month.values().map(|(_, e)| Some(*e as f64)).collect(),
        },
    ];
    let svg = charts::bar_chart(&Chart {
        id: "briefe",
        title: "Erinnerungen und Eskalationen je Monat",
        desc: "Anzahl der Erinnerungsschreiben an Eltern und der Eskalationen an Gesundheitsämter je Monat, in dem der Tageslauf sie erstellt hat.",
        x_label: "Monat",
        y_label: "Anzahl",
        categories: &months,
        series: &series,
        y_max: None,
    });
    if let Some((csv, head, rows)) = tables.next() {
        out.push(("Erinnerungen und Eskalationen je Monat", Figure { svg, csv, head, rows }));
    }

    let months: Vec<String> = f.delay_by_month.keys().cloned().collect();
    let series =
        vec![Series { name: "Median".into(), values: f.delay_by_month.values().map(|(d, _)| Some(*d)).collect() }];
    let svg = charts::line_chart(&Chart {
        id: "verzug",
        title: "Median der Tage von der Untersuchung bis zur Meldung",
        desc: "Je Monat des Eingangs der Median der Tage zwischen Untersuchungsdatum und Eingang der Meldung beim Gateway.",
        x_label: "Monat des Eingangs",
        y_label: "Tage (Median)",
        categories: &months,
        series: &series,
        y_max: None,
    });
    if let Some((csv, head, rows)) = tables.next() {
        out.push(("Median der Tage von der Untersuchung bis zur Meldung", Figure { svg, csv, head, rows }));
    }

    Ok(page(&StatistikPage {
        l: Layout::for_staff("Statistik", &s, "/statistik"),
        computed_at: de_time(kept.computed_at),
        median: f.median_delay_days.map_or_else(|| "–".into(), |d| de_num(d, 1)),
        late: f.late_after_escalation,
        figures: out,
    }))
}

/// `/statistik.csv?reihe=teilnahme|untersuchung|briefe|verzug`
pub async fn statistik_csv(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<SeriesQuery>,
) -> Result<Response> {
    staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let kept = figures(&state).await?;
    let f = &kept.value;
    let wanted = q.reihe.unwrap_or_default();
    let (name, head, rows) =
        tables(f).into_iter().find(|(n, _, _)| *n == wanted).ok_or(UiError::BadRequest("Unbekannte Zahlenreihe."))?;
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut csv = Csv::new(&head);
    for r in rows {
        csv.row(r);
    }
    Ok(csv.into_response(&format!("statistik-{name}.csv")))
}

// --- report search ------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    name: Option<String>,
    geburtsdatum: Option<String>,
    praxis: Option<String>,
    von: Option<String>,
    bis: Option<String>,
    seite: Option<usize>,
    format: Option<String>,
}

pub struct ReportView {
    pub id: String,
    pub received: String,
    pub checkup: &'static str,
    pub exam_date: String,
    pub name: String,
    pub birth_date: String,
    pub sender: String,
    pub link: &'static str,
    pub link_href: Option<String>,
    pub melde_id: String,
}

#[derive(Template)]
#[template(path = "suche.html")]
pub struct SuchePage {
    pub l: Layout,
    pub name: String,
    pub geburtsdatum: String,
    pub praxis: String,
    pub von: String,
    pub bis: String,
    pub searched: bool,
    pub csv_href: String,
    pub rows: Vec<ReportView>,
    pub pager: Pager,
}

pub async fn search(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let query = ReportQuery {
        name: q.name.clone(),
        birth_date: parse_day(q.geburtsdatum.as_deref(), "Das Geburtsdatum ist nicht lesbar (TT.MM.JJJJ).")?,
        practice: q.praxis.clone(),
        from: parse_day(q.von.as_deref(), "Das Datum „von“ ist nicht lesbar (TT.MM.JJJJ).")?,
        to: parse_day(q.bis.as_deref(), "Das Datum „bis“ ist nicht lesbar (TT.MM.JJJJ).")?,
    };
    if wants_csv(q.format.as_deref()) {
        let rows = office::search_reports(&state.store, &query).await?;
        let mut csv = Csv::new(&[
            "Meldungs-ID",
            "Eingang",
            "Untersuchung",
            "Untersuchungsdatum",
            "Vorname",
            "Familienname",
            "Geburtsdatum",
            "Absender",
            "Absender-Name",
            "Zuordnung",
            "Melde-ID",
        ]);
        for r in rows {
            csv.row([
                r.id.0,
                r.received.to_string(),
                r.checkup.name().to_owned(),
                r.exam_date.to_string(),
                r.given_name,
                r.family_name,
                r.birth_date.to_string(),
                r.sender.to_string(),
                r.sender_name,
                link_label(r.link).to_owned(),
                r.melde_id.map(|m| m.to_string()).unwrap_or_default(),
            ]);
        }
        return Ok(csv.into_response("meldungen.csv"));
    }
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    let params = [
        ("name", text(&q.name)),
        ("geburtsdatum", text(&q.geburtsdatum)),
        ("praxis", text(&q.praxis)),
        ("von", text(&q.von)),
        ("bis", text(&q.bis)),
    ];
    let query_string: Vec<String> =
        params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", enc(v))).collect();
    let base = if query_string.is_empty() { "/suche".to_owned() } else { format!("/suche?{}", query_string.join("&")) };
    // Only the page is kept (the search counts the rest); a page past the end, known only
    // afterwards, is searched again as the last one.
    let wanted = q.seite.unwrap_or(1).max(1);
    let at_page = |p: usize| (p - 1).saturating_mul(PAGE)..p.saturating_mul(PAGE);
    let mut found = office::search_reports_page(&state.store, &query, at_page(wanted)).await?;
    let (mut pager, _) = pager(found.total, Some(wanted), &base);
    if pager.page != wanted && found.total > 0 {
        found = office::search_reports_page(&state.store, &query, at_page(pager.page)).await?;
        // (reports may have come in meanwhile: the pager counts what the rows were taken from)
        pager = self::pager(found.total, Some(pager.page), &base).0;
    }
    let views = found
        .rows
        .iter()
        .map(|r| ReportView {
            id: r.id.0.clone(),
            received: de(r.received),
            checkup: r.checkup.name(),
            exam_date: de(r.exam_date),
            name: format!("{} {}", r.given_name, r.family_name),
            birth_date: de(r.birth_date),
            sender: if r.sender_name.is_empty() { r.sender.to_string() } else { r.sender_name.clone() },
            link: link_label(r.link),
            link_href: matches!(r.link, LinkState::Review).then(|| format!("/pruefung/{}", r.id.0)),
            melde_id: r.melde_id.as_ref().map(|m| m.to_string()).unwrap_or_default(),
        })
        .collect();
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(page(&SuchePage {
        l: Layout::for_staff("Meldungen", &s, "/suche"),
        searched: !query_string.is_empty(),
        csv_href: format!("{base}{sep}format=csv"),
        name: text(&q.name),
        geburtsdatum: text(&q.geburtsdatum),
        praxis: text(&q.praxis),
        von: text(&q.von),
        bis: text(&q.bis),
        rows: views,
        pager,
    }))
}

// --- escalations by district --------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ListQuery {
    kreis: Option<String>,
    seite: Option<usize>,
    format: Option<String>,
}

pub struct EscalationView {
    pub melde_id: String,
    pub checkup: &'static str,
    pub escalated_on: String,
    pub all_clear: String,
    pub outcome: String,
}

pub struct DistrictView {
    pub kreis: String,
    pub office: String,
    pub total: usize,
    pub open: usize,
    pub cleared: usize,
    pub rows: Vec<EscalationView>,
}

#[derive(Template)]
#[template(path = "eskalationen.html")]
pub struct EskalationenPage {
    pub l: Layout,
    pub districts: Vec<DistrictView>,
    pub total: usize,
}

fn outcome_label(o: Option<&str>) -> String {
    o.map_or_else(|| "–".into(), |o| Outcome::parse(o).map_or_else(|| o.to_owned(), |x| x.label().to_owned()))
}

pub async fn escalations(
    State(state): State<UiState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let mut by_district = office::escalations_by_district(&state.store).await?;
    if let Some(k) = q.kreis.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        by_district.retain(|d, _| d.as_str() == k);
    }
    if wants_csv(q.format.as_deref()) {
        let mut csv =
            Csv::new(&["Kreis", "Melde-ID", "Untersuchung", "Eskaliert am", "Entwarnung am", "Letztes Ergebnis"]);
        for rows in by_district.values() {
            for r in rows {
                csv.row([
                    r.district.to_string(),
                    r.melde_id.to_string(),
                    r.checkup.name().to_owned(),
                    r.escalated_on.to_string(),
                    r.all_clear.map(|d| d.to_string()).unwrap_or_default(),
                    outcome_label(r.last_outcome.as_deref()),
                ]);
            }
        }
        return Ok(csv.into_response("eskalationen.csv"));
    }
    let offices = state.store_offices().await?;
    let total = by_district.values().map(Vec::len).sum();
    let districts = by_district
        .into_iter()
        .map(|(k, rows)| DistrictView {
            office: offices.iter().find(|(ks, _)| ks.contains(&k)).map(|(_, n)| n.clone()).unwrap_or_default(),
            kreis: k.to_string(),
            total: rows.len(),
            open: rows.iter().filter(|r| r.all_clear.is_none()).count(),
            cleared: rows.iter().filter(|r| r.all_clear.is_some()).count(),
            rows: rows
                .iter()
                .map(|r| EscalationView {
                    melde_id: r.melde_id.to_string(),
                    checkup: r.checkup.name(),
                    escalated_on: de(r.escalated_on),
                    all_clear: r.all_clear.map(de).unwrap_or_else(|| "–".into()),
                    outcome: outcome_label(r.last_outcome.as_deref()),
                })
                .collect(),
        })
        .collect();
    Ok(page(&EskalationenPage { l: Layout::for_staff("Eskalationen", &s, "/eskalationen"), districts, total }))
}

// --- letters --------------------------------------------------------------------------------

pub struct LetterView {
    pub href: String,
    pub kind: &'static str,
    pub melde_id: String,
    pub checkup: &'static str,
    pub created: String,
    pub district: String,
}

#[derive(Template)]
#[template(path = "briefe.html")]
pub struct BriefePage {
    pub l: Layout,
    pub rows: Vec<LetterView>,
    pub pager: Pager,
}

fn letter_kind(kind: &str) -> &'static str {
    match kind {
        "reminder" => "Erinnerung",
        "invitation" => "Einladung",
        _ => "Brief",
    }
}

pub async fn letters(State(state): State<UiState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Result<Response> {
    let s = staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let mut rows = office::letters(&state.store).await?;
    if let Some(k) = q.kreis.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        rows.retain(|r| r.district.as_ref().is_some_and(|d| d.as_str() == k));
    }
    if wants_csv(q.format.as_deref()) {
        let mut csv = Csv::new(&["Brief-ID", "Art", "Melde-ID", "Untersuchung", "Erstellt am", "Kreis"]);
        for r in rows {
            csv.row([
                r.id.clone(),
                letter_kind(&r.kind).to_owned(),
                r.melde_id.to_string(),
                r.checkup.map(|c| c.name().to_owned()).unwrap_or_default(),
                r.created.to_string(),
                r.district.map(|d| d.to_string()).unwrap_or_default(),
            ]);
        }
        return Ok(csv.into_response("briefe.csv"));
    }
    let base = match q.kreis.as_deref().filter(|k| !k.is_empty()) {
        Some(k) => format!("/briefe?kreis={}", enc(k)),
        None => "/briefe".to_owned(),
    };
    let (pager, range) = pager(rows.len(), q.seite, &base);
    let views = rows
        .get(range)
        .unwrap_or_default()
        .iter()
        .map(|r| LetterView {
            href: format!("/briefe/{}.pdf", r.id),
            kind: letter_kind(&r.kind),
            melde_id: r.melde_id.to_string(),
            checkup: r.checkup.map_or("", |c| c.name()),
            created: de(r.created),
            district: r.district.as_ref().map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    Ok(page(&BriefePage { l: Layout::for_staff("Briefe", &s, "/briefe"), rows: views, pager }))
}

// --- the review queue as CSV --------------------------------------------------------------

pub async fn queue_csv(State(state): State<UiState>, headers: HeaderMap) -> Result<Response> {
    staff_in(&state, &headers, &[UserRole::Landesamt]).await?;
    let entries = oegd_service::linking::review_queue(&state.store).await?;
    let mut csv = Csv::new(&[
        "Meldungs-ID",
        "Eingang",
        "Untersuchung",
        "Vorname",
        "Familienname",
        "Geburtsdatum",
        "Kandidaten",
        "Bester Wert",
    ]);
    for e in entries {
        csv.row([
            e.report_id.0.clone(),
            e.received.to_string(),
            e.untersuchung.name().to_owned(),
            e.reported.given_name.clone(),
            e.reported.family_name.clone(),
            e.reported.birth_date.to_string(),
            e.candidates.len().to_string(),
            e.candidates.first().map(|c| de_num(c.score, 2)).unwrap_or_default(),
        ]);
    }
    Ok(csv.into_response("pruefung.csv"))
}

impl UiState {
    /// The health offices: their districts and names.
    async fn store_offices(&self) -> Result<Vec<(Vec<oegd_domain::Kreisschluessel>, String)>> {
        Ok(oegd_store::Store::organisations(&self.store)
            .await?
            .into_iter()
            .filter(|o| !o.kreise.is_empty())
            .map(|o| (o.kreise, o.name))
            .collect())
    }
}
