//! Trust policies: the policy document parser, and admission of fuzzed workload-token payloads
//! (as after a verified signature) under a fixed policy with templated grants. No panic; a
//! granted pattern is always one the scope grammar accepts, and its names hold no character a
//! claim could have smuggled in (`*` only where the template wrote it).
#![no_main]

use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"[{"name": "ci", "issuer": "https://ci.example", "audience": "charts", "max_ttl": 900,
  "keys": "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
  "rules": [
    {"name": "exact", "match": {"repository": "acme/app", "ref": "refs/tags/v.*"}, "unless": {"event_name": "pull_request_target"},
     "scopes": ["artifact-repository:{repository_owner}/charts:pull,push"]},
    {"name": "owner", "match": {"repository_owner": ".*"}, "scopes": ["artifact-repository:{repository_owner|lower}/{repo}:pull", "repository:{kubernetes.io/namespace}/x:pull"]}
  ]}]"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Any document: an error or a policy set, never a panic.
    let _ = chartgate::workload::TrustPolicies::from_json(&text);
    let policies = chartgate::workload::TrustPolicies::from_json(POLICY).expect("the fixed policy parses");
    let policy = &policies.policies()[0];
    if let Ok((claims, by)) = policy.admit(data, 1_000, 60) {
        assert!(claims.exp <= claims.iat.unwrap_or(0).saturating_add(900) || claims.iat.is_none());
        assert!(claims.access.repos.is_empty() && claims.paths.is_none() && claims.lineage.is_empty());
        let _ = by;
        for p in &claims.access.allowed.0 {
            let s = p.to_string();
            let name = s.split(':').nth(1).unwrap_or_default();
            assert!(!name.contains('*'), "{by:?} granted a glob from a claim: {s}");
            assert!(chartgate::access::ScopePattern::parse(&s).is_ok(), "{s}");
        }
    }
});
