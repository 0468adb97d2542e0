//! Trusted public keys: RSA keys read from PEM (SPKI or PKCS#1), a JWK or a JWKS, named by `kid`
//! (the RFC 7638 thumbprint when none is given), and selection of the key a token names.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Reason;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits.
pub const MAX_RSA_BITS: usize = 8192;
/// Most keys accepted in one key set.
pub const MAX_KEYS: usize = 64;

/// Why key material was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no PEM block, JWK or JWKS found")]
    Unrecognised,
    #[error("PEM block {label:?} is not supported (use PUBLIC KEY or RSA PUBLIC KEY)")]
    PemLabel { label: String },
    #[error("PEM is malformed: {0}")]
    Pem(String),
    #[error("DER is malformed: {0}")]
    Der(String),
    #[error("the key is not an RSA key")]
    NotRsa,
    #[error("RSA modulus of {0} bits is outside {MIN_RSA_BITS}..={MAX_RSA_BITS}")]
    ModulusSize(usize),
    #[error("RSA public exponent is invalid")]
    Exponent,
    #[error("JSON is malformed: {0}")]
    Json(String),
    #[error("JWK field {0:?} is missing or not base64url")]
    JwkField(&'static str),
    #[error("JWK is for {0:?}, not RS256 signatures")]
    JwkUse(String),
    #[error("JWKS holds no usable RS256 key")]
    NoUsableKey,
    #[error("key id {0:?} appears twice")]
    DuplicateKid(String),
    #[error("more than {MAX_KEYS} keys")]
    TooMany,
}

/// An RSA public key as big-endian unsigned integers without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl RsaPublicKey {
    /// Checks sizes and builds the key.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let n = strip_zeros(n);
        let e = strip_zeros(e);
        // `strip_zeros` leaves a non-zero first byte, or nothing (a zero or empty modulus: 0 bits).
        let bits = n.first().map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::ModulusSize(bits));
        }
        if e.is_empty() || e.len() > 8 || e[e.len() - 1] & 1 == 0 || e == [1] {
            return Err(KeyError::Exponent);
        }
        Ok(RsaPublicKey { n: n.to_vec(), e: e.to_vec() })
    }

    pub fn n(&self) -> &[u8] {
        &self.n
    }
    pub fn e(&self) -> &[u8] {
        &self.e
    }
    /// Modulus length in bytes: the length of every valid signature.
    pub fn size(&self) -> usize {
        self.n.len()
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(&self.e), b64(&self.n));
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// The public JWK (`kty`, `n`, `e`, `kid`, `alg`, `use`).
    pub fn to_jwk(&self, kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(&self.n), "e": b64(&self.e)})
    }

    /// Reads DER: SubjectPublicKeyInfo or PKCS#1 RSAPublicKey.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        use spki::der::Decode as _;
        let pkcs1_bytes;
        let inner = match spki::SubjectPublicKeyInfoRef::from_der(der) {
            Ok(info) => {
                if info.algorithm.oid != RSA_ENCRYPTION {
                    return Err(KeyError::NotRsa);
                }
                pkcs1_bytes = info.subject_public_key.raw_bytes().to_vec();
                &pkcs1_bytes[..]
            }
            Err(_) => der,
        };
        let key = pkcs1::RsaPublicKey::from_der(inner).map_err(|e| KeyError::Der(e.to_string()))?;
        RsaPublicKey::from_components(key.modulus.as_bytes(), key.public_exponent.as_bytes())
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[start..]
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// rsaEncryption (PKCS #1), the SPKI algorithm of RSA public keys.
const RSA_ENCRYPTION: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A trusted key and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    pub rsa: RsaPublicKey,
}

impl PublicKey {
    /// A key named by its RFC 7638 thumbprint.
    pub fn with_thumbprint(rsa: RsaPublicKey) -> Self {
        PublicKey { kid: rsa.thumbprint(), rsa }
    }
}

#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl RawJwk {
    /// `Ok(None)` for a key of another type or use (skipped inside a JWKS).
    fn into_key(self) -> Result<Option<PublicKey>, KeyError> {
        if self.kty.as_deref() != Some("RSA") {
            return Ok(None);
        }
        if let Some(u) = self.use_.filter(|u| u != "sig") {
            return Err(KeyError::JwkUse(u));
        }
        if let Some(a) = self.alg.filter(|a| a != "RS256") {
            return Err(KeyError::JwkUse(a));
        }
        let field =
            |v: Option<String>, name| v.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).ok_or(KeyError::JwkField(name));
        let rsa = RsaPublicKey::from_components(&field(self.n, "n")?, &field(self.e, "e")?)?;
        Ok(Some(match self.kid {
            Some(kid) if !kid.is_empty() => PublicKey { kid, rsa },
            _ => PublicKey::with_thumbprint(rsa),
        }))
    }
}

