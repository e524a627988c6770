//! A short-lived in-process cache of sessions (with their reader's selection), so a page
//! needs no database round trip while a reader, or an API client, keeps asking.
//!
//! The bound, and the whole promise: a logout, a password change, a deleted account, a saved
//! selection or a first saved article takes effect at once on the instance that wrote it
//! (it drops that reader's entries, and a read that raced the write is not stored), and on
//! every other instance within the TTL (at most 1 s, `NEWSREAD_SESSION_CACHE_TTL`): no copy
//! older than the TTL is ever used. Entries are keyed by the token's hash and hold one
//! reader's own record, so no reader ever gets another's. Unknown tokens are not cached:
//! guessing fills nothing.
//!
//! Refreshed ahead: from half the TTL on, the first request reads the session again while
//! the others go on with the copy, so a busy reader's (or API client's) requests do not all
//! miss at once when it expires and queue for the database behind, say, a storm of logins.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::SessionRecord;

/// Bounds memory: a record is a few hundred bytes.
const MAX_ENTRIES: usize = 20_000;

struct Entry {
    at: Instant,
    record: SessionRecord,
    /// A request is reading it again (refresh ahead).
    refreshing: bool,
}

/// The entries, and each reader's tokens among them, so that dropping a reader's entries
/// costs that reader's sessions rather than a walk over every entry under the lock.
#[derive(Default)]
struct Entries {
    by_token: HashMap<Box<str>, Entry>,
    by_user: HashMap<i64, Vec<Box<str>>>,
}

impl Entries {
    fn insert(&mut self, token_hash: &str, entry: Entry) {
        let user_id = entry.record.user_id;
        if let Some(old) = self.by_token.insert(token_hash.into(), entry) {
            if old.record.user_id == user_id {
                return;
            }
            self.unindex(old.record.user_id, token_hash);
        }
        self.by_user
            .entry(user_id)
            .or_default()
            .push(token_hash.into());
    }

    fn remove(&mut self, token_hash: &str) {
        if let Some(old) = self.by_token.remove(token_hash) {
            self.unindex(old.record.user_id, token_hash);
        }
    }

    fn unindex(&mut self, user_id: i64, token_hash: &str) {
        if let Some(tokens) = self.by_user.get_mut(&user_id) {
            tokens.retain(|t| &**t != token_hash);
            if tokens.is_empty() {
                self.by_user.remove(&user_id);
            }
        }
    }

    fn remove_user(&mut self, user_id: i64) {
        for token in self.by_user.remove(&user_id).unwrap_or_default() {
            self.by_token.remove(&token);
        }
    }

    /// Drops what is past the TTL (only when full: a walk over every entry).
    fn remove_expired(&mut self, ttl: Duration) {
        let expired: Vec<Box<str>> = self
            .by_token
            .iter()
            .filter(|(_, e)| e.at.elapsed() >= ttl)
            .map(|(t, _)| t.clone())
            .collect();
        for token in expired {
            self.remove(&token);
        }
    }
}

