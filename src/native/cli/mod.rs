//! The `chartgate` command line: keygen, token, sign-url, inspect, verify, serve, hash-secret,
//! mirror, check, and the client side ([`client`]: login, logout, the credential helper, the helm
//! plugin's fetch). Arguments are parsed by clap, turned into engine types, and the engine
//! decides; exit 0 allowed/valid, 1 denied/invalid/refused, 2 usage or configuration error, 3 a
//! failure of the system (I/O, signing, the listener, a server that cannot be reached).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

mod check;
mod client;
use client::{credential_helper, helm_getter, login_cmd, logout_cmd};
use serde_json::json;

use crate::issuer::grant::downscope;
use crate::{
    dangerous_decode, find_token, relative, split_url, verify, Denial, Depth, KeyError, KeySet, Layout, MintRequest,
    NativeVerifier, Pasted, PathBinding, Policy, PolicySettings, Reason, RepoName, Request, Scope, ScopeError,
    ScopeSet, SignUrlError, SignedUrlPlan, SigningError, SigningKey, UnverifiedToken, DEFAULT_URL_TTL,
};

const EXAMPLES: &str = "\
Examples:
  chartgate keygen --out .state/keys
  chartgate token --key .state/keys/private.pem --scope artifact-repository:org1/repo1:pull
  chartgate sign-url --key .state/keys/private.pem https://charts.example.com/org1/repo1/charts/app-0.1.0.tgz
  chartgate inspect \"$TOKEN\"
  chartgate verify --keys .state/keys/jwks.json --request \"GET /org1/repo1/index.yaml\" \"$TOKEN\"
  chartgate serve --config chartgate.toml
  printf %s \"$SECRET\" | chartgate hash-secret -";

