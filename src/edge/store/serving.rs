//! HTTP serving rules for allowed chart requests, independent of the platform: content types,
//! cache lifetimes (edge copy and client), byte ranges, `If-None-Match`, the cache status header,
//! which request headers may travel to the origin, and which stored objects a write through the
//! chart API makes stale.

use super::chart_archive::ChartId;
use crate::path::NormalizedPath;
use crate::route::Route;

/// Header that tells where a response came from.
pub const CACHE_STATUS_HEADER: &str = "X-Chartgate-Cache";

/// Headers on every response to a client.
pub const SECURITY_HEADERS: [(&str, &str); 2] =
    [("Referrer-Policy", "no-referrer"), ("X-Content-Type-Options", "nosniff")];

/// Request headers forwarded to the origin (plus `Authorization` when configured). No
/// conditional header (`If-None-Match`, `If-Modified-Since`, `If-Range`, ...): the edge fetches
/// whole objects to store them and answers conditionals itself.
pub const ORIGIN_SAFE_HEADERS: [&str; 4] = ["accept", "content-type", "content-length", "user-agent"];

/// True for a chart upload (`POST /api/<repo>/charts`), whose archive may replace a stored one.
pub fn is_chart_upload(route: &Route, method: &str, path: &NormalizedPath) -> bool {
    matches!(route, Route::ApiWrite { .. }) && method == "POST" && path.segments().next_back() == Some("charts")
}

/// The storage keys (R2 and edge cache) that a successful write through the chart API makes
/// stale: for `DELETE /api/<repo>/charts/<name>/<version>` the archive, its provenance file and
/// the index; for an upload, the index and, when the uploaded chart could be read (`uploaded`),
/// the archive and provenance file it replaces. Empty for reads.
pub fn stale_objects(route: &Route, method: &str, path: &NormalizedPath, uploaded: Option<&ChartId>) -> Vec<String> {
    let Route::ApiWrite { repo } = route else { return Vec::new() };
    let mut keys = Vec::with_capacity(3);
    let file = match (method, uploaded) {
        ("DELETE", _) => {
            let mut segments = path.segments().rev();
            match (segments.next(), segments.next()) {
                (Some(version), Some(name)) => Some(format!("{name}-{version}.tgz")),
                _ => None,
            }
        }
        ("POST", Some(chart)) => Some(chart.file_name()),
        _ => None,
    };
    if let Some(file) = file {
        keys.push(format!("{repo}/{file}"));
        keys.push(format!("{repo}/{file}.prov"));
    }
    keys.push(format!("{repo}/index.yaml"));
    keys
}

/// Where a served response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// The edge cache.
    Hit,
    /// Not served from a store (pass-through API routes, not found).
    Miss,
    /// The R2 bucket (then stored in the edge cache).
    R2,
    /// The origin (then stored in the edge cache).
    Origin,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::R2 => "R2",
            CacheStatus::Origin => "ORIGIN",
        }
    }
}

/// `Content-Type` of a servable object.
pub fn content_type(route: &Route) -> &'static str {
    match route {
        Route::Index { .. } => "application/x-yaml; charset=utf-8",
        Route::Artifact { file, .. } if file.ends_with(".prov") => "application/pgp-signature",
        _ => "application/gzip",
    }
}

/// `Cache-Control` of the copy kept in the edge cache: the index briefly, archives for long.
pub fn edge_cache_control(route: &Route, index_ttl: u64) -> String {
    match route {
        Route::Index { .. } => format!("public, max-age={index_ttl}"),
        _ => "public, max-age=31536000, immutable".to_owned(),
    }
}

/// `Cache-Control` sent to clients: never shared caches; the index revalidates by `ETag`.
pub fn client_cache_control(route: &Route) -> &'static str {
    match route {
        Route::Index { .. } => "private, no-cache",
        _ => "private, max-age=31536000, immutable",
    }
}

/// `Cache-Control` sent to clients for registry content addressed by digest (blobs, manifests by
/// digest): immutable for a year, and `public` only for a public repository. Anything else is
/// `private`, so no shared proxy between client and edge keeps it for others (the edge's own
/// cache, reached only after the decision, keeps its copy under [`edge_cache_control`]'s rules).
pub fn registry_client_cache_control(public: bool) -> &'static str {
    if public {
        "public, max-age=31536000, immutable"
    } else {
        "private, max-age=31536000, immutable"
    }
}

/// A satisfiable byte range, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// `Content-Range` value.
    pub fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.start, self.end)
    }
}

