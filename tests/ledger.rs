//! The repository ledger as a model (issue 23): random sequences of uploads, pushes, provenance
//! additions, deletes by tag and by digest, forced overwrites, artifact tags and GC runs, from
//! principals holding different grants, checked after every step against the invariants:
//! a released (chart, version) serves one archive over HTTP and OCI or nothing, never other bytes
//! later; each file name maps to one (chart, version); `index.yaml` parses and lists exactly what
//! the ledger holds; nothing is reachable that no commit made visible; a refused op changes
//! nothing; no principal changes a chart its grant does not cover; GC never takes what the ledger
//! references; each chart's counters (what its bounds are checked against) equal a recount.

use std::collections::{BTreeMap, BTreeSet};

use chartgate::edge::store::ledger::{Change, ChartMeta, Ledger, Op, Release};
use chartgate::edge::store::publish::index_document;
use chartgate::edge::{ChartId, ImmutableTags};
use proptest::prelude::*;

const CHARTS: [&str; 4] = ["a", "b", "a-1.0.0-b", "ng"];
const VERSIONS: [&str; 5] = ["1.0.0", "1.0.0-rc.1", "2.0.0", "1.0.0-b-2.0.0", "2.0.0+build.7"];

fn d(s: &str) -> String {
    chartgate::oci::Digest::of(chartgate::oci::Algorithm::Sha256, s.as_bytes()).to_string()
}

/// A release as a client would build it: the manifest names its archive, config and provenance.
fn release(chart: usize, version: usize, content: u8, prov: Option<u8>) -> Release {
    let (name, version) = (CHARTS[chart], VERSIONS[version]);
    let archive = d(&format!("tgz {name} {version} {content}"));
    let config = d(&format!("config {name} {version} {content}"));
    let prov = prov.map(|p| d(&format!("prov {p}")));
    let manifest = d(&format!("manifest {config} {archive} {prov:?}"));
    let meta = ChartMeta { name: name.into(), version: version.into(), ..Default::default() };
    Release { meta, archive, prov, config, manifest, created: "2026-12-01T00:00:00Z".into(), entry: None }
}

#[derive(Debug, Clone)]
enum Step {
    Upload { chart: usize, version: usize, content: u8, prov: Option<u8>, force: bool },
    Push { chart: usize, version: usize, content: u8, prov: Option<u8>, latest: bool },
    Sign { chart: usize, version: usize, prov: u8, force: bool },
    Artifact { chart: usize, tag: usize },
    Unpublish { chart: usize, version: usize },
    DeleteTag { chart: usize, tag: usize },
    DeleteManifest { chart: usize, version: usize, content: u8, prov: Option<u8> },
    Gc,
}

fn step() -> impl Strategy<Value = Step> {
    let c = 0..CHARTS.len();
    let v = 0..VERSIONS.len();
    let content = 0u8..3;
    let prov = prop::option::of(0u8..2);
    prop_oneof![
        (c.clone(), v.clone(), content.clone(), prov.clone(), any::<bool>())
            .prop_map(|(chart, version, content, prov, force)| Step::Upload { chart, version, content, prov, force }),
        (c.clone(), v.clone(), content.clone(), prov.clone(), any::<bool>())
            .prop_map(|(chart, version, content, prov, latest)| Step::Push { chart, version, content, prov, latest }),
        (c.clone(), v.clone(), 0u8..2, any::<bool>()).prop_map(|(chart, version, prov, force)| Step::Sign {
            chart,
            version,
            prov,
            force
        }),
        (c.clone(), 0..VERSIONS.len() + 1).prop_map(|(chart, tag)| Step::Artifact { chart, tag }),
        (c.clone(), v.clone()).prop_map(|(chart, version)| Step::Unpublish { chart, version }),
        (c.clone(), 0..VERSIONS.len() + 1).prop_map(|(chart, tag)| Step::DeleteTag { chart, tag }),
        (c, v, content, prov).prop_map(|(chart, version, content, prov)| Step::DeleteManifest {
            chart,
            version,
            content,
            prov
        }),
        Just(Step::Gc),
    ]
}

/// A tag of the chart's OCI repository: a version's tag, or `latest`.
fn tag(i: usize) -> String {
    VERSIONS.get(i).map_or("latest".to_owned(), |v| v.replace('+', "_"))
}

