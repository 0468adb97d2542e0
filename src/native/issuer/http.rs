//! The issuer's HTTP layer (axum): OAuth 2 token endpoint, Docker `/token`, `/sign-url`, JWKS,
//! RFC 8414 metadata, health and metrics. Client authentication is [`AuthenticatedClient`];
//! handlers translate requests into [`Issuer`] calls; errors become responses in one place
//! ([`TokenError`]'s `IntoResponse`). Around them: an access log (one JSON line per request:
//! method, path without query, client, grant, status, latency; never a secret or a token), a
//! request timeout and a body limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::field::Empty;

use super::config::Client;
use super::observe::METRICS_CONTENT_TYPE;
use super::{Issued, Issuer, RegistryLogin, TokenError};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Largest request body: a form with a token and a few scopes fits many times over.
pub const MAX_BODY: usize = 64 * 1024;
/// A request that takes longer (an SSO JWKS fetch that hangs) is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

type Shared = State<Arc<Issuer>>;

/// The router.
pub fn app(issuer: Arc<Issuer>) -> Router {
    Router::new()
        // Both paths answer both forms, so one realm serves helm's HTTP repositories and OCI
        // registry logins alike: GET is the Docker token endpoint, POST the OAuth 2 form.
        .route("/oauth/token", post(oauth_token).get(docker_token))
        .route("/token", get(docker_token).post(oauth_token))
        .route("/sign-url", post(sign_url))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(issuer.clone(), timed))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(
            TraceLayer::new_for_http()
                // The path only: a query can carry a client secret or a token.
                .make_span_with(|request: &Request| {
                    let path = request.uri().path();
                    let span =
                        tracing::info_span!("request", method = %request.method(), path, client = Empty, grant = Empty);
                    // Routes with one grant name it now; /oauth/token records its grant_type.
                    match (path, request.method().as_str()) {
                        ("/token" | "/oauth/token", "GET") => span.record("grant", "docker"),
                        ("/sign-url", _) => span.record("grant", "sign_url"),
                        _ => &span,
                    };
                    span
                })
                .on_request(())
                .on_response(|response: &Response, latency: Duration, _: &tracing::Span| {
                    tracing::info!(
                        status = response.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "access"
                    );
                })
                .on_failure(()),
        )
        .with_state(issuer)
}

/// Serves until Ctrl-C.
pub async fn serve(issuer: Arc<Issuer>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let service = app(issuer).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

async fn timed(State(issuer): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    issuer.metrics.observe(started.elapsed());
    response
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({
            "error": self.code(),
            "error_description": self.to_string(),
            // Docker distribution clients read this form.
            "errors": [{"code": self.code().to_uppercase(), "message": self.to_string()}],
        });
        let mut response = (status, no_store(), Json(body)).into_response();
        if matches!(self, TokenError::InvalidClient | TokenError::NoCredentials | TokenError::LoginRefused(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"chartgate\""));
        }
        response
    }
}

fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")]
}

/// Query and `application/x-www-form-urlencoded` body parameters, repeated keys kept (the body
/// wins for a name in both).
struct Params(Vec<(String, String)>);

impl Params {
    fn new(query: Option<&str>, body: &[u8]) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes()).chain(form_urlencoded::parse(body));
        Params(pairs.map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }
    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
    fn seconds(&self, name: &str) -> Result<Option<u64>, TokenError> {
        self.one(name)
            .map(|v| v.parse().map_err(|_| TokenError::InvalidRequest(format!("{name} must be a number of seconds"))))
            .transpose()
    }
}

/// A client that proved its secret: `Authorization: Basic id:secret`, `Authorization: Bearer
/// <secret>` (master-key style, clients with `bearer = true`) or `client_id` and `client_secret`
/// parameters. Failures are `invalid_client` (401) or, from a limited address, 429.
pub struct AuthenticatedClient(pub Client);

impl AuthenticatedClient {
    /// Authenticates the client of a request with these headers and parameters, from `peer`.
    async fn from_params(
        issuer: &Issuer,
        headers: &HeaderMap,
        params: &Params,
        peer: Option<SocketAddr>,
    ) -> Result<Self, TokenError> {
        let offered = client_secret(headers, params)?;
        Ok(AuthenticatedClient(verified_client(issuer, headers, &offered, peer).await?))
    }
}

/// The client whose secret this is (the issuer's limits apply to `peer`), named in the access log.
/// Basic credentials are tried as sent (RFC 7617: docker, helm, oras and curl send the secret
/// verbatim) and then, when that fails and decoding changes them, form-decoded (RFC 6749 §2.3.1,
/// as OAuth 2 libraries such as Go's send them).
async fn verified_client(
    issuer: &Issuer,
    headers: &HeaderMap,
    offered: &Offered,
    peer: Option<SocketAddr>,
) -> Result<Client, TokenError> {
    let peer = peer.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |p| p.ip());
    let addr = issuer.client_addr(peer, headers);
    let client = match issuer.authenticate(offered.id.as_deref(), &offered.secret, addr).await {
        Err(TokenError::InvalidClient) if offered.form_decoded.is_some() => {
            let (id, secret) = offered.form_decoded.as_ref().map(|(i, s)| (i.as_str(), s.as_str())).unwrap_or_default();
            issuer.authenticate(Some(id), secret, addr).await?
        }
        other => other?,
    };
    tracing::Span::current().record("client", client.id.as_str());
    Ok(client.clone())
}

