//! The entry gate: what may enter a chart repository. One pure pipeline (no I/O, no clock) reads a
//! chart archive as helm will (gzip, then tar as Go's `archive/tar` reads it, then helm's loader
//! rules) and either accepts it, with a record of the checks it passed, or refuses it with every
//! reason, each under a stable code from [`CODES`]. Every way a chart enters (API upload, OCI push,
//! mirror, `chartgate check`) is meant to call [`check_archive`] or [`check_claimed`].
//!
//! The checks, in order:
//! 1. archive: gzip (every member, as Go's `gzip.Reader`), tar headers read as Go reads them
//!    ([`tar`]), bounded compressed size, inflated size, inflation ratio and entry count;
//! 2. entries: only regular files and directories; paths as helm extracts them, under one top
//!    directory, with no `..`, absolute, backslash, NUL, unclean or duplicate paths;
//! 3. identity: `<name>/Chart.yaml`, `apiVersion` v1 or v2, a valid chart name equal to the top
//!    directory, a SemVer 2 version, and for an OCI push the config's claims;
//! 4. parse bombs: every YAML file helm parses bounded in depth, nodes and alias expansion;
//!    `values.schema.json` bounded in size and depth, its references public `https` URLs;
//! 5. dependencies: lock and requirement files regular, dependency names valid; subchart archives
//!    under `charts/` checked the same way, to a bounded depth.

mod refusal;
mod schema;
mod tar;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read};

use serde_json::Value;

pub use refusal::{Passed, Refusal, Verdict, CODES};

/// Bounds of the entry gate. Every field has a safe default ([`Limits::default`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest compressed archive, in bytes. Default 20 MiB.
    pub max_archive_bytes: u64,
    /// Most bytes the tar stream may inflate to (helm's `MaxDecompressedChartSize`). Default
    /// 100 MiB; subchart archives share it.
    pub max_inflated: u64,
    /// Largest file (helm's `MaxDecompressedFileSize`). Default 5 MiB.
    pub max_file_size: u64,
    /// Most entries (files, directories, meta headers). Default 5,000.
    pub max_files: usize,
    /// Largest inflated/compressed ratio, applied once the archive inflates past
    /// [`Limits::ratio_floor`]. Default 100.
    pub max_ratio: u64,
    /// Inflated size below which the ratio is not judged. Default 16 MiB.
    pub ratio_floor: u64,
    /// Deepest nesting of subchart archives (`charts/*.tgz`). Default 5.
    pub max_nesting: usize,
    /// Deepest YAML nesting. Default 64.
    pub max_yaml_depth: usize,
    /// Most YAML nodes in one file, aliases counted once. Default 1,000,000.
    pub max_yaml_nodes: u64,
    /// Most YAML nodes in one file with every alias expanded. Default 2,000,000.
    pub max_yaml_expanded: u64,
    /// Largest `values.schema.json`. Default 2 MiB.
    pub max_schema_bytes: u64,
    /// Deepest `values.schema.json` nesting. Default 64.
    pub max_schema_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive_bytes: 20 * 1024 * 1024,
            max_inflated: 100 * 1024 * 1024,
            max_file_size: 5 * 1024 * 1024,
            max_files: 5_000,
            max_ratio: 100,
            ratio_floor: 16 * 1024 * 1024,
            max_nesting: 5,
            max_yaml_depth: 64,
            max_yaml_nodes: 1_000_000,
            max_yaml_expanded: 2_000_000,
            max_schema_bytes: 2 * 1024 * 1024,
            max_schema_depth: 64,
        }
    }
}

/// What an OCI push's config claims about the chart layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub name: String,
    pub version: String,
}

/// Checks a chart archive (`.tgz`) as every way in does.
pub fn check_archive(tgz: &[u8], limits: &Limits) -> Verdict {
    verdict(tgz, limits, None)
}

/// [`check_archive`] for an OCI push: the config's claimed name and version must also equal the
/// archive's (a mismatch is refused naming both).
pub fn check_claimed(tgz: &[u8], limits: &Limits, claimed: &Claimed) -> Verdict {
    verdict(tgz, limits, Some(claimed))
}

