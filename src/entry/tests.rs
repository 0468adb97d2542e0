//! The entry gate's unit tests, one per kind of refusal, on archives built here header by header
//! (the tar builder below writes what no well-behaved tool would), and its properties.

use super::*;

/// A tar stream written header by header.
#[derive(Default, Clone)]
pub(crate) struct Tar {
    pub bytes: Vec<u8>,
}

pub(crate) fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    field[..text.len()].copy_from_slice(text.as_bytes());
}

/// Sets the checksum of a header block.
pub(crate) fn seal(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
}

/// A USTAR header (`ustar\0` `00`).
pub(crate) fn ustar(name: &[u8], typeflag: u8, size: u64, mode: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], mode);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    seal(&mut h);
    h
}

/// A GNU header (`ustar ` ` \0`).
pub(crate) fn gnu(name: &[u8], typeflag: u8, size: u64) -> [u8; 512] {
    let mut h = ustar(name, typeflag, size, 0o644);
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    seal(&mut h);
    h
}

impl Tar {
    /// A header block and its data, padded.
    pub fn raw(&mut self, header: [u8; 512], data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(&header);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
        self
    }
    pub fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.raw(ustar(name.as_bytes(), b'0', data.len() as u64, 0o644), data.as_bytes())
    }
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(ustar(name.as_bytes(), b'5', 0, 0o755), &[])
    }
    pub fn entry(&mut self, name: &str, typeflag: u8) -> &mut Self {
        self.raw(ustar(name.as_bytes(), typeflag, 0, 0o777), &[])
    }
    /// A PAX header (`x`, or `g` when global) with these records.
    pub fn pax(&mut self, records: &[(&str, &[u8])], global: bool) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = k.len() + v.len() + 3;
            let mut n = body + body.to_string().len();
            if (n).to_string().len() != body.to_string().len() {
                n = body + n.to_string().len();
            }
            data.extend_from_slice(format!("{n} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let flag = if global { b'g' } else { b'x' };
        self.raw(ustar(b"PaxHeaders/x", flag, data.len() as u64, 0o644), &data)
    }
    /// A GNU long name (`L`) or long link (`K`) record.
    pub fn gnu_long(&mut self, flag: u8, value: &[u8]) -> &mut Self {
        let mut data = value.to_vec();
        data.push(0);
        self.raw(gnu(b"././@LongLink", flag, data.len() as u64), &data)
    }
    pub fn end(&mut self) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        bytes.extend_from_slice(&[0u8; 1024]);
        bytes
    }
    pub fn tgz(&mut self) -> Vec<u8> {
        gz(&self.end())
    }
}

pub(crate) fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, bytes).unwrap();
    e.finish().unwrap()
}

const CHART: &str = "apiVersion: v2\nname: x\nversion: 1.2.3\n";

/// A valid chart `x` 1.2.3, to which a test adds its entries.
fn chart() -> Tar {
    let mut t = Tar::default();
    t.file("x/Chart.yaml", CHART).file("x/values.yaml", "a: 1\n").file("x/templates/cm.yaml", "kind: ConfigMap\n");
    t
}

fn check(tgz: &[u8]) -> Verdict {
    check_archive(tgz, &Limits::default())
}

fn codes(tgz: &[u8]) -> Vec<&'static str> {
    check(tgz).codes()
}

fn files(tgz: &[u8]) -> Vec<String> {
    match check(tgz) {
        Verdict::Accepted(p) => p.files,
        other => panic!("refused: {other:?}"),
    }
}

#[test]
fn accepts_a_chart_and_records_its_checks() {
    let Verdict::Accepted(p) = check(&chart().tgz()) else { panic!() };
    assert_eq!((p.name.as_str(), p.version.as_str()), ("x", "1.2.3"));
    assert_eq!(p.files, ["x/Chart.yaml", "x/values.yaml", "x/templates/cm.yaml"]);
    assert_eq!(p.checks, ["archive", "paths", "sizes", "identity", "yaml", "schema", "dependencies"]);
    // Directory entries, as tar writes them, are fine.
    let mut t = Tar::default();
    t.dir("x/").dir("x/templates/").file("x/Chart.yaml", CHART);
    assert!(check(&t.tgz()).is_accepted());
}

