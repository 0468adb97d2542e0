//! Warnings about rules that grant `push` to what can be renamed or re-created: a repository,
//! project or owner matched by name without its immutable id, a GitLab `ref` without `ref_type`,
//! a push without `ref_protected`. The CLI, the issuer and the inspector page print these same
//! lines.

use super::*;

/// A claim that names an identity (and can be renamed, or deleted and registered again by someone
/// else), and the immutable numeric ids any one of which pins that identity.
const NAMES_AND_IDS: &[(&str, &[&str])] = &[
    // GitHub Actions: a repository or an organisation/user name can be deleted and re-registered.
    ("repository", &["repository_id"]),
    ("repository_owner", &["repository_owner_id", "repository_id"]),
    ("workflow_ref", &["repository_id", "repository_owner_id"]),
    ("job_workflow_ref", &["repository_id", "repository_owner_id"]),
    // GitLab CI: a project's or group's path, likewise.
    ("project_path", &["project_id"]),
    ("namespace_path", &["namespace_id", "project_id"]),
    ("ci_config_ref_uri", &["project_id", "namespace_id"]),
    // Kubernetes: a service account deleted and created again under its name gets a new `uid`.
    ("kubernetes.io/serviceaccount/name", &["kubernetes.io/serviceaccount/uid"]),
    // `sub` spells the repository, project or service account by name on every platform.
    (
        "sub",
        &["repository_id", "repository_owner_id", "project_id", "namespace_id", "kubernetes.io/serviceaccount/uid"],
    ),
];

/// Claims only GitLab CI's `id_tokens` carry: a rule naming one is a GitLab rule.
const GITLAB_CLAIMS: &[&str] = &[
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "ci_config_ref_uri",
    "ci_config_sha",
    "pipeline_source",
    "pipeline_id",
    "ref_path",
    "user_login",
    "user_access_level",
];

/// Something a policy allows that is probably not what its author meant: a rule granting `push`
/// to an identity that can be renamed or re-created. A warning, never an error: the policy still
/// loads and decides as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustWarning {
    /// The policy's name.
    pub policy: String,
    /// The rule's name.
    pub rule: String,
    /// A stable code: `name_without_id` (a repository, owner, project, group or service account
    /// matched by name and by no immutable id), `ref_without_ref_type` (GitLab: a `ref` read
    /// without `ref_type`, so a branch named like a tag matches) or `push_without_ref_protected`
    /// (GitLab: push from a ref that need not be protected).
    pub code: &'static str,
    /// What to add, for people.
    pub message: String,
}

impl fmt::Display for TrustWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trust policy {:?}, rule {:?}: {}: {}", self.policy, self.rule, self.code, self.message)
    }
}

impl TrustRule {
    /// True when some grant of the rule includes `push`.
    fn grants_push(&self) -> bool {
        self.grants.iter().any(|g| g.actions().contains(crate::Actions::PUSH))
    }

    /// True when a `match` condition reads `claim`.
    fn matches_on(&self, claim: &str) -> bool {
        self.when.iter().any(|c| c.claim == claim)
    }
}

impl TrustPolicy {
    /// The warnings of [`TrustPolicies::warnings`] for this policy's rules.
    pub fn warnings(&self) -> Vec<TrustWarning> {
        let mut out = Vec::new();
        for rule in self.rules.iter().filter(|r| r.grants_push()) {
            let mut warn = |code, message: String| {
                out.push(TrustWarning { policy: self.name.clone(), rule: rule.name.clone(), code, message })
            };
            for (name, ids) in NAMES_AND_IDS {
                if rule.matches_on(name) && !ids.iter().any(|id| rule.matches_on(id)) {
                    let ids = ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(" or ");
                    warn(
                        "name_without_id",
                        format!(
                            "grants push but matches `{name}` by name only: a name can be deleted and registered \
                             again by someone else; also match {ids}"
                        ),
                    );
                }
            }
            let gitlab = self.issuer.contains("gitlab") || rule.when.iter().any(|c| GITLAB_CLAIMS.contains(&&*c.claim));
            if !gitlab {
                continue;
            }
            if rule.matches_on("ref") && !rule.matches_on("ref_type") {
                warn(
                    "ref_without_ref_type",
                    "grants push and matches GitLab's `ref` without `ref_type`: a branch can be named like a tag; \
                     also match `ref_type` (\"tag\" or \"branch\")"
                        .into(),
                );
            }
            if !rule.when.iter().any(|c| c.claim == "ref_protected" && c.source == "true") {
                warn(
                    "push_without_ref_protected",
                    "grants push from refs that need not be protected: also match `ref_protected` = \"true\"".into(),
                );
            }
        }
        out
    }
}

impl TrustPolicies {
    /// Rules that grant `push` to an identity that can be renamed or re-created, or (GitLab) to a
    /// ref that is ambiguous or unprotected. GitHub's and GitLab's guidance is to bind trust to the
    /// immutable numeric ids (`repository_id`, `repository_owner_id`; `project_id`,
    /// `namespace_id`), names beside them at most, and on GitLab to read `ref` with `ref_type`
    /// and push only from protected refs. `chartgate verify --trust` and the inspector page print
    /// exactly these, so they never disagree. Pure, and never an error.
    pub fn warnings(&self) -> Vec<TrustWarning> {
        self.policies.iter().flat_map(TrustPolicy::warnings).collect()
    }
}
