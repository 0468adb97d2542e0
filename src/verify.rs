//! Token verification in a fixed order: size → header → algorithm → key → signature → claims.
//! The signature check itself sits behind [`SignatureVerifier`] so each platform brings its own
//! RSA (OpenSSL natively, WebCrypto at the edge and in the page); [`begin`] and
//! [`PendingSignature::finish`] let an asynchronous backend run in between.

use crate::claims::Claims;
use crate::error::Reason;
use crate::jws::UnverifiedToken;
use crate::keys::{KeySet, PublicKey};

/// Checks one RSASSA-PKCS1-v1_5 SHA-256 signature.
pub trait SignatureVerifier {
    /// True when `signature` over `message` verifies under `key`.
    fn verify(&self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool;
}

/// A token whose signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The id of the key that verified it.
    pub kid: String,
    pub claims: Claims,
}

/// A parsed token and the key it names, waiting for its signature check.
#[derive(Debug)]
pub struct PendingSignature<'t, 'k> {
    token: UnverifiedToken<'t>,
    key: &'k PublicKey,
}

/// Parses `token` and selects its key: everything before the signature check.
pub fn begin<'t, 'k>(token: &'t str, keys: &'k KeySet) -> Result<PendingSignature<'t, 'k>, Reason> {
    let token = UnverifiedToken::parse(token)?;
    let key = keys.select(token.header.kid.as_deref())?;
    Ok(PendingSignature { token, key })
}

impl<'t, 'k> PendingSignature<'t, 'k> {
    /// The key to verify with.
    pub fn key(&self) -> &'k PublicKey {
        self.key
    }
    /// The signed bytes.
    pub fn message(&self) -> &'t [u8] {
        self.token.signing_input().as_bytes()
    }
    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        self.token.signature()
    }
    /// True when the signature cannot possibly verify (wrong length for the key): the backend
    /// need not be called.
    pub fn signature_has_wrong_length(&self) -> bool {
        self.token.signature().len() != self.key.rsa.size()
    }

    /// Completes verification with the backend's answer, then parses the claims.
    pub fn finish(self, signature_valid: bool) -> Result<VerifiedToken, Reason> {
        if !signature_valid || self.signature_has_wrong_length() {
            return Err(Reason::BadSignature);
        }
        let claims = Claims::from_json(&self.token.dangerous_payload()?)?;
        Ok(VerifiedToken { kid: self.key.kid.clone(), claims })
    }

    /// Runs a synchronous backend and completes verification.
    pub fn verify_with(self, backend: &impl SignatureVerifier) -> Result<VerifiedToken, Reason> {
        let valid = !self.signature_has_wrong_length() && backend.verify(self.key, self.message(), self.signature());
        self.finish(valid)
    }
}

/// Verifies a token's signature and parses its claims (time and access are checked by
/// [`crate::decision`]).
pub fn verify(token: &str, keys: &KeySet, backend: &impl SignatureVerifier) -> Result<VerifiedToken, Reason> {
    begin(token, keys)?.verify_with(backend)
}
