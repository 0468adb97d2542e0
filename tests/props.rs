//! Property tests: the scope algebra, path normalisation, claims round trip, and mutation of
//! valid tokens.

use chartgate::{
    access::{Actions, Depth, Kind, Layout, NormalizedPath, RepoName, Scope, ScopeSet},
    token::Claims,
};
use proptest::prelude::*;

use crate::util::*;

fn repo_name() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,6}([._-][a-z0-9]{1,4}){0,2}";
    prop::collection::vec(component, 1..4).prop_map(|c| c.join("/"))
}

fn actions() -> impl Strategy<Value = Actions> {
    prop_oneof![Just(Actions::PULL), Just(Actions::PUSH), Just(Actions::ALL)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Chart), Just(Kind::Oci)]
}

fn scope_set() -> impl Strategy<Value = ScopeSet> {
    prop::collection::vec((kind(), repo_name(), actions()), 0..6).prop_map(|v| {
        v.into_iter().map(|(kind, n, actions)| Scope { kind, repo: RepoName::parse(&n).unwrap(), actions }).collect()
    })
}

fn depth() -> impl Strategy<Value = Depth> {
    prop_oneof![Just(Depth::Zero), Just(Depth::One), Just(Depth::Two)]
}

proptest! {
    #[test]
    fn scope_round_trip(name in repo_name(), a in actions()) {
        let scope = Scope::new(RepoName::parse(&name).unwrap(), a);
        prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
    }

    #[test]
    fn scope_set_round_trip(set in scope_set()) {
        prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set);
    }

    #[test]
    fn narrowing_is_within_both(a in scope_set(), b in scope_set(), d in depth()) {
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: d, default_repo: &ns };
        let i = a.narrow(&b, l);
        prop_assert!(a.contains(&i, l));
        prop_assert!(b.contains(&i, l));
        prop_assert!(a.contains(&a.narrow(&a, l), l) && a.narrow(&a, l) == a);
    }

    /// The chart-repository/OCI mapping never escalates: a chart grant reaches an OCI name only
    /// when the name is exactly one chart inside that repository (`org1/repo1` never covers
    /// `org1/repo10/x` or `org1/repo1/a/b`), with no action the grant lacks; OCI grants never
    /// reach chart repositories.
    #[test]
    fn oci_mapping_never_escalates(grants in scope_set(), name in repo_name(), d in depth()) {
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: d, default_repo: &ns };
        let oci = RepoName::parse(&name).unwrap();
        let reached = grants.covers(Kind::Oci, &oci, l);
        let own = grants.iter().filter(|s| s.kind == Kind::Oci && s.repo == oci).fold(Actions::NONE, |a, s| a.union(s.actions));
        let through: Actions = grants
            .iter()
            .filter(|s| s.kind == Kind::Chart)
            .filter(|s| match d {
                Depth::Zero => s.repo == ns && !name.contains('/'),
                _ => name.strip_prefix(&format!("{}/", s.repo)).is_some_and(|rest| !rest.contains('/'))
                    && name.matches('/').count() == d.segments(),
            })
            .fold(Actions::NONE, |a, s| a.union(s.actions));
        prop_assert_eq!(reached, own.union(through));
        let chart = grants.covers(Kind::Chart, &oci, l);
        let chart_own = grants.iter().filter(|s| s.kind == Kind::Chart && s.repo == oci).fold(Actions::NONE, |a, s| a.union(s.actions));
        prop_assert_eq!(chart, chart_own, "OCI grants reached a chart repository");
    }

    #[test]
    fn a_prefix_repository_never_covers_a_longer_name(org in "[a-z]{1,4}", repo in "[a-z]{1,4}", extra in "[a-z0-9]{1,3}", chart in "[a-z]{1,5}") {
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: Depth::Two, default_repo: &ns };
        let pull = ScopeSet::parse(&format!("artifact-repository:{org}/{repo}:pull")).unwrap();
        let longer = RepoName::parse(&format!("{org}/{repo}{extra}/{chart}")).unwrap();
        prop_assert_eq!(pull.covers(Kind::Oci, &longer, l), Actions::NONE);
        let inside = RepoName::parse(&format!("{org}/{repo}/{chart}")).unwrap();
        prop_assert_eq!(pull.covers(Kind::Oci, &inside, l), Actions::PULL, "pull never covers push");
    }

    /// Security round 3, finding 1: a `PUBLIC_REPOS` glob names chart repositories. No glob makes
    /// an OCI name public unless the glob matches the chart repository the name lies in (so
    /// `*-public` never opens the chart `x-public` of the private repository `acme/charts`), and
    /// every chart of a public chart repository is public over OCI too.
    #[test]
    fn public_globs_name_chart_repositories_only(
        globs in prop::collection::vec("[a-z*]{1,3}(-public|/[a-z*]{1,3}(-public)?)?", 1..3),
        name in repo_name(),
        d in depth(),
    ) {
        let settings = chartgate::access::PolicySettings { public: globs.clone(), depth: Some(d.segments() as u8), ..Default::default() };
        let Ok(policy) = chartgate::access::Policy::new(settings) else { return Ok(()) };
        let oci = RepoName::parse(&name).unwrap();
        let public = policy.is_public(&Scope::oci(oci.clone(), Actions::PULL));
        let chart_repo = policy.layout().chart_of(&oci).map(|(r, _)| RepoName::parse(r).unwrap());
        let repo_public = chart_repo.as_ref().is_some_and(|r| policy.is_public(&Scope::new(r.clone(), Actions::PULL)));
        prop_assert_eq!(public, repo_public, "OCI {} (chart repository {:?}) under {:?}", name, chart_repo, globs);
        prop_assert!(!policy.is_public(&Scope::oci(oci, Actions::PUSH)), "a push is never public");
    }

    #[test]
    fn normalisation_is_idempotent_and_never_yields_dot_dot(raw in "/[a-zA-Z0-9%./_~+;:\\\\-]{0,40}") {
        if let Ok(p) = NormalizedPath::parse(&raw) {
            prop_assert_eq!(NormalizedPath::parse(p.as_str()).unwrap(), p.clone());
            prop_assert!(p.segments().all(|s| s != ".." && s != "." && !s.is_empty() || p.as_str() == "/"));
            prop_assert!(!p.as_str().contains('%') && !p.as_str().contains('\\'));
        }
    }

    #[test]
    fn claims_round_trip(set in scope_set(), exp in 0u64..chartgate::token::MAX_DATE, sub in "[a-z]{0,8}") {
        let req = chartgate::token::MintRequest { scopes: set, sub: Some(sub), jti: Some("j".into()), ..Default::default() };
        let mut claims = req.claims(0);
        claims.exp = exp;
        let again = Claims::from_json(claims.to_json().to_string().as_bytes()).unwrap();
        prop_assert_eq!(again, claims);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// No change of one byte of a valid token is accepted.
    #[test]
    fn mutated_tokens_are_refused(position in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
        static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let token = TOKEN.get_or_init(|| mint("artifact-repository:org1/repo1:pull", 300));
        let i = position.index(token.len());
        prop_assume!(token.as_bytes()[i] != byte);
        let mut bytes = token.clone().into_bytes();
        bytes[i] = byte;
        let mutated = String::from_utf8(bytes).unwrap();
        prop_assert!(decide_bearer("GET", "/org1/repo1/index.yaml", &mutated).is_err(), "accepted a mutation at {}", i);
    }

    /// No sequence of byte replacements, insertions and deletions of a valid token is accepted.
    #[test]
    fn edited_tokens_are_refused(edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8)) {
        static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let token = TOKEN.get_or_init(|| mint("artifact-repository:org1/repo1:pull", 300));
        let mut bytes = token.clone().into_bytes();
        for (position, op, byte) in edits {
            let i = position.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if bytes.len() > 1 => { bytes.remove(i); }
                _ => {}
            }
        }
        prop_assume!(bytes != token.as_bytes());
        let mutated = String::from_utf8_lossy(&bytes);
        prop_assert!(decide_bearer("GET", "/org1/repo1/index.yaml", &mutated).is_err(), "accepted an edited token");
    }
}

