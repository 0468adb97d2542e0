//! Workload and SSO tokens at the issuer: the keys of each trust policy (by OIDC discovery, a
//! JWKS URL or inline; fetched over HTTPS with the policy's optional extra CA, cached, and never
//! used past a failed refresh's expiry), and the admission of a token by the engine's trust
//! policies ([`crate::TrustPolicy::admit`]), the same rules the edge, the CLI and the page run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::IssuerConfig;
use super::TokenError;
use crate::{Claims, KeySet, KeySource, NativeVerifier, Reason, Routed, TrustPolicy, TrustedBy};

/// How long a policy's fetched keys are reused.
const KEYS_TTL: Duration = Duration::from_secs(300);

/// Cached keys, one slot per trust policy.
pub struct TrustKeys {
    clients: Vec<Option<reqwest::Client>>,
    cache: Mutex<Vec<Option<(Instant, KeySet)>>>,
}

impl TrustKeys {
    /// Keys for `policies`, each fetched with its extra CA from `ca` (same order).
    pub fn new(policies: &crate::TrustPolicies, ca: &[Option<Vec<u8>>]) -> Self {
        let clients = (0..policies.policies().len())
            .map(|i| ca.get(i).cloned().flatten())
            .map(|ca| {
                let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5));
                if let Some(pem) = ca {
                    b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).ok()?);
                }
                b.build().ok()
            })
            .collect();
        TrustKeys { clients, cache: Mutex::new(vec![None; policies.policies().len()]) }
    }

    async fn get(&self, client: &reqwest::Client, url: &str) -> Result<String, String> {
        let response = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{url}: status {}", response.status()));
        }
        response.text().await.map_err(|e| e.to_string())
    }

    /// The keys of the `i`th policy: inline, cached, or fetched now.
    ///
    /// # Errors
    /// [`TokenError::Unavailable`] naming the policy when they cannot be fetched.
    pub async fn keys(&self, i: usize, policy: &TrustPolicy) -> Result<KeySet, TokenError> {
        let url = match &policy.keys {
            KeySource::Inline(keys) => return Ok(keys.clone()),
            KeySource::Discovery(url) | KeySource::JwksUrl(url) => url,
        };
        if let Some((at, keys)) = self.cache.lock().ok().and_then(|c| c.get(i).cloned().flatten()) {
            if at.elapsed() < KEYS_TTL {
                return Ok(keys);
            }
        }
        let unavailable = |e: String| {
            TokenError::Unavailable(format!("keys of trust policy {:?} cannot be fetched: {e}", policy.name))
        };
        let client = self.clients.get(i).cloned().flatten().ok_or_else(|| unavailable("no HTTP client".into()))?;
        let jwks_url = match &policy.keys {
            KeySource::Discovery(_) => {
                crate::discovered_jwks_uri(&self.get(&client, url).await.map_err(unavailable)?, &policy.issuer)
                    .map_err(unavailable)?
            }
            _ => url.clone(),
        };
        let text = self.get(&client, &jwks_url).await.map_err(unavailable)?;
        let keys = KeySet::from_json(&text).map_err(|e| unavailable(e.to_string()))?;
        if let Ok(mut c) = self.cache.lock() {
            if let Some(slot) = c.get_mut(i) {
                *slot = Some((Instant::now(), keys.clone()));
            }
        }
        Ok(keys)
    }

    /// The trust policy `token` belongs to (by `iss`), if any.
    pub fn routes(config: &IssuerConfig, token: &str) -> bool {
        matches!(config.trust.route(token), Ok(Routed::Trusted(..)))
    }

    /// Verifies a workload or SSO `token` under its trust policy at `now` and admits it: its
    /// claims (the grant as `access.allowed`, `exp` capped by the policy) and who admitted it.
    /// `param` names where the token came from in refusals (`subject_token`, `password`).
    pub async fn admit(
        &self,
        config: &IssuerConfig,
        token: &str,
        now: u64,
        param: &str,
    ) -> Result<(Claims, TrustedBy), TokenError> {
        let refused = |r: Reason| match r {
            Reason::NoTrustRule { .. } => TokenError::InvalidScope(format!("{param}: {r}")),
            _ => TokenError::InvalidGrant(format!("{param}: {r}")),
        };
        let (i, policy, payload) = match config.trust.route(token).map_err(refused)? {
            Routed::Trusted(i, policy, payload) => (i, policy, payload),
            Routed::Own { .. } => {
                let why = "issued by neither this issuer nor a trusted issuer (a [[trust]] or [[sso]] policy)";
                return Err(TokenError::InvalidGrant(format!("{param}: {why}")));
            }
        };
        let keys = self.keys(i, policy).await?;
        let pending = crate::begin(token, &keys).map_err(refused)?;
        let backend = NativeVerifier::new(&keys);
        let valid = !pending.signature_has_wrong_length()
            && crate::SignatureVerifier::verify(&backend, pending.key(), pending.message(), pending.signature());
        let verified = pending.finish_trusted(valid, policy, *payload, now, config.policy.leeway()).map_err(refused)?;
        let by = verified.trusted.ok_or_else(|| TokenError::InvalidGrant(format!("{param}: not admitted")))?;
        Ok((verified.claims, (*by).clone()))
    }
}
