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

/// The registered claims of a workload token.
#[derive(Debug, Default)]
struct Registered {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    jti: Option<String>,
}

/// A workload token's payload read in one pass: the registered claims typed (a repeated member is
/// refused, as everywhere in the engine), and the claims some rule reads, by top-level name, as
/// JSON; every other member is skipped without being kept. Read before the signature only to find
/// the token's policy (by `iss`); trusted only once the signature verifies.
#[derive(Debug)]
pub struct WorkloadPayload {
    reg: Registered,
    claims: Value,
}

/// A JSON object key, borrowed from the text when it has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a claim name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// Reads a payload keeping the `needed` claims.
struct PayloadSeed<'n>(&'n [String]);

impl<'de> serde::de::DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = WorkloadPayload;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<WorkloadPayload, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PayloadSeed<'_> {
    type Value = WorkloadPayload;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<WorkloadPayload, A::Error> {
        use serde::de::Error as _;
        let mut reg = Registered::default();
        let mut claims = serde_json::Map::new();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let needed = self.0.iter().any(|n| *n == *key);
            let registered = matches!(&*key, "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "jti");
            if (needed || registered) && !seen.insert(key.clone().into_owned()) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            if !needed && !registered {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value_seed(StrictValue)?;
            match &*key {
                "iss" => reg.iss = typed(&key, &value)?,
                "sub" => reg.sub = typed(&key, &value)?,
                "jti" => reg.jti = typed(&key, &value)?,
                "aud" => reg.aud = typed(&key, &value)?,
                "exp" => reg.exp = date(&key, &value)?,
                "nbf" => reg.nbf = date(&key, &value)?,
                "iat" => reg.iat = date(&key, &value)?,
                _ => {}
            }
            if needed {
                claims.insert(key.into_owned(), value);
            }
        }
        Ok(WorkloadPayload { reg, claims: Value::Object(claims) })
    }
}

/// A JSON value read like [`Value`], except that a member repeated in any object is an error
/// (serde_json's `Value` keeps the last one silently).
pub(crate) struct StrictValue;

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error as _;
        let mut out = serde_json::Map::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if out.contains_key(&*key) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            let value = map.next_value_seed(StrictValue)?;
            out.insert(key.into_owned(), value);
        }
        Ok(Value::Object(out))
    }
}

/// Reads JSON text with [`StrictValue`], naming the line and column of an error.
fn strict_json(text: &str) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A registered claim of type `T`, or an error naming it.
fn typed<'v, T: Deserialize<'v>, E: serde::de::Error>(key: &str, v: &'v Value) -> Result<T, E> {
    T::deserialize(v).map_err(|e| E::custom(format!("{key}: {e}")))
}

/// A NumericDate claim: whole seconds up to [`crate::MAX_DATE`].
fn date<E: serde::de::Error>(key: &str, v: &Value) -> Result<Option<u64>, E> {
    match typed::<Option<u64>, E>(key, v)? {
        Some(n) if n > crate::MAX_DATE => Err(E::custom(format!("{key}: date {n} is after year 9999"))),
        n => Ok(n),
    }
}