/// A version as helm's loader reads one (Masterminds' `semver.NewVersion`, which helm 4 still uses
/// to load a chart): SemVer 2, or with a leading `v`, missing minor or patch numbers, or leading
/// zeros (cert-manager ships `v1.18.2`). Whether a repository lists such a version is the
/// repository's rule, not the gate's.
pub fn helm_version(v: &str) -> bool {
    let v = v.strip_prefix(['v', 'V']).unwrap_or(v);
    let (core, rest) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], &v[i..]),
        None => (v, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let numbers: Vec<String> = parts
        .iter()
        .map(|p| p.trim_start_matches('0'))
        .map(|p| if p.is_empty() { "0".to_owned() } else { p.to_owned() })
        .chain(std::iter::repeat("0".to_owned()))
        .take(3)
        .collect();
    semver::Version::parse(&format!("{}{rest}", numbers.join("."))).is_ok()
}

/// Helm's rule for a chart name (`helm create`'s `^[a-zA-Z0-9._-]+$`, never `.` or `..`), and the
/// edge's: it does not start with `.` and fits a storage key (at most 128 bytes).
pub fn valid_chart_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// The `name` a `Chart.yaml` text declares, read under the default bounds (`chartgate check`
/// names a directory's archive after it, as `helm package` does).
pub fn chart_yaml_name(text: &str) -> Option<String> {
    let doc = yaml::read(text, "Chart.yaml", &Limits::default(), true).ok()??;
    doc.get("name")?.as_str().map(str::to_owned)
}

/// Helm's rule for a dependency alias: `^[a-zA-Z0-9_-]+$`.
fn valid_alias(alias: &str) -> bool {
    !alias.is_empty() && alias.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

fn verdict(tgz: &[u8], limits: &Limits, claimed: Option<&Claimed>) -> Verdict {
    let mut budget = limits.max_inflated;
    let mut refusals = Vec::new();
    let passed = check(tgz, limits, claimed, 0, &mut budget, &mut refusals);
    match passed {
        Some(passed) if refusals.is_empty() => Verdict::Accepted(passed),
        _ => Verdict::Refused { refusals },
    }
}

/// The inflated stream, counted against the budget and the ratio.
struct Counted<R> {
    inner: R,
    count: u64,
    limit: u64,
    ratio_limit: Option<u64>,
    over: Option<&'static str>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.over = Some("archive_too_large");
        } else if self.ratio_limit.is_some_and(|max| self.count > max) {
            self.over = Some("inflation_ratio");
        }
        match self.over {
            Some(_) => Err(io::Error::other("inflation limit")),
            None => Ok(n),
        }
    }
}

/// What an entry is to helm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Other(&'static str),
}

/// Files whose contents the gate reads.
const YAML_FILES: [&str; 5] = ["Chart.yaml", "values.yaml", "Chart.lock", "requirements.yaml", "requirements.lock"];
const DEPENDENCY_FILES: [&str; 3] = ["Chart.lock", "requirements.yaml", "requirements.lock"];

fn base_name(rest: &str) -> &str {
    rest.rsplit('/').next().unwrap_or(rest)
}

/// A subchart archive, as helm's loader finds one: `charts/<x>.tgz` under the chart or under an
/// unpacked subchart.
fn is_subchart_archive(rest: &str) -> bool {
    let mut parts = rest.rsplitn(3, '/');
    let (file, dir) = (parts.next().unwrap_or(""), parts.next());
    dir == Some("charts") && file.ends_with(".tgz")
}