impl FromRequestParts<Arc<Issuer>> for AuthenticatedClient {
    type Rejection = TokenError;

    /// From the headers and the query.
    async fn from_request_parts(parts: &mut Parts, issuer: &Arc<Issuer>) -> Result<Self, TokenError> {
        let params = Params::new(parts.uri.query(), b"");
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Self::from_params(issuer, &parts.headers, &params, peer).await
    }
}

/// The username that marks a registry login's password as a chartgate token.
pub const TOKEN_USERNAME: &str = "token";

impl RegistryLogin {
    /// A registry login: `username`/`password` parameters (the OAuth 2 password grant helm and
    /// oras POST) or Basic; username `token` gives a chartgate token, any other a client id.
    async fn from_params(
        issuer: &Issuer,
        headers: &HeaderMap,
        params: &Params,
        peer: Option<SocketAddr>,
    ) -> Result<Self, TokenError> {
        let offered = match (params.one("username"), params.one("password")) {
            (Some(user), Some(password)) => Offered::plain(Some(user.to_owned()), password.to_owned()),
            _ => client_secret(headers, params)?,
        };
        if offered.id.as_deref() == Some(TOKEN_USERNAME) {
            tracing::Span::current().record("client", TOKEN_USERNAME);
            return Ok(RegistryLogin::Token(offered.secret));
        }
        // A token of a trusted issuer as the password, whatever the username (CI jobs log in with
        // `--username oidc --password "$TOKEN"`): admitted by its policy, no client secret.
        if super::trusted::TrustKeys::routes(&issuer.config, &offered.secret) {
            tracing::Span::current().record("client", "workload");
            return Ok(RegistryLogin::Workload(offered.secret));
        }
        Ok(RegistryLogin::Client(verified_client(issuer, headers, &offered, peer).await?))
    }
}

/// The client credentials a request offers: the id (none for a bearer master key), the secret,
/// and for Basic the form-decoded reading of both when it differs from the verbatim one.
struct Offered {
    id: Option<String>,
    secret: String,
    form_decoded: Option<(String, String)>,
}

impl Offered {
    fn plain(id: Option<String>, secret: String) -> Offered {
        Offered { id, secret, form_decoded: None }
    }
}

/// Reads `Authorization: Basic` (RFC 7617: `id:secret`, split at the first `:`, taken verbatim),
/// `Authorization: Bearer <secret>`, or the `client_id`/`client_secret` parameters (already
/// form-decoded with the rest of the form).
fn client_secret(headers: &HeaderMap, params: &Params) -> Result<Offered, TokenError> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD.decode(rest.trim()).ok().and_then(|b| String::from_utf8(b).ok());
            let (id, secret) = decoded.as_deref().and_then(|d| d.split_once(':')).ok_or(TokenError::InvalidClient)?;
            let form = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().ok().map(|v| v.into_owned())
            };
            let form_decoded = match (form(id), form(secret)) {
                (Some(i), Some(s)) if (i.as_str(), s.as_str()) != (id, secret) => Some((i, s)),
                _ => None,
            };
            return Ok(Offered { id: Some(id.to_owned()), secret: secret.to_owned(), form_decoded });
        }
        if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
            return Ok(Offered::plain(None, rest.trim().to_owned()));
        }
        return Err(TokenError::InvalidClient);
    }
    match (params.one("client_id"), params.one("client_secret")) {
        (Some(id), Some(secret)) => Ok(Offered::plain(Some(id.to_owned()), secret.to_owned())),
        (None, None) => Err(TokenError::NoCredentials),
        _ => Err(TokenError::InvalidClient),
    }
}

fn issued_response(issued: &Issued, exchange: bool) -> Response {
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope.to_string(),
    });
    if exchange {
        body["issued_token_type"] = ACCESS_TOKEN_TYPE.into();
    }
    (no_store(), Json(body)).into_response()
}