#[test]
fn every_code_is_documented_once() {
    let mut seen = BTreeSet::new();
    for (code, doc) in CODES {
        assert!(seen.insert(code), "{code} twice");
        assert!(code.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'), "{code}");
        assert!(!doc.is_empty());
    }
}

#[test]
fn links_devices_and_fifos_are_refused() {
    for (flag, code) in [(b'2', "symlink"), (b'1', "hard_link"), (b'3', "device"), (b'4', "device"), (b'6', "fifo")] {
        let mut t = chart();
        t.entry("x/templates/evil.yaml", flag);
        assert_eq!(codes(&t.tgz()), [code], "type {}", flag as char);
    }
    // Unknown type flags and contiguous files: helm would read them as files; refused.
    let mut t = chart();
    t.entry("x/odd", b'7').entry("x/odd2", b'Z');
    assert_eq!(codes(&t.tgz()), ["entry_type", "entry_type"]);
}

#[test]
fn cve_2025_53547_symlinked_chart_lock_is_refused() {
    for file in ["x/Chart.lock", "x/requirements.yaml", "x/requirements.lock", "x/charts/sub/Chart.lock"] {
        let mut t = chart();
        t.entry(file, b'2');
        assert_eq!(codes(&t.tgz()), ["dependency_not_regular"], "{file}");
        let mut t = chart();
        t.entry(file, b'1');
        assert_eq!(codes(&t.tgz()), ["dependency_not_regular"], "{file}");
    }
}

#[test]
fn mode_bits_that_name_another_type_are_refused() {
    // Go's FileInfo().IsDir() is true for a regular entry whose mode says directory: helm would
    // skip it. The gate refuses rather than check a file helm never sees.
    let mut t = chart();
    t.raw(ustar(b"x/hidden", b'0', 4, 0o040755), b"data");
    assert_eq!(codes(&t.tgz()), ["entry_type"]);
    let mut t = chart();
    t.raw(ustar(b"x/link", b'0', 0, 0o120777), b"");
    assert_eq!(codes(&t.tgz()), ["symlink"]);
    // S_IFREG with a regular file is what some writers emit: accepted.
    let mut t = chart();
    t.raw(ustar(b"x/plain", b'0', 1, 0o100644), b"a");
    assert!(check(&t.tgz()).is_accepted());
}

#[test]
fn paths_helm_would_rewrite_or_escape_are_refused() {
    for (name, code) in [
        ("/x/abs", "absolute_path"),
        ("x/../../etc/passwd", "parent_path"),
        ("x/..data", "parent_path"),
        ("x/templates\\evil.yaml", "backslash_path"),
        ("x\\templates\\evil.yaml", "backslash_path"),
        ("x/c:/windows", "absolute_path"),
        ("x//double", "unclean_path"),
        ("x/./dot", "unclean_path"),
        ("y/elsewhere", "outside_chart_dir"),
        ("toplevel", "outside_chart_dir"),
        ("Chart.yaml", "outside_chart_dir"),
    ] {
        let mut t = chart();
        t.file(name, "a: 1\n");
        assert_eq!(codes(&t.tgz()), [code], "{name}");
    }
}

#[test]
fn the_top_directory_is_the_chart_name() {
    let mut t = Tar::default();
    t.file("y/Chart.yaml", CHART).file("y/values.yaml", "");
    assert_eq!(codes(&t.tgz()), ["chart_dir"]);
}

#[test]
fn pax_records_are_read_as_go_reads_them() {
    // A PAX path replaces the header's name: the path checked is the PAX one.
    let mut t = chart();
    t.pax(&[("path", b"x/../../evil")], false).file("x/innocent", "a");
    assert_eq!(codes(&t.tgz()), ["parent_path"]);
    // Two path records: Go keeps the last (the tar crate the first).
    let mut t = chart();
    t.pax(&[("path", b"x/templates/ok.yaml"), ("path", b"/etc/evil")], false).file("x/innocent", "a");
    assert_eq!(codes(&t.tgz()), ["absolute_path"]);
    // An empty value keeps the header's name.
    let mut t = chart();
    t.pax(&[("path", b"")], false).file("x/kept", "a");
    assert_eq!(files(&t.tgz())[3], "x/kept");
    // A PAX size replaces the header's size.
    let mut t = chart();
    t.pax(&[("size", b"3")], false).raw(ustar(b"x/sized", b'0', 0, 0o644), b"abc");
    assert_eq!(files(&t.tgz())[3], "x/sized");
    // A global header is skipped by helm and changes nothing that follows.
    let mut t = chart();
    t.pax(&[("path", b"/etc/evil")], true).file("x/after-global", "a");
    assert_eq!(files(&t.tgz())[3], "x/after-global");
    // A NUL in a PAX path: Go refuses the archive.
    let mut t = chart();
    t.pax(&[("path", b"x/a\0b")], false).file("x/innocent", "a");
    assert_eq!(codes(&t.tgz()), ["archive_invalid"]);
    // A second x header replaces the first.
    let mut t = chart();
    t.pax(&[("path", b"/abs")], false).pax(&[("mtime", b"1")], false).file("x/second", "a");
    assert_eq!(files(&t.tgz())[3], "x/second");
    // Malformed records: Go refuses the archive.
    for bad in [&b"3 a=\n"[..], b"99 path=x\n", b"10 path=x/y", b"6 =x\n\n"] {
        let mut t = chart();
        t.raw(ustar(b"PaxHeaders/x", b'x', bad.len() as u64, 0o644), bad).file("x/y", "a");
        assert_eq!(codes(&t.tgz()), ["archive_invalid"], "{:?}", String::from_utf8_lossy(bad));
    }
    // GNU sparse records: refused.
    let mut t = chart();
    t.pax(&[("GNU.sparse.size", b"10")], false).file("x/sparse", "a");
    assert_eq!(codes(&t.tgz()), ["sparse"]);
}

#[test]
fn gnu_long_names_are_read_as_go_reads_them() {
    let long = format!("x/templates/{}.yaml", "a".repeat(150));
    let mut t = chart();
    t.gnu_long(b'L', long.as_bytes()).raw(gnu(b"x/short", b'0', 1), b"a");
    assert_eq!(files(&t.tgz())[3], long);
    // Go cuts a long name at its first NUL.
    let mut t = chart();
    t.gnu_long(b'L', b"x/cut\0/../../evil").raw(gnu(b"x/short", b'0', 1), b"a");
    assert_eq!(files(&t.tgz())[3], "x/cut");
    // A long name that escapes.
    let mut t = chart();
    t.gnu_long(b'L', b"x/../../../evil").raw(gnu(b"x/short", b'0', 1), b"a");
    assert_eq!(codes(&t.tgz()), ["parent_path"]);
    // A GNU long name wins over a PAX path, as in Go.
    let mut t = chart();
    t.gnu_long(b'L', b"x/from-gnu").pax(&[("path", b"x/from-pax")], false).raw(gnu(b"x/short", b'0', 1), b"a");
    assert_eq!(files(&t.tgz())[3], "x/from-gnu");
    // A long link name on a regular file is harmless.
    let mut t = chart();
    t.gnu_long(b'K', b"/etc/passwd").file("x/plain", "a");
    assert!(check(&t.tgz()).is_accepted());
}

#[test]
fn header_only_types_have_no_data_as_in_go() {
    // A directory whose size field says 1024: Go reads no data, so the symlink "inside" it is
    // an entry to helm (the tar crate would skip it as the directory's data).
    let mut hidden = Tar::default();
    hidden.entry("x/templates/evil", b'2');
    let mut t = chart();
    t.bytes.extend_from_slice(&ustar(b"x/dir/", b'5', 512, 0o755));
    t.bytes.extend_from_slice(&hidden.bytes);
    assert_eq!(codes(&t.tgz()), ["symlink"]);
    // A `\0` type flag on a name ending in `/`: a directory, no data.
    let mut t = chart();
    t.bytes.extend_from_slice(&ustar(b"x/olddir/", 0, 512, 0o755));
    t.bytes.extend_from_slice(&hidden.bytes);
    assert_eq!(codes(&t.tgz()), ["symlink"]);
}

#[test]
fn gnu_headers_with_unparsable_times_read_the_prefix_as_go_does() {
    // Go falls back to the USTAR prefix when a GNU header's atime does not parse.
    let mut h = gnu(b"evil.yaml", b'0', 1);
    h[345..353].copy_from_slice(b"x/templa");
    seal(&mut h);
    let mut t = chart();
    t.raw(h, b"a");
    assert_eq!(files(&t.tgz())[3], "x/templa/evil.yaml");
    // A STAR header (trailer `tar\0`) has a 131-byte prefix.
    let mut h = ustar(b"star.yaml", b'0', 1, 0o644);
    h[345..346].copy_from_slice(b"x");
    h[508..512].copy_from_slice(b"tar\0");
    seal(&mut h);
    let mut t = chart();
    t.raw(h, b"a");
    assert_eq!(files(&t.tgz())[3], "x/star.yaml");
    // A USTAR prefix (the tar crate reads it only with version "00"; Go with any version).
    let mut h = ustar(b"v.yaml", b'0', 1, 0o644);
    h[345..346].copy_from_slice(b"x");
    h[263..265].copy_from_slice(b"  ");
    seal(&mut h);
    let mut t = chart();
    t.raw(h, b"a");
    assert_eq!(files(&t.tgz())[3], "x/v.yaml");
}

#[test]
fn the_end_of_an_archive_is_where_go_finds_it() {
    // One zero block then a header: Go fails, helm refuses the chart.
    let mut t = chart();
    t.bytes.extend_from_slice(&[0u8; 512]);
    t.entry("x/after", b'2');
    assert_eq!(codes(&t.tgz()), ["archive_invalid"]);
    // No end blocks at all: Go takes the end of the stream as the end.
    assert!(check(&gz(&chart().bytes)).is_accepted());
    // Truncated inside a file.
    let mut bytes = chart().bytes;
    bytes.truncate(bytes.len() - 600);
    assert_eq!(codes(&gz(&bytes)), ["archive_invalid"]);
    // A bad checksum.
    let mut h = ustar(b"x/bad", b'0', 0, 0o644);
    h[148] = b'7';
    let mut t = chart();
    t.raw(h, b"");
    assert_eq!(codes(&t.tgz()), ["archive_invalid"]);
    // Not gzip at all.
    assert_eq!(codes(&chart().end()), ["archive_invalid"]);
    assert_eq!(codes(b""), ["archive_invalid"]);
}

#[test]
fn every_gzip_member_is_read_as_go_reads_them() {
    // Go's gzip.Reader reads concatenated members: a second member can carry more entries.
    let mut first = gz(&chart().bytes);
    let mut evil = Tar::default();
    evil.entry("x/templates/evil", b'2');
    first.extend(gz(&evil.end()));
    assert_eq!(codes(&first), ["symlink"]);
}

#[test]
fn duplicates_case_variants_and_conflicts_are_refused() {
    let mut t = chart();
    t.file("x/values.yaml", "b: 2\n");
    assert_eq!(codes(&t.tgz()), ["duplicate_path"]);
    let mut t = chart();
    t.file("x/Values.yaml", "b: 2\n");
    assert_eq!(codes(&t.tgz()), ["duplicate_path"]);
    let mut t = chart();
    t.file("x/templates/CM.yaml", "b: 2\n");
    assert_eq!(codes(&t.tgz()), ["duplicate_path"]);
    let mut t = chart();
    t.file("x/templates/cm.yaml/inner", "b: 2\n");
    assert_eq!(codes(&t.tgz()), ["path_conflict"]);
    let mut t = chart();
    t.dir("x/values.yaml/");
    assert_eq!(codes(&t.tgz()), ["path_conflict"]);
}

#[test]
fn sizes_counts_and_ratios_are_bounded() {
    let limits = Limits { max_files: 4, ..Limits::default() };
    let mut t = chart();
    t.file("x/a", "").file("x/b", "");
    assert_eq!(check_archive(&t.tgz(), &limits).codes(), ["too_many_files"]);

    let limits = Limits { max_file_size: 40, ..Limits::default() };
    let mut t = chart();
    t.file("x/big", &"a".repeat(41));
    assert_eq!(check_archive(&t.tgz(), &limits).codes(), ["file_too_large"]);

    let limits = Limits { max_archive_bytes: 10, ..Limits::default() };
    assert_eq!(check_archive(&chart().tgz(), &limits).codes(), ["archive_too_large"]);

    // A bomb: a megabyte of zeros in a file, inflated 1000-fold.
    let mut t = chart();
    t.file("x/zeros", &"\0".repeat(1 << 20));
    let bomb = t.tgz();
    let limits = Limits { max_inflated: 512 * 1024, ..Limits::default() };
    assert_eq!(check_archive(&bomb, &limits).codes(), ["archive_too_large"]);
    let limits = Limits { ratio_floor: 64 * 1024, ..Limits::default() };
    assert_eq!(check_archive(&bomb, &limits).codes(), ["inflation_ratio"]);
    assert!(check(&bomb).is_accepted(), "under the default floor");
}

#[test]
fn helm_default_100_mib_is_kept() {
    // A header that claims 200 MiB of zeros (compressed to ~200 KiB): refused without inflating it all.
    let mut t = chart();
    let mut tar = t.bytes.clone();
    tar.extend_from_slice(&ustar(b"x/huge", b'0', 200 << 20, 0o644));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut e, &tar).unwrap();
    std::io::copy(&mut std::io::Read::take(std::io::repeat(0), 200 << 20), &mut e).unwrap();
    let bomb = e.finish().unwrap();
    let limits = Limits { max_file_size: 300 << 20, ..Limits::default() };
    let codes = check_archive(&bomb, &limits).codes();
    assert!(codes == ["archive_too_large"] || codes == ["inflation_ratio"], "{codes:?}");
    let _ = t.end();
}

