//! What the issuer may derive: downscoping: a child token never broader, never bound to more paths,
//! and never living longer than its parent.

pub use crate::allowance::{Allowance, ScopePattern};
use crate::{Claims, Layout, PathBinding, ScopeSet};

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
    /// The trust policy that admitted the workload at the root of the lineage, if any: a child
    /// stays revocable by its policy and issuer.
    pub trust: Option<crate::TrustedBy>,
}

impl ChildPlan {
    /// A root token: no parent, no lineage.
    pub fn root(scopes: ScopeSet, ttl: u64) -> Self {
        ChildPlan { scopes, ttl, paths: None, lineage: Vec::new(), trust: None }
    }
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
    Ok(ChildPlan { scopes, ttl: ttl.min(parent.exp - now), paths, lineage, trust: parent.trust.as_deref().cloned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RepoName;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    fn layout(ns: &RepoName) -> Layout<'_> {
        Layout { depth: crate::Depth::Two, default_repo: ns }
    }

    #[test]
    fn a_chart_grant_covers_its_oci_names() {
        let ns = repo("repo");
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
