//! Trusted public keys: RSA keys (RS256) and P-256 keys (ES256) read from PEM (SPKI, or PKCS#1 for
//! RSA), a JWK or a JWKS, named by `kid` (the RFC 7638 thumbprint when none is given), and
//! selection of the key a token names. A key fixes its algorithm (RFC 7517 §4.4, RFC 8725 §3.1):
//! a token is verified with the algorithm of the key it names, never one its header picks.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::Reason;
use crate::jws::Alg;

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
    #[error("the key is neither an RSA key nor an EC key on P-256")]
    NotRsa,
    #[error("EC key is not usable: {0}")]
    Ec(&'static str),
    #[error("RSA modulus of {0} bits is outside {MIN_RSA_BITS}..={MAX_RSA_BITS}")]
    ModulusSize(usize),
    #[error("RSA public exponent is invalid")]
    Exponent,
    #[error("JSON is malformed: {0}")]
    Json(String),
    #[error("JWK field {0:?} is missing or not base64url")]
    JwkField(&'static str),
    #[error("JWK is for {0:?}, not RS256 or ES256 signatures")]
    JwkUse(String),
    #[error("JWKS holds no usable RS256 or ES256 key")]
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

/// id-ecPublicKey (RFC 5480), the SPKI algorithm of EC public keys.
const EC_PUBLIC_KEY: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / prime256v1 (RFC 5480 §2.1.1.1), the only curve accepted (ES256).
const P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A P-256 public key as its affine coordinates, 32 big-endian bytes each (RFC 7518 §6.2.1).
/// Whether the point lies on the curve is checked by the crypto backend when it imports the key
/// (OpenSSL natively, WebCrypto at the edge); a point that does not verifies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    x: [u8; 32],
    y: [u8; 32],
}

impl EcPublicKey {
    /// Builds the key from its coordinates (exactly 32 bytes each).
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let x: [u8; 32] = x.try_into().map_err(|_| KeyError::Ec("x must be 32 bytes"))?;
        let y: [u8; 32] = y.try_into().map_err(|_| KeyError::Ec("y must be 32 bytes"))?;
        Ok(EcPublicKey { x, y })
    }

    /// Reads an uncompressed SEC 1 point, `04 || x || y` (compressed points are refused).
    pub fn from_sec1(point: &[u8]) -> Result<Self, KeyError> {
        match point {
            [4, rest @ ..] if rest.len() == 64 => Self::from_coordinates(&rest[..32], &rest[32..]),
            _ => Err(KeyError::Ec("only uncompressed P-256 points are accepted")),
        }
    }

    pub fn x(&self) -> &[u8; 32] {
        &self.x
    }
    pub fn y(&self) -> &[u8; 32] {
        &self.y
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, b64(&self.x), b64(&self.y));
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// The public JWK (`kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`).
    pub fn to_jwk(&self, kid: &str) -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid, "x": b64(&self.x), "y": b64(&self.y)})
    }
}

/// The key material of a trusted key, which fixes the algorithm its tokens are verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
    Rsa(RsaPublicKey),
    /// ES256 (ECDSA on P-256 with SHA-256).
    P256(EcPublicKey),
}

impl KeyMaterial {
    /// The one algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        match self {
            KeyMaterial::Rsa(_) => Alg::Rs256,
            KeyMaterial::P256(_) => Alg::Es256,
        }
    }

    /// The length of every valid signature, in bytes (the modulus size; 64 for ES256's `r || s`).
    pub fn signature_len(&self) -> usize {
        match self {
            KeyMaterial::Rsa(rsa) => rsa.size(),
            KeyMaterial::P256(_) => 64,
        }
    }

    /// The RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        match self {
            KeyMaterial::Rsa(k) => k.thumbprint(),
            KeyMaterial::P256(k) => k.thumbprint(),
        }
    }

    /// The public JWK under `kid`.
    pub fn to_jwk(&self, kid: &str) -> serde_json::Value {
        match self {
            KeyMaterial::Rsa(k) => k.to_jwk(kid),
            KeyMaterial::P256(k) => k.to_jwk(kid),
        }
    }
}

impl From<RsaPublicKey> for KeyMaterial {
    fn from(k: RsaPublicKey) -> Self {
        KeyMaterial::Rsa(k)
    }
}

impl From<EcPublicKey> for KeyMaterial {
    fn from(k: EcPublicKey) -> Self {
        KeyMaterial::P256(k)
    }
}

/// A trusted key and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    pub material: KeyMaterial,
}

