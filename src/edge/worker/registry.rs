//! The OCI registry's glue: each allowed `/v2/` request turned into R2 reads and writes under the
//! rules of [`crate::edge::store::oci`] (storage layout, manifest checks, upload ranges, tag pages,
//! immutable tags, error codes). Blobs and manifests by digest are immutable and kept in the edge
//! cache under their repository's URL (never a credential); tags are read from R2 every time.

use futures_util::future::{join, join_all};
use futures_util::StreamExt;
use serde_json::Value;
use sha2::Digest as _;
use worker::{Bucket, Cache, Data, Headers, HttpMetadata, Method, Request, Response, ResponseBody, Result};

use super::apart;
use super::failure::{Failure, Reply};
use super::r2::list_objects;
use super::repo_ledger::LedgerClient;
use super::respond;
use super::Target;
use crate::edge::store::layout::{Key, Prefix};
use crate::edge::store::ledger::{Change, Op};
use crate::edge::store::oci::{
    check_chunk, check_tag_move, commit_op, manifest_algorithm, query_tags, referrers_index, registry_error, tags_page,
    upload_range, Chunks, Manifest, RegistryError, UploadSession, MAX_CHUNKS, MAX_MANIFEST, MAX_TAGS, OCI_INDEX,
    PART_SIZE, SINGLE_PUT_LIMIT,
};
use crate::edge::store::publish::check_pushed_chart;
use crate::edge::ChartId;
use crate::edge::{CacheStatus, SECURITY_HEADERS};
use crate::{Algorithm, Digest, Endpoint, Reference, RepoName};

use respond::API_VERSION;
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
    let r = Registry { bucket, origin: t.url.origin().to_owned(), repo, t };
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
}

