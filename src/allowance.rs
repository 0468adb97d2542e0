//! What an identity may be granted, as patterns rather than exact scopes: a client's allowed
//! scopes at the issuer, and a trust policy's grants (`artifact-repository:acme/*:pull`). A
//! [`ScopeTemplate`] is a pattern with `{claim}` placeholders that a trust rule fills from a
//! verified external token; a filled value must be one repository-name component or path of the
//! scope grammar, so a claim can narrow a grant but never change its structure.

use std::fmt;

use crate::scope::{check_component, glob_match};
use crate::scope::{Actions, Kind, Layout, RepoName, Scope, ScopeError, ScopeSet};

/// `artifact-repository:NAME-GLOB:ACTIONS` (chart repositories) or `repository:NAME-GLOB:ACTIONS`
/// (OCI repositories), where `*` in the name matches any run of characters (including `/`):
/// `org1/*` is every repository of org1, `*` is every repository. A chart-repository pattern
/// also allows the OCI repositories inside the repositories it matches ([`Layout::chart_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePattern {
    kind: Kind,
    glob: String,
    actions: Actions,
}

impl ScopePattern {
    /// Parses `type:glob:actions`.
    ///
    /// # Errors
    /// [`ScopeError`] naming the malformed part.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (glob, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        let kind = Kind::parse(kind).ok_or_else(|| ScopeError::ResourceType(kind.to_owned()))?;
        // The glob must be a valid name once its stars are replaced by a letter.
        kind.name(&glob.replace('*', "x"))?;
        if actions.is_empty() {
            return Err(ScopeError::NoActions(glob.to_owned()));
        }
        Ok(ScopePattern { kind, glob: glob.to_owned(), actions: Actions::parse_list(actions)? })
    }

    /// True when the pattern names `repo` (a name of the pattern's own kind).
    pub fn matches(&self, repo: &str) -> bool {
        glob_match(self.glob.as_bytes(), repo.as_bytes())
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn actions(&self) -> Actions {
        self.actions
    }

    /// The exact scope this pattern names, when its name has no `*`.
    pub fn exact(&self) -> Option<Scope> {
        if self.glob.contains('*') {
            return None;
        }
        let repo = RepoName::parse(&self.glob).ok()?;
        Some(Scope { kind: self.kind, repo, actions: self.actions })
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind.as_str(), self.glob, self.actions)
    }
}

/// What one client, SSO identity or workload may be granted: a list of patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowance(pub Vec<ScopePattern>);

impl Allowance {
    /// The actions allowed on `kind`/`repo`: patterns of that kind naming it, and for an OCI
    /// repository the chart-repository patterns naming the chart repository it lies in.
    pub fn actions_for(&self, kind: Kind, repo: &RepoName, layout: Layout<'_>) -> Actions {
        if self.0.is_empty() {
            return Actions::NONE;
        }
        let chart_repo = match kind {
            Kind::Oci => layout.chart_of(repo).map(|(r, _)| r),
            Kind::Chart => None,
        };
        let allowed = |p: &&ScopePattern| {
            (p.kind == kind && p.matches(repo.as_str()))
                || (p.kind == Kind::Chart && chart_repo.is_some_and(|r| p.matches(r)))
        };
        self.0.iter().filter(allowed).fold(Actions::NONE, |a, p| a.union(p.actions))
    }

    /// requested ∩ allowed.
    pub fn grant(&self, requested: &ScopeSet, layout: Layout<'_>) -> ScopeSet {
        requested
            .iter()
            .map(|s| Scope { actions: s.actions.intersect(self.actions_for(s.kind, &s.repo, layout)), ..s })
            .collect()
    }

    /// The patterns without a `*`, as exact scopes (what a token minted without a requested scope
    /// can hold).
    pub fn exact_scopes(&self) -> ScopeSet {
        self.0.iter().filter_map(ScopePattern::exact).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Longest value a placeholder may take, in bytes (a repository name's limit).
const MAX_VALUE: usize = 255;

/// One piece of a template's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// `{claim}` or `{claim|lower}` (ASCII lower-casing, for platforms whose names keep case).
    Claim {
        path: String,
        lower: bool,
    },
}

/// Why a template value was refused: the rule it is in does not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("claim {0:?} is missing or not a string")]
    Missing(String),
    #[error("claim {0:?} is not a valid repository name component or path")]
    Invalid(String),
}

/// A [`ScopePattern`] with `{claim}` placeholders in its name: `artifact-repository:{repository_owner}/charts:pull`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeTemplate {
    kind: Kind,
    name: Vec<Piece>,
    actions: Actions,
    source: String,
}