/// Mint, sign, inspect and verify chartgate tokens for Helm chart repositories.
#[derive(Parser, Debug)]
#[command(name = "chartgate", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The Docker credential-helper protocol (`get`, `store`, `erase`, `list`), as
    /// `docker-credential-chartgate` runs it: a fresh credential for a registry host from a CI
    /// job's workload token or a client of the issuer, configured in
    /// `$XDG_CONFIG_HOME/chartgate/config.toml` (or `CHARTGATE_CONFIG`). See docs/login.md.
    #[command(after_help = "Example:
  echo charts.example.com | chartgate credential-helper get")]
    CredentialHelper {
        /// get, store, erase or list.
        action: String,
    },
    /// Sign in to a chartgate edge as a person: finds the issuer from the edge's challenge and
    /// the login provider from the issuer's metadata, runs the OAuth 2.0 device flow (RFC 8628),
    /// and keeps the provider's refresh token in $XDG_CONFIG_HOME/chartgate/logins/ (mode
    /// 0600). The credential helper and the helm plugin then get a fresh token for each call.
    #[command(after_help = "Examples:
  chartgate login https://charts.example.com
  chartgate login --status")]
    Login {
        /// The edge, e.g. https://charts.example.com (with --status: optional, else every login).
        #[arg(required_unless_present = "status")]
        url: Option<String>,
        /// Say who you are logged in as, until when, and what you may reach.
        #[arg(long)]
        status: bool,
        /// Print the sign-in URL only; do not open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Forget a login, revoking its refresh token at the provider (RFC 7009) when it can.
    #[command(after_help = "Example:
  chartgate logout https://charts.example.com")]
    Logout {
        /// The edge; may be left out when there is one login.
        url: Option<String>,
    },
    /// The helm downloader plugin's fetch (helm-plugin/, schemes chartgate:// and
    /// chartgate+http://): helm runs it as `CERT KEY CA URL`; the body goes to stdout. Each fetch
    /// gets a fresh credential from the same sources as the credential helper; a 401 is answered
    /// by one retry with a new one.
    #[command(hide = true)]
    HelmGetter { cert: String, key: String, ca: String, url: String },
    /// Copy an HTTP chart repository into an edge repository through its upload API. Versions
    /// the edge already lists with the same digest are skipped, so running it again is safe.
    #[command(
        after_help = "Example:\n  chartgate mirror https://charts.example.com/stable https://edge.example.com/org1/stable --token - <<< \"$PUSH_TOKEN\""
    )]
    Mirror {
        /// The source repository URL (its index.yaml and archives).
        source: String,
        /// The edge repository URL, e.g. https://edge.example.com/org1/repo1.
        target: String,
        /// A token with push on the edge repository, or - for stdin.
        #[arg(long)]
        token: String,
        /// Basic-auth user for the source (a ChartMuseum, a private server).
        #[arg(long)]
        source_username: Option<String>,
        /// Basic-auth password for the source, or - for stdin.
        #[arg(long)]
        source_password: Option<String>,
    },
    /// Generate an RSA signing key: private.pem, public.pem and jwks.json (RFC 7638 kid).
    #[command(after_help = "Example:\n  chartgate keygen --out .state/keys")]
    Keygen {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Modulus size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Mint a token and print it.
    #[command(
        after_help = "Example:\n  chartgate token --key private.pem --scope artifact-repository:org1/repo1:pull --ttl 10m"
    )]
    Token {
        #[command(flatten)]
        mint: MintArgs,
        /// Scope to grant (repeatable): artifact-repository:NAME:pull[,push] (chart repository) or
        /// repository:NAME:pull[,push] (OCI repository). With --from,
        /// defaults to everything the parent grants.
        #[arg(long = "scope", required_unless_present = "from")]
        scopes: Vec<String>,
        /// Derive a narrower, shorter-lived child of this token (offline downscoping; the parent
        /// must verify under --key's public key).
        #[arg(long)]
        from: Option<String>,
        /// Bind the token to these paths (exact, or a prefix ending in /*); repeatable.
        #[arg(long = "path")]
        paths: Vec<String>,
        /// Lifetime, e.g. 90s, 5m, 1h.
        #[arg(long, default_value = "5m")]
        ttl: humantime::Duration,
        /// Namespace of single-tenant `access: ["pull"]` parents (as the edge's DEFAULT_NAMESPACE).
        #[arg(long, default_value = "repo")]
        default_repo: String,
        /// Repository depth (as the edge's DEPTH): places OCI names (`repository:` scopes) inside
        /// the parent's chart repositories.
        #[arg(long, default_value_t = 2)]
        depth: u8,
    },
    /// Run the token service (OAuth 2 client credentials, Docker /token, token exchange, JWKS).
    #[command(
        after_help = "Examples:\n  chartgate serve                      # embedded dev defaults (client dev / dev-secret)\n  chartgate serve --config chartgate.toml"
    )]
    Serve {
        /// Configuration file (TOML). Without it, embedded development defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding the configuration.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Hash a client secret for the issuer configuration (PBKDF2-HMAC-SHA256).
    #[command(name = "hash-secret", after_help = "Example:\n  printf %s \"$SECRET\" | chartgate hash-secret -")]
    HashSecret {
        /// The secret, or - to read it from stdin.
        #[arg(default_value = "-")]
        secret: String,
    },
    /// Print a download URL carrying a short-lived token bound to that one path.
    #[command(
        name = "sign-url",
        after_help = "Example:\n  chartgate sign-url --key private.pem --ttl 10m https://h/org1/repo1/charts/app-0.1.0.tgz"
    )]
    SignUrl {
        #[command(flatten)]
        mint: MintArgs,
        /// Lifetime of the link.
        #[arg(long, default_value = "10m")]
        ttl: humantime::Duration,
        /// Repository depth of the URL's routes (0, 1 or 2).
        #[arg(long, default_value_t = 2)]
        depth: u8,
        /// Repository name for depth 0.
        #[arg(long, default_value = "repo")]
        default_repo: String,
        /// The artifact URL.
        url: String,
    },
    /// Decode a token without verifying it: header, claims, times.
    #[command(after_help = "Example:\n  chartgate inspect \"https://h/org1/repo1/index.yaml?token=$TOKEN\"")]
    Inspect {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Judge times at this UNIX time instead of now.
        #[arg(long)]
        at: Option<u64>,
        /// A token, a URL with ?token= or user:token@, an Authorization header line, or - for stdin.
        input: String,
    },
    /// Check a chart archive or directory with the entry gate the edge runs on every way in:
    /// archive structure, paths, identity, parse bombs, schema references, dependencies.
    #[command(
        after_help = "Exit status: 0 accepted, 1 refused (each refusal with its code, file and detail), 2 usage error, 3 a repository that cannot be read.\n\nExamples:\n  chartgate check mychart-1.0.0.tgz\n  chartgate check --json ./mychart\n  chartgate check --claim mychart:1.0.0 mychart-1.0.0.tgz\n  chartgate check --repo https://charts.example.com/org1/repo1 --token - <<< \"$PULL\""
    )]
    Check {
        /// Also compare with an OCI config's claims: NAME:VERSION.
        #[arg(long)]
        claim: Option<String>,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
        /// Every version a repository lists (its index.yaml and archives), judged by today's
        /// gate: what a repository already holds is not re-judged silently.
        #[arg(long, conflicts_with_all = ["chart", "claim"])]
        repo: Option<String>,
        /// With --repo: a token that may pull from it (or - for stdin).
        #[arg(long, requires = "repo")]
        token: Option<String>,
        /// A chart archive (.tgz) or a chart directory.
        #[arg(required_unless_present = "repo")]
        chart: Option<PathBuf>,
    },
    /// Verify a token (and optionally decide a request) with the engine the edge runs.
    #[command(
        after_help = "Exit status: 0 valid/allowed, 1 invalid/denied, 2 usage or configuration error, 3 I/O failure (a trust policy's keys that cannot be fetched: keys_unavailable).\n\nExample:\n  chartgate verify --keys jwks.json --request \"GET /org1/repo1/index.yaml\" \"$TOKEN\""
    )]
    Verify {
        /// Trusted keys: PEM public key(s), a JWK or a JWKS file (optional with --trust).
        #[arg(long, required_unless_present = "trust")]
        keys: Option<PathBuf>,
        /// Trust policies (the edge's TRUST_POLICIES JSON document): also accept workload tokens
        /// of these issuers, and say which rule decided. Keys given by URL are fetched.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Judge times at this UNIX time instead of now.
        #[arg(long)]
        at: Option<u64>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Decide this request: "METHOD /path". Defaults to GET of the input URL when the input
        /// is a URL.
        #[arg(long)]
        request: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A token, a URL with ?token= or user:token@, an Authorization header line, or - for stdin.
        input: String,
    },
}

