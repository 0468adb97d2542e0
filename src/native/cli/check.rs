//! `chartgate check`: the entry gate run natively on a chart archive or a chart directory, so a CI
//! job learns before `helm push` what the edge will say. A directory is packaged in memory as
//! `helm package` lays an archive out (`<name>/...`), keeping symlinks, devices and FIFOs as what
//! they are so the gate refuses them as it would in an archive.

use std::path::Path;
use std::process::ExitCode;

use super::{usage, CliError, CliResult};
use crate::entry::{chart_yaml_name, check_archive, check_claimed, Claimed, Limits, Verdict, CODES};

/// Runs the gate on `input` (a `.tgz` or a directory); exit 0 accepted, 1 refused.
pub(super) fn check(input: &Path, claimed: Option<Claimed>, as_json: bool) -> CliResult {
    let meta = std::fs::metadata(input).map_err(|e| usage(format!("cannot read {}: {e}", input.display())))?;
    let tgz = if meta.is_dir() {
        package(input)?
    } else {
        std::fs::read(input).map_err(|e| usage(format!("cannot read {}: {e}", input.display())))?
    };
    let limits = Limits::default();
    let verdict = match &claimed {
        Some(claimed) => check_claimed(&tgz, &limits, claimed),
        None => check_archive(&tgz, &limits),
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&verdict).map_err(|e| CliError::Failed(e.to_string()))?);
    } else {
        match &verdict {
            Verdict::Accepted(p) => {
                println!("accepted: {} {} ({} files)", p.name, p.version, p.files.len());
                println!("checks: {}", p.checks.join(", "));
                for url in &p.schema_refs {
                    println!("schema reference (public, helm may fetch it): {url}");
                }
            }
            Verdict::Refused { refusals } => {
                println!("refused: {}", input.display());
                for r in refusals {
                    let meaning = CODES.iter().find(|(c, _)| *c == r.code).map_or("", |(_, m)| m);
                    match &r.file {
                        Some(file) => println!("  {} {file}: {} ({meaning})", r.code, r.detail),
                        None => println!("  {}: {} ({meaning})", r.code, r.detail),
                    }
                }
            }
        }
    }
    Ok(if verdict.is_accepted() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `chartgate check --repo`: every version the repository's `index.yaml` lists, downloaded and
/// judged by today's gate; exit 1 when any would be refused.
pub(super) fn check_repo(repo: &str, token: Option<&str>, as_json: bool) -> CliResult {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let judged = runtime
        .block_on(crate::native::mirror::judge(repo, token, &Limits::default()))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let refused = judged.iter().filter(|(_, _, v)| !v.is_accepted()).count();
    if as_json {
        let list: Vec<serde_json::Value> = judged
            .iter()
            .map(|(name, version, verdict)| serde_json::json!({"name": name, "version": version, "verdict": verdict}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).map_err(|e| CliError::Failed(e.to_string()))?);
    } else {
        for (name, version, verdict) in &judged {
            match verdict {
                Verdict::Accepted(_) => println!("{name} {version}: accepted"),
                Verdict::Refused { refusals } => {
                    println!("{name} {version}: would be refused");
                    for r in refusals {
                        println!("  {r}");
                    }
                }
            }
        }
        println!("{} versions, {refused} would be refused today", judged.len());
    }
    Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A chart directory as an in-memory `.tgz`, every entry under `<name>/` (the name its
/// `Chart.yaml` declares, else the directory's).
fn package(dir: &Path) -> Result<Vec<u8>, CliError> {
    let failed = |e: std::io::Error| CliError::Failed(format!("packaging {}: {e}", dir.display()));
    let declared = std::fs::read_to_string(dir.join("Chart.yaml")).ok().and_then(|t| chart_yaml_name(&t));
    let top = declared
        .or_else(|| dir.canonicalize().ok()?.file_name()?.to_str().map(str::to_owned))
        .ok_or_else(|| usage(format!("{}: cannot name the chart", dir.display())))?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut todo = vec![dir.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).map_err(failed)? {
            let path = entry.map_err(failed)?.path();
            let meta = std::fs::symlink_metadata(&path).map_err(failed)?;
            if meta.is_dir() {
                todo.push(path);
            } else {
                paths.push(path);
            }
        }
    }
    paths.sort();
    for path in paths {
        let rel = path.strip_prefix(dir).map_err(|e| CliError::Failed(e.to_string()))?;
        let name = Path::new(&top).join(rel);
        // `append_path_with_name` keeps symlinks (follow_symlinks off), FIFOs and devices as such.
        builder.append_path_with_name(&path, &name).map_err(failed)?;
    }
    let tar = builder.into_inner().map_err(failed)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).map_err(failed)?;
    gz.finish().map_err(failed)
}

/// `--claim NAME:VERSION` as an OCI config's claims.
pub(super) fn parse_claim(text: &str) -> Result<Claimed, CliError> {
    let (name, version) = text.split_once(':').ok_or_else(|| usage("--claim takes NAME:VERSION"))?;
    Ok(Claimed { name: name.to_owned(), version: version.to_owned() })
}
