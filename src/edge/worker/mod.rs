//! The Cloudflare Worker glue (wasm32, feature `edge`): `fetch` routes each request to a plain
//! function, which turns it into calls on the engine and the edge's rules ([`decide`]), answers a
//! refusal ([`respond`]) or serves what was allowed from the edge cache, R2 or the origin
//! ([`serve`]). Per-isolate state lives in [`isolate`]; no authorization rule lives here.

mod api;
#[cfg(feature = "bench")]
mod bench;
mod body;
mod cache;
mod charts;
mod failure;
mod gate;
mod gc;
mod isolate;
mod r2;
mod registry;
mod repo_ledger;
mod respond;
mod serve;
mod stale;

use worker::{
    console_error, console_log, event, Context, Env, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

use crate::edge::gate::token_endpoint;
use crate::edge::{AuditLine, CacheStatus, ChartBackend, EdgeConfig, RequestUrl};
use crate::Route;
use gate::{decide, Outcome};
use isolate::{now_micros, Isolate};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    #[cfg(feature = "bench")]
    let entered = now_micros();
    let isolate = match isolate::isolate(&env) {
        Ok(i) => i,
        Err(message) => {
            console_error!("chartgate: {message}");
            return respond::error(500, "server_error", "chartgate is misconfigured");
        }
    };
    #[cfg(feature = "bench")]
    let req = match bench::route(req, &env, &isolate, entered).await? {
        Ok(response) => return Ok(response),
        Err(req) => req,
    };
    decide_and_serve(req, &env, &isolate).await
}

/// The cron trigger: registry garbage collection, as of the scheduled time.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    gc::run(&env, (event.schedule() / 1000.0) as u64).await;
}

/// An allowed request's target: its route and normalised path, the URL it came on, and where to
/// look (the bindings and the configuration).
#[derive(Clone, Copy)]
struct Target<'a> {
    pub env: &'a Env,
    pub config: &'a EdgeConfig,
    pub route: &'a Route,
    pub path: &'a str,
    pub url: &'a RequestUrl,
    /// A registry blob mount's source, when the token may pull from it.
    pub mount_from: Option<&'a crate::RepoName>,
}

