//! The policy document as written (JSON at the edge and in the CLI, TOML `[[sso]]`/`[[trust]]` in
//! the issuer's configuration): its raw shape, its validation into [`TrustPolicy`] with errors
//! naming the key, and the OIDC discovery document's `jwks_uri`.

use super::payload::{needed_claims, strict_json};
use super::*;
use crate::url_policy::check_url;

/// A trust-policy document that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {why}")]
pub struct TrustPolicyError {
    /// `line 3 column 7` for a syntax error, else the key path (`policies[0].rules[1].scopes[0]`).
    pub at: String,
    pub why: String,
}

/// A policy as written (JSON at the edge and in the CLI, TOML `[[sso]]`/`[[trust]]` in the
/// issuer's configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: Option<String>,
    pub issuer: String,
    pub audience: Option<String>,
    pub jwks_url: Option<String>,
    /// Inline keys: PEM, JWK or JWKS text.
    pub keys: Option<String>,
    /// Seconds (a number) or a duration (`"15m"`, `"1h"`).
    pub max_ttl: Option<RawDuration>,
    /// The issuer only: a PEM file of an extra CA to trust when fetching keys.
    pub ca: Option<String>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// A rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Option<String>,
    #[serde(rename = "match", default)]
    pub when: RawConditions,
    #[serde(default)]
    pub unless: RawConditions,
    #[serde(alias = "grants")]
    pub scopes: Vec<String>,
}

/// Conditions as a table (`{repository = "acme/app"}`) or a list of `{claim, pattern}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawConditions {
    Table(std::collections::BTreeMap<String, String>),
    List(Vec<RawCondition>),
}

impl Default for RawConditions {
    fn default() -> Self {
        RawConditions::List(Vec::new())
    }
}

impl RawConditions {
    fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            RawConditions::Table(t) => t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            RawConditions::List(l) => l.iter().map(|c| (c.claim.as_str(), c.pattern.as_str())).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub claim: String,
    pub pattern: String,
}

/// A duration as written: seconds, or `<n>s|m|h|d`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDuration {
    Seconds(u64),
    Text(String),
}

impl RawDuration {
    fn seconds(&self) -> Result<u64, String> {
        let text = match self {
            RawDuration::Seconds(n) => return Ok(*n),
            RawDuration::Text(t) => t.trim(),
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 =
            digits.parse().map_err(|_| format!("{text:?} is not a duration such as 900, \"15m\" or \"1h\""))?;
        let unit = match unit.trim() {
            "" | "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("{text:?} is not a duration such as 900, \"15m\" or \"1h\"")),
        };
        Ok(n.saturating_mul(unit))
    }
}

/// How strict [`TrustPolicy::from_raw`] is.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Accept `audience = "*"` (any application of the provider). Only the issuer's SSO
    /// providers, which always allowed it with a warning, set this.
    pub any_audience: bool,
    /// Accept a policy without `audience`: never at the edge.
    pub missing_audience: bool,
}

