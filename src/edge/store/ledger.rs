//! The ledger of one chart repository: the one record of which charts and versions exist (their
//! archive, provenance, config and OCI manifest digests), which tags of the charts' OCI
//! repositories point where, which manifests are visible, and which released versions were
//! deleted (tombstones). Every write over either protocol (an API upload, `/prov`, an API delete, an
//! OCI manifest `PUT`, a tag or digest `DELETE`, a forced overwrite, `chartgate mirror`) is one
//! [`Op`], planned here against the whole state ([`Ledger::plan`]) and committed as one serialized
//! transaction by the Durable Object that holds the repository (`worker::repo_ledger`). Content is
//! stored by digest before the commit and becomes visible only through it; `index.yaml`, the
//! charts' OCI tags and the HTTP file routes are derived from the ledger ([`Ledger::render_index`],
//! [`Ledger::resolve_tag`], [`Ledger::file`]).
//!
//! The rules, one set for both protocols:
//! - a chart name is a file name helm accepts, a version is SemVer 2 (helm's `StrictNewVersion`),
//!   whichever protocol brought it, and `<name>-<version>.tgz` names one (chart, version) per
//!   repository ([`LedgerError::FileTaken`] names the other chart);
//! - a released version (one `IMMUTABLE_TAGS` protects) never changes its chart content; the only
//!   change an unsigned release accepts is gaining one provenance file, with the same config and
//!   archive; a deleted release leaves a tombstone, and the version may return only with the same
//!   archive;
//! - a stored provenance file is replaced only under the forced-overwrite rules (`?force` with
//!   `ALLOW_OVERWRITE`, never for a released version);
//! - index entries are rendered from typed, size-bounded fields ([`ChartMeta`]), never copied;
//! - an [`Op`] names one chart and changes nothing of another, so a grant on one chart (checked by
//!   the decision before the op is sent) reaches no other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::edge::store::oci::ImmutableTags;
use crate::edge::ChartId;

/// Longest chart name accepted, in bytes.
pub const MAX_NAME: usize = 250;
/// Longest version accepted, in bytes.
pub const MAX_VERSION: usize = 128;
/// Longest string field of an index entry (a description, a URL), in bytes.
pub const MAX_FIELD: usize = 4096;
/// Most items of a list field (keywords, sources, maintainers, dependencies, annotations).
pub const MAX_ITEMS: usize = 100;
/// Largest index entry (its metadata as JSON), in bytes: a push grant on one chart cannot grow the
/// repository's index without bound.
pub const MAX_ENTRY: usize = 16 * 1024;
/// Most metadata bytes one repository's ledger holds (the sum of its entries): what bounds the
/// Durable Object's memory and `index.yaml`.
pub const MAX_LEDGER_BYTES: usize = 32 * 1024 * 1024;
/// Most versions one chart holds, listed or deleted (a deleted release keeps its tombstone): a
/// push grant on one chart cannot spend its repository's budget. Real charts stay far below (the
/// longest-lived public charts list one to two thousand).
pub const MAX_CHART_VERSIONS: usize = 5_000;
/// Most index-entry bytes one chart's listed versions hold together (an eighth of the
/// repository's [`MAX_LEDGER_BYTES`]; a typical entry is 1–2 KiB).
pub const MAX_CHART_BYTES: usize = 4 * 1024 * 1024;
/// Most tags of one chart's OCI repository besides its versions' own.
pub const MAX_CHART_TAGS: usize = 1_000;
/// Most visible manifests of one chart's OCI repository besides its versions' own (signatures,
/// SBOMs, other artifacts).
pub const MAX_CHART_ARTIFACTS: usize = 1_000;

/// Why the ledger refuses an [`Op`]: each names the chart, version, tag or file at stake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail")]
pub enum LedgerError {
    /// The chart name cannot name a file or an OCI repository.
    #[error("chart name {0:?} is invalid: helm requires a file name of letters, digits, '.', '_' and '-'")]
    BadName(String),
    /// The version is not SemVer 2.
    #[error("version {0:?} of chart {1} is not a SemVer 2 version (e.g. 1.2.3, v1.2.3 or 1.2.3-rc.1)")]
    BadVersion(String, String),
    /// `<name>-<version>.tgz` already names another chart's version.
    #[error("{file} already names chart {other_name} version {other_version} in this repository: rename the chart or choose another version")]
    FileTaken { file: String, other_name: String, other_version: String },
    /// The version exists (an API upload without `?force`, or a provenance file already stored).
    #[error("file already exists")]
    Exists,
    /// A released version's content would change, or a deleted one return with other content.
    #[error("{0} is a released version and immutable (IMMUTABLE_TAGS): its chart never changes; upload a new version instead")]
    Immutable(String),
    /// A tag that belongs to a chart version cannot name anything else.
    #[error(
        "tag {tag} of chart {chart} is the tag of its version {version}: push the chart itself, or use another tag"
    )]
    VersionTag { chart: String, tag: String, version: String },
    /// An immutable tag (`IMMUTABLE_TAGS`) would move.
    #[error("tag {tag} of {chart} is immutable (IMMUTABLE_TAGS) and already points to {current}: push a new version instead")]
    TagImmutable { chart: String, tag: String, current: String },
    /// The version to sign or delete is not in the ledger.
    #[error("chart {0} version {1} not found")]
    VersionNotFound(String, String),
    /// The tag or manifest to delete is not in the ledger.
    #[error("{0} not found")]
    NotFound(String),
    /// The entry, or the repository's index with it, would pass its bound.
    #[error("{0}")]
    TooLarge(String),
    /// What the op was built on changed meanwhile (another write won): nothing was changed.
    #[error("{0} changed while this request was handled; try again")]
    Conflict(String),
}

impl LedgerError {
    /// The HTTP status, as ChartMuseum and the distribution spec answer these.
    pub fn status(&self) -> u16 {
        match self {
            LedgerError::BadName(_) | LedgerError::BadVersion(..) | LedgerError::FileTaken { .. } => 400,
            LedgerError::Exists | LedgerError::Immutable(_) => 409,
            LedgerError::VersionTag { .. } | LedgerError::TagImmutable { .. } => 409,
            LedgerError::VersionNotFound(..) | LedgerError::NotFound(_) => 404,
            LedgerError::TooLarge(_) => 413,
            LedgerError::Conflict(_) => 409,
        }
    }
}

/// Checks a chart name as helm does (a base file name) and as an OCI path component allows.
pub fn check_name(name: &str) -> Result<(), LedgerError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with(['.', '-', '_'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LedgerError::BadName(name.chars().take(64).collect()))
    }
}

/// A version's SemVer 2 reading: strict (three numbers), with an optional leading `v` as many
/// charts write it (cert-manager's `v1.18.2`, which helm's loader reads and `helm push` pushes).
pub fn semver_of(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v').unwrap_or(version)).ok()
}

/// Checks a version: SemVer 2, strictly (three numbers), optionally `v`-prefixed ([`semver_of`]):
/// the forms whose release tags `IMMUTABLE_TAGS` recognises.
pub fn check_version(name: &str, version: &str) -> Result<(), LedgerError> {
    if version.len() <= MAX_VERSION && semver_of(version).is_some() {
        Ok(())
    } else {
        Err(LedgerError::BadVersion(version.chars().take(64).collect(), name.to_owned()))
    }
}

/// Refuses a `Chart.yaml` or helm config with a key that differs from one of helm's fields only
/// in case (`Name`, `VERSION`): Go's JSON decoding, which helm reads them with, matches keys
/// without regard to case, so helm would read a field the ledger does not.
pub fn check_keys(meta: &Map<String, Value>) -> Result<(), String> {
    const FIELDS: [&str; 16] = [
        "name",
        "version",
        "apiVersion",
        "appVersion",
        "description",
        "home",
        "icon",
        "kubeVersion",
        "type",
        "keywords",
        "sources",
        "maintainers",
        "dependencies",
        "annotations",
        "deprecated",
        "condition",
    ];
    for key in meta.keys() {
        if let Some(field) = FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key) && **f != key) {
            return Err(format!("key {key:?} would be read by helm as {field:?}: write it as {field:?}"));
        }
    }
    Ok(())
}

/// A chart's `Chart.yaml` fields an index entry lists, each typed and bounded. Read from an
/// uploaded archive's `Chart.yaml` or a pushed config (helm writes the same metadata there);
/// unknown fields, fields of the wrong type and anything past the bounds are left out, so no
/// pushed document is ever copied into `index.yaml` whole.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strings: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintainers: Vec<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

/// `Chart.yaml`'s string fields an entry keeps.
const STRING_FIELDS: [&str; 8] =
    ["apiVersion", "appVersion", "description", "home", "icon", "kubeVersion", "type", "condition"];
/// `Chart.yaml`'s lists of strings an entry keeps.
const LIST_FIELDS: [&str; 2] = ["keywords", "sources"];

fn bounded(v: &Value) -> Option<String> {
    v.as_str().filter(|s| s.len() <= MAX_FIELD).map(str::to_owned)
}

