//! `chartgate login` for people, its rules: finding the issuer from the edge's challenge and
//! its RFC 8414 metadata (`login_provider`, `login_client_id`, `login_scope`), the OpenID
//! provider's discovery document, the RFC 8628 device authorization and its polling answers,
//! the refresh answer, and the login record kept per edge host (mode 0600, never printed).
//!
//! Everything here is pure and tested here; [`super::session`] does the I/O.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// RFC 8628 §3.4: the device code grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8693 §3: the type of an OpenID Connect ID token given as `subject_token`.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// RFC 8628 §3.2: the polling interval when the provider names none, in seconds.
pub const DEFAULT_INTERVAL: u64 = 5;
/// RFC 8628 §3.5: what `slow_down` adds to the interval, in seconds.
pub const SLOW_DOWN_STEP: u64 = 5;
/// An ID token with less than this left (seconds) is refreshed before it is used: it must
/// outlive the exchange and helm's own token request.
pub const ID_TOKEN_MARGIN: u64 = 60;

/// Why a login, or a credential from one, cannot be had. Messages never contain a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("{0}")]
    Discovery(String),
    #[error("the issuer {issuer} names no login provider: its configuration needs a [login] section (docs/login.md)")]
    NoLoginProvider { issuer: String },
    #[error("the provider {provider} does not offer the device flow (RFC 8628): no device_authorization_endpoint in its discovery document")]
    NoDeviceFlow { provider: String },
    #[error("{what} is unreachable: {why}")]
    Unreachable { what: String, why: String },
    #[error("the sign-in was denied at the provider: run `chartgate login {edge}` again to retry")]
    Denied { edge: String },
    #[error("the code expired before it was approved: run `chartgate login {edge}` again for a new one")]
    Expired { edge: String },
    #[error("the provider refused the device flow: {0}")]
    Refused(String),
    #[error("not logged in to {host}: run `chartgate login https://{host}`")]
    NotLoggedIn { host: String },
    #[error("your login to {host} has ended ({why}): run `chartgate login {edge}` again")]
    Ended { host: String, edge: String, why: String },
    #[error("{path}: {why}")]
    Record { path: String, why: String },
    #[error("the issuer refused your login: {0}")]
    Exchange(String),
    #[error("the provider refused to renew your login: {0}")]
    RefreshRefused(String),
    #[error("{path}: {why}")]
    Io { path: String, why: String },
}

/// Longest a device code is waited for, in seconds, whatever the provider says (30 minutes).
pub const MAX_CODE_LIFETIME: u64 = 1800;
/// Longest interval between polls, in seconds, whatever the provider says.
pub const MAX_INTERVAL: u64 = 60;

/// The issuer identifier a token endpoint (the challenge's `realm`) belongs to, and the RFC 8414
/// §3 metadata URL built from it: `https://iss.example.com/oauth/token` →
/// (`https://iss.example.com`, `https://iss.example.com/.well-known/oauth-authorization-server`);
/// an issuer with a path keeps it after the well-known segment.
///
/// # Errors
/// [`LoginError::Discovery`] for a realm that is not an https URL (http on loopback only) or
/// not a chartgate token endpoint (`…/oauth/token` or `…/token`).
pub fn issuer_of_realm(realm: &str) -> Result<(String, String), LoginError> {
    crate::url_policy::check_url(realm)
        .map_err(|e| LoginError::Discovery(format!("the edge's token endpoint: {e}")))?;
    let base = realm.split(['?', '#']).next().unwrap_or_default();
    let issuer = base.strip_suffix("/oauth/token").or_else(|| base.strip_suffix("/token")).ok_or_else(|| {
        LoginError::Discovery(format!("the edge names the token endpoint {realm:?}, which is not a chartgate issuer's"))
    })?;
    let (scheme, rest) = issuer.split_once("://").unwrap_or_default();
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.is_empty() {
        // The edge answers `/token` itself: no issuer, no login.
        return Err(LoginError::Discovery(format!("the edge names the token endpoint {realm:?}, which has no issuer")));
    }
    let path = if path.is_empty() { String::new() } else { format!("/{path}") };
    Ok((issuer.to_owned(), format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}")))
}

/// What the issuer's metadata tells a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerLogin {
    pub issuer: String,
    pub token_endpoint: String,
    pub provider: String,
    pub client_id: String,
    /// A device-flow client's published, not confidential secret (Google's), if it needs one.
    pub client_secret: Option<String>,
    pub scope: String,
}

