//! Trust policies: which external issuers' tokens (GitHub Actions, GitLab CI, Kubernetes
//! service accounts, an organisation's SSO) are accepted in place of a chartgate token, and what
//! they grant. A policy names one issuer (its exact `iss`), the audience its tokens must carry,
//! where its keys come from, an optional lifetime cap, and ordered rules: conditions on claims
//! (whole-value regular expressions) and the scopes they grant, which may be templated from
//! claims ([`ScopeTemplate`]). The first rule that matches decides; none matching is a refusal
//! naming the policy.
//!
//! Pure: the edge, the issuer (its SSO exchange and workload logins), the CLI
//! (`chartgate verify --trust`) and the inspector page parse and evaluate policies here, so they
//! never disagree. Keys are fetched by each platform; a token is routed to its policy by `iss`
//! ([`TrustPolicies::route`]), verified with that policy's keys only (the key fixes the
//! algorithm), then admitted by [`TrustPolicy::admit`].
//!
//! Here: the policy, its rules and conditions (whole-value matchers), admission and routing;
//! the written document and its validation in [`document`]; the strict one-pass reading of a
//! workload token's payload in [`payload`]; the warnings about rules bound by renameable names in
//! [`warnings`].

mod document;
mod payload;
#[cfg(test)]
mod tests;
mod warnings;

pub use document::{discovered_jwks_uri, ParseOptions, RawPolicy, TrustPolicyError};
pub use payload::WorkloadPayload;
pub use warnings::TrustWarning;

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::allowance::{claim, Allowance, ScopeTemplate};
use crate::claims::{Access, Audience, Claims, TrustedBy};
use crate::error::Reason;
use crate::jws::Part;
use crate::keys::KeySet;

/// Most policies one deployment trusts.
pub const MAX_POLICIES: usize = 16;
/// Most rules in one policy.
pub const MAX_RULES: usize = 64;
/// Longest accepted rule pattern, in bytes.
pub const MAX_PATTERN: usize = 1024;

/// Where a policy's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// OpenID Connect Discovery: `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery(String),
    /// A JWKS URL.
    JwksUrl(String),
    /// Keys given in the policy (PEM, JWK or JWKS): nothing is fetched.
    Inline(KeySet),
}

/// A whole-value pattern: literal alternatives (`acme`, `push|workflow_dispatch`) are compared as
/// strings, anything else runs on the regular-expression engine.
#[derive(Debug, Clone)]
enum Matcher {
    Literals(Vec<String>),
    Regex(regex_lite::Regex),
}

impl Matcher {
    /// Characters that make a pattern more than `|`-separated literals.
    const META: &'static [char] = &['\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$'];

