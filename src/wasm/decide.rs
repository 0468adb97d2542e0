//! The one decision of the wasm builds, shared by the edge worker and the inspector page so the
//! page cannot drift from the edge: a prepared request (route and credential read), the token
//! verified through a [`TokenVerifier`] (WebCrypto, with whatever memory of verified tokens and
//! key refresh the caller has), then authorized by the engine.

use std::rc::Rc;

use crate::{authorize, Denial, Grant, Policy, Prepared, Reason, VerifiedToken};

/// Why a token was not verified.
pub(crate) enum Unverified {
    /// The token is refused (malformed, unknown key, bad signature, …).
    Refused(Reason),
    /// Nothing to decide with (keys whose endpoint is down past max-stale): fail closed with
    /// this reason (a 503 one, [`Reason::KeysUnavailable`]).
    #[cfg_attr(not(feature = "edge"), allow(dead_code))]
    Unavailable(Reason),
}

/// Verifies a token's signature and claims (not its access).
pub(crate) trait TokenVerifier {
    async fn verify(&self, token: &str) -> Result<Rc<VerifiedToken>, Unverified>;
}

/// What was decided.
pub(crate) enum Decision {
    /// The grant, and the prepared request (the edge serves its route).
    Allowed(Grant, #[cfg_attr(not(feature = "edge"), allow(dead_code))] Prepared),
    Denied(Denial),
    /// Fail closed (503) with this reason: keys or the revocation list cannot be read.
    Unavailable(Reason),
}

/// The decision, and the verification it rests on (`None`: no token was checked).
pub(crate) struct Outcome {
    pub decision: Decision,
    /// What the page shows of the signature check (the edge needs only the decision).
    #[cfg_attr(not(feature = "inspector"), allow(dead_code))]
    pub verified: Option<Result<Rc<VerifiedToken>, Reason>>,
}

/// Decides a prepared request at `now`.
pub(crate) async fn decide<V: TokenVerifier>(
    prepared: Result<Prepared, Denial>,
    verifier: &V,
    policy: &Policy,
    now: u64,
) -> Outcome {
    let prepared = match prepared {
        Ok(p) => p,
        Err(denial) => return Outcome { decision: Decision::Denied(denial), verified: None },
    };
    let Some(credential) = &prepared.credential else {
        let grant = Grant::public(prepared.route.clone());
        return Outcome { decision: Decision::Allowed(grant, prepared), verified: None };
    };
    match verifier.verify(&credential.token).await {
        Err(Unverified::Unavailable(reason)) => Outcome { decision: Decision::Unavailable(reason), verified: None },
        Err(Unverified::Refused(reason)) => {
            let denial = prepared.token_denial(reason.clone());
            Outcome { decision: Decision::Denied(denial), verified: Some(Err(reason)) }
        }
        Ok(token) => {
            let decision = match authorize(&token, &prepared, policy, now) {
                Ok(grant) => Decision::Allowed(grant, prepared),
                Err(denial) => Decision::Denied(denial),
            };
            Outcome { decision, verified: Some(Ok(token)) }
        }
    }
}

/// Verification against fixed keys, remembering nothing (the inspector page): the pasted keys
/// for a chartgate token, and for a workload token its trust policy's inline keys or, when the
/// policy fetches its keys, the pasted ones (the page fetches nothing on its own).
#[cfg(feature = "inspector")]
pub(crate) struct WithKeys<'a> {
    pub keys: &'a crate::KeySet,
    pub trust: &'a crate::TrustPolicies,
    pub leeway: u64,
    pub now: u64,
}

#[cfg(feature = "inspector")]
impl TokenVerifier for WithKeys<'_> {
    async fn verify(&self, token: &str) -> Result<Rc<VerifiedToken>, Unverified> {
        let verified = match self.trust.route_for(token, !self.keys.is_empty()).map_err(Unverified::Refused)? {
            crate::Routed::Trusted(_, policy, payload) => {
                let keys = match &policy.keys {
                    crate::KeySource::Inline(keys) => keys,
                    _ => self.keys,
                };
                super::webcrypto::verify_trusted(token, keys, policy, *payload, self.now, self.leeway).await
            }
            crate::Routed::Own { .. } => super::webcrypto::verify_token(token, self.keys).await,
        };
        verified.map(Rc::new).map_err(Unverified::Refused)
    }
}
