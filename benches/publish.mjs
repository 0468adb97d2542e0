// Publishing through the edge (no chart server), in one run, the repository ledger against the
// code before it (8771687, built into build-before/ by scripts/bench) in the same workerd:
// upload-to-visible (POST, then the first index.yaml that lists the chart), helm push (real helm 4,
// logged in at a real issuer), a cached HTTP archive download, 10 concurrent uploads to one
// repository against 10 sequential ones; and the CPU of rendering index.yaml from a ledger of 1,
// 100, 1,000 and 10,000 versions inside the isolate (benchmark build, build-bench/), against the
// Workers CPU limits. Rounds alternate between the two builds. Prints JSON.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { HELM, helmEnv, keygen, makeChartRepo, mint, startIssuer, startWorker, ROOT } from "../tests/edge/harness.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

const key = keygen();
const issuer = await startIssuer(key, { ci: ["artifact-repository:bench/*:pull,push"] });
const bindings = { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" };
const before = existsSync(join(ROOT, "build-before/index.js"));
const builds = { now: await startWorker(bindings, { port: 0 }) };
if (before) builds.before = await startWorker(bindings, { port: 0, build: "build-before", ledger: false });
const cpuWorker = await startWorker({ JWKS: key.jwks }, { build: "build-bench" });

const tokens = new Map();
const auth = (repo) => {
  if (!tokens.has(repo)) tokens.set(repo, mint(key, `artifact-repository:${repo}:pull,push`, { ttl: "30m", extra: ["--iss", "https://issuer.test"] }));
  return { Authorization: `Bearer ${tokens.get(repo)}` };
};

async function upload(w, repo, tgz) {
  const t = process.hrtime.bigint();
  const res = await w.mf.dispatchFetch(`http://edge.test/api/${repo}/charts`, { method: "POST", headers: auth(repo), body: tgz });
  if (res.status !== 201) throw new Error(`upload ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return ms(t);
}

async function get(w, repo, path) {
  const res = await w.mf.dispatchFetch(`http://edge.test/${repo}/${path}`, { headers: auth(repo) });
  return { status: res.status, text: await res.text(), cache: res.headers.get("x-chartgate-cache") };
}

/** CPU per index rendering inside the isolate, in ms (median of 5 loops timed by the isolate). */
async function indexCpu(versions) {
  const rounds = Math.min(1000, Math.max(5, Math.round(100000 / versions)));
  const runs = [];
  const loads = [];
  for (let i = 0; i < 5; i++) {
    const res = await cpuWorker.mf.dispatchFetch(`http://edge.test/_chartgate/bench-index?versions=${versions}&rounds=${rounds}`, { method: "POST" });
    if (res.status !== 200) throw new Error(`bench-index ${res.status} ${await res.text()}`);
    const out = await res.json();
    runs.push(out.elapsed_ms / rounds);
    loads.push(out.load_ms);
  }
  return { render: median(runs), load: median(loads) };
}

let n = 0;
const chart = () => makeChartRepo("pub", `1.0.${n++}`);
const names = Object.keys(builds);
const out = { rounds: ROUNDS, builds: names };
try {
  // Upload to visible.
  const visible = Object.fromEntries(names.map((b) => [b, []]));
  for (let i = 0; i < ROUNDS; i++) {
    for (const b of names) {
      const c = chart();
      const version = c.file.match(/pub-(.*)\.tgz/)[1];
      const t = process.hrtime.bigint();
      await upload(builds[b], "bench/visible", c.tgz);
      while (!(await get(builds[b], "bench/visible", "index.yaml")).text.includes(`"${version}"`)) {}
      visible[b].push(ms(t));
    }
  }
  out.upload_to_visible_ms = Object.fromEntries(names.map((b) => [b, median(visible[b])]));

  // helm push, logged in at the issuer.
  const push = Object.fromEntries(names.map((b) => [b, []]));
  const envs = {};
  for (const b of names) {
    envs[b] = helmEnv();
    const host = builds[b].url.replace(/^http:\/\//, "");
    execFileSync(HELM, ["registry", "login", host, "--plain-http", "-u", "ci", "--password-stdin"], { env: envs[b], input: "ci-secret", stdio: ["pipe", "pipe", "pipe"] });
  }
  for (let i = 0; i < ROUNDS; i++) {
    const c = makeChartRepo("pushed", `2.0.${i}`);
    for (const b of names) {
      const host = builds[b].url.replace(/^http:\/\//, "");
      const t = process.hrtime.bigint();
      execFileSync(HELM, ["push", join(c.dir, c.file), `oci://${host}/bench/charts`, "--plain-http"], { env: envs[b], stdio: ["pipe", "pipe", "pipe"] });
      push[b].push(ms(t));
    }
  }
  out.helm_push_ms = Object.fromEntries(names.map((b) => [b, median(push[b])]));

  // A cached HTTP archive download.
  const download = Object.fromEntries(names.map((b) => [b, []]));
  const archive = chart();
  for (const b of names) {
    await upload(builds[b], "bench/download", archive.tgz);
    await get(builds[b], "bench/download", `charts/${archive.file}`);
  }
  for (let i = 0; i < ROUNDS * 5; i++) {
    for (const b of names) {
      const t = process.hrtime.bigint();
      const r = await get(builds[b], "bench/download", `charts/${archive.file}`);
      if (r.status !== 200 || r.cache !== "HIT") throw new Error(`download ${b}: ${r.status} ${r.cache}`);
      download[b].push(ms(t));
    }
  }
  out.cached_download_ms = Object.fromEntries(names.map((b) => [b, median(download[b])]));

  // Concurrent against sequential uploads to one repository.
  out.uploads_per_s = {};
  for (const b of names) {
    const sequential = Array.from({ length: 10 }, chart);
    let t = process.hrtime.bigint();
    for (const c of sequential) await upload(builds[b], `bench/seq-${b}`, c.tgz);
    const sequentialPerS = 10 / (ms(t) / 1000);
    const concurrent = Array.from({ length: 10 }, chart);
    t = process.hrtime.bigint();
    await Promise.all(concurrent.map((c) => upload(builds[b], `bench/conc-${b}`, c.tgz)));
    const concurrentPerS = 10 / (ms(t) / 1000);
    const listed = JSON.parse((await get(builds[b], `bench/conc-${b}`, "index.yaml")).text).entries.pub.length;
    if (listed !== 10) throw new Error(`${b}: lost updates: ${listed} of 10 listed`);
    out.uploads_per_s[b] = { concurrent: concurrentPerS, sequential: sequentialPerS };
  }

  // CPU of rendering index.yaml from the ledger, inside the isolate.
  await indexCpu(1000); // warm-up: V8 tiers the wasm up
  out.index_render_cpu_ms = {};
  out.ledger_load_ms = {};
  for (const v of [1, 100, 1000, 10000]) {
    const { render, load } = await indexCpu(v);
    out.index_render_cpu_ms[v] = render;
    out.ledger_load_ms[v] = load;
  }
  console.log(JSON.stringify(out, null, 2));
} finally {
  for (const w of [...Object.values(builds), cpuWorker]) await w.mf.dispose();
  await issuer.close();
}
