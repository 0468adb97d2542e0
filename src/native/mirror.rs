//! `chartgate mirror`: copies an HTTP chart repository (a ChartMuseum, GitHub Pages, any
//! `index.yaml` with archives) into an edge repository through the edge's upload API, idempotently:
//! a version the edge already lists with the same digest is skipped. For each version it copies
//! what helm would fetch from the source: the archive its first `urls` entry names, resolved as
//! helm resolves it ([`resolve`]), and the provenance file helm asks for beside it (that URL with
//! `.prov` appended), so `helm pull --verify` works after the move. Shows a progress bar on a
//! terminal (a line per version when stderr is a log or a pipe) and returns a summary.

use indicatif::{ProgressBar, ProgressStyle};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::edge::store::publish::index_document;

/// Most YAML nodes read from a source `index.yaml` (thousands of versions fit).
const MAX_INDEX_NODES: usize = 2_000_000;

/// How to reach the source repository.
#[derive(Debug, Clone, Default)]
pub struct SourceAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// What happened to each version.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub uploaded: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Why mirroring could not start.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{0} is not an http(s) repository URL like https://edge.example.com/org1/repo1")]
    Url(String),
    #[error("cannot read {url}: {why}")]
    Fetch { url: String, why: String },
    #[error("{url} is not a chart repository index: {why}")]
    Index { url: String, why: String },
}

/// One listed version: name, version, digest (if listed) and its archive URL.
struct Listed {
    name: String,
    version: String,
    digest: Option<String>,
    url: String,
    /// The source's release time, kept by the copy (release-age rules and readers rely on it).
    created: Option<String>,
}

/// A chart URL of an index, as helm resolves it against the repository URL (helm's
/// `ResolveReferenceURL`): an absolute URL as written; a relative one against the repository URL
/// with a trailing `/` (RFC 3986 reference resolution, so `../x.tgz` and `/x.tgz` mean what they
/// mean to helm), then given the repository URL's query (`?token=`), which replaces its own.
pub fn resolve(repo_url: &str, chart_url: &str) -> Option<String> {
    if let Ok(absolute) = reqwest::Url::parse(chart_url) {
        return Some(absolute.to_string());
    }
    let mut base = reqwest::Url::parse(repo_url).ok()?;
    let query = base.query().map(str::to_owned);
    let path = format!("{}/", base.path().trim_end_matches('/'));
    base.set_path(&path);
    let mut resolved = base.join(chart_url).ok()?;
    resolved.set_query(query.as_deref());
    Some(resolved.to_string())
}

/// The provenance file of a chart URL: its path with `.prov` appended, its query kept. (helm
/// appends `.prov` to the whole URL, query included, which only a server reading that habit, as
/// the edge does, answers; a source is asked the way it serves the file.)
fn prov_url(chart_url: &str) -> String {
    match reqwest::Url::parse(chart_url) {
        Ok(mut url) => {
            let path = format!("{}.prov", url.path());
            url.set_path(&path);
            url.to_string()
        }
        Err(_) => format!("{chart_url}.prov"),
    }
}

