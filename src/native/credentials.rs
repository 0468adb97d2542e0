//! Credentials that renew themselves, on the client: the Docker credential-helper protocol
//! (`docker-credential-chartgate get|store|erase|list`, which helm, oras and docker run for the
//! hosts their configuration's `credHelpers` names), answered from a source that gives a fresh
//! credential each time: a CI job's or a pod's workload token (GitHub Actions' token service, a
//! GitLab `id_tokens` variable, a projected service-account token file), or a client id and
//! secret from a configuration file. Nothing long-lived is written by helm.
//!
//! The rules (which source serves a host, the protocol's answers, the configuration's checks)
//! are pure and tested here; the CLI does the I/O.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The message the protocol prescribes when a helper has nothing for a host: clients then go on
/// anonymously.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The username a workload token is presented with (any would do: the edge and the issuer read
/// the password).
pub const WORKLOAD_USERNAME: &str = "oidc";

/// Why no credential can be given. [`HelperError::NotFound`] is the protocol's "not found".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelperError {
    #[error("{NOT_FOUND}")]
    NotFound,
    #[error("{path}: {why}")]
    Config { path: String, why: String },
    #[error("{0}")]
    Source(String),
    #[error("unknown action {0:?}: use get, store, erase or list")]
    Action(String),
}

/// Where a host's credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// GitHub Actions' token service (`ACTIONS_ID_TOKEN_REQUEST_URL` and
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present with `permissions: id-token: write`), asked for
    /// a token with this audience.
    GithubActions { audience: String },
    /// A token in an environment variable (GitLab's `id_tokens:`).
    Variable(String),
    /// A token in a file, read each time (a Kubernetes projected service-account token, which the
    /// kubelet renews in place).
    File(PathBuf),
    /// A client of the issuer: its id, its secret read from a file, and the token endpoint its
    /// secret may be sent to (`None`: any `https` realm the edge's challenge names).
    Client { id: String, secret_file: PathBuf, issuer: Option<String> },
}

/// One `[[registry]]` of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    host: String,
    source: String,
    audience: Option<String>,
    variable: Option<String>,
    token_file: Option<PathBuf>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    issuer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    registry: Vec<RawRegistry>,
}

/// The client configuration: which source serves which host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientConfig {
    pub registries: Vec<(String, Source)>,
    /// The issuer named for a host (`issuer`), the one token endpoint besides the edge's own
    /// `/token` that the host's credential may be sent to.
    pub issuers: std::collections::BTreeMap<String, String>,
}

/// The host of a server URL as clients give it (`https://charts.example.com/v2/`,
/// `charts.example.com:8443`, `charts.example.com`), lower-cased.
pub fn host_of(server_url: &str) -> String {
    let s = server_url.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    s.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase()
}

