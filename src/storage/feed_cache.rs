//! A short-lived in-process cache of feed pages.
//!
//! Every reader with the same selection sees the same page, and feed reads already tolerate
//! replica lag, so a page may be served for up to the TTL (1 s by default) after it was read.
//! Sessions and preferences are never cached: a logout or a saved selection still takes
//! effect on the next request on every instance, because the selection is part of the key.
//! Concurrent misses on one key wait for a single query instead of each running it, and when
//! a page expires, one request reads it again while the others are served the expired copy
//! meanwhile (so no burst of requests waits on a refresh); a page is thus never older than
//! twice the TTL, and a failed refresh is never covered by an older copy.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock (the system's outside tests) so the tests can pause it.
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::{Error, FeedPage};
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::vocab::Dimension;

/// Bounds memory: this many pages of the web's 30 articles (~20 KiB each, plus renderings),
/// counted in articles, so that API pages of up to 100 articles cannot grow it past a few MiB.
const MAX_ENTRIES: usize = 256;
const MAX_ARTICLES: usize = MAX_ENTRIES * 30;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The selection with each dimension's codes sorted: order does not change the result.
    codes: [Vec<&'static str>; 3],
    /// A search's canonical terms (`SearchQuery::canonical`); `None` for the feed itself.
    search: Option<Box<str>>,
    after: Option<(i64, i64)>,
    limit: u32,
}

impl Key {
    fn new(filter: &FeedFilter, search: Option<&str>, after: Option<Cursor>, limit: u32) -> Self {
        let codes = Dimension::ALL.map(|d| {
            let mut v = filter.get(d).to_vec();
            v.sort_unstable();
            v
        });
        Key {
            codes,
            search: search.map(Box::from),
            after: after.map(|c| (c.published_at, c.id)),
            limit,
        }
    }
}

/// A page and when its read started (its age counts from then).
#[derive(Clone)]
struct Loaded {
    at: Instant,
    page: Arc<FeedPage>,
}

type Cell = Arc<OnceCell<Loaded>>;

struct Slot {
    created: Instant,
    cell: Cell,
    /// The expired page this slot replaces, served to others while `cell` is being read.
    previous: Option<Loaded>,
}

/// What a request does for its key.
enum Lookup {
    Ready(Arc<FeedPage>),
    /// Read the page (or wait for the request already reading it).
    Load(Cell),
}

/// The pages, with the number of articles they hold kept alongside so that inserting and
/// evicting never re-sums the whole map under the lock.
#[derive(Default)]
struct Slots {
    map: HashMap<Key, Slot>,
    /// Sum of `limit` over `map`'s keys.
    articles: usize,
    /// Entries looked at by evictions (tests check the work stays linear).
    #[cfg(test)]
    scanned: usize,
}

impl Slots {
    fn insert(&mut self, key: Key, slot: Slot) {
        let size = key.limit as usize;
        if self.map.insert(key, slot).is_none() {
            self.articles += size;
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.articles = 0;
    }

    /// Makes room for `needed` articles: drops expired pages, then the oldest, in one pass
    /// and one sort (was a re-sum and a scan per removal: quadratic under the global lock).
    fn evict(&mut self, needed: usize, fresh: impl Fn(&Slot) -> bool) {
        if self.articles + needed <= MAX_ARTICLES {
            return;
        }
        let mut removed = 0;
        self.map.retain(|k, s| {
            let keep = fresh(s);
            if !keep {
                removed += k.limit as usize;
            }
            keep
        });
        self.articles -= removed;
        #[cfg(test)]
        {
            self.scanned += self.map.len() + removed;
        }
        if self.articles + needed <= MAX_ARTICLES {
            return;
        }
        let mut by_age: Vec<(Instant, &Key)> =
            self.map.iter().map(|(k, s)| (s.created, k)).collect();
        by_age.sort_unstable_by_key(|(created, _)| *created);
        let mut victims = Vec::new();
        let mut left = self.articles;
        for (_, key) in by_age {
            if left + needed <= MAX_ARTICLES {
                break;
            }
            left -= key.limit as usize;
            victims.push(key.clone());
        }
        #[cfg(test)]
        {
            self.scanned += self.map.len();
        }
        for key in victims {
            self.map.remove(&key);
        }
        self.articles = left;
    }
}

#[derive(Default)]
pub(crate) struct FeedCache {
    ttl: Duration,
    slots: Mutex<Slots>,
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
        self.get_or_load_key(Key::new(filter, None, after, limit), load)
            .await
    }

    /// The same for a search page: results depend only on the selection and the canonical
    /// terms, never on the reader, so readers with both in common share the page.
    pub(crate) async fn get_or_load_search<F, Fut>(
        &self,
        filter: &FeedFilter,
        search: &str,
        after: Option<Cursor>,
        limit: u32,
        load: F,
    ) -> Result<Arc<FeedPage>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<FeedPage, Error>>,
    {
        self.get_or_load_key(Key::new(filter, Some(search), after, limit), load)
            .await
    }

