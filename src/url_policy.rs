//! Where chartgate sends credentials and token requests (a trust policy's keys, an issuer, a
//! login provider, a registry's token endpoint): `https` URLs, plain `http` only on this machine;
//! and text from such a party (or a URL a person typed) made safe to print.

/// An `http(s)` URL; plain `http` only on a loopback host (a local provider in development).
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|r| is_loopback(r)))
        .ok_or_else(|| format!("{url:?} is not an https URL (http is accepted on a loopback host only)"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no host"));
    }
    if rest.contains(char::is_control) {
        return Err(format!("{url:?} contains control characters"));
    }
    Ok(())
}

/// True when the authority at the start of `rest` (`host[:port]/…`) is a loopback host.
pub fn is_loopback(rest: &str) -> bool {
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The origin of a URL as a person types it: a bare host is `https://host`; only the scheme and
/// authority are kept, lower-cased.
///
/// # Errors
/// Another scheme, user information, no host, or plain `http` to another machine; the message
/// quotes the URL made printable.
#[cfg(not(target_arch = "wasm32"))]
pub fn origin(url: &str) -> Result<String, String> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("https".to_owned(), url),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let refuse = |why: &str| Err(format!("{:?} {why}", printable(url)));
    if authority.is_empty() || authority.contains('@') {
        return refuse("must name a host, without user information");
    }
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback(&authority) => {}
        "http" => return refuse("uses plain http to another machine: use https"),
        _ => return refuse("is not an https URL"),
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Server-sent text made safe for a terminal: control characters and invisible format
/// characters (bidirectional overrides, zero-width marks) dropped, at most 300 characters.
#[cfg(not(target_arch = "wasm32"))]
pub fn printable(text: &str) -> String {
    let format = |c: char| matches!(c, '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}');
    text.chars().filter(|&c| !c.is_control() && !format(c)).take(300).collect()
}