#[test]
fn identity_is_checked() {
    let no_chart = Tar::default().file("x/values.yaml", "").tgz();
    assert_eq!(codes(&no_chart), ["chart_yaml_missing"]);
    let only_nested = Tar::default().file("x/sub/Chart.yaml", CHART).tgz();
    assert_eq!(codes(&only_nested), ["chart_yaml_missing"]);
    for (yaml, code) in [
        ("apiVersion: v3\nname: x\nversion: 1.0.0\n", "api_version"),
        ("apiVersion: v2\nname: x/y\nversion: 1.0.0\n", "chart_name"),
        ("apiVersion: v2\nname: ..\nversion: 1.0.0\n", "chart_name"),
        ("apiVersion: v2\nversion: 1.0.0\n", "chart_name"),
        ("apiVersion: v2\nname: x\nversion: 1.0.0.0\n", "chart_version"),
        ("apiVersion: v2\nname: x\nversion: one\n", "chart_version"),
        ("apiVersion: v2\nname: x\n", "chart_version"),
        ("apiVersion: v2\nname: [x]\nversion: 1.0.0\n", "chart_name"),
        ("apiVersion: v2\nname: x\nversion: 1.0.0\ntype: driver\n", "chart_yaml_invalid"),
        ("- a\n- b\n", "chart_yaml_invalid"),
        ("name: x\nversion: 1.0.0\n  bad: [\n", "chart_yaml_invalid"),
        ("", "chart_yaml_invalid"),
        // GHSA-f9f8-9pmf-xv68's shapes.
        ("apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers:\n  -\n", "chart_yaml_invalid"),
        ("apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers: a\n", "chart_yaml_invalid"),
        (
            "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: d\n    import-values:\n      - child: 1\n        parent: p\n",
            "chart_yaml_invalid",
        ),
        ("apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies: [null]\n", "chart_yaml_invalid"),
    ] {
        let tgz = Tar::default().file("x/Chart.yaml", yaml).tgz();
        assert_eq!(codes(&tgz), [code], "{yaml}");
    }
    // helm takes a missing apiVersion as v1; a BOM is trimmed as helm trims it.
    let tgz = Tar::default().file("x/Chart.yaml", "\u{feff}name: x\nversion: 1.0.0-rc.1+b\n").tgz();
    assert!(check(&tgz).is_accepted());
    let ok = "apiVersion: v2\nname: x\nversion: 1.0.0\nmaintainers:\n  - name: m\ndependencies:\n  - name: d\n    import-values:\n      - data\n      - child: \"1\"\n        parent: p\n";
    assert!(check(&Tar::default().file("x/Chart.yaml", ok).tgz()).is_accepted());
}

