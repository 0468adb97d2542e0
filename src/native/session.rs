//! `chartgate login`, `logout` and `login --status`, and the fresh credential a login gives the
//! credential helper and the helm plugin: the HTTP and file I/O around the rules of
//! [`super::login`]. The refresh token lives in one record file per edge host (mode 0600 in a
//! 0700 directory, replaced atomically, refreshed under a file lock so that helm's parallel
//! fetches never spend a rotated refresh token twice). No token is printed or logged.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::credentials::{self, Challenge, CLIENT_TOKEN_TTL};
use super::login::{
    self, DeviceAuthorization, LoginError, LoginRecord, Poll, ProviderEndpoints, DEVICE_CODE_GRANT, ID_TOKEN_TYPE,
    SLOW_DOWN_STEP,
};

/// RFC 8693 §2.1.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Largest JSON answer read from a provider or the issuer.
const MAX_ANSWER: usize = 1 << 20;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The HTTP client of logins: no redirects (every URL comes from a document of the party it
/// names), bounded time.
fn client() -> Result<reqwest::Client, LoginError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| LoginError::Unreachable { what: "the HTTP client".into(), why: e.to_string() })
}

/// A transport error with its causes (`error sending request: … Connection refused`), without
/// the URL (it may carry a token in its query).
fn transport(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    if let Some(url) = e.url() {
        why = why.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !why.contains(&text) {
            why = format!("{why}: {text}");
        }
        source = cause.source();
    }
    why
}

/// Sends `request` and reads its JSON answer: `(status, document)`; a body that is not JSON is
/// an empty document.
async fn json_answer(what: &str, request: reqwest::RequestBuilder) -> Result<(u16, Value), LoginError> {
    let unreachable = |e: reqwest::Error| LoginError::Unreachable { what: what.to_owned(), why: transport(&e) };
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(LoginError::Unreachable { what: what.to_owned(), why: "the answer is too large".into() });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A discovery document: a 2xx JSON object, or why not.
async fn document(http: &reqwest::Client, what: &str, url: &str) -> Result<Value, LoginError> {
    let (status, doc) = json_answer(what, http.get(url)).await?;
    if !(200..300).contains(&status) || !doc.is_object() {
        return Err(LoginError::Unreachable { what: what.to_owned(), why: format!("{url} answered {status}") });
    }
    Ok(doc)
}

/// The edge's answer to `GET {edge}/v2/`: its status and its Bearer challenge, which names the
/// token endpoint of its issuer.
async fn edge_challenge(http: &reqwest::Client, edge: &str) -> Result<(u16, Option<Challenge>), LoginError> {
    let response = http
        .get(format!("{edge}/v2/"))
        .send()
        .await
        .map_err(|e| LoginError::Unreachable { what: format!("the edge {edge}"), why: transport(&e) })?;
    let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).and_then(Challenge::parse);
    Ok((response.status().as_u16(), challenge))
}

/// The issuer's refusal of an exchange, as its error body says it (never quoting a token).
fn issuer_refusal(status: u16, doc: &Value) -> LoginError {
    let why = doc
        .get("error_description")
        .or_else(|| doc.get("error"))
        .and_then(Value::as_str)
        .map_or(format!("{status}"), |d| format!("{status} {}", credentials::printable(d)));
    LoginError::Exchange(why)
}

/// How `chartgate login` talks to the person.
pub struct Prompt<'a> {
    /// Where instructions go (stderr).
    pub out: &'a mut dyn std::io::Write,
    /// Opens the verification URL in a browser, when there is one.
    pub open_browser: bool,
}

