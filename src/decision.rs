//! The one decision every front end takes: (request, credential, keys, policy, now) → allow with
//! the grant, or deny with a typed reason rendered the way ChartMuseum does (`WWW-Authenticate`
//! challenge, RFC 6750 error, JSON body). No I/O and no clock: `now` is a parameter.

use crate::credential::{self, Credential, Via};
use crate::error::Reason;
use crate::keys::KeySet;
use crate::path::NormalizedPath;
use crate::route::Route;
use crate::scope::{Action, Depth, Layout, RepoName, Scope};
use crate::verify::{self, SignatureVerifier, VerifiedToken};

/// Largest accepted clock leeway, in seconds.
pub const MAX_LEEWAY: u64 = 300;
/// Default clock leeway, in seconds.
pub const DEFAULT_LEEWAY: u64 = 60;

/// What the verifier trusts and how it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Token endpoint named in challenges. Default `http://127.0.0.1:8788/oauth/token`.
    pub realm: String,
    /// Service named in challenges. Default `chartgate`.
    pub service: String,
    /// Required `iss`, when set. Default none.
    pub issuer: Option<String>,
    /// Audience `aud` must contain, when set. Default none.
    pub audience: Option<String>,
    /// Clock leeway for `exp`, `nbf`, `iat`, in seconds. Default 60, at most [`MAX_LEEWAY`].
    leeway: u64,
    /// Repository depth of the routes. Default 2 (`/:org/:repo/...`).
    pub depth: Depth,
    /// Repository used by depth 0 and by single-tenant `access: ["pull"]` tokens. Default `repo`.
    pub default_repo: RepoName,
    /// Chart repositories anyone may pull from without a token (name globs, `*` any run of
    /// characters), over both protocols. Default none.
    public: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            realm: "http://127.0.0.1:8788/oauth/token".into(),
            service: "chartgate".into(),
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            depth: Depth::Two,
            default_repo: RepoName::parse("repo").expect("constant is a valid name"),
            public: Vec::new(),
        }
    }
}

/// The settings a [`Policy`] is built from, as a deployment writes them (unset: the default).
/// The edge's variables, the issuer's configuration and the CLI's flags all fill this, and
/// [`Policy::new`] validates it in one place.
#[derive(Debug, Clone, Default)]
pub struct PolicySettings {
    pub realm: Option<String>,
    pub service: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Option<u64>,
    pub depth: Option<u8>,
    pub default_namespace: Option<String>,
    /// Public chart repositories: name globs.
    pub public: Vec<String>,
}

/// A setting that cannot make a policy: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {why}")]
pub struct PolicyError {
    /// `leeway`, `depth`, `default_namespace` or `public`.
    pub setting: &'static str,
    pub why: String,
}

impl Policy {
    /// The one way to build a policy: from settings, validated.
    pub fn new(settings: PolicySettings) -> Result<Policy, PolicyError> {
        let defaults = Policy::default();
        let leeway = match settings.leeway {
            Some(secs) if secs > MAX_LEEWAY => {
                let why = format!("leeway {secs} s is above the maximum of {MAX_LEEWAY} s");
                return Err(PolicyError { setting: "leeway", why });
            }
            Some(secs) => secs,
            None => defaults.leeway,
        };
        let depth = match settings.depth {
            Some(n) => Depth::from_number(n)
                .ok_or_else(|| PolicyError { setting: "depth", why: format!("{n} is not 0, 1 or 2") })?,
            None => defaults.depth,
        };
        let default_repo = match settings.default_namespace {
            Some(name) => RepoName::parse(name.trim())
                .map_err(|e| PolicyError { setting: "default_namespace", why: e.to_string() })?,
            None => defaults.default_repo,
        };
        for glob in &settings.public {
            // A glob must be a valid name once its stars are replaced by a letter.
            RepoName::parse(&glob.replace('*', "x"))
                .map_err(|e| PolicyError { setting: "public", why: format!("{glob:?}: {e}") })?;
        }
        Ok(Policy {
            public: settings.public,
            realm: settings.realm.unwrap_or(defaults.realm),
            service: settings.service.unwrap_or(defaults.service),
            issuer: settings.issuer,
            audience: settings.audience,
            leeway,
            depth,
            default_repo,
        })
    }

    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// True when anyone may have `scope` without a token: a pull of a public chart repository, or
    /// of an OCI repository that lies in one. The globs name chart repositories only: an OCI name
    /// is public exactly when its chart repository ([`Layout::chart_of`]) is, so `*-public` never
    /// opens the chart `x-public` of a private repository, and an OCI name in no chart repository
    /// is never public.
    pub fn is_public(&self, scope: &Scope) -> bool {
        if scope.actions != Action::Pull.into() || self.public.is_empty() {
            return false;
        }
        match scope.kind {
            crate::scope::Kind::Chart => self.is_public_repo(scope.repo.as_str()),
            crate::scope::Kind::Oci => self.layout().chart_of(&scope.repo).is_some_and(|(r, _)| self.is_public_repo(r)),
        }
    }

