//! The issuer's TOML configuration: issuer and audience, lifetimes, the repository layout it
//! shares with the edge (`depth`, `default_namespace`), trusted proxies, keys (one active signing
//! key, retiring public keys still published), clients (hashed secrets, allowed scope patterns)
//! and trust policies (`[[trust]]`, and `[[sso]]` as they were first called: one rule language,
//! parsed and evaluated by the engine's [`crate::TrustPolicy`]). Every error names the file, the
//! line and the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::addr::TrustedProxies;
use super::grant::{Allowance, ScopePattern};
use super::secret::SecretHash;
use crate::{KeySet, Policy, PolicySettings, PublicKey, SigningKey};
use crate::{ParseOptions, RawPolicy, TrustPolicies, TrustPolicy};

/// A configuration error: where, which key, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {why}")]
pub struct ConfigFileError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Spanned<String>,
    audience: Option<String>,
    listen: Option<Spanned<String>>,
    default_ttl: Option<Spanned<String>>,
    max_ttl: Option<Spanned<String>>,
    url_ttl: Option<Spanned<String>>,
    depth: Option<Spanned<u8>>,
    default_namespace: Option<Spanned<String>>,
    #[serde(default)]
    trusted_proxies: Vec<Spanned<String>>,
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    clients: Vec<RawClient>,
    #[serde(default)]
    sso: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    trust: Vec<Spanned<RawPolicy>>,
    login: Option<Spanned<RawLogin>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    provider: String,
    client_id: String,
    scope: Option<String>,
    edges: Vec<String>,
    client_secret: Option<String>,
}

/// `[login]`: where `chartgate login` sends people. Published in this issuer's RFC 8414 metadata
/// as `login_provider`, `login_client_id` and `login_scope`; the client runs the RFC 8628 device
/// flow at the provider and exchanges the ID token here, under the trust policy of that provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProvider {
    /// The OpenID provider's issuer identifier (its discovery document is under it).
    pub provider: String,
    /// The public client registered at the provider for the device flow: the `aud` of its ID
    /// tokens.
    pub client_id: String,
    /// The scopes asked for (`openid offline_access` by default: an ID token and a refresh token).
    pub scope: String,
    /// For providers whose device-flow clients must send a secret even though it cannot be kept
    /// (Google's "TVs and Limited Input devices" clients, whose secret Google documents as not
    /// confidential): published with the rest, so never a secret that matters.
    pub client_secret: Option<String>,
    /// The edges people log in to through this issuer (`https://charts.example.com`), published
    /// as `login_edges`: `chartgate login` refuses an edge this list does not name, so an edge
    /// cannot borrow another organisation's issuer.
    pub edges: Vec<String>,
    /// The name of the trust policy that admits the provider's ID tokens: what it mints lives at
    /// most 15 minutes.
    pub policy: String,
}

/// The scopes `chartgate login` asks for unless `[login] scope` says otherwise.
pub const DEFAULT_LOGIN_SCOPE: &str = "openid offline_access";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    private: Option<Spanned<String>>,
    public: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: Spanned<String>,
    secret_hash: Spanned<String>,
    scopes: Vec<Spanned<String>>,
    max_ttl: Option<Spanned<String>>,
    #[serde(default)]
    bearer: bool,
}

/// A client of the token endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: SecretHash,
    pub allowance: Allowance,
    pub max_ttl: u64,
    /// May authenticate with `Authorization: Bearer <secret>` (the ChartMuseum example's master key).
    pub bearer: bool,
}

/// A trust policy and the extra CA its keys are fetched with.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    pub policy: TrustPolicy,
    /// Extra trusted CA (PEM) for the key URLs.
    pub ca_pem: Option<Vec<u8>>,
}

