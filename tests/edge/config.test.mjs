// The edge worker's configuration paths in workerd: JWKS URL with rotation and fail-closed
// outage, report-only mode, and a broken configuration.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { auditLines, keygen, localServer, makeChartRepo, mint, startWorker } from "./harness.mjs";

const PULL = "artifact-repository:org1/repo1:pull";
const started = [];
after(async () => {
  for (const s of started) await (s.mf ? s.mf.dispose() : s.close());
});

async function worker(bindings) {
  const w = await startWorker(bindings);
  started.push(w);
  const bucket = await w.mf.getR2Bucket("CHARTS");
  await bucket.put("org1/repo1/index.yaml", "apiVersion: v1\nentries: {}\n");
  w.get = (path, token) =>
    w.mf.dispatchFetch(`http://charts.test${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return w;
}

function jwksOf(...keys) {
  return JSON.stringify({ keys: keys.flatMap((k) => JSON.parse(k.jwks).keys) });
}

test("JWKS URL: keys are fetched, cached, and an unknown kid refetches once (rotation)", async () => {
  const k1 = keygen();
  const k2 = keygen();
  let body = jwksOf(k1);
  const jwks = await localServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(body);
  });
  started.push(jwks);
  const w = await worker({ JWKS_URL: `${jwks.url}/jwks.json`, JWKS_REFETCH_INTERVAL: "0" });
  assert.equal((await w.get("/org1/repo1/index.yaml", mint(k1, PULL))).status, 200);
  assert.equal((await w.get("/org1/repo1/index.yaml", mint(k1, PULL))).status, 200);
  assert.equal(jwks.hits.get("/jwks.json"), 1, "the JWKS is cached within its TTL");
  body = jwksOf(k1, k2); // the issuer rotates: k2 signs from now on, k1 still published
  assert.equal((await w.get("/org1/repo1/index.yaml", mint(k2, PULL))).status, 200);
  assert.equal(jwks.hits.get("/jwks.json"), 2, "an unknown kid triggers one refetch");
  body = jwksOf(k2); // k1 retired
  const k3 = keygen();
  const res = await w.get("/org1/repo1/index.yaml", mint(k3, PULL));
  assert.equal((await res.json()).reason, "unknown_kid");
  assert.equal((await w.get("/org1/repo1/index.yaml", mint(k1, PULL))).status, 401, "retired key refused");
});

test("JWKS URL down: stale keys within max-stale, then fail closed with 503", async () => {
  const key = keygen();
  let up = true;
  const jwks = await localServer((req, res) => {
    if (!up) {
      res.writeHead(500);
      return res.end("down");
    }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(key.jwks);
  });
  started.push(jwks);
  const token = mint(key, PULL);
  const tolerant = await worker({ JWKS_URL: `${jwks.url}/a`, JWKS_TTL: "0", JWKS_MAX_STALE: "3600", JWKS_REFETCH_INTERVAL: "0" });
  assert.equal((await tolerant.get("/org1/repo1/index.yaml", token)).status, 200);
  up = false;
  assert.equal((await tolerant.get("/org1/repo1/index.yaml", token)).status, 200, "stale keys still serve");

  up = true;
  const strict = await worker({ JWKS_URL: `${jwks.url}/b`, JWKS_TTL: "0", JWKS_MAX_STALE: "0", JWKS_REFETCH_INTERVAL: "0" });
  assert.equal((await strict.get("/org1/repo1/index.yaml", token)).status, 200);
  up = false;
  const res = await strict.get("/org1/repo1/index.yaml", token);
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error, "keys_unavailable");
  assert.equal(res.headers.get("x-chartgate-cache"), null, "nothing was served");
  // Garbage from the endpoint is an outage too.
  up = true;
  const garbage = await localServer((req, res) => res.end("{not json"));
  started.push(garbage);
  const g = await worker({ JWKS_URL: `${garbage.url}/c` });
  assert.equal((await g.get("/org1/repo1/index.yaml", token)).status, 503);
});

test("report-only mode serves and logs the would-be denial", async () => {
  const key = keygen();
  const w = await worker({ JWKS: key.jwks, MODE: "report-only" });
  const res = await w.get("/org1/repo1/index.yaml");
  assert.equal(res.status, 200);
  const wrongRepo = await w.get("/org1/repo1/index.yaml", mint(key, "artifact-repository:org2/x:pull"));
  assert.equal(wrongRepo.status, 200);
  const hostile = await w.get("/org1/repo1%2f/index.yaml", mint(key, PULL));
  assert.equal(hostile.status, 400, "request errors are still refused");
  await new Promise((r) => setTimeout(r, 200));
  const lines = auditLines(w.logs);
  assert.deepEqual(lines.slice(0, 2).map((l) => [l.decision, l.reason, l.status]), [
    ["report-only-deny", "missing_credential", 200],
    ["report-only-deny", "insufficient_scope", 200],
  ]);
});

test("a broken configuration answers 500 with a clear log line, never an open door", async () => {
  for (const [bindings, variable] of [
    [{}, "JWKS"],
    [{ JWKS: "not a key" }, "JWKS"],
    [{ JWKS: keygen().jwks, DEPTH: "7" }, "DEPTH"],
    [{ JWKS: keygen().jwks, MODE: "off" }, "MODE"],
  ]) {
    const w = await worker(bindings);
    const res = await w.get("/org1/repo1/index.yaml");
    assert.equal(res.status, 500);
    assert.equal((await res.json()).error, "server_error");
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(w.logs.some((l) => l.includes(`configuration variable ${variable}`)), w.logs.join("\n"));
  }
});

test("R2 write-through stores origin responses; without an origin, the edge answers uploads itself", async () => {
  const key = keygen();
  const origin = await localServer((req, res) => {
    res.writeHead(200, { "Content-Type": "application/gzip" });
    res.end("chart-bytes");
  });
  started.push(origin);
  const w = await worker({ JWKS: key.jwks, ORIGIN_URL: origin.url, R2_WRITE_THROUGH: "true" });
  const token = mint(key, "artifact-repository:org5/r:pull");
  const res = await w.get("/org5/r/charts/x-1.0.0.tgz", token);
  assert.equal(res.headers.get("x-chartgate-cache"), "ORIGIN");
  assert.equal(await res.text(), "chart-bytes");
  const stored = await (await w.mf.getR2Bucket("CHARTS")).get("org5/r/x-1.0.0.tgz");
  assert.equal(await stored.text(), "chart-bytes");

  const noOrigin = await worker({ JWKS: key.jwks });
  const push = mint(key, "artifact-repository:org1/repo1:push");
  const up = await noOrigin.mf.dispatchFetch("http://charts.test/api/org1/repo1/charts", {
    method: "POST",
    headers: { Authorization: `Bearer ${push}` },
    body: "x",
  });
  assert.equal(up.status, 400, "the edge reads the upload (here not a chart) instead of needing an origin");
  assert.match((await up.json()).error, /archive_invalid: not gzip/);
  const missing = await noOrigin.get("/org1/repo1/charts/none-1.0.0.tgz", mint(key, PULL));
  assert.equal(missing.status, 404);
});
