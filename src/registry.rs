//! The OCI distribution routes (spec v1.1) as the decision sees them: `/v2/<name>/<endpoint>`
//! parsed under the spec's grammar (repository names, tags, digests, upload ids) into an
//! [`Endpoint`] and the action it needs on the OCI repository. Everything outside the grammar is
//! refused here, before any credential is read: a registry path is never percent-decoded.

use std::fmt;

use crate::path::NormalizedPath;
use crate::scope::{Action, Kind, RepoName};

/// Longest accepted tag (the spec's `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
pub const MAX_TAG: usize = 128;
/// Longest accepted upload id.
pub const MAX_UPLOAD_ID: usize = 64;

/// Why a registry path was refused; each maps to one of the spec's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryPathError {
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    #[error("invalid digest: {0}")]
    DigestInvalid(String),
    #[error("invalid tag: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    TagInvalid,
    #[error("unknown upload id")]
    UploadUnknown,
    #[error("no such registry endpoint")]
    Unsupported,
}

impl RegistryPathError {
    /// The spec's error code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryPathError::NameInvalid(_) => "NAME_INVALID",
            RegistryPathError::DigestInvalid(_) => "DIGEST_INVALID",
            RegistryPathError::TagInvalid => "MANIFEST_INVALID",
            RegistryPathError::UploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            RegistryPathError::Unsupported => "UNSUPPORTED",
        }
    }

    /// The HTTP status the spec gives it.
    pub fn status(&self) -> u16 {
        match self {
            RegistryPathError::UploadUnknown | RegistryPathError::Unsupported => 404,
            _ => 400,
        }
    }
}

