//! Native RSA on BoringSSL (through jwt-simple's `boring` backend, whose private-key operations
//! are constant time): the signature backend for the CLI and issuer, key generation, and signing.

use std::collections::HashMap;

use boring::hash::MessageDigest;
use boring::pkey::{PKey, Public};
use boring::rsa::Rsa;
use boring::sign::{Signer, Verifier};
use jwt_simple::algorithms::{RS256KeyPair, RSAKeyPairLike};

use crate::claims::Claims;
use crate::keys::{b64, PublicKey, RsaPublicKey};
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

/// Verifies with BoringSSL; keys are converted once and cached by id.
#[derive(Default)]
pub struct BoringVerifier {
    prepared: HashMap<String, PKey<Public>>,
}

fn to_pkey(key: &RsaPublicKey) -> Option<PKey<Public>> {
    let n = boring::bn::BigNum::from_slice(key.n()).ok()?;
    let e = boring::bn::BigNum::from_slice(key.e()).ok()?;
    PKey::from_rsa(Rsa::from_public_components(n, e).ok()?).ok()
}

fn verify_with(pkey: &PKey<Public>, message: &[u8], signature: &[u8]) -> bool {
    Verifier::new(MessageDigest::sha256(), pkey).and_then(|mut v| v.verify_oneshot(signature, message)).unwrap_or(false)
}

impl BoringVerifier {
    /// Prepares every key of `keys`.
    pub fn new(keys: &crate::keys::KeySet) -> Self {
        let prepared = keys.keys().iter().filter_map(|k| Some((k.kid.clone(), to_pkey(&k.rsa)?))).collect();
        BoringVerifier { prepared }
    }
}

impl SignatureVerifier for BoringVerifier {
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        // A key prepared under this id is the same key: ids are unique within a key set, and
        // `new` is built from the set the token's key was selected from.
        match self.prepared.get(&key.kid) {
            Some(pkey) => verify_with(pkey, message, signature),
            None => to_pkey(&key.rsa).is_some_and(|pkey| verify_with(&pkey, message, signature)),
        }
    }
}

/// An RSA private key that signs RS256 tokens; its `kid` is the RFC 7638 thumbprint.
pub struct SigningKey {
    pair: RS256KeyPair,
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
        let pair = RS256KeyPair::generate(bits).map_err(|e| SigningError::Key(e.to_string()))?;
        Self::from_pair(pair)
    }

    /// Reads a PKCS#1 or PKCS#8 private key PEM.
    pub fn from_pem(pem: &str) -> Result<Self, SigningError> {
        let pair = RS256KeyPair::from_pem(pem).map_err(|e| SigningError::Pem(e.to_string()))?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: RS256KeyPair) -> Result<Self, SigningError> {
        let c = pair.public_key().to_components();
        let public = RsaPublicKey::from_components(&c.n, &c.e).map_err(|e| SigningError::Key(e.to_string()))?;
        let kid = public.thumbprint();
        Ok(SigningKey { pair, public, kid })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
    pub fn public(&self) -> PublicKey {
        PublicKey { kid: self.kid.clone(), rsa: self.public.clone() }
    }
    /// The private key as PKCS#1 PEM.
    pub fn private_pem(&self) -> Result<String, SigningError> {
        self.pair.to_pem().map_err(|e| SigningError::Key(e.to_string()))
    }
    /// The public key as SPKI PEM.
    pub fn public_pem(&self) -> Result<String, SigningError> {
        self.pair.public_key().to_pem().map_err(|e| SigningError::Key(e.to_string()))
    }

    /// Signs arbitrary header and payload bytes (compact JWS). Tests use it to build hostile
    /// tokens with valid signatures.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> Result<String, SigningError> {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let rsa = self.pair.key_pair().as_ref().clone();
        let pkey = PKey::from_rsa(rsa).map_err(|e| SigningError::Sign(e.to_string()))?;
        let signature = Signer::new(MessageDigest::sha256(), &pkey)
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
    boring::rand::rand_bytes(&mut bytes).expect("BoringSSL RNG does not fail");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
