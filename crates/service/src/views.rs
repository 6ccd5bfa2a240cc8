//! The state office's start page and statistics, computed once per day and store version.
//!
//! Both evaluate the whole programme over the store, seconds at a state's size
//! (docs/PERFORMANCE.md), and staff open them again and again between two changes. So the
//! last result is kept with the day and the store's [`data_version`](Store::data_version)
//! it was computed for, and one request at a time computes a view: whoever asks meanwhile
//! waits for that result instead of computing it a second time.

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

/// The last value computed, with the day and data version it holds for.
struct Memo<T> {
    slot: Mutex<Option<(Date, i64, Arc<T>)>>,
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo { slot: Mutex::new(None) }
    }
}

impl<T> Memo<T> {
    async fn get<S, F>(&self, store: &S, day: Date, compute: impl FnOnce() -> F) -> Result<Arc<T>, ServiceError>
    where
        S: Store,
        F: Future<Output = Result<T, ServiceError>>,
    {
        // held while computing: this is what makes the others wait for one result
        let mut slot = self.slot.lock().await;
        // read before the data the value is computed from: a change in between only makes
        // the next view compute again
        let version = store.data_version().await?;
        if let Some((d, v, value)) = slot.as_ref()
            && (*d, *v) == (day, version)
        {
            return Ok(Arc::clone(value));
        }
        let value = Arc::new(compute().await?);
        *slot = Some((day, version, Arc::clone(&value)));
        Ok(value)
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
        profile: &Profile,
        now: Timestamp,
    ) -> Result<Arc<StartPage>, ServiceError> {
        let today = berlin_date(now);
        self.start
            .get(store, today, || async move {
                let actions = Arc::new(store.actions(None).await?);
                let (overview, due) = tokio::try_join!(
                    overview::overview(store, now, &actions),
                    office::due_actions(store, profile, today, Arc::clone(&actions))
                )?;
                Ok(StartPage { overview, due })
            })
            .await
    }

    /// The statistics' series as of `as_of` ([`office::figures`]).
    pub async fn figures<S: Store>(
        &self,
        store: &S,
        profile: &Profile,
        as_of: Date,
    ) -> Result<Arc<Figures>, ServiceError> {
        self.figures.get(store, as_of, || office::figures(store, profile, as_of)).await
    }
}
