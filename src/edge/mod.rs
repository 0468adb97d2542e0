//! The edge: everything the Cloudflare Worker decides beyond the engine, as pure rules compiled
//! and tested natively (configuration, serving rules, the verified-token cache, JWKS refresh
//! rules, the audit line, report-only and revocation rules, reading an uploaded chart, the OCI
//! registry's storage and protocol rules, the edge's own Docker token endpoint), and the
//! worker glue that runs them, which alone is wasm32-only.

mod audit;
pub(crate) mod chart_archive;
mod config;
mod key_refresh;
pub mod ledger;
pub mod publish;
pub mod registry;
mod request_url;
mod revocation;
mod serving;
mod token_cache;
pub mod token_endpoint;
#[cfg(all(target_arch = "wasm32", feature = "edge"))]
mod worker;

pub use audit::AuditLine;
pub use chart_archive::{chart_id, chart_metadata, ArchiveError, ChartId};
pub use config::{ConfigError, EdgeConfig, Mode};
pub use key_refresh::{Plan, RefreshRules, RemoteKeys, UnknownKid};
pub use registry::ImmutableTags;
pub use request_url::{RequestUrl, RequestUrlError};
pub use revocation::{revocation_key, revocation_keys, revoked};
pub use serving::{
    answer, client_cache_control, content_type, edge_cache_control, etag_matches, is_chart_upload, parse_range,
    registry_client_cache_control, stale_objects, Answer, ByteRange, CacheStatus, Preconditions, CACHE_STATUS_HEADER,
    ORIGIN_SAFE_HEADERS, SECURITY_HEADERS,
};
pub use token_cache::{TokenCache, TokenHash, DEFAULT_CAPACITY as TOKEN_CACHE_CAPACITY};