    fn new(pattern: &str) -> Result<Self, String> {
        if !pattern.contains(Self::META) {
            return Ok(Matcher::Literals(pattern.split('|').map(str::to_owned).collect()));
        }
        // The pattern must stand on its own, so wrapping it cannot change what it means: an
        // unbalanced `acme)|(x` would otherwise escape the anchors, and the verbose flag's `#`
        // would comment them out.
        regex_lite::Regex::new(pattern).map_err(|e| e.to_string())?;
        if has_verbose_flag(pattern) {
            return Err("the verbose flag (x) is not supported in patterns".into());
        }
        let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
        Ok(Matcher::Regex(re))
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            Matcher::Literals(options) => options.iter().any(|o| o == value),
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

/// True when an inline flag group (`(?x)`, `(?ix:…)`) turns on verbose mode.
fn has_verbose_flag(pattern: &str) -> bool {
    pattern.match_indices("(?").any(|(i, _)| {
        let flags = &pattern[i + 2..];
        let end = flags.find([')', ':']).unwrap_or(flags.len());
        flags[..end].contains('x')
    })
}

/// One condition of a rule: the claim at a path (see [`claim`]) matches a whole-value pattern.
#[derive(Debug, Clone)]
pub struct Condition {
    claim: String,
    pattern: Matcher,
    source: String,
}

impl Condition {
    /// A condition on `claim` with a whole-value `pattern`: `acme` matches exactly `acme`, never
    /// `acme-evil`; `refs/tags/v.*` matches every tag starting with `v`.
    ///
    /// # Errors
    /// The pattern is not a regular expression, or longer than [`MAX_PATTERN`].
    pub fn new(claim: &str, pattern: &str) -> Result<Self, String> {
        if claim.is_empty() {
            return Err("the claim name is empty".into());
        }
        if pattern.len() > MAX_PATTERN {
            return Err(format!("the pattern is longer than {MAX_PATTERN} bytes"));
        }
        Ok(Condition { claim: claim.to_owned(), pattern: Matcher::new(pattern)?, source: pattern.to_owned() })
    }

    /// A string claim matches; an array matches when one of its strings does; a boolean is read
    /// as `true`/`false` and a non-negative integer as its digits. Anything else, or a missing
    /// claim, does not match.
    pub fn matches(&self, claims: &Value) -> bool {
        self.test(claims) == Some(true)
    }

    /// Whether the claim matches, or `None` when it cannot be read: missing, ambiguous (see
    /// [`claim`]), or neither a string, a boolean, a non-negative integer nor an array of them.
    fn test(&self, claims: &Value) -> Option<bool> {
        let one = |v: &Value| match v {
            Value::String(s) => Some(self.pattern.is_match(s)),
            Value::Bool(b) => Some(self.pattern.is_match(if *b { "true" } else { "false" })),
            Value::Number(n) if n.is_u64() => Some(self.pattern.is_match(&n.to_string())),
            _ => None,
        };
        match claim(claims, &self.claim)? {
            Value::Array(items) => items.iter().map(one).try_fold(false, |any, m| Some(any || m?)),
            v => one(v),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}", self.claim, self.source)
    }
}

/// One rule: every `when` condition matches, no `unless` condition does, and every grant fills.
#[derive(Debug, Clone)]
pub struct TrustRule {
    /// `name` from the policy, or `rules[i]`.
    pub name: String,
    pub when: Vec<Condition>,
    pub unless: Vec<Condition>,
    pub grants: Vec<ScopeTemplate>,
}

impl TrustRule {
    /// The grant for `claims`, or why this rule does not match them.
    fn evaluate(&self, claims: &Value) -> Result<Allowance, String> {
        if let Some(c) = self.when.iter().find(|c| !c.matches(claims)) {
            return Err(format!("rule {:?}: {} does not match", self.name, c.claim));
        }
        // `unless` fails closed: a claim it cannot read (missing, null, an object) refuses the
        // rule, as a match would.
        if let Some(c) = self.unless.iter().find(|c| c.test(claims) != Some(false)) {
            return Err(format!("rule {:?}: refused by unless {}", self.name, c.claim));
        }
        let grants = self.grants.iter().map(|t| t.fill(claims)).collect::<Result<Vec<_>, _>>();
        grants.map(Allowance).map_err(|e| format!("rule {:?}: {e}", self.name))
    }
}

/// A trusted external issuer and its rules.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Names the policy in refusals, audit lines and revocations (`policy:<name>`).
    pub name: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// What `aud` must contain; `None` only where the caller allowed `"*"` (the issuer's legacy
    /// SSO providers).
    pub audience: Option<String>,
    pub keys: KeySource,
    /// Longest a grant may live after the token's `iat`, in seconds (never past its `exp`).
    pub max_ttl: Option<u64>,
    pub rules: Vec<TrustRule>,
    /// The top-level claims the rules read.
    needed: Vec<String>,
}

impl TrustPolicy {
    /// Admits a token whose signature verified under this policy's keys, at `now` with `leeway`
    /// seconds of clock skew: issuer, audience, `exp`/`nbf`/`iat`, then the first matching rule.
    /// The claims returned grant exactly the rule's scopes (the token's own `access`, `paths` or
    /// `lineage`, if any, are never read) and expire at the token's `exp`, or earlier under
    /// `max_ttl`.
    ///
    /// # Errors
    /// The [`Reason`] the edge answers with: a wrong issuer or audience, a time claim, or
    /// [`Reason::NoTrustRule`] naming the policy.
    pub fn admit(&self, payload: &[u8], now: u64, leeway: u64) -> Result<(Claims, Arc<TrustedBy>), Reason> {
        self.admit_payload(WorkloadPayload::parse(payload, &self.needed)?, now, leeway)
    }

