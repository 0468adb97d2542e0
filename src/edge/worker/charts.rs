//! One publish, two protocols, on the registry's side: an upload through ChartMuseum's API made
//! pullable over OCI as helm would have pushed it (and removed with it), a provenance file that
//! arrives later added to the chart's manifest, and the HTTP routes of a chart pushed over OCI
//! (archive and provenance file) served from the registry's blobs. The index's side is
//! [`super::index`].

use worker::{Cache, Data, HttpMetadata, Result};

use super::registry::Registry;
use super::Target;
use crate::edge::publish::with_provenance;
use crate::edge::registry::{keys, Manifest, OCI_MANIFEST};
use crate::{Algorithm, Digest, Reference, RepoName};

/// Makes an uploaded chart pullable over OCI as helm would have pushed it (config, archive layer,
/// manifest, tag) in the OCI repository `oci`. A tag that already points elsewhere and may not
/// move (`IMMUTABLE_TAGS`) is left as it is. Failures are logged: the upload itself has succeeded.
pub(super) async fn publish_chart(t: Target<'_>, oci: &RepoName, tag: &str, blobs: Vec<Vec<u8>>, manifest: Vec<u8>) {
    let result: Result<()> = async {
        let r = Registry::new(t, oci)?;
        for blob in blobs {
            let d = Digest::of(Algorithm::Sha256, &blob);
            if let Err(e) = r.put_blob(Data::Bytes(blob), &d).await? {
                return Err(worker::Error::RustError(e.to_string()));
            }
        }
        let d = Digest::of(Algorithm::Sha256, &manifest);
        if let Some(current) = r.resolve(&Reference::Tag(tag.to_owned())).await? {
            if current != d && t.config.immutable_tags.protects(tag) && !r.adds_provenance(&manifest, &current).await? {
                worker::console_log!("chartgate: {oci}:{tag} already points to another manifest; left as it is");
                return Ok(());
            }
        }
        let metadata = HttpMetadata { content_type: Some(OCI_MANIFEST.into()), ..Default::default() };
        r.bucket.put(keys::manifest(oci, &d), manifest).http_metadata(metadata).execute().await?;
        let meta = std::collections::HashMap::from([("digest".to_owned(), d.to_string())]);
        r.bucket.put(keys::tag(oci, tag), d.to_string()).custom_metadata(meta).execute().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        worker::console_error!("chartgate: publishing {oci}:{tag} over OCI failed: {e}");
    }
}

/// Adds a provenance file uploaded after its chart to the chart's OCI form: the manifest `tag`
/// points to, if its archive layer is the listed archive (`layer_hex`), re-published with helm's
/// provenance layer. Failures are logged: the provenance file itself is stored.
pub(super) async fn sign_chart(t: Target<'_>, oci: &RepoName, tag: &str, layer_hex: &str, prov: Vec<u8>) {
    let current: Result<Option<Vec<u8>>> = async {
        let r = Registry::new(t, oci)?;
        let Some(d) = r.resolve(&Reference::Tag(tag.to_owned())).await? else { return Ok(None) };
        let Some(bytes) = r.read(keys::manifest(oci, &d)).await? else { return Ok(None) };
        let ours =
            Manifest::parse(&bytes, None).ok().and_then(|m| m.helm_chart).is_some_and(|(_, l)| l.hex() == layer_hex);
        Ok(ours.then_some(bytes))
    }
    .await;
    match current {
        Ok(Some(bytes)) => {
            if let Some(signed) = with_provenance(&bytes, &prov) {
                publish_chart(t, oci, tag, vec![prov], signed).await;
            }
        }
        Ok(None) => {}
        Err(e) => worker::console_error!("chartgate: adding provenance to {oci}:{tag} failed: {e}"),
    }
}

/// The HTTP route of a chart pushed over OCI: the archive (`hello-0.1.0.tgz`) is the blob the
/// chart repository's index lists for it, read only if it is linked into the chart's OCI
/// repository (so an index entry can never reach a blob of another repository); its provenance
/// file (`hello-0.1.0.tgz.prov`) is the provenance layer of the manifest its version's tag names,
/// if that manifest's archive is the listed one.
pub(super) async fn pushed_chart_file(t: Target<'_>, repo: &RepoName, file: &str) -> Result<Option<worker::Object>> {
    let (archive, prov) = match file.strip_suffix(".prov") {
        Some(archive) => (archive, true),
        None => (file, false),
    };
    let Some((oci, chart, digest)) = super::index::listed_oci(&t, repo, archive).await? else { return Ok(None) };
    let r = Registry::new(t, &oci)?;
    if !prov {
        if !r.exists(keys::link(&oci, &digest)).await? {
            return Ok(None);
        }
        return r.bucket.get(keys::blob(&digest)).execute().await;
    }
    let Some(d) = r.resolve(&Reference::Tag(chart.tag())).await? else { return Ok(None) };
    let Some(bytes) = r.read(keys::manifest(&oci, &d)).await? else { return Ok(None) };
    let Ok(manifest) = Manifest::parse(&bytes, None) else { return Ok(None) };
    let (Some((_, layer)), Some(prov)) = (manifest.helm_chart, manifest.helm_prov) else { return Ok(None) };
    if layer != digest || !r.exists(keys::link(&oci, &prov)).await? {
        return Ok(None);
    }
    r.bucket.get(keys::blob(&prov)).execute().await
}

/// Removes an uploaded chart's OCI form when the chart is deleted through ChartMuseum's API: the
/// tag and the manifest it points to, if that manifest's archive layer is the deleted archive
/// (`layer_hex`). Its blobs go with the next garbage collection. Failures are logged.
pub(super) async fn unpublish_chart(t: Target<'_>, oci: &RepoName, tag: &str, layer_hex: &str) {
    let result: Result<()> = async {
        let r = Registry::new(t, oci)?;
        let Some(d) = r.resolve(&Reference::Tag(tag.to_owned())).await? else { return Ok(()) };
        let Some(bytes) = r.read(keys::manifest(oci, &d)).await? else { return Ok(()) };
        let ours =
            Manifest::parse(&bytes, None).ok().and_then(|m| m.helm_chart).is_some_and(|(_, l)| l.hex() == layer_hex);
        if ours {
            r.bucket.delete_multiple(vec![keys::tag(oci, tag), keys::manifest(oci, &d)]).await?;
            Cache::default().delete(r.cache_key("manifests", &d), true).await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        worker::console_error!("chartgate: removing {oci}:{tag} over OCI failed: {e}");
    }
}
