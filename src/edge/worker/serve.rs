//! Serving allowed chart requests: a ledger repository's objects ([`serve_ledger`]); with an
//! origin (`ORIGIN_URL`), chart objects from the edge cache, then R2, then the origin (stored in
//! the cache on the way back) and ChartMuseum API routes passed through to it, what a successful
//! write made stale purged from the cache and R2. Headers, ranges and conditional requests follow
//! [`crate::edge`]'s serving rules. Nothing here is reached by a denied request, and credentials
//! never enter a cache key.

use sha2::{Digest, Sha256};
use worker::{
    AbortSignal, Cache, Fetch, FormEntry, Headers, Method, Request, RequestInit, Response, ResponseBody, Result, Url,
};

use super::failure::Reply;
use super::stale::purge;
use super::{respond, Target};
use crate::edge::{
    chart_id, client_cache_control, content_type, edge_cache_control, is_chart_upload, stale_objects, CacheStatus,
    ChartId, EdgeConfig, Origin, CACHE_STATUS_HEADER, ORIGIN_SAFE_HEADERS, SECURITY_HEADERS,
};
use crate::{NormalizedPath, Route};

/// `GET /health`.
pub(super) fn health() -> Reply<(Response, CacheStatus)> {
    Ok((with_client_headers(Response::ok("ok")?, None, CacheStatus::Miss)?, CacheStatus::Miss))
}

/// The token route in report-only mode with a refused token: there is no token to answer with.
pub(super) fn no_token() -> Reply<(Response, CacheStatus)> {
    Ok((super::respond::error(401, "invalid_token", "present a valid token as the password")?, CacheStatus::Miss))
}

/// The worker's JSON error, with the cache status of a response that was not served.
fn error(status: u16, code: &str, description: &str) -> Result<Response> {
    with_client_headers(respond::error(status, code, description)?, None, CacheStatus::Miss)
}

fn with_client_headers(response: Response, route: Option<&Route>, cache: CacheStatus) -> Result<Response> {
    let headers = response.headers();
    for (k, v) in SECURITY_HEADERS {
        headers.set(k, v)?;
    }
    headers.set(CACHE_STATUS_HEADER, cache.as_str())?;
    match route {
        Some(route) => headers.set("Cache-Control", client_cache_control(route))?,
        None if !headers.has("Cache-Control")? => headers.set("Cache-Control", "private, no-store")?,
        None => {}
    }
    Ok(response)
}

/// The copy kept in the edge cache (no client-specific headers).
fn stored_response(body: ResponseBody, etag: Option<&str>, route: &Route, config: &EdgeConfig) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", content_type(route))?;
    headers.set("Cache-Control", &edge_cache_control(route, config.index_ttl))?;
    if let Some(etag) = etag {
        headers.set("ETag", etag)?;
    }
    Ok(Response::from_body(body)?.with_headers(headers))
}

/// A chart object of an origin-less repository: everything comes from the ledger.
pub(super) async fn serve_ledger(req: Request, target: Target<'_>) -> Reply<(Response, CacheStatus)> {
    let route = target.route;
    match super::charts::lookup(target).await {
        Ok(Some((stored, cache))) => finish(&req, stored, route, cache).await,
        Ok(None) => Ok((error(404, "not_found", "no such chart object")?, CacheStatus::Miss)),
        Err(e) => {
            let key = crate::edge::store::layout::object_of(route).unwrap_or_default();
            worker::console_error!("chartgate: R2 read of {key} failed (through the repository ledger): {e}");
            Ok((error(502, "bad_gateway", "the chart store (R2, the repository ledger) failed")?, CacheStatus::Miss))
        }
    }
}

