//! ChartMuseum's API answered at the edge when there is no origin (the rules are
//! [`crate::edge::store::publish`]'s and the ledger's): an upload's content stored by digest as helm
//! would push it ([`super::charts`]), then committed to the repository's ledger in one
//! transaction, so a refused upload leaves nothing visible; reads and deletes go through the
//! ledger too.

use worker::{FormEntry, Request, Response, Result};

use super::cache::{files_of, forget};
use super::charts::{link_release, store_signature, store_upload};
use super::failure::Reply;
use super::repo_ledger::LedgerClient;
use super::{apart, respond, Target};
use crate::edge::store::entry::admit;
use crate::edge::store::ledger::{ChartMeta, LedgerError, Op, Release};
use crate::edge::store::publish::{
    chart_of_path, check_created, check_file_name, check_prov, check_prov_signs, prov_chart, PublishError, MAX_UPLOAD,
};
use crate::edge::{chart_metadata, CacheStatus, ChartId};
use crate::RepoName;

fn json(status: u16, body: &str) -> Result<Response> {
    respond::json(status, body)
}

/// One allowed ChartMuseum API request of a repository the edge keeps (the ledger backend).
pub(super) async fn serve(mut req: Request, t: Target<'_>, repo: &RepoName) -> Reply<(Response, CacheStatus)> {
    let method = req.inner().method();
    let segments: Vec<&str> = t.path.split('/').filter(|s| !s.is_empty()).collect();
    // Each way is its own boxed future: a read never compiles the upload's code.
    let response = match (method.as_str(), segments.last().copied()) {
        ("GET" | "HEAD", _) => apart(read(&t, repo, &segments)).await?,
        ("DELETE", _) => match chart_of_path(&segments) {
            Some(id) => apart(delete(&t, repo, &id)).await?,
            None => return Err(PublishError::ChartNotFound.into()),
        },
        ("POST", Some("prov")) => apart(upload_prov(&mut req, &t, repo)).await?,
        _ => apart(upload(&mut req, &t, repo)).await?,
    };
    Ok((response, CacheStatus::Miss))
}

async fn read(t: &Target<'_>, repo: &RepoName, segments: &[&str]) -> Reply {
    let (name, version) = match segments {
        [.., "charts"] => (None, None),
        [.., "charts", name] => (Some(*name), None),
        [.., "charts", name, version] => (Some(*name), Some(*version)),
        _ => return Err(PublishError::ChartNotFound.into()),
    };
    match LedgerClient::new(t.env, repo)?.api(name, version).await? {
        Some(value) => Ok(json(200, &value.to_string())?),
        None if version.is_some() => {
            Err(PublishError::VersionNotFound(format!("{} {}", name.unwrap_or(""), version.unwrap_or(""))).into())
        }
        None => Err(PublishError::ChartNotFound.into()),
    }
}

/// What a publish request carries: a raw body (an archive, or a provenance file on `/prov`), or
/// ChartMuseum's multipart form with a `chart` field (and the file name the client gave it), a
/// `prov` field, or both.
struct Upload {
    chart: Option<(Vec<u8>, Option<String>)>,
    prov: Option<Vec<u8>>,
    /// The form's `created` field: the release time a mirror keeps from its source.
    created: Option<String>,
}

/// Reads the request's upload. A body declared larger than the limit is refused before it is
/// read; one that turns out larger while streaming is refused after.
async fn upload_body(req: &mut Request, raw_is_prov: bool) -> Reply<Upload> {
    const FORM_SLACK: usize = 64 * 1024;
    let too_large = || PublishError::TooLarge(format!("the upload is larger than {MAX_UPLOAD} bytes"));
    let declared = req.headers().get("Content-Length")?.and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD + FORM_SLACK) {
        return Err(too_large().into());
    }
    let content_type = req.headers().get("Content-Type")?.unwrap_or_default();
    let Some(body) = super::body::read_bounded(req, MAX_UPLOAD + FORM_SLACK).await? else {
        return Err(too_large().into());
    };
    if !content_type.starts_with("multipart/form-data") {
        return Ok(if raw_is_prov {
            Upload { chart: None, prov: Some(body), created: None }
        } else {
            Upload { chart: Some((body, None)), prov: None, created: None }
        });
    }
    // The runtime's form parser reads from a request: the bounded bytes become one.
    let form = super::body::form(&body, &content_type).await?;
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
        return Err(
            PublishError::BadChart("no package or provenance file found in form fields chart and prov".into()).into()
        );
    }
    let created = match form.get("created") {
        Some(FormEntry::Field(text)) => Some(text),
        Some(FormEntry::File(file)) => Some(String::from_utf8_lossy(&file.bytes().await?).into_owned()),
        None => None,
    };
    Ok(Upload { chart, prov, created })
}

/// `?force` on an upload, when `ALLOW_OVERWRITE` lets it replace what is listed.
fn forced(t: &Target<'_>) -> bool {
    let allowed = matches!(t.config.backend, crate::edge::ChartBackend::Ledger { allow_overwrite: true });
    t.url.query_pairs().any(|(k, _)| k == "force") && allowed
}

