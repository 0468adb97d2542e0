//! Blobs (`/v2/<name>/blobs/<digest>`): read (the link first, then the content by digest from the edge
//! cache or R2), delete, and written by digest with R2 checking it, then linked into the repository.

use super::*;

/// True when R2 refused a write because its checksum did not match.
fn checksum_mismatch(e: &worker::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("checksum") || text.contains("baddigest") || text.contains("digest")
}

impl Registry<'_> {
    pub(in crate::edge::worker) async fn get_blob(
        &self,
        req: &Request,
        d: &Digest,
        cache_status: &mut CacheStatus,
    ) -> Reply {
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

    pub(in crate::edge::worker) async fn delete_blob(&self, d: &Digest) -> Reply {
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
    pub(in crate::edge::worker) async fn put_blob(&self, data: Data, d: &Digest) -> Reply<()> {
        self.put_content(data, d).await?;
        self.link(d).await?;
        Ok(())
    }

    /// Links stored content into this repository: from then on its blob reads find it.
    pub(in crate::edge::worker) async fn link(&self, d: &Digest) -> Result<()> {
        self.bucket.put(Key::Link(self.repo, d).path(), Data::Empty).execute().await?;
        Ok(())
    }

    /// Stores content under its digest only (R2 checks it): reachable through no repository until
    /// [`Registry::link`]ed.
    pub(in crate::edge::worker) async fn put_content(&self, data: Data, d: &Digest) -> Reply<()> {
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

    pub(in crate::edge::worker) fn created(&self, d: &Digest) -> Result<Response> {
        let h = headers()?;
        h.set("Location", &self.blob_location(d))?;
        h.set("Docker-Content-Digest", &d.to_string())?;
        empty(201, h)
    }
}
