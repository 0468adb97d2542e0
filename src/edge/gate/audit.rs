//! The audit record: one JSON line per request with the decision, its reason, who, what, where
//! the response came from, and the time spent in auth. It has no field that could hold a token.

use serde::Serialize;

use crate::decision::{Denial, Grant};

/// One audit line.
#[derive(Debug, Clone, Serialize, Default)]
pub struct AuditLine<'a> {
    /// `allow`, `deny`, or `report-only-deny` (denied by the engine, served in report-only mode).
    pub decision: &'a str,
    pub reason: &'a str,
    pub status: u16,
    pub method: &'a str,
    /// The normalised path (no query), or `null` when the path was refused.
    pub path: Option<&'a str>,
    pub via: Option<&'a str>,
    pub sub: Option<&'a str>,
    pub jti: Option<&'a str>,
    /// For a workload token: the trust policy that admitted it, and its external issuer.
    pub policy: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub repo: Option<String>,
    pub action: Option<String>,
    pub cache: Option<&'a str>,
    /// Microseconds spent deciding.
    pub auth_us: u64,
    /// True when the signature check was skipped thanks to the verified-token cache.
    pub token_cache_hit: bool,
}

impl<'a> AuditLine<'a> {
    /// An allowed request.
    pub fn allowed(grant: &'a Grant) -> Self {
        AuditLine {
            decision: "allow",
            reason: if grant.public { "public" } else { "ok" },
            via: grant.via.map(|v| v.as_str()),
            sub: grant.sub.as_deref(),
            jti: grant.jti.as_deref(),
            policy: grant.trusted.as_deref().map(|t| t.policy.as_str()),
            issuer: grant.trusted.as_deref().map(|t| t.issuer.as_str()),
            repo: grant.scope.as_ref().map(|s| s.repo.to_string()),
            action: grant.scope.as_ref().map(|s| s.actions.to_string()),
            ..Default::default()
        }
    }

    /// A denied request.
    pub fn denied(denial: &'a Denial) -> Self {
        let holder = denial.holder.as_deref();
        AuditLine {
            decision: "deny",
            reason: denial.reason.code(),
            status: denial.status(),
            via: denial.via.map(|v| v.as_str()),
            sub: holder.and_then(|h| h.sub.as_deref()),
            jti: holder.and_then(|h| h.jti.as_deref()),
            repo: denial.scope.as_ref().map(|s| s.repo.to_string()),
            action: denial.scope.as_ref().map(|s| s.actions.to_string()),
            ..Default::default()
        }
    }

    /// A request the edge could not decide (keys or the revocation list cannot be read): refused,
    /// under the engine's code for why ([`crate::Reason::code`], as the response body says).
    pub fn unavailable(reason: &crate::Reason) -> Self {
        AuditLine { decision: "deny", reason: reason.code(), status: reason.status(), ..Default::default() }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;

    /// Finding 11 (security round 4): the audit line named `unavailable` where the body and the
    /// docs name `keys_unavailable`.
    #[test]
    fn finding_11_the_audit_line_uses_the_engine_s_code() {
        let line = AuditLine::unavailable(&Reason::KeysUnavailable(Some("github".into())));
        let v: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(
            (v["decision"].as_str(), v["reason"].as_str(), v["status"].as_u64()),
            (Some("deny"), Some("keys_unavailable"), Some(503))
        );
        assert_eq!(AuditLine::unavailable(&Reason::RevocationsUnavailable).reason, "revocations_unavailable");
        assert_eq!(AuditLine::unavailable(&Reason::KeysUnavailable(None)).reason, "keys_unavailable");
    }
}
