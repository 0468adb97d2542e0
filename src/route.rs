//! The routes: ChartMuseum's (which chart repository and action a method and normalised path
//! need, and where its object lives in storage, for repository depth 0, 1 or 2) and the OCI
//! registry's ([`crate::registry`]), each with the scope it needs.

use crate::error::Reason;
use crate::path::NormalizedPath;
use crate::registry::{self, Endpoint};
use crate::scope::{Action, Depth, RepoName, Scope};

/// The most segments any route has (`/api/:org/:repo/charts/:name/:version`).
const MAX_SEGMENTS: usize = 6;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/health`: needs nothing.
    Health,
    /// `/token`: the edge's own Docker token endpoint (distribution token spec; `GET` with the
    /// token as the Basic password, or `POST` with it as the form's `password`), for deployments
    /// without an issuer. It answers with the presented token itself, unchanged: it signs nothing.
    Token,
    /// `index.yaml` of a repository.
    Index { repo: RepoName },
    /// A chart archive (`.tgz`) or provenance file (`.prov`).
    Artifact { repo: RepoName, file: String },
    /// A read route of the ChartMuseum API (`GET /api/:repo/charts...`).
    ApiRead { repo: RepoName },
    /// A write route of the ChartMuseum API (upload, provenance upload, delete).
    ApiWrite { repo: RepoName },
    /// `/v2/`: the registry's version check; any valid token passes.
    RegistryBase,
    /// An OCI registry endpoint of one OCI repository, and the action its method needs.
    Registry { repo: RepoName, endpoint: Endpoint, action: Action },
}

impl Route {
    /// Matches a request against ChartMuseum's routes.
    pub fn parse(method: &str, path: &NormalizedPath, depth: Depth, default_repo: &RepoName) -> Result<Route, Reason> {
        if registry::is_registry_path(path.as_str()) {
            let method_error = || Reason::MethodNotAllowed(method.chars().take(16).collect());
            return match registry::parse(path)? {
                None if matches!(method, "GET" | "HEAD") => Ok(Route::RegistryBase),
                None => Err(method_error()),
                Some((repo, endpoint)) => match endpoint.action(method) {
                    Some(action) => Ok(Route::Registry { repo, endpoint, action }),
                    None => Err(method_error()),
                },
            };
        }
        // No route has more than MAX_SEGMENTS segments: collect them without allocating.
        let mut buf = [""; MAX_SEGMENTS];
        let mut len = 0;
        for segment in path.segments() {
            *buf.get_mut(len).ok_or(Reason::NotFound)? = segment;
            len += 1;
        }
        let segments = &buf[..len];
        let read = matches!(method, "GET" | "HEAD");
        let method_error = || Reason::MethodNotAllowed(method.chars().take(16).collect());
        if segments == ["health"] {
            return if read { Ok(Route::Health) } else { Err(method_error()) };
        }
        if segments == ["token"] {
            return if read || method == "POST" { Ok(Route::Token) } else { Err(method_error()) };
        }
        let n = depth.segments();
        // The repository is the `n` segments after the first `skip`, named by the text spanning them.
        let repo_of = |skip: usize| -> Result<RepoName, Reason> {
            if n == 0 {
                return Ok(default_repo.clone());
            }
            let start = 1 + segments[..skip].iter().map(|s| s.len() + 1).sum::<usize>();
            let len = segments[skip..skip + n].iter().map(|s| s.len()).sum::<usize>() + n - 1;
            RepoName::parse(&path.as_str()[start..start + len]).map_err(|_| Reason::NotFound)
        };
        if segments.first() == Some(&"api") {
            let rest = &segments[1..];
            if rest.len() < n + 1 {
                return Err(Reason::NotFound);
            }
            let tail = &rest[n..];
            let repo = repo_of(1)?;
            return match (tail, method) {
                (["charts"] | ["charts", _] | ["charts", _, _], "GET" | "HEAD") => Ok(Route::ApiRead { repo }),
                (["charts"] | ["prov"], "POST") | (["charts", _, _], "DELETE") => Ok(Route::ApiWrite { repo }),
                (["charts"] | ["charts", _] | ["charts", _, _] | ["prov"], _) => Err(method_error()),
                _ => Err(Reason::NotFound),
            };
        }
        if segments.len() < n + 1 {
            return Err(Reason::NotFound);
        }
        let tail = &segments[n..];
        let route = match tail {
            ["index.yaml"] => Route::Index { repo: repo_of(0)? },
            ["charts", file] | [file] if is_artifact(file) => {
                Route::Artifact { repo: repo_of(0)?, file: (*file).to_owned() }
            }
            _ => return Err(Reason::NotFound),
        };
        if read {
            Ok(route)
        } else {
            Err(method_error())
        }
    }

    /// The access this route needs, or `None` for public routes.
    pub fn required(&self) -> Option<Scope> {
        match self {
            Route::Health | Route::RegistryBase | Route::Token => None,
            Route::Index { repo } | Route::Artifact { repo, .. } | Route::ApiRead { repo } => {
                Some(Scope::new(repo.clone(), Action::Pull))
            }
            Route::ApiWrite { repo } => Some(Scope::new(repo.clone(), Action::Push)),
            Route::Registry { repo, action, .. } => Some(Scope::oci(repo.clone(), *action)),
        }
    }

    /// True when the route needs a valid token even though it names no scope (`/v2/`, `/token`).
    pub fn needs_token(&self) -> bool {
        matches!(self, Route::RegistryBase | Route::Token) || self.required().is_some()
    }

    /// True for the OCI registry's routes (their errors take the spec's form).
    pub fn is_registry(&self) -> bool {
        matches!(self, Route::RegistryBase | Route::Registry { .. })
    }

    /// The repository the route concerns.
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Route::Health | Route::RegistryBase | Route::Token => None,
            Route::Index { repo }
            | Route::Artifact { repo, .. }
            | Route::ApiRead { repo }
            | Route::ApiWrite { repo }
            | Route::Registry { repo, .. } => Some(repo),
        }
    }
}

fn is_artifact(file: &str) -> bool {
    [".tgz", ".prov"].iter().any(|ext| file.len() > ext.len() && file.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str, depth: Depth) -> Result<Route, Reason> {
        let repo = RepoName::parse("repo").unwrap();
        Route::parse(method, &NormalizedPath::parse(path).unwrap(), depth, &repo)
    }

    fn need(method: &str, path: &str, depth: Depth) -> String {
        match route(method, path, depth) {
            Ok(r) => r.required().map_or("none".into(), |s| s.to_string()),
            Err(e) => e.code().into(),
        }
    }

    #[test]
    fn chartmuseum_routes_depth_two() {
        let d = Depth::Two;
        assert_eq!(need("GET", "/org1/repo1/index.yaml", d), "artifact-repository:org1/repo1:pull");
        assert_eq!(need("HEAD", "/org1/repo1/charts/x-0.1.0.tgz", d), "artifact-repository:org1/repo1:pull");
        assert_eq!(need("GET", "/org1/repo1/x-0.1.0.tgz.prov", d), "artifact-repository:org1/repo1:pull");
        assert_eq!(need("GET", "/api/org1/repo1/charts", d), "artifact-repository:org1/repo1:pull");
        assert_eq!(need("GET", "/api/org1/repo1/charts/x/0.1.0", d), "artifact-repository:org1/repo1:pull");
        assert_eq!(need("POST", "/api/org1/repo1/charts", d), "artifact-repository:org1/repo1:push");
        assert_eq!(need("POST", "/api/org1/repo1/prov", d), "artifact-repository:org1/repo1:push");
        assert_eq!(need("DELETE", "/api/org1/repo1/charts/x/0.1.0", d), "artifact-repository:org1/repo1:push");
        assert_eq!(need("GET", "/health", d), "none");
        assert_eq!(need("PUT", "/org1/repo1/index.yaml", d), "method_not_allowed");
        assert_eq!(need("DELETE", "/api/org1/repo1/charts", d), "method_not_allowed");
        assert_eq!(need("GET", "/org1/index.yaml", d), "not_found");
        assert_eq!(need("GET", "/org1/repo1/x.zip", d), "not_found");
        assert_eq!(need("GET", "/ORG1/repo1/index.yaml", d), "not_found");
    }

    #[test]
    fn single_tenant_and_depth_one() {
        assert_eq!(need("GET", "/index.yaml", Depth::Zero), "artifact-repository:repo:pull");
        assert_eq!(need("GET", "/charts/x-1.0.0.tgz", Depth::Zero), "artifact-repository:repo:pull");
        assert_eq!(need("POST", "/api/charts", Depth::Zero), "artifact-repository:repo:push");
        assert_eq!(need("GET", "/team/index.yaml", Depth::One), "artifact-repository:team:pull");
        assert_eq!(need("GET", "/api/team/charts", Depth::One), "artifact-repository:team:pull");
    }

    #[test]
    fn both_chart_url_forms_share_one_object() {
        let a = route("GET", "/org1/repo1/charts/x-0.1.0.tgz", Depth::Two).unwrap();
        let b = route("GET", "/org1/repo1/x-0.1.0.tgz", Depth::Two).unwrap();
        assert_eq!((a.repo(), &a), (b.repo(), &b), "one route, so one stored object (store::layout::object_of)");
    }
}
