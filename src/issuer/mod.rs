//! `chartgate serve`: a stateless token service. Keys and clients come from the configuration,
//! so any number of replicas issue interchangeable tokens. This module holds the service logic
//! (client authentication, grants, downscoping, SSO exchange, signed URLs); [`http`] maps it to
//! OAuth 2 / Docker-distribution HTTP endpoints.

pub mod config;
pub mod grant;
mod http;
mod observe;
pub mod secret;
mod sso;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub use config::{ConfigFileError, IssuerConfig};
pub use http::{app, serve};

use crate::{
    Claims, MintRequest, NativeVerifier, NormalizedPath, PathBinding, Policy, Reason, Route, ScopeSet, VerifiedToken,
};
use config::Client;
use observe::{Limiter, Metrics};

/// RFC 6749 §5.2 errors (plus rate limiting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("client authentication failed")]
    InvalidClient,
    #[error("{0}")]
    InvalidScope(String),
    #[error("grant type {0:?} is not supported")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("too many failed attempts; retry later")]
    TooManyRequests,
    #[error("{0}")]
    Unavailable(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidClient => "invalid_client",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::TooManyRequests => "too_many_requests",
            TokenError::Unavailable(_) => "temporarily_unavailable",
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            TokenError::InvalidClient => 401,
            TokenError::TooManyRequests => 429,
            TokenError::Unavailable(_) => 503,
            _ => 400,
        }
    }
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub issued_at: u64,
    pub scope: ScopeSet,
}

/// How long a verified client secret is remembered (by hash), so PBKDF2 is not paid per request.
const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