/// The whole pipeline for one archive (or a subchart archive at `nesting`).
fn check(
    tgz: &[u8],
    limits: &Limits,
    claimed: Option<&Claimed>,
    nesting: usize,
    budget: &mut u64,
    out: &mut Vec<Refusal>,
) -> Option<Passed> {
    let before = out.len();
    if tgz.len() as u64 > limits.max_archive_bytes {
        out.push(Refusal::new(
            "archive_too_large",
            None,
            format!("{} bytes compressed, more than {}", tgz.len(), limits.max_archive_bytes),
        ));
        return None;
    }
    if !tgz.starts_with(&[0x1f, 0x8b]) {
        out.push(Refusal::new("archive_invalid", None, "not gzip"));
        return None;
    }
    let ratio_limit = (tgz.len() as u64).saturating_mul(limits.max_ratio).max(limits.ratio_floor);
    // Go's gzip.Reader reads concatenated members (multistream) by default: so does this.
    let counted = Counted {
        inner: flate2::read::MultiGzDecoder::new(tgz),
        count: 0,
        limit: *budget,
        ratio_limit: Some(ratio_limit),
        over: None,
    };
    let mut reader = tar::GoTar::new(counted);

    let mut top: Option<String> = None;
    let mut files: Vec<String> = Vec::new();
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    let mut folded: HashMap<String, String> = HashMap::new();
    let mut contents: Vec<(String, Vec<u8>)> = Vec::new();
    // Entries whose contents are not read (not regular, too large): no second refusal for them.
    let mut unread: Vec<(String, String)> = Vec::new();
    let mut entries = 0usize;
    loop {
        let header = match reader.next_entry() {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                push_stream_error(&reader, e, out);
                break;
            }
        };
        entries += 1;
        if entries > limits.max_files {
            out.push(Refusal::new("too_many_files", None, format!("more than {} entries", limits.max_files)));
            break;
        }
        if header.typeflag == b'g' {
            continue; // a PAX global header: Go returns it, helm skips it
        }
        let Ok(name) = String::from_utf8(header.name.clone()) else {
            out.push(Refusal::new(
                "path_encoding",
                Some(&String::from_utf8_lossy(&header.name)),
                "the path is not UTF-8",
            ));
            continue;
        };
        if header.sparse {
            out.push(Refusal::new("sparse", Some(&name), "a sparse file, which helm would expand"));
            break;
        }
        let kind = classify(header.typeflag, header.mode);
        let Some((dir, rest)) = check_path(&name, kind == Kind::Dir, &mut top, out) else { continue };
        if let Kind::Other(code) = kind {
            let what = match code {
                "symlink" => "a symbolic link",
                "hard_link" => "a hard link",
                "device" => "a device",
                "fifo" => "a FIFO",
                _ => "neither a regular file nor a directory (by type flag or mode bits)",
            };
            if DEPENDENCY_FILES.contains(&base_name(&rest)) {
                out.push(Refusal::new("dependency_not_regular", Some(&name), format!("{what}, not a regular file")));
            } else {
                out.push(Refusal::new(code, Some(&name), format!("{what} (type flag {:?})", header.typeflag as char)));
            }
            unread.push((name.clone(), rest));
            continue;
        }
        let full = if rest.is_empty() { dir.clone() } else { format!("{dir}/{rest}") };
        match (kinds.get(&full), kind) {
            (Some(Kind::Dir), Kind::Dir) => {}
            (Some(Kind::File), Kind::File) => {
                out.push(Refusal::new("duplicate_path", Some(&name), "a second entry for the same path"));
            }
            (Some(_), _) => out.push(Refusal::new("path_conflict", Some(&name), "both a file and a directory")),
            (None, _) => {
                kinds.insert(full.clone(), kind);
            }
        }
        if kind == Kind::Dir {
            continue;
        }
        let lower = full.to_lowercase();
        match folded.get(&lower) {
            Some(other) if *other != full => out.push(Refusal::new(
                "duplicate_path",
                Some(&name),
                format!("differs only in case from {other} (one file on a case-insensitive file system)"),
            )),
            _ => {
                folded.insert(lower, full.clone());
            }
        }
        files.push(full);
        if header.size as u64 > limits.max_file_size {
            out.push(Refusal::new(
                "file_too_large",
                Some(&name),
                format!("{} bytes, more than {}", header.size, limits.max_file_size),
            ));
            unread.push((name.clone(), rest));
            continue;
        }
        let wanted = YAML_FILES.contains(&base_name(&rest))
            || base_name(&rest) == "values.schema.json"
            || is_subchart_archive(&rest);
        if wanted {
            let mut data = Vec::new();
            if let Err(e) = reader.read_data(limits.max_file_size, &mut data) {
                push_stream_error(&reader, e, out);
                break;
            }
            contents.push((rest, data));
        }
    }
    let inflated = reader_count(&reader);
    *budget = budget.saturating_sub(inflated);
    if out.len() > before && out[before..].iter().any(|r| STRUCTURAL.contains(&r.code)) {
        return None;
    }

    // Paths that are both a file and the directory of another file.
    let dirs: BTreeSet<&str> = files.iter().flat_map(|f| f.match_indices('/').map(move |(i, _)| &f[..i])).collect();
    for f in &files {
        if dirs.contains(f.as_str()) {
            out.push(Refusal::new("path_conflict", Some(f), "both a file and a directory"));
        }
    }

    let mut checks = vec!["archive", "paths", "sizes", "identity"];
    let Some(top) = top else {
        out.push(Refusal::new("chart_yaml_missing", None, "the archive has no files"));
        return None;
    };
    let chart_yaml = format!("{top}/Chart.yaml");
    let mut identity = None;
    match contents.iter().find(|(rest, _)| rest == "Chart.yaml") {
        None if !unread.iter().any(|(_, rest)| rest == "Chart.yaml") => {
            out.push(Refusal::new("chart_yaml_missing", Some(&chart_yaml), "no Chart.yaml in the top directory"))
        }
        None => {}
        Some((_, data)) => identity = read_identity(data, &chart_yaml, &top, limits, out),
    }
    if let (Some((name, version)), Some(claimed)) = (&identity, claimed) {
        checks.push("claimed");
        if claimed.name != *name {
            out.push(Refusal::new(
                "name_mismatch",
                Some(&chart_yaml),
                format!("the OCI config names the chart {:?}, Chart.yaml names it {name:?}", claimed.name),
            ));
        }
        if claimed.version != *version {
            out.push(Refusal::new(
                "version_mismatch",
                Some(&chart_yaml),
                format!("the OCI config says version {:?}, Chart.yaml says {version:?}", claimed.version),
            ));
        }
    }

    checks.extend(["yaml", "schema", "dependencies"]);
    let mut schema_refs = Vec::new();
    for (rest, data) in &contents {
        let file = format!("{top}/{rest}");
        let base = base_name(rest);
        if is_subchart_archive(rest) {
            if !checks.contains(&"subcharts") {
                checks.push("subcharts");
            }
            if nesting + 1 > limits.max_nesting {
                out.push(Refusal::new(
                    "nested_archive",
                    Some(&file),
                    format!("subchart archives nested deeper than {}", limits.max_nesting),
                ));
                continue;
            }
            let mut inner = Vec::new();
            if let Some(sub) = check(data, limits, None, nesting + 1, budget, &mut inner) {
                for url in sub.schema_refs {
                    if !schema_refs.contains(&url) {
                        schema_refs.push(url);
                    }
                }
            }
            out.extend(inner.into_iter().map(|mut r| {
                r.file = Some(match r.file {
                    Some(f) => format!("{file}:{f}"),
                    None => file.clone(),
                });
                r
            }));
        } else if base == "values.schema.json" {
            schema::check(data, &file, limits, &mut schema_refs, out);
        } else if rest != "Chart.yaml" {
            let Ok(text) = std::str::from_utf8(data) else {
                out.push(Refusal::new("yaml_invalid", Some(&file), "not UTF-8"));
                continue;
            };
            let build = DEPENDENCY_FILES.contains(&base);
            match yaml::read(text, &file, limits, build) {
                // The indentation yaml-rust2 refuses and Go's decoder reads (a flow collection
                // closing at its parent's indentation, as Bitnami's chainloop writes; yaml-rust2
                // issues 30, 56, 69): not a refusal for a file whose content is not built, unless
                // it holds aliases, whose expansion cannot then be bounded.
                Err(r)
                    if r.code == "yaml_invalid"
                        && r.detail.contains("indentation")
                        && !build
                        && !yaml::has_alias(text) => {}
                Err(r) => out.push(r),
                Ok(Some(doc)) if build => check_dependencies(&doc, &file, out),
                Ok(_) => {}
            }
        }
    }

    let (name, version) = identity?;
    (out.len() == before).then_some(Passed { name, version, checks, schema_refs, files, inflated })
}

