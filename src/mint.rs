//! What a new token says: the claims built for a mint request (scopes, lifetime, subject,
//! issuer, audience, path binding), with the defaults of the ChartMuseum example (5 minutes), and
//! the plan of a signed download URL.

use crate::claims::{Access, Audience, Claims, PathBinding};
use crate::error::Reason;
use crate::path::NormalizedPath;
use crate::route::Route;
use crate::scope::Depth;
use crate::scope::{RepoName, Scope, ScopeSet};

/// Default token lifetime, in seconds (the ChartMuseum example's 5 minutes).
pub const DEFAULT_TTL: u64 = 300;
/// Default lifetime of signed download URLs, in seconds.
pub const DEFAULT_URL_TTL: u64 = 600;

/// A request for a new token.
#[derive(Debug, Clone, Default)]
pub struct MintRequest {
    pub scopes: ScopeSet,
    /// Lifetime in seconds; `None` means [`DEFAULT_TTL`].
    pub ttl: Option<u64>,
    pub sub: Option<String>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub jti: Option<String>,
    pub paths: Option<PathBinding>,
    pub lineage: Vec<String>,
    /// The trust policy that admitted the workload this token is minted for.
    pub trust: Option<crate::TrustedBy>,
}

impl MintRequest {
    /// The claims for a token issued at `now`.
    pub fn claims(&self, now: u64) -> Claims {
        Claims {
            iss: self.iss.clone(),
            sub: self.sub.clone(),
            aud: self.aud.clone().map(Audience::One),
            exp: now.saturating_add(self.ttl.unwrap_or(DEFAULT_TTL)),
            nbf: Some(now),
            iat: Some(now),
            jti: self.jti.clone(),
            access: Access { repos: self.scopes.clone(), ..Access::default() },
            paths: self.paths.clone(),
            lineage: self.lineage.clone(),
            trust: self.trust.clone().map(std::sync::Arc::new),
        }
    }
}

/// What a signed download URL will carry, planned from the URL alone: the one scope its route
/// needs and a binding to its one normalised path. The CLI (a root key) and the issuer (a caller's
/// token, through downscoping) both start from this plan, so the two cannot disagree about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrlPlan {
    /// `https://host[:port]`, as given.
    pub base: String,
    /// The path, as given (the link keeps the client's spelling; the binding is normalised).
    pub path: String,
    /// The access the route needs.
    pub scope: Scope,
    /// The token's `paths` claim: exactly the normalised path.
    pub binding: PathBinding,
}

/// Why a URL cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignUrlError {
    #[error("{0:?} is not an http(s) URL with a path")]
    NotHttp(String),
    #[error("the URL path is refused: {0}")]
    Path(#[from] crate::path::PathError),
    #[error("the URL is not a chart artifact route: {0}")]
    Route(Reason),
    #[error("the URL needs no token")]
    Public,
}

impl SignedUrlPlan {
    /// Plans a signed link to `url` for a deployment with this repository `depth` and default
    /// namespace.
    pub fn new(url: &str, depth: Depth, default_repo: &RepoName) -> Result<Self, SignUrlError> {
        let (base, path) = split_url(url).ok_or_else(|| SignUrlError::NotHttp(url.chars().take(200).collect()))?;
        let normalized = NormalizedPath::parse(path)?;
        let route = Route::parse("GET", &normalized, depth, default_repo).map_err(SignUrlError::Route)?;
        let scope = route.required().ok_or(SignUrlError::Public)?;
        let binding = PathBinding::parse(&[normalized.as_str()]).map_err(|_| SignUrlError::Public)?;
        Ok(SignedUrlPlan { base: base.to_owned(), path: path.to_owned(), scope, binding })
    }

    /// The link for a signed token.
    pub fn link(&self, token: &str) -> String {
        format!("{}{}?token={token}", self.base, self.path)
    }
}

/// `https://host/path?q` → (`https://host`, `/path`).
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let scheme_len = url.len() - rest.len();
    let without_query = url.split(['?', '#']).next()?;
    let path_start = rest.find('/').map(|i| scheme_len + i)?;
    (path_start < without_query.len()).then(|| (&url[..path_start], &without_query[path_start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_plans() {
        let repo = RepoName::parse("repo").unwrap();
        let plan = SignedUrlPlan::new("https://h:8443/org1/repo1/charts/a-1.0.0.tgz?x=1", Depth::Two, &repo).unwrap();
        assert_eq!((plan.base.as_str(), plan.path.as_str()), ("https://h:8443", "/org1/repo1/charts/a-1.0.0.tgz"));
        assert_eq!(plan.scope.to_string(), "artifact-repository:org1/repo1:pull");
        assert_eq!(plan.binding.entries(), ["/org1/repo1/charts/a-1.0.0.tgz"]);
        assert_eq!(plan.link("T"), "https://h:8443/org1/repo1/charts/a-1.0.0.tgz?token=T");
        let one = SignedUrlPlan::new("https://h/team/index.yaml", Depth::One, &repo).unwrap();
        assert_eq!(one.scope.to_string(), "artifact-repository:team:pull");
        assert_eq!(SignedUrlPlan::new("https://h/health", Depth::Two, &repo), Err(SignUrlError::Public));
        assert!(matches!(SignedUrlPlan::new("ftp://h/x", Depth::Two, &repo), Err(SignUrlError::NotHttp(_))));
        assert!(matches!(SignedUrlPlan::new("https://h/a/%2e%2e/x", Depth::Two, &repo), Err(SignUrlError::Path(_))));
        assert!(matches!(SignedUrlPlan::new("https://h/org1/x.zip", Depth::Two, &repo), Err(SignUrlError::Route(_))));
        assert_eq!(split_url("https://h"), None);
    }
}
