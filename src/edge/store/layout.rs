//! The storage layout: every key the edge reads or writes, in R2 and in the edge cache, produced
//! here from a typed [`Key`] by one function ([`Key::path`]) and read back by one ([`Key::parse`]).
//! Nothing else spells a prefix or parses a key.
//!
//! ```text
//! R2 (the CHARTS bucket)
//! ├── _oci/
//! │   ├── blobs/<alg>/<hex>                          content, by digest, shared by every repository
//! │   ├── repos/<oci name>/
//! │   │   ├── _blobs/<alg>/<hex>                     link: the blob is in this repository
//! │   │   ├── _manifests/<alg>/<hex>                 a manifest's bytes
//! │   │   ├── _tags/<tag>                            tag → digest (names outside chart repositories;
//! │   │   │                                          a chart repository's tags are in its ledger)
//! │   │   └── _referrers/<alg>/<hex>/<alg>-<hex>     subject → referrer
//! │   └── uploads/<id>                               an upload session; its chunks at <id>/<n:05>
//! └── <repo>/index.yaml, <repo>/<file>               a chart server's objects (ORIGIN_URL mode only)
//!
//! Edge cache (keys under https://cache.chartgate.internal, never the request's host)
//! ├── <kind>/<alg>/<hex>                             content by digest, per kind of answer
//! ├── index/<repo>                                   a ledger's rendered index.yaml
//! ├── resolve/<repo>/<file>                          a chart file name → its digest
//! └── <repo>/index.yaml, <repo>/<file>               a chart server's objects (ORIGIN_URL mode)
//! ```
//!
//! A chart repository's state (releases, tags, tombstones) is not here: its ledger, a Durable
//! Object per repository, holds it ([`super::ledger`]).

use crate::{Digest, RepoName, Route};

/// The origin of every edge cache key: never the request's hostname.
pub const CACHE_ORIGIN: &str = "https://cache.chartgate.internal";

