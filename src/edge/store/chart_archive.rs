//! A chart archive's `Chart.yaml`: its identity (`name`, `version`) and its whole metadata as JSON,
//! read from the gzipped tar that `helm package` writes (`<name>/Chart.yaml` at the top). The edge
//! reads it from an upload to know which stored archive the upload replaces, and to list it in
//! `index.yaml`. Reading checks every entry's header, never inflates more than [`MAX_INFLATED`]
//! bytes, refuses entries that leave the archive (`..`, absolute paths) and YAML aliases, so a
//! hostile archive is refused whole and costs little.

use std::io::Read;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, EventReceiver, Parser};

/// Most bytes an archive may inflate to (helm's own limit on a decompressed chart).
pub const MAX_INFLATED: u64 = 100 * 1024 * 1024;
/// Largest `Chart.yaml` read.
const MAX_CHART_YAML: u64 = 1024 * 1024;

/// A chart's name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartId {
    pub name: String,
    pub version: String,
}

impl ChartId {
    /// The archive's file name, as `helm package` and ChartMuseum name it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// The chart's OCI tag, as `helm push` writes it: the version, with `+` (not allowed in tags)
    /// written `_`.
    pub fn tag(&self) -> String {
        self.version.replace('+', "_")
    }
}

/// Why an archive's identity cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a gzipped tar archive: {0}")]
    Archive(String),
    #[error("the archive inflates to more than {0} bytes")]
    TooLarge(u64),
    #[error("Chart.yaml is larger than {0} bytes")]
    ChartYamlTooLarge(u64),
    #[error("no Chart.yaml at the top of the archive")]
    NoChartYaml,
    #[error("Chart.yaml is not YAML: {0}")]
    Yaml(String),
    #[error("Chart.yaml has no {0}")]
    Missing(&'static str),
    #[error("Chart.yaml {0} {1:?} cannot name a file")]
    BadValue(&'static str, String),
}

/// Reads `name` and `version` from the `Chart.yaml` of a `.tgz` chart.
pub fn chart_id(tgz: &[u8]) -> Result<ChartId, ArchiveError> {
    chart_metadata(tgz).map(|(id, _)| id)
}

/// The chart's identity and its whole `Chart.yaml` as JSON (what `index.yaml` lists for it).
/// Every entry's header is checked (the contents are skipped): an archive that helm would refuse
/// to load is refused here, before anything is stored.
pub fn chart_metadata(tgz: &[u8]) -> Result<(ChartId, Map<String, Value>), ArchiveError> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz).take(MAX_INFLATED + 1));
    let found = scan(&mut archive);
    if archive.into_inner().limit() == 0 {
        return Err(ArchiveError::TooLarge(MAX_INFLATED));
    }
    found
}

fn scan<R: Read>(archive: &mut tar::Archive<R>) -> Result<(ChartId, Map<String, Value>), ArchiveError> {
    let broken = |e: std::io::Error| ArchiveError::Archive(e.to_string());
    let mut chart = None;
    for entry in archive.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.into_owned();
        if path.is_absolute() || path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(ArchiveError::Archive(format!("entry {:?} leaves the archive", path.display().to_string())));
        }
        let mut parts = path.components();
        let is_chart_yaml = matches!((parts.next(), parts.next(), parts.next()), (Some(_), Some(f), None) if f.as_os_str() == "Chart.yaml");
        if !is_chart_yaml || chart.is_some() {
            continue;
        }
        if entry.size() > MAX_CHART_YAML {
            return Err(ArchiveError::ChartYamlTooLarge(MAX_CHART_YAML));
        }
        let mut text = String::new();
        (&mut entry).take(MAX_CHART_YAML).read_to_string(&mut text).map_err(|e| ArchiveError::Yaml(e.to_string()))?;
        chart = Some(parse_chart_yaml(&text)?);
    }
    chart.ok_or(ArchiveError::NoChartYaml)
}

/// Most YAML nodes (scalars and collections) read from one `Chart.yaml`.
pub const MAX_NODES: usize = 20_000;
/// Deepest nesting read.
const MAX_DEPTH: usize = 32;
/// Keys whose plain `true`/`false` are booleans in helm's chart metadata; every other scalar is a
/// string, as helm reads `Chart.yaml` into its (string-typed) fields.
const BOOLEAN_KEYS: [&str; 2] = ["deprecated", "enabled"];

/// The first YAML document as JSON, built from the parser's events. Aliases are refused (no
/// expansion, so no exponential "billion laughs"), and so is anything past [`MAX_NODES`] nodes or
/// [`MAX_DEPTH`] levels.
#[derive(Default)]
struct ToJson {
    max_nodes: usize,
    /// Open collections: a mapping with its pending key, or a sequence.
    stack: Vec<(Value, Option<String>)>,
    done: Option<Value>,
    nodes: usize,
    error: Option<String>,
}