/// A chart object of a repository with an origin: the edge cache, then R2, then the origin.
pub(super) async fn serve_object(req: Request, target: Target<'_>, origin: &Origin) -> Reply<(Response, CacheStatus)> {
    let Target { env, config, route, path, .. } = target;
    let key = crate::edge::store::layout::object_of(route).unwrap_or_default();
    // The cache key is the canonical object URL: no hostname, no query, so no credential, ever.
    let cache_key = crate::edge::store::layout::cache::object(&key);
    let cache = Cache::default();
    if let Some(hit) = cache.get(cache_key.as_str(), true).await? {
        return finish(&req, hit, route, CacheStatus::Hit).await;
    }
    let bucket = env.bucket("CHARTS").ok();
    if let Some(bucket) = &bucket {
        match bucket.get(key.as_str()).execute().await {
            Ok(Some(object)) => {
                let etag = object.http_etag();
                let body = object.body().ok_or_else(|| worker::Error::RustError("R2 object without body".into()))?;
                let mut stored = stored_response(body.response_body()?, Some(&etag), route, config)?;
                cache.put(cache_key.as_str(), stored.cloned()?).await?;
                return finish(&req, stored, route, CacheStatus::R2).await;
            }
            Ok(None) => {}
            // A failing bucket is a miss: the origin is asked.
            Err(e) => worker::console_error!("chartgate: R2 read of {key} failed: {e}"),
        }
    }
    let url = format!("{}{path}", origin.url);
    let mut upstream = match origin_fetch(&req, origin, Method::Get, &url, None).await {
        Ok(r) => r,
        Err(response) => return Ok((response, CacheStatus::Miss)),
    };
    match upstream.status_code() {
        200 => {}
        404 => return Ok((error(404, "not_found", "no such chart object")?, CacheStatus::Miss)),
        status => {
            worker::console_error!("chartgate: origin answered {status} for {path}");
            let description = format!("the origin answered {status}");
            return Ok((error(502, "bad_gateway", &description)?, CacheStatus::Miss));
        }
    }
    let bytes = upstream.bytes().await?;
    let etag = match upstream.headers().get("ETag")? {
        Some(e) => e,
        None => format!("\"{}\"", crate::hex(&Sha256::digest(&bytes)[..16])),
    };
    if origin.write_through {
        if let Some(bucket) = &bucket {
            if let Err(e) = bucket.put(key.as_str(), bytes.clone()).execute().await {
                worker::console_error!("chartgate: R2 write-through of {key} failed: {e}");
            }
        }
    }
    let mut stored = stored_response(ResponseBody::Body(bytes), Some(&etag), route, config)?;
    cache.put(cache_key.as_str(), stored.cloned()?).await?;
    finish(&req, stored, route, CacheStatus::Origin).await
}

/// Builds the client response from a full stored response (its `ETag`, the route's headers);
/// conditional requests, ranges and HEAD are answered at the response layer for every route
/// (`respond::http_semantics`).
async fn finish(_req: &Request, stored: Response, route: &Route, cache: CacheStatus) -> Reply<(Response, CacheStatus)> {
    let etag = stored.headers().get("ETag")?;
    let headers = Headers::new();
    headers.set("Content-Type", content_type(route))?;
    if let Some(etag) = &etag {
        headers.set("ETag", etag)?;
    }
    let (_, body) = stored.into_parts();
    Ok((with_client_headers(Response::from_body(body)?.with_headers(headers), Some(route), cache)?, cache))
}

