//! Publishing without a chart server: the rules of ChartMuseum's API when the edge answers it
//! itself (the ledger backend): what an upload must be (its file name, its provenance file bound
//! to its archive, a kept release date), the OCI form an upload gets (as `helm push` would make
//! it), how a provenance file reaches a chart's manifest, and ChartMuseum's JSON answers. What a
//! repository holds is its ledger's ([`super::ledger`]): every publish is one transaction there.
//! The worker glue (`worker::api`) stores the content by digest and commits to the ledger.
//!
//! `index_document` reads an `index.yaml` as JSON (what the edge writes, which is YAML too: helm
//! (sigs.k8s.io/yaml), Flux and Argo CD read it as any index) or YAML (what `helm repo index`
//! writes), for `chartgate mirror`'s source and the tests.

use serde_json::{json, Map, Value};

use crate::edge::store::chart_archive::{yaml_to_json, ArchiveError};
use crate::edge::store::oci::{ImmutableTags, HELM_PROV};
use crate::edge::ChartId;
use crate::{Algorithm, Digest};

/// Largest chart archive accepted through the API (ChartMuseum's default `--max-upload-size`).
pub const MAX_UPLOAD: usize = 20 * 1024 * 1024;

/// Why a publish request is refused, with ChartMuseum's status and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("file already exists")]
    Exists,
    #[error("{0} is a released version and immutable (IMMUTABLE_TAGS): it would change under its users over OCI; upload a new version instead")]
    Immutable(String),
    #[error("{0}")]
    BadChart(String),
    #[error("chart not found")]
    ChartNotFound,
    #[error("improper constraint: {0}")]
    VersionNotFound(String),
    #[error("{0}")]
    TooLarge(String),
    /// The entry gate refused the archive ([`super::entry`]): every refusal, each with its code.
    #[error("{}", super::entry::describe(.0))]
    EntryRefused(Vec<crate::entry::Refusal>),
}

impl PublishError {
    pub fn status(&self) -> u16 {
        match self {
            PublishError::Exists | PublishError::Immutable(_) => 409,
            PublishError::BadChart(_) | PublishError::EntryRefused(_) => 400,
            PublishError::ChartNotFound | PublishError::VersionNotFound(_) => 404,
            PublishError::TooLarge(_) => 413,
        }
    }

    /// ChartMuseum's body: `{"error": "…"}`, and for the entry gate's refusal each refusal's
    /// `code`, `file` and `detail` under `refusals`.
    pub fn body(&self) -> String {
        match self {
            PublishError::EntryRefused(refusals) => {
                json!({"error": self.to_string(), "refusals": refusals}).to_string()
            }
            _ => json!({"error": self.to_string()}).to_string(),
        }
    }
}

impl From<ArchiveError> for PublishError {
    /// An archive too large once inflated (or with too large a `Chart.yaml`) is a 413; every other
    /// broken archive a 400.
    fn from(e: ArchiveError) -> PublishError {
        match e {
            ArchiveError::TooLarge(_) | ArchiveError::ChartYamlTooLarge(_) => PublishError::TooLarge(e.to_string()),
            e => PublishError::BadChart(e.to_string()),
        }
    }
}

/// An `index.yaml` as a JSON value: UTF-8, then JSON (what the edge writes) or YAML (what `helm
/// repo index` writes) of at most `max_nodes` nodes. The edge's index and `chartgate mirror`'s
/// source index are both read with it.
pub fn index_document(bytes: &[u8], max_nodes: usize) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(_) => yaml_to_json(text, max_nodes).map_err(|e| e.to_string()),
    }
}

