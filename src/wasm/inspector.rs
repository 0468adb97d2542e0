//! The inspector page's bindings (`www/`): decode a pasted token, verify it with WebCrypto, and
//! answer "would the edge let this through?" with the decision the edge runs
//! (`super::decide`) and the settings the edge uses, trust policies (`TRUST_POLICIES`) included:
//! for a CI or workload token, what it grants and which rule decided.
//! Results cross to JavaScript as JSON text; the page only renders them.

use std::collections::HashMap;

use serde_json::{json, Value};
use wasm_bindgen::prelude::wasm_bindgen;

use super::decide::{decide, Decision, WithKeys};
use crate::edge::EdgeConfig;
use crate::{dangerous_decode, find_token, prepare, Claims, Pasted, Policy, Reason, Request, UnverifiedToken};

fn error(message: impl std::fmt::Display) -> String {
    json!({ "error": message.to_string() }).to_string()
}

/// "in 4 min", "2 h ago", "now": the CLI's phrasing.
#[wasm_bindgen]
pub fn relative(at: f64, now: f64) -> String {
    crate::relative(at as u64, now as u64)
}

/// The edge's default settings, named like its variables.
#[wasm_bindgen]
pub fn defaults() -> String {
    let p = Policy::default();
    json!({
        "REALM": p.realm, "SERVICE": p.service, "ISSUER": "", "AUDIENCE": "",
        "LEEWAY": p.leeway().to_string(), "DEPTH": "2", "DEFAULT_NAMESPACE": p.default_repo.as_str(),
    })
    .to_string()
}

/// Decodes the token found in `input` without verifying it.
#[wasm_bindgen]
pub fn inspect(input: &str) -> String {
    let credential = match find_token(input) {
        Ok(c) => c,
        Err(e) => return error(e),
    };
    let (header, claims) = match dangerous_decode(&credential.token).map_err(Reason::from) {
        Ok(parts) => parts,
        Err(reason) => return json!({"error": reason.to_string(), "reason": reason.code()}).to_string(),
    };
    let refused = UnverifiedToken::parse(&credential.token).err().map(Reason::from);
    let payload = serde_json::to_vec(&claims).unwrap_or_default();
    let (access, claims_error) = match Claims::from_json(&payload) {
        Ok(c) => {
            let mut rows: Vec<Value> = c
                .access
                .repos
                .iter()
                .map(|s| json!({"type": s.kind.as_str(), "repo": s.repo.as_str(), "actions": s.actions.to_string()}))
                .collect();
            if !c.access.default_repo.is_empty() {
                rows.push(json!({
                    "type": crate::RESOURCE_TYPE,
                    "repo": "(default namespace)",
                    "actions": c.access.default_repo.to_string()
                }));
            }
            let paths = c.paths.map(|p| p.entries());
            (json!({"rows": rows, "paths": paths}), None)
        }
        Err(reason) => (Value::Null, Some(json!({"reason": reason.code(), "error_description": reason.to_string()}))),
    };
    json!({
        "via": credential.via.as_str(),
        "header": header,
        "claims": claims,
        "access": access,
        "claims_error": claims_error,
        "refused_before_signature": refused.map(|r| json!({"reason": r.code(), "error_description": r.to_string()})),
    })
    .to_string()
}

/// Verifies the token in `input` against `keys` (PEM, JWK or JWKS text) and decides `request`
/// ("GET /org1/repo1/index.yaml") under `settings` (a JSON object of edge variables) at `now`.
#[wasm_bindgen]
pub async fn check(input: String, keys: String, settings: String, request: String, now: f64) -> String {
    let vars: HashMap<String, String> = match serde_json::from_str(&settings) {
        Ok(v) => v,
        Err(e) => return error(format!("settings: {e}")),
    };
    let config =
        match EdgeConfig::from_lookup(|name| if name == "JWKS" { Some(keys.clone()) } else { vars.get(name).cloned() })
        {
            Ok(c) => c,
            Err(e) => return error(e),
        };
    let keyset = match &config.static_keys {
        Some(k) => k.clone(),
        None if !config.trust.is_empty() => crate::KeySet::default(),
        None => return error("keys: paste a PEM, JWK or JWKS"),
    };
    let Some(line) = Request::from_line(&request) else {
        return error("request: write it as \"GET /org1/repo1/index.yaml\"");
    };
    // The input goes on the request as a client would send it, so the credential is read
    // exactly as the edge reads it (a broken one is the edge's 400, not a page error).
    let pasted = Pasted::parse(&input);
    let req = Request { authorization: pasted.authorization.as_deref(), query: pasted.query.as_deref(), ..line };
    let policy = &config.policy;
    let verifier = WithKeys { keys: &keyset, trust: &config.trust, leeway: policy.leeway(), now: now as u64 };
    let outcome = decide(prepare(&req, policy), &verifier, policy, now as u64).await;
    let signature = match &outcome.verified {
        None => json!({"checked": false}),
        Some(Ok(token)) => {
            let trusted = token.trusted.as_deref().map(|t| {
                json!({"policy": t.policy, "rule": t.rule, "issuer": t.issuer, "grants": token.claims.access.allowed.to_string()})
            });
            json!({"checked": true, "valid": true, "kid": token.kid, "trusted": trusted})
        }
        Some(Err(r)) => {
            json!({"checked": true, "valid": false, "reason": r.code(), "error_description": r.to_string()})
        }
    };
    let decision = match outcome.decision {
        Decision::Allowed(grant, _) => Ok(grant),
        Decision::Denied(denial) => Err(denial),
        Decision::Unavailable(reason) => Err(crate::Denial::new(reason)),
    };
    let decision = match decision {
        Ok(grant) => grant.to_json(),
        Err(d) => d.to_json(policy),
    };
    // What `chartgate verify --trust` warns about the same policies, from the same function.
    let warnings: Vec<String> = config.trust.warnings().iter().map(ToString::to_string).collect();
    json!({"signature": signature, "decision": decision, "warnings": warnings}).to_string()
}
