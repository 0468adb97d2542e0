//! ChartMuseum's API answered at the edge when there is no origin (the rules are
//! [`crate::edge::publish`]'s): uploads stored in R2 under `<repo>/<name>-<version>.tgz` and made
//! pullable over OCI too, the repository's `index.yaml` changed through [`super::index`], and what
//! a write made stale purged from the edge cache.

use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use worker::{Conditional, FormEntry, Request, Response, Result};

use super::index::{stored_index, update_index};
use super::stale::{purge, purge_cache};
use super::{respond, Target};
use crate::edge::publish::{
    chart_of_path, check_file_name, check_prov, check_prov_replacement, entry, oci_artifacts, prov_chart, PublishError,
    MAX_UPLOAD,
};
use crate::edge::{chart_metadata, CacheStatus, ChartId};
use crate::RepoName;

type Answer = std::result::Result<Response, PublishError>;

fn json(status: u16, body: &str) -> Result<Response> {
    respond::json(status, body)
}

/// One allowed ChartMuseum API request, without an origin.
pub(super) async fn serve(mut req: Request, t: Target<'_>, repo: &RepoName) -> Result<(Response, CacheStatus)> {
    let method = req.inner().method();
    let segments: Vec<&str> = t.path.split('/').filter(|s| !s.is_empty()).collect();
    let answer = match (method.as_str(), segments.last().copied()) {
        ("GET" | "HEAD", _) => read(&t, repo, &segments).await?,
        ("DELETE", _) => match chart_of_path(&segments) {
            Some(id) => delete(&t, repo, &id).await?,
            None => Err(PublishError::ChartNotFound),
        },
        ("POST", Some("prov")) => upload_prov(&mut req, &t, repo).await?,
        _ => upload(&mut req, &t, repo).await?,
    };
    let response = match answer {
        Ok(response) => response,
        Err(e) => json(e.status(), &e.body())?,
    };
    Ok((response, CacheStatus::Miss))
}

async fn read(t: &Target<'_>, repo: &RepoName, segments: &[&str]) -> Result<Answer> {
    let (index, _) = match stored_index(t, repo).await? {
        Ok(i) => i,
        Err(e) => return Ok(Err(e)),
    };
    let found = match segments {
        [.., "charts"] => Ok(index.api_all()),
        [.., "charts", name] => index.api_chart(name),
        [.., "charts", name, version] => index.api_version(name, version),
        _ => Err(PublishError::ChartNotFound),
    };
    Ok(match found {
        Ok(value) => Ok(json(200, &value.to_string())?),
        Err(e) => Err(e),
    })
}

/// How much of a refused body is still read, so the client gets its answer on a connection that
/// is closed cleanly (Workers' own request limit is 100 MB on most plans).
const DRAIN_LIMIT: usize = 128 * 1024 * 1024;

/// The body, read up to `limit` bytes: `None` when it is longer (the rest is read and dropped, up
/// to [`DRAIN_LIMIT`], so an undeclared oversized body costs no memory and the client still reads
/// the answer).
async fn read_bounded(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut seen = 0usize;
    let mut stream = req.stream()?;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        seen += piece.len();
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= limit {
            body.extend_from_slice(&piece);
        } else if !body.is_empty() {
            body = Vec::new();
        }
    }
    Ok((seen <= limit).then_some(body))
}

/// What a publish request carries: a raw body (an archive, or a provenance file on `/prov`), or
/// ChartMuseum's multipart form with a `chart` field (and the file name the client gave it), a
/// `prov` field, or both.
struct Upload {
    chart: Option<(Vec<u8>, Option<String>)>,
    prov: Option<Vec<u8>>,
}

