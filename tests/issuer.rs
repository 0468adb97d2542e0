//! The issuer: every endpoint, the RFC 6749 errors, the ChartMuseum example's exact request,
//! tokens accepted by the core verifier, JWKS across a rotation, downscoping, signed URLs, rate
//! limiting, and an SSO exchange against a locally served JWKS. Requests made with [`call`] go to
//! the router in-process (`tower::ServiceExt::oneshot`, as from 127.0.0.1); curl, the health and
//! metrics checks and the access log go over a real socket to the same issuer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use chartgate::issuer::secret::SecretHash;
use chartgate::issuer::{Issuer, IssuerConfig};
use chartgate::{
    access::{Policy, PolicySettings, Request},
    crypto::{NativeVerifier, SigningKey},
    key::KeySet,
};
use serde_json::{json, Value};

use crate::util::{key, other_key};

const MASTER_KEY: &str = "master-key-0123";

fn secret_hash(secret: &str) -> String {
    SecretHash::new(secret).to_string()
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// Starts an issuer on 127.0.0.1:0 with `extra` TOML appended; returns its base URL.
fn start(dir_name: &str, extra: &str) -> String {
    start_with_clock(dir_name, extra, Arc::new(chartgate::issuer::now))
}

fn start_with_clock(dir_name: &str, extra: &str, clock: chartgate::issuer::Clock) -> String {
    let dir = std::env::temp_dir().join(format!("chartgate-issuer-{dir_name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("active.pem"), key().private_pem().unwrap()).unwrap();
    std::fs::write(dir.join("retiring.pem"), other_key().public_pem().unwrap()).unwrap();
    let listener = runtime().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let toml = format!(
        r#"
issuer = "{base}"
audience = "charts"
default_ttl = "5m"
max_ttl = "1h"

[[keys]]
private = "active.pem"
[[keys]]
public = "retiring.pem"

[[clients]]
id = "ci"
secret_hash = "{ci}"
scopes = ["artifact-repository:org1/*:pull", "artifact-repository:org1/app:push"]
max_ttl = "10m"

[[clients]]
id = "chartmuseum"
secret_hash = "{master}"
scopes = ["artifact-repository:*:pull,push"]
bearer = true

[[clients]]
id = "pct"
secret_hash = "{pct}"
scopes = ["artifact-repository:org1/*:pull", "repository:org1/*:pull"]
{extra}"#,
        ci = secret_hash("ci-secret"),
        master = secret_hash(MASTER_KEY),
        pct = secret_hash(&printable_secret()),
    );
    let path = dir.join("chartgate.toml");
    std::fs::write(&path, toml).unwrap();
    let config = IssuerConfig::load(&path).unwrap();
    let issuer = Arc::new(Issuer::with_clock(config, clock));
    let peer = axum::extract::connect_info::MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
    routers().lock().unwrap().insert(base.clone(), chartgate::issuer::app(issuer.clone()).layer(peer));
    runtime().spawn(chartgate::issuer::serve(issuer, listener));
    base
}

/// The in-process routers of the issuers [`start`] made, by base URL.
fn routers() -> &'static std::sync::Mutex<std::collections::HashMap<String, axum::Router>> {
    static ROUTERS: OnceLock<std::sync::Mutex<std::collections::HashMap<String, axum::Router>>> = OnceLock::new();
    ROUTERS.get_or_init(Default::default)
}

fn base() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| start("main", ""))
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Sends a request: in-process to an issuer's router when the URL is one of [`start`]'s, over
/// the network otherwise.
fn call(req: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    use tower::ServiceExt as _;
    let req = req.build().unwrap();
    let url = req.url();
    let origin = format!("{}://{}:{}", url.scheme(), url.host_str().unwrap(), url.port_or_known_default().unwrap());
    let router = routers().lock().unwrap().get(&origin).cloned();
    runtime().block_on(async move {
        let Some(router) = router else {
            let res = http().execute(req).await.unwrap();
            let (status, headers) = (res.status().as_u16(), res.headers().clone());
            return (status, res.json::<Value>().await.unwrap_or(Value::Null), headers);
        };
        let target = match req.url().query() {
            Some(q) => format!("{}?{q}", req.url().path()),
            None => req.url().path().to_owned(),
        };
        let mut request = axum::http::Request::builder().method(req.method().clone()).uri(target);
        for (name, value) in req.headers() {
            request = request.header(name, value);
        }
        let body = req.body().and_then(|b| b.as_bytes()).unwrap_or_default().to_vec();
        let response = router.oneshot(request.body(axum::body::Body::from(body)).unwrap()).await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), headers)
    })
}

