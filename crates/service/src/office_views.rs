//! The state office's start page and statistics, computed once per day and store version.
//!
//! Both evaluate the whole programme over the store, seconds at a state's size
//! (docs/PERFORMANCE.md), and staff open them again and again between two changes. So the
//! last result is kept with the day and the store's [`data_version`](Store::data_version)
//! it was computed for, and one computation of a view runs at a time: whoever asks meanwhile
//! waits for its result instead of starting a second one.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use oegd_programme::Profile;
use oegd_store::Store;
use tokio::sync::Mutex;

use crate::ServiceError;
use crate::linking::berlin_date;
use crate::office::{self, Figures};
use crate::overview::{self, Overview};

/// A kept value, with the day and the data version it was computed for.
type Kept<T> = Option<(Date, i64, Arc<T>)>;

/// The last value computed of one view.
struct Memo<T> {
    slot: Arc<Mutex<Kept<T>>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo { slot: Arc::new(Mutex::new(None)) }
    }
}

impl<T: Send + Sync + 'static> Memo<T> {
    /// The value for `day`, as current as the store when this was called: the kept one if
    /// the store has not changed since, otherwise what `compute` makes of the store now.
    async fn get<S, F>(&self, store: &S, day: Date, compute: F) -> Result<Arc<T>, ServiceError>
    where
        S: Store,
        F: Future<Output = Result<T, ServiceError>> + Send + 'static,
    {
        // read before waiting: a value someone computed while we waited is recent enough,
        // so viewers arriving during a computation do not each compute again after it
        let asked = store.data_version().await?;
        let mut slot = Arc::clone(&self.slot).lock_owned().await;
        if let Some((d, v, value)) = slot.as_ref()
            && *d == day
            && *v >= asked
        {
            return Ok(Arc::clone(value));
        }
        let store = store.clone();
        // a task of its own, holding the lock: a viewer who leaves does not cancel a
        // computation others wait for (nor leave the engine's blocking thread running
        // while the next viewer starts another)
        let computation = tokio::spawn(async move {
            // read before the data `compute` reads: a change in between only makes the next
            // view compute again
            let version = store.data_version().await?;
            let value = Arc::new(compute.await?);
            *slot = Some((day, version, Arc::clone(&value)));
            Ok(value)
        });
        computation.await.map_err(|e| ServiceError::Internal(e.to_string()))?
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
    ) -> Result<Arc<StartPage>, ServiceError> {
        let today = berlin_date(now);
        let (s, profile) = (store.clone(), Arc::clone(profile));
        self.start
            .get(store, today, async move {
                // read once for both
                let actions = Arc::new(s.actions(None).await?);
                let overview = overview::overview(&s, now, &actions).await?;
                let due = office::due_actions(&s, &profile, today, actions).await?;
                Ok(StartPage { overview, due })
            })
            .await
    }

    /// The statistics' series as of `as_of` ([`office::figures`]).
    pub async fn figures<S: Store>(
        &self,
        store: &S,
        profile: &Arc<Profile>,
        as_of: Date,
    ) -> Result<Arc<Figures>, ServiceError> {
        let (s, profile) = (store.clone(), Arc::clone(profile));
        self.figures.get(store, as_of, async move { office::figures(&s, &profile, as_of).await }).await
    }
}
