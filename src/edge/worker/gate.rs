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

/// The edge's verification: the verified-token cache first, then WebCrypto with the keys of the
/// token's source (this deployment's own, or its trust policy's, chosen by `iss`), retried once
/// on a key rotation.
struct EdgeVerifier<'a> {
    isolate: &'a Isolate,
    now: u64,
    cache_hit: std::cell::Cell<bool>,
}

/// Whose rules a token is checked under once its signature verifies.
enum Check<'p> {
    Own,
    /// A workload token of this policy, with its payload as routing read it.
    Trusted(&'p crate::TrustPolicy, Box<crate::WorkloadPayload>),
}

impl EdgeVerifier<'_> {
    async fn check(&self, token: &str, keys: &crate::KeySet, check: Check<'_>) -> Result<VerifiedToken, Reason> {
        match check {
            // Apart: a deployment's own tokens never compile the workload tokens' checks.
            Check::Own => super::apart(webcrypto::verify_token(token, keys)).await,
            Check::Trusted(policy, payload) => {
                let leeway = self.isolate.config.policy.leeway();
                super::apart(webcrypto::verify_trusted(token, keys, policy, *payload, self.now, leeway)).await
            }
        }
    }
}

impl TokenVerifier for EdgeVerifier<'_> {
    async fn verify(&self, token: &str) -> Result<Rc<VerifiedToken>, Unverified> {
        let (isolate, now) = (self.isolate, self.now);
        let hash = isolate.tokens.borrow().hash(token);
        let cached = isolate.tokens.borrow_mut().get(&hash, now);
        if let Some(cached) = cached {
            // Still trusted only while the key that verified it is.
            if let Some(store) = isolate.store_of(cached.trusted.as_deref()) {
                let keys = isolate
                    .keys(store, now)
                    .await
                    .map_err(|KeysUnavailable| Unverified::Unavailable(store.unavailable()))?;
                if keys.has(&cached.kid) {
                    self.cache_hit.set(true);
                    return Ok(cached);
                }
            }
        }
        let has_own_keys =
            isolate.own.remote.is_some() || isolate.own.keys.borrow().as_ref().is_some_and(|k| !k.is_empty());
        let (store, check) = match isolate.config.trust.route_for(token, has_own_keys).map_err(Unverified::Refused)? {
            crate::Routed::Trusted(i, policy, payload) => match isolate.trusted.get(i) {
                Some(store) => (store, Check::Trusted(policy, payload)),
                None => return Err(Unverified::Unavailable(Reason::KeysUnavailable(Some(policy.name.clone())))),
            },
            crate::Routed::Own { .. } => (&isolate.own, Check::Own),
        };
        let keys =
            isolate.keys(store, now).await.map_err(|KeysUnavailable| Unverified::Unavailable(store.unavailable()))?;
        // A workload token's read payload goes to this check; a retry after a key rotation routes
        // it again.
        let trusted = matches!(check, Check::Trusted(..));
        let mut result = self.check(token, &keys, check).await;
        if let (Err(Reason::UnknownKid(_)), Some(_)) = (&result, &store.remote) {
            result = super::apart(self.after_rotation(token, store, keys, trusted, result)).await?;
        }
        let token = Rc::new(result.map_err(Unverified::Refused)?);
        isolate.tokens.borrow_mut().insert(hash, token.clone());
        Ok(token)
    }
}

impl EdgeVerifier<'_> {
    /// A token whose `kid` the keys did not have, checked again after a key rotation, or the
    /// first result when no newer keys can be had.
    async fn after_rotation(
        &self,
        token: &str,
        store: &super::isolate::KeyStore,
        keys: Rc<crate::KeySet>,
        trusted: bool,
        mut result: Result<VerifiedToken, Reason>,
    ) -> Result<Result<VerifiedToken, Reason>, Unverified> {
        let (isolate, now) = (self.isolate, self.now);
        // Key rotation: newer keys than this request started with, the fetch in flight, or one
        // rate-limited refetch.
        let newer = store.keys.borrow().clone().filter(|current| !Rc::ptr_eq(current, &keys));
        let next = store.state.borrow().on_unknown_kid(now, &isolate.rules, newer.is_some(), isolate.fetching(store));
        let fresh = match (next, newer) {
            (UnknownKid::UseNewer, Some(current)) => Ok(current),
            (UnknownKid::Refetch, _) => isolate.refetch(store, now).await,
            _ => Err(KeysUnavailable),
        };
        if let Ok(fresh) = fresh {
            let again = match trusted {
                true => match isolate.config.trust.route(token).map_err(Unverified::Refused)? {
                    crate::Routed::Trusted(_, policy, payload) => Check::Trusted(policy, payload),
                    crate::Routed::Own { .. } => Check::Own,
                },
                false => Check::Own,
            };
            result = self.check(token, &fresh, again).await;
        }
        Ok(result)
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
    let Ok(revoked) = (if isolate.revocations { super::apart(is_revoked(env, &grant)).await } else { Ok(false) })
    else {
        return Outcome::Unavailable(Reason::RevocationsUnavailable);
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
