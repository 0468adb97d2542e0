//! Per-isolate state of the worker: the configuration (read once), the trusted keys (static,
//! and fetched from `JWKS_URL` by [`RefreshRules`]: one fetch at a time, stale keys within
//! max-stale, then fail closed) and the verified-token cache.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::JsCast as _;
use worker::{console_error, Date, Env, Fetch, Request};

use crate::edge::{EdgeConfig, Plan, RefreshRules, RemoteKeys, TokenCache, TOKEN_CACHE_CAPACITY};
use crate::wasm::webcrypto;
use crate::KeySet;

/// Per-isolate state.
pub(super) struct Isolate {
    pub(super) config: EdgeConfig,
    pub(super) rules: RefreshRules,
    pub(super) remote: RefCell<RemoteKeys>,
    /// Static keys merged with the latest remote keys.
    pub(super) keys: RefCell<Option<Rc<KeySet>>>,
    pub(super) tokens: RefCell<TokenCache>,
    /// When the JWKS fetch in flight started, in ms (0: none). One fetch at a time per isolate;
    /// a fetch whose request was cancelled counts as over once its timeout has passed.
    pub(super) fetch_started: std::cell::Cell<u64>,
    /// Whether the optional `REVOCATIONS` binding exists (looked up once, not per request).
    pub(super) revocations: bool,
}

thread_local! {
    static ISOLATE: RefCell<Option<std::result::Result<Rc<Isolate>, String>>> = const { RefCell::new(None) };
}

pub(super) fn isolate(env: &Env) -> std::result::Result<Rc<Isolate>, String> {
    ISOLATE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let lookup = |name: &'static str| {
                    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
                };
                EdgeConfig::from_lookup(lookup)
                    .map(|config| {
                        let rules = RefreshRules {
                            ttl: config.jwks_ttl,
                            max_stale: config.jwks_max_stale,
                            min_interval: config.jwks_refetch_interval,
                        };
                        let keys =
                            config.jwks_url.is_none().then(|| Rc::new(config.static_keys.clone().unwrap_or_default()));
                        Rc::new(Isolate {
                            config,
                            rules,
                            remote: RefCell::default(),
                            keys: RefCell::new(keys),
                            fetch_started: std::cell::Cell::new(0),
                            tokens: RefCell::new(match random_key() {
                                Some(key) => TokenCache::new(TOKEN_CACHE_CAPACITY, key),
                                None => TokenCache::new(0, [0; 16]),
                            }),
                            revocations: env.kv("REVOCATIONS").is_ok(),
                        })
                    })
                    .map_err(|e| e.to_string())
            })
            .clone()
    })
}

/// 16 random bytes from the runtime's CSPRNG (`crypto.getRandomValues`) for the token-cache key;
/// `None` without one, and then the cache is off (a guessable key would let collisions be aimed).
fn random_key() -> Option<[u8; 16]> {
    let mut key = [0u8; 16];
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).ok()?.unchecked_into::<web_sys::Crypto>();
    match crypto.get_random_values_with_u8_array(&mut key) {
        Ok(_) => Some(key),
        Err(_) => {
            console_error!("chartgate: crypto.getRandomValues failed; the verified-token cache is off");
            None
        }
    }
}

pub(super) fn now_secs() -> u64 {
    Date::now().as_millis() / 1000
}

pub(super) fn now_micros() -> f64 {
    // performance.now() where the runtime has it; Date otherwise.
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(Date::now().as_millis() as f64, |p| p.now())
        * 1000.0
}

/// The JWKS endpoint is down past max-stale: requests fail closed.
pub(super) struct KeysUnavailable;

/// How often a request waiting for another request's JWKS fetch looks again. Workers cannot
/// await a promise that belongs to another request, so the wait is a timer in its own.
const JOIN_POLL_MS: u64 = 5;

impl Isolate {
    /// The keys to verify with, fetching the JWKS URL when its copy is missing or old.
    pub(super) async fn keys(&self, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        let Some(url) = &self.config.jwks_url else {
            return self.keys.borrow().clone().ok_or(KeysUnavailable);
        };
        let plan = self.remote.borrow().plan(now, &self.rules);
        match plan {
            Plan::Use(_) => self.keys.borrow().clone().ok_or(KeysUnavailable),
            Plan::Fetch => self.refetch(url, now).await,
        }
    }

    /// Fetches the JWKS, or waits for the fetch already in flight, so that a rotation seen by
    /// many requests at once costs one fetch and none of them is refused while it runs.
    pub(super) async fn refetch(&self, url: &str, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        if self.fetching() {
            while self.fetching() {
                worker::Delay::from(std::time::Duration::from_millis(JOIN_POLL_MS)).await;
            }
            return self.keys.borrow().clone().ok_or(KeysUnavailable);
        }
        self.fetch_started.set(Date::now().as_millis().max(1));
        let keys = self.fetch_and_store(url, now).await;
        self.fetch_started.set(0);
        keys
    }

    /// Whether a JWKS fetch is in flight.
    pub(super) fn fetching(&self) -> bool {
        let started = self.fetch_started.get();
        started != 0 && Date::now().as_millis() < started + self.config.jwks_timeout * 1000 + 1000
    }

    async fn fetch_and_store(&self, url: &str, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        self.remote.borrow_mut().attempting(now);
        match fetch_jwks(url, self.config.jwks_timeout).await {
            Ok(remote) => {
                let rebuild = self.remote.borrow_mut().fetched(remote.clone(), now);
                if rebuild || self.keys.borrow().is_none() {
                    let merged = match &self.config.static_keys {
                        Some(s) => s.merged(&remote),
                        None => remote,
                    };
                    *self.keys.borrow_mut() = Some(Rc::new(merged));
                    self.tokens.borrow_mut().clear();
                    webcrypto::forget_keys();
                }
            }
            Err(why) => {
                console_error!("chartgate: JWKS fetch from {url} failed: {why}");
                if self.remote.borrow_mut().failed(now, &self.rules) {
                    // Past max-stale: only static keys, if any, remain trusted.
                    let fallback = self.config.static_keys.clone().map(Rc::new);
                    *self.keys.borrow_mut() = fallback.clone();
                    self.tokens.borrow_mut().clear();
                    return fallback.ok_or(KeysUnavailable);
                }
            }
        }
        self.keys.borrow().clone().ok_or(KeysUnavailable)
    }
}

async fn fetch_jwks(url: &str, timeout_secs: u64) -> std::result::Result<KeySet, String> {
    let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_secs as u32 * 1000));
    let request = Request::new(url, worker::Method::Get).map_err(|e| e.to_string())?;
    let mut response = Fetch::Request(request).send_with_signal(&signal).await.map_err(|e| e.to_string())?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    let text = response.text().await.map_err(|e| e.to_string())?;
    KeySet::from_json(&text).map_err(|e| e.to_string())
}