impl ChartMeta {
    /// Reads the fields of a `Chart.yaml` or pushed config (as JSON). `None` when it has no string
    /// `name` and `version`.
    pub fn from_json(meta: &Map<String, Value>) -> Option<ChartMeta> {
        let name = meta.get("name").and_then(bounded)?;
        let version = meta.get("version").and_then(bounded)?;
        let mut out = ChartMeta { name, version, ..Default::default() };
        for field in STRING_FIELDS {
            if let Some(s) = meta.get(field).and_then(bounded) {
                out.strings.insert(field.to_owned(), s);
            }
        }
        for field in LIST_FIELDS {
            if let Some(items) = meta.get(field).and_then(Value::as_array) {
                let items: Vec<String> = items.iter().take(MAX_ITEMS).filter_map(bounded).collect();
                out.lists.insert(field.to_owned(), items);
            }
        }
        let strings_of = |v: &Value, keys: &[&str]| -> BTreeMap<String, String> {
            keys.iter().filter_map(|k| Some(((*k).to_owned(), v.get(*k).and_then(bounded)?))).collect()
        };
        if let Some(list) = meta.get("maintainers").and_then(Value::as_array) {
            out.maintainers = list.iter().take(MAX_ITEMS).map(|m| strings_of(m, &["name", "email", "url"])).collect();
        }
        if let Some(list) = meta.get("dependencies").and_then(Value::as_array) {
            out.dependencies = list
                .iter()
                .take(MAX_ITEMS)
                .map(|d| {
                    let mut dep: BTreeMap<String, Value> =
                        strings_of(d, &["name", "version", "repository", "condition", "alias"])
                            .into_iter()
                            .map(|(k, v)| (k, Value::String(v)))
                            .collect();
                    if let Some(enabled) = d.get("enabled").and_then(Value::as_bool) {
                        dep.insert("enabled".into(), enabled.into());
                    }
                    if let Some(tags) = d.get("tags").and_then(Value::as_array) {
                        let tags: Vec<Value> =
                            tags.iter().take(MAX_ITEMS).filter_map(bounded).map(Value::String).collect();
                        dep.insert("tags".into(), Value::Array(tags));
                    }
                    dep
                })
                .collect();
        }
        if let Some(map) = meta.get("annotations").and_then(Value::as_object) {
            out.annotations = map
                .iter()
                .filter(|(k, _)| k.len() <= MAX_FIELD)
                .filter_map(|(k, v)| Some((k.clone(), bounded(v)?)))
                .take(MAX_ITEMS)
                .collect();
        }
        out.deprecated = meta.get("deprecated").and_then(Value::as_bool).unwrap_or(false);
        Some(out)
    }

    /// The metadata as a JSON object, as `Chart.yaml` spells it (an index entry without `urls`,
    /// `created` and `digest`; helm's config is this too).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), self.name.clone().into());
        m.insert("version".into(), self.version.clone().into());
        for (k, v) in &self.strings {
            m.insert(k.clone(), v.clone().into());
        }
        for (k, v) in &self.lists {
            m.insert(k.clone(), json!(v));
        }
        if !self.maintainers.is_empty() {
            m.insert("maintainers".into(), json!(self.maintainers));
        }
        if !self.dependencies.is_empty() {
            m.insert("dependencies".into(), json!(self.dependencies));
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), json!(self.annotations));
        }
        if self.deprecated {
            m.insert("deprecated".into(), true.into());
        }
        m
    }
}

/// One committed chart version. Digests are `sha256:<hex>` strings, checked by the glue when it
/// stored the content they name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub meta: ChartMeta,
    /// The archive (`.tgz`), which is also the OCI manifest's chart layer.
    pub archive: String,
    /// The provenance file, when the release is signed (the manifest's provenance layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prov: Option<String>,
    /// The OCI config (the chart's metadata as helm writes it).
    pub config: String,
    /// The OCI manifest its version tag names.
    pub manifest: String,
    /// RFC 3339 time of the commit that listed it.
    pub created: String,
    /// What the entry gate found when the version entered ([`super::entry`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<super::entry::EntryRecord>,
}

impl Release {
    pub fn id(&self) -> ChartId {
        ChartId { name: self.meta.name.clone(), version: self.meta.version.clone() }
    }
    fn same_chart(&self, other: &Release) -> bool {
        self.archive == other.archive && self.config == other.config
    }
}

/// What a deleted release leaves: the content it may come back with (the same archive and config,
/// and the same provenance file when it had one) and its file name, which no other chart takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tomb {
    pub archive: String,
    pub config: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prov: Option<String>,
}

/// One write, over either protocol: what the glue asks the ledger to commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Op {
    /// An archive (with its OCI form, and provenance when it came with it) from an API upload,
    /// `chartgate mirror` or a helm chart manifest pushed over OCI. `exclusive`: an existing
    /// version is an error unless `force` (ChartMuseum's API); an OCI push is not exclusive.
    /// `tags`: other tags the version's manifest takes in the same commit (a push with
    /// `?tag=`), refused with it as one.
    Publish {
        release: Box<Release>,
        exclusive: bool,
        force: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// A provenance file added to a listed version (`POST /api/…/prov`), with the manifest that
    /// carries it as helm's provenance layer, built on the manifest `based_on` (refused as a
    /// conflict when the version's manifest is another by the time it commits).
    Sign { name: String, version: String, prov: String, manifest: String, based_on: String, force: bool },
    /// A manifest pushed to chart `chart`'s OCI repository that is not a chart version (an
    /// artifact, a signature, a chart under another tag), with the tags it takes.
    Manifest { chart: String, manifest: String, tags: Vec<String> },
    /// `DELETE /api/…/charts/:name/:version`.
    Unpublish { name: String, version: String },
    /// `DELETE /v2/…/manifests/<tag>`.
    DeleteTag { chart: String, tag: String },
    /// `DELETE /v2/…/manifests/<digest>`.
    DeleteManifest { chart: String, manifest: String },
}

impl Op {
    /// The one chart the op may change.
    pub fn chart(&self) -> &str {
        match self {
            Op::Publish { release, .. } => &release.meta.name,
            Op::Sign { name, .. } | Op::Unpublish { name, .. } => name,
            Op::Manifest { chart, .. } | Op::DeleteTag { chart, .. } | Op::DeleteManifest { chart, .. } => chart,
        }
    }
}

/// One row change of a commit, as the Durable Object writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change")]
pub enum Change {
    PutRelease { release: Box<Release> },
    DropRelease { name: String, version: String },
    PutTombstone { name: String, version: String, tomb: Tomb },
    PutTag { chart: String, tag: String, manifest: String },
    DropTag { chart: String, tag: String },
    PutManifest { chart: String, manifest: String },
    DropManifest { chart: String, manifest: String },
}

type Key = (String, String);

/// A chart repository's whole state, in memory; the Durable Object keeps it in SQLite rows and
/// loads it once per instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    releases: BTreeMap<Key, Release>,
    /// `<name>-<version>.tgz` → (name, version).
    files: BTreeMap<String, Key>,
    /// (chart, version tag) → version.
    version_tags: BTreeMap<Key, String>,
    tombstones: BTreeMap<Key, Tomb>,
    /// Tombstones' file names → (name, version): reserved for that version's return.
    reserved: BTreeMap<String, Key>,
    /// The sum of the releases' entry sizes ([`MAX_LEDGER_BYTES`]).
    meta_bytes: usize,
    /// Tags that name no chart version: (chart, tag) → manifest.
    tags: BTreeMap<Key, String>,
    /// Visible manifests of each chart's OCI repository.
    manifests: BTreeMap<Key, ()>,
    /// Each release's index entry, rendered once when it is committed, with its parsed version
    /// (the index's order): rendering `index.yaml` only joins them.
    rendered: BTreeMap<Key, (semver::Version, String)>,
    /// The bytes of the rows that are not index entries (tags, manifests, tombstones): they
    /// count toward [`MAX_LEDGER_BYTES`] with the entries.
    row_bytes: usize,
    /// Each chart's counters, kept by [`Ledger::commit`] (a chart with nothing has none).
    counts: BTreeMap<String, ChartCounts>,
}

/// What one chart holds, counted as its rows are committed: what the per-chart bounds
/// ([`MAX_CHART_VERSIONS`], [`MAX_CHART_BYTES`], [`MAX_CHART_TAGS`], [`MAX_CHART_ARTIFACTS`])
/// are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChartCounts {
    /// Listed versions.
    pub versions: usize,
    /// Tombstones (deleted releases).
    pub tombstones: usize,
    /// Distinct versions, listed or deleted.
    pub names: usize,
    /// The listed versions' index-entry bytes.
    pub entry_bytes: usize,
    /// Tags besides the versions' own.
    pub tags: usize,
    /// Visible manifests (the versions' own and artifacts).
    pub manifests: usize,
}

impl ChartCounts {
    /// Visible manifests besides one per listed version.
    pub fn artifacts(&self) -> usize {
        self.manifests.saturating_sub(self.versions)
    }
}

/// The rows a counted change is checked against: the ledger itself, or a plan's view of it.
trait Rows {
    /// A release's entry size, when it is listed.
    fn release_size(&self, k: &Key) -> Option<usize>;
    fn has_tomb(&self, k: &Key) -> bool;
    /// A tag's row size, when it exists.
    fn tag_size(&self, k: &Key) -> Option<usize>;
    fn has_manifest_row(&self, k: &Key) -> bool;
}

impl Rows for Ledger {
    fn release_size(&self, k: &Key) -> Option<usize> {
        self.releases.get(k).map(entry_size)
    }
    fn has_tomb(&self, k: &Key) -> bool {
        self.tombstones.contains_key(k)
    }
    fn tag_size(&self, k: &Key) -> Option<usize> {
        self.tags.get(k).map(|m| tag_row(k, m))
    }
    fn has_manifest_row(&self, k: &Key) -> bool {
        self.manifests.contains_key(k)
    }
}

fn tag_row((chart, tag): &Key, manifest: &str) -> usize {
    chart.len() + tag.len() + manifest.len()
}

fn manifest_row((chart, manifest): &Key) -> usize {
    chart.len() + manifest.len()
}

fn tomb_row((name, version): &Key, tomb: &Tomb) -> usize {
    name.len() + version.len() + tomb.archive.len() + tomb.config.len() + tomb.prov.as_ref().map_or(0, String::len)
}

/// The chart a change belongs to.
pub fn change_chart(c: &Change) -> &str {
    match c {
        Change::PutRelease { release } => &release.meta.name,
        Change::DropRelease { name, .. } | Change::PutTombstone { name, .. } => name,
        Change::PutTag { chart, .. } | Change::DropTag { chart, .. } => chart,
        Change::PutManifest { chart, .. } | Change::DropManifest { chart, .. } => chart,
    }
}