/// `chartgate login EDGE`: discovers the issuer from the edge's challenge and the login provider
/// from the issuer's metadata, runs the device flow, checks the issuer admits the ID token, and
/// keeps the login in `dir`. Returns the record and its file.
///
/// # Errors
/// Every [`LoginError`]: the edge, issuer or provider unreachable or not what they should be,
/// the person denying or letting the code expire, the issuer refusing the identity.
pub async fn login(edge: &str, dir: &Path, prompt: Prompt<'_>) -> Result<(LoginRecord, PathBuf), LoginError> {
    let edge = login::edge_origin(edge)?;
    let host = credentials::host_of(&edge);
    let path = login::record_path(dir, &host)?;
    let http = client()?;
    // The edge names its token endpoint in the challenge of any registry request.
    let (status, challenge) = edge_challenge(&http, &edge).await?;
    let Some(challenge) = challenge.filter(|_| status == 401) else {
        return Err(LoginError::Discovery(format!(
            "{edge}/v2/ answered {status} without a Bearer challenge: is {edge} a chartgate edge?"
        )));
    };
    let (issuer, metadata_url) = login::issuer_of_realm(&challenge.realm)?;
    let issuer_login = login::issuer_login(&document(&http, "the issuer", &metadata_url).await?, &issuer, &edge)?;
    let discovery = format!("{}/.well-known/openid-configuration", issuer_login.provider.trim_end_matches('/'));
    let endpoints = login::provider_endpoints(
        &document(&http, &format!("the login provider {}", issuer_login.provider), &discovery).await?,
        &issuer_login.provider,
    )?;
    let mut form = login::client_params(&issuer_login.client_id, issuer_login.client_secret.as_deref());
    form.push(("scope", issuer_login.scope.as_str()));
    let (status, doc) =
        json_answer("the login provider", http.post(&endpoints.device_authorization).form(&form)).await?;
    if !(200..300).contains(&status) {
        return Err(login::poll_answer(status, &doc, &edge)
            .err()
            .unwrap_or_else(|| LoginError::Refused(format!("the device authorization answered {status}"))));
    }
    let device = DeviceAuthorization::parse(&doc)?;
    tell(prompt, &device);
    let client = login::client_params(&issuer_login.client_id, issuer_login.client_secret.as_deref());
    let tokens = poll(&http, &endpoints, &client, &device, &edge).await?;
    let record = LoginRecord {
        host,
        edge: edge.clone(),
        issuer: issuer_login.issuer,
        token_endpoint: issuer_login.token_endpoint,
        provider: issuer_login.provider,
        client_id: issuer_login.client_id,
        client_secret: issuer_login.client_secret,
        provider_token_endpoint: endpoints.token,
        revocation_endpoint: endpoints.revocation,
        refresh_token: tokens.refresh_token.unwrap_or_default(),
        id_token: tokens.id_token,
        logged_in_at: now(),
    };
    // The issuer must admit this identity now, not at the first helm command.
    match exchange(&http, &record, &record.id_token, None).await {
        Ok(_) | Err(Exchange::NeedsScope) => {}
        Err(Exchange::Refused(e)) => return Err(e),
    }
    let _lock = lock(&path)?;
    save(&path, &record)?;
    Ok((record, path))
}

fn tell(prompt: Prompt<'_>, device: &DeviceAuthorization) {
    let minutes = device.expires_in.div_ceil(60);
    let url = device.verification_uri_complete.as_deref().unwrap_or(&device.verification_uri);
    let _ = writeln!(
        prompt.out,
        "To sign in, open {}\nand check that it shows the code {} (it expires in {minutes} minute{}).",
        credentials::printable(url),
        credentials::printable(&device.user_code),
        if minutes == 1 { "" } else { "s" }
    );
    let _ = writeln!(prompt.out, "Waiting for you to approve...");
    if prompt.open_browser {
        open_browser(url);
    }
}