impl ClientConfig {
    /// Parses the configuration text of `path` (TOML). Relative files are read from `dir`.
    ///
    /// # Errors
    /// [`HelperError::Config`] naming the file and the entry.
    pub fn parse(path: &str, text: &str, dir: &Path) -> Result<Self, HelperError> {
        let err = |why: String| HelperError::Config { path: path.to_owned(), why };
        // The message and its line only: the parser's excerpt of the file could hold a secret.
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            err(format!("line {line}: {}", e.message()))
        })?;
        let mut registries = Vec::new();
        let mut issuers = std::collections::BTreeMap::new();
        for (i, r) in raw.registry.iter().enumerate() {
            let at = |why: &str| err(format!("registry[{i}] ({}): {why}", r.host));
            let host = host_of(&r.host);
            if host.is_empty() {
                return Err(at("host is empty"));
            }
            let source = match r.source.as_str() {
                "github-actions" => {
                    Source::GithubActions { audience: r.audience.clone().unwrap_or_else(|| format!("https://{host}")) }
                }
                "variable" => {
                    let name = r.variable.clone().ok_or_else(|| at("source variable needs `variable`"))?;
                    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && name.len() <= 64
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if !valid {
                        // Never echo it: a token pasted here by mistake would end in a log.
                        return Err(at("`variable` must be the name of an environment variable, not its value"));
                    }
                    Source::Variable(name)
                }
                "file" => {
                    Source::File(dir.join(r.token_file.clone().ok_or_else(|| at("source file needs `token_file`"))?))
                }
                "client" => Source::Client {
                    id: r.client_id.clone().ok_or_else(|| at("source client needs `client_id`"))?,
                    secret_file: dir.join(
                        r.client_secret_file.clone().ok_or_else(|| at("source client needs `client_secret_file`"))?,
                    ),
                    issuer: {
                        let issuer = r.issuer.as_deref().ok_or_else(|| {
                            at("source client needs `issuer`: the issuer's URL, the only place its secret is sent")
                        })?;
                        crate::url_policy::check_url(issuer).map_err(|e| at(&format!("issuer: {e}")))?;
                        Some(issuer.trim_end_matches('/').to_owned())
                    },
                },
                other => return Err(at(&format!("source {other:?} is not github-actions, variable, file or client"))),
            };
            if registries.iter().any(|(h, _)| *h == host) {
                return Err(at("this host is configured twice"));
            }
            if let Some(issuer) = &r.issuer {
                crate::url_policy::check_url(issuer).map_err(|e| at(&format!("issuer: {e}")))?;
                issuers.insert(host.clone(), issuer.trim_end_matches('/').to_owned());
            }
            registries.push((host, source));
        }
        Ok(ClientConfig { registries, issuers })
    }

    /// The source configured for `host`, if any. No host gets a credential it was not configured
    /// for: a chart's dependency can name any `chartgate://` host, and a job's token (with its
    /// repository, ref and actor) is not for whoever asks.
    pub fn source_for(&self, host: &str) -> Option<Source> {
        let host = host_of(host);
        self.registries.iter().find(|(h, _)| *h == host).map(|(_, s)| s.clone())
    }

    /// The issuer configured for `host`, if any.
    pub fn issuer_for(&self, host: &str) -> Option<&str> {
        self.issuers.get(&host_of(host)).map(String::as_str)
    }
}

/// The origin of the registry a credential helper is asked for (`charts.example.com`,
/// `https://charts.example.com/v2/`, `127.0.0.1:8787`): the scheme given, else `https`, or `http`
/// for a host on this machine (a local edge), where helm's `--plain-http` goes.
///
/// # Errors
/// A server that names no host, or plain `http` to another machine.
pub fn registry_origin(server_url: &str) -> Result<String, HelperError> {
    let server = server_url.trim();
    let url = if server.contains("://") {
        server.to_owned()
    } else if crate::url_policy::is_loopback(&host_of(server)) {
        format!("http://{server}")
    } else {
        format!("https://{server}")
    };
    crate::url_policy::origin(&url).map_err(HelperError::Source)
}

/// Whether a workload token may be answered for a registry whose challenge names `realm`: the
/// registry's own token endpoint (same origin: the edge's `/token`), or one under the `issuer`
/// configured for the host. Anywhere else the token (with the job's repository, ref and actor)
/// would be handed to a party nobody chose.
///
/// # Errors
/// Why not, naming the realm.
pub fn check_workload_realm(realm: &str, registry: &str, issuer: Option<&str>) -> Result<(), HelperError> {
    crate::url_policy::check_url(realm)
        .map_err(|e| HelperError::Source(format!("the token endpoint the registry names: {e}")))?;
    let own = realm.strip_prefix(registry).is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
    if own || issuer.is_some_and(|i| check_realm(realm, Some(i)).is_ok()) {
        return Ok(());
    }
    Err(HelperError::Source(format!(
        "the registry {registry} names the token endpoint {:?}, neither its own nor the issuer configured for it (`issuer`): the workload token is not handed out",
        printable(realm)
    )))
}

/// Reads a secret file through one handle: not a symbolic link, readable by its owner only (as
/// ssh refuses a key others may read), at most 64 KiB. Its content is never part of an error.
///
/// # Errors
/// [`HelperError::Config`] naming the file and why.
pub fn read_private(path: &Path) -> Result<String, HelperError> {
    use std::io::Read as _;
    let link = std::fs::symlink_metadata(path).map_err(|e| config_error(path, e.to_string()))?;
    if link.file_type().is_symlink() {
        return Err(config_error(path, "is a symbolic link: name the secret file itself".into()));
    }
    // Opened without following a link, so the checks below are of the file read.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(path).map_err(|e| config_error(path, e.to_string()))?;
    let meta = file.metadata().map_err(|e| config_error(path, e.to_string()))?;
    check_mode(path, &meta, 0o077, "lets others read it: chmod 600 it")?;
    let mut text = String::new();
    file.take(64 * 1024).read_to_string(&mut text).map_err(|_| config_error(path, "is not UTF-8 text".into()))?;
    Ok(text.trim().to_owned())
}

