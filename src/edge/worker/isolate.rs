//! Per-isolate state of the worker: the configuration (read once), the trusted keys, one
//! [`KeyStore`] per source (this deployment's own keys, static and fetched from `JWKS_URL`, and
//! each trust policy's, fetched by OIDC discovery or from its JWKS URL; all by [`RefreshRules`]:
//! one fetch at a time, stale keys within max-stale, then fail closed) and the verified-token
//! cache.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsCast as _;
use worker::{console_error, Date, Env, Fetch, Request};

use crate::edge::{EdgeConfig, Plan, RefreshRules, RemoteKeys, TokenCache, TOKEN_CACHE_CAPACITY};
use crate::wasm::webcrypto;
use crate::{KeySet, KeySource, TrustedBy};

/// Where a key store's keys are fetched from.
#[derive(Debug, Clone)]
pub(super) enum Remote {
    /// A JWKS URL.
    Jwks(String),
    /// An OIDC discovery document, whose `issuer` must be this one and whose `jwks_uri` is then fetched.
    Discovery { url: String, issuer: String },
}

impl Remote {
    fn url(&self) -> &str {
        match self {
            Remote::Jwks(url) | Remote::Discovery { url, .. } => url,
        }
    }
}

/// The keys of one source: static ones, fetched ones, and the fetch in flight.
pub(super) struct KeyStore {
    /// A name for logs: `JWKS_URL` or `trust policy "github"`.
    pub(super) name: String,
    /// The trust policy whose keys these are; `None` for this deployment's own.
    policy: Option<String>,
    pub(super) remote: Option<Remote>,
    static_keys: Option<KeySet>,
    pub(super) state: RefCell<RemoteKeys>,
    /// Static keys merged with the latest remote keys.
    pub(super) keys: RefCell<Option<Rc<KeySet>>>,
    /// When the fetch in flight started, in ms (0: none). One fetch at a time per store; a fetch
    /// whose request was cancelled counts as over once its timeout has passed.
    fetch_started: Cell<u64>,
}

/// Per-isolate state.
pub(super) struct Isolate {
    pub(super) config: EdgeConfig,
    pub(super) rules: RefreshRules,
    /// This deployment's own keys (`JWKS`, `JWKS_URL`).
    pub(super) own: KeyStore,
    /// One store per trust policy, in the policies' order.
    pub(super) trusted: Vec<KeyStore>,
    pub(super) tokens: RefCell<TokenCache>,
    /// Whether the optional `REVOCATIONS` binding exists (looked up once, not per request).
    pub(super) revocations: bool,
}

thread_local! {
    static ISOLATE: RefCell<Option<std::result::Result<Rc<Isolate>, String>>> = const { RefCell::new(None) };
}

pub(super) fn isolate(env: &Env) -> std::result::Result<Rc<Isolate>, String> {
    ISOLATE.with(|cell| cell.borrow_mut().get_or_insert_with(|| Isolate::new(env)).clone())
}

impl Isolate {
    /// The isolate's state from its bindings, on its first request. Each part is its own function
    /// (V8 compiles a wasm function on its first call): what a deployment does not configure is
    /// never compiled.
    #[inline(never)]
    fn new(env: &Env) -> std::result::Result<Rc<Isolate>, String> {
        let lookup = |name: &'static str| {
            env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
        };
        let config = EdgeConfig::from_lookup(lookup).map_err(|e| e.to_string())?;
        let rules = RefreshRules {
            ttl: config.jwks_ttl,
            max_stale: config.jwks_max_stale,
            min_interval: config.jwks_refetch_interval,
        };
        let own =
            KeyStore::new("JWKS_URL".into(), config.jwks_url.clone().map(Remote::Jwks), config.static_keys.clone());
        let trusted = config.trust.policies().iter().map(KeyStore::of_policy).collect();
        let tokens = match random_key() {
            Some(key) => TokenCache::new(TOKEN_CACHE_CAPACITY, key),
            None => TokenCache::new(0, [0; 16]),
        };
        let revocations = env.kv("REVOCATIONS").is_ok();
        Ok(Rc::new(Isolate { config, rules, own, trusted, tokens: RefCell::new(tokens), revocations }))
    }
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

/// A key source is down past max-stale: requests fail closed.
pub(super) struct KeysUnavailable;

/// How often a request waiting for another request's JWKS fetch looks again. Workers cannot
/// await a promise that belongs to another request, so the wait is a timer in its own.
const JOIN_POLL_MS: u64 = 5;

impl Isolate {
    /// The store whose keys verified a cached token: this deployment's own, or its trust policy's.
    pub(super) fn store_of(&self, trusted: Option<&TrustedBy>) -> Option<&KeyStore> {
        match trusted {
            None => Some(&self.own),
            Some(by) => {
                self.config.trust.policies().iter().position(|p| p.name == by.policy).and_then(|i| self.trusted.get(i))
            }
        }
    }

