//! Native RSA (and ES256 verification) on the system's OpenSSL (the `openssl` crate; private-key operations are constant
//! time and blinded, and use the CPU's fastest code, e.g. AVX-512 IFMA): the signature backend for
//! the CLI and issuer, key generation, PEM input and output, signing.

use std::collections::HashMap;

use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::sign::{Signer, Verifier};

use crate::claims::Claims;
use crate::keys::{b64, KeyMaterial, PublicKey, RsaPublicKey};
use crate::verify::SignatureVerifier;

/// Why a signing key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("private key is not a valid RSA PEM (PKCS#1 or PKCS#8): {0}")]
    Pem(String),
    #[error("private key is unusable: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Verifies with OpenSSL; keys are converted once and cached by id.
#[derive(Default)]
pub struct NativeVerifier {
    prepared: HashMap<String, PKey<Public>>,
}

/// The OpenSSL key; `None` when OpenSSL refuses it (an EC point off the curve, …), and then
/// nothing verifies under it.
fn to_pkey(key: &KeyMaterial) -> Option<PKey<Public>> {
    use openssl::bn::BigNum;
    match key {
        KeyMaterial::Rsa(key) => {
            let n = BigNum::from_slice(key.n()).ok()?;
            let e = BigNum::from_slice(key.e()).ok()?;
            PKey::from_rsa(Rsa::from_public_components(n, e).ok()?).ok()
        }
        KeyMaterial::P256(key) => {
            let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).ok()?;
            let (x, y) = (BigNum::from_slice(key.x()).ok()?, BigNum::from_slice(key.y()).ok()?);
            // Checks that the point is on the curve.
            let ec = openssl::ec::EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
            PKey::from_ec_key(ec).ok()
        }
    }
}

fn verify_with(pkey: &PKey<Public>, message: &[u8], signature: &[u8]) -> bool {
    if pkey.id() == openssl::pkey::Id::EC {
        // JWS carries ECDSA signatures as `r || s` (RFC 7518 §3.4); OpenSSL wants DER.
        let Some(der) = ecdsa_der(signature) else { return false };
        return Verifier::new(MessageDigest::sha256(), pkey)
            .and_then(|mut v| v.verify_oneshot(&der, message))
            .unwrap_or(false);
    }
    Verifier::new(MessageDigest::sha256(), pkey).and_then(|mut v| v.verify_oneshot(signature, message)).unwrap_or(false)
}

/// `r || s` (32 bytes each) as a DER ECDSA-Sig-Value.
fn ecdsa_der(signature: &[u8]) -> Option<Vec<u8>> {
    if signature.len() != 64 {
        return None;
    }
    let r = openssl::bn::BigNum::from_slice(&signature[..32]).ok()?;
    let s = openssl::bn::BigNum::from_slice(&signature[32..]).ok()?;
    openssl::ecdsa::EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}

impl NativeVerifier {
    /// Prepares every key of `keys`.
    pub fn new(keys: &crate::keys::KeySet) -> Self {
        let prepared = keys.keys().iter().filter_map(|k| Some((k.kid.clone(), to_pkey(&k.material)?))).collect();
        NativeVerifier { prepared }
    }
}

impl SignatureVerifier for NativeVerifier {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        // A key prepared under this id is the same key: ids are unique within a key set, and
        // `new` is built from the set the token's key was selected from.
        match self.prepared.get(&key.kid) {
            Some(pkey) => verify_with(pkey, message, signature),
            None => to_pkey(&key.material).is_some_and(|pkey| verify_with(&pkey, message, signature)),
        }
    }
}

/// An RSA private key that signs RS256 tokens; its `kid` is the RFC 7638 thumbprint.
pub struct SigningKey {
    private: PKey<Private>,
    public: RsaPublicKey,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key (2048, 3072 or 4096 bits).
    pub fn generate(bits: usize) -> Result<Self, SigningError> {
        if ![2048, 3072, 4096].contains(&bits) {
            return Err(SigningError::Key(format!("{bits} bits: use 2048, 3072 or 4096")));
        }
        let rsa = Rsa::generate(bits as u32).map_err(|e| SigningError::Key(e.to_string()))?;
        Self::from_rsa(rsa)
    }

