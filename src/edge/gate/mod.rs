//! The gate: what the edge decides and answers before anything is stored or served, beyond the
//! engine's decision: where a request's URL and credential are read from ([`request_url`]), the
//! edge's own Docker token endpoint ([`token_endpoint`]), the verified-token cache
//! ([`token_cache`]), the revocation list's keys ([`revocation`]) and the audit line
//! ([`audit`]). Report-only rollout is a rule of the configuration
//! ([`crate::edge::EdgeConfig::report_only_route`]). Nothing here reads the store.

pub(crate) mod audit;
pub(crate) mod request_url;
pub(crate) mod revocation;
pub(crate) mod token_cache;
pub mod token_endpoint;
