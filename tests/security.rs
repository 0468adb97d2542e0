//! The attack corpus (`tests/security/*.json`, written by `make-corpus.mjs`) against the native
//! engine, configured exactly as the edge worker is (`EdgeConfig` from the same variables). The
//! worker in workerd (`tests/security/corpus.test.mjs`) and the inspector's wasm
//! (`tests/inspector/`) are checked against the same expectations.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use chartgate::edge::EdgeConfig;
use chartgate::{access::Request, crypto::NativeVerifier};
use serde_json::Value;

fn corpus(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/security").join(name);
    serde_json::from_str(&fs::read_to_string(&path).expect("corpus file")).expect("corpus JSON")
}

fn config() -> EdgeConfig {
    let mut vars: HashMap<String, String> = serde_json::from_value(corpus("settings.json")).unwrap();
    vars.insert("JWKS".into(), corpus("jwks.json").to_string());
    EdgeConfig::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// (status, reason) of the decision, `reason` empty when allowed.
fn decide(config: &EdgeConfig, req: &Request<'_>) -> (u64, String) {
    let keys = config.static_keys.as_ref().unwrap();
    match chartgate::access::decide(req, keys, &config.policy, now(), &NativeVerifier::new(keys)) {
        Ok(_) => (200, String::new()),
        Err(d) => (u64::from(d.status()), d.reason.code().to_owned()),
    }
}

fn expected(case: &Value) -> (u64, String) {
    let e = &case["expect"];
    (e["status"].as_u64().unwrap(), e["reason"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn every_hostile_token_is_refused_for_the_stated_reason() {
    let config = config();
    let cases = corpus("tokens.json");
    let cases = cases["cases"].as_array().unwrap();
    let hostile = cases.iter().filter(|c| c["expect"]["status"] != 200).count();
    assert!(hostile >= 40, "the corpus has {hostile} hostile tokens");
    let mut wrong = Vec::new();
    for case in cases {
        let req = Request {
            method: case["method"].as_str().unwrap(),
            path: case["path"].as_str().unwrap(),
            query: case["query"].as_str(),
            authorization: case["authorization"].as_str(),
        };
        let got = decide(&config, &req);
        if got != expected(case) {
            wrong.push(format!("{}: expected {:?}, got {got:?}", case["name"], expected(case)));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
}

#[test]
fn every_hostile_path_is_refused_before_authorization() {
    let config = config();
    let valid = corpus("tokens.json")["valid"].as_str().unwrap().to_owned();
    let authorization = format!("Bearer {valid}");
    let paths = corpus("paths.json");
    let paths = paths.as_array().unwrap();
    assert!(paths.len() >= 20);
    let mut wrong = Vec::new();
    for case in paths {
        let path = case["path"].as_str().unwrap();
        let req = Request { method: "GET", path, query: None, authorization: Some(&authorization) };
        let got = decide(&config, &req);
        assert_ne!(got.0, 200, "{path} was allowed");
        if got != expected(case) {
            wrong.push(format!("{path:.80}: expected {:?}, got {got:?}", expected(case)));
        }
    }
    assert!(wrong.is_empty(), "{} paths differ:\n{}", wrong.len(), wrong.join("\n"));
}

/// Inputs the fuzzer found (`tests/security/fuzz-regressions/<target>-<hash>`), replayed with the
/// property the fuzz target asserts.
#[test]
fn fuzz_regressions() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/security/fuzz-regressions");
    let mut replayed = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&path).unwrap();
        // libFuzzer's `&str` input is the longest valid UTF-8 prefix of the bytes.
        let valid = std::str::from_utf8(&bytes).map_or_else(|e| e.valid_up_to(), |t| t.len());
        let text = std::str::from_utf8(&bytes[..valid]).unwrap();
        if name.starts_with("credential-") {
            // credential: an error never echoes the credential (only a scheme followed by one).
            let (authorization, query) = text.split_once('\n').unwrap_or((text, ""));
            if let Err(chartgate::access::CredentialError::UnsupportedScheme(scheme)) =
                chartgate::access::extract_credential(Some(authorization), Some(query))
            {
                assert!(authorization.trim().len() > scheme.len() + 1, "{name}: the error echoes the credential");
            }
            replayed += 1;
        } else if name.starts_with("config-") {
            // config: a broken key set or variable is an error, never a panic.
            let vars: std::collections::HashMap<&str, &str> =
                text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v)).collect();
            assert!(chartgate::key::KeySet::parse(text).is_err(), "{name}: parsed as a key set");
            if let Some(jwks) = vars.get("JWKS") {
                assert!(chartgate::key::KeySet::parse(jwks).is_err(), "{name}: its JWKS parsed");
            }
            replayed += 1;
        }
    }
    assert!(replayed > 1);
}
