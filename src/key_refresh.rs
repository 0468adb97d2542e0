//! When to fetch a JWKS URL again, and what to trust meanwhile: fresh keys within the TTL, stale
//! keys for a bounded time while the endpoint fails, then nothing (fail closed). An unknown `kid`
//! triggers one refetch, rate limited; a failed fetch is not tried again before `min_interval`
//! (a negative cache: an outage costs the provider one request per interval, not one per token).
//! Pure state: the caller does the fetching (one at a time) and passes `now`. The edge and the
//! issuer follow these same rules for every trust policy's keys.

use std::sync::Arc;

use crate::KeySet;

/// Timing rules, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshRules {
    /// How long fetched keys are used without fetching again (default 300).
    pub ttl: u64,
    /// How long past `ttl` stale keys still serve while the endpoint fails (default 3600).
    pub max_stale: u64,
    /// The least time between two fetches (default 10).
    pub min_interval: u64,
}

impl Default for RefreshRules {
    fn default() -> Self {
        RefreshRules { ttl: 300, max_stale: 3600, min_interval: 10 }
    }
}

/// What to do before deciding a request.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Keys are fresh: use them.
    Use(Arc<KeySet>),
    /// Fetch now; on failure fall back to [`RemoteKeys::fallback`].
    Fetch,
    /// No keys to use and the last attempt failed less than `min_interval` ago: refuse now
    /// (fail closed) without asking the endpoint again.
    Unavailable,
}

/// What a request does when its token names a `kid` that the keys it was checked with lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKid {
    /// Another request installed newer keys meanwhile: check again with those.
    UseNewer,
    /// Fetch the JWKS (or wait for the fetch in flight), then check again.
    Refetch,
    /// Answer `unknown_kid` now: the last fetch was too recent to try again.
    Refuse,
}

/// Keys fetched from a JWKS URL, and when.
#[derive(Debug, Default)]
pub struct RemoteKeys {
    keys: Option<Arc<KeySet>>,
    fetched_at: u64,
    last_attempt: Option<u64>,
    /// The keys were dropped from the trusted set (outage past max-stale).
    dropped: bool,
}

impl RemoteKeys {
    fn may_attempt(&self, now: u64, rules: &RefreshRules) -> bool {
        self.last_attempt.is_none_or(|t| now >= t.saturating_add(rules.min_interval))
    }

    /// Fresh keys, or a fetch when they are missing or old (rate limited: a recent failed
    /// attempt falls back instead).
    pub fn plan(&self, now: u64, rules: &RefreshRules) -> Plan {
        match &self.keys {
            Some(keys) if now < self.fetched_at.saturating_add(rules.ttl) => Plan::Use(keys.clone()),
            _ if self.may_attempt(now, rules) => Plan::Fetch,
            _ => self.fallback(now, rules).map_or(Plan::Unavailable, Plan::Use),
        }
    }

    /// The keys to use when a fetch is not possible: stale ones within `ttl + max_stale`.
    pub fn fallback(&self, now: u64, rules: &RefreshRules) -> Option<Arc<KeySet>> {
        let limit = self.fetched_at.saturating_add(rules.ttl).saturating_add(rules.max_stale);
        self.keys.clone().filter(|_| now < limit)
    }

    /// True when a token's unknown `kid` may trigger a refetch now.
    pub fn may_refetch_for_unknown_kid(&self, now: u64, rules: &RefreshRules) -> bool {
        self.may_attempt(now, rules)
    }

    /// The key-rotation rule for a token with an unknown `kid`: newer keys installed by another
    /// request are tried first; otherwise one fetch, joined when one is in flight, and
    /// rate-limited by `min_interval` so unknown kids cannot make the edge hammer the endpoint.
    pub fn on_unknown_kid(
        &self,
        now: u64,
        rules: &RefreshRules,
        newer_installed: bool,
        fetch_in_flight: bool,
    ) -> UnknownKid {
        if newer_installed {
            UnknownKid::UseNewer
        } else if fetch_in_flight || self.may_refetch_for_unknown_kid(now, rules) {
            UnknownKid::Refetch
        } else {
            UnknownKid::Refuse
        }
    }

    /// Records an attempt that is about to start.
    pub fn attempting(&mut self, now: u64) {
        self.last_attempt = Some(now);
    }

