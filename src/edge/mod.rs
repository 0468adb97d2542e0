//! The Cloudflare Worker: turns a request into calls on the engine, then serves what it allows
//! from the edge cache, R2 or the origin (see [`serve`]). It keeps per-isolate state
//! (configuration, fetched JWKS, verified tokens) and has no authorization rules of its own.

mod serve;

use std::cell::RefCell;
use std::rc::Rc;

use worker::{console_error, console_log, event, Context, Date, Env, Fetch, Headers, Request, Response, Result};

use crate::{
    authorize, prepare_path, webcrypto, AuditLine, CacheStatus, Denial, EdgeConfig, Grant, KeySet, NormalizedPath,
    Plan, Prepared, Reason, RefreshRules, RemoteKeys, Route, TokenCache, VerifiedToken, SECURITY_HEADERS,
    TOKEN_CACHE_CAPACITY,
};

/// Per-isolate state.
struct Isolate {
    config: EdgeConfig,
    rules: RefreshRules,
    remote: RefCell<RemoteKeys>,
    /// Static keys merged with the latest remote keys.
    keys: RefCell<Option<Rc<KeySet>>>,
    tokens: RefCell<TokenCache>,
    /// When the JWKS fetch in flight started, in ms (0: none). One fetch at a time per isolate;
    /// a fetch whose request was cancelled counts as over once its timeout has passed.
    fetch_started: std::cell::Cell<u64>,
    /// Whether the optional `REVOCATIONS` binding exists (looked up once, not per request).
    revocations: bool,
}

thread_local! {
    static ISOLATE: RefCell<Option<std::result::Result<Rc<Isolate>, String>>> = const { RefCell::new(None) };
}

