//! The decision engine end to end: allowed requests, the three credential forms, and a first
//! corpus of rejected tokens, each with the reason every front end must report.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chartgate::{
    access::{Policy, PolicySettings, Request},
    crypto::NativeVerifier,
    token::MAX_TOKEN_LEN,
};

use crate::util::*;

const PULL1: &str = "artifact-repository:org1/repo1:pull";

fn claims(extra: &str) -> String {
    format!(
        r#"{{"exp":{},"iat":{NOW},"access":[{{"type":"artifact-repository","name":"org1/repo1","actions":["pull"]}}]{extra}}}"#,
        NOW + 300
    )
}

#[test]
fn allows_pull_with_each_credential_form() {
    let token = mint(PULL1, 300);
    let keys = keys();
    let backend = NativeVerifier::new(&keys);
    let basic = format!("Basic {}", STANDARD.encode(format!("helm:{token}")));
    let bearer = format!("Bearer {token}");
    let query = format!("token={token}");
    for (auth, query) in [(Some(bearer.as_str()), None), (Some(basic.as_str()), None), (None, Some(query.as_str()))] {
        for path in ["/org1/repo1/index.yaml", "/org1/repo1/charts/app-0.1.0.tgz", "/org1/repo1/app-0.1.0.tgz.prov"] {
            let req = Request { method: "GET", path, query, authorization: auth };
            let grant = chartgate::access::decide(&req, &keys, &Policy::default(), NOW, &backend).unwrap();
            assert_eq!(grant.scope.unwrap().to_string(), PULL1);
        }
    }
}