    /// Records fetched keys. Returns true when the trusted set must be rebuilt from them: they
    /// differ from the previous ones, or the previous ones had been dropped by an outage (the
    /// same keys coming back after one must be trusted again).
    pub fn fetched(&mut self, keys: KeySet, now: u64) -> bool {
        let rebuild = self.dropped || self.keys.as_deref() != Some(&keys);
        self.keys = Some(Arc::new(keys));
        self.fetched_at = now;
        self.dropped = false;
        rebuild
    }

    /// Records a failed fetch. Returns true when the keys are past max-stale and must leave the
    /// trusted set now (only static keys, if any, remain: fail closed).
    pub fn failed(&mut self, now: u64, rules: &RefreshRules) -> bool {
        if self.fallback(now, rules).is_some() {
            return false;
        }
        self.dropped = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: RefreshRules = RefreshRules { ttl: 300, max_stale: 600, min_interval: 10 };

    fn keys() -> KeySet {
        KeySet::default()
    }

    #[test]
    fn fresh_stale_then_closed() {
        let mut r = RemoteKeys::default();
        assert!(matches!(r.plan(0, &RULES), Plan::Fetch));
        r.attempting(0);
        r.fetched(keys(), 0);
        assert!(matches!(r.plan(299, &RULES), Plan::Use(_)));
        assert!(matches!(r.plan(300, &RULES), Plan::Fetch));
        // The endpoint fails from now on.
        r.attempting(300);
        assert!(r.fallback(300, &RULES).is_some());
        assert!(matches!(r.plan(305, &RULES), Plan::Use(_)), "rate limited: stale keys, no new fetch");
        assert!(matches!(r.plan(311, &RULES), Plan::Fetch));
        r.attempting(899);
        assert!(r.fallback(899, &RULES).is_some());
        assert!(r.fallback(900, &RULES).is_none(), "past max-stale: fail closed");
        assert!(matches!(r.plan(901, &RULES), Plan::Unavailable), "no keys, and the last attempt is recent");
        assert!(matches!(r.plan(909, &RULES), Plan::Fetch));
    }

    /// Security round 4, finding G5: while a provider fails and there are no keys to fall back
    /// on, each token with its `iss` made the issuer call the provider again. A failed attempt
    /// is not repeated within `min_interval`.
    #[test]
    fn finding_g5_a_failing_provider_is_asked_once_per_interval() {
        let mut r = RemoteKeys::default();
        assert!(matches!(r.plan(0, &RULES), Plan::Fetch));
        r.attempting(0);
        assert!(r.failed(0, &RULES));
        for now in 0..10 {
            assert!(matches!(r.plan(now, &RULES), Plan::Unavailable), "at {now}");
        }
        assert!(matches!(r.plan(10, &RULES), Plan::Fetch));
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let mut r = RemoteKeys::default();
        r.attempting(100);
        r.fetched(keys(), 100);
        assert!(!r.may_refetch_for_unknown_kid(105, &RULES));
        assert!(r.may_refetch_for_unknown_kid(110, &RULES));
    }

    /// Finding 3 of the second security round: with static keys beside the URL, an outage past
    /// max-stale left only the static keys, and the same JWKS fetched after the recovery was
    /// "unchanged", so the URL's keys were never trusted again.
    #[test]
    fn finding_03_keys_come_back_after_an_outage_past_max_stale() {
        let mut r = RemoteKeys::default();
        r.attempting(0);
        assert!(r.fetched(keys(), 0));
        r.attempting(300);
        assert!(!r.failed(300, &RULES), "stale keys still serve");
        r.attempting(900);
        assert!(r.failed(900, &RULES), "past max-stale: dropped");
        r.attempting(1000);
        assert!(r.fetched(keys(), 1000), "the same keys after the outage are trusted again");
        assert!(!r.fetched(keys(), 1001));
    }

    #[test]
    fn unknown_kid_rule() {
        let mut r = RemoteKeys::default();
        r.attempting(100);
        r.fetched(keys(), 100);
        assert_eq!(r.on_unknown_kid(101, &RULES, true, false), UnknownKid::UseNewer);
        assert_eq!(r.on_unknown_kid(101, &RULES, false, true), UnknownKid::Refetch, "join the fetch in flight");
        assert_eq!(r.on_unknown_kid(101, &RULES, false, false), UnknownKid::Refuse, "rate limited");
        assert_eq!(r.on_unknown_kid(110, &RULES, false, false), UnknownKid::Refetch);
    }

    #[test]
    fn reports_key_changes() {
        let mut r = RemoteKeys::default();
        assert!(r.fetched(keys(), 0));
        assert!(!r.fetched(keys(), 1));
    }
}