/// `index.yaml` of a repository URL (its query kept, as helm fetches it).
fn index_url(repo_url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(repo_url).ok()?;
    let path = format!("{}/index.yaml", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Some(url.to_string())
}

fn versions(index: &Value, base: &str) -> Vec<Listed> {
    let mut out = Vec::new();
    let Some(entries) = index.get("entries").and_then(Value::as_object) else { return out };
    for (name, list) in entries {
        for e in list.as_array().into_iter().flatten() {
            let (Some(version), Some(url)) = (
                e.get("version").and_then(Value::as_str),
                e.get("urls").and_then(Value::as_array).and_then(|u| u.first()).and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(url) = resolve(base, url) else { continue };
            let digest = e.get("digest").and_then(Value::as_str).map(str::to_owned);
            let created = e.get("created").and_then(Value::as_str).map(str::to_owned);
            out.push(Listed { name: name.clone(), version: version.to_owned(), digest, url, created });
        }
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<Option<Vec<u8>>, MirrorError> {
    let fail = |why: String| MirrorError::Fetch { url: url.to_owned(), why };
    let res = auth(client.get(url)).send().await.map_err(|e| fail(e.to_string()))?;
    match res.status().as_u16() {
        200 => Ok(Some(res.bytes().await.map_err(|e| fail(e.to_string()))?.to_vec())),
        404 => Ok(None),
        status => Err(fail(format!("HTTP {status}"))),
    }
}

fn parse_index(url: &str, bytes: &[u8]) -> Result<Value, MirrorError> {
    index_document(bytes, MAX_INDEX_NODES).map_err(|why| MirrorError::Index { url: url.to_owned(), why })
}

/// One part of a `multipart/form-data` body (RFC 7578): a field, or a file when it has a name.
struct Part<'a> {
    field: &'a str,
    file_name: Option<String>,
    bytes: Vec<u8>,
}

/// A `multipart/form-data` body of `parts` and its content type, with a boundary that occurs in
/// none of them.
fn form(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = loop {
        let b = format!("chartgate-{}", crate::random_id());
        if !parts.iter().any(|p| p.bytes.windows(b.len()).any(|w| w == b.as_bytes())) {
            break b;
        }
    };
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"", p.field).as_bytes(),
        );
        if let Some(file) = &p.file_name {
            body.extend_from_slice(
                format!("; filename=\"{file}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(&p.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs `body` to the edge's upload API; `Err` says what the edge answered.
async fn send(client: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) -> Result<(), String> {
    send_typed(client, url, token, None, body).await
}

/// POSTs `body` (of `content_type`, when given) to the edge's upload API.
async fn send_typed(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    content_type: Option<String>,
    body: Vec<u8>,
) -> Result<(), String> {
    let mut request = client.post(url).bearer_auth(token).body(body);
    if let Some(t) = content_type {
        request = request.header("Content-Type", t);
    }
    match request.send().await {
        Ok(res) if res.status().as_u16() == 201 => Ok(()),
        Ok(res) => {
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            Err(format!("the edge answered {status} {}", body.trim()))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Every version `repo` (an `index.yaml` repository) lists, downloaded with `token` as the
/// bearer (to the repository's own host only) and judged by the entry gate: `(name, version,
/// verdict)`, in index order.
///
/// # Errors
/// The index or an archive that cannot be fetched or read.
pub async fn judge(
    repo: &str,
    token: Option<&str>,
    limits: &crate::entry::Limits,
) -> Result<Vec<(String, String, crate::entry::Verdict)>, MirrorError> {
    let repo = repo.trim_end_matches('/');
    let client = reqwest::Client::new();
    let with_token = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let index_url = index_url(repo).ok_or_else(|| MirrorError::Url(repo.to_owned()))?;
    let index = get(&client, &index_url, with_token)
        .await?
        .ok_or_else(|| MirrorError::Fetch { url: index_url.clone(), why: "HTTP 404".into() })?;
    let mut judged = Vec::new();
    for v in versions(&parse_index(&index_url, &index)?, repo) {
        let same_host = crate::split_url(&v.url).map(|(o, _)| o) == crate::split_url(repo).map(|(o, _)| o);
        let auth = |r: reqwest::RequestBuilder| if same_host { with_token(r) } else { r };
        let tgz = get(&client, &v.url, auth)
            .await?
            .ok_or_else(|| MirrorError::Fetch { url: v.url.clone(), why: "HTTP 404".into() })?;
        judged.push((v.name, v.version, crate::entry::check_archive(&tgz, limits)));
    }
    Ok(judged)
}

/// Mirrors `source` into `target` (`https://edge/org1/repo1`) with a token that may push there.
pub async fn mirror(source: &str, target: &str, token: &str, auth: &SourceAuth) -> Result<Summary, MirrorError> {
    let source = source.trim_end_matches('/');
    let target = target.trim_end_matches('/');
    let (origin, repo_path) = crate::split_url(target).ok_or_else(|| MirrorError::Url(target.to_owned()))?;
    crate::split_url(source).ok_or_else(|| MirrorError::Url(source.to_owned()))?;
    let client = reqwest::Client::new();
    let with_source = |r: reqwest::RequestBuilder| match &auth.username {
        Some(user) => r.basic_auth(user, auth.password.as_deref()),
        None => r,
    };
    let source_index_url = index_url(source).ok_or_else(|| MirrorError::Url(source.to_owned()))?;
    let source_index = get(&client, &source_index_url, with_source)
        .await?
        .ok_or_else(|| MirrorError::Fetch { url: source_index_url.clone(), why: "HTTP 404".into() })?;
    let wanted = versions(&parse_index(&source_index_url, &source_index)?, source);
    let target_index_url = format!("{target}/index.yaml");
    let with_token = |r: reqwest::RequestBuilder| r.bearer_auth(token);
    let have = match get(&client, &target_index_url, with_token).await? {
        Some(bytes) => versions(&parse_index(&target_index_url, &bytes)?, target),
        None => Vec::new(),
    };
    let upload_url = format!("{origin}/api{repo_path}/charts");
    let mut summary = Summary::default();
    let total = wanted.len();
    // On a terminal a bar, with failures printed above it; elsewhere a line per version.
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    let report = |line: String, failure: bool| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else if failure {
            bar.println(line);
        }
    };
    for (i, v) in wanted.iter().enumerate() {
        let progress = format!("[{}/{total}] {} {}", i + 1, v.name, v.version);
        bar.set_message(format!("{} {}", v.name, v.version));
        bar.set_position(i as u64);
        // Source credentials only go to the source's own host.
        let same_host = crate::split_url(&v.url).map(|(o, _)| o) == crate::split_url(source).map(|(o, _)| o);
        let from_source = |r: reqwest::RequestBuilder| if same_host { with_source(r) } else { r };
        // The provenance file beside the archive (its path with `.prov`, the query kept for the source).
        let prov = match get(&client, &prov_url(&v.url), from_source).await {
            Ok(prov) => prov,
            Err(e) => {
                summary.failed += 1;
                report(format!("{progress}: failed: {e}"), true);
                continue;
            }
        };
        let listed = have.iter().find(|h| h.name == v.name && h.version == v.version);
        if let Some(listed) = listed {
            if listed.digest.is_some() && listed.digest == v.digest {
                // Already there; a provenance file the edge lacks is still copied.
                let file = format!("{target}/{}-{}.tgz.prov", v.name, v.version);
                let missing = prov.is_some() && matches!(get(&client, &file, with_token).await, Ok(None));
                if !missing {
                    summary.skipped += 1;
                    report(format!("{progress}: already there (same digest)"), false);
                    continue;
                }
                let prov_url = format!("{origin}/api{repo_path}/prov");
                match send(&client, &prov_url, token, prov.unwrap_or_default()).await {
                    Ok(()) => {
                        summary.uploaded += 1;
                        report(format!("{progress}: provenance file uploaded (the chart was there)"), false);
                    }
                    Err(why) => {
                        summary.failed += 1;
                        report(format!("{progress}: failed: {why}"), true);
                    }
                }
                continue;
            }
        }
        let archive = match get(&client, &v.url, from_source).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                summary.failed += 1;
                report(format!("{progress}: failed: {} answered 404", v.url), true);
                continue;
            }
            Err(e) => {
                summary.failed += 1;
                report(format!("{progress}: failed: {e}"), true);
                continue;
            }
        };
        let digest = crate::hex(&Sha256::digest(&archive));
        if v.digest.as_deref().is_some_and(|d| d != digest) {
            summary.failed += 1;
            report(format!("{progress}: failed: the archive's digest is not the one its index lists"), true);
            continue;
        }
        // One form: the archive, its provenance file (the edge binds it to this archive's digest),
        // and the source's release time.
        let mut parts =
            vec![Part { field: "chart", file_name: Some(format!("{}-{}.tgz", v.name, v.version)), bytes: archive }];
        if let Some(prov) = prov {
            parts.push(Part {
                field: "prov",
                file_name: Some(format!("{}-{}.tgz.prov", v.name, v.version)),
                bytes: prov,
            });
        }
        if let Some(created) = &v.created {
            parts.push(Part { field: "created", file_name: None, bytes: created.clone().into_bytes() });
        }
        let (content_type, body) = form(&parts);
        match send_typed(&client, &upload_url, token, Some(content_type), body).await {
            Ok(()) => {
                summary.uploaded += 1;
                report(format!("{progress}: uploaded"), false);
            }
            Err(why) => {
                summary.failed += 1;
                report(format!("{progress}: failed: {why}"), true);
            }
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_versions_with_absolute_urls() {
        let index = serde_json::json!({"entries": {
            "b": [{"version": "1.0.0", "urls": ["charts/b-1.0.0.tgz"], "digest": "x"}],
            "a": [{"version": "0.1.0", "urls": ["https://cdn.example/a-0.1.0.tgz"]}, {"version": "bad"}],
        }});
        let v = versions(&index, "https://src/repo");
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].name.as_str(), v[0].url.as_str()), ("a", "https://cdn.example/a-0.1.0.tgz"));
        assert_eq!(v[1].url, "https://src/repo/charts/b-1.0.0.tgz");
        assert_eq!(v[1].digest.as_deref(), Some("x"));
    }

    /// Security round 3, item 8: chart URLs resolved exactly as helm resolves them.
    #[test]
    fn chart_urls_resolve_as_helm_resolves_them() {
        let r = |base, url| resolve(base, url).unwrap();
        assert_eq!(r("https://s/o/r", "x-1.0.0.tgz"), "https://s/o/r/x-1.0.0.tgz");
        assert_eq!(r("https://s/o/r/", "charts/x-1.0.0.tgz"), "https://s/o/r/charts/x-1.0.0.tgz");
        assert_eq!(r("https://s/o/r", "../x-1.0.0.tgz"), "https://s/o/x-1.0.0.tgz");
        assert_eq!(r("https://s/o/r", "/x-1.0.0.tgz"), "https://s/x-1.0.0.tgz");
        assert_eq!(
            r("https://s/o/r?token=T", "x.tgz?v=2"),
            "https://s/o/r/x.tgz?token=T",
            "the repository's query replaces the chart's"
        );
        assert_eq!(
            r("https://s/o/r?token=T", "https://cdn/x.tgz?sig=1"),
            "https://cdn/x.tgz?sig=1",
            "absolute as written"
        );
        assert_eq!(index_url("https://s/o/r/?token=T").unwrap(), "https://s/o/r/index.yaml?token=T");
        assert_eq!(prov_url("https://s/o/r/x.tgz?token=T"), "https://s/o/r/x.tgz.prov?token=T");
    }
}
