//! The state office's start page and statistics, computed once per day and store version,
//! and shown for a while after reports arrived.
//!
//! Both evaluate the whole programme over the store, seconds at a state's size
//! (docs/PERFORMANCE.md), and staff open them again and again. So the last result is kept
//! with the day and the store's [`data_version`](Store::data_version) it was computed for,
//! and one computation of a view runs at a time: whoever asks meanwhile waits for its result
//! instead of starting a second one.
//!
//! During intake every report changes the store. A kept view of the same day stays on show
//! for up to [`MAX_STALENESS`] after its computation started, marked with that time on the
//! page, while a newer one is computed in the background, as long as the store's only
//! changes since are [`ARRIVALS`]: reports and the linker's decisions on them. Any other
//! change (a person's decision, a case outcome, the daily run, an import, an erasure) shows
//! at the next view, whichever server or command made it: the kinds of change come from the
//! store's audit chain ([`Store::changes_since`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use oegd_programme::Profile;
use oegd_store::Store;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::ServiceError;
use crate::linking::berlin_date;
use crate::office::{self, Figures};
use crate::overview::{self, Overview};

/// How long after its computation started a view is shown although reports arrived since.
pub const MAX_STALENESS: SignedDuration = SignedDuration::from_mins(5);

/// The kinds of change (audit actions) a kept view may not yet show: reports arriving and
/// the linker deciding them, and sessions, which no view shows.
pub const ARRIVALS: [&str; 4] = ["report.received", "link.linker_decided", "session.started", "session.ended"];

/// A view as computed: for which day and data version, and when its computation started
/// (the store as read then).
#[derive(Debug)]
pub struct Kept<T> {
    pub value: T,
    pub day: Date,
    pub version: i64,
    pub computed_at: Timestamp,
}

/// The last value computed of one view.
struct Memo<T> {
    kept: Arc<SyncMutex<Option<Arc<Kept<T>>>>>,
    /// Held by the one computation that runs.
    computing: Arc<Mutex<()>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo { kept: Arc::default(), computing: Arc::default() }
    }
}

impl<T: Send + Sync + 'static> Memo<T> {
    fn kept_for(&self, day: Date) -> Option<Arc<Kept<T>>> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.as_ref().filter(|k| k.day == day).cloned()
    }

    /// The value for `day`: the kept one if the store has not changed since, or if it is at
    /// most [`MAX_STALENESS`] old at `now` and only [`ARRIVALS`] came since (then a newer
    /// one is computed in the background); otherwise what `compute` makes of the store now.
    async fn get<S, F>(&self, store: &S, day: Date, now: Timestamp, compute: F) -> Result<Arc<Kept<T>>, ServiceError>
    where
        S: Store,
        F: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        // read before waiting: a value someone computed while we waited is recent enough,
        // so viewers arriving during a computation do not each compute again after it
        let asked = store.data_version().await?;
        if let Some(kept) = self.kept_for(day) {
            if kept.version >= asked {
                return Ok(kept);
            }
            let age = now.duration_since(kept.computed_at);
            if age >= SignedDuration::ZERO
                && age <= MAX_STALENESS
                && store.changes_since(kept.version).await?.iter().all(|c| ARRIVALS.contains(&c.as_str()))
            {
                if let Ok(computing) = Arc::clone(&self.computing).try_lock_owned() {
                    let refresh = self.compute_in_task(computing, store.clone(), day, now, compute);
                    tokio::spawn(async move {
                        // nobody waits for it; the next view after MAX_STALENESS would
                        let failed = match refresh.await {
                            Ok(Ok(_)) => return,
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                        };
                        tracing::warn!(error = %failed, "computing a newer office view failed");
                    });
                }
                return Ok(kept);
            }
        }
        let computing = Arc::clone(&self.computing).lock_owned().await;
        if let Some(kept) = self.kept_for(day)
            && kept.version >= asked
        {
            return Ok(kept);
        }
        let computation = self.compute_in_task(computing, store.clone(), day, now, compute);
        computation.await.map_err(|e| ServiceError::Internal(e.to_string()))?
    }

    /// Computes the view in a task of its own, holding `computing`: a viewer who leaves
    /// does not cancel a computation others wait for (nor leave the engine's blocking thread
    /// running while the next viewer starts another).
    fn compute_in_task<S, F>(
        &self,
        computing: OwnedMutexGuard<()>,
        store: S,
        day: Date,
        now: Timestamp,
        compute: F,
    ) -> tokio::task::JoinHandle<Result<Arc<Kept<T>>, ServiceError>>
    where
        S: Store,
        F: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        let slot = Arc::clone(&self.kept);
        tokio::spawn(async move {
            let _computing = computing;
            // read before the data `compute` reads: a change in between only makes the next
            // view compute again
            let version = store.data_version().await?;
            let kept = Arc::new(Kept { value: compute.await?, day, version, computed_at: now });
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&kept));
            Ok(kept)
        })
    }
}

/// The numbers of the state office's start page.
#[derive(Debug, Clone)]
pub struct StartPage {
    pub overview: Overview,
    /// What the next daily run would create, by kind ([`office::due_actions`]).
    pub due: BTreeMap<String, usize>,
}

/// The state office's views over the whole programme, shared by all requests of a server.
#[derive(Default)]
pub struct OfficeViews {
    start: Memo<StartPage>,
    figures: Memo<Figures>,
}

impl OfficeViews {
    /// The start page as of `now`'s day (Europe/Berlin).
    pub async fn start_page<S: Store>(
        &self,
        store: &S,
        profile: &Arc<Profile>,
        now: Timestamp,
    ) -> Result<Arc<Kept<StartPage>>, ServiceError> {
        let today = berlin_date(now);
        let (s, profile) = (store.clone(), Arc::clone(profile));
        self.start
            .get(store, today, now, async move {
                // read once for both
                let actions = Arc::new(s.actions(None).await?);
                let overview = overview::overview(&s, now, &actions).await?;
                let due = office::due_actions(&s, &profile, today, actions).await?;
                Ok(StartPage { overview, due })
            })
            .await
    }

    /// The statistics' series as of `now`'s day ([`office::figures`]).
    pub async fn figures<S: Store>(
        &self,
        store: &S,
        profile: &Arc<Profile>,
        now: Timestamp,
    ) -> Result<Arc<Kept<Figures>>, ServiceError> {
        let as_of = berlin_date(now);
        let (s, profile) = (store.clone(), Arc::clone(profile));
        self.figures.get(store, as_of, now, async move { office::figures(&s, &profile, as_of).await }).await
    }
}