/// A helm chart pushed over OCI must be the chart its repository stands for: `org1/repo1/hello`
/// holds chart `hello` of `org1/repo1` (its config, the chart's metadata, names it), as `helm push
/// … oci://edge/org1/repo1` always makes it. Another name would list one chart under another's name
/// in `index.yaml`; a config without a name is never listed, so it passes.
pub fn check_pushed_chart(config: &[u8], oci: &str, chart: &str) -> Result<(), String> {
    let named = serde_json::from_slice::<Value>(config).ok().and_then(|v| v.get("name")?.as_str().map(str::to_owned));
    match named {
        Some(name) if name == chart => Ok(()),
        Some(name) => Err(format!(
            "this helm chart is {name}, but {oci} holds chart {chart}: push it to the chart repository (helm push {name}-….tgz oci://…/{})",
            oci.rsplit_once('/').map_or("", |(repo, _)| repo)
        )),
        // Nothing to list under any name (index.yaml lists only charts whose config names them).
        None => Ok(()),
    }
}

/// What helm would push for an uploaded archive: the config (the chart's metadata as JSON), the
/// image manifest naming it and the archive (and provenance file, when there is one) as layers, and
/// the tag (the version, `+` written `_`).
pub fn oci_artifacts(
    meta: &Map<String, Value>,
    id: &ChartId,
    tgz: &[u8],
    prov: Option<&[u8]>,
) -> (Vec<u8>, Vec<u8>, String) {
    use crate::edge::store::oci::{HELM_CHART, HELM_CONFIG, OCI_MANIFEST};
    let config = serde_json::to_vec(meta).unwrap_or_default();
    let mut annotations = json!({
        "org.opencontainers.image.title": id.name,
        "org.opencontainers.image.version": id.version,
    });
    if let Some(description) = meta.get("description").and_then(Value::as_str) {
        annotations["org.opencontainers.image.description"] = description.into();
    }
    let mut layers = vec![descriptor(HELM_CHART, tgz)];
    layers.extend(prov.map(|p| descriptor(HELM_PROV, p)));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(HELM_CONFIG, &config),
        "layers": layers,
        "annotations": annotations,
    });
    (config, serde_json::to_vec(&manifest).unwrap_or_default(), id.tag())
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    let digest = Digest::of(Algorithm::Sha256, bytes);
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": bytes.len()})
}

/// A helm chart's manifest with `prov` as its provenance layer (added, or in place of the one it
/// had): how a provenance file uploaded after its chart reaches the chart's OCI form. `None` when
/// the manifest is not a helm chart's.
pub fn with_provenance(manifest: &[u8], prov: &[u8]) -> Option<Vec<u8>> {
    crate::edge::store::oci::Manifest::parse(manifest, None).ok()?.helm_chart?;
    let mut doc: Value = serde_json::from_slice(manifest).ok()?;
    let layers = doc.get_mut("layers")?.as_array_mut()?;
    layers.retain(|l| l.get("mediaType").and_then(Value::as_str) != Some(HELM_PROV));
    layers.push(descriptor(HELM_PROV, prov));
    serde_json::to_vec(&doc).ok()
}

/// The chart a provenance file is for: the `name` and `version` of the `Chart.yaml` block that
/// `helm package --sign` writes at the top of the signed message (as ChartMuseum reads it).
pub fn prov_chart(prov: &[u8]) -> Result<ChartId, PublishError> {
    let text = std::str::from_utf8(prov)
        .map_err(|_| PublishError::BadChart("the provenance file is not UTF-8 text".into()))?;
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(PublishError::BadChart("the provenance file is not a PGP signed message".into()));
    }
    // The Chart.yaml block ends at the YAML document end `...` before the files' digests.
    let block = text.split("\n...").next().unwrap_or(text);
    let field = |key: &str| {
        block
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
    };
    let (Some(name), Some(version)) = (field("name:"), field("version:")) else {
        return Err(PublishError::BadChart("the provenance file names no chart name and version".into()));
    };
    let plain =
        |s: &str| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if !plain(&name) || !plain(&version) || name.starts_with('.') {
        return Err(PublishError::BadChart("the provenance file's chart name or version cannot name a file".into()));
    }
    Ok(ChartId { name, version })
}

/// A form's provenance file must be the archive's: the chart and version its signed `Chart.yaml`
/// names.
pub fn check_prov(prov: &[u8], id: &ChartId) -> Result<(), PublishError> {
    let named = prov_chart(prov)?;
    if &named != id {
        return Err(PublishError::BadChart(format!(
            "the provenance file is for {} {}, the archive is {} {}",
            named.name, named.version, id.name, id.version
        )));
    }
    Ok(())
}