    /// True when the chart repository `repo` matches a `public` glob.
    fn is_public_repo(&self, repo: &str) -> bool {
        self.public.iter().any(|g| crate::scope::glob_match(g.as_bytes(), repo.as_bytes()))
    }

    /// True when some repository is public (then `/v2/` answers without a token, so registry
    /// clients pull anonymously).
    pub fn has_public(&self) -> bool {
        !self.public.is_empty()
    }

    /// Where charts live: the depth and default repository, which also place OCI names.
    pub fn layout(&self) -> Layout<'_> {
        Layout { depth: self.depth, default_repo: &self.default_repo }
    }
}

/// The parts of an HTTP request the decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw (percent-encoded) path, without query.
    pub path: &'a str,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// `Authorization` header value.
    pub authorization: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// Splits `"GET /org1/repo1/index.yaml?token=…"` (a request line, as the CLI takes it).
    pub fn from_line(line: &'a str) -> Option<Request<'a>> {
        let (method, target) = line.trim().split_once(' ')?;
        let (path, query) = match target.trim().split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target.trim(), None),
        };
        Some(Request { method, path, query, authorization: None })
    }
}

/// A request whose route and credential have been read: everything decided without a key.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub path: NormalizedPath,
    pub route: Route,
    pub credential: Option<Credential>,
    /// A registry blob mount's source (`POST …/blobs/uploads/?mount=&from=`).
    pub mount: Option<MountSource>,
}

/// Where a blob mount reads from: the source OCI repository and the canonical path of the blob
/// read there (`/v2/<from>/blobs/<digest>`), which a `paths` binding must allow like any read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSource {
    pub from: RepoName,
    pub blob: NormalizedPath,
}

impl Prepared {
    /// The access the route needs (`None`: public route).
    pub fn required(&self) -> Option<Scope> {
        self.route.required()
    }

    /// The denial for a token that failed verification on this request.
    pub fn token_denial(&self, reason: Reason) -> Denial {
        Denial { scope: self.required(), via: self.credential.as_ref().map(|c| c.via), ..Denial::new(reason) }
    }
}

/// An allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub route: Route,
    /// The access that was needed and granted (`None` for public routes).
    pub scope: Option<Scope>,
    pub via: Option<Via>,
    pub sub: Option<String>,
    pub jti: Option<String>,
    /// Expiry of the token used.
    pub exp: Option<u64>,
    /// `jti`s of the tokens the token used was derived from.
    pub lineage: Vec<String>,
    /// The mount source of a registry upload, when the token may also pull from it (a mount the
    /// token cannot read from becomes a plain upload).
    pub mount_from: Option<RepoName>,
    /// True when the route needed no token (`/health`, a public repository).
    pub public: bool,
    /// For a workload token: the trust policy and rule that admitted it.
    pub trusted: Option<std::sync::Arc<crate::TrustedBy>>,
}

impl Grant {
    /// A public route (no token needed).
    pub fn public(route: Route) -> Self {
        Grant {
            route,
            scope: None,
            via: None,
            sub: None,
            jti: None,
            exp: None,
            lineage: Vec::new(),
            mount_from: None,
            public: true,
            trusted: None,
        }
    }