/// Counts what `change` does to its chart's counters and to the repository's bytes (entries and
/// other rows), given the rows before it: the one rule [`Ledger::commit`] and
/// [`Ledger::plan`]'s bound check share.
fn count(rows: &impl Rows, change: &Change, c: &mut ChartCounts, bytes: &mut usize) {
    let add_manifest = |k: &Key, c: &mut ChartCounts, bytes: &mut usize| {
        if !rows.has_manifest_row(k) {
            c.manifests += 1;
            *bytes += manifest_row(k);
        }
    };
    match change {
        Change::PutRelease { release } => {
            let k = key(&release.meta.name, &release.meta.version);
            let size = entry_size(release);
            match rows.release_size(&k) {
                Some(old) => {
                    c.entry_bytes = c.entry_bytes + size - old;
                    *bytes = *bytes + size - old;
                }
                None => {
                    c.versions += 1;
                    c.entry_bytes += size;
                    *bytes += size;
                    if !rows.has_tomb(&k) {
                        c.names += 1;
                    }
                }
            }
            add_manifest(&key(&release.meta.name, &release.manifest), c, bytes);
        }
        Change::DropRelease { name, version } => {
            let k = key(name, version);
            if let Some(old) = rows.release_size(&k) {
                c.versions -= 1;
                c.entry_bytes -= old;
                *bytes -= old;
                if !rows.has_tomb(&k) {
                    c.names -= 1;
                }
            }
        }
        Change::PutTombstone { name, version, tomb } => {
            let k = key(name, version);
            if !rows.has_tomb(&k) {
                c.tombstones += 1;
                *bytes += tomb_row(&k, tomb);
                if rows.release_size(&k).is_none() {
                    c.names += 1;
                }
            }
        }
        Change::PutTag { chart, tag, manifest } => {
            let k = key(chart, tag);
            match rows.tag_size(&k) {
                Some(old) => *bytes -= old,
                None => c.tags += 1,
            }
            *bytes += tag_row(&k, manifest);
        }
        Change::DropTag { chart, tag } => {
            if let Some(old) = rows.tag_size(&key(chart, tag)) {
                c.tags -= 1;
                *bytes -= old;
            }
        }
        Change::PutManifest { chart, manifest } => add_manifest(&key(chart, manifest), c, bytes),
        Change::DropManifest { chart, manifest } => {
            let k = key(chart, manifest);
            if rows.has_manifest_row(&k) {
                c.manifests -= 1;
                *bytes -= manifest_row(&k);
            }
        }
    }
}

/// A plan's view of the ledger: the rows its earlier changes wrote, over the ledger's.
struct Planned<'a> {
    ledger: &'a Ledger,
    releases: BTreeMap<Key, Option<usize>>,
    tombs: BTreeMap<Key, bool>,
    tags: BTreeMap<Key, Option<usize>>,
    manifests: BTreeMap<Key, bool>,
}

impl Rows for Planned<'_> {
    fn release_size(&self, k: &Key) -> Option<usize> {
        self.releases.get(k).copied().unwrap_or_else(|| self.ledger.release_size(k))
    }
    fn has_tomb(&self, k: &Key) -> bool {
        self.tombs.get(k).copied().unwrap_or_else(|| self.ledger.has_tomb(k))
    }
    fn tag_size(&self, k: &Key) -> Option<usize> {
        self.tags.get(k).copied().unwrap_or_else(|| self.ledger.tag_size(k))
    }
    fn has_manifest_row(&self, k: &Key) -> bool {
        self.manifests.get(k).copied().unwrap_or_else(|| self.ledger.has_manifest_row(k))
    }
}

impl Planned<'_> {
    fn write(&mut self, change: &Change) {
        match change {
            Change::PutRelease { release } => {
                let k = key(&release.meta.name, &release.meta.version);
                self.releases.insert(k, Some(entry_size(release)));
                self.manifests.insert(key(&release.meta.name, &release.manifest), true);
            }
            Change::DropRelease { name, version } => {
                self.releases.insert(key(name, version), None);
            }
            Change::PutTombstone { name, version, .. } => {
                self.tombs.insert(key(name, version), true);
            }
            Change::PutTag { chart, tag, manifest } => {
                let k = key(chart, tag);
                let size = tag_row(&k, manifest);
                self.tags.insert(k, Some(size));
            }
            Change::DropTag { chart, tag } => {
                self.tags.insert(key(chart, tag), None);
            }
            Change::PutManifest { chart, manifest } => {
                self.manifests.insert(key(chart, manifest), true);
            }
            Change::DropManifest { chart, manifest } => {
                self.manifests.insert(key(chart, manifest), false);
            }
        }
    }
}

fn key(a: &str, b: &str) -> Key {
    (a.to_owned(), b.to_owned())
}

impl Ledger {
    /// The state the changes describe (a Durable Object's rows, in any order).
    pub fn from_changes<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Ledger {
        let mut ledger = Ledger::default();
        for c in changes {
            ledger.commit(c);
        }
        ledger
    }

    /// Every row of the state, as [`Change`]s that rebuild it.
    pub fn rows(&self) -> Vec<Change> {
        let releases = self.releases.values().map(|r| Change::PutRelease { release: Box::new(r.clone()) });
        let tombstones = self.tombstones.iter().map(|((name, version), tomb)| Change::PutTombstone {
            name: name.clone(),
            version: version.clone(),
            tomb: tomb.clone(),
        });
        let tags = self.tags.iter().map(|((chart, tag), manifest)| Change::PutTag {
            chart: chart.clone(),
            tag: tag.clone(),
            manifest: manifest.clone(),
        });
        let manifests = self
            .manifests
            .keys()
            .map(|(chart, manifest)| Change::PutManifest { chart: chart.clone(), manifest: manifest.clone() });
        releases.chain(tombstones).chain(tags).chain(manifests).collect()
    }

    /// Applies one committed change.
    pub fn commit(&mut self, change: &Change) {
        let chart = change_chart(change);
        let mut counts = self.counts.get(chart).copied().unwrap_or_default();
        let mut total = self.meta_bytes + self.row_bytes;
        count(self, change, &mut counts, &mut total);
        if counts == ChartCounts::default() {
            self.counts.remove(chart);
        } else if let Some(c) = self.counts.get_mut(chart) {
            *c = counts;
        } else {
            self.counts.insert(chart.to_owned(), counts);
        }
        self.apply(change);
        self.row_bytes = total - self.meta_bytes;
    }

    /// A chart's counters (all zero for a chart the ledger holds nothing of).
    pub fn counts(&self, chart: &str) -> ChartCounts {
        self.counts.get(chart).copied().unwrap_or_default()
    }

    /// A chart's counters counted again from its rows: what [`Ledger::counts`] always equals.
    pub fn recount(&self, chart: &str) -> ChartCounts {
        let of = |c: &str| c == chart;
        let versions = self.releases.keys().filter(|(c, _)| of(c)).count();
        let tombstones = self.tombstones.keys().filter(|(c, _)| of(c)).count();
        let names = self.tombstones.keys().filter(|(c, _)| of(c)).filter(|k| !self.releases.contains_key(*k)).count()
            + versions;
        let entry_bytes = self.releases.iter().filter(|((c, _), _)| of(c)).map(|(_, r)| entry_size(r)).sum();
        let tags = self.tags.keys().filter(|(c, _)| of(c)).count();
        let manifests = self.manifests.keys().filter(|(c, _)| of(c)).count();
        ChartCounts { versions, tombstones, names, entry_bytes, tags, manifests }
    }

    /// The repository's bytes (entries, tags, manifests, tombstones) counted again from its rows.
    pub fn recount_bytes(&self) -> usize {
        self.releases.values().map(entry_size).sum::<usize>()
            + self.tags.iter().map(|(k, m)| tag_row(k, m)).sum::<usize>()
            + self.manifests.keys().map(manifest_row).sum::<usize>()
            + self.tombstones.iter().map(|(k, t)| tomb_row(k, t)).sum::<usize>()
    }

    /// The repository's bytes as counted by the commits ([`MAX_LEDGER_BYTES`]).
    pub fn bytes(&self) -> usize {
        self.meta_bytes + self.row_bytes
    }

    /// What `changes` (of chart `chart`) would leave: its counters and the repository's bytes.
    pub fn counts_after(&self, chart: &str, changes: &[Change]) -> (ChartCounts, usize) {
        let mut planned = Planned {
            ledger: self,
            releases: BTreeMap::new(),
            tombs: BTreeMap::new(),
            tags: BTreeMap::new(),
            manifests: BTreeMap::new(),
        };
        let mut counts = self.counts(chart);
        let mut total = self.bytes();
        for change in changes {
            count(&planned, change, &mut counts, &mut total);
            planned.write(change);
        }
        (counts, total)
    }

    /// Refuses `changes` when they would take chart `chart` or the repository past a bound that
    /// they grow (what is already past a bound may still shrink: a delete is never refused).
    fn check_bounds(&self, chart: &str, changes: &[Change]) -> Result<(), LedgerError> {
        let before = self.counts(chart);
        let (after, total) = self.counts_after(chart, changes);
        let bounds = [
            (before.names, after.names, MAX_CHART_VERSIONS, "versions (listed or deleted)"),
            (before.entry_bytes, after.entry_bytes, MAX_CHART_BYTES, "bytes of index entries"),
            (before.tags, after.tags, MAX_CHART_TAGS, "tags besides its versions'"),
            (before.artifacts(), after.artifacts(), MAX_CHART_ARTIFACTS, "manifests besides its versions'"),
        ];
        for (was, now, max, what) in bounds {
            if now > max && now > was {
                return Err(LedgerError::TooLarge(format!(
                    "chart {chart} would hold {now} {what}, more than its bound of {max}"
                )));
            }
        }
        if total > MAX_LEDGER_BYTES && total > self.bytes() {
            return Err(LedgerError::TooLarge(format!(
                "chart {chart}: the repository's ledger would hold {total} bytes (index entries, tags, manifests, tombstones), more than its bound of {MAX_LEDGER_BYTES}"
            )));
        }
        Ok(())
    }