fn string(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Reads the issuer's RFC 8414 metadata fetched for `issuer`, for a login through `edge` (an
/// [`edge_origin`]).
///
/// # Errors
/// A document of another issuer (§3.3), no `token_endpoint`, URLs that are not https (http on
/// loopback only), no `[login]` ([`LoginError::NoLoginProvider`]), or `edge` not among its
/// `login_edges`.
pub fn issuer_login(doc: &Value, issuer: &str, edge: &str) -> Result<IssuerLogin, LoginError> {
    let bad = |why: String| LoginError::Discovery(format!("the issuer's metadata at {issuer}: {why}"));
    let named = string(doc, "issuer").ok_or_else(|| bad("no `issuer`".into()))?;
    if !same_issuer(&named, issuer) {
        return Err(bad(format!("it is the metadata of {named:?} (RFC 8414 §3.3)")));
    }
    let token_endpoint = string(doc, "token_endpoint").ok_or_else(|| bad("no `token_endpoint`".into()))?;
    crate::url_policy::check_url(&token_endpoint).map_err(|e| bad(format!("token_endpoint: {e}")))?;
    let (Some(provider), Some(client_id)) = (string(doc, "login_provider"), string(doc, "login_client_id")) else {
        return Err(LoginError::NoLoginProvider { issuer: issuer.to_owned() });
    };
    crate::url_policy::check_url(&provider).map_err(|e| bad(format!("login_provider: {e}")))?;
    // An edge may name any issuer in its challenge: the issuer must say the edge is one of its own.
    let edges = doc.get("login_edges").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let listed = edges.iter().filter_map(Value::as_str).any(|e| edge_origin(e).is_ok_and(|e| e == edge));
    if !listed {
        return Err(LoginError::Discovery(format!(
            "the issuer {issuer} does not list {edge} among the edges it serves (its [login] edges): not logging in, \
             as that edge could be borrowing another organisation's sign-in"
        )));
    }
    let scope = string(doc, "login_scope").unwrap_or_else(|| "openid offline_access".to_owned());
    let client_secret = string(doc, "login_client_secret");
    Ok(IssuerLogin { issuer: issuer.to_owned(), token_endpoint, provider, client_id, client_secret, scope })
}

/// The endpoints of the OpenID provider a login uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    pub device_authorization: String,
    pub token: String,
    /// RFC 7009, when the provider offers it.
    pub revocation: Option<String>,
}

/// Reads the provider's discovery document (`{provider}/.well-known/openid-configuration`).
///
/// # Errors
/// Another issuer's document, no device flow ([`LoginError::NoDeviceFlow`]), endpoints that are
/// not https (http on loopback only).
pub fn provider_endpoints(doc: &Value, provider: &str) -> Result<ProviderEndpoints, LoginError> {
    let bad = |why: String| LoginError::Discovery(format!("the provider's discovery document at {provider}: {why}"));
    let named = string(doc, "issuer").unwrap_or_default();
    if !same_issuer(&named, provider) {
        return Err(bad(format!("it is the document of {named:?}")));
    }
    let device_authorization = string(doc, "device_authorization_endpoint")
        .ok_or_else(|| LoginError::NoDeviceFlow { provider: provider.to_owned() })?;
    let token = string(doc, "token_endpoint").ok_or_else(|| bad("no `token_endpoint`".into()))?;
    let revocation = string(doc, "revocation_endpoint");
    for url in [Some(&device_authorization), Some(&token), revocation.as_ref()].into_iter().flatten() {
        crate::url_policy::check_url(url).map_err(bad)?;
    }
    Ok(ProviderEndpoints { device_authorization, token, revocation })
}

