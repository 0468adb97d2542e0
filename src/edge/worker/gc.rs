//! The scheduled run (a Workers cron trigger, `[triggers]` in wrangler.toml): removes the OCI
//! blobs no manifest references any more (with their repository links) and abandoned upload
//! sessions, by [`crate::edge::registry::gc`]'s rules. A blob younger than `GC_GRACE` seconds
//! (default one hour) is kept: its manifest may still be on its way.

use std::collections::BTreeSet;

use worker::{console_error, console_log, Bucket, Env, Result};

use super::registry::list_objects;
use crate::edge::registry::{gc, keys, Manifest};

/// Every object under `prefix`, with its upload time in seconds.
async fn list(bucket: &Bucket, prefix: &str) -> Result<Vec<(String, u64)>> {
    let objects = list_objects(bucket, prefix, false, usize::MAX).await?;
    Ok(objects.iter().map(|o| (o.key(), o.uploaded().as_millis() / 1000)).collect())
}

/// One collection; logs what it removed.
pub(super) async fn run(env: &Env, now: u64) {
    if let Err(e) = collect(env, now).await {
        console_error!("chartgate: garbage collection failed: {e}");
    }
}

async fn collect(env: &Env, now: u64) -> Result<()> {
    let grace = env.var("GC_GRACE").ok().and_then(|v| v.to_string().trim().parse().ok()).unwrap_or(3600);
    let bucket = env.bucket("CHARTS")?;
    let repos = list(&bucket, "_oci/repos/").await?;
    let mut referenced = BTreeSet::new();
    for (key, _) in repos.iter().filter(|(k, _)| k.contains("/_manifests/")) {
        let Some(object) = bucket.get(key.as_str()).execute().await? else { continue };
        let Some(body) = object.body() else { continue };
        // An unreadable manifest keeps everything: its references are unknown.
        match Manifest::parse(&body.bytes().await?, None) {
            Ok(m) => referenced.extend(m.blobs.iter().chain(&m.foreign).map(keys::blob)),
            Err(e) => {
                console_error!("chartgate: gc: {key} cannot be read ({e}); nothing collected");
                return Ok(());
            }
        }
    }
    let mut objects = list(&bucket, "_oci/blobs/").await?;
    objects.extend(repos);
    let dead = gc::unreferenced(&objects, &referenced, now, grace);
    let expired = gc::expired_uploads(&list(&bucket, "_oci/uploads/").await?, now);
    for batch in dead.chunks(1000).chain(expired.chunks(1000)) {
        bucket.delete_multiple(batch.to_vec()).await?;
    }
    console_log!("chartgate: gc removed {} unreferenced blobs and links, {} upload objects", dead.len(), expired.len());
    Ok(())
}
