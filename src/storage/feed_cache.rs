//! A short-lived in-process cache of feed pages.
//!
//! Every reader with the same selection sees the same page, and feed reads already tolerate
//! replica lag, so a page may be served for up to the TTL (1 s by default) after it was read.
//! Sessions and preferences are never cached: a logout or a saved selection still takes
//! effect on the next request on every instance, because the selection is part of the key.
//! Concurrent misses on one key wait for a single query instead of each running it.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::{Error, FeedPage};
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::vocab::Dimension;

/// Bounds memory: a page is ~30 articles (~20 KiB), so a few MiB at most.
const MAX_ENTRIES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The selection with each dimension's codes sorted: order does not change the result.
    codes: [Vec<&'static str>; 3],
    after: Option<(i64, i64)>,
    limit: u32,
}

impl Key {
    fn new(filter: &FeedFilter, after: Option<Cursor>, limit: u32) -> Self {
        let codes = Dimension::ALL.map(|d| {
            let mut v = filter.get(d).to_vec();
            v.sort_unstable();
            v
        });
        Key {
            codes,
            after: after.map(|c| (c.published_at, c.id)),
            limit,
        }
    }
}

struct Slot {
    created: Instant,
    page: Arc<OnceCell<Arc<FeedPage>>>,
}

#[derive(Default)]
pub(crate) struct FeedCache {
    ttl: Duration,
    slots: Mutex<HashMap<Key, Slot>>,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl FeedCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    /// The cached page for this query, or the one `load` reads (once, however many requests
    /// ask meanwhile). Failed loads are not cached.
    pub(crate) async fn get_or_load<F, Fut>(
        &self,
        filter: &FeedFilter,
        after: Option<Cursor>,
        limit: u32,
        load: F,
    ) -> Result<Arc<FeedPage>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<FeedPage, Error>>,
    {
        if self.ttl.is_zero() {
            return load().await.map(Arc::new);
        }
        let cell = self.slot(Key::new(filter, after, limit));
        if let Some(page) = cell.get() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(page.clone());
        }
        let mut loaded = false;
        let page = cell
            .get_or_try_init(|| {
                loaded = true;
                async { load().await.map(Arc::new) }
            })
            .await?;
        let counter = if loaded { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(page.clone())
    }

    /// The fresh slot for `key`, made (and the map pruned) when there is none.
    fn slot(&self, key: Key) -> Arc<OnceCell<Arc<FeedPage>>> {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-insert: the map is intact.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get(&key) {
            if now.duration_since(slot.created) < self.ttl {
                return slot.page.clone();
            }
        }
        if slots.len() >= MAX_ENTRIES {
            slots.retain(|_, s| now.duration_since(s.created) < self.ttl);
            if slots.len() >= MAX_ENTRIES {
                if let Some(oldest) = slots
                    .iter()
                    .min_by_key(|(_, s)| s.created)
                    .map(|(k, _)| k.clone())
                {
                    slots.remove(&oldest);
                }
            }
        }
        let page = Arc::new(OnceCell::new());
        slots.insert(
            key,
            Slot {
                created: now,
                page: page.clone(),
            },
        );
        page
    }

    /// Forgets every page: this instance changed the articles. (Other instances see the
    /// change within the TTL.)
    pub(crate) fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn page(id: i64) -> FeedPage {
        FeedPage {
            next: Some(Cursor {
                published_at: 0,
                id,
            }),
            ..FeedPage::default()
        }
    }

    fn filter(countries: &[&'static str]) -> FeedFilter {
        let mut f = FeedFilter::default();
        f.add_codes(Dimension::Country, countries);
        f
    }

    #[tokio::test]
    async fn same_query_is_read_once_until_it_expires_or_is_cleared() {
        let cache = FeedCache::new(Duration::from_millis(200));
        let loads = AtomicUsize::new(0);
        let load = |id| {
            let loads = &loads;
            move || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok(page(id))
            }
        };
        let a = cache
            .get_or_load(&filter(&["us", "gb"]), None, 30, load(1))
            .await
            .unwrap();
        // Same selection in another order: same page, no second read.
        let b = cache
            .get_or_load(&filter(&["gb", "us"]), None, 30, load(2))
            .await
            .unwrap();
        assert_eq!(a.next, b.next);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Another selection, cursor or size is another page.
        for (f, after, limit) in [
            (filter(&["us"]), None, 30),
            (
                filter(&["us", "gb"]),
                Some(Cursor {
                    published_at: 5,
                    id: 5,
                }),
                30,
            ),
            (filter(&["us", "gb"]), None, 10),
        ] {
            cache.get_or_load(&f, after, limit, load(3)).await.unwrap();
        }
        assert_eq!(loads.load(Ordering::SeqCst), 4);
        cache.clear();
        let c = cache
            .get_or_load(&filter(&["us", "gb"]), None, 30, load(4))
            .await
            .unwrap();
        assert_eq!(c.next.map(|c| c.id), Some(4), "cleared: read again");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let d = cache
            .get_or_load(&filter(&["us", "gb"]), None, 30, load(5))
            .await
            .unwrap();
        assert_eq!(d.next.map(|c| c.id), Some(5), "expired: read again");
        assert_eq!(cache.misses.load(Ordering::Relaxed), 6);
        assert_eq!(cache.hits.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_read_and_failures_are_not_kept() {
        let cache = Arc::new(FeedCache::new(Duration::from_secs(60)));
        let loads = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, loads) = (cache.clone(), loads.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_load(&FeedFilter::default(), None, 30, || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(page(7))
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().next.map(|c| c.id), Some(7));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);

        let failed = cache
            .get_or_load(&filter(&["fr"]), None, 30, || async {
                Err(Error::PrimaryDown)
            })
            .await;
        assert!(matches!(failed, Err(Error::PrimaryDown)));
        let retried = cache
            .get_or_load(&filter(&["fr"]), None, 30, || async { Ok(page(8)) })
            .await
            .unwrap();
        assert_eq!(retried.next.map(|c| c.id), Some(8));
    }

    #[tokio::test]
    async fn size_is_bounded_and_zero_ttl_disables_it() {
        let cache = FeedCache::new(Duration::from_secs(60));
        for id in 0..(MAX_ENTRIES as i64 + 50) {
            let after = Some(Cursor {
                published_at: id,
                id,
            });
            cache
                .get_or_load(
                    &FeedFilter::default(),
                    after,
                    30,
                    || async move { Ok(page(id)) },
                )
                .await
                .unwrap();
        }
        assert_eq!(cache.len(), MAX_ENTRIES);

        let off = FeedCache::new(Duration::ZERO);
        for id in 0..3 {
            let p = off
                .get_or_load(
                    &FeedFilter::default(),
                    None,
                    30,
                    || async move { Ok(page(id)) },
                )
                .await
                .unwrap();
            assert_eq!(p.next.map(|c| c.id), Some(id));
        }
        assert_eq!(off.len(), 0);
    }
}