impl WorkloadPayload {
    /// Reads a decoded payload, keeping the `needed` claims (sorted or not).
    ///
    /// # Errors
    /// [`Reason::Malformed`]: not a UTF-8 JSON object, a repeated registered or needed claim, a
    /// registered claim of the wrong type.
    pub fn parse(bytes: &[u8], needed: &[String]) -> Result<Self, Reason> {
        use serde::de::DeserializeSeed as _;
        let malformed = |why: String| Reason::Malformed(crate::jws::MalformedToken::Json(Part::Payload, why));
        if bytes.first() != Some(&b'{') {
            return Err(malformed("not an object".into()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| crate::jws::MalformedToken::NotUtf8(Part::Payload))?;
        let mut de = serde_json::Deserializer::from_str(text);
        let payload = PayloadSeed(needed).deserialize(&mut de).map_err(|e| malformed(e.to_string()))?;
        de.end().map_err(|e| malformed(e.to_string()))?;
        Ok(payload)
    }

    /// The `iss` the payload claims.
    pub fn iss(&self) -> Option<&str> {
        self.reg.iss.as_deref()
    }
}

/// The top-level claim names the rules read: each condition's and template's claim, and for a
/// nested one (`kubernetes.io/namespace`) also its first segment.
fn needed_claims<'r>(rules: impl Iterator<Item = &'r TrustRule>) -> Vec<String> {
    let mut names = Vec::new();
    for rule in rules {
        let paths = rule.when.iter().chain(&rule.unless).map(|c| c.claim.as_str());
        for path in paths.chain(rule.grants.iter().flat_map(ScopeTemplate::claims)) {
            names.push(path.to_owned());
            if let Some((first, _)) = path.split_once('/') {
                names.push(first.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
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

/// An `http(s)` URL; plain `http` only on a loopback host (a local provider in development).
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|r| is_loopback(r)))
        .ok_or_else(|| format!("{url:?} is not an https URL (http is accepted on a loopback host only)"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no host"));
    }
    if rest.contains(char::is_control) {
        return Err(format!("{url:?} contains control characters"));
    }
    Ok(())
}

/// True when the authority at the start of `rest` (`host[:port]/…`) is a loopback host.
pub(crate) fn is_loopback(rest: &str) -> bool {
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
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

/// A claim that names an identity (and can be renamed, or deleted and registered again by someone
/// else), and the immutable numeric ids any one of which pins that identity.
const NAMES_AND_IDS: &[(&str, &[&str])] = &[
    // GitHub Actions: a repository or an organisation/user name can be deleted and re-registered.
    ("repository", &["repository_id"]),
    ("repository_owner", &["repository_owner_id", "repository_id"]),
    ("workflow_ref", &["repository_id", "repository_owner_id"]),
    ("job_workflow_ref", &["repository_id", "repository_owner_id"]),
    // GitLab CI: a project's or group's path, likewise.
    ("project_path", &["project_id"]),
    ("namespace_path", &["namespace_id", "project_id"]),
    ("ci_config_ref_uri", &["project_id", "namespace_id"]),
    // Kubernetes: a service account deleted and created again under its name gets a new `uid`.
    ("kubernetes.io/serviceaccount/name", &["kubernetes.io/serviceaccount/uid"]),
    // `sub` spells the repository, project or service account by name on every platform.
    (
        "sub",
        &["repository_id", "repository_owner_id", "project_id", "namespace_id", "kubernetes.io/serviceaccount/uid"],
    ),
];

/// Claims only GitLab CI's `id_tokens` carry: a rule naming one is a GitLab rule.
const GITLAB_CLAIMS: &[&str] = &[
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "ci_config_ref_uri",
    "ci_config_sha",
    "pipeline_source",
    "pipeline_id",
    "ref_path",
    "user_login",
    "user_access_level",
];

/// Something a policy allows that is probably not what its author meant: a rule granting `push`
/// to an identity that can be renamed or re-created. A warning, never an error: the policy still
/// loads and decides as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustWarning {
    /// The policy's name.
    pub policy: String,
    /// The rule's name.
    pub rule: String,
    /// A stable code: `name_without_id` (a repository, owner, project, group or service account
    /// matched by name and by no immutable id), `ref_without_ref_type` (GitLab: a `ref` read
    /// without `ref_type`, so a branch named like a tag matches) or `push_without_ref_protected`
    /// (GitLab: push from a ref that need not be protected).
    pub code: &'static str,
    /// What to add, for people.
    pub message: String,
}

impl fmt::Display for TrustWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trust policy {:?}, rule {:?}: {}: {}", self.policy, self.rule, self.code, self.message)
    }
}

impl TrustRule {
    /// True when some grant of the rule includes `push`.
    fn grants_push(&self) -> bool {
        self.grants.iter().any(|g| g.actions().contains(crate::Actions::PUSH))
    }

    /// True when a `match` condition reads `claim`.
    fn matches_on(&self, claim: &str) -> bool {
        self.when.iter().any(|c| c.claim == claim)
    }
}

impl TrustPolicy {
    /// The warnings of [`TrustPolicies::warnings`] for this policy's rules.
    pub fn warnings(&self) -> Vec<TrustWarning> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| r.grants_push()) {
            let mut warn = |code, message: String| {
                out.push(TrustWarning { policy: self.name.clone(), rule: rule.name.clone(), code, message })
            };
            for (name, ids) in NAMES_AND_IDS {
                if rule.matches_on(name) && !ids.iter().any(|id| rule.matches_on(id)) {
                    let ids = ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(" or ");
                    warn(
                        "name_without_id",
                        format!(
                            "grants push but matches `{name}` by name only: a name can be deleted and registered \
                             again by someone else; also match {ids}"
                        ),
                    );
                }
            }
            let gitlab = self.issuer.contains("gitlab") || rule.when.iter().any(|c| GITLAB_CLAIMS.contains(&&*c.claim));
            if !gitlab {
                continue;
            }
            if rule.matches_on("ref") && !rule.matches_on("ref_type") {
                warn(
                    "ref_without_ref_type",
                    "grants push and matches GitLab's `ref` without `ref_type`: a branch can be named like a tag; \
                     also match `ref_type` (\"tag\" or \"branch\")"
                        .into(),
                );
            }
            if !rule.when.iter().any(|c| c.claim == "ref_protected" && c.source == "true") {
                warn(
                    "push_without_ref_protected",
                    "grants push from refs that need not be protected: also match `ref_protected` = \"true\"".into(),
                );
            }
        }
        out
    }
}

