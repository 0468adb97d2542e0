//! The signature backend of the wasm builds: RS256 and ES256 through the runtime's WebCrypto
//! (`crypto.subtle`, native code in workerd and in browsers), keys imported once per isolate
//! or page and remembered by `kid` together with the key material they were imported from, so a
//! different key under a known `kid` is never verified with the old one.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::keys::{b64, KeyMaterial, PublicKey};

const RSA: &str = "RSASSA-PKCS1-v1_5";
const ECDSA: &str = "ECDSA";

thread_local! {
    /// `kid` → the key as trusted when it was imported, and its WebCrypto handle.
    static IMPORTED: RefCell<HashMap<String, (KeyMaterial, CryptoKey)>> = RefCell::new(HashMap::new());
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
    /// `{name: "RSASSA-PKCS1-v1_5"}` and `{name: "ECDSA", hash: "SHA-256"}`, made once: passing
    /// a string would decode it from wasm memory into a new JavaScript string on every verify.
    static VERIFY_ALGORITHMS: RefCell<Option<(Object, Object)>> = const { RefCell::new(None) };
}

fn verify_algorithm(key: &KeyMaterial) -> Result<Object, JsValue> {
    let (rsa, ec) = match VERIFY_ALGORITHMS.with(|a| a.borrow().clone()) {
        Some(pair) => pair,
        None => {
            let pair = (object(&[("name", RSA)])?, object(&[("name", ECDSA), ("hash", "SHA-256")])?);
            VERIFY_ALGORITHMS.with(|a| *a.borrow_mut() = Some(pair.clone()));
            pair
        }
    };
    Ok(match key {
        KeyMaterial::Rsa(_) => rsa,
        KeyMaterial::P256(_) => ec,
    })
}

/// `crypto.subtle`, looked up once.
fn subtle() -> Result<SubtleCrypto, JsValue> {
    if let Some(s) = SUBTLE.with(|s| s.borrow().clone()) {
        return Ok(s);
    }
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = crypto.unchecked_into::<web_sys::Crypto>().subtle();
    SUBTLE.with(|s| *s.borrow_mut() = Some(subtle.clone()));
    Ok(subtle)
}

fn object(pairs: &[(&str, &str)]) -> Result<Object, JsValue> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v))?;
    }
    Ok(o)
}

async fn import(key: &PublicKey) -> Result<CryptoKey, JsValue> {
    let (jwk, algorithm) = match &key.material {
        KeyMaterial::Rsa(rsa) => {
            let (n, e) = (b64(rsa.n()), b64(rsa.e()));
            (
                object(&[("kty", "RSA"), ("alg", "RS256"), ("n", &n), ("e", &e)])?,
                object(&[("name", RSA), ("hash", "SHA-256")])?,
            )
        }
        KeyMaterial::P256(ec) => {
            let (x, y) = (b64(ec.x()), b64(ec.y()));
            let jwk = object(&[("kty", "EC"), ("crv", "P-256"), ("x", &x), ("y", &y)])?;
            (jwk, object(&[("name", ECDSA), ("namedCurve", "P-256")])?)
        }
    };
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle()?.import_key_with_object("jwk", &jwk, &algorithm, false, &usages)?;
    Ok(JsFuture::from(promise).await?.unchecked_into())
}

/// Forgets imported keys (the key set changed).
pub fn forget_keys() {
    IMPORTED.with(|m| m.borrow_mut().clear());
}

/// True when `signature` over `message` verifies under `key`. Errors are runtime failures
/// (no WebCrypto, key import refused), not invalid signatures.
pub async fn verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<bool, JsValue> {
    // A hit must be the same key material (a byte comparison of modulus and exponent): a key
    // set can change under a known kid (another JWKS in the inspector, a rotation at the edge
    // while an import was in flight).
    let cached = IMPORTED
        .with(|m| m.borrow().get(&key.kid).filter(|(material, _)| *material == key.material).map(|(_, k)| k.clone()));
    let crypto_key = match cached {
        Some(k) => k,
        None => {
            let k = import(key).await?;
            IMPORTED.with(|m| m.borrow_mut().insert(key.kid.clone(), (key.material.clone(), k.clone())));
            k
        }
    };
    let promise = subtle()?.verify_with_object_and_u8_array_and_u8_array(
        &verify_algorithm(&key.material)?,
        &crypto_key,
        signature,
        message,
    )?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

/// Parses, selects the key, checks the signature with WebCrypto, and parses the claims.
pub async fn verify_token(token: &str, keys: &crate::KeySet) -> Result<crate::VerifiedToken, crate::Reason> {
    let pending = crate::begin(token, keys)?;
    let valid = !pending.signature_has_wrong_length()
        && verify(pending.key(), pending.message(), pending.signature()).await.unwrap_or(false);
    pending.finish(valid)
}

/// [`verify_token`] for a workload token of `policy`: the signature with WebCrypto, then the
/// policy's admission at `now` with `leeway` seconds ([`crate::TrustPolicy::admit`]).
pub async fn verify_trusted(
    token: &str,
    keys: &crate::KeySet,
    policy: &crate::TrustPolicy,
    payload: crate::WorkloadPayload,
    now: u64,
    leeway: u64,
) -> Result<crate::VerifiedToken, crate::Reason> {
    let pending = crate::begin(token, keys)?;
    let valid = !pending.signature_has_wrong_length()
        && verify(pending.key(), pending.message(), pending.signature()).await.unwrap_or(false);
    pending.finish_trusted(valid, policy, payload, now, leeway)
}
