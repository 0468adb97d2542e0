//! Token verification in a fixed order: size → header → algorithm → key → signature → claims.
//! The signature check itself sits behind [`SignatureVerifier`] so each platform brings its own
//! RSA (OpenSSL natively, WebCrypto at the edge and in the page); [`begin`] and
//! [`PendingSignature::finish`] let an asynchronous backend run in between.

use crate::claims::{Claims, TrustedBy};
use crate::error::Reason;
use crate::jws::UnverifiedToken;
use crate::keys::{KeySet, PublicKey};
use crate::trust::{TrustPolicy, WorkloadPayload};

/// Checks one signature with the algorithm of `key` (RS256 or ES256, see
/// [`KeyMaterial`](crate::KeyMaterial)).
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
    /// For a workload token, the trust policy and rule that admitted it (its issuer and audience
    /// are checked against the policy, not the deployment's `ISSUER`/`AUDIENCE`).
    pub trusted: Option<std::sync::Arc<TrustedBy>>,
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
    // The key fixes the algorithm: an ES256 header never gets an RSA key checked as an EC one,
    // nor the other way round (RFC 8725 §3.1).
    if key.alg() != token.header.alg {
        return Err(Reason::KeyAlgorithm {
            alg: token.header.alg.as_str(),
            key: key.alg().as_str(),
            kid: key.kid.clone(),
        });
    }
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
        self.token.signature().len() != self.key.material.signature_len()
    }

    /// Completes verification with the backend's answer, then parses the claims.
    pub fn finish(self, signature_valid: bool) -> Result<VerifiedToken, Reason> {
        if !signature_valid || self.signature_has_wrong_length() {
            return Err(Reason::BadSignature);
        }
        let claims = Claims::from_json(&self.token.dangerous_payload()?)?;
        Ok(VerifiedToken { kid: self.key.kid.clone(), claims, trusted: None })
    }

    /// Completes verification of a workload token with the backend's answer: the signature, then
    /// the trust policy's admission ([`TrustPolicy::admit_payload`]) of the payload as
    /// [`crate::TrustPolicies::route`] read it (the signed bytes), at `now` with `leeway` seconds.
    pub fn finish_trusted(
        self,
        signature_valid: bool,
        policy: &TrustPolicy,
        payload: WorkloadPayload,
        now: u64,
        leeway: u64,
    ) -> Result<VerifiedToken, Reason> {
        if !signature_valid || self.signature_has_wrong_length() {
            return Err(Reason::BadSignature);
        }
        let (claims, by) = policy.admit_payload(payload, now, leeway)?;
        Ok(VerifiedToken { kid: self.key.kid.clone(), claims, trusted: Some(by) })
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

/// Verifies a token that may be a chartgate token (checked with `own` keys) or a workload token of
/// a trust policy (routed by `iss`, checked with that policy's keys from `policy_keys`, then
/// admitted at `now`). `policy_keys(i)` is `None` when the `i`th policy's keys cannot be had
/// (its endpoint down): [`Reason::KeysUnavailable`], never a fallback to other keys. A token of
/// no trusted issuer, when there are no own keys, is [`Reason::UntrustedIssuer`].
pub fn verify_any<'k>(
    token: &str,
    own: &KeySet,
    policies: &crate::TrustPolicies,
    policy_keys: impl Fn(usize) -> Option<&'k KeySet>,
    backend: &impl SignatureVerifier,
    now: u64,
    leeway: u64,
) -> Result<VerifiedToken, Reason> {
    match policies.route_for(token, !own.is_empty())? {
        crate::Routed::Own { .. } => verify(token, own, backend),
        crate::Routed::Trusted(i, policy, payload) => {
            let keys = policy_keys(i).ok_or_else(|| Reason::KeysUnavailable(Some(policy.name.clone())))?;
            let pending = begin(token, keys)?;
            let valid = !pending.signature_has_wrong_length()
                && backend.verify(pending.key(), pending.message(), pending.signature());
            pending.finish_trusted(valid, policy, *payload, now, leeway)
        }
    }
}
