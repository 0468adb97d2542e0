//! `values.schema.json` under bounds (size, nesting) and its references: a `$ref` that leaves the
//! document may only name a public `https` URL (helm's JSON-schema loader fetches it); a file,
//! another scheme, or a loopback, link-local or private host is refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::{Limits, Refusal};

/// Keywords whose value is a reference the validator may resolve.
const REF_KEYS: [&str; 3] = ["$ref", "$dynamicRef", "$recursiveRef"];

/// Checks one schema file; public references it makes are added to `refs`.
pub(crate) fn check(data: &[u8], file: &str, limits: &Limits, refs: &mut Vec<String>, out: &mut Vec<Refusal>) {
    if data.len() as u64 > limits.max_schema_bytes {
        out.push(Refusal::new("schema_size", Some(file), format!("larger than {} bytes", limits.max_schema_bytes)));
        return;
    }
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    if let Some(depth) = too_deep(data, limits.max_schema_depth) {
        out.push(Refusal::new("schema_depth", Some(file), format!("nested deeper than {depth} levels")));
        return;
    }
    let schema: Value = match serde_json::from_slice(data) {
        Ok(v) => v,
        Err(e) => {
            out.push(Refusal::new("schema_invalid", Some(file), format!("not JSON: {e}")));
            return;
        }
    };
    walk(&schema, file, refs, out);
}

/// The limit, when `data` nests `[`/`{` deeper than it (strings skipped).
fn too_deep(data: &[u8], limit: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &c in data {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(limit);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn walk(value: &Value, file: &str, refs: &mut Vec<String>, out: &mut Vec<Refusal>) {
    // Iterative: the depth is bounded already, but a stack costs nothing here.
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if let (true, Value::String(target)) = (REF_KEYS.contains(&k.as_str()), child) {
                        match judge(target) {
                            Ok(None) => {}
                            Ok(Some(url)) => {
                                if !refs.contains(&url) {
                                    refs.push(url);
                                }
                            }
                            Err((code, why)) => {
                                out.push(Refusal::new(code, Some(file), format!("{k} {target:?}: {why}")))
                            }
                        }
                    }
                    todo.push(child);
                }
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
}

/// `Ok(None)`: a reference inside the document; `Ok(Some(url))`: a public https URL.
fn judge(target: &str) -> Result<Option<String>, (&'static str, String)> {
    if target.is_empty() || target.starts_with('#') {
        return Ok(None);
    }
    let lower = target.to_ascii_lowercase();
    let Some(colon) = lower.find(':').filter(|&i| {
        lower[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && lower[..i].starts_with(|c: char| c.is_ascii_alphabetic())
    }) else {
        return Err(("schema_ref_file", "a relative reference names a file beside the chart".into()));
    };
    let scheme = &lower[..colon];
    if scheme == "file" {
        return Err(("schema_ref_file", "names a file".into()));
    }
    if scheme != "https" {
        return Err(("schema_ref_scheme", format!("only https references may leave the document, not {scheme}:")));
    }
    let Some(rest) = target[colon + 1..].strip_prefix("//") else {
        return Err(("schema_ref_scheme", "an https reference without a host".into()));
    };
    let authority = &rest[..rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(("schema_ref_private", "a reference with user information".into()));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        &v6[..v6.find(']').unwrap_or(v6.len())]
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    if !public_host(host) {
        return Err(("schema_ref_private", format!("{host:?} is not a public host")));
    }
    Ok(Some(target.to_string()))
}

/// Whether a URL host names a public address (a name, or a global IP address).
pub(crate) fn public_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains('%') {
        return false;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return public_ip(ip);
    }
    // Names: not a local name, not a number in disguise (`2130706433`, `0x7f.1`, `127.1` are
    // loopback to some resolvers), and made of DNS label characters.
    let last = host.rsplit('.').next().unwrap_or("");
    let numeric = last.chars().all(|c| c.is_ascii_digit()) || last.starts_with("0x");
    let local = host == "localhost"
        || [".localhost", ".local", ".internal", ".lan", ".home.arpa", ".arpa"].iter().any(|s| host.ends_with(s))
        || !host.contains('.');
    let labels = host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    !numeric && !local && labels
}

fn public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local
                || s[0] == 0x64 && s[1] == 0xff9b // NAT64
                || s[0] == 0x2001 && s[1] == 0xdb8 // documentation
                || v6 == Ipv6Addr::from([0u16, 0, 0, 0, 0, 0, s[6], s[7]]) // IPv4-compatible
                || (s[0] & 0xff00) == 0xff00) // multicast
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}