/// The validated configuration.
#[derive(Debug)]
pub struct IssuerConfig {
    pub issuer: String,
    pub audience: Option<String>,
    pub listen: String,
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub url_ttl: u64,
    /// How this issuer checks its own tokens and reads chart URLs: its issuer and audience, and the
    /// repository `depth` and `default_namespace` the edge is configured with (`DEPTH`,
    /// `DEFAULT_NAMESPACE`).
    pub policy: Policy,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` name the client. Default none.
    pub trusted_proxies: TrustedProxies,
    pub signing: SigningKey,
    /// Active and retiring public keys: the JWKS.
    pub published: KeySet,
    pub clients: Vec<Client>,
    /// Trust policies (`[[trust]]` and `[[sso]]`), in the file's order.
    pub trust: TrustPolicies,
    /// The extra CA of each policy, in the same order.
    pub trust_ca: Vec<Option<Vec<u8>>>,
    /// Where people log in (`[login]`), if they do.
    pub login: Option<LoginProvider>,
    /// True for the embedded development configuration.
    pub dev: bool,
    /// Settings that are allowed but weaken a check, to print at start-up.
    pub warnings: Vec<String>,
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    dir: PathBuf,
}

impl Ctx<'_> {
    /// `[login]`: the provider must be one a trust policy admits, for ID tokens of this client.
    fn login(&self, raw: &Spanned<RawLogin>, trust: &TrustPolicies) -> Result<LoginProvider, ConfigFileError> {
        let l = raw.get_ref();
        let at = |key: &str, why: String| self.err::<LoginProvider>(raw.span(), format!("login.{key}"), why);
        let provider = l.provider.trim_end_matches('/');
        if let Err(why) = crate::url_policy::check_url(provider) {
            return at("provider", why);
        }
        if l.client_id.is_empty() || l.client_id.chars().any(|c| c.is_control() || c == ' ') {
            return at("client_id", "must be the id of a public client registered at the provider".into());
        }
        let scope = l.scope.clone().unwrap_or_else(|| DEFAULT_LOGIN_SCOPE.to_owned());
        if !scope.split(' ').any(|s| s == "openid") {
            return at("scope", "must include `openid`: the exchange needs an ID token".into());
        }
        let mut policies = trust.policies().iter().filter(|p| p.issuer.trim_end_matches('/') == provider);
        let (Some(policy), None) = (policies.next(), policies.next()) else {
            if trust.policies().iter().filter(|p| p.issuer.trim_end_matches('/') == provider).count() > 1 {
                return at("provider", format!("several policies trust {provider:?}: keep one for people's logins"));
            }
            return at(
                "provider",
                format!(
                    "no [[trust]] or [[sso]] policy trusts {provider:?}: add one whose rules say what people may reach"
                ),
            );
        };
        if policy.audience.as_deref().is_some_and(|a| a != l.client_id) {
            return at(
                "client_id",
                format!(
                    "policy {:?} requires audience {:?}, but ID tokens for this client carry aud = {:?}",
                    policy.name,
                    policy.audience.as_deref().unwrap_or_default(),
                    l.client_id
                ),
            );
        }
        if l.edges.is_empty() {
            return at("edges", "name the edges people log in to (`edges = [\"https://charts.example.com\"]`)".into());
        }
        let edges = l
            .edges
            .iter()
            .map(|e| crate::native::login::edge_origin(e).map_err(|why| why.to_string()))
            .collect::<Result<Vec<_>, _>>();
        let edges = match edges {
            Ok(edges) => edges,
            Err(why) => return at("edges", why),
        };
        Ok(LoginProvider {
            provider: policy.issuer.clone(),
            client_id: l.client_id.clone(),
            scope,
            client_secret: l.client_secret.clone(),
            edges,
            policy: policy.name.clone(),
        })
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        why: impl Into<String>,
    ) -> Result<T, ConfigFileError> {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        Err(ConfigFileError { file: self.file.to_owned(), line, key: key.into(), why: why.into() })
    }

    fn ttl(&self, v: &Option<Spanned<String>>, key: &str, default: u64) -> Result<u64, ConfigFileError> {
        let Some(v) = v else { return Ok(default) };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if d >= Duration::from_secs(1) => Ok(d.as_secs()),
            Ok(_) => self.err(v.span(), key, "must be at least 1s"),
            Err(e) => self.err(v.span(), key, format!("{:?} is not a duration like 5m: {e}", v.get_ref())),
        }
    }

    fn read(&self, v: &Spanned<String>, key: &str) -> Result<String, ConfigFileError> {
        let path = self.dir.join(v.get_ref());
        std::fs::read_to_string(&path)
            .or_else(|e| self.err(v.span(), key, format!("cannot read {}: {e}", path.display())))
    }

    fn patterns(&self, list: &[Spanned<String>], key: &str) -> Result<Allowance, ConfigFileError> {
        let mut out = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match ScopePattern::parse(s.get_ref()) {
                Ok(p) => out.push(p),
                Err(e) => return self.err(s.span(), format!("{key}[{i}]"), e.to_string()),
            }
        }
        Ok(Allowance(out))
    }
}