impl ToJson {
    fn push_value(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => self.done = self.done.take().or(Some(value)),
            Some((Value::Array(items), _)) => items.push(value),
            Some((Value::Object(map), key)) => match key.take() {
                None => match value {
                    Value::String(k) => *key = Some(k),
                    _ => self.error = Some("a mapping key is not a scalar".into()),
                },
                Some(k) => {
                    map.insert(k, value);
                }
            },
            Some(_) => {}
        }
    }

    fn pending_key(&self) -> Option<&str> {
        match self.stack.last() {
            Some((Value::Object(_), Some(k))) => Some(k),
            _ => None,
        }
    }
}

impl EventReceiver for ToJson {
    fn on_event(&mut self, event: Event) {
        if self.error.is_some() || self.done.is_some() {
            return;
        }
        self.nodes += 1;
        if self.nodes > self.max_nodes || self.stack.len() > MAX_DEPTH {
            self.error = Some(format!("more than {} nodes or {MAX_DEPTH} levels", self.max_nodes));
            return;
        }
        match event {
            Event::MappingStart(..) => self.stack.push((Value::Object(Map::new()), None)),
            Event::SequenceStart(..) => self.stack.push((Value::Array(Vec::new()), None)),
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some((value, _)) = self.stack.pop() {
                    self.push_value(value);
                }
            }
            Event::Scalar(text, style, ..) => {
                let boolean = style == yaml_rust2::scanner::TScalarStyle::Plain
                    && self.pending_key().is_some_and(|k| BOOLEAN_KEYS.contains(&k));
                let value = match (boolean, text.as_str()) {
                    (true, "true") => Value::Bool(true),
                    (true, "false") => Value::Bool(false),
                    _ => Value::String(text),
                };
                self.push_value(value);
            }
            Event::Alias(_) => self.error = Some("YAML aliases are not allowed in Chart.yaml".into()),
            _ => {}
        }
    }
}

/// The first document of a YAML text as JSON, under [`ToJson`]'s limits (no aliases, at most
/// `max_nodes` nodes and [`MAX_DEPTH`] levels; `deprecated`/`enabled` booleans, every other scalar
/// a string).
pub fn yaml_to_json(text: &str, max_nodes: usize) -> Result<Value, ArchiveError> {
    let mut reader = ToJson { max_nodes, ..Default::default() };
    Parser::new_from_str(text).load(&mut reader, false).map_err(|e| ArchiveError::Yaml(e.to_string()))?;
    if let Some(why) = reader.error {
        return Err(ArchiveError::Yaml(why));
    }
    reader.done.ok_or_else(|| ArchiveError::Yaml("empty document".into()))
}

