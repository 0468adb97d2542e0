// Edge benchmarks in workerd (miniflare 4), on the benchmark build (build-bench/, feature `bench`).
//  - decision costs are timed inside the isolate (POST /_chartgate/bench decides each token of the
//    body), because a loopback round trip (~2 ms) would drown a ~30 µs decision:
//      fresh  — a new token each time: parse, WebCrypto RS256 verify, claims, access
//      repeat — one token again and again: verified-token cache hit, claims and access re-checked
//      size   — fresh tokens of about 1, 2, 4, 8 KiB
//  - throughput is measured from outside with wrk at fixed concurrency: a cached .tgz through the
//    worker with a token (gated) against the same worker in report-only mode without a token
//    (the decision does no token work), in the same run;
//  - cold start: first decision (a 403, no storage) on a freshly started workerd minus the same
//    request once warm, with the isolate's set-up and the decision's own shares;
//  - workload tokens (trust policies): a GitHub Actions token's decision against a chartgate
//    token's, fresh and repeat, in one worker that trusts both;
//  - the platform's floor, in the same run: a plain JavaScript worker in the same workerd that only
//    calls crypto.subtle.verify on the same kind of tokens (what any RS256 check at the edge pays),
//    and the same worker's cold start (what any worker pays before its first answer).
// Prints one JSON object. Bounded: fixed counts and durations, loopback only.
import { createPrivateKey, createSign, generateKeyPairSync, randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { Miniflare, Log, LogLevel } from "miniflare";
import { auditLines, keygen, makeChartRepo, startWorker } from "../tests/edge/harness.mjs";
import { github, keyPair, signJwt } from "../tests/edge/oidc.mjs";

const N = Number(process.env.BENCH_DECISIONS ?? 2000);
const key = keygen();
const repo = makeChartRepo();
const PATH = `/org1/repo1/charts/${repo.file}`;
// Parsed once: a PEM string per signature doubles the cost of minting (1.5 ms against 0.7 ms).
const privateKey = createPrivateKey(readFileSync(key.private, "utf8"));
const b64 = (s) => Buffer.from(s).toString("base64url");

function mint(padding = 0, actions = ["pull"]) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid }));
  const claims = { exp: now + 3600, iat: now, jti: randomUUID(), sub: "b".repeat(padding), access: [{ type: "artifact-repository", name: "org1/repo1", actions }] };
  const input = `${header}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createSign("RSA-SHA256").update(input).sign(privateKey).toString("base64url")}`;
}

/** A token of at most `bytes` bytes, within 16 of it. */
function mintSized(bytes) {
  let pad = Math.floor((bytes - 500) * 0.75);
  let t = mint(pad);
  while (t.length > bytes) t = mint((pad -= 12));
  return t;
}

async function worker(bindings, build = "build-bench") {
  // No REVOCATIONS binding: the revocation list is optional, and its KV reads are Cloudflare's cost.
  const w = await startWorker(bindings, { port: 0, kv: false, build });
  // Published through the API: the repository ledger lists what is served.
  const res = await fetch(`${w.url}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${mint(0, ["pull", "push"])}` }, body: repo.tgz });
  if (res.status !== 201) throw new Error(`upload ${res.status} ${await res.text()}`);
  return w;
}

/** POST, once more on a new connection if the connection closed under the request (undici retries
 * only idempotent requests). Said on stderr; a worker that crashed is caught by `decisions` from its log. */
async function post(url, body) {
  try {
    return await fetch(url, { method: "POST", body });
  } catch (e) {
    const code = e.cause?.code;
    if (!["UND_ERR_SOCKET", "EPIPE", "ECONNRESET"].includes(code)) throw e;
    console.error(`benches/edge.mjs: ${code} on ${new URL(url).pathname}; once more on a new connection`);
    return await fetch(url, { method: "POST", body });
  }
}

/** Microseconds per decision (or per `step` of it) inside the isolate, each token `rounds` times.
 * Bodies are kept under 1 MiB (local workerd drops large POSTs now and then, cloudflare/workerd#4660):
 * more tokens go in several posts whose loop times add up. */