fn token_for(scope: &str) -> String {
    let url = format!("{}/oauth/token", base());
    let (status, body, _) = call(
        http()
            .post(url)
            .basic_auth("ci", Some("ci-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)]),
    );
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Decides `GET path` with `token` using the JWKS the issuer publishes.
fn edge_decides(token: &str, path: &str) -> Result<(), String> {
    let (_, jwks, _) = call(http().get(format!("{}/.well-known/jwks.json", base())));
    let keys = KeySet::from_json(&jwks.to_string()).unwrap();
    let settings =
        PolicySettings { issuer: Some(base().to_owned()), audience: Some("charts".into()), ..Default::default() };
    let policy = Policy::new(settings).unwrap();
    let auth = format!("Bearer {token}");
    let req = Request { method: "GET", path, query: None, authorization: Some(&auth) };
    chartgate::access::decide(&req, &keys, &policy, chartgate::issuer::now(), &NativeVerifier::new(&keys))
        .map(|_| ())
        .map_err(|d| d.reason.code().to_owned())
}

#[test]
fn client_credentials_with_basic_auth() {
    let token = token_for("artifact-repository:org1/repo1:pull");
    assert_eq!(edge_decides(&token, "/org1/repo1/index.yaml"), Ok(()));
    assert_eq!(edge_decides(&token, "/org2/repo1/index.yaml"), Err("insufficient_scope".into()));
    let url = format!("{}/oauth/token", base());
    let (status, body, headers) = call(http().post(&url).basic_auth("ci", Some("ci-secret")).form(&[
        ("grant_type", "client_credentials"),
        ("scope", "artifact-repository:org1/app:pull,push artifact-repository:org2/x:pull"),
    ]));
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "artifact-repository:org1/app:pull,push", "requested ∩ allowed");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(headers["cache-control"], "no-store");
}

#[test]
fn chartmuseum_example_request_with_curl() {
    // The seed's request, verbatim in shape: curl -X POST -H "Authorization: Bearer MASTERKEY" "$REALM?grant_type=…&scope=…"
    let realm = format!("{}/oauth/token", base());
    let scope = "artifact-repository:org1/repo1:pull";
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "-H", &format!("Authorization: Bearer {MASTER_KEY}")])
        .arg(format!("{realm}?grant_type=client_credentials&scope={scope}"))
        .output()
        .expect("curl");
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(edge_decides(token, "/org1/repo1/index.yaml"), Ok(()));
}

