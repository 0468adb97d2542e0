//! The scope algebra: repository names, actions, Docker-distribution scope strings
//! (`artifact-repository:org1/repo1:pull,push` for chart repositories, `repository:org1/repo1/hello:pull`
//! for OCI repositories), and the one mapping between the two kinds ([`Layout`]), with containment
//! and intersection.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The resource type of chart repositories (ChartMuseum's).
pub const RESOURCE_TYPE: &str = "artifact-repository";
/// The resource type of OCI repositories (Docker distribution's).
pub const OCI_RESOURCE_TYPE: &str = "repository";

/// What a scope names: a chart repository (`index.yaml` and archives) or an OCI repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `artifact-repository`: a classic chart repository.
    Chart,
    /// `repository`: an OCI repository (`helm push`/`helm pull oci://`).
    Oci,
}

impl Kind {
    /// The resource type as written in scope strings and `access` entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chart => RESOURCE_TYPE,
            Kind::Oci => OCI_RESOURCE_TYPE,
        }
    }

    /// Parses a resource type; other types are `None`.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            RESOURCE_TYPE => Some(Kind::Chart),
            OCI_RESOURCE_TYPE => Some(Kind::Oci),
            _ => None,
        }
    }

    /// Validates a repository name for this kind: OCI names have no `host:port` part.
    pub fn name(self, name: &str) -> Result<RepoName, ScopeError> {
        if self == Kind::Oci && name.contains(':') {
            return Err(ScopeError::RepoName { name: name.to_owned(), why: "':' is not allowed in an OCI name" });
        }
        RepoName::parse(name)
    }
}

/// How many path segments name a chart repository (ChartMuseum's `--depth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Single tenant: every route uses the default namespace.
    Zero,
    /// `/:repo/...`
    One,
    /// `/:org/:repo/...`
    #[default]
    Two,
}

impl Depth {
    pub fn from_number(n: u8) -> Option<Depth> {
        match n {
            0 => Some(Depth::Zero),
            1 => Some(Depth::One),
            2 => Some(Depth::Two),
            _ => None,
        }
    }
    pub fn segments(self) -> usize {
        match self {
            Depth::Zero => 0,
            Depth::One => 1,
            Depth::Two => 2,
        }
    }
}

/// Where charts live, and the one mapping between OCI names and chart repositories: the OCI
/// repository `org1/repo1/hello` is the chart `hello` of the chart repository `org1/repo1` (depth 2);
/// at depth 0 the OCI repository `hello` is in the default repository. An OCI name with any other
/// number of components lies in no chart repository, and only a `repository:` grant reaches it.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    pub depth: Depth,
    pub default_repo: &'a RepoName,
}

impl<'a> Layout<'a> {
    /// The chart repository and chart name of an OCI repository, when it lies in one.
    pub fn chart_of<'n>(&self, oci: &'n RepoName) -> Option<(&'n str, &'n str)>
    where
        'a: 'n,
    {
        let name = oci.as_str();
        let n = self.depth.segments();
        if name.bytes().filter(|&b| b == b'/').count() != n {
            return None;
        }
        match name.rsplit_once('/') {
            Some((repo, chart)) => Some((repo, chart)),
            None => Some((self.default_repo.as_str(), name)),
        }
    }

    /// The OCI repository of chart `chart` in chart repository `repo`: the inverse of
    /// [`Layout::chart_of`], `None` when no OCI name maps there.
    pub fn oci_of(&self, repo: &RepoName, chart: &str) -> Option<RepoName> {
        let name = match self.depth {
            Depth::Zero if repo == self.default_repo => chart.to_owned(),
            Depth::Zero => return None,
            _ if repo.as_str().matches('/').count() + 1 != self.depth.segments() => return None,
            _ => format!("{repo}/{chart}"),
        };
        Kind::Oci.name(&name).ok()
    }
}

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

pub(crate) fn check_component(c: &str) -> Result<(), &'static str> {
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

impl Borrow<str> for RepoName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepoName {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepoName::parse(s)
    }
}

/// `*` matches any run of bytes; everything else matches itself. Iterative, no backtracking blow-up.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
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

    /// The actions a Docker token request's list asks for, as the token specification reads a
    /// request: what is known is kept and the rest left out (the client then gets `401`/`403` on
    /// the one operation it was not given). `delete` is what a registry delete needs here, `push`
    /// (crane, skopeo and oras ask for it before `DELETE`).
    pub fn requested(list: &str) -> Actions {
        list.split(',').fold(Actions::NONE, |acc, w| match w {
            "delete" => acc.union(Actions::PUSH),
            w => acc.union(Actions::parse_word(w).unwrap_or(Actions::NONE)),
        })
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

/// One scope: actions granted (or requested) on one chart or OCI repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub kind: Kind,
    pub repo: RepoName,
    pub actions: Actions,
}

impl Scope {
    /// A scope on a chart repository.
    pub fn new(repo: RepoName, actions: impl Into<Actions>) -> Self {
        Scope { kind: Kind::Chart, repo, actions: actions.into() }
    }