/// RFC 8628 §3.2: the device authorization response.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    /// Seconds the codes live.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The device code is a bearer of the pending grant: never printed.
        f.debug_struct("DeviceAuthorization").field("user_code", &self.user_code).finish_non_exhaustive()
    }
}

impl DeviceAuthorization {
    /// # Errors
    /// A response without the fields §3.2 requires.
    pub fn parse(doc: &Value) -> Result<Self, LoginError> {
        let missing = |k: &str| LoginError::Refused(format!("the device authorization response has no `{k}`"));
        let verification_uri = string(doc, "verification_uri")
            // Google's documented spelling.
            .or_else(|| string(doc, "verification_url"))
            .ok_or_else(|| missing("verification_uri"))?;
        let verification_uri_complete = string(doc, "verification_uri_complete");
        // These are opened in a browser: web URLs only, never something a program reads as an option.
        for url in [Some(&verification_uri), verification_uri_complete.as_ref()].into_iter().flatten() {
            crate::url_policy::check_url(url).map_err(|e| {
                LoginError::Refused(format!("the verification URL: {}", super::credentials::printable(&e)))
            })?;
        }
        Ok(DeviceAuthorization {
            device_code: string(doc, "device_code").ok_or_else(|| missing("device_code"))?,
            user_code: string(doc, "user_code").ok_or_else(|| missing("user_code"))?,
            verification_uri_complete,
            verification_uri,
            expires_in: doc
                .get("expires_in")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("expires_in"))?
                .min(MAX_CODE_LIFETIME),
            interval: doc.get("interval").and_then(Value::as_u64).unwrap_or(DEFAULT_INTERVAL).clamp(1, MAX_INTERVAL),
        })
    }
}

/// The tokens a provider's token endpoint gives (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderTokens {
    pub id_token: String,
    /// Absent when the provider keeps the one it gave (no rotation).
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for ProviderTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderTokens { .. }")
    }
}

/// One answer to a device-code poll (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Approved.
    Done(ProviderTokens),
    /// `authorization_pending`: ask again after the interval.
    Pending,
    /// `slow_down`: ask again after the interval plus [`SLOW_DOWN_STEP`], from now on.
    SlowDown,
    /// The provider failed for now (a 5xx or 429): ask again, a few times at most.
    Unavailable(u16),
}

/// Reads a token endpoint's answer to a device-code poll from `edge`'s login.
///
/// # Errors
/// `access_denied` ([`LoginError::Denied`]), `expired_token` ([`LoginError::Expired`]), any other
/// error, or tokens without an ID token or a refresh token.
pub fn poll_answer(status: u16, doc: &Value, edge: &str) -> Result<Poll, LoginError> {
    if (200..300).contains(&status) {
        let tokens = provider_tokens(doc)?;
        if tokens.refresh_token.is_none() {
            return Err(LoginError::Refused(
                "the provider gave no refresh token: the login client needs the refresh_token grant and the offline_access scope".into(),
            ));
        }
        return Ok(Poll::Done(tokens));
    }
    if status >= 500 || status == 429 {
        return Ok(Poll::Unavailable(status));
    }
    match string(doc, "error").as_deref() {
        Some("authorization_pending") => Ok(Poll::Pending),
        Some("slow_down") => Ok(Poll::SlowDown),
        Some("access_denied") => Err(LoginError::Denied { edge: edge.to_owned() }),
        Some("expired_token") => Err(LoginError::Expired { edge: edge.to_owned() }),
        other => Err(LoginError::Refused(error_text(status, other, doc))),
    }
}

fn error_text(status: u16, error: Option<&str>, doc: &Value) -> String {
    let description = string(doc, "error_description").map(|d| format!(": {}", super::credentials::printable(&d)));
    format!(
        "{status} {}{}",
        super::credentials::printable(error.unwrap_or("(no error code)")),
        description.unwrap_or_default()
    )
}

