//! chartgate decides whether a request for a Helm chart artifact may be served, from an RS256
//! token and a policy. One engine serves the edge worker, the issuer, the CLI and the inspector
//! page, so they never disagree about a token.
//!
//! The engine (the modules at the top of `src/`) does no I/O and reads no clock: keys, policy and
//! `now` are parameters, and the RSA signature check is a seam ([`SignatureVerifier`]) that each
//! platform fills with its own crypto. It never logs, stores or echoes a token. Around it, one
//! room per platform:
//!
//! - [`entry`]: the entry gate, what may enter a repository: a chart archive read as helm reads
//!   it and refused, with a stable code, when it would harm a helm client (pure, like the engine);
//! - [`edge`]: the edge's pure serving rules (compiled and tested natively) and, on wasm32 with
//!   the `edge` feature, the Cloudflare Worker that runs them;
//! - [`issuer`], [`cli`] and the native crypto (not on wasm32): the token service, the command line,
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
mod keys;
mod mint;
mod path;
mod registry;
mod route;
mod scope;
mod trust;
mod verify;

pub mod edge;
pub mod entry;
#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

// The engine.
pub use allowance::{claim, Allowance, FillError, ScopePattern, ScopeTemplate};
pub use claims::{Access, AccessEntry, Audience, Claims, PathBinding, TrustedBy, MAX_DATE, MAX_PATHS};
pub use credential::{
    extract as extract_credential, find_token, helm_provenance_request, Credential, CredentialError, Pasted, Via,
};
pub use decision::{
    authorize, check_claims, decide, decide_trusted, normalize, prepare, prepare_path, Denial, Grant, Holder,
    MountSource, Policy, PolicyError, PolicySettings, Prepared, Request, DEFAULT_LEEWAY, MAX_LEEWAY,
};
pub use error::{human_duration, relative, OAuthError, Reason};
pub use hex::hex;
pub use jws::{
    dangerous_decode, Alg, Header, JwsError, MalformedToken, Part, UnverifiedToken, MAX_KID_LEN, MAX_TOKEN_LEN,
};
pub use keys::{
    EcPublicKey, KeyError, KeyMaterial, KeySet, PublicKey, RsaPublicKey, MAX_KEYS, MAX_RSA_BITS, MIN_RSA_BITS,
};
pub use mint::{split_url, MintRequest, SignUrlError, SignedUrlPlan, DEFAULT_TTL, DEFAULT_URL_TTL};
pub use path::{NormalizedPath, PathError, MAX_PATH};
pub use registry::{
    canonical_path, check_tag, is_registry_path, Algorithm, Digest, Endpoint, Reference, RegistryPathError, MAX_TAG,
};
pub use route::Route;
pub use scope::{
    Action, Actions, Depth, Kind, Layout, RepoName, Scope, ScopeError, ScopeSet, OCI_RESOURCE_TYPE, RESOURCE_TYPE,
};
pub use trust::{
    discovered_jwks_uri, Condition, KeySource, ParseOptions, RawPolicy, Routed, TrustPolicies, TrustPolicy,
    TrustPolicyError, TrustRule, WorkloadPayload, MAX_POLICIES,
};
pub use verify::{begin, verify, verify_any, PendingSignature, SignatureVerifier, VerifiedToken};

// The native platform: the issuer, the command line, and the engine's OpenSSL backend.
#[cfg(not(target_arch = "wasm32"))]
pub use native::{
    cli,
    crypto::{random_id, NativeVerifier, SigningError, SigningKey},
    issuer,
};
