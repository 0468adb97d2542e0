//! Which entries of the edge's revocation list (`REVOCATIONS` KV) deny a token: `jti:<jti>` of
//! the token and of every ancestor in its `lineage` (so revoking a token revokes everything
//! derived from it, however deep), `sub:<sub>`, and for a workload token (or one minted from
//! it) `policy:<name>` of its trust policy and `iss:<issuer>` of its external issuer. A KV key is at most 512 bytes: longer ones
//! are looked up by the SHA-256 of the value (`jti-sha256:<hex>`).

use sha2::{Digest, Sha256};

use crate::{Denial, Grant, Holder, Reason};

/// Longest KV key.
const MAX_KEY: usize = 512;

/// The KV key for one revoked value (`kind` is `jti` or `sub`).
pub fn revocation_key(kind: &str, value: &str) -> String {
    let key = format!("{kind}:{value}");
    if key.len() <= MAX_KEY {
        return key;
    }
    let digest = Sha256::digest(value.as_bytes());
    format!("{kind}-sha256:{}", crate::hex(&digest))
}

/// Every key whose presence revokes a token with this `jti`, `lineage` and `sub`, the token's
/// own `jti` first, then its ancestors from the root down, then the subject, then (for a workload
/// token) its trust policy and external issuer.
pub fn revocation_keys(
    jti: Option<&str>,
    lineage: &[String],
    sub: Option<&str>,
    trusted: Option<&crate::TrustedBy>,
) -> Vec<String> {
    let jtis = jti.into_iter().chain(lineage.iter().map(String::as_str)).map(|j| revocation_key("jti", j));
    let trust =
        trusted.into_iter().flat_map(|t| [revocation_key("policy", &t.policy), revocation_key("iss", &t.issuer)]);
    jtis.chain(sub.map(|s| revocation_key("sub", s))).chain(trust).collect()
}

/// The refusal of a grant whose token (or an ancestor, or its subject) is on the revocation list:
/// 401 `revoked`, naming the access that was asked for and, for the audit line, the holder.
pub fn revoked(grant: &Grant) -> Denial {
    let holder = Holder { sub: grant.sub.clone(), jti: grant.jti.clone() };
    Denial {
        scope: grant.scope.clone(),
        via: grant.via,
        holder: Some(Box::new(holder)),
        ..Denial::new(Reason::Revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_grant_is_a_401_naming_its_holder() {
        let repo = crate::RepoName::parse("org1/repo1").unwrap();
        let grant = Grant {
            route: crate::Route::Index { repo: repo.clone() },
            scope: Some(crate::Scope::new(repo, crate::Action::Pull)),
            via: Some(crate::Via::Bearer),
            sub: Some("ci".into()),
            jti: Some("j1".into()),
            exp: Some(10),
            lineage: vec!["root".into()],
            mount_from: None,
            public: false,
            trusted: None,
        };
        let d = revoked(&grant);
        assert_eq!((d.status(), d.reason.code()), (401, "revoked"));
        assert_eq!(d.holder.as_deref(), Some(&Holder { sub: Some("ci".into()), jti: Some("j1".into()) }));
        assert_eq!(d.scope, grant.scope);
    }

    #[test]
    fn keys_cover_the_token_its_ancestors_and_its_subject() {
        let lineage = vec!["root".to_owned(), "child".to_owned()];
        assert_eq!(
            revocation_keys(Some("grandchild"), &lineage, Some("ci"), None),
            ["jti:grandchild", "jti:root", "jti:child", "sub:ci"]
        );
        assert_eq!(revocation_keys(None, &[], None, None), Vec::<String>::new());
        let by = crate::TrustedBy { policy: "github".into(), rule: "release".into(), issuer: "https://gh".into() };
        assert_eq!(
            revocation_keys(Some("j"), &[], Some("repo:acme/app:ref:refs/tags/v1"), Some(&by)),
            ["jti:j", "sub:repo:acme/app:ref:refs/tags/v1", "policy:github", "iss:https://gh"]
        );
        let long = "x".repeat(600);
        let key = revocation_key("sub", &long);
        assert!(key.starts_with("sub-sha256:") && key.len() == "sub-sha256:".len() + 64, "{key}");
        assert_eq!(revocation_key("jti", "a"), "jti:a");
    }
}
