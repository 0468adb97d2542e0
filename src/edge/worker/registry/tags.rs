//! Tag lists (`/v2/<name>/tags/list`), paged: a chart repository's from its ledger, others from R2.

use super::*;

impl Registry<'_> {
    pub(in crate::edge::worker) async fn tags(&self) -> Reply {
        let prefix = Prefix::Tags(self.repo).path();
        let mut tags: Vec<String> = match self.ledger() {
            Some((ledger, chart)) => ledger.tags(chart).await?,
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
}