#[derive(Default)]
pub(crate) struct SessionCache {
    ttl: Duration,
    map: Mutex<Entries>,
    /// Bumped by every invalidation: a read that started before one is not stored, since it
    /// may hold what the invalidation removed.
    generation: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A poisoned lock only means another request panicked mid-insert: the map is intact.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The record read for this token within the TTL, if the caller may use it; `None` when
    /// the caller must read the session (none cached, too old, or its turn to refresh it).
    pub(crate) fn get(&self, token_hash: &str) -> Option<SessionRecord> {
        if !self.enabled() {
            return None;
        }
        let found = match self.entries().by_token.get_mut(token_hash) {
            Some(e) => {
                let age = e.at.elapsed();
                if age >= self.ttl {
                    None
                } else if age >= self.ttl / 2 && !e.refreshing {
                    e.refreshing = true;
                    None
                } else {
                    Some(e.record.clone())
                }
            }
            None => None,
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Where a read starts: pass it to [`Self::insert`] with what the read found.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `record`, read since `generation`, unless something was invalidated meanwhile.
    pub(crate) fn insert(&self, token_hash: &str, record: SessionRecord, generation: u64) {
        if !self.enabled() {
            return;
        }
        let mut map = self.entries();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.by_token.len() >= MAX_ENTRIES {
            map.remove_expired(self.ttl);
            if map.by_token.len() >= MAX_ENTRIES {
                return;
            }
        }
        map.insert(
            token_hash,
            Entry {
                at: Instant::now(),
                record,
                refreshing: false,
            },
        );
    }

    /// A read found no live session for this token: drop any copy at once.
    pub(crate) fn absent(&self, token_hash: &str) {
        self.entries().remove(token_hash);
    }

    /// The session's last-seen time was written: the cached copy says so too, or every
    /// request within the TTL would write it again.
    pub(crate) fn touched(&self, token_hash: &str, now: i64) {
        if let Some(e) = self.entries().by_token.get_mut(token_hash) {
            e.record.last_seen_at = now;
        }
    }

    /// This session ended (logout, a new session at login).
    pub(crate) fn forget_session(&self, token_hash: &str) {
        let mut map = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(token_hash);
    }

    /// Something every session of this reader carries changed (selection, saved articles,
    /// password, the account itself).
    pub(crate) fn forget_user(&self, user_id: i64) {
        let mut map = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove_user(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::feed::FeedFilter;

    fn record(user_id: i64) -> SessionRecord {
        SessionRecord {
            user_id,
            username: format!("reader{user_id}"),
            csrf_token: format!("csrf{user_id}"),
            last_seen_at: 100,
            expires_at: 1_000,
            preferences: FeedFilter::default(),
            has_saved: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_live_for_the_ttl_and_go_with_their_session_or_reader() {
        let cache = SessionCache::new(Duration::from_millis(500));
        let g = cache.generation();
        cache.insert("a", record(1), g);
        cache.insert("b", record(1), g);
        cache.insert("c", record(2), g);
        assert_eq!(cache.get("a").map(|r| r.user_id), Some(1));
        assert!(cache.get("unknown").is_none());

        cache.touched("a", 150);
        assert_eq!(cache.get("a").map(|r| r.last_seen_at), Some(150));

        cache.forget_session("a");
        assert!(cache.get("a").is_none());
        assert!(
            cache.get("b").is_some(),
            "another session of the reader stays"
        );
        cache.forget_user(1);
        assert!(cache.get("b").is_none());
        assert_eq!(
            cache.get("c").map(|r| r.user_id),
            Some(2),
            "other readers stay"
        );

        {
            let map = cache.entries();
            assert_eq!(map.by_token.len(), 1);
            assert_eq!(
                map.by_user.keys().collect::<Vec<_>>(),
                [&2],
                "reader 1 unindexed"
            );
        }

        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(cache.get("c").is_none(), "expired");
        assert_eq!(cache.hits.load(Ordering::Relaxed), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cache_makes_room_from_expired_entries_and_keeps_its_index() {
        let cache = SessionCache::new(Duration::from_millis(500));
        let g = cache.generation();
        for i in 0..MAX_ENTRIES {
            cache.insert(&format!("old{i}"), record(i as i64 % 7), g);
        }
        cache.insert("late", record(99), g);
        assert!(
            cache.get("late").is_none(),
            "full of live entries: not kept"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        cache.insert("new", record(3), g);
        assert_eq!(cache.get("new").map(|r| r.user_id), Some(3));
        let map = cache.entries();
        assert_eq!(map.by_token.len(), 1);
        assert_eq!(map.by_user.get(&3).map(Vec::len), Some(1));
        assert_eq!(map.by_user.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_request_refreshes_ahead_while_the_others_use_the_copy_never_past_the_ttl() {
        let cache = SessionCache::new(Duration::from_millis(1000));
        cache.insert("a", record(1), cache.generation());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(
            cache.get("a").is_none(),
            "the first request past half the TTL refreshes"
        );
        assert!(
            cache.get("a").is_some(),
            "the others keep the copy meanwhile"
        );
        assert!(cache.get("a").is_some());
        // Its read found the session: a new copy, a new TTL.
        cache.insert("a", record(1), cache.generation());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(cache.get("a").is_none());
        // That refresh never came back: at the TTL the copy is not used any more.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(cache.get("a").is_none());
        assert!(cache.get("a").is_none());
        // A read that finds no session drops the copy.
        cache.insert("b", record(2), cache.generation());
        cache.absent("b");
        assert!(cache.get("b").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_raced_an_invalidation_is_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(1));
        let before = cache.generation();
        // The logout lands while the read is in flight.
        cache.forget_session("a");
        cache.insert("a", record(1), before);
        assert!(cache.get("a").is_none());
        let after = cache.generation();
        cache.insert("a", record(1), after);
        assert!(cache.get("a").is_some());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = SessionCache::new(Duration::ZERO);
        cache.insert("a", record(1), cache.generation());
        assert!(cache.get("a").is_none());
        assert_eq!(cache.misses.load(Ordering::Relaxed), 0, "not even counted");
    }
}
