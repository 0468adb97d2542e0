//! Credential extraction: the first line is the Authorization header, the rest the query
//! string. No panic, and no error message ever echoes the credential.
#![no_main]

use chartgate::access::CredentialError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (authorization, query) = text.split_once('\n').unwrap_or((text, ""));
    let authorization = (!authorization.is_empty()).then_some(authorization);
    match chartgate::access::extract_credential(authorization, Some(query)) {
        Ok(Some(c)) => assert!(!c.token.is_empty()),
        Ok(None) => {}
        // Every other error has a fixed text; this one names a scheme, and only a scheme that
        // was followed by credentials (so it is not itself a bare secret).
        Err(CredentialError::UnsupportedScheme(scheme)) => {
            let header = authorization.expect("a scheme comes from a header").trim();
            assert!(scheme.len() <= 20 && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(header.len() > scheme.len() + 1, "the scheme named is the whole header");
        }
        Err(_) => {}
    }
    let _ = chartgate::access::find_token(text);
    let pasted = chartgate::access::Pasted::parse(text);
    let _ = chartgate::access::extract_credential(pasted.authorization.as_deref(), pasted.query.as_deref());
});