async function decisions(w, tokens, step = "full", rounds = 1) {
  let allowed = 0, elapsed = 0;
  for (let i = 0; i < tokens.length; ) {
    const batch = [];
    for (let bytes = 0; i < tokens.length && (batch.length === 0 || bytes + tokens[i].length < 1 << 20); i++) {
      bytes += tokens[i].length + 1;
      batch.push(tokens[i]);
    }
    const res = await post(`${w.url}/_chartgate/bench?step=${step}&rounds=${rounds}`, batch.join("\n"));
    const crash = w.logs.find((l) => /panicked|Reinitializing Wasm|Critical/.test(l));
    if (crash) throw new Error(`the worker crashed: ${crash}`);
    const out = await res.json();
    allowed += out.allowed;
    elapsed += out.elapsed_ms;
  }
  if (allowed !== tokens.length * rounds) throw new Error(`${step}: only ${allowed} of ${tokens.length * rounds} allowed`);
  return (elapsed * 1000) / (tokens.length * rounds);
}

async function timeOne(url, token, status = 200) {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  await res.arrayBuffer();
  if (res.status !== status) throw new Error(`status ${res.status}`);
  return Number(process.hrtime.bigint() - t0) / 1000;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Async: miniflare's proxy runs in this process, so its event loop must keep turning.
async function wrk(url, token, connections = 8, seconds = 8) {
  const args = ["-t2", `-c${connections}`, `-d${seconds}s`, url];
  if (token) args.unshift("-H", `Authorization: Bearer ${token}`);
  const { stdout: out } = await promisify(execFile)("wrk", args, { encoding: "utf8" });
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]);
}

// The floor: WebCrypto alone, from JavaScript, in the same workerd. Decoding happens before the clock.
const FLOOR_SCRIPT = `
let key;
const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
export default {
  async fetch(req) {
    if (req.method !== "POST") return new Response("forbidden", { status: 403 });
    const { jwk, tokens } = await req.json();
    key ??= await crypto.subtle.importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"]);
    const enc = new TextEncoder();
    const items = tokens.map((t) => [enc.encode(t.slice(0, t.lastIndexOf("."))), bytes(t.slice(t.lastIndexOf(".") + 1))]);
    const started = Date.now();
    let ok = 0;
    for (const [message, signature] of items) ok += (await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, message)) ? 1 : 0;
    return Response.json({ ok, elapsed_ms: Date.now() - started });
  },
};`;
// `bound`: with chartgate's bindings (an R2 bucket and the ledger's Durable Object namespace),
// which local workerd serves through miniflare's own services; on Cloudflare a binding costs a
// worker's start nothing.
const floorWorker = async (bound = false) => {
  const bindings = bound
    ? { r2Buckets: ["CHARTS"], durableObjects: { LEDGER: { className: "RepoLedger", useSQLite: true } } }
    : {};
  const script = bound ? `${FLOOR_SCRIPT}\nexport class RepoLedger { fetch() { return new Response("ok"); } }` : FLOOR_SCRIPT;
  const mf = new Miniflare({
    modules: true, script, compatibilityDate: "2026-04-20", cf: false,
    log: new Log(LogLevel.WARN), host: "127.0.0.1", port: 0, ...bindings,
  });
  return { mf, url: (await mf.ready).toString().replace(/\/$/, "") };
};
async function floorVerify(w, tokens) {
  const jwk = JSON.parse(key.jwks).keys[0];
  const res = await post(w.url, JSON.stringify({ jwk, tokens }));
  const out = await res.json();
  if (out.ok !== tokens.length) throw new Error(`floor: only ${out.ok} of ${tokens.length} verified`);
  return (out.elapsed_ms * 1000) / tokens.length;
}