    /// Writes one change into the maps (its counting is [`Ledger::commit`]'s).
    fn apply(&mut self, change: &Change) {
        match change {
            Change::PutRelease { release } => {
                let id = release.id();
                let k = key(&id.name, &id.version);
                self.files.insert(id.file_name(), k.clone());
                self.version_tags.insert(key(&id.name, &id.tag()), id.version.clone());
                self.manifests.insert(key(&id.name, &release.manifest), ());
                self.meta_bytes += entry_size(release);
                let order = semver_of(&id.version).unwrap_or_else(|| semver::Version::new(0, 0, 0));
                self.rendered.insert(k.clone(), (order, entry(release).to_string()));
                if let Some(old) = self.releases.insert(k, (**release).clone()) {
                    self.meta_bytes -= entry_size(&old);
                }
            }
            Change::DropRelease { name, version } => {
                if let Some(old) = self.releases.remove(&key(name, version)) {
                    self.rendered.remove(&key(name, version));
                    self.meta_bytes -= entry_size(&old);
                    let id = old.id();
                    self.files.remove(&id.file_name());
                    self.version_tags.remove(&key(name, &id.tag()));
                }
            }
            Change::PutTombstone { name, version, tomb } => {
                let id = ChartId { name: name.clone(), version: version.clone() };
                self.reserved.insert(id.file_name(), key(name, version));
                self.tombstones.insert(key(name, version), tomb.clone());
            }
            Change::PutTag { chart, tag, manifest } => {
                self.tags.insert(key(chart, tag), manifest.clone());
            }
            Change::DropTag { chart, tag } => {
                self.tags.remove(&key(chart, tag));
            }
            Change::PutManifest { chart, manifest } => {
                self.manifests.insert(key(chart, manifest), ());
            }
            Change::DropManifest { chart, manifest } => {
                self.manifests.remove(&key(chart, manifest));
            }
        }
    }

    /// The version that owns `tag` of `chart` (a release's or a deleted release's version tag).
    fn tag_owner(&self, chart: &str, tag: &str) -> Option<String> {
        if let Some(version) = self.version_tags.get(&key(chart, tag)) {
            return Some(version.clone());
        }
        // A tag helm reads as the same version (`v1.0.0` and `1.0.0`; `_` is how a tag writes
        // `+`) belongs to that version too: no artifact shadows a release under another spelling.
        if let Some(wanted) = semver_of(&tag.replace('_', "+")) {
            let same = |v: &String| semver_of(v).is_some_and(|v| v == wanted);
            let listed =
                self.releases.range(key(chart, "")..).take_while(|((c, _), _)| c == chart).map(|((_, v), _)| v);
            let deleted =
                self.tombstones.range(key(chart, "")..).take_while(|((c, _), _)| c == chart).map(|((_, v), _)| v);
            if let Some(v) = listed.chain(deleted).find(|v| same(v)) {
                return Some(v.clone());
            }
        }
        // A tombstone keeps its version's tag: no artifact takes a deleted release's place.
        self.tombstones
            .range(key(chart, "")..)
            .take_while(|((c, _), _)| c == chart)
            .find(|((_, v), _)| ChartId { name: chart.to_owned(), version: v.clone() }.tag() == tag)
            .map(|((_, v), _)| v.clone())
    }

    /// The changes that point the tags `tags` of `chart` at `manifest`, or why one may not: a tag
    /// that is a version's (other than `own`, the version the manifest is), or an immutable tag
    /// pointing elsewhere.
    fn plan_tags(
        &self,
        chart: &str,
        manifest: &str,
        tags: &[String],
        own: Option<&str>,
        rule: ImmutableTags,
    ) -> Result<Vec<Change>, LedgerError> {
        let mut changes = Vec::new();
        for tag in tags {
            if let Some(version) = self.tag_owner(chart, tag) {
                let owned = own == Some(version.as_str())
                    || self.release(chart, &version).is_some_and(|r| r.manifest == manifest);
                if !owned {
                    return Err(LedgerError::VersionTag { chart: chart.to_owned(), tag: tag.clone(), version });
                }
                continue;
            }
            if let Some(current) = self.tags.get(&key(chart, tag)) {
                if current != manifest && rule.protects(tag) {
                    return Err(LedgerError::TagImmutable {
                        chart: chart.to_owned(),
                        tag: tag.clone(),
                        current: current.clone(),
                    });
                }
            }
            changes.push(Change::PutTag { chart: chart.to_owned(), tag: tag.clone(), manifest: manifest.to_owned() });
        }
        Ok(changes)
    }

    /// The changes `op` makes under `rule`, or why it is refused; nothing changes here (the
    /// Durable Object writes the changes, then [`Ledger::commit`]s them). Whatever the op, its
    /// changes must keep its chart and the repository within their bounds.
    pub fn plan(&self, op: &Op, rule: ImmutableTags) -> Result<Vec<Change>, LedgerError> {
        let changes = self.plan_rows(op, rule)?;
        self.check_bounds(op.chart(), &changes)?;
        Ok(changes)
    }

    fn plan_rows(&self, op: &Op, rule: ImmutableTags) -> Result<Vec<Change>, LedgerError> {
        match op {
            Op::Publish { release, exclusive, force, tags } => {
                let mut changes = self.plan_publish(release, *exclusive, *force, rule)?;
                let id = release.id();
                // A release published again unchanged keeps its manifest (the one an HTTP upload
                // and signature made, say, not the client's own): its other tags name that one.
                let manifest = match self.release(&id.name, &id.version) {
                    Some(stored) if changes.is_empty() => &stored.manifest,
                    _ => &release.manifest,
                };
                let others: Vec<String> = tags.iter().filter(|t| **t != id.tag()).cloned().collect();
                changes.extend(self.plan_tags(&id.name, manifest, &others, Some(&id.version), rule)?);
                Ok(changes)
            }
            Op::Sign { name, version, prov, manifest, based_on, force } => {
                let r = self
                    .release(name, version)
                    .ok_or_else(|| LedgerError::VersionNotFound(name.clone(), version.clone()))?;
                if &r.manifest != based_on {
                    return Err(LedgerError::Conflict(format!("chart {name} version {version}")));
                }
                if r.prov.is_some() && !force {
                    // ChartMuseum: a stored provenance file is a 409 unless forced.
                    return Err(LedgerError::Exists);
                }
                if r.prov.as_deref() == Some(prov.as_str()) {
                    return Ok(Vec::new());
                }
                if r.prov.is_some() {
                    crate::edge::store::publish::check_prov_replacement(true, *force, &r.id(), rule).map_err(|e| {
                        match e {
                            crate::edge::store::publish::PublishError::Exists => LedgerError::Exists,
                            _ => LedgerError::Immutable(format!("{name} {version}")),
                        }
                    })?;
                }
                let signed = Release { prov: Some(prov.clone()), manifest: manifest.clone(), ..r.clone() };
                let mut changes = self.retag(r, manifest);
                changes.push(Change::PutRelease { release: Box::new(signed) });
                Ok(changes)
            }
            Op::Manifest { chart, manifest, tags } => {
                check_name(chart)?;
                let mut changes = vec![Change::PutManifest { chart: chart.clone(), manifest: manifest.clone() }];
                changes.extend(self.plan_tags(chart, manifest, tags, None, rule)?);
                Ok(changes)
            }
            Op::Unpublish { name, version } => {
                let r = self
                    .release(name, version)
                    .ok_or_else(|| LedgerError::VersionNotFound(name.clone(), version.clone()))?;
                Ok(self.unpublish(r, rule))
            }
            Op::DeleteTag { chart, tag } => {
                if let Some(version) = self.version_tags.get(&key(chart, tag)) {
                    if let Some(r) = self.release(chart, version) {
                        return Ok(self.unpublish(r, rule));
                    }
                }
                if self.tags.contains_key(&key(chart, tag)) {
                    return Ok(vec![Change::DropTag { chart: chart.clone(), tag: tag.clone() }]);
                }
                Err(LedgerError::NotFound(format!("tag {tag} of {chart}")))
            }
            Op::DeleteManifest { chart, manifest } => {
                let mut changes = Vec::new();
                for r in self.releases_of(chart).filter(|r| &r.manifest == manifest) {
                    changes.extend(self.unpublish(r, rule));
                }
                for ((c, tag), m) in &self.tags {
                    if c == chart
                        && m == manifest
                        && !changes.iter().any(|x| matches!(x, Change::DropTag { tag: t, .. } if t == tag))
                    {
                        changes.push(Change::DropTag { chart: chart.clone(), tag: tag.clone() });
                    }
                }
                if self.manifests.contains_key(&key(chart, manifest))
                    && !changes.iter().any(|x| matches!(x, Change::DropManifest { manifest: m, .. } if m == manifest))
                {
                    changes.push(Change::DropManifest { chart: chart.clone(), manifest: manifest.clone() });
                }
                if changes.is_empty() {
                    return Err(LedgerError::NotFound(format!("manifest {manifest} of {chart}")));
                }
                Ok(changes)
            }
        }
    }

    /// A release's manifest replaced by `manifest`: the old one is no longer visible, and the other
    /// tags that named it follow the release.
    fn retag(&self, old: &Release, manifest: &str) -> Vec<Change> {
        if old.manifest == manifest {
            return Vec::new();
        }
        let chart = &old.meta.name;
        let mut changes = vec![Change::DropManifest { chart: chart.clone(), manifest: old.manifest.clone() }];
        for ((c, tag), m) in &self.tags {
            if c == chart && *m == old.manifest {
                changes.push(Change::PutTag { chart: chart.clone(), tag: tag.clone(), manifest: manifest.to_owned() });
            }
        }
        changes
    }

