//! `chartgate serve`: a stateless token service. Keys and clients come from the configuration,
//! so any number of replicas issue interchangeable tokens. This module holds the service logic
//! (client authentication, grants, downscoping, SSO exchange, signed URLs); [`http`] maps it to
//! OAuth 2 / Docker-distribution HTTP endpoints.

pub mod addr;
pub mod config;
pub mod grant;
mod http;
mod observe;
pub mod secret;
pub mod trusted;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub use config::{ConfigFileError, IssuerConfig};
pub use http::{app, serve, AuthenticatedClient, MAX_BODY, REQUEST_TIMEOUT, TOKEN_USERNAME};
pub use observe::{VerifiedSecrets, SECRET_CACHE_TTL};

use crate::{Claims, MintRequest, NativeVerifier, PathBinding, Reason, ScopeSet, SignedUrlPlan, VerifiedToken};
use config::Client;
use grant::DownscopeError;
use observe::{Limiter, Metrics};
use secret::SecretHash;

/// RFC 6749 §5.2 errors (plus rate limiting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("client authentication failed")]
    InvalidClient,
    /// No credential at all (an anonymous registry client): RFC 6749's `invalid_client`, with a
    /// description that says how to log in.
    #[error("no credentials were sent: log in first (`chartgate login` with the credential helper, or `helm registry login`; see docs/login.md)")]
    NoCredentials,
    #[error("{0}")]
    InvalidScope(String),
    #[error("grant type {0:?} is not supported")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidGrant(String),
    /// A registry login whose password is a chartgate token that does not verify.
    #[error("{0}")]
    LoginRefused(String),
    #[error("too many failed attempts; retry later")]
    TooManyRequests,
    #[error("{0}")]
    Unavailable(String),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidClient | TokenError::NoCredentials => "invalid_client",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::InvalidRequest(_) => "invalid_request",
            TokenError::InvalidGrant(_) | TokenError::LoginRefused(_) => "invalid_grant",
            TokenError::TooManyRequests => "too_many_requests",
            TokenError::Unavailable(_) => "temporarily_unavailable",
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            TokenError::InvalidClient | TokenError::NoCredentials | TokenError::LoginRefused(_) => 401,
            TokenError::TooManyRequests => 429,
            TokenError::Unavailable(_) => 503,
            _ => 400,
        }
    }
}

/// Who logs in at the Docker token endpoint.
pub enum RegistryLogin {
    /// A client that proved its secret.
    Client(Client),
    /// A chartgate token given as the password of username `token`.
    Token(String),
    /// A workload token of a trust policy given as the password, with any username.
    Workload(String),
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub issued_at: u64,
    pub scope: ScopeSet,
}

/// How long a caller whose address is over the failure limit may wait for the one PBKDF2
/// derivation at a time that such callers share, before being told to retry later.
const SLOW_LANE_WAIT: Duration = Duration::from_secs(10);

/// The grant of a registry login this issuer signed (its signature already verified), or
/// `None` for any other token.
fn login_grant(token: &str) -> Option<grant::Allowance> {
    let (_, payload) = crate::dangerous_decode(token).ok()?;
    let patterns = payload.get(LOGIN_GRANT_CLAIM)?.as_array()?;
    let parsed: Option<Vec<_>> =
        patterns.iter().map(|p| p.as_str().and_then(|p| grant::ScopePattern::parse(p).ok())).collect();
    Some(grant::Allowance(parsed.unwrap_or_default()))
}

/// Longest a token minted from a person's login lives, in seconds (15 minutes).
pub const LOGIN_TOKEN_TTL: u64 = 900;

/// RFC 8693 `requested_token_type` of a registry login: a token of this issuer that grants
/// nothing by itself (no `access`), which the credential helper hands helm, and which this
/// issuer's `/token` turns into a token of the one scope each registry request names.
pub const REGISTRY_LOGIN_TYPE: &str = "urn:chartgate:params:oauth:token-type:registry-login";

/// A registry login's private claim: the scope patterns its holder may be granted (the rule's
/// grant when the person's ID token was admitted).
const LOGIN_GRANT_CLAIM: &str = "login_grant";

