//! A chart archive's identity: the `name` and `version` of its `Chart.yaml`, read from the
//! gzipped tar that `helm package` writes (`<name>/Chart.yaml` at the top). The edge reads it from
//! an upload to know which stored archive the upload replaces. Reading stops at `Chart.yaml` and
//! never inflates more than [`MAX_INFLATED`] bytes, so a hostile archive costs little.

use std::io::Read;

use yaml_rust2::parser::{Event, EventReceiver, Parser};

/// Most bytes inflated while looking for `Chart.yaml`.
pub const MAX_INFLATED: u64 = 8 * 1024 * 1024;
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
}

/// Why an archive's identity cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a gzipped tar archive: {0}")]
    Archive(String),
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
    let inflated = flate2::read::GzDecoder::new(tgz).take(MAX_INFLATED);
    let mut archive = tar::Archive::new(inflated);
    let entries = archive.entries().map_err(|e| ArchiveError::Archive(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| ArchiveError::Archive(e.to_string()))?;
        let is_chart_yaml = entry.path().is_ok_and(|p| {
            let mut parts = p.components();
            matches!((parts.next(), parts.next(), parts.next()), (Some(_), Some(f), None) if f.as_os_str() == "Chart.yaml")
        });
        if !is_chart_yaml {
            continue;
        }
        let mut text = String::new();
        entry.take(MAX_CHART_YAML).read_to_string(&mut text).map_err(|e| ArchiveError::Yaml(e.to_string()))?;
        return parse_chart_yaml(&text);
    }
    Err(ArchiveError::NoChartYaml)
}

/// The top-level `name` and `version` of the first document, from the YAML parser's event
/// stream (no document tree is built: only two scalars are wanted).
#[derive(Default)]
struct TopLevel {
    depth: usize,
    /// The top-level key whose value comes next, when it is one of ours.
    key: Option<&'static str>,
    /// At depth 1: true when the next scalar is a key.
    expecting_key: bool,
    name: Option<Result<String, String>>,
    version: Option<Result<String, String>>,
    documents: usize,
}

impl EventReceiver for TopLevel {
    fn on_event(&mut self, event: Event) {
        if self.documents > 1 {
            return;
        }
        let at_value = self.depth == 1 && !self.expecting_key;
        match event {
            Event::DocumentStart => self.documents += 1,
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if at_value {
                    self.take(Err("a collection".into()));
                }
                self.depth += 1;
                if self.depth == 1 {
                    self.expecting_key = true;
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 1 {
                    self.expecting_key = true;
                }
            }
            Event::Scalar(value, ..) if self.depth == 1 && self.expecting_key => {
                self.key = match value.as_str() {
                    "name" => Some("name"),
                    "version" => Some("version"),
                    _ => None,
                };
                self.expecting_key = false;
            }
            Event::Scalar(value, ..) if at_value => self.take(Ok(value)),
            Event::Alias(_) if at_value => self.take(Err("an alias".into())),
            _ => {}
        }
    }
}

impl TopLevel {
    fn take(&mut self, value: Result<String, String>) {
        match self.key.take() {
            Some("name") => self.name = Some(value),
            Some("version") => self.version = Some(value),
            _ => {}
        }
        self.expecting_key = true;
    }
}

fn parse_chart_yaml(text: &str) -> Result<ChartId, ArchiveError> {
    let mut top = TopLevel::default();
    Parser::new_from_str(text).load(&mut top, false).map_err(|e| ArchiveError::Yaml(e.to_string()))?;
    let field = |key: &'static str, value: Option<Result<String, String>>| -> Result<String, ArchiveError> {
        let value = value.ok_or(ArchiveError::Missing(key))?.map_err(|what| ArchiveError::BadValue(key, what))?;
        // The value becomes part of a storage key: one plain path segment.
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+');
        if value.is_empty() || value.len() > 128 || !value.chars().all(plain) || value.starts_with('.') {
            return Err(ArchiveError::BadValue(key, value));
        }
        Ok(value)
    };
    Ok(ChartId { name: field("name", top.name)?, version: field("version", top.version)? })
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
    fn refuses_what_is_not_a_chart() {
        assert!(matches!(chart_id(b"not gzip"), Err(ArchiveError::Archive(_))));
        assert_eq!(chart_id(&tgz(&[("hello/values.yaml", "a: 1\n")])), Err(ArchiveError::NoChartYaml));
        assert_eq!(chart_id(&tgz(&[("a/b/Chart.yaml", "name: x\nversion: 1\n")])), Err(ArchiveError::NoChartYaml));
        assert_eq!(chart_id(&tgz(&[("x/Chart.yaml", "version: 1.0.0\n")])), Err(ArchiveError::Missing("name")));
        let hostile = tgz(&[("x/Chart.yaml", "name: ../../etc\nversion: 1.0.0\n")]);
        assert!(matches!(chart_id(&hostile), Err(ArchiveError::BadValue("name", _))));
        assert!(matches!(chart_id(&tgz(&[("x/Chart.yaml", "name: [x\n")])), Err(ArchiveError::Yaml(_))));
        let nested =
            tgz(&[("x/Chart.yaml", "maintainers:\n  - name: evil\n    version: 9\nname: x\nversion: 1.2.3\n")]);
        assert_eq!(chart_id(&nested).unwrap(), ChartId { name: "x".into(), version: "1.2.3".into() }, "top level only");
        let listed = tgz(&[("x/Chart.yaml", "name: [a, b]\nversion: 1.0.0\n")]);
        assert!(matches!(chart_id(&listed), Err(ArchiveError::BadValue("name", _))));
    }
}