    /// [`TrustPolicy::admit`] for a payload already read (by [`TrustPolicies::route`], with the
    /// claims every policy's rules read).
    ///
    /// # Errors
    /// As [`TrustPolicy::admit`].
    pub fn admit_payload(
        &self,
        payload: WorkloadPayload,
        now: u64,
        leeway: u64,
    ) -> Result<(Claims, Arc<TrustedBy>), Reason> {
        let WorkloadPayload { reg, claims: all } = payload;
        match &reg.iss {
            Some(iss) if *iss == self.issuer => {}
            Some(iss) => {
                let found = iss.chars().take(64).collect();
                return Err(Reason::WrongIssuer { expected: self.issuer.clone(), found });
            }
            None => return Err(Reason::MissingClaim("iss")),
        }
        if let Some(expected) = &self.audience {
            match &reg.aud {
                None => return Err(Reason::MissingClaim("aud")),
                Some(aud) if !aud.contains(expected) => {
                    return Err(Reason::WrongAudience { expected: expected.clone() })
                }
                Some(_) => {}
            }
        }
        let mut exp = reg.exp.ok_or(Reason::MissingClaim("exp"))?;
        if let Some(max) = self.max_ttl {
            let iat = reg.iat.ok_or(Reason::MissingClaim("iat"))?;
            exp = exp.min(iat.saturating_add(max));
        }
        let mut claims = Claims {
            iss: reg.iss,
            sub: reg.sub,
            aud: reg.aud,
            exp,
            nbf: reg.nbf,
            iat: reg.iat,
            jti: reg.jti,
            access: Access::default(),
            paths: None,
            lineage: Vec::new(),
            trust: None,
        };
        claims.check_times(leeway, now)?;
        let mut why = String::from("no rule matches this identity");
        for rule in &self.rules {
            match rule.evaluate(&all) {
                Ok(allowed) => {
                    claims.access.allowed = allowed;
                    let by = Arc::new(TrustedBy {
                        policy: self.name.clone(),
                        rule: rule.name.clone(),
                        issuer: self.issuer.clone(),
                    });
                    claims.trust = Some(by.clone());
                    return Ok((claims, by));
                }
                // The first refusal that got past the conditions says the most.
                Err(w) if why.starts_with("no rule") && !w.ends_with("does not match") => why = w,
                Err(_) => {}
            }
        }
        Err(Reason::NoTrustRule { policy: self.name.clone(), why })
    }

    /// The URL to fetch keys from first (the discovery document or the JWKS), if any.
    pub fn fetch_url(&self) -> Option<&str> {
        match &self.keys {
            KeySource::Discovery(url) | KeySource::JwksUrl(url) => Some(url),
            KeySource::Inline(_) => None,
        }
    }
}

/// The trust policies of one deployment.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicies {
    policies: Vec<TrustPolicy>,
    /// The top-level claims any policy's rules read.
    needed: Vec<String>,
}

impl TrustPolicies {
    /// [`TrustPolicies::route`] for a verifier that has keys of its own or not: without them, a
    /// token of an issuer no policy names is [`Reason::UntrustedIssuer`] (naming the issuer it
    /// claims), before any key is looked at. The one rule the edge, the CLI and the page share.
    ///
    /// # Errors
    /// As [`TrustPolicies::route`], and [`Reason::UntrustedIssuer`].
    pub fn route_for(&self, token: &str, has_own_keys: bool) -> Result<Routed<'_>, Reason> {
        match self.route(token)? {
            Routed::Own { iss: Some(iss) } if !has_own_keys => {
                Err(Reason::UntrustedIssuer(iss.chars().take(64).collect()))
            }
            routed => Ok(routed),
        }
    }
}

/// Whose keys a token must verify under.
#[derive(Debug)]
pub enum Routed<'p> {
    /// This deployment's own keys; `iss` as the token claims it (unverified), for the refusal of
    /// a token of an untrusted issuer when the deployment has no keys of its own.
    Own { iss: Option<String> },
    /// The `i`th trust policy's keys, and the payload as read for its admission.
    Trusted(usize, &'p TrustPolicy, Box<WorkloadPayload>),
}
