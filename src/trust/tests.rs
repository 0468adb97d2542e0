use super::*;
use serde_json::json;

const GITHUB: &str = r#"[{
        "name": "github",
        "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://charts.example.com",
        "max_ttl": "15m",
        "rules": [
            {"name": "release",
             "match": {"repository": "acme/app", "ref": "refs/tags/v.*",
                       "workflow_ref": "acme/app/\\.github/workflows/release\\.yml@refs/tags/v.*"},
             "unless": {"event_name": "pull_request_target"},
             "scopes": ["repository:acme/charts/*:pull,push", "artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull",
             "match": {"repository_owner": "acme"},
             "unless": {"event_name": "pull_request_target"},
             "scopes": ["artifact-repository:{repository_owner}/charts:pull"]}
        ]}]"#;

fn payload(v: Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn github_claims(extra: Value) -> Value {
    let mut base = json!({
        "iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
        "sub": "repo:acme/app:ref:refs/tags/v1.0.0", "repository": "acme/app", "repository_owner": "acme",
        "ref": "refs/tags/v1.0.0", "event_name": "push",
        "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
        "iat": 1000, "nbf": 1000, "exp": 1300, "jti": "j1"
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

#[test]
fn first_matching_rule_decides() {
    let set = TrustPolicies::from_json(GITHUB).unwrap();
    let p = &set.policies()[0];
    let (claims, by) = p.admit(&payload(github_claims(json!({}))), 1010, 60).unwrap();
    assert_eq!(by.rule, "release");
    assert_eq!(
        claims.access.allowed.to_string(),
        "repository:acme/charts/*:pull,push artifact-repository:acme/charts:pull,push"
    );
    assert_eq!(claims.exp, 1300);
    let (claims, by) = p.admit(&payload(github_claims(json!({"ref": "refs/heads/main"}))), 1010, 60).unwrap();
    assert_eq!(
        (by.rule.as_str(), claims.access.allowed.to_string().as_str()),
        ("org-pull", "artifact-repository:acme/charts:pull")
    );
}

#[test]
fn forks_and_other_owners_get_nothing() {
    let set = TrustPolicies::from_json(GITHUB).unwrap();
    let p = &set.policies()[0];
    let fork = github_claims(
        json!({"repository": "evil/app", "repository_owner": "evil", "sub": "repo:evil/app:ref:refs/tags/v1"}),
    );
    let e = p.admit(&payload(fork), 1010, 60).unwrap_err();
    assert_eq!(e.code(), "no_trust_rule");
    assert!(e.to_string().contains("\"github\""), "{e}");
    let target = github_claims(json!({"event_name": "pull_request_target", "ref": "refs/heads/main"}));
    assert_eq!(p.admit(&payload(target), 1010, 60).unwrap_err().code(), "no_trust_rule");
    let lookalike = github_claims(json!({"repository_owner": "acme-evil", "repository": "acme-evil/app"}));
    assert!(p.admit(&payload(lookalike), 1010, 60).is_err());
}

#[test]
fn audience_times_and_cap() {
    let set = TrustPolicies::from_json(GITHUB).unwrap();
    let p = &set.policies()[0];
    let code = |extra: Value, now| p.admit(&payload(github_claims(extra)), now, 60).unwrap_err().code();
    assert_eq!(code(json!({"aud": "https://other.example"}), 1010), "wrong_audience");
    assert_eq!(code(json!({"aud": null}), 1010), "missing_claim");
    assert_eq!(code(json!({}), 1361), "expired");
    assert_eq!(code(json!({"nbf": 2000}), 1010), "not_yet_valid");
    assert_eq!(code(json!({"iss": "https://evil"}), 1010), "wrong_issuer");
    let long = github_claims(json!({"exp": 90_000}));
    let (claims, _) = p.admit(&payload(long), 1010, 60).unwrap();
    assert_eq!(claims.exp, 1000 + 900, "max_ttl caps the grant below the token's exp");
    assert_eq!(code(json!({"iat": null}), 1010), "missing_claim");
}

#[test]
fn a_token_s_own_access_claims_grant_nothing() {
    let set = TrustPolicies::from_json(GITHUB).unwrap();
    let p = &set.policies()[0];
    let sneaky = github_claims(json!({"repository_owner": "evil", "repository": "evil/x",
            "access": [{"type": "artifact-repository", "name": "acme/charts", "actions": ["push"]}],
            "paths": ["/*"], "lineage": ["x"]}));
    assert_eq!(p.admit(&payload(sneaky), 1010, 60).unwrap_err().code(), "no_trust_rule");
    let (claims, _) = p
        .admit(&payload(github_claims(json!({"ref": "refs/heads/x", "access": ["acme/other:push"]}))), 1010, 60)
        .unwrap();
    assert!(claims.access.repos.is_empty() && claims.paths.is_none() && claims.lineage.is_empty());
}

#[test]
fn template_values_cannot_widen() {
    let doc = r#"{"name": "gl", "issuer": "https://gitlab.example", "audience": "charts",
            "keys": "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
            "rules": [{"match": {"namespace_path": ".*"}, "scopes": ["repository:{project_path}/*:pull,push"]},
                      {"match": {"namespace_path": ".*"}, "scopes": ["artifact-repository:public/charts:pull"]}]}"#;
    let set = TrustPolicies::from_json(doc).unwrap();
    let p = &set.policies()[0];
    for evil in ["grp/..", "*", "grp/app:push", "grp,app", "grp app", "", "grp/ａpp", "Grp/app"] {
        let c = json!({"iss": "https://gitlab.example", "aud": "charts", "exp": 2000, "namespace_path": "grp", "project_path": evil});
        let (claims, by) = p.admit(&payload(c), 1000, 60).unwrap();
        assert_eq!(by.rule, "rules[1]", "{evil:?} falls through to the next rule");
        assert_eq!(claims.access.allowed.to_string(), "artifact-repository:public/charts:pull");
    }
}

#[test]
fn broken_documents_say_where() {
    let e = TrustPolicies::from_json("[{\"name\": \"a\",\n \"issuer\": }]").unwrap_err();
    assert!(e.at.starts_with("line 2"), "{e}");
    let cases = [
        (r#"[{"issuer": "https://x", "rules": []}]"#, "policies[0].audience"),
        (r#"[{"issuer": "https://x", "audience": "*", "rules": []}]"#, "policies[0].audience"),
        (r#"[{"issuer": "http://x.example", "audience": "a"}]"#, "policies[0].issuer"),
        (r#"[{"issuer": "https://x", "audience": "a", "jwks_url": "ftp://x"}]"#, "policies[0].jwks_url"),
        (r#"[{"issuer": "https://x", "audience": "a", "keys": "nope"}]"#, "policies[0].keys"),
        (
            r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"r": "("}, "scopes": ["artifact-repository:a:pull"]}]}]"#,
            "policies[0].rules[0].match.r",
        ),
        (
            r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"s": "x"}, "scopes": ["artifact-repository:{a:pull"]}]}]"#,
            "policies[0].rules[0].scopes[0]",
        ),
        (
            r#"[{"issuer": "https://x", "audience": "a", "rules": [{"match": {"s": "x"}, "scopes": []}]}]"#,
            "policies[0].rules[0].scopes",
        ),
        (r#"[{"issuer": "https://x", "audience": "a", "max_ttl": "soon"}]"#, "policies[0].max_ttl"),
        (r#"[{"issuer": "https://x", "audience": "a", "audiance": "b"}]"#, "policies[0]"),
        (
            r#"[{"issuer": "https://x", "audience": "a"}, {"issuer": "https://x", "audience": "b", "name": "two"}]"#,
            "policies[1].issuer",
        ),
        ("42", "line 1"),
    ];
    for (doc, at) in cases {
        assert_eq!(TrustPolicies::from_json(doc).unwrap_err().at, at, "{doc}");
    }
    let ok = TrustPolicies::from_json(r#"{"issuer": "http://127.0.0.1:9000", "audience": "a"}"#).unwrap();
    assert_eq!(ok.policies()[0].fetch_url(), Some("http://127.0.0.1:9000/.well-known/openid-configuration"));
}

/// The three policies docs/ci.md shows (GitHub, GitLab, Kubernetes), its inline keys replaced
/// by a real one.
fn documented_policies() -> [TrustPolicy; 3] {
    let doc = include_str!("../../docs/ci.md");
    let jwk = r#"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"#;
    let blocks: Vec<String> = doc
        .split("```json\n")
        .skip(1)
        .map(|b| b.split("\n```").next().unwrap().replace(r#"{\"keys\":[…]}"#, jwk))
        .collect();
    assert_eq!(blocks.len(), 3, "GitHub, GitLab, Kubernetes");
    let mut parsed = blocks.iter().map(|b| TrustPolicies::from_json(b).unwrap().policies()[0].clone());
    [parsed.next().unwrap(), parsed.next().unwrap(), parsed.next().unwrap()]
}

/// A decision of `p` on `claims`: the rule and what it grants.
fn decide(p: &TrustPolicy, claims: Value) -> Result<(String, String), Reason> {
    p.admit(&payload(claims), 1010, 60).map(|(c, by)| (by.rule.clone(), c.access.allowed.to_string()))
}

/// `base` with the members of `extra` set (`null` removes one).
fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        match v {
            Value::Null => drop(base.as_object_mut().unwrap().remove(k)),
            v => base[k] = v.clone(),
        }
    }
    base
}

/// A release job of the documented GitHub recipe (`acme/app`, id 892364310, in `acme`, id
/// 74563812), with `extra` claims.
fn doc_github(extra: Value) -> Value {
    let base = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
            "iat": 1000, "exp": 1300, "sub": "repo:acme/app:ref:refs/tags/v1.0.0", "event_name": "push",
            "repository": "acme/app", "repository_id": "892364310", "repository_owner": "acme", "repository_owner_id": "74563812",
            "ref": "refs/tags/v1.0.0", "ref_type": "tag",
            "workflow_ref": "acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"});
    with(base, extra)
}