/// Refusals after which nothing else is judged (the stream cannot be trusted further).
const STRUCTURAL: [&str; 5] = ["archive_invalid", "archive_too_large", "inflation_ratio", "too_many_files", "sparse"];

fn reader_count<R: Read>(reader: &tar::GoTar<Counted<R>>) -> u64 {
    reader.inner().count
}

fn push_stream_error<R: Read>(reader: &tar::GoTar<Counted<R>>, e: tar::TarError, out: &mut Vec<Refusal>) {
    let counted = reader.inner();
    match counted.over {
        Some("archive_too_large") => {
            out.push(Refusal::new("archive_too_large", None, format!("inflates to more than {} bytes", counted.limit)))
        }
        Some(code) => out.push(Refusal::new(
            code,
            None,
            format!("inflates to more than {} bytes", counted.ratio_limit.unwrap_or(0)),
        )),
        None => out.push(Refusal::new("archive_invalid", None, format!("helm cannot read this archive: {e}"))),
    }
}

/// What an entry is to helm's loader: Go's `FileInfo().IsDir()` looks at the mode bits as well
/// as the type flag, and the loader reads every other entry as a file.
fn classify(typeflag: u8, mode: i64) -> Kind {
    // Go's `fs.FileMode(h.Mode) &^ 07777`, compared with the c_IS* constants.
    let bits = (mode as u32) & !0o7777;
    match (typeflag, bits) {
        (b'5', 0 | 0o040000) => Kind::Dir,
        (b'0', 0 | 0o100000) => Kind::File,
        (b'1', _) => Kind::Other("hard_link"),
        (b'2', _) => Kind::Other("symlink"),
        (b'3' | b'4', _) => Kind::Other("device"),
        (b'6', _) => Kind::Other("fifo"),
        (b'0', 0o120000) => Kind::Other("symlink"),
        _ => Kind::Other("entry_type"),
    }
}

