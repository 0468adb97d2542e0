//! Forgetting what a successful write made stale: objects removed from the edge cache (and, for
//! what a write deleted or replaced at the origin, from R2), so nothing removed stays downloadable
//! and the next read of an index fetches the new one.

use worker::{Cache, Env};

/// Removes what a successful write made stale from the edge cache and from R2 (where, with an
/// origin, it is a copy), so a deleted chart is not downloadable and the next read of the index
/// fetches the new one. Failures are logged; the write itself has happened.
pub(super) async fn purge(env: &Env, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    purge_cache(keys).await;
    let Ok(bucket) = env.bucket("CHARTS") else { return };
    if let Err(e) = bucket.delete_multiple(keys.to_vec()).await {
        worker::console_error!("chartgate: R2 purge of {keys:?} failed: {e}");
    }
}

/// Removes objects from the edge cache only (R2 holds their new version).
pub(super) async fn purge_cache(keys: &[String]) {
    let cache = Cache::default();
    for key in keys {
        if let Err(e) = cache.delete(crate::edge::store::layout::cache::object(key), true).await {
            worker::console_error!("chartgate: cache purge of {key} failed: {e}");
        }
    }
}
