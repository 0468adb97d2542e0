//! Strict JWS compact parsing: size bound, three base64url segments, a JSON-object header with an
//! allow-listed algorithm and no unknown `crit`. The payload stays opaque until the signature is
//! checked; reading it earlier is behind [`UnverifiedToken::dangerous_payload`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

/// Longest accepted token, in bytes.
pub const MAX_TOKEN_LEN: usize = 8192;
/// Longest accepted `kid`, in bytes.
pub const MAX_KID_LEN: usize = 256;

/// Which part of the token was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Header,
    Payload,
    Signature,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Header => "header",
            Part::Payload => "payload",
            Part::Signature => "signature",
        })
    }
}

/// Why a token is refused before any key is touched. The engine's [`crate::Reason`] wraps it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not a well-formed JWS of the accepted shape.
    #[error("malformed token: {0}")]
    Malformed(#[from] MalformedToken),
    /// The header names an algorithm outside the allow-list (`none`, HS*, …).
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// The header carries a `crit` extension this engine does not implement.
    #[error("unsupported critical header {0:?}")]
    UnsupportedCritical(String),
}

impl JwsError {
    /// The machine code, the same as the [`crate::Reason`] this becomes.
    pub fn code(&self) -> &'static str {
        match self {
            JwsError::Malformed(_) => "malformed_token",
            JwsError::AlgorithmNotAllowed(_) => "alg_not_allowed",
            JwsError::UnsupportedCritical(_) => "unsupported_crit",
        }
    }
}

/// How a token failed to be a well-formed JWS of the accepted shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    #[error("token is empty")]
    Empty,
    #[error("token is {0} bytes, more than the {MAX_TOKEN_LEN} allowed")]
    TooLong(usize),
    #[error("token has {0} segments, a JWS has 3")]
    Segments(usize),
    #[error("{0} is not unpadded base64url")]
    Base64(Part),
    #[error("{0} is not a JSON object: {1}")]
    Json(Part, String),
    #[error("{0} is not UTF-8 (RFC 7519 requires UTF-8 JSON)")]
    NotUtf8(Part),
    #[error("header field {0:?} is invalid: {1}")]
    HeaderField(&'static str, &'static str),
}

/// Signature algorithms on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
    /// ECDSA on P-256 with SHA-256, signature `r || s` (RFC 7518 §3.4).
    Es256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// The header fields the engine acts on. `jku`, `x5u`, `jwk`, `x5c` are ignored: keys come only
/// from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub alg: Alg,
    pub kid: Option<String>,
    pub typ: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<Vec<String>>,
    b64: Option<serde_json::Value>,
}

/// A token whose shape and header are checked but whose signature is not.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    pub header: Header,
    signing_input: &'t str,
    payload_b64: &'t str,
    signature: Vec<u8>,
}

impl<'t> UnverifiedToken<'t> {
    /// Parses a compact JWS and checks everything that can be checked without a key.
    pub fn parse(token: &'t str) -> Result<Self, JwsError> {
        let (header_b64, payload_b64, signature_b64) = split(token)?;
        let header_bytes = decode(header_b64, Part::Header)?;
        let raw: RawHeader = json_object(&header_bytes, Part::Header)?;
        let header = check_header(raw)?;
        let signature = decode(signature_b64, Part::Signature)?;
        // The payload is decoded only once the signature verifies, but its alphabet is checked now
        // so a mangled token is reported as malformed rather than as a bad signature.
        if !payload_b64.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(MalformedToken::Base64(Part::Payload).into());
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        Ok(UnverifiedToken { header, signing_input, payload_b64, signature })
    }

    /// The bytes the signature covers: `base64url(header) "." base64url(payload)`.
    pub fn signing_input(&self) -> &'t str {
        self.signing_input
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The decoded payload, **not verified**. For inspection only; never authorize on it.
    pub fn dangerous_payload(&self) -> Result<Vec<u8>, JwsError> {
        decode(self.payload_b64, Part::Payload)
    }
}

/// Decodes the header and payload JSON of a compact JWS **without any check** of algorithm, key
/// or signature. For inspection and display only; never authorize on the result.
pub fn dangerous_decode(token: &str) -> Result<(serde_json::Value, serde_json::Value), JwsError> {
    let (header, payload, _) = split(token.trim())?;
    let header = json_object(&decode(header, Part::Header)?, Part::Header)?;
    let payload = json_object(&decode(payload, Part::Payload)?, Part::Payload)?;
    Ok((header, payload))
}