fn op(step: &Step, l: &Ledger) -> Option<Op> {
    let name = |c: usize| CHARTS[c].to_owned();
    Some(match *step {
        Step::Upload { chart, version, content, prov, force } => Op::Publish {
            release: Box::new(release(chart, version, content, prov)),
            exclusive: true,
            force,
            tags: Vec::new(),
        },
        Step::Push { chart, version, content, prov, latest } => Op::Publish {
            release: Box::new(release(chart, version, content, prov)),
            exclusive: false,
            force: false,
            tags: if latest { vec!["latest".to_owned()] } else { Vec::new() },
        },
        Step::Sign { chart, version, prov, force } => {
            let r = release(chart, version, 0, Some(prov));
            Op::Sign {
                name: name(chart),
                version: VERSIONS[version].into(),
                prov: r.prov.clone()?,
                manifest: r.manifest,
                based_on: l.release(CHARTS[chart], VERSIONS[version]).map(|r| r.manifest.clone()).unwrap_or_default(),
                force,
            }
        }
        Step::Artifact { chart, tag: t } => {
            Op::Manifest { chart: name(chart), manifest: d(&format!("sbom {t}")), tags: vec![tag(t)] }
        }
        Step::Unpublish { chart, version } => Op::Unpublish { name: name(chart), version: VERSIONS[version].into() },
        Step::DeleteTag { chart, tag: t } => Op::DeleteTag { chart: name(chart), tag: tag(t) },
        Step::DeleteManifest { chart, version, content, prov } => {
            Op::DeleteManifest { chart: name(chart), manifest: release(chart, version, content, prov).manifest }
        }
        Step::Gc => return None,
    })
}

fn change_chart(c: &Change) -> &str {
    match c {
        Change::PutRelease { release } => &release.meta.name,
        Change::DropRelease { name, .. } | Change::PutTombstone { name, .. } => name,
        Change::PutTag { chart, .. } | Change::DropTag { chart, .. } => chart,
        Change::PutManifest { chart, .. } | Change::DropManifest { chart, .. } => chart,
    }
}

/// The state of one chart, for comparing what an op left alone.
fn projection(l: &Ledger, chart: &str) -> Vec<Change> {
    l.rows().into_iter().filter(|c| change_chart(c) == chart).collect()
}