impl TrustPolicy {
    /// Validates one written policy; errors name the key under `at` (`policies[0]`).
    ///
    /// # Errors
    /// [`TrustPolicyError`] naming the key: a missing audience, an issuer or URL that is not
    /// `https`, unreadable inline keys, a pattern that is not a regular expression, a scope
    /// template that is malformed, a rule without scopes.
    pub fn from_raw(raw: &RawPolicy, at: &str, options: ParseOptions) -> Result<Self, TrustPolicyError> {
        let err = |key: &str, why: String| TrustPolicyError { at: format!("{at}.{key}"), why };
        if raw.issuer.is_empty() {
            return Err(err("issuer", "is empty".into()));
        }
        let audience = match raw.audience.as_deref() {
            None if options.missing_audience => None,
            None => {
                return Err(err(
                    "audience",
                    "is required: the audience the platform puts in `aud` for this deployment".into(),
                ))
            }
            Some("*") if options.any_audience => None,
            Some("*") => return Err(err("audience", "\"*\" (any audience) is not accepted for a trust policy".into())),
            Some("") => return Err(err("audience", "is empty".into())),
            Some(a) => Some(a.to_owned()),
        };
        let keys = match (&raw.keys, &raw.jwks_url) {
            (Some(_), Some(_)) => return Err(err("keys", "give either keys or jwks_url, not both".into())),
            (Some(text), None) => KeySource::Inline(KeySet::parse(text).map_err(|e| err("keys", e.to_string()))?),
            (None, Some(url)) => {
                check_url(url).map_err(|e| err("jwks_url", e))?;
                KeySource::JwksUrl(url.clone())
            }
            (None, None) => {
                check_url(&raw.issuer).map_err(|e| {
                    err(
                        "issuer",
                        format!("{e}; without jwks_url or keys, keys are found by OIDC discovery from the issuer"),
                    )
                })?;
                KeySource::Discovery(format!("{}/.well-known/openid-configuration", raw.issuer.trim_end_matches('/')))
            }
        };
        let max_ttl = raw.max_ttl.as_ref().map(RawDuration::seconds).transpose().map_err(|e| err("max_ttl", e))?;
        if raw.rules.len() > MAX_RULES {
            return Err(err("rules", format!("more than {MAX_RULES} rules")));
        }
        let mut rules = Vec::new();
        for (i, r) in raw.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            let conditions = |list: &RawConditions, field: &str| {
                list.pairs()
                    .into_iter()
                    .map(|(c, p)| Condition::new(c, p).map_err(|e| err(&format!("{key}.{field}.{c}"), e)))
                    .collect::<Result<Vec<_>, _>>()
            };
            let when = conditions(&r.when, "match")?;
            if when.is_empty() {
                let why =
                    "a rule needs at least one `match` condition: without one it admits every token of the issuer, \
                           whoever asked for it";
                return Err(err(&format!("{key}.match"), why.into()));
            }
            let unless = conditions(&r.unless, "unless")?;
            if r.scopes.is_empty() {
                return Err(err(&format!("{key}.scopes"), "a rule must grant at least one scope".into()));
            }
            let grants = r
                .scopes
                .iter()
                .enumerate()
                .map(|(j, s)| ScopeTemplate::parse(s).map_err(|e| err(&format!("{key}.scopes[{j}]"), e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            rules.push(TrustRule { name: r.name.clone().unwrap_or(key), when, unless, grants });
        }
        let name = raw.name.clone().unwrap_or_else(|| raw.issuer.clone());
        let needed = needed_claims(rules.iter());
        Ok(TrustPolicy { name, issuer: raw.issuer.clone(), audience, keys, max_ttl, rules, needed })
    }
}

/// The `jwks_uri` of an OpenID Provider Configuration document (OpenID Connect Discovery 1.0
/// §3), after checking that the document's `issuer` is exactly `issuer` (§4.3: a document for
/// another issuer must not be used) and that the URI is `https` (or loopback `http`).
///
/// # Errors
/// Why the document cannot be used, for the operator's log.
pub fn discovered_jwks_uri(document: &str, issuer: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: Option<String>,
        jwks_uri: Option<String>,
    }
    let doc: Discovery = serde_json::from_str(document).map_err(|e| format!("discovery document: {e}"))?;
    if doc.issuer.as_deref() != Some(issuer) {
        return Err(format!("discovery document names issuer {:?}, not {issuer:?}", doc.issuer.unwrap_or_default()));
    }
    let uri = doc.jwks_uri.ok_or("discovery document has no jwks_uri")?;
    check_url(&uri)?;
    Ok(uri)
}

impl TrustPolicies {
    /// Reads a policy document: a JSON array of policies, one policy object, or
    /// `{"policies": [...]}`. A syntax error names its line and column.
    ///
    /// # Errors
    /// [`TrustPolicyError`]: syntax (line and column), an unknown or missing key, a policy that
    /// does not validate ([`TrustPolicy::from_raw`]), two policies with one issuer or one name.
    #[inline(never)] // compiled only where TRUST_POLICIES is set
    pub fn from_json(text: &str) -> Result<Self, TrustPolicyError> {
        let value: Value = strict_json(text).map_err(|e| TrustPolicyError {
            at: format!("line {} column {}", e.line(), e.column()),
            why: e.to_string(),
        })?;
        let list = match value {
            Value::Array(list) => list,
            Value::Object(mut o) if o.contains_key("policies") && o.len() == 1 => match o.remove("policies") {
                Some(Value::Array(list)) => list,
                _ => return Err(TrustPolicyError { at: "policies".into(), why: "must be an array".into() }),
            },
            one @ Value::Object(_) => vec![one],
            _ => {
                return Err(TrustPolicyError {
                    at: "line 1".into(),
                    why: "a trust policy document is a JSON array of policies or one policy object".into(),
                })
            }
        };
        let mut policies = Vec::new();
        for (i, v) in list.into_iter().enumerate() {
            let at = format!("policies[{i}]");
            let raw = serde_json::from_value::<RawPolicy>(v)
                .map_err(|e| TrustPolicyError { at: at.clone(), why: e.to_string() })?;
            if raw.ca.is_some() {
                let why = "is read by the issuer only: the edge fetches keys with the platform's own CAs".into();
                return Err(TrustPolicyError { at: format!("{at}.ca"), why });
            }
            policies.push(TrustPolicy::from_raw(&raw, &at, ParseOptions::default())?);
        }
        Self::new(policies)
    }