const gated = await worker({ JWKS: key.jwks });
const baseline = await worker({ JWKS: key.jwks, MODE: "report-only" });
const repeatToken = mint();
await decisions(gated, [repeatToken]); // imports the key, fills the token cache
// Warm-up: V8 first runs wasm on its baseline tier and tiers up while hot; measure after that.
for (let i = 0; i < 6; i++) await decisions(gated, Array.from({ length: N / 2 }, () => mint()));
await decisions(gated, Array(N * 2).fill(repeatToken), "full", 5);
await new Promise((r) => setTimeout(r, 1000)); // background tier-up (TurboFan) finishes
// Where a decision's time goes: each step alone, `full` being the whole decision (the headline
// figures). Steps that cost microseconds run many rounds so the loop lasts well over the clock's
// 1 ms tick. Steps other than `full` never fill the verified-token cache, so they share one pool of
// fresh tokens; `full` gets new ones each run. The runs go round-robin over the steps and the floor
// (a noisy moment on a shared machine hits them all), and each figure is the median of its runs.
const RUNS = 7;
const ROUNDS = { prepare: 20, cache: 20, parse: 20, promise: 20, claims: 20, authorize: 20 };
const STEPS = ["prepare", "parse", "promise", "webcrypto", "signature", "claims", "authorize", "full"];
const REPEAT_STEPS = ["prepare", "cache", "authorize", "full"];
const pool = Array.from({ length: N / 4 }, () => mint());
const floor = await floorWorker();
await floorVerify(floor, pool);
const stepRuns = Object.fromEntries(STEPS.map((s) => [s, []]));
const repeatRuns = Object.fromEntries(REPEAT_STEPS.map((s) => [s, []]));
const floorRuns = [];
for (let r = 0; r < RUNS; r++) {
  for (const step of STEPS) {
    const tokens = step === "full" ? Array.from({ length: N / 2 }, () => mint()) : pool;
    stepRuns[step].push(await decisions(gated, tokens, step, ROUNDS[step] ?? 1));
  }
  await decisions(gated, [repeatToken]); // back in the cache if the fresh tokens pushed it out
  for (const step of REPEAT_STEPS) repeatRuns[step].push(await decisions(gated, Array(N / 4).fill(repeatToken), step, 40));
  floorRuns.push(await floorVerify(floor, pool));
}
await floor.mf.dispose();
const steps = Object.fromEntries(STEPS.map((s) => [s, median(stepRuns[s])]));
const repeatSteps = Object.fromEntries(REPEAT_STEPS.map((s) => [s, median(repeatRuns[s])]));
const range = (xs) => [Math.min(...xs), Math.max(...xs)];
const sizes = {};
for (const kib of [1, 2, 4, 8]) {
  const runs = [];
  await decisions(gated, Array.from({ length: 200 }, () => mintSized(kib * 1024))); // warm-up: the cache takes bigger claims
  for (let r = 0; r < 5; r++) runs.push(await decisions(gated, Array.from({ length: 200 }, () => mintSized(kib * 1024))));
  sizes[kib] = median(runs);
}

// Fresh decisions against a JWKS of 1, 10 and 50 keys, the token's key last.
const ours = JSON.parse(key.jwks).keys;
const others = Array.from({ length: 49 }, (_, i) => ({
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" }),
  kid: `other-${i}`, alg: "RS256", use: "sig",
}));
const keyCount = {};
for (const n of [1, 10, 50]) {
  const w = await worker({ JWKS: JSON.stringify({ keys: [...others.slice(0, n - 1), ...ours] }) });
  // The same warm-up as the main worker's (a new workerd starts on the baseline tier).
  for (let i = 0; i < 4; i++) await decisions(w, Array.from({ length: N / 2 }, () => mint()));
  await new Promise((r) => setTimeout(r, 1000));
  const runs = [];
  for (let r = 0; r < 5; r++) runs.push(await decisions(w, Array.from({ length: N / 4 }, () => mint())));
  keyCount[n] = median(runs);
  await w.mf.dispose();
}

