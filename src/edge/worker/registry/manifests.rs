//! Manifests (`/v2/<name>/manifests/<reference>`): read by tag or digest, pushed (checked, stored,
//! then committed to the chart repository's ledger, or tagged in R2 outside chart repositories),
//! and deleted.

use super::*;

impl Registry<'_> {
    /// The manifest a reference names, if a commit made it visible (through the ledger), or, for an
    /// OCI repository in no chart repository, if R2 holds it.
    pub(in crate::edge::worker) async fn resolve(&self, reference: &Reference) -> Result<Option<Digest>> {
        if let Some((ledger, chart)) = self.ledger() {
            return match reference {
                Reference::Tag(tag) => ledger.tag(chart, tag).await,
                Reference::Digest(d) => Ok(ledger.has_manifest(chart, d).await?.then(|| d.clone())),
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

    pub(in crate::edge::worker) async fn get_manifest(
        &self,
        req: &Request,
        reference: &Reference,
        cache_status: &mut CacheStatus,
    ) -> Reply {
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

    pub(in crate::edge::worker) async fn put_manifest(&self, mut req: Request, reference: &Reference) -> Reply {
        if content_length(&req).is_some_and(|n| n > MAX_MANIFEST as u64) {
            return Err(RegistryError::SizeInvalid(format!("manifest is larger than {MAX_MANIFEST} bytes")).into());
        }
        let content_type = req.headers().get("Content-Type")?;
        let Some(bytes) = crate::edge::worker::body::read_bounded(&mut req, MAX_MANIFEST).await? else {
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
        let ledger = self.ledger();
        let rule = self.t.config.immutable_tags;
        // Without a ledger (an OCI name in no chart repository) immutable tags are checked here.
        let protected: Vec<Reference> = match ledger {
            Some(_) => Vec::new(),
            None => tags.iter().filter(|t| rule.protects(t)).map(|t| Reference::Tag(t.clone())).collect(),
        };
        // A helm chart's config is read with the rest (bounded: it is the chart's metadata); in a
        // chart repository it must name the chart the repository stands for.
        let config_read = async {
            match &manifest.helm_chart {
                Some((config, _)) => self.read_bounded(&Key::Blob(config).path(), MAX_CONFIG).await,
                None => Ok(Ok(None)),
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
        let chart_config = config??;
        if let (Some(config), Some((_, chart))) = (&chart_config, self.t.config.policy.layout().chart_of(self.repo)) {
            if let Err(why) = check_pushed_chart(config, self.repo.as_str(), chart) {
                return Err(RegistryError::ManifestInvalid(why).into());
            }
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
                let mut op = match commit_op(&manifest, chart_config.as_deref(), chart, &d, &tags, &now) {
                    Ok(op) => op,
                    Err(why) => {
                        return Err(self.refused(ledger, chart, &d, RegistryError::ManifestInvalid(why)).await?.into())
                    }
                };
                if let Some(why) = self.provenance_refusal(&op).await? {
                    return Err(self.refused(ledger, chart, &d, RegistryError::ManifestInvalid(why)).await?.into());
                }
                if let Op::Publish { release, .. } = &mut op {
                    // The chart layer is read like an upload: the entry gate, with the config's claims.
                    match apart(self.entry_gate(&release.archive, &release.meta.name, &release.meta.version)).await? {
                        Ok(record) => release.entry = Some(record),
                        Err(e) => return Err(self.refused(ledger, chart, &d, e).await?.into()),
                    }
                }
                if let Err(e) = ledger.commit(&op).await? {
                    return Err(self.refused(ledger, chart, &d, registry_error(e)).await?.into());
                }
                if let Op::Publish { release, .. } = &op {
                    if let Some((repo, _)) = self.t.config.policy.layout().chart_of(self.repo) {
                        if let Ok(repo) = RepoName::parse(repo) {
                            crate::edge::worker::cache::forget(
                                &repo,
                                &crate::edge::worker::cache::files_of(&release.id()),
                            )
                            .await;
                        }
                    }
                }
            }
            None => {
                // A chart pushed to a name outside every chart repository enters through the
                // same gate.
                if let (Some((_, archive)), Some(config)) = (&manifest.helm_chart, &chart_config) {
                    let meta = serde_json::from_slice::<Value>(config)
                        .ok()
                        .and_then(|v| v.as_object().and_then(crate::edge::store::ledger::ChartMeta::from_json))
                        .ok_or_else(|| {
                            RegistryError::ManifestInvalid(
                                "a helm chart's config must name the chart and its version (name, version)".into(),
                            )
                        })?;
                    if let Err(e) = apart(self.entry_gate(&archive.to_string(), &meta.name, &meta.version)).await? {
                        self.remove_manifest_object(&d).await?;
                        return Err(e.into());
                    }
                }
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
    pub(in crate::edge::worker) async fn refused(
        &self,
        ledger: &LedgerClient,
        chart: &str,
        d: &Digest,
        e: RegistryError,
    ) -> Result<RegistryError> {
        if !ledger.has_manifest(chart, d).await? {
            self.bucket.delete(Key::Manifest(self.repo, d).path()).await?;
        }
        Ok(e)
    }

    /// Removes a deleted manifest's object and its referrer entry (its blobs go with the next
    /// garbage collection).
    pub(in crate::edge::worker) async fn remove_manifest_object(&self, d: &Digest) -> Result<()> {
        let key = Key::Manifest(self.repo, d).path();
        let mut stale = vec![key.clone()];
        if let Some(bytes) = self.read(key).await? {
            if let Some(subject) = Manifest::parse(&bytes, None).ok().and_then(|m| m.subject) {
                stale.push(Key::Referrer { repo: self.repo, subject: &subject, referrer: d }.path());
            }
        }
        self.bucket.delete_multiple(stale).await
    }

    pub(in crate::edge::worker) async fn delete_manifest(&self, reference: &Reference) -> Reply {
        if let Some((ledger, chart)) = self.ledger() {
            let op = match reference {
                Reference::Tag(tag) => Op::DeleteTag { chart: chart.to_owned(), tag: tag.clone() },
                Reference::Digest(d) => Op::DeleteManifest { chart: chart.to_owned(), manifest: d.to_string() },
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
                                Some(crate::edge::worker::cache::files_of(&ChartId {
                                    name: name.clone(),
                                    version: version.clone(),
                                }))
                            }
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    crate::edge::worker::cache::forget(&repo, &files).await;
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

    /// The entry gate on a pushed chart's archive layer, with its config's name and version as the
    /// claims: the record the version enters with, or why it may not enter.
    async fn entry_gate(
        &self,
        archive: &str,
        name: &str,
        version: &str,
    ) -> Result<std::result::Result<crate::edge::store::entry::EntryRecord, RegistryError>> {
        use crate::edge::store::entry::{admit, describe};
        let limits = crate::entry::Limits::default();
        let Ok(archive) = Digest::parse(archive) else {
            return Ok(Err(RegistryError::ManifestInvalid("the chart layer's digest cannot be read".into())));
        };
        let size = self.bucket.head(Key::Blob(&archive).path()).await?.map_or(0, |o| o.size());
        if size > limits.max_archive_bytes {
            let why = format!("the chart layer is {size} bytes, more than {}", limits.max_archive_bytes);
            return Ok(Err(RegistryError::SizeInvalid(why)));
        }
        let tgz = self.read(Key::Blob(&archive).path()).await?.unwrap_or_default();
        let claimed = crate::entry::Claimed { name: name.to_owned(), version: version.to_owned() };
        let verdict = crate::entry::check_claimed(&tgz, &limits, &claimed);
        match admit(verdict, self.t.config.entry_checks) {
            Ok(record) => {
                if !record.would_refuse.is_empty() {
                    console_log!(
                        "chartgate: entry gate (ENTRY_CHECKS=report): {} {} of {} would be refused: {}",
                        claimed.name,
                        claimed.version,
                        self.repo,
                        record.would_refuse.join(", ")
                    );
                }
                Ok(Ok(record))
            }
            Err(refusals) => Ok(Err(RegistryError::ManifestInvalid(describe(&refusals)))),
        }
    }

    /// A chart version pushed with helm's provenance layer: the provenance file must sign the
    /// chart layer (its `files:` digest), as for an upload. `Some` says why it does not.
    pub(in crate::edge::worker) async fn provenance_refusal(&self, op: &Op) -> Reply<Option<String>> {
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