fn pattern() -> impl Strategy<Value = String> {
    let glob = prop_oneof![
        repo_name(),
        repo_name().prop_map(|n| format!("{}/*", n.split('/').next().unwrap())),
        Just("*".to_owned()),
    ];
    (glob, actions()).prop_map(|(g, a)| format!("artifact-repository:{g}:{a}"))
}

proptest! {
    /// The issuer grants requested ∩ allowed: never more than either.
    #[test]
    fn issued_is_within_requested_and_allowed(patterns in prop::collection::vec(pattern(), 0..4), requested in scope_set()) {
        use chartgate::issuer::grant::{Allowance, ScopePattern};
        let allowance = Allowance(patterns.iter().map(|p| ScopePattern::parse(p).unwrap()).collect());
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: Depth::Two, default_repo: &ns };
        let granted = allowance.grant(&requested, l);
        prop_assert!(requested.contains(&granted, l));
        for scope in granted.iter() {
            prop_assert!(allowance.actions_for(scope.kind, &scope.repo, l).contains(scope.actions));
        }
    }

    /// A child token never has more scope, more paths or a later expiry than its parent.
    #[test]
    fn children_never_escalate(parent_set in scope_set(), requested in scope_set(), ttl in 1u64..100_000, life in 1u64..10_000) {
        use chartgate::issuer::grant::downscope;
        let now = 1_000_000;
        let mut claims = chartgate::token::MintRequest { scopes: parent_set, jti: Some("p".into()), ..Default::default() }.claims(now);
        claims.exp = now + life;
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: Depth::Two, default_repo: &ns };
        match downscope(&claims, Some(&requested), ttl, None, now, l) {
            Ok(child) => {
                prop_assert!(claims.access.scopes(&ns).contains(&child.scopes, l));
                prop_assert!(now + child.ttl <= claims.exp);
                prop_assert_eq!(child.lineage, vec!["p".to_owned()]);
            }
            Err(_) => prop_assert!(!claims.access.scopes(&ns).contains(&requested, l)),
        }
    }
}

