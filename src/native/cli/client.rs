//! The client side of the command line, as helm and people meet it: `chartgate login`,
//! `logout` and `login --status` (over [`crate::native::session`]), the Docker credential helper
//! and the helm plugin's fetch, each credential taken from a person's login or a configured
//! source ([`crate::native::credentials`]). The I/O is here; the rules are in those modules.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::{usage, utc, CliError, CliResult};

/// `chartgate login URL` and `chartgate login --status [URL]`.
pub(super) fn login_cmd(url: Option<&str>, status: bool, no_browser: bool) -> CliResult {
    use crate::native::{credentials::printable, login, session};
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let dir = login::logins_dir(env).ok_or_else(|| usage("set HOME or XDG_CONFIG_HOME: logins are kept there"))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let failed = CliError::from;
    if !status {
        let url = url.ok_or_else(|| usage("name the edge: chartgate login https://charts.example.com"))?;
        let mut stderr = std::io::stderr();
        let prompt = session::Prompt { out: &mut stderr, open_browser: !no_browser };
        let (record, path) = runtime.block_on(session::login(url, &dir, prompt)).map_err(failed)?;
        let who = login::who(&login::id_token_claims(&record.id_token));
        eprintln!("Logged in to {} as {who} (through {}).", record.edge, printable(&record.provider));
        eprintln!("The login is kept in {} (mode 0600); helm gets fresh tokens through the credential helper and the plugin (docs/login.md).", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let paths = match url {
        Some(url) => {
            let host = crate::native::credentials::host_of(&login::edge_origin(url).map_err(failed)?);
            vec![login::record_path(&dir, &host).map_err(failed)?]
        }
        None => session::logins(&dir),
    };
    let mut any = false;
    let mut code = ExitCode::SUCCESS;
    for path in paths {
        if session::load(&path).map_err(failed)?.is_none() {
            continue;
        }
        any = true;
        match runtime.block_on(session::status(&path)) {
            Ok(s) => {
                println!("{}: logged in as {} (through {})", s.record.edge, s.who, printable(&s.record.provider));
                println!("  since {}", utc(s.record.logged_in_at));
                if let Some(exp) = s.id_token_exp {
                    println!("  identity valid until {} (renewed from the provider until you log out)", utc(exp));
                }
                match s.reach {
                    Some(scopes) if !scopes.is_empty() => println!("  may reach: {}", printable(&scopes.join(" "))),
                    Some(_) => println!("  may reach: nothing the issuer grants without naming a repository"),
                    None => println!(
                        "  may reach: repositories the issuer's rule grants by pattern (name one to get a token)"
                    ),
                }
            }
            Err(e) => {
                println!("{}: {e}", path.display());
                code = ExitCode::from(1);
            }
        }
    }
    if !any {
        match url {
            Some(url) => println!("not logged in to {}: run `chartgate login {}`", printable(url), printable(url)),
            None => println!("not logged in anywhere: run `chartgate login https://charts.example.com`"),
        }
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

/// `chartgate logout [URL]`.
pub(super) fn logout_cmd(url: Option<&str>) -> CliResult {
    use crate::native::{login, session};
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let dir = login::logins_dir(env).ok_or_else(|| usage("set HOME or XDG_CONFIG_HOME: logins are kept there"))?;
    let failed = CliError::from;
    let path = match url {
        Some(url) => {
            let host = crate::native::credentials::host_of(&login::edge_origin(url).map_err(failed)?);
            login::record_path(&dir, &host).map_err(failed)?
        }
        None => match session::logins(&dir).as_slice() {
            [one] => one.clone(),
            [] => return Err(usage("not logged in anywhere")),
            _ => return Err(usage("logged in to several edges: name the one to log out of")),
        },
    };
    // A record that cannot be read (corrupted, wrong mode) is still forgotten.
    let record = match session::load(&path) {
        Ok(Some(record)) => Some(record),
        Ok(None) => return Err(usage(format!("not logged in there ({} does not exist)", path.display()))),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match record {
        Some(record) => match runtime.block_on(session::logout(&path, &record)).map_err(failed)? {
            session::Revocation::Revoked => {
                eprintln!("Logged out of {}: the provider revoked the refresh token.", record.edge)
            }
            session::Revocation::NotOffered => {
                eprintln!("Logged out of {}: forgotten here (the provider offers no revocation).", record.edge)
            }
            session::Revocation::Failed(why) => eprintln!(
                "Logged out of {}: forgotten here, but the provider did not revoke the refresh token ({why}).",
                record.edge
            ),
        },
        None => {
            session::forget(&path).map_err(failed)?;
            eprintln!("Forgot {}.", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `docker-credential-chartgate ACTION`: the Docker credential-helper protocol. `get` reads the
/// server URL on stdin and prints `{"ServerURL","Username","Secret"}`, or the protocol's "not
/// found" (exit 1) so the client goes on anonymously; `list` prints the configured hosts; `erase`
/// has nothing to forget; `store` is refused (credentials come from their source, never from a
/// login). Errors go to stderr and never contain a secret.
pub(super) fn credential_helper(action: &str) -> ExitCode {
    use crate::native::credentials::{self, HelperError};
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let answer = (|| -> Result<String, HelperError> {
        let config = load_client_config(&env)?;
        match action {
            "get" => {
                let mut server = String::new();
                std::io::stdin().read_to_string(&mut server).map_err(|e| HelperError::Source(e.to_string()))?;
                let server = server.trim();
                let origin = origin_for(server, &config, &env)?.ok_or(HelperError::NotFound)?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| HelperError::Source(e.to_string()))?;
                let (user, secret) = match origin {
                    // A registry login, which helm trades at the issuer's /token (username
                    // `token`) for a token of the one scope it needs, at most 15 minutes.
                    Origin::Login(path, record) => runtime
                        .block_on(crate::native::session::registry_login(&path, &record))
                        .map(|login| (crate::native::issuer::TOKEN_USERNAME.to_owned(), login))
                        .map_err(|e| HelperError::Source(e.to_string()))?,
                    Origin::Source(source) => runtime.block_on(helper_credential(server, &source, &config, &env))?,
                };
                Ok(credentials::get_answer(server, &user, &secret))
            }
            "list" => Ok(credentials::list_answer(&config)),
            "erase" => Ok(String::new()),
            "store" => Err(HelperError::Source(
                "chartgate stores no credentials: it gets a fresh one from its source each time (see docs/login.md)"
                    .into(),
            )),
            other => Err(HelperError::Action(other.to_owned())),
        }
    })();
    match answer {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        // The protocol's "not found" goes to stdout, as the clients read it.
        Err(HelperError::NotFound) => {
            println!("{}", credentials::NOT_FOUND);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("docker-credential-chartgate: {e}");
            ExitCode::from(1)
        }
    }
}

/// Where a host's credential comes from, in the order docs/login.md gives: a person's login,
/// else the configuration's source.
enum Origin {
    Login(PathBuf, Box<crate::native::login::LoginRecord>),
    Source(crate::native::credentials::Source),
}

fn origin_for(
    host: &str,
    config: &crate::native::credentials::ClientConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Origin>, crate::native::credentials::HelperError> {
    use crate::native::credentials::HelperError;
    use crate::native::{login, session};
    let dir = login::logins_dir(env);
    // A host no login could be named for (`reg_1:5000`, an empty line) has none.
    let path = dir.and_then(|d| login::record_path(&d, &crate::native::credentials::host_of(host)).ok());
    if let Some(path) = path {
        if let Some(record) = session::load(&path).map_err(|e| HelperError::Source(e.to_string()))? {
            return Ok(Some(Origin::Login(path, Box::new(record))));
        }
    }
    Ok(config.source_for(host).map(Origin::Source))
}

/// The client configuration: `CHARTGATE_CONFIG`, else the default path; none is an empty one.
fn load_client_config(
    env: &impl Fn(&str) -> Option<String>,
) -> Result<crate::native::credentials::ClientConfig, crate::native::credentials::HelperError> {
    use crate::native::credentials::{default_config_path, ClientConfig, HelperError};
    let Some(path) = env("CHARTGATE_CONFIG").map(PathBuf::from).or_else(|| default_config_path(env)) else {
        return Ok(ClientConfig::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ClientConfig::default()),
        Err(e) => return Err(HelperError::Config { path: path.display().to_string(), why: e.to_string() }),
    };
    crate::native::credentials::check_not_writable_by_others(&path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    ClientConfig::parse(&path.display().to_string(), &text, &dir)
}

/// What the credential helper answers for `server` from a configured source: for a client of
/// the issuer a registry login fetched with its secret (the secret itself never reaches the
/// registry client); for a workload token, the token once the registry's challenge names its own
/// token endpoint or one under the configured `issuer`.
async fn helper_credential(
    server: &str,
    source: &crate::native::credentials::Source,
    config: &crate::native::credentials::ClientConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(String, String), crate::native::credentials::HelperError> {
    use crate::native::credentials::{HelperError, Source};
    use crate::native::session;
    let fail = |e: crate::native::login::LoginError| HelperError::Source(e.to_string());
    if let Source::Client { id, secret_file, issuer } = source {
        let issuer = issuer.as_deref().ok_or_else(|| {
            HelperError::Source("a client's secret is only used at its configured `issuer`: none is set".into())
        })?;
        let secret = crate::native::credentials::read_private(secret_file)?;
        let login = session::client_registry_login(server, id, &secret, issuer).await.map_err(fail)?;
        return Ok((crate::native::issuer::TOKEN_USERNAME.to_owned(), login));
    }
    session::check_workload_realm(server, config.issuer_for(server)).await.map_err(fail)?;
    credential_from(source, env).await
}

/// A fresh credential from `source`: `(username, secret)`.
async fn credential_from(
    source: &crate::native::credentials::Source,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(String, String), crate::native::credentials::HelperError> {
    use crate::native::credentials::{github_request_url, HelperError, Source, WORKLOAD_USERNAME};
    let fail = |why: String| HelperError::Source(why);
    match source {
        Source::GithubActions { audience } => {
            let (Some(url), Some(bearer)) =
                (env("ACTIONS_ID_TOKEN_REQUEST_URL"), env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
            else {
                return Err(fail(
                    "GitHub Actions' token service is not available to this job: give the workflow `permissions: id-token: write`"
                        .into(),
                ));
            };
            let token = async {
                let client =
                    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
                let response = client
                    .get(github_request_url(&url, audience))
                    .header("Authorization", format!("bearer {bearer}"))
                    .send()
                    .await
                    .map_err(|e| format!("GitHub Actions' token service: {}", e.without_url()))?;
                if !response.status().is_success() {
                    return Err(format!("GitHub Actions' token service answered {}", response.status()));
                }
                let text = response.text().await.map_err(|e| e.without_url().to_string())?;
                let body: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| format!("GitHub Actions' token service: {e}"))?;
                body["value"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "GitHub Actions' token service gave no value".to_owned())
            }
            .await;
            Ok((WORKLOAD_USERNAME.into(), token.map_err(fail)?))
        }
        Source::Variable(name) => {
            let token = env(name).ok_or_else(|| fail(format!("the variable {name} is empty or not set")))?;
            Ok((WORKLOAD_USERNAME.into(), token.trim().to_owned()))
        }
        Source::File(path) => {
            let token = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            Ok((WORKLOAD_USERNAME.into(), token.trim().to_owned()))
        }
        Source::Client { id, secret_file, .. } => {
            Ok((id.clone(), crate::native::credentials::read_private(secret_file)?))
        }
    }
}

/// `chartgate helm-getter CERT KEY CA URL`: fetches a `chartgate://` URL for helm with a fresh
/// credential: a workload token as the bearer, or, for a client of the issuer, a token asked from
/// the realm the edge's challenge names, for the scope it names and at most 15 minutes. Without a
/// source for the host the request goes without a credential (a public repository). One retry
/// on a 401, with a new credential.
pub(super) fn helm_getter(ca: &str, url: &str) -> CliResult {
    use crate::native::credentials::{getter_target, printable, Challenge, Source, CLIENT_TOKEN_TTL};
    use std::io::Write as _;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let target = getter_target(url).map_err(|e| usage(e.to_string()))?;
    let config = load_client_config(&env).map_err(|e| usage(e.to_string()))?;
    let source =
        origin_for(&crate::native::credentials::host_of(&target), &config, &env).map_err(|e| usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // helm's repository CA (`--ca-file`), when it gives one.
    let ca = match ca {
        "" => None,
        path => {
            let pem = std::fs::read(path).map_err(|e| usage(format!("CA file {path}: {e}")))?;
            Some(reqwest::Certificate::from_pem(&pem).map_err(|e| usage(format!("CA file {path}: {e}")))?)
        }
    };
    let body = runtime.block_on(async {
        // No redirects: a challenge must come from the host asked, never from where it sends us.
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60)).redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = ca {
            builder = builder.add_root_certificate(ca);
        }
        let client = builder.build().map_err(|e| CliError::Failed(e.to_string()))?;
        let fetch = |bearer: Option<String>| {
            let mut request = client.get(&target);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        // A bearer for this fetch: the workload token itself, or a client's token for the scope the
        // challenge names.
        let bearer = |challenge: Option<Challenge>| async {
            let source = match &source {
                None => return Ok(None),
                Some(Origin::Login(path, _)) => {
                    let Some(challenge) = challenge else { return Ok(None) };
                    let token =
                        crate::native::session::token_for(path, challenge.scope.as_deref()).await.map_err(CliError::from)?;
                    return Ok(Some(token));
                }
                Some(Origin::Source(source)) => source,
            };
            let (user, secret) = credential_from(source, &env).await.map_err(|e| usage(e.to_string()))?;
            if !matches!(source, Source::Client { .. }) {
                return Ok(Some(secret));
            }
            let Some(challenge) = challenge else { return Ok(None) };
            if let Source::Client { issuer, .. } = source {
                crate::native::credentials::check_realm(&challenge.realm, issuer.as_deref())
                    .map_err(|e| usage(e.to_string()))?;
            }
            let mut form = vec![("grant_type", "client_credentials".to_owned()), ("expires_in", CLIENT_TOKEN_TTL.to_string())];
            if let Some(scope) = challenge.scope {
                form.push(("scope", scope));
            }
            let response = client
                .post(&challenge.realm)
                .basic_auth(user, Some(secret))
                .form(&form)
                .send()
                .await
                .map_err(|e| CliError::Failed(format!("token endpoint {}: {}", challenge.realm, e.without_url())))?;
            let status = response.status();
            let text = read_limited(response, 1 << 20).await?;
            let v: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
            match v["access_token"].as_str() {
                Some(token) if status.is_success() => Ok(Some(token.to_owned())),
                _ => Err(usage(format!(
                    "the issuer refused the client: {} {}",
                    status.as_u16(),
                    printable(v["error_description"].as_str().or(v["error"].as_str()).unwrap_or_default())
                ))),
            }
        };
        let mut response = match &source {
            // A client or a login needs the challenge first (it names the realm and the scope).
            Some(Origin::Source(Source::Client { .. }) | Origin::Login(..)) => fetch(None).await,
            _ => fetch(bearer(None).await?).await,
        }
        .map_err(|e| CliError::Failed(format!("{}: {}", target, e.without_url())))?;
        if response.status() == 401 && source.is_some() {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            response = fetch(bearer(challenge).await?)
                .await
                .map_err(|e| CliError::Failed(format!("{}: {}", target, e.without_url())))?;
        }
        let status = response.status();
        if !status.is_success() {
            let text = read_limited(response, 1 << 20).await.unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
            let why = printable(v["error_description"].as_str().unwrap_or_default());
            let hint = if status == 401 && source.is_none() {
                " (no credential for this host: run `chartgate login`, or configure a source in $XDG_CONFIG_HOME/chartgate/config.toml; see docs/login.md)"
            } else {
                ""
            };
            return Err(usage(format!("{target}: {} {why}{hint}", status.as_u16())));
        }
        read_limited(response, MAX_DOWNLOAD).await
    })?;
    std::io::stdout().write_all(&body)?;
    Ok(ExitCode::SUCCESS)
}

/// Largest body the helm getter passes on (an archive, or an `index.yaml` of many versions).
const MAX_DOWNLOAD: usize = 256 << 20;

/// A response body of at most `limit` bytes, read as it arrives.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, CliError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| CliError::Failed(e.without_url().to_string()))? {
        if body.len() + chunk.len() > limit {
            return Err(CliError::Failed(format!("the response is larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
