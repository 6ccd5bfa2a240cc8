//! The state office's programme at a glance: the numbers of its start page.

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_store::{LinkState, ProgrammeAction, ReportFilter, Store};

use crate::ServiceError;
use crate::linking::berlin_date;

/// The start page's numbers.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overview {
    pub today: Option<Date>,
    /// Monday of the current week (Europe/Berlin).
    pub week_start: Option<Date>,
    pub reports_this_week: usize,
    pub reports_total: usize,
    pub review_queue: usize,
    /// The latest day a daily run created letters or escalations.
    pub last_run: Option<Date>,
    pub last_run_reminders: usize,
    pub last_run_invitations: usize,
    pub last_run_escalations: usize,
    /// Escalations without an all-clear.
    pub open_escalations: usize,
    /// Late reports after an escalation (all-clears): in total and in the last 30 days.
    pub all_clears: usize,
    pub all_clears_30_days: usize,
}

/// The start page's numbers as of `now`, with the recorded `actions` (all of them: the start
/// page counts what is due against them too, so it reads them once for both).
pub async fn overview<S: Store>(
    store: &S,
    now: Timestamp,
    actions: &[ProgrammeAction],
) -> Result<Overview, ServiceError> {
    let today = berlin_date(now);
    let back = i64::from(today.weekday().to_monday_zero_offset());
    let week_start = today.checked_sub(jiff::Span::new().days(back)).unwrap_or(today);
    let reports = store.reports(&ReportFilter::default()).await?;
    let reports_this_week = reports.iter().filter(|r| berlin_date(r.received_at) >= week_start).count();
    let review_queue = store.link_decisions(Some(LinkState::Review)).await?.len();
    let last_run = actions
        .iter()
        .filter(|a| matches!(a.kind.as_str(), "reminder" | "invitation" | "escalation"))
        .map(|a| a.created)
        .max();
    let on_last = |kind: &str| actions.iter().filter(|a| a.kind == kind && Some(a.created) == last_run).count();
    let cleared: std::collections::BTreeSet<_> =
        actions.iter().filter(|a| a.kind == "all_clear").map(|a| (a.melde_id.clone(), a.checkup)).collect();
    let open_escalations = actions
        .iter()
        .filter(|a| a.kind == "escalation" && !cleared.contains(&(a.melde_id.clone(), a.checkup)))
        .count();
    let month_ago = today.checked_sub(jiff::Span::new().days(30)).unwrap_or(today);
    Ok(Overview {
        today: Some(today),
        week_start: Some(week_start),
        reports_this_week,
        reports_total: reports.len(),
        review_queue,
        last_run,
        last_run_reminders: on_last("reminder"),
        last_run_invitations: on_last("invitation"),
        last_run_escalations: on_last("escalation"),
        open_escalations,
        all_clears: cleared.len(),
        all_clears_30_days: actions.iter().filter(|a| a.kind == "all_clear" && a.created > month_ago).count(),
    })
}