/// The token service.
pub struct Issuer {
    config: IssuerConfig,
    verifier: NativeVerifier,
    /// How this issuer's own tokens are checked (downscoping, /sign-url).
    policy: Policy,
    metrics: Metrics,
    limiter: Limiter,
    verified_secrets: Mutex<HashMap<(String, [u8; 32]), Instant>>,
    sso: sso::SsoKeys,
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Issuer {
    pub fn new(config: IssuerConfig) -> Self {
        let verifier = NativeVerifier::new(&config.published);
        let mut policy = Policy::default();
        policy.issuer = Some(config.issuer.clone());
        policy.audience = config.audience.clone();
        policy.realm = format!("{}/oauth/token", config.issuer.trim_end_matches('/'));
        let sso = sso::SsoKeys::new(&config.sso);
        Issuer {
            config,
            verifier,
            policy,
            metrics: Metrics::default(),
            limiter: Limiter::default(),
            verified_secrets: Mutex::default(),
            sso,
        }
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// Authenticates a client by id and secret, or, with no id, by secret alone among clients
    /// allowed to use `Authorization: Bearer <secret>`. Failures are rate limited per source
    /// address.
    pub fn authenticate(&self, id: Option<&str>, secret: &str, addr: IpAddr) -> Result<&Client, TokenError> {
        if !self.limiter.allowed(addr) {
            self.metrics.denied("too_many_requests");
            return Err(TokenError::TooManyRequests);
        }
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let candidates = self.config.clients.iter().filter(|c| match id {
            Some(id) => c.id == id,
            None => c.bearer,
        });
        for client in candidates {
            let key = (client.id.clone(), digest);
            let cached = self.verified_secrets.lock().ok().and_then(|m| m.get(&key).copied());
            if cached.is_some_and(|t| t.elapsed() < SECRET_CACHE_TTL) || client.secret.verify(secret) {
                if let Ok(mut m) = self.verified_secrets.lock() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.entry(key).or_insert_with(Instant::now);
                }
                return Ok(client);
            }
        }
        self.limiter.failed(addr);
        self.metrics.denied("invalid_client");
        Err(TokenError::InvalidClient)
    }

    fn sign(
        &self,
        sub: Option<String>,
        scopes: ScopeSet,
        ttl: u64,
        paths: Option<PathBinding>,
        lineage: Vec<String>,
    ) -> Result<Issued, TokenError> {
        let now = now();
        let request = MintRequest {
            scopes: scopes.clone(),
            ttl: Some(ttl),
            sub,
            iss: Some(self.config.issuer.clone()),
            aud: self.config.audience.clone(),
            jti: Some(crate::random_id()),
            paths,
            lineage,
        };
        let token =
            self.config.signing.sign(&request.claims(now)).map_err(|e| TokenError::Unavailable(e.to_string()))?;
        Ok(Issued { token, expires_in: ttl, issued_at: now, scope: scopes })
    }

    fn ttl(&self, requested: Option<u64>, cap: u64) -> u64 {
        requested.unwrap_or(self.config.default_ttl).clamp(1, cap.min(self.config.max_ttl))
    }

    /// `grant_type=client_credentials`: requested ∩ allowed; nothing granted is `invalid_scope`.
    pub fn client_credentials(
        &self,
        client: &Client,
        scope: Option<&str>,
        ttl: Option<u64>,
    ) -> Result<Issued, TokenError> {
        let requested = parse_scope(scope.ok_or_else(|| TokenError::InvalidRequest("scope is required".into()))?)?;
        let granted = client.allowance.grant(&requested);
        if granted.is_empty() {
            self.metrics.denied("invalid_scope");
            return Err(TokenError::InvalidScope(format!("client {} may not have {requested}", client.id)));
        }
        let issued = self.sign(Some(client.id.clone()), granted, self.ttl(ttl, client.max_ttl), None, Vec::new())?;
        self.metrics.issued("client_credentials");
        Ok(issued)
    }

    /// Docker `GET /token`: the intersection, even when partial or empty (distribution spec).
    pub fn docker(&self, client: &Client, scopes: &[String]) -> Result<Issued, TokenError> {
        let mut requested = ScopeSet::new();
        for s in scopes {
            for scope in parse_scope(s)?.iter() {
                requested.insert(scope);
            }
        }
        let granted = client.allowance.grant(&requested);
        let issued = self.sign(Some(client.id.clone()), granted, self.ttl(None, client.max_ttl), None, Vec::new())?;
        self.metrics.issued("docker");
        Ok(issued)
    }

    /// Verifies one of this issuer's own tokens (signature, time, issuer, audience).
    pub fn verify_own(&self, token: &str) -> Result<VerifiedToken, Reason> {
        let verified = crate::verify(token, &self.config.published, &self.verifier)?;
        crate::check_claims(&verified.claims, &self.policy, now())?;
        Ok(verified)
    }

    /// RFC 8693 token exchange: a chartgate token is downscoped; an SSO token is mapped by rules.
    pub async fn exchange(
        &self,
        subject_token: &str,
        scope: Option<&str>,
        ttl: Option<u64>,
        paths: &[String],
    ) -> Result<Issued, TokenError> {
        let requested = scope.map(parse_scope).transpose()?;
        let paths = if paths.is_empty() {
            None
        } else {
            Some(PathBinding::parse(paths).map_err(|e| TokenError::InvalidRequest(format!("path: {e}")))?)
        };
        let (header, claims) = crate::dangerous_decode(subject_token)
            .map_err(|r| TokenError::InvalidGrant(format!("subject_token: {r}")))?;
        let kid = header.get("kid").and_then(|k| k.as_str());
        let iss = claims.get("iss").and_then(|i| i.as_str());
        let own = kid.is_some_and(|k| self.config.published.has(k)) || iss == Some(self.config.issuer.as_str());
        if own {
            let parent = self.verify_own(subject_token).map_err(|r| {
                self.metrics.denied(r.code());
                TokenError::InvalidGrant(format!("subject_token: {r}"))
            })?;
            let ttl = self.ttl(ttl, self.config.max_ttl);
            let plan =
                grant::downscope(&parent.claims, requested.as_ref(), ttl, paths, now(), &self.policy.default_repo)
                    .map_err(|e| match e {
                        grant::DownscopeError::Broader(_) | grant::DownscopeError::PathsBroader => {
                            TokenError::InvalidScope(e.to_string())
                        }
                        _ => TokenError::InvalidGrant(e.to_string()),
                    })?;
            let issued = self.sign(parent.claims.sub.clone(), plan.scopes, plan.ttl, plan.paths, plan.lineage)?;
            self.metrics.issued("token_exchange");
            return Ok(issued);
        }
        let Some(requested) = requested else {
            return Err(TokenError::InvalidRequest("scope is required when exchanging an SSO token".into()));
        };
        let mapped = self.sso.map(&self.config.sso, subject_token, iss).await;
        let (sub, allowance) = mapped.inspect_err(|_| self.metrics.denied("sso"))?;
        let granted = allowance.grant(&requested);
        if granted.is_empty() {
            self.metrics.denied("invalid_scope");
            return Err(TokenError::InvalidScope(format!("the SSO identity may not have {requested}")));
        }
        let issued = self.sign(sub, granted, self.ttl(ttl, self.config.max_ttl), paths, Vec::new())?;
        self.metrics.issued("sso_exchange");
        Ok(issued)
    }

    /// `POST /sign-url`: a caller holding `pull` on the URL's repository gets a short-lived URL
    /// bound to that one path.
    pub fn sign_url(&self, bearer: &str, url: &str, ttl: Option<u64>) -> Result<String, TokenError> {
        let caller = self.verify_own(bearer).map_err(|r| {
            self.metrics.denied(r.code());
            TokenError::InvalidGrant(format!("token: {r}"))
        })?;
        let (base, path) =
            split_url(url).ok_or_else(|| TokenError::InvalidRequest(format!("{url:?} is not an http(s) URL")))?;
        let normalized =
            NormalizedPath::parse(path).map_err(|e| TokenError::InvalidRequest(format!("url path: {e}")))?;
        let route = Route::parse("GET", &normalized, self.policy.depth, &self.policy.default_repo)
            .map_err(|e| TokenError::InvalidRequest(format!("url: {e}")))?;
        let scope = route.required().ok_or_else(|| TokenError::InvalidRequest("the URL needs no token".into()))?;
        if !caller.claims.access.grants(&scope, &self.policy.default_repo) {
            self.metrics.denied("insufficient_scope");
            return Err(TokenError::InvalidScope(format!("the token does not grant {scope}")));
        }
        let binding = PathBinding::parse(&[normalized.as_str()]).map_err(TokenError::InvalidRequest)?;
        let ttl = ttl
            .unwrap_or(self.config.url_ttl)
            .clamp(1, self.config.url_ttl.max(1))
            .min(caller.claims.exp.saturating_sub(now()));
        let lineage = caller.claims.jti.iter().cloned().collect();
        let issued =
            self.sign(caller.claims.sub.clone(), std::iter::once(scope).collect(), ttl.max(1), Some(binding), lineage)?;
        self.metrics.issued("sign_url");
        Ok(format!("{base}{path}?token={}", issued.token))
    }

    /// The published JWKS (active and retiring keys).
    pub fn jwks(&self) -> serde_json::Value {
        self.config.published.to_jwks()
    }
}

fn parse_scope(s: &str) -> Result<ScopeSet, TokenError> {
    ScopeSet::parse(s).map_err(|e| TokenError::InvalidScope(e.to_string()))
}

/// `https://host/path?q` → (`https://host`, `/path`).
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let scheme_len = url.len() - rest.len();
    let without_query = url.split(['?', '#']).next()?;
    let path_start = rest.find('/').map(|i| scheme_len + i)?;
    (path_start < without_query.len()).then(|| (&url[..path_start], &without_query[path_start..]))
}

/// Claims of a child planned offline (`chartgate token --from PARENT`).
pub fn offline_child(
    parent: &Claims,
    requested: Option<&ScopeSet>,
    ttl: u64,
    paths: Option<PathBinding>,
) -> Result<grant::ChildPlan, grant::DownscopeError> {
    grant::downscope(parent, requested, ttl, paths, now(), &Policy::default().default_repo)
}