fn isolate(env: &Env) -> std::result::Result<Rc<Isolate>, String> {
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

fn now_secs() -> u64 {
    Date::now().as_millis() / 1000
}

fn now_micros() -> f64 {
    // performance.now() where the runtime has it; Date otherwise.
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or(Date::now().as_millis() as f64, |p| p.now())
        * 1000.0
}

use wasm_bindgen::JsCast as _;

/// The JWKS endpoint is down past max-stale: requests fail closed.
struct KeysUnavailable;

/// How often a request waiting for another request's JWKS fetch looks again. Workers cannot
/// await a promise that belongs to another request, so the wait is a timer in its own.
const JOIN_POLL_MS: u64 = 5;

impl Isolate {
    /// The keys to verify with, fetching the JWKS URL when its copy is missing or old.
    async fn keys(&self, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
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
    async fn refetch(&self, url: &str, now: u64) -> std::result::Result<Rc<KeySet>, KeysUnavailable> {
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
    fn fetching(&self) -> bool {
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

/// The outcome of authorization at the edge.
enum Outcome {
    Allowed(Grant, Prepared),
    Denied(Denial),
    Unavailable,
}

/// Runs the engine for one request; `token_cache_hit` reports whether the signature was skipped.
async fn decide(
    isolate: &Isolate,
    env: &Env,
    path: Result<NormalizedPath, crate::PathError>,
    request: &crate::Request<'_>,
    token_cache_hit: &mut bool,
) -> Outcome {
    let policy = &isolate.config.policy;
    let prepared = match path.map_err(|e| Denial::new(e.into())).and_then(|p| prepare_path(p, request, policy)) {
        Ok(p) => p,
        Err(d) => return Outcome::Denied(d),
    };
    let Some(credential) = &prepared.credential else {
        return Outcome::Allowed(Grant::public(prepared.route.clone()), prepared);
    };
    let now = now_secs();
    let Ok(keys) = isolate.keys(now).await else { return Outcome::Unavailable };
    let hash = isolate.tokens.borrow().hash(&credential.token);
    let cached = isolate.tokens.borrow_mut().get(&hash, now).filter(|t| keys.has(&t.kid));
    let verified: Rc<VerifiedToken> = match cached {
        Some(token) => {
            *token_cache_hit = true;
            token
        }
        None => {
            let mut result = webcrypto::verify_token(&credential.token, &keys).await;
            if let (Err(Reason::UnknownKid(_)), Some(url)) = (&result, &isolate.config.jwks_url) {
                // Key rotation: newer keys than this request started with, the fetch in flight,
                // or one rate-limited refetch.
                let newer = isolate.keys.borrow().clone().filter(|current| !Rc::ptr_eq(current, &keys));
                let fresh = match newer {
                    Some(current) => Ok(current),
                    None if isolate.fetching()
                        || isolate.remote.borrow().may_refetch_for_unknown_kid(now, &isolate.rules) =>
                    {
                        isolate.refetch(url, now).await
                    }
                    None => Err(KeysUnavailable),
                };
                if let Ok(fresh) = fresh {
                    result = webcrypto::verify_token(&credential.token, &fresh).await;
                }
            }
            match result {
                Ok(token) => {
                    let token = Rc::new(token);
                    isolate.tokens.borrow_mut().insert(hash, token.clone());
                    token
                }
                Err(reason) => {
                    let denial =
                        Denial { scope: prepared.required(), via: Some(credential.via), ..Denial::new(reason) };
                    return Outcome::Denied(denial);
                }
            }
        }
    };
    let grant = match authorize(&verified, &prepared, policy, now) {
        Ok(g) => g,
        Err(d) => return Outcome::Denied(d),
    };
    let Ok(revoked) = (if isolate.revocations { is_revoked(env, &grant).await } else { Ok(false) }) else {
        return Outcome::Unavailable;
    };
    if revoked {
        let holder = crate::Holder { sub: grant.sub.clone(), jti: grant.jti.clone() };
        let denial = Denial {
            scope: grant.scope.clone(),
            via: grant.via,
            holder: Some(Box::new(holder)),
            ..Denial::new(Reason::Revoked)
        };
        return Outcome::Denied(denial);
    }
    Outcome::Allowed(grant, prepared)
}

/// Looks up the token's revocation keys (its `jti`, its ancestors' and its `sub`, see
/// [`crate::revocation_keys`]) in the optional `REVOCATIONS` KV namespace. `Err` when the list
/// cannot be read (the caller fails closed).
async fn is_revoked(env: &Env, grant: &Grant) -> std::result::Result<bool, ()> {
    let Ok(kv) = env.kv("REVOCATIONS") else { return Ok(false) };
    for key in crate::revocation_keys(grant.jti.as_deref(), &grant.lineage, grant.sub.as_deref()) {
        match kv.get(&key).text().await {
            Ok(Some(_)) => return Ok(true),
            Ok(None) => {}
            Err(e) => {
                console_error!("chartgate: revocation lookup failed: {e}");
                return Err(());
            }
        }
    }
    Ok(false)
}

fn json_response(status: u16, body: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    for (k, v) in SECURITY_HEADERS {
        headers.set(k, v)?;
    }
    Ok(Response::from_bytes(body.as_bytes().to_vec())?.with_status(status).with_headers(headers))
}

fn denial_response(denial: &Denial, config: &EdgeConfig) -> Result<Response> {
    let response = json_response(denial.status(), &denial.body())?;
    if let Some(challenge) = denial.www_authenticate(&config.policy) {
        response.headers().set("WWW-Authenticate", &challenge)?;
    }
    Ok(response)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    #[cfg(feature = "bench")]
    let entered = now_micros();
    let isolate = match isolate(&env) {
        Ok(i) => i,
        Err(message) => {
            console_error!("chartgate: {message}");
            return json_response(500, r#"{"error":"server_error","error_description":"chartgate is misconfigured"}"#);
        }
    };
    // scripts/bench: the isolate's set-up (configuration, JWKS) is the first request's to pay.
    #[cfg(feature = "bench")]
    console_log!("chartgate-bench: isolate_us={}", (now_micros() - entered) as u64);
    #[cfg(feature = "bench")]
    if req.path() == "/_chartgate/bench" {
        return bench(req, &env, &isolate).await;
    }
    #[cfg(feature = "bench")]
    if req.path() == "/_chartgate/stats" {
        // scripts/load: the verified-token cache must never grow past its bound.
        let len = isolate.tokens.borrow().len();
        let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
        let wasm_bytes = memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length();
        return Response::ok(format!(
            r#"{{"token_cache_len":{len},"token_cache_capacity":{TOKEN_CACHE_CAPACITY},"wasm_memory_bytes":{wasm_bytes}}}"#
        ));
    }
    let started = now_micros();
    let url = req.url()?;
    // The method as sent: the worker crate maps methods it does not know to GET.
    let method = req.inner().method();
    let authorization = req.headers().get("Authorization")?;
    let request = crate::Request {
        method: &method,
        path: url.path(),
        query: url.query(),
        authorization: authorization.as_deref(),
    };
    let mut token_cache_hit = false;
    let path = NormalizedPath::parse(url.path());
    let normalized = path.as_ref().ok().cloned();
    let outcome = decide(&isolate, &env, path, &request, &mut token_cache_hit).await;
    let auth_us = (now_micros() - started).max(0.0) as u64;
    let config = &isolate.config;
    let log = |line: AuditLine<'_>, status: u16, cache: Option<CacheStatus>| {
        let path = normalized.as_ref().map(|p| p.as_str());
        let line = AuditLine {
            method: &method,
            path,
            status,
            cache: cache.map(CacheStatus::as_str),
            auth_us,
            token_cache_hit,
            ..line
        };
        console_log!("{}", line.to_json());
    };
    let (route, grant_line) = match &outcome {
        Outcome::Allowed(grant, prepared) => (prepared.route.clone(), Some(AuditLine::allowed(grant))),
        Outcome::Denied(denial) => {
            // Report-only serves a valid read route whatever the token; request errors and
            // writes are still refused.
            let route = config
                .report_only_serves(&method, denial.status())
                .then(|| {
                    normalized
                        .as_ref()
                        .and_then(|p| Route::parse(&method, p, config.policy.depth, &config.policy.default_repo).ok())
                })
                .flatten();
            match route {
                Some(route) => {
                    let mut line = AuditLine::denied(denial);
                    line.decision = "report-only-deny";
                    (route, Some(line))
                }
                None => {
                    let line = AuditLine::denied(denial);
                    log(line, denial.status(), None);
                    return denial_response(denial, config);
                }
            }
        }
        Outcome::Unavailable => {
            let route = config
                .report_only_serves(&method, 503)
                .then(|| {
                    normalized
                        .as_ref()
                        .and_then(|p| Route::parse(&method, p, config.policy.depth, &config.policy.default_repo).ok())
                })
                .flatten();
            let line = AuditLine { decision: "deny", reason: "unavailable", ..Default::default() };
            match route {
                Some(route) => (route, Some(AuditLine { decision: "report-only-deny", ..line })),
                None => {
                    log(line, 503, None);
                    return json_response(
                        503,
                        r#"{"error":"temporarily_unavailable","error_description":"signing keys or the revocation list cannot be read; refusing to decide"}"#,
                    );
                }
            }
        }
    };
    let path = normalized.as_ref().map_or("/", |p| p.as_str());
    let (response, cache) = match serve::serve(req, &env, config, &route, path, &url).await {
        Ok(r) => r,
        Err(e) => {
            console_error!("chartgate: serving failed: {e}");
            (
                json_response(502, r#"{"error":"bad_gateway","error_description":"the chart store failed"}"#)?,
                CacheStatus::Miss,
            )
        }
    };
    if let Some(line) = grant_line {
        log(line, response.status_code(), Some(cache));
    }
    Ok(response)
}

/// Benchmark builds only (`/_chartgate/bench`; `/_chartgate/stats` reports the token cache's
/// size): runs one step of the decision (`?step=`, default `full`) for each token of the body
/// (one per line), `?rounds=` times over (default 1), as `GET /org1/repo1/index.yaml` with a
/// bearer header, and answers how long the loop took inside the isolate. Inputs each step needs
/// (headers, parsed tokens, verified tokens) are made before the clock starts. Steps:
/// `full` (the whole decision), `prepare` (path, route, credential), `cache` (keyed hash and
/// verified-token cache lookup), `parse` (JWS parse and key selection), `promise` (awaiting a
/// settled JavaScript promise: the glue each WebCrypto call pays), `webcrypto` (the RS256
/// verify alone), `signature` (parse, key selection and verify), `claims` (claims JSON),
/// `authorize` (time, issuer, audience and access checks and the grant, on a verified token).
#[cfg(feature = "bench")]
async fn bench(mut req: Request, env: &Env, isolate: &Isolate) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let step = param("step").unwrap_or_else(|| "full".into());
    let rounds = param("rounds").and_then(|r| r.parse::<usize>().ok()).unwrap_or(1).clamp(1, 1000);
    let body = req.text().await?;
    let tokens: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
    let Ok(keys) = isolate.keys(now_secs()).await else { return Response::error("no keys", 503) };
    let headers: Vec<String> = tokens.iter().map(|t| format!("Bearer {t}")).collect();
    fn request(auth: &str) -> crate::Request<'_> {
        crate::Request { method: "GET", path: "/org1/repo1/index.yaml", query: None, authorization: Some(auth) }
    }
    let policy = &isolate.config.policy;
    let pending: Vec<_> = match step.as_str() {
        "webcrypto" => tokens.iter().filter_map(|t| crate::begin(t, &keys).ok()).collect(),
        _ => Vec::new(),
    };
    let mut verified = Vec::new();
    if step == "authorize" {
        for (token, header) in tokens.iter().zip(&headers) {
            let (Ok(v), Ok(p)) =
                (webcrypto::verify_token(token, &keys).await, crate::prepare(&request(header), policy))
            else {
                return Response::error("a token did not verify", 400);
            };
            verified.push((v, p));
        }
    }
    let now = now_secs();
    let started = Date::now().as_millis();
    let mut ok = 0;
    for _ in 0..rounds {
        for (i, (token, header)) in tokens.iter().zip(&headers).enumerate() {
            let passed = match step.as_str() {
                "prepare" => crate::prepare(&request(header), policy).is_ok(),
                "cache" => {
                    let hash = isolate.tokens.borrow().hash(token);
                    isolate.tokens.borrow_mut().get(&hash, now).is_some()
                }
                "parse" => crate::begin(token, &keys).is_ok(),
                "promise" => {
                    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&wasm_bindgen::JsValue::TRUE))
                        .await
                        .is_ok_and(|v| v.is_truthy())
                }
                "webcrypto" => match pending.get(i) {
                    Some(p) => webcrypto::verify(p.key(), p.message(), p.signature()).await.unwrap_or(false),
                    None => false,
                },
                "signature" => match crate::begin(token, &keys) {
                    Ok(p) => webcrypto::verify(p.key(), p.message(), p.signature()).await.unwrap_or(false),
                    Err(_) => false,
                },
                "claims" => crate::UnverifiedToken::parse(token)
                    .and_then(|u| u.dangerous_payload())
                    .and_then(|p| crate::Claims::from_json(&p))
                    .is_ok(),
                "authorize" => verified.get(i).is_some_and(|(v, p)| authorize(v, p, policy, now).is_ok()),
                _ => {
                    let mut hit = false;
                    let request = request(header);
                    let path = NormalizedPath::parse(request.path);
                    matches!(decide(isolate, env, path, &request, &mut hit).await, Outcome::Allowed(..))
                }
            };
            ok += usize::from(passed);
        }
    }
    let elapsed_ms = Date::now().as_millis() - started;
    Response::ok(format!(r#"{{"n":{},"allowed":{ok},"elapsed_ms":{elapsed_ms}}}"#, tokens.len() * rounds))
}