/// A digest algorithm the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    /// Length of the hex-encoded value.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest, `sha256:<64 lower-case hex>` or `sha512:<128 lower-case hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Digest, RegistryPathError> {
        let bad = |why: &str| RegistryPathError::DigestInvalid(format!("{why}: {:?}", truncate(s)));
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("not of the form algorithm:hex"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad("algorithm is not sha256 or sha512")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(bad("wrong length for its algorithm"));
        }
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("not lower-case hex"));
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        let raw = match algorithm {
            Algorithm::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Algorithm::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        };
        Digest::from_raw(algorithm, &raw)
    }

    /// A digest from the raw hash output.
    pub fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Digest {
        Digest { algorithm, hex: crate::hex::hex(raw) }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
    /// The raw hash bytes (for a storage checksum).
    pub fn raw(&self) -> Vec<u8> {
        (0..self.hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&self.hex[i..i + 2], 16).ok()).collect()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, RegistryPathError> {
        if s.contains(':') {
            return Digest::parse(s).map(Reference::Digest);
        }
        check_tag(s)?;
        Ok(Reference::Tag(s.to_owned()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// Checks a tag against the spec's grammar.
pub fn check_tag(s: &str) -> Result<(), RegistryPathError> {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let ok = !b.is_empty() && b.len() <= MAX_TAG && word(b[0]) && b.iter().all(|&c| word(c) || c == b'.' || c == b'-');
    ok.then_some(()).ok_or(RegistryPathError::TagInvalid)
}

/// Which registry endpoint a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/<name>/manifests/<reference>`
    Manifest(Reference),
    /// `/v2/<name>/blobs/<digest>`
    Blob(Digest),
    /// `/v2/<name>/blobs/uploads/`
    StartUpload,
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(String),
    /// `/v2/<name>/tags/list`
    Tags,
    /// `/v2/<name>/referrers/<digest>`
    Referrers(Digest),
}

/// True for paths the registry answers (`/v2` and below).
pub fn is_registry_path(raw: &str) -> bool {
    raw == "/v2" || raw.starts_with("/v2/")
}

/// A registry path, checked under the grammar and made canonical (no trailing `/`): the path the
/// audit line shows and path bindings compare with. `%` is refused outright, so nothing is decoded.
pub fn canonical_path(raw: &str) -> Result<NormalizedPath, RegistryPathError> {
    if raw.len() > crate::path::MAX_PATH {
        return Err(RegistryPathError::NameInvalid("path is too long".into()));
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b':');
    if let Some(&b) = raw.as_bytes().iter().find(|&&b| !allowed(b)) {
        let shown = if b.is_ascii_graphic() { format!("{:?}", b as char) } else { format!("byte 0x{b:02x}") };
        return Err(RegistryPathError::NameInvalid(format!("{shown} is not allowed in a registry path")));
    }
    let trimmed = raw.strip_suffix('/').unwrap_or(raw);
    if trimmed.contains("//") {
        return Err(RegistryPathError::NameInvalid("empty path component".into()));
    }
    Ok(NormalizedPath::trusted(trimmed.to_owned()))
}

/// Parses a canonical registry path (`None`: the base `/v2`) into the repository and endpoint.
pub fn parse(path: &NormalizedPath) -> Result<Option<(RepoName, Endpoint)>, RegistryPathError> {
    let Some(rest) = path.as_str().strip_prefix("/v2/") else { return Ok(None) };
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    let tail = |k: usize| if n > k { Some(&segments[n - k..]) } else { None };
    let (name_len, endpoint) = if let Some(["blobs", "uploads", id]) = tail(3) {
        let valid = id.len() <= MAX_UPLOAD_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (n - 3, if valid { Endpoint::Upload((*id).to_owned()) } else { return Err(RegistryPathError::UploadUnknown) })
    } else if let Some(["blobs", "uploads"]) = tail(2) {
        (n - 2, Endpoint::StartUpload)
    } else if let Some(["blobs", digest]) = tail(2) {
        (n - 2, Endpoint::Blob(Digest::parse(digest)?))
    } else if let Some(["manifests", reference]) = tail(2) {
        (n - 2, Endpoint::Manifest(Reference::parse(reference)?))
    } else if let Some(["tags", "list"]) = tail(2) {
        (n - 2, Endpoint::Tags)
    } else if let Some(["referrers", digest]) = tail(2) {
        (n - 2, Endpoint::Referrers(Digest::parse(digest)?))
    } else {
        return Err(RegistryPathError::Unsupported);
    };
    let name = segments[..name_len].join("/");
    let repo = Kind::Oci.name(&name).map_err(|e| RegistryPathError::NameInvalid(e.to_string()))?;
    Ok(Some((repo, endpoint)))
}

impl Endpoint {
    /// The action `method` needs on the repository, or `None` when the endpoint does not take it.
    pub fn action(&self, method: &str) -> Option<Action> {
        use Endpoint::*;
        match (self, method) {
            (Manifest(_) | Blob(_) | Tags | Referrers(_), "GET" | "HEAD") => Some(Action::Pull),
            (Manifest(_), "PUT" | "DELETE") | (Blob(_), "DELETE") => Some(Action::Push),
            (StartUpload, "POST") | (Upload(_), "GET" | "PATCH" | "PUT" | "DELETE") => Some(Action::Push),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Result<Option<(String, Endpoint)>, RegistryPathError> {
        let p = canonical_path(path)?;
        Ok(parse(&p)?.map(|(r, e)| (r.to_string(), e)))
    }

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn endpoints() {
        assert_eq!(route("/v2/").unwrap(), None);
        assert_eq!(route("/v2").unwrap(), None);
        let (name, e) = route(&format!("/v2/org1/repo1/hello/blobs/{D}")).unwrap().unwrap();
        assert_eq!((name.as_str(), e), ("org1/repo1/hello", Endpoint::Blob(Digest::parse(D).unwrap())));
        assert_eq!(route("/v2/a/b/blobs/uploads/").unwrap().unwrap().1, Endpoint::StartUpload);
        assert_eq!(route("/v2/a/blobs/uploads/ab-12").unwrap().unwrap().1, Endpoint::Upload("ab-12".into()));
        assert_eq!(
            route("/v2/a/b/c/manifests/0.1.0").unwrap().unwrap().1,
            Endpoint::Manifest(Reference::Tag("0.1.0".into()))
        );
        assert_eq!(route("/v2/a/tags/list").unwrap().unwrap().1, Endpoint::Tags);
        assert_eq!(
            route(&format!("/v2/a/referrers/{D}")).unwrap().unwrap().1,
            Endpoint::Referrers(Digest::parse(D).unwrap())
        );
        // A name may contain the endpoint words.
        assert_eq!(route("/v2/blobs/manifests/manifests/x").unwrap().unwrap().0, "blobs/manifests");
    }

    #[test]
    fn hostile_paths() {
        use RegistryPathError::*;
        let code = |p: &str| route(p).unwrap_err().code();
        assert_eq!(code("/v2/Org/x/manifests/1"), "NAME_INVALID");
        assert_eq!(code("/v2/../x/manifests/1"), "NAME_INVALID");
        assert_eq!(code("/v2/a/%2e%2e/manifests/1"), "NAME_INVALID");
        assert_eq!(code("/v2/a//b/manifests/1"), "NAME_INVALID");
        assert_eq!(code(&format!("/v2/{}/manifests/1", "a".repeat(300))), "NAME_INVALID");
        assert_eq!(code("/v2/a:1/b/manifests/1"), "NAME_INVALID");
        assert_eq!(code("/v2/a/manifests/.hidden"), "MANIFEST_INVALID");
        assert_eq!(code("/v2/a/blobs/sha256:abc"), "DIGEST_INVALID");
        assert_eq!(code(&format!("/v2/a/blobs/md5:{}", "a".repeat(32))), "DIGEST_INVALID");
        assert_eq!(code(&format!("/v2/a/blobs/sha512:{}", "a".repeat(64))), "DIGEST_INVALID", "sha512 needs 128");
        assert_eq!(code(&format!("/v2/a/blobs/sha256:{}", "A".repeat(64))), "DIGEST_INVALID");
        assert_eq!(code("/v2/a/blobs/uploads/../x"), "UNSUPPORTED");
        assert_eq!(code("/v2/../blobs/uploads/x"), "NAME_INVALID");
        assert_eq!(code("/v2/a/blobs/uploads/a.b"), "BLOB_UPLOAD_UNKNOWN");
        assert_eq!(code("/v2/a/catalog"), "UNSUPPORTED");
        assert_eq!(code("/v2/_catalog"), "UNSUPPORTED");
        assert!(matches!(route("/v2/a/manifests/x y"), Err(NameInvalid(_))));
    }

    #[test]
    fn actions() {
        let e = Endpoint::Manifest(Reference::Tag("1".into()));
        assert_eq!(e.action("GET"), Some(Action::Pull));
        assert_eq!(e.action("PUT"), Some(Action::Push));
        assert_eq!(e.action("PATCH"), None);
        assert_eq!(Endpoint::StartUpload.action("POST"), Some(Action::Push));
        assert_eq!(Endpoint::StartUpload.action("GET"), None);
        assert_eq!(Endpoint::Upload("x".into()).action("GET"), Some(Action::Push), "upload state needs push");
        assert_eq!(Endpoint::Tags.action("DELETE"), None);
    }

    #[test]
    fn digests() {
        let d = Digest::of(Algorithm::Sha256, b"hello");
        assert_eq!(d.to_string(), D);
        assert_eq!(Digest::parse(D).unwrap(), d);
        assert_eq!(d.raw().len(), 32);
        assert_eq!(Digest::of(Algorithm::Sha512, b"").hex().len(), 128);
    }
}
