// Publishing through the edge (no chart server), in one run against baselines from the same
// worker: upload-to-visible latency (POST, then the first index.yaml that lists the chart) against
// one authorised GET round trip; an upload into repositories whose index already lists 1, 100 and
// 1,000 versions (the index is read, edited and written back on every upload) against the upload
// into an empty repository; concurrent uploads per second to one repository against sequential
// ones; and the CPU one upload spends on index.yaml inside the isolate (parse, add, write; no
// I/O) for 1, 100 and 1,000 versions, against the Workers CPU limits. Runs on the benchmark build
// (build-bench/, feature `bench`). Prints JSON.
import { createHash } from "node:crypto";
import { keygen, makeChartRepo, mint, startWorker } from "../tests/edge/harness.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

const key = keygen();
const w = await startWorker({ JWKS: key.jwks }, { build: "build-bench" });
const bucket = await w.mf.getR2Bucket("CHARTS");
// One token per repository used (a scope names one repository).
const tokens = new Map();
const auth = (repo) => {
  if (!tokens.has(repo)) tokens.set(repo, mint(key, `artifact-repository:${repo}:pull,push`, { ttl: "30m" }));
  return { Authorization: `Bearer ${tokens.get(repo)}` };
};

async function upload(repo, tgz) {
  const t = process.hrtime.bigint();
  const res = await w.mf.dispatchFetch(`http://edge.test/api/${repo}/charts`, { method: "POST", headers: auth(repo), body: tgz });
  if (res.status !== 201) throw new Error(`upload ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return ms(t);
}

async function get(repo, path) {
  const res = await w.mf.dispatchFetch(`http://edge.test/${repo}/${path}`, { headers: auth(repo) });
  return { status: res.status, text: await res.text() };
}

/** An index listing `n` versions of `bulk`, as the edge writes it (JSON). */
function indexOf(n) {
  const entries = Array.from({ length: n }, (_, i) => ({
    apiVersion: "v2",
    name: "bulk",
    version: `0.0.${i}`,
    description: "seeded",
    urls: [`charts/bulk-0.0.${i}.tgz`],
    created: "2026-01-01T00:00:00Z",
    digest: createHash("sha256").update(String(i)).digest("hex"),
  }));
  return { apiVersion: "v1", entries: { bulk: entries } };
}

/** The same index as `helm repo index` writes it (YAML): how a migrated repository starts. */
function yamlOf(index) {
  const lines = ["apiVersion: v1", "entries:", "  bulk:"];
  for (const e of index.entries.bulk) {
    lines.push(`  - apiVersion: ${e.apiVersion}`, `    created: "${e.created}"`, `    description: ${e.description}`);
    lines.push(`    digest: ${e.digest}`, `    name: ${e.name}`, "    urls:", `    - ${e.urls[0]}`, `    version: ${e.version}`);
  }
  lines.push('generated: "2026-01-01T00:00:00Z"');
  return lines.join("\n") + "\n";
}

async function seed(repo, n) {
  await bucket.put(`${repo}/index.yaml`, JSON.stringify(indexOf(n)));
}

/**
 * CPU per index regeneration inside the isolate, in ms (median of 5 loops timed by the isolate;
 * each loop long enough for its 1 ms clock: 20,000 version edits, at least 20 rounds).
 */
async function indexCpu(body, versions) {
  const rounds = Math.min(1000, Math.max(20, Math.round(20000 / versions)));
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const res = await w.mf.dispatchFetch(`http://edge.test/_chartgate/bench-index?rounds=${rounds}`, { method: "POST", body });
    if (res.status !== 200) throw new Error(`bench-index ${res.status} ${await res.text()}`);
    runs.push((await res.json()).elapsed_ms / rounds);
  }
  return median(runs);
}

try {
  const charts = Array.from({ length: ROUNDS * 6 + 20 }, (_, i) => makeChartRepo("pub", `1.0.${i}`));
  let next = 0;
  const chart = () => charts[next++];

  // One authorised GET round trip (the floor every request pays here).
  await upload("bench/floor", chart().tgz);
  const floor = [];
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint();
    await get("bench/floor", "index.yaml");
    floor.push(ms(t));
  }

  // Upload to visible.
  const visible = [];
  for (let i = 0; i < ROUNDS; i++) {
    const c = chart();
    const version = c.file.match(/pub-(.*)\.tgz/)[1];
    const t = process.hrtime.bigint();
    await upload("bench/visible", c.tgz);
    while (!(await get("bench/visible", "index.yaml")).text.includes(`"version": "${version}"`)) {}
    visible.push(ms(t));
  }

  // Uploads into indexes of growing size.
  const bySize = {};
  for (const n of [0, 1, 100, 1000]) {
    const runs = [];
    for (let i = 0; i < ROUNDS; i++) {
      const repo = `bench/size${n}-${i}`;
      if (n > 0) await seed(repo, n);
      runs.push(await upload(repo, chart().tgz));
    }
    bySize[n] = median(runs);
  }

  // Concurrent against sequential uploads to one repository.
  const sequential = Array.from({ length: 10 }, () => chart());
  let t = process.hrtime.bigint();
  for (const c of sequential) await upload("bench/seq", c.tgz);
  const sequentialPerS = sequential.length / (ms(t) / 1000);
  const concurrent = Array.from({ length: 10 }, () => chart());
  t = process.hrtime.bigint();
  await Promise.all(concurrent.map((c) => upload("bench/conc", c.tgz)));
  const concurrentPerS = concurrent.length / (ms(t) / 1000);
  const listed = JSON.parse((await get("bench/conc", "index.yaml")).text).entries.pub.length;

  // CPU inside the isolate for one index regeneration.
  await indexCpu(JSON.stringify(indexOf(100)), 100); // warm-up: V8 tiers the wasm up
  const cpu = {};
  for (const n of [1, 100, 1000]) cpu[n] = await indexCpu(JSON.stringify(indexOf(n)), n);
  cpu["1000_yaml"] = await indexCpu(yamlOf(indexOf(1000)), 1000);
  if (listed !== concurrent.length) throw new Error(`lost updates: ${listed} of ${concurrent.length} listed`);

  console.log(
    JSON.stringify(
      {
        rounds: ROUNDS,
        request_ms: median(floor),
        upload_to_visible_ms: median(visible),
        upload_ms_by_index_size: bySize,
        uploads_per_s: { concurrent: concurrentPerS, sequential: sequentialPerS },
        index_cpu_ms: cpu,
      },
      null,
      2,
    ),
  );
} finally {
  await w.mf.dispose();
}
