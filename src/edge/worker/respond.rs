//! The worker's own responses: one JSON error shape (`{"error", "error_description"}`, no-store,
//! security headers) for its refusals and failures, the registry's (`{"errors": [...]}`), and a
//! denial with its challenge.

use worker::{Headers, Response, Result};

use crate::edge::{EdgeConfig, SECURITY_HEADERS};
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