/// Opens `url` with `$BROWSER`, else the desktop's opener when a display is present; silently
/// nothing otherwise (the URL is printed).
fn open_browser(url: &str) {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let program = env("BROWSER").or_else(|| {
        if cfg!(target_os = "macos") {
            Some("open".into())
        } else if env("DISPLAY").is_some() || env("WAYLAND_DISPLAY").is_some() {
            Some("xdg-open".into())
        } else {
            None
        }
    });
    if let Some(program) = program {
        let _ = std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// RFC 8628 §3.4–3.5: polls until approved, denied or expired, slowing down when asked.
async fn poll(
    http: &reqwest::Client,
    endpoints: &ProviderEndpoints,
    client: &[(&'static str, &str)],
    device: &DeviceAuthorization,
    edge: &str,
) -> Result<login::ProviderTokens, LoginError> {
    // The provider says when the code has expired (`expired_token`); this deadline only guards
    // against one that never does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(device.expires_in + 2 * device.interval);
    let mut interval = device.interval;
    let mut failures = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() >= deadline {
            return Err(LoginError::Expired { edge: edge.to_owned() });
        }
        let mut form = vec![("grant_type", DEVICE_CODE_GRANT), ("device_code", device.device_code.as_str())];
        form.extend_from_slice(client);
        let (status, doc) = json_answer("the login provider", http.post(&endpoints.token).form(&form)).await?;
        match login::poll_answer(status, &doc, edge)? {
            Poll::Done(tokens) => return Ok(tokens),
            Poll::Pending => failures = 0,
            Poll::SlowDown => interval = (interval + SLOW_DOWN_STEP).min(login::MAX_INTERVAL),
            Poll::Unavailable(status) => {
                failures += 1;
                if failures >= 3 {
                    return Err(LoginError::Unreachable {
                        what: "the login provider".into(),
                        why: format!("it answered {status} three times in a row"),
                    });
                }
            }
        }
    }
}

enum Exchange {
    /// The rule grants patterns: a token needs a named scope.
    NeedsScope,
    Refused(LoginError),
}

/// RFC 8693 at the issuer: the ID token for a chartgate token of `scope` (the rule's exact
/// grant without one), at most 15 minutes. Returns the token and the issuer's answer.
async fn exchange(
    http: &reqwest::Client,
    record: &LoginRecord,
    id_token: &str,
    scope: Option<&str>,
) -> Result<(String, Value), Exchange> {
    let ttl = CLIENT_TOKEN_TTL.to_string();
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", id_token),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("expires_in", ttl.as_str()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let (status, doc) =
        json_answer("the issuer", http.post(&record.token_endpoint).form(&form)).await.map_err(Exchange::Refused)?;
    match doc.get("access_token").and_then(Value::as_str) {
        Some(token) if (200..300).contains(&status) => Ok((token.to_owned(), doc.clone())),
        _ if scope.is_none() && doc.get("error").and_then(Value::as_str) == Some("invalid_request") => {
            Err(Exchange::NeedsScope)
        }
        _ => Err(Exchange::Refused(issuer_refusal(status, &doc))),
    }
}

/// Writes `record` to `path` (0600, in a 0700 directory): a new file renamed over the old one,
/// so a reader never sees half a record.
fn save(path: &Path, record: &LoginRecord) -> Result<(), LoginError> {
    let fail = |why: String| LoginError::Io { path: path.display().to_string(), why };
    let dir = path.parent().ok_or_else(|| fail("has no directory".into()))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| fail(e.to_string()))?;
    let text = serde_json::to_string_pretty(record).map_err(|e| fail(e.to_string()))?;
    let temp = path.with_extension(format!("{TEMP_PREFIX}{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temp).and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(fail(e.to_string()));
    }
    Ok(())
}

/// Reads the record at `path`: refused unless 0600 and not a symbolic link (as ssh refuses a
/// key), then parsed strictly. `Ok(None)` when there is none.
///
/// # Errors
/// [`LoginError::Record`] naming the file and why, never its content.
pub fn load(path: &Path) -> Result<Option<LoginRecord>, LoginError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    let text = credentials::read_private(path).map_err(|e| LoginError::Record {
        path: path.display().to_string(),
        why: match e {
            credentials::HelperError::Config { why, .. } => why,
            other => other.to_string(),
        },
    })?;
    LoginRecord::parse(path, &text).map(Some)
}

/// The extension of a record being written (`HOST.tmpPID`), removed by `logout`.
const TEMP_PREFIX: &str = "tmp";

/// Holds the exclusive lock of the record at `path` (`HOST.lock`, mode 0600, never through a
/// symbolic link) until dropped. Renewals, `login` and `logout` take it, so a renewal can neither
/// spend a refresh token another has rotated nor write back a login that was logged out. The
/// directory must be its owner's only.
fn lock(path: &Path) -> Result<std::fs::File, LoginError> {
    let fail = |p: &Path, why: String| LoginError::Record { path: p.display().to_string(), why };
    let dir = path.parent().ok_or_else(|| fail(path, "has no directory".into()))?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| LoginError::Io { path: dir.display().to_string(), why: e.to_string() })?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| fail(dir, e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(fail(dir, "is a symbolic link: logins are kept in a directory of their own".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(fail(dir, format!("mode {mode:o} lets others change it: chmod 700 it")));
        }
    }
    let lock_path = path.with_extension("lock");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let file = options.open(&lock_path).map_err(|e| fail(&lock_path, e.to_string()))?;
    file.lock().map_err(|e| fail(&lock_path, format!("cannot lock it: {e}")))?;
    Ok(file)
}

/// A fresh ID token of the login at `path`: the kept one while it has a minute left, else one
/// from a refresh (a rotated refresh token is kept), under an exclusive lock of the record.
///
/// # Errors
/// [`LoginError::Ended`] when the provider refuses the refresh token, or it is unreachable.
pub async fn fresh_id_token(path: &Path) -> Result<(LoginRecord, String), LoginError> {
    let _lock = lock(path)?;
    let host = path.file_stem().map(|s| s.to_string_lossy().replace('_', ":")).unwrap_or_default();
    let mut record = load(path)?.ok_or(LoginError::NotLoggedIn { host })?;
    if let Some(token) = record.fresh_id_token(now()) {
        let token = token.to_owned();
        return Ok((record, token));
    }
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", record.refresh_token.as_str())];
    form.extend(login::client_params(&record.client_id, record.client_secret.as_deref()));
    let http = client()?;
    let (status, doc) = json_answer(
        &format!("the login provider {}", record.provider),
        http.post(&record.provider_token_endpoint).form(&form),
    )
    .await?;
    let tokens = login::refresh_answer(status, &doc, &record)?;
    record.renewed(tokens);
    save(path, &record)?;
    let token = record.id_token.clone();
    Ok((record, token))
}

/// The registry login the credential helper hands a registry client (helm, oras) for the login
/// at `path`: a token of the issuer that grants nothing by itself, lives at most 15 minutes, and
/// which the issuer's `/token` (the realm the client is sent to) turns into a token of the one
/// scope each request names. Before asking, the edge must still name the login's issuer in its
/// challenge: the client sends what it is given to that realm.
///
/// # Errors
/// The edge unreachable or naming another issuer, the issuer's refusal, or as
/// [`fresh_id_token`].
pub async fn registry_login(path: &Path, record: &LoginRecord) -> Result<String, LoginError> {
    let http = client()?;
    let (_, realm) = edge_challenge(&http, &record.edge).await?;
    let issuer = realm.as_ref().map(|c| login::issuer_of_realm(&c.realm).map(|(issuer, _)| issuer));
    if !matches!(&issuer, Some(Ok(i)) if i.trim_end_matches('/') == record.issuer.trim_end_matches('/')) {
        return Err(LoginError::Discovery(format!(
            "{} no longer names the issuer you logged in through ({}): not handing out your login; run `chartgate login {}` again if that is expected",
            record.edge, record.issuer, record.edge
        )));
    }
    let (record, id_token) = fresh_id_token(path).await?;
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID_TOKEN_TYPE),
        ("requested_token_type", crate::native::issuer::REGISTRY_LOGIN_TYPE),
    ];
    let (status, doc) = json_answer("the issuer", http.post(&record.token_endpoint).form(&form)).await?;
    match doc.get("access_token").and_then(Value::as_str) {
        Some(token) if (200..300).contains(&status) => Ok(token.to_owned()),
        _ => Err(issuer_refusal(status, &doc)),
    }
}