    /// Checks validated policies as one set: at most [`MAX_POLICIES`], each issuer and each
    /// name once.
    ///
    /// # Errors
    /// [`TrustPolicyError`] naming the second policy of a pair.
    pub fn new(policies: Vec<TrustPolicy>) -> Result<Self, TrustPolicyError> {
        if policies.len() > MAX_POLICIES {
            return Err(TrustPolicyError { at: "policies".into(), why: format!("more than {MAX_POLICIES} policies") });
        }
        for (i, p) in policies.iter().enumerate() {
            if policies[..i].iter().any(|o| o.issuer == p.issuer) {
                let why = format!("issuer {:?} has two policies: put its rules in one", p.issuer);
                return Err(TrustPolicyError { at: format!("policies[{i}].issuer"), why });
            }
            if policies[..i].iter().any(|o| o.name == p.name) {
                return Err(TrustPolicyError {
                    at: format!("policies[{i}].name"),
                    why: format!("{:?} is taken", p.name),
                });
            }
        }
        let needed = needed_claims(policies.iter().flat_map(|p| &p.rules));
        Ok(TrustPolicies { policies, needed })
    }

    /// The policies, in order.
    pub fn policies(&self) -> &[TrustPolicy] {
        &self.policies
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy a token belongs to, by its `iss` (read before the signature, as `kid` is, only
    /// to choose the keys it must verify under). Costs one decode of the payload; call it only
    /// when there are policies.
    ///
    /// # Errors
    /// The payload is not base64url JSON.
    pub fn route(&self, token: &str) -> Result<Routed<'_>, Reason> {
        if self.policies.is_empty() {
            return Ok(Routed::Own { iss: None });
        }
        // Size first, as in every verification: nothing larger is decoded.
        if token.len() > crate::MAX_TOKEN_LEN {
            return Err(crate::jws::MalformedToken::TooLong(token.len()).into());
        }
        let payload = token.split('.').nth(1).unwrap_or_default();
        let bytes = crate::jws::decode(payload, Part::Payload)?;
        let read = WorkloadPayload::parse(&bytes, &self.needed)?;
        match self.policies.iter().enumerate().find(|(_, p)| Some(p.issuer.as_str()) == read.iss()) {
            Some((i, p)) => Ok(Routed::Trusted(i, p, Box::new(read))),
            None => Ok(Routed::Own { iss: read.reg.iss }),
        }
    }
}
