//! chartgate decides whether a request for a Helm chart artifact may be served, from a token
//! (RS256 or ES256) and a policy. One engine serves the edge worker, the issuer, the CLI and the
//! inspector page, so they never disagree about a token.
//!
//! The engine (the modules at the top of `src/`) does no I/O and reads no clock: keys, policy and
//! `now` are parameters, and the signature check is a seam ([`token::SignatureVerifier`]) that
//! each platform fills with its own crypto. It never logs, stores or echoes a token. Its public
//! surface is grouped by role: [`token`], [`key`], [`access`], [`oci`], [`workload`]. Around it,
//! one room per platform:
//!
//! - [`entry`]: the entry gate, what may enter a repository: a chart archive read as helm reads
//!   it and refused, with a stable code, when it would harm a helm client (pure, like the engine);
//! - [`edge`]: the edge's gate and store, pure rules compiled and tested natively, and, on wasm32
//!   with the `edge` feature, the Cloudflare Worker glue that runs them;
//! - [`issuer`], [`cli`] and [`crypto`] (not on wasm32): the token service, the command line,
//!   signing and verification on the system's OpenSSL;
//! - [`wasm`] (wasm32 only): WebCrypto verification and the inspector page's exports.
#![forbid(unsafe_code)]

mod allowance;
mod claims;
mod credential;
mod decision;
mod error;
mod hex;
mod jws;
mod key_refresh;
mod keys;
mod mint;
mod path;
mod registry;
mod route;
mod scope;
mod trust;
mod url_policy;
mod verify;

pub mod edge;
pub mod entry;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

// The public surface, by role; inside the crate every item keeps its short path.

/// Tokens: compact JWS read strictly, claims, verification in a fixed order behind a signature
/// seam, new tokens and signed-URL plans.
pub mod token {
    pub use crate::claims::{Access, AccessEntry, Audience, Claims, PathBinding, TrustedBy, MAX_DATE, MAX_PATHS};
    pub use crate::jws::{
        dangerous_decode, Alg, Header, JwsError, MalformedToken, Part, UnverifiedToken, MAX_KID_LEN, MAX_TOKEN_LEN,
    };
    pub use crate::mint::{split_url, MintRequest, SignUrlError, SignedUrlPlan, DEFAULT_TTL, DEFAULT_URL_TTL};
    pub use crate::verify::{begin, verify, verify_any, PendingSignature, SignatureVerifier, VerifiedToken};
}

/// Keys: RSA and P-256 public keys, key sets and `kid`, and when to fetch a JWKS again.
pub mod key {
    pub use crate::key_refresh::{Plan, RefreshRules, RemoteKeys, UnknownKid};
    pub use crate::keys::{
        EcPublicKey, KeyError, KeyMaterial, KeySet, PublicKey, RsaPublicKey, MAX_KEYS, MAX_RSA_BITS, MIN_RSA_BITS,
    };
}

/// Access: where the credential is, the request's path and route, scopes and patterns, the policy,
/// the decision and its reasons.
pub mod access {
    pub use crate::allowance::{claim, Allowance, FillError, ScopePattern, ScopeTemplate};
    pub use crate::credential::{
        extract as extract_credential, find_token, helm_provenance_request, Credential, CredentialError, Pasted, Via,
    };
    pub use crate::decision::{
        authorize, check_claims, decide, decide_trusted, normalize, prepare, prepare_path, Denial, Grant, Holder,
        MountSource, Policy, PolicyError, PolicySettings, Prepared, Request, DEFAULT_LEEWAY, MAX_LEEWAY,
    };
    pub use crate::error::{human_duration, relative, OAuthError, Reason};
    pub use crate::path::{NormalizedPath, PathError, MAX_PATH};
    pub use crate::route::Route;
    pub use crate::scope::{
        Action, Actions, Depth, Kind, Layout, RepoName, Scope, ScopeError, ScopeSet, OCI_RESOURCE_TYPE, RESOURCE_TYPE,
    };
}

/// The OCI registry's routes, references and digests.
pub mod oci {
    pub use crate::registry::{
        canonical_path, check_tag, is_registry_path, Algorithm, Digest, Endpoint, Reference, RegistryPathError, MAX_TAG,
    };
}

/// Trust policies: which external issuers' tokens (CI jobs, workloads, SSO) are accepted, and what
/// they grant.
pub mod workload {
    pub use crate::trust::{
        discovered_jwks_uri, Condition, KeySource, ParseOptions, RawPolicy, Routed, TrustPolicies, TrustPolicy,
        TrustPolicyError, TrustRule, TrustWarning, WorkloadPayload, MAX_POLICIES,
    };
}

/// Signing and verification on the system's OpenSSL (native only).
#[cfg(not(target_arch = "wasm32"))]
pub mod crypto {
    pub use crate::native::crypto::{random_id, NativeVerifier, SigningError, SigningKey};
}

// The native platform: the issuer and the command line.
#[cfg(not(target_arch = "wasm32"))]
pub use native::{cli, issuer};

pub(crate) use access::*;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crypto::*;
pub(crate) use hex::hex;
pub(crate) use key::*;
pub(crate) use oci::*;
pub(crate) use token::*;
pub(crate) use workload::*;