    /// Reads a PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) private key PEM.
    pub fn from_pem(pem: &str) -> Result<Self, SigningError> {
        let pkey = PKey::private_key_from_pem(pem.as_bytes()).map_err(|e| SigningError::Pem(e.to_string()))?;
        let rsa = pkey.rsa().map_err(|_| SigningError::Pem("not an RSA key".into()))?;
        Self::from_rsa(rsa)
    }

    fn from_rsa(rsa: Rsa<Private>) -> Result<Self, SigningError> {
        if !rsa.check_key().unwrap_or(false) {
            return Err(SigningError::Key("RSA key is inconsistent".into()));
        }
        let public = RsaPublicKey::from_components(&rsa.n().to_vec(), &rsa.e().to_vec())
            .map_err(|e| SigningError::Key(e.to_string()))?;
        let kid = public.thumbprint();
        let private = PKey::from_rsa(rsa).map_err(|e| SigningError::Key(e.to_string()))?;
        Ok(SigningKey { private, public, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
    pub fn public(&self) -> PublicKey {
        PublicKey { kid: self.kid.clone(), material: KeyMaterial::Rsa(self.public.clone()) }
    }
    fn rsa(&self) -> Result<Rsa<Private>, SigningError> {
        self.private.rsa().map_err(|e| SigningError::Key(e.to_string()))
    }
    /// The private key as PKCS#1 PEM.
    pub fn private_pem(&self) -> Result<String, SigningError> {
        let pem = self.rsa()?.private_key_to_pem().map_err(|e| SigningError::Key(e.to_string()))?;
        String::from_utf8(pem).map_err(|e| SigningError::Key(e.to_string()))
    }
    /// The public key as SPKI PEM.
    pub fn public_pem(&self) -> Result<String, SigningError> {
        let pem = self.private.public_key_to_pem().map_err(|e| SigningError::Key(e.to_string()))?;
        String::from_utf8(pem).map_err(|e| SigningError::Key(e.to_string()))
    }

    /// Signs arbitrary header and payload bytes (compact JWS). Tests use it to build hostile
    /// tokens with valid signatures.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> Result<String, SigningError> {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let signature = Signer::new(MessageDigest::sha256(), &self.private)
            .and_then(|mut s| s.sign_oneshot_to_vec(signing_input.as_bytes()))
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }

    /// Signs claims with header `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub fn sign(&self, claims: &Claims) -> Result<String, SigningError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        self.sign_raw(header.to_string().as_bytes(), claims.to_json().to_string().as_bytes())
    }
}

/// 16 random bytes as hex, for `jti`.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("OpenSSL RNG does not fail");
    crate::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_in_both_private_key_forms() {
        let key = SigningKey::generate(2048).unwrap();
        let pkcs1 = key.private_pem().unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_pem(&pkcs1).unwrap().kid(), key.kid());
        let pkcs8 = String::from_utf8(key.private.private_key_to_pem_pkcs8().unwrap()).unwrap();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_pem(&pkcs8).unwrap().kid(), key.kid());
        let public = key.public_pem().unwrap();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(crate::KeySet::parse(&public).unwrap().keys()[0].material, key.public().material);
    }

    #[test]
    fn refuses_what_is_not_a_usable_private_key() {
        let key = SigningKey::generate(2048).unwrap();
        assert!(matches!(SigningKey::from_pem(&key.public_pem().unwrap()), Err(SigningError::Pem(_))));
        assert!(matches!(SigningKey::from_pem("hello"), Err(SigningError::Pem(_))));
        assert!(matches!(SigningKey::generate(1024), Err(SigningError::Key(_))));
    }

    #[test]
    fn signatures_verify_under_their_key_only() {
        let (key, other) = (SigningKey::generate(2048).unwrap(), SigningKey::generate(2048).unwrap());
        let token = key.sign_raw(br#"{"alg":"RS256"}"#, b"{}").unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature).unwrap();
        let verifier = NativeVerifier::default();
        assert!(verifier.verify(&key.public(), input.as_bytes(), &signature));
        assert!(!verifier.verify(&other.public(), input.as_bytes(), &signature));
    }
}