    fn plan_publish(
        &self,
        new: &Release,
        exclusive: bool,
        force: bool,
        rule: ImmutableTags,
    ) -> Result<Vec<Change>, LedgerError> {
        let id = new.id();
        check_name(&id.name)?;
        check_version(&id.name, &id.version)?;
        let size = entry_size(new);
        if size > MAX_ENTRY {
            let why =
                format!("the index entry of {} {} would be {size} bytes, more than {MAX_ENTRY}", id.name, id.version);
            return Err(LedgerError::TooLarge(why));
        }
        // Another spelling of a version the chart has (`v1.0.0` beside `1.0.0`): helm would not
        // know which one a `--version` means.
        if let Some(owner) = self.tag_owner(&id.name, &id.tag()).filter(|v| *v != id.version) {
            return Err(LedgerError::VersionTag { chart: id.name.clone(), tag: id.version.clone(), version: owner });
        }
        let file = id.file_name();
        for taken in [self.files.get(&file), self.reserved.get(&file)].into_iter().flatten() {
            let (n, v) = taken;
            if (n, v) != (&id.name, &id.version) {
                return Err(LedgerError::FileTaken { file, other_name: n.clone(), other_version: v.clone() });
            }
        }
        let tag = id.tag();
        let released = rule.protects(&tag);
        let label = format!("{} {}", id.name, id.version);
        if let Some(tomb) = self.tombstones.get(&key(&id.name, &id.version)) {
            // A deleted release comes back as itself: the same chart, and its signature if it had one.
            let same = tomb.archive == new.archive && tomb.config == new.config;
            if !same || (tomb.prov.is_some() && tomb.prov != new.prov) {
                return Err(LedgerError::Immutable(label));
            }
        }
        let mut changes = Vec::new();
        let old = self.release(&id.name, &id.version);
        if let Some(old) = old {
            if exclusive && !force {
                // ChartMuseum: an existing version is a 409 unless forced.
                return Err(LedgerError::Exists);
            }
            let same = old.same_chart(new);
            if same && old.prov == new.prov {
                return Ok(Vec::new());
            }
            if same && old.prov.is_some() && new.prov.is_none() && exclusive {
                // A forced upload of the same archive without its provenance file keeps it.
                return Ok(Vec::new());
            }
            let gains_signature = same && old.prov.is_none();
            if released && !gains_signature {
                // Other content, another signature, or a signature removed: never for a release.
                return Err(LedgerError::Immutable(label));
            }
            changes.extend(self.retag(old, &new.manifest));
        }
        if let Some(current) = self.tags.get(&key(&id.name, &tag)) {
            // The version's tag named something else (an artifact tagged like the version).
            if current != &new.manifest && released {
                return Err(LedgerError::TagImmutable { chart: id.name.clone(), tag, current: current.clone() });
            }
            changes.push(Change::DropTag { chart: id.name.clone(), tag });
        }
        let mut release = new.clone();
        if let Some(old) = old {
            if old.same_chart(new) {
                release.created = old.created.clone();
            }
        }
        changes.push(Change::PutRelease { release: Box::new(release) });
        Ok(changes)
    }

    /// A release deleted: unlisted with its manifest and every tag that named it; a released
    /// version leaves a tombstone.
    fn unpublish(&self, r: &Release, rule: ImmutableTags) -> Vec<Change> {
        let id = r.id();
        let mut changes = vec![
            Change::DropRelease { name: id.name.clone(), version: id.version.clone() },
            Change::DropManifest { chart: id.name.clone(), manifest: r.manifest.clone() },
        ];
        for ((c, tag), m) in &self.tags {
            if *c == id.name && *m == r.manifest {
                changes.push(Change::DropTag { chart: id.name.clone(), tag: tag.clone() });
            }
        }
        if rule.protects(&id.tag()) {
            let tomb = Tomb { archive: r.archive.clone(), config: r.config.clone(), prov: r.prov.clone() };
            changes.push(Change::PutTombstone { name: id.name, version: id.version, tomb });
        }
        changes
    }

    pub fn release(&self, name: &str, version: &str) -> Option<&Release> {
        self.releases.get(&key(name, version))
    }

    fn releases_of<'a>(&'a self, chart: &'a str) -> impl Iterator<Item = &'a Release> + 'a {
        self.releases.range(key(chart, "")..).take_while(move |((c, _), _)| c == chart).map(|(_, r)| r)
    }

    /// Every release, by chart and version.
    pub fn releases(&self) -> impl Iterator<Item = &Release> {
        self.releases.values()
    }

    /// The release an HTTP file (`<name>-<version>.tgz`, or with `.prov`) belongs to, and the digest
    /// of that file's content: the archive, or the provenance file.
    pub fn file(&self, file: &str) -> Option<(&Release, &str)> {
        let (archive, prov) = match file.strip_suffix(".prov") {
            Some(archive) => (archive, true),
            None => (file, false),
        };
        let (n, v) = self.files.get(archive)?;
        let r = self.releases.get(&key(n, v))?;
        let digest = if prov { r.prov.as_deref()? } else { r.archive.as_str() };
        Some((r, digest))
    }

    /// The manifest a tag of chart `chart`'s OCI repository names.
    pub fn resolve_tag(&self, chart: &str, tag: &str) -> Option<&str> {
        match self.version_tags.get(&key(chart, tag)) {
            Some(version) => self.release(chart, version).map(|r| r.manifest.as_str()),
            None => self.tags.get(&key(chart, tag)).map(String::as_str),
        }
    }

    /// Every tag of chart `chart`'s OCI repository, sorted.
    pub fn tags_of(&self, chart: &str) -> Vec<String> {
        let versions =
            self.version_tags.range(key(chart, "")..).take_while(|((c, _), _)| c == chart).map(|((_, t), _)| t);
        let others = self.tags.range(key(chart, "")..).take_while(|((c, _), _)| c == chart).map(|((_, t), _)| t);
        let mut all: Vec<String> = versions.chain(others).cloned().collect();
        all.sort();
        all
    }

    /// True when `manifest` was made visible in chart `chart`'s OCI repository by a commit.
    pub fn has_manifest(&self, chart: &str, manifest: &str) -> bool {
        self.manifests.contains_key(&key(chart, manifest))
    }

    /// Every digest the ledger references (archives, provenance files, configs, manifests): what
    /// the garbage collector must keep.
    pub fn referenced(&self) -> Vec<String> {
        let mut all = Vec::new();
        for r in self.releases.values() {
            all.extend([r.archive.clone(), r.config.clone(), r.manifest.clone()]);
            all.extend(r.prov.clone());
        }
        all.extend(self.tombstones.values().map(|t| t.archive.clone()));
        all.extend(self.tags.values().cloned());
        all.extend(self.manifests.keys().map(|(_, m)| m.clone()));
        all.sort();
        all.dedup();
        all
    }

    /// ChartMuseum's API reads, answered from the ledger (no index is parsed): `GET
    /// /api/:repo/charts` (`name` `None`: every chart's entries), `…/charts/:name` (its entries,
    /// newest first), `…/charts/:name/:version` (one entry, resolved as helm resolves it:
    /// [`resolve_version`]; `latest` is the empty constraint, the newest that is not a pre-release).
    pub fn api(&self, name: Option<&str>, version: Option<&str>) -> Result<Value, LedgerError> {
        let Some(name) = name else {
            let mut all = Map::new();
            for (chart, list) in self.by_chart() {
                all.insert(chart.to_owned(), Value::Array(list.into_iter().map(entry).collect()));
            }
            return Ok(Value::Object(all));
        };
        let list = self.by_chart().remove(name).unwrap_or_default();
        let not_found = || LedgerError::VersionNotFound(name.to_owned(), version.unwrap_or("").to_owned());
        match version {
            None if list.is_empty() => Err(LedgerError::NotFound(format!("chart {name}"))),
            None => Ok(Value::Array(list.into_iter().map(entry).collect())),
            Some(v) => {
                let constraint = if v == "latest" { "" } else { v };
                let found = resolve_version(list.iter().map(|r| r.meta.version.as_str()), constraint);
                found
                    .and_then(|found| list.iter().find(|r| r.meta.version == found))
                    .map(|r| entry(r))
                    .ok_or_else(not_found)
            }
        }
    }

    /// Each chart's releases, newest first (SemVer order, as `helm repo index` sorts).
    fn by_chart(&self) -> BTreeMap<&str, Vec<&Release>> {
        let mut by_chart: BTreeMap<&str, Vec<&Release>> = BTreeMap::new();
        for r in self.releases.values() {
            by_chart.entry(r.meta.name.as_str()).or_default().push(r);
        }
        for list in by_chart.values_mut() {
            list.sort_by_cached_key(|r| std::cmp::Reverse(semver_of(&r.meta.version)));
        }
        by_chart
    }

    /// `index.yaml`, rendered from the releases (as JSON, which is YAML): each chart's versions,
    /// newest first (SemVer order, as `helm repo index` sorts), each entry its typed metadata with
    /// `urls` (relative, `charts/<file>`), `created` and the archive's SHA-256 hex `digest`.
    pub fn render_index(&self, generated: &str) -> Vec<u8> {
        let mut out = String::with_capacity(self.meta_bytes + self.rendered.len() * 256 + 64);
        out.push_str(r#"{"apiVersion":"v1","entries":{"#);
        let mut rest = self.rendered.iter().peekable();
        let mut first_chart = true;
        while let Some(((chart, _), _)) = rest.peek() {
            let chart = chart.clone();
            let mut versions: Vec<&(semver::Version, String)> = Vec::new();
            while let Some((_, entry)) = rest.next_if(|((c, _), _)| *c == chart) {
                versions.push(entry);
            }
            versions.sort_by(|a, b| b.0.cmp(&a.0));
            if !first_chart {
                out.push(',');
            }
            first_chart = false;
            out.push_str(&Value::from(chart).to_string());
            out.push_str(":[");
            for (i, (_, json)) in versions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(json);
            }
            out.push(']');
        }
        out.push_str(r#"},"generated":"#);
        out.push_str(&Value::from(generated).to_string());
        out.push('}');
        out.into_bytes()
    }
}

