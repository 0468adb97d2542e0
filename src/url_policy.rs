//! Where chartgate sends credentials and token requests (a trust policy's keys, an issuer, a
//! login provider, a registry's token endpoint): `https` URLs, plain `http` only on this machine.

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