    /// The decision as JSON, as the CLI (`verify --json`) and the inspector page print it; for a
    /// workload token, the trust policy and rule that admitted it.
    pub fn to_json(&self) -> serde_json::Value {
        let scope = self.scope.as_ref().map(ToString::to_string);
        let trusted = self
            .trusted
            .as_deref()
            .map(|t| serde_json::json!({"policy": t.policy, "rule": t.rule, "issuer": t.issuer}));
        serde_json::json!({"valid": true, "allowed": true, "status": 200, "scope": scope, "sub": self.sub, "trusted": trusted})
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: Reason,
    /// The access the request needed, named in the challenge.
    pub scope: Option<Scope>,
    pub via: Option<Via>,
    /// Who held a verified token refused for scope, path or revocation (for audit logs).
    pub holder: Option<Box<Holder>>,
}

/// `sub` and `jti` of a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holder {
    pub sub: Option<String>,
    pub jti: Option<String>,
}

impl Denial {
    /// The decision as JSON, as the CLI (`verify --json`) and the inspector page print it: the
    /// status, reason and challenge the edge would send.
    pub fn to_json(&self, policy: &Policy) -> serde_json::Value {
        serde_json::json!({
            "valid": !self.reason.is_token_failure(),
            "allowed": false,
            "status": self.status(),
            "reason": self.reason.code(),
            "error_description": self.reason.to_string(),
            "www_authenticate": self.www_authenticate(policy),
        })
    }

    pub fn new(reason: Reason) -> Self {
        Denial { reason, scope: None, via: None, holder: None }
    }

    /// The HTTP status. A registry token lacking a scope is a 401 (as Docker distribution answers),
    /// so registry clients fetch a token with the scope named in the challenge.
    pub fn status(&self) -> u16 {
        match &self.reason {
            Reason::InsufficientScope(s) if s.kind == crate::scope::Kind::Oci => 401,
            r => r.status(),
        }
    }

