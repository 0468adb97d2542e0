//! chartgate decides whether a request for a Helm chart artifact may be served, from an RS256
//! token and a policy. One engine serves the edge worker, the issuer, the CLI and the inspector
//! page, so they never disagree about a token.
//!
//! The engine does no I/O and reads no clock: keys, policy and `now` are parameters, and the RSA
//! signature check is a seam ([`SignatureVerifier`]) that each platform fills with its own
//! native crypto. It never logs, stores or echoes a token.
#![forbid(unsafe_code)]

mod audit;
mod chart_archive;
mod claims;
mod credential;
mod decision;
mod edge_config;
mod error;
mod hex;
mod jws;
mod key_refresh;
mod keys;
mod mint;
mod path;
mod revocation;
mod route;
mod scope;
mod serving;
mod token_cache;
mod verify;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(all(target_arch = "wasm32", feature = "edge"))]
mod edge;
#[cfg(all(target_arch = "wasm32", feature = "inspector"))]
mod inspector;
#[cfg(not(target_arch = "wasm32"))]
pub mod issuer;
#[cfg(not(target_arch = "wasm32"))]
mod native_crypto;
#[cfg(target_arch = "wasm32")]
pub mod webcrypto;

pub use audit::AuditLine;
pub use chart_archive::{chart_id, ArchiveError, ChartId};
pub use claims::{Access, AccessEntry, Audience, Claims, PathBinding, MAX_DATE, MAX_PATHS};
pub use credential::{extract as extract_credential, find_token, Credential, CredentialError, Pasted, Via};
pub use decision::{
    authorize, check_claims, decide, prepare, prepare_path, Denial, Grant, Holder, Policy, Prepared, Request,
    DEFAULT_LEEWAY, MAX_LEEWAY,
};
pub use edge_config::{ConfigError, EdgeConfig, Mode};
pub use error::{human_duration, relative, OAuthError, Reason};
pub use hex::hex;
pub use jws::{dangerous_decode, Alg, Header, MalformedToken, Part, UnverifiedToken, MAX_KID_LEN, MAX_TOKEN_LEN};
pub use key_refresh::{Plan, RefreshRules, RemoteKeys};
pub use keys::{KeyError, KeySet, PublicKey, RsaPublicKey, MAX_KEYS, MAX_RSA_BITS, MIN_RSA_BITS};
pub use mint::{split_url, MintRequest, SignUrlError, SignedUrlPlan, DEFAULT_TTL, DEFAULT_URL_TTL};
#[cfg(not(target_arch = "wasm32"))]
pub use native_crypto::{random_id, NativeVerifier, SigningError, SigningKey};
pub use path::{NormalizedPath, PathError, MAX_PATH};
pub use revocation::{revocation_key, revocation_keys};
pub use route::{Depth, Route};
pub use scope::{Action, Actions, RepoName, Scope, ScopeError, ScopeSet, RESOURCE_TYPE};
pub use serving::{
    client_cache_control, content_type, edge_cache_control, etag_matches, is_chart_upload, parse_range, stale_objects,
    ByteRange, CacheStatus, CACHE_STATUS_HEADER, ORIGIN_SAFE_HEADERS, SECURITY_HEADERS,
};
pub use token_cache::{TokenCache, TokenHash, DEFAULT_CAPACITY as TOKEN_CACHE_CAPACITY};
pub use verify::{begin, verify, PendingSignature, SignatureVerifier, VerifiedToken};
