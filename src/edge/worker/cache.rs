//! The edge cache's keys and bounds: no key ever holds the request's hostname or a credential.
//! Content is cached by digest (immutable, so a delete never needs a purge), a chart file's name is
//! resolved to its digest through the repository ledger and that answer cached for at most
//! [`RESOLVE_TTL`] seconds, `index.yaml` for at most `INDEX_TTL`. A commit makes this data centre
//! forget its copies at once ([`forget`]); every other data centre follows within those bounds.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::Cache;

use crate::edge::store::layout::cache as cache_key;
use crate::edge::ChartId;
use crate::{Digest, RepoName};

/// Longest time, in seconds, a data centre keeps resolving an HTTP file name to content after its
/// chart was deleted or replaced.
pub(super) const RESOLVE_TTL: u64 = 30;

/// Most name resolutions an isolate keeps in memory.
const MAX_RESOLVED: usize = 4096;

thread_local! {
    /// Name resolutions this isolate made, with the second they expire: a cached download then
    /// reads the edge cache once (its content), as before the ledger.
    static RESOLVED: RefCell<HashMap<String, (Digest, u64)>> = RefCell::new(HashMap::new());
}

/// A resolution this isolate made less than [`RESOLVE_TTL`] seconds before `now`.
pub(super) fn resolved(key: &str, now: u64) -> Option<Digest> {
    RESOLVED.with(|m| m.borrow().get(key).filter(|(_, until)| now < *until).map(|(d, _)| d.clone()))
}

/// Keeps a resolution for [`RESOLVE_TTL`] seconds (expired ones make room; a full map starts over).
pub(super) fn remember(key: String, d: Digest, now: u64) {
    RESOLVED.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MAX_RESOLVED {
            m.retain(|_, (_, until)| now < *until);
            if m.len() >= MAX_RESOLVED {
                m.clear();
            }
        }
        m.insert(key, (d, now + RESOLVE_TTL));
    });
}

/// After a commit that changed `repo`: this data centre forgets its copies of the index and of the
/// resolutions of `files` at once (other data centres within their bounds).
pub(super) async fn forget(repo: &RepoName, files: &[String]) {
    let cache = Cache::default();
    let keys: Vec<String> =
        std::iter::once(cache_key::index(repo)).chain(files.iter().map(|f| cache_key::resolve(repo, f))).collect();
    RESOLVED.with(|m| {
        let mut m = m.borrow_mut();
        for key in &keys {
            m.remove(key);
        }
    });
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
