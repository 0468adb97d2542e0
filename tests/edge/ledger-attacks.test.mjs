// Outside review, part 5: attacks that were refused (these pass when the edge holds).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { HELM_CHART, HELM_CONFIG, OCI_MANIFEST, disposeAfter, keygen, makeChartRepo, mint, sha256, startWorker } from "./harness.mjs";

const started = disposeAfter(after);
let key, w;
before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, PUBLIC_REPOS: "org1/pub*" }, { port: 0 });
  started.push(w);
});
const bearer = (scope, extra = []) => ({ Authorization: `Bearer ${mint(key, scope, { extra })}` });
async function blob(oci, bytes, headers) {
  const res = await fetch(`${w.url}/v2/${oci}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(bytes), size: bytes.length };
}
async function put(oci, ref, obj, headers, ct = OCI_MANIFEST) {
  const res = await fetch(`${w.url}/v2/${oci}/manifests/${ref}`, { method: "PUT", headers: { ...headers, "Content-Type": ct }, body: JSON.stringify(obj) });
  return { status: res.status, text: await res.text() };
}

test("E1: a chart-scoped push cannot publish another chart, nor tag another chart's manifest, nor take a live version tag", async () => {
  const repo = "org1/grants";
  const owner = bearer(`artifact-repository:${repo}:pull,push`);
  const b = makeChartRepo("bee", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/${repo}/charts`, { method: "POST", headers: owner, body: b.tgz })).status, 201);
  const a = bearer(`repository:${repo}/ay:pull,push`);
  const cfg = await blob(`${repo}/ay`, Buffer.from(JSON.stringify({ apiVersion: "v2", name: "bee", version: "2.0.0" })), a);
  const layer = await blob(`${repo}/ay`, b.tgz, a);
  const r1 = await put(`${repo}/ay`, "2.0.0", { schemaVersion: 2, config: { mediaType: HELM_CONFIG, ...cfg }, layers: [{ mediaType: HELM_CHART, ...layer }] }, a);
  assert.equal(r1.status, 400, r1.text);
  assert.equal((await fetch(`${w.url}/v2/${repo}/bee/manifests/latest`, { method: "PUT", headers: { ...a, "Content-Type": OCI_MANIFEST }, body: "{}" })).status, 401);
  // An index in chart ay naming bee's manifest.
  const beeManifest = (await fetch(`${w.url}/v2/${repo}/bee/manifests/1.0.0`, { method: "HEAD", headers: owner })).headers.get("docker-content-digest");
  const r2 = await put(`${repo}/ay`, "idx", { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: OCI_MANIFEST, digest: beeManifest, size: 1 }] }, a, "application/vnd.oci.image.index.v1+json");
  assert.equal(r2.status, 400, r2.text);
  // An artifact tagged with bee's live version tag (in bee's own repo, with owner rights).
  const art = await blob(`${repo}/bee`, Buffer.from("{}"), owner);
  const r3 = await put(`${repo}/bee`, "1.0.0", { schemaVersion: 2, artifactType: "application/x-sbom", config: { mediaType: "application/vnd.oci.empty.v1+json", ...art }, layers: [] }, owner);
  assert.equal(r3.status, 409, r3.text);
  // build metadata: 1.0.0+a is tag 1.0.0_a, which an artifact cannot take.
  const plus = makeChartRepo("bee", "3.0.0+a");
  assert.equal((await fetch(`${w.url}/api/${repo}/charts`, { method: "POST", headers: owner, body: plus.tgz })).status, 201);
  const r4 = await put(`${repo}/bee`, "3.0.0_a", { schemaVersion: 2, config: { mediaType: "application/vnd.oci.empty.v1+json", ...art }, layers: [] }, owner);
  assert.equal(r4.status, 409, r4.text);
  const other = makeChartRepo("bee", "3.0.0+a", ["--app-version", "7"]);
  const cfg2 = await blob(`${repo}/bee`, Buffer.from(JSON.stringify({ apiVersion: "v2", name: "bee", version: "3.0.0+a" })), owner);
  const r5 = await put(`${repo}/bee`, "3.0.0_a", { schemaVersion: 2, config: { mediaType: HELM_CONFIG, ...cfg2 }, layers: [{ mediaType: HELM_CHART, ...(await blob(`${repo}/bee`, other.tgz, owner)) }] }, owner);
  assert.equal(r5.status, 409, r5.text);
});

test("E2: path tricks and other repositories' files are refused", async () => {
  const secret = makeChartRepo("s", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/org2/secret/charts`, { method: "POST", headers: bearer("artifact-repository:org2/secret:pull,push"), body: secret.tgz })).status, 201);
  const me = bearer("artifact-repository:org1/mine:pull");
  for (const path of [
    "/org1/mine/charts/..%2F..%2Forg2%2Fsecret%2Fcharts%2Fs-1.0.0.tgz",
    "/org1/mine/charts/%2E%2E/%2E%2E/org2/secret/charts/s-1.0.0.tgz",
    "/org1/mine//org2/secret/charts/s-1.0.0.tgz",
    "/org1/mine/charts/s-1.0.0.tgz%00.prov",
    "/org1/mine/../org2/secret/s-1.0.0.tgz",
    "/org1/mine/charts/s-1.0.0.tgz",
    "/org2/secret/s-1.0.0.tgz?token=x.prov",
  ]) {
    const res = await fetch(`${w.url}${path}`, { headers: me });
    assert.notEqual(res.status, 200, path);
  }
});

test("E3: PUBLIC_REPOS=org1/pub* opens org1/pub's charts only: not an OCI name at another depth", async () => {
  const chart = makeChartRepo("c", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/org1/pub/charts`, { method: "POST", headers: bearer("artifact-repository:org1/pub:pull,push"), body: chart.tgz })).status, 201);
  assert.equal((await fetch(`${w.url}/v2/org1/pub/c/manifests/1.0.0`)).status, 200);
  const d = await blob("org1/pubx", chart.tgz, bearer("repository:org1/pubx:pull,push"));
  await blob("org1/pub/c/deep", chart.tgz, bearer("repository:org1/pub/c/deep:pull,push"));
  for (const path of [`/v2/org1/pubx/blobs/${d.digest}`, `/v2/org1/pub/c/deep/blobs/${d.digest}`, `/v2/org1/pubx/manifests/${d.digest}`]) {
    assert.equal((await fetch(`${w.url}${path}`)).status, 401, path);
  }
});

test("E4: a blob mount from another chart needs pull on the source and a paths binding that covers it", async () => {
  const owner = bearer("artifact-repository:org3/m:pull,push");
  const chart = makeChartRepo("src", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/org3/m/charts`, { method: "POST", headers: owner, body: chart.tgz })).status, 201);
  const d = sha256(chart.tgz);
  const bound = bearer("artifact-repository:org3/m:pull,push", ["--path", "/v2/org3/m/dst/*"]);
  const mount = await fetch(`${w.url}/v2/org3/m/dst/blobs/uploads/?mount=${d}&from=org3/m/src`, { method: "POST", headers: bound });
  assert.equal(mount.status, 202);
  const other = bearer("repository:org3/m/dst:pull,push");
  const m2 = await fetch(`${w.url}/v2/org3/m/dst/blobs/uploads/?mount=${d}&from=org3/m/src`, { method: "POST", headers: other });
  assert.equal(m2.status, 202);
  assert.equal((await fetch(`${w.url}/v2/org3/m/dst/blobs/${d}`, { headers: other })).status, 404);
});