impl Ctx<'_> {
    /// `default_ttl`, `max_ttl`, `url_ttl`.
    fn lifetimes(&self, raw: &RawConfig) -> Result<(u64, u64, u64), ConfigFileError> {
        let default_ttl = self.ttl(&raw.default_ttl, "default_ttl", crate::DEFAULT_TTL)?;
        let max_ttl = self.ttl(&raw.max_ttl, "max_ttl", 3600)?;
        let url_ttl = self.ttl(&raw.url_ttl, "url_ttl", crate::DEFAULT_URL_TTL)?;
        if default_ttl > max_ttl {
            let span = raw.default_ttl.as_ref().map_or(0..0, |s| s.span());
            return self.err(span, "default_ttl", "is longer than max_ttl");
        }
        Ok((default_ttl, max_ttl, url_ttl))
    }

    /// The policy of the issuer's own tokens: `issuer`, `audience`, and `depth` and
    /// `default_namespace` with the edge's meaning, validated by [`Policy::new`].
    fn policy(&self, raw: &RawConfig) -> Result<Policy, ConfigFileError> {
        let issuer = raw.issuer.get_ref();
        let settings = PolicySettings {
            realm: Some(format!("{}/oauth/token", issuer.trim_end_matches('/'))),
            issuer: Some(issuer.clone()),
            audience: raw.audience.clone(),
            depth: raw.depth.as_ref().map(|d| *d.get_ref()),
            default_namespace: raw.default_namespace.as_ref().map(|n| n.get_ref().clone()),
            ..Default::default()
        };
        Policy::new(settings).or_else(|e| {
            let span = match e.setting {
                "depth" => raw.depth.as_ref().map(Spanned::span),
                _ => raw.default_namespace.as_ref().map(Spanned::span),
            };
            self.err(span.unwrap_or(0..0), e.setting, format!("{} (as the edge's {})", e.why, e.setting.to_uppercase()))
        })
    }

    fn trusted_proxies(&self, list: &[Spanned<String>]) -> Result<TrustedProxies, ConfigFileError> {
        for (i, p) in list.iter().enumerate() {
            if let Err(e) = TrustedProxies::parse(&[p.get_ref()]) {
                return self.err(p.span(), format!("trusted_proxies[{i}]"), e);
            }
        }
        let entries: Vec<&String> = list.iter().map(Spanned::get_ref).collect();
        TrustedProxies::parse(&entries).or_else(|e| self.err(0..0, "trusted_proxies", e))
    }

    /// One signing key (published first) and the retiring public keys.
    fn keys(&self, keys: &[RawKey]) -> Result<(SigningKey, KeySet), ConfigFileError> {
        let mut signing = None;
        let mut published = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let key = format!("keys[{i}]");
            match (&k.private, &k.public) {
                (Some(p), None) => {
                    if signing.is_some() {
                        let why = "only one key may sign (the others are public)";
                        return self.err(p.span(), format!("{key}.private"), why);
                    }
                    let s = SigningKey::from_pem(&self.read(p, &format!("{key}.private"))?)
                        .or_else(|e| self.err(p.span(), format!("{key}.private"), e.to_string()))?;
                    published.insert(0, s.public());
                    signing = Some(s);
                }
                (None, Some(p)) => {
                    let set = KeySet::parse(&self.read(p, &format!("{key}.public"))?)
                        .or_else(|e| self.err(p.span(), format!("{key}.public"), e.to_string()))?;
                    published.extend(set.keys().iter().cloned());
                }
                _ => return self.err(0..0, key, "set exactly one of private or public"),
            }
        }
        let Some(signing) = signing else {
            return self.err(0..0, "keys", "no signing key: add [[keys]] private = \"private.pem\"");
        };
        let published = KeySet::new(dedup(published)).or_else(|e| self.err(0..0, "keys", e.to_string()))?;
        Ok((signing, published))
    }

    fn clients(&self, raw: &[RawClient], max_ttl: u64) -> Result<Vec<Client>, ConfigFileError> {
        let mut clients: Vec<Client> = Vec::new();
        for (i, c) in raw.iter().enumerate() {
            let key = format!("clients[{i}]");
            if c.id.get_ref().is_empty() || clients.iter().any(|o| o.id == *c.id.get_ref()) {
                return self.err(c.id.span(), format!("{key}.id"), "must be non-empty and unique");
            }
            let secret = c
                .secret_hash
                .get_ref()
                .parse()
                .or_else(|e| self.err(c.secret_hash.span(), format!("{key}.secret_hash"), e))?;
            let max_ttl = self.ttl(&c.max_ttl, &format!("{key}.max_ttl"), max_ttl)?.min(max_ttl);
            let allowance = self.patterns(&c.scopes, &format!("{key}.scopes"))?;
            clients.push(Client { id: c.id.get_ref().clone(), secret, allowance, max_ttl, bearer: c.bearer });
        }
        Ok(clients)
    }

    /// A `[[trust]]` (or `[[sso]]`) section: validated by the engine; its CA read here. An SSO
    /// provider may say `audience = "*"` (any application of the provider), with a warning.
    fn trust(
        &self,
        key: &str,
        raw: &Spanned<RawPolicy>,
        sso: bool,
        warnings: &mut Vec<String>,
    ) -> Result<TrustedIssuer, ConfigFileError> {
        let p = raw.get_ref();
        let options = ParseOptions { any_audience: sso, missing_audience: false };
        let policy = TrustPolicy::from_raw(p, key, options).or_else(|e| self.err(raw.span(), e.at, e.why))?;
        if policy.audience.is_none() {
            warnings.push(format!(
                "{}: {key}.audience = \"*\": ID tokens issued by {} to ANY application are accepted",
                self.file, p.issuer
            ));
        }
        let ca_pem = match &p.ca {
            None => None,
            Some(ca) => {
                let path = self.dir.join(ca);
                let pem = std::fs::read(&path).or_else(|e| {
                    self.err(raw.span(), format!("{key}.ca"), format!("cannot read {}: {e}", path.display()))
                })?;
                if reqwest::Certificate::from_pem(&pem).is_err() {
                    return self.err(raw.span(), format!("{key}.ca"), "not a PEM certificate");
                }
                Some(pem)
            }
        };
        Ok(TrustedIssuer { policy, ca_pem })
    }
}