fn parse_chart_yaml(text: &str) -> Result<(ChartId, Map<String, Value>), ArchiveError> {
    let Value::Object(meta) = yaml_to_json(text, MAX_NODES)? else {
        return Err(ArchiveError::Yaml("Chart.yaml is not a mapping".into()));
    };
    let field = |key: &'static str| -> Result<String, ArchiveError> {
        let value = match meta.get(key) {
            None => return Err(ArchiveError::Missing(key)),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ArchiveError::BadValue(key, "a collection".into())),
        };
        // The value becomes part of a storage key: one plain path segment.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+');
        if value.is_empty() || value.len() > 128 || !value.chars().all(plain) || value.starts_with('.') {
            return Err(ArchiveError::BadValue(key, value));
        }
        Ok(value)
    };
    let id = ChartId { name: field("name")?, version: field("version")? };
    Ok((id, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, text.as_bytes()).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    /// A tar with one entry whose name is written as is (the tar builder refuses hostile ones),
    /// ending with the two empty blocks of a tar's end.
    fn raw_tar(path: &str, text: &str) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let mut tar = header.as_bytes().to_vec();
        tar.extend_from_slice(text.as_bytes());
        tar.resize(512 + text.len().div_ceil(512) * 512 + 1024, 0);
        tar
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, bytes).unwrap();
        gz.finish().unwrap()
    }

    fn raw_tgz(path: &str, text: &str) -> Vec<u8> {
        gzip(&raw_tar(path, text))
    }

    #[test]
    fn bounded_inflation() {
        // A chart followed by more zeros than helm would ever inflate: refused as too large.
        let mut tar = raw_tar("x/Chart.yaml", "name: x\nversion: 1\n");
        tar.truncate(tar.len() - 1024);
        let mut header = tar::Header::new_gnu();
        header.set_path("x/big").unwrap();
        header.set_size(MAX_INFLATED);
        header.set_mode(0o644);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        std::io::copy(&mut std::io::repeat(0).take(MAX_INFLATED + 1024), &mut gz).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < MAX_INFLATED as usize / 100, "a bomb: {} bytes", bomb.len());
        assert_eq!(chart_id(&bomb), Err(ArchiveError::TooLarge(MAX_INFLATED)));
    }

    #[test]
    fn reads_name_and_version() {
        let archive = tgz(&[
            ("hello/values.yaml", "a: 1\n"),
            ("hello/Chart.yaml", "apiVersion: v2\nname: hello\nversion: 0.1.0\ndescription: x\n"),
        ]);
        let id = chart_id(&archive).unwrap();
        assert_eq!(id, ChartId { name: "hello".into(), version: "0.1.0".into() });
        assert_eq!(id.file_name(), "hello-0.1.0.tgz");
        let quoted = tgz(&[("x/Chart.yaml", "name: \"x\"\nversion: '1.0'\n")]);
        assert_eq!(chart_id(&quoted).unwrap().version, "1.0");
        let float = tgz(&[("x/Chart.yaml", "name: x\nversion: 1.0\n")]);
        assert_eq!(chart_id(&float).unwrap().version, "1.0");
    }

    #[test]
    fn metadata_as_helm_reads_it() {
        let yaml = "apiVersion: v2\nname: hello\nversion: 1.0\ndeprecated: true\ndescription: yes\nkeywords: [a, b]\ndependencies:\n  - name: d\n    enabled: false\n    version: 1\n";
        let (id, meta) = chart_metadata(&tgz(&[("hello/Chart.yaml", yaml)])).unwrap();
        assert_eq!(id.version, "1.0");
        assert_eq!(meta["deprecated"], Value::Bool(true));
        assert_eq!(meta["description"], "yes", "a string field stays a string");
        assert_eq!(meta["keywords"], serde_json::json!(["a", "b"]));
        assert_eq!(meta["dependencies"][0]["enabled"], Value::Bool(false));
        assert_eq!(meta["dependencies"][0]["version"], "1");
    }

    #[test]
    fn refuses_what_is_not_a_chart() {
        assert!(matches!(chart_id(b"not gzip"), Err(ArchiveError::Archive(_))));
        assert_eq!(chart_id(&tgz(&[("hello/values.yaml", "a: 1\n")])), Err(ArchiveError::NoChartYaml));
        assert_eq!(chart_id(&tgz(&[("a/b/Chart.yaml", "name: x\nversion: 1\n")])), Err(ArchiveError::NoChartYaml));
        assert_eq!(chart_id(&tgz(&[("x/Chart.yaml", "version: 1.0.0\n")])), Err(ArchiveError::Missing("name")));
        let hostile = tgz(&[("x/Chart.yaml", "name: ../../etc\nversion: 1.0.0\n")]);
        assert!(matches!(chart_id(&hostile), Err(ArchiveError::BadValue("name", _))));
        assert!(matches!(chart_id(&tgz(&[("x/Chart.yaml", "name: [x\n")])), Err(ArchiveError::Yaml(_))));
        let bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nname: x\nversion: 1.0.0\n";
        assert!(
            matches!(chart_id(&tgz(&[("x/Chart.yaml", bomb)])), Err(ArchiveError::Yaml(w)) if w.contains("aliases"))
        );
        assert!(matches!(
            chart_id(&raw_tgz("../x/Chart.yaml", "name: x\nversion: 1\n")),
            Err(ArchiveError::Archive(_))
        ));
        assert!(matches!(chart_id(&raw_tgz("/x/Chart.yaml", "name: x\nversion: 1\n")), Err(ArchiveError::Archive(_))));
        let nested =
            tgz(&[("x/Chart.yaml", "maintainers:\n  - name: evil\n    version: 9\nname: x\nversion: 1.2.3\n")]);
        assert_eq!(chart_id(&nested).unwrap(), ChartId { name: "x".into(), version: "1.2.3".into() }, "top level only");
        let after = tgz(&[("x/Chart.yaml", "name: x\nversion: 1\n"), ("x/templates/a.yaml", "a")]);
        assert!(chart_id(&after).is_ok());
        let mut escape = raw_tar("x/Chart.yaml", "name: x\nversion: 1\n");
        escape.truncate(escape.len() - 1024);
        escape.extend(raw_tar("x/../../etc/cron.d/x", "* * * * * root id"));
        assert!(
            matches!(chart_id(&gzip(&escape)), Err(ArchiveError::Archive(w)) if w.contains("leaves the archive")),
            "an entry after Chart.yaml is checked too"
        );
        let big = format!("name: x\nversion: 1\ndescription: {}\n", "a".repeat(MAX_CHART_YAML as usize));
        assert_eq!(chart_id(&tgz(&[("x/Chart.yaml", &big)])), Err(ArchiveError::ChartYamlTooLarge(MAX_CHART_YAML)));
        let listed = tgz(&[("x/Chart.yaml", "name: [a, b]\nversion: 1.0.0\n")]);
        assert!(matches!(chart_id(&listed), Err(ArchiveError::BadValue("name", _))));
    }
}