/// A release job of the documented GitLab recipe (`grp/app`, id 45871236, in `grp`, id
/// 13061982), with `extra` claims.
fn doc_gitlab(extra: Value) -> Value {
    let base = json!({"iss": "https://gitlab.com", "aud": "https://charts.example.com", "iat": 1000, "exp": 1300,
            "project_path": "grp/app", "project_id": "45871236", "namespace_path": "grp", "namespace_id": "13061982",
            "ref_type": "tag", "ref": "v1.2.0", "ref_protected": "true",
            "ci_config_ref_uri": "gitlab.com/grp/app//.gitlab-ci.yml@refs/tags/v1.2.0", "pipeline_source": "push"});
    with(base, extra)
}

/// A projected token of the documented Kubernetes recipe's cluster.
fn doc_k8s(ns: &str, name: &str, uid: &str) -> Value {
    json!({"iss": "https://kubernetes.default.svc.cluster.local", "aud": ["https://charts.example.com"], "iat": 1000, "exp": 1300,
            "sub": format!("system:serviceaccount:{ns}:{name}"),
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}}})
}

const PUBLISHER_UID: &str = "6c3e1f2a-9b4d-4e8f-a1c7-2d5b8e0f3a91";

/// Every policy docs/ci.md shows parses, and does what its text says.
#[test]
fn the_documented_policies_parse_and_decide_as_documented() {
    let [gh, gl, k8s] = documented_policies();
    assert_eq!(
        decide(&gh, doc_github(json!({}))).unwrap(),
        ("release".into(), "artifact-repository:acme/charts:pull,push".into())
    );
    let other = json!({"repository": "acme/deploy", "repository_id": "1", "ref": "refs/heads/main"});
    assert_eq!(decide(&gh, doc_github(other)).unwrap().1, "artifact-repository:acme/*:pull");
    assert!(decide(
        &gh,
        doc_github(json!({"repository": "evil/app", "repository_owner": "evil", "repository_owner_id": "9"}))
    )
    .is_err());
    assert_eq!(decide(&gl, doc_gitlab(json!({}))).unwrap().0, "release");
    assert_eq!(
        decide(&gl, doc_gitlab(json!({"pipeline_source": "merge_request_event"}))).unwrap().1,
        "artifact-repository:grp/*:pull"
    );
    let fork = json!({"project_path": "fork/app", "project_id": "7", "namespace_path": "fork", "namespace_id": "8"});
    assert!(decide(&gl, doc_gitlab(fork)).is_err());
    assert_eq!(
        decide(&k8s, doc_k8s("release", "chart-publisher", PUBLISHER_UID)).unwrap().1,
        "artifact-repository:acme/charts:pull,push"
    );
    assert_eq!(decide(&k8s, doc_k8s("prod", "web", "u")).unwrap().1, "artifact-repository:acme/*:pull");
    assert!(decide(&k8s, doc_k8s("default", "chart-publisher", PUBLISHER_UID)).is_err());
    // The recipes are what `verify --trust` and the page check: they draw no warning.
    for p in [&gh, &gl, &k8s] {
        assert_eq!(p.warnings(), vec![], "{}", p.name);
    }
}