impl ScopeTemplate {
    /// Parses a template. A placeholder is `{claim}` or `{claim|lower}`; `claim` may name a nested
    /// claim with `/` (`kubernetes.io/namespace`). Without placeholders this is a plain pattern.
    ///
    /// # Errors
    /// [`ScopeError`]: the pattern would be malformed, or a brace is unbalanced.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let mut name = Vec::new();
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (glob, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        let mut text = glob;
        while let Some(open) = text.find('{') {
            if open > 0 {
                name.push(Piece::Literal(text[..open].to_owned()));
            }
            let close = text[open..].find('}').ok_or_else(shape)? + open;
            let inner = &text[open + 1..close];
            let (path, lower) = match inner.strip_suffix("|lower") {
                Some(p) => (p, true),
                None => (inner, false),
            };
            if path.is_empty() || path.contains(['{', '|', ' ']) {
                return Err(shape());
            }
            name.push(Piece::Claim { path: path.to_owned(), lower });
            text = &text[close + 1..];
        }
        if text.contains('}') {
            return Err(shape());
        }
        if !text.is_empty() {
            name.push(Piece::Literal(text.to_owned()));
        }
        // Valid once each placeholder is a letter: checks type, glob and actions.
        let sample: String = name
            .iter()
            .map(|p| match p {
                Piece::Literal(l) => l.as_str(),
                Piece::Claim { .. } => "x",
            })
            .collect();
        let pattern = ScopePattern::parse(&format!("{kind}:{sample}:{actions}"))?;
        Ok(ScopeTemplate { kind: pattern.kind, name, actions: pattern.actions, source: s.to_owned() })
    }

    /// The actions it grants.
    pub fn actions(&self) -> crate::Actions {
        self.actions
    }

    /// The claims the template reads.
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.name.iter().filter_map(|p| match p {
            Piece::Claim { path, .. } => Some(path.as_str()),
            Piece::Literal(_) => None,
        })
    }

    /// The pattern with every placeholder filled from `claims`, or why it cannot be: a value that
    /// is missing, not a string or integer, empty, longer than 255 bytes, or not made of valid
    /// repository-name components (`/..`, `*`, `:`, `,`, whitespace, upper case without `|lower`,
    /// any non-ASCII character) fills nothing.
    pub fn fill(&self, claims: &serde_json::Value) -> Result<ScopePattern, FillError> {
        let mut glob = String::new();
        for piece in &self.name {
            match piece {
                Piece::Literal(l) => glob.push_str(l),
                Piece::Claim { path, lower } => {
                    let value = match claim(claims, path) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Number(n)) if n.is_u64() => n.to_string(),
                        _ => return Err(FillError::Missing(path.clone())),
                    };
                    let value = if *lower { value.to_ascii_lowercase() } else { value };
                    let valid = !value.is_empty()
                        && value.len() <= MAX_VALUE
                        && value.split('/').all(|c| check_component(c).is_ok());
                    if !valid {
                        return Err(FillError::Invalid(path.clone()));
                    }
                    glob.push_str(&value);
                }
            }
        }
        let pattern = ScopePattern { kind: self.kind, glob, actions: self.actions };
        // The whole name is checked again: a value next to a literal could still form a name the
        // grammar refuses (`{x}-` ending in a separator).
        pattern
            .kind
            .name(&pattern.glob.replace('*', "x"))
            .map_err(|_| FillError::Invalid(self.claims().next().unwrap_or_default().to_owned()))?;
        Ok(pattern)
    }
}

