#!/usr/bin/env python3
"""Turns the raw outputs of scripts/bench into docs/benchmarks.md: one table of ratios against
baselines measured in the same run, plus how cost grows. Usage: bench-report.py OUT_DIR REPORT."""
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

out, report = sys.argv[1], sys.argv[2]


def read(name):
    with open(os.path.join(out, name)) as f:
        return f.read()


def criterion_us(name):
    path = os.path.join("target", "criterion", *name.split("/"), "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1000.0


def parse_ms(text):
    """wrk latency: 812.00us, 3.25ms, 1.02s -> ms."""
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# openssl: "rsa 2048 bits 0.000735s 0.000021s   1360.5  47254.6"
fields = read("openssl.txt").split()
ossl_sign_per_s, ossl_verify_per_s = float(fields[-2]), float(fields[-1])
ossl_verify_us = 1e6 / ossl_verify_per_s

edge = json.loads(read("edge.json"))
bundle = re.search(r"gzip:\s*([\d.]+)\s*KiB", read("bundle.txt"))
bundle_kib = float(bundle.group(1))
wasm_kib = os.path.getsize("build/index_bg.wasm") / 1024
native_us = criterion_us("native_verify")


def wasm_sections(path):
    """A wasm module's sections: [(id, bytes)]; custom sections (id 0) keep their name prefix."""
    data = open(path, "rb").read()

    def leb(i):
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    i, sections = 8, []
    while i < len(data):
        kind = data[i]
        size, i = leb(i + 1)
        sections.append((kind, data[i:i + size]))
        i += size
    return sections, leb


def code_by_crate(wasm, symbols):
    """Each crate's share of the upload's code (gzip of its functions), by the symbol map beside
    the build (`INDEX:NAME`), largest first; and the gzip KiB of the code and data sections."""
    import gzip
    names = {}
    for line in open(symbols, encoding="utf-8", errors="replace"):
        index, _, name = line.rstrip("\n").partition(":")
        names[int(index)] = name
    sections, leb = wasm_sections(wasm)
    data = open(wasm, "rb").read()
    code = next(body for kind, body in sections if kind == 10)
    count, i = leb(data.index(code))
    imports = len(names) - count  # function indexes count the imports first
    sizes = {}
    for k in range(count):
        size, j = leb(i)
        name = names.get(imports + k, "?")
        m = re.match(r"<?(?:&(?:mut )?)?([A-Za-z_][A-Za-z0-9_]*)", name)
        crate = m.group(1) if m else "?"
        if len(crate) == 1 or crate in ("f64", "str", "u8", "char", "dyn", "impl"):
            crate = "generic impls"
        sizes[crate] = sizes.get(crate, 0) + len(gzip.compress(data[j:j + size], 6))
        i = j + size
    total = sum(sizes.values())
    shares = sorted(((c, 100 * b / total) for c, b in sizes.items()), key=lambda kv: -kv[1])
    kib = {kind: len(gzip.compress(body, 9)) / 1024 for kind, body in sections if kind in (10, 11)}
    return shares, kib[10], kib[11]


by_crate, code_kib, data_kib = code_by_crate("build/index_bg.wasm", "build/index_bg.symbols")
crate_text = ", ".join(f"{c} {share:.0f}%" for c, share in by_crate[:12])
sign_us = criterion_us("issuer_sign")
issuer = [line.split() for line in read("issuer.txt").strip().splitlines()]
at200 = next(r for r in issuer if r[0] == "200")
p50_200, p99_200 = parse_ms(at200[1]), parse_ms(at200[2])


def spread(key, digits):
    """A median with the range of its runs: "36.0 µs (runs 34–40)"."""
    lo, hi = edge[key + "_range_us"] if key + "_range_us" in edge else (None, None)
    value = f"{edge[key + '_us']:.{digits}f} µs"
    return value if lo is None else f"{value} (runs {lo:.{digits}f}–{hi:.{digits}f})"


def fmt(us):
    return "—" if us is None else f"{us:.2f}"


def row(name, measure, value, baseline, ratio, target, met):
    verdict = "—" if target == "—" else "met" if met else "**missed**"
    return f"| {name} | {measure} | {value} | {baseline} | {ratio} | {target} | {verdict} |"


js_cold = edge["floor"]["cold_start_ms"]
rust_cold = edge["rust_floor"]["cold_start_ms"]

rows = [
    row("edge verify", "full decision, fresh RS256 token, inside workerd", spread("fresh_decision", 1),
        f"openssl verify {ossl_verify_us:.1f} µs", f"{edge['fresh_decision_us'] / ossl_verify_us:.2f}x", "≤ 2.0x",
        edge["fresh_decision_us"] / ossl_verify_us <= 2.0),
    row("edge verify, platform floor", "the same fresh decision against WebCrypto alone from JavaScript, same workerd",
        spread("fresh_decision", 1), f"plain JS verify {edge['floor']['webcrypto_verify_us']:.1f} µs",
        f"{edge['fresh_decision_us'] / edge['floor']['webcrypto_verify_us']:.2f}x", "—", True),
    row("repeat token", "decision, already verified token, inside workerd", spread("repeat_decision", 2),
        f"openssl verify {ossl_verify_us:.1f} µs", f"{edge['repeat_decision_us'] / ossl_verify_us:.2f}x", "≤ 0.1x (≤ 2 µs)",
        edge["repeat_decision_us"] <= 2.0),
    row("workload token, fresh", "GitHub Actions token under a trust policy (templated rule), full decision, inside workerd",
        f"{edge['workload']['fresh_us']:.1f} µs (runs {edge['workload']['fresh_range_us'][0]:.1f}–{edge['workload']['fresh_range_us'][1]:.1f})",
        f"chartgate token of the same size, same worker {edge['workload']['fresh_chartgate_us']:.1f} µs",
        f"{edge['workload']['fresh_us'] / edge['workload']['fresh_chartgate_us']:.2f}x", "≤ 1.2x",
        edge["workload"]["fresh_us"] / edge["workload"]["fresh_chartgate_us"] <= 1.2),
    row("workload token, repeat", "the same token again (verified-token cache hit), inside workerd",
        f"{edge['workload']['repeat_us']:.2f} µs (runs {edge['workload']['repeat_range_us'][0]:.2f}–{edge['workload']['repeat_range_us'][1]:.2f})",
        f"chartgate token of the same size, same worker {edge['workload']['repeat_chartgate_us']:.2f} µs",
        f"{edge['workload']['repeat_us'] / edge['workload']['repeat_chartgate_us']:.2f}x", "≤ 1.05x",
        edge["workload"]["repeat_us"] / edge["workload"]["repeat_chartgate_us"] <= 1.05),
    row("native verify", "CLI/issuer engine, full decision (criterion median)", f"{native_us:.1f} µs",
        f"openssl verify {ossl_verify_us:.1f} µs", f"{native_us / ossl_verify_us:.2f}x", "≤ 1.5x", native_us / ossl_verify_us <= 1.5),
    row("gated throughput", "cached .tgz through the worker, 8 connections (wrk)", f"{edge['throughput_rps']['gated']:.0f} req/s",
        f"same worker, no token work {edge['throughput_rps']['baseline']:.0f} req/s",
        f"{edge['throughput_rps']['gated'] / edge['throughput_rps']['baseline']:.2f}x", "≥ 0.9x",
        edge["throughput_rps"]["gated"] / edge["throughput_rps"]["baseline"] >= 0.9),
    row("cold start: decision", "first decision (403, no storage) on a fresh workerd minus the same request warm (benchmark build)", f"{edge['cold_start_ms']:.1f} ms",
        f"plain JS worker {js_cold:.1f} ms (Rust floor {rust_cold:.1f} ms)", f"{edge['cold_start_ms'] / js_cold:.1f}x", "≤ 3x", edge["cold_start_ms"] / js_cold <= 3),
    *[row(f"cold start: {label}", f"{what}, fresh isolate over filled storage, first minus warm", f"{edge['cold_start_routes_ms'][key]:.1f} ms",
          f"plain JS worker {js_cold:.1f} ms", f"{edge['cold_start_routes_ms'][key] / js_cold:.1f}x", "≤ 3x", edge["cold_start_routes_ms"][key] / js_cold <= 3)
      for key, label, what in [("http_read", "HTTP read", "GET of a chart archive with a token (200)"),
                               ("oci_pull", "/v2/ pull", "GET of an OCI manifest with a token (200)"),
                               ("upload", "upload", "POST of a new chart version (201)")]],
    row("worker start", "workerd up with the worker, until it answers", f"{edge['startup_ms']:.0f} ms",
        f"plain JS worker {edge['floor']['startup_ms']:.0f} ms (Rust floor {edge['rust_floor']['startup_ms']:.0f} ms)",
        f"{edge['startup_ms'] / edge['floor']['startup_ms']:.2f}x", "≤ 1.5x", edge["startup_ms"] / edge["floor"]["startup_ms"] <= 1.5),
    row("worker start, same bindings", "the same, against a plain JS worker with chartgate's bindings (R2 bucket, Durable Object namespace)", f"{edge['startup_ms']:.0f} ms",
        f"plain JS worker with the bindings {edge['floor']['startup_bound_ms']:.0f} ms",
        f"{edge['startup_ms'] / edge['floor']['startup_bound_ms']:.2f}x", "—", True),
    row("bundle", "worker upload, gzip (wrangler deploy --dry-run)", f"{bundle_kib:.0f} KiB", "free plan 3 MB",
        f"{bundle_kib / 3072:.2f}x", "≤ 400 KiB", bundle_kib <= 400),
    row("issuer sign", "tokens/s on one core (criterion)", f"{1e6 / sign_us:.0f}/s", f"openssl sign {ossl_sign_per_s:.0f}/s",
        f"{(1e6 / sign_us) / ossl_sign_per_s:.2f}x", "≥ 0.8x", (1e6 / sign_us) / ossl_sign_per_s >= 0.8),
    row("issuer latency", "p50 / p99 at 200 concurrent clients, loopback (wrk)", f"{p50_200:.1f} / {p99_200:.1f} ms", "—", "—",
        "p99 ≤ 5 ms", p99_200 <= 5),
]

reg = json.loads(read("registry.json"))
pull_x = reg["pull_ms"]["edge"] / reg["pull_ms"]["reference"]
push_x = reg["push_ms"]["edge"] / reg["push_ms"]["reference"]
blob_first_x = reg["blob_mbps"]["edge_first"] / reg["blob_mbps"]["reference"]
blob_cached_x = reg["blob_mbps"]["edge_cached"] / reg["blob_mbps"]["reference"]
rows += [
    row("helm pull oci://", f"wall time, helm 4, median of {reg['rounds']} (login done; token flow included)",
        f"{reg['pull_ms']['edge']:.0f} ms", f"reference registry {reg['pull_ms']['reference']:.0f} ms", f"{pull_x:.2f}x",
        "≤ 1.25x", pull_x <= 1.25),
    row("helm push", f"wall time, helm 4, median of {reg['rounds']} (new version each time)", f"{reg['push_ms']['edge']:.0f} ms",
        f"reference registry {reg['push_ms']['reference']:.0f} ms", f"{push_x:.2f}x", "≤ 1.5x", push_x <= 1.5),
    row(f"blob GET, first read", f"{reg['blob_mb']} MB blob, from R2 (then stored in the edge cache)",
        f"{reg['blob_mbps']['edge_first']:.0f} MB/s", f"reference registry {reg['blob_mbps']['reference']:.0f} MB/s",
        f"{blob_first_x:.2f}x", "≥ 0.5x", blob_first_x >= 0.5),
    row(f"blob GET, cached", f"{reg['blob_mb']} MB blob, from the edge cache, median", f"{reg['blob_mbps']['edge_cached']:.0f} MB/s",
        f"reference registry {reg['blob_mbps']['reference']:.0f} MB/s", f"{blob_cached_x:.2f}x", "≥ 0.5x", blob_cached_x >= 0.5),
]

pub_ = json.loads(read("publish.json"))
cpu_ = pub_["index_render_cpu_ms"]
now_ = pub_["uploads_per_s"]["now"]
conc_x = now_["concurrent"] / now_["sequential"]
rows += [
    row("index.yaml rendering, 1 / 100 / 1,000 / 10,000 versions", "from the repository ledger, inside the isolate (no I/O), median",
        f"{cpu_['1']:.3f} / {cpu_['100']:.2f} / {cpu_['1000']:.1f} / {cpu_['10000']:.1f} ms", "Workers CPU limit: 10 ms free, 30 s paid",
        f"{cpu_['10000'] / 10:.2f}x of 10 ms at 10,000", "≤ 10 ms at 10,000", cpu_['10000'] <= 10),
    row("ledger load, 1,000 / 10,000 versions", "a Durable Object's first request: rows read into the ledger, each entry rendered once (isolate clock, ±1 ms)",
        f"{pub_['ledger_load_ms']['1000']:.0f} / {pub_['ledger_load_ms']['10000']:.0f} ms", "Workers CPU limit: 30 s paid (Durable Objects)", "—", "—", True),
    row("concurrent uploads", "10 at once to one repository through its ledger, all listed (no lost update)",
        f"{now_['concurrent']:.1f}/s", f"10 one after another {now_['sequential']:.1f}/s", f"{conc_x:.2f}x", "≥ 1.0x", conc_x >= 1.0),
]
if "before" in pub_["builds"]:
    before_ = pub_["uploads_per_s"]["before"]
    vis_x = pub_["upload_to_visible_ms"]["now"] / pub_["upload_to_visible_ms"]["before"]
    push_l = pub_["helm_push_ms"]["now"] / pub_["helm_push_ms"]["before"]
    dl_x = pub_["cached_download_ms"]["now"] / pub_["cached_download_ms"]["before"]
    rows += [
        row("upload to visible, ledger", f"POST /api/…/charts until index.yaml lists it, median of {pub_['rounds']}",
            f"{pub_['upload_to_visible_ms']['now']:.0f} ms", f"before the ledger (8771687) {pub_['upload_to_visible_ms']['before']:.0f} ms",
            f"{vis_x:.2f}x", "≤ 1.1x", vis_x <= 1.1),
        row("helm push, ledger", f"wall time, helm 4, median of {pub_['rounds']}", f"{pub_['helm_push_ms']['now']:.0f} ms",
            f"before the ledger {pub_['helm_push_ms']['before']:.0f} ms", f"{push_l:.2f}x", "≤ 1.1x", push_l <= 1.1),
        row("cached HTTP archive download", f"GET charts/<file>.tgz from the edge cache, median of {pub_['rounds'] * 5}",
            f"{pub_['cached_download_ms']['now']:.2f} ms", f"before the ledger {pub_['cached_download_ms']['before']:.2f} ms",
            f"{dl_x:.2f}x", "≤ 1.05x", dl_x <= 1.05),
        row("concurrent uploads, before the ledger", "the same, R2 compare-and-swap on index.yaml",
            f"{before_['concurrent']:.1f}/s", f"10 one after another {before_['sequential']:.1f}/s",
            f"{before_['concurrent'] / before_['sequential']:.2f}x", "—", True),
    ]

cpu = "unknown CPU"
try:
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass
workerd = subprocess.run(["node_modules/.bin/workerd", "--version"], capture_output=True, text=True).stdout.strip()

trace = json.loads(read("cold-trace.json"))
TRACE_ROUTES = [("no_token", "no token (401)"), ("decision", "decision (403)"), ("http_read", "HTTP chart read"),
                ("oci_pull", "/v2/ manifest pull"), ("upload", "upload"), ("rust_floor", "Rust floor (403)")]
cold_of = {"no_token": edge["cold_start_no_token_ms"], "decision": edge["cold_start_ms"],
           **edge["cold_start_routes_ms"], "rust_floor": edge["rust_floor"]["cold_start_ms"]}
parts = []
for key, _ in TRACE_ROUTES:
    for part in trace[key]["first"]["parts"]:
        if part not in parts:
            parts.append(part)
parts.sort(key=lambda p: -trace["http_read"]["first"]["parts"].get(p, {"kib": 0})["kib"])


def cell(key, part):
    p = trace[key]["first"]["parts"].get(part)
    return "—" if p is None else f"{p['kib']:.0f} KiB / {p['liftoff_ms']:.1f} ms"


compile_rows = [
    "| part | " + " | ".join(label for _, label in TRACE_ROUTES) + " |",
    "| --- |" + " --- |" * len(TRACE_ROUTES),
    "| **cold start, untraced (first minus warm, the rows above)** | " + " | ".join(
        f"**{cold_of[k]:.1f} ms**" for k, _ in TRACE_ROUTES) + " |",
    "| **compiled: functions, wasm KiB, Liftoff ms** | " + " | ".join(
        f"**{trace[k]['first']['functions']}, {trace[k]['first']['kib']:.0f} KiB, {trace[k]['first']['liftoff_ms']:.1f} ms**" for k, _ in TRACE_ROUTES) + " |",
    *["| " + part + " | " + " | ".join(cell(k, part) for k, _ in TRACE_ROUTES) + " |" for part in parts],
]
def short(name):
    """`chartgate::edge::worker::decide::decide::{{closure}}` -> `decide::decide`."""
    name = re.sub(r"(::\{\{closure\}\})+$", "", name)
    # `<impl Trait for Type>::f` and `<Type as Trait>::f` -> `Type::f`
    name = re.sub(r"^.*<impl [^<>]*? for ([\w:]+)(<.*>)?>::", r"\1::", name)
    name = re.sub(r"^<([\w:]+)(<.*?>)? as .*?>::(\w+)$", r"\1::\3", name)
    name = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", name.lstrip("<")))  # generic arguments
    return "::".join(name.split("::")[-2:])


largest = {k: ", ".join(f"`{short(f['name'])}` {f['kib']:.0f}" for f in trace[k]["first"]["top"][:5])
           for k, _ in TRACE_ROUTES}
compile_text = "\n".join(compile_rows)
start_compiled_kib = trace["decision"]["start"]["kib"]

text = f"""# Benchmarks

Made by `scripts/bench` on {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}: {os.cpu_count()} cores ({cpu}),
{platform.system()} {platform.release()}, {workerd or 'workerd'} (miniflare), OpenSSL from Debian. Every ratio is
against a baseline measured in the same run; absolute times on a shared machine are noise.

| row | measure | value | baseline (same run) | ratio | target | |
| --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

How the figures are taken: decision costs inside workerd come from a benchmark build of the worker
(feature `bench`, never deployed) whose `POST /_chartgate/bench` runs one step of the decision for
every token of its body (`rounds` times over) and times the loop with the isolate's clock (1 ms
resolution, so every loop lasts tens of milliseconds); a loopback round trip (~2 ms through
miniflare) would drown them. Fresh tokens are all distinct (each pays parse + WebCrypto RS256 +
claims + access); the repeat token hits the verified-token cache. Decisions are timed after a
warm-up, once V8 has tiered the wasm up; each figure is the median of seven runs taken round-robin
with the other steps and the floor (the range of the runs is shown for the headline ones). The platform floor is a plain
JavaScript worker in the same workerd that only runs `crypto.subtle.verify` on the same kind of
tokens (decoded before its clock starts). The throughput baseline is the same worker build in
report-only mode with no token. The revocation list (KV) is not bound: its reads are Cloudflare's
cost, not this code's.

## Where a registry request's time goes

The OCI rows compare the worker in workerd (miniflare, R2 and the cache simulated locally on disk) with
Debian's reference registry (`docker-registry` 2.8, filesystem storage, no auth) on the same machine,
both driven by the same helm 4 binary. The reference registry has no auth, so every difference is what
chartgate adds: a `helm push` makes {reg['edge_requests_per_push']:.1f} requests to the edge, {reg['edge_challenges_per_push']:.1f} of them
answered with the 401 challenge that sends helm to the issuer for a token (first `pull`, then
`pull,push`); a `helm pull` makes {reg['edge_requests_per_pull']:.0f}, {reg['edge_challenges_per_pull']:.0f} of them a challenge. One request's round trip
(`GET /v2/` with a token) costs {reg['request_ms']['edge']:.1f} ms through workerd against {reg['request_ms']['reference']:.1f} ms for the
reference: the local runtime's HTTP path plus the token check (the decision itself is tens of µs, see
below). Requests × that difference plus the token round trips account for the push gap. The first
read of a blob streams from (local) R2 while it is written to the edge cache; later reads come from the
cache.

## Publishing through the edge

Each upload stores its content by digest (archive, config, provenance file, manifest: helm's form)
and then commits one op to the repository's ledger, a Durable Object with SQLite storage, which makes
it visible over both protocols at once. Concurrent uploads to one repository are serialized by the
Durable Object: no compare-and-swap, no retry, nothing lost (the run fails on a lost update). The
"before the ledger" rows run the worker as of 8771687 (built by `scripts/bench` into `build-before/`)
in the same workerd, rounds alternating between the two. Local R2 and Durable Objects are SQLite and
files on this machine's disk; Cloudflare's have other costs (a Durable Object call from the edge
is a round trip to the object's location).

The rendering rows time what a read of `index.yaml` costs the ledger's Durable Object after a
commit, with no I/O, inside the isolate: the benchmark build's `POST /_chartgate/bench-index`
renders the index of a ledger of that many versions from its typed entries, many times per loop
(timed with the isolate's 1 ms clock; on Cloudflare the clock stands still between I/O, so this is
measured locally only). The Durable Object keeps the rendered index until the next commit, and the
edge caches it for `INDEX_TTL`, so most reads pay none of it.

## Where a decision's time goes (inside workerd, each step alone)

| step | fresh token µs | repeat token µs |
| --- | --- | --- |
{chr(10).join(f"| {k} | {v:.2f} | {fmt(edge['repeat_steps_us'].get(k))} |" for k, v in edge['steps_us'].items())}
| cache (keyed hash + lookup) | — | {edge['repeat_steps_us']['cache']:.2f} |
| WebCrypto verify from plain JavaScript (floor) | {edge['floor']['webcrypto_verify_us']:.2f} | — |

`prepare` is path normalisation, route matching and credential extraction; `parse` the JWS parse
and key selection; `promise` awaiting an already settled JavaScript promise from Rust (the glue every
WebCrypto call pays: `JsFuture`, its two callbacks and a microtask); `webcrypto` the RS256 verify
alone (Rust to WebCrypto and back); `signature` parse,
key selection and the verify; `claims` the claims JSON; `authorize` the time, issuer, audience and
access checks and the grant on a verified token; `cache` the keyed SipHash-1-3-128 of the token and
the verified-token cache lookup; `full` the whole decision.

## How cost grows

| fresh decision in workerd vs token size | µs |
| --- | --- |
{chr(10).join(f"| {k} KiB | {v:.0f} |" for k, v in edge['token_size_us'].items())}

| fresh decision in workerd vs keys in the JWKS (token's key last) | µs |
| --- | --- |
{chr(10).join(f"| {k} | {v:.0f} |" for k, v in edge['jwks_keys_us'].items())}

| native decision vs token size (criterion) | µs |
| --- | --- |
{chr(10).join(f"| {k} KiB | {criterion_us(f'token_size/{k}'):.1f} |" for k in (1, 2, 4, 8))}

| native decision vs keys in the JWKS (token's key last) | µs |
| --- | --- |
{chr(10).join(f"| {k} | {criterion_us(f'jwks_keys/{k}'):.1f} |" for k in (1, 10, 50))}

| issuer vs concurrency (client credentials, one RS256 signature per request) | p50 ms | p99 ms | req/s |
| --- | --- | --- | --- |
{chr(10).join(f"| {r[0]} | {parse_ms(r[1]):.1f} | {parse_ms(r[2]):.1f} | {float(r[3]):.0f} |" for r in issuer)}

## Reading the misses

- **Issuer latency at 200 concurrent clients** is bound by the CPU: every request signs one RS256 token
  ({sign_us:.0f} µs on one core, {(1e6 / sign_us) / ossl_sign_per_s:.2f}x `openssl speed`), and {os.cpu_count()} cores top
  out at the throughput in the table above ({float(at200[3]):.0f} req/s). With 200 requests in flight, Little's law gives
  200 / {float(at200[3]):.0f} s = {200 / float(at200[3]) * 1000:.0f} ms of queueing, which is the p50 measured. A p99 of 5 ms at
  that concurrency would need about 40,000 signatures/s; at concurrency 1 the p50 is {parse_ms(issuer[0][1]):.1f} ms. Faster
  curves (ES256/EdDSA signing keys) or more cores move this; the code does not.
- **Fresh decision in workerd** ({edge['fresh_decision_us']:.1f} µs): the RS256 verify is most of it, and it is the
  runtime's native code: {edge['steps_us']['webcrypto']:.1f} µs called from Rust, {edge['floor']['webcrypto_verify_us']:.1f} µs from plain
  JavaScript in the same workerd; the difference is the promise glue between wasm and JavaScript
  (`promise`: {edge['steps_us']['promise']:.1f} µs), which the algorithm object made once instead of a string
  per call already trims. The engine's
  own steps (prepare {edge['steps_us']['prepare']:.1f}, parse {edge['steps_us']['parse']:.1f}, claims {edge['steps_us']['claims']:.1f},
  authorize {edge['steps_us']['authorize']:.1f} µs) and the cache insert are the rest. Step figures are medians of
  separate runs, so they do not add up exactly; runs on this shared machine vary by about ±15%.
- **Workload tokens** ({edge['workload']['fresh_us']:.1f} µs fresh, {edge['workload']['repeat_us']:.2f} µs repeat, against
  {edge['workload']['fresh_chartgate_us']:.1f} and {edge['workload']['repeat_chartgate_us']:.2f} µs for a chartgate token of the same size,
  {edge['workload']['token_bytes']['workload']} bytes, in the same worker): a fresh one is routed to its policy by `iss` (its payload
  read once, keeping only the claims some rule reads), verified with the policy's key, and admitted
  (registered claims, the rules' patterns, literal ones compared as strings, the templated grant). A
  repeat is a cache hit like any other, then the grant's patterns are matched instead of exact scopes.
  A GitHub token is larger than a typical chartgate token ({edge['workload']['token_bytes']['typical']} bytes: {edge['workload']['fresh_typical_us']:.1f} µs fresh,
  {edge['workload']['repeat_typical_us']:.2f} µs repeat, so {edge['workload']['fresh_us'] / edge['workload']['fresh_typical_us']:.2f}x and {edge['workload']['repeat_us'] / edge['workload']['repeat_typical_us']:.2f}x against it): the keyed hash of the cache and
  WebCrypto's SHA-256 run over every byte of a token, whoever issued it.
- **Repeat token** ({edge['repeat_decision_us']:.2f} µs, a verified-token cache hit): path normalisation, route and
  credential parsing, the keyed hash and lookup and the grant still run on every request, by design (time
  and access are re-checked each time).
- **Cold start, worker start, bundle**: see the next section.

## The first request of an isolate (issue 26)

**Cold start** ({edge['cold_start_ms']:.1f} ms for a decision; the plain JavaScript worker {js_cold:.1f} ms; the Rust
floor, a `worker`-crate worker of the same version and build settings that answers a 403 and does
nothing else (`benches/floor-worker`), {rust_cold:.1f} ms). V8 compiles a wasm function with Liftoff on its
first call, so a first request pays for compiling every function it runs, whole, however little of
it runs. `benches/cold-trace.mjs` has V8 print each function it compiles
(`--trace-wasm-compilation-times`, passed to workerd by `benches/v8-flags.mjs`) and names them with
the build's symbol map. What a fresh isolate compiles for its first request (wasm body KiB / V8's
Liftoff time under tracing, which is slower than untraced; workerd's start compiles
{start_compiled_kib:.0f} KiB before any request):

{compile_text}

The largest functions each first request compiles (KiB): no token: {largest['no_token']}; decision:
{largest['decision']}; HTTP read: {largest['http_read']}; /v2/ pull: {largest['oci_pull']}; upload:
{largest['upload']}.

Measured in the same run with the worker's own clock (±1 ms), first request minus steady: the
isolate's set-up {edge['cold_start_isolate_ms']:.1f} ms, the decision {edge['cold_start_decision_ms']:.1f} ms (WebCrypto's key import, the
first verify, the claims); a request with no token at all costs {edge['cold_start_no_token_ms']:.1f} ms. What the compile trace
does not cover is the first run itself: the JavaScript glue (also compiled lazily), WebCrypto's
key import, and for the routes with storage the first use of R2, the edge cache and the ledger's
Durable Object from a fresh isolate, which local workerd serves through miniflare's own JavaScript
services (compare those rows between runs, not with Cloudflare).

What was done: each part of a request (the decision, the registry's endpoints one by one, the
chart server's read, upload and delete, the ledger and origin paths, the workload-token check, a
key rotation's retry) is its own boxed future, so its code is its own wasm function, compiled
when first used; the isolate's set-up parses only what is configured, each parser out of line;
the request URL is split from the runtime's serialization instead of parsed with the `url`
crate; and wasm-opt no longer inlines the functions kept apart (the `--no-inline` list in
Cargo.toml): binaryen's `-O` inlines any function with a single caller, which undid
`#[inline(never)]` and put the isolate's whole set-up back into one 32 KB function. What a
first request compiles, before these changes and after (benchmark builds, the same trace, one
run): no token 179 → 140 KiB, decision 247 → 203, HTTP read 486 → 376, /v2/ pull 542 → 371,
upload 648 → 601. A general limit on wasm-opt's single-caller inlining (`-ocimfs 200`) compiles
less still (a first decision 194 KiB against 203), but its fresh decisions were slower
side by side (80 and 75 µs against 74 and 72 with the `--no-inline` list, two paired runs), so it
was not kept; it is the next step if a fresh decision's cost is shown not to move. No change touches the steady
path (a cached token's decision runs the same code; a fresh one adds one boxed future); the
benchmark builds before and after, side by side in seven alternating runs on this machine, gave
fresh decisions of 54–75 µs before (median 75) and 69–81 after (median 74), and repeats of
1.95–3.40 µs before (median 2.65) and 2.10–3.65 after (median 3.40): the repeat figure is
bimodal here for either build (1.7–2.1 or 3.2–3.7 µs in a run), and a build without the boxed
check measured slowest of the three in the same runs, so the difference is not resolved as a
regression or as noise. This run's machine is slower than the previous run's (openssl signs
{ossl_sign_per_s:.0f}/s; the previous table's run, 4010/s), which is why the absolute targets
(repeat ≤ 2 µs, verify ≤ 2x openssl) read differently from the last table.

What is left, and what removing it would take:
- **The way in and out** (the row "way in and out" and most of "allocator, collections,
  formatting"): wasm-bindgen's `future_to_promise` wrapper of the entry, the `worker` crate's
  request and response, the allocator. The Rust floor compiles {trace['rust_floor']['first']['kib']:.0f} KiB for its one
  answer; chartgate's entry adds the audit line, the challenge and the route dispatch. Removing
  more means a hand-written JavaScript entry that calls narrow wasm exports, outside the `worker`
  crate.
- **The token's first check** (parse, claims, WebCrypto): `Claims::from_json` is serde's
  generated code for the claims; WebCrypto's key import and first verify are the platform's.
  A leaner claims parser (no serde derive) would cut the largest function of the row.
- **The isolate's set-up**: the JWKS parse (serde) and the policy. Deferring the JWKS to the first
  token would help only requests without one.
- **Reads through the ledger** (HTTP read, /v2/ pull): the ledger's Durable Object, on its first
  request, loads its rows and replays them (`Ledger::commit`, 20 KB), and wasm-bindgen's wrapper
  of its `fetch` holds the read verbs (the commit verb and the migration of an earlier layout
  are boxed apart, so a read compiles neither). Keeping the ledger in SQLite columns instead of
  replayed JSON rows would remove the replay.
- **Upload**: tar, gzip, YAML (`yaml_rust2`), the ledger's plan and its serde types: about
  {trace['upload']['first']['parts'].get('chart server and ledger', dict(kib=0))['kib']:.0f} KiB compiled on a first upload, only on an upload.

**Worker start** ({edge['startup_ms']:.0f} ms against {edge['floor']['startup_ms']:.0f} ms for the plain JavaScript
worker, {edge['floor']['startup_bound_ms']:.0f} ms for the same plain worker with chartgate's bindings, and
{edge['rust_floor']['startup_ms']:.0f} ms for the Rust floor, whose module is {os.path.getsize('build-floor/index_bg.wasm') / 1024:.0f} KiB). Workerd compiles
almost nothing at start ({start_compiled_kib:.0f} KiB: the allocator and wasm-bindgen's start), so what a bigger
module costs is decoding it and setting it up; V8's lazy validation (`--wasm-lazy-validation`)
changed nothing when tried. The gap, in parts: the bindings themselves (the plain worker with
them against without: {edge['floor']['startup_bound_ms'] - edge['floor']['startup_ms']:.0f} ms; locally, an R2 bucket and a Durable Object
namespace are miniflare services started with the worker; on Cloudflare they cost a start
nothing); the rest is the wasm module: a Rust worker's glue and instantiation (the Rust floor, with
an R2 bucket but no Durable Object, against the plain worker with both bindings:
{edge['rust_floor']['startup_ms'] - edge['floor']['startup_bound_ms']:+.0f} ms) and chartgate's {wasm_kib:.0f} KiB module against the floor's
{os.path.getsize('build-floor/index_bg.wasm') / 1024:.0f} KiB ({edge['startup_ms'] - edge['rust_floor']['startup_ms']:+.0f} ms, the Durable Object namespace included). Removing that takes a
smaller module (see the bundle).

**Bundle** ({bundle_kib:.0f} KiB gzip: the wasm code {code_kib:.0f} KiB, its data {data_kib:.0f} KiB, the JavaScript glue the
rest). The name section is not uploaded: `scripts/build-worker` moves the names to
`build/index_bg.symbols` (`INDEX:NAME` per function) to read a `wasm-function[INDEX]` stack frame;
`url` is built without Unicode host names (the ICU tables were 52 KiB). The code, by crate (share of
the gzip code): {crate_text}. `chartgate` is the engine, the edge's rules, the registry, the ledger
and the glue, with the `serde` code generated for their types; `core` and `alloc` are mostly
formatting and collections instantiated for them; `js_sys` is wasm-bindgen's futures glue around
each exported entry (the worker's `fetch`, the ledger's `fetch`, the cron). Building the worker at
`opt-level = "s"` would make the upload about 12% smaller and at `"z"` about 20% (measured on this
code), but the repeat decision 21% and 52% slower: a steady-state figure traded for a one-off
one. A second wasm module for publishing would not make the upload smaller (every module of a
worker is uploaded). The 400 KiB goal needs about a third of the code removed: the largest
candidates are the `serde` derives of the edge's own types (ledger rows, claims, the registry's
manifests) replaced by narrow readers and writers, the YAML reader (5%) replaced by reading
`Chart.yaml` through the YAML subset helm writes, and the ledger's JSON rows replaced by SQLite
columns.
"""
# What chose the build's settings (Cargo.toml's comments point here); not measured by this run.
text += """
## The build's settings

What chose the settings `Cargo.toml` gives, moved here from its comments (each measured side by side
in one run when it was chosen):

| setting | measured |
| --- | --- |
| `siphasher` for the verified-token cache's key | SHA-256 of a token cost 7 µs per request in wasm; SipHash-1-3 a fraction of it |
| `idna_adapter = "=1.0.0"` (no Unicode host names in `url`) | the ICU tables were 52 KiB of the worker's gzip upload |
| the system's OpenSSL for signing (native) | 2.1x BoringSSL's RSA signing rate on AVX-512 IFMA machines, and no BoringSSL build from source |
| `pbkdf2` over `sha2` for client secrets | 25 ms for 210,000 iterations, where OpenSSL 3.0's provider-based `PKCS5_PBKDF2_HMAC` took 81 ms |
| `[profile.dev.package.sha2] opt-level = 3` | the integration tests took 33 s with SHA-256 unoptimised, 20 s with it |
| `yaml-rust2`, `tar`, `flate2`, `miniz_oxide` at `opt-level = "z"` | off the read path; keeps the worker's gzip upload under its budget |
| wasm-opt `--no-inline` for named cold functions, then `-O` | a general limit instead (`-ocimfs 200`) compiled 4% less on a first decision but made fresh decisions about 10% slower (`benches/cold-trace.mjs`) |
"""
with open(report, "w") as f:
    f.write(text)