/// Checks a path as helm's loader strips and cleans it; `Some((top, rest))` when it may stay.
fn check_path(name: &str, is_dir: bool, top: &mut Option<String>, out: &mut Vec<Refusal>) -> Option<(String, String)> {
    let refuse = |out: &mut Vec<Refusal>, code, detail: &str| {
        out.push(Refusal::new(code, Some(name), detail));
        None
    };
    if name.contains('\0') {
        return refuse(out, "nul_path", "a NUL byte in the path");
    }
    if name.contains('\\') {
        return refuse(out, "backslash_path", "a backslash in the path (helm splits such paths on it)");
    }
    let drive = |s: &str| {
        let b = s.as_bytes();
        b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
    };
    if name.starts_with('/') || drive(name) {
        return refuse(out, "absolute_path", "an absolute path");
    }
    let trimmed = if is_dir { name.strip_suffix('/').unwrap_or(name) } else { name };
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts.contains(&"..") {
        return refuse(out, "parent_path", "a .. component");
    }
    if parts.iter().any(|p| p.is_empty() || *p == ".") {
        return refuse(out, "unclean_path", "an empty or . component");
    }
    let rest = parts[1..].join("/");
    if drive(&rest) {
        return refuse(out, "absolute_path", "a drive-letter path inside the chart");
    }
    if rest.starts_with("..") {
        return refuse(out, "parent_path", "helm refuses paths inside the chart that start with ..");
    }
    if rest.is_empty() && !is_dir {
        return refuse(out, "outside_chart_dir", "a file outside the chart's directory");
    }
    match top {
        None => *top = Some(parts[0].to_string()),
        Some(t) if t != parts[0] => {
            let detail = format!("not under {t}/, the archive's top directory");
            return refuse(out, "outside_chart_dir", &detail);
        }
        Some(_) => {}
    }
    Some((parts[0].to_string(), rest))
}

