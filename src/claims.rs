//! Token claims: the registered ones (`iss sub aud exp nbf iat jti`), the `access` claim in the
//! three forms ChartMuseum has used, and chartgate's `paths` binding for signed download URLs.
//! Parsing is strict (integer dates in range, no duplicate keys). The time checks against a
//! clock are here ([`Claims::check_times`]); issuer, audience and access against a policy live in
//! [`crate::decision`].

use serde::{Deserialize, Deserializer, Serialize};

use crate::allowance::Allowance;
use crate::error::Reason;
use crate::jws::{json_object, Part};
use crate::path::NormalizedPath;
use crate::scope::{Actions, Kind, Layout, RepoName, Scope, ScopeSet};

/// Latest accepted NumericDate: 9999-12-31T23:59:59Z.
pub const MAX_DATE: u64 = 253_402_300_799;
/// Most entries accepted in `paths`.
pub const MAX_PATHS: usize = 16;

/// What a token grants: scopes on named repositories, plus actions on the default namespace
/// (ChartMuseum's single-tenant `access: ["pull"]` form), plus, for a workload token accepted by
/// a trust policy, the patterns its rule granted (never read from a token's own claims).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    pub repos: ScopeSet,
    pub default_repo: Actions,
    pub allowed: Allowance,
}

impl Access {
    /// Every grant as a scope set, with the default namespace named.
    pub fn scopes(&self, default_repo: &RepoName) -> ScopeSet {
        let mut set = self.repos.clone();
        set.insert(Scope::new(default_repo.clone(), self.default_repo));
        set
    }

    /// The actions granted on `kind`/`repo`, with OCI repositories reached through the chart
    /// repository they lie in ([`Layout::chart_of`]).
    pub fn covers(&self, kind: Kind, repo: &RepoName, layout: Layout<'_>) -> Actions {
        let have = self.repos.covers(kind, repo, layout).union(self.allowed.actions_for(kind, repo, layout));
        let chart = match kind {
            Kind::Chart => Some(repo.as_str()),
            Kind::Oci => layout.chart_of(repo).map(|(chart_repo, _)| chart_repo),
        };
        if chart == Some(layout.default_repo.as_str()) {
            return have.union(self.default_repo);
        }
        have
    }

    /// True when `scope` is granted.
    pub fn grants(&self, scope: &Scope, layout: Layout<'_>) -> bool {
        self.covers(scope.kind, &scope.repo, layout).contains(scope.actions)
    }
}

/// Limits a token to exact paths and/or path prefixes (the `paths` claim). A prefix entry ends in
/// `/*` and matches everything below it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathBinding {
    exact: Vec<NormalizedPath>,
    prefixes: Vec<String>,
}

impl PathBinding {
    /// Parses the claim's entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        if entries.is_empty() || entries.len() > MAX_PATHS {
            return Err(format!("must list 1 to {MAX_PATHS} paths"));
        }
        let mut binding = PathBinding::default();
        for entry in entries {
            let entry = entry.as_ref();
            match entry.strip_suffix("/*") {
                Some(dir) => {
                    let dir =
                        NormalizedPath::parse(if dir.is_empty() { "/" } else { dir }).map_err(|e| e.to_string())?;
                    let mut prefix = dir.as_str().to_owned();
                    if !prefix.ends_with('/') {
                        prefix.push('/');
                    }
                    binding.prefixes.push(prefix);
                }
                None => binding.exact.push(NormalizedPath::parse(entry).map_err(|e| e.to_string())?),
            }
        }
        Ok(binding)
    }

    /// True when `path` is one of the exact paths or below one of the prefixes.
    pub fn allows(&self, path: &NormalizedPath) -> bool {
        self.exact.iter().any(|p| p == path) || self.prefixes.iter().any(|p| path.as_str().starts_with(p.as_str()))
    }

    /// True when everything this binding allows, `parent` allows too.
    pub fn within(&self, parent: &PathBinding) -> bool {
        self.exact.iter().all(|p| parent.allows(p))
            && self.prefixes.iter().all(|p| parent.prefixes.iter().any(|q| p.starts_with(q.as_str())))
    }

    /// The entries in claim form.
    pub fn entries(&self) -> Vec<String> {
        let exact = self.exact.iter().map(|p| p.as_str().to_owned());
        exact.chain(self.prefixes.iter().map(|p| format!("{p}*"))).collect()
    }
}

/// `aud`: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(a) => a == aud,
            Audience::Many(list) => list.iter().any(|a| a == aud),
        }
    }
}

/// How a workload token was admitted (the trust policy, its rule and the external issuer), for
/// audit lines and revocation: set by [`crate::TrustPolicy::admit`], and carried by a token the
/// issuer minted from one as its `trust` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedBy {
    pub policy: String,
    pub rule: String,
    pub issuer: String,
}

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Option<Audience>,
    pub exp: u64,
    pub nbf: Option<u64>,
    pub iat: Option<u64>,
    pub jti: Option<String>,
    pub access: Access,
    pub paths: Option<PathBinding>,
    /// `jti`s of the tokens this one was derived from, oldest first (downscoping); revoking any
    /// of them revokes this token.
    pub lineage: Vec<String>,
    /// `trust`: for a token the issuer minted from a workload or SSO token, the policy, rule and
    /// external issuer that admitted it, so revoking the policy or the issuer revokes it too.
    pub trust: Option<std::sync::Arc<TrustedBy>>,
}