/// The archives a provenance file's signed `files:` block lists (`<file>: sha256:<hex>`, as `helm
/// package --sign` writes them after the `Chart.yaml` block): file name and digest, lower-cased.
fn prov_digests(prov: &str) -> Vec<(String, String)> {
    // Only the signed message: after the armor header's blank line, before the signature.
    let signed = prov.split_once("\n\n").map_or("", |(_, body)| body);
    let signed = signed.split("\n-----BEGIN PGP SIGNATURE-----").next().unwrap_or("");
    let Some((_, files)) = signed.split_once("\n...\n") else { return Vec::new() };
    let mut lines = files.lines().skip_while(|l| l.trim_end() != "files:").skip(1);
    let mut out = Vec::new();
    while let Some(line) = lines.next().filter(|l| l.starts_with(' ')) {
        if let Some((file, value)) = line.split_once(": ") {
            let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
            out.push((unquote(file), unquote(value).to_ascii_lowercase()));
        }
    }
    out
}

/// A provenance file is bound to one archive: its signed `files:` block must list the archive's
/// SHA-256 (`sha256:<hex>`, the digest the ledger records), so a signature of other bytes (a
/// mirror source's, another build's) never attaches to this release.
pub fn check_prov_signs(prov: &[u8], archive: &str, id: &ChartId) -> Result<(), PublishError> {
    let text = std::str::from_utf8(prov)
        .map_err(|_| PublishError::BadChart("the provenance file is not UTF-8 text".into()))?;
    // helm verifies the entry named after the archive it downloaded (`<name>-<version>.tgz`).
    let file = id.file_name();
    let listed = prov_digests(text);
    let named = listed.iter().find(|(f, _)| *f == file).map(|(_, d)| d);
    if named.is_some_and(|d| d == archive) {
        return Ok(());
    }
    let why = match (named, listed.first()) {
        (Some(other), _) => format!("it signs {other}"),
        (None, Some((f, _))) => format!("it lists {f}, not {file}"),
        (None, None) => "it lists no archive digest under files:".into(),
    };
    Err(PublishError::BadChart(format!(
        "the provenance file is not the archive's: {} {} is {archive}, {why}",
        id.name, id.version
    )))
}

/// A release time given by the publisher (`chartgate mirror` keeps the source's `created`): RFC
/// 3339 (`2024-05-01T10:00:00Z`, fractions and offsets allowed), not later than `now` (UNIX
/// seconds) plus five minutes of clock skew, so a publisher may keep an older date but never
/// post-date a release past the release-age rules of its readers.
pub fn check_created(value: &str, now: u64) -> Result<String, PublishError> {
    let bad =
        |why: &str| PublishError::BadChart(format!("created {:?}: {why}", value.chars().take(64).collect::<String>()));
    let at = rfc3339_seconds(value).ok_or_else(|| bad("not an RFC 3339 date-time"))?;
    if at > now as i64 + 300 {
        return Err(bad("is in the future"));
    }
    Ok(value.to_owned())
}