/// GitHub: `acme/app` deleted (or renamed) and created again under the same name, by its
/// owner or, once the organisation's name is freed, by someone else: the same `repository`,
/// `sub` and `workflow_ref`, another `repository_id` (and `repository_owner_id`). The recipe
/// grants it no push.
#[test]
fn a_re_created_github_repository_with_the_same_name_cannot_push() {
    let [gh, ..] = documented_policies();
    // Re-created inside the organisation: the organisation's pull, never the release push.
    let same_org = decide(&gh, doc_github(json!({"repository_id": "999999999"}))).unwrap();
    assert_eq!(same_org, ("org-pull".into(), "artifact-repository:acme/*:pull".into()));
    // The organisation itself re-registered by someone else: nothing at all.
    let taken = doc_github(json!({"repository_id": "999999999", "repository_owner_id": "31337"}));
    assert!(matches!(decide(&gh, taken), Err(Reason::NoTrustRule { .. })));
}

/// GitLab: `grp/app` re-created under the same path (another `project_id`), or the whole
/// group (another `namespace_id`); and a branch named like a release tag.
#[test]
fn a_re_created_gitlab_project_with_the_same_path_cannot_push() {
    let [_, gl, _] = documented_policies();
    let same_group = decide(&gl, doc_gitlab(json!({"project_id": "99999999"}))).unwrap();
    assert_eq!(same_group, ("group-pull".into(), "artifact-repository:grp/*:pull".into()));
    let taken = doc_gitlab(json!({"project_id": "99999999", "namespace_id": "31337"}));
    assert!(matches!(decide(&gl, taken), Err(Reason::NoTrustRule { .. })));
    let branch = decide(&gl, doc_gitlab(json!({"ref_type": "branch", "ref": "v1.2.0"}))).unwrap();
    assert_eq!(branch.1, "artifact-repository:grp/*:pull", "a branch named like a tag does not push");
    let unprotected = decide(&gl, doc_gitlab(json!({"ref_protected": "false"}))).unwrap();
    assert_eq!(unprotected.1, "artifact-repository:grp/*:pull");
}

