//! What the issuer may grant: scope patterns with `*` globs on repository names, the grant as
//! requested ∩ allowed, and downscoping: a child token never broader, never bound to more paths,
//! and never living longer than its parent.

use std::fmt;

use crate::{Actions, Claims, PathBinding, RepoName, Scope, ScopeError, ScopeSet, RESOURCE_TYPE};

/// `artifact-repository:NAME-GLOB:ACTIONS`, where `*` in the name matches any run of characters
/// (including `/`): `org1/*` is every repository of org1, `*` is every repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePattern {
    glob: String,
    actions: Actions,
}

impl ScopePattern {
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (glob, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        if kind != RESOURCE_TYPE {
            return Err(ScopeError::ResourceType(kind.to_owned()));
        }
        // The glob must be a valid name once its stars are replaced by a letter.
        RepoName::parse(&glob.replace('*', "x"))?;
        if actions.is_empty() {
            return Err(ScopeError::NoActions(glob.to_owned()));
        }
        Ok(ScopePattern { glob: glob.to_owned(), actions: Actions::parse_list(actions)? })
    }

    pub fn matches(&self, repo: &RepoName) -> bool {
        glob_match(self.glob.as_bytes(), repo.as_str().as_bytes())
    }
}

impl fmt::Display for ScopePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RESOURCE_TYPE}:{}:{}", self.glob, self.actions)
    }
}

/// `*` matches any run of bytes; everything else matches itself. Iterative, no backtracking blow-up.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What one client (or one SSO rule) may be granted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowance(pub Vec<ScopePattern>);

impl Allowance {
    /// The actions allowed on `repo`.
    pub fn actions_for(&self, repo: &RepoName) -> Actions {
        self.0.iter().filter(|p| p.matches(repo)).fold(Actions::NONE, |a, p| a.union(p.actions))
    }

    /// requested ∩ allowed.
    pub fn grant(&self, requested: &ScopeSet) -> ScopeSet {
        requested.iter().map(|s| Scope::new(s.repo.clone(), s.actions.intersect(self.actions_for(&s.repo)))).collect()
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
    default_repo: &RepoName,
) -> Result<ChildPlan, DownscopeError> {
    if parent.exp <= now {
        return Err(DownscopeError::ParentExpired);
    }
    let jti = parent.jti.clone().ok_or(DownscopeError::ParentWithoutJti)?;
    if parent.lineage.len() >= MAX_LINEAGE {
        return Err(DownscopeError::TooDeep(parent.lineage.len()));
    }
    let held = parent.access.scopes(default_repo);
    let scopes = match requested {
        Some(r) if !held.contains(r) => {
            let extra: ScopeSet = r.iter().filter(|s| !parent.access.grants(s, default_repo)).collect();
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
        assert!(p.matches(&repo("org1/repo1")));
        assert!(p.matches(&repo("org1/a/b")));
        assert!(!p.matches(&repo("org10/repo1")));
        assert!(!p.matches(&repo("org1")));
        assert!(ScopePattern::parse("artifact-repository:*:pull,push").unwrap().matches(&repo("x")));
        assert!(ScopePattern::parse("artifact-repository:org1/*-prod:pull").unwrap().matches(&repo("org1/web-prod")));
        assert!(ScopePattern::parse("artifact-repository:Org/*:pull").is_err());
        assert!(ScopePattern::parse("artifact-repository:org/*:delete").is_err());
        assert!(glob_match(b"a*b*c", b"aXbYc") && !glob_match(b"a*b*c", b"aXbY"));
    }

    #[test]
    fn grant_is_intersection() {
        let allow = Allowance(vec![ScopePattern::parse("artifact-repository:org1/*:pull").unwrap()]);
        let req = ScopeSet::parse("artifact-repository:org1/r:pull,push artifact-repository:org2/r:pull").unwrap();
        assert_eq!(allow.grant(&req).to_string(), "artifact-repository:org1/r:pull");
    }

    fn parent(json: &str) -> Claims {
        Claims::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn children_are_never_broader_or_longer() {
        let ns = repo("repo");
        let p = parent(r#"{"exp":1000,"jti":"p1","access":["org1/a:pull,push","org1/b:pull"],"paths":["/org1/a/*"]}"#);
        let narrow = ScopeSet::parse("artifact-repository:org1/a:pull").unwrap();
        let child = downscope(&p, Some(&narrow), 5000, None, 900, &ns).unwrap();
        assert_eq!(child.ttl, 100, "cut to the parent's remaining life");
        assert_eq!(child.lineage, ["p1"]);
        assert_eq!(child.paths, p.paths, "inherits the parent's binding");
        let broad = ScopeSet::parse("artifact-repository:org1/c:pull").unwrap();
        assert!(matches!(downscope(&p, Some(&broad), 60, None, 900, &ns), Err(DownscopeError::Broader(_))));
        let out = PathBinding::parse(&["/org1/b/index.yaml"]).unwrap();
        assert_eq!(downscope(&p, None, 60, Some(out), 900, &ns), Err(DownscopeError::PathsBroader));
        let inside = PathBinding::parse(&["/org1/a/index.yaml"]).unwrap();
        assert!(downscope(&p, None, 60, Some(inside), 900, &ns).is_ok());
        assert_eq!(downscope(&p, None, 60, None, 1000, &ns), Err(DownscopeError::ParentExpired));
        let no_jti = parent(r#"{"exp":1000,"access":[]}"#);
        assert_eq!(downscope(&no_jti, None, 60, None, 0, &ns), Err(DownscopeError::ParentWithoutJti));
    }
}