/// The tokens of a successful answer: an ID token is required.
///
/// # Errors
/// [`LoginError::Refused`] without an `id_token`.
pub fn provider_tokens(doc: &Value) -> Result<ProviderTokens, LoginError> {
    let id_token = string(doc, "id_token")
        .ok_or_else(|| LoginError::Refused("the provider gave no ID token: the login scope needs `openid`".into()))?;
    Ok(ProviderTokens { id_token, refresh_token: string(doc, "refresh_token") })
}

/// Reads a token endpoint's answer to a refresh (RFC 6749 §6).
///
/// # Errors
/// `invalid_grant` (revoked, expired or reused: the login has ended) as [`LoginError::Ended`];
/// a 5xx or 429 as [`LoginError::Unreachable`]; any other refusal as
/// [`LoginError::RefreshRefused`].
pub fn refresh_answer(status: u16, doc: &Value, record: &LoginRecord) -> Result<ProviderTokens, LoginError> {
    if (200..300).contains(&status) {
        return provider_tokens(doc);
    }
    if status >= 500 || status == 429 {
        return Err(LoginError::Unreachable {
            what: format!("the login provider {}", record.provider),
            why: format!("it answered {status}"),
        });
    }
    let error = string(doc, "error");
    if error.as_deref() == Some("invalid_grant") {
        return Err(LoginError::Ended {
            host: record.host.clone(),
            edge: record.edge.clone(),
            why: "the provider no longer accepts its refresh token".into(),
        });
    }
    Err(LoginError::RefreshRefused(error_text(status, error.as_deref(), doc)))
}

/// A public client's own parameters in a request to the provider (RFC 6749 §2.3.1): its
/// `client_id`, and the `client_secret` some providers want even from clients that cannot keep
/// one (Google's device-flow clients).
pub fn client_params<'a>(id: &'a str, secret: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
    let mut params = vec![("client_id", id)];
    if let Some(secret) = secret {
        params.push(("client_secret", secret));
    }
    params
}

/// The readable claims of an ID token (its payload, not verified: the issuer verifies it when it
/// is exchanged). Used for `exp` and for saying who is logged in.
pub fn id_token_claims(id_token: &str) -> Value {
    crate::dangerous_decode(id_token).map(|(_, claims)| claims).unwrap_or_default()
}

/// Who an ID token names: `email`, else `preferred_username`, else `sub`.
pub fn who(claims: &Value) -> String {
    ["email", "preferred_username", "sub"]
        .iter()
        .find_map(|k| string(claims, k))
        .map(|s| super::credentials::printable(&s))
        .unwrap_or_else(|| "(unnamed)".into())
}

/// What `chartgate login` keeps for one edge host. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRecord {
    /// The edge host (`charts.example.com`, `127.0.0.1:8787`), lower-cased.
    pub host: String,
    /// The edge's URL as given to `login` (`https://charts.example.com`).
    pub edge: String,
    /// The issuer's identifier and the token endpoint where ID tokens are exchanged.
    pub issuer: String,
    pub token_endpoint: String,
    /// The OpenID provider, its public client and endpoints.
    pub provider: String,
    pub client_id: String,
    /// The device-flow client's published secret, for providers that want one (Google).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub provider_token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub refresh_token: String,
    /// The last ID token, reused while it has more than [`ID_TOKEN_MARGIN`] seconds left.
    pub id_token: String,
    /// UNIX seconds of the login.
    pub logged_in_at: u64,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("host", &self.host)
            .field("issuer", &self.issuer)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl LoginRecord {
    /// The cached ID token when it has more than [`ID_TOKEN_MARGIN`] seconds left at `now`.
    pub fn fresh_id_token(&self, now: u64) -> Option<&str> {
        let exp = id_token_claims(&self.id_token).get("exp").and_then(Value::as_u64)?;
        (exp > now + ID_TOKEN_MARGIN).then_some(self.id_token.as_str())
    }

    /// Takes a refresh's tokens (a rotated refresh token replaces the old one).
    pub fn renewed(&mut self, tokens: ProviderTokens) {
        self.id_token = tokens.id_token;
        if let Some(r) = tokens.refresh_token {
            self.refresh_token = r;
        }
    }

    /// Reads a record file's text.
    ///
    /// # Errors
    /// [`LoginError::Record`] for text that is not a record (never quoting it).
    pub fn parse(path: &Path, text: &str) -> Result<Self, LoginError> {
        serde_json::from_str(text).map_err(|e| LoginError::Record {
            path: path.display().to_string(),
            why: format!(
                "is not a chartgate login (line {}, column {}): run `chartgate logout` and log in again",
                e.line(),
                e.column()
            ),
        })
    }
}