    async fn get_or_load_key<F, Fut>(&self, key: Key, load: F) -> Result<Arc<FeedPage>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<FeedPage, Error>>,
    {
        if self.ttl.is_zero() {
            return load().await.map(Arc::new);
        }
        let cell = match self.lookup(key) {
            Lookup::Ready(page) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(page);
            }
            Lookup::Load(cell) => cell,
        };
        let mut loaded = false;
        let page = cell
            .get_or_try_init(|| {
                loaded = true;
                let at = Instant::now();
                async move {
                    let page = Arc::new(load().await?);
                    Ok::<_, Error>(Loaded { at, page })
                }
            })
            .await?;
        let counter = if loaded { &self.misses } else { &self.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(page.page.clone())
    }

    /// A page for `key` that may be served now, or the cell to read it into (a new slot when
    /// the page expired or its read failed).
    fn lookup(&self, key: Key) -> Lookup {
        let now = Instant::now();
        let fresh = |at: Instant, ttl: Duration| now.duration_since(at) < ttl;
        // A poisoned lock only means another request panicked mid-insert: the map is intact.
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut previous = None;
        if let Some(slot) = slots.map.get(&key) {
            match slot.cell.get() {
                Some(l) if fresh(l.at, self.ttl) => return Lookup::Ready(l.page.clone()),
                // Expired: this request reads it again; others get this copy meanwhile.
                Some(l) => previous = Some(l.clone()),
                // Being read: serve the expired copy while it is young enough, else wait.
                // A read still unfinished after a whole TTL has failed (or hangs): start over.
                None if fresh(slot.created, self.ttl) => {
                    return match &slot.previous {
                        Some(p) if fresh(p.at, 2 * self.ttl) => Lookup::Ready(p.page.clone()),
                        _ => Lookup::Load(slot.cell.clone()),
                    };
                }
                None => {}
            }
        }
        // The key's own slot (expired or failed) is replaced below: not counted twice.
        if slots.map.remove(&key).is_some() {
            slots.articles -= key.limit as usize;
        }
        slots.evict(key.limit as usize, |s| {
            fresh(s.cell.get().map_or(s.created, |l| l.at), self.ttl)
        });
        let cell = Cell::default();
        slots.insert(
            key,
            Slot {
                created: now,
                cell: cell.clone(),
                previous,
            },
        );
        Lookup::Load(cell)
    }

    /// Forgets every page: this instance changed the articles. (Other instances see the
    /// change within the TTL.)
    pub(crate) fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
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

    /// Hands out loaders of page `id`, counting the loads that run.
    #[derive(Default)]
    struct Loads(AtomicUsize);

    type Load<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<FeedPage, Error>> + 'a>>;