/// The registry login the credential helper hands a registry client for a client of the issuer
/// (`source = "client"`): never the secret itself. The registry's challenge must name a token
/// endpoint under the configured `issuer` (the client then sends what it is given there); the
/// secret goes to that issuer's `/oauth/token` only, for a registry login of at most 15 minutes
/// that grants nothing by itself.
///
/// # Errors
/// The registry unreachable or naming another realm, or the issuer's refusal.
pub async fn client_registry_login(server: &str, id: &str, secret: &str, issuer: &str) -> Result<String, LoginError> {
    let http = client()?;
    let registry = credentials::registry_origin(server).map_err(|e| LoginError::Discovery(e.to_string()))?;
    let realm = registry_realm(&http, &registry).await?;
    credentials::check_realm(&realm, Some(issuer)).map_err(|e| LoginError::Discovery(e.to_string()))?;
    let form =
        [("grant_type", "client_credentials"), ("requested_token_type", crate::native::issuer::REGISTRY_LOGIN_TYPE)];
    let request = http.post(format!("{issuer}/oauth/token")).basic_auth(id, Some(secret)).form(&form);
    let (status, doc) = json_answer("the issuer", request).await?;
    match doc.get("access_token").and_then(Value::as_str) {
        Some(token) if (200..300).contains(&status) => Ok(token.to_owned()),
        _ => Err(issuer_refusal(status, &doc)),
    }
}

/// Checks, before the credential helper answers a workload token for `server`, that the
/// registry's challenge names its own token endpoint or one under `issuer`.
///
/// # Errors
/// The registry unreachable, naming no realm, or naming another one.
pub async fn check_workload_realm(server: &str, issuer: Option<&str>) -> Result<(), LoginError> {
    let http = client()?;
    let registry = credentials::registry_origin(server).map_err(|e| LoginError::Discovery(e.to_string()))?;
    let realm = registry_realm(&http, &registry).await?;
    credentials::check_workload_realm(&realm, &registry, issuer).map_err(|e| LoginError::Discovery(e.to_string()))
}