// Workload tokens: a GitHub Actions token admitted by a trust policy (keys inline: the fetch is
// the platform's, as JWKS_URL's is) against a chartgate token of the same size (what trust adds,
// not what more bytes cost: the keyed hash and SHA-256 run over every byte), in one worker that
// trusts both, run round-robin; the repeat figures are verified-token cache hits of each. A
// typical-size chartgate token is measured too.
const GH = "https://token.actions.githubusercontent.com";
const ghKey = keyPair("RS256");
const trustPolicies = [{
  name: "github", issuer: GH, audience: "https://charts.example.com", max_ttl: "15m",
  keys: JSON.stringify({ keys: [ghKey.jwk] }),
  rules: [
    { name: "release", match: { repository: "org1/app", ref: "refs/tags/v.*" }, unless: { event_name: "pull_request_target" }, scopes: ["artifact-repository:org1/charts:pull,push"] },
    { name: "org-pull", match: { repository_owner: "org1" }, unless: { event_name: "pull_request_target" }, scopes: ["artifact-repository:{repository_owner}/*:pull"] },
  ],
}];
const mintWorkload = () => signJwt(ghKey, { ...github({ aud: "https://charts.example.com", repository: "org1/deploy", ref: "refs/heads/main", ttl: 600 }), iss: GH });
const trusting = await worker({ JWKS: key.jwks, TRUST_POLICIES: JSON.stringify(trustPolicies) });
const repeatWorkload = mintWorkload();
const sameSize = () => mintSized(repeatWorkload.length);
const repeatSameSize = sameSize();
for (let i = 0; i < 4; i++) {
  await decisions(trusting, Array.from({ length: N / 2 }, () => sameSize()));
  await decisions(trusting, Array.from({ length: N / 2 }, () => mintWorkload()));
}
await new Promise((r) => setTimeout(r, 1000));
const workloadRuns = { fresh: [], fresh_chartgate: [], fresh_typical: [], repeat: [], repeat_chartgate: [], repeat_typical: [] };
for (let r = 0; r < RUNS; r++) {
  workloadRuns.fresh_chartgate.push(await decisions(trusting, Array.from({ length: N / 2 }, () => sameSize())));
  workloadRuns.fresh.push(await decisions(trusting, Array.from({ length: N / 2 }, () => mintWorkload())));
  workloadRuns.fresh_typical.push(await decisions(trusting, Array.from({ length: N / 2 }, () => mint())));
  await decisions(trusting, [repeatToken, repeatWorkload, repeatSameSize]);
  workloadRuns.repeat_chartgate.push(await decisions(trusting, Array(N / 4).fill(repeatSameSize), "full", 40));
  workloadRuns.repeat.push(await decisions(trusting, Array(N / 4).fill(repeatWorkload), "full", 40));
  workloadRuns.repeat_typical.push(await decisions(trusting, Array(N / 4).fill(repeatToken), "full", 40));
}
await trusting.mf.dispose();
const workload = Object.fromEntries(Object.entries(workloadRuns).map(([k, v]) => [`${k}_us`, median(v)]));
workload.fresh_range_us = range(workloadRuns.fresh);
workload.repeat_range_us = range(workloadRuns.repeat);
workload.token_bytes = { workload: repeatWorkload.length, chartgate: repeatSameSize.length, typical: repeatToken.length };

for (let i = 0; i < 50; i++) {
  await timeOne(gated.url + PATH, repeatToken);
  await timeOne(baseline.url + PATH);
}
const throughput = { gated: await wrk(gated.url + PATH, repeatToken), baseline: await wrk(baseline.url + PATH) };
await gated.mf.dispose();
await baseline.mf.dispose();

// Cold start: a decision that touches no storage (a valid token on a repository it does not grant:
// 403 after the signature check), first on a fresh isolate, then steady with the same token.
const cold = [], coldIsolate = [], coldDecision = [], startup = [];
const OTHER = "/org2/other/index.yaml";
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  // The benchmark build: the same code, and it logs the isolate's set-up time per request.
  const w = await startWorker({ JWKS: key.jwks }, { port: 0, kv: false, build: "build-bench" }); // no storage needed
  startup.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const token = mint();
  const first = await timeOne(w.url + OTHER, token, 403);
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + OTHER, token, 403));
  cold.push((first - median(steady)) / 1000);
  // Its parts, first request minus steady: the isolate's set-up and the decision (the audit
  // line's auth_us), each on code that runs for the first time.
  await new Promise((r) => setTimeout(r, 200));
  const audit = auditLines(w.logs).map((l) => l.auth_us);
  const setup = w.logs.filter((l) => l.includes("chartgate-bench: isolate_us=")).map((l) => Number(l.match(/isolate_us=(\d+)/)[1]));
  if (audit.length !== 51 || setup.length !== 51) throw new Error(`expected 51 audit and set-up lines, got ${audit.length}, ${setup.length}`);
  coldDecision.push((audit[0] - median(audit.slice(1))) / 1000);
  coldIsolate.push((setup[0] - median(setup.slice(1))) / 1000);
  await w.mf.dispose();
}

// The same on a fresh isolate for a request with no token at all (a 401: no key import, no verify),
// which tells the decision's share of the cold start from the first run of the way in and out.
const coldNoToken = [];
for (let i = 0; i < 3; i++) {
  const w = await startWorker({ JWKS: key.jwks }, { port: 0, kv: false, build: "build-bench" });
  const first = await timeOne(w.url + OTHER, null, 401);
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + OTHER, null, 401));
  coldNoToken.push((first - median(steady)) / 1000);
  await w.mf.dispose();
}