#[test]
fn an_oci_config_must_claim_what_the_archive_holds() {
    let tgz = chart().tgz();
    let limits = Limits::default();
    let same = Claimed { name: "x".into(), version: "1.2.3".into() };
    let Verdict::Accepted(p) = check_claimed(&tgz, &limits, &same) else { panic!() };
    assert!(p.checks.contains(&"claimed"));
    let other = Claimed { name: "y".into(), version: "9.9.9".into() };
    let verdict = check_claimed(&tgz, &limits, &other);
    assert_eq!(verdict.codes(), ["name_mismatch", "version_mismatch"]);
    let detail = &verdict.refusals()[0].detail;
    assert!(detail.contains("\"y\"") && detail.contains("\"x\""), "{detail}");
}

#[test]
fn yaml_bombs_are_bounded_and_anchors_allowed() {
    let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    for file in ["x/values.yaml", "x/Chart.lock", "x/requirements.yaml", "x/charts/sub/values.yaml"] {
        let mut t = Tar::default();
        t.file("x/Chart.yaml", CHART).file(file, laughs);
        assert_eq!(codes(&t.tgz()), ["yaml_alias_expansion"], "{file}");
    }
    let mut t = Tar::default();
    t.file("x/Chart.yaml", &format!("{CHART}annotations:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"));
    assert_eq!(codes(&t.tgz()), ["yaml_alias_expansion"]);
    // Ordinary anchors: accepted.
    let mut t = chart();
    t.file("x/charts/sub/values.yaml", "base: &base {a: 1, b: 2}\none: *base\ntwo:\n  <<: *base\n  c: 3\n");
    assert!(check(&t.tgz()).is_accepted());
    // Depth and node counts.
    let mut t = chart();
    t.file("x/charts/deep/values.yaml", &format!("{}1{}", "[".repeat(100), "]".repeat(100)));
    assert_eq!(codes(&t.tgz()), ["yaml_depth"]);
    let limits = Limits { max_yaml_nodes: 100, ..Limits::default() };
    let mut t = chart();
    t.file("x/charts/wide/values.yaml", &"- a\n".repeat(200));
    assert_eq!(check_archive(&t.tgz(), &limits).codes(), ["yaml_nodes"]);
    // Not YAML at all.
    let mut t = chart();
    t.file("x/charts/bad/values.yaml", "a: [\n");
    assert_eq!(codes(&t.tgz()), ["yaml_invalid"]);
}