/// Sends a request to the origin with only safe headers (and the client's credential when
/// configured). `Err` carries the 502/504 response to send instead.
async fn origin_fetch(
    req: &Request,
    origin: &Origin,
    method: Method,
    url: &str,
    body: Option<wasm_bindgen::JsValue>,
) -> std::result::Result<Response, Response> {
    let fail = |status, text: &str| error(status, if status == 504 { "gateway_timeout" } else { "bad_gateway" }, text);
    let build = || -> Result<Request> {
        let headers = Headers::new();
        for name in ORIGIN_SAFE_HEADERS {
            if let Some(v) = req.headers().get(name)? {
                headers.set(name, &v)?;
            }
        }
        if origin.forward_credentials {
            if let Some(v) = req.headers().get("Authorization")? {
                headers.set("Authorization", &v)?;
            }
        }
        let mut init = RequestInit::new();
        init.with_method(method.clone()).with_headers(headers).with_body(body.clone());
        Request::new_with_init(url, &init)
    };
    let request = build().map_err(|e| {
        worker::console_error!("chartgate: cannot build origin request: {e}");
        fail(502, "the origin request could not be built").unwrap_or_else(|_| Response::empty().unwrap())
    })?;
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(origin.timeout as u32 * 1000));
    Fetch::Request(request).send_with_signal(&signal).await.map_err(|e| {
        let timed_out = signal.aborted();
        worker::console_error!("chartgate: origin fetch failed (timed out: {timed_out}): {e}");
        let response = if timed_out {
            fail(504, "the origin did not answer in time")
        } else {
            fail(502, "the origin is unreachable")
        };
        response.unwrap_or_else(|_| Response::empty().unwrap())
    })
}

/// The chart an upload carries, a raw `.tgz` body or ChartMuseum's multipart `chart` field (the
/// runtime's own form parser), read from the body the edge read (bounded); `None` when it cannot
/// be read (the origin then answers the upload as it sees fit).
async fn uploaded_chart(req: &Request, body: &[u8]) -> Option<ChartId> {
    let content_type = req.headers().get("Content-Type").ok().flatten().unwrap_or_default();
    let bytes = if content_type.starts_with("multipart/form-data") {
        match super::body::form(body, &content_type).await.ok()?.get("chart")? {
            FormEntry::File(file) => file.bytes().await.ok()?,
            FormEntry::Field(text) => text.into_bytes(),
        }
    } else {
        body.to_vec()
    };
    chart_id(&bytes).ok()
}

/// ChartMuseum API routes with an origin: forwarded to it without caching (without one,
/// `super::publish` answers them).
pub(super) async fn pass_through(
    mut req: Request,
    target: Target<'_>,
    origin: &Origin,
) -> Reply<(Response, CacheStatus)> {
    let Target { env, route, path, url, .. } = target;
    let mut target = Url::parse(&format!("{}{path}", origin.url)).map_err(worker::Error::from)?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "token" && k != "access_token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !pairs.is_empty() {
        target.query_pairs_mut().extend_pairs(pairs);
    }
    let method = req.inner().method();
    let normalized = NormalizedPath::parse(path).ok();
    // An upload may replace a stored archive: read which chart it carries (bounded, as the edge's
    // own uploads), then send on what was read. Other bodies stream to the origin unread.
    let (uploaded, body) = match &normalized {
        Some(p) if is_chart_upload(route, &method, p) => {
            let limit = crate::edge::store::publish::MAX_UPLOAD + 64 * 1024;
            let Some(bytes) = super::body::read_bounded(&mut req, limit).await? else {
                let why = format!("the upload is larger than {limit} bytes");
                return Ok((error(413, "too_large", &why)?, CacheStatus::Miss));
            };
            let chart = uploaded_chart(&req, &bytes).await;
            (chart, Some(js_sys::Uint8Array::from(bytes.as_slice()).into()))
        }
        _ => (None, req.inner().body().map(wasm_bindgen::JsValue::from)),
    };
    let upstream = match origin_fetch(&req, origin, req.method(), target.as_str(), body).await {
        Ok(r) => r,
        Err(response) => return Ok((response, CacheStatus::Miss)),
    };
    let status = upstream.status_code();
    if let (true, Some(normalized)) = ((200..300).contains(&status), &normalized) {
        purge(env, &stale_objects(route, &method, normalized, uploaded.as_ref())).await;
    }
    let content_type = upstream.headers().get("Content-Type")?;
    let (_, body) = upstream.into_parts();
    let headers = Headers::new();
    if let Some(ct) = content_type {
        headers.set("Content-Type", &ct)?;
    }
    let response = Response::from_body(body)?.with_status(status).with_headers(headers);
    Ok((with_client_headers(response, None, CacheStatus::Miss)?, CacheStatus::Miss))
}
