//! The entry gate's verdict: what an archive passed, or every refusal with its stable code; the
//! one list of refusal codes ([`CODES`]) that every front end (API, OCI, `chartgate check`) returns.

use serde::Serialize;

/// Every refusal code, with what it refuses. The codes are stable: tools match on them.
pub const CODES: &[(&str, &str)] = &[
    // The archive as a whole.
    ("archive_invalid", "not a gzip stream of a tar archive as Go's archive/tar reads it (helm could not load it)"),
    ("archive_too_large", "the archive, compressed or inflated, is larger than the limit (helm's 100 MiB inflated)"),
    ("inflation_ratio", "the archive inflates to far more than its compressed size (a decompression bomb)"),
    ("too_many_files", "more entries than the limit"),
    ("nested_archive", "subchart archives nested deeper than the limit"),
    // Entries.
    ("symlink", "a symbolic link entry"),
    ("hard_link", "a hard link entry"),
    ("device", "a character or block device entry"),
    ("fifo", "a FIFO (named pipe) entry"),
    ("sparse", "a GNU sparse file (old GNU or PAX GNU.sparse records)"),
    ("entry_type", "an entry that is neither a regular file nor a directory, or whose mode bits name another type"),
    ("file_too_large", "a file larger than the per-file limit (helm's 5 MiB)"),
    // Paths, as helm extracts them (after PAX and GNU long names).
    ("absolute_path", "a path starting with / or a drive letter"),
    ("parent_path", "a path with a .. component (or one that helm refuses as starting with ..)"),
    ("backslash_path", "a path containing a backslash"),
    ("nul_path", "a path containing a NUL byte"),
    ("path_encoding", "a path that is not UTF-8"),
    ("unclean_path", "a path with empty or . components, that helm would rewrite"),
    ("outside_chart_dir", "a path that is not under the archive's one top directory"),
    ("chart_dir", "the top directory is not the chart's name"),
    ("duplicate_path", "two entries for the same path, or paths differing only in case"),
    ("path_conflict", "a path that is both a file and a directory"),
    // Identity.
    ("chart_yaml_missing", "no <name>/Chart.yaml"),
    ("chart_yaml_invalid", "Chart.yaml is not a YAML mapping helm can load"),
    ("api_version", "apiVersion is not v1 or v2"),
    ("chart_name", "the chart name is missing or not a valid chart name"),
    ("chart_version", "the version is missing or not SemVer 2"),
    ("name_mismatch", "the OCI config's name differs from Chart.yaml's"),
    ("version_mismatch", "the OCI config's version differs from Chart.yaml's"),
    // Parse bombs and references.
    ("yaml_invalid", "a YAML file helm parses (values.yaml, Chart.lock, requirements.*) is not valid YAML"),
    ("yaml_depth", "YAML nested deeper than the limit"),
    ("yaml_nodes", "YAML with more nodes than the limit"),
    ("yaml_alias_expansion", "YAML whose aliases expand to more nodes than the limit (billion laughs)"),
    ("schema_invalid", "values.schema.json is not JSON"),
    ("schema_depth", "values.schema.json nested deeper than the limit"),
    ("schema_size", "values.schema.json larger than the limit"),
    ("schema_ref_file", "a schema reference that names a file (file:, a relative or absolute path)"),
    ("schema_ref_scheme", "a schema reference by a scheme other than https (http:, ftp:, ...)"),
    ("schema_ref_private", "a schema reference to a loopback, link-local, private or otherwise non-public host"),
    // Dependencies.
    ("dependency_not_regular", "Chart.lock, requirements.yaml or requirements.lock is not a regular file"),
    ("dependency_name", "a dependency name or alias is not a valid chart name"),
];

/// Why an archive may not enter: a stable code from [`CODES`], the file inside the archive it
/// concerns (when one does), and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub file: Option<String>,
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, file: Option<&str>, detail: impl Into<String>) -> Self {
        debug_assert!(CODES.iter().any(|(c, _)| *c == code), "undocumented refusal code {code}");
        Refusal { code, file: file.map(str::to_owned), detail: detail.into() }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}: {}", self.code, file, self.detail),
            None => write!(f, "{}: {}", self.code, self.detail),
        }
    }
}

/// What an accepted archive passed: a small record the ledger can store beside the version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passed {
    /// The chart's name and version, from `<name>/Chart.yaml`.
    pub name: String,
    pub version: String,
    /// The checks run, in order (`archive`, `paths`, `sizes`, `identity`, `claimed`, `yaml`,
    /// `schema`, `dependencies`).
    pub checks: Vec<&'static str>,
    /// Public `https` URLs that `values.schema.json` files reference (helm may fetch them).
    pub schema_refs: Vec<String>,
    /// Every file's path as helm extracts it (`<name>/...`), in archive order.
    pub files: Vec<String>,
    /// Bytes the archive inflated to.
    pub inflated: u64,
}

/// The entry gate's answer for one archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Accepted(Passed),
    Refused { refusals: Vec<Refusal> },
}

impl Verdict {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted(_))
    }

    /// The refusals (empty when accepted).
    pub fn refusals(&self) -> &[Refusal] {
        match self {
            Verdict::Accepted(_) => &[],
            Verdict::Refused { refusals } => refusals,
        }
    }

    /// The codes refused, in order (handy in tests and logs).
    pub fn codes(&self) -> Vec<&'static str> {
        self.refusals().iter().map(|r| r.code).collect()
    }
}