fn check(
    l: &Ledger,
    first_release: &BTreeMap<(String, String), String>,
    file_owner: &BTreeMap<String, (String, String)>,
    committed: &BTreeSet<String>,
    rule: ImmutableTags,
) -> Result<(), TestCaseError> {
    let mut files = BTreeSet::new();
    for r in l.releases() {
        let id = r.meta.name.clone();
        let chart = ChartId { name: id.clone(), version: r.meta.version.clone() };
        // One archive over both protocols.
        let (by_file, digest) = l.file(&chart.file_name()).expect("a release's file resolves");
        prop_assert_eq!(by_file, r);
        prop_assert_eq!(digest, r.archive.as_str());
        prop_assert_eq!(
            l.resolve_tag(&id, &chart.tag()),
            Some(r.manifest.as_str()),
            "the version tag names the release"
        );
        prop_assert!(files.insert(chart.file_name()), "a file name names one version");
        if let Some(owner) = file_owner.get(&chart.file_name()) {
            prop_assert_eq!(
                owner,
                &(id.clone(), chart.version.clone()),
                "a released file name is never another chart's"
            );
        }
        // A release never serves other bytes later.
        if rule.protects(&chart.tag()) {
            if let Some(first) = first_release.get(&(id.clone(), chart.version.clone())) {
                prop_assert_eq!(first, &r.archive, "{} {} changed content", id, chart.version);
            }
        }
        for digest in [&r.archive, &r.manifest].into_iter().chain(r.prov.as_ref()) {
            prop_assert!(committed.contains(digest), "only committed content is reachable");
        }
    }
    // index.yaml parses and lists exactly the releases.
    let index = index_document(&l.render_index("now"), 10_000_000).expect("the index parses");
    let listed: BTreeSet<(String, String, String)> = CHARTS
        .iter()
        .flat_map(|c| {
            index["entries"][*c].as_array().cloned().unwrap_or_default().into_iter().map(move |e| {
                (
                    c.to_string(),
                    e["version"].as_str().unwrap().to_owned(),
                    format!("sha256:{}", e["digest"].as_str().unwrap()),
                )
            })
        })
        .collect();
    let held: BTreeSet<(String, String, String)> =
        l.releases().map(|r| (r.meta.name.clone(), r.meta.version.clone(), r.archive.clone())).collect();
    prop_assert_eq!(listed, held);
    for chart in CHARTS {
        for t in 0..=VERSIONS.len() {
            if let Some(m) = l.resolve_tag(chart, &tag(t)) {
                prop_assert!(committed.contains(m), "a tag names only committed manifests");
                prop_assert!(l.has_manifest(chart, m), "a tag names only visible manifests ({} {})", chart, tag(t));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn the_ledger_keeps_its_invariants(
        steps in prop::collection::vec((step(), 0usize..3), 1..40),
        rule in prop_oneof![Just(ImmutableTags::Releases), Just(ImmutableTags::All), Just(ImmutableTags::Off)],
    ) {
        // Principals: 0 pushes chart `a` only, 1 charts `a` and `ng`, 2 the whole repository.
        let grants: [&[&str]; 3] = [&["a"], &["a", "ng"], &CHARTS];
        let mut l = Ledger::default();
        let mut first_release: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut committed: BTreeSet<String> = BTreeSet::new();
        let mut stored: BTreeSet<String> = BTreeSet::new();
        let mut file_owner: BTreeMap<String, (String, String)> = BTreeMap::new();
        for (step, principal) in steps {
            let Some(op) = op(&step, &l) else {
                // GC: content the ledger does not reference goes; what it references stays.
                let referenced: BTreeSet<String> = l.referenced().into_iter().collect();
                stored.retain(|d| referenced.contains(d));
                for r in l.releases() {
                    for digest in [&r.archive, &r.config, &r.manifest].into_iter().chain(r.prov.as_ref()) {
                        prop_assert!(stored.contains(digest), "GC took {} that a release references", digest);
                    }
                }
                continue;
            };
            if !grants[principal].contains(&op.chart()) {
                continue; // the decision refuses it before the ledger sees it
            }
            // Content is stored before the commit, whatever the outcome.
            match &op {
                Op::Publish { release, .. } => {
                    stored.extend([release.archive.clone(), release.config.clone(), release.manifest.clone()]);
                    stored.extend(release.prov.clone());
                }
                Op::Sign { prov, manifest, .. } => stored.extend([prov.clone(), manifest.clone()]),
                Op::Manifest { manifest, .. } => {
                    stored.insert(manifest.clone());
                }
                _ => {}
            }
            let before = l.clone();
            let others: Vec<(&str, Vec<Change>)> = CHARTS.iter().filter(|c| **c != op.chart()).map(|c| (*c, projection(&l, c))).collect();
            match l.plan(&op, rule) {
                Ok(changes) => {
                    let predicted = l.counts_after(op.chart(), &changes);
                    for c in &changes {
                        prop_assert_eq!(change_chart(c), op.chart(), "an op changes only its chart");
                        match c {
                            Change::PutRelease { release } => {
                                committed.extend([release.archive.clone(), release.manifest.clone()]);
                                committed.extend(release.prov.clone());
                                first_release.entry((release.meta.name.clone(), release.meta.version.clone())).or_insert(release.archive.clone());
                                let id = release.id();
                                if rule.protects(&id.tag()) {
                                    file_owner.entry(id.file_name()).or_insert((id.name.clone(), id.version.clone()));
                                }
                            }
                            Change::PutTag { manifest, .. } | Change::PutManifest { manifest, .. } => {
                                committed.insert(manifest.clone());
                            }
                            _ => {}
                        }
                        l.commit(c);
                    }
                    prop_assert_eq!(predicted, (l.counts(op.chart()), l.bytes()), "the plan's bound check counts what the commit does");
                }
                Err(_) => prop_assert_eq!(&l, &before, "a refused op changes nothing"),
            }
            for (chart, was) in others {
                prop_assert_eq!(projection(&l, chart), was, "{:?} changed chart {}", op, chart);
            }
            check(&l, &first_release, &file_owner, &committed, rule)?;
            // Security round 4, G2: the per-chart counters the bounds are checked against always
            // equal a recount from the rows.
            for chart in CHARTS {
                prop_assert_eq!(l.counts(chart), l.recount(chart), "the counters of chart {}", chart);
            }
            prop_assert_eq!(l.bytes(), l.recount_bytes(), "the repository's bytes");
            prop_assert_eq!(Ledger::from_changes(&l.rows()), l.clone(), "rows rebuild the state");
        }
    }
}