/// Reads `Chart.yaml`: `Some((name, version))` when its identity is valid.
fn read_identity(
    data: &[u8],
    file: &str,
    top: &str,
    limits: &Limits,
    out: &mut Vec<Refusal>,
) -> Option<(String, String)> {
    fn refuse<T>(out: &mut Vec<Refusal>, file: &str, code: &'static str, detail: String) -> Option<T> {
        out.push(Refusal::new(code, Some(file), detail));
        None
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return refuse(out, file, "chart_yaml_invalid", "not UTF-8".into());
    };
    let doc = match yaml::read(text, file, limits, true) {
        Ok(Some(doc)) => doc,
        Ok(None) => return refuse(out, file, "chart_yaml_invalid", "empty".into()),
        Err(mut r) => {
            if r.code == "yaml_invalid" {
                r.code = "chart_yaml_invalid";
            }
            out.push(r);
            return None;
        }
    };
    let Value::Object(meta) = &doc else {
        return refuse(out, file, "chart_yaml_invalid", "not a mapping".into());
    };
    // helm reads these fields into strings: a number is read as its text, null as absent.
    let text_of = |key: &str| -> Result<Option<String>, String> {
        match meta.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("{key} is not a string")),
        }
    };
    let before = out.len();
    match text_of("apiVersion").as_ref().map(|v| v.as_deref()) {
        // helm's loader takes a missing apiVersion as v1.
        Ok(None | Some("" | "v1" | "v2")) => {}
        Ok(Some(other)) => {
            out.push(Refusal::new("api_version", Some(file), format!("apiVersion {other:?} is not v1 or v2")));
        }
        Err(why) => out.push(Refusal::new("api_version", Some(file), why)),
    }
    match text_of("type").as_ref().map(|v| v.as_deref()) {
        Ok(None | Some("" | "application" | "library")) => {}
        _ => out.push(Refusal::new("chart_yaml_invalid", Some(file), "type must be application or library")),
    }
    let name = match text_of("name") {
        Ok(Some(n)) if valid_chart_name(&n) => Some(n),
        Ok(Some(n)) => refuse(
            out,
            file,
            "chart_name",
            format!("{n:?} is not a valid chart name ([a-zA-Z0-9._-], not starting with .)"),
        ),
        Ok(None) => refuse(out, file, "chart_name", "no name".into()),
        Err(why) => refuse(out, file, "chart_name", why),
    };
    let version = match text_of("version") {
        Ok(Some(v)) if helm_version(&v) => Some(v),
        Ok(Some(v)) => refuse(out, file, "chart_version", format!("{v:?} is not a version helm reads")),
        Ok(None) => refuse(out, file, "chart_version", "no version".into()),
        Err(why) => refuse(out, file, "chart_version", why),
    };
    if let Some(name) = &name {
        if name != top {
            out.push(Refusal::new(
                "chart_dir",
                Some(file),
                format!("the archive's top directory is {top:?}, the chart is named {name:?}"),
            ));
        }
    }
    check_shapes(meta, file, out);
    check_dependencies(&doc, file, out);
    if out.len() > before {
        return None;
    }
    Some((name?, version?))
}

/// The shapes helm's lint and loader assumed without checking (GHSA-f9f8-9pmf-xv68: a null
/// maintainer, a non-string `import-values` child or parent made helm panic).
fn check_shapes(meta: &serde_json::Map<String, Value>, file: &str, out: &mut Vec<Refusal>) {
    let mut refuse = |why: &str| out.push(Refusal::new("chart_yaml_invalid", Some(file), why));
    match meta.get("maintainers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.iter().any(|m| !m.is_object()) {
                refuse("a maintainer is not a mapping");
            }
        }
        Some(_) => refuse("maintainers is not a list"),
    }
    match meta.get("dependencies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(deps)) => {
            for dep in deps {
                let Value::Object(dep) = dep else {
                    refuse("a dependency is not a mapping");
                    continue;
                };
                match dep.get("import-values") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(imports)) => {
                        let valid = |i: &Value| match i {
                            Value::String(_) => true,
                            Value::Object(m) => {
                                ["child", "parent"].iter().all(|k| matches!(m.get(*k), Some(Value::String(_))))
                            }
                            _ => false,
                        };
                        if !imports.iter().all(valid) {
                            refuse("an import-values entry is not a string or a child/parent mapping of strings");
                        }
                    }
                    Some(_) => refuse("import-values is not a list"),
                }
            }
        }
        Some(_) => refuse("dependencies is not a list"),
    }
}

/// Dependency names and aliases in a `Chart.yaml`, `Chart.lock` or `requirements.*` document.
fn check_dependencies(doc: &Value, file: &str, out: &mut Vec<Refusal>) {
    let Some(Value::Array(deps)) = doc.get("dependencies") else { return };
    let mut keys = BTreeSet::new();
    for dep in deps.iter().filter(|d| d.is_object() || !file.ends_with("Chart.yaml")) {
        let name = dep.get("name").and_then(Value::as_str).unwrap_or("");
        if !valid_chart_name(name) {
            out.push(Refusal::new(
                "dependency_name",
                Some(file),
                format!("dependency name {name:?} is not a valid chart name"),
            ));
            continue;
        }
        let alias = dep.get("alias").and_then(Value::as_str).filter(|a| !a.is_empty());
        if let Some(alias) = alias {
            if !valid_alias(alias) {
                out.push(Refusal::new(
                    "dependency_name",
                    Some(file),
                    format!("dependency alias {alias:?} is not valid ([a-zA-Z0-9_-])"),
                ));
                continue;
            }
        }
        let key = alias.unwrap_or(name);
        if file.ends_with("Chart.yaml") && !keys.insert(key.to_string()) {
            out.push(Refusal::new("dependency_name", Some(file), format!("two dependencies named {key:?}")));
        }
    }
}
