//! The OCI registry's glue: each allowed `/v2/` request turned into R2 reads and writes under the
//! rules of [`crate::edge::store::oci`] (storage layout, manifest checks, upload ranges, tag pages,
//! immutable tags, error codes). Blobs and manifests by digest are immutable and kept in the edge
//! cache under their repository's URL (never a credential); tags are read from R2 every time.
//!
//! One file per resource, as the reference registry's handlers: [`blobs`], [`uploads`],
//! [`manifests`], [`tags`], [`referrers`]; this file routes to them and holds what they share.

mod blobs;
mod manifests;
mod referrers;
mod tags;
mod uploads;

use futures_util::future::{join, join_all};
use futures_util::StreamExt;
use serde_json::Value;
use sha2::Digest as _;
use worker::{
    console_log, Bucket, Cache, Data, Headers, HttpMetadata, Method, Request, Response, ResponseBody, Result,
};

use super::apart;
use super::failure::{Failure, Reply};
use super::r2::list_objects;
use super::repo_ledger::LedgerClient;
use super::respond;
use super::Target;
use crate::edge::store::layout::{Key, Prefix};
use crate::edge::store::ledger::{Change, Op};
use crate::edge::store::oci::{
    check_chunk, check_tag_move, manifest_algorithm, query_tags, referrers_index, tags_page, upload_range, Chunks,
    Manifest, RegistryError, UploadSession, MAX_CHUNKS, MAX_MANIFEST, MAX_TAGS, OCI_INDEX, PART_SIZE, SINGLE_PUT_LIMIT,
};
use crate::edge::store::publish::check_pushed_chart;
use crate::edge::store::push::{commit_op, registry_error};
use crate::edge::ChartId;
use crate::edge::{CacheStatus, SECURITY_HEADERS};
use crate::{Algorithm, Digest, Endpoint, Reference, RepoName};

use respond::API_VERSION;
/// The largest helm chart config read (the chart's metadata: a few KiB in practice).
const MAX_CONFIG: u64 = 1024 * 1024;

/// What the edge cache keeps blobs and manifests by digest under (a client is told
/// [`Registry::client_cache_control`]).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Headers every registry response carries.
fn headers() -> Result<Headers> {
    let h = Headers::new();
    h.set(API_VERSION.0, API_VERSION.1)?;
    for (k, v) in SECURITY_HEADERS {
        h.set(k, v)?;
    }
    Ok(h)
}

fn empty(status: u16, h: Headers) -> Result<Response> {
    Ok(Response::empty()?.with_status(status).with_headers(h))
}

/// `GET /v2/`: the token was valid.
pub(super) fn base() -> Reply<(Response, CacheStatus)> {
    let h = headers()?;
    h.set("Content-Type", "application/json")?;
    h.set("Cache-Control", "private, no-store")?;
    Ok((Response::from_bytes(b"{}".to_vec())?.with_headers(h), CacheStatus::Miss))
}

/// One allowed registry request.
pub(super) async fn serve(
    req: Request,
    t: Target<'_>,
    repo: &RepoName,
    endpoint: &Endpoint,
) -> Reply<(Response, CacheStatus)> {
    let bucket = t.env.bucket("CHARTS")?;
    let r = Registry { bucket, origin: t.url.origin().to_owned(), repo, t, home: TagHome::of(&t, repo)? };
    let method = req.inner().method();
    let mut cache = CacheStatus::Miss;
    // Each endpoint is its own boxed future: a pull compiles the pull's code, not the upload's.
    let answer = match (endpoint, method.as_str()) {
        (Endpoint::Blob(d), "GET" | "HEAD") => apart(r.get_blob(&req, d, &mut cache)).await,
        (Endpoint::Blob(d), _) => apart(r.delete_blob(d)).await,
        (Endpoint::Manifest(reference), "GET" | "HEAD") => apart(r.get_manifest(&req, reference, &mut cache)).await,
        (Endpoint::Manifest(reference), "PUT") => apart(r.put_manifest(req, reference)).await,
        (Endpoint::Manifest(reference), _) => apart(r.delete_manifest(reference)).await,
        (Endpoint::StartUpload, _) => apart(r.start_upload(req)).await,
        (Endpoint::Upload(id), "GET") => apart(r.upload_status(id)).await,
        (Endpoint::Upload(id), "PATCH") => apart(r.patch_upload(req, id)).await,
        (Endpoint::Upload(id), "PUT") => apart(r.finish_upload(req, id)).await,
        (Endpoint::Upload(id), _) => apart(r.cancel_upload(id)).await,
        (Endpoint::Tags, _) => apart(r.tags()).await,
        (Endpoint::Referrers(d), _) => apart(r.referrers(d)).await,
    };
    match answer {
        Ok(response) => {
            response.headers().set(crate::edge::CACHE_STATUS_HEADER, cache.as_str())?;
            Ok((response, cache))
        }
        // Where an upload stands goes with a range refusal, so the client can resume.
        Err(Failure::Registry(e @ RegistryError::RangeInvalid(_))) => {
            let response = Failure::Registry(e).into_response()?;
            if let Endpoint::Upload(id) = endpoint {
                let size = r.session(id).await?.map_or(0, |(_, size, _)| size);
                response.headers().set("Location", &r.upload_location(id))?;
                response.headers().set("Range", &upload_range(size))?;
            }
            Ok((response, CacheStatus::Miss))
        }
        Err(e) => Err(e),
    }
}

