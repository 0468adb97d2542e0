//! The edge cache's keys and bounds: no key ever holds the request's hostname or a credential.
//! Content is cached by digest (immutable, so a delete never needs a purge), a chart file's name is
//! resolved to its digest through the repository ledger and that answer cached for at most
//! [`RESOLVE_TTL`] seconds, `index.yaml` for at most `INDEX_TTL`. A commit makes this data centre
//! forget its copies at once ([`forget`]); every other data centre follows within those bounds.

use worker::Cache;

use crate::edge::ChartId;
use crate::{Digest, RepoName};

/// The origin of every edge cache key: never the request's hostname.
pub(super) const CACHE_ORIGIN: &str = "https://cache.chartgate.internal";
/// Longest time, in seconds, a data centre keeps resolving an HTTP file name to content after its
/// chart was deleted or replaced.
pub(super) const RESOLVE_TTL: u64 = 30;

/// The cache key of content by digest, per kind of response (`blobs`, `manifests`, `files`: the
/// same bytes are answered with other headers by each route).
pub(super) fn content_key(kind: &str, d: &Digest) -> String {
    format!("{CACHE_ORIGIN}/{kind}/{}/{}", d.algorithm().as_str(), d.hex())
}
pub(super) fn index_key(repo: &RepoName) -> String {
    format!("{CACHE_ORIGIN}/index/{repo}")
}
pub(super) fn resolve_key(repo: &RepoName, file: &str) -> String {
    format!("{CACHE_ORIGIN}/resolve/{repo}/{file}")
}

/// After a commit that changed `repo`: this data centre forgets its copies of the index and of the
/// resolutions of `files` at once (other data centres within their bounds).
pub(super) async fn forget(repo: &RepoName, files: &[String]) {
    let cache = Cache::default();
    let keys = std::iter::once(index_key(repo)).chain(files.iter().map(|f| resolve_key(repo, f)));
    for key in keys {
        if let Err(e) = cache.delete(key.as_str(), true).await {
            worker::console_error!("chartgate: cache purge failed: {e}");
        }
    }
}

/// The files of a chart version's HTTP routes.
pub(super) fn files_of(id: &ChartId) -> Vec<String> {
    let file = id.file_name();
    vec![format!("{file}.prov"), file]
}