#[test]
fn schema_references_leave_only_for_public_https() {
    let schema = |r: &str| {
        format!(
            r##"{{"properties": {{"a": {{"$ref": "{r}"}}, "b": {{"$ref": "#/definitions/b"}}}}, "definitions": {{"b": {{}}}}}}"##
        )
    };
    for (target, code) in [
        ("file:///etc/passwd", "schema_ref_file"),
        ("other.json", "schema_ref_file"),
        ("/etc/passwd", "schema_ref_file"),
        ("../x.json#/a", "schema_ref_file"),
        ("http://example.com/s.json", "schema_ref_scheme"),
        ("ftp://example.com/s.json", "schema_ref_scheme"),
        ("https://127.0.0.1/s.json", "schema_ref_private"),
        ("https://localhost:8443/s.json", "schema_ref_private"),
        ("https://169.254.169.254/latest/meta-data", "schema_ref_private"),
        ("https://10.1.2.3/s.json", "schema_ref_private"),
        ("https://192.168.0.1/s.json", "schema_ref_private"),
        ("https://[::1]/s.json", "schema_ref_private"),
        ("https://[fe80::1]/s.json", "schema_ref_private"),
        ("https://[::ffff:10.0.0.1]/s.json", "schema_ref_private"),
        ("https://2130706433/s.json", "schema_ref_private"),
        ("https://0x7f.1/s.json", "schema_ref_private"),
        ("https://metadata.google.internal/s.json", "schema_ref_private"),
        ("https://user@example.com/s.json", "schema_ref_private"),
    ] {
        let mut t = chart();
        t.file("x/values.schema.json", &schema(target));
        assert_eq!(codes(&t.tgz()), [code], "{target}");
    }
    let mut t = chart();
    t.file("x/values.schema.json", &schema("https://json.example.com/common.json#/x"));
    let Verdict::Accepted(p) = check(&t.tgz()) else { panic!() };
    assert_eq!(p.schema_refs, ["https://json.example.com/common.json#/x"]);

    let limits = Limits { max_schema_bytes: 10, ..Limits::default() };
    let mut t = chart();
    t.file("x/values.schema.json", "{\"type\": \"object\"}");
    assert_eq!(check_archive(&t.tgz(), &limits).codes(), ["schema_size"]);
    let mut t = chart();
    t.file("x/values.schema.json", &format!("{}{}", "{\"a\":".repeat(100), "}".repeat(100)));
    assert_eq!(codes(&t.tgz()), ["schema_depth"]);
    let mut t = chart();
    t.file("x/values.schema.json", "{");
    assert_eq!(codes(&t.tgz()), ["schema_invalid"]);
}

