// Publishing through the edge (no chart server), in one run against baselines from the same
// worker: upload-to-visible latency (POST, then the first index.yaml that lists the chart) against
// one authorised GET round trip; an upload into repositories whose index already lists 1, 100 and
// 1,000 versions (the index is read, edited and written back on every upload) against the upload
// into an empty repository; concurrent uploads per second to one repository against sequential
// ones. Prints JSON.
import { createHash } from "node:crypto";
import { keygen, makeChartRepo, mint, startWorker } from "../tests/edge/harness.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

const key = keygen();
const w = await startWorker({ JWKS: key.jwks });
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

/** An index.yaml listing `n` versions of `bulk`, stored as the edge would write it. */
async function seed(repo, n) {
  const entries = Array.from({ length: n }, (_, i) => ({
    apiVersion: "v2",
    name: "bulk",
    version: `0.0.${i}`,
    description: "seeded",
    urls: [`charts/bulk-0.0.${i}.tgz`],
    created: "2026-01-01T00:00:00Z",
    digest: createHash("sha256").update(String(i)).digest("hex"),
  }));
  await bucket.put(`${repo}/index.yaml`, JSON.stringify({ apiVersion: "v1", entries: { bulk: entries } }));
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
  if (listed !== concurrent.length) throw new Error(`lost updates: ${listed} of ${concurrent.length} listed`);

  console.log(
    JSON.stringify(
      {
        rounds: ROUNDS,
        request_ms: median(floor),
        upload_to_visible_ms: median(visible),
        upload_ms_by_index_size: bySize,
        uploads_per_s: { concurrent: concurrentPerS, sequential: sequentialPerS },
      },
      null,
      2,
    ),
  );
} finally {
  await w.mf.dispose();
}