/// The directory of login records: `$XDG_CONFIG_HOME/chartgate/logins`, or
/// `~/.config/chartgate/logins`.
pub fn logins_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    super::credentials::default_config_path(env).and_then(|p| p.parent().map(|d| d.join("logins")))
}

/// The record file of `host` in `dir`: the host with `:` as `_` (`127.0.0.1_8787.json`).
///
/// # Errors
/// [`LoginError::Discovery`] for a host with characters a host name cannot have.
pub fn record_path(dir: &Path, host: &str) -> Result<PathBuf, LoginError> {
    let valid = !host.is_empty()
        && !host.starts_with('.')
        && host.len() <= 255
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(LoginError::Discovery(format!("{:?} is not a host name", super::credentials::printable(host))));
    }
    Ok(dir.join(format!("{}.json", host.replace(':', "_"))))
}

/// The edge URL `chartgate login` was given, normalised: a bare host is `https://host`; only
/// the scheme and authority are kept.
///
/// # Errors
/// [`LoginError::Discovery`] for another scheme, user information, or plain http to another
/// machine.
pub fn edge_origin(url: &str) -> Result<String, LoginError> {
    crate::url_policy::origin(url).map_err(LoginError::Discovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_issuer_is_found_from_the_realm() {
        assert_eq!(
            issuer_of_realm("https://iss.example.com/oauth/token").unwrap(),
            ("https://iss.example.com".into(), "https://iss.example.com/.well-known/oauth-authorization-server".into())
        );
        assert_eq!(
            issuer_of_realm("https://example.com/charts/token?x=1").unwrap().1,
            "https://example.com/.well-known/oauth-authorization-server/charts"
        );
        assert_eq!(issuer_of_realm("http://127.0.0.1:9/oauth/token").unwrap().0, "http://127.0.0.1:9");
        for bad in
            ["http://iss.example.com/oauth/token", "https://iss.example.com/authorize", "ftp://x/token", "/token"]
        {
            assert!(matches!(issuer_of_realm(bad), Err(LoginError::Discovery(_))), "{bad}");
        }
    }

    #[test]
    fn issuer_metadata_is_of_the_issuer_and_names_the_login() {
        let doc = json!({"issuer": "https://iss.example.com", "token_endpoint": "https://iss.example.com/oauth/token",
            "login_provider": "https://sso.example.com", "login_client_id": "chartgate-cli", "login_edges": ["https://charts.example.com"]});
        let edge = "https://charts.example.com";
        let l = issuer_login(&doc, "https://iss.example.com/", edge).unwrap();
        let borrowed =
            issuer_login(&doc, "https://iss.example.com", "https://evil.example.com").unwrap_err().to_string();
        assert!(borrowed.contains("does not list https://evil.example.com"), "{borrowed}");
        assert_eq!(
            (l.provider.as_str(), l.client_id.as_str(), l.scope.as_str()),
            ("https://sso.example.com", "chartgate-cli", "openid offline_access")
        );
        let mut other = doc.clone();
        other["issuer"] = "https://evil.example.com".into();
        assert!(
            matches!(issuer_login(&other, "https://iss.example.com", edge), Err(LoginError::Discovery(m)) if m.contains("8414"))
        );
        let mut none = doc.clone();
        none.as_object_mut().unwrap().remove("login_provider");
        assert!(matches!(
            issuer_login(&none, "https://iss.example.com", edge),
            Err(LoginError::NoLoginProvider { .. })
        ));
        assert_eq!(l.client_secret, None);
        let mut google = doc.clone();
        google["login_client_secret"] = "published".into();
        let g = issuer_login(&google, "https://iss.example.com", edge).unwrap();
        assert_eq!(
            client_params(&g.client_id, g.client_secret.as_deref()),
            [("client_id", "chartgate-cli"), ("client_secret", "published")]
        );
        assert_eq!(client_params("cli", None), [("client_id", "cli")]);
        let mut plain = doc;
        plain["login_provider"] = "http://sso.example.com".into();
        assert!(issuer_login(&plain, "https://iss.example.com", edge).is_err());
    }

    #[test]
    fn provider_discovery_needs_the_device_flow() {
        let doc = json!({"issuer": "https://sso.example.com", "token_endpoint": "https://sso.example.com/token",
            "device_authorization_endpoint": "https://sso.example.com/device/auth", "revocation_endpoint": "https://sso.example.com/revoke"});
        let e = provider_endpoints(&doc, "https://sso.example.com").unwrap();
        assert_eq!(e.revocation.as_deref(), Some("https://sso.example.com/revoke"));
        let mut no_device = doc.clone();
        no_device.as_object_mut().unwrap().remove("device_authorization_endpoint");
        assert!(matches!(
            provider_endpoints(&no_device, "https://sso.example.com"),
            Err(LoginError::NoDeviceFlow { .. })
        ));
        assert!(provider_endpoints(&doc, "https://other.example.com").is_err());
    }

    #[test]
    fn device_authorization_defaults_and_hides_the_device_code() {
        let d = DeviceAuthorization::parse(&json!({"device_code": "secret-dc", "user_code": "ABCD-EFGH",
            "verification_uri": "https://sso/device", "expires_in": 600}))
        .unwrap();
        assert_eq!(d.interval, DEFAULT_INTERVAL);
        assert!(!format!("{d:?}").contains("secret-dc"));
        assert!(
            DeviceAuthorization::parse(&json!({"user_code": "x", "verification_uri": "u", "expires_in": 1})).is_err()
        );
        let g = DeviceAuthorization::parse(&json!({"device_code": "d", "user_code": "u", "verification_url": "https://g/device", "expires_in": 1, "interval": 0})).unwrap();
        assert_eq!((g.verification_uri.as_str(), g.interval), ("https://g/device", 1));
        // A hostile provider: an option for the browser, a file, absurd times.
        for uri in [
            "--renderer-cmd-prefix=/tmp/evil.sh",
            "file:///etc/passwd",
            "http://sso.example.com/device",
            "https://sso/\x1b]0;x\x07",
        ] {
            let doc = json!({"device_code": "d", "user_code": "u", "verification_uri": "https://sso/device", "verification_uri_complete": uri, "expires_in": 1});
            assert!(DeviceAuthorization::parse(&doc).is_err(), "{uri}");
        }
        let long = DeviceAuthorization::parse(&json!({"device_code": "d", "user_code": "u", "verification_uri": "https://g/device", "expires_in": u64::MAX, "interval": 100_000_000_000u64})).unwrap();
        assert_eq!((long.expires_in, long.interval), (MAX_CODE_LIFETIME, MAX_INTERVAL));
    }

    #[test]
    fn every_polling_answer_of_rfc_8628() {
        let edge = "https://charts.example.com";
        assert_eq!(poll_answer(400, &json!({"error": "authorization_pending"}), edge), Ok(Poll::Pending));
        assert_eq!(poll_answer(400, &json!({"error": "slow_down"}), edge), Ok(Poll::SlowDown));
        assert!(matches!(poll_answer(400, &json!({"error": "access_denied"}), edge), Err(LoginError::Denied { .. })));
        assert!(matches!(poll_answer(400, &json!({"error": "expired_token"}), edge), Err(LoginError::Expired { .. })));
        let other = poll_answer(400, &json!({"error": "invalid_client", "error_description": "no\x1b[31m such"}), edge);
        assert!(
            matches!(&other, Err(LoginError::Refused(m)) if m.contains("invalid_client") && !m.contains('\x1b')),
            "{other:?}"
        );
        let done = poll_answer(200, &json!({"id_token": "i", "refresh_token": "r"}), edge).unwrap();
        assert_eq!(done, Poll::Done(ProviderTokens { id_token: "i".into(), refresh_token: Some("r".into()) }));
        assert!(
            poll_answer(200, &json!({"id_token": "i"}), edge).is_err(),
            "a login without a refresh token cannot renew"
        );
        assert!(poll_answer(200, &json!({"access_token": "a", "refresh_token": "r"}), edge).is_err());
        assert_eq!(poll_answer(502, &Value::Null, edge), Ok(Poll::Unavailable(502)));
        assert_eq!(poll_answer(429, &Value::Null, edge), Ok(Poll::Unavailable(429)));
    }

    fn record(id_token: &str) -> LoginRecord {
        LoginRecord {
            host: "charts.example.com".into(),
            edge: "https://charts.example.com".into(),
            issuer: "https://iss".into(),
            token_endpoint: "https://iss/oauth/token".into(),
            provider: "https://sso".into(),
            client_id: "cli".into(),
            client_secret: None,
            provider_token_endpoint: "https://sso/token".into(),
            revocation_endpoint: None,
            refresh_token: "refresh-secret".into(),
            id_token: id_token.into(),
            logged_in_at: 1,
        }
    }

    fn unsigned(claims: Value) -> String {
        use base64::Engine as _;
        let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.sig", b(&json!({"alg": "RS256"})), b(&claims))
    }

    #[test]
    fn a_refresh_renews_or_ends_the_login() {
        let mut r = record(&unsigned(json!({"exp": 1000, "email": "a@example.com"})));
        assert!(r.fresh_id_token(900).is_some());
        assert!(r.fresh_id_token(1000 - ID_TOKEN_MARGIN).is_none());
        assert_eq!(who(&id_token_claims(&r.id_token)), "a@example.com");
        let ended = refresh_answer(400, &json!({"error": "invalid_grant"}), &r);
        assert!(matches!(&ended, Err(LoginError::Ended { .. })));
        assert!(ended.unwrap_err().to_string().contains("chartgate login https://charts.example.com"));
        assert!(matches!(refresh_answer(503, &Value::Null, &r), Err(LoginError::Unreachable { .. })));
        assert!(matches!(
            refresh_answer(400, &json!({"error": "invalid_client"}), &r),
            Err(LoginError::RefreshRefused(_))
        ));
        r.renewed(refresh_answer(200, &json!({"id_token": "new"}), &r).unwrap());
        assert_eq!((r.id_token.as_str(), r.refresh_token.as_str()), ("new", "refresh-secret"));
        r.renewed(ProviderTokens { id_token: "n2".into(), refresh_token: Some("rotated".into()) });
        assert_eq!(r.refresh_token, "rotated");
        assert!(!format!("{r:?}").contains("rotated") && !format!("{r:?}").contains("n2"));
    }

    #[test]
    fn records_are_named_by_host_and_read_strictly() {
        let dir = Path::new("/x/logins");
        assert_eq!(record_path(dir, "127.0.0.1:8787").unwrap(), dir.join("127.0.0.1_8787.json"));
        for bad in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(record_path(dir, bad).is_err(), "{bad}");
        }
        let r = record("t");
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(LoginRecord::parse(dir, &text).unwrap(), r);
        let broken = LoginRecord::parse(dir, "{\"host\": \"refresh-secret-in-here").unwrap_err().to_string();
        assert!(broken.contains("not a chartgate login") && !broken.contains("refresh-secret"), "{broken}");
    }

    #[test]
    fn edge_urls_are_normalised() {
        assert_eq!(edge_origin("charts.example.com").unwrap(), "https://charts.example.com");
        assert_eq!(edge_origin("HTTPS://Charts.Example.com/org1/repo1").unwrap(), "https://charts.example.com");
        assert_eq!(edge_origin("http://127.0.0.1:8787/").unwrap(), "http://127.0.0.1:8787");
        for bad in ["http://charts.example.com", "https://u:p@charts.example.com", "ftp://x", "https://"] {
            assert!(edge_origin(bad).is_err(), "{bad}");
        }
    }
}