/// Reads the request's upload. A body declared larger than the limit is refused before it is
/// read; one that turns out larger while streaming is refused after.
async fn upload_body(req: &mut Request, raw_is_prov: bool) -> Result<std::result::Result<Upload, PublishError>> {
    const FORM_SLACK: usize = 64 * 1024;
    let too_large = || PublishError::TooLarge(format!("the upload is larger than {MAX_UPLOAD} bytes"));
    let declared = req.headers().get("Content-Length")?.and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD + FORM_SLACK) {
        return Ok(Err(too_large()));
    }
    let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
    let Some(body) = read_bounded(req, MAX_UPLOAD + FORM_SLACK).await? else {
        return Ok(Err(too_large()));
    };
    if !content_type.starts_with("multipart/form-data") {
        return Ok(Ok(if raw_is_prov {
            Upload { chart: None, prov: Some(body) }
        } else {
            Upload { chart: Some((body, None)), prov: None }
        }));
    }
    // The runtime's form parser reads from a request: the bounded bytes become one.
    let headers = worker::Headers::new();
    headers.set("Content-Type", &content_type)?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    let form = Request::new_with_init("https://form.invalid/", &init)?.form_data().await?;
    let chart = match form.get("chart") {
        Some(FormEntry::File(file)) => Some((file.bytes().await?, Some(file.name()))),
        Some(FormEntry::Field(text)) => Some((text.into_bytes(), None)),
        None => None,
    };
    let prov = match form.get("prov") {
        Some(FormEntry::File(file)) => Some(file.bytes().await?),
        Some(FormEntry::Field(text)) => Some(text.into_bytes()),
        None => None,
    };
    if chart.is_none() && prov.is_none() {
        return Ok(Err(PublishError::BadChart(
            "no package or provenance file found in form fields chart and prov".into(),
        )));
    }
    Ok(Ok(Upload { chart, prov }))
}

/// `?force` on an upload, when `ALLOW_OVERWRITE` lets it replace what is listed.
fn forced(t: &Target<'_>) -> bool {
    t.url.query_pairs().any(|(k, _)| k == "force") && t.config.allow_overwrite
}

