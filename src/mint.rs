//! What a new token says: the claims built for a mint request (scopes, lifetime, subject,
//! issuer, audience, path binding), with the defaults of the ChartMuseum example (5 minutes).

use crate::claims::{Access, Audience, Claims, PathBinding};
use crate::scope::ScopeSet;

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
        }
    }
}
