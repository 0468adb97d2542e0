//! Regression tests of the second security round (issue 15), one per finding of the issuer and
//! the CLI, named after it. Each failed on 0ea6248. The issuer runs in-process with a pinned
//! clock; the edge's side of the same findings is in `tests/edge/regressions.test.mjs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chartgate::edge::revocation_keys;
use chartgate::issuer::secret::SecretHash;
use chartgate::issuer::{Issuer, IssuerConfig, TokenError};
use chartgate::{
    access::{Policy, Request},
    crypto::NativeVerifier,
    key::KeySet,
};
use serde_json::Value;

use crate::util::key;

const T: u64 = 1_800_000_000;

/// An issuer whose clock the test moves, with client `ci` (secret `ci-secret`) allowed
/// `allowed`, and `top` added to the configuration's top level.
fn issuer(top: &str, allowed: &str) -> (Issuer, Arc<AtomicU64>) {
    let dir = std::env::temp_dir().join(format!("chartgate-findings-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("active.pem"), key().private_pem().unwrap()).unwrap();
    let text = format!(
        "issuer = \"https://issuer.test\"\naudience = \"charts\"\n{top}\n[[keys]]\nprivate = \"active.pem\"\n\
         [[clients]]\nid = \"ci\"\nsecret_hash = \"{}\"\nscopes = [\"{allowed}\"]\n",
        SecretHash::new("ci-secret")
    );
    let config = IssuerConfig::parse("findings.toml", &text, dir).unwrap();
    let clock = Arc::new(AtomicU64::new(T));
    let read = clock.clone();
    (Issuer::with_clock(config, Arc::new(move || read.load(Ordering::SeqCst))), clock)
}

fn rand_suffix() -> String {
    chartgate::crypto::random_id()[..8].to_owned()
}

fn root(issuer: &Issuer, scope: &str, ttl: u64) -> String {
    let client = issuer.config().clients.iter().find(|c| c.id == "ci").unwrap();
    issuer.client_credentials(client, Some(scope), Some(ttl)).unwrap().token
}

fn claims(token: &str) -> Value {
    chartgate::token::dangerous_decode(token).unwrap().1
}

fn link_token(url: &str) -> &str {
    url.split_once("?token=").unwrap().1
}

/// The edge's decision for `GET path` with `token`, at `now`, under the issuer's policy.
fn edge(issuer: &Issuer, token: &str, path: &str, now: u64) -> Result<(), String> {
    let keys = KeySet::new(vec![key().public()]).unwrap();
    let policy = &issuer.config().policy;
    let auth = format!("Bearer {token}");
    let req = Request { method: "GET", path, query: None, authorization: Some(&auth) };
    chartgate::access::decide(&req, &keys, policy, now, &NativeVerifier::new(&keys))
        .map(|_| ())
        .map_err(|d| d.reason.code().into())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

const PULL: &str = "artifact-repository:org1/repo1:pull";
const CHART_A: &str = "https://charts.test/org1/repo1/charts/a-1.0.0.tgz";

#[test]
fn finding_01_sign_url_keeps_the_callers_path_binding() {
    let (issuer, _) = issuer("", "artifact-repository:org1/*:pull");
    let parent = root(&issuer, PULL, 600);
    let bound = block_on(issuer.exchange(&parent, None, None, &["/org1/repo1/charts/a-1.0.0.tgz".into()])).unwrap();
    for other in ["https://charts.test/org1/repo1/index.yaml", "https://charts.test/org1/repo1/charts/b-1.0.0.tgz"] {
        let refused = issuer.sign_url(&bound.token, other, None);
        assert!(matches!(refused, Err(TokenError::InvalidScope(_))), "{other}: {refused:?}");
    }
    // A leaked signed URL cannot sign another path either.
    let link = issuer.sign_url(&bound.token, CHART_A, None).unwrap();
    assert_eq!(claims(link_token(&link))["paths"], serde_json::json!(["/org1/repo1/charts/a-1.0.0.tgz"]));
    let leaked = issuer.sign_url(link_token(&link), "https://charts.test/org1/repo1/index.yaml", None);
    assert!(matches!(leaked, Err(TokenError::InvalidScope(_))), "{leaked:?}");
    assert_eq!(edge(&issuer, link_token(&link), "/org1/repo1/charts/a-1.0.0.tgz", T), Ok(()));
}

#[test]
fn finding_02_sign_url_keeps_the_lineage() {
    let (issuer, _) = issuer("", "artifact-repository:org1/*:pull");
    let parent = root(&issuer, PULL, 600);
    let child = block_on(issuer.exchange(&parent, None, Some(300), &[])).unwrap().token;
    let link = issuer.sign_url(&child, CHART_A, None).unwrap();
    let lineage: Vec<String> = serde_json::from_value(claims(link_token(&link))["lineage"].clone()).unwrap();
    let (root_jti, child_jti) = (claims(&parent)["jti"].clone(), claims(&child)["jti"].clone());
    assert_eq!(lineage, [root_jti.as_str().unwrap(), child_jti.as_str().unwrap()], "the whole lineage, root first");
    // What the edge looks up for the link: revoking the root (or the child) revokes it.
    let link_claims = claims(link_token(&link));
    let keys = revocation_keys(link_claims["jti"].as_str(), &lineage, link_claims["sub"].as_str(), None);
    assert!(keys.contains(&format!("jti:{}", root_jti.as_str().unwrap())), "{keys:?}");
    assert!(keys.contains(&format!("jti:{}", child_jti.as_str().unwrap())), "{keys:?}");
}

#[test]
fn finding_02_sign_url_cannot_renew_a_token() {
    let (issuer, clock) = issuer("", "artifact-repository:org1/*:pull");
    let parent = root(&issuer, PULL, 5);
    let parent_exp = claims(&parent)["exp"].as_u64().unwrap();
    clock.store(T + 3, Ordering::SeqCst);
    let link = issuer.sign_url(&parent, CHART_A, Some(600)).unwrap();
    let link_exp = claims(link_token(&link))["exp"].as_u64().unwrap();
    assert!(link_exp <= parent_exp, "the link ends with its parent: {link_exp} > {parent_exp}");
    clock.store(T + 4, Ordering::SeqCst);
    let again = issuer.sign_url(link_token(&link), CHART_A, Some(600)).unwrap();
    assert!(claims(link_token(&again))["exp"].as_u64().unwrap() <= parent_exp);
    // At and after the root's exp, inside the verifier's leeway, nothing derives any more.
    for at in [T + 5, T + 30, T + 64] {
        clock.store(at, Ordering::SeqCst);
        for token in [parent.as_str(), link_token(&again)] {
            let refused = issuer.sign_url(token, CHART_A, None);
            assert!(matches!(refused, Err(TokenError::InvalidGrant(_))), "at +{}: {refused:?}", at - T);
            let exchanged = block_on(issuer.exchange(token, None, None, &[]));
            assert!(matches!(exchanged, Err(TokenError::InvalidGrant(_))), "at +{}: {exchanged:?}", at - T);
        }
    }
}

#[test]
fn finding_11_unknown_client_ids_cost_a_hash() {
    let (issuer, _) = issuer("", "artifact-repository:org1/*:pull");
    let hashes = |issuer: &Issuer| -> u64 {
        let text = issuer.metrics_text();
        let line = text.lines().find(|l| l.starts_with("chartgate_secret_hashes_total ")).unwrap().to_owned();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let addr = "192.0.2.1".parse().unwrap();
    let before = hashes(&issuer);
    assert!(block_on(issuer.authenticate(Some("nobody"), "guess", addr)).is_err());
    assert_eq!(hashes(&issuer), before + 1, "an unknown id is compared against a dummy hash");
    assert!(block_on(issuer.authenticate(Some("ci"), "guess", addr)).is_err());
    assert_eq!(hashes(&issuer), before + 2, "as a known id with a wrong secret is");
}

#[test]
fn finding_04_the_right_secret_is_never_refused() {
    let (issuer, _) = issuer("", "artifact-repository:org1/*:pull");
    let addr = "192.0.2.7".parse().unwrap();
    for _ in 0..10 {
        assert_eq!(block_on(issuer.authenticate(Some("ci"), "wrong", addr)).err(), Some(TokenError::InvalidClient));
    }
    assert_eq!(block_on(issuer.authenticate(Some("ci"), "wrong", addr)).err(), Some(TokenError::TooManyRequests));
    assert!(block_on(issuer.authenticate(Some("ci"), "ci-secret", addr)).is_ok(), "limited, but the secret verifies");
    // The same /64 is one address; another /64 is not.
    let v6 = |s: &str| s.parse().unwrap();
    for i in 0..10 {
        let _ = block_on(issuer.authenticate(Some("ci"), "wrong", v6(&format!("2001:db8:7:7::{i}"))));
    }
    let limited = block_on(issuer.authenticate(Some("ci"), "wrong", v6("2001:db8:7:7::ffff")));
    assert_eq!(limited.err(), Some(TokenError::TooManyRequests), "rotating inside a /64");
    let other = block_on(issuer.authenticate(Some("ci"), "wrong", v6("2001:db8:7:8::1")));
    assert_eq!(other.err(), Some(TokenError::InvalidClient));
}

#[test]
fn finding_04_trusted_proxies_name_the_client() {
    let (proxied, _) = issuer("trusted_proxies = [\"10.0.0.0/8\"]", "artifact-repository:org1/*:pull");
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9".parse().unwrap());
    assert_eq!(
        proxied.client_addr("10.1.2.3".parse().unwrap(), &headers),
        "203.0.113.9".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(
        proxied.client_addr("192.0.2.1".parse().unwrap(), &headers),
        "192.0.2.1".parse::<std::net::IpAddr>().unwrap()
    );
    let (off, _) = issuer("", "artifact-repository:org1/*:pull");
    assert_eq!(
        off.client_addr("10.1.2.3".parse().unwrap(), &headers),
        "10.1.2.3".parse::<std::net::IpAddr>().unwrap(),
        "off by default"
    );
}

#[test]
fn finding_12_signed_urls_follow_the_deployments_layout() {
    let (issuer, _) = issuer("depth = 1\ndefault_namespace = \"charts\"", "artifact-repository:*:pull");
    let token = root(&issuer, "artifact-repository:team:pull", 600);
    let link = issuer.sign_url(&token, "https://charts.test/team/charts/x-1.0.0.tgz", None).unwrap();
    assert_eq!(claims(link_token(&link))["access"][0]["name"], "team");
    assert_eq!(edge(&issuer, link_token(&link), "/team/charts/x-1.0.0.tgz", T), Ok(()));
    let policy: &Policy = &issuer.config().policy;
    assert_eq!(policy.default_repo.as_str(), "charts");
    assert_eq!(policy.depth, chartgate::access::Depth::One);
}

#[test]
fn finding_12_cli_token_from_reads_the_default_namespace() {
    // A single-tenant parent (`access: ["pull"]`) of a deployment whose namespace is `charts`.
    let now = chartgate::issuer::now();
    let parent = crate::util::sign_json(
        &crate::util::header(),
        &format!(r#"{{"exp":{},"jti":"p1","access":["pull"]}}"#, now + 600),
    );
    let dir = crate::util::key_dir();
    let run = |namespace: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chartgate"))
            .args(["token", "--key"])
            .arg(dir.join("private.pem"))
            .args(["--from", &parent, "--scope", "artifact-repository:charts:pull", "--default-repo", namespace])
            .output()
            .unwrap()
    };
    let out = run("charts");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let child = String::from_utf8(out.stdout).unwrap();
    assert_eq!(claims(child.trim())["lineage"], serde_json::json!(["p1"]));
    assert_eq!(run("repo").status.code(), Some(2), "under namespace `repo` the parent grants nothing on `charts`");
}