/// Parses a single-range `Range` header against an object of `size` bytes.
/// `Ok(None)`: serve the whole object (no header, or a form we do not serve partially);
/// `Err(())`: 416.
#[allow(clippy::result_unit_err)]
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: the whole object is a valid answer
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| ());
    let range = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => {
            let n = num(b)?;
            if n == 0 || size == 0 {
                return Err(());
            }
            ByteRange { start: size.saturating_sub(n), end: size - 1 }
        }
        (false, true) => ByteRange { start: num(a)?, end: size.saturating_sub(1) },
        (false, false) => ByteRange { start: num(a)?, end: num(b)?.min(size.saturating_sub(1)) },
        (true, true) => return Err(()),
    };
    if range.start >= size || range.start > range.end {
        return Err(());
    }
    Ok(Some(range))
}

/// The request headers RFC 9110's conditional and range requests read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
}

/// How a full `200` representation is answered under RFC 9110: what every HTTP route does at the
/// response layer, one header check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The whole representation (a HEAD: its headers only).
    Full,
    /// `304 Not Modified`: `If-None-Match` matched.
    NotModified,
    /// `412 Precondition Failed`: `If-Match` did not.
    PreconditionFailed,
    /// `206 Partial Content`.
    Partial(ByteRange),
    /// `416 Range Not Satisfiable`.
    Unsatisfiable,
}

impl Answer {
    /// True when the answer needs the body's size (a range).
    pub fn wants_range(p: &Preconditions, etag: Option<&str>) -> bool {
        p.range.is_some() && p.if_range.as_deref().is_none_or(|r| etag.is_some_and(|e| strong_eq(r, e)))
    }
}

fn strong_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    !a.starts_with("W/") && !b.starts_with("W/") && a == b
}

/// The answer to `p` for a representation with `etag` and `size` bytes (`None`: unknown, then no
/// range is served), RFC 9110 §13.2.2's order: `If-Match`, `If-None-Match`, then `Range` (with
/// `If-Range`).
pub fn answer(p: &Preconditions, etag: Option<&str>, size: Option<u64>) -> Answer {
    if let Some(if_match) = &p.if_match {
        let ok = if_match.trim() == "*" && etag.is_some()
            || etag.is_some_and(|e| if_match.split(',').any(|c| strong_eq(c, e)));
        if !ok {
            return Answer::PreconditionFailed;
        }
    }
    if etag.is_some_and(|e| etag_matches(p.if_none_match.as_deref(), e)) {
        return Answer::NotModified;
    }
    match size {
        Some(size) if Answer::wants_range(p, etag) => match parse_range(p.range.as_deref(), size) {
            Err(()) => Answer::Unsatisfiable,
            Ok(Some(r)) => Answer::Partial(r),
            Ok(None) => Answer::Full,
        },
        _ => Answer::Full,
    }
}

