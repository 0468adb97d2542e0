//! The failure vocabulary every front end shares: why a request was refused, its stable machine
//! code, and its HTTP status. The edge, the issuer, the CLI and the page all print these codes.

use std::fmt;

/// Why the engine refused a request or a token.
///
/// Display is a lower-case description without a trailing period that never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    /// The request path is hostile or not canonical; refused before authorization.
    #[error("bad path: {0}")]
    BadPath(#[from] crate::path::PathError),
    /// No chart route matches the path.
    #[error("no such route")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method {0} not allowed here")]
    MethodNotAllowed(String),
    /// A registry path outside the OCI distribution grammar.
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryPathError),
    /// The credential could not be read (several methods at once, broken Basic auth, …).
    #[error("{0}")]
    InvalidRequest(#[from] crate::credential::CredentialError),
    /// The route needs a token and none was sent.
    #[error("a token is required")]
    MissingCredential,
    /// The token is not a well-formed JWS/JWT of the accepted shape.
    #[error("malformed token: {0}")]
    Malformed(#[from] crate::jws::MalformedToken),
    /// The header names an algorithm outside the allow-list (`none`, HS*, …).
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header carries a `crit` extension this engine does not implement.
    #[error("unsupported critical header {0:?}")]
    UnsupportedCritical(String),
    /// No trusted key has the token's `kid`.
    #[error("no trusted key with kid {0:?}")]
    UnknownKid(String),
    /// The token has no `kid` and more than one key is trusted.
    #[error("token has no kid and {0} keys are trusted")]
    KidRequired(usize),
    /// The token's `alg` is not the algorithm of the key it names.
    #[error("token is signed with {alg} but key {kid:?} is an {key} key")]
    KeyAlgorithm { alg: &'static str, key: &'static str, kid: String },
    /// `iss` names no trusted issuer: neither this deployment's nor a trust policy's.
    #[error("issuer {0:?} is not trusted by any trust policy")]
    UntrustedIssuer(String),
    /// A trusted workload token that no rule of its trust policy matches.
    #[error("trust policy {policy:?}: {why}")]
    NoTrustRule { policy: String, why: String },
    /// Keys cannot be fetched (their endpoint down past max-stale): a trust policy's (named), or
    /// with `None` this deployment's own (`JWKS_URL`). Fail closed: 503 `keys_unavailable`.
    #[error("{} cannot be fetched; refusing to decide", keys_of(.0.as_deref()))]
    KeysUnavailable(Option<String>),
    /// The revocation list (`REVOCATIONS`) cannot be read: fail closed, 503
    /// `revocations_unavailable`.
    #[error("the revocation list cannot be read; refusing to decide")]
    RevocationsUnavailable,
    /// The signature does not verify under the selected key.
    #[error("signature does not verify")]
    BadSignature,
    /// A registered claim is absent.
    #[error("claim {0:?} is missing")]
    MissingClaim(&'static str),
    /// A claim is present but has the wrong type or value range.
    #[error("claim {claim:?} is invalid: {why}")]
    InvalidClaim { claim: &'static str, why: String },
    /// `exp` (plus leeway) is in the past.
    #[error("token expired {}", ago(*.now, *.exp))]
    Expired { exp: u64, now: u64 },
    /// `nbf` (minus leeway) is in the future.
    #[error("token not valid until {} from now", ago(*.nbf, *.now))]
    NotYetValid { nbf: u64, now: u64 },
    /// `iat` (minus leeway) is in the future.
    #[error("token issued in the future ({} from now)", ago(*.iat, *.now))]
    IssuedInFuture { iat: u64, now: u64 },
    /// `iss` differs from the configured issuer.
    #[error("issuer {found:?} is not trusted (expected {expected:?})")]
    WrongIssuer { expected: String, found: String },
    /// `aud` does not contain the configured audience.
    #[error("audience does not include {expected:?}")]
    WrongAudience { expected: String },
    /// The token's `jti` or `sub` is on the revocation list.
    #[error("token has been revoked")]
    Revoked,
    /// A valid token that does not grant the required action on the repository.
    #[error("token does not grant {0}")]
    InsufficientScope(crate::scope::Scope),
    /// A valid, path-bound token used on a path it is not bound to.
    #[error("token is bound to other paths")]
    PathNotBound,
}

/// Whose keys [`Reason::KeysUnavailable`] names.
fn keys_of(policy: Option<&str>) -> String {
    match policy {
        Some(name) => format!("the keys of trust policy {name:?}"),
        None => "this deployment's signing keys".to_owned(),
    }
}

/// Duration between two instants, `later - earlier`, for humans: "3 s", "4 min", "2 h", "5 d".
pub fn ago(later: u64, earlier: u64) -> String {
    human_duration(later.saturating_sub(earlier))
}

/// `at` relative to `now` for humans: "in 4 min", "2 h ago", "now".
pub fn relative(at: u64, now: u64) -> String {
    match at.cmp(&now) {
        std::cmp::Ordering::Equal => "now".to_owned(),
        std::cmp::Ordering::Greater => format!("in {}", human_duration(at - now)),
        std::cmp::Ordering::Less => format!("{} ago", human_duration(now - at)),
    }
}

/// A duration in seconds for humans, rounded down to its largest unit.
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

impl From<crate::jws::JwsError> for Reason {
    fn from(e: crate::jws::JwsError) -> Self {
        use crate::jws::JwsError;
        match e {
            JwsError::Malformed(m) => Reason::Malformed(m),
            JwsError::AlgorithmNotAllowed(alg) => Reason::AlgorithmNotAllowed(alg),
            JwsError::UnsupportedCritical(name) => Reason::UnsupportedCritical(name),
        }
    }
}

impl Reason {
    /// The stable machine code, identical on every front end.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::BadPath(_) => "bad_path",
            Reason::NotFound => "not_found",
            Reason::MethodNotAllowed(_) => "method_not_allowed",
            Reason::Registry(_) => "bad_registry_path",
            Reason::InvalidRequest(_) => "invalid_request",
            Reason::MissingCredential => "missing_credential",
            Reason::Malformed(_) => "malformed_token",
            Reason::AlgorithmNotAllowed(_) => "alg_not_allowed",
            Reason::UnsupportedCritical(_) => "unsupported_crit",
            Reason::UnknownKid(_) => "unknown_kid",
            Reason::KidRequired(_) => "kid_required",
            Reason::KeyAlgorithm { .. } => "alg_key_mismatch",
            Reason::UntrustedIssuer(_) => "untrusted_issuer",
            Reason::NoTrustRule { .. } => "no_trust_rule",
            Reason::KeysUnavailable(_) => "keys_unavailable",
            Reason::RevocationsUnavailable => "revocations_unavailable",
            Reason::BadSignature => "bad_signature",
            Reason::MissingClaim(_) => "missing_claim",
            Reason::InvalidClaim { .. } => "invalid_claim",
            Reason::Expired { .. } => "expired",
            Reason::NotYetValid { .. } => "not_yet_valid",
            Reason::IssuedInFuture { .. } => "issued_in_future",
            Reason::WrongIssuer { .. } => "wrong_issuer",
            Reason::WrongAudience { .. } => "wrong_audience",
            Reason::Revoked => "revoked",
            Reason::InsufficientScope(_) => "insufficient_scope",
            Reason::PathNotBound => "path_not_bound",
        }
    }

    /// The HTTP status a front end answers with.
    pub fn status(&self) -> u16 {
        match self {
            Reason::BadPath(_) | Reason::InvalidRequest(_) => 400,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed(_) => 405,
            Reason::Registry(e) => e.status(),
            Reason::InsufficientScope(_) | Reason::PathNotBound => 403,
            Reason::KeysUnavailable(_) | Reason::RevocationsUnavailable => 503,
            _ => 401,
        }
    }

    /// The RFC 6750 `error` value, or `None` when none applies (no credential was sent, or the
    /// refusal is not about a bearer token at all).
    pub fn oauth_error(&self) -> Option<OAuthError> {
        match self.status() {
            400 => Some(OAuthError::InvalidRequest),
            403 => Some(OAuthError::InsufficientScope),
            401 if *self != Reason::MissingCredential => Some(OAuthError::InvalidToken),
            _ => None,
        }
    }

    /// True when the refusal is about the token itself (as opposed to the request).
    pub fn is_token_failure(&self) -> bool {
        self.status() == 401 && *self != Reason::MissingCredential
    }
}

/// The RFC 6750 §3.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OAuthError::InvalidRequest => "invalid_request",
            OAuthError::InvalidToken => "invalid_token",
            OAuthError::InsufficientScope => "insufficient_scope",
        })
    }
}