impl IssuerConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError {
            file: file.clone(),
            line: 0,
            key: String::new(),
            why: e.to_string(),
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&file, &text, dir)
    }

    /// Validates configuration text; relative paths are taken from `dir`. One section at a time:
    /// lifetimes, repository layout, trusted proxies, keys, clients, SSO providers.
    pub fn parse(file: &str, text: &str, dir: PathBuf) -> Result<Self, ConfigFileError> {
        let ctx = Ctx { file, text, dir };
        let raw: RawConfig = toml::from_str(text).or_else(|e| {
            let span = e.span().unwrap_or(0..0);
            let why = e.message().to_owned();
            ctx.err(span, "toml", why)
        })?;
        if !raw.issuer.get_ref().starts_with("http") {
            return ctx.err(raw.issuer.span(), "issuer", "must be an http(s) URL");
        }
        let (default_ttl, max_ttl, url_ttl) = ctx.lifetimes(&raw)?;
        let policy = ctx.policy(&raw)?;
        let trusted_proxies = ctx.trusted_proxies(&raw.trusted_proxies)?;
        let (signing, published) = ctx.keys(&raw.keys)?;
        let clients = ctx.clients(&raw.clients, max_ttl)?;
        let mut warnings = Vec::new();
        let mut trusted = Vec::new();
        for (i, p) in raw.sso.iter().enumerate() {
            trusted.push((p.span(), ctx.trust(&format!("sso[{i}]"), p, true, &mut warnings)?));
        }
        for (i, p) in raw.trust.iter().enumerate() {
            trusted.push((p.span(), ctx.trust(&format!("trust[{i}]"), p, false, &mut warnings)?));
        }
        let trust_ca = trusted.iter().map(|(_, t)| t.ca_pem.clone()).collect();
        let spans: Vec<_> = trusted.iter().map(|(span, _)| span.clone()).collect();
        let trust = TrustPolicies::new(trusted.into_iter().map(|(_, t)| t.policy).collect()).or_else(|e| {
            let i: usize =
                e.at.trim_start_matches("policies[").split(']').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            ctx.err(spans.get(i).cloned().unwrap_or(0..0), "trust", e.why)
        })?;
        // The warnings `chartgate verify --trust` and the inspector page give about these policies.
        warnings.extend(trust.warnings().iter().map(ToString::to_string));
        if let Some(p) = trust.policies().iter().find(|p| p.issuer == *raw.issuer.get_ref()) {
            return ctx.err(raw.issuer.span(), "trust", format!("policy {:?} trusts this issuer itself", p.name));
        }
        let login = raw.login.as_ref().map(|l| ctx.login(l, &trust)).transpose()?;
        Ok(IssuerConfig {
            issuer: raw.issuer.into_inner(),
            audience: raw.audience,
            listen: raw.listen.map_or(DEFAULT_LISTEN.to_owned(), Spanned::into_inner),
            default_ttl,
            max_ttl,
            url_ttl,
            policy,
            trusted_proxies,
            signing,
            published,
            clients,
            trust,
            trust_ca,
            login,
            dev: false,
            warnings,
        })
    }

    /// The embedded development configuration: the key in `key_dir` (made if missing), and a
    /// client `dev` with secret `dev-secret` that may pull and push everything.
    pub fn dev(key_dir: &Path) -> Result<Self, String> {
        let private = key_dir.join("private.pem");
        let signing = if private.exists() {
            SigningKey::from_pem(&std::fs::read_to_string(&private).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?
        } else {
            let key = SigningKey::generate(2048).map_err(|e| e.to_string())?;
            std::fs::create_dir_all(key_dir).map_err(|e| e.to_string())?;
            write_private(&private, &key.private_pem().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            key
        };
        let published = KeySet::new(vec![signing.public()]).map_err(|e| e.to_string())?;
        let allowance =
            Allowance(vec![ScopePattern::parse("artifact-repository:*:pull,push").map_err(|e| e.to_string())?]);
        let issuer = format!("http://{DEFAULT_LISTEN}");
        let settings = PolicySettings {
            realm: Some(format!("{issuer}/oauth/token")),
            issuer: Some(issuer.clone()),
            ..Default::default()
        };
        let policy = Policy::new(settings).map_err(|e| e.to_string())?;
        Ok(IssuerConfig {
            issuer,
            audience: None,
            listen: DEFAULT_LISTEN.to_owned(),
            default_ttl: crate::DEFAULT_TTL,
            max_ttl: 3600,
            url_ttl: crate::DEFAULT_URL_TTL,
            policy,
            trusted_proxies: TrustedProxies::default(),
            signing,
            published,
            clients: vec![Client {
                id: "dev".into(),
                secret: SecretHash::new("dev-secret"),
                allowance,
                max_ttl: 3600,
                bearer: true,
            }],
            trust: TrustPolicies::default(),
            trust_ca: Vec::new(),
            login: None,
            dev: true,
            warnings: Vec::new(),
        })
    }
}

/// Writes a private key readable by its owner only (0600 on Unix), whoever makes it.
pub fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(pem.as_bytes())
}