/// One OCI repository's storage in R2, with the request context (the glue's working object; the
/// cross-protocol chart glue in [`super::charts`] uses it too).
pub(super) struct Registry<'a> {
    pub(super) bucket: Bucket,
    origin: String,
    repo: &'a RepoName,
    t: Target<'a>,
    home: TagHome,
}

/// Where an OCI repository's tags and visible manifests are recorded, decided once when the
/// repository is known: its chart repository's ledger (the authority then), or, for an OCI name
/// in no chart repository, R2.
enum TagHome {
    Ledger { ledger: LedgerClient, chart: String },
    R2,
}

impl TagHome {
    fn of(t: &Target<'_>, oci: &RepoName) -> Result<TagHome> {
        let Some((repo, chart)) = t.config.policy.layout().chart_of(oci) else { return Ok(TagHome::R2) };
        let Ok(repo) = RepoName::parse(repo) else { return Ok(TagHome::R2) };
        Ok(TagHome::Ledger { ledger: LedgerClient::new(t.env, &repo)?, chart: chart.to_owned() })
    }
}

fn query(url: &crate::edge::RequestUrl, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn content_length(req: &Request) -> Option<u64> {
    req.headers().get("Content-Length").ok().flatten().and_then(|v| v.trim().parse().ok())
}

fn parse_digest(text: Option<String>) -> std::result::Result<Digest, RegistryError> {
    let text = text.ok_or_else(|| RegistryError::DigestInvalid("the digest query parameter is required".into()))?;
    Digest::parse(&text).map_err(|e| RegistryError::DigestInvalid(e.to_string()))
}

impl<'a> Registry<'a> {
    /// The chart repository's ledger and the chart, when this OCI repository lies in a chart
    /// repository ([`TagHome`]).
    fn ledger(&self) -> Option<(&LedgerClient, &str)> {
        match &self.home {
            TagHome::Ledger { ledger, chart } => Some((ledger, chart)),
            TagHome::R2 => None,
        }
    }

    pub(super) fn new(t: Target<'a>, repo: &'a RepoName) -> Result<Registry<'a>> {
        Ok(Registry {
            bucket: t.env.bucket("CHARTS")?,
            origin: t.url.origin().to_owned(),
            repo,
            t,
            home: TagHome::of(&t, repo)?,
        })
    }

    /// What a client is told of content by digest: `public` only for a public repository.
    fn client_cache_control(&self) -> &'static str {
        let public = self.t.config.policy.is_public(&crate::Scope::oci(self.repo.clone(), crate::Action::Pull));
        crate::edge::registry_client_cache_control(public)
    }

    fn blob_location(&self, d: &Digest) -> String {
        format!("/v2/{}/blobs/{d}", self.repo)
    }
    fn upload_location(&self, id: &str) -> String {
        format!("/v2/{}/blobs/uploads/{id}", self.repo)
    }
    /// The edge cache key of content by digest: no hostname, no repository (the repository's own
    /// check, its blob link or its ledger, runs before the cache is read).
    pub(super) fn cache_key(&self, kind: &str, d: &Digest) -> String {
        crate::edge::store::layout::cache::content(kind, d)
    }

    /// True when the manifest `bytes` may take a tag pointing to `current` although the tag is
    /// immutable ([`Manifest::adds_provenance_to`]).
    pub(super) async fn adds_provenance(&self, bytes: &[u8], current: &Digest) -> Result<bool> {
        let Ok(new) = Manifest::parse(bytes, None) else { return Ok(false) };
        let Some(old) = self.read(Key::Manifest(self.repo, current).path()).await? else { return Ok(false) };
        Ok(Manifest::parse(&old, None).is_ok_and(|old| new.adds_provenance_to(&old)))
    }

    pub(super) async fn exists(&self, key: String) -> Result<bool> {
        Ok(self.bucket.head(key).await?.is_some())
    }

    /// An object's bytes, `None` when absent.
    /// An object of at most `limit` bytes, its size checked before it is read (R2's metadata):
    /// a larger one is refused, never read into memory.
    pub(super) async fn read_bounded(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<std::result::Result<Option<Vec<u8>>, RegistryError>> {
        match self.bucket.head(key).await? {
            Some(o) if o.size() > limit => Ok(Err(RegistryError::SizeInvalid(format!(
                "{} is {} bytes, more than {limit}",
                key.rsplit('/').next().unwrap_or(key),
                o.size()
            )))),
            Some(_) => Ok(Ok(self.read(key.to_owned()).await?)),
            None => Ok(Ok(None)),
        }
    }

    pub(super) async fn read(&self, key: String) -> Result<Option<Vec<u8>>> {
        let Some(object) = self.bucket.get(key).execute().await? else { return Ok(None) };
        match object.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(Some(Vec::new())),
        }
    }

    /// Every object under `prefix` (up to [`MAX_TAGS`]).
    async fn list(&self, prefix: &str, metadata: bool) -> Result<Vec<worker::Object>> {
        list_objects(&self.bucket, prefix, metadata, MAX_TAGS).await
    }
}

