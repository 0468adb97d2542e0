//! Configuration parsing: the edge worker's variables (`NAME=value` lines), key sets (JWKS, JWK,
//! PEM) and the issuer's TOML file. No panic; a broken value is an error naming its variable.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;

const JWK: &str = r#"{"kty":"RSA","kid":"k","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;

fuzz_target!(|text: &str| {
    let mut vars: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect();
    vars.entry("JWKS".into()).or_insert_with(|| JWK.into());
    if let Err(e) = chartgate::edge::EdgeConfig::from_lookup(|name| vars.get(name).cloned()) {
        assert!(vars.contains_key(e.var) || e.var == "JWKS", "error names {} which was not set", e.var);
    }
    let _ = chartgate::key::KeySet::parse(text);
    let _ = chartgate::issuer::IssuerConfig::parse("fuzz.toml", text, std::env::temp_dir().join("chartgate-fuzz-none"));
});