#[test]
fn rfc6749_errors() {
    let url = format!("{}/oauth/token", base());
    let (status, body, headers) = call(
        http()
            .post(&url)
            .basic_auth("ci", Some("wrong"))
            .form(&[("grant_type", "client_credentials"), ("scope", "artifact-repository:org1/a:pull")]),
    );
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(headers["www-authenticate"], "Basic realm=\"chartgate\"");
    let (status, body, _) = call(
        http()
            .post(&url)
            .basic_auth("ci", Some("ci-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", "artifact-repository:org2/x:pull")]),
    );
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body, _) =
        call(http().post(&url).basic_auth("ci", Some("ci-secret")).form(&[("grant_type", "implicit")]));
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
    let (status, body, _) = call(http().post(&url).basic_auth("ci", Some("ci-secret")).form(&[("scope", "x")]));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body, _) = call(
        http()
            .post(&url)
            .basic_auth("ci", Some("ci-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", "not-a-scope")]),
    );
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body, _) = call(http().post(&url).form(&[("grant_type", "client_credentials"), ("scope", "x")]));
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
fn docker_token_partial_grant() {
    let url = format!(
        "{}/token?service=chartgate&scope=artifact-repository:org1/r:pull,push&scope=artifact-repository:org9/x:pull",
        base()
    );
    let (status, body, _) = call(http().get(&url).basic_auth("ci", Some("ci-secret")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let token = body["token"].as_str().unwrap();
    assert_eq!(edge_decides(token, "/org1/r/index.yaml"), Ok(()));
    assert_eq!(edge_decides(token, "/org9/x/index.yaml"), Err("insufficient_scope".into()));
}

/// Security round 4, case 6: `crane delete`, `skopeo delete` and `oras manifest delete` ask for
/// `delete` (alone, with `pull`, or merged `delete,pull,push`) and were refused `400
/// invalid_scope` whole; the Docker token specification grants what it can: `delete` is `push`
/// here, an unknown scope or action is left out, and nothing beyond the caller's grant is given.
#[test]
fn case_06_docker_token_requests_for_delete_get_what_can_be_granted() {
    let ask = |scopes: &[&str]| {
        let query: Vec<String> = scopes.iter().map(|s| format!("scope={}", s.replace(' ', "%20"))).collect();
        let url = format!("{}/token?service=chartgate&{}", base(), query.join("&"));
        let (status, body, _) = call(http().get(&url).basic_auth("ci", Some("ci-secret")));
        assert_eq!(status, 200, "{scopes:?}: {body}");
        claims_of(body["token"].as_str().unwrap())["access"].clone()
    };
    let push = json!([{"type": "repository", "name": "org1/app/x", "actions": ["push"]}]);
    assert_eq!(ask(&["repository:org1/app/x:delete"]), push, "skopeo delete");
    let both = json!([{"type": "repository", "name": "org1/app/x", "actions": ["pull", "push"]}]);
    assert_eq!(ask(&["repository:org1/app/x:pull,delete"]), both, "crane delete");
    assert_eq!(ask(&["repository:org1/app/x:delete,pull,push"]), both, "oras manifest delete");
    // Where the client may only pull, `delete` is left out and the pull is still granted.
    let pull = json!([{"type": "repository", "name": "org1/other/x", "actions": ["pull"]}]);
    assert_eq!(ask(&["repository:org1/other/x:pull,delete"]), pull);
    assert_eq!(ask(&["registry:catalog:*", "repository:org1/other/x:pull,metadata-read"]), pull);
    assert_eq!(ask(&["repository:org1/other/x:delete"]), json!([]), "nothing, and no error");
    // The OAuth 2 password grant of helm and oras reads its scopes the same way.
    let (status, body, _) = call(http().post(format!("{}/token", base())).form(&[
        ("grant_type", "password"),
        ("username", "ci"),
        ("password", "ci-secret"),
        ("scope", "repository:org1/app/x:pull,delete registry:catalog:*"),
    ]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["access"], both);
}

/// What helm 4 (`client_id=oras-go`, no scope) and helm 3 (`client_id=containerd-client`,
/// space-joined scopes) POST at `registry login` and push: the OAuth 2 password grant, answered
/// with `access_token` at the first try, on both token paths.
#[test]
fn registry_login_password_grant() {
    for path in ["/token", "/oauth/token"] {
        let url = format!("{}{path}", base());
        let (status, body, _) = call(http().post(&url).form(&[
            ("client_id", "oras-go"),
            ("grant_type", "password"),
            ("username", "ci"),
            ("password", "ci-secret"),
            ("service", "chartgate"),
        ]));
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 100));
        assert!(body["expires_in"].as_u64().unwrap() >= 60);
        let (status, body, _) = call(http().post(&url).form(&[
            ("client_id", "containerd-client"),
            ("grant_type", "password"),
            ("username", "ci"),
            ("password", "ci-secret"),
            ("scope", "repository:org1/app/hello:pull,push repository:org2/x/y:pull"),
        ]));
        assert_eq!(status, 200, "{body}");
        let claims = claims_of(body["access_token"].as_str().unwrap());
        assert_eq!(
            claims["access"],
            json!([{"type": "repository", "name": "org1/app/hello", "actions": ["pull", "push"]}]),
            "partial grant: org2 is not the client's"
        );
        let (status, body, _) =
            call(http().post(&url).form(&[("grant_type", "password"), ("username", "ci"), ("password", "wrong")]));
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    }
}

/// Several repositories in one GET (crane asks for a mount source and target at once), repeated
/// and space-joined `scope` parameters, OCI names reached through the client's chart patterns.
#[test]
fn docker_token_several_repositories() {
    let url = format!(
        "{}/token?service=chartgate&scope=repository:org1/a/x:pull%20repository:org1/b/x:pull,push&scope=repository:org1/app/y:push",
        base()
    );
    let (status, body, _) = call(http().get(&url).basic_auth("ci", Some("ci-secret")));
    assert_eq!(status, 200, "{body}");
    let access = &claims_of(body["token"].as_str().unwrap())["access"];
    assert_eq!(
        access,
        &json!([
            {"type": "repository", "name": "org1/a/x", "actions": ["pull"]},
            {"type": "repository", "name": "org1/app/y", "actions": ["push"]},
            {"type": "repository", "name": "org1/b/x", "actions": ["pull"]},
        ])
    );
}

/// A chartgate token as the registry password (username `token`): the issued token is its
/// downscoped child (never broader, never longer-lived, in its lineage); a broken or expired
/// token is a 401 naming why.
#[test]
fn registry_login_with_a_chartgate_token() {
    let parent = token_for("artifact-repository:org1/repo1:pull");
    let url = format!("{}/token?service=chartgate&scope=repository:org1/repo1/hello:pull,push", base());
    let (status, body, _) = call(http().get(&url).basic_auth("token", Some(&parent)));
    assert_eq!(status, 200, "{body}");
    let (p, c) = (claims_of(&parent), claims_of(body["token"].as_str().unwrap()));
    assert_eq!(c["access"], json!([{"type": "repository", "name": "org1/repo1/hello", "actions": ["pull"]}]));
    assert!(c["exp"].as_u64() <= p["exp"].as_u64());
    assert_eq!(c["lineage"], json!([p["jti"]]));
    let (status, body, _) = call(http().post(format!("{}/token", base())).form(&[
        ("grant_type", "password"),
        ("username", "token"),
        ("password", &parent),
        ("scope", "repository:org2/x/y:pull"),
    ]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["access"], json!([]), "nothing outside the parent");
    let mut forged = parent.clone();
    forged.pop();
    let (status, body, headers) = call(http().get(&url).basic_auth("token", Some(&forged)));
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_grant")), "{body}");
    assert!(
        body["error_description"].as_str().unwrap().contains("bad_signature")
            || body["error_description"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    assert!(headers.contains_key("www-authenticate"));
}

fn exchange(form: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")];
    all.extend_from_slice(form);
    let (status, body, _) = call(http().post(format!("{}/oauth/token", base())).form(&all));
    (status, body)
}

fn claims_of(token: &str) -> Value {
    chartgate::token::dangerous_decode(token).unwrap().1
}

#[test]
fn downscoping_never_broadens_or_outlives() {
    let parent = token_for("artifact-repository:org1/a:pull artifact-repository:org1/b:pull");
    let (status, body) =
        exchange(&[("subject_token", &parent), ("scope", "artifact-repository:org1/a:pull"), ("expires_in", "60")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    let child = body["access_token"].as_str().unwrap();
    assert_eq!(edge_decides(child, "/org1/a/index.yaml"), Ok(()));
    assert_eq!(edge_decides(child, "/org1/b/index.yaml"), Err("insufficient_scope".into()));
    let (p, c) = (claims_of(&parent), claims_of(child));
    assert!(c["exp"].as_u64() <= p["exp"].as_u64());
    assert_eq!(c["lineage"], json!([p["jti"]]));
    let (status, body) = exchange(&[("subject_token", &parent), ("expires_in", "86400")]);
    assert_eq!(status, 200);
    assert!(claims_of(body["access_token"].as_str().unwrap())["exp"].as_u64() <= p["exp"].as_u64(), "never outlives");
    let (status, body) = exchange(&[("subject_token", &parent), ("scope", "artifact-repository:org1/a:push")]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) = exchange(&[("subject_token", &parent), ("path", "/org1/a/charts/x-1.0.0.tgz")]);
    assert_eq!(status, 200);
    let bound = body["access_token"].as_str().unwrap();
    assert_eq!(edge_decides(bound, "/org1/a/charts/x-1.0.0.tgz"), Ok(()));
    assert_eq!(edge_decides(bound, "/org1/a/index.yaml"), Err("path_not_bound".into()));
    let mut forged = parent.clone();
    forged.push('A');
    let (status, body) = exchange(&[("subject_token", &forged)]);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[test]
fn sign_url_for_a_pull_holder() {
    let token = token_for("artifact-repository:org1/repo1:pull");
    let url = format!("{}/sign-url", base());
    let chart = "https://charts.example.com/org1/repo1/charts/app-0.1.0.tgz";
    let (status, body, _) = call(http().post(&url).bearer_auth(&token).json(&json!({"url": chart, "ttl": 120})));
    assert_eq!(status, 200, "{body}");
    let signed = body["url"].as_str().unwrap();
    let link_token = signed.split_once("?token=").unwrap().1;
    assert_eq!(edge_decides(link_token, "/org1/repo1/charts/app-0.1.0.tgz"), Ok(()));
    assert_eq!(edge_decides(link_token, "/org1/repo1/charts/app-0.2.0.tgz"), Err("path_not_bound".into()));
    let c = claims_of(link_token);
    assert!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap() <= 120);
    let other = "https://charts.example.com/org2/x/charts/app-0.1.0.tgz";
    let (status, body, _) = call(http().post(&url).bearer_auth(&token).json(&json!({"url": other})));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
}

#[test]
fn jwks_metadata_health_metrics_and_rotation() {
    let (_, jwks, headers) = call(http().get(format!("{}/.well-known/jwks.json", base())));
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [key().kid(), other_key().kid()], "active first, retiring still published");
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age"));
    // A token of the retiring key (issued before the rotation) still verifies at the edge.
    let old = SigningKey::from_pem(&other_key().private_pem().unwrap()).unwrap();
    let req = chartgate::token::MintRequest {
        scopes: chartgate::access::ScopeSet::parse("artifact-repository:org1/repo1:pull").unwrap(),
        iss: Some(base().to_owned()),
        aud: Some("charts".into()),
        ..Default::default()
    };
    let old_token = old.sign(&req.claims(chartgate::issuer::now())).unwrap();
    assert_eq!(edge_decides(&old_token, "/org1/repo1/index.yaml"), Ok(()));
    let new_token = token_for("artifact-repository:org1/repo1:pull");
    assert_eq!(chartgate::token::dangerous_decode(&new_token).unwrap().0["kid"], key().kid());

    let (_, meta, _) = call(http().get(format!("{}/.well-known/oauth-authorization-server", base())));
    assert_eq!(meta["issuer"], base());
    assert_eq!(meta["token_endpoint"], format!("{}/oauth/token", base()));
    let health = runtime()
        .block_on(async { http().get(format!("{}/healthz", base())).send().await.unwrap().text().await.unwrap() });
    assert_eq!(health, "ok");
    let metrics = runtime()
        .block_on(async { http().get(format!("{}/metrics", base())).send().await.unwrap().text().await.unwrap() });
    assert!(metrics.contains("chartgate_tokens_issued_total{grant=\"client_credentials\"}"), "{metrics}");
    assert!(metrics.contains("chartgate_request_duration_seconds_count"));
}

#[test]
fn failed_client_auth_is_rate_limited() {
    let base = start("limits", "");
    let url = format!("{base}/oauth/token");
    let form = [("grant_type", "client_credentials"), ("scope", "artifact-repository:org1/a:pull")];
    for _ in 0..10 {
        let (status, _, _) = call(http().post(&url).basic_auth("ci", Some("nope")).form(&form));
        assert_eq!(status, 401);
    }
    let (status, body, _) = call(http().post(&url).basic_auth("ci", Some("nope")).form(&form));
    assert_eq!((status, body["error"].as_str()), (429, Some("too_many_requests")), "the guessing address waits");
    // Finding 4 of the second security round: the limit saves PBKDF2 work on failures only; a
    // caller with the right secret behind the same address is served.
    let (status, body, _) = call(http().post(&url).basic_auth("ci", Some("ci-secret")).form(&form));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn sso_exchange_with_local_jwks() {
    let sso_key = SigningKey::generate(2048).unwrap();
    let jwks = KeySet::new(vec![sso_key.public()]).unwrap().to_jwks().to_string();
    let listener = runtime().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks.clone() }));
    runtime().spawn(async move { axum::serve(listener, router).await });
    let base = start(
        "sso",
        &format!(
            r#"
[[sso]]
issuer = "https://sso.test"
jwks_url = "{jwks_url}"
audience = "chartgate"
[[sso.rules]]
match = [{{ claim = "groups", pattern = "^platform$" }}]
scopes = ["artifact-repository:*:pull"]
[[sso.rules]]
match = [{{ claim = "email", pattern = ".*@example\\.com" }}]
scopes = ["artifact-repository:public/*:pull"]
"#
        ),
    );
    let now = chartgate::issuer::now();
    let sso_token = |claims: Value, signer: &SigningKey| {
        let header = json!({"alg": "RS256", "kid": signer.kid()}).to_string();
        signer.sign_raw(header.as_bytes(), claims.to_string().as_bytes()).unwrap()
    };
    let url = format!("{base}/oauth/token");
    let ask = |token: &str, scope: &str| {
        let (status, body, _) = call(http().post(&url).form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("scope", scope),
        ]));
        (status, body)
    };
    let platform = json!({"iss": "https://sso.test", "aud": "chartgate", "sub": "alice", "exp": now + 300, "groups": ["dev", "platform"]});
    let (status, body) = ask(&sso_token(platform.clone(), &sso_key), "artifact-repository:org1/repo1:pull,push");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "artifact-repository:org1/repo1:pull", "first rule: pull only");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["sub"], "alice");
    let outsider = json!({"iss": "https://sso.test", "aud": "chartgate", "sub": "bob", "exp": now + 300, "email": "bob@example.com"});
    let (status, body) = ask(&sso_token(outsider.clone(), &sso_key), "artifact-repository:org1/repo1:pull");
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "second rule does not cover org1");
    let (status, _) = ask(&sso_token(outsider, &sso_key), "artifact-repository:public/charts:pull");
    assert_eq!(status, 200);
    let nobody = json!({"iss": "https://sso.test", "aud": "chartgate", "sub": "eve", "exp": now + 300});
    assert_eq!(ask(&sso_token(nobody, &sso_key), "artifact-repository:public/x:pull").1["error"], "invalid_scope");
    let forged = sso_token(platform.clone(), other_key());
    assert_eq!(ask(&forged, "artifact-repository:org1/repo1:pull").1["error"], "invalid_grant");
    let mut wrong_aud = platform;
    wrong_aud["aud"] = "other".into();
    assert_eq!(ask(&sso_token(wrong_aud, &sso_key), "artifact-repository:org1/repo1:pull").1["error"], "invalid_grant");
}