impl fmt::Display for ScopeTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The claim at `path`: a top-level claim of that exact name, or the `/`-separated path through
/// nested objects (`kubernetes.io/serviceaccount/name`). `None` when it is missing, and when both
/// are present (a top-level `"kubernetes.io/namespace"` beside a nested one is ambiguous, and an
/// ambiguous claim is read as no claim).
pub fn claim<'v>(claims: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    let top = claims.get(path);
    let nested = match path.contains('/') {
        true => path.split('/').try_fold(claims, |v, key| v.get(key)),
        false => None,
    };
    match (top, nested) {
        (Some(_), Some(_)) => None,
        (one, other) => one.or(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn layout(ns: &RepoName) -> Layout<'_> {
        Layout { depth: crate::Depth::Two, default_repo: ns }
    }

    #[test]
    fn globs() {
        let p = ScopePattern::parse("artifact-repository:org1/*:pull").unwrap();
        assert!(p.matches("org1/repo1"));
        assert!(p.matches("org1/a/b"));
        assert!(!p.matches("org10/repo1"));
        assert!(!p.matches("org1"));
        assert!(ScopePattern::parse("artifact-repository:*:pull,push").unwrap().matches("x"));
        assert!(ScopePattern::parse("artifact-repository:org1/*-prod:pull").unwrap().matches("org1/web-prod"));
        assert!(ScopePattern::parse("artifact-repository:Org/*:pull").is_err());
        assert!(ScopePattern::parse("artifact-repository:org/*:delete").is_err());
        assert!(glob_match(b"a*b*c", b"aXbYc") && !glob_match(b"a*b*c", b"aXbY"));
    }

    #[test]
    fn grant_is_intersection() {
        let ns = repo("repo");
        let allow = Allowance(vec![ScopePattern::parse("artifact-repository:org1/*:pull").unwrap()]);
        let req = ScopeSet::parse("artifact-repository:org1/r:pull,push artifact-repository:org2/r:pull").unwrap();
        assert_eq!(allow.grant(&req, layout(&ns)).to_string(), "artifact-repository:org1/r:pull");
    }

    #[test]
    fn oci_grants_follow_the_chart_repositories() {
        let ns = repo("repo");
        let allow = Allowance(vec![
            ScopePattern::parse("artifact-repository:org1/*:pull").unwrap(),
            ScopePattern::parse("repository:org2/charts/*:pull,push").unwrap(),
        ]);
        let req = ScopeSet::parse(
            "repository:org1/repo1/hello:pull,push repository:org2/charts/x:push repository:org1/a/b/c:pull",
        )
        .unwrap();
        assert_eq!(
            allow.grant(&req, layout(&ns)).to_string(),
            "repository:org1/repo1/hello:pull repository:org2/charts/x:push"
        );
        let chart_req = ScopeSet::parse("artifact-repository:org2/charts:pull").unwrap();
        assert!(allow.grant(&chart_req, layout(&ns)).is_empty(), "OCI patterns never grant chart repositories");
    }

    #[test]
    fn templates_fill_from_claims() {
        let t = ScopeTemplate::parse("artifact-repository:{repository_owner|lower}/charts:pull").unwrap();
        let p = t.fill(&json!({"repository_owner": "Acme"})).unwrap();
        assert_eq!(p.to_string(), "artifact-repository:acme/charts:pull");
        let t = ScopeTemplate::parse("repository:{project_path}/*:pull,push").unwrap();
        assert_eq!(
            t.fill(&json!({"project_path": "grp/sub/app"})).unwrap().to_string(),
            "repository:grp/sub/app/*:pull,push"
        );
        let k8s = ScopeTemplate::parse("artifact-repository:k8s/{kubernetes.io/namespace}:pull").unwrap();
        let claims = json!({"kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "deployer"}}});
        assert_eq!(k8s.fill(&claims).unwrap().to_string(), "artifact-repository:k8s/ci:pull");
        let id = ScopeTemplate::parse("artifact-repository:gl/{project_id}:pull").unwrap();
        assert_eq!(id.fill(&json!({"project_id": 42})).unwrap().to_string(), "artifact-repository:gl/42:pull");
    }

    /// A value that would change the scope's structure fills nothing: every character class the
    /// issue names, each at the start, middle and end of a value.
    #[test]
    fn hostile_values_fill_nothing() {
        let t = ScopeTemplate::parse("artifact-repository:{v}/charts:pull").unwrap();
        let lower = ScopeTemplate::parse("artifact-repository:{v|lower}/charts:pull").unwrap();
        let hostile = [
            "",
            "..",
            "a/..",
            "a/../b",
            "/a",
            "a/",
            "a//b",
            "*",
            "a*",
            "org:1",
            "a,b",
            "a b",
            " a",
            "a\t",
            "a\n",
            "Acme",
            "аcme",
            "acmе",
            "ａcme",
            "acme\u{200b}",
            "ａ",
            "a:pull,push",
            "a/*",
            "-a",
            "a-",
            "a..b",
            "ı",
            "a?b",
            "a#b",
            "a%2fb",
            "a\\b",
            "{v}",
            "a}",
            "a{",
        ];
        for v in hostile {
            assert!(t.fill(&json!({ "v": v })).is_err(), "{v:?}");
            if v.chars().all(|c| !c.is_ascii_uppercase()) || !v.is_ascii() {
                assert!(lower.fill(&json!({ "v": v })).is_err(), "lower {v:?}");
            }
        }
        let long = "a".repeat(256);
        assert!(t.fill(&json!({ "v": long })).is_err());
        for v in [json!(null), json!(true), json!(["acme"]), json!({"a": "b"}), json!(-1), json!(1.5)] {
            assert!(t.fill(&json!({ "v": v })).is_err(), "{v}");
        }
        assert!(t.fill(&json!({})).is_err());
        assert_eq!(t.fill(&json!({"v": "acme"})).unwrap().to_string(), "artifact-repository:acme/charts:pull");
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in [
            "artifact-repository:{v/charts:pull",
            "artifact-repository:v}/charts:pull",
            "artifact-repository:{}/charts:pull",
            "artifact-repository:{a|upper}/charts:pull",
            "artifact-repository:{v}/charts:delete",
            "nope:{v}:pull",
            "artifact-repository:{v}",
        ] {
            assert!(ScopeTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
