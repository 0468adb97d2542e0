//! One request's decision at the edge: the shared wasm decision (`crate::wasm::decide`, the same
//! the inspector page runs) with the edge's verifier (the verified-token cache, one retry on a key
//! rotation by [`RemoteKeys::on_unknown_kid`](crate::edge::RemoteKeys::on_unknown_kid)), then the
//! revocation list.

use std::rc::Rc;

use worker::{console_error, Env};

use super::isolate::{now_secs, Isolate, KeysUnavailable};
use crate::edge::{revocation_keys, UnknownKid};
use crate::wasm::decide::{TokenVerifier, Unverified};
use crate::wasm::webcrypto;
use crate::{prepare_path, Denial, Grant, NormalizedPath, Reason, VerifiedToken};

pub(super) use crate::wasm::decide::Decision as Outcome;

/// The edge's verification: the verified-token cache first, then WebCrypto with the isolate's
/// keys, retried once on a key rotation.
struct EdgeVerifier<'a> {
    isolate: &'a Isolate,
    now: u64,
    cache_hit: std::cell::Cell<bool>,
}

impl TokenVerifier for EdgeVerifier<'_> {
    async fn verify(&self, token: &str) -> Result<Rc<VerifiedToken>, Unverified> {
        let (isolate, now) = (self.isolate, self.now);
        let keys = isolate.keys(now).await.map_err(|KeysUnavailable| Unverified::Unavailable)?;
        let hash = isolate.tokens.borrow().hash(token);
        if let Some(token) = isolate.tokens.borrow_mut().get(&hash, now).filter(|t| keys.has(&t.kid)) {
            self.cache_hit.set(true);
            return Ok(token);
        }
        let mut result = webcrypto::verify_token(token, &keys).await;
        if let (Err(Reason::UnknownKid(_)), Some(url)) = (&result, &isolate.config.jwks_url) {
            // Key rotation: newer keys than this request started with, the fetch in flight, or one
            // rate-limited refetch.
            let newer = isolate.keys.borrow().clone().filter(|current| !Rc::ptr_eq(current, &keys));
            let next = isolate.remote.borrow().on_unknown_kid(now, &isolate.rules, newer.is_some(), isolate.fetching());
            let fresh = match (next, newer) {
                (UnknownKid::UseNewer, Some(current)) => Ok(current),
                (UnknownKid::Refetch, _) => isolate.refetch(url, now).await,
                _ => Err(KeysUnavailable),
            };
            if let Ok(fresh) = fresh {
                result = webcrypto::verify_token(token, &fresh).await;
            }
        }
        let token = Rc::new(result.map_err(Unverified::Refused)?);
        isolate.tokens.borrow_mut().insert(hash, token.clone());
        Ok(token)
    }
}

/// Runs the shared decision for one request, then the revocation list; `token_cache_hit` reports
/// whether the signature was skipped.
pub(super) async fn decide(
    isolate: &Isolate,
    env: &Env,
    path: std::result::Result<NormalizedPath, Reason>,
    request: &crate::Request<'_>,
    token_cache_hit: &mut bool,
) -> Outcome {
    let policy = &isolate.config.policy;
    let prepared = path.map_err(Denial::new).and_then(|p| prepare_path(p, request, policy));
    let verifier = EdgeVerifier { isolate, now: now_secs(), cache_hit: std::cell::Cell::new(false) };
    let outcome = crate::wasm::decide::decide(prepared, &verifier, policy, verifier.now).await;
    *token_cache_hit = verifier.cache_hit.get();
    let Outcome::Allowed(grant, prepared) = outcome.decision else { return outcome.decision };
    let Ok(revoked) = (if isolate.revocations { is_revoked(env, &grant).await } else { Ok(false) }) else {
        return Outcome::Unavailable;
    };
    if revoked {
        return Outcome::Denied(crate::edge::revoked(&grant));
    }
    Outcome::Allowed(grant, prepared)
}

/// Looks up the token's revocation keys (its `jti`, its ancestors' and its `sub`, see
/// [`revocation_keys`]) in the optional `REVOCATIONS` KV namespace. `Err` when the list
/// cannot be read (the caller fails closed).
async fn is_revoked(env: &Env, grant: &Grant) -> std::result::Result<bool, ()> {
    let Ok(kv) = env.kv("REVOCATIONS") else { return Ok(false) };
    for key in revocation_keys(grant.jti.as_deref(), &grant.lineage, grant.sub.as_deref(), grant.trusted.as_deref()) {
        match kv.get(&key).text().await {
            Ok(Some(_)) => return Ok(true),
            Ok(None) => {}
            Err(e) => {
                console_error!("chartgate: revocation lookup failed: {e}");
                return Err(());
            }
        }
    }
    Ok(false)
}