// Cold start by route kind, each on a fresh isolate over storage a previous instance filled (so the
// first request finds its chart): an HTTP chart read with a token, an OCI manifest pull, an upload.
// First request minus the median of the same kind of request on the same isolate.
const persist = (await import("node:fs")).mkdtempSync((await import("node:path")).join((await import("node:os")).tmpdir(), "chartgate-cold-"));
{
  const seed = await startWorker({ JWKS: key.jwks }, { port: 0, kv: false, build: "build-bench", shared: { defaultPersistRoot: persist } });
  const res = await fetch(`${seed.url}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${mint(0, ["pull", "push"])}` }, body: repo.tgz });
  if (res.status !== 201) throw new Error(`seed upload ${res.status}`);
  await seed.mf.dispose();
}
const uploads = Array.from({ length: 3 * 11 }, (_, i) => makeChartRepo("coldpush", `1.0.${i}`).tgz);
const coldRoutes = { http_read: [], oci_pull: [], upload: [] };
const manifestPath = `/v2/org1/repo1/${repo.file.replace(/-[^-]+\.tgz$/, "")}/manifests/${repo.file.match(/-([^-]+)\.tgz$/)[1]}`;
for (let i = 0; i < 3; i++) {
  for (const kind of Object.keys(coldRoutes)) {
    const w = await startWorker({ JWKS: key.jwks }, { port: 0, kv: false, build: "build-bench", shared: { defaultPersistRoot: persist } });
    const pull = mint();
    const push = mint(0, ["pull", "push"]);
    const once =
      kind === "http_read" ? () => timeOne(w.url + PATH, pull, 200)
      : kind === "oci_pull" ? () => timeOne(w.url + manifestPath, pull, 200)
      : async () => {
          const t0 = process.hrtime.bigint();
          const r = await fetch(`${w.url}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${push}` }, body: uploads.pop() });
          await r.arrayBuffer();
          if (r.status !== 201) throw new Error(`upload ${r.status}`);
          return Number(process.hrtime.bigint() - t0) / 1000;
        };
    const first = await once();
    const steady = [];
    for (let j = 0; j < (kind === "upload" ? 10 : 30); j++) steady.push(await once());
    coldRoutes[kind].push((first - median(steady)) / 1000);
    await w.mf.dispose();
  }
}

// The floor a Rust worker cannot beat: the `worker` crate alone (benches/floor-worker, same
// version and build settings), answering a 403; its cold start and start-up.
const coldRustFloor = [], startupRustFloor = [];
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  const w = await startWorker({}, { port: 0, kv: false, ledger: false, build: "build-floor" });
  startupRustFloor.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const first = await timeOne(w.url + OTHER, null, 403);
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + OTHER, null, 403));
  coldRustFloor.push((first - median(steady)) / 1000);
  await w.mf.dispose();
}

// The floor's cold start: the plain JavaScript worker's first answer (a 403) minus its steady one.
const coldFloor = [], startupFloor = [], startupFloorBound = [];
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  const w = await floorWorker();
  startupFloor.push(Number(process.hrtime.bigint() - t0) / 1e6);
  const first = await timeOne(w.url + OTHER, null, 403);
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + OTHER, null, 403));
  coldFloor.push((first - median(steady)) / 1000);
  await w.mf.dispose();
  // The same worker with chartgate's bindings: the start-up of the bundle, apart from miniflare's
  // local R2 and Durable Object services.
  const t1 = process.hrtime.bigint();
  const bound = await floorWorker(true);
  startupFloorBound.push(Number(process.hrtime.bigint() - t1) / 1e6);
  await bound.mf.dispose();
}

console.log(JSON.stringify({
  decisions: N,
  fresh_decision_us: steps.full,
  fresh_decision_range_us: range(stepRuns.full),
  repeat_decision_us: repeatSteps.full,
  repeat_decision_range_us: range(repeatRuns.full),
  steps_us: steps,
  repeat_steps_us: repeatSteps,
  token_size_us: sizes,
  jwks_keys_us: keyCount,
  throughput_rps: throughput,
  workload,
  cold_start_ms: median(cold),
  cold_start_decision_ms: median(coldDecision),
  cold_start_isolate_ms: median(coldIsolate),
  cold_start_no_token_ms: median(coldNoToken),
  startup_ms: median(startup),
  cold_start_routes_ms: Object.fromEntries(Object.entries(coldRoutes).map(([k, v]) => [k, median(v)])),
  rust_floor: { cold_start_ms: median(coldRustFloor), startup_ms: median(startupRustFloor) },
  floor: { webcrypto_verify_us: median(floorRuns), webcrypto_verify_range_us: range(floorRuns), cold_start_ms: median(coldFloor), startup_ms: median(startupFloor), startup_bound_ms: median(startupFloorBound) },
}));
