// Edge load (scripts/load): 10,000 requests at fixed concurrency through the worker in workerd
// (benchmark build, for /_chartgate/stats), 1% of them with bad tokens. Counts wrong decisions
// and 5xx, samples the verified-token cache size against its bound and workerd's memory, and
// checks that no log line carries a token. Prints a JSON summary; exits 1 on any failure.
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { keygen, makeChartRepo, startWorker } from "../edge/harness.mjs";

const REQUESTS = Number(process.env.LOAD_REQUESTS ?? 10000);
const CONCURRENCY = Number(process.env.LOAD_CONCURRENCY ?? 16);
const DISTINCT = Number(process.env.LOAD_DISTINCT_TOKENS ?? 6000);

const key = keygen();
const stranger = keygen();
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
function jws(k, claims, header = {}) {
  const input = `${b64({ alg: "RS256", typ: "JWT", kid: key.kid, ...header })}.${b64(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), createPrivateKey(readFileSync(k.private))).toString("base64url")}`;
}
const now = Math.floor(Date.now() / 1000);
const claims = (name = "org1/repo1", exp = now + 900) => ({
  sub: "load", iat: now, exp, jti: randomUUID(), access: [{ type: "artifact-repository", name, actions: ["pull"] }],
});
const good = Array.from({ length: DISTINCT }, () => jws(key, claims()));
const [gh, gp] = good[0].split(".");
const bad = [
  ["expired", jws(key, claims("org1/repo1", now - 3600)), 401],
  ["other repository", jws(key, claims("org2/secret")), 403],
  ["forged signature", jws(stranger, claims()), 401],
  ["alg none", `${b64({ alg: "none" })}.${gp}.`, 401],
  ["swapped payload", `${gh}.${b64(claims("org2/secret"))}.${good[1].split(".")[2]}`, 401],
  ["garbage", "not.a.token", 401],
];

const repo = makeChartRepo();
const worker = await startWorker({ JWKS: key.jwks }, { port: 0, build: "build-bench" });
const bucket = await worker.mf.getR2Bucket("CHARTS");
await bucket.put("org1/repo1/index.yaml", repo.index);
await bucket.put(`org1/repo1/${repo.file}`, new Uint8Array(repo.tgz).buffer);
const { hostname, port } = new URL(worker.url);
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(path, token) {
  return new Promise((resolve, reject) => {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const req = request({ hostname, port, path, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

function workerdRssMiB() {
  try {
    const out = execFileSync("ps", ["-C", "workerd", "-o", "rss="], { encoding: "utf8" });
    return Math.round(out.split("\n").filter(Boolean).reduce((a, b) => a + Number(b), 0) / 1024);
  } catch {
    return null;
  }
}

const plan = Array.from({ length: REQUESTS }, (_, i) => {
  const path = i % 2 ? "/org1/repo1/index.yaml" : `/org1/repo1/charts/${repo.file}`;
  if (i % 100 === 37) {
    const [kind, token, status] = bad[(i / 100) % bad.length | 0];
    return { path, token, kind, want: status };
  }
  return { path, token: good[i % DISTINCT], kind: "good", want: 200 };
});

const stats = async () => JSON.parse((await get("/_chartgate/stats")).body);
// workerd's resident memory and the worker's own (wasm linear memory), every 2,500 requests.
const rss = [workerdRssMiB()];
const wasm = [Math.round((await stats()).wasm_memory_bytes / 1048576)];
const bodies = [];
let next = 0, wrong = [], fivexx = 0, cacheMax = 0, capacity = 0, done = 0;
const started = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next < plan.length) {
    const p = plan[next++];
    const res = await get(p.path, p.token);
    if (res.status >= 500) fivexx++;
    if (res.status !== p.want) wrong.push(`${p.kind} ${p.path}: ${res.status} (want ${p.want})`);
    if (res.status !== 200) bodies.push(res.body);
    const n = ++done;
    if (n % 2500 === 0) {
      rss.push(workerdRssMiB());
      wasm.push(Math.round((await stats()).wasm_memory_bytes / 1048576));
    }
    if (n % 500 === 0) {
      const s = await stats();
      cacheMax = Math.max(cacheMax, s.token_cache_len);
      capacity = s.token_cache_capacity;
    }
  }
}));
const seconds = (performance.now() - started) / 1000;
const final = await stats();
cacheMax = Math.max(cacheMax, final.token_cache_len);
await new Promise((r) => setTimeout(r, 300));

// Secrets hygiene: no base64url run from any log line or error body is part of a token.
const secrets = new Set([...good, ...bad.map((b) => b[1])].flatMap((t) => t.split(".").filter((s) => s.length >= 40)));
const text = [...worker.logs, ...bodies].join("\n");
const leaks = (text.match(/[A-Za-z0-9_-]{40,}/g) ?? []).filter((run) => [...secrets].some((s) => s.includes(run) || run.includes(s)));
const logged = worker.logs.filter((l) => l.includes('"decision"')).length;

await worker.mf.dispose();
agent.destroy();
const summary = {
  requests: REQUESTS, concurrency: CONCURRENCY, bad_tokens: plan.filter((p) => p.kind !== "good").length,
  distinct_good_tokens: DISTINCT, wrong_decisions: wrong.length, status_5xx: fivexx,
  token_cache_max: cacheMax, token_cache_capacity: capacity, workerd_rss_mib: rss, wasm_memory_mib: wasm,
  seconds: Number(seconds.toFixed(1)), requests_per_second: Math.round(REQUESTS / seconds),
  audit_lines: logged, token_leaks: leaks.length,
};
console.log(JSON.stringify(summary));
if (wrong.length) console.error(wrong.slice(0, 10).join("\n"));
const ok = !wrong.length && !fivexx && cacheMax <= capacity && capacity > 0 && !leaks.length && logged >= REQUESTS;
process.exit(ok ? 0 : 1);
