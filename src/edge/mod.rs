//! The edge: what the Cloudflare Worker decides beyond the engine, in two rooms of pure rules
//! compiled and tested natively: the [`gate`] (what decides and answers before anything is stored
//! or served) and the [`store`] (what is kept and served, and how it enters); the configuration
//! both read ([`EdgeConfig`]); and the worker glue that runs them, which alone is wasm32-only and
//! only translates between the platform and these rules.

mod config;
pub mod gate;
pub mod store;
#[cfg(all(target_arch = "wasm32", feature = "edge"))]
mod worker;

pub use crate::key_refresh::{Plan, RefreshRules, RemoteKeys, UnknownKid};
pub use config::{ChartBackend, ConfigError, EdgeConfig, Mode, Origin};
pub use gate::audit::AuditLine;
pub use gate::request_url::{RequestUrl, RequestUrlError};
pub use gate::revocation::{revocation_key, revocation_keys, revoked};
pub use gate::token_cache::{TokenCache, TokenHash, DEFAULT_CAPACITY as TOKEN_CACHE_CAPACITY};
pub use store::chart_archive::{chart_id, chart_metadata, ArchiveError, ChartId};
pub use store::oci::ImmutableTags;
pub use store::serving::{
    answer, client_cache_control, content_type, edge_cache_control, etag_matches, is_chart_upload, parse_range,
    registry_client_cache_control, stale_objects, Answer, ByteRange, CacheStatus, Preconditions, CACHE_STATUS_HEADER,
    ORIGIN_SAFE_HEADERS, SECURITY_HEADERS,
};
