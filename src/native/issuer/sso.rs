//! SSO exchange: verifies an external OIDC JWT against its provider's JWKS (fetched over HTTPS
//! with an optional extra CA, cached), then maps its claims to chart access with ordered
//! `{claim, pattern}` rules (whole-value regular expressions): first matching rule wins, no match
//! is a refusal.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::{SsoProvider, SsoRule};
use super::grant::Allowance;
use super::TokenError;
use crate::{KeySet, NativeVerifier, Policy, PolicySettings};

/// How long a provider's JWKS is reused.
const JWKS_TTL: Duration = Duration::from_secs(300);

/// Cached provider keys, one slot per configured provider.
pub struct SsoKeys {
    clients: Vec<Option<reqwest::Client>>,
    cache: Mutex<Vec<Option<(Instant, KeySet)>>>,
}

impl SsoKeys {
    pub fn new(providers: &[SsoProvider]) -> Self {
        let clients = providers
            .iter()
            .map(|p| {
                let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5));
                if let Some(pem) = &p.ca_pem {
                    b = b.add_root_certificate(reqwest::Certificate::from_pem(pem).ok()?);
                }
                b.build().ok()
            })
            .collect();
        SsoKeys { clients, cache: Mutex::new(vec![None; providers.len()]) }
    }

    async fn keys(&self, i: usize, provider: &SsoProvider) -> Result<KeySet, TokenError> {
        if let Some((at, keys)) = self.cache.lock().ok().and_then(|c| c.get(i).cloned().flatten()) {
            if at.elapsed() < JWKS_TTL {
                return Ok(keys);
            }
        }
        let unavailable =
            |e: String| TokenError::Unavailable(format!("SSO keys of {} cannot be fetched: {e}", provider.issuer));
        let client = self.clients.get(i).cloned().flatten().ok_or_else(|| unavailable("no HTTP client".into()))?;
        let response = client.get(&provider.jwks_url).send().await.map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())));
        }
        let text = response.text().await.map_err(|e| unavailable(e.to_string()))?;
        let keys = KeySet::from_json(&text).map_err(|e| unavailable(e.to_string()))?;
        if let Ok(mut c) = self.cache.lock() {
            if let Some(slot) = c.get_mut(i) {
                *slot = Some((Instant::now(), keys.clone()));
            }
        }
        Ok(keys)
    }

    /// Verifies `token` from the provider named by `iss` and returns its subject and allowance.
    pub async fn map(
        &self,
        providers: &[SsoProvider],
        token: &str,
        iss: Option<&str>,
        now: u64,
    ) -> Result<(Option<String>, Allowance), TokenError> {
        let grant_error = |why: String| TokenError::InvalidGrant(format!("subject_token: {why}"));
        let (i, provider) = providers
            .iter()
            .enumerate()
            .find(|(_, p)| Some(p.issuer.as_str()) == iss)
            .ok_or_else(|| grant_error("issued by neither this issuer nor a configured SSO provider".into()))?;
        let keys = self.keys(i, provider).await?;
        let verified =
            crate::verify(token, &keys, &NativeVerifier::new(&keys)).map_err(|r| grant_error(r.to_string()))?;
        let settings = PolicySettings {
            issuer: Some(provider.issuer.clone()),
            audience: provider.audience.clone(),
            ..Default::default()
        };
        let policy = Policy::new(settings).map_err(|e| grant_error(e.to_string()))?;
        crate::check_claims(&verified.claims, &policy, now).map_err(|r| grant_error(r.to_string()))?;
        // The signature verified: the full claim set may now be read.
        let (_, claims) = crate::dangerous_decode(token).map_err(|r| grant_error(r.to_string()))?;
        let rule = provider
            .rules
            .iter()
            .find(|r| rule_matches(r, &claims))
            .ok_or_else(|| TokenError::InvalidScope("no SSO rule grants this identity anything".into()))?;
        Ok((verified.claims.sub, rule.allowance.clone()))
    }
}

/// Every condition matches: the claim is a string matching the pattern, or an array with an
/// element that does.
fn rule_matches(rule: &SsoRule, claims: &Value) -> bool {
    rule.conditions.iter().all(|(claim, re)| match claims.get(claim) {
        Some(Value::String(s)) => re.is_match(s),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str().is_some_and(|s| re.is_match(s))),
        Some(Value::Bool(b)) => re.is_match(if *b { "true" } else { "false" }),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let rule = SsoRule {
            conditions: vec![
                ("groups".into(), regex::Regex::new("^(?:platform)$").unwrap()),
                ("email_verified".into(), regex::Regex::new("^(?:true)$").unwrap()),
            ],
            allowance: Allowance::default(),
        };
        let yes = serde_json::json!({"groups": ["dev", "platform"], "email_verified": true});
        let no = serde_json::json!({"groups": ["platform-x"], "email_verified": true});
        let missing = serde_json::json!({"groups": "platform"});
        assert!(rule_matches(&rule, &yes));
        assert!(!rule_matches(&rule, &no));
        assert!(!rule_matches(&rule, &missing));
    }
}