#[test]
fn dependency_names_are_chart_names() {
    let deps = |name: &str| format!("{CHART}dependencies:\n  - name: {name}\n    version: 1.0.0\n");
    let tgz = Tar::default().file("x/Chart.yaml", &deps("\"../../evil\"")).tgz();
    assert_eq!(codes(&tgz), ["dependency_name"]);
    let tgz = Tar::default().file("x/Chart.yaml", &deps("ok\n    alias: bad.alias")).tgz();
    assert_eq!(codes(&tgz), ["dependency_name"]);
    let tgz = Tar::default().file("x/Chart.yaml", &format!("{}  - name: ok\n", deps("ok"))).tgz();
    assert_eq!(codes(&tgz), ["dependency_name"]);
    let mut t = chart();
    t.file("x/Chart.lock", "dependencies:\n  - name: a/b\n    version: 1.0.0\n");
    assert_eq!(codes(&t.tgz()), ["dependency_name"]);
    let mut t = chart();
    t.file(
        "x/Chart.lock",
        "dependencies:\n  - name: common\n    repository: oci://r\n    version: 1.0.0\ndigest: sha256:0\n",
    );
    assert!(check(&t.tgz()).is_accepted());
}

#[test]
fn subchart_archives_are_checked_the_same_way() {
    let mut sub = Tar::default();
    sub.file("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n").entry("sub/link", b'2');
    let mut t = chart();
    t.raw(ustar(b"x/charts/sub-1.0.0.tgz", b'0', sub.tgz().len() as u64, 0o644), &sub.tgz());
    let verdict = check(&t.tgz());
    assert_eq!(verdict.codes(), ["symlink"]);
    assert_eq!(verdict.refusals()[0].file.as_deref(), Some("x/charts/sub-1.0.0.tgz:sub/link"));

    let mut good = Tar::default();
    good.file("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n");
    let mut t = chart();
    t.raw(ustar(b"x/charts/sub-1.0.0.tgz", b'0', good.tgz().len() as u64, 0o644), &good.tgz());
    let Verdict::Accepted(p) = check(&t.tgz()) else { panic!() };
    assert!(p.checks.contains(&"subcharts"));

    let limits = Limits { max_nesting: 0, ..Limits::default() };
    assert_eq!(check_archive(&t.tgz(), &limits).codes(), ["nested_archive"]);
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Entry names helm and the gate might read differently.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("x/Chart.yaml".to_string()),
            Just("x/values.yaml".to_string()),
            Just("x/Values.yaml".to_string()),
            Just("x/templates/a.yaml".to_string()),
            Just("x/templates/".to_string()),
            Just("y/a".to_string()),
            Just("x/../a".to_string()),
            Just("/x/a".to_string()),
            Just("x\\a".to_string()),
            Just("x//a".to_string()),
            "x/[a-zA-Z0-9./]{0,12}",
            "[a-z./]{1,6}",
        ]
    }

    #[derive(Debug, Clone)]
    enum Piece {
        File(String, u8),
        Pax(String, bool),
        Long(String),
        Zero,
        Garbage(Vec<u8>),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            4 => (name(), prop::sample::select(vec![b'0', b'0', b'5', b'2', b'1', 0, b'7', b'S'])).prop_map(|(n, f)| Piece::File(n, f)),
            1 => (name(), any::<bool>()).prop_map(|(n, g)| Piece::Pax(n, g)),
            1 => name().prop_map(Piece::Long),
            1 => Just(Piece::Zero),
            1 => prop::collection::vec(any::<u8>(), 0..600).prop_map(Piece::Garbage),
        ]
    }

    fn build(pieces: &[Piece]) -> Vec<u8> {
        let mut t = Tar::default();
        t.file("x/Chart.yaml", CHART);
        for p in pieces {
            match p {
                Piece::File(n, f) => {
                    let body: &[u8] = if *f == b'0' { b"k: v\n" } else { b"" };
                    t.raw(ustar(n.as_bytes(), *f, body.len() as u64, 0o644), body);
                }
                Piece::Pax(n, g) => {
                    t.pax(&[("path", n.as_bytes())], *g);
                }
                Piece::Long(n) => {
                    t.gnu_long(b'L', n.as_bytes());
                }
                Piece::Zero => t.bytes.extend_from_slice(&[0u8; 512]),
                Piece::Garbage(g) => t.bytes.extend_from_slice(g),
            }
        }
        t.tgz()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn no_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            let _ = check(&bytes);
            let _ = check(&gz(&bytes));
        }

        #[test]
        fn what_is_accepted_is_under_the_chart_dir(pieces in prop::collection::vec(piece(), 0..8)) {
            if let Verdict::Accepted(p) = check(&build(&pieces)) {
                let prefix = format!("{}/", p.name);
                for f in &p.files {
                    prop_assert!(f.starts_with(&prefix), "{f} not under {prefix}");
                    prop_assert!(!f.contains("..") && !f.contains("//") && !f.contains('\\'), "{f}");
                }
                let mut seen = BTreeSet::new();
                for f in &p.files {
                    prop_assert!(seen.insert(f.to_lowercase()), "{f} twice");
                }
            }
        }
    }
}