/// The keys a verifier trusts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    /// Builds a set, refusing duplicate ids.
    pub fn new(keys: Vec<PublicKey>) -> Result<Self, KeyError> {
        if keys.len() > MAX_KEYS {
            return Err(KeyError::TooMany);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(KeyError::DuplicateKid(k.kid.clone()));
            }
        }
        Ok(KeySet { keys })
    }

    /// Reads PEM (one or more blocks), a JWK or a JWKS, recognised by content.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.starts_with('{') {
            return Self::from_json(text);
        }
        if text.contains("-----BEGIN") {
            return Self::from_pem(text);
        }
        Err(KeyError::Unrecognised)
    }

    /// Reads a JWK or a JWKS.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| KeyError::Json(e.to_string()))?;
        let jwk = |v: serde_json::Value| -> Result<Option<PublicKey>, KeyError> {
            serde_json::from_value::<RawJwk>(v).map_err(|e| KeyError::Json(e.to_string()))?.into_key()
        };
        if value.get("keys").is_some() {
            let raw: RawJwks = serde_json::from_value(value).map_err(|e| KeyError::Json(e.to_string()))?;
            if raw.keys.len() > MAX_KEYS {
                return Err(KeyError::TooMany);
            }
            let mut keys = Vec::new();
            for v in raw.keys {
                match jwk(v) {
                    Ok(Some(k)) => keys.push(k),
                    Ok(None) | Err(KeyError::JwkUse(_)) => {} // keys for other uses are not ours
                    Err(e) => return Err(e),
                }
            }
            if keys.is_empty() {
                return Err(KeyError::NoUsableKey);
            }
            return KeySet::new(keys);
        }
        KeySet::new(vec![jwk(value)?.ok_or(KeyError::NotRsa)?])
    }

    /// Reads one or more PEM public keys.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for block in text.split("-----BEGIN ").skip(1) {
            let block = format!("-----BEGIN {}", block.trim());
            let (label, der) = pem_rfc7468::decode_vec(block.as_bytes()).map_err(|e| KeyError::Pem(e.to_string()))?;
            if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
                return Err(KeyError::PemLabel { label: label.to_owned() });
            }
            keys.push(PublicKey::with_thumbprint(RsaPublicKey::from_der(&der)?));
        }
        if keys.is_empty() {
            return Err(KeyError::Unrecognised);
        }
        KeySet::new(keys)
    }

    /// The key a token's `kid` names. Without a `kid`, the only key, if there is exactly one.
    pub fn select(&self, kid: Option<&str>) -> Result<&PublicKey, Reason> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid).ok_or_else(|| Reason::UnknownKid(kid.to_owned())),
            None if self.keys.len() == 1 => Ok(&self.keys[0]),
            None => Err(Reason::KidRequired(self.keys.len())),
        }
    }

    /// True when a key has this id.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// This set plus the keys of `other` whose ids are not taken, up to [`MAX_KEYS`].
    pub fn merged(&self, other: &KeySet) -> KeySet {
        let mut keys = self.keys.clone();
        for k in &other.keys {
            if keys.len() < MAX_KEYS && !keys.iter().any(|o| o.kid == k.kid) {
                keys.push(k.clone());
            }
        }
        KeySet { keys }
    }

    /// The set as a JWKS document.
    pub fn to_jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": self.keys.iter().map(|k| k.rsa.to_jwk(&k.kid)).collect::<Vec<_>>()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7638 §3.1 example key and its thumbprint.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    #[test]
    fn rfc7638_thumbprint() {
        let n = URL_SAFE_NO_PAD.decode(RFC7638_N).unwrap();
        let k = RsaPublicKey::from_components(&n, &[1, 0, 1]).unwrap();
        assert_eq!(k.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn jwks_selection() {
        let n = URL_SAFE_NO_PAD.decode(RFC7638_N).unwrap();
        let rsa = RsaPublicKey::from_components(&n, &[1, 0, 1]).unwrap();
        let set = KeySet::from_json(&format!(
            r#"{{"keys":[{}, {{"kty":"EC","crv":"P-256","x":"a","y":"b"}}, {}]}}"#,
            rsa.to_jwk("a"),
            rsa.to_jwk("b")
        ))
        .unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.select(Some("b")).unwrap().kid, "b");
        assert_eq!(set.select(Some("c")).unwrap_err().code(), "unknown_kid");
        assert_eq!(set.select(None).unwrap_err().code(), "kid_required");
        let one = KeySet::from_json(&rsa.to_jwk("a").to_string()).unwrap();
        assert_eq!(one.select(None).unwrap().kid, "a");
    }

    #[test]
    fn refuses_weak_or_broken_keys() {
        assert_eq!(RsaPublicKey::from_components(&[0xff; 128], &[1, 0, 1]), Err(KeyError::ModulusSize(1024)));
        assert_eq!(RsaPublicKey::from_components(&[0xff; 256], &[2]), Err(KeyError::Exponent));
        // Found by `scripts/fuzz` (config): an empty or all-zero modulus once underflowed.
        assert_eq!(RsaPublicKey::from_components(&[], &[1, 0, 1]), Err(KeyError::ModulusSize(0)));
        assert_eq!(RsaPublicKey::from_components(&[0; 256], &[1, 0, 1]), Err(KeyError::ModulusSize(0)));
        assert!(matches!(
            KeySet::parse(r#"{"kty":"RSA","n":"","e":"AQAB","kid":"k"}"#),
            Err(KeyError::ModulusSize(0) | KeyError::JwkField(_) | KeyError::NoUsableKey)
        ));
        assert!(KeySet::parse("hello").is_err());
        assert!(KeySet::parse("{\"keys\":[]}").is_err());
        assert!(KeySet::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        assert!(matches!(
            KeySet::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(KeyError::PemLabel { .. })
        ));
    }
}