/// Splits a compact JWS into its three segments, after the size check.
fn split(token: &str) -> Result<(&str, &str, &str), JwsError> {
    if token.is_empty() {
        return Err(MalformedToken::Empty.into());
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(MalformedToken::TooLong(token.len()).into());
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => Ok((h, p, s)),
        _ => Err(MalformedToken::Segments(token.split('.').count()).into()),
    }
}

/// Decodes one segment: unpadded base64url with canonical trailing bits, nothing else.
pub(crate) fn decode(segment: &str, part: Part) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| MalformedToken::Base64(part).into())
}

/// Parses a JSON object into `T`, naming the part on failure.
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8], part: Part) -> Result<T, JwsError> {
    if bytes.first() != Some(&b'{') {
        return Err(MalformedToken::Json(part, "not an object".into()).into());
    }
    // serde skips members it does not read without checking their strings: check the whole
    // text first, so invalid bytes anywhere are refused.
    let text = std::str::from_utf8(bytes).map_err(|_| MalformedToken::NotUtf8(part))?;
    serde_json::from_str(text).map_err(|e| MalformedToken::Json(part, e.to_string()).into())
}

fn check_header(raw: RawHeader) -> Result<Header, JwsError> {
    let alg = match raw.alg.as_deref() {
        Some("RS256") => Alg::Rs256,
        Some("ES256") => Alg::Es256,
        Some(other) => return Err(JwsError::AlgorithmNotAllowed(other.chars().take(32).collect())),
        None => return Err(MalformedToken::HeaderField("alg", "missing").into()),
    };
    if let Some(crit) = raw.crit {
        let first = crit.into_iter().next().unwrap_or_default();
        return Err(JwsError::UnsupportedCritical(first.chars().take(32).collect()));
    }
    if raw.b64.is_some_and(|v| v != serde_json::Value::Bool(true)) {
        return Err(MalformedToken::HeaderField("b64", "unencoded payloads are not supported").into());
    }
    if let Some(kid) = &raw.kid {
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(MalformedToken::HeaderField("kid", "must be 1 to 256 bytes").into());
        }
    }
    if let Some(typ) = &raw.typ {
        if !typ.eq_ignore_ascii_case("JWT") && !typ.eq_ignore_ascii_case("at+jwt") {
            return Err(MalformedToken::HeaderField("typ", "must be JWT or at+jwt").into());
        }
    }
    Ok(Header { alg, kid: raw.kid, typ: raw.typ })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str) -> String {
        format!("{}.{}.{}", b64(header), b64("{}"), b64("sig"))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#);
        let u = UnverifiedToken::parse(&t).unwrap();
        assert_eq!(u.header.kid.as_deref(), Some("k1"));
        assert_eq!(u.signature(), b"sig");
        assert_eq!(u.signing_input(), &t[..t.rfind('.').unwrap()]);
    }

    #[test]
    fn refuses_bad_algorithms_and_headers() {
        let code = |h: &str| UnverifiedToken::parse(&token(h)).unwrap_err().code();
        for alg in ["none", "None", "nOnE", "HS256", "HS384", "PS256", "ES384", "ES256K", "EdDSA", "rs256", "es256", ""]
        {
            assert_eq!(code(&format!(r#"{{"alg":"{alg}"}}"#)), "alg_not_allowed", "{alg}");
        }
        assert_eq!(code(r#"{"typ":"JWT"}"#), "malformed_token");
        assert_eq!(code(r#"{"alg":"RS256","crit":["exp"]}"#), "unsupported_crit");
        assert_eq!(code(r#"{"alg":"RS256","b64":false}"#), "malformed_token");
        assert_eq!(code(r#"{"alg":"RS256","alg":"RS256"}"#), "malformed_token");
        assert_eq!(code(r#"{"alg":"RS256","kid":7}"#), "malformed_token");
        assert_eq!(code(r#"["alg"]"#), "malformed_token");
        assert_eq!(code(r#"{"alg":"RS256","typ":"JWE"}"#), "malformed_token");
        assert_eq!(code(&format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(300))), "malformed_token");
    }

    #[test]
    fn refuses_bad_shapes() {
        let good = token(r#"{"alg":"RS256"}"#);
        for bad in [
            String::new(),
            "a.b".to_owned(),
            format!("{good}.x"),
            format!("{good}="),
            format!(" {good}"),
            good.replacen('.', "..", 1),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(UnverifiedToken::parse(&bad).unwrap_err().code(), "malformed_token", "{bad:.40}");
        }
    }
}
