//! A bounded memory of tokens whose signature already verified, keyed by a SHA-256 of the token
//! (the token itself is never stored) and expiring no later than the token. Repeat requests
//! (helm fetches the index, then each chart, with one token) skip the signature check; time,
//! issuer, audience and access are still checked on every request.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::verify::VerifiedToken;

/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 4096;

/// SHA-256 of a token.
pub type TokenHash = [u8; 32];

/// Hashes a token for lookup.
pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// The cache. Not thread-safe by design: one per isolate.
pub struct TokenCache {
    capacity: usize,
    entries: HashMap<TokenHash, (Rc<VerifiedToken>, u64)>,
    order: VecDeque<TokenHash>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache { capacity: capacity.max(1), entries: HashMap::new(), order: VecDeque::new() }
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

    fn token(exp: u64) -> Rc<VerifiedToken> {
        let claims = Claims::from_json(format!(r#"{{"exp":{exp}}}"#).as_bytes()).unwrap();
        Rc::new(VerifiedToken { kid: "k".into(), claims })
    }

    #[test]
    fn expires_with_the_token() {
        let mut c = TokenCache::new(8);
        let h = hash("a.b.c");
        c.insert(h, token(100));
        assert!(c.get(&h, 100).is_some());
        assert!(c.get(&h, 101).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn stays_bounded() {
        let mut c = TokenCache::new(16);
        for i in 0..10_000 {
            c.insert(hash(&i.to_string()), token(crate::claims::MAX_DATE));
            assert!(c.len() <= 16);
            assert!(c.order.len() <= 32);
        }
        assert!(c.get(&hash("9999"), 0).is_some());
        assert!(c.get(&hash("0"), 0).is_none());
    }

    #[test]
    fn keys_by_hash_not_token() {
        assert_ne!(hash("a"), hash("b"));
        assert_eq!(hash("a").len(), 32);
    }
}