/// Kubernetes: the publisher's service account deleted and created again under its name gets
/// a new `uid`, and no push.
#[test]
fn a_re_created_kubernetes_service_account_with_the_same_name_cannot_push() {
    let [.., k8s] = documented_policies();
    let again = doc_k8s("release", "chart-publisher", "0b7c2d4e-1111-4a2b-8c3d-5e6f7a8b9c0d");
    assert!(matches!(decide(&k8s, again), Err(Reason::NoTrustRule { .. })));
}

/// The push rules that bind an identity by name, or (GitLab) read `ref` alone or push from an
/// unprotected ref, are named; pull rules and id-bound rules are not.
#[test]
fn push_rules_that_bind_by_name_only_draw_warnings() {
    let codes = |doc: &str| -> Vec<(String, &'static str)> {
        TrustPolicies::from_json(doc).unwrap().warnings().into_iter().map(|w| (w.rule, w.code)).collect()
    };
    // The recipe as it was before ids: GitHub's release rule by name, the org rule pulls only.
    let by_name = r#"{"name": "github", "issuer": "https://token.actions.githubusercontent.com", "audience": "a", "rules": [
            {"name": "release", "match": {"repository": "acme/app", "ref": "refs/tags/v.*"}, "scopes": ["artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:acme/*:pull"]},
            {"name": "org-push", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:acme/*:*"]},
            {"name": "by-sub", "match": {"sub": "repo:acme/app:.*"}, "scopes": ["repository:acme/charts/app:push"]},
            {"name": "pinned", "match": {"repository_id": "1", "repository": "acme/app"}, "scopes": ["artifact-repository:acme/x:push"]}
        ]}"#;
    assert_eq!(
        codes(by_name),
        vec![
            ("release".into(), "name_without_id"),
            ("org-push".into(), "name_without_id"),
            ("by-sub".into(), "name_without_id")
        ]
    );
    let warnings = TrustPolicies::from_json(by_name).unwrap().warnings();
    assert!(warnings[0].to_string().starts_with(r#"trust policy "github", rule "release": name_without_id: "#));
    assert!(warnings[0].message.contains("`repository_id`"), "{}", warnings[0]);
    let gitlab = r#"{"name": "gitlab", "issuer": "https://gitlab.example.com", "audience": "a", "rules": [
            {"name": "release", "match": {"project_path": "grp/app", "ref": "v.*"}, "scopes": ["artifact-repository:grp/charts:push"]},
            {"name": "group", "match": {"namespace_path": "grp"}, "scopes": ["artifact-repository:grp/*:pull"]},
            {"name": "pinned", "match": {"project_id": "4", "ref_type": "tag", "ref": "v.*", "ref_protected": "true"}, "scopes": ["artifact-repository:grp/x:push"]},
            {"name": "protected-by-regex", "match": {"project_id": "4", "ref_protected": "true|false"}, "scopes": ["artifact-repository:grp/x:push"]}
        ]}"#;
    assert_eq!(
        codes(gitlab),
        vec![
            ("release".into(), "name_without_id"),
            ("release".into(), "ref_without_ref_type"),
            ("release".into(), "push_without_ref_protected"),
            ("protected-by-regex".into(), "push_without_ref_protected")
        ]
    );
    let k8s = r#"{"name": "k8s", "issuer": "https://k8s", "audience": "a", "keys": "PEM", "rules": [
            {"name": "publisher", "match": {"kubernetes.io/serviceaccount/name": "pub"}, "scopes": ["artifact-repository:a/b:push"]},
            {"name": "pinned", "match": {"kubernetes.io/serviceaccount/name": "pub", "kubernetes.io/serviceaccount/uid": "u"}, "scopes": ["artifact-repository:a/b:push"]}
        ]}"#
        .replace("PEM", EC_KEY);
    assert_eq!(codes(&k8s), vec![("publisher".into(), "name_without_id")]);
}

#[test]
fn discovery_must_name_the_same_issuer() {
    let doc = r#"{"issuer": "https://gh", "jwks_uri": "https://gh/keys"}"#;
    assert_eq!(discovered_jwks_uri(doc, "https://gh").unwrap(), "https://gh/keys");
    assert!(discovered_jwks_uri(doc, "https://gh/").is_err());
    assert!(discovered_jwks_uri(r#"{"issuer": "https://gh", "jwks_uri": "http://evil/keys"}"#, "https://gh").is_err());
    assert!(discovered_jwks_uri(r#"{"issuer": "https://gh"}"#, "https://gh").is_err());
    assert!(discovered_jwks_uri("<html>", "https://gh").is_err());
}

#[test]
fn routing_is_by_exact_issuer() {
    let policies = TrustPolicies::from_json(GITHUB).unwrap();
    let token = |iss: &str| {
        use base64::Engine as _;
        let b = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!("{}.{}.sig", b(&json!({"alg": "RS256"})), b(&json!({"iss": iss})))
    };
    let trusted = |iss| matches!(policies.route(&token(iss)).unwrap(), Routed::Trusted(0, ..));
    assert!(trusted("https://token.actions.githubusercontent.com"));
    assert!(!trusted("https://token.actions.githubusercontent.com/"));
    assert!(!trusted("https://evil"));
    assert!(policies.route("a.!!.c").is_err());
}

// The outside review of the first trust policies (helper attack, 2026-12-01): each finding
// as it was reproduced, now refused.

const EC_KEY: &str = r#"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"#;

fn one_policy(rules: &str) -> Result<TrustPolicies, TrustPolicyError> {
    TrustPolicies::from_json(&format!(
        r#"{{"name":"gh","issuer":"https://gh","audience":"charts","keys":"{EC_KEY}","rules":{rules}}}"#
    ))
}

fn gh(extra: Value) -> Value {
    let mut c = json!({"iss": "https://gh", "aud": "charts", "exp": 2000, "iat": 1000, "sub": "s"});
    extra.as_object().unwrap().iter().for_each(|(k, v)| c[k] = v.clone());
    c
}

/// F1: a rule without conditions admitted every token of the issuer.
#[test]
fn review_f1_a_rule_needs_a_condition() {
    for rules in [
        r#"[{"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
        r#"[{"match":{},"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
        r#"[{"match":[],"scopes":["artifact-repository:acme/charts:pull,push"]}]"#,
    ] {
        let e = one_policy(rules).unwrap_err();
        assert_eq!(e.at, "policies[0].rules[0].match", "{rules}: {e}");
    }
}

/// F2: a repeated key in a policy document was silently last-wins (an open `.*` could hide
/// behind a narrow pattern).
#[test]
fn review_f2_repeated_keys_in_a_policy_are_refused_with_their_line() {
    let doc = format!(
            "{{\"name\":\"gh\",\"issuer\":\"https://gh\",\"audience\":\"charts\",\"keys\":\"{EC_KEY}\",\n\"rules\":[{{\"match\":{{\"repository\":\"acme/app\",\n\"repository\":\".*\"}},\"scopes\":[\"artifact-repository:acme/charts:pull\"]}}]}}"
        );
    let e = TrustPolicies::from_json(&doc).unwrap_err();
    assert!(e.at.starts_with("line 3") && e.why.contains("duplicate field `repository`"), "{e}");
    let e = TrustPolicies::from_json(r#"{"name":"gh","issuer":"https://gh","audience":"charts","audience":"other"}"#)
        .unwrap_err();
    assert!(e.why.contains("duplicate field `audience`"), "{e}");
}

/// F3: an unbalanced pattern escaped the whole-value anchors (`acme/app)|(x` matched every
/// value starting with `acme/app`); the verbose flag could comment them out.
#[test]
fn review_f3_patterns_cannot_escape_their_anchors() {
    for bad in ["acme/app)|(x", "acme/app\\", "(?x)acme#", "(?ix:acme)#", "(?x:a)"] {
        let rules = format!(
            r#"[{{"match":{{"repository":{}}},"scopes":["artifact-repository:acme/charts:pull"]}}]"#,
            json!(bad)
        );
        let e = one_policy(&rules).unwrap_err();
        assert_eq!(e.at, "policies[0].rules[0].match.repository", "{bad}: {e}");
    }
    let ok =
        one_policy(r#"[{"match":{"repository":"(?i)acme/app"},"scopes":["artifact-repository:acme/charts:pull"]}]"#)
            .unwrap();
    let admit = |repo: &str| ok.policies()[0].admit(&payload(gh(json!({ "repository": repo }))), 1010, 60).is_ok();
    assert!(admit("ACME/app") && !admit("acme/app-evil-fork"));
}

/// F4: a repeated member inside a nested claim was last-wins.
#[test]
fn review_f4_repeated_members_are_refused_at_every_level() {
    let set = one_policy(
        r#"[{"match":{"kubernetes.io/namespace":"release"},"scopes":["artifact-repository:acme/charts:pull"]}]"#,
    )
    .unwrap();
    let raw = br#"{"iss":"https://gh","aud":"charts","exp":2000,"iat":1000,"kubernetes.io":{"namespace":"default","namespace":"release"}}"#;
    assert_eq!(set.policies()[0].admit(raw, 1010, 60).unwrap_err().code(), "malformed_token");
}

/// F5: a top-level `"kubernetes.io/namespace"` shadowed the nested claim; both at once are
/// ambiguous and read as no claim (in a template too).
#[test]
fn review_f5_a_claim_both_top_level_and_nested_is_ambiguous() {
    let set = one_policy(
        r#"[{"match":{"kubernetes.io/namespace":"release"},"scopes":["artifact-repository:acme/charts:pull,push"]},
                {"match":{"sub":"s"},"scopes":["artifact-repository:k8s/{kubernetes.io/namespace}:pull"]}]"#,
    )
    .unwrap();
    let both = gh(json!({"kubernetes.io": {"namespace": "default"}, "kubernetes.io/namespace": "release"}));
    assert_eq!(set.policies()[0].admit(&payload(both), 1010, 60).unwrap_err().code(), "no_trust_rule");
    let nested = gh(json!({"kubernetes.io": {"namespace": "release"}}));
    assert!(set.policies()[0].admit(&payload(nested), 1010, 60).is_ok());
}

/// F6: `unless` on a missing or unreadable claim let the rule through.
#[test]
fn review_f6_unless_fails_closed() {
    let set = one_policy(
            r#"[{"match":{"repository_owner":"acme"},"unless":{"event_name":"pull_request_target"},"scopes":["artifact-repository:acme/charts:pull"]}]"#,
        )
        .unwrap();
    let admit = |event: Option<Value>| {
        let mut c = gh(json!({"repository_owner": "acme"}));
        if let Some(e) = event {
            c["event_name"] = e;
        }
        set.policies()[0].admit(&payload(c), 1010, 60).is_ok()
    };
    assert!(admit(Some(json!("push"))));
    for odd in [
        None,
        Some(json!(null)),
        Some(json!({"name": "pull_request_target"})),
        Some(json!(1.5)),
        Some(json!(["push", {}])),
    ] {
        assert!(!admit(odd.clone()), "{odd:?}");
    }
    assert!(!admit(Some(json!("pull_request_target"))));
}

/// F7: a payload was decoded and parsed before the size check.
#[test]
fn review_f7_routing_checks_the_size_first() {
    let set = one_policy(r#"[{"match":{"sub":"s"},"scopes":["artifact-repository:acme/charts:pull"]}]"#).unwrap();
    let big = format!("e30.{}.c2ln", "A".repeat(crate::MAX_TOKEN_LEN));
    assert_eq!(set.route(&big).unwrap_err().code(), "malformed_token");
}

/// The literal fast path answers as the regular-expression engine would, for every pattern of
/// up to two characters from an alphabet of separators, letters and odd bytes.
#[test]
fn literal_patterns_match_like_the_regex_engine() {
    let alphabet = ["a", "b", "|", "-", "/", " ", "#", "\n", "&", "~", ",", ":", "é", "\t", "'", "%", "_", ""];
    let values = ["", "a", "b", "ab", "a|b", "a b", "#", "\n", "|", "-", "a-b", "é", "&", " ", "a/b"];
    for x in alphabet {
        for y in alphabet {
            let pattern = format!("{x}{y}");
            let condition = Condition::new("v", &pattern).unwrap();
            let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).unwrap();
            for v in values {
                assert_eq!(condition.matches(&json!({ "v": v })), re.is_match(v), "{pattern:?} on {v:?}");
            }
        }
    }
}