/// The issuer's clock: UNIX seconds. Injected so tests can pin time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The token service.
pub struct Issuer {
    config: IssuerConfig,
    verifier: NativeVerifier,
    metrics: Metrics,
    limiter: Limiter,
    /// One PBKDF2 derivation at a time for callers whose address is over the failure limit:
    /// they are never refused a secret that verifies, and cannot spend more than one core.
    slow_lane: tokio::sync::Semaphore,
    /// PBKDF2 derivations running at once: one per core.
    hashing: tokio::sync::Semaphore,
    verified_secrets: Mutex<VerifiedSecrets>,
    /// Compared against when the client id is unknown, so that an unknown id costs what a
    /// known one does and timing does not tell which ids exist.
    dummy_secret: SecretHash,
    trusted: trusted::TrustKeys,
    clock: Clock,
}

/// The system clock, in UNIX seconds.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Issuer {
    pub fn new(config: IssuerConfig) -> Self {
        Self::with_clock(config, Arc::new(now))
    }

    /// An issuer reading time from `clock`.
    pub fn with_clock(config: IssuerConfig, clock: Clock) -> Self {
        let verifier = NativeVerifier::new(&config.published);
        let trusted = trusted::TrustKeys::new(&config.trust, &config.trust_ca);
        Issuer {
            config,
            verifier,
            metrics: Metrics::default(),
            limiter: Limiter::default(),
            slow_lane: tokio::sync::Semaphore::new(1),
            hashing: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            verified_secrets: Mutex::default(),
            dummy_secret: SecretHash::new("chartgate: no such client"),
            trusted,
            clock,
        }
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The issuer's current time.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The address failures are counted against: the peer, or the client a trusted proxy names.
    pub fn client_addr(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        self.config.trusted_proxies.client_addr(peer, header("forwarded"), header("x-forwarded-for"))
    }

    /// Authenticates a client by id and secret, or, with no id, by secret alone among clients
    /// allowed to use `Authorization: Bearer <secret>`. A secret verified in the last
    /// [`SECRET_CACHE_TTL`] is accepted at the cost of a hash. Failures are counted per client
    /// address (IPv6 by /64); past the limit, further attempts from that address share one
    /// PBKDF2 derivation at a time, so guessing is slow, yet a caller with the right secret is
    /// still served.
    pub async fn authenticate(&self, id: Option<&str>, secret: &str, addr: IpAddr) -> Result<&Client, TokenError> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let candidates: Vec<&Client> = self
            .config
            .clients
            .iter()
            .filter(|c| match id {
                Some(id) => c.id == id,
                None => c.bearer,
            })
            .collect();
        let remembered = |client: &&&Client| {
            self.verified_secrets.lock().is_ok_and(|m| m.contains(&client.id, &digest, Instant::now()))
        };
        if let Some(client) = candidates.iter().find(remembered) {
            return Ok(client);
        }
        let permit = if self.limiter.allowed(addr) {
            None
        } else {
            match tokio::time::timeout(SLOW_LANE_WAIT, self.slow_lane.acquire()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    self.metrics.denied("too_many_requests");
                    return Err(TokenError::TooManyRequests);
                }
            }
        };
        let limited = permit.is_some();
        if candidates.is_empty() {
            self.metrics.hashed();
            let _ = self.verify_secret(&self.dummy_secret, secret).await;
        }
        for client in candidates {
            self.metrics.hashed();
            if self.verify_secret(&client.secret, secret).await {
                if let Ok(mut m) = self.verified_secrets.lock() {
                    m.remember(&client.id, digest, Instant::now());
                }
                return Ok(client);
            }
        }
        self.limiter.failed(addr);
        if limited {
            self.metrics.denied("too_many_requests");
            return Err(TokenError::TooManyRequests);
        }
        self.metrics.denied("invalid_client");
        Err(TokenError::InvalidClient)
    }

    /// PBKDF2 (about 25 ms) on the blocking pool, at most one per core at a time: the runtime's
    /// threads keep answering other requests, and a burst of first verifications queues instead
    /// of oversubscribing the CPU.
    async fn verify_secret(&self, hash: &SecretHash, secret: &str) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else { return false };
        let (hash, secret) = (hash.clone(), secret.to_owned());
        tokio::task::spawn_blocking(move || hash.verify(&secret)).await.unwrap_or(false)
    }

    fn sign(&self, now: u64, sub: Option<String>, plan: grant::ChildPlan) -> Result<Issued, TokenError> {
        let grant::ChildPlan { scopes, ttl, paths, lineage, trust } = plan;
        let request = MintRequest {
            scopes: scopes.clone(),
            ttl: Some(ttl),
            sub,
            iss: Some(self.config.issuer.clone()),
            aud: self.config.audience.clone(),
            jti: Some(crate::random_id()),
            paths,
            lineage,
            trust,
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
        let granted = client.allowance.grant(&requested, self.config.policy.layout());
        if granted.is_empty() {
            self.metrics.denied("invalid_scope");
            return Err(TokenError::InvalidScope(format!("client {} may not have {requested}", client.id)));
        }
        let ttl = self.ttl(ttl, client.max_ttl);
        let issued = self.sign(self.now(), Some(client.id.clone()), grant::ChildPlan::root(granted, ttl))?;
        self.metrics.issued("client_credentials");
        Ok(issued)
    }

    /// The Docker token endpoint (`GET /token`, and `POST` with `grant_type=password` as helm and
    /// oras send at `registry login`): the requested scopes (repeated and space-joined) cut to
    /// what the caller may have, even when that is partly or wholly nothing (the distribution
    /// spec's partial grants). A client gets what its allowance grants; a chartgate token (Basic
    /// username `token`) gets a downscoped child of itself: never broader, never longer-lived,
    /// in its lineage.
    pub async fn docker(&self, login: &RegistryLogin, scopes: &[String]) -> Result<Issued, TokenError> {
        let requested = ScopeSet::requested(scopes.iter().map(String::as_str));
        let layout = self.config.policy.layout();
        let issued = match login {
            RegistryLogin::Client(client) => {
                let granted = client.allowance.grant(&requested, layout);
                let ttl = self.ttl(None, client.max_ttl);
                self.sign(self.now(), Some(client.id.clone()), grant::ChildPlan::root(granted, ttl))?
            }
            RegistryLogin::Workload(token) => {
                let now = self.now();
                let (claims, by) = self.trusted.admit(&self.config, token, now, "password").await.map_err(|e| {
                    self.metrics.denied("workload");
                    TokenError::LoginRefused(format!("the workload token given as password is refused: {e}"))
                })?;
                let granted = claims.access.allowed.grant(&requested, layout);
                self.sign_for_workload(now, &claims, by, granted, None, None)?
            }
            RegistryLogin::Token(token) => {
                let now = self.now();
                let parent = self.verify_own(token, now).map_err(|r| {
                    self.metrics.denied(r.code());
                    TokenError::LoginRefused(format!("the token given as password is refused: {r}"))
                })?;
                if let Some(allowance) = login_grant(token) {
                    // A registry login: the scope asked for, within the person's grant, at most
                    // 15 minutes and never past the login.
                    let granted = allowance.grant(&requested, layout);
                    let left = parent.claims.exp.saturating_sub(now);
                    if left == 0 {
                        // Accepted within the clock leeway, but nothing is issued past it.
                        return Err(TokenError::LoginRefused(
                            "the registry login has expired: the credential helper gets a new one".into(),
                        ));
                    }
                    let ttl = self.ttl(None, self.config.max_ttl).min(LOGIN_TOKEN_TTL).min(left);
                    let mut lineage = parent.claims.lineage.clone();
                    lineage.extend(parent.claims.jti.clone());
                    let trust = parent.claims.trust.as_deref().cloned();
                    let plan = grant::ChildPlan { scopes: granted, ttl, paths: None, lineage, trust };
                    let issued = self.sign(now, parent.claims.sub.clone(), plan)?;
                    self.metrics.issued("docker");
                    return Ok(issued);
                }
                let held = parent.claims.access.scopes(layout.default_repo);
                let narrowed = held.narrow(&requested, layout);
                let ttl = self.ttl(None, self.config.max_ttl);
                let plan = self.downscope(&parent.claims, Some(&narrowed), ttl, None, now).map_err(|e| match e {
                    TokenError::InvalidGrant(why) => TokenError::LoginRefused(why),
                    other => other,
                })?;
                self.sign(now, parent.claims.sub.clone(), plan)?
            }
        };
        self.metrics.issued("docker");
        Ok(issued)
    }

    /// Verifies one of this issuer's own tokens (signature, time, issuer, audience).
    pub fn verify_own(&self, token: &str, now: u64) -> Result<VerifiedToken, Reason> {
        let verified = crate::verify(token, &self.config.published, &self.verifier)?;
        crate::check_claims(&verified.claims, &self.config.policy, now)?;
        Ok(verified)
    }

    /// Verifies `token` as the parent of a derived token; refusals name the parameter.
    fn verify_parent(&self, token: &str, now: u64, param: &str) -> Result<VerifiedToken, TokenError> {
        self.verify_own(token, now).map_err(|r| {
            self.metrics.denied(r.code());
            TokenError::InvalidGrant(format!("{param}: {r}"))
        })
    }

    /// Plans a child of `parent` with the one downscoping rule set (never broader, never bound
    /// to more paths, never longer-lived, the lineage extended).
    fn downscope(
        &self,
        parent: &Claims,
        requested: Option<&ScopeSet>,
        ttl: u64,
        paths: Option<PathBinding>,
        now: u64,
    ) -> Result<grant::ChildPlan, TokenError> {
        grant::downscope(parent, requested, ttl, paths, now, self.config.policy.layout()).map_err(|e| {
            self.metrics.denied(e.code());
            match e {
                DownscopeError::Broader(_) | DownscopeError::PathsBroader => TokenError::InvalidScope(e.to_string()),
                _ => TokenError::InvalidGrant(e.to_string()),
            }
        })
    }

    /// A chartgate token for an admitted workload or SSO identity: `granted` (already cut to the
    /// policy's grant), living no longer than the external token (or the policy's cap, both in
    /// `claims.exp`) nor the issuer's limits; `sub` is the workload's, the lineage its `jti`, and
    /// the `trust` claim names the policy, so revoking the workload, the policy or its issuer at
    /// the edge revokes this token too.
    fn sign_for_workload(
        &self,
        now: u64,
        claims: &Claims,
        by: crate::TrustedBy,
        granted: ScopeSet,
        ttl: Option<u64>,
        paths: Option<PathBinding>,
    ) -> Result<Issued, TokenError> {
        let left = claims.exp.saturating_sub(now);
        if left == 0 {
            return Err(TokenError::InvalidGrant("the workload token has expired".into()));
        }
        let mut ttl = self.ttl(ttl, self.config.max_ttl).min(left);
        // A person's login (`[login]`) hands helm tokens of at most 15 minutes, whatever the
        // issuer's lifetimes.
        let from_login = self.config.login.as_ref().is_some_and(|l| by.policy == l.policy);
        if from_login {
            ttl = ttl.min(LOGIN_TOKEN_TTL);
        }
        let lineage = claims.jti.iter().cloned().collect();
        let plan = grant::ChildPlan { scopes: granted, ttl, paths, lineage, trust: Some(by) };
        self.sign(now, claims.sub.clone(), plan)
    }

    /// A registry login for a person's ID token (`[login]` provider only): at most 15 minutes,
    /// no `access`, the rule's grant as [`LOGIN_GRANT_CLAIM`], `lineage` carrying the ID token's
    /// `jti` and `trust` its policy.
    ///
    /// # Errors
    /// No `[login]`; an ID token its policy refuses, or of another policy.
    pub async fn registry_login(&self, subject_token: &str) -> Result<Issued, TokenError> {
        let login = self.config.login.as_ref().ok_or_else(|| {
            TokenError::InvalidRequest("this issuer has no [login]: a registry login is for people's ID tokens".into())
        })?;
        let now = self.now();
        let admitted = self.trusted.admit(&self.config, subject_token, now, "subject_token").await;
        let (claims, by) = admitted.inspect_err(|_| self.metrics.denied("sso"))?;
        if by.policy != login.policy {
            return Err(TokenError::InvalidRequest("a registry login is for the [login] provider's ID tokens".into()));
        }
        let left = claims.exp.saturating_sub(now);
        if left == 0 {
            return Err(TokenError::InvalidGrant("the ID token has expired".into()));
        }
        let ttl = LOGIN_TOKEN_TTL.min(self.config.max_ttl).min(left);
        let lineage = claims.jti.iter().cloned().collect();
        self.sign_registry_login(now, claims.sub.clone(), &claims.access.allowed, ttl, lineage, Some(by))
    }

    /// A registry login for a client of this issuer (`grant_type=client_credentials` with
    /// `requested_token_type` [`REGISTRY_LOGIN_TYPE`]): what the credential helper hands a
    /// registry client instead of the client's secret. It grants nothing by itself, lives at most
    /// 15 minutes (and no longer than the client's `max_ttl`), and `/token` turns it into a token
    /// of the one scope a request names, within the client's grant.
    ///
    /// # Errors
    /// Only a failure to sign.
    pub fn client_registry_login(&self, client: &Client) -> Result<Issued, TokenError> {
        let ttl = self.ttl(None, client.max_ttl).min(LOGIN_TOKEN_TTL);
        self.sign_registry_login(self.now(), Some(client.id.clone()), &client.allowance, ttl, Vec::new(), None)
    }

    /// Signs a registry login: no `access`, `grant` as [`LOGIN_GRANT_CLAIM`].
    fn sign_registry_login(
        &self,
        now: u64,
        sub: Option<String>,
        grant: &grant::Allowance,
        ttl: u64,
        lineage: Vec<String>,
        trust: Option<crate::TrustedBy>,
    ) -> Result<Issued, TokenError> {
        let grant: Vec<String> = grant.0.iter().map(ToString::to_string).collect();
        let request = MintRequest {
            scopes: ScopeSet::new(),
            ttl: Some(ttl),
            sub,
            iss: Some(self.config.issuer.clone()),
            aud: self.config.audience.clone(),
            jti: Some(crate::random_id()),
            paths: None,
            lineage,
            trust,
        };
        let mut payload = request.claims(now).to_json();
        payload[LOGIN_GRANT_CLAIM] = grant.into();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.config.signing.kid()});
        let token = self
            .config
            .signing
            .sign_raw(header.to_string().as_bytes(), payload.to_string().as_bytes())
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        self.metrics.issued("registry_login");
        Ok(Issued { token, expires_in: ttl, issued_at: now, scope: ScopeSet::new() })
    }

    /// RFC 8693 token exchange: a chartgate token is downscoped; a workload or SSO token is
    /// admitted by its trust policy and the grant minted.
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
        let now = self.now();
        if own {
            let parent = self.verify_parent(subject_token, now, "subject_token")?;
            let ttl = self.ttl(ttl, self.config.max_ttl);
            let plan = self.downscope(&parent.claims, requested.as_ref(), ttl, paths, now)?;
            let issued = self.sign(now, parent.claims.sub.clone(), plan)?;
            self.metrics.issued("token_exchange");
            return Ok(issued);
        }
        let admitted = self.trusted.admit(&self.config, subject_token, now, "subject_token").await;
        let (claims, by) = admitted.inspect_err(|_| self.metrics.denied("sso"))?;
        // Without `scope`, everything the rule names exactly (its patterns without `*`).
        let requested = match requested {
            Some(r) => r,
            None if !claims.access.allowed.exact_scopes().is_empty() => claims.access.allowed.exact_scopes(),
            None => {
                return Err(TokenError::InvalidRequest(
                    "scope is required: the rule grants patterns, name the repositories".into(),
                ))
            }
        };
        let granted = claims.access.allowed.grant(&requested, self.config.policy.layout());
        if granted.is_empty() {
            self.metrics.denied("invalid_scope");
            return Err(TokenError::InvalidScope(format!(
                "trust policy {:?} (rule {:?}) does not grant {requested}",
                by.policy, by.rule
            )));
        }
        let issued = self.sign_for_workload(now, &claims, by, granted, ttl, paths)?;
        self.metrics.issued("sso_exchange");
        Ok(issued)
    }

    /// `POST /sign-url`: a short-lived link bound to the URL's one path, derived from the
    /// caller's token by the downscoping rules: the caller must hold the route's access and (when
    /// its token is path-bound) that path; the link never outlives the caller and carries its
    /// whole lineage, so revoking any ancestor revokes the link.
    pub fn sign_url(&self, bearer: &str, url: &str, ttl: Option<u64>) -> Result<String, TokenError> {
        let now = self.now();
        let caller = self.verify_parent(bearer, now, "token")?;
        let plan = SignedUrlPlan::new(url, self.config.policy.depth, &self.config.policy.default_repo)
            .map_err(|e| TokenError::InvalidRequest(format!("url: {e}")))?;
        let ttl = ttl.unwrap_or(self.config.url_ttl).clamp(1, self.config.url_ttl);
        let requested: ScopeSet = std::iter::once(plan.scope.clone()).collect();
        let child = self.downscope(&caller.claims, Some(&requested), ttl, Some(plan.binding.clone()), now)?;
        let issued = self.sign(now, caller.claims.sub.clone(), child)?;
        self.metrics.issued("sign_url");
        Ok(plan.link(&issued.token))
    }

    /// The metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    /// The published JWKS (active and retiring keys).
    pub fn jwks(&self) -> serde_json::Value {
        self.config.published.to_jwks()
    }
}

fn parse_scope(s: &str) -> Result<ScopeSet, TokenError> {
    ScopeSet::parse(s).map_err(|e| TokenError::InvalidScope(e.to_string()))
}
