//! The worker's own responses: one JSON error shape (`{"error", "error_description"}`, no-store,
//! security headers) for its refusals and failures, the registry's (`{"errors": [...]}`), and a
//! denial with its challenge.

use sha2::Digest as _;
use worker::{Headers, Request, Response, ResponseBody, Result};

use crate::edge::{answer, Answer, EdgeConfig, Preconditions, SECURITY_HEADERS};
use crate::Denial;

/// The header every registry response carries.
pub(super) const API_VERSION: (&str, &str) = ("Docker-Distribution-API-Version", "registry/2.0");

/// A registry error: the spec's JSON body (`{"errors": [...]}`) with `status`.
pub(super) fn registry_error(status: u16, body: &str) -> Result<Response> {
    let response = json(status, body)?;
    response.headers().set(API_VERSION.0, API_VERSION.1)?;
    Ok(response)
}

/// A JSON body with `status`, never cached, with the security headers.
pub(super) fn json(status: u16, body: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    headers.set("Cache-Control", "no-store")?;
    for (k, v) in SECURITY_HEADERS {
        headers.set(k, v)?;
    }
    Ok(Response::from_bytes(body.as_bytes().to_vec())?.with_status(status).with_headers(headers))
}

/// `{"error": code, "error_description": description}` with `status`.
pub(super) fn error(status: u16, code: &str, description: &str) -> Result<Response> {
    json(status, &serde_json::json!({"error": code, "error_description": description}).to_string())
}

/// The engine's denial: its status, JSON body and `WWW-Authenticate` challenge; on registry
/// paths the body takes the OCI distribution spec's form. A `REALM` that is a path (`/token`, the
/// edge's own token endpoint) is named at the origin the request came to.
pub(super) fn denial(denial: &Denial, config: &EdgeConfig, registry: bool, origin: &str) -> Result<Response> {
    let response = if registry {
        registry_error(denial.status(), &denial.registry_body())?
    } else {
        json(denial.status(), &denial.body())?
    };
    let challenge = if config.policy.realm.starts_with('/') {
        let mut policy = config.policy.clone();
        policy.realm = format!("{origin}{}", config.policy.realm);
        denial.www_authenticate(&policy)
    } else {
        denial.www_authenticate(&config.policy)
    };
    if let Some(challenge) = challenge {
        response.headers().set("WWW-Authenticate", &challenge)?;
    }
    Ok(response)
}

/// The conditional and range headers of a request, read before it is served.
pub(super) fn preconditions(req: &Request) -> Result<Preconditions> {
    let h = req.headers();
    Ok(Preconditions {
        if_match: h.get("If-Match")?,
        if_none_match: h.get("If-None-Match")?,
        range: h.get("Range")?,
        if_range: h.get("If-Range")?,
    })
}

/// RFC 9110 on an allowed `200` to a GET or HEAD of an HTTP route, at the response layer, by
/// [`crate::edge::answer`]: `ETag` (the body's hash when the route gave none and the body is in
/// memory, as the API's JSON), `Accept-Ranges`, `304`, `412`, `206`/`416`, and HEAD as GET without
/// the body. Only a range of a streamed body reads it; everything else is a header check.
pub(super) async fn http_semantics(p: &Preconditions, head: bool, mut response: Response) -> Result<Response> {
    if response.status_code() != 200 {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let mut etag = headers.get("ETag")?;
    let mut size = match response.body() {
        ResponseBody::Body(bytes) => Some(bytes.len() as u64),
        ResponseBody::Empty => Some(0),
        ResponseBody::Stream(_) => None,
    };
    if etag.is_none() {
        if let ResponseBody::Body(bytes) = response.body() {
            let tag = format!("\"{}\"", crate::hex(&sha2::Sha256::digest(bytes)[..16]));
            headers.set("ETag", &tag)?;
            etag = Some(tag);
        }
    }
    headers.set("Accept-Ranges", "bytes")?;
    if size.is_none() && Answer::wants_range(p, etag.as_deref()) {
        let bytes = response.bytes().await?;
        size = Some(bytes.len() as u64);
        response = Response::from_bytes(bytes)?.with_headers(headers.clone());
    }
    let empty = |status: u16| -> Result<Response> {
        let h = headers.clone();
        h.delete("Content-Length")?;
        Ok(Response::empty()?.with_status(status).with_headers(h))
    };
    match answer(p, etag.as_deref(), size) {
        Answer::Full if head => match size {
            Some(n) => {
                headers.set("Content-Length", &n.to_string())?;
                Ok(Response::empty()?.with_headers(headers))
            }
            // A streamed body: the runtime sends a HEAD's headers only.
            None => Ok(response.with_headers(headers)),
        },
        // The headers are a copy (worker's `Headers` clones the object): they go back on.
        Answer::Full => Ok(response.with_headers(headers)),
        Answer::NotModified => empty(304),
        Answer::PreconditionFailed => empty(412),
        Answer::Unsatisfiable => {
            headers.set("Content-Range", &format!("bytes */{}", size.unwrap_or(0)))?;
            empty(416)
        }
        Answer::Partial(r) => {
            let total = size.unwrap_or(0);
            headers.set("Content-Range", &r.content_range(total))?;
            headers.set("Content-Length", &r.len().to_string())?;
            let part = match (head, response.body()) {
                (false, ResponseBody::Body(bytes)) => bytes[r.start as usize..=r.end as usize].to_vec(),
                _ => Vec::new(),
            };
            Ok(Response::from_bytes(part)?.with_status(206).with_headers(headers))
        }
    }
}