    impl Loads {
        fn page<'a>(&'a self, id: i64) -> impl FnOnce() -> Load<'a> + 'a {
            move || {
                Box::pin(async move {
                    self.0.fetch_add(1, Ordering::SeqCst);
                    Ok(page(id))
                })
            }
        }

        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn filter(countries: &[&'static str]) -> FeedFilter {
        let mut f = FeedFilter::default();
        f.add_codes(Dimension::Country, countries);
        f
    }

    #[tokio::test(start_paused = true)]
    async fn a_search_is_its_own_page_shared_by_equal_terms_and_selection() {
        let cache = FeedCache::new(Duration::from_millis(200));
        let loads = Loads::default();
        let load = |id| loads.page(id);
        let f = filter(&["us"]);
        let feed = cache.get_or_load(&f, None, 30, load(1)).await.unwrap();
        let a = cache
            .get_or_load_search(&f, "+eclipse", None, 30, load(2))
            .await
            .unwrap();
        let b = cache
            .get_or_load_search(&f, "+eclipse", None, 30, load(3))
            .await
            .unwrap();
        assert_eq!(feed.next.map(|c| c.id), Some(1));
        assert_eq!(
            a.next.map(|c| c.id),
            Some(2),
            "a search is not the feed page"
        );
        assert_eq!(
            b.next.map(|c| c.id),
            Some(2),
            "same terms, same selection: shared"
        );
        let other_terms = cache
            .get_or_load_search(&f, "+telescope", None, 30, load(4))
            .await
            .unwrap();
        let other_selection = cache
            .get_or_load_search(&filter(&["gb"]), "+eclipse", None, 30, load(5))
            .await
            .unwrap();
        assert_eq!(other_terms.next.map(|c| c.id), Some(4));
        assert_eq!(other_selection.next.map(|c| c.id), Some(5));
        assert_eq!(loads.count(), 4);
        // Cleared with the feed when this instance writes articles.
        cache.clear();
        let c = cache
            .get_or_load_search(&f, "+eclipse", None, 30, load(6))
            .await
            .unwrap();
        assert_eq!(c.next.map(|c| c.id), Some(6));
    }

    #[tokio::test(start_paused = true)]
    async fn same_query_is_read_once_until_it_expires_or_is_cleared() {
        let cache = FeedCache::new(Duration::from_millis(200));
        let loads = Loads::default();
        let load = |id| loads.page(id);
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
        assert_eq!(loads.count(), 1);
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
        assert_eq!(loads.count(), 4);
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

    #[tokio::test(start_paused = true)]
    async fn an_expired_page_is_served_while_one_request_reads_it_again() {
        let ttl = Duration::from_millis(200);
        let cache = Arc::new(FeedCache::new(ttl));
        let get = |id: i64, delay: u64| {
            let cache = cache.clone();
            async move {
                cache
                    .get_or_load(&FeedFilter::default(), None, 30, || async move {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        Ok(page(id))
                    })
                    .await
                    .map(|p| p.next.map(|c| c.id))
            }
        };
        assert_eq!(get(1, 0).await.unwrap(), Some(1));
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        // The first request after expiry refreshes (slowly); others meanwhile get page 1.
        let refresh = tokio::spawn(get(2, 100));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(get(3, 0).await.unwrap(), Some(1), "stale while refreshing");
        assert_eq!(refresh.await.unwrap().unwrap(), Some(2));
        assert_eq!(get(4, 0).await.unwrap(), Some(2));

        // A failed refresh is not covered by the expired copy once its own slot expires,
        // so a copy is never served for more than two TTLs.
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        let failed = cache
            .get_or_load(&FeedFilter::default(), None, 30, || async {
                Err(Error::PrimaryDown)
            })
            .await;
        assert!(failed.is_err(), "the refreshing request sees the failure");
        assert_eq!(
            get(5, 0).await.unwrap(),
            Some(2),
            "others: the expired copy"
        );
        tokio::time::sleep(ttl + Duration::from_millis(20)).await;
        let failed = cache
            .get_or_load(&FeedFilter::default(), None, 30, || async {
                Err(Error::PrimaryDown)
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(get(6, 0).await.unwrap(), Some(6), "no copy left: read");
    }

    #[tokio::test(start_paused = true)]
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

    #[tokio::test(start_paused = true)]
    async fn eviction_keeps_the_bound_and_an_exact_total_in_linear_work() {
        let cache = FeedCache::new(Duration::from_secs(60));
        let everything = FeedFilter::default();
        let get = |id: i64, limit: u32| {
            let after = Some(Cursor {
                published_at: id,
                id,
            });
            cache.get_or_load(
                &everything,
                after,
                limit,
                move || async move { Ok(page(id)) },
            )
        };
        let total = |cache: &FeedCache| {
            let slots = cache.slots.lock().unwrap();
            let sum: usize = slots.map.keys().map(|k| k.limit as usize).sum();
            (slots.articles, sum, slots.scanned)
        };
        // Single-article pages: a full cache holds MAX_ARTICLES of them.
        for id in 0..MAX_ARTICLES as i64 {
            get(id, 1).await.unwrap();
            tokio::time::advance(Duration::from_micros(1)).await;
        }
        assert_eq!(total(&cache), (MAX_ARTICLES, MAX_ARTICLES, 0));
        // A 100-article page evicts the 100 oldest in one go, looking at each entry a
        // bounded number of times (a re-sum per removal would look at ~1.5 million).
        get(-1, 100).await.unwrap();
        let (articles, sum, scanned) = total(&cache);
        assert_eq!(articles, sum, "the running total is exact");
        assert_eq!(articles, MAX_ARTICLES);
        assert_eq!(cache.len(), MAX_ARTICLES - 100 + 1);
        assert!(
            scanned <= 3 * MAX_ARTICLES,
            "eviction looked at {scanned} entries"
        );
        {
            let slots = cache.slots.lock().unwrap();
            let kept = |id: i64| slots.map.keys().any(|k| k.after == Some((id, id)));
            assert!(!kept(0) && !kept(99), "the oldest pages went");
            assert!(
                kept(100) && kept(MAX_ARTICLES as i64 - 1),
                "the newest stayed"
            );
        }
        // Re-reading an expired page replaces its slot without counting it twice.
        tokio::time::advance(Duration::from_secs(61)).await;
        get(-1, 100).await.unwrap();
        let (articles, sum, _) = total(&cache);
        assert_eq!(articles, sum);
        assert!(articles <= MAX_ARTICLES);
        cache.clear();
        assert_eq!(total(&cache).0, 0);
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
        // Larger pages take more of the budget: 100-article API pages fit fewer at a time.
        for id in 0..50 {
            let after = Some(Cursor {
                published_at: -id,
                id,
            });
            cache
                .get_or_load(&FeedFilter::default(), after, 100, || async move {
                    Ok(page(id))
                })
                .await
                .unwrap();
        }
        let articles: usize = cache
            .slots
            .lock()
            .unwrap()
            .map
            .keys()
            .map(|k| k.limit as usize)
            .sum();
        assert!(articles <= MAX_ARTICLES, "{articles}");
        assert!(cache.len() < MAX_ENTRIES);

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
