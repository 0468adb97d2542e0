//! The scheduled run (a Workers cron trigger, `[triggers]` in wrangler.toml): removes the OCI
//! blobs no manifest references any more (with their repository links) and abandoned upload
//! sessions, by [`crate::edge::store::oci::gc`]'s rules. In an OCI repository that lies in a chart
//! repository, what counts as referenced is the ledger's view: a stored manifest no commit made
//! visible (or one a delete unlisted) references nothing and goes. An object younger than
//! `GC_GRACE` seconds (default one hour) is kept: its manifest or commit may still be on its way.

use std::collections::BTreeSet;

use worker::{console_error, console_log, Bucket, Env, Result};

use super::r2::list_objects;
use super::repo_ledger::LedgerClient;
use crate::edge::store::layout::{Key, Listed, Prefix};
use crate::edge::store::oci::{gc, Manifest};
use crate::RepoName;

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
    let repos = list(&bucket, &Prefix::Repos.path()).await?;
    let mut referenced = BTreeSet::new();
    let mut unlisted = Vec::new();
    let layout_source = super::isolate::isolate(env).map_err(worker::Error::RustError)?;
    let layout = layout_source.config.policy.layout();
    // Each chart repository's visible manifests, asked of its ledger once.
    let mut visible: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for (key, uploaded) in &repos {
        let Some(Listed::Manifest { repo: oci, digest }) = Key::parse(key) else { continue };
        let digest = digest.to_string();
        // A chart repository's own name keeps the manifests of its charts that have no OCI name
        // (served over HTTP only): its ledger says which are visible too.
        let chart_repo = RepoName::parse(&oci).ok().and_then(|o| match layout.chart_of(&o) {
            Some((r, _)) => Some(r.to_owned()),
            None if o.as_str().matches('/').count() + 1 == layout.depth.segments() => Some(o.to_string()),
            None => None,
        });
        if let Some(repo) = chart_repo {
            if !visible.contains_key(&repo) {
                let listed = match RepoName::parse(&repo) {
                    Ok(name) => LedgerClient::new(env, &name)?.referenced().await?,
                    Err(_) => Vec::new(),
                };
                visible.insert(repo.clone(), listed.into_iter().collect());
            }
            if !visible[&repo].contains(&digest) {
                // Stored but never committed, or unlisted by a delete: no reference.
                if now.saturating_sub(*uploaded) >= grace {
                    unlisted.push(key.clone());
                }
                continue;
            }
        }
        let Some(object) = bucket.get(key.as_str()).execute().await? else { continue };
        let Some(body) = object.body() else { continue };
        // An unreadable manifest keeps everything: its references are unknown.
        match Manifest::parse(&body.bytes().await?, None) {
            Ok(m) => referenced.extend(m.blobs.iter().chain(&m.foreign).map(|d| Key::Blob(d).path())),
            Err(e) => {
                console_error!("chartgate: gc: {key} cannot be read ({e}); nothing collected");
                return Ok(());
            }
        }
    }
    let mut objects = list(&bucket, &Prefix::Blobs.path()).await?;
    objects.extend(repos);
    let mut dead = gc::unreferenced(&objects, &referenced, now, grace);
    dead.extend(unlisted);
    let expired = gc::expired_uploads(&list(&bucket, &Prefix::Uploads.path()).await?, now);
    for batch in dead.chunks(1000).chain(expired.chunks(1000)) {
        bucket.delete_multiple(batch.to_vec()).await?;
    }
    console_log!(
        "chartgate: gc removed {} unreferenced blobs, links and manifests, {} upload objects",
        dead.len(),
        expired.len()
    );
    Ok(())
}
