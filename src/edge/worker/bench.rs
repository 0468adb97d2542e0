//! Benchmark builds only (feature `bench`, `scripts/bench` and `scripts/load`): `POST
//! /_chartgate/bench` times decision steps inside the isolate, `GET /_chartgate/stats` reports
//! the verified-token cache's size. Never deployed.

use wasm_bindgen::JsCast as _;
use worker::{console_log, Date, Env, Request, Response, Result};

use super::gate::{decide, Outcome};
use super::isolate::{now_micros, now_secs, Isolate};
use crate::authorize;
use crate::edge::TOKEN_CACHE_CAPACITY;
use crate::wasm::webcrypto;

/// Logs the isolate's set-up time (the first request pays it) and answers the benchmark routes;
/// `Err` gives the request back for the chart routes.
pub(super) async fn route(
    req: Request,
    env: &Env,
    isolate: &Isolate,
    entered: f64,
) -> Result<std::result::Result<Response, Request>> {
    console_log!("chartgate-bench: isolate_us={}", (now_micros() - entered) as u64);
    // Each route apart: a chart request of the benchmark build compiles none of them, as in the
    // deployed build (the cold-start rows use this build).
    match req.path().as_str() {
        "/_chartgate/bench" => super::apart(bench(req, env, isolate)).await.map(Ok),
        "/_chartgate/bench-index" => super::apart(bench_index(req)).await.map(Ok),
        "/_chartgate/stats" => stats(isolate).map(Ok),
        _ => Ok(Err(req)),
    }
}

/// scripts/load: the verified-token cache must never grow past its bound.
#[inline(never)]
fn stats(isolate: &Isolate) -> Result<Response> {
    let len = isolate.tokens.borrow().len();
    let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
    let wasm_bytes = memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length();
    Response::ok(format!(
        r#"{{"token_cache_len":{len},"token_cache_capacity":{TOKEN_CACHE_CAPACITY},"wasm_memory_bytes":{wasm_bytes}}}"#
    ))
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
pub(super) async fn bench(mut req: Request, env: &Env, isolate: &Isolate) -> Result<Response> {
    let url = req.url()?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let step = param("step").unwrap_or_else(|| "full".into());
    let rounds = param("rounds").and_then(|r| r.parse::<usize>().ok()).unwrap_or(1).clamp(1, 1000);
    let Some(body) = super::body::read_bounded(&mut req, 16 * 1024 * 1024).await? else {
        return Response::error("body too large", 413);
    };
    let body = String::from_utf8_lossy(&body);
    let tokens: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
    let Ok(keys) = isolate.keys(&isolate.own, now_secs()).await else { return Response::error("no keys", 503) };
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
                    .map_err(crate::Reason::from)
                    .and_then(|p| crate::Claims::from_json(&p))
                    .is_ok(),
                "authorize" => verified.get(i).is_some_and(|(v, p)| authorize(v, p, policy, now).is_ok()),
                _ => {
                    let mut hit = false;
                    let request = request(header);
                    let path = crate::normalize(request.path);
                    matches!(decide(isolate, env, path, &request, &mut hit).await, Outcome::Allowed(..))
                }
            };
            ok += usize::from(passed);
        }
    }
    let elapsed_ms = Date::now().as_millis() - started;
    Response::ok(format!(r#"{{"n":{},"allowed":{ok},"elapsed_ms":{elapsed_ms}}}"#, tokens.len() * rounds))
}

/// `POST /_chartgate/bench-index?versions=&rounds=`: the CPU of rendering `index.yaml` from a
/// repository ledger of `versions` releases (default 1,000) inside the isolate, with no I/O,
/// `rounds` times (default 10): what a read of the index costs the ledger's Durable Object after a
/// commit. Answers the total, the rendered size, and the time the ledger took to build (what a
/// Durable Object's first request after it loads pays, each entry rendered once).
async fn bench_index(req: Request) -> Result<Response> {
    use crate::edge::store::ledger::{Change, ChartMeta, Ledger, Release};
    let url = req.url()?;
    let param = |name: &str, default: usize, most: usize| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(default)
            .clamp(1, most)
    };
    let (versions, rounds) = (param("versions", 1000, 100_000), param("rounds", 10, 1000));
    let changes: Vec<Change> = (0..versions)
        .map(|i| {
            let mut meta = ChartMeta {
                name: "bench".into(),
                version: format!("1.{}.{}", i / 1000, i % 1000),
                ..Default::default()
            };
            meta.strings.insert("apiVersion".into(), "v2".into());
            meta.strings.insert("description".into(), "A Helm chart for Kubernetes".into());
            meta.strings.insert("appVersion".into(), "1.16.0".into());
            let digest = format!("sha256:{:064x}", i);
            let release = Release {
                meta,
                archive: digest.clone(),
                prov: None,
                config: digest.clone(),
                manifest: digest,
                created: "2026-01-01T00:00:00Z".into(),
                entry: None,
            };
            Change::PutRelease { release: Box::new(release) }
        })
        .collect();
    let loading = Date::now().as_millis();
    let ledger = Ledger::from_changes(&changes);
    let load_ms = Date::now().as_millis() - loading;
    let started = Date::now().as_millis();
    let mut written = 0;
    for _ in 0..rounds {
        written = ledger.render_index("2026-01-01T00:00:00Z").len();
    }
    let elapsed_ms = Date::now().as_millis() - started;
    Response::ok(format!(
        r#"{{"versions":{versions},"rounds":{rounds},"elapsed_ms":{elapsed_ms},"load_ms":{load_ms},"written_bytes":{written}}}"#
    ))
}