/// One stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// Content by digest.
    Blob(&'a Digest),
    /// A blob's link into an OCI repository.
    Link(&'a RepoName, &'a Digest),
    /// A manifest of an OCI repository.
    Manifest(&'a RepoName, &'a Digest),
    /// A tag of an OCI name outside every chart repository.
    Tag(&'a RepoName, &'a str),
    /// A referrer of `subject`.
    Referrer { repo: &'a RepoName, subject: &'a Digest, referrer: &'a Digest },
    /// An upload session.
    Upload(&'a str),
    /// One chunk of an upload session.
    Chunk(&'a str, usize),
    /// A chart server's object, in `ORIGIN_URL` mode: `<repo>/index.yaml` or `<repo>/<file>`.
    Object { repo: &'a RepoName, file: &'a str },
}

/// A prefix of keys, for listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix<'a> {
    /// Every OCI repository's objects.
    Repos,
    /// One OCI repository's objects.
    Repo(&'a RepoName),
    /// Every blob.
    Blobs,
    /// Every upload session and its chunks.
    Uploads,
    /// One OCI name's tags.
    Tags(&'a RepoName),
    /// The referrers of one subject.
    Referrers(&'a RepoName, &'a Digest),
}

impl Prefix<'_> {
    pub fn path(&self) -> String {
        match self {
            Prefix::Repos => "_oci/repos/".into(),
            Prefix::Repo(repo) => format!("_oci/repos/{repo}/"),
            Prefix::Blobs => "_oci/blobs/".into(),
            Prefix::Uploads => "_oci/uploads/".into(),
            Prefix::Tags(repo) => format!("_oci/repos/{repo}/_tags/"),
            Prefix::Referrers(repo, subject) => {
                format!("_oci/repos/{repo}/_referrers/{}/{}/", subject.algorithm().as_str(), subject.hex())
            }
        }
    }
}

fn digest_path(d: &Digest) -> String {
    format!("{}/{}", d.algorithm().as_str(), d.hex())
}

impl Key<'_> {
    /// The object's key.
    pub fn path(&self) -> String {
        match self {
            Key::Blob(d) => format!("{}{}", Prefix::Blobs.path(), digest_path(d)),
            Key::Link(repo, d) => format!("{}_blobs/{}", Prefix::Repo(repo).path(), digest_path(d)),
            Key::Manifest(repo, d) => format!("{}_manifests/{}", Prefix::Repo(repo).path(), digest_path(d)),
            Key::Tag(repo, tag) => format!("{}{tag}", Prefix::Tags(repo).path()),
            Key::Referrer { repo, subject, referrer } => format!(
                "{}{}-{}",
                Prefix::Referrers(repo, subject).path(),
                referrer.algorithm().as_str(),
                referrer.hex()
            ),
            Key::Upload(id) => format!("{}{id}", Prefix::Uploads.path()),
            Key::Chunk(id, n) => format!("{}{id}/{n:05}", Prefix::Uploads.path()),
            Key::Object { repo, file } => format!("{repo}/{file}"),
        }
    }
}

/// What a listed key is, read back (the collector's listings of `_oci/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// `_oci/blobs/<alg>/<hex>`.
    Blob(Digest),
    /// `_oci/repos/<name>/_blobs/<alg>/<hex>`.
    Link { repo: String, digest: Digest },
    /// `_oci/repos/<name>/_manifests/<alg>/<hex>`.
    Manifest { repo: String, digest: Digest },
    /// `_oci/uploads/<id>`: a session's record.
    Upload(String),
    /// `_oci/uploads/<id>/<n>`: one of its chunks.
    Chunk(String),
    /// Any other key of an OCI repository (a tag, a referrer).
    OtherOfRepo,
}

fn digest_of(path: &str) -> Option<Digest> {
    let (alg, hex) = path.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

impl Key<'_> {
    /// Reads a key under `_oci/` back; `None` for a key this layout does not produce.
    pub fn parse(key: &str) -> Option<Listed> {
        if let Some(rest) = key.strip_prefix("_oci/blobs/") {
            return digest_of(rest).map(Listed::Blob);
        }
        if let Some(rest) = key.strip_prefix("_oci/uploads/") {
            return Some(match rest.split_once('/') {
                Some((id, _)) => Listed::Chunk(id.to_owned()),
                None => Listed::Upload(rest.to_owned()),
            });
        }
        let rest = key.strip_prefix("_oci/repos/")?;
        if let Some(at) = rest.rfind("/_manifests/") {
            let digest = digest_of(&rest[at + "/_manifests/".len()..])?;
            return Some(Listed::Manifest { repo: rest[..at].to_owned(), digest });
        }
        if let Some(at) = rest.rfind("/_blobs/") {
            let digest = digest_of(&rest[at + "/_blobs/".len()..])?;
            return Some(Listed::Link { repo: rest[..at].to_owned(), digest });
        }
        Some(Listed::OtherOfRepo)
    }
}

/// The chart server's object a route reads in `ORIGIN_URL` mode (`<repo>/index.yaml`,
/// `<repo>/<file>`), or `None` for a route without one.
pub fn object_of(route: &Route) -> Option<String> {
    match route {
        Route::Index { repo } => Some(Key::Object { repo, file: "index.yaml" }.path()),
        Route::Artifact { repo, file } => Some(Key::Object { repo, file }.path()),
        _ => None,
    }
}

/// Edge cache keys.
pub mod cache {
    use super::{digest_path, CACHE_ORIGIN};
    use crate::{Digest, RepoName};

    /// Content by digest, per kind of answer (`blobs`, `manifests`, `files`: the same bytes are
    /// answered with other headers by each route).
    pub fn content(kind: &str, d: &Digest) -> String {
        format!("{CACHE_ORIGIN}/{kind}/{}", digest_path(d))
    }
    /// A ledger's rendered `index.yaml`.
    pub fn index(repo: &RepoName) -> String {
        format!("{CACHE_ORIGIN}/index/{repo}")
    }
    /// A chart file name resolved to its digest.
    pub fn resolve(repo: &RepoName, file: &str) -> String {
        format!("{CACHE_ORIGIN}/resolve/{repo}/{file}")
    }
    /// A chart server's object (`ORIGIN_URL` mode), by its R2 key.
    pub fn object(key: &str) -> String {
        format!("{CACHE_ORIGIN}/{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Algorithm;

    #[test]
    fn every_key_of_the_tree() {
        let repo = RepoName::parse("org1/repo1/hello").unwrap();
        let d = Digest::of(Algorithm::Sha256, b"x");
        let hex = d.hex().to_owned();
        assert_eq!(Key::Blob(&d).path(), format!("_oci/blobs/sha256/{hex}"));
        assert_eq!(Key::Link(&repo, &d).path(), format!("_oci/repos/org1/repo1/hello/_blobs/sha256/{hex}"));
        let manifest = Key::Manifest(&repo, &d).path();
        assert_eq!(manifest, format!("_oci/repos/org1/repo1/hello/_manifests/sha256/{hex}"));
        assert_eq!(Key::Tag(&repo, "v1").path(), "_oci/repos/org1/repo1/hello/_tags/v1");
        let r = Key::Referrer { repo: &repo, subject: &d, referrer: &d }.path();
        assert_eq!(r, format!("_oci/repos/org1/repo1/hello/_referrers/sha256/{hex}/sha256-{hex}"));
        assert!(r.starts_with(&Prefix::Referrers(&repo, &d).path()));
        assert_eq!(Key::Upload("abc").path(), "_oci/uploads/abc");
        assert_eq!(Key::Chunk("abc", 7).path(), "_oci/uploads/abc/00007");
        let chart = RepoName::parse("org1/repo1").unwrap();
        assert_eq!(Key::Object { repo: &chart, file: "x-1.0.0.tgz" }.path(), "org1/repo1/x-1.0.0.tgz");
        assert_eq!(cache::index(&chart), "https://cache.chartgate.internal/index/org1/repo1");
        assert_eq!(cache::content("blobs", &d), format!("https://cache.chartgate.internal/blobs/sha256/{hex}"));
        assert_eq!(cache::resolve(&chart, "x.tgz"), "https://cache.chartgate.internal/resolve/org1/repo1/x.tgz");
    }

    #[test]
    fn both_chart_url_forms_name_one_object() {
        let route = |path| {
            let default = RepoName::parse("repo").unwrap();
            Route::parse("GET", &crate::NormalizedPath::parse(path).unwrap(), crate::Depth::Two, &default).unwrap()
        };
        let (a, b) = (route("/org1/repo1/charts/x-0.1.0.tgz"), route("/org1/repo1/x-0.1.0.tgz"));
        assert_eq!(object_of(&a).as_deref(), Some("org1/repo1/x-0.1.0.tgz"));
        assert_eq!(object_of(&a), object_of(&b));
        let index = route("/org1/repo1/index.yaml");
        assert_eq!(object_of(&index).as_deref(), Some("org1/repo1/index.yaml"));
    }

    #[test]
    fn keys_read_back_as_they_were_made() {
        let repo = RepoName::parse("org1/repo1/hello").unwrap();
        let d = Digest::of(Algorithm::Sha256, b"x");
        let listed = Key::parse(&Key::Manifest(&repo, &d).path());
        assert_eq!(listed, Some(Listed::Manifest { repo: "org1/repo1/hello".into(), digest: d.clone() }));
        let link = Listed::Link { repo: "org1/repo1/hello".into(), digest: d.clone() };
        assert_eq!(Key::parse(&Key::Link(&repo, &d).path()), Some(link));
        assert_eq!(Key::parse(&Key::Blob(&d).path()), Some(Listed::Blob(d.clone())));
        assert_eq!(Key::parse(&Key::Tag(&repo, "v1").path()), Some(Listed::OtherOfRepo));
        assert_eq!(Key::parse(&Key::Upload("u1").path()), Some(Listed::Upload("u1".into())));
        assert_eq!(Key::parse(&Key::Chunk("u1", 3).path()), Some(Listed::Chunk("u1".into())));
        assert_eq!(Key::parse("_oci/repos/x/_manifests/sha256/zz"), None);
        assert_eq!(Key::parse("org1/repo1/index.yaml"), None);
    }
}