#[test]
fn scope_and_action_are_enforced() {
    let token = mint(PULL1, 300);
    assert_eq!(code(decide_bearer("GET", "/org1/repo10/index.yaml", &token)), "insufficient_scope");
    assert_eq!(code(decide_bearer("GET", "/org1/repo1x/index.yaml", &token)), "insufficient_scope");
    assert_eq!(code(decide_bearer("POST", "/api/org1/repo1/charts", &token)), "insufficient_scope");
    let d = decide_bearer("GET", "/org2/repo1/index.yaml", &token).unwrap_err();
    assert_eq!(d.status(), 403);
    let challenge = d.www_authenticate(&Policy::default()).unwrap();
    assert!(challenge.contains(r#"scope="artifact-repository:org2/repo1:pull""#), "{challenge}");
    assert!(challenge.contains(r#"error="insufficient_scope""#), "{challenge}");
    let push = mint("artifact-repository:org1/repo1:push", 300);
    assert_eq!(code(decide_bearer("POST", "/api/org1/repo1/charts", &push)), "allowed");
    assert_eq!(code(decide_bearer("DELETE", "/api/org1/repo1/charts/app/0.1.0", &push)), "allowed");
    assert_eq!(code(decide_bearer("GET", "/org1/repo1/index.yaml", &push)), "insufficient_scope");
}

#[test]
fn time_claims_with_leeway() {
    let token = mint(PULL1, 300);
    let policy = Policy::default();
    let path = "/org1/repo1/index.yaml";
    assert_eq!(code(decide_with("GET", path, &token, &policy, NOW + 300 + 60)), "allowed");
    assert_eq!(code(decide_with("GET", path, &token, &policy, NOW + 300 + 61)), "expired");
    assert_eq!(code(decide_with("GET", path, &token, &policy, NOW - 61)), "not_yet_valid");
    let strict = Policy::new(PolicySettings { leeway: Some(0), ..Default::default() }).unwrap();
    assert_eq!(code(decide_with("GET", path, &token, &strict, NOW + 301)), "expired");
    let future_iat = sign_json(
        &header(),
        &claims(&format!(r#","iat":{}"#, NOW + 3600)).replacen(&format!(r#""iat":{NOW},"#), "", 1),
    );
    assert_eq!(code(decide_bearer("GET", path, &future_iat)), "issued_in_future");
}

#[test]
fn issuer_and_audience() {
    let settings = PolicySettings {
        issuer: Some("https://issuer.example".into()),
        audience: Some("charts".into()),
        ..Default::default()
    };
    let policy = Policy::new(settings).unwrap();
    let path = "/org1/repo1/index.yaml";
    let ok = sign_json(&header(), &claims(r#","iss":"https://issuer.example","aud":["x","charts"]"#));
    assert_eq!(code(decide_with("GET", path, &ok, &policy, NOW)), "allowed");
    let wrong_iss = sign_json(&header(), &claims(r#","iss":"https://evil.example","aud":"charts""#));
    assert_eq!(code(decide_with("GET", path, &wrong_iss, &policy, NOW)), "wrong_issuer");
    let wrong_aud = sign_json(&header(), &claims(r#","iss":"https://issuer.example","aud":"other""#));
    assert_eq!(code(decide_with("GET", path, &wrong_aud, &policy, NOW)), "wrong_audience");
    let no_aud = sign_json(&header(), &claims(r#","iss":"https://issuer.example""#));
    assert_eq!(code(decide_with("GET", path, &no_aud, &policy, NOW)), "missing_claim");
}

#[test]
fn path_bound_tokens() {
    let bound = sign_json(&header(), &claims(r#","paths":["/org1/repo1/charts/app-0.1.0.tgz"]"#));
    assert_eq!(code(decide_bearer("GET", "/org1/repo1/charts/app-0.1.0.tgz", &bound)), "allowed");
    assert_eq!(code(decide_bearer("GET", "/org1/repo1/charts/app-0.2.0.tgz", &bound)), "path_not_bound");
    assert_eq!(code(decide_bearer("GET", "/org1/repo1/index.yaml", &bound)), "path_not_bound");
}

fn hs256(key: &[u8], input: &str) -> String {
    use sha2::Digest as _;
    // HMAC-SHA256 (RFC 2104), written out so the test needs no HMAC dependency.
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = sha2::Sha256::new().chain_update(pad(0x36)).chain_update(input).finalize();
    let outer = sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    URL_SAFE_NO_PAD.encode(outer)
}

/// The first corpus of hostile tokens: none may pass, each with its reason.
#[test]
fn rejected_tokens() {
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let good = sign_json(&header(), &claims(""));
    let (signing_input, signature) = good.rsplit_once('.').unwrap();
    let payload_b64 = signing_input.split('.').nth(1).unwrap();
    let sig_bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let b64_bytes = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let public_pem = key().public_pem().unwrap();
    let hs_input = format!("{}.{}", b64(r#"{"alg":"HS256","typ":"JWT"}"#), b64(&claims("")));
    let mut tampered_claims = claims("");
    tampered_claims = tampered_claims.replace("org1/repo1", "org1/repo2");
    let corpus: Vec<(&str, String, &str)> = vec![
        ("alg none", format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&claims(""))), "alg_not_allowed"),
        ("alg None signed", sign_json(r#"{"alg":"None"}"#, &claims("")), "alg_not_allowed"),
        (
            "HS256 with the public key as secret",
            format!("{hs_input}.{}", hs256(public_pem.as_bytes(), &hs_input)),
            "alg_not_allowed",
        ),
        (
            "expired",
            sign_json(&header(), &claims("").replace(&(NOW + 300).to_string(), &(NOW - 120).to_string())),
            "expired",
        ),
        ("nbf in the future", sign_json(&header(), &claims(&format!(r#","nbf":{}"#, NOW + 3600))), "not_yet_valid"),
        ("unknown kid", sign_json(r#"{"alg":"RS256","kid":"nope"}"#, &claims("")), "unknown_kid"),
        (
            "signed by another key",
            other_key().sign_raw(header().as_bytes(), claims("").as_bytes()).unwrap(),
            "bad_signature",
        ),
        (
            "tampered payload",
            format!("{}.{}.{signature}", signing_input.split('.').next().unwrap(), b64(&tampered_claims)),
            "bad_signature",
        ),
        ("truncated signature", format!("{signing_input}.{}", b64_bytes(&sig_bytes[..248])), "bad_signature"),
        (
            "extended signature",
            format!("{signing_input}.{}", b64_bytes(&[&sig_bytes[..], &[0u8]].concat())),
            "bad_signature",
        ),
        (
            // 256 bytes take 342 base64 chars; the last carries 4 padding bits that must be 0 ('B' sets one).
            "non-canonical signature base64",
            format!("{signing_input}.{}B", &signature[..signature.len() - 1]),
            "malformed_token",
        ),
        ("zero signature", format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode([0u8; 256])), "bad_signature"),
        ("empty signature", format!("{signing_input}."), "bad_signature"),
        ("two segments", signing_input.to_owned(), "malformed_token"),
        ("four segments", format!("{good}.{payload_b64}"), "malformed_token"),
        ("padded", format!("{good}=="), "malformed_token"),
        ("oversized", format!("{good}{}", "A".repeat(MAX_TOKEN_LEN)), "malformed_token"),
        ("no exp", sign_json(&header(), r#"{"access":["org1/repo1:pull"]}"#), "missing_claim"),
        (
            "exp as string",
            sign_json(&header(), r#"{"exp":"1900000000","access":["org1/repo1:pull"]}"#),
            "malformed_token",
        ),
        ("payload not an object", sign_json(&header(), "[1,2]"), "malformed_token"),
        ("unknown crit", sign_json(r#"{"alg":"RS256","crit":["x"],"x":1}"#, &claims("")), "unsupported_crit"),
        (
            "embedded jwk is ignored",
            other_key()
                .sign_raw(
                    format!(r#"{{"alg":"RS256","jwk":{}}}"#, other_key().public().material.to_jwk("x")).as_bytes(),
                    claims("").as_bytes(),
                )
                .unwrap(),
            "bad_signature",
        ),
    ];
    assert!(corpus.len() >= 20);
    for (name, token, expected) in corpus {
        let denial = decide_bearer("GET", "/org1/repo1/index.yaml", &token).expect_err(name);
        assert_eq!(denial.reason.code(), expected, "{name}: {}", denial.reason);
        assert!(!denial.body().contains(&token[..token.len().min(40)]) || token.len() < 10, "{name} echoed");
    }
}

#[test]
fn denials_never_echo_the_token() {
    let token = mint(PULL1, 300);
    for path in ["/org2/x/index.yaml", "/org1/repo1/index.yaml"] {
        for now in [NOW, NOW + 10_000] {
            if let Err(d) = decide_with("GET", path, &token, &Policy::default(), now) {
                let text =
                    format!("{} {} {:?}", d.body(), d.www_authenticate(&Policy::default()).unwrap_or_default(), d);
                assert!(!text.contains(&token), "denial echoed the token");
                assert!(!text.contains(token.split('.').nth(2).unwrap()), "denial echoed the signature");
            }
        }
    }
}

/// Security round 3, item 2: a blob mount's source is read with every dimension of the grant. A
/// token bound by `paths` to one OCI repository gets no mount from another (the upload stays a
/// plain one), though its `access` covers both.
#[test]
fn a_path_bound_token_mounts_only_from_inside_its_binding() {
    let sign = |paths: &[&str]| {
        let binding = chartgate::token::PathBinding::parse(paths).unwrap();
        let scopes = chartgate::access::ScopeSet::parse("artifact-repository:org1/repo1:pull,push").unwrap();
        let req = chartgate::token::MintRequest { scopes, ttl: Some(300), paths: Some(binding), ..Default::default() };
        key().sign(&req.claims(NOW)).unwrap()
    };
    let keys = keys();
    let backend = NativeVerifier::new(&keys);
    let digest = format!("sha256:{}", "ab".repeat(32));
    let query = format!("mount={digest}&from=org1/repo1/src");
    let mount = |token: &str| {
        let auth = format!("Bearer {token}");
        let req = Request {
            method: "POST",
            path: "/v2/org1/repo1/dst/blobs/uploads/",
            query: Some(&query),
            authorization: Some(&auth),
        };
        chartgate::access::decide(&req, &keys, &Policy::default(), NOW, &backend).unwrap().mount_from
    };
    assert_eq!(mount(&sign(&["/v2/org1/repo1/dst/*"])), None, "the source lies outside the binding");
    let src = chartgate::access::RepoName::parse("org1/repo1/src").unwrap();
    assert_eq!(mount(&sign(&["/v2/org1/repo1/dst/*", "/v2/org1/repo1/src/*"])), Some(src.clone()));
    assert_eq!(mount(&mint("artifact-repository:org1/repo1:pull,push", 300)), Some(src), "no binding: access decides");
    assert_eq!(mount(&mint("repository:org1/repo1/dst:pull,push", 300)), None, "no pull on the source");
}
