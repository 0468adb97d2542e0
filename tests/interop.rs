//! Interop with an independent RS256 implementation (node's `crypto`, tests/interop/node-jwt.mjs):
//! tokens it signs verify here, tokens signed here verify there.

use std::process::Command;

use crate::util::*;

fn node(args: &[&str]) -> std::process::Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/node-jwt.mjs");
    Command::new("node").arg(script).args(args).output().expect("node is installed by scripts/test")
}

#[test]
fn node_signed_tokens_verify_here() {
    let dir = key_dir();
    let private = dir.join("private.pem");
    let claims = format!(
        r#"{{"exp":{},"access":[{{"type":"artifact-repository","name":"org1/repo1","actions":["pull"]}}]}}"#,
        NOW + 60
    );
    for kid in [None, Some(key().kid())] {
        let mut args = vec!["sign", private.to_str().unwrap(), &claims];
        args.extend(kid);
        let out = node(&args);
        assert!(out.status.success(), "{out:?}");
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert_eq!(code(decide_bearer("GET", "/org1/repo1/index.yaml", &token)), "allowed");
        assert_eq!(code(decide_bearer("GET", "/org1/repo2/index.yaml", &token)), "insufficient_scope");
    }
    // node signed with a different key: refused here.
    let other = std::env::temp_dir().join(format!("chartgate-other-{}.pem", std::process::id()));
    std::fs::write(&other, other_key().private_pem().unwrap()).unwrap();
    let out = node(&["sign", other.to_str().unwrap(), &claims]);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(code(decide_bearer("GET", "/org1/repo1/index.yaml", &token)), "bad_signature");
}

#[test]
fn tokens_signed_here_verify_in_node() {
    let dir = key_dir();
    let public = dir.join("public.pem");
    let token = mint("artifact-repository:org1/repo1:pull,push", 300);
    let out = node(&["verify", public.to_str().unwrap(), &token]);
    assert!(out.status.success(), "node refused our token: {out:?}");
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["access"][0]["actions"], serde_json::json!(["pull", "push"]));
    let mut tampered = token.clone();
    tampered.insert(token.find('.').unwrap() + 5, 'A');
    assert!(!node(&["verify", public.to_str().unwrap(), &tampered]).status.success());
}
