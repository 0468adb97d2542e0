// Security round 4 (issue 32) in workerd: one chart's grant cannot spend its repository's budget
// (G2), no request body is read whole before its bound (G3), a chart helm packages with a name
// that is no OCI name is served over HTTP (case 7), `latest` skips pre-releases (case 9), and
// plain HTTP semantics on every route (case 10). Each test is named after the item it pins.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { disposeAfter, helm, keygen, makeChartRepo, mint, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w;

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, REALM: "/token" }, { port: 0 });
  started.push(w);
});

const bearer = (scope) => ({ Authorization: `Bearer ${mint(key, scope)}` });
const PUSH = "artifact-repository:org1/repo1:pull,push";

/** A chunked body (no Content-Length) of `total` bytes in 64 KiB pieces, counting what was pulled. */
function chunked(total) {
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  const state = { pulled: 0, cancelled: false };
  state.stream = new ReadableStream({
    pull(controller) {
      if (state.pulled >= total) return controller.close();
      state.pulled += piece.length;
      controller.enqueue(piece);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return state;
}

async function health() {
  const res = await fetch(`${w.url}/health`);
  assert.equal(res.status, 200, "the worker stays up and answers the next request");
}

test("G3: an anonymous chunked POST /token larger than the form limit is 413 and is not read whole", async () => {
  const body = chunked(200 * 1024 * 1024);
  const res = await fetch(`${w.url}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: body.stream,
    duplex: "half",
  });
  assert.equal(res.status, 413, await res.text());
  assert.ok(body.pulled < 32 * 1024 * 1024, `the producer was pulled ${body.pulled} bytes of 200 MiB`);
  await health();
});

test("G3: a chunked manifest PUT larger than its limit is 413 before it is read whole", async () => {
  const body = chunked(64 * 1024 * 1024);
  const res = await fetch(`${w.url}/v2/org1/repo1/app/manifests/big`, {
    method: "PUT",
    headers: { ...bearer(PUSH), "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body: body.stream,
    duplex: "half",
  });
  assert.equal(res.status, 413, await res.text());
  assert.ok(body.pulled < 32 * 1024 * 1024, `the producer was pulled ${body.pulled} bytes of 64 MiB`);
  await health();
});

test("G3: a chunked blob upload without Content-Length is bounded too", async () => {
  const body = chunked(64 * 1024 * 1024);
  const digest = "sha256:" + "0".repeat(64);
  const res = await fetch(`${w.url}/v2/org1/repo1/app/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    headers: bearer(PUSH),
    body: body.stream,
    duplex: "half",
  });
  assert.equal(res.status, 413, await res.text());
  assert.ok(body.pulled < 32 * 1024 * 1024, `the producer was pulled ${body.pulled} bytes of 64 MiB`);
  await health();
});

test("G2: a manifest push names at most 32 ?tag=, and the refusal names the repository and the bound", async () => {
  const tags = Array.from({ length: 1000 }, (_, i) => `tag=t${i}`).join("&");
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.empty.v1+json", digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 }, layers: [] });
  const res = await fetch(`${w.url}/v2/org1/repo1/app/manifests/sha256:${"1".repeat(64)}?${tags}`, {
    method: "PUT",
    headers: { ...bearer("repository:org1/repo1/app:pull,push"), "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body: manifest,
  });
  assert.equal(res.status, 413);
  const text = await res.text();
  assert.match(text, /org1\/repo1\/app/);
  assert.match(text, /32/);
});

test("case 7: a chart named Workspace (helm-valid, no OCI name) uploads through the API and helm pulls it over HTTP", async () => {
  const chart = makeChartRepo("Workspace", "0.1.0");
  const res = await fetch(`${w.url}/api/org1/repo7/charts`, {
    method: "POST",
    headers: { ...bearer("artifact-repository:org1/repo7:pull,push"), "Content-Type": "application/octet-stream" },
    body: chart.tgz,
  });
  assert.equal(res.status, 201, await res.text());
  assert.ok(!w.logs.some((l) => l.includes("has no OCI name")), "no server error in the log");
  const token = mint(key, "artifact-repository:org1/repo7:pull");
  const index = await (await fetch(`${w.url}/org1/repo7/index.yaml?token=${token}`)).text();
  assert.match(index, /Workspace/);
  const out = tmp("pull");
  helm(["pull", "Workspace", "--version", "0.1.0", "--repo", `${w.url}/org1/repo7?token=${token}`, "-d", out]);
  assert.deepEqual(readdirSync(out), ["Workspace-0.1.0.tgz"]);
  assert.deepEqual(readFileSync(join(out, "Workspace-0.1.0.tgz")), chart.tgz, "the same archive");
  const api = await (await fetch(`${w.url}/api/org1/repo7/charts/Workspace/latest`, { headers: bearer("artifact-repository:org1/repo7:pull") })).json();
  assert.equal(api.version, "0.1.0");
});

test("case 9: GET /api/<repo>/charts/<name>/latest skips pre-releases, as ChartMuseum and helm do", async () => {
  const headers = { ...bearer("artifact-repository:org1/repo9:pull,push"), "Content-Type": "application/octet-stream" };
  for (const version of ["1.0.0", "1.1.0", "2.0.0-rc.1"]) {
    const chart = makeChartRepo("app", version);
    const res = await fetch(`${w.url}/api/org1/repo9/charts`, { method: "POST", headers, body: chart.tgz });
    assert.equal(res.status, 201, await res.text());
  }
  const get = async (v) => (await fetch(`${w.url}/api/org1/repo9/charts/app/${encodeURIComponent(v)}`, { headers })).json();
  assert.equal((await get("latest")).version, "1.1.0");
  assert.equal((await get("2.0.0-rc.1")).version, "2.0.0-rc.1");
  assert.equal((await get("~1.0")).version, "1.0.0", "a range resolves by helm's rules");
});

test("case 10: HEAD, Range and If-None-Match hold on every HTTP route (index.yaml, .tgz, .prov-less archive, API reads, health)", async () => {
  const headers = { ...bearer("artifact-repository:org1/repo10:pull,push"), "Content-Type": "application/octet-stream" };
  const chart = makeChartRepo("web", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/org1/repo10/charts`, { method: "POST", headers, body: chart.tgz })).status, 201);
  const auth = bearer("artifact-repository:org1/repo10:pull");
  for (const path of ["/org1/repo10/index.yaml", "/org1/repo10/charts/web-1.0.0.tgz", "/api/org1/repo10/charts", "/api/org1/repo10/charts/web", "/api/org1/repo10/charts/web/latest", "/health"]) {
    const get = await fetch(`${w.url}${path}`, { headers: auth });
    assert.equal(get.status, 200, path);
    const body = Buffer.from(await get.arrayBuffer());
    const etag = get.headers.get("etag");
    assert.ok(etag, `${path} has an ETag`);
    assert.equal(get.headers.get("accept-ranges"), "bytes", path);
    const head = await fetch(`${w.url}${path}`, { method: "HEAD", headers: auth });
    assert.equal(head.status, 200, path);
    assert.equal((await head.arrayBuffer()).byteLength, 0, `HEAD ${path} has no body`);
    assert.equal(head.headers.get("etag"), etag, `HEAD ${path}: the same ETag`);
    assert.equal(head.headers.get("content-type"), get.headers.get("content-type"), `HEAD ${path}: the same type`);
    const range = await fetch(`${w.url}${path}`, { headers: { ...auth, Range: "bytes=0-1" } });
    assert.equal(range.status, 206, `Range on ${path}`);
    assert.equal(range.headers.get("content-range"), `bytes 0-1/${body.length}`, path);
    assert.deepEqual(Buffer.from(await range.arrayBuffer()), body.subarray(0, 2), path);
    const past = await fetch(`${w.url}${path}`, { headers: { ...auth, Range: `bytes=${body.length + 10}-` } });
    assert.equal(past.status, 416, path);
    const again = await fetch(`${w.url}${path}`, { headers: { ...auth, "If-None-Match": etag } });
    assert.equal(again.status, 304, `If-None-Match on ${path}`);
    const changed = await fetch(`${w.url}${path}`, { headers: { ...auth, "If-Match": '"something-else"' } });
    assert.equal(changed.status, 412, `If-Match on ${path}`);
  }
  const denied = await fetch(`${w.url}/org1/repo10/index.yaml`, { headers: { Range: "bytes=0-1", "If-None-Match": "*" } });
  assert.equal(denied.status, 401, "a denied request is refused whatever its conditionals");
  assert.equal(denied.headers.get("etag"), null);
});