impl PublicKey {
    /// A key named by its RFC 7638 thumbprint.
    pub fn with_thumbprint(material: impl Into<KeyMaterial>) -> Self {
        let material = material.into();
        PublicKey { kid: material.thumbprint(), material }
    }

    /// The RSA key, when this is one.
    pub fn rsa(&self) -> Option<&RsaPublicKey> {
        match &self.material {
            KeyMaterial::Rsa(k) => Some(k),
            KeyMaterial::P256(_) => None,
        }
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.material.alg()
    }
}

/// Reads DER SubjectPublicKeyInfo of any accepted kind, or PKCS#1 RSAPublicKey.
fn key_from_der(der: &[u8]) -> Result<KeyMaterial, KeyError> {
    use spki::der::Decode as _;
    if let Ok(info) = spki::SubjectPublicKeyInfoRef::from_der(der) {
        if info.algorithm.oid == EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().map_err(|_| KeyError::Ec("no named curve"))?;
            if curve != P256 {
                return Err(KeyError::Ec("only the P-256 curve is accepted"));
            }
            let point = info.subject_public_key.as_bytes().ok_or(KeyError::Ec("bit string is not whole bytes"))?;
            return EcPublicKey::from_sec1(point).map(KeyMaterial::P256);
        }
    }
    RsaPublicKey::from_der(der).map(KeyMaterial::Rsa)
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
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl RawJwk {
    /// `Ok(None)` for a key of another type or use (skipped inside a JWKS).
    fn into_key(self) -> Result<Option<PublicKey>, KeyError> {
        let alg = match (self.kty.as_deref(), self.crv.as_deref()) {
            (Some("RSA"), _) => Alg::Rs256,
            (Some("EC"), Some("P-256")) => Alg::Es256,
            _ => return Ok(None),
        };
        if let Some(u) = self.use_.filter(|u| u != "sig") {
            return Err(KeyError::JwkUse(u));
        }
        if let Some(a) = self.alg.filter(|a| a != alg.as_str()) {
            return Err(KeyError::JwkUse(a));
        }
        let field =
            |v: Option<String>, name| v.and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).ok_or(KeyError::JwkField(name));
        let material = match alg {
            Alg::Rs256 => RsaPublicKey::from_components(&field(self.n, "n")?, &field(self.e, "e")?)?.into(),
            Alg::Es256 => EcPublicKey::from_coordinates(&field(self.x, "x")?, &field(self.y, "y")?)?.into(),
        };
        Ok(Some(match self.kid {
            Some(kid) if !kid.is_empty() => PublicKey { kid, material },
            _ => PublicKey::with_thumbprint(material),
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
            let material = match label {
                "RSA PUBLIC KEY" => RsaPublicKey::from_der(&der)?.into(),
                _ => key_from_der(&der)?,
            };
            keys.push(PublicKey::with_thumbprint(material));
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
        serde_json::json!({"keys": self.keys.iter().map(|k| k.material.to_jwk(&k.kid)).collect::<Vec<_>>()})
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
            r#"{{"keys":[{}, {{"kty":"OKP","crv":"Ed25519","x":"a"}}, {{"kty":"EC","crv":"P-384","x":"a","y":"b"}}, {}]}}"#,
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

    /// RFC 7515 appendix A.3's P-256 key, as a JWK and as PEM: same key, same RFC 7638 thumbprint,
    /// ES256 fixed by the key.
    #[test]
    fn p256_keys() {
        let jwk = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let set = KeySet::parse(jwk).unwrap();
        let key = &set.keys()[0];
        assert_eq!(key.alg(), Alg::Es256);
        assert_eq!(key.material.signature_len(), 64);
        let again = KeySet::from_json(&key.material.to_jwk("k").to_string()).unwrap();
        assert_eq!(again.keys()[0].material, key.material);
        assert!(KeySet::parse(&jwk.replace("f83O", "AAf83O")).is_err(), "33-byte x");
        assert!(KeySet::parse(&jwk.replace("\"kty\":\"EC\"", "\"kty\":\"EC\",\"alg\":\"RS256\"")).is_err());
        // SPKI: id-ecPublicKey, prime256v1, uncompressed point.
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
            0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
        ];
        let KeyMaterial::P256(ec) = &key.material else { panic!() };
        der.extend_from_slice(ec.x());
        der.extend_from_slice(ec.y());
        let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der).unwrap();
        let from_pem = KeySet::parse(&pem).unwrap();
        assert_eq!(from_pem.keys()[0].material, key.material);
        assert_eq!(from_pem.keys()[0].kid, key.kid, "named by the same thumbprint");
        der[26] = 0x02; // a compressed point
        let pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &der[..59]).unwrap();
        assert!(KeySet::parse(&pem).is_err());
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
