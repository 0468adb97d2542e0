//! Upload sessions (`/v2/<name>/blobs/uploads/`): start (or mount from a repository the token may
//! pull), status, chunks, cancel, and the last `PUT` that verifies the digest before the blob is
//! visible; bodies read with their bounds.

use super::*;

/// A request body for R2: streamed when its length is declared (R2 needs a known length), read
/// otherwise, up to [`UNDECLARED_LIMIT`] bytes (more is `413`: declare `Content-Length`).
async fn body_data(req: &mut Request) -> Reply<Data> {
    match (content_length(req), req.inner().body()) {
        (Some(0), _) | (_, None) => Ok(Data::Empty),
        (Some(_), Some(stream)) => Ok(Data::ReadableStream(stream)),
        (None, Some(_)) => match crate::edge::worker::body::read_bounded(req, UNDECLARED_LIMIT).await? {
            Some(bytes) => Ok(Data::Bytes(bytes)),
            None => Err(RegistryError::SizeInvalid(format!(
                "a body without Content-Length is read into memory, at most {UNDECLARED_LIMIT} bytes: declare Content-Length or send chunks"
            )).into()),
        },
    }
}

/// The most a blob body without `Content-Length` may hold (it is read into memory).
const UNDECLARED_LIMIT: usize = PART_SIZE;

impl Registry<'_> {
    pub(in crate::edge::worker) async fn start_upload(&self, mut req: Request) -> Reply {
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
            started: crate::edge::worker::isolate::now_secs(),
            counted: Some(Chunks::default()),
        };
        self.save_session(&id, &session).await?;
        Ok(self.accepted(&id, 0)?)
    }

    pub(in crate::edge::worker) fn accepted(&self, id: &str, size: u64) -> Result<Response> {
        let h = headers()?;
        h.set("Location", &self.upload_location(id))?;
        h.set("Range", &upload_range(size))?;
        h.set("Docker-Upload-UUID", id)?;
        empty(202, h)
    }

    pub(in crate::edge::worker) async fn save_session(&self, id: &str, session: &UploadSession) -> Result<()> {
        let record = serde_json::to_vec(session).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.bucket.put(Key::Upload(id).path(), record).execute().await?;
        Ok(())
    }

    /// The session, its size so far and its chunks' keys, or `None` when unknown, expired or of
    /// another repository (an expired session's objects are removed). The record counts its
    /// chunks: one read, whatever their number.
    pub(in crate::edge::worker) async fn session(&self, id: &str) -> Result<Option<(UploadSession, u64, Vec<String>)>> {
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
        match UploadSession::check(&bytes, self.repo, crate::edge::worker::isolate::now_secs()) {
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
    pub(in crate::edge::worker) async fn remove_session(&self, id: &str, mut chunks: Vec<String>) -> Result<()> {
        chunks.push(Key::Upload(id).path());
        for batch in chunks.chunks(1000) {
            self.bucket.delete_multiple(batch.to_vec()).await?;
        }
        Ok(())
    }

    pub(in crate::edge::worker) async fn upload_status(&self, id: &str) -> Reply {
        let Some((_, size, _)) = self.session(id).await? else { return Err(RegistryError::BlobUploadUnknown.into()) };
        let h = headers()?;
        h.set("Location", &self.upload_location(id))?;
        h.set("Range", &upload_range(size))?;
        h.set("Docker-Upload-UUID", id)?;
        Ok(empty(204, h)?)
    }

    /// Stores one chunk after the session's current end; `Err` leaves nothing stored.
    pub(in crate::edge::worker) async fn append(
        &self,
        req: &mut Request,
        id: &str,
        size: u64,
        count: usize,
    ) -> Reply<u64> {
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

    pub(in crate::edge::worker) async fn patch_upload(&self, mut req: Request, id: &str) -> Reply {
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

    pub(in crate::edge::worker) async fn cancel_upload(&self, id: &str) -> Reply {
        let Some((_, _, chunks)) = self.session(id).await? else { return Err(RegistryError::BlobUploadUnknown.into()) };
        self.remove_session(id, chunks).await?;
        Ok(empty(204, headers()?)?)
    }

    /// `PUT …/uploads/<id>?digest=`: the last chunk (if any), then the whole content verified
    /// against the digest before it becomes visible.
    pub(in crate::edge::worker) async fn finish_upload(&self, mut req: Request, id: &str) -> Reply {
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
    pub(in crate::edge::worker) async fn assemble_small(&self, chunks: &[String], d: &Digest) -> Reply<()> {
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
    pub(in crate::edge::worker) async fn assemble_large(&self, chunks: &[String], d: &Digest) -> Reply<()> {
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
