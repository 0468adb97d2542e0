// What a fresh isolate compiles on its first request, by route kind: V8 prints each wasm function
// it compiles (`--trace-wasm-compilation-times`, passed to workerd by benches/v8-flags.mjs), and
// the build's symbol map (`INDEX:NAME`, scripts/lib.sh strip_worker_names) names them. Run by
// scripts/bench as
//   CHARTGATE_V8_FLAGS=--trace-wasm-compilation-times node --import ./benches/v8-flags.mjs benches/cold-trace.mjs
// It prints one JSON object: per route, the functions compiled on the first request, their wasm
// body bytes and V8's Liftoff time (under tracing, so slower than untraced), split into named
// parts, with the largest functions. Attribution, not a timing: the cold-start rows are benches/edge.mjs's.
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeChartRepo, startWorker } from "../tests/edge/harness.mjs";
import { keyPair, signJwt } from "../tests/edge/oidc.mjs";

if (!process.env.CHARTGATE_V8_FLAGS?.includes("--trace-wasm-compilation-times")) {
  throw new Error("run with CHARTGATE_V8_FLAGS=--trace-wasm-compilation-times and --import ./benches/v8-flags.mjs");
}
const BUILD = process.env.BUILD ?? "build-bench";
const key = keyPair();
const jwks = JSON.stringify({ keys: [key.jwk] });
const now = () => Math.floor(Date.now() / 1000);
const mint = (actions = ["pull"]) =>
  signJwt(key, { exp: now() + 3600, iat: now(), jti: crypto.randomUUID(), sub: "bench", access: [{ type: "artifact-repository", name: "org1/repo1", actions }] });

/** The build's function names by index. */
function symbols(build) {
  const names = new Map();
  for (const line of readFileSync(join(build, "index_bg.symbols"), "utf8").split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) names.set(Number(line.slice(0, i)), line.slice(i + 1));
  }
  return names;
}