/// True when `If-None-Match` matches `etag` (weak comparison, lists and `*`).
pub fn etag_matches(if_none_match: Option<&str>, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let Some(header) = if_none_match else { return false };
    let etag = strip(etag);
    header.split(',').any(|candidate| candidate.trim() == "*" || strip(candidate) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 7 of the second security round: a client's `If-None-Match` reached the origin on
    /// a cache miss, and its 304 became a 502.
    #[test]
    fn finding_07_no_conditional_header_reaches_the_origin() {
        for h in ORIGIN_SAFE_HEADERS {
            assert!(!h.starts_with("if-") && h != "range", "{h}");
        }
    }

    /// Finding 14 of the second security round: a delete left the chart in the edge cache and R2.
    #[test]
    fn finding_14_writes_name_what_they_make_stale() {
        let repo = crate::RepoName::parse("repo").unwrap();
        let stale = |method: &str, path: &str, depth| {
            let p = NormalizedPath::parse(path).unwrap();
            stale_objects(&Route::parse(method, &p, depth, &repo).unwrap(), method, &p, None)
        };
        assert_eq!(
            stale("DELETE", "/api/org1/repo1/charts/hello/0.1.0", crate::Depth::Two),
            ["org1/repo1/hello-0.1.0.tgz", "org1/repo1/hello-0.1.0.tgz.prov", "org1/repo1/index.yaml"]
        );
        assert_eq!(
            stale("DELETE", "/api/charts/x/1.0.0", crate::Depth::Zero),
            ["repo/x-1.0.0.tgz", "repo/x-1.0.0.tgz.prov", "repo/index.yaml"]
        );
        assert_eq!(stale("POST", "/api/org1/repo1/charts", crate::Depth::Two), ["org1/repo1/index.yaml"]);
        let p = NormalizedPath::parse("/api/org1/repo1/charts").unwrap();
        let upload = Route::parse("POST", &p, crate::Depth::Two, &repo).unwrap();
        assert!(is_chart_upload(&upload, "POST", &p));
        let chart = ChartId { name: "hello".into(), version: "0.2.0".into() };
        assert_eq!(
            stale_objects(&upload, "POST", &p, Some(&chart)),
            ["org1/repo1/hello-0.2.0.tgz", "org1/repo1/hello-0.2.0.tgz.prov", "org1/repo1/index.yaml"],
            "an overwrite replaces the stored archive"
        );
        let prov = NormalizedPath::parse("/api/org1/repo1/prov").unwrap();
        assert!(!is_chart_upload(&Route::parse("POST", &prov, crate::Depth::Two, &repo).unwrap(), "POST", &prov));
        assert!(stale("GET", "/api/org1/repo1/charts", crate::Depth::Two).is_empty());
        assert!(stale("GET", "/org1/repo1/index.yaml", crate::Depth::Two).is_empty());
    }

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=0-9"), Ok(Some(ByteRange { start: 0, end: 9 })));
        assert_eq!(r("bytes=90-"), Ok(Some(ByteRange { start: 90, end: 99 })));
        assert_eq!(r("bytes=-10"), Ok(Some(ByteRange { start: 90, end: 99 })));
        assert_eq!(r("bytes=50-500"), Ok(Some(ByteRange { start: 50, end: 99 })));
        assert_eq!(r("bytes=0-1,5-6"), Ok(None));
        assert_eq!(r("bytes=100-"), Err(()));
        assert_eq!(r("bytes=9-1"), Err(()));
        assert_eq!(r("bytes=x-1"), Err(()));
        assert_eq!(parse_range(None, 100), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 100), Ok(None));
        assert_eq!(ByteRange { start: 0, end: 9 }.content_range(100), "bytes 0-9/100");
    }

    /// Review case 10 of security round 4: conditional and range requests held on the registry's
    /// blobs only; every HTTP route answers them by this one rule.
    #[test]
    fn case_10_one_rule_answers_conditional_and_range_requests() {
        let p = |m: Option<&str>, n: Option<&str>, r: Option<&str>, ir: Option<&str>| Preconditions {
            if_match: m.map(str::to_owned),
            if_none_match: n.map(str::to_owned),
            range: r.map(str::to_owned),
            if_range: ir.map(str::to_owned),
        };
        let e = Some("\"abc\"");
        assert_eq!(answer(&p(None, None, None, None), e, Some(10)), Answer::Full);
        assert_eq!(answer(&p(None, Some("\"abc\""), None, None), e, Some(10)), Answer::NotModified);
        assert_eq!(answer(&p(None, Some("\"abc\""), Some("bytes=0-1"), None), e, Some(10)), Answer::NotModified);
        assert_eq!(answer(&p(Some("\"x\""), None, None, None), e, Some(10)), Answer::PreconditionFailed);
        assert_eq!(answer(&p(Some("*"), None, None, None), e, Some(10)), Answer::Full);
        assert_eq!(
            answer(&p(None, None, Some("bytes=0-1"), None), e, Some(10)),
            Answer::Partial(ByteRange { start: 0, end: 1 })
        );
        assert_eq!(answer(&p(None, None, Some("bytes=20-"), None), e, Some(10)), Answer::Unsatisfiable);
        assert_eq!(answer(&p(None, None, Some("bytes=0-1"), Some("\"old\"")), e, Some(10)), Answer::Full);
        assert_eq!(
            answer(&p(None, None, Some("bytes=0-1"), Some("\"abc\"")), e, Some(10)),
            Answer::Partial(ByteRange { start: 0, end: 1 })
        );
        assert_eq!(answer(&p(None, None, Some("bytes=0-1"), None), e, None), Answer::Full, "no size, no range");
    }

    #[test]
    fn etags() {
        assert!(etag_matches(Some("\"abc\""), "\"abc\""));
        assert!(etag_matches(Some("W/\"abc\", \"x\""), "\"abc\""));
        assert!(etag_matches(Some("*"), "\"abc\""));
        assert!(!etag_matches(Some("\"abd\""), "\"abc\""));
        assert!(!etag_matches(None, "\"abc\""));
    }
}
