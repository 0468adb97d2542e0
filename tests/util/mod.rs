//! Shared test helpers: keys generated once per run, token minting, request shorthands.

use std::path::PathBuf;
use std::sync::OnceLock;

use chartgate::{
    access::{Denial, Grant, Policy, Request, ScopeSet},
    crypto::{NativeVerifier, SigningKey},
    key::KeySet,
    token::MintRequest,
};

/// Fixed "now" for deterministic time checks.
pub const NOW: u64 = 1_800_000_000;

pub fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(2048).unwrap())
}

pub fn other_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(2048).unwrap())
}

pub fn keys() -> KeySet {
    KeySet::new(vec![key().public()]).unwrap()
}

/// A directory with private.pem, public.pem and jwks.json of [`key`].
pub fn key_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("chartgate-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("private.pem"), key().private_pem().unwrap()).unwrap();
        std::fs::write(dir.join("public.pem"), key().public_pem().unwrap()).unwrap();
        std::fs::write(dir.join("jwks.json"), keys().to_jwks().to_string()).unwrap();
        dir
    })
    .clone()
}

pub fn mint(scopes: &str, ttl: u64) -> String {
    let req = MintRequest { scopes: ScopeSet::parse(scopes).unwrap(), ttl: Some(ttl), ..Default::default() };
    key().sign(&req.claims(NOW)).unwrap()
}

/// Signs arbitrary header and claims JSON with [`key`].
pub fn sign_json(header: &str, claims: &str) -> String {
    key().sign_raw(header.as_bytes(), claims.as_bytes()).unwrap()
}

/// The header chartgate puts on its tokens.
pub fn header() -> String {
    format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, key().kid())
}

pub fn decide_bearer(method: &str, path: &str, token: &str) -> Result<Grant, Denial> {
    decide_with(method, path, token, &Policy::default(), NOW)
}

pub fn decide_with(method: &str, path: &str, token: &str, policy: &Policy, now: u64) -> Result<Grant, Denial> {
    let auth = format!("Bearer {token}");
    let req = Request { method, path, query: None, authorization: Some(&auth) };
    let keys = keys();
    chartgate::access::decide(&req, &keys, policy, now, &NativeVerifier::new(&keys))
}

pub fn code(result: Result<Grant, Denial>) -> &'static str {
    match result {
        Ok(_) => "allowed",
        Err(d) => d.reason.code(),
    }
}