/// What a helm chart's manifest holds: its config, its one chart layer (the archive) and at most
/// one provenance layer, as `helm push` writes it. Any other layer, or a second chart or
/// provenance layer, is refused: the ledger compares a release by exactly these.
pub fn chart_parts(
    manifest: &crate::edge::store::oci::Manifest,
) -> Result<(crate::Digest, crate::Digest, Option<crate::Digest>), String> {
    use crate::edge::store::oci::{HELM_CHART, HELM_CHART_LEGACY, HELM_PROV};
    let (config, _) = manifest.helm_chart.clone().ok_or_else(|| "not a helm chart's manifest".to_owned())?;
    let (mut chart, mut prov) = (None, None);
    for (media_type, digest) in &manifest.layers {
        let slot = match media_type.as_str() {
            HELM_CHART | HELM_CHART_LEGACY => &mut chart,
            HELM_PROV => &mut prov,
            other => {
                return Err(format!("a helm chart's manifest has only its chart and provenance layers, not {other}"))
            }
        };
        if slot.replace(digest.clone()).is_some() {
            return Err(format!("a helm chart's manifest has one {media_type} layer, not more"));
        }
    }
    let chart = chart.ok_or_else(|| "a helm chart's manifest needs its chart layer".to_owned())?;
    Ok((config, chart, prov))
}

/// The version helm resolves for `constraint` among `versions` (helm's `IndexFile.Get`, which
/// ChartMuseum answers with): an exact match first; the empty constraint is `*`, the highest
/// version that is not a pre-release; otherwise the highest version matching the constraint by
/// Masterminds semver rules (`^1.2`, `~1.2.3`, `>= 1.0 < 2.0`, `1.2.x`, `1.0 - 1.4`, `!= 1.1.0`,
/// `a || b`; a bare version is exact), where a pre-release matches only a constraint that itself
/// names a pre-release. `None` when nothing matches or the constraint does not parse.
pub fn resolve_version<'a>(versions: impl IntoIterator<Item = &'a str>, constraint: &str) -> Option<&'a str> {
    let versions: Vec<&'a str> = versions.into_iter().collect();
    if let Some(exact) = versions.iter().find(|v| !constraint.is_empty() && **v == constraint) {
        return Some(exact);
    }
    let constraint = constraint.trim();
    let constraint = if constraint.is_empty() { "*" } else { constraint };
    let alternatives: Vec<Vec<Term>> = constraint.split("||").map(parse_terms).collect::<Option<Vec<_>>>()?;
    let names_pre = alternatives.iter().flatten().any(Term::names_pre);
    versions
        .into_iter()
        .filter_map(|v| Some((semver_of(v)?, v)))
        .filter(|(v, _)| v.pre.is_empty() || names_pre)
        .filter(|(v, _)| alternatives.iter().any(|terms| terms.iter().all(|t| t.matches(v))))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
}

/// One comparator of a Masterminds constraint.
enum Term {
    Req(semver::VersionReq),
    Not(semver::Version),
}

impl Term {
    fn matches(&self, v: &semver::Version) -> bool {
        match self {
            Term::Req(req) => req.matches(v),
            Term::Not(n) => v != n,
        }
    }
    fn names_pre(&self) -> bool {
        match self {
            Term::Req(req) => req.comparators.iter().any(|c| !c.pre.is_empty()),
            Term::Not(n) => !n.pre.is_empty(),
        }
    }
}

/// The comparators of one `||` alternative (separated by commas or spaces), in cargo's syntax.
fn parse_terms(alternative: &str) -> Option<Vec<Term>> {
    const OPS: [&str; 8] = ["!=", ">=", "<=", "~>", ">", "<", "=", "~"];
    let mut tokens: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    for word in alternative.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        if OPS.contains(&word) || word == "^" {
            pending = Some(word.to_owned());
        } else {
            tokens.push(format!("{}{word}", pending.take().unwrap_or_default()));
        }
    }
    if pending.is_some() || tokens.is_empty() {
        return None;
    }
    let mut terms = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // A hyphen range: `1.0 - 1.4` is `>= 1.0, <= 1.4`.
        if tokens.get(i + 1).map(String::as_str) == Some("-") {
            let (low, high) = (tokens[i].trim_start_matches('v'), tokens.get(i + 2)?.trim_start_matches('v'));
            terms.push(Term::Req(semver::VersionReq::parse(&format!(">={low}, <={high}")).ok()?));
            i += 3;
            continue;
        }
        let token = tokens[i].as_str();
        let op = OPS.iter().chain(["^"].iter()).find(|op| token.starts_with(**op)).copied().unwrap_or("");
        let version = token[op.len()..].trim_start_matches('v');
        terms.push(match op {
            "!=" => Term::Not(semver::Version::parse(version).ok()?),
            "~>" => Term::Req(semver::VersionReq::parse(&format!("~{version}")).ok()?),
            // A bare version is exact in Masterminds' rules (in cargo's it is a caret).
            "" if version != "*" && !version.eq_ignore_ascii_case("x") => {
                Term::Req(semver::VersionReq::parse(&format!("={version}")).ok()?)
            }
            _ => Term::Req(semver::VersionReq::parse(&format!("{op}{version}")).ok()?),
        });
        i += 1;
    }
    Some(terms)
}

/// The size of a release's metadata as its index entry writes it, in bytes.
fn entry_size(r: &Release) -> usize {
    serde_json::to_vec(&r.meta).map_or(usize::MAX / 4, |v| v.len())
}