fn dedup(keys: Vec<PublicKey>) -> Vec<PublicKey> {
    let mut out: Vec<PublicKey> = Vec::new();
    for k in keys {
        if !out.iter().any(|o| o.kid == k.kid) {
            out.push(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IssuerConfig, ConfigFileError> {
        IssuerConfig::parse("chartgate.toml", text, PathBuf::from("/nonexistent"))
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("issuer = \"http://x\"\nbogus = 1\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "toml"));
        assert!(e.to_string().starts_with("chartgate.toml:2: toml: unknown field `bogus`"), "{e}");
        let e = parse("issuer = \"http://x\"\n\ndefault_ttl = \"soon\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "default_ttl"));
        let e = parse("issuer = \"http://x\"\n[[keys]]\nprivate = \"missing.pem\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (3, "keys[0].private"));
        assert!(e.why.contains("cannot read /nonexistent/missing.pem"));
        let e = parse("issuer = \"ftp://x\"").unwrap_err();
        assert_eq!(e.key, "issuer");
        let e = parse("issuer = \"http://x\"\ndepth = 3\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "depth"));
        let e = parse("issuer = \"http://x\"\ndefault_namespace = \"Repo\"\n").unwrap_err();
        assert_eq!(e.key, "default_namespace");
        let e = parse("issuer = \"http://x\"\ntrusted_proxies = [\"10.0.0.0/8\", \"lb\"]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (2, "trusted_proxies[1]"));
    }

    /// Finding 9 of the second security round: SSO patterns matched anywhere in a value.
    #[test]
    fn finding_09_sso_patterns_match_whole_values() {
        let c = |pattern: &str, value: &str| {
            crate::Condition::new("c", pattern).unwrap().matches(&serde_json::json!({ "c": value }))
        };
        assert!(c("org1", "org1"));
        assert!(!c("org1", "evilorg1") && !c("org1", "org1-evil"));
        assert!(c("a|b", "b") && !c("a|b", "ab"), "the anchors bind the whole pattern");
        assert!(c(".*@example\\.com", "bob@example.com"));
        assert!(c("^platform$", "platform"), "patterns written with anchors keep working");
    }

    /// Finding 9 of the second security round: an SSO provider without `audience` accepted ID
    /// tokens issued to any application.
    #[test]
    fn finding_09_sso_audience_is_required() {
        let dir = std::env::temp_dir().join(format!("chartgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.pem"), crate::SigningKey::generate(2048).unwrap().private_pem().unwrap()).unwrap();
        let base = "issuer = \"http://x\"\n[[keys]]\nprivate = \"k.pem\"\n[[sso]]\nissuer = \"https://sso\"\njwks_url = \"https://sso/jwks\"\n";
        let e = IssuerConfig::parse("c.toml", base, dir.clone()).unwrap_err();
        assert_eq!(e.key, "sso[0].audience", "{e}");
        let any = IssuerConfig::parse("c.toml", &format!("{base}audience = \"*\"\n"), dir.clone()).unwrap();
        assert_eq!(any.trust.policies()[0].audience, None);
        assert!(any.warnings[0].contains("ANY application"), "{:?}", any.warnings);
        let one = IssuerConfig::parse("c.toml", &format!("{base}audience = \"chartgate\"\n"), dir).unwrap();
        assert_eq!(one.trust.policies()[0].audience.as_deref(), Some("chartgate"));
        assert!(one.warnings.is_empty());
    }

    /// The `[[sso]]` and `[[trust]]` sections of docs/chartgate.example.toml parse (one rule
    /// language for both), and the SSO rules written for the first version still match.
    #[test]
    fn documented_trust_and_sso_sections_parse() {
        let dir = std::env::temp_dir().join(format!("chartgate-example-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.pem"), crate::SigningKey::generate(2048).unwrap().private_pem().unwrap()).unwrap();
        let example = include_str!("../../../docs/chartgate.example.toml");
        let sections = &example[example.find("[[sso]]").unwrap()..];
        let text = format!("issuer = \"https://issuer.example\"\n[[keys]]\nprivate = \"k.pem\"\n{sections}");
        let c = IssuerConfig::parse("example.toml", &text, dir).unwrap();
        let names: Vec<_> = c.trust.policies().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["https://sso.example.com", "github"]);
        assert!(c.warnings.iter().all(|w| !w.contains("name_without_id")), "the example binds by id: {:?}", c.warnings);
        let platform = serde_json::json!({"groups": ["dev", "platform"]});
        assert!(c.trust.policies()[0].rules[0].when.iter().all(|cond| cond.matches(&platform)));
        let login = c.login.expect("the example's [login]");
        assert_eq!((login.provider.as_str(), login.client_id.as_str()), ("https://sso.example.com", "chartgate"));
        assert_eq!(login.scope, DEFAULT_LOGIN_SCOPE);
    }

    #[test]
    fn login_needs_a_policy_of_its_provider_for_its_client() {
        let dir = std::env::temp_dir().join(format!("chartgate-login-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("k.pem"), crate::SigningKey::generate(2048).unwrap().private_pem().unwrap()).unwrap();
        let base = "issuer = \"https://issuer.example\"\n[[keys]]\nprivate = \"k.pem\"\n[[trust]]\nname = \"people\"\nissuer = \"https://sso.example.com\"\naudience = \"cli\"\njwks_url = \"https://sso.example.com/jwks\"\n[[trust.rules]]\nmatch = { email = \"a@example\\\\.com\" }\nscopes = [\"artifact-repository:org1/repo1:pull\"]\n";
        let parse = |login: &str| IssuerConfig::parse("c.toml", &format!("{base}{login}"), dir.clone());
        let ok = parse("[login]\nprovider = \"https://sso.example.com/\"\nclient_id = \"cli\"\nscope = \"openid offline_access email\"\nedges = [\"HTTPS://Charts.example.com/\"]\n").unwrap();
        let login = ok.login.unwrap();
        assert_eq!(login.provider, "https://sso.example.com");
        assert_eq!(login.edges, ["https://charts.example.com"]);
        assert_eq!(login.policy, "people");
        for (login, key, why) in [
            (
                "provider = \"https://other.example.com\"\nclient_id = \"cli\"",
                "login.provider",
                "no [[trust]] or [[sso]] policy trusts",
            ),
            (
                "provider = \"https://sso.example.com\"\nclient_id = \"web\"",
                "login.client_id",
                "requires audience \"cli\"",
            ),
            ("provider = \"http://sso.example.com\"\nclient_id = \"cli\"", "login.provider", "not an https URL"),
            (
                "provider = \"https://sso.example.com\"\nclient_id = \"cli\"\nscope = \"email\"",
                "login.scope",
                "must include `openid`",
            ),
            (
                "provider = \"https://sso.example.com\"\nclient_id = \"cli\"\nedges = []",
                "login.edges",
                "name the edges",
            ),
            (
                "provider = \"https://sso.example.com\"\nclient_id = \"cli\"\nedges = [\"http://charts.example.com\"]",
                "login.edges",
                "plain http",
            ),
        ] {
            let login = if login.contains("edges") {
                login.to_owned()
            } else {
                format!("{login}\nedges = [\"https://charts.example.com\"]")
            };
            let e = parse(&format!("[login]\n{login}\n")).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.why.contains(why), "{e}");
        }
        assert!(parse("[login]\nprovider = \"https://sso.example.com\"\n").unwrap_err().why.contains("client_id"));
        // Two policies for the provider: which one caps people's tokens would be a guess.
        let twice = format!("{base}[[sso]]\nissuer = \"https://sso.example.com/\"\naudience = \"cli\"\njwks_url = \"https://sso.example.com/jwks\"\n[[sso.rules]]\nmatch = {{ sub = \"x\" }}\nscopes = [\"artifact-repository:org1/repo1:pull\"]\n[login]\nprovider = \"https://sso.example.com\"\nclient_id = \"cli\"\nedges = [\"https://charts.example.com\"]\n");
        let e = IssuerConfig::parse("c.toml", &twice, dir.clone()).unwrap_err();
        assert!(e.why.contains("several policies trust"), "{e}");
    }

    /// Finding 11 of the second security round: the development signing key was written
    /// world-readable.
    #[cfg(unix)]
    #[test]
    fn finding_11_dev_signing_key_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("chartgate-devkey-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        IssuerConfig::dev(&dir).unwrap();
        let mode = std::fs::metadata(dir.join("private.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }
}
