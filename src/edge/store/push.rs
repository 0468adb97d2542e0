//! What an OCI push of a manifest commits to its chart repository's ledger: a helm chart's
//! manifest publishes its version, any other manifest is made visible with its tags; and how a
//! ledger's refusal reads to a registry client.

use serde_json::Value;

use super::ledger::{chart_parts, check_keys, ChartMeta, LedgerError, Op, Release};
use super::oci::{Manifest, RegistryError};
use crate::Digest;

/// The ledger op a manifest pushed to chart `chart`'s OCI repository commits (one op: all of it or
/// nothing): a helm chart's manifest publishes its version (from its config, read into typed
/// fields, `created` at `now`, RFC 3339) with any other tag it was pushed with; any other manifest
/// is made visible with its tags.
pub fn commit_op(
    manifest: &Manifest,
    config: Option<&[u8]>,
    chart: &str,
    d: &Digest,
    tags: &[String],
    now: &str,
) -> Result<Op, String> {
    let artifact = || Op::Manifest { chart: chart.to_owned(), manifest: d.to_string(), tags: tags.to_vec() };
    let Some(config) = config.filter(|_| manifest.helm_chart.is_some()) else { return Ok(artifact()) };
    let config: Value = serde_json::from_slice(config)
        .map_err(|e| format!("a helm chart's config must be a readable JSON object (the chart's metadata): {e}"))?;
    let object = config.as_object().ok_or_else(|| "a helm chart's config must be a JSON object".to_owned())?;
    check_keys(object).map_err(|why| format!("a helm chart's config: {why}"))?;
    // A chart layer is a chart: its config names it, and it enters like any version (never as an
    // artifact beside the releases, out of the entry gate's sight).
    let meta = ChartMeta::from_json(object)
        .ok_or_else(|| "a helm chart's config must name the chart and its version (name, version)".to_owned())?;
    let (config_digest, archive, prov) = chart_parts(manifest)?;
    let release = Release {
        meta,
        archive: archive.to_string(),
        prov: prov.map(|p| p.to_string()),
        config: config_digest.to_string(),
        manifest: d.to_string(),
        created: now.to_owned(),
        entry: None,
    };
    Ok(Op::Publish { release: Box::new(release), exclusive: false, force: false, tags: tags.to_vec() })
}

/// The registry's answer to a ledger refusal.
pub fn registry_error(e: LedgerError) -> RegistryError {
    match e {
        LedgerError::BadName(_) | LedgerError::BadVersion(..) | LedgerError::FileTaken { .. } => {
            RegistryError::ManifestInvalid(e.to_string())
        }
        LedgerError::NotFound(_) | LedgerError::VersionNotFound(..) => RegistryError::ManifestUnknown,
        LedgerError::TooLarge(_) => RegistryError::SizeInvalid(e.to_string()),
        LedgerError::Exists
        | LedgerError::Immutable(_)
        | LedgerError::VersionTag { .. }
        | LedgerError::TagImmutable { .. }
        | LedgerError::Conflict(_) => RegistryError::Denied(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::store::oci::tests::{helm_manifest, D};

    #[test]
    fn a_pushed_manifest_commits_one_op() {
        let d = Digest::parse(D).unwrap();
        let manifest = Manifest::parse(helm_manifest().as_bytes(), None).unwrap();
        let config = br#"{"name": "hello", "version": "1.0.0", "apiVersion": "v2"}"#;
        let now = "2026-12-07T00:00:00Z";
        match commit_op(&manifest, Some(config), "hello", &d, &["stable".into()], now).unwrap() {
            Op::Publish { release, exclusive, tags, .. } => {
                assert_eq!((release.meta.name.as_str(), release.created.as_str()), ("hello", now));
                assert!(!exclusive);
                assert_eq!(tags, ["stable"]);
            }
            other => panic!("{other:?}"),
        }
        // Found by an outside attack (a chart layer under a nameless config was stored as an artifact,
        // out of the entry gate's sight, and served by `helm pull oci://`): refused.
        let nameless = br#"{"description": "no chart named"}"#;
        let refused = commit_op(&manifest, Some(nameless), "hello", &d, &[], now).unwrap_err();
        assert!(refused.contains("must name the chart and its version"), "{refused}");
        assert!(commit_op(&manifest, Some(b"[1]"), "hello", &d, &[], now).is_err());
        assert!(matches!(commit_op(&manifest, None, "hello", &d, &[], now), Ok(Op::Manifest { .. })));
    }
}
