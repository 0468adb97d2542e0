//! Workload and SSO tokens at the issuer: the keys of each trust policy (by OIDC discovery, a
//! JWKS URL or inline; fetched over HTTPS with the policy's optional extra CA, cached, and never
//! used past a failed refresh's expiry), and the admission of a token by the engine's trust
//! policies ([`crate::TrustPolicy::admit`]), the same rules the edge, the CLI and the page run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::config::IssuerConfig;
use super::TokenError;
use crate::{
    Claims, KeySet, KeySource, NativeVerifier, Plan, Reason, RefreshRules, RemoteKeys, Routed, TrustPolicy, TrustedBy,
    UnknownKid,
};

/// One trust policy's fetched keys: the shared refresh state ([`RemoteKeys`], the edge's rules),
/// and a lock held by the one fetch in flight, which other requests wait for and then share.
#[derive(Default)]
struct Slot {
    state: Mutex<RemoteKeys>,
    /// Counts finished fetches: a request that waited for the lock sees whether one ran meanwhile.
    fetch: tokio::sync::Mutex<u64>,
}

/// Cached keys, one slot per trust policy, refreshed by [`RefreshRules`].
pub struct TrustKeys {
    clients: Vec<Option<reqwest::Client>>,
    slots: Vec<Slot>,
    rules: RefreshRules,
}

impl TrustKeys {
    /// Keys for `policies`, each fetched with its extra CA from `ca` (same order).
    pub fn new(policies: &crate::TrustPolicies, ca: &[Option<Vec<u8>>]) -> Self {
        Self::with_rules(policies, ca, RefreshRules::default())
    }

    /// As [`TrustKeys::new`], with other refresh timings.
    pub fn with_rules(policies: &crate::TrustPolicies, ca: &[Option<Vec<u8>>], rules: RefreshRules) -> Self {
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
        let slots = (0..policies.policies().len()).map(|_| Slot::default()).collect();
        TrustKeys { clients, slots, rules }
    }

    async fn get(&self, client: &reqwest::Client, url: &str) -> Result<String, String> {
        let response = client.get(url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{url}: status {}", response.status()));
        }
        response.text().await.map_err(|e| e.to_string())
    }

    fn state(&self, i: usize) -> Option<std::sync::MutexGuard<'_, RemoteKeys>> {
        self.slots.get(i).and_then(|s| s.state.lock().ok())
    }

    /// The keys of the `i`th policy at `now`: inline, cached, or fetched now (one fetch at a
    /// time; a failed one is not repeated within the rules' interval).
    ///
    /// # Errors
    /// [`TokenError::Unavailable`] naming the policy when there are no keys to use.
    pub async fn keys(&self, i: usize, policy: &TrustPolicy, now: u64) -> Result<Arc<KeySet>, TokenError> {
        if let KeySource::Inline(keys) = &policy.keys {
            return Ok(Arc::new(keys.clone()));
        }
        let plan = self.state(i).map_or(Plan::Fetch, |s| s.plan(now, &self.rules));
        match plan {
            Plan::Use(keys) => Ok(keys),
            Plan::Fetch => self.refetch(i, policy, now).await,
            Plan::Unavailable => Err(unavailable(policy, "the last fetch failed; not retried yet")),
        }
    }

    /// Keys for a token whose `kid` the keys at hand lack (the provider rotated): one refetch,
    /// shared by concurrent requests and rate limited, as the edge does.
    async fn keys_for_unknown_kid(&self, i: usize, policy: &TrustPolicy, now: u64) -> Option<Arc<KeySet>> {
        if matches!(policy.keys, KeySource::Inline(_)) {
            return None;
        }
        let in_flight = self.slots.get(i).is_some_and(|s| s.fetch.try_lock().is_err());
        let rule = self.state(i).map(|s| s.on_unknown_kid(now, &self.rules, false, in_flight))?;
        match rule {
            UnknownKid::Refetch => self.refetch(i, policy, now).await.ok(),
            UnknownKid::UseNewer | UnknownKid::Refuse => None,
        }
    }

    /// Fetches the `i`th policy's keys, or waits for the fetch in flight and uses its outcome.
    async fn refetch(&self, i: usize, policy: &TrustPolicy, now: u64) -> Result<Arc<KeySet>, TokenError> {
        let slot = self.slots.get(i).ok_or_else(|| unavailable(policy, "no such policy"))?;
        let seen = slot.fetch.try_lock().map(|g| *g).ok();
        let mut done = slot.fetch.lock().await;
        if seen.is_none_or(|before| *done != before) {
            // Another request fetched while this one waited: its outcome is this one's too.
            return self
                .state(i)
                .and_then(|s| s.fallback(now, &self.rules))
                .ok_or_else(|| unavailable(policy, "the fetch that just ran failed"));
        }
        if let Some(mut s) = self.state(i) {
            s.attempting(now);
        }
        let fetched = self.fetch(i, policy).await;
        *done += 1;
        let mut state = self.state(i).ok_or_else(|| unavailable(policy, "state lost"))?;
        match fetched {
            Ok(keys) => {
                state.fetched(keys, now);
                state.fallback(now, &self.rules).ok_or_else(|| unavailable(policy, "no keys"))
            }
            Err(why) => {
                state.failed(now, &self.rules);
                state.fallback(now, &self.rules).ok_or_else(|| unavailable(policy, &why))
            }
        }
    }

    async fn fetch(&self, i: usize, policy: &TrustPolicy) -> Result<KeySet, String> {
        let url = match &policy.keys {
            KeySource::Inline(keys) => return Ok(keys.clone()),
            KeySource::Discovery(url) | KeySource::JwksUrl(url) => url,
        };
        let client = self.clients.get(i).cloned().flatten().ok_or_else(|| "no HTTP client".to_owned())?;
        let jwks_url = match &policy.keys {
            KeySource::Discovery(_) => crate::discovered_jwks_uri(&self.get(&client, url).await?, &policy.issuer)?,
            _ => url.clone(),
        };
        KeySet::from_json(&self.get(&client, &jwks_url).await?).map_err(|e| e.to_string())
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
        let mut keys = self.keys(i, policy, now).await?;
        if let Err(Reason::UnknownKid(_)) = crate::begin(token, &keys) {
            if let Some(newer) = self.keys_for_unknown_kid(i, policy, now).await {
                keys = newer;
            }
        }
        let pending = crate::begin(token, &keys).map_err(refused)?;
        let backend = NativeVerifier::new(&keys);
        let valid = !pending.signature_has_wrong_length()
            && crate::SignatureVerifier::verify(&backend, pending.key(), pending.message(), pending.signature());
        let verified = pending.finish_trusted(valid, policy, *payload, now, config.policy.leeway()).map_err(refused)?;
        let by = verified.trusted.ok_or_else(|| TokenError::InvalidGrant(format!("{param}: not admitted")))?;
        Ok((verified.claims, (*by).clone()))
    }
}

/// The policy's keys cannot be had: `503 temporarily_unavailable`, naming the policy.
fn unavailable(policy: &TrustPolicy, why: &str) -> TokenError {
    TokenError::Unavailable(format!("keys of trust policy {:?} cannot be fetched: {why}", policy.name))
}
