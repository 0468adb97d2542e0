//! What the entry gate's verdict does to a version entering a repository: under `ENTRY_CHECKS =
//! enforce` (the default) a refused archive enters nowhere, with every refusal; under `report` it
//! enters, and the ledger records what it would have been refused with (shown in the listing
//! and logged). Either way the release records the checks it passed. The gate itself is the
//! engine's ([`crate::entry`]), the same `chartgate check` runs.

use serde::{Deserialize, Serialize};

use crate::entry::{Refusal, Verdict};

/// `ENTRY_CHECKS`: whether the entry gate refuses or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryChecks {
    /// Refuse what the gate refuses (the default).
    #[default]
    Enforce,
    /// Accept it, record and log what would have been refused (to audit a repository first).
    Report,
}

impl EntryChecks {
    pub fn parse(text: &str) -> Option<EntryChecks> {
        match text.trim() {
            "enforce" => Some(EntryChecks::Enforce),
            "report" => Some(EntryChecks::Report),
            _ => None,
        }
    }
}

/// What the gate found, recorded with the release in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EntryRecord {
    /// The checks the archive passed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<String>,
    /// Under `report`: the refusal codes it entered in spite of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_refuse: Vec<String>,
    /// Public `https` URLs its `values.schema.json` references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_refs: Vec<String>,
}

/// The record a version enters with, or every refusal (nothing enters).
pub fn admit(verdict: Verdict, mode: EntryChecks) -> Result<EntryRecord, Vec<Refusal>> {
    match (verdict, mode) {
        (Verdict::Accepted(p), _) => Ok(EntryRecord {
            passed: p.checks.iter().map(|c| (*c).to_owned()).collect(),
            would_refuse: Vec::new(),
            schema_refs: p.schema_refs,
        }),
        (Verdict::Refused { refusals }, EntryChecks::Enforce) => Err(refusals),
        (Verdict::Refused { refusals }, EntryChecks::Report) => Ok(EntryRecord {
            passed: Vec::new(),
            would_refuse: refusals.iter().map(|r| r.code.to_owned()).collect(),
            schema_refs: Vec::new(),
        }),
    }
}

/// The refusals as one line for people (`symlink: demo/Chart.lock: …; …`).
pub fn describe(refusals: &[Refusal]) -> String {
    let lines: Vec<String> = refusals.iter().take(8).map(ToString::to_string).collect();
    let more = refusals.len().saturating_sub(lines.len());
    let mut text = format!("the entry gate refuses this chart: {}", lines.join("; "));
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{check_archive, Limits};

    fn symlinked_lock() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let chart = b"apiVersion: v2\nname: demo\nversion: 0.1.0\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(chart.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "demo/Chart.yaml", &chart[..]).unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        b.append_link(&mut link, "demo/Chart.lock", "/etc/passwd").unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &b.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn enforce_refuses_and_report_records() {
        let verdict = check_archive(&symlinked_lock(), &Limits::default());
        let refused = admit(verdict.clone(), EntryChecks::Enforce).unwrap_err();
        assert!(refused.iter().any(|r| r.code == "symlink" || r.code == "dependency_not_regular"), "{refused:?}");
        assert!(describe(&refused).starts_with("the entry gate refuses this chart: "));
        let recorded = admit(verdict, EntryChecks::Report).unwrap();
        assert!(!recorded.would_refuse.is_empty() && recorded.passed.is_empty());
        assert_eq!(EntryChecks::parse("report"), Some(EntryChecks::Report));
        assert_eq!(EntryChecks::parse("off"), None);
    }
}