    /// A store's keys, fetching when its copy is missing or old.
    pub(super) async fn keys(&self, store: &KeyStore, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        if store.remote.is_none() {
            return store.keys.borrow().clone().ok_or(KeysUnavailable);
        }
        let plan = store.state.borrow().plan(now, &self.rules);
        match plan {
            Plan::Use(_) => store.keys.borrow().clone().ok_or(KeysUnavailable),
            Plan::Fetch => super::apart(self.refetch(store, now)).await,
            Plan::Unavailable => Err(KeysUnavailable),
        }
    }

    /// Fetches a store's keys, or waits for the fetch already in flight, so that a rotation seen
    /// by many requests at once costs one fetch and none of them is refused while it runs.
    pub(super) async fn refetch(&self, store: &KeyStore, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        let Some(remote) = &store.remote else { return store.keys.borrow().clone().ok_or(KeysUnavailable) };
        if self.fetching(store) {
            while self.fetching(store) {
                worker::Delay::from(std::time::Duration::from_millis(JOIN_POLL_MS)).await;
            }
            return store.keys.borrow().clone().ok_or(KeysUnavailable);
        }
        store.fetch_started.set(Date::now().as_millis().max(1));
        let keys = self.fetch_and_store(store, remote, now).await;
        store.fetch_started.set(0);
        keys
    }

    /// Whether a fetch of this store's keys is in flight.
    pub(super) fn fetching(&self, store: &KeyStore) -> bool {
        let started = store.fetch_started.get();
        // Discovery is two requests, each with the timeout.
        started != 0 && Date::now().as_millis() < started + 2 * self.config.jwks_timeout * 1000 + 1000
    }

    async fn fetch_and_store(
        &self,
        store: &KeyStore,
        remote: &Remote,
        now: u64,
    ) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
        store.state.borrow_mut().attempting(now);
        match fetch_keys(remote, self.config.jwks_timeout).await {
            Ok(fetched) => {
                let rebuild = store.state.borrow_mut().fetched(fetched.clone(), now);
                if rebuild || store.keys.borrow().is_none() {
                    let merged = match &store.static_keys {
                        Some(s) => s.merged(&fetched),
                        None => fetched,
                    };
                    *store.keys.borrow_mut() = Some(Rc::new(merged));
                    self.tokens.borrow_mut().clear();
                    webcrypto::forget_keys();
                }
            }
            Err(why) => {
                console_error!("chartgate: keys of {} from {} cannot be fetched: {why}", store.name, remote.url());
                if store.state.borrow_mut().failed(now, &self.rules) {
                    // Past max-stale: only static keys, if any, remain trusted.
                    let fallback = store.static_keys.clone().map(Rc::new);
                    *store.keys.borrow_mut() = fallback.clone();
                    self.tokens.borrow_mut().clear();
                    return fallback.ok_or(KeysUnavailable);
                }
            }
        }
        store.keys.borrow().clone().ok_or(KeysUnavailable)
    }
}

impl KeyStore {
    /// A trust policy's store.
    #[inline(never)]
    fn of_policy(p: &crate::TrustPolicy) -> Self {
        let (remote, keys) = match &p.keys {
            KeySource::Inline(keys) => (None, Some(keys.clone())),
            KeySource::JwksUrl(url) => (Some(Remote::Jwks(url.clone())), None),
            KeySource::Discovery(url) => (Some(Remote::Discovery { url: url.clone(), issuer: p.issuer.clone() }), None),
        };
        let mut store = KeyStore::new(format!("trust policy {:?}", p.name), remote, keys);
        store.policy = Some(p.name.clone());
        store
    }

    /// The refusal when these keys cannot be had: 503 `keys_unavailable` naming their owner.
    pub(super) fn unavailable(&self) -> crate::Reason {
        crate::Reason::KeysUnavailable(self.policy.clone())
    }

    fn new(name: String, remote: Option<Remote>, static_keys: Option<KeySet>) -> Self {
        // Without a remote source the static keys (possibly none) are all there is.
        let keys = remote.is_none().then(|| Rc::new(static_keys.clone().unwrap_or_default()));
        KeyStore {
            name,
            policy: None,
            remote,
            static_keys,
            state: RefCell::default(),
            keys: RefCell::new(keys),
            fetch_started: Cell::new(0),
        }
    }
}

async fn get_text(url: &str, timeout_secs: u64) -> std::result::Result<String, String> {
    let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout_secs as u32 * 1000));
    let request = Request::new(url, worker::Method::Get).map_err(|e| e.to_string())?;
    let mut response = Fetch::Request(request).send_with_signal(&signal).await.map_err(|e| e.to_string())?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    response.text().await.map_err(|e| e.to_string())
}

async fn fetch_keys(remote: &Remote, timeout_secs: u64) -> std::result::Result<KeySet, String> {
    let jwks_url = match remote {
        Remote::Jwks(url) => url.clone(),
        Remote::Discovery { url, issuer } => crate::discovered_jwks_uri(&get_text(url, timeout_secs).await?, issuer)?,
    };
    KeySet::from_json(&get_text(&jwks_url, timeout_secs).await?).map_err(|e| e.to_string())
}