/// `POST /oauth/token`: client credentials (the client authenticates) or token exchange (the
/// subject token is the credential).
async fn oauth_token(
    State(issuer): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, TokenError> {
    let params = Params::new(query.as_deref(), &body);
    let grant_type =
        params.one("grant_type").ok_or_else(|| TokenError::InvalidRequest("grant_type is required".into()))?;
    tracing::Span::current().record("grant", grant_type.chars().take(64).collect::<String>().as_str());
    match grant_type {
        "client_credentials" => {
            let AuthenticatedClient(client) =
                AuthenticatedClient::from_params(&issuer, &headers, &params, Some(peer)).await?;
            if params.one("requested_token_type") == Some(super::REGISTRY_LOGIN_TYPE) {
                return Ok(registry_login_response(&issuer.client_registry_login(&client)?));
            }
            let issued = issuer.client_credentials(&client, params.one("scope"), params.seconds("expires_in")?)?;
            Ok(issued_response(&issued, false))
        }
        "password" => {
            let login = RegistryLogin::from_params(&issuer, &headers, &params, Some(peer)).await?;
            let issued = issuer.docker(&login, &params.all("scope")).await?;
            Ok(docker_response(&issued, true))
        }
        TOKEN_EXCHANGE => {
            let subject = params
                .one("subject_token")
                .ok_or_else(|| TokenError::InvalidRequest("subject_token is required".into()))?;
            if params.one("requested_token_type") == Some(super::REGISTRY_LOGIN_TYPE) {
                return Ok(registry_login_response(&issuer.registry_login(subject).await?));
            }
            let issued = issuer
                .exchange(subject, params.one("scope"), params.seconds("expires_in")?, &params.all("path"))
                .await?;
            Ok(issued_response(&issued, true))
        }
        other => {
            issuer.metrics.denied("unsupported_grant_type");
            Err(TokenError::UnsupportedGrantType(other.chars().take(64).collect()))
        }
    }
}

/// A registry login's answer: RFC 8693 §2.2.1's `N_A` token type, as it is not an access token.
fn registry_login_response(issued: &Issued) -> Response {
    let body = json!({
        "access_token": issued.token,
        "token_type": "N_A",
        "expires_in": issued.expires_in,
        "issued_token_type": super::REGISTRY_LOGIN_TYPE,
    });
    (no_store(), Json(body)).into_response()
}

/// `GET /token`: the Docker distribution token endpoint.
async fn docker_token(
    State(issuer): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, TokenError> {
    let params = Params::new(query.as_deref(), b"");
    let login = RegistryLogin::from_params(&issuer, &headers, &params, Some(peer)).await?;
    let issued = issuer.docker(&login, &params.all("scope")).await?;
    Ok(docker_response(&issued, false))
}

/// The Docker token answer: `token` and `access_token` (clients read either), `expires_in`,
/// `issued_at` (RFC 3339); the OAuth 2 form adds `token_type` and `scope`.
fn docker_response(issued: &Issued, oauth: bool) -> Response {
    let issued_at =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(issued.issued_at));
    let mut body = json!({
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued_at.to_string(),
    });
    if oauth {
        body["token_type"] = "Bearer".into();
        body["scope"] = issued.scope.to_string().into();
    }
    (no_store(), Json(body)).into_response()
}

async fn sign_url(State(issuer): Shared, headers: HeaderMap, body: Bytes) -> Result<Response, TokenError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or_else(|| TokenError::InvalidRequest("send your chartgate token as Authorization: Bearer".into()))?;
    let (url, ttl) = if body.first() == Some(&b'{') {
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| TokenError::InvalidRequest(format!("body: {e}")))?;
        (v["url"].as_str().map(str::to_owned), v["ttl"].as_u64())
    } else {
        let params = Params::new(None, &body);
        (params.one("url").map(str::to_owned), params.seconds("ttl")?)
    };
    let url = url.ok_or_else(|| TokenError::InvalidRequest("url is required".into()))?;
    let signed = issuer.sign_url(bearer.trim(), &url, ttl)?;
    Ok((no_store(), Json(json!({"url": signed}))).into_response())
}

async fn jwks(State(issuer): Shared) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(issuer.jwks())).into_response()
}

/// RFC 8414 metadata. With `[login]`, four fields of chartgate's own (§2 allows them) tell
/// `chartgate login` where people sign in: `login_provider` (an OpenID provider's issuer),
/// `login_client_id` (its public device-flow client), `login_scope`, and `login_edges` (the
/// edges this issuer serves; a login through any other edge is refused).
async fn metadata(State(issuer): Shared) -> Json<serde_json::Value> {
    let base = issuer.config().issuer.trim_end_matches('/').to_owned();
    let mut body = json!({
        "issuer": issuer.config().issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", "password", TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "scopes_supported": [],
    });
    if let Some(login) = &issuer.config().login {
        body["login_provider"] = login.provider.clone().into();
        body["login_client_id"] = login.client_id.clone().into();
        body["login_scope"] = login.scope.clone().into();
        body["login_edges"] = login.edges.clone().into();
        if let Some(secret) = &login.client_secret {
            body["login_client_secret"] = secret.clone().into();
        }
    }
    Json(body)
}

async fn metrics(State(issuer): Shared) -> Response {
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], issuer.metrics_text()).into_response()
}