fn blob_headers(d: &Digest, size: u64) -> Result<Headers> {
    let h = headers()?;
    h.set("Content-Type", "application/octet-stream")?;
    h.set("Docker-Content-Digest", &d.to_string())?;
    h.set("ETag", &format!("\"{d}\""))?;
    h.set("Content-Length", &size.to_string())?;
    h.set("Accept-Ranges", "bytes")?;
    Ok(h)
}

/// The client's answer from a full stored blob: 304, a 206/416 range, or the whole blob.
async fn finish(req: &Request, mut stored: Response, d: &Digest, cache_control: &str) -> Result<Response> {
    let etag = format!("\"{d}\"");
    if crate::edge::etag_matches(req.headers().get("If-None-Match")?.as_deref(), &etag) {
        return empty(304, blob_headers(d, 0)?);
    }
    let head = req.method() == Method::Head;
    if let Some(range) = req.headers().get("Range")? {
        let bytes = stored.bytes().await?;
        let size = bytes.len() as u64;
        let h = blob_headers(d, size)?;
        h.set("Cache-Control", cache_control)?;
        return match crate::edge::parse_range(Some(&range), size) {
            Err(()) => {
                h.set("Content-Range", &format!("bytes */{size}"))?;
                h.delete("Content-Length")?;
                empty(416, h)
            }
            Ok(Some(r)) => {
                h.set("Content-Range", &r.content_range(size))?;
                h.set("Content-Length", &(r.end - r.start + 1).to_string())?;
                let part = if head { Vec::new() } else { bytes[r.start as usize..=r.end as usize].to_vec() };
                Ok(Response::from_bytes(part)?.with_status(206).with_headers(h))
            }
            Ok(None) => Ok(Response::from_bytes(if head { Vec::new() } else { bytes })?.with_headers(h)),
        };
    }
    let size = stored.headers().get("Content-Length")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let h = blob_headers(d, size)?;
    h.set("Cache-Control", cache_control)?;
    let (_, body) = stored.into_parts();
    let body = if head { ResponseBody::Empty } else { body };
    Ok(Response::from_body(body)?.with_headers(h))
}