/// `POST /api/:repo/charts`: an archive (with its provenance file, when the form has one), or a
/// form with only a provenance file. The content is stored by digest first; the ledger's commit
/// makes it visible, or refuses it and nothing is.
async fn upload(req: &mut Request, t: &Target<'_>, repo: &RepoName) -> Reply {
    let force = forced(t);
    let Upload { chart, prov, created } = upload_body(req, false).await?;
    let Some((tgz, file_name)) = chart else {
        return store_prov(t, repo, prov.unwrap_or_default(), force).await;
    };
    if tgz.len() > MAX_UPLOAD {
        return Err(PublishError::TooLarge(format!("the chart is larger than {MAX_UPLOAD} bytes")).into());
    }
    // The entry gate first: what may enter, read as helm will read it.
    let verdict = crate::entry::check_archive(&tgz, &crate::entry::Limits::default());
    let entry = admit(verdict, t.config.entry_checks).map_err(PublishError::EntryRefused)?;
    let (id, meta) = chart_metadata(&tgz).map_err(PublishError::from)?;
    if !entry.would_refuse.is_empty() {
        worker::console_log!(
            "chartgate: entry gate (ENTRY_CHECKS=report): {} {} of {repo} would be refused: {}",
            id.name,
            id.version,
            entry.would_refuse.join(", ")
        );
    }
    if let Some(f) = file_name {
        check_file_name(&f, &id)?;
    }
    if let Some(prov) = prov.as_deref() {
        let archive = crate::registry::Digest::of(crate::registry::Algorithm::Sha256, &tgz).to_string();
        check_prov(prov, &id)?;
        check_prov_signs(prov, &archive, &id)?;
    }
    let created = created.map(|c| check_created(&c, super::isolate::now_secs())).transpose()?;
    if let Err(why) = crate::edge::store::ledger::check_keys(&meta) {
        return Err(PublishError::BadChart(format!("Chart.yaml: {why}")).into());
    }
    let Some(meta) = ChartMeta::from_json(&meta) else {
        return Err(PublishError::BadChart("Chart.yaml has no name and version".into()).into());
    };
    // Checked before anything is stored: a name or version the ledger would refuse.
    crate::edge::store::ledger::check_name(&id.name)?;
    crate::edge::store::ledger::check_version(&id.name, &id.version)?;
    let mut release = Box::new(store_upload(t, repo, meta, tgz, prov).await?);
    if let Some(created) = created {
        release.created = created;
    }
    release.entry = Some(entry);
    let op = Op::Publish { release: release.clone(), exclusive: true, force, tags: Vec::new() };
    LedgerClient::new(t.env, repo)?.commit(&op).await??;
    link_release(t, repo, &release).await?;
    forget(repo, &files_of(&id)).await;
    Ok(json(201, r#"{"saved":true}"#)?)
}

/// `POST /api/:repo/prov`: the provenance file of a chart, raw or as the form's `prov` field.
async fn upload_prov(req: &mut Request, t: &Target<'_>, repo: &RepoName) -> Reply {
    match upload_body(req, true).await? {
        Upload { prov: Some(prov), .. } => store_prov(t, repo, prov, forced(t)).await,
        Upload { prov: None, .. } => {
            Err(PublishError::BadChart("no provenance file found in form field prov".into()).into())
        }
    }
}

/// Adds a provenance file to the version its signed `Chart.yaml` names: stored with the manifest
/// that carries it as helm's provenance layer, then committed (replacing one only under the
/// forced-overwrite rules).
async fn store_prov(t: &Target<'_>, repo: &RepoName, prov: Vec<u8>, force: bool) -> Reply {
    let id = prov_chart(&prov)?;
    let ledger = LedgerClient::new(t.env, repo)?;
    let Some(release) = ledger.release(&id).await? else {
        return Err(LedgerError::VersionNotFound(id.name, id.version).into());
    };
    // Bound to the stored archive: a provenance file of other bytes never attaches to it.
    check_prov_signs(&prov, &release.archive, &id)?;
    let Some((prov, manifest)) = store_signature(t, repo, &release, prov).await? else {
        return Err(
            worker::Error::RustError(format!("the manifest of {} {} cannot be read", id.name, id.version)).into()
        );
    };
    let op = Op::Sign {
        name: id.name.clone(),
        version: id.version.clone(),
        prov: prov.to_string(),
        manifest: manifest.to_string(),
        based_on: release.manifest.clone(),
        force,
    };
    if let Err(e) = ledger.commit(&op).await? {
        return Err(e.into());
    }
    let signed = Release { prov: Some(prov.to_string()), manifest: manifest.to_string(), ..release };
    link_release(t, repo, &signed).await?;
    forget(repo, &files_of(&id)).await;
    Ok(json(201, r#"{"saved":true}"#)?)
}

/// `DELETE /api/:repo/charts/:name/:version`: unlisted by the ledger, so nothing of it is
/// downloadable over either protocol (a released version leaves a tombstone).
async fn delete(t: &Target<'_>, repo: &RepoName, id: &ChartId) -> Reply {
    let op = Op::Unpublish { name: id.name.clone(), version: id.version.clone() };
    match LedgerClient::new(t.env, repo)?.commit(&op).await? {
        Ok(_) => {}
        Err(LedgerError::VersionNotFound(..)) => {
            return Err(PublishError::VersionNotFound(format!("{} {}", id.name, id.version)).into())
        }
        Err(e) => return Err(e.into()),
    }
    forget(repo, &files_of(id)).await;
    Ok(json(200, r#"{"deleted":true}"#)?)
}