/// One derivation step of a chain: which of the three ways (token exchange, `/sign-url`,
/// `chartgate token --from`; all plan through `grant::downscope`), what it asks for, and how many
/// seconds pass before it.
#[derive(Debug, Clone)]
struct Step {
    kind: u8,
    pick: usize,
    ttl: u64,
    wait: u64,
    chart: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..3, any::<usize>(), 1u64..2_000, 0u64..400, 0u8..3).prop_map(|(kind, pick, ttl, wait, chart)| Step {
        kind,
        pick,
        ttl,
        wait,
        chart,
    })
}

proptest! {
    /// Security round 2, finding 2: no chain of derivations outlives or out-scopes its root or
    /// escapes its path binding, and every descendant names every ancestor in its lineage, so
    /// revoking any ancestor at the edge revokes it.
    #[test]
    fn chains_never_outlive_outscope_or_leave_the_lineage(root_set in scope_set(), life in 1u64..3_000, steps in prop::collection::vec(step(), 1..8)) {
        use chartgate::issuer::grant::downscope;
        let ns = RepoName::parse("repo").unwrap();
        let l = Layout { depth: Depth::Two, default_repo: &ns };
        let mut now = 1_000_000;
        let root = Claims { jti: Some("root".into()), exp: now + life, ..chartgate::token::MintRequest { scopes: root_set, ..Default::default() }.claims(now) };
        let mut chain = vec![root.clone()];
        for (i, s) in steps.iter().enumerate() {
            now += s.wait;
            let parent = chain.last().unwrap().clone();
            let held: Vec<Scope> = parent.access.scopes(&ns).iter().filter(|s| !s.actions.is_empty()).collect();
            let (requested, paths) = match (s.kind, held.get(s.pick % held.len().max(1))) {
                // sign-url: one pull scope and one exact path of that repository
                (1, Some(scope)) => {
                    let pull = Scope::new(scope.repo.clone(), chartgate::access::Action::Pull);
                    let path = format!("/{}/charts/c{}-1.0.0.tgz", scope.repo, s.chart);
                    (Some(std::iter::once(pull).collect::<ScopeSet>()), Some(chartgate::token::PathBinding::parse(&[path]).unwrap()))
                }
                // exchange or --from: a subset, sometimes bound to a repository's charts
                (_, Some(scope)) => {
                    let paths = (s.chart == 0).then(|| chartgate::token::PathBinding::parse(&[format!("/{}/charts/*", scope.repo)]).unwrap());
                    (Some(std::iter::once(scope.clone()).collect::<ScopeSet>()), paths)
                }
                (_, None) => (None, None),
            };
            let Ok(plan) = downscope(&parent, requested.as_ref(), s.ttl, paths, now, l) else { continue };
            prop_assert!(parent.exp > now, "an expired parent derived a child");
            let request = chartgate::token::MintRequest { scopes: plan.scopes, ttl: Some(plan.ttl), jti: Some(format!("t{i}")), paths: plan.paths, lineage: plan.lineage, ..Default::default() };
            let child = request.claims(now);
            prop_assert!(child.exp <= root.exp, "outlives the root: {} > {}", child.exp, root.exp);
            prop_assert!(child.exp <= parent.exp);
            prop_assert!(root.access.scopes(&ns).contains(&child.access.scopes(&ns), l), "out-scopes the root");
            if let Some(parent_paths) = &parent.paths {
                prop_assert!(child.paths.as_ref().is_some_and(|p| p.within(parent_paths)), "leaves the parent's paths");
            }
            let keys = chartgate::edge::revocation_keys(child.jti.as_deref(), &child.lineage, None, None);
            for ancestor in &chain {
                let jti = ancestor.jti.as_deref().unwrap();
                prop_assert!(keys.contains(&format!("jti:{jti}")), "revoking {} would not revoke {:?}", jti, child.jti);
            }
            chain.push(child);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Trust-policy templates (#24): whatever string a claim holds, a filled scope either fails (the
    /// rule does not match) or names exactly the repository the value spells, with no glob, no
    /// other repository and no other action: a claim narrows a grant, never widens it.
    #[test]
    fn a_claim_never_widens_a_templated_grant(value in prop_oneof![
        "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}",
        "[a-zA-Z0-9._:,*/ \\-]{0,12}",
        any::<String>(),
    ]) {
        let template = chartgate::access::ScopeTemplate::parse("artifact-repository:{v}/charts:pull").unwrap();
        let ns = RepoName::parse("repo").unwrap();
        let layout = Layout { depth: Depth::Two, default_repo: &ns };
        if let Ok(pattern) = template.fill(&serde_json::json!({ "v": value })) {
            let expected = format!("{value}/charts");
            prop_assert_eq!(pattern.to_string(), format!("artifact-repository:{expected}:pull"));
            prop_assert!(!expected.contains('*'));
            let repo = RepoName::parse(&expected).unwrap();
            let allowance = chartgate::access::Allowance(vec![pattern]);
            prop_assert_eq!(allowance.actions_for(Kind::Chart, &repo, layout), Actions::from(chartgate::access::Action::Pull));
            let other = RepoName::parse(&format!("{expected}x")).unwrap();
            prop_assert!(allowance.actions_for(Kind::Chart, &other, layout).is_empty());
        }
    }
}
