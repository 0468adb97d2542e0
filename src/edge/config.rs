//! The edge worker's configuration, read from `wrangler.toml` `[vars]` and secrets through a
//! lookup function, validated into typed settings. A broken value is an error naming the
//! variable, so the worker answers 500 instead of opening a door.

use crate::{KeySet, NormalizedPath, Policy, PolicySettings, Route, TrustPolicies};

/// Enforce decisions, or only log them (gradual rollout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deny what the engine denies.
    Enforce,
    /// Serve what a valid route asks for, and log the decision the engine would have taken.
    ReportOnly,
}

/// Where a chart repository's charts come from: decided once, at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartBackend {
    /// No chart server (the default): the edge is the chart server. Each repository's ledger
    /// lists what it holds; content is in R2; ChartMuseum's API and OCI pushes publish.
    Ledger {
        /// `ALLOW_OVERWRITE`: an upload with `?force` may replace a listed version that
        /// `IMMUTABLE_TAGS` does not protect (ChartMuseum's `--allow-overwrite`). Default false.
        allow_overwrite: bool,
    },
    /// `ORIGIN_URL`: a chart server behind the edge, asked on edge-cache and R2 misses, to which
    /// ChartMuseum's API is passed through.
    Origin(Origin),
}

/// The chart server of [`ChartBackend::Origin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `ORIGIN_URL`, without a trailing `/`.
    pub url: String,
    /// `FORWARD_CREDENTIALS`: send the client's `Authorization` to the origin. Default false.
    pub forward_credentials: bool,
    /// `R2_WRITE_THROUGH`: store origin responses in R2. Default false.
    pub write_through: bool,
    /// `ORIGIN_TIMEOUT`: seconds to wait for the origin before answering 504. Default 15.
    pub timeout: u64,
}

impl ChartBackend {
    /// The origin, when there is one.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            ChartBackend::Origin(o) => Some(o),
            ChartBackend::Ledger { .. } => None,
        }
    }
}

/// Why the configuration is unusable. Never contains a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {var}: {why}")]
pub struct ConfigError {
    pub var: &'static str,
    pub why: String,
}

/// Settings of the edge worker.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub policy: Policy,
    pub mode: Mode,
    /// Keys from the `JWKS` secret (JWKS, JWK or PEM).
    pub static_keys: Option<KeySet>,
    /// `JWKS_URL`: keys fetched and cached.
    pub jwks_url: Option<String>,
    /// `TRUST_POLICIES`: external issuers (CI jobs, workloads) whose tokens are accepted, as a
    /// JSON policy document ([`TrustPolicies::from_json`]). Their keys are fetched and cached under
    /// the same `JWKS_TTL`, `JWKS_MAX_STALE`, `JWKS_REFETCH_INTERVAL` and `JWKS_TIMEOUT` rules.
    pub trust: TrustPolicies,
    /// `JWKS_TTL`: seconds a fetched JWKS is fresh. Default 300.
    pub jwks_ttl: u64,
    /// `JWKS_MAX_STALE`: seconds past freshness that keys are still used while the endpoint
    /// fails. Default 3600, at most 86400. After that, requests fail closed with 503.
    pub jwks_max_stale: u64,
    /// `JWKS_REFETCH_INTERVAL`: least seconds between two fetches triggered by an unknown `kid`
    /// or a failure. Default 10.
    pub jwks_refetch_interval: u64,
    /// Where charts come from: the ledger (default) or `ORIGIN_URL`.
    pub backend: ChartBackend,
    /// `INDEX_TTL`: seconds `index.yaml` stays in the edge cache. Default 60.
    pub index_ttl: u64,
    /// `JWKS_TIMEOUT`: seconds to wait for `JWKS_URL` before treating it as down. Default 3.
    pub jwks_timeout: u64,
    /// `IMMUTABLE_TAGS`: OCI tags that may not be moved once pushed: `releases` (default: semantic
    /// versions without pre-release), `all` or `off`.
    pub immutable_tags: crate::edge::ImmutableTags,
    /// `ENTRY_CHECKS`: `enforce` (the default) refuses what the entry gate refuses; `report`
    /// accepts it and records what would have been refused.
    pub entry_checks: crate::edge::store::entry::EntryChecks,
}

// Out of line: compiled only when the variable is set (V8 compiles a wasm function on its first call).
#[inline(never)]
fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(ConfigError { var, why: format!("{other:?} is not true or false") }),
    }
}

#[inline(never)]
fn parse_secs(var: &'static str, v: &str, max: u64) -> Result<u64, ConfigError> {
    let n: u64 = v.trim().parse().map_err(|_| ConfigError { var, why: format!("{v:?} is not a number of seconds") })?;
    if n > max {
        return Err(ConfigError { var, why: format!("{n} is above the maximum of {max}") });
    }
    Ok(n)
}

