//! One publish, two protocols: the content of a chart stored by digest before its commit, and the
//! HTTP routes of the chart repositories the edge keeps, derived from the ledger. An upload
//! through ChartMuseum's API is stored as helm would push it (config, archive and provenance
//! layers, manifest, linked into the chart's OCI repository); a provenance file that arrives later
//! gets the manifest that carries it. Nothing stored here is visible until the ledger commits it
//! ([`super::ledger`]); what a refused commit leaves is the garbage collector's.
//! What the edge cache holds for these routes, and for how long, is [`super::cache`]'s.

use sha2::Digest as _;
use worker::{Cache, Data, Headers, HttpMetadata, Response, ResponseBody, Result};

use super::cache::{remember, resolved, RESOLVE_TTL};
use super::failure::Reply;
use super::registry::Registry;
use super::repo_ledger::LedgerClient;
use super::Target;
use crate::edge::store::layout::{cache as cache_key, Key};
use crate::edge::store::ledger::{ChartMeta, Release};
use crate::edge::store::oci::OCI_MANIFEST;
use crate::edge::store::publish::{oci_artifacts, with_provenance};
use crate::edge::{CacheStatus, ChartId};
use crate::{Algorithm, Digest, RepoName, Route};

/// Where a chart of `repo` keeps its manifests, and whether it has an OCI repository: a chart
/// whose name cannot be an OCI repository name (helm allows `Workspace`, OCI only lower case) is
/// served over HTTP only; its manifests are kept under the chart repository's own name, where the
/// garbage collector asks the repository's ledger about them, and its blobs are linked nowhere.
fn home_of(t: &Target<'_>, repo: &RepoName, chart: &str) -> (RepoName, bool) {
    match t.config.policy.layout().oci_of(repo, chart) {
        Some(oci) => (oci, true),
        None => (repo.clone(), false),
    }
}

/// Stores `bytes` by digest (R2 checks it), linked into no repository: a refused commit leaves it
/// reachable nowhere ([`link_release`] links it after the commit).
async fn store_blob(r: &Registry<'_>, bytes: Vec<u8>) -> Reply<Digest> {
    let d = Digest::of(Algorithm::Sha256, &bytes);
    r.put_content(Data::Bytes(bytes), &d).await?;
    Ok(d)
}

/// After its commit: a release's archive, config and provenance file linked into its chart's OCI
/// repository, so OCI clients read what the ledger lists.
pub(super) async fn link_release(t: &Target<'_>, repo: &RepoName, release: &Release) -> Result<()> {
    let (oci, linked) = home_of(t, repo, &release.meta.name);
    if !linked {
        return Ok(());
    }
    let r = Registry::new(*t, &oci)?;
    for d in [Some(&release.archive), Some(&release.config), release.prov.as_ref()].into_iter().flatten() {
        if let Ok(d) = Digest::parse(d) {
            r.link(&d).await?;
        }
    }
    Ok(())
}

/// Stores a manifest in `oci` by digest.
async fn store_manifest(r: &Registry<'_>, oci: &RepoName, bytes: Vec<u8>) -> Result<Digest> {
    let d = Digest::of(Algorithm::Sha256, &bytes);
    let metadata = HttpMetadata { content_type: Some(OCI_MANIFEST.into()), ..Default::default() };
    r.bucket.put(Key::Manifest(oci, &d).path(), bytes).http_metadata(metadata).execute().await?;
    Ok(d)
}

/// Stores an uploaded archive (and provenance file) as helm would push it, before its commit, and
/// returns the release to commit. The config is the chart's typed metadata, never the whole
/// `Chart.yaml`.
pub(super) async fn store_upload(
    t: &Target<'_>,
    repo: &RepoName,
    meta: ChartMeta,
    tgz: Vec<u8>,
    prov: Option<Vec<u8>>,
) -> Reply<Release> {
    let id = ChartId { name: meta.name.clone(), version: meta.version.clone() };
    let (oci, _) = home_of(t, repo, &id.name);
    let r = Registry::new(*t, &oci)?;
    let (config, manifest, _) = oci_artifacts(&meta.to_json(), &id, &tgz, prov.as_deref());
    let archive = store_blob(&r, tgz).await?;
    let config = store_blob(&r, config).await?;
    let prov = match prov {
        Some(p) => Some(store_blob(&r, p).await?.to_string()),
        None => None,
    };
    let manifest = store_manifest(&r, &oci, manifest).await?;
    Ok(Release {
        meta,
        archive: archive.to_string(),
        prov,
        config: config.to_string(),
        manifest: manifest.to_string(),
        created: String::from(js_sys::Date::new_0().to_iso_string()),
        entry: None,
    })
}