/// UNIX seconds of an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
fn rfc3339_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let (h, m) = (rest[1..3].parse::<i64>().ok()?, rest[4..6].parse::<i64>().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if rest.starts_with('-') {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Whether a provenance file may be stored for `id` when one `exists` already: as ChartMuseum,
/// not without `?force` and `ALLOW_OVERWRITE` (`force`), and never for a version `rule` keeps
/// immutable (its OCI manifest keeps the signature it has).
pub fn check_prov_replacement(
    exists: bool,
    force: bool,
    id: &ChartId,
    rule: ImmutableTags,
) -> Result<(), PublishError> {
    match (exists, force) {
        (false, _) => Ok(()),
        (true, false) => Err(PublishError::Exists),
        (true, true) if rule.protects(&id.tag()) => Err(PublishError::Immutable(format!("{} {}", id.name, id.version))),
        (true, true) => Ok(()),
    }
}

/// Checks the file name a multipart form gave the archive: only its base name carries meaning
/// (helm's push plugin sends its local path, `/tmp/helm-push-2214883397/cmp-0.3.1.tgz`; Windows
/// clients may send `C:\\charts\\cmp-0.3.1.tgz`), and a base name as `helm package` names archives
/// (`<name>-<version>.tgz`) must be that chart's. Other names (`chart.tgz`) are not read.
pub fn check_file_name(file_name: &str, id: &ChartId) -> Result<(), PublishError> {
    let file_name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let Some(stem) = file_name.strip_suffix(".tgz") else { return Ok(()) };
    let looks_versioned = stem.match_indices('-').any(|(i, _)| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
    if !looks_versioned || file_name == id.file_name() {
        return Ok(());
    }
    Err(PublishError::BadChart(format!(
        "{file_name} holds chart {} version {} (its Chart.yaml): the file name and the chart disagree",
        id.name, id.version
    )))
}

/// The chart named by `DELETE /api/:repo/charts/:name/:version` or `GET …/:name/:version`.
pub fn chart_of_path(segments: &[&str]) -> Option<ChartId> {
    match segments {
        [.., "charts", name, version] => Some(ChartId { name: (*name).to_owned(), version: (*version).to_owned() }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, version: &str) -> ChartId {
        ChartId { name: name.into(), version: version.into() }
    }

    fn meta(name: &str, version: &str) -> Map<String, Value> {
        json!({"apiVersion": "v2", "name": name, "version": version, "description": "d"}).as_object().unwrap().clone()
    }

    #[test]
    fn reads_what_helm_repo_index_writes() {
        let yaml = "apiVersion: v1\nentries:\n  hello:\n  - apiVersion: v2\n    name: hello\n    version: 0.1.0\n    urls:\n    - hello-0.1.0.tgz\n    digest: abc\ngenerated: \"2026-01-01T00:00:00Z\"\n";
        let index = index_document(yaml.as_bytes(), 1000).unwrap();
        assert_eq!(index["entries"]["hello"][0]["version"], "0.1.0");
        assert!(index_document(b"{\"a\": [1, 2]}", 1000).is_ok(), "JSON, as the edge writes it");
        assert!(index_document(b"\xff", 1000).is_err());
        assert_eq!(PublishError::Exists.status(), 409);
        assert_eq!(PublishError::Exists.body(), r#"{"error":"file already exists"}"#);
        assert_eq!(PublishError::from(ArchiveError::TooLarge(9)).status(), 413);
        assert_eq!(PublishError::from(ArchiveError::NoChartYaml).status(), 400);
    }

    #[test]
    fn uploads_become_what_helm_would_push() {
        let id = id("hello", "1.0.0+b");
        let (config, manifest, tag) = oci_artifacts(&meta("hello", "1.0.0+b"), &id, b"tgz bytes", None);
        assert_eq!(tag, "1.0.0_b");
        let parsed = crate::edge::store::oci::Manifest::parse(&manifest, None).unwrap();
        let (c, layer) = parsed.helm_chart.unwrap();
        assert_eq!(c, crate::Digest::of(crate::Algorithm::Sha256, &config));
        assert_eq!(layer, crate::Digest::of(crate::Algorithm::Sha256, b"tgz bytes"));
        let back: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(
            (back["name"].as_str(), back["version"].as_str()),
            (Some("hello"), Some("1.0.0+b")),
            "the config is the chart's metadata"
        );
    }

    #[test]
    fn provenance_follows_the_chart() {
        let id = id("hello", "1.0.0");
        let (_, plain, _) = oci_artifacts(&meta("hello", "1.0.0"), &id, b"tgz", None);
        let (_, signed, _) = oci_artifacts(&meta("hello", "1.0.0"), &id, b"tgz", Some(b"sig"));
        let parse = |m: &[u8]| crate::edge::store::oci::Manifest::parse(m, None).unwrap();
        assert_eq!(parse(&plain).helm_prov, None);
        let prov = Digest::of(Algorithm::Sha256, b"sig");
        assert_eq!(parse(&signed).helm_prov, Some(prov.clone()));
        let added = with_provenance(&plain, b"sig").unwrap();
        assert_eq!(parse(&added), parse(&signed), "adding a provenance file later makes what an upload with it makes");
        let replaced = parse(&with_provenance(&signed, b"new").unwrap());
        assert_eq!(replaced.helm_prov, Some(Digest::of(Algorithm::Sha256, b"new")));
        assert_eq!(replaced.blobs.len(), 3, "replaced, not added twice");
        assert_eq!(with_provenance(br#"{"schemaVersion":2,"layers":[]}"#, b"sig"), None, "only a chart's manifest");
    }

    #[test]
    fn provenance_files_name_their_chart() {
        let prov = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: hello\nversion: '1.0.0'\n\n...\nfiles:\n  name: other\n";
        assert_eq!(prov_chart(prov), Ok(id("hello", "1.0.0")));
        let bad = |p: &[u8]| prov_chart(p).unwrap_err().to_string();
        assert!(bad(b"name: hello\nversion: 1.0.0\n").contains("not a PGP signed message"));
        assert!(bad(b"-----BEGIN PGP SIGNED MESSAGE-----\nname: hello\n").contains("no chart name and version"));
        assert!(bad(b"-----BEGIN PGP SIGNED MESSAGE-----\nname: ../x\nversion: 1\n").contains("cannot name a file"));
        assert!(bad(&[0xff, 0xfe]).contains("not UTF-8"));
        assert_eq!(check_prov(prov, &id("hello", "1.0.0")), Ok(()));
        let other = check_prov(prov, &id("hello", "1.0.1")).unwrap_err().to_string();
        assert_eq!(other, "the provenance file is for hello 1.0.0, the archive is hello 1.0.1");
    }

    /// Security round 4, finding G4: a provenance file is bound to the archive it signs, by the
    /// digest in its signed `files:` block, not by the chart name it claims.
    #[test]
    fn finding_g4_a_provenance_file_binds_to_its_archive_digest() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let prov = |digest: &str| {
            format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\napiVersion: v2\nname: hello\nversion: 0.1.0\n\n...\nfiles:\n  hello-0.1.0.tgz: {digest}\n-----BEGIN PGP SIGNATURE-----\n\nwsBc\n-----END PGP SIGNATURE-----\n")
        };
        let hello = id("hello", "0.1.0");
        assert_eq!(check_prov_signs(prov(&a).as_bytes(), &a, &hello), Ok(()));
        let other = check_prov_signs(prov(&b).as_bytes(), &a, &hello).unwrap_err().to_string();
        assert!(other.contains(&format!("it signs {b}")), "{other}");
        // A digest outside the signed message (after the signature) binds nothing.
        let outside = format!("{}files:\n  hello-0.1.0.tgz: {a}\n", prov(&b));
        assert!(check_prov_signs(outside.as_bytes(), &a, &hello).is_err());
        // The digest must be listed under the archive's own name, which helm verifies.
        let elsewhere = prov(&a).replace("hello-0.1.0.tgz: ", &format!("hello-0.1.0.tgz: {b}\n  unrelated.tgz: "));
        let named = check_prov_signs(elsewhere.as_bytes(), &a, &hello).unwrap_err().to_string();
        assert!(named.contains(&format!("it signs {b}")), "{named}");
        let bare = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: hello\nversion: 0.1.0\n";
        assert!(check_prov_signs(bare.as_bytes(), &a, &hello).unwrap_err().to_string().contains("no archive digest"));
    }

    /// Security round 4, case 8: `chartgate mirror` keeps each version's `created`; a publisher
    /// may keep an older date, never post-date one.
    #[test]
    fn case_08_a_kept_release_date_is_rfc3339_and_never_in_the_future() {
        let now = 1_780_000_000; // 2026-05-28
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2024-02-29T12:30:00.123456789+02:00"), Some(1_709_202_600));
        assert_eq!(rfc3339_seconds("2021-03-04T05:06:07-01:30"), Some(1_614_839_767));
        for bad in [
            "2024-02-30T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00",
            "yesterday",
            "2024-01-01T00:00:00.Z",
            "2024-13-01T00:00:00Z",
        ] {
            assert!(check_created(bad, now).is_err(), "{bad}");
        }
        assert_eq!(check_created("2020-01-01T00:00:00Z", now), Ok("2020-01-01T00:00:00Z".into()));
        assert!(check_created("2099-01-01T00:00:00Z", now).unwrap_err().to_string().contains("future"));
    }

    #[test]
    fn a_signature_is_replaced_only_when_forced_and_never_on_a_release() {
        let (release, dev) = (id("hello", "1.0.0"), id("hello", "1.1.0-dev"));
        let rule = ImmutableTags::Releases;
        assert_eq!(check_prov_replacement(false, false, &release, rule), Ok(()));
        assert_eq!(check_prov_replacement(true, false, &dev, rule), Err(PublishError::Exists));
        assert_eq!(check_prov_replacement(true, true, &dev, rule), Ok(()));
        assert_eq!(check_prov_replacement(true, true, &release, rule).unwrap_err().status(), 409);
        assert_eq!(check_prov_replacement(true, true, &release, ImmutableTags::Off), Ok(()));
    }

    #[test]
    fn form_file_names_must_agree_with_the_chart() {
        let hello = id("hello", "0.1.0");
        assert_eq!(check_file_name("hello-0.1.0.tgz", &hello), Ok(()));
        assert_eq!(check_file_name("chart.tgz", &hello), Ok(()), "a name without a version is not read");
        assert_eq!(check_file_name("upload", &hello), Ok(()));
        assert!(check_file_name("hello-0.2.0.tgz", &hello).is_err());
        assert!(check_file_name("other-0.1.0.tgz", &hello).is_err());
        let rc = id("my-chart", "1.0.0-rc.1");
        assert_eq!(check_file_name("my-chart-1.0.0-rc.1.tgz", &rc), Ok(()));
        assert!(check_file_name("my-chart-1.0.0.tgz", &rc).unwrap_err().to_string().contains("disagree"));
    }

    /// Security round 3, item 7: `helm cm-push` names the form part with its local path.
    #[test]
    fn the_push_plugins_local_path_is_read_by_its_base_name() {
        let cmp = id("cmp", "0.3.1");
        assert_eq!(check_file_name("/tmp/helm-push-2214883397/cmp-0.3.1.tgz", &cmp), Ok(()));
        assert_eq!(check_file_name("C:\\Users\\me\\cmp-0.3.1.tgz", &cmp), Ok(()));
        assert_eq!(check_file_name("/tmp/cmp-0.3.1.tgz/chart.tgz", &cmp), Ok(()), "only the base name is read");
        assert!(check_file_name("/tmp/helm-push-1/cmp-0.4.0.tgz", &cmp).is_err(), "a base name still must agree");
    }

    #[test]
    fn a_pushed_chart_is_the_chart_its_repository_names() {
        assert_eq!(check_pushed_chart(br#"{"name":"hello","version":"1.0.0"}"#, "org1/repo1/hello", "hello"), Ok(()));
        let other = check_pushed_chart(br#"{"name":"other"}"#, "org1/repo1/hello", "hello").unwrap_err();
        assert!(other.contains("this helm chart is other, but org1/repo1/hello holds chart hello"), "{other}");
        assert!(other.contains("oci://…/org1/repo1"), "{other}");
        assert_eq!(check_pushed_chart(b"{}", "org1/repo1/hello", "hello"), Ok(()), "no name: never listed");
    }

    #[test]
    fn chart_paths() {
        assert_eq!(chart_of_path(&["api", "org1", "repo1", "charts", "x", "1.0.0"]), Some(id("x", "1.0.0")));
        assert_eq!(chart_of_path(&["api", "org1", "repo1", "charts"]), None);
    }
}