#[derive(Args, Debug)]
struct MintArgs {
    /// Private key PEM (PKCS#1 or PKCS#8).
    #[arg(long)]
    key: PathBuf,
    /// Subject (`sub`).
    #[arg(long)]
    sub: Option<String>,
    /// Issuer (`iss`).
    #[arg(long)]
    iss: Option<String>,
    /// Audience (`aud`).
    #[arg(long)]
    aud: Option<String>,
    /// Issue as of this UNIX time instead of now.
    #[arg(long)]
    now: Option<u64>,
}

#[derive(Args, Debug)]
struct PolicyArgs {
    /// Clock leeway in seconds (at most 300).
    #[arg(long, default_value_t = crate::DEFAULT_LEEWAY)]
    leeway: u64,
    /// Required issuer.
    #[arg(long)]
    iss: Option<String>,
    /// Required audience.
    #[arg(long)]
    aud: Option<String>,
    /// Realm named in challenges.
    #[arg(long)]
    realm: Option<String>,
    /// Service named in challenges.
    #[arg(long)]
    service: Option<String>,
    /// Repository depth (0, 1 or 2).
    #[arg(long, default_value_t = 2)]
    depth: u8,
    /// Default namespace for depth 0 and single-tenant tokens.
    #[arg(long, default_value = "repo")]
    default_repo: String,
    /// A public chart repository (name glob, as the edge's PUBLIC_REPOS); repeatable.
    #[arg(long = "public")]
    public: Vec<String>,
}

/// Why a command failed; each kind has its own exit status.
#[derive(Debug)]
enum CliError {
    /// The caller's to fix (arguments, input, key or configuration file): exit status 2.
    Usage(String),
    /// The system failed (I/O, the RNG, signing, the listener): exit status 3.
    Failed(String),
    /// A party said no (a sign-in denied or expired, a login refused or ended): exit status 1.
    Refused(String),
}

