// Edge benchmarks in workerd (miniflare 4), measured from outside over loopback because clocks
// inside workerd are coarse. Every figure is paired with a baseline from the same run:
//   baseline  — the same cached .tgz through the same worker build in report-only mode with no
//               token (the decision does no token work: path, route, serve)
//   repeat    — one token for every request (verified-token cache hit)
//   fresh     — a new token for every request (full RS256 verify through WebCrypto)
// Prints one JSON object. Bounded: fixed request counts, loopback only.
import { createSign, randomUUID } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { keygen, makeChartRepo, startWorker } from "../tests/edge/harness.mjs";

const N = Number(process.env.BENCH_REQUESTS ?? 1500);
const ROUNDS = 5;
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

async function worker(bindings) {
  // No REVOCATIONS binding: the revocation list is optional, and its KV reads are Cloudflare's cost.
  const w = await startWorker(bindings, { port: 0, kv: false });
  const bucket = await w.mf.getR2Bucket("CHARTS");
  await bucket.put(`org1/repo1/${repo.file}`, new Uint8Array(repo.tgz).buffer);
  return w;
}

async function timeOne(url, token, retry = true) {
  const t0 = process.hrtime.bigint();
  let res;
  try {
    res = await fetch(url, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  } catch (e) {
    // A keep-alive socket closed by the server as it was reused: time a new attempt instead.
    if (retry && e.cause?.code === "UND_ERR_SOCKET") return timeOne(url, token, false);
    throw e;
  }
  await res.arrayBuffer();
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  if (res.status !== 200) throw new Error(`status ${res.status}`);
  return us;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function wrk(url, token, connections = 32, seconds = 6) {
  const args = ["-t2", `-c${connections}`, `-d${seconds}s`, url];
  if (token) args.unshift("-H", `Authorization: Bearer ${token}`);
  const out = execFileSync("wrk", args, { encoding: "utf8" });
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return Number(out.match(/Requests\/sec:\s+([\d.]+)/)[1]);
}

const gated = await worker({ JWKS: key.jwks });
const baseline = await worker({ JWKS: key.jwks, MODE: "report-only" });
const repeatToken = mint();
// Warm both (fills the edge cache with the .tgz, instantiates, imports the key).
for (let i = 0; i < 50; i++) {
  await timeOne(gated.url + PATH, repeatToken);
  await timeOne(baseline.url + PATH);
}
const fresh = Array.from({ length: N }, () => mint());
const samples = { baseline: [], repeat: [], fresh: [] };
const per = Math.floor(N / ROUNDS);
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < per; i++) samples.baseline.push(await timeOne(baseline.url + PATH));
  for (let i = 0; i < per; i++) samples.repeat.push(await timeOne(gated.url + PATH, repeatToken));
  for (let i = 0; i < per; i++) samples.fresh.push(await timeOne(gated.url + PATH, fresh[r * per + i]));
}
const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));

// Decision cost vs token size (fresh tokens of about 1, 2, 4, 8 KiB).
const sizes = {};
for (const kib of [1, 2, 4, 8]) {
  const tokens = Array.from({ length: 300 }, () => mintSized(kib * 1024));
  const lat = [];
  for (const t of tokens) lat.push(await timeOne(gated.url + PATH, t));
  sizes[kib] = Math.round(median(lat) - med.baseline);
}

const throughput = { gated: wrk(gated.url + PATH, repeatToken), baseline: wrk(baseline.url + PATH) };

// Cold start: a fresh workerd, first request with a fresh token, vs that instance's steady state.
const cold = [];
for (let i = 0; i < 3; i++) {
  const w = await worker({ JWKS: key.jwks });
  const first = await timeOne(w.url + PATH, mint());
  const steady = [];
  for (let j = 0; j < 50; j++) steady.push(await timeOne(w.url + PATH, repeatToken));
  cold.push((first - median(steady)) / 1000);
  await w.mf.dispose();
}

await gated.mf.dispose();
await baseline.mf.dispose();
console.log(JSON.stringify({
  requests: N,
  median_us: med,
  fresh_decision_us: Math.round(med.fresh - med.baseline),
  repeat_decision_us: Math.round(med.repeat - med.baseline),
  token_size_us: sizes,
  throughput_rps: throughput,
  cold_start_ms: median(cold),
}));
