//! One request's decision at the edge: the engine's, with the verified-token cache, one retry
//! on a key rotation ([`RemoteKeys::on_unknown_kid`](crate::edge::RemoteKeys::on_unknown_kid)) and
//! the revocation list.

use std::rc::Rc;

use worker::{console_error, Env};

use super::isolate::{now_secs, Isolate, KeysUnavailable};
use crate::edge::{revocation_keys, UnknownKid};
use crate::wasm::webcrypto;
use crate::{authorize, prepare_path, Denial, Grant, NormalizedPath, Prepared, Reason, VerifiedToken};

/// The outcome of authorization at the edge.
pub(super) enum Outcome {
    Allowed(Grant, Prepared),
    Denied(Denial),
    Unavailable,
}

/// Runs the engine for one request; `token_cache_hit` reports whether the signature was skipped.
pub(super) async fn decide(
    isolate: &Isolate,
    env: &Env,
    path: std::result::Result<NormalizedPath, crate::PathError>,
    request: &crate::Request<'_>,
    token_cache_hit: &mut bool,
) -> Outcome {
    let policy = &isolate.config.policy;
    let prepared = match path.map_err(|e| Denial::new(e.into())).and_then(|p| prepare_path(p, request, policy)) {
        Ok(p) => p,
        Err(d) => return Outcome::Denied(d),
    };
    let Some(credential) = &prepared.credential else {
        return Outcome::Allowed(Grant::public(prepared.route.clone()), prepared);
    };
    let now = now_secs();
    let Ok(keys) = isolate.keys(now).await else { return Outcome::Unavailable };
    let hash = isolate.tokens.borrow().hash(&credential.token);
    let cached = isolate.tokens.borrow_mut().get(&hash, now).filter(|t| keys.has(&t.kid));
    let verified: Rc<VerifiedToken> = match cached {
        Some(token) => {
            *token_cache_hit = true;
            token
        }
        None => {
            let mut result = webcrypto::verify_token(&credential.token, &keys).await;
            if let (Err(Reason::UnknownKid(_)), Some(url)) = (&result, &isolate.config.jwks_url) {
                // Key rotation: newer keys than this request started with, the fetch in flight,
                // or one rate-limited refetch.
                let newer = isolate.keys.borrow().clone().filter(|current| !Rc::ptr_eq(current, &keys));
                let next =
                    isolate.remote.borrow().on_unknown_kid(now, &isolate.rules, newer.is_some(), isolate.fetching());
                let fresh = match (next, newer) {
                    (UnknownKid::UseNewer, Some(current)) => Ok(current),
                    (UnknownKid::Refetch, _) => isolate.refetch(url, now).await,
                    _ => Err(KeysUnavailable),
                };
                if let Ok(fresh) = fresh {
                    result = webcrypto::verify_token(&credential.token, &fresh).await;
                }
            }
            match result {
                Ok(token) => {
                    let token = Rc::new(token);
                    isolate.tokens.borrow_mut().insert(hash, token.clone());
                    token
                }
                Err(reason) => {
                    let denial =
                        Denial { scope: prepared.required(), via: Some(credential.via), ..Denial::new(reason) };
                    return Outcome::Denied(denial);
                }
            }
        }
    };
    let grant = match authorize(&verified, &prepared, policy, now) {
        Ok(g) => g,
        Err(d) => return Outcome::Denied(d),
    };
    let Ok(revoked) = (if isolate.revocations { is_revoked(env, &grant).await } else { Ok(false) }) else {
        return Outcome::Unavailable;
    };
    if revoked {
        let holder = crate::Holder { sub: grant.sub.clone(), jti: grant.jti.clone() };
        let denial = Denial {
            scope: grant.scope.clone(),
            via: grant.via,
            holder: Some(Box::new(holder)),
            ..Denial::new(Reason::Revoked)
        };
        return Outcome::Denied(denial);
    }
    Outcome::Allowed(grant, prepared)
}

/// Looks up the token's revocation keys (its `jti`, its ancestors' and its `sub`, see
/// [`revocation_keys`]) in the optional `REVOCATIONS` KV namespace. `Err` when the list
/// cannot be read (the caller fails closed).
async fn is_revoked(env: &Env, grant: &Grant) -> std::result::Result<bool, ()> {
    let Ok(kv) = env.kv("REVOCATIONS") else { return Ok(false) };
    for key in revocation_keys(grant.jti.as_deref(), &grant.lineage, grant.sub.as_deref()) {
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