impl From<crate::native::login::LoginError> for CliError {
    fn from(e: crate::native::login::LoginError) -> Self {
        use crate::native::login::LoginError as E;
        match e {
            E::Discovery(_) | E::NoLoginProvider { .. } | E::NoDeviceFlow { .. } | E::Record { .. } => {
                CliError::Usage(e.to_string())
            }
            E::Unreachable { .. } | E::Io { .. } => CliError::Failed(e.to_string()),
            E::Denied { .. }
            | E::Expired { .. }
            | E::Refused(_)
            | E::NotLoggedIn { .. }
            | E::Ended { .. }
            | E::RefreshRefused(_)
            | E::Exchange(_) => CliError::Refused(e.to_string()),
        }
    }
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(3),
            CliError::Refused(_) => ExitCode::from(1),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) | CliError::Refused(m) => f.write_str(m),
        }
    }
}

/// A usage or configuration error.
fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

impl From<SigningError> for CliError {
    fn from(e: SigningError) -> Self {
        match e {
            SigningError::Sign(_) => CliError::Failed(e.to_string()),
            SigningError::Pem(_) | SigningError::Key(_) => CliError::Usage(e.to_string()),
        }
    }
}

macro_rules! usage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::Usage(e.to_string())
            }
        }
    )*};
}
usage_from!(ScopeError, KeyError, SignUrlError, crate::CredentialError, crate::issuer::ConfigFileError);

type CliResult = Result<ExitCode, CliError>;

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    // Installed (linked or copied) as `docker-credential-chartgate`, the binary is a Docker
    // credential helper: `docker-credential-chartgate get` with the server URL on stdin.
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let name = Path::new(&program).file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if name.starts_with("docker-credential-") {
        return credential_helper(args.next().as_deref().unwrap_or_default());
    }
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn read_file(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {what} {}: {e}", path.display())))
}

fn read_input(input: &str) -> Result<String, CliError> {
    if input != "-" {
        return Ok(input.to_owned());
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.trim().to_owned())
}

