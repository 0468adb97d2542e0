// The scheduled garbage collection (cron trigger) in workerd: a blob no manifest references goes
// (with its links), a layer shared with a remaining manifest stays, abandoned upload sessions go,
// each as of the scheduled time.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { disposeAfter, keygen, mint, sha256, startWorker } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, bucket;
const R = "org1/repo1/app";
const blobKey = (b) => `_oci/blobs/sha256/${createHash("sha256").update(b).digest("hex")}`;

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, GC_GRACE: "0" });
  started.push(w);
  bucket = await w.mf.getR2Bucket("CHARTS");
});

async function call(method, path, body, contentType) {
  const headers = { Authorization: `Bearer ${mint(key, "artifact-repository:org1/repo1:pull,push")}` };
  if (contentType) headers["Content-Type"] = contentType;
  return w.mf.dispatchFetch(`http://registry.test${path}`, { method, headers, body });
}

async function pushBlob(bytes) {
  const res = await call("POST", `/v2/${R}/blobs/uploads/?digest=${sha256(bytes)}`, bytes);
  assert.equal(res.status, 201);
}

function manifest(config, layers) {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: "application/octet-stream", digest: sha256(l), size: l.length })),
  });
}

test("the cron run removes unreferenced blobs and abandoned uploads, never a referenced blob", async () => {
  const config = Buffer.from("{}");
  const shared = Buffer.from("shared layer");
  const only = Buffer.from("layer of the deleted manifest");
  for (const b of [config, shared, only]) await pushBlob(b);
  const keep = manifest(config, [shared]);
  const drop = manifest(config, [shared, only]);
  assert.equal((await call("PUT", `/v2/${R}/manifests/keep`, keep, "application/vnd.oci.image.manifest.v1+json")).status, 201);
  assert.equal((await call("PUT", `/v2/${R}/manifests/drop`, drop, "application/vnd.oci.image.manifest.v1+json")).status, 201);
  assert.equal((await call("DELETE", `/v2/${R}/manifests/${sha256(drop)}`)).status, 202);
  await call("POST", `/v2/${R}/blobs/uploads/`); // a session, abandoned: the run below is 49 h later
  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron: "17 3 * * *", scheduledTime: Date.now() + 49 * 3600 * 1000 });
  const keys = (await bucket.list({ limit: 1000 })).objects.map((o) => o.key);
  assert.ok(keys.includes(blobKey(shared)), "a layer the kept manifest shares stays");
  assert.ok(keys.includes(blobKey(config)), "the config stays");
  assert.ok(!keys.includes(blobKey(only)), "the deleted manifest's own layer goes");
  assert.ok(!keys.some((k) => k.endsWith(createHash("sha256").update(only).digest("hex"))), "its link goes too");
  assert.ok(!keys.some((k) => k.startsWith("_oci/uploads/")), "the abandoned session goes");
  const pull = await call("GET", `/v2/${R}/blobs/${sha256(shared)}`);
  assert.equal(await pull.text(), "shared layer");
});

test("the garbage collector sees what the ledger references: a deleted chart's manifest and archive go", async () => {
  const { makeChartRepo } = await import("./harness.mjs");
  const kept = makeChartRepo("kept", "1.0.0");
  const gone = makeChartRepo("gone", "1.0.0");
  for (const c of [kept, gone]) {
    const res = await w.mf.dispatchFetch("http://registry.test/api/org1/repo1/charts", { method: "POST", headers: { Authorization: `Bearer ${mint(key, "artifact-repository:org1/repo1:pull,push")}` }, body: c.tgz });
    assert.equal(res.status, 201);
  }
  const del = await w.mf.dispatchFetch("http://registry.test/api/org1/repo1/charts/gone/1.0.0", { method: "DELETE", headers: { Authorization: `Bearer ${mint(key, "artifact-repository:org1/repo1:pull,push")}` } });
  assert.equal(del.status, 200);
  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron: "17 3 * * *", scheduledTime: Date.now() + 3600 * 1000 });
  const keys = (await bucket.list({ limit: 1000 })).objects.map((o) => o.key);
  assert.ok(keys.includes(blobKey(kept.tgz)), "a listed chart's archive stays");
  assert.ok(!keys.includes(blobKey(gone.tgz)), "a deleted chart's archive goes");
  assert.ok(!keys.some((k) => k.startsWith("_oci/repos/org1/repo1/gone/_manifests/")), "and its unlisted manifest");
  const served = await w.mf.dispatchFetch(`http://registry.test/org1/repo1/charts/${kept.file}`, { headers: { Authorization: `Bearer ${mint(key, "artifact-repository:org1/repo1:pull")}` } });
  assert.equal(served.status, 200);
});
