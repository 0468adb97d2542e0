//! What the issuer may grant: scope patterns with `*` globs on repository names, the grant as
//! requested ∩ allowed, and downscoping: a child token never broader, never bound to more paths,
//! and never living longer than its parent.

use std::fmt;

use crate::scope::glob_match;
use crate::{Actions, Claims, Kind, Layout, PathBinding, RepoName, Scope, ScopeError, ScopeSet};

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
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind.as_str(), self.glob, self.actions)
    }
}

/// What one client (or one SSO rule) may be granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowance(pub Vec<ScopePattern>);

impl Allowance {
    /// The actions allowed on `kind`/`repo`: patterns of that kind naming it, and for an OCI
    /// repository the chart-repository patterns naming the chart repository it lies in.
    pub fn actions_for(&self, kind: Kind, repo: &RepoName, layout: Layout<'_>) -> Actions {
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
}

/// Why a child token cannot be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownscopeError {
    #[error("requested scope {0} is not granted by the subject token")]
    Broader(String),
    #[error("requested paths are not within the subject token's paths")]
    PathsBroader,
    #[error("the subject token has expired")]
    ParentExpired,
    #[error("the subject token has no jti, so its children could not be revoked with it")]
    ParentWithoutJti,
    #[error("the subject token has been derived {0} times already")]
    TooDeep(usize),
}

impl DownscopeError {
    /// A short code for metrics.
    pub fn code(&self) -> &'static str {
        match self {
            DownscopeError::Broader(_) => "insufficient_scope",
            DownscopeError::PathsBroader => "path_not_bound",
            DownscopeError::ParentExpired => "expired",
            DownscopeError::ParentWithoutJti => "no_jti",
            DownscopeError::TooDeep(_) => "too_deep",
        }
    }
}

/// Most ancestors a token may name in `lineage` (a chain of derivations is at most this deep).
pub const MAX_LINEAGE: usize = crate::MAX_PATHS - 1;

/// What a child token will hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildPlan {
    pub scopes: ScopeSet,
    pub ttl: u64,
    pub paths: Option<PathBinding>,
    pub lineage: Vec<String>,
}

/// Plans a child of `parent` (already verified) at `now`: the one rule set for every way a token
/// derives another (token exchange, `/sign-url`, `chartgate token --from`). `requested` defaults
/// to everything the parent grants; the lifetime is cut to the parent's remaining life, and a
/// parent at or past its `exp` has none left (no clock leeway when issuing, so a token cannot renew
/// itself); the child's lineage is the parent's plus the parent's `jti`.
pub fn downscope(
    parent: &Claims,
    requested: Option<&ScopeSet>,
    ttl: u64,
    paths: Option<PathBinding>,
    now: u64,
    layout: Layout<'_>,
) -> Result<ChildPlan, DownscopeError> {
    if parent.exp <= now {
        return Err(DownscopeError::ParentExpired);
    }
    let jti = parent.jti.clone().ok_or(DownscopeError::ParentWithoutJti)?;
    if parent.lineage.len() >= MAX_LINEAGE {
        return Err(DownscopeError::TooDeep(parent.lineage.len()));
    }
    let held = parent.access.scopes(layout.default_repo);
    let scopes = match requested {
        Some(r) if !held.contains(r, layout) => {
            let extra: ScopeSet = r.iter().filter(|s| !parent.access.grants(s, layout)).collect();
            return Err(DownscopeError::Broader(extra.to_string()));
        }
        Some(r) => r.clone(),
        None => held,
    };
    let paths = match (paths, &parent.paths) {
        (Some(child), Some(p)) if !child.within(p) => return Err(DownscopeError::PathsBroader),
        (None, p) => p.clone(),
        (child, _) => child,
    };
    let mut lineage = parent.lineage.clone();
    lineage.push(jti);
    Ok(ChildPlan { scopes, ttl: ttl.min(parent.exp - now), paths, lineage })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
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

    fn layout(ns: &RepoName) -> Layout<'_> {
        Layout { depth: crate::Depth::Two, default_repo: ns }
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
        let p = parent(r#"{"exp":1000,"jti":"p1","access":["org1/a:pull"]}"#);
        let oci = ScopeSet::parse("repository:org1/a/hello:pull").unwrap();
        assert!(downscope(&p, Some(&oci), 60, None, 900, layout(&ns)).is_ok(), "a chart grant covers its OCI names");
        let push = ScopeSet::parse("repository:org1/a/hello:push").unwrap();
        assert!(matches!(downscope(&p, Some(&push), 60, None, 900, layout(&ns)), Err(DownscopeError::Broader(_))));
    }

    fn parent(json: &str) -> Claims {
        Claims::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn children_are_never_broader_or_longer() {
        let ns = repo("repo");
        let p = parent(r#"{"exp":1000,"jti":"p1","access":["org1/a:pull,push","org1/b:pull"],"paths":["/org1/a/*"]}"#);
        let narrow = ScopeSet::parse("artifact-repository:org1/a:pull").unwrap();
        let child = downscope(&p, Some(&narrow), 5000, None, 900, layout(&ns)).unwrap();
        assert_eq!(child.ttl, 100, "cut to the parent's remaining life");
        assert_eq!(child.lineage, ["p1"]);
        assert_eq!(child.paths, p.paths, "inherits the parent's binding");
        let broad = ScopeSet::parse("artifact-repository:org1/c:pull").unwrap();
        assert!(matches!(downscope(&p, Some(&broad), 60, None, 900, layout(&ns)), Err(DownscopeError::Broader(_))));
        let out = PathBinding::parse(&["/org1/b/index.yaml"]).unwrap();
        assert_eq!(downscope(&p, None, 60, Some(out), 900, layout(&ns)), Err(DownscopeError::PathsBroader));
        let inside = PathBinding::parse(&["/org1/a/index.yaml"]).unwrap();
        assert!(downscope(&p, None, 60, Some(inside), 900, layout(&ns)).is_ok());
        assert_eq!(downscope(&p, None, 60, None, 1000, layout(&ns)), Err(DownscopeError::ParentExpired));
        let no_jti = parent(r#"{"exp":1000,"access":[]}"#);
        assert_eq!(downscope(&no_jti, None, 60, None, 0, layout(&ns)), Err(DownscopeError::ParentWithoutJti));
    }
}