/// Found on real charts (190 public charts packaged from their sources: 188 accepted, these two
/// refused though helm 4 renders and lints them): Bitnami chainloop's values.yaml closes a flow
/// sequence at its key's indentation (yaml-rust2 refuses it, Go's decoder reads it), and
/// cert-manager ships `v1.18.2` versions (helm's loader reads them with Masterminds' parser).
#[test]
fn no_false_refusal_of_what_helm_reads_on_real_charts() {
    let flow = "vault:\n  server:\n    args: [\n      \"server\",\n      \"-dev\"\n    ]\n";
    let mut t = Tar::default();
    t.file("x/Chart.yaml", CHART).file("x/values.yaml", flow);
    assert!(check(&t.tgz()).is_accepted(), "{:?}", codes(&t.tgz()));
    // The same syntax with an alias cannot have its expansion bounded: refused.
    let mut aliased = Tar::default();
    aliased.file("x/Chart.yaml", CHART).file("x/values.yaml", &format!("base: &b {{a: 1}}\nuse: *b\n{flow}"));
    assert_eq!(codes(&aliased.tgz()), ["yaml_invalid"]);
    for (version, read) in
        [("v1.18.2", true), ("1", true), ("1.2", true), ("v1.2", true), ("01.2.3", true), ("1.2.3-rc.1+b", true)]
            .into_iter()
            .chain([("x1.2", false), ("1.2.3.4", false), ("", false), ("v", false), ("1..2", false)])
    {
        assert_eq!(crate::entry::helm_version(version), read, "{version:?}");
    }
    let mut v = Tar::default();
    v.file("x/Chart.yaml", "apiVersion: v2\nname: x\nversion: v1.18.2\n");
    assert!(check(&v.tgz()).is_accepted(), "{:?}", codes(&v.tgz()));
}
