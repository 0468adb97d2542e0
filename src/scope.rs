//! The scope algebra: repository names, actions, and Docker-distribution scope strings
//! (`artifact-repository:org1/repo1:pull,push`), with containment and intersection.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The only resource type chartgate grants.
pub const RESOURCE_TYPE: &str = "artifact-repository";

/// Longest accepted repository name, in bytes.
pub const MAX_REPO_NAME: usize = 255;

/// Why a scope string, repository name or action list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope {0:?} is not of the form type:name:actions")]
    Shape(String),
    #[error("resource type {0:?} is not supported (only {RESOURCE_TYPE})")]
    ResourceType(String),
    #[error("repository name {name:?} is invalid: {why}")]
    RepoName { name: String, why: &'static str },
    #[error("action {0:?} is not one of pull, push, *")]
    Action(String),
    #[error("scope for {0:?} lists no actions")]
    NoActions(String),
}

/// A validated repository name: `org1/repo1`, `repo`, or `host:port/org/repo`.
///
/// Path components are lower-case ASCII letters and digits separated by single `.`, `_` or `-`
/// (the Docker distribution grammar); the first component may carry a `:port`. No wildcards,
/// no empty components, no `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    /// Validates `name`.
    pub fn parse(name: &str) -> Result<Self, ScopeError> {
        let bad = |why| ScopeError::RepoName { name: name.to_owned(), why };
        if name.is_empty() {
            return Err(bad("empty"));
        }
        if name.len() > MAX_REPO_NAME {
            return Err(bad("longer than 255 bytes"));
        }
        for (i, component) in name.split('/').enumerate() {
            let component = match (i, component.split_once(':')) {
                (0, Some((host, port))) => {
                    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad("port is not a number"));
                    }
                    host
                }
                (_, Some(_)) => return Err(bad("':' is only allowed as host:port in the first component")),
                (_, None) => component,
            };
            check_component(component).map_err(bad)?;
        }
        Ok(RepoName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_component(c: &str) -> Result<(), &'static str> {
    let bytes = c.as_bytes();
    if bytes.is_empty() {
        return Err("empty path component");
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err("components must start and end with a lower-case letter or digit");
    }
    let mut previous_separator = false;
    for &b in bytes {
        let separator = matches!(b, b'.' | b'_' | b'-');
        if !separator && !alnum(b) {
            return Err("only a-z, 0-9, '.', '_', '-' and '/' are allowed");
        }
        if separator && previous_separator {
            return Err("separators may not repeat");
        }
        previous_separator = separator;
    }
    Ok(())
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepoName {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoName::parse(s)
    }
}

/// One action on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Pull,
    Push,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions. `*` parses to every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const PULL: Actions = Actions(1);
    pub const PUSH: Actions = Actions(2);
    pub const ALL: Actions = Actions(3);

    pub fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn allows(self, action: Action) -> bool {
        self.contains(action.into())
    }
    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }
    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The actions in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        [Action::Pull, Action::Push].into_iter().filter(move |a| self.allows(*a))
    }

    /// Parses one action word: `pull`, `push` or `*`.
    pub fn parse_word(word: &str) -> Result<Actions, ScopeError> {
        match word {
            "pull" => Ok(Actions::PULL),
            "push" => Ok(Actions::PUSH),
            "*" => Ok(Actions::ALL),
            other => Err(ScopeError::Action(other.to_owned())),
        }
    }

    /// Parses a comma-separated action list (`pull,push`).
    pub fn parse_list(list: &str) -> Result<Actions, ScopeError> {
        list.split(',').try_fold(Actions::NONE, |acc, w| Ok(acc.union(Actions::parse_word(w)?)))
    }
}

impl From<Action> for Actions {
    fn from(a: Action) -> Self {
        match a {
            Action::Pull => Actions::PULL,
            Action::Push => Actions::PUSH,
        }
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.as_str())?;
        }
        Ok(())
    }
}

/// One scope: actions granted (or requested) on one repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub repo: RepoName,
    pub actions: Actions,
}

impl Scope {
    pub fn new(repo: RepoName, actions: impl Into<Actions>) -> Self {
        Scope { repo, actions: actions.into() }
    }

    /// Parses `artifact-repository:NAME:ACTIONS`. The name may itself contain `:` (host:port),
    /// so the type is taken from the front and the actions from the back.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        if kind != RESOURCE_TYPE {
            return Err(ScopeError::ResourceType(kind.to_owned()));
        }
        let repo = RepoName::parse(name)?;
        if actions.is_empty() {
            return Err(ScopeError::NoActions(name.to_owned()));
        }
        Ok(Scope { repo, actions: Actions::parse_list(actions)? })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RESOURCE_TYPE}:{}:{}", self.repo, self.actions)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

