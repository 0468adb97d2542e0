//! R2 helpers the glue shares: a listing read page by page (R2 answers at most 1000 keys a call).

use worker::{Bucket, Include, Result};

/// The objects under `prefix`, page by page, until there are no more or at least `most` (with
/// their custom metadata when asked).
pub(super) async fn list_objects(
    bucket: &Bucket,
    prefix: &str,
    metadata: bool,
    most: usize,
) -> Result<Vec<worker::Object>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let mut list = bucket.list().prefix(prefix).limit(1000);
        if metadata {
            list = list.include(vec![Include::CustomMetadata]);
        }
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        out.extend(page.objects());
        match page.cursor() {
            Some(c) if page.truncated() && out.len() < most => cursor = Some(c),
            _ => return Ok(out),
        }
    }
}
