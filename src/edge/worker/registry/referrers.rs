//! The referrers API (`/v2/<name>/referrers/<digest>`): the manifests that name a subject, filtered by
//! artifact type.

use super::*;

impl Registry<'_> {
    pub(in crate::edge::worker) async fn referrers(&self, subject: &Digest) -> Reply {
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
