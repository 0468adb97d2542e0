//! Credential extraction: the first line is the Authorization header, the rest the query
//! string. No panic, and no error message ever contains the credential.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (authorization, query) = text.split_once('\n').unwrap_or((text, ""));
    let authorization = (!authorization.is_empty()).then_some(authorization);
    match chartgate::extract_credential(authorization, Some(query)) {
        Ok(Some(c)) => assert!(!c.token.is_empty()),
        Ok(None) => {}
        Err(e) => {
            let message = e.to_string();
            if let Some(token) = authorization.and_then(|a| a.split_once(' ')).map(|(_, t)| t.trim()) {
                if token.len() > 20 {
                    assert!(!message.contains(token), "the error echoes the credential");
                }
            }
        }
    }
    let _ = chartgate::find_token(text);
    let pasted = chartgate::Pasted::parse(text);
    let _ = chartgate::extract_credential(pasted.authorization.as_deref(), pasted.query.as_deref());
});