#[inline(never)]
fn parse_timeout(var: &'static str, v: &str, max: u64) -> Result<u64, ConfigError> {
    match parse_secs(var, v, max)? {
        0 => Err(ConfigError { var, why: "a timeout must be at least 1 second".into() }),
        n => Ok(n),
    }
}

#[inline(never)]
fn parse_url(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let v = v.trim().trim_end_matches('/');
    if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() < 10 {
        return Err(ConfigError { var, why: format!("{v:?} is not an http(s) URL") });
    }
    Ok(v.to_owned())
}

impl EdgeConfig {
    /// Reads every variable through `get` (which returns `None` for unset or empty ones).
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name| get(name).filter(|v: &String| !v.trim().is_empty());
        let depth = match get("DEPTH") {
            Some(v) => Some(
                v.trim()
                    .parse::<u8>()
                    .map_err(|_| ConfigError { var: "DEPTH", why: format!("{v:?} is not 0, 1 or 2") })?,
            ),
            None => None,
        };
        let settings = PolicySettings {
            realm: get("REALM"),
            service: get("SERVICE"),
            issuer: get("ISSUER"),
            audience: get("AUDIENCE"),
            leeway: get("LEEWAY").map(|v| parse_secs("LEEWAY", &v, crate::MAX_LEEWAY)).transpose()?,
            depth,
            default_namespace: get("DEFAULT_NAMESPACE"),
            public: get("PUBLIC_REPOS")
                .map(|v| v.split([',', ' ']).filter(|g| !g.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        let policy = Policy::new(settings).map_err(|e| ConfigError {
            var: match e.setting {
                "leeway" => "LEEWAY",
                "depth" => "DEPTH",
                "public" => "PUBLIC_REPOS",
                _ => "DEFAULT_NAMESPACE",
            },
            why: e.why,
        })?;
        let mode = match get("MODE").as_deref().map(str::trim) {
            None | Some("enforce") => Mode::Enforce,
            Some("report-only") => Mode::ReportOnly,
            Some(other) => {
                return Err(ConfigError { var: "MODE", why: format!("{other:?} is not enforce or report-only") })
            }
        };
        let static_keys = get("JWKS")
            .map(|text| KeySet::parse(&text).map_err(|e| ConfigError { var: "JWKS", why: e.to_string() }))
            .transpose()?;
        let jwks_url = get("JWKS_URL").map(|v| parse_url("JWKS_URL", &v)).transpose()?;
        let trust = get("TRUST_POLICIES")
            .map(|text| {
                TrustPolicies::from_json(&text).map_err(|e| ConfigError { var: "TRUST_POLICIES", why: e.to_string() })
            })
            .transpose()?
            .unwrap_or_default();
        if static_keys.is_none() && jwks_url.is_none() && trust.is_empty() {
            return Err(ConfigError {
                var: "JWKS",
                why: "no keys: set the JWKS secret and/or JWKS_URL, or TRUST_POLICIES".into(),
            });
        }
        if let Some(p) = trust.policies().iter().find(|p| Some(&p.issuer) == policy.issuer.as_ref()) {
            let why = format!("policy {:?} trusts ISSUER {:?}, this deployment's own issuer", p.name, p.issuer);
            return Err(ConfigError { var: "TRUST_POLICIES", why });
        }
        let secs = |var, default, max| get(var).map_or(Ok(default), |v| parse_secs(var, &v, max));
        let immutable_tags = match get("IMMUTABLE_TAGS") {
            None => Default::default(),
            Some(v) => crate::edge::ImmutableTags::parse(&v).ok_or_else(|| ConfigError {
                var: "IMMUTABLE_TAGS",
                why: format!("{v:?} is not releases, all or off"),
            })?,
        };
        let backend = Self::backend(&get)?;
        let entry_checks = match get("ENTRY_CHECKS") {
            None => Default::default(),
            Some(v) => crate::edge::store::entry::EntryChecks::parse(&v)
                .ok_or_else(|| ConfigError { var: "ENTRY_CHECKS", why: format!("{v:?} is not enforce or report") })?,
        };
        Ok(EdgeConfig {
            entry_checks,
            immutable_tags,
            backend,
            policy,
            mode,
            static_keys,
            jwks_url,
            trust,
            jwks_ttl: secs("JWKS_TTL", 300, 86_400)?,
            jwks_max_stale: secs("JWKS_MAX_STALE", 3600, 86_400)?,
            jwks_refetch_interval: secs("JWKS_REFETCH_INTERVAL", 10, 3600)?,
            index_ttl: secs("INDEX_TTL", 60, 86_400)?,
            jwks_timeout: get("JWKS_TIMEOUT").map_or(Ok(3), |v| parse_timeout("JWKS_TIMEOUT", &v, 30))?,
        })
    }

    /// The chart backend: the ledger, or `ORIGIN_URL` with its settings. A setting of the other
    /// backend is refused, naming it, rather than ignored.
    fn backend(get: &impl Fn(&'static str) -> Option<String>) -> Result<ChartBackend, ConfigError> {
        let flag = |var: &'static str| get(var).map_or(Ok(false), |v| parse_bool(var, &v));
        let (allow_overwrite, forward_credentials, write_through) =
            (flag("ALLOW_OVERWRITE")?, flag("FORWARD_CREDENTIALS")?, flag("R2_WRITE_THROUGH")?);
        let timeout = get("ORIGIN_TIMEOUT").map(|v| parse_timeout("ORIGIN_TIMEOUT", &v, 300)).transpose()?;
        let Some(url) = get("ORIGIN_URL").map(|v| parse_url("ORIGIN_URL", &v)).transpose()? else {
            let only = |var: &'static str| {
                ConfigError {
                var,
                why: "applies to a chart server behind the edge: set ORIGIN_URL, or remove it (the edge is the chart server)".into(),
            }
            };
            return match (forward_credentials, write_through, timeout) {
                (true, _, _) => Err(only("FORWARD_CREDENTIALS")),
                (_, true, _) => Err(only("R2_WRITE_THROUGH")),
                (_, _, Some(_)) => Err(only("ORIGIN_TIMEOUT")),
                _ => Ok(ChartBackend::Ledger { allow_overwrite }),
            };
        };
        if allow_overwrite {
            let why = "applies when the edge is the chart server; with ORIGIN_URL the origin decides overwrites".into();
            return Err(ConfigError { var: "ALLOW_OVERWRITE", why });
        }
        Ok(ChartBackend::Origin(Origin { url, forward_credentials, write_through, timeout: timeout.unwrap_or(15) }))
    }

    /// Whether a request the engine refused with `status` (or could not decide: 503) is served
    /// anyway: only in report-only mode, only for reads (`GET`, `HEAD`), and only when the
    /// refusal is about the credential (401, 403) or the keys (503). Writes are always enforced;
    /// request errors (400, 404, 405) always answer.
    pub fn report_only_serves(&self, method: &str, status: u16) -> bool {
        self.mode == Mode::ReportOnly && matches!(method, "GET" | "HEAD") && matches!(status, 401 | 403 | 503)
    }

    /// The route a request refused with `status` is served on anyway: in report-only mode, a read
    /// of a valid route ([`report_only_serves`](Self::report_only_serves)); otherwise `None`.
    pub fn report_only_route(&self, method: &str, path: Option<&NormalizedPath>, status: u16) -> Option<Route> {
        if !self.report_only_serves(method, status) {
            return None;
        }
        Self::reparse(method, path?, &self.policy)
    }

    /// Out of line: compiled only in report-only mode.
    #[inline(never)]
    fn reparse(method: &str, path: &NormalizedPath, policy: &Policy) -> Option<Route> {
        Route::parse(method, path, policy.depth, &policy.default_repo).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const JWK: &str = r#"{"kty":"RSA","kid":"k","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;

    fn load(vars: &[(&'static str, &str)]) -> Result<EdgeConfig, ConfigError> {
        let map: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        EdgeConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = load(&[("JWKS", JWK)]).unwrap();
        assert_eq!(c.mode, Mode::Enforce);
        assert_eq!(c.policy, Policy::default());
        assert_eq!((c.jwks_ttl, c.jwks_max_stale, c.index_ttl), (300, 3600, 60));
        assert_eq!(c.jwks_timeout, 3);
        assert_eq!(c.backend, ChartBackend::Ledger { allow_overwrite: false });
    }

    #[test]
    fn every_variable() {
        let c = load(&[
            ("JWKS_URL", "https://issuer.example/.well-known/jwks.json"),
            ("REALM", "https://auth.example/oauth/token"),
            ("SERVICE", "charts"),
            ("ISSUER", "https://auth.example"),
            ("AUDIENCE", "charts"),
            ("LEEWAY", "30"),
            ("DEPTH", "0"),
            ("DEFAULT_NAMESPACE", "main"),
            ("MODE", "report-only"),
            ("ORIGIN_URL", "http://127.0.0.1:9000/"),
            ("FORWARD_CREDENTIALS", "true"),
            ("R2_WRITE_THROUGH", "1"),
            ("ORIGIN_TIMEOUT", "5"),
            ("JWKS_TIMEOUT", "1"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::ReportOnly);
        assert_eq!(c.policy.leeway(), 30);
        assert_eq!(c.policy.depth, crate::Depth::Zero);
        assert_eq!(c.policy.default_repo.as_str(), "main");
        let origin =
            Origin { url: "http://127.0.0.1:9000".into(), forward_credentials: true, write_through: true, timeout: 5 };
        assert_eq!(c.backend, ChartBackend::Origin(origin));
        assert_eq!(c.jwks_timeout, 1);
    }

    /// Finding 10 of the second security round: report-only passed unauthenticated writes to
    /// the origin.
    #[test]
    fn finding_10_report_only_never_passes_writes() {
        let report = load(&[("JWKS", JWK), ("MODE", "report-only")]).unwrap();
        assert!(report.report_only_serves("GET", 401) && report.report_only_serves("HEAD", 403));
        assert!(report.report_only_serves("GET", 503));
        for method in ["POST", "DELETE", "PUT", "PATCH", "PROPFIND"] {
            assert!(!report.report_only_serves(method, 401), "{method}");
        }
        assert!(!report.report_only_serves("GET", 400) && !report.report_only_serves("GET", 405));
        let enforce = load(&[("JWKS", JWK)]).unwrap();
        assert!(!enforce.report_only_serves("GET", 401));
        let path = NormalizedPath::parse("/org1/repo1/index.yaml").unwrap();
        assert!(matches!(report.report_only_route("GET", Some(&path), 401), Some(Route::Index { .. })));
        assert_eq!(report.report_only_route("GET", None, 401), None, "a refused path is never served");
        let api = NormalizedPath::parse("/api/org1/repo1/charts").unwrap();
        assert_eq!(report.report_only_route("POST", Some(&api), 401), None);
        assert_eq!(enforce.report_only_route("GET", Some(&path), 401), None);
    }

    #[test]
    fn trust_policies_alone_are_enough_keys() {
        let c =
            load(&[("TRUST_POLICIES", r#"[{"name": "gh", "issuer": "https://gh", "audience": "charts"}]"#)]).unwrap();
        assert_eq!(c.trust.policies()[0].name, "gh");
        assert!(c.static_keys.is_none() && c.jwks_url.is_none());
        let e = load(&[("TRUST_POLICIES", "[{\"issuer\": \"https://gh\",\n\"audience\" \"x\"}]")]).unwrap_err();
        assert!(e.to_string().contains("line 2"), "a syntax error names its line: {e}");
    }

    #[test]
    fn broken_values_name_the_variable() {
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (&[], "JWKS"),
            (&[("JWKS", "not a key")], "JWKS"),
            (&[("JWKS", JWK), ("LEEWAY", "9999")], "LEEWAY"),
            (&[("JWKS", JWK), ("LEEWAY", "soon")], "LEEWAY"),
            (&[("JWKS", JWK), ("DEPTH", "3")], "DEPTH"),
            (&[("JWKS", JWK), ("MODE", "off")], "MODE"),
            (&[("JWKS", JWK), ("ENTRY_CHECKS", "off")], "ENTRY_CHECKS"),
            (&[("JWKS", JWK), ("ORIGIN_URL", "ftp://x")], "ORIGIN_URL"),
            (&[("JWKS", JWK), ("FORWARD_CREDENTIALS", "maybe")], "FORWARD_CREDENTIALS"),
            (&[("JWKS", JWK), ("DEFAULT_NAMESPACE", "A B")], "DEFAULT_NAMESPACE"),
            (&[("JWKS", JWK), ("ORIGIN_URL", "https://charts.example"), ("ORIGIN_TIMEOUT", "0")], "ORIGIN_TIMEOUT"),
            // A setting of the other backend is refused, not ignored.
            (&[("JWKS", JWK), ("R2_WRITE_THROUGH", "true")], "R2_WRITE_THROUGH"),
            (&[("JWKS", JWK), ("FORWARD_CREDENTIALS", "true")], "FORWARD_CREDENTIALS"),
            (&[("JWKS", JWK), ("ORIGIN_TIMEOUT", "5")], "ORIGIN_TIMEOUT"),
            (
                &[("JWKS", JWK), ("ORIGIN_URL", "https://charts.example"), ("ALLOW_OVERWRITE", "true")],
                "ALLOW_OVERWRITE",
            ),
            (&[("JWKS", JWK), ("JWKS_TIMEOUT", "31")], "JWKS_TIMEOUT"),
            (
                &[("JWKS", JWK), ("TRUST_POLICIES", "[{\"issuer\": \"https://gh\",\n \"audience\": }]")],
                "TRUST_POLICIES",
            ),
            (&[("JWKS", JWK), ("TRUST_POLICIES", "[{\"issuer\": \"https://gh\"}]")], "TRUST_POLICIES"),
            (
                &[
                    ("JWKS", JWK),
                    ("ISSUER", "https://gh"),
                    ("TRUST_POLICIES", "[{\"issuer\": \"https://gh\", \"audience\": \"a\"}]"),
                ],
                "TRUST_POLICIES",
            ),
        ];
        for (vars, var) in cases {
            assert_eq!(load(vars).unwrap_err().var, *var, "{vars:?}");
        }
    }
}