/// Security round 4, finding G5: the issuer's workload keys lacked the edge's refresh rules.
/// While a provider failed, each anonymous request with its `iss` made the issuer call the
/// provider again; after a rotation, tokens with the new `kid` were refused for up to 5 minutes.
/// Now: one call per interval while it fails (fail closed meanwhile), one shared fetch for
/// concurrent requests, and one refetch for an unknown `kid`.
#[test]
fn finding_g5_the_issuers_workload_keys_follow_the_edges_refresh_rules() {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let (a, b) = (SigningKey::generate(2048).unwrap(), SigningKey::generate(2048).unwrap());
    // 0: failing (500), 1: key a, 2: keys a and b (a rotation).
    let mode = Arc::new(AtomicUsize::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let jwks = [
        String::new(),
        KeySet::new(vec![a.public()]).unwrap().to_jwks().to_string(),
        KeySet::new(vec![a.public(), b.public()]).unwrap().to_jwks().to_string(),
    ];
    let listener = runtime().block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let jwks_url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let (m, h) = (mode.clone(), hits.clone());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (m, h, jwks) = (m.clone(), h.clone(), jwks.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                match m.load(Ordering::SeqCst) {
                    0 => Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                    i => Ok(jwks[i].clone()),
                }
            }
        }),
    );
    runtime().spawn(async move { axum::serve(listener, router).await });
    let clock = Arc::new(AtomicU64::new(chartgate::issuer::now()));
    let c = clock.clone();
    let base = start_with_clock(
        "g5",
        &format!(
            r#"
[[sso]]
issuer = "https://sso.g5.test"
jwks_url = "{jwks_url}"
audience = "chartgate"
[[sso.rules]]
match = [{{ claim = "sub", pattern = "alice" }}]
scopes = ["artifact-repository:*:pull"]
"#
        ),
        Arc::new(move || c.load(Ordering::SeqCst)),
    );
    let token = |signer: &SigningKey| {
        let now = clock.load(Ordering::SeqCst);
        let claims = json!({"iss": "https://sso.g5.test", "aud": "chartgate", "sub": "alice", "exp": now + 300});
        let header = json!({"alg": "RS256", "kid": signer.kid()}).to_string();
        signer.sign_raw(header.as_bytes(), claims.to_string().as_bytes()).unwrap()
    };
    let url = format!("{base}/oauth/token");
    // The provider fails: twenty requests at once and twenty more one by one cost it one call.
    let tasks: Vec<_> = (0..20).map(|_| runtime().spawn(ask_request(&url, token(&a)).send())).collect();
    for task in tasks {
        assert_eq!(runtime().block_on(task).unwrap().unwrap().status(), 503);
    }
    for _ in 0..20 {
        let (status, body, _) = call(ask_request(&url, token(&a)));
        assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one call while the provider fails");
    // It recovers; past the interval the next request fetches again.
    mode.store(1, Ordering::SeqCst);
    clock.fetch_add(10, Ordering::SeqCst);
    assert_eq!(call(ask_request(&url, token(&a))).0, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // The provider rotates in key b: the first token with its kid refetches once, at once.
    mode.store(2, Ordering::SeqCst);
    clock.fetch_add(10, Ordering::SeqCst);
    let (status, body, _) = call(ask_request(&url, token(&b)));
    assert_eq!(status, 200, "a new kid is accepted without waiting for the TTL: {body}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(call(ask_request(&url, token(&b))).0, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "cached");
    // An unknown kid within the interval does not make the issuer call the provider again.
    let stranger = SigningKey::generate(2048).unwrap();
    assert_eq!(call(ask_request(&url, token(&stranger))).0, 400);
    assert_eq!(hits.load(Ordering::SeqCst), 3, "rate limited");
}

fn ask_request(url: &str, token: String) -> reqwest::RequestBuilder {
    http().post(url).form(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
        ("scope", "artifact-repository:org1/repo1:pull".to_owned()),
    ])
}

#[test]
fn cli_serve_refuses_a_broken_config_and_hash_secret_round_trips() {
    let dir = std::env::temp_dir().join(format!("chartgate-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("chartgate.toml");
    std::fs::write(&path, "issuer = \"http://x\"\n\n[[clients]]\nid = \"a\"\nsecret_hash = \"plain\"\nscopes = []\n")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chartgate")).args(["serve", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chartgate.toml:") && stderr.contains("keys"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_chartgate")).args(["hash-secret", "s3cret"]).output().unwrap();
    let hash: SecretHash = String::from_utf8(out.stdout).unwrap().trim().parse().unwrap();
    assert!(hash.verify("s3cret") && !hash.verify("s3cret2"));
}

#[test]
fn access_log_names_client_grant_and_status_never_a_secret_or_token() {
    use std::io::{BufRead as _, BufReader};
    let dir = std::env::temp_dir().join(format!("chartgate-accesslog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chartgate"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let (status, body, _) = call(http().post(format!(
        "{url}/oauth/token?grant_type=client_credentials&client_id=dev&client_secret=dev-secret&scope=artifact-repository:org1/repo1:pull"
    )));
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (status, _, _) = call(http().get(format!("{url}/token?scope=x")).basic_auth("dev", Some("wrong")));
    assert_eq!(status, 401);
    let mut access = Vec::new();
    while access.len() < 2 {
        let line = lines.next().unwrap().unwrap();
        assert!(!line.contains("dev-secret") && !line.contains(&token) && !line.contains("wrong"), "{line}");
        if line.contains("\"access\"") {
            access.push(serde_json::from_str::<Value>(&line).unwrap());
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(access[0]["span"]["path"], "/oauth/token");
    assert_eq!(access[0]["span"]["client"], "dev");
    assert_eq!(access[0]["span"]["grant"], "client_credentials");
    assert_eq!(access[0]["fields"]["status"], 200);
    assert!(access[0]["fields"]["latency_ms"].as_f64().is_some());
    assert_eq!(
        (access[1]["span"]["grant"].as_str(), access[1]["fields"]["status"].as_u64()),
        (Some("docker"), Some(401))
    );
}

/// The router without a socket (`tower::ServiceExt::oneshot`): a body over the limit is refused
/// before any handler runs, and metrics are OpenMetrics text.
#[test]
fn router_limits_bodies_and_exports_openmetrics() {
    use axum::extract::connect_info::MockConnectInfo;
    use tower::ServiceExt as _;
    let dir = std::env::temp_dir().join(format!("chartgate-oneshot-{}", std::process::id()));
    let issuer = Arc::new(Issuer::new(IssuerConfig::dev(&dir).unwrap()));
    let app = chartgate::issuer::app(issuer).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 1], 1234))));
    let big = axum::http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(vec![b'a'; chartgate::issuer::MAX_BODY + 1]))
        .unwrap();
    let response = runtime().block_on(app.clone().oneshot(big)).unwrap();
    assert_eq!(response.status(), 413);
    let form = axum::http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic ZGV2OmRldi1zZWNyZXQ=")
        .body(axum::body::Body::from("grant_type=client_credentials&scope=artifact-repository:a/b:pull"))
        .unwrap();
    assert_eq!(runtime().block_on(app.clone().oneshot(form)).unwrap().status(), 200);
    let metrics = axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap();
    let response = runtime().block_on(app.oneshot(metrics)).unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let body = runtime().block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("chartgate_tokens_issued_total{grant=\"client_credentials\"} 1"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

/// A client secret made of every printable ASCII character, led by the one from the bug report
/// (`%41` is not `A`, `+` is not a space, `:` after the first one is part of the secret).
fn printable_secret() -> String {
    let all: String = (0x20u8..0x7f).map(char::from).collect();
    format!("f%41x:q~\"n;p+&w%zz!{all}")
}

/// Security round 3, item 6: every door of the issuer reads a client secret containing `%`,
/// `+`, `:` and every other printable character as the client sent it. Basic is RFC 7617
/// (verbatim, as docker, helm and curl send it); the form-encoded Basic of RFC 6749 §2.3.1 (Go's
/// oauth2) and the form parameters work too; the percent-decoded secret is not the secret.
#[test]
fn a_client_secret_with_percent_and_every_printable_character_works_at_every_door() {
    let secret = printable_secret();
    let scope = "artifact-repository:org1/r:pull";
    let docker = format!("{}/token?service=chartgate&scope={scope}", base());
    let (status, body, _) = call(http().get(&docker).basic_auth("pct", Some(&secret)));
    assert_eq!(status, 200, "GET /token with Basic (helm pull after registry login): {body}");
    let oauth = format!("{}/oauth/token", base());
    let grant = [("grant_type", "client_credentials"), ("scope", scope)];
    let (status, body, _) = call(http().post(&oauth).basic_auth("pct", Some(&secret)).form(&grant));
    assert_eq!(status, 200, "POST /oauth/token with verbatim Basic: {body}");
    let form_encoded: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let (status, body, _) = call(http().post(&oauth).basic_auth("pct", Some(&form_encoded)).form(&grant));
    assert_eq!(status, 200, "POST /oauth/token with RFC 6749 form-encoded Basic: {body}");
    let (status, body, _) = call(http().post(&oauth).form(&[
        ("grant_type", "client_credentials"),
        ("scope", scope),
        ("client_id", "pct"),
        ("client_secret", &secret),
    ]));
    assert_eq!(status, 200, "client_secret in the form: {body}");
    for path in ["/token", "/oauth/token"] {
        let (status, body, _) = call(http().post(format!("{}{path}", base())).form(&[
            ("grant_type", "password"),
            ("service", "chartgate"),
            ("username", "pct"),
            ("password", &secret),
        ]));
        assert_eq!(status, 200, "helm registry login's password grant at {path}: {body}");
    }
    let decoded = percent_encoding::percent_decode_str(&secret).decode_utf8_lossy().into_owned();
    assert_ne!(decoded, secret);
    let (status, _, _) = call(http().get(&docker).basic_auth("pct", Some(&decoded)));
    assert_eq!(status, 401, "the percent-decoded secret is another secret");
}

/// Signs `claims` with a P-256 key as an ES256 JWS (`r || s`), as Kubernetes clusters with EC
/// service-account keys do.
fn es256_token(key: &openssl::ec::EcKey<openssl::pkey::Private>, kid: &str, claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "ES256", "kid": kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let digest = openssl::sha::sha256(input.as_bytes());
    let sig = openssl::ecdsa::EcdsaSig::sign(&digest, key).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    format!("{input}.{}", b64(&raw))
}

/// Trust policies at the issuer (#24): a workload token is the password of the Docker token
/// endpoint (GET with Basic, POST with the password grant, any username) and an RFC 8693
/// `subject_token`; what is minted is never broader than the rule's grant, never outlives the
/// workload token, names the workload in `sub`, its `jti` in `lineage`, and the policy in `trust`.
#[test]
fn workload_tokens_are_exchanged_never_broader_or_longer() {
    use base64::Engine as _;
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    let ec = openssl::ec::EcKey::generate(&group).unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (openssl::bn::BigNum::new().unwrap(), openssl::bn::BigNum::new().unwrap());
    ec.public_key().affine_coordinates(&group, &mut x, &mut y, &mut ctx).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "cluster-1", "x": b64(x.to_vec_padded(32).unwrap()), "y": b64(y.to_vec_padded(32).unwrap())});
    let keys = jwk.to_string().replace('"', "\\\"");
    let base = start(
        "trust",
        &format!(
            r#"
[[trust]]
name = "cluster"
issuer = "https://kubernetes.default.svc"
audience = "charts.example.com"
keys = "{keys}"
max_ttl = "10m"
[[trust.rules]]
name = "deployers"
match = {{ "kubernetes.io/namespace" = "ci", "kubernetes.io/serviceaccount/name" = "deployer" }}
scopes = ["artifact-repository:org1/{{kubernetes.io/namespace}}:pull,push", "artifact-repository:org1/shared:pull"]
"#
        ),
    );
    let now = chartgate::issuer::now();
    let claims = |sa: &str, exp: u64| {
        json!({"iss": "https://kubernetes.default.svc", "aud": ["charts.example.com"], "sub": format!("system:serviceaccount:ci:{sa}"),
               "iat": now - 5, "nbf": now - 5, "exp": exp, "jti": "wl-1",
               "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": sa, "uid": "u"}}})
    };
    let workload = es256_token(&ec, "cluster-1", &claims("deployer", now + 120));
    // GET /token, Basic with any username.
    let url = format!("{base}/token?service=chartgate&scope=artifact-repository:org1/ci:pull,push&scope=artifact-repository:org2/x:pull");
    let (status, body, _) = call(http().get(&url).basic_auth("oidc", Some(&workload)));
    assert_eq!(status, 200, "{body}");
    let minted = claims_of(body["token"].as_str().unwrap());
    assert_eq!(minted["sub"], "system:serviceaccount:ci:deployer");
    assert_eq!(minted["lineage"], json!(["wl-1"]));
    assert_eq!(
        minted["trust"],
        json!({"policy": "cluster", "rule": "deployers", "iss": "https://kubernetes.default.svc"})
    );
    assert_eq!(
        minted["access"],
        json!([{"type": "artifact-repository", "name": "org1/ci", "actions": ["pull", "push"]}]),
        "org2 is cut"
    );
    assert!(minted["exp"].as_u64().unwrap() <= now + 120, "never longer than the workload token");
    // POST, the password grant helm sends.
    let form = [
        ("grant_type", "password"),
        ("username", "x"),
        ("password", workload.as_str()),
        ("service", "chartgate"),
        ("scope", "artifact-repository:org1/shared:pull,push"),
    ];
    let (status, body, _) = call(http().post(format!("{base}/token")).form(&form));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["access"][0]["actions"],
        json!(["pull"]),
        "push on shared is cut"
    );
    // RFC 8693: without a scope, everything the rule names exactly.
    let exchange = |token: &str, scope: Option<&str>| {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
            ("subject_token", token.to_owned()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".to_owned()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s.to_owned()));
        }
        let (status, body, _) = call(http().post(format!("{base}/oauth/token")).form(&form));
        (status, body)
    };
    let (status, body) = exchange(&workload, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "artifact-repository:org1/ci:pull,push artifact-repository:org1/shared:pull");
    let (status, body) = exchange(&workload, Some("artifact-repository:org2/x:pull"));
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    // A long-lived workload token is capped by max_ttl (10 min after iat).
    let long = es256_token(&ec, "cluster-1", &claims("deployer", now + 86_400));
    let (_, body) = exchange(&long, None);
    assert!(claims_of(body["access_token"].as_str().unwrap())["exp"].as_u64().unwrap() <= now - 5 + 600);
    // Refusals: another service account (no rule), a forged signature, an expired token.
    let (status, body) = exchange(&es256_token(&ec, "cluster-1", &claims("default", now + 120)), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("trust policy \"cluster\""), "{body}");
    let other = openssl::ec::EcKey::generate(&group).unwrap();
    let (status, body) = exchange(&es256_token(&other, "cluster-1", &claims("deployer", now + 120)), None);
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (_, body) = exchange(&es256_token(&ec, "cluster-1", &claims("deployer", now - 3600)), None);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _, _) = call(
        http().get(&url).basic_auth("oidc", Some(&es256_token(&other, "cluster-1", &claims("deployer", now + 120)))),
    );
    assert_eq!(status, 401, "a forged workload token logs in to nothing");
}
