//! A bounded memory of tokens whose signature already verified, keyed by a keyed 128-bit hash of
//! the token (SipHash-1-3 under a random per-isolate key, so collisions cannot be aimed; the token
//! itself is never stored) and expiring no later than the token. Repeat requests
//! (helm fetches the index, then each chart, with one token) skip the signature check; time,
//! issuer, audience and access are still checked on every request.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use std::hash::Hasher as _;

use siphasher::sip128::{Hasher128 as _, SipHasher13};

use crate::verify::VerifiedToken;

/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 4096;

/// Keyed hash of a token.
pub type TokenHash = [u8; 16];

/// The cache. Not thread-safe by design: one per isolate.
pub struct TokenCache {
    key: [u8; 16],
    capacity: usize,
    entries: HashMap<TokenHash, (Rc<VerifiedToken>, u64)>,
    order: VecDeque<TokenHash>,
}

impl TokenCache {
    /// An empty cache whose hash is keyed by `key` (random per isolate). Capacity 0 is a cache
    /// that remembers nothing.
    pub fn new(capacity: usize, key: [u8; 16]) -> Self {
        TokenCache { key, capacity, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// The keyed hash of a token, for [`get`](Self::get) and [`insert`](Self::insert).
    pub fn hash(&self, token: &str) -> TokenHash {
        let mut h = SipHasher13::new_with_key(&self.key);
        h.write(token.as_bytes());
        h.finish128().as_bytes()
    }

    /// The verified token for `hash`, unless it expired (at `exp`) by `now`.
    pub fn get(&mut self, hash: &TokenHash, now: u64) -> Option<Rc<VerifiedToken>> {
        match self.entries.get(hash) {
            Some((token, until)) if now <= *until => Some(token.clone()),
            Some(_) => {
                self.entries.remove(hash);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token until its `exp`. Evicts the oldest entry when full.
    pub fn insert(&mut self, hash: TokenHash, token: Rc<VerifiedToken>) {
        if self.capacity == 0 {
            return;
        }
        let until = token.claims.exp;
        if self.entries.insert(hash, (token, until)).is_some() {
            return;
        }
        self.order.push_back(hash);
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        // `order` may hold hashes already removed on expiry; keep it bounded too.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order.retain(|h| entries.contains_key(h));
        }
    }

    /// Forgets everything (keys changed).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Claims;

    fn cache(capacity: usize) -> TokenCache {
        TokenCache::new(capacity, [7; 16])
    }

    fn token(exp: u64) -> Rc<VerifiedToken> {
        let claims = Claims::from_json(format!(r#"{{"exp":{exp}}}"#).as_bytes()).unwrap();
        Rc::new(VerifiedToken { kid: "k".into(), claims, trusted: None })
    }

    #[test]
    fn expires_with_the_token() {
        let mut c = cache(8);
        let h = c.hash("a.b.c");
        c.insert(h, token(100));
        assert!(c.get(&h, 100).is_some());
        assert!(c.get(&h, 101).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn stays_bounded() {
        let mut c = cache(16);
        for i in 0..10_000 {
            c.insert(c.hash(&i.to_string()), token(crate::claims::MAX_DATE));
            assert!(c.len() <= 16);
            assert!(c.order.len() <= 32);
        }
        assert!(c.get(&c.hash("9999"), 0).is_some());
        assert!(c.get(&c.hash("0"), 0).is_none());
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let mut c = cache(0);
        c.insert(c.hash("t"), token(100));
        assert!(c.get(&c.hash("t"), 0).is_none() && c.is_empty());
    }

    #[test]
    fn keyed_hash() {
        let (a, b) = (cache(1), TokenCache::new(1, [8; 16]));
        assert_ne!(a.hash("t"), a.hash("u"));
        assert_ne!(a.hash("t"), b.hash("t"), "another key, another hash");
        assert_eq!(a.hash("t"), a.hash("t"));
    }
}