/// A release's index entry.
fn entry(r: &Release) -> Value {
    let id = r.id();
    let mut m = r.meta.to_json();
    m.insert("urls".into(), json!([format!("charts/{}", id.file_name())]));
    m.insert("created".into(), r.created.clone().into());
    m.insert("digest".into(), r.archive.strip_prefix("sha256:").unwrap_or(&r.archive).into());
    // Under `ENTRY_CHECKS = report`: what the gate would have refused, in the listing.
    if let Some(refused) = r.entry.as_ref().filter(|e| !e.would_refuse.is_empty()) {
        m.insert("chartgateEntryRefusals".into(), json!(refused.would_refuse));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        crate::Digest::of(crate::Algorithm::Sha256, s.as_bytes()).to_string()
    }

    fn release(name: &str, version: &str, content: &str, prov: Option<&str>) -> Release {
        let meta = ChartMeta { name: name.into(), version: version.into(), ..Default::default() };
        Release {
            meta,
            archive: d(content),
            prov: prov.map(d),
            config: d(&format!("config {name} {version} {content}")),
            manifest: d(&format!("manifest {name} {version} {content} {prov:?}")),
            created: "2026-12-01T00:00:00Z".into(),
            entry: None,
        }
    }

    fn apply(l: &mut Ledger, op: Op) -> Result<(), LedgerError> {
        for c in l.plan(&op, ImmutableTags::Releases)? {
            l.commit(&c);
        }
        Ok(())
    }

    fn publish(r: Release, exclusive: bool, force: bool) -> Op {
        Op::Publish { release: Box::new(r), exclusive, force, tags: Vec::new() }
    }

    #[test]
    fn review_case_1_a_released_tag_never_takes_other_content() {
        let mut l = Ledger::default();
        apply(&mut l, publish(release("app", "1.0.0", "a", None), false, false)).unwrap();
        let other = release("app", "1.0.0", "b", None);
        assert_eq!(apply(&mut l, publish(other, false, false)), Err(LedgerError::Immutable("app 1.0.0".into())));
        let signed = release("app", "1.0.0", "a", Some("sig"));
        apply(&mut l, publish(signed.clone(), false, false)).unwrap();
        assert_eq!(l.release("app", "1.0.0").unwrap().prov, signed.prov, "an unsigned release gains a signature");
        let resigned = release("app", "1.0.0", "a", Some("other sig"));
        assert!(apply(&mut l, publish(resigned, false, true)).is_err(), "never another signature");
    }

    #[test]
    fn review_case_1_a_chart_manifest_has_one_chart_layer_and_at_most_one_provenance_layer() {
        use crate::edge::store::oci::{Manifest, HELM_CHART, HELM_CONFIG, HELM_PROV};
        let layer = |t: &str, c: &str| json!({"mediaType": t, "digest": d(c), "size": 1});
        let manifest = |layers: Vec<Value>| {
            let m = json!({"schemaVersion": 2, "config": layer(HELM_CONFIG, "cfg"), "layers": layers});
            Manifest::parse(m.to_string().as_bytes(), None).unwrap()
        };
        let (config, chart, prov) =
            chart_parts(&manifest(vec![layer(HELM_CHART, "a"), layer(HELM_PROV, "p")])).unwrap();
        assert_eq!(
            (config.to_string(), chart.to_string(), prov.map(|p| p.to_string())),
            (d("cfg"), d("a"), Some(d("p")))
        );
        let review = manifest(vec![
            layer(HELM_CHART, "a"),
            layer(HELM_CHART, "b"),
            layer(HELM_CHART, "c"),
            layer(HELM_PROV, "p"),
        ]);
        assert!(chart_parts(&review).unwrap_err().contains("not more"));
        assert!(chart_parts(&manifest(vec![layer(HELM_CHART, "a"), layer("application/octet-stream", "x")])).is_err());
        assert!(chart_parts(&manifest(vec![layer(HELM_PROV, "p"), layer(HELM_PROV, "q")])).is_err());
    }

    /// Found by the model test: an upload, its signature, then a push of the same chart and
    /// signature in the client's own manifest with `latest` tagged a manifest nobody could see.
    #[test]
    fn a_tag_of_an_unchanged_release_names_its_stored_manifest() {
        let mut l = Ledger::default();
        apply(&mut l, publish(release("app", "1.0.0", "a", Some("sig")), true, false)).unwrap();
        let stored = l.release("app", "1.0.0").unwrap().manifest.clone();
        let mut pushed = release("app", "1.0.0", "a", Some("sig"));
        pushed.manifest = d("the client's own manifest of the same chart");
        let op = Op::Publish { release: Box::new(pushed), exclusive: false, force: false, tags: vec!["latest".into()] };
        apply(&mut l, op).unwrap();
        assert_eq!(l.resolve_tag("app", "latest"), Some(stored.as_str()));
        assert_eq!(l.release("app", "1.0.0").unwrap().manifest, stored);
    }

    #[test]
    fn review_case_3_one_file_name_names_one_chart() {
        let mut l = Ledger::default();
        apply(&mut l, publish(release("ng-ingress", "1.0.0", "a", None), true, false)).unwrap();
        let clash = release("ng", "ingress-1.0.0", "b", None);
        assert!(matches!(apply(&mut l, publish(clash, false, false)), Err(LedgerError::BadVersion(..))));
        apply(&mut l, publish(release("a-1.0.0-b", "2.0.0", "x", None), true, false)).unwrap();
        let taken = apply(&mut l, publish(release("a", "1.0.0-b-2.0.0", "y", None), false, false)).unwrap_err();
        assert!(taken.to_string().contains("already names chart a-1.0.0-b version 2.0.0"), "{taken}");
    }

    #[test]
    fn review_case_5_a_deleted_release_returns_only_as_itself() {
        let mut l = Ledger::default();
        apply(&mut l, publish(release("app", "1.0.0", "a", None), false, false)).unwrap();
        apply(&mut l, Op::DeleteTag { chart: "app".into(), tag: "1.0.0".into() }).unwrap();
        assert!(l.release("app", "1.0.0").is_none() && l.resolve_tag("app", "1.0.0").is_none());
        assert_eq!(
            apply(&mut l, publish(release("app", "1.0.0", "b", None), false, false)),
            Err(LedgerError::Immutable("app 1.0.0".into()))
        );
        apply(&mut l, publish(release("app", "1.0.0", "a", None), false, false)).unwrap();
        // A pre-release leaves no tombstone.
        apply(&mut l, publish(release("app", "2.0.0-rc.1", "c", None), false, false)).unwrap();
        apply(&mut l, Op::Unpublish { name: "app".into(), version: "2.0.0-rc.1".into() }).unwrap();
        apply(&mut l, publish(release("app", "2.0.0-rc.1", "d", None), false, false)).unwrap();
    }

    #[test]
    fn api_uploads_are_exclusive_unless_forced_and_force_never_moves_a_release() {
        let mut l = Ledger::default();
        apply(&mut l, publish(release("app", "1.0.0", "a", None), true, false)).unwrap();
        assert_eq!(apply(&mut l, publish(release("app", "1.0.0", "a", None), true, false)), Err(LedgerError::Exists));
        assert!(matches!(
            apply(&mut l, publish(release("app", "1.0.0", "b", None), true, true)),
            Err(LedgerError::Immutable(_))
        ));
        apply(&mut l, publish(release("app", "1.1.0-rc.1", "a", None), true, false)).unwrap();
        apply(&mut l, publish(release("app", "1.1.0-rc.1", "b", None), true, true)).unwrap();
        assert_eq!(l.release("app", "1.1.0-rc.1").unwrap().archive, d("b"));
    }

    #[test]
    fn review_case_4_a_stored_signature_is_replaced_only_when_forced_and_never_for_a_release() {
        let mut l = Ledger::default();
        let signed = release("app", "1.0.0", "a", Some("s1"));
        apply(&mut l, publish(signed.clone(), true, false)).unwrap();
        let sign = |prov: &str, force| Op::Sign {
            name: "app".into(),
            version: "1.0.0".into(),
            prov: d(prov),
            manifest: d(prov),
            based_on: signed.manifest.clone(),
            force,
        };
        assert!(apply(&mut l, sign("s2", false)).is_err());
        assert!(apply(&mut l, sign("s2", true)).is_err(), "a release keeps its signature");
        let rc = release("app", "0.9.0-rc.1", "a", Some("s1"));
        apply(&mut l, publish(rc.clone(), true, false)).unwrap();
        let pre = |prov: &str, force| Op::Sign {
            name: "app".into(),
            version: "0.9.0-rc.1".into(),
            prov: d(prov),
            manifest: d(prov),
            based_on: rc.manifest.clone(),
            force,
        };
        assert_eq!(apply(&mut l, pre("s2", false)), Err(LedgerError::Exists));
        apply(&mut l, pre("s2", true)).unwrap();
    }

    /// The outside attack on the ledger (issue 23 follow-up): a deleted release's tag, file name
    /// and signature stay its own; a delete takes every tag that named the release; a refused tag
    /// refuses the whole push; a signature replaces the unsigned manifest.
    #[test]
    fn a_deleted_release_keeps_its_tag_file_name_and_signature() {
        let mut l = Ledger::default();
        let signed = release("app", "1.0.0", "a", Some("s1"));
        let publish_tagged = |r: Release, tags: &[&str]| Op::Publish {
            release: Box::new(r),
            exclusive: false,
            force: false,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        apply(&mut l, publish_tagged(signed.clone(), &["stable"])).unwrap();
        assert_eq!(l.resolve_tag("app", "stable"), Some(signed.manifest.as_str()));
        apply(&mut l, Op::Unpublish { name: "app".into(), version: "1.0.0".into() }).unwrap();
        assert_eq!(l.resolve_tag("app", "stable"), None, "a delete takes every tag that named the release");
        let artifact = Op::Manifest { chart: "app".into(), manifest: d("other"), tags: vec!["1.0.0".into()] };
        assert!(matches!(apply(&mut l, artifact), Err(LedgerError::VersionTag { .. })), "a tombstone keeps its tag");
        let resigned = release("app", "1.0.0", "a", Some("s2"));
        assert!(matches!(apply(&mut l, publish(resigned, false, false)), Err(LedgerError::Immutable(_))));
        let unsigned = release("app", "1.0.0", "a", None);
        assert!(matches!(apply(&mut l, publish(unsigned, false, false)), Err(LedgerError::Immutable(_))));
        // The file name of the deleted release a-1.0.0-b 2.0.0 stays reserved.
        apply(&mut l, publish(release("a-1.0.0-b", "2.0.0", "x", None), true, false)).unwrap();
        apply(&mut l, Op::Unpublish { name: "a-1.0.0-b".into(), version: "2.0.0".into() }).unwrap();
        let taker = release("a", "1.0.0-b-2.0.0", "y", None);
        assert!(matches!(apply(&mut l, publish(taker, false, false)), Err(LedgerError::FileTaken { .. })));
        apply(&mut l, publish(release("a-1.0.0-b", "2.0.0", "x", None), true, false)).unwrap();
        // A refused tag refuses the version with it.
        let other = Op::Manifest { chart: "app".into(), manifest: d("sbom"), tags: vec!["latest".into()] };
        apply(&mut l, other).unwrap();
        let mut all = Ledger::default();
        all.commit(&Change::PutTag { chart: "app".into(), tag: "2.0.0-rc.1".into(), manifest: d("x") });
        let rc = release("app", "3.0.0", "c", None);
        let refused = all.plan(&publish_tagged(rc, &["2.0.0-rc.1"]), ImmutableTags::All);
        assert!(matches!(refused, Err(LedgerError::TagImmutable { .. })));
        // A signature added later replaces the unsigned manifest, which a later delete cannot leave behind.
        let mut l = Ledger::default();
        let plain = release("pv", "1.0.0", "a", None);
        apply(&mut l, publish(plain.clone(), true, false)).unwrap();
        let sign = Op::Sign {
            name: "pv".into(),
            version: "1.0.0".into(),
            prov: d("sig"),
            manifest: d("signed manifest"),
            based_on: plain.manifest.clone(),
            force: false,
        };
        apply(&mut l, sign.clone()).unwrap();
        assert!(!l.has_manifest("pv", &plain.manifest), "the unsigned manifest is no longer visible");
        assert!(matches!(apply(&mut l, sign), Err(LedgerError::Conflict(_))), "built on a manifest that changed");
    }

    #[test]
    fn entries_and_the_repository_are_bounded() {
        let mut l = Ledger::default();
        let mut big = release("big", "1.0.0", "a", None);
        big.meta.lists.insert("keywords".into(), vec!["k".repeat(4000); 5]);
        assert!(matches!(apply(&mut l, publish(big, false, false)), Err(LedgerError::TooLarge(_))));
    }

    /// Security round 4, G2: 2,196 padded versions of one chart, pushed with a grant on that chart
    /// only, filled the repository's 32 MiB and every other chart was refused; tags and artifact
    /// manifests counted against nothing.
    #[test]
    fn g2_a_grant_on_one_chart_cannot_spend_the_repository_budget() {
        let mut l = Ledger::default();
        // Entry bytes: padded entries stop at the chart's bound, well before the repository's.
        let padded = |v: usize| {
            let mut r = release("app", &format!("1.0.{v}"), &format!("p{v}"), None);
            r.meta.strings.insert("description".into(), "x".repeat(MAX_FIELD));
            r.meta.lists.insert("keywords".into(), vec!["k".repeat(MAX_FIELD); 2]);
            r
        };
        let mut refused = None;
        for v in 0..MAX_CHART_BYTES / 1000 {
            if let Err(e) = apply(&mut l, publish(padded(v), false, false)) {
                refused = Some(e);
                break;
            }
        }
        let e = refused.expect("the chart's entry bytes are bounded");
        assert_eq!(e.status(), 413);
        assert!(e.to_string().contains("chart app") && e.to_string().contains(&MAX_CHART_BYTES.to_string()), "{e}");
        assert!(l.counts("app").entry_bytes <= MAX_CHART_BYTES && l.bytes() < MAX_LEDGER_BYTES / 4);
        apply(&mut l, publish(release("other", "1.0.0", "o", None), true, false))
            .expect("another chart still publishes");
        // Versions: many small ones, deleted or not, stop at the chart's bound.
        let mut l = Ledger::default();
        for v in 0..MAX_CHART_VERSIONS {
            apply(&mut l, publish(release("many", &format!("0.0.{v}"), &v.to_string(), None), false, false)).unwrap();
        }
        apply(&mut l, Op::Unpublish { name: "many".into(), version: "0.0.0".into() })
            .expect("a delete is never refused");
        let e = apply(&mut l, publish(release("many", "9.9.9", "n", None), false, false)).unwrap_err();
        assert!(e.to_string().contains("chart many") && e.to_string().contains("5000"), "{e}");
        apply(&mut l, publish(release("many", "0.0.0", "0", None), false, false)).expect("a deleted release returns");
        // Tags and artifact manifests are bounded per chart, and count toward the repository.
        let before = l.bytes();
        for i in 0..MAX_CHART_TAGS {
            let op = Op::Manifest { chart: "many".into(), manifest: d("sbom"), tags: vec![format!("t{i}")] };
            apply(&mut l, op).unwrap();
        }
        assert!(l.bytes() > before + MAX_CHART_TAGS * 64, "tags count toward the repository's bytes");
        let op = Op::Manifest { chart: "many".into(), manifest: d("sbom"), tags: vec!["one-more".into()] };
        assert!(apply(&mut l, op).unwrap_err().to_string().contains("tags besides"));
        for i in 1..MAX_CHART_ARTIFACTS {
            apply(&mut l, Op::Manifest { chart: "many".into(), manifest: d(&i.to_string()), tags: vec![] }).unwrap();
        }
        let op = Op::Manifest { chart: "many".into(), manifest: d("last"), tags: vec![] };
        assert!(apply(&mut l, op).unwrap_err().to_string().contains("manifests besides"));
        assert_eq!(l.counts("many"), l.recount("many"));
        assert_eq!(l.bytes(), l.recount_bytes());
        assert_eq!(Ledger::from_changes(&l.rows()), l, "rows rebuild the counters");
    }

    #[test]
    fn tags_of_versions_belong_to_them() {
        let mut l = Ledger::default();
        let r = release("app", "1.0.0+build.1", "a", None);
        apply(&mut l, publish(r.clone(), false, false)).unwrap();
        assert_eq!(l.resolve_tag("app", "1.0.0_build.1"), Some(r.manifest.as_str()));
        let artifact = Op::Manifest { chart: "app".into(), manifest: d("sbom"), tags: vec!["1.0.0_build.1".into()] };
        assert!(matches!(apply(&mut l, artifact), Err(LedgerError::VersionTag { .. })));
        apply(&mut l, Op::Manifest { chart: "app".into(), manifest: d("sbom"), tags: vec!["sbom".into()] }).unwrap();
        assert_eq!(l.tags_of("app"), vec!["1.0.0_build.1".to_owned(), "sbom".to_owned()]);
        assert!(l.has_manifest("app", &d("sbom")));
        apply(&mut l, Op::DeleteManifest { chart: "app".into(), manifest: d("sbom") }).unwrap();
        assert_eq!(l.tags_of("app"), vec!["1.0.0_build.1".to_owned()]);
    }

    #[test]
    fn review_case_7_a_deeply_nested_config_renders_a_readable_index() {
        let mut nested = json!("deep");
        for _ in 0..200 {
            nested = json!({ "a": [nested] });
        }
        let config = json!({"name": "deep", "version": "1.0.0", "description": "x", "annotations": {"k": "v", "n": nested.clone()}, "extra": nested});
        let meta = ChartMeta::from_json(config.as_object().unwrap()).unwrap();
        assert_eq!(meta.annotations.len(), 1, "a non-string annotation is left out");
        let mut l = Ledger::default();
        let r = Release { meta, ..release("deep", "1.0.0", "a", None) };
        apply(&mut l, publish(r, false, false)).unwrap();
        let index = l.render_index("now");
        let parsed = crate::edge::store::publish::index_document(&index, 1_000_000).unwrap();
        assert_eq!(parsed["entries"]["deep"][0]["description"], "x");
        assert!(!String::from_utf8(index).unwrap().contains("extra"));
    }

    #[test]
    fn the_api_reads_answer_from_the_ledger() {
        let mut l = Ledger::default();
        for v in ["1.0.0", "1.10.0", "1.2.0"] {
            apply(&mut l, publish(release("app", v, v, None), true, false)).unwrap();
        }
        assert_eq!(l.api(None, None).unwrap()["app"].as_array().unwrap().len(), 3);
        assert_eq!(l.api(Some("app"), None).unwrap()[0]["version"], "1.10.0");
        assert_eq!(l.api(Some("app"), Some("latest")).unwrap()["version"], "1.10.0");
        assert_eq!(l.api(Some("app"), Some("1.2.0")).unwrap()["digest"], d("1.2.0").trim_start_matches("sha256:"));
        assert_eq!(l.api(Some("app"), Some("9.9.9")).unwrap_err().status(), 404);
        assert_eq!(l.api(Some("nope"), None).unwrap_err().status(), 404);
        assert_eq!(Ledger::default().api(None, None).unwrap(), json!({}));
    }

    /// Review case 9 of security round 4: `…/charts/<name>/latest` answered a pre-release, where
    /// ChartMuseum (helm's `IndexFile.Get(name, "")`) skips them (helm/helm#2567).
    /// cert-manager's releases are `v1.18.2` (helm's loader reads them, `helm push` pushes them):
    /// listed, ordered and protected as releases like `1.18.2`; other forms stay refused.
    #[test]
    fn v_prefixed_versions_are_releases() {
        let rule = ImmutableTags::Releases;
        let mut l = Ledger::default();
        apply(&mut l, publish(release("cm", "v1.18.2", "a", None), true, false)).unwrap();
        apply(&mut l, publish(release("cm", "v1.9.0", "b", None), true, false)).unwrap();
        let index = String::from_utf8(l.render_index("now")).unwrap();
        assert!(index.find("v1.18.2").unwrap() < index.find("v1.9.0").unwrap(), "ordered as versions: {index}");
        let moved = l.plan(&publish(release("cm", "v1.18.2", "c", None), false, true), rule);
        assert!(matches!(moved, Err(LedgerError::Immutable(_))), "{moved:?}");
        // Another spelling of a listed version is that version's: neither a second release nor an
        // artifact's tag (found by an outside attack: `v1.0.0` shadowed release `1.0.0` for helm).
        let twin = l.plan(&publish(release("cm", "1.18.2", "d", None), true, false), rule);
        assert!(matches!(twin, Err(LedgerError::VersionTag { .. })), "{twin:?}");
        let artifact =
            Op::Manifest { chart: "cm".into(), manifest: d("x"), tags: vec!["1.18.2".into(), "v1.9.0".into()] };
        assert!(matches!(l.plan(&artifact, rule), Err(LedgerError::VersionTag { .. })));
        for bad in ["1.2", "v1", "01.2.3", "vv1.2.3"] {
            assert!(check_version("cm", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn case_09_latest_and_ranges_resolve_as_helm_does() {
        let mut l = Ledger::default();
        for v in ["1.0.0", "1.2.0", "2.0.0-rc.1"] {
            apply(&mut l, publish(release("app", v, v, None), true, false)).unwrap();
        }
        assert_eq!(l.api(Some("app"), Some("latest")).unwrap()["version"], "1.2.0");
        assert_eq!(l.api(Some("app"), Some("2.0.0-rc.1")).unwrap()["version"], "2.0.0-rc.1", "an exact version");
        assert_eq!(l.api(Some("app"), Some("^1.0")).unwrap()["version"], "1.2.0");
        let vs = ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0", "0.9.0-beta.1"];
        let r = |c: &str| resolve_version(vs, c);
        assert_eq!(r(""), Some("1.10.0"));
        assert_eq!(r("*"), Some("1.10.0"));
        assert_eq!(r(">= 1.0, < 1.5"), Some("1.2.0"));
        assert_eq!(r(">=1.0 <1.5"), Some("1.2.0"));
        assert_eq!(r("~1.2"), Some("1.2.0"));
        assert_eq!(r("1.0.0"), Some("1.0.0"), "a bare version is exact, not a caret");
        assert_eq!(r("1.0 - 1.3"), Some("1.2.0"));
        assert_eq!(r("1.x"), Some("1.10.0"));
        assert_eq!(r("^3 || ~1.0"), Some("1.0.0"));
        assert_eq!(r("!= 1.10.0, >= 1"), Some("1.2.0"));
        assert_eq!(r(">= 2.0.0-rc.1"), Some("2.0.0-rc.1"), "a constraint naming a pre-release matches one");
        assert_eq!(r("^0.9"), None, "a pre-release matches no constraint without one");
        assert_eq!(resolve_version(["1.0.0-rc.1"], ""), None, "helm finds no stable version");
        assert_eq!(r(">>"), None);
    }

    #[test]
    fn the_index_lists_newest_first_and_files_resolve() {
        let mut l = Ledger::default();
        for v in ["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1"] {
            apply(&mut l, publish(release("app", v, v, Some(v)), true, false)).unwrap();
        }
        let index: Value = serde_json::from_slice(&l.render_index("t")).unwrap();
        let versions: Vec<&str> =
            index["entries"]["app"].as_array().unwrap().iter().map(|e| e["version"].as_str().unwrap()).collect();
        assert_eq!(versions, ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"]);
        assert_eq!(index["entries"]["app"][0]["urls"], json!(["charts/app-2.0.0-rc.1.tgz"]));
        let (r, digest) = l.file("app-1.2.0.tgz.prov").unwrap();
        assert_eq!((r.meta.version.as_str(), digest), ("1.2.0", d("1.2.0").as_str()));
        assert!(l.file("app-9.9.9.tgz").is_none());
        assert_eq!(Ledger::from_changes(&l.rows()), l, "rows rebuild the state");
    }
}