impl TrustPolicies {
    /// Rules that grant `push` to an identity that can be renamed or re-created, or (GitLab) to a
    /// ref that is ambiguous or unprotected. GitHub's and GitLab's guidance is to bind trust to the
    /// immutable numeric ids (`repository_id`, `repository_owner_id`; `project_id`,
    /// `namespace_id`), names beside them at most, and on GitLab to read `ref` with `ref_type`
    /// and push only from protected refs. `chartgate verify --trust` and the inspector page print
    /// exactly these, so they never disagree. Pure, and never an error.
    pub fn warnings(&self) -> Vec<TrustWarning> {
        self.policies.iter().flat_map(TrustPolicy::warnings).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GITHUB: &str = r#"[{
        "name": "github",
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://charts.example.com",
        "max_ttl": "15m",
        "rules": [
            {"name": "release",
             "match": {"repository": "acme/app", "ref": "refs/tags/v.*",
                       "workflow_ref": "acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*"},
             "unless": {"event_name": "pull_request_target"},
             "scopes": ["repository:acme/charts/*:pull,push", "artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull",
             "match": {"repository_owner": "acme"},
             "unless": {"event_name": "pull_request_target"},
             "scopes": ["artifact-repository:{repository_owner}/charts:pull"]}
        ]}]"#;