fn query(url: &crate::edge::RequestUrl, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn parse_digest(text: Option<String>) -> std::result::Result<Digest, RegistryError> {
    let text = text.ok_or_else(|| RegistryError::DigestInvalid("the digest query parameter is required".into()))?;
    Digest::parse(&text).map_err(|e| RegistryError::DigestInvalid(e.to_string()))
}

fn content_length(req: &Request) -> Option<u64> {
    req.headers().get("Content-Length").ok().flatten().and_then(|v| v.trim().parse().ok())
}

/// A request body for R2: streamed when its length is declared (R2 needs a known length), read
/// otherwise, up to [`UNDECLARED_LIMIT`] bytes (more is `413`: declare `Content-Length`).
async fn body_data(req: &mut Request) -> Reply<Data> {
    match (content_length(req), req.inner().body()) {
        (Some(0), _) | (_, None) => Ok(Data::Empty),
        (Some(_), Some(stream)) => Ok(Data::ReadableStream(stream)),
        (None, Some(_)) => match super::body::read_bounded(req, UNDECLARED_LIMIT).await? {
            Some(bytes) => Ok(Data::Bytes(bytes)),
            None => Err(RegistryError::SizeInvalid(format!(
                "a body without Content-Length is read into memory, at most {UNDECLARED_LIMIT} bytes: declare Content-Length or send chunks"
            )).into()),
        },
    }
}

/// The most a blob body without `Content-Length` may hold (it is read into memory).
const UNDECLARED_LIMIT: usize = PART_SIZE;

/// True when R2 refused a write because its checksum did not match.
fn checksum_mismatch(e: &worker::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("checksum") || text.contains("baddigest") || text.contains("digest")
}

impl<'a> Registry<'a> {
    pub(super) fn new(t: Target<'a>, repo: &'a RepoName) -> Result<Registry<'a>> {
        Ok(Registry { bucket: t.env.bucket("CHARTS")?, origin: t.url.origin().to_owned(), repo, t })
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
    pub(super) async fn read(&self, key: String) -> Result<Option<Vec<u8>>> {
        let Some(object) = self.bucket.get(key).execute().await? else { return Ok(None) };
        match object.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(Some(Vec::new())),
        }
    }

    // ---- blobs ----

    async fn get_blob(&self, req: &Request, d: &Digest, cache_status: &mut CacheStatus) -> Reply {
        // The link first, in R2 (the same everywhere): a blob deleted from this repository, or held
        // only by another, is unknown here whatever any edge cache keeps by digest.
        if !self.exists(Key::Link(self.repo, d).path()).await? {
            return Err(RegistryError::BlobUnknown.into());
        }
        let cache = Cache::default();
        let cache_key = self.cache_key("blobs", d);
        if let Some(hit) = cache.get(cache_key.as_str(), true).await? {
            *cache_status = CacheStatus::Hit;
            return Ok(finish(req, hit, d, self.client_cache_control()).await?);
        }
        *cache_status = CacheStatus::R2;
        if req.method() == Method::Head {
            let Some(object) = self.bucket.head(Key::Blob(d).path()).await? else {
                return Err(RegistryError::BlobUnknown.into());
            };
            let h = blob_headers(d, object.size())?;
            return Ok(empty(200, h)?);
        }
        let Some(object) = self.bucket.get(Key::Blob(d).path()).execute().await? else {
            return Err(RegistryError::BlobUnknown.into());
        };
        let size = object.size();
        let body = object.body().ok_or_else(|| worker::Error::RustError("R2 blob without body".into()))?;
        let h = blob_headers(d, size)?;
        h.set("Cache-Control", IMMUTABLE)?;
        let mut stored = Response::from_body(body.response_body()?)?.with_headers(h);
        cache.put(cache_key.as_str(), stored.cloned()?).await?;
        Ok(finish(req, stored, d, self.client_cache_control()).await?)
    }

    async fn delete_blob(&self, d: &Digest) -> Reply {
        let link = Key::Link(self.repo, d).path();
        if !self.exists(link.clone()).await? {
            return Err(RegistryError::BlobUnknown.into());
        }
        self.bucket.delete(link).await?;
        Cache::default().delete(self.cache_key("blobs", d), true).await?;
        Ok(empty(202, headers()?)?)
    }

    /// Writes a blob from one request body, R2 checking the digest: nothing is stored when it
    /// does not match. Then links it into the repository.
    pub(super) async fn put_blob(&self, data: Data, d: &Digest) -> Reply<()> {
        self.put_content(data, d).await?;
        self.link(d).await?;
        Ok(())
    }

    /// Links stored content into this repository: from then on its blob reads find it.
    pub(super) async fn link(&self, d: &Digest) -> Result<()> {
        self.bucket.put(Key::Link(self.repo, d).path(), Data::Empty).execute().await?;
        Ok(())
    }

    /// Stores content under its digest only (R2 checks it): reachable through no repository until
    /// [`Registry::link`]ed.
    pub(super) async fn put_content(&self, data: Data, d: &Digest) -> Reply<()> {
        let put = self.bucket.put(Key::Blob(d).path(), data);
        let put = match d.algorithm() {
            Algorithm::Sha256 => put.sha256(d.raw()),
            Algorithm::Sha512 => put.sha512(d.raw()),
        };
        if let Err(e) = put.execute().await {
            if checksum_mismatch(&e) {
                return Err(RegistryError::DigestInvalid(format!("the uploaded content is not {d}")).into());
            }
            return Err(e.into());
        }
        Ok(())
    }

    fn created(&self, d: &Digest) -> Result<Response> {
        let h = headers()?;
        h.set("Location", &self.blob_location(d))?;
        h.set("Docker-Content-Digest", &d.to_string())?;
        empty(201, h)
    }

    // ---- uploads ----

    async fn start_upload(&self, mut req: Request) -> Reply {
        let url = self.t.url;
        if let (Some(mount), Some(from)) = (query(url, "mount"), self.t.mount_from) {
            // A mount is allowed by the decision only when the token may pull from `from`; the
            // blob must also be in `from`. Otherwise it becomes a plain upload (the spec's 202).
            if let Ok(d) = Digest::parse(&mount) {
                if self.exists(Key::Link(from, &d).path()).await? && self.exists(Key::Blob(&d).path()).await? {
                    self.bucket.put(Key::Link(self.repo, &d).path(), Data::Empty).execute().await?;
                    return Ok(self.created(&d)?);
                }
            }
        }
        if query(url, "digest").is_some() {
            let d = parse_digest(query(url, "digest"))?;
            let data = body_data(&mut req).await?;
            self.put_blob(data, &d).await?;
            return Ok(self.created(&d)?);
        }
        let id = upload_id()?;
        let session = UploadSession {
            repo: self.repo.to_string(),
            started: super::isolate::now_secs(),
            counted: Some(Chunks::default()),
        };
        self.save_session(&id, &session).await?;
        Ok(self.accepted(&id, 0)?)
    }

    fn accepted(&self, id: &str, size: u64) -> Result<Response> {
        let h = headers()?;
        h.set("Location", &self.upload_location(id))?;
        h.set("Range", &upload_range(size))?;
        h.set("Docker-Upload-UUID", id)?;
        empty(202, h)
    }

    async fn save_session(&self, id: &str, session: &UploadSession) -> Result<()> {
        let record = serde_json::to_vec(session).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.bucket.put(Key::Upload(id).path(), record).execute().await?;
        Ok(())
    }

    /// The session, its size so far and its chunks' keys, or `None` when unknown, expired or of
    /// another repository (an expired session's objects are removed). The record counts its
    /// chunks: one read, whatever their number.
    async fn session(&self, id: &str) -> Result<Option<(UploadSession, u64, Vec<String>)>> {
        let Some(bytes) = self.read(Key::Upload(id).path()).await? else { return Ok(None) };
        let Ok(session) = serde_json::from_slice::<UploadSession>(&bytes) else { return Ok(None) };
        let (size, names) = match session.counted {
            Some(c) => (c.size, (0..c.count).map(|n| Key::Chunk(id, n).path()).collect()),
            // A record from before sessions counted their chunks: every page of them.
            None => {
                let objects =
                    list_objects(&self.bucket, &format!("{}/", Key::Upload(id).path()), false, MAX_CHUNKS + 1).await?;
                (objects.iter().map(|o| o.size()).sum(), objects.iter().map(|o| o.key()).collect())
            }
        };
        match UploadSession::check(&bytes, self.repo, super::isolate::now_secs()) {
            Ok(session) => Ok(Some((session, size, names))),
            Err(_) => {
                if session.repo == self.repo.as_str() {
                    self.remove_session(id, names).await?;
                }
                Ok(None)
            }
        }
    }

    /// Removes a session's record and chunks (R2 deletes at most 1000 keys at once).
    async fn remove_session(&self, id: &str, mut chunks: Vec<String>) -> Result<()> {
        chunks.push(Key::Upload(id).path());
        for batch in chunks.chunks(1000) {
            self.bucket.delete_multiple(batch.to_vec()).await?;
        }
        Ok(())
    }

    async fn upload_status(&self, id: &str) -> Reply {
        let Some((_, size, _)) = self.session(id).await? else { return Err(RegistryError::BlobUploadUnknown.into()) };
        let h = headers()?;
        h.set("Location", &self.upload_location(id))?;
        h.set("Range", &upload_range(size))?;
        h.set("Docker-Upload-UUID", id)?;
        Ok(empty(204, h)?)
    }

    /// Stores one chunk after the session's current end; `Err` leaves nothing stored.
    async fn append(&self, req: &mut Request, id: &str, size: u64, count: usize) -> Reply<u64> {
        let range = req.headers().get("Content-Range")?;
        let declared = match check_chunk(range.as_deref(), size) {
            Ok(d) => d,
            Err(e) => return Err(e.into()),
        };
        let data = body_data(req).await?;
        if matches!(data, Data::Empty) {
            return Ok(0);
        }
        if let Err(e) = (Chunks { count, size }).append(0) {
            return Err(e.into());
        }
        let key = Key::Chunk(id, count).path();
        let stored = self.bucket.put(key.clone(), data).execute().await?.map_or(0, |o| o.size());
        if declared.is_some_and(|d| d != stored) {
            self.bucket.delete(key).await?;
            let why = format!("the body has {stored} bytes but Content-Range declares {}", declared.unwrap_or(0));
            return Err(RegistryError::BlobUploadInvalid(why).into());
        }
        Ok(stored)
    }

    async fn patch_upload(&self, mut req: Request, id: &str) -> Reply {
        let Some((mut session, size, chunks)) = self.session(id).await? else {
            return Err(RegistryError::BlobUploadUnknown.into());
        };
        let added = self.append(&mut req, id, size, chunks.len()).await?;
        if added > 0 {
            let counted = Chunks { count: chunks.len(), size };
            session.counted = Some(match counted.append(added) {
                Ok(c) => c,
                Err(e) => return Err(e.into()),
            });
            self.save_session(id, &session).await?;
        }
        Ok(self.accepted(id, size + added)?)
    }

    async fn cancel_upload(&self, id: &str) -> Reply {
        let Some((_, _, chunks)) = self.session(id).await? else { return Err(RegistryError::BlobUploadUnknown.into()) };
        self.remove_session(id, chunks).await?;
        Ok(empty(204, headers()?)?)
    }

    /// `PUT …/uploads/<id>?digest=`: the last chunk (if any), then the whole content verified
    /// against the digest before it becomes visible.
    async fn finish_upload(&self, mut req: Request, id: &str) -> Reply {
        let Some((_, size, mut chunks)) = self.session(id).await? else {
            return Err(RegistryError::BlobUploadUnknown.into());
        };
        let d = parse_digest(query(self.t.url, "digest"))?;
        if chunks.is_empty() {
            // Monolithic: POST then PUT with the whole body; R2 checks the digest.
            let data = body_data(&mut req).await?;
            self.put_blob(data, &d).await?;
            self.remove_session(id, chunks).await?;
            return Ok(self.created(&d)?);
        }
        let added = self.append(&mut req, id, size, chunks.len()).await?;
        if added > 0 {
            chunks.push(Key::Chunk(id, chunks.len()).path());
        }
        let total = size + added;
        if total <= SINGLE_PUT_LIMIT {
            self.assemble_small(&chunks, &d).await?;
        } else {
            self.assemble_large(&chunks, &d).await?;
        }
        self.bucket.put(Key::Link(self.repo, &d).path(), Data::Empty).execute().await?;
        self.remove_session(id, chunks).await?;
        Ok(self.created(&d)?)
    }

    /// Chunks read into memory, hashed, and written in one piece.
    async fn assemble_small(&self, chunks: &[String], d: &Digest) -> Reply<()> {
        let mut content = Vec::new();
        for key in chunks {
            if let Some(body) = self.read(key.clone()).await? {
                content.extend(body);
            }
        }
        if Digest::of(d.algorithm(), &content) != *d {
            return Err(RegistryError::DigestInvalid(format!("the uploaded content is not {d}")).into());
        }
        self.put_blob(Data::Bytes(content), d).await
    }

    /// Chunks streamed through the hash and re-cut into equal R2 multipart parts; the upload is
    /// completed only when the digest matches, and aborted otherwise.
    async fn assemble_large(&self, chunks: &[String], d: &Digest) -> Reply<()> {
        let upload = self.bucket.create_multipart_upload(Key::Blob(d).path()).execute().await?;
        let mut hasher = Hasher::new(d.algorithm());
        let mut part = Vec::with_capacity(PART_SIZE);
        let mut parts = Vec::new();
        let result: Result<()> = async {
            for key in chunks {
                let Some(object) = self.bucket.get(key.as_str()).execute().await? else { continue };
                let Some(body) = object.body() else { continue };
                let mut stream = body.stream()?;
                while let Some(piece) = stream.next().await {
                    let piece = piece?;
                    hasher.update(&piece);
                    let mut rest = piece.as_slice();
                    while !rest.is_empty() {
                        let take = (PART_SIZE - part.len()).min(rest.len());
                        part.extend_from_slice(&rest[..take]);
                        rest = &rest[take..];
                        if part.len() == PART_SIZE {
                            let n = parts.len() as u16 + 1;
                            parts.push(upload.upload_part(n, std::mem::take(&mut part)).await?);
                        }
                    }
                }
            }
            if !part.is_empty() {
                let n = parts.len() as u16 + 1;
                parts.push(upload.upload_part(n, std::mem::take(&mut part)).await?);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = upload.abort().await;
            return Err(e.into());
        }
        if hasher.finish() != *d {
            upload.abort().await?;
            return Err(RegistryError::DigestInvalid(format!("the uploaded content is not {d}")).into());
        }
        upload.complete(parts).await?;
        Ok(())
    }

    // ---- manifests ----

    /// The chart repository's ledger and the chart, when this OCI repository lies in a chart
    /// repository: then the ledger is the authority on its tags and visible manifests.
    fn ledger(&self) -> Result<Option<(LedgerClient, String)>> {
        let Some((repo, chart)) = self.t.config.policy.layout().chart_of(self.repo) else { return Ok(None) };
        let Ok(repo) = RepoName::parse(repo) else { return Ok(None) };
        Ok(Some((LedgerClient::new(self.t.env, &repo)?, chart.to_owned())))
    }

    /// The manifest a reference names, if a commit made it visible (through the ledger), or, for an
    /// OCI repository in no chart repository, if R2 holds it.
    pub(super) async fn resolve(&self, reference: &Reference) -> Result<Option<Digest>> {
        if let Some((ledger, chart)) = self.ledger()? {
            return match reference {
                Reference::Tag(tag) => ledger.tag(&chart, tag).await,
                Reference::Digest(d) => Ok(ledger.has_manifest(&chart, d).await?.then(|| d.clone())),
            };
        }
        match reference {
            // Held by this repository, in R2 (the same everywhere), before any cache is read.
            Reference::Digest(d) => Ok(self.exists(Key::Manifest(self.repo, d).path()).await?.then(|| d.clone())),
            Reference::Tag(tag) => {
                let Some(object) = self.bucket.get(Key::Tag(self.repo, tag).path()).execute().await? else {
                    return Ok(None);
                };
                let text = match object.body() {
                    Some(b) => b.text().await?,
                    None => return Ok(None),
                };
                Ok(Digest::parse(text.trim()).ok())
            }
        }
    }

    async fn get_manifest(&self, req: &Request, reference: &Reference, cache_status: &mut CacheStatus) -> Reply {
        let Some(d) = self.resolve(reference).await? else { return Err(RegistryError::ManifestUnknown.into()) };
        let cache = Cache::default();
        let cache_key = self.cache_key("manifests", &d);
        let mut stored = match cache.get(cache_key.as_str(), true).await? {
            Some(hit) => {
                *cache_status = CacheStatus::Hit;
                hit
            }
            None => {
                let Some(object) = self.bucket.get(Key::Manifest(self.repo, &d).path()).execute().await? else {
                    return Err(RegistryError::ManifestUnknown.into());
                };
                *cache_status = CacheStatus::R2;
                let media_type =
                    object.http_metadata().content_type.unwrap_or_else(|| crate::edge::store::oci::OCI_MANIFEST.into());
                let bytes = match object.body() {
                    Some(b) => b.bytes().await?,
                    None => Vec::new(),
                };
                let h = Headers::new();
                h.set("Content-Type", &media_type)?;
                h.set("Cache-Control", IMMUTABLE)?;
                let mut stored = Response::from_bytes(bytes)?.with_headers(h);
                cache.put(cache_key.as_str(), stored.cloned()?).await?;
                stored
            }
        };
        let media_type = stored.headers().get("Content-Type")?.unwrap_or_default();
        let bytes = stored.bytes().await?;
        let h = headers()?;
        h.set("Content-Type", &media_type)?;
        h.set("Docker-Content-Digest", &d.to_string())?;
        h.set("ETag", &format!("\"{d}\""))?;
        h.set("Content-Length", &bytes.len().to_string())?;
        h.set(
            "Cache-Control",
            if matches!(reference, Reference::Digest(_)) { self.client_cache_control() } else { "private, no-cache" },
        )?;
        let body = if req.method() == Method::Head { Vec::new() } else { bytes };
        Ok(Response::from_bytes(body)?.with_headers(h))
    }

    async fn put_manifest(&self, mut req: Request, reference: &Reference) -> Reply {
        if content_length(&req).is_some_and(|n| n > MAX_MANIFEST as u64) {
            return Err(RegistryError::SizeInvalid(format!("manifest is larger than {MAX_MANIFEST} bytes")).into());
        }
        let content_type = req.headers().get("Content-Type")?;
        let Some(bytes) = super::body::read_bounded(&mut req, MAX_MANIFEST).await? else {
            return Err(RegistryError::SizeInvalid(format!("manifest is larger than {MAX_MANIFEST} bytes")).into());
        };
        let manifest = match Manifest::parse(&bytes, content_type.as_deref()) {
            Ok(m) => m,
            Err(e) => return Err(e.into()),
        };
        let d = Digest::of(manifest_algorithm(reference), &bytes);
        if let Reference::Digest(claimed) = reference {
            if *claimed != d {
                return Err(RegistryError::DigestInvalid(format!("the manifest's digest is {d}, not {claimed}")).into());
            }
        }
        let mut tags = match query_tags(
            self.repo.as_str(),
            self.t
                .url
                .query_pairs()
                .filter(|(k, _)| k == "tag")
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .iter()
                .map(|v| v.as_ref()),
        ) {
            Ok(t) => t,
            Err(e) => return Err(e.into()),
        };
        if let Reference::Tag(tag) = reference {
            tags.insert(0, tag.clone());
        }
        // What the manifest references, looked up at once.
        let referenced: Vec<(String, String)> =
            (manifest.blobs.iter().map(|b| (Key::Link(self.repo, b).path(), format!("blob {b}"))))
                .chain(manifest.manifests.iter().map(|m| (Key::Manifest(self.repo, m).path(), format!("manifest {m}"))))
                .collect();
        let ledger = self.ledger()?;
        let rule = self.t.config.immutable_tags;
        // Without a ledger (an OCI name in no chart repository) immutable tags are checked here.
        let protected: Vec<Reference> = match ledger {
            Some(_) => Vec::new(),
            None => tags.iter().filter(|t| rule.protects(t)).map(|t| Reference::Tag(t.clone())).collect(),
        };
        // A chart must be the chart its repository stands for: its config is read with the rest.
        let chart = manifest.helm_chart.as_ref().zip(self.t.config.policy.layout().chart_of(self.repo));
        let config_read = async {
            match chart {
                Some(((config, _), _)) => self.read(Key::Blob(config).path()).await,
                None => Ok(None),
            }
        };
        let (found, (config, current)) = join(
            join_all(referenced.iter().map(|(key, _)| self.exists(key.clone()))),
            join(config_read, join_all(protected.iter().map(|tag| self.resolve(tag)))),
        )
        .await;
        for (exists, (_, what)) in found.into_iter().zip(&referenced) {
            if !exists? {
                return Err(RegistryError::ManifestBlobUnknown(what.clone()).into());
            }
        }
        let mut chart_config = None;
        if let Some((_, (_, chart))) = chart {
            let config = config?.unwrap_or_default();
            if let Err(why) = check_pushed_chart(&config, self.repo.as_str(), chart) {
                return Err(RegistryError::ManifestInvalid(why).into());
            }
            chart_config = Some(config);
        }
        for (tag, current) in protected.iter().zip(current) {
            if let Some(current) = current? {
                let adds_provenance = current != d && self.adds_provenance(&bytes, &current).await?;
                check_tag_move(self.repo, tag, &current, &d, adds_provenance)?;
            }
        }
        let size = bytes.len();
        let metadata = HttpMetadata { content_type: Some(manifest.media_type.clone()), ..Default::default() };
        // The manifest first: a tag or referrer never names a manifest that is not stored.
        self.bucket.put(Key::Manifest(self.repo, &d).path(), bytes).http_metadata(metadata).execute().await?;
        match &ledger {
            // The commit point: the ledger makes the manifest and its tags visible, or refuses and
            // nothing is (the stored manifest is removed unless a commit had made it visible).
            Some((ledger, chart)) => {
                let now = String::from(js_sys::Date::new_0().to_iso_string());
                let op = match commit_op(&manifest, chart_config.as_deref(), chart, &d, &tags, &now) {
                    Ok(op) => op,
                    Err(why) => {
                        return Err(self.refused(ledger, chart, &d, RegistryError::ManifestInvalid(why)).await?.into())
                    }
                };
                if let Some(why) = self.provenance_refusal(&op).await? {
                    return Err(self.refused(ledger, chart, &d, RegistryError::ManifestInvalid(why)).await?.into());
                }
                if let Err(e) = ledger.commit(&op).await? {
                    return Err(self.refused(ledger, chart, &d, registry_error(e)).await?.into());
                }
                if let Op::Publish { release, .. } = &op {
                    if let Some((repo, _)) = self.t.config.policy.layout().chart_of(self.repo) {
                        if let Ok(repo) = RepoName::parse(repo) {
                            super::cache::forget(&repo, &super::cache::files_of(&release.id())).await;
                        }
                    }
                }
            }
            None => {
                for tag in &tags {
                    let meta = std::collections::HashMap::from([("digest".to_owned(), d.to_string())]);
                    self.bucket
                        .put(Key::Tag(self.repo, tag).path(), d.to_string())
                        .custom_metadata(meta)
                        .execute()
                        .await?;
                }
            }
        }
        let h = headers()?;
        if let Some(subject) = &manifest.subject {
            let descriptor = manifest.referrer_descriptor(&d, size).to_string();
            self.bucket
                .put(Key::Referrer { repo: self.repo, subject, referrer: &d }.path(), descriptor)
                .execute()
                .await?;
            h.set("OCI-Subject", &subject.to_string())?;
        }
        if matches!(reference, Reference::Digest(_)) && !tags.is_empty() {
            h.set("OCI-Tag", &tags.join(", "))?;
        }
        h.set("Location", &format!("/v2/{}/manifests/{d}", self.repo))?;
        h.set("Docker-Content-Digest", &d.to_string())?;
        Ok(empty(201, h)?)
    }

    /// A refused commit: the manifest stored for it goes unless a commit had made it visible.
    async fn refused(&self, ledger: &LedgerClient, chart: &str, d: &Digest, e: RegistryError) -> Result<RegistryError> {
        if !ledger.has_manifest(chart, d).await? {
            self.bucket.delete(Key::Manifest(self.repo, d).path()).await?;
        }
        Ok(e)
    }

    /// Removes a deleted manifest's object and its referrer entry (its blobs go with the next
    /// garbage collection).
    async fn remove_manifest_object(&self, d: &Digest) -> Result<()> {
        let key = Key::Manifest(self.repo, d).path();
        let mut stale = vec![key.clone()];
        if let Some(bytes) = self.read(key).await? {
            if let Some(subject) = Manifest::parse(&bytes, None).ok().and_then(|m| m.subject) {
                stale.push(Key::Referrer { repo: self.repo, subject: &subject, referrer: d }.path());
            }
        }
        self.bucket.delete_multiple(stale).await
    }

    async fn delete_manifest(&self, reference: &Reference) -> Reply {
        if let Some((ledger, chart)) = self.ledger()? {
            let op = match reference {
                Reference::Tag(tag) => Op::DeleteTag { chart: chart.clone(), tag: tag.clone() },
                Reference::Digest(d) => Op::DeleteManifest { chart: chart.clone(), manifest: d.to_string() },
            };
            let changes = match ledger.commit(&op).await? {
                Ok(changes) => changes,
                Err(e) => return Err(registry_error(e).into()),
            };
            // The versions the delete unlisted, forgotten by this data centre's caches at once.
            if let Some((repo, _)) = self.t.config.policy.layout().chart_of(self.repo) {
                if let Ok(repo) = RepoName::parse(repo) {
                    let files: Vec<String> = changes
                        .iter()
                        .filter_map(|c| match c {
                            Change::DropRelease { name, version } => {
                                Some(super::cache::files_of(&ChartId { name: name.clone(), version: version.clone() }))
                            }
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    super::cache::forget(&repo, &files).await;
                }
            }
            if let Reference::Digest(d) = reference {
                self.remove_manifest_object(d).await?;
            }
            return Ok(empty(202, headers()?)?);
        }
        let d = match reference {
            Reference::Tag(tag) => {
                let key = Key::Tag(self.repo, tag).path();
                if !self.exists(key.clone()).await? {
                    return Err(RegistryError::ManifestUnknown.into());
                }
                self.bucket.delete(key).await?;
                return Ok(empty(202, headers()?)?);
            }
            Reference::Digest(d) => d,
        };
        let key = Key::Manifest(self.repo, d).path();
        let Some(object) = self.bucket.get(key.clone()).execute().await? else {
            return Err(RegistryError::ManifestUnknown.into());
        };
        let bytes = match object.body() {
            Some(b) => b.bytes().await?,
            None => Vec::new(),
        };
        let mut stale = vec![key];
        let parsed = Manifest::parse(&bytes, None).ok();
        if let Some(subject) = parsed.as_ref().and_then(|m| m.subject.as_ref()) {
            stale.push(Key::Referrer { repo: self.repo, subject, referrer: d }.path());
        }
        let wanted = d.to_string();
        for object in self.list(&Prefix::Tags(self.repo).path(), true).await? {
            if object.custom_metadata().ok().and_then(|m| m.get("digest").cloned()).as_deref() == Some(wanted.as_str())
            {
                stale.push(object.key());
            }
        }
        self.bucket.delete_multiple(stale).await?;
        Cache::default().delete(self.cache_key("manifests", d), true).await?;
        Ok(empty(202, headers()?)?)
    }

    // ---- discovery ----

    /// Every object under `prefix` (up to [`MAX_TAGS`]).
    async fn list(&self, prefix: &str, metadata: bool) -> Result<Vec<worker::Object>> {
        list_objects(&self.bucket, prefix, metadata, MAX_TAGS).await
    }

    async fn tags(&self) -> Reply {
        let prefix = Prefix::Tags(self.repo).path();
        let mut tags: Vec<String> = match self.ledger()? {
            Some((ledger, chart)) => ledger.tags(&chart).await?,
            None => self.list(&prefix, false).await?.iter().map(|o| o.key()[prefix.len()..].to_owned()).collect(),
        };
        tags.sort();
        if tags.is_empty() {
            let any = self.bucket.list().prefix(Prefix::Repo(self.repo).path()).limit(1).execute().await?;
            if any.objects().is_empty() {
                return Err(RegistryError::NameUnknown.into());
            }
        }
        let url = self.t.url;
        let n = query(url, "n").and_then(|n| n.parse::<usize>().ok());
        let last = query(url, "last");
        let (page, next) = tags_page(&tags, n, last.as_deref());
        let h = headers()?;
        h.set("Content-Type", "application/json")?;
        h.set("Cache-Control", "private, no-cache")?;
        if let (Some(next), Some(n)) = (next, n) {
            let mut link = worker::Url::parse(&format!("{}/v2/{}/tags/list", self.origin, self.repo))
                .map_err(worker::Error::from)?;
            link.query_pairs_mut().append_pair("n", &n.to_string()).append_pair("last", next);
            h.set("Link", &format!("<{}?{}>; rel=\"next\"", link.path(), link.query().unwrap_or("")))?;
        }
        let body = serde_json::json!({"name": self.repo.as_str(), "tags": page}).to_string();
        Ok(Response::from_bytes(body.into_bytes())?.with_headers(h))
    }

    async fn referrers(&self, subject: &Digest) -> Reply {
        let mut descriptors = Vec::new();
        for object in self.list(&Prefix::Referrers(self.repo, subject).path(), false).await? {
            if let Some(body) = self.read(object.key()).await? {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    descriptors.push(v);
                }
            }
        }
        let filter = query(self.t.url, "artifactType");
        let index = referrers_index(descriptors, filter.as_deref());
        let h = headers()?;
        h.set("Content-Type", OCI_INDEX)?;
        h.set("Cache-Control", "private, no-cache")?;
        if filter.is_some() {
            h.set("OCI-Filters-Applied", "artifactType")?;
        }
        Ok(Response::from_bytes(index.to_string().into_bytes())?.with_headers(h))
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

/// An unguessable upload id (`crypto.randomUUID()`).
fn upload_id() -> Result<String> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &wasm_bindgen::JsValue::from_str("crypto"))
        .map_err(|_| worker::Error::RustError("no crypto".into()))?;
    use wasm_bindgen::JsCast;
    Ok(crypto.unchecked_into::<web_sys::Crypto>().random_uuid())
}

/// sha256 or sha512, incrementally.
enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }
    fn finish(self) -> Digest {
        match self {
            Hasher::Sha256(h) => Digest::from_raw(Algorithm::Sha256, &h.finalize()),
            Hasher::Sha512(h) => Digest::from_raw(Algorithm::Sha512, &h.finalize()),
        }
    }
}

impl Registry<'_> {
    /// A chart version pushed with helm's provenance layer: the provenance file must sign the
    /// chart layer (its `files:` digest), as for an upload. `Some` says why it does not.
    async fn provenance_refusal(&self, op: &Op) -> Reply<Option<String>> {
        let Op::Publish { release, .. } = op else { return Ok(None) };
        let Some(prov) = release.prov.as_deref().and_then(|p| Digest::parse(p).ok()) else { return Ok(None) };
        // A provenance file is a few KiB: a larger layer is refused before it is read.
        const MAX_PROV: u64 = 256 * 1024;
        let size = self.bucket.head(Key::Blob(&prov).path()).await?.map_or(0, |o| o.size());
        if size > MAX_PROV {
            return Ok(Some(format!("the provenance layer is {size} bytes, more than {MAX_PROV}")));
        }
        let bytes = self.read(Key::Blob(&prov).path()).await?.unwrap_or_default();
        Ok(crate::edge::store::publish::check_prov_signs(&bytes, &release.archive, &release.id())
            .err()
            .map(|e| e.to_string()))
    }
}