/// A chart or registry request: decide, log one audit line, then refuse or serve.
async fn decide_and_serve(mut req: Request, env: &Env, isolate: &Isolate) -> Result<Response> {
    let started = now_micros();
    // The runtime's serialization, split rather than parsed again.
    let mut url =
        RequestUrl::parse(&req.inner().url()).map_err(|e| worker::Error::RustError(format!("request URL: {e}")))?;
    // `helm pull --verify` of a `?token=` repository asks for `…/x.tgz?token=<jwt>.prov`.
    if let Some((path, query)) = crate::helm_provenance_request(url.path(), url.query()) {
        url = url.with_path_and_query(&path, Some(&query));
    }
    // The method as sent: the worker crate maps methods it does not know to GET.
    let method = req.inner().method();
    let mut authorization = req.headers().get("Authorization")?;
    if method == "POST" && url.path() == "/token" {
        // The Docker clients' token request form: its password is the credential.
        let Some(body) = apart(body::read_bounded(&mut req, token_endpoint::MAX_FORM)).await? else {
            let why = format!("the token request form is larger than {} bytes", token_endpoint::MAX_FORM);
            return respond::error(413, "invalid_request", &why);
        };
        match token_endpoint::form_password(&body) {
            Ok(password) => authorization = Some(format!("Bearer {password}")),
            Err(e) => return respond::error(400, e.code(), &e.to_string()),
        }
    }
    let request = crate::Request {
        method: &method,
        path: url.path(),
        query: url.query(),
        authorization: authorization.as_deref(),
    };
    let mut token_cache_hit = false;
    let path = crate::normalize(url.path());
    let registry = crate::is_registry_path(url.path());
    let normalized = path.as_ref().ok().cloned();
    // Each part below is boxed: its own poll function in the wasm, compiled on its first call,
    // so a request compiles the parts it runs and not one state machine of every route.
    let outcome = apart(decide(isolate, env, path, &request, &mut token_cache_hit)).await;
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
    let mount_from = match &outcome {
        Outcome::Allowed(grant, _) => grant.mount_from.clone(),
        _ => None,
    };
    let (route, grant_line) = match &outcome {
        Outcome::Allowed(grant, prepared) => (prepared.route.clone(), Some(AuditLine::allowed(grant))),
        Outcome::Denied(denial) => {
            // Report-only serves a valid read route whatever the token; request errors and
            // writes are still refused.
            match config.report_only_route(&method, normalized.as_ref(), denial.status()) {
                Some(route) => {
                    let mut line = AuditLine::denied(denial);
                    line.decision = "report-only-deny";
                    (route, Some(line))
                }
                None => {
                    let line = AuditLine::denied(denial);
                    log(line, denial.status(), None);
                    return respond::denial(denial, config, registry, url.origin());
                }
            }
        }
        // Keys or the revocation list cannot be read: the engine's reason, its code in the body
        // and in the audit line alike.
        Outcome::Unavailable(reason) => {
            let (status, line) = (reason.status(), AuditLine::unavailable(reason));
            match config.report_only_route(&method, normalized.as_ref(), status) {
                Some(route) => (route, Some(AuditLine { decision: "report-only-deny", ..line })),
                None => {
                    log(line, status, None);
                    // The denial's body (`error` and `reason` both the code), with no challenge:
                    // another token would not help.
                    return respond::json(status, &crate::Denial::new(reason.clone()).body());
                }
            }
        }
    };
    if let (Route::Token, Outcome::Allowed(grant, prepared)) = (&route, &outcome) {
        let response = token_answer(prepared.credential.as_ref().map(|c| c.token.as_str()), grant.exp)?;
        if let Some(line) = grant_line {
            log(line, response.status_code(), None);
        }
        return Ok(response);
    }
    let path = normalized.as_ref().map_or("/", |p| p.as_str());
    // RFC 9110 on every HTTP route's reads (the registry's routes answer by digest themselves).
    let read =
        matches!(method.as_str(), "GET" | "HEAD") && !matches!(route, Route::RegistryBase | Route::Registry { .. });
    let preconditions = if read { Some(respond::preconditions(&req)?) } else { None };
    let target = Target { env, config, route: &route, path, url: &url, mount_from: mount_from.as_ref() };
    // The route table: each way of answering is its own boxed future (V8 compiles a wasm
    // function on its first call), so a request compiles only the way it is served; the chart
    // backend (the ledger, or ORIGIN_URL) is decided here, once.
    let served = match (&route, &config.backend) {
        (Route::RegistryBase, _) => registry::base(),
        (Route::Registry { repo, endpoint, .. }, _) => apart(registry::serve(req, target, repo, endpoint)).await,
        (Route::ApiRead { repo } | Route::ApiWrite { repo }, ChartBackend::Ledger { .. }) => {
            apart(api::serve(req, target, repo)).await
        }
        (Route::ApiRead { .. } | Route::ApiWrite { .. }, ChartBackend::Origin(origin)) => {
            apart(serve::pass_through(req, target, origin)).await
        }
        (Route::Index { .. } | Route::Artifact { .. }, ChartBackend::Ledger { .. }) => {
            apart(serve::serve_ledger(req, target)).await
        }
        (Route::Index { .. } | Route::Artifact { .. }, ChartBackend::Origin(origin)) => {
            apart(serve::serve_object(req, target, origin)).await
        }
        (Route::Health, _) => serve::health(),
        // Reached only in report-only mode with a refused token: there is no token to answer with.
        (Route::Token, _) => serve::no_token(),
    };
    let (response, cache) = match served {
        Ok((response, cache)) => match &preconditions {
            Some(p) => (respond::http_semantics(p, method == "HEAD", response).await?, cache),
            None => (response, cache),
        },
        // The one mapping of a failure to a response.
        Err(failure) => (failure.into_response()?, CacheStatus::Miss),
    };
    if let Some(line) = grant_line {
        log(line, response.status_code(), Some(cache));
    }
    Ok(response)
}

/// The token endpoint's answer: the credential that was verified, as the Docker token response.
#[inline(never)] // compiled only by the token route
fn token_answer(token: Option<&str>, exp: Option<u64>) -> Result<Response> {
    match token {
        Some(token) => respond::json(200, &token_endpoint::token_response(token, exp, isolate::now_secs())),
        None => respond::error(401, "invalid_request", "present a token as the password"),
    }
}

/// `future` behind a pointer the compiler cannot see through: its poll function stays its own
/// function in the wasm (not inlined into the caller's state machine), which V8 compiles when it
/// first runs, so a request compiles only the parts it uses.
pub(super) fn apart<'a, T>(
    future: impl std::future::Future<Output = T> + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>> {
    Box::pin(future)
}