    fn payload(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn github_claims(extra: Value) -> Value {
        let mut base = json!({
            "iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
            "sub": "repo:acme/app:ref:refs/tags/v1.0.0", "repository": "acme/app", "repository_owner": "acme",
            "ref": "refs/tags/v1.0.0", "event_name": "push",
            "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
            "iat": 1000, "nbf": 1000, "exp": 1300, "jti": "j1"
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn first_matching_rule_decides() {
        let set = TrustPolicies::from_json(GITHUB).unwrap();
        let p = &set.policies()[0];
        let (claims, by) = p.admit(&payload(github_claims(json!({}))), 1010, 60).unwrap();
        assert_eq!(by.rule, "release");
        assert_eq!(
            claims.access.allowed.to_string(),
            "repository:acme/charts/*:pull,push artifact-repository:acme/charts:pull,push"
        );
        assert_eq!(claims.exp, 1300);
        let (claims, by) = p.admit(&payload(github_claims(json!({"ref": "refs/heads/main"}))), 1010, 60).unwrap();
        assert_eq!(
            (by.rule.as_str(), claims.access.allowed.to_string().as_str()),
            ("org-pull", "artifact-repository:acme/charts:pull")
        );
    }

    #[test]
    fn forks_and_other_owners_get_nothing() {
        let set = TrustPolicies::from_json(GITHUB).unwrap();
        let p = &set.policies()[0];
        let fork = github_claims(
            json!({"repository": "evil/app", "repository_owner": "evil", "sub": "repo:evil/app:ref:refs/tags/v1"}),
        );
        let e = p.admit(&payload(fork), 1010, 60).unwrap_err();
        assert_eq!(e.code(), "no_trust_rule");
        assert!(e.to_string().contains("\"github\""), "{e}");
        let target = github_claims(json!({"event_name": "pull_request_target", "ref": "refs/heads/main"}));
        assert_eq!(p.admit(&payload(target), 1010, 60).unwrap_err().code(), "no_trust_rule");
        let lookalike = github_claims(json!({"repository_owner": "acme-evil", "repository": "acme-evil/app"}));
        assert!(p.admit(&payload(lookalike), 1010, 60).is_err());
    }

    #[test]
    fn audience_times_and_cap() {
        let set = TrustPolicies::from_json(GITHUB).unwrap();
        let p = &set.policies()[0];
        let code = |extra: Value, now| p.admit(&payload(github_claims(extra)), now, 60).unwrap_err().code();
        assert_eq!(code(json!({"aud": "https://other.example"}), 1010), "wrong_audience");
        assert_eq!(code(json!({"aud": null}), 1010), "missing_claim");
        assert_eq!(code(json!({}), 1361), "expired");
        assert_eq!(code(json!({"nbf": 2000}), 1010), "not_yet_valid");
        assert_eq!(code(json!({"iss": "https://evil"}), 1010), "wrong_issuer");
        let long = github_claims(json!({"exp": 90_000}));
        let (claims, _) = p.admit(&payload(long), 1010, 60).unwrap();
        assert_eq!(claims.exp, 1000 + 900, "max_ttl caps the grant below the token's exp");
        assert_eq!(code(json!({"iat": null}), 1010), "missing_claim");
    }

    #[test]
    fn a_token_s_own_access_claims_grant_nothing() {
        let set = TrustPolicies::from_json(GITHUB).unwrap();
        let p = &set.policies()[0];
        let sneaky = github_claims(json!({"repository_owner": "evil", "repository": "evil/x",
            "access": [{"type": "artifact-repository", "name": "acme/charts", "actions": ["push"]}],
            "paths": ["/*"], "lineage": ["x"]}));
        assert_eq!(p.admit(&payload(sneaky), 1010, 60).unwrap_err().code(), "no_trust_rule");
        let (claims, _) = p
            .admit(&payload(github_claims(json!({"ref": "refs/heads/x", "access": ["acme/other:push"]}))), 1010, 60)
            .unwrap();
        assert!(claims.access.repos.is_empty() && claims.paths.is_none() && claims.lineage.is_empty());
    }

    #[test]
    fn template_values_cannot_widen() {
        let doc = r#"{"name": "gl", "issuer": "https://gitlab.example", "audience": "charts",
            "keys": "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
            "rules": [{"match": {"namespace_path": ".*"}, "scopes": ["repository:{project_path}/*:pull,push"]},
                      {"match": {"namespace_path": ".*"}, "scopes": ["artifact-repository:public/charts:pull"]}]}"#;
        let set = TrustPolicies::from_json(doc).unwrap();
        let p = &set.policies()[0];
        for evil in ["grp/..", "*", "grp/app:push", "grp,app", "grp app", "", "grp/ａpp", "Grp/app"] {
            let c = json!({"iss": "https://gitlab.example", "aud": "charts", "exp": 2000, "namespace_path": "grp", "project_path": evil});
            let (claims, by) = p.admit(&payload(c), 1000, 60).unwrap();
            assert_eq!(by.rule, "rules[1]", "{evil:?} falls through to the next rule");
            assert_eq!(claims.access.allowed.to_string(), "artifact-repository:public/charts:pull");
        }
    }

    #[test]
    fn broken_documents_say_where() {
        let e = TrustPolicies::from_json("[{\"name\": \"a\",\n \"issuer\": }]").unwrap_err();
        assert!(e.at.starts_with("line 2"), "{e}");
        let cases = [
            (r#"[{"issuer": "https://x", "rules": []}]"#, "policies[0].audience"),
            (r#"[{"issuer": "https://x", "audience": "*", "rules": []}]"#, "policies[0].audience"),
            (r#"[{"issuer": "http://x.example", "audience": "a"}]"#, "policies[0].issuer"),
            (r#"[{"issuer": "https://x", "audience": "a", "jwks_url": "ftp://x"}]"#, "policies[0].jwks_url"),
            (r#"[{"issuer": "https://x", "audience": "a", "keys": "nope"}]"#, "policies[0].keys"),
            (
                r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"r": "("}, "scopes": ["artifact-repository:a:pull"]}]}]"#,
                "policies[0].rules[0].match.r",
            ),
            (
                r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"s": "x"}, "scopes": ["artifact-repository:{a:pull"]}]}]"#,
                "policies[0].rules[0].scopes[0]",
            ),
            (
                r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"s": "x"}, "scopes": []}]}]"#,
                "policies[0].rules[0].scopes",
            ),
            (r#"[{"issuer": "https://x", "audience": "a", "max_ttl": "soon"}]"#, "policies[0].max_ttl"),
            (r#"[{"issuer": "https://x", "audience": "a", "audiance": "b"}]"#, "policies[0]"),
            (
                r#"[{"issuer": "https://x", "audience": "a"}, {"issuer": "https://x", "audience": "b", "name": "two"}]"#,
                "policies[1].issuer",
            ),
            ("42", "line 1"),
        ];
        for (doc, at) in cases {
            assert_eq!(TrustPolicies::from_json(doc).unwrap_err().at, at, "{doc}");
        }
        let ok = TrustPolicies::from_json(r#"{"issuer": "http://127.0.0.1:9000", "audience": "a"}"#).unwrap();
        assert_eq!(ok.policies()[0].fetch_url(), Some("http://127.0.0.1:9000/.well-known/openid-configuration"));
    }

    /// The three policies docs/ci.md shows (GitHub, GitLab, Kubernetes), its inline keys replaced
    /// by a real one.
    fn documented_policies() -> [TrustPolicy; 3] {
        let doc = include_str!("../docs/ci.md");
        let jwk = r#"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"#;
        let blocks: Vec<String> = doc
            .split("```json\n")
            .skip(1)
            .map(|b| b.split("\n```").next().unwrap().replace(r#"{\"keys\":[…]}"#, jwk))
            .collect();
        assert_eq!(blocks.len(), 3, "GitHub, GitLab, Kubernetes");
        let mut parsed = blocks.iter().map(|b| TrustPolicies::from_json(b).unwrap().policies()[0].clone());
        [parsed.next().unwrap(), parsed.next().unwrap(), parsed.next().unwrap()]
    }

    /// A decision of `p` on `claims`: the rule and what it grants.
    fn decide(p: &TrustPolicy, claims: Value) -> Result<(String, String), Reason> {
        p.admit(&payload(claims), 1010, 60).map(|(c, by)| (by.rule.clone(), c.access.allowed.to_string()))
    }

    /// `base` with the members of `extra` set (`null` removes one).
    fn with(mut base: Value, extra: Value) -> Value {
        for (k, v) in extra.as_object().unwrap() {
            match v {
                Value::Null => drop(base.as_object_mut().unwrap().remove(k)),
                v => base[k] = v.clone(),
            }
        }
        base
    }

    /// A release job of the documented GitHub recipe (`acme/app`, id 892364310, in `acme`, id
    /// 74563812), with `extra` claims.
    fn doc_github(extra: Value) -> Value {
        let base = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
            "iat": 1000, "exp": 1300, "sub": "repo:acme/app:ref:refs/tags/v1.0.0", "event_name": "push",
            "repository": "acme/app", "repository_id": "892364310", "repository_owner": "acme", "repository_owner_id": "74563812",
            "ref": "refs/tags/v1.0.0", "ref_type": "tag",
            "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"});
        with(base, extra)
    }

    /// A release job of the documented GitLab recipe (`grp/app`, id 45871236, in `grp`, id
    /// 13061982), with `extra` claims.
    fn doc_gitlab(extra: Value) -> Value {
        let base = json!({"iss": "https://gitlab.com", "aud": "https://charts.example.com", "iat": 1000, "exp": 1300,
            "project_path": "grp/app", "project_id": "45871236", "namespace_path": "grp", "namespace_id": "13061982",
            "ref_type": "tag", "ref": "v1.2.0", "ref_protected": "true",
            "ci_config_ref_uri": "gitlab.com/grp/app//.gitlab-ci.yml@refs/tags/v1.2.0", "pipeline_source": "push"});
        with(base, extra)
    }

    /// A projected token of the documented Kubernetes recipe's cluster.
    fn doc_k8s(ns: &str, name: &str, uid: &str) -> Value {
        json!({"iss": "https://kubernetes.default.svc.cluster.local", "aud": ["https://charts.example.com"], "iat": 1000, "exp": 1300,
            "sub": format!("system:serviceaccount:{ns}:{name}"),
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}}})
    }

    const PUBLISHER_UID: &str = "6c3e1f2a-9b4d-4e8f-a1c7-2d5b8e0f3a91";

    /// Every policy docs/ci.md shows parses, and does what its text says.
    #[test]
    fn the_documented_policies_parse_and_decide_as_documented() {
        let [gh, gl, k8s] = documented_policies();
        assert_eq!(
            decide(&gh, doc_github(json!({}))).unwrap(),
            ("release".into(), "artifact-repository:acme/charts:pull,push".into())
        );
        let other = json!({"repository": "acme/deploy", "repository_id": "1", "ref": "refs/heads/main"});
        assert_eq!(decide(&gh, doc_github(other)).unwrap().1, "artifact-repository:acme/*:pull");
        assert!(decide(
            &gh,
            doc_github(json!({"repository": "evil/app", "repository_owner": "evil", "repository_owner_id": "9"}))
        )
        .is_err());
        assert_eq!(decide(&gl, doc_gitlab(json!({}))).unwrap().0, "release");
        assert_eq!(
            decide(&gl, doc_gitlab(json!({"pipeline_source": "merge_request_event"}))).unwrap().1,
            "artifact-repository:grp/*:pull"
        );
        let fork =
            json!({"project_path": "fork/app", "project_id": "7", "namespace_path": "fork", "namespace_id": "8"});
        assert!(decide(&gl, doc_gitlab(fork)).is_err());
        assert_eq!(
            decide(&k8s, doc_k8s("release", "chart-publisher", PUBLISHER_UID)).unwrap().1,
            "artifact-repository:acme/charts:pull,push"
        );
        assert_eq!(decide(&k8s, doc_k8s("prod", "web", "u")).unwrap().1, "artifact-repository:acme/*:pull");
        assert!(decide(&k8s, doc_k8s("default", "chart-publisher", PUBLISHER_UID)).is_err());
        // The recipes are what `verify --trust` and the page check: they draw no warning.
        for p in [&gh, &gl, &k8s] {
            assert_eq!(p.warnings(), vec![], "{}", p.name);
        }
    }

    /// GitHub: `acme/app` deleted (or renamed) and created again under the same name, by its
    /// owner or, once the organisation's name is freed, by someone else: the same `repository`,
    /// `sub` and `workflow_ref`, another `repository_id` (and `repository_owner_id`). The recipe
    /// grants it no push.
    #[test]
    fn a_re_created_github_repository_with_the_same_name_cannot_push() {
        let [gh, ..] = documented_policies();
        // Re-created inside the organisation: the organisation's pull, never the release push.
        let same_org = decide(&gh, doc_github(json!({"repository_id": "999999999"}))).unwrap();
        assert_eq!(same_org, ("org-pull".into(), "artifact-repository:acme/*:pull".into()));
        // The organisation itself re-registered by someone else: nothing at all.
        let taken = doc_github(json!({"repository_id": "999999999", "repository_owner_id": "31337"}));
        assert!(matches!(decide(&gh, taken), Err(Reason::NoTrustRule { .. })));
    }

    /// GitLab: `grp/app` re-created under the same path (another `project_id`), or the whole
    /// group (another `namespace_id`); and a branch named like a release tag.
    #[test]
    fn a_re_created_gitlab_project_with_the_same_path_cannot_push() {
        let [_, gl, _] = documented_policies();
        let same_group = decide(&gl, doc_gitlab(json!({"project_id": "99999999"}))).unwrap();
        assert_eq!(same_group, ("group-pull".into(), "artifact-repository:grp/*:pull".into()));
        let taken = doc_gitlab(json!({"project_id": "99999999", "namespace_id": "31337"}));
        assert!(matches!(decide(&gl, taken), Err(Reason::NoTrustRule { .. })));
        let branch = decide(&gl, doc_gitlab(json!({"ref_type": "branch", "ref": "v1.2.0"}))).unwrap();
        assert_eq!(branch.1, "artifact-repository:grp/*:pull", "a branch named like a tag does not push");
        let unprotected = decide(&gl, doc_gitlab(json!({"ref_protected": "false"}))).unwrap();
        assert_eq!(unprotected.1, "artifact-repository:grp/*:pull");
    }

    /// Kubernetes: the publisher's service account deleted and created again under its name gets
    /// a new `uid`, and no push.
    #[test]
    fn a_re_created_kubernetes_service_account_with_the_same_name_cannot_push() {
        let [.., k8s] = documented_policies();
        let again = doc_k8s("release", "chart-publisher", "0b7c2d4e-1111-4a2b-8c3d-5e6f7a8b9c0d");
        assert!(matches!(decide(&k8s, again), Err(Reason::NoTrustRule { .. })));
    }

    /// The push rules that bind an identity by name, or (GitLab) read `ref` alone or push from an
    /// unprotected ref, are named; pull rules and id-bound rules are not.
    #[test]
    fn push_rules_that_bind_by_name_only_draw_warnings() {
        let codes = |doc: &str| -> Vec<(String, &'static str)> {
            TrustPolicies::from_json(doc).unwrap().warnings().into_iter().map(|w| (w.rule, w.code)).collect()
        };
        // The recipe as it was before ids: GitHub's release rule by name, the org rule pulls only.
        let by_name = r#"{"name": "github", "issuer": "https://token.actions.githubusercontent.com", "audience": "a", "rules": [
            {"name": "release", "match": {"repository": "acme/app", "ref": "refs/tags/v.*"}, "scopes": ["artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:acme/*:pull"]},
            {"name": "org-push", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:acme/*:*"]},
            {"name": "by-sub", "match": {"sub": "repo:acme/app:.*"}, "scopes": ["repository:acme/charts/app:push"]},
            {"name": "pinned", "match": {"repository_id": "1", "repository": "acme/app"}, "scopes": ["artifact-repository:acme/x:push"]}
        ]}"#;
        assert_eq!(
            codes(by_name),
            vec![
                ("release".into(), "name_without_id"),
                ("org-push".into(), "name_without_id"),
                ("by-sub".into(), "name_without_id")
            ]
        );
        let warnings = TrustPolicies::from_json(by_name).unwrap().warnings();
        assert!(warnings[0].to_string().starts_with(r#"trust policy "github", rule "release": name_without_id: "#));
        assert!(warnings[0].message.contains("`repository_id`"), "{}", warnings[0]);
        let gitlab = r#"{"name": "gitlab", "issuer": "https://gitlab.example.com", "audience": "a", "rules": [
            {"name": "release", "match": {"project_path": "grp/app", "ref": "v.*"}, "scopes": ["artifact-repository:grp/charts:push"]},
            {"name": "group", "match": {"namespace_path": "grp"}, "scopes": ["artifact-repository:grp/*:pull"]},
            {"name": "pinned", "match": {"project_id": "4", "ref_type": "tag", "ref": "v.*", "ref_protected": "true"}, "scopes": ["artifact-repository:grp/x:push"]},
            {"name": "protected-by-regex", "match": {"project_id": "4", "ref_protected": "true|false"}, "scopes": ["artifact-repository:grp/x:push"]}
        ]}"#;
        assert_eq!(
            codes(gitlab),
            vec![
                ("release".into(), "name_without_id"),
                ("release".into(), "ref_without_ref_type"),
                ("release".into(), "push_without_ref_protected"),
                ("protected-by-regex".into(), "push_without_ref_protected")
            ]
        );
        let k8s = r#"{"name": "k8s", "issuer": "https://k8s", "audience": "a", "keys": "PEM", "rules": [
            {"name": "publisher", "match": {"kubernetes.io/serviceaccount/name": "pub"}, "scopes": ["artifact-repository:a/b:push"]},
            {"name": "pinned", "match": {"kubernetes.io/serviceaccount/name": "pub", "kubernetes.io/serviceaccount/uid": "u"}, "scopes": ["artifact-repository:a/b:push"]}
        ]}"#
        .replace("PEM", EC_KEY);
        assert_eq!(codes(&k8s), vec![("publisher".into(), "name_without_id")]);
    }

    #[test]
    fn discovery_must_name_the_same_issuer() {
        let doc = r#"{"issuer": "https://gh", "jwks_uri": "https://gh/keys"}"#;
        assert_eq!(discovered_jwks_uri(doc, "https://gh").unwrap(), "https://gh/keys");
        assert!(discovered_jwks_uri(doc, "https://gh/").is_err());
        assert!(
            discovered_jwks_uri(r#"{"issuer": "https://gh", "jwks_uri": "http://evil/keys"}"#, "https://gh").is_err()
        );
        assert!(discovered_jwks_uri(r#"{"issuer": "https://gh"}"#, "https://gh").is_err());
        assert!(discovered_jwks_uri("<html>", "https://gh").is_err());
    }

    #[test]
    fn routing_is_by_exact_issuer() {
        let policies = TrustPolicies::from_json(GITHUB).unwrap();
        let token = |iss: &str| {
            use base64::Engine as _;
            let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
            format!("{}.{}.sig", b(&json!({"alg": "RS256"})), b(&json!({"iss": iss})))
        };
        let trusted = |iss| matches!(policies.route(&token(iss)).unwrap(), Routed::Trusted(0, ..));
        assert!(trusted("https://token.actions.githubusercontent.com"));
        assert!(!trusted("https://token.actions.githubusercontent.com/"));
        assert!(!trusted("https://evil"));
        assert!(policies.route("a.!!.c").is_err());
    }

    // The outside review of the first trust policies (helper attack, 2026-12-01): each finding
    // as it was reproduced, now refused.

    const EC_KEY: &str = r#"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"#;

    fn one_policy(rules: &str) -> Result<TrustPolicies, TrustPolicyError> {
        TrustPolicies::from_json(&format!(
            r#"{{"name":"gh","issuer":"https://gh","audience":"charts","keys":"{EC_KEY}","rules":{rules}}}"#
        ))
    }

    fn gh(extra: Value) -> Value {
        let mut c = json!({"iss": "https://gh", "aud": "charts", "exp": 2000, "iat": 1000, "sub": "s"});
        extra.as_object().unwrap().iter().for_each(|(k, v)| c[k] = v.clone());
        c
    }

    /// F1: a rule without conditions admitted every token of the issuer.
    #[test]
    fn review_f1_a_rule_needs_a_condition() {
        for rules in [
            r#"[{"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
            r#"[{"match":{},"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
            r#"[{"match":[],"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
        ] {
            let e = one_policy(rules).unwrap_err();
            assert_eq!(e.at, "policies[0].rules[0].match", "{rules}: {e}");
        }
    }

    /// F2: a repeated key in a policy document was silently last-wins (an open `.*` could hide
    /// behind a narrow pattern).
    #[test]
    fn review_f2_repeated_keys_in_a_policy_are_refused_with_their_line() {
        let doc = format!(
            "{{\"name\":\"gh\",\"issuer\":\"https://gh\",\"audience\":\"charts\",\"keys\":\"{EC_KEY}\",\n\"rules\":[{{\"match\":{{\"repository\":\"acme/app\",\n\"repository\":\".*\"}},\"scopes\":[\"artifact-repository:acme/charts:pull\"]}}]}}"
        );
        let e = TrustPolicies::from_json(&doc).unwrap_err();
        assert!(e.at.starts_with("line 3") && e.why.contains("duplicate field `repository`"), "{e}");
        let e =
            TrustPolicies::from_json(r#"{"name":"gh","issuer":"https://gh","audience":"charts","audience":"other"}"#)
                .unwrap_err();
        assert!(e.why.contains("duplicate field `audience`"), "{e}");
    }

    /// F3: an unbalanced pattern escaped the whole-value anchors (`acme/app)|(x` matched every
    /// value starting with `acme/app`); the verbose flag could comment them out.
    #[test]
    fn review_f3_patterns_cannot_escape_their_anchors() {
        for bad in ["acme/app)|(x", "acme/app\\", "(?x)acme#", "(?ix:acme)#", "(?x:a)"] {
            let rules = format!(
                r#"[{{"match":{{"repository":{}}},"scopes":["artifact-repository:acme/charts:pull"]}}]"#,
                json!(bad)
            );
            let e = one_policy(&rules).unwrap_err();
            assert_eq!(e.at, "policies[0].rules[0].match.repository", "{bad}: {e}");
        }
        let ok = one_policy(
            r#"[{"match":{"repository":"(?i)acme/app"},"scopes":["artifact-repository:acme/charts:pull"]}]"#,
        )
        .unwrap();
        let admit = |repo: &str| ok.policies()[0].admit(&payload(gh(json!({ "repository": repo }))), 1010, 60).is_ok();
        assert!(admit("ACME/app") && !admit("acme/app-evil-fork"));
    }

    /// F4: a repeated member inside a nested claim was last-wins.
    #[test]
    fn review_f4_repeated_members_are_refused_at_every_level() {
        let set = one_policy(
            r#"[{"match":{"kubernetes.io/namespace":"release"},"scopes":["artifact-repository:acme/charts:pull"]}]"#,
        )
        .unwrap();
        let raw = br#"{"iss":"https://gh","aud":"charts","exp":2000,"iat":1000,"kubernetes.io":{"namespace":"default","namespace":"release"}}"#;
        assert_eq!(set.policies()[0].admit(raw, 1010, 60).unwrap_err().code(), "malformed_token");
    }

    /// F5: a top-level `"kubernetes.io/namespace"` shadowed the nested claim; both at once are
    /// ambiguous and read as no claim (in a template too).
    #[test]
    fn review_f5_a_claim_both_top_level_and_nested_is_ambiguous() {
        let set = one_policy(
            r#"[{"match":{"kubernetes.io/namespace":"release"},"scopes":["artifact-repository:acme/charts:pull,push"]},
                {"match":{"sub":"s"},"scopes":["artifact-repository:k8s/{kubernetes.io/namespace}:pull"]}]"#,
        )
        .unwrap();
        let both = gh(json!({"kubernetes.io": {"namespace": "default"}, "kubernetes.io/namespace": "release"}));
        assert_eq!(set.policies()[0].admit(&payload(both), 1010, 60).unwrap_err().code(), "no_trust_rule");
        let nested = gh(json!({"kubernetes.io": {"namespace": "release"}}));
        assert!(set.policies()[0].admit(&payload(nested), 1010, 60).is_ok());
    }

    /// F6: `unless` on a missing or unreadable claim let the rule through.
    #[test]
    fn review_f6_unless_fails_closed() {
        let set = one_policy(
            r#"[{"match":{"repository_owner":"acme"},"unless":{"event_name":"pull_request_target"},"scopes":["artifact-repository:acme/charts:pull"]}]"#,
        )
        .unwrap();
        let admit = |event: Option<Value>| {
            let mut c = gh(json!({"repository_owner": "acme"}));
            if let Some(e) = event {
                c["event_name"] = e;
            }
            set.policies()[0].admit(&payload(c), 1010, 60).is_ok()
        };
        assert!(admit(Some(json!("push"))));
        for odd in [
            None,
            Some(json!(null)),
            Some(json!({"name": "pull_request_target"})),
            Some(json!(1.5)),
            Some(json!(["push", {}])),
        ] {
            assert!(!admit(odd.clone()), "{odd:?}");
        }
        assert!(!admit(Some(json!("pull_request_target"))));
    }

    /// F7: a payload was decoded and parsed before the size check.
    #[test]
    fn review_f7_routing_checks_the_size_first() {
        let set = one_policy(r#"[{"match":{"sub":"s"},"scopes":["artifact-repository:acme/charts:pull"]}]"#).unwrap();
        let big = format!("e30.{}.c2ln", "A".repeat(crate::MAX_TOKEN_LEN));
        assert_eq!(set.route(&big).unwrap_err().code(), "malformed_token");
    }

    /// The literal fast path answers as the regular-expression engine would, for every pattern of
    /// up to two characters from an alphabet of separators, letters and odd bytes.
    #[test]
    fn literal_patterns_match_like_the_regex_engine() {
        let alphabet = ["a", "b", "|", "-", "/", " ", "#", "\n", "&", "~", ",", ":", "é", "\t", "'", "%", "_", ""];
        let values = ["", "a", "b", "ab", "a|b", "a b", "#", "\n", "|", "-", "a-b", "é", "&", " ", "a/b"];
        for x in alphabet {
            for y in alphabet {
                let pattern = format!("{x}{y}");
                let condition = Condition::new("v", &pattern).unwrap();
                let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).unwrap();
                for v in values {
                    assert_eq!(condition.matches(&json!({ "v": v })), re.is_match(v), "{pattern:?} on {v:?}");
                }
            }
        }
    }
}