/// The token endpoint a registry's `GET /v2/` challenge names.
async fn registry_realm(http: &reqwest::Client, registry: &str) -> Result<String, LoginError> {
    match edge_challenge(http, registry).await? {
        (_, Some(challenge)) => Ok(challenge.realm),
        (status, None) => Err(LoginError::Discovery(format!(
            "{registry}/v2/ answered {status} with no Bearer challenge naming a token endpoint: no credential is handed out"
        ))),
    }
}

/// A chartgate token of the login at `path` for `scope` (what the edge's challenge named), at
/// most 15 minutes.
///
/// # Errors
/// As [`fresh_id_token`], or the issuer's refusal.
pub async fn token_for(path: &Path, scope: Option<&str>) -> Result<String, LoginError> {
    let (record, id_token) = fresh_id_token(path).await?;
    match exchange(&client()?, &record, &id_token, scope).await {
        Ok((token, _)) => Ok(token),
        Err(Exchange::NeedsScope) => {
            Err(LoginError::Exchange("the edge named no repository to ask a token for".into()))
        }
        Err(Exchange::Refused(e)) => Err(e),
    }
}

/// What `login --status` reports for one login.
#[derive(Debug)]
pub struct Status {
    pub record: LoginRecord,
    /// Who the ID token names, and until when it is valid.
    pub who: String,
    pub id_token_exp: Option<u64>,
    /// What the issuer grants without a named repository: the scopes, or `None` when the rule
    /// grants patterns.
    pub reach: Option<Vec<String>>,
}

/// `chartgate login --status`: renews the login's ID token if needed and asks the issuer what it
/// grants.
///
/// # Errors
/// As [`fresh_id_token`], or the issuer's refusal.
pub async fn status(path: &Path) -> Result<Status, LoginError> {
    let (record, id_token) = fresh_id_token(path).await?;
    let claims = login::id_token_claims(&id_token);
    let reach = match exchange(&client()?, &record, &id_token, None).await {
        Ok((_, doc)) => Some(
            doc.get("scope")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Err(Exchange::NeedsScope) => None,
        Err(Exchange::Refused(e)) => return Err(e),
    };
    Ok(Status { who: login::who(&claims), id_token_exp: claims.get("exp").and_then(Value::as_u64), reach, record })
}

/// What `logout` did at the provider.
#[derive(Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoked,
    /// The provider offers no RFC 7009 endpoint.
    NotOffered,
    /// The provider could not be reached or refused: the login is forgotten here only.
    Failed(String),
}

/// `chartgate logout`: revokes the refresh token at the provider (RFC 7009 §2.1) when it can,
/// then forgets the login.
///
/// # Errors
/// [`LoginError::Record`] when the record cannot be removed.
pub async fn logout(path: &Path, record: &LoginRecord) -> Result<Revocation, LoginError> {
    let revocation = match &record.revocation_endpoint {
        None => Revocation::NotOffered,
        Some(endpoint) => {
            let mut form = vec![("token", record.refresh_token.as_str()), ("token_type_hint", "refresh_token")];
            form.extend(login::client_params(&record.client_id, record.client_secret.as_deref()));
            match client() {
                Err(e) => Revocation::Failed(e.to_string()),
                Ok(http) => match json_answer("the login provider", http.post(endpoint).form(&form)).await {
                    Ok((200, _)) => Revocation::Revoked,
                    Ok((status, doc)) => Revocation::Failed(format!(
                        "{status} {}",
                        credentials::printable(doc.get("error").and_then(Value::as_str).unwrap_or_default())
                    )),
                    Err(e) => Revocation::Failed(e.to_string()),
                },
            }
        }
    };
    forget(path)?;
    Ok(revocation)
}

/// Removes the record at `path` under its lock, with any record a crash left half-written.
///
/// # Errors
/// [`LoginError::Io`] when the record cannot be removed.
pub fn forget(path: &Path) -> Result<(), LoginError> {
    let _lock = lock(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LoginError::Io { path: path.display().to_string(), why: e.to_string() }),
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let temps = std::fs::read_dir(path.parent().unwrap_or(Path::new("."))).into_iter().flatten().flatten();
    for entry in temps {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.strip_prefix(&stem).and_then(|r| r.strip_prefix('.')).is_some_and(|ext| ext.starts_with(TEMP_PREFIX)) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Every login record in `dir`, by file, sorted.
pub fn logins(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}