/// One `access` entry as found on the wire.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum AccessEntry {
    /// `{"type": "artifact-repository", "name": "org1/repo1", "actions": ["pull"]}`
    Full {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        actions: Vec<String>,
    },
    /// `"pull"` (default namespace) or `"org1/repo1:pull,push"` (multi-tenant short form).
    Short(String),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<u64>,
    jti: Option<String>,
    access: Option<Vec<AccessEntry>>,
    paths: Option<Vec<String>>,
    lineage: Option<Vec<String>>,
    trust: Option<RawTrust>,
}

#[derive(Deserialize)]
struct RawTrust {
    policy: String,
    rule: String,
    iss: String,
}

/// A NumericDate: whole seconds, 0 ..= MAX_DATE. Strings, fractions and negatives are refused.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = u64::deserialize(d)?;
    if n > MAX_DATE {
        return Err(serde::de::Error::custom(format!("date {n} is after year 9999")));
    }
    Ok(Some(n))
}

impl Claims {
    /// Parses the verified payload bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Claims, Reason> {
        let raw: RawClaims = json_object(bytes, Part::Payload)?;
        let exp = raw.exp.ok_or(Reason::MissingClaim("exp"))?;
        let access = parse_access(raw.access.as_deref().unwrap_or_default())?;
        let paths = raw
            .paths
            .map(|p| PathBinding::parse(&p))
            .transpose()
            .map_err(|why| Reason::InvalidClaim { claim: "paths", why })?;
        let lineage = raw.lineage.unwrap_or_default();
        if lineage.len() > MAX_PATHS {
            return Err(Reason::InvalidClaim { claim: "lineage", why: format!("more than {MAX_PATHS} entries") });
        }
        Ok(Claims {
            lineage,
            trust: raw.trust.map(|t| std::sync::Arc::new(TrustedBy { policy: t.policy, rule: t.rule, issuer: t.iss })),
            iss: raw.iss,
            sub: raw.sub,
            aud: raw.aud,
            exp,
            nbf: raw.nbf,
            iat: raw.iat,
            jti: raw.jti,
            access,
            paths,
        })
    }

    /// `exp`, `nbf` and `iat` at `now`, with `leeway` seconds of clock skew.
    ///
    /// # Errors
    /// [`Reason::Expired`], [`Reason::NotYetValid`], [`Reason::IssuedInFuture`].
    pub fn check_times(&self, leeway: u64, now: u64) -> Result<(), Reason> {
        if now > self.exp.saturating_add(leeway) {
            return Err(Reason::Expired { exp: self.exp, now });
        }
        if let Some(nbf) = self.nbf {
            if nbf > now.saturating_add(leeway) {
                return Err(Reason::NotYetValid { nbf, now });
            }
        }
        if let Some(iat) = self.iat {
            if iat > now.saturating_add(leeway) {
                return Err(Reason::IssuedInFuture { iat, now });
            }
        }
        Ok(())
    }

    /// The claims as the JSON object chartgate signs (access in the full form).
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            map.insert(k.to_owned(), v);
        };
        if let Some(v) = &self.iss {
            put("iss", v.clone().into());
        }
        if let Some(v) = &self.sub {
            put("sub", v.clone().into());
        }
        if let Some(v) = &self.aud {
            put("aud", serde_json::to_value(v).unwrap_or_default());
        }
        put("exp", self.exp.into());
        if let Some(v) = self.nbf {
            put("nbf", v.into());
        }
        if let Some(v) = self.iat {
            put("iat", v.into());
        }
        if let Some(v) = &self.jti {
            put("jti", v.clone().into());
        }
        let mut entries: Vec<AccessEntry> = self
            .access
            .repos
            .iter()
            .map(|s| AccessEntry::Full {
                kind: s.kind.as_str().to_owned(),
                name: s.repo.to_string(),
                actions: s.actions.iter().map(|a| a.as_str().to_owned()).collect(),
            })
            .collect();
        entries.extend(self.access.default_repo.iter().map(|a| AccessEntry::Short(a.as_str().to_owned())));
        put("access", serde_json::to_value(entries).unwrap_or_default());
        if let Some(p) = &self.paths {
            put("paths", p.entries().into());
        }
        if !self.lineage.is_empty() {
            put("lineage", self.lineage.clone().into());
        }
        if let Some(t) = &self.trust {
            put("trust", serde_json::json!({"policy": t.policy, "rule": t.rule, "iss": t.issuer}));
        }
        serde_json::Value::Object(map)
    }
}

fn invalid_access(why: String) -> Reason {
    Reason::InvalidClaim { claim: "access", why }
}