/// Refuses a configuration file others may change (it says where secrets are sent).
///
/// # Errors
/// [`HelperError::Config`] naming the file and its mode.
pub fn check_not_writable_by_others(path: &Path) -> Result<(), HelperError> {
    let meta = std::fs::metadata(path).map_err(|e| config_error(path, e.to_string()))?;
    check_mode(path, &meta, 0o022, "lets others change it: chmod go-w it")
}

fn config_error(path: &Path, why: String) -> HelperError {
    HelperError::Config { path: path.display().to_string(), why }
}

#[cfg_attr(not(unix), allow(unused_variables))]
fn check_mode(path: &Path, meta: &std::fs::Metadata, forbidden: u32, why: &str) -> Result<(), HelperError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & forbidden != 0 {
            return Err(config_error(path, format!("mode {mode:o} {why}")));
        }
    }
    Ok(())
}

pub use crate::url_policy::printable;

/// The `get` answer: `{"ServerURL", "Username", "Secret"}`.
pub fn get_answer(server_url: &str, username: &str, secret: &str) -> String {
    serde_json::json!({"ServerURL": server_url, "Username": username, "Secret": secret}).to_string()
}

/// The `list` answer: every configured host, named by this helper.
pub fn list_answer(config: &ClientConfig) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        config.registries.iter().map(|(h, _)| (h.clone(), serde_json::Value::from("chartgate"))).collect();
    serde_json::Value::Object(map).to_string()
}

/// The URL of GitHub Actions' token service for `audience` (its request URL already has a
/// query: `…?api-version=2.0`).
pub fn github_request_url(request_url: &str, audience: &str) -> String {
    let sep = if request_url.contains('?') { '&' } else { '?' };
    let audience: String =
        percent_encoding::utf8_percent_encode(audience, percent_encoding::NON_ALPHANUMERIC).collect();
    format!("{request_url}{sep}audience={audience}")
}

/// The default configuration file: `$XDG_CONFIG_HOME/chartgate/config.toml`, or
/// `~/.config/chartgate/config.toml`.
pub fn default_config_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("chartgate").join("config.toml"))
}

/// The URL a helm downloader plugin is asked for, as the HTTP(S) URL to fetch:
/// `chartgate://host/path` is `https://host/path`, `chartgate+http://host/path` (a local edge)
/// is `http://host/path`.
///
/// # Errors
/// Another scheme.
pub fn getter_target(url: &str) -> Result<String, HelperError> {
    let refuse = |why: &str| Err(HelperError::Source(format!("{url:?} {why}")));
    let (scheme, rest) = match (url.strip_prefix("chartgate://"), url.strip_prefix("chartgate+http://")) {
        (Some(rest), _) => ("https", rest),
        (_, Some(rest)) => ("http", rest),
        _ => return refuse("is not a chartgate:// or chartgate+http:// URL"),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return refuse("must name a host, without user information");
    }
    // Credentials travel in clear over http: only to this machine.
    if scheme == "http" && !crate::url_policy::is_loopback(rest) {
        return refuse("uses plain http to another machine: use chartgate:// (https)");
    }
    Ok(format!("{scheme}://{rest}"))
}

/// Whether a client's secret may be sent to the token endpoint `realm` a challenge names: an
/// `https` URL (plain `http` only on this machine), and under the configured `issuer` when one is.
///
/// # Errors
/// Why not, naming the realm (never the secret).
pub fn check_realm(realm: &str, issuer: Option<&str>) -> Result<(), HelperError> {
    crate::url_policy::check_url(realm)
        .map_err(|e| HelperError::Source(format!("the token endpoint the edge names: {e}")))?;
    if let Some(issuer) = issuer {
        let under = realm.strip_prefix(issuer).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !under {
            return Err(HelperError::Source(format!(
                "the edge names the token endpoint {realm:?}, not one of the configured issuer {issuer:?}: the client secret is not sent"
            )));
        }
    }
    Ok(())
}