    /// The `WWW-Authenticate` value, for 400 credential errors, 401 and 403.
    pub fn www_authenticate(&self, policy: &Policy) -> Option<String> {
        let oauth = match (&self.reason, self.reason.status()) {
            (Reason::InvalidRequest(_), _) | (_, 401 | 403) => self.reason.oauth_error(),
            _ => return None,
        };
        let mut v = format!(r#"Bearer realm="{}",service="{}""#, quote(&policy.realm), quote(&policy.service));
        if let Some(scope) = &self.scope {
            v.push_str(&format!(r#",scope="{scope}""#));
        }
        if let Some(error) = oauth {
            v.push_str(&format!(r#",error="{error}",error_description="{}""#, quote(&self.reason.to_string())));
        }
        Some(v)
    }

    /// The body in the OCI distribution spec's form, `{"errors": [{code, message, detail}]}`.
    pub fn registry_body(&self) -> String {
        let code = match &self.reason {
            Reason::Registry(e) => e.code(),
            Reason::MethodNotAllowed(_) | Reason::NotFound => "UNSUPPORTED",
            Reason::InsufficientScope(_) | Reason::PathNotBound | Reason::Revoked => "DENIED",
            _ => "UNAUTHORIZED",
        };
        let detail = serde_json::json!({"reason": self.reason.code()});
        serde_json::json!({"errors": [{"code": code, "message": self.reason.to_string(), "detail": detail}]})
            .to_string()
    }

    /// The JSON body: `{"error": …, "reason": …, "error_description": …}`.
    pub fn body(&self) -> String {
        let error = self.reason.oauth_error().map_or(self.reason.code().to_owned(), |e| e.to_string());
        serde_json::json!({"error": error, "reason": self.reason.code(), "error_description": self.reason.to_string()})
            .to_string()
    }
}

/// Makes text safe inside a quoted-string of a challenge.
fn quote(s: &str) -> String {
    s.chars().map(|c| if c == '"' || c == '\\' || c.is_control() { '\'' } else { c }).collect()
}

impl From<Reason> for Denial {
    fn from(reason: Reason) -> Self {
        Denial::new(reason)
    }
}

/// The request path made canonical: a registry path (`/v2/...`) under the registry's grammar,
/// any other under the chart routes' normalisation.
pub fn normalize(raw: &str) -> Result<NormalizedPath, Reason> {
    if crate::registry::is_registry_path(raw) {
        return Ok(crate::registry::canonical_path(raw)?);
    }
    Ok(NormalizedPath::parse(raw)?)
}

/// Step 1, no key needed: normalise the path, match the route, read the credential. A provenance
/// request as helm builds it for a `?token=` repository
/// ([`credential::helm_provenance_request`]) is read as the request it means.
pub fn prepare(req: &Request<'_>, policy: &Policy) -> Result<Prepared, Denial> {
    if let Some((path, query)) = credential::helm_provenance_request(req.path, req.query) {
        let meant = Request { path: &path, query: Some(&query), ..*req };
        return prepare_path(normalize(meant.path)?, &meant, policy);
    }
    prepare_path(normalize(req.path)?, req, policy)
}

/// The source of a blob mount request: `from` and the blob path `mount` names there (a mount whose
/// digest or source does not parse has none, and becomes a plain upload).
fn mount_source(route: &Route, query: Option<&str>) -> Option<MountSource> {
    if !matches!(route, Route::Registry { endpoint: crate::registry::Endpoint::StartUpload, .. }) {
        return None;
    }
    let pairs = query?.split('&').filter_map(|p| p.split_once('='));
    let (mut mount, mut from) = (None, None);
    for (k, v) in pairs {
        let v = percent_encoding::percent_decode_str(v).decode_utf8().ok()?;
        match k {
            "mount" => mount = crate::Digest::parse(&v).ok(),
            "from" => from = crate::scope::Kind::Oci.name(&v).ok(),
            _ => {}
        }
    }
    let (from, digest) = (from?, mount?);
    let blob = crate::registry::canonical_path(&format!("/v2/{from}/blobs/{digest}")).ok()?;
    Some(MountSource { from, blob })
}

/// [`prepare`] for a path the caller has already normalised (from `req.path`).
pub fn prepare_path(path: NormalizedPath, req: &Request<'_>, policy: &Policy) -> Result<Prepared, Denial> {
    let route = Route::parse(req.method, &path, policy.depth, &policy.default_repo)?;
    let scope = route.required();
    let public = match &scope {
        Some(scope) => policy.is_public(scope),
        None => route == Route::RegistryBase && policy.has_public(),
    };
    if public {
        // Anyone may: no credential is read, so none can fail.
        return Ok(Prepared { path, route, credential: None, mount: None });
    }
    let credential = credential::extract(req.authorization, req.query)
        .map_err(|e| Denial { scope: scope.clone(), ..Denial::new(e.into()) })?;
    if route.needs_token() && credential.is_none() {
        return Err(Denial { scope, ..Denial::new(Reason::MissingCredential) });
    }
    let mount = mount_source(&route, req.query);
    Ok(Prepared { path, route, credential, mount })
}

/// Step 3, after the signature: time, issuer, audience, access and path binding.
pub fn authorize(token: &VerifiedToken, prepared: &Prepared, policy: &Policy, now: u64) -> Result<Grant, Denial> {
    let claims = &token.claims;
    let scope = prepared.required();
    let via = prepared.credential.as_ref().map(|c| c.via);
    let deny = |reason| Denial {
        reason,
        scope: scope.clone(),
        via,
        holder: Some(Box::new(Holder { sub: claims.sub.clone(), jti: claims.jti.clone() })),
    };
    match &token.trusted {
        // A workload token's issuer and audience were checked against its trust policy.
        Some(_) => claims.check_times(policy.leeway, now),
        None => check_claims(claims, policy, now),
    }
    .map_err(deny)?;
    if let Some(required) = &scope {
        if !claims.access.grants(required, policy.layout()) {
            return Err(deny(Reason::InsufficientScope(required.clone())));
        }
    }
    if let Some(paths) = &claims.paths {
        if !paths.allows(&prepared.path) {
            return Err(deny(Reason::PathNotBound));
        }
    }
    Ok(Grant {
        route: prepared.route.clone(),
        scope,
        via,
        sub: claims.sub.clone(),
        jti: claims.jti.clone(),
        exp: Some(claims.exp),
        lineage: claims.lineage.clone(),
        // A mount reads its source: allowed only when the token may read that blob there, by every
        // dimension of the grant (access and path binding), as a GET of it would be.
        mount_from: prepared
            .mount
            .as_ref()
            .filter(|m| may_read(claims, &m.from, &m.blob, policy))
            .map(|m| m.from.clone()),
        public: false,
        trusted: claims.trust.clone(),
    })
}

/// True when verified `claims` may pull `path` of the OCI repository `repo` (a read a request
/// causes besides its own route: a blob mount's source).
fn may_read(claims: &crate::claims::Claims, repo: &RepoName, path: &NormalizedPath, policy: &Policy) -> bool {
    claims.access.grants(&Scope::oci(repo.clone(), Action::Pull), policy.layout())
        && claims.paths.as_ref().is_none_or(|p| p.allows(path))
}

/// Time, issuer and audience checks of verified claims.
pub fn check_claims(claims: &crate::claims::Claims, policy: &Policy, now: u64) -> Result<(), Reason> {
    claims.check_times(policy.leeway, now)?;
    if let Some(expected) = &policy.issuer {
        match &claims.iss {
            None => return Err(Reason::MissingClaim("iss")),
            Some(found) if found != expected => {
                return Err(Reason::WrongIssuer { expected: expected.clone(), found: found.chars().take(64).collect() })
            }
            Some(_) => {}
        }
    }
    if let Some(expected) = &policy.audience {
        match &claims.aud {
            None => return Err(Reason::MissingClaim("aud")),
            Some(aud) if !aud.contains(expected) => return Err(Reason::WrongAudience { expected: expected.clone() }),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The whole decision with a synchronous signature backend.
pub fn decide(
    req: &Request<'_>,
    keys: &KeySet,
    policy: &Policy,
    now: u64,
    backend: &impl SignatureVerifier,
) -> Result<Grant, Denial> {
    decide_trusted(req, keys, &crate::TrustPolicies::default(), &[], policy, now, backend)
}

/// [`decide`] accepting workload tokens too: `trust` are the trust policies and `trust_keys`
/// their keys, in the same order (a policy without keys refuses its tokens with 503
/// `keys_unavailable`).
pub fn decide_trusted(
    req: &Request<'_>,
    keys: &KeySet,
    trust: &crate::TrustPolicies,
    trust_keys: &[KeySet],
    policy: &Policy,
    now: u64,
    backend: &impl SignatureVerifier,
) -> Result<Grant, Denial> {
    let prepared = prepare(req, policy)?;
    let Some(credential) = &prepared.credential else { return Ok(Grant::public(prepared.route)) };
    let token = verify::verify_any(&credential.token, keys, trust, |i| trust_keys.get(i), backend, now, policy.leeway)
        .map_err(|reason| prepared.token_denial(reason))?;
    authorize(&token, &prepared, policy, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_without_credential_has_no_error() {
        let policy = Policy::default();
        let req = Request { method: "GET", path: "/org1/repo1/index.yaml", query: None, authorization: None };
        let d = prepare(&req, &policy).unwrap_err();
        assert_eq!(d.status(), 401);
        assert_eq!(
            d.www_authenticate(&policy).unwrap(),
            r#"Bearer realm="http://127.0.0.1:8788/oauth/token",service="chartgate",scope="artifact-repository:org1/repo1:pull""#
        );
        assert_eq!(serde_json::from_str::<serde_json::Value>(&d.body()).unwrap()["error"], "missing_credential");
    }

    #[test]
    fn public_routes_need_no_token() {
        let req = Request { method: "GET", path: "/health", query: None, authorization: None };
        struct Never;
        impl SignatureVerifier for Never {
            fn verify(&self, _: &crate::keys::PublicKey, _: &[u8], _: &[u8]) -> bool {
                unreachable!()
            }
        }
        let g = decide(&req, &KeySet::default(), &Policy::default(), 0, &Never).unwrap();
        assert_eq!(g.route, Route::Health);
    }

    #[test]
    fn hostile_paths_are_refused_before_credentials() {
        let req =
            Request { method: "GET", path: "/org1/%2e%2e/index.yaml", query: Some("token=x"), authorization: None };
        let d = prepare(&req, &Policy::default()).unwrap_err();
        assert_eq!((d.status(), d.reason.code()), (400, "bad_path"));
        assert_eq!(d.www_authenticate(&Policy::default()), None);
    }

    #[test]
    fn leeway_is_capped() {
        let leeway = |secs| Policy::new(PolicySettings { leeway: Some(secs), ..Default::default() });
        assert_eq!(leeway(MAX_LEEWAY + 1).unwrap_err().setting, "leeway");
        assert_eq!(leeway(0).unwrap().leeway(), 0);
        assert_eq!(Policy::new(PolicySettings::default()).unwrap(), Policy::default());
        let depth = Policy::new(PolicySettings { depth: Some(3), ..Default::default() }).unwrap_err();
        assert_eq!(depth.setting, "depth");
        let ns = Policy::new(PolicySettings { default_namespace: Some("A B".into()), ..Default::default() });
        assert_eq!(ns.unwrap_err().setting, "default_namespace");
    }

    #[test]
    fn a_public_glob_never_opens_a_chart_of_a_private_repository() {
        let policy = Policy::new(PolicySettings { public: vec!["*-public".into()], ..Default::default() }).unwrap();
        let oci = |n: &str| Scope::oci(RepoName::parse(n).unwrap(), Action::Pull);
        assert!(!policy.is_public(&oci("acme/charts/x-public")), "the chart's name matched, its repository does not");
        assert!(!policy.is_public(&Scope::new(RepoName::parse("acme/charts").unwrap(), Action::Pull)));
        assert!(policy.is_public(&oci("acme/team-public/x")), "a chart of a public repository is public");
        assert!(!policy.is_public(&oci("acme-public")), "an OCI name in no chart repository is never public");
        let anonymous = Request {
            method: "GET",
            path: "/v2/acme/charts/x-public/manifests/1.0.0",
            query: None,
            authorization: None,
        };
        assert_eq!(prepare(&anonymous, &policy).unwrap_err().reason, Reason::MissingCredential);
    }

    #[test]
    fn public_repositories_need_no_token_to_pull_and_one_to_push() {
        let policy = Policy::new(PolicySettings { public: vec!["oss/*".into()], ..Default::default() }).unwrap();
        let anonymous = |method: &'static str, path: &'static str| {
            prepare(&Request { method, path, query: None, authorization: None }, &policy)
        };
        for path in
            ["/oss/charts/index.yaml", "/oss/charts/charts/x-1.0.0.tgz", "/v2/", "/v2/oss/charts/x/manifests/1.0.0"]
        {
            let p = anonymous("GET", path).unwrap();
            assert!(p.credential.is_none(), "{path}");
        }
        let hostile = prepare(
            &Request { method: "GET", path: "/oss/charts/index.yaml", query: None, authorization: Some("Bogus") },
            &policy,
        );
        assert!(hostile.is_ok(), "a public pull reads no credential, so none can fail it");
        assert_eq!(anonymous("POST", "/api/oss/charts/charts").unwrap_err().reason, Reason::MissingCredential);
        assert_eq!(anonymous("PUT", "/v2/oss/charts/x/manifests/1.0.0").unwrap_err().reason, Reason::MissingCredential);
        assert_eq!(anonymous("GET", "/ossx/charts/index.yaml").unwrap_err().reason, Reason::MissingCredential);
        assert_eq!(anonymous("GET", "/v2/org1/repo1/x/tags/list").unwrap_err().reason, Reason::MissingCredential);
        assert!(!Policy::default().is_public(&Scope::new(RepoName::parse("oss/charts").unwrap(), Action::Pull)));
        let bad = Policy::new(PolicySettings { public: vec!["Oss/*".into()], ..Default::default() }).unwrap_err();
        assert_eq!(bad.setting, "public");
    }

    #[test]
    fn quotes_are_neutralised() {
        assert_eq!(quote("a\"b\\c\n"), "a'b'c'");
    }
}
