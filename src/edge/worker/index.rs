//! A chart repository's `index.yaml` in R2, as the edge keeps it when it is the chart server: read
//! ([`crate::edge::publish::Index`]), changed by compare-and-swap on its ETag (retried on a
//! concurrent change: R2 already holds the index and its conditional writes serialise them, which a
//! Durable Object per repository would only duplicate), and the charts pushed over OCI that it
//! lists (found here for the archive's HTTP route, which serves the same stored blob).

use std::time::Duration;

use worker::{Conditional, Delay, HttpMetadata, Result};

use super::stale::{purge, purge_cache};
use super::Target;
use crate::edge::publish::{listed_archive, oci_entry, Index, PublishError, INDEX_ATTEMPTS};
use crate::edge::ChartId;
use crate::{Digest, RepoName};

pub(super) fn index_key(repo: &RepoName) -> String {
    format!("{repo}/index.yaml")
}

pub(super) async fn stored_index(
    t: &Target<'_>,
    repo: &RepoName,
) -> Result<std::result::Result<(Index, Option<String>), PublishError>> {
    let bucket = t.env.bucket("CHARTS")?;
    let Some(object) = bucket.get(index_key(repo)).execute().await? else { return Ok(Ok((Index::empty(), None))) };
    let etag = object.etag();
    let bytes = match object.body() {
        Some(b) => b.bytes().await?,
        None => Vec::new(),
    };
    Ok(Index::parse(Some(&bytes)).map(|i| (i, Some(etag))))
}

/// Edits the index with `change` and writes it back only if nobody wrote it meanwhile; retried
/// with a growing pause when someone did. `change` says whether it changed anything: an index it
/// left as it was is not written.
pub(super) async fn update_index(
    t: &Target<'_>,
    repo: &RepoName,
    change: impl Fn(&mut Index) -> std::result::Result<bool, PublishError>,
) -> Result<std::result::Result<(), PublishError>> {
    let bucket = t.env.bucket("CHARTS")?;
    for attempt in 0..INDEX_ATTEMPTS {
        let (mut index, etag) = match stored_index(t, repo).await? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        match change(&mut index) {
            Ok(true) => {}
            Ok(false) => return Ok(Ok(())),
            Err(e) => return Ok(Err(e)),
        }
        let condition = match etag {
            Some(etag) => Conditional { etag_matches: Some(etag), ..Default::default() },
            // Create it only if it still does not exist.
            None => Conditional { etag_does_not_match: Some("*".into()), ..Default::default() },
        };
        let generated = String::from(js_sys::Date::new_0().to_iso_string());
        let metadata = HttpMetadata { content_type: Some("application/x-yaml".into()), ..Default::default() };
        let put = bucket.put(index_key(repo), index.to_bytes(&generated)).http_metadata(metadata).only_if(condition);
        if put.execute().await?.is_some() {
            purge_cache(t.url, &[index_key(repo)]).await;
            return Ok(Ok(()));
        }
        let pause = 5 * (1 << attempt.min(6)) + (js_sys::Math::random() * 20.0) as u64;
        Delay::from(Duration::from_millis(pause)).await;
    }
    Ok(Err(PublishError::Contention(INDEX_ATTEMPTS)))
}

/// The chart the index lists for an archive file (`hello-0.1.0.tgz`), with the OCI repository it
/// was pushed to and its archive's digest: where the HTTP route of a chart pushed over OCI finds it.
pub(super) async fn listed_oci(
    t: &Target<'_>,
    repo: &RepoName,
    file: &str,
) -> Result<Option<(RepoName, ChartId, Digest)>> {
    let Ok((index, _)) = stored_index(t, repo).await? else { return Ok(None) };
    let Some((chart, digest_hex)) = listed_archive(&index, file) else { return Ok(None) };
    let (Some(oci), Ok(digest)) =
        (t.config.policy.layout().oci_of(repo, &chart.name), Digest::parse(&format!("sha256:{digest_hex}")))
    else {
        return Ok(None);
    };
    Ok(Some((oci, chart, digest)))
}

/// Lists a chart pushed over OCI (`tag` on the OCI repository `oci`) in its chart repository's
/// `index.yaml`, from the manifest's config (the chart's metadata) and archive layer; a version
/// already listed stays as it is. Failures are logged: the push itself has succeeded.
pub(super) async fn list_oci_push(t: Target<'_>, oci: &RepoName, tag: &str, config: Vec<u8>, layer: &Digest) {
    let layout = t.config.policy.layout();
    let Some((chart_repo, chart)) = layout.chart_of(oci) else { return };
    let Ok(chart_repo) = RepoName::parse(chart_repo) else { return };
    let created = String::from(js_sys::Date::new_0().to_iso_string());
    let Some((id, listed)) = oci_entry(&config, chart, tag, layer.hex(), &created) else { return };
    let add = |index: &mut Index| {
        if index.has(&id) {
            return Ok(false);
        }
        index.add(&id, listed.clone(), false).map(|()| true)
    };
    match update_index(&t, &chart_repo, add).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => worker::console_error!("chartgate: listing {oci}:{tag} in {chart_repo}/index.yaml: {e}"),
        Err(e) => worker::console_error!("chartgate: listing {oci}:{tag} in {chart_repo}/index.yaml: {e}"),
    }
}

/// Unlists a chart whose OCI manifest was deleted: the entry of its chart repository's index whose
/// archive digest is the manifest's chart layer, and the archive and provenance file an upload
/// through the API stored for it, so nothing of it stays downloadable. Failures are logged.
pub(super) async fn unlist_oci(t: Target<'_>, oci: &RepoName, layer: &Digest) {
    let layout = t.config.policy.layout();
    let Some((chart_repo, chart)) = layout.chart_of(oci) else { return };
    let Ok(chart_repo) = RepoName::parse(chart_repo) else { return };
    let unlisted = std::cell::RefCell::new(Vec::new());
    let remove = |index: &mut Index| {
        let removed = index.remove_digest(chart, layer.hex());
        let changed = !removed.is_empty();
        *unlisted.borrow_mut() = removed;
        Ok(changed)
    };
    match update_index(&t, &chart_repo, remove).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return worker::console_error!("chartgate: unlisting {oci} from {chart_repo}/index.yaml: {e}"),
        Err(e) => return worker::console_error!("chartgate: unlisting {oci} from {chart_repo}/index.yaml: {e}"),
    }
    let stale: Vec<String> = unlisted
        .into_inner()
        .iter()
        .flat_map(|id| {
            let key = format!("{chart_repo}/{}", id.file_name());
            [format!("{key}.prov"), key]
        })
        .collect();
    purge(t.env, t.url, &stale).await;
}