/// A `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge (RFC 6750 §3, the
/// Docker token flow's form).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

impl Challenge {
    /// Parses a Bearer challenge; `None` for another scheme or without a realm.
    pub fn parse(value: &str) -> Option<Challenge> {
        let (scheme, params) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut c = Challenge::default();
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let after = after.trim_start();
            let (value, tail) = match after.strip_prefix('"') {
                Some(quoted) => {
                    let end = quoted.find('"')?;
                    (&quoted[..end], &quoted[end + 1..])
                }
                None => after.split_once(',').map_or((after, ""), |(v, t)| (v, t)),
            };
            match key.trim() {
                "realm" => c.realm = value.to_owned(),
                "service" => c.service = Some(value.to_owned()),
                "scope" => c.scope = Some(value.to_owned()),
                _ => {}
            }
            rest = tail.trim_start().trim_start_matches(',').trim_start();
        }
        (!c.realm.is_empty()).then_some(c)
    }
}

/// Longest a token a client asks the issuer for lives, in seconds (15 minutes).
pub const CLIENT_TOKEN_TTL: u64 = 900;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClientConfig, HelperError> {
        ClientConfig::parse("config.toml", text, Path::new("/etc/chartgate"))
    }

    #[test]
    fn hosts_as_clients_name_them() {
        assert_eq!(host_of("https://Charts.Example.com/v2/"), "charts.example.com");
        assert_eq!(host_of("charts.example.com:8443"), "charts.example.com:8443");
        assert_eq!(host_of("127.0.0.1:8787"), "127.0.0.1:8787");
        assert_eq!(host_of("http://127.0.0.1:8787?x"), "127.0.0.1:8787");
    }

    #[test]
    fn each_host_has_its_source() {
        let c = parse(
            r#"
[[registry]]
host = "https://charts.example.com"
source = "github-actions"
[[registry]]
host = "gl.example.com"
source = "variable"
variable = "CHARTS_TOKEN"
[[registry]]
host = "k8s.example.com"
source = "file"
token_file = "/var/run/secrets/charts/token"
[[registry]]
host = "ci.example.com"
source = "client"
client_id = "ci"
client_secret_file = "ci.secret"
issuer = "https://auth.example.com/"
"#,
        )
        .unwrap();
        assert_eq!(
            c.source_for("charts.example.com"),
            Some(Source::GithubActions { audience: "https://charts.example.com".into() })
        );
        assert_eq!(c.source_for("https://gl.example.com/v2/"), Some(Source::Variable("CHARTS_TOKEN".into())));
        assert_eq!(c.source_for("k8s.example.com"), Some(Source::File("/var/run/secrets/charts/token".into())));
        assert_eq!(
            c.source_for("ci.example.com"),
            Some(Source::Client {
                id: "ci".into(),
                secret_file: "/etc/chartgate/ci.secret".into(),
                issuer: Some("https://auth.example.com".into())
            })
        );
        assert_eq!(c.source_for("other.example.com"), None, "the protocol's not found: helm goes anonymous");
        assert_eq!(list_answer(&c).matches("chartgate").count(), 4);
    }

    #[test]
    fn broken_configurations_say_what_is_wrong() {
        for (text, says) in [
            ("[[registry]]\nhost = \"a\"\nsource = \"magic\"\n", "is not github-actions"),
            ("[[registry]]\nhost = \"a\"\nsource = \"variable\"\n", "needs `variable`"),
            ("[[registry]]\nhost = \"a\"\nsource = \"client\"\nclient_id = \"c\"\n", "needs `client_secret_file`"),
            ("[[registry]]\nhost = \"a\"\nsource = \"client\"\nclient_id = \"c\"\nclient_secret_file = \"s\"\n", "needs `issuer`"),
            ("[[registry]]\nhost = \"a\"\nsource = \"client\"\nclient_id = \"c\"\nclient_secret_file = \"s\"\nissuer = \"http://auth.example.com\"\n", "issuer:"),
            ("[[registry]]\nhost = \"a\"\nsource = \"variable\"\nvariable = \"eyJhbGciOi.SECRET.sig\"\n", "not its value"),
            ("[[registry]]\nhost = \"a\"\nclient_secret = \"SUPERSECRET\"\n", "line 3"),
            ("[[registry]]\nhost = \"\"\nsource = \"file\"\ntoken_file = \"t\"\n", "host is empty"),
            ("[[registry]]\nhost = \"a\"\nsource = \"file\"\ntoken_file = \"t\"\n[[registry]]\nhost = \"A\"\nsource = \"file\"\ntoken_file = \"t\"\n", "twice"),
            ("[[registry]]\nhost = \"a\"\nsorce = \"file\"\n", "unknown field"),
            ("not toml [", "config.toml"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(says) && e.starts_with("config.toml"), "{text}: {e}");
            assert!(!e.contains("SECRET"), "a secret in the file is never echoed: {e}");
        }
    }

    #[test]
    fn protocol_answers() {
        let v: serde_json::Value = serde_json::from_str(&get_answer("charts.example.com", "oidc", "t.o.k")).unwrap();
        assert_eq!(v, serde_json::json!({"ServerURL": "charts.example.com", "Username": "oidc", "Secret": "t.o.k"}));
        assert_eq!(HelperError::NotFound.to_string(), "credentials not found in native keychain");
        assert_eq!(
            github_request_url("https://gh.example/idtoken?api-version=2.0", "https://charts.example.com"),
            "https://gh.example/idtoken?api-version=2.0&audience=https%3A%2F%2Fcharts%2Eexample%2Ecom"
        );
        let home = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(default_config_path(home), Some("/home/u/.config/chartgate/config.toml".into()));
    }

    #[test]
    fn getter_urls_and_challenges() {
        assert_eq!(
            getter_target("chartgate://charts.example.com/org1/repo1/index.yaml").unwrap(),
            "https://charts.example.com/org1/repo1/index.yaml"
        );
        assert_eq!(
            getter_target("chartgate+http://127.0.0.1:8787/a/b/charts/x-1.0.0.tgz").unwrap(),
            "http://127.0.0.1:8787/a/b/charts/x-1.0.0.tgz"
        );
        assert!(getter_target("https://x/y").is_err());
        for bad in [
            "chartgate+http://charts.example.com/a",
            "chartgate://charts.example.com@evil.example/a",
            "chartgate://u:p@charts.example.com/a",
            "chartgate:///a",
            "chartgate+http://127.0.0.1@evil.example/a",
        ] {
            assert!(getter_target(bad).is_err(), "{bad}");
        }
        assert!(check_realm("https://auth.example.com/oauth/token", None).is_ok());
        assert!(check_realm("http://auth.example.com/oauth/token", None).is_err(), "a secret never goes over http");
        assert!(check_realm("http://127.0.0.1:8788/oauth/token", None).is_ok());
        assert!(check_realm("https://auth.example.com/oauth/token", Some("https://auth.example.com")).is_ok());
        assert!(check_realm("https://auth.example.com.evil/oauth/token", Some("https://auth.example.com")).is_err());
        assert!(check_realm("https://evil.example/steal", Some("https://auth.example.com")).is_err());
        let c = Challenge::parse(r#"Bearer realm="https://auth.example/oauth/token",service="chartgate",scope="artifact-repository:org1/repo1:pull",error="invalid_token""#).unwrap();
        assert_eq!(c.realm, "https://auth.example/oauth/token");
        assert_eq!(c.service.as_deref(), Some("chartgate"));
        assert_eq!(c.scope.as_deref(), Some("artifact-repository:org1/repo1:pull"));
        assert_eq!(Challenge::parse("Basic realm=\"x\""), None);
        assert_eq!(Challenge::parse("Bearer service=\"x\""), None, "no realm");
        assert_eq!(Challenge::parse("Bearer realm=\"unterminated"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("chartgate-secret-{}", std::process::id()));
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_private(&path).unwrap_err().to_string();
        assert!(e.contains("chmod 600") && !e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&path).unwrap(), "s3cret");
        let link = path.with_extension("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(read_private(&link).unwrap_err().to_string().contains("symbolic link"));
        assert_eq!(printable("\u{1b}[2Jok\n"), "[2Jok");
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}