/// A normalised set of scopes: one entry per repository, no empty entries, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet(BTreeMap<RepoName, Actions>);

impl ScopeSet {
    pub fn new() -> Self {
        ScopeSet::default()
    }

    /// Parses space-separated scopes (the OAuth `scope` parameter form).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        s.split_ascii_whitespace().map(Scope::parse).collect()
    }

    /// Adds actions on a repository (merging with what is there).
    pub fn insert(&mut self, scope: Scope) {
        if scope.actions.is_empty() {
            return;
        }
        let entry = self.0.entry(scope.repo).or_default();
        *entry = entry.union(scope.actions);
    }

    /// The actions granted on `repo`.
    pub fn actions_for(&self, repo: &RepoName) -> Actions {
        self.0.get(repo).copied().unwrap_or_default()
    }

    /// True when `action` on `repo` is granted.
    pub fn allows(&self, repo: &RepoName, action: Action) -> bool {
        self.actions_for(repo).allows(action)
    }

    /// True when every scope of `other` is granted by `self`.
    pub fn contains(&self, other: &ScopeSet) -> bool {
        other.0.iter().all(|(repo, actions)| self.actions_for(repo).contains(*actions))
    }

    /// What both sets grant.
    pub fn intersect(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = ScopeSet::new();
        for (repo, actions) in &self.0 {
            out.insert(Scope::new(repo.clone(), actions.intersect(other.actions_for(repo))));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// The scopes, sorted by repository name.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().map(|(repo, actions)| Scope::new(repo.clone(), *actions))
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = ScopeSet::new();
        iter.into_iter().for_each(|s| set.insert(s));
        set
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{scope}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> RepoName {
        RepoName::parse(s).unwrap()
    }

    #[test]
    fn parses_docker_form() {
        let s = Scope::parse("artifact-repository:org1/repo1:pull,push").unwrap();
        assert_eq!(s.repo.as_str(), "org1/repo1");
        assert_eq!(s.actions, Actions::ALL);
        assert_eq!(Scope::parse("artifact-repository:org1/repo1:*").unwrap().actions, Actions::ALL);
    }

    #[test]
    fn name_may_contain_host_port() {
        let s = Scope::parse("artifact-repository:charts.example.com:8443/org/repo:pull").unwrap();
        assert_eq!(s.repo.as_str(), "charts.example.com:8443/org/repo");
        assert_eq!(s.actions, Actions::PULL);
        assert!(RepoName::parse("org:1/repo").is_ok());
        assert!(RepoName::parse("org/re:po").is_err());
    }

    #[test]
    fn refuses_bad_scopes() {
        for bad in [
            "",
            "artifact-repository",
            "artifact-repository:org1/repo1",
            "artifact-repository:org1/repo1:",
            "artifact-repository::pull",
            "repository:org1/repo1:pull",
            "artifact-repository:org1/repo1:delete",
            "artifact-repository:org1/repo1:pull,",
            "artifact-repository:Org1/repo1:pull",
            "artifact-repository:org1/*:pull",
            "artifact-repository:org1/../repo1:pull",
            "artifact-repository:org1//repo1:pull",
            "artifact-repository:org1/repo1/:pull",
            "artifact-repository:org1/rep\u{0456}1:pull",
            "artifact-repository:org1/re--po:pull",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn set_algebra() {
        let a = ScopeSet::parse("artifact-repository:org1/repo1:pull,push artifact-repository:org2/x:pull").unwrap();
        let b = ScopeSet::parse("artifact-repository:org1/repo1:pull artifact-repository:org3/y:push").unwrap();
        let i = a.intersect(&b);
        assert_eq!(i.to_string(), "artifact-repository:org1/repo1:pull");
        assert!(a.contains(&i) && b.contains(&i));
        assert!(!b.contains(&a));
        assert!(a.allows(&repo("org2/x"), Action::Pull));
        assert!(!a.allows(&repo("org2/x"), Action::Push));
        assert!(!a.allows(&repo("org1/repo10"), Action::Pull));
    }

    #[test]
    fn merges_repeated_repositories() {
        let s = ScopeSet::parse("artifact-repository:r:pull artifact-repository:r:push").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.to_string(), "artifact-repository:r:pull,push");
    }
}