/// Stores a provenance file for `release` and the manifest that adds it as helm's provenance
/// layer, before their commit: the digests of both.
pub(super) async fn store_signature(
    t: &Target<'_>,
    repo: &RepoName,
    release: &Release,
    prov: Vec<u8>,
) -> Reply<Option<(Digest, Digest)>> {
    let (oci, _) = home_of(t, repo, &release.meta.name);
    let r = Registry::new(*t, &oci)?;
    let Ok(current) = Digest::parse(&release.manifest) else { return Ok(None) };
    let Some(bytes) = r.read(Key::Manifest(&oci, &current).path()).await? else { return Ok(None) };
    let Some(signed) = with_provenance(&bytes, &prov) else { return Ok(None) };
    let prov = store_blob(&r, prov).await?;
    let manifest = store_manifest(&r, &oci, signed).await?;
    Ok(Some((prov, manifest)))
}

/// `index.yaml`, or an archive or provenance file, of a repository the edge keeps (no
/// `ORIGIN_URL`): derived from the ledger, content by digest from the edge cache or R2. The full
/// stored response and where it came from, `None` when the ledger lists no such file.
pub(super) async fn lookup(t: Target<'_>) -> Result<Option<(Response, CacheStatus)>> {
    let cache = Cache::default();
    let (repo, file) = match t.route {
        Route::Index { repo } => {
            let key = cache_key::index(repo);
            if let Some(hit) = cache.get(key.as_str(), true).await? {
                return Ok(Some((hit, CacheStatus::Hit)));
            }
            let bytes = LedgerClient::new(t.env, repo)?.index().await?;
            let etag = format!("\"{}\"", crate::hex(&sha2::Sha256::digest(&bytes)[..16]));
            let mut stored = stored(ResponseBody::Body(bytes), &etag, t)?;
            cache.put(key.as_str(), stored.cloned()?).await?;
            return Ok(Some((stored, CacheStatus::Miss)));
        }
        Route::Artifact { repo, file } => (repo, file),
        _ => return Ok(None),
    };
    let Some(digest) = resolve(t, repo, file).await? else { return Ok(None) };
    let key = cache_key::content("files", &digest);
    if let Some(hit) = cache.get(key.as_str(), true).await? {
        return Ok(Some((hit, CacheStatus::Hit)));
    }
    let bucket = t.env.bucket("CHARTS")?;
    let Some(object) = bucket.get(Key::Blob(&digest).path()).execute().await? else { return Ok(None) };
    let body = object.body().ok_or_else(|| worker::Error::RustError("R2 object without body".into()))?;
    let mut stored = stored(body.response_body()?, &format!("\"{digest}\""), t)?;
    cache.put(key.as_str(), stored.cloned()?).await?;
    Ok(Some((stored, CacheStatus::R2)))
}

/// The copy the edge cache keeps (its rules, no client headers).
fn stored(body: ResponseBody, etag: &str, t: Target<'_>) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", crate::edge::content_type(t.route))?;
    headers.set("Cache-Control", &crate::edge::edge_cache_control(t.route, t.config.index_ttl))?;
    headers.set("ETag", etag)?;
    Ok(Response::from_body(body)?.with_headers(headers))
}

/// The content digest an HTTP file names, through the ledger (kept in this isolate's memory and
/// in the edge cache, each at most [`RESOLVE_TTL`] seconds).
async fn resolve(t: Target<'_>, repo: &RepoName, file: &str) -> Result<Option<Digest>> {
    let key = cache_key::resolve(repo, file);
    let now = super::isolate::now_secs();
    if let Some(d) = resolved(&key, now) {
        return Ok(Some(d));
    }
    let cache = Cache::default();
    if let Some(mut hit) = cache.get(key.as_str(), true).await? {
        if let Ok(d) = Digest::parse(hit.text().await?.trim()) {
            remember(key, d.clone(), now);
            return Ok(Some(d));
        }
    }
    let Some((_, digest)) = LedgerClient::new(t.env, repo)?.file(file).await? else { return Ok(None) };
    remember(key.clone(), digest.clone(), now);
    let headers = Headers::new();
    headers.set("Cache-Control", &format!("public, max-age={RESOLVE_TTL}"))?;
    let entry = Response::from_bytes(digest.to_string().into_bytes())?.with_headers(headers);
    cache.put(key.as_str(), entry).await?;
    Ok(Some(digest))
}
