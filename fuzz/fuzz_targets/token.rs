//! The token parser and the claims parser on arbitrary input: no panic, and nothing that parses
//! is ever accepted without a valid signature.
#![no_main]

use chartgate::{token::{Claims, SignatureVerifier}, key::{KeySet, PublicKey}};
use libfuzzer_sys::fuzz_target;

/// A backend that accepts every signature: whatever reaches it got past the parser, so the
/// claims parser and time checks run on fuzzed payloads too.
struct AcceptAll;
impl SignatureVerifier for AcceptAll {
    fn verify(&self, _: &PublicKey, _: &[u8], _: &[u8]) -> bool {
        true
    }
}

/// A backend that refuses every signature: nothing may verify.
struct RefuseAll;
impl SignatureVerifier for RefuseAll {
    fn verify(&self, _: &PublicKey, _: &[u8], _: &[u8]) -> bool {
        false
    }
}

const JWK: &str = r#"{"kty":"RSA","kid":"k","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#;

fuzz_target!(|data: &[u8]| {
    let _ = Claims::from_json(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let keys = KeySet::parse(JWK).expect("constant key");
    let _ = chartgate::token::dangerous_decode(text);
    assert!(chartgate::token::verify(text, &keys, &RefuseAll).is_err(), "a refused signature verified");
    if let Ok(token) = chartgate::token::verify(text, &keys, &AcceptAll) {
        let _ = chartgate::access::check_claims(&token.claims, &chartgate::access::Policy::default(), 1_700_000_000);
    }
});