    /// A scope on an OCI repository.
    pub fn oci(repo: RepoName, actions: impl Into<Actions>) -> Self {
        Scope { kind: Kind::Oci, repo, actions: actions.into() }
    }

    /// Parses `artifact-repository:NAME:ACTIONS` or `repository:NAME:ACTIONS`. A chart
    /// repository's name may itself contain `:` (host:port), so the type is taken from the front
    /// and the actions from the back.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let shape = || ScopeError::Shape(s.to_owned());
        let (kind, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        let kind = Kind::parse(kind).ok_or_else(|| ScopeError::ResourceType(kind.to_owned()))?;
        let repo = kind.name(name)?;
        if actions.is_empty() {
            return Err(ScopeError::NoActions(name.to_owned()));
        }
        Ok(Scope { kind, repo, actions: Actions::parse_list(actions)? })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind.as_str(), self.repo, self.actions)
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

/// A normalised set of scopes: one entry per (kind, repository), no empty entries, chart
/// repositories first, each kind sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet {
    chart: BTreeMap<RepoName, Actions>,
    oci: BTreeMap<RepoName, Actions>,
}

impl ScopeSet {
    pub fn new() -> Self {
        ScopeSet::default()
    }

    /// Parses space-separated scopes (the OAuth `scope` parameter form).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        s.split_ascii_whitespace().map(Scope::parse).collect()
    }

    /// What a Docker token request's `scope` values (each space-separated scopes) ask for, read as
    /// the token specification asks: a scope of an unknown resource type (`registry:catalog:*`),
    /// a name that cannot be a repository, and an unknown action are left out, not refused, so a
    /// request asking `pull,delete` still gets what can be granted of it ([`Actions::requested`]).
    pub fn requested<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = ScopeSet::new();
        for s in values.into_iter().flat_map(str::split_ascii_whitespace) {
            let Some((kind, rest)) = s.split_once(':') else { continue };
            let Some((name, actions)) = rest.rsplit_once(':') else { continue };
            let (Some(kind), actions) = (Kind::parse(kind), Actions::requested(actions)) else { continue };
            if let Ok(repo) = kind.name(name) {
                set.insert(Scope { kind, repo, actions });
            }
        }
        set
    }

    fn map(&self, kind: Kind) -> &BTreeMap<RepoName, Actions> {
        match kind {
            Kind::Chart => &self.chart,
            Kind::Oci => &self.oci,
        }
    }

    /// Adds actions on a repository (merging with what is there).
    pub fn insert(&mut self, scope: Scope) {
        if scope.actions.is_empty() {
            return;
        }
        let map = match scope.kind {
            Kind::Chart => &mut self.chart,
            Kind::Oci => &mut self.oci,
        };
        let entry = map.entry(scope.repo).or_default();
        *entry = entry.union(scope.actions);
    }

    /// The actions granted on exactly this chart repository.
    pub fn actions_for(&self, repo: &str) -> Actions {
        self.chart.get(repo).copied().unwrap_or_default()
    }

    /// True when `action` on the chart repository `repo` is granted.
    pub fn allows(&self, repo: &RepoName, action: Action) -> bool {
        self.actions_for(repo.as_str()).allows(action)
    }

    /// The actions this set grants on `kind`/`repo`: its own entry, and for an OCI repository the
    /// entry of the chart repository it lies in ([`Layout::chart_of`]). No other entry reaches it.
    pub fn covers(&self, kind: Kind, repo: &RepoName, layout: Layout<'_>) -> Actions {
        let own = self.map(kind).get(repo.as_str()).copied().unwrap_or_default();
        match (kind, layout.chart_of(repo)) {
            (Kind::Oci, Some((chart_repo, _))) => own.union(self.actions_for(chart_repo)),
            _ => own,
        }
    }

    /// True when every scope of `other` is granted by `self` (with OCI repositories reached
    /// through their chart repository).
    pub fn contains(&self, other: &ScopeSet, layout: Layout<'_>) -> bool {
        other.iter().all(|s| self.covers(s.kind, &s.repo, layout).contains(s.actions))
    }

    /// What both grant: each scope of `requested`, cut to what `self` covers.
    pub fn narrow(&self, requested: &ScopeSet, layout: Layout<'_>) -> ScopeSet {
        requested
            .iter()
            .map(|s| Scope { actions: s.actions.intersect(self.covers(s.kind, &s.repo, layout)), ..s })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.chart.is_empty() && self.oci.is_empty()
    }
    pub fn len(&self) -> usize {
        self.chart.len() + self.oci.len()
    }
    /// The scopes: chart repositories, then OCI repositories, each sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        let chart = self.chart.iter().map(|(repo, actions)| Scope::new(repo.clone(), *actions));
        chart.chain(self.oci.iter().map(|(repo, actions)| Scope::oci(repo.clone(), *actions)))
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

    /// Security round 4, case 6: `crane delete`, `skopeo delete` and `oras manifest delete` ask
    /// the token endpoint for `delete` (alone, as `pull,delete`, or merged `delete,pull,push`);
    /// the token specification grants what it can and leaves out the rest.
    #[test]
    fn case_06_a_token_request_keeps_what_it_can_grant() {
        let asked = |v: &[&str]| ScopeSet::requested(v.iter().copied()).to_string();
        assert_eq!(asked(&["repository:o/r/c:delete"]), "repository:o/r/c:push");
        assert_eq!(asked(&["repository:o/r/c:pull,delete"]), "repository:o/r/c:pull,push");
        assert_eq!(asked(&["repository:o/r/c:delete,pull,push"]), "repository:o/r/c:pull,push");
        assert_eq!(asked(&["repository:o/r/c:pull,metadata-read"]), "repository:o/r/c:pull");
        assert_eq!(asked(&["registry:catalog:* repository:o/r/c:pull"]), "repository:o/r/c:pull");
        assert_eq!(asked(&["repository:O/R:pull", "nonsense", "repository:o/r/c:frobnicate"]), "");
        assert_eq!(
            asked(&["repository:o/r/c:pull", "artifact-repository:o/r:push"]),
            "artifact-repository:o/r:push repository:o/r/c:pull"
        );
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
            "registry:catalog:*",
            "repository:h:5000/org1/repo1:pull",
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

    fn layout(default: &RepoName) -> Layout<'_> {
        Layout { depth: Depth::Two, default_repo: default }
    }

    #[test]
    fn set_algebra() {
        let ns = repo("repo");
        let a = ScopeSet::parse("artifact-repository:org1/repo1:pull,push artifact-repository:org2/x:pull").unwrap();
        let b = ScopeSet::parse("artifact-repository:org1/repo1:pull artifact-repository:org3/y:push").unwrap();
        let i = a.narrow(&b, layout(&ns));
        assert_eq!(i.to_string(), "artifact-repository:org1/repo1:pull");
        assert!(a.contains(&i, layout(&ns)) && b.contains(&i, layout(&ns)));
        assert!(!b.contains(&a, layout(&ns)));
        assert!(a.allows(&repo("org2/x"), Action::Pull));
        assert!(!a.allows(&repo("org2/x"), Action::Push));
        assert!(!a.allows(&repo("org1/repo10"), Action::Pull));
    }

    #[test]
    fn oci_names_lie_in_their_chart_repository() {
        let ns = repo("repo");
        let l = layout(&ns);
        let charts = ScopeSet::parse("artifact-repository:org1/repo1:pull").unwrap();
        let covers = |name: &str| charts.covers(Kind::Oci, &repo(name), l);
        assert_eq!(covers("org1/repo1/hello"), Actions::PULL);
        assert_eq!(covers("org1/repo10/hello"), Actions::NONE, "a prefix of the name is not its repository");
        assert_eq!(covers("org1/repo1/a/b"), Actions::NONE, "deeper names lie in no chart repository");
        assert_eq!(covers("org1/repo1"), Actions::NONE);
        let oci = ScopeSet::parse("repository:org1/repo1/hello:pull,push").unwrap();
        assert_eq!(oci.covers(Kind::Chart, &repo("org1/repo1"), l), Actions::NONE, "OCI grants never reach charts");
        assert_eq!(oci.covers(Kind::Oci, &repo("org1/repo1/hello"), l), Actions::ALL);
        assert_eq!(oci.covers(Kind::Oci, &repo("org1/repo1/other"), l), Actions::NONE);
        let zero = Layout { depth: Depth::Zero, default_repo: &ns };
        let single = ScopeSet::parse("artifact-repository:repo:push").unwrap();
        assert_eq!(single.covers(Kind::Oci, &repo("hello"), zero), Actions::PUSH);
        assert_eq!(single.covers(Kind::Oci, &repo("org/hello"), zero), Actions::NONE);
        for (depth, repo, chart) in
            [(Depth::Two, "org1/repo1", "hello"), (Depth::One, "team", "x"), (Depth::Zero, "repo", "y")]
        {
            let layout = Layout { depth, default_repo: &ns };
            let oci = layout.oci_of(&self::repo(repo), chart).unwrap();
            assert_eq!(layout.chart_of(&oci), Some((repo, chart)), "oci_of inverts chart_of");
        }
        assert_eq!(l.oci_of(&repo("org1"), "x"), None, "org1 is no chart repository at depth 2");
        assert_eq!(l.oci_of(&repo("org1/repo1"), "Bad"), None);
        let asked = ScopeSet::parse("repository:org1/repo1/hello:pull,push repository:org2/x/y:pull").unwrap();
        assert_eq!(charts.narrow(&asked, l).to_string(), "repository:org1/repo1/hello:pull");
        assert_eq!(
            Scope::parse("repository:org1/repo1/hello:pull").unwrap().to_string(),
            "repository:org1/repo1/hello:pull"
        );
    }

    #[test]
    fn merges_repeated_repositories() {
        let s = ScopeSet::parse("artifact-repository:r:pull artifact-repository:r:push").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.to_string(), "artifact-repository:r:pull,push");
    }
}