fn load_signing_key(path: &Path) -> Result<SigningKey, CliError> {
    SigningKey::from_pem(&read_file(path, "private key")?).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn run(command: Command) -> CliResult {
    match command {
        Command::Keygen { out, bits, force } => keygen(&out, bits, force),
        Command::Check { json, repo: Some(repo), token, .. } => {
            let token = token.map(|t| read_input(&t)).transpose()?;
            check::check_repo(&repo, token.as_deref().map(str::trim), json)
        }
        Command::Check { claim, json, chart, repo: None, .. } => {
            let claimed = claim.as_deref().map(check::parse_claim).transpose()?;
            check::check(chart.as_deref().ok_or_else(|| usage("name a chart, or --repo"))?, claimed, json)
        }
        Command::Token { mint, scopes, from, paths, ttl, default_repo, depth } => {
            let key = load_signing_key(&mint.key)?;
            let at = mint.now.unwrap_or_else(now);
            let scopes = scopes.iter().map(|s| Scope::parse(s)).collect::<Result<ScopeSet, _>>()?;
            let paths = if paths.is_empty() {
                None
            } else {
                Some(PathBinding::parse(&paths).map_err(|e| usage(format!("--path: {e}")))?)
            };
            let mut request = mint.request(scopes, Some(ttl.as_secs()), paths);
            if let Some(parent) = from {
                let parent = read_input(&parent)?;
                let keys = KeySet::new(vec![key.public()])?;
                let parent = verify(&find_token(&parent)?.token, &keys, &NativeVerifier::new(&keys))
                    .map_err(|r| usage(format!("--from: {r}")))?;
                let requested = (!request.scopes.is_empty()).then_some(&request.scopes);
                let default_repo = RepoName::parse(&default_repo)?;
                let depth = Depth::from_number(depth).ok_or_else(|| usage("--depth must be 0, 1 or 2"))?;
                let layout = Layout { depth, default_repo: &default_repo };
                let plan = downscope(&parent.claims, requested, ttl.as_secs(), request.paths.clone(), at, layout)
                    .map_err(|e| usage(format!("--from: {e}")))?;
                request.scopes = plan.scopes;
                request.ttl = Some(plan.ttl);
                request.paths = plan.paths;
                request.lineage = plan.lineage;
                request.sub = request.sub.or(parent.claims.sub);
                request.iss = request.iss.or(parent.claims.iss);
            }
            println!("{}", key.sign(&request.claims(at))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { config, listen } => serve(config.as_deref(), listen),
        Command::CredentialHelper { action } => Ok(credential_helper(&action)),
        Command::Login { url, status, no_browser } => login_cmd(url.as_deref(), status, no_browser),
        Command::Logout { url } => logout_cmd(url.as_deref()),
        Command::HelmGetter { ca, url, .. } => helm_getter(&ca, &url),
        Command::Mirror { source, target, token, source_username, source_password } => {
            let token = read_input(&token)?;
            let password = source_password.map(|p| read_input(&p)).transpose()?;
            let auth = crate::native::mirror::SourceAuth { username: source_username, password };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let summary = runtime
                .block_on(crate::native::mirror::mirror(&source, &target, token.trim(), &auth))
                .map_err(|e| CliError::Failed(e.to_string()))?;
            println!(
                "mirrored {source} to {target}: {} uploaded, {} already there, {} failed",
                summary.uploaded, summary.skipped, summary.failed
            );
            Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(3) })
        }
        Command::HashSecret { secret } => {
            let secret = read_input(&secret)?;
            if secret.is_empty() {
                return Err(usage("the secret is empty"));
            }
            println!("{}", crate::issuer::secret::SecretHash::new(&secret));
            Ok(ExitCode::SUCCESS)
        }
        Command::SignUrl { mint, ttl, depth, default_repo, url } => {
            let key = load_signing_key(&mint.key)?;
            let depth = Depth::from_number(depth).ok_or_else(|| usage("--depth must be 0, 1 or 2"))?;
            let default_repo = RepoName::parse(&default_repo)?;
            let plan = SignedUrlPlan::new(&url, depth, &default_repo)?;
            let ttl = Some(ttl.as_secs()).filter(|t| *t > 0).unwrap_or(DEFAULT_URL_TTL);
            let request =
                mint.request(std::iter::once(plan.scope.clone()).collect(), Some(ttl), Some(plan.binding.clone()));
            let token = key.sign(&request.claims(mint.now.unwrap_or_else(now)))?;
            println!("{}", plan.link(&token));
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { json, at, input } => inspect(&read_input(&input)?, at.unwrap_or_else(now), json),
        Command::Verify { keys, trust, at, policy, request, json, input } => {
            let keyset = match &keys {
                Some(keys) => {
                    KeySet::parse(&read_file(keys, "keys")?).map_err(|e| usage(format!("{}: {e}", keys.display())))?
                }
                None => KeySet::default(),
            };
            let trust = trust.as_deref().map(load_trust).transpose()?.unwrap_or_default();
            let input = read_input(&input)?;
            let verifiers = Verifiers { own: &keyset, trust: &trust.0, trust_keys: &trust.1 };
            verify_cmd(&verifiers, &policy.into_policy()?, at.unwrap_or_else(now), request.as_deref(), &input, json)
        }
    }
}

impl MintArgs {
    fn request(&self, scopes: ScopeSet, ttl: Option<u64>, paths: Option<PathBinding>) -> MintRequest {
        MintRequest {
            scopes,
            ttl,
            sub: self.sub.clone(),
            iss: self.iss.clone(),
            aud: self.aud.clone(),
            jti: Some(crate::random_id()),
            paths,
            lineage: Vec::new(),
            trust: None,
        }
    }
}

impl PolicyArgs {
    fn into_policy(self) -> Result<Policy, CliError> {
        let settings = PolicySettings {
            realm: self.realm,
            service: self.service,
            issuer: self.iss,
            audience: self.aud,
            leeway: Some(self.leeway),
            depth: Some(self.depth),
            default_namespace: Some(self.default_repo),
            public: self.public,
        };
        Policy::new(settings).map_err(|e| {
            let flag = match e.setting {
                "leeway" => "--leeway",
                "public" => "--public",
                "depth" => "--depth",
                _ => "--default-repo",
            };
            usage(format!("{flag}: {}", e.why))
        })
    }
}

fn serve(config: Option<&Path>, listen: Option<String>) -> CliResult {
    use crate::issuer::{Issuer, IssuerConfig};
    let mut config = match config {
        Some(path) => IssuerConfig::load(path)?,
        None => IssuerConfig::dev(Path::new(".state/keys")).map_err(CliError::Failed)?,
    };
    if let Some(listen) = listen {
        config.listen = listen;
    }
    for warning in &config.warnings {
        eprintln!("WARNING: {warning}");
    }
    if config.dev {
        eprintln!("WARNING: no --config: running on embedded DEVELOPMENT defaults.");
        eprintln!("WARNING: client `dev` with secret `dev-secret` may pull and push every repository;");
        eprintln!("WARNING: signing key .state/keys/private.pem. Never expose this to a network.");
    }
    // The access log: one JSON line per request on stderr (see issuer::http).
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| usage(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "chartgate issuer {} listening on http://{addr} (signing kid {}, {} keys published, {} clients, {} trust policies)",
            config.issuer,
            config.signing.kid(),
            config.published.len(),
            config.clients.len(),
            config.trust.policies().len()
        );
        crate::issuer::serve(std::sync::Arc::new(Issuer::new(config)), listener).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn keygen(out: &Path, bits: usize, force: bool) -> CliResult {
    std::fs::create_dir_all(out)?;
    let files = ["private.pem", "public.pem", "jwks.json"].map(|f| out.join(f));
    if !force {
        if let Some(existing) = files.iter().find(|f| f.exists()) {
            return Err(usage(format!("{} exists (use --force to replace)", existing.display())));
        }
    }
    let key = SigningKey::generate(bits)?;
    crate::issuer::config::write_private(&files[0], &key.private_pem()?)?;
    std::fs::write(&files[1], key.public_pem()?)?;
    let jwks = KeySet::new(vec![key.public()])?.to_jwks();
    std::fs::write(&files[2], serde_json::to_string_pretty(&jwks)? + "\n")?;
    println!("kid {}", key.kid());
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn utc(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn inspect(input: &str, now: u64, as_json: bool) -> CliResult {
    let credential = find_token(input).map_err(|e| usage(e.to_string()))?;
    let token = credential.token.as_str();
    let (header, claims) = match dangerous_decode(token).map_err(Reason::from) {
        Ok(parts) => parts,
        Err(reason) => {
            if as_json {
                println!("{}", json!({"error": reason.code(), "error_description": reason.to_string()}));
            } else {
                println!("not a decodable token: {reason}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let engine_view = UnverifiedToken::parse(token).err().map(Reason::from).map(|r| (r.code(), r.to_string()));
    let times: Vec<(&str, u64)> =
        ["iat", "nbf", "exp"].iter().filter_map(|k| Some((*k, claims.get(*k)?.as_u64()?))).collect();
    if as_json {
        let times: serde_json::Map<_, _> = times
            .iter()
            .map(|(k, v)| (k.to_string(), json!({"unix": v, "utc": utc(*v), "relative": relative(*v, now)})))
            .collect();
        let out = json!({
            "via": credential.via.as_str(),
            "header": header,
            "claims": claims,
            "times": times,
            "verified": false,
            "refused_before_signature": engine_view.as_ref().map(|(c, d)| json!({"reason": c, "error_description": d})),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("NOT VERIFIED (inspect decodes only; use `chartgate verify` to check the signature)");
    println!("found in: {}", credential.via.as_str());
    println!("header: {}", serde_json::to_string_pretty(&header)?);
    println!("claims: {}", serde_json::to_string_pretty(&claims)?);
    for (k, v) in times {
        println!("{k}: {v} = {} ({})", utc(v), relative(v, now));
    }
    if let Some((code, description)) = engine_view {
        println!("the edge would refuse this token before checking its signature: {code}: {description}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The keys `verify` decides with: its own (`--keys`) and the trust policies' (`--trust`).
struct Verifiers<'k> {
    own: &'k KeySet,
    trust: &'k crate::TrustPolicies,
    trust_keys: &'k [KeySet],
}

/// Reads a trust-policy document and the keys of each policy (inline, or fetched: a key source
/// that cannot be reached is a failure of the system, exit 3 with the engine's reason code
/// `keys_unavailable` naming the policy, never a policy without keys). The engine's warnings about
/// the document ([`crate::TrustPolicies::warnings`], the same the inspector page shows) go to
/// stderr; they do not change the exit status.
fn load_trust(path: &Path) -> Result<(crate::TrustPolicies, Vec<KeySet>), CliError> {
    let policies = crate::TrustPolicies::from_json(&read_file(path, "trust policies")?)
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    for warning in policies.warnings() {
        eprintln!("warning: {}: {warning}", path.display());
    }
    let fetcher = crate::issuer::trusted::TrustKeys::new(&policies, &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let keys = runtime.block_on(async {
        let mut keys = Vec::new();
        for (i, p) in policies.policies().iter().enumerate() {
            // The engine's code for it, as the edge answers it; the cause from the fetch.
            let unavailable = |e: crate::issuer::TokenError| {
                CliError::Failed(format!("{}: {e}", Reason::KeysUnavailable(Some(p.name.clone())).code()))
            };
            keys.push((*fetcher.keys(i, p, 0).await.map_err(unavailable)?).clone());
        }
        Ok::<_, CliError>(keys)
    })?;
    Ok((policies, keys))
}

fn verify_cmd(
    keys: &Verifiers<'_>,
    policy: &Policy,
    now: u64,
    request: Option<&str>,
    input: &str,
    as_json: bool,
) -> CliResult {
    let backend = NativeVerifier::new(keys.own);
    let line;
    let request_line = match request {
        Some(r) => Some(r),
        None => match split_url(input.trim()) {
            Some((_, path)) => {
                line = format!("GET {path}");
                Some(line.as_str())
            }
            None => None,
        },
    };
    let Some(request_line) = request_line else {
        // Token only: signature, time, issuer, audience.
        let credential = find_token(input).map_err(|e| usage(e.to_string()))?;
        let trust_keys = |i: usize| keys.trust_keys.get(i);
        let result =
            crate::verify_any(&credential.token, keys.own, keys.trust, trust_keys, &backend, now, policy.leeway())
                .and_then(|t| match &t.trusted {
                    Some(_) => Ok(t),
                    None => crate::check_claims(&t.claims, policy, now).map(|()| t),
                });
        return Ok(match result {
            Ok(token) => match &token.trusted {
                Some(by) => {
                    let grants = token.claims.access.allowed.to_string();
                    let value = json!({"valid": true, "kid": token.kid, "trusted": {"policy": by.policy, "rule": by.rule, "issuer": by.issuer}, "grants": grants, "sub": token.claims.sub, "exp": token.claims.exp});
                    let text = format!("valid: trust policy {:?}, rule {:?} grants {grants}", by.policy, by.rule);
                    report(as_json, value, &text)
                }
                None => {
                    report(as_json, json!({"valid": true, "kid": token.kid, "claims": token.claims.to_json()}), "valid")
                }
            },
            Err(reason) => report_denial(as_json, &Denial::new(reason), policy),
        });
    };
    let mut req = Request::from_line(request_line)
        .ok_or_else(|| usage(format!("--request {request_line:?} is not \"METHOD /path\"")))?;
    // The credential travels as it was pasted (header, Basic, ?token=), so it is read as the edge reads it.
    let pasted = Pasted::parse(input);
    req.authorization = pasted.authorization.as_deref();
    req.query = pasted.query.as_deref();
    Ok(match crate::decide_trusted(&req, keys.own, keys.trust, keys.trust_keys, policy, now, &backend) {
        Ok(grant) => {
            let needs = grant.scope.as_ref().map_or("nothing".to_owned(), ToString::to_string);
            let by = grant
                .trusted
                .as_deref()
                .map_or(String::new(), |t| format!(" (trust policy {:?}, rule {:?})", t.policy, t.rule));
            report(as_json, grant.to_json(), &format!("allowed: {request_line} needs {needs}{by}"))
        }
        Err(denial) => report_denial(as_json, &denial, policy),
    })
}

fn report(as_json: bool, value: serde_json::Value, text: &str) -> ExitCode {
    if as_json {
        println!("{value}");
    } else {
        println!("{text}");
    }
    ExitCode::SUCCESS
}

fn report_denial(as_json: bool, denial: &Denial, policy: &Policy) -> ExitCode {
    let challenge = denial.www_authenticate(policy);
    if as_json {
        println!("{}", denial.to_json(policy));
    } else {
        println!("denied ({}): {}: {}", denial.status(), denial.reason.code(), denial.reason);
        if let Some(c) = challenge {
            println!("WWW-Authenticate: {c}");
        }
    }
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(split_url("https://h:8/a/b?token=x"), Some(("https://h:8", "/a/b")));
        assert_eq!(split_url("http://h/a#f"), Some(("http://h", "/a")));
        assert_eq!(split_url("http://h"), None);
        assert_eq!(split_url("ftp://h/a"), None);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
