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
//    request once warm.
// Prints one JSON object. Bounded: fixed counts and durations, loopback only.
import { createSign, randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { keygen, makeChartRepo, startWorker } from "../tests/edge/harness.mjs";

const N = Number(process.env.BENCH_DECISIONS ?? 2000);
const key = keygen();
const repo = makeChartRepo();
const PATH = `/org1/repo1/charts/${repo.file}`;
const privatePem = readFileSync(key.private, "utf8");
const b64 = (s) => Buffer.from(s).toString("base64url");

function mint(padding = 0) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid }));
  const claims = { exp: now + 3600, iat: now, jti: randomUUID(), sub: "b".repeat(padding), access: [{ type: "artifact-repository", name: "org1/repo1", actions: ["pull"] }] };
  const input = `${header}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createSign("RSA-SHA256").update(input).sign(privatePem).toString("base64url")}`;
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
  const bucket = await w.mf.getR2Bucket("CHARTS");
  await bucket.put(`org1/repo1/${repo.file}`, new Uint8Array(repo.tgz).buffer);
  return w;
}

/** Microseconds per decision (or per `step` of it) inside the isolate. */
async function decisions(w, tokens, step = "full") {
  const res = await fetch(`${w.url}/_chartgate/bench?step=${step}`, { method: "POST", body: tokens.join("\n") });
  const out = await res.json();
  if (out.allowed !== tokens.length) throw new Error(`only ${out.allowed} of ${tokens.length} allowed`);
  return (out.elapsed_ms * 1000) / tokens.length;
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

const gated = await worker({ JWKS: key.jwks });
const baseline = await worker({ JWKS: key.jwks, MODE: "report-only" });
const repeatToken = mint();
await decisions(gated, [repeatToken]); // imports the key, fills the token cache
// Warm-up: V8 first runs wasm on its baseline tier and tiers up while hot; measure after that.
for (let i = 0; i < 3; i++) await decisions(gated, Array.from({ length: N / 2 }, () => mint()));
await decisions(gated, Array(N * 2).fill(repeatToken));
const fresh = [], repeat = [];
for (let round = 0; round < 5; round++) {
  fresh.push(await decisions(gated, Array.from({ length: N / 5 }, () => mint())));
  repeat.push(await decisions(gated, Array(N * 2).fill(repeatToken))); // many: the isolate's clock ticks in ms
}
// Where a fresh decision's time goes: each step alone, on fresh tokens.
const steps = {};
for (const step of ["prepare", "hash", "parse", "signature", "claims", "full"]) {
  const runs = [];
  for (let r = 0; r < 3; r++) runs.push(await decisions(gated, Array.from({ length: N / 2 }, () => mint()), step));
  steps[step] = median(runs);
}
const sizes = {};
for (const kib of [1, 2, 4, 8]) sizes[kib] = await decisions(gated, Array.from({ length: 100 }, () => mintSized(kib * 1024)));

for (let i = 0; i < 50; i++) {
  await timeOne(gated.url + PATH, repeatToken);
  await timeOne(baseline.url + PATH);
}
const throughput = { gated: await wrk(gated.url + PATH, repeatToken), baseline: await wrk(baseline.url + PATH) };
await gated.mf.dispose();
await baseline.mf.dispose();

// Cold start: a decision that touches no storage (a valid token on a repository it does not grant:
// 403 after the signature check), first on a fresh isolate, then steady with the same token.
const cold = [];
const OTHER = "/org2/other/index.yaml";
for (let i = 0; i < 3; i++) {
  const w = await worker({ JWKS: key.jwks }, "build");
  const token = mint();
  const first = await timeOne(w.url + OTHER, token, 403);
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + OTHER, token, 403));
  cold.push((first - median(steady)) / 1000);
  await w.mf.dispose();
}

console.log(JSON.stringify({
  decisions: N,
  fresh_decision_us: median(fresh),
  repeat_decision_us: median(repeat),
  steps_us: steps,
  token_size_us: sizes,
  throughput_rps: throughput,
  cold_start_ms: median(cold),
}));
