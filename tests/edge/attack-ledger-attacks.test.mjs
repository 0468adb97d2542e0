// An outside attack on the repository ledger (issue 23), one test per way in; each broke an
// invariant of the first ledger and is refused since (see docs/security.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { disposeAfter, keygen, makeChartRepo, mint, startWorker } from "./harness.mjs";

const started = disposeAfter(after);
let key, w;
before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, ALLOW_OVERWRITE: "true" }, { port: 0 });
  started.push(w);
});

const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
const bearer = (scope, extra = []) => ({ Authorization: `Bearer ${mint(key, scope, { extra })}` });
const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const HELM_PROV = "application/vnd.cncf.helm.chart.provenance.v1.prov";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

const upload = (repo, tgz, headers, q = "") =>
  fetch(`${w.url}/api/${repo}/charts${q}`, { method: "POST", headers: { ...headers, "Content-Type": "application/octet-stream" }, body: tgz });

async function blob(oci, bytes, headers) {
  const res = await fetch(`${w.url}/v2/${oci}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(bytes), size: bytes.length };
}

/** Pushes a hand-made helm chart manifest: config (object), chart bytes, optional prov bytes. */
async function pushChart(oci, ref, config, tgz, headers, { prov, query = "" } = {}) {
  const cfg = Buffer.from(JSON.stringify(config));
  const layers = [{ mediaType: HELM_CHART, ...(await blob(oci, tgz, headers)) }];
  if (prov) layers.push({ mediaType: HELM_PROV, ...(await blob(oci, prov, headers)) });
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: HELM_CONFIG, ...(await blob(oci, cfg, headers)) }, layers });
  const res = await fetch(`${w.url}/v2/${oci}/manifests/${ref}${query}`, { method: "PUT", headers: { ...headers, "Content-Type": OCI_MANIFEST }, body });
  return { res, status: res.status, text: await res.text(), digest: sha256(Buffer.from(body)) };
}

async function index(repo, headers) {
  const res = await fetch(`${w.url}/${repo}/index.yaml`, { headers });
  assert.equal(res.status, 200);
  return JSON.parse(await res.text());
}

async function manifestOf(oci, ref, headers) {
  const res = await fetch(`${w.url}/v2/${oci}/manifests/${ref}`, { headers });
  return { status: res.status, body: res.status === 200 ? JSON.parse(await res.text()) : await res.text() };
}

test("A1: after a release is deleted (tombstone), a helm chart manifest whose config names no chart takes its version tag with other content", async () => {
  const repo = "org1/tomb";
  const api = bearer(`artifact-repository:${repo}:pull,push`);
  const ociTok = bearer(`repository:${repo}/tomb:pull,push`); // push grant on this one chart only
  const good = makeChartRepo("tomb", "1.0.0");
  assert.equal((await upload(repo, good.tgz, api)).status, 201);
  assert.equal((await fetch(`${w.url}/api/${repo}/charts/tomb/1.0.0`, { method: "DELETE", headers: api })).status, 200);
  // The tombstone refuses other content as tomb 1.0.0 (correct):
  const evil = makeChartRepo("tomb", "1.0.0", ["--app-version", "6.6.6"]);
  assert.notDeepEqual(evil.tgz, good.tgz);
  assert.equal((await upload(repo, evil.tgz, api)).status, 409, "tombstone holds over the API");
  const byOci = await pushChart(`${repo}/tomb`, "1.0.0", { apiVersion: "v2", name: "tomb", version: "1.0.0" }, evil.tgz, ociTok);
  assert.equal(byOci.status, 409, "tombstone holds over OCI (a chart config): " + byOci.text);
  // Attack: same chart archive, config without name/version (or a non-string version).
  const pushed = await pushChart(`${repo}/tomb`, "1.0.0", { apiVersion: "v2", version: 1 }, evil.tgz, ociTok);
  const m = await manifestOf(`${repo}/tomb`, "1.0.0", ociTok);
  assert.equal(m.status, 404, `tag 1.0.0 of a deleted release must serve nothing or the old chart; push answered ${pushed.status}, manifest ${JSON.stringify(m.body)} chart layer ${m.body?.layers?.[0]?.digest} = evil ${sha256(evil.tgz)}`);
});

test("A2: deleting a release over the API leaves its other tags serving it over OCI", async () => {
  const repo = "org1/deltag";
  const api = bearer(`artifact-repository:${repo}:pull,push`);
  const chart = makeChartRepo("dt", "1.0.0");
  const p = await pushChart(`${repo}/dt`, "1.0.0", { apiVersion: "v2", name: "dt", version: "1.0.0" }, chart.tgz, api, { query: "?tag=stable" });
  assert.equal(p.status, 201, p.text);
  assert.equal((await fetch(`${w.url}/api/${repo}/charts/dt/1.0.0`, { method: "DELETE", headers: api })).status, 200);
  assert.equal((await index(repo, api)).entries.dt, undefined, "unlisted");
  assert.equal((await fetch(`${w.url}/${repo}/charts/dt-1.0.0.tgz`, { headers: api })).status, 404, "HTTP serves nothing");
  assert.equal((await manifestOf(`${repo}/dt`, p.digest, api)).status, 404, "manifest by digest: not visible");
  const stable = await manifestOf(`${repo}/dt`, "stable", api);
  const layer = stable.body?.layers?.[0]?.digest;
  const blobRes = layer ? await fetch(`${w.url}/v2/${repo}/dt/blobs/${layer}`, { headers: api }) : null;
  assert.equal(stable.status, 404, `deleted release still served over OCI by tag 'stable' (layer ${layer} = archive ${sha256(chart.tgz)}, blob GET ${blobRes?.status})`);
});

test("A3: a refused push (409) still publishes the release: Publish commits before the extra tags are refused", async () => {
  const repo = "org1/partial";
  const api = bearer(`artifact-repository:${repo}:pull,push`);
  const one = makeChartRepo("part", "1.0.0");
  assert.equal((await upload(repo, one.tgz, api)).status, 201);
  const two = makeChartRepo("part", "2.0.0");
  const p = await pushChart(`${repo}/part`, "2.0.0", { apiVersion: "v2", name: "part", version: "2.0.0" }, two.tgz, api, { query: "?tag=1.0.0" });
  assert.ok(p.status >= 400, `push with a tag owned by 1.0.0 is refused: ${p.status} ${p.text}`);
  const listed = ((await index(repo, api)).entries.part ?? []).map((e) => e.version);
  const http = await fetch(`${w.url}/${repo}/charts/part-2.0.0.tgz`, { headers: api });
  assert.deepEqual(listed, ["1.0.0"], `refused push left 2.0.0 visible: index ${JSON.stringify(listed)}, HTTP ${http.status}`);
});

test("A4: the provenance file of a released version is replaced by delete + re-push of the same archive", async () => {
  const repo = "org1/provrel";
  const api = bearer(`artifact-repository:${repo}:pull,push`);
  const chart = makeChartRepo("pv", "1.0.0");
  const p1 = Buffer.from("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: pv\nversion: 1.0.0\n...\nfiles: {}\n-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n");
  const p2 = Buffer.from(p1.toString().replace("AAAA", "BBBB-attacker"));
  const cfg = { apiVersion: "v2", name: "pv", version: "1.0.0", description: "original" };
  assert.equal((await pushChart(`${repo}/pv`, "1.0.0", cfg, chart.tgz, api, { prov: p1 })).status, 201);
  const before = Buffer.from(await (await fetch(`${w.url}/${repo}/charts/pv-1.0.0.tgz.prov`, { headers: api })).arrayBuffer());
  assert.deepEqual(before, p1);
  // Direct replacement is refused (correct):
  assert.equal((await pushChart(`${repo}/pv`, "1.0.0", cfg, chart.tgz, api, { prov: p2 })).status, 409);
  const forced = await fetch(`${w.url}/api/${repo}/prov?force`, { method: "POST", headers: { ...api, "Content-Type": "application/octet-stream" }, body: p2 });
  assert.equal(forced.status, 409, "forced /prov on a release refused");
  // Attack: delete the tag, push the same archive with another prov and other metadata.
  assert.equal((await fetch(`${w.url}/v2/${repo}/pv/manifests/1.0.0`, { method: "DELETE", headers: api })).status, 202);
  const again = await pushChart(`${repo}/pv`, "1.0.0", { ...cfg, description: "attacker metadata", appVersion: "evil" }, chart.tgz, api, { prov: p2 });
  const now = Buffer.from(await (await fetch(`${w.url}/${repo}/charts/pv-1.0.0.tgz.prov`, { headers: api })).arrayBuffer());
  const entry = (await index(repo, api)).entries.pv?.[0];
  // The same bytes or nothing: the re-push with another signature and metadata is refused, and the
  // deleted release serves nothing until it returns as itself.
  assert.equal(again.status, 409, again.text);
  assert.equal(entry, undefined, "not listed again");
  assert.ok(now.equals(p1) || !now.toString().includes("BBBB-attacker"), `.prov now ${JSON.stringify(now.toString().slice(-40))}`);
  assert.equal((await pushChart(`${repo}/pv`, "1.0.0", cfg, chart.tgz, api, { prov: p1 })).status, 201, "it returns as itself");
  const back = Buffer.from(await (await fetch(`${w.url}/${repo}/charts/pv-1.0.0.tgz.prov`, { headers: api })).arrayBuffer());
  assert.deepEqual(back, p1);
});

test("A5: a push grant on chart `a` takes the HTTP file of deleted release `a-1.0.0-b` 2.0.0 and blocks its return", async () => {
  const repo = "org1/clash";
  const admin = bearer(`artifact-repository:${repo}:pull,push`);
  const victim = makeChartRepo("a-1.0.0-b", "2.0.0");
  assert.equal((await upload(repo, victim.tgz, admin)).status, 201);
  assert.equal((await fetch(`${w.url}/api/${repo}/charts/a-1.0.0-b/2.0.0`, { method: "DELETE", headers: admin })).status, 200);
  const attacker = bearer(`repository:${repo}/a:pull,push`);
  const evil = makeChartRepo("a", "1.0.0-b-2.0.0");
  const p = await pushChart(`${repo}/a`, "1.0.0-b-2.0.0", { apiVersion: "v2", name: "a", version: "1.0.0-b-2.0.0" }, evil.tgz, attacker);
  const file = await fetch(`${w.url}/${repo}/charts/a-1.0.0-b-2.0.0.tgz`, { headers: admin });
  const bytes = Buffer.from(await file.arrayBuffer());
  const restore = await upload(repo, victim.tgz, admin);
  const restoreText = await restore.text();
  assert.ok(file.status !== 200 || bytes.equals(victim.tgz), `push ${p.status}; released file a-1.0.0-b-2.0.0.tgz now serves other bytes (chart a); victim restore -> ${restore.status} ${restoreText}`);
});

test("A6: content of a private chart repository is readable by digest through an OCI name in no chart repository (shared cache key)", async () => {
  const repo = "org2/secret";
  const victim = bearer(`artifact-repository:${repo}:pull,push`);
  const chart = makeChartRepo("topsecret", "1.0.0", ["--app-version", "secret-" + Date.now()]);
  assert.equal((await upload(repo, chart.tgz, victim)).status, 201);
  // The victim (or any helm client) downloads it: the edge caches it by digest.
  const got = await fetch(`${w.url}/${repo}/charts/topsecret-1.0.0.tgz`, { headers: victim });
  assert.equal(got.status, 200);
  await got.arrayBuffer();
  const attacker = bearer("repository:mallory/box:pull,push");
  assert.equal((await fetch(`${w.url}/v2/${repo}/topsecret/blobs/${sha256(chart.tgz)}`, { headers: attacker })).status, 401, "no direct read");
  assert.equal((await fetch(`${w.url}/v2/mallory/box/blobs/${sha256(chart.tgz)}`, { headers: attacker })).status, 404, "blob route checks the link");
  const res = await fetch(`${w.url}/v2/mallory/box/manifests/${sha256(chart.tgz)}`, { headers: attacker });
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(!(res.status === 200 && body.equals(chart.tgz)), `mallory read org2/secret's archive via /v2/mallory/box/manifests/<digest>: ${res.status}, ${body.length} bytes, x-chartgate-cache ${res.headers.get("x-chartgate-cache")}`);
});