/// `POST /api/:repo/charts`: an archive (with its provenance file, when the form has one), or a
/// form with only a provenance file.
async fn upload(req: &mut Request, t: &Target<'_>, repo: &RepoName) -> Result<Answer> {
    let force = forced(t);
    let Upload { chart, prov } = match upload_body(req, false).await? {
        Ok(body) => body,
        Err(e) => return Ok(Err(e)),
    };
    let Some((tgz, file_name)) = chart else {
        return store_prov(t, repo, prov.unwrap_or_default(), force).await;
    };
    if tgz.len() > MAX_UPLOAD {
        return Ok(Err(PublishError::TooLarge(format!("the chart is larger than {MAX_UPLOAD} bytes"))));
    }
    let (id, meta) = match chart_metadata(&tgz) {
        Ok(found) => found,
        Err(e) => return Ok(Err(e.into())),
    };
    if let Some(Err(e)) = file_name.map(|f| check_file_name(&f, &id)) {
        return Ok(Err(e));
    }
    if let Some(Err(e)) = prov.as_deref().map(|p| check_prov(p, &id)) {
        return Ok(Err(e));
    }
    let digest = crate::hex(&Sha256::digest(&tgz));
    if force {
        let checked = match stored_index(t, repo).await? {
            Ok((index, _)) => index.check_overwrite(&id, &digest, t.config.immutable_tags),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            return Ok(Err(e));
        }
    }
    let bucket = t.env.bucket("CHARTS")?;
    let key = format!("{repo}/{}", id.file_name());
    // One publish, two protocols: what helm would have pushed, for the OCI repository of the chart.
    let oci = t.config.policy.layout().oci_of(repo, &id.name).map(|oci| {
        let (config, manifest, tag) = oci_artifacts(&meta, &id, &tgz, prov.as_deref());
        let blobs = [Some(config), Some(tgz.clone()), prov.clone()].into_iter().flatten().collect::<Vec<_>>();
        (oci, tag, blobs, manifest)
    });
    let put = bucket.put(key.clone(), tgz);
    // Without force the archive is created only if absent: two uploads of one version cannot
    // overwrite each other.
    let put = if force {
        put
    } else {
        put.only_if(Conditional { etag_does_not_match: Some("*".into()), ..Default::default() })
    };
    if put.execute().await?.is_none() {
        return Ok(Err(PublishError::Exists));
    }
    // A replaced archive's provenance file signs the old archive: it goes unless a new one came.
    let replaced_prov = force && prov.is_none();
    if let Some(prov) = prov {
        bucket.put(format!("{key}.prov"), prov).execute().await?;
    }
    let created = String::from(js_sys::Date::new_0().to_iso_string());
    let listed = entry(meta, &id, &digest, &created);
    if let Err(e) = update_index(t, repo, |index| index.add(&id, listed.clone(), force).map(|()| true)).await? {
        return Ok(Err(e));
    }
    if replaced_prov {
        purge(t.env, t.url, &[format!("{key}.prov")]).await;
    }
    if force {
        purge_cache(t.url, &[key.clone(), format!("{key}.prov")]).await;
    }
    if let Some((oci, tag, blobs, manifest)) = oci {
        super::charts::publish_chart(*t, &oci, &tag, blobs, manifest).await;
    }
    Ok(Ok(json(201, r#"{"saved":true}"#)?))
}

/// `POST /api/:repo/prov`: the provenance file of a chart, raw or as the form's `prov` field.
async fn upload_prov(req: &mut Request, t: &Target<'_>, repo: &RepoName) -> Result<Answer> {
    match upload_body(req, true).await? {
        Ok(Upload { prov: Some(prov), .. }) => store_prov(t, repo, prov, forced(t)).await,
        Ok(Upload { prov: None, .. }) => {
            Ok(Err(PublishError::BadChart("no provenance file found in form field prov".into())))
        }
        Err(e) => Ok(Err(e)),
    }
}

/// Stores a provenance file beside the chart its signed `Chart.yaml` names, and, when that chart
/// is listed, adds it to the chart's OCI manifest as helm's provenance layer.
async fn store_prov(t: &Target<'_>, repo: &RepoName, prov: Vec<u8>, force: bool) -> Result<Answer> {
    let id = match prov_chart(&prov) {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    let listed = match stored_index(t, repo).await? {
        Ok((index, _)) => index.digest_of(&id),
        Err(e) => return Ok(Err(e)),
    };
    let bucket = t.env.bucket("CHARTS")?;
    let key = format!("{repo}/{}.prov", id.file_name());
    let exists = bucket.head(key.clone()).await?.is_some();
    if let Err(e) = check_prov_replacement(exists, force, &id, t.config.immutable_tags) {
        return Ok(Err(e));
    }
    bucket.put(key.clone(), prov.clone()).execute().await?;
    purge_cache(t.url, &[key]).await;
    if let (Some(oci), Some(digest)) = (t.config.policy.layout().oci_of(repo, &id.name), listed) {
        super::charts::sign_chart(*t, &oci, &id.tag(), &digest, prov).await;
    }
    Ok(Ok(json(201, r#"{"saved":true}"#)?))
}

/// `DELETE /api/:repo/charts/:name/:version`: unlisted first, then the archive and its
/// provenance file removed from R2 and the edge cache.
async fn delete(t: &Target<'_>, repo: &RepoName, id: &ChartId) -> Result<Answer> {
    let listed = std::cell::RefCell::new(None);
    let unlisted = update_index(t, repo, |index| {
        *listed.borrow_mut() = index.digest_of(id);
        if index.remove(id) {
            Ok(true)
        } else {
            Err(PublishError::VersionNotFound(format!("{} {}", id.name, id.version)))
        }
    })
    .await?;
    if let Err(e) = unlisted {
        return Ok(Err(e));
    }
    let listed = listed.into_inner();
    let key = format!("{repo}/{}", id.file_name());
    purge(t.env, t.url, &[key.clone(), format!("{key}.prov")]).await;
    // The chart's OCI form goes too, when it is this archive.
    if let (Some(oci), Some(digest)) = (t.config.policy.layout().oci_of(repo, &id.name), listed) {
        super::charts::unpublish_chart(*t, &oci, &id.tag(), &digest).await;
    }
    Ok(Ok(json(200, r#"{"deleted":true}"#)?))
}