fn parse_access(entries: &[AccessEntry]) -> Result<Access, Reason> {
    let mut access = Access::default();
    for entry in entries {
        match entry {
            AccessEntry::Full { kind, name, actions } => {
                let Some(kind) = Kind::parse(kind) else {
                    continue; // other resource types grant nothing here
                };
                let repo = kind.name(name).map_err(|e| invalid_access(e.to_string()))?;
                let actions = actions
                    .iter()
                    .try_fold(Actions::NONE, |acc, a| Ok(acc.union(Actions::parse_word(a)?)))
                    .map_err(|e: crate::scope::ScopeError| invalid_access(e.to_string()))?;
                access.repos.insert(Scope { kind, repo, actions });
            }
            AccessEntry::Short(s) => match s.rsplit_once(':') {
                Some((name, actions)) => {
                    let repo = RepoName::parse(name).map_err(|e| invalid_access(e.to_string()))?;
                    let actions = Actions::parse_list(actions).map_err(|e| invalid_access(e.to_string()))?;
                    access.repos.insert(Scope::new(repo, actions));
                }
                None => {
                    let actions = Actions::parse_word(s).map_err(|e| invalid_access(e.to_string()))?;
                    access.default_repo = access.default_repo.union(actions);
                }
            },
        }
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Action;

    fn parse(json: &str) -> Result<Claims, Reason> {
        Claims::from_json(json.as_bytes())
    }

    #[test]
    fn three_access_forms() {
        let ns = RepoName::parse("repo").unwrap();
        let full =
            parse(r#"{"exp":1,"access":[{"type":"artifact-repository","name":"org1/repo1","actions":["pull"]}]}"#)
                .unwrap();
        assert_eq!(full.access.scopes(&ns).to_string(), "artifact-repository:org1/repo1:pull");
        let single = parse(r#"{"exp":1,"access":["pull","push"]}"#).unwrap();
        assert!(single
            .access
            .grants(&Scope::new(ns.clone(), Action::Push), Layout { depth: crate::Depth::Two, default_repo: &ns }));
        let multi = parse(r#"{"exp":1,"access":["org1/repo1:push"]}"#).unwrap();
        assert_eq!(multi.access.scopes(&ns).to_string(), "artifact-repository:org1/repo1:push");
        let other = parse(r#"{"exp":1,"access":[{"type":"registry","name":"catalog","actions":["*"]}]}"#).unwrap();
        assert!(other.access.scopes(&ns).is_empty());
    }

    #[test]
    fn strict_dates() {
        assert_eq!(parse(r#"{"access":[]}"#).unwrap_err(), Reason::MissingClaim("exp"));
        for bad in [r#""1""#, "1.5", "-1", "9223372036854775808", "1e3", "null", "253402300800"] {
            let e = parse(&format!(r#"{{"exp":{bad}}}"#)).unwrap_err();
            assert_eq!(e.code(), "malformed_token", "exp {bad}");
        }
        assert_eq!(parse(r#"{"exp":1,"exp":2}"#).unwrap_err().code(), "malformed_token");
    }

    #[test]
    fn hostile_access_is_refused() {
        for bad in [
            r#"[{"type":"artifact-repository","name":"*","actions":["pull"]}]"#,
            r#"[{"type":"artifact-repository","name":"","actions":["pull"]}]"#,
            r#"[{"type":"artifact-repository","name":"org1/../x","actions":["pull"]}]"#,
            r#"[{"type":"artifact-repository","name":"Org1/Repo1","actions":["pull"]}]"#,
            r#"[{"type":"artifact-repository","name":"org1/repo1","actions":["admin"]}]"#,
            r#"["org1/*:pull"]"#,
            r#"["delete"]"#,
            r#"[7]"#,
            r#""pull""#,
        ] {
            assert!(parse(&format!(r#"{{"exp":1,"access":{bad}}}"#)).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_binding() {
        let c = parse(r#"{"exp":1,"paths":["/org1/repo1/charts/x-0.1.0.tgz","/org1/repo2/*"]}"#).unwrap();
        let p = c.paths.unwrap();
        let np = |s| NormalizedPath::parse(s).unwrap();
        assert!(p.allows(&np("/org1/repo1/charts/x-0.1.0.tgz")));
        assert!(!p.allows(&np("/org1/repo1/charts/x-0.1.1.tgz")));
        assert!(p.allows(&np("/org1/repo2/index.yaml")));
        assert!(!p.allows(&np("/org1/repo20/index.yaml")));
        assert!(parse(r#"{"exp":1,"paths":["/a/../b"]}"#).is_err());
        assert!(parse(r#"{"exp":1,"paths":[]}"#).is_err());
    }

    #[test]
    fn json_round_trip() {
        let c = parse(
            r#"{"iss":"i","sub":"s","aud":["a","b"],"exp":10,"nbf":1,"iat":1,"jti":"j",
                "access":[{"type":"artifact-repository","name":"o/r","actions":["pull","push"]},"pull"],
                "paths":["/o/r/*"],"lineage":["a","b"]}"#,
        )
        .unwrap();
        let again = Claims::from_json(c.to_json().to_string().as_bytes()).unwrap();
        assert_eq!(c, again);
    }
}