// Parts, by the function's path; the first that matches names it.
const PARTS = [
  ["isolate set-up (configuration, JWKS, key stores)", /^chartgate::edge::(worker::isolate|config)|^chartgate::keys::KeySet::(from_json|parse)|^chartgate::decision::Policy::new|^chartgate::trust::(document::<impl chartgate::trust::)?TrustPolicies>?::from_json/],
  ["token: parse, claims, WebCrypto verify", /^chartgate::(jws|claims|verify|keys|wasm::webcrypto|credential)|^base64::/],
  ["decision: path, route, scope, grant", /^chartgate::(path|route|scope|decision|allowance|trust|edge::gate|edge::worker::gate|wasm::decide|error)/],
  ["registry (OCI)", /^chartgate::edge::(worker::registry|store::oci)/],
  ["chart server and ledger", /^chartgate::edge::(worker::(api|repo_ledger|charts)|store::(publish|ledger|ledger_calls|chart_archive|serving|layout))|^(tar|flate2|miniz_oxide|yaml_rust2|semver)::/],
  ["serving: cache, R2, responses", /^chartgate::edge::worker::(serve|cache|r2|respond|stale|failure|body)/],
  ["way in and out: the entry, wasm-bindgen, the worker crate", /^(js_sys|wasm_bindgen|web_sys|worker|chartgate::edge::worker::(fetch|decide_and_serve|apart))|externref|^__wbindgen|^__worker|shim$|^fetch|^init$|^\d+$/],
  ["JSON (serde, serde_json)", /^(serde|serde_json|serde_core)|serde_core::|serde::/],
  ["allocator, collections, formatting (core, alloc)", /^(core|alloc|dlmalloc|__rust|hashbrown|&|\[|str |u8 |usize |i32 |u64 |f64 |bool |char )/],
];
// `<T as Trait>::f` is named by its type.
const partOf = (name) => {
  const subject = name.replace(/^<+/, "");
  return (PARTS.find(([, re]) => re.test(subject)) ?? ["other"])[0];
};

function compiled(logs, names) {
  const fns = new Map();
  for (const line of logs) {
    const m = line.match(/#(\d+) using Liftoff, took (\d+) μs and \d+ bytes; bodysize (\d+)/);
    if (!m) continue;
    const index = Number(m[1]);
    const f = fns.get(index) ?? { name: names.get(index) ?? `#${index}`, us: 0, bytes: Number(m[3]) };
    f.us += Number(m[2]);
    fns.set(index, f);
  }
  return [...fns.values()];
}

const brief = (f) => ({ name: f.name.replace(/::h[0-9a-f]{16}$/, ""), kib: f.bytes / 1024 });

function summary(fns) {
  const parts = {};
  for (const f of fns) {
    const p = (parts[partOf(f.name)] ??= { functions: 0, kib: 0, liftoff_ms: 0, largest: [] });
    p.functions += 1;
    p.kib += f.bytes / 1024;
    p.liftoff_ms += f.us / 1000;
    p.largest.push(f);
  }
  for (const p of Object.values(parts)) p.largest = p.largest.sort((a, b) => b.bytes - a.bytes).slice(0, 4).map(brief);
  const top = [...fns].sort((a, b) => b.bytes - a.bytes).slice(0, 8).map(brief);
  return {
    functions: fns.length,
    kib: fns.reduce((s, f) => s + f.bytes, 0) / 1024,
    liftoff_ms: fns.reduce((s, f) => s + f.us, 0) / 1000,
    parts,
    top,
  };
}

/** The functions a fresh workerd compiles before and on its first request `request(url)`. */
async function firstRequest(build, bindings, options, request) {
  const names = symbols(build);
  const w = await startWorker(bindings, { port: 0, kv: false, build, ...options });
  await new Promise((r) => setTimeout(r, 200));
  const before = w.logs.length;
  await request(w.url);
  await new Promise((r) => setTimeout(r, 300));
  const out = { start: summary(compiled(w.logs.slice(0, before), names)), first: summary(compiled(w.logs.slice(before), names)) };
  await w.mf.dispose();
  return out;
}

async function expect(res, status) {
  await res.arrayBuffer();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}`);
}

const repo = makeChartRepo();
const persist = mkdtempSync(join(tmpdir(), "chartgate-trace-"));
const shared = { shared: { defaultPersistRoot: persist } };
{
  const seed = await startWorker({ JWKS: jwks }, { port: 0, kv: false, build: BUILD, ...shared });
  const res = await fetch(`${seed.url}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${mint(["pull", "push"])}` }, body: repo.tgz });
  await expect(res, 201);
  await seed.mf.dispose();
}
const bearer = (t) => ({ headers: { Authorization: `Bearer ${t}` } });
const chartPath = `/org1/repo1/charts/${repo.file}`;
const manifestPath = `/v2/org1/repo1/${repo.file.replace(/-[^-]+\.tgz$/, "")}/manifests/${repo.file.match(/-([^-]+)\.tgz$/)[1]}`;
const upload = makeChartRepo("traced", "1.0.0").tgz;
const routes = {
  no_token: [{ ledger: false }, async (u) => expect(await fetch(`${u}/org2/other/index.yaml`), 401)],
  decision: [{ ledger: false }, async (u) => expect(await fetch(`${u}/org2/other/index.yaml`, bearer(mint())), 403)],
  http_read: [shared, async (u) => expect(await fetch(u + chartPath, bearer(mint())), 200)],
  oci_pull: [shared, async (u) => expect(await fetch(u + manifestPath, bearer(mint())), 200)],
  upload: [shared, async (u) => expect(await fetch(`${u}/api/org1/repo1/charts`, { method: "POST", ...bearer(mint(["pull", "push"])), body: upload }), 201)],
};
const out = {};
for (const [kind, [options, request]] of Object.entries(routes)) {
  out[kind] = await firstRequest(BUILD, { JWKS: jwks }, options, request);
}
// The Rust floor (benches/floor-worker): what a `worker`-crate worker compiles for one answer.
out.rust_floor = await firstRequest("build-floor", {}, { ledger: false }, async (u) => expect(await fetch(`${u}/org2/other/index.yaml`), 403));
console.log(JSON.stringify(out));
process.exit(0);
