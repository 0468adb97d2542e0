// Outside review, part 3: bricking a repository through the typed, bounded index entries.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { disposeAfter, helm, helmEnv, keygen, makeChartRepo, mint, startWorker } from "./harness.mjs";

const started = disposeAfter(after);
let key, w;
before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks }, { port: 0 });
  started.push(w);
});
const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
const bearer = (scope) => ({ Authorization: `Bearer ${mint(key, scope)}` });
const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

async function blob(oci, bytes, headers) {
  const res = await fetch(`${w.url}/v2/${oci}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(bytes), size: bytes.length };
}
async function pushChart(oci, ref, config, tgz, headers) {
  const cfg = Buffer.from(JSON.stringify(config));
  const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: HELM_CONFIG, ...(await blob(oci, cfg, headers)) }, layers: [{ mediaType: HELM_CHART, ...(await blob(oci, tgz, headers)) }] });
  const res = await fetch(`${w.url}/v2/${oci}/manifests/${ref}`, { method: "PUT", headers: { ...headers, "Content-Type": OCI_MANIFEST }, body });
  return { status: res.status, text: await res.text() };
}

test("C1: a push grant on one chart cannot grow the index past its bounds: entries are bounded whole, API reads keep working", async () => {
  const repo = "org1/brick";
  const owner = bearer(`artifact-repository:${repo}:pull,push`);
  const victim = makeChartRepo("innocent", "1.0.0");
  assert.equal((await fetch(`${w.url}/api/${repo}/charts`, { method: "POST", headers: owner, body: victim.tgz })).status, 201);
  assert.equal((await fetch(`${w.url}/api/${repo}/charts/innocent`, { headers: owner })).status, 200);
  const attacker = bearer(`repository:${repo}/big:pull,push`);
  const tag = "x".repeat(4000);
  const deps = Array.from({ length: 4 }, (_, i) => ({ name: `d${i}`, version: "1.0.0", tags: Array.from({ length: 100 }, (_, j) => tag + j) }));
  const tgz = Buffer.from("not even a chart");
  for (let i = 0; i < 11; i++) {
    const p = await pushChart(`${repo}/big`, `1.0.${i}`, { apiVersion: "v2", name: "big", version: `1.0.${i}`, dependencies: deps }, tgz, attacker);
    assert.equal(p.status, 413, "an index entry is bounded as a whole: " + p.text.slice(0, 300));
    assert.match(p.text, /SIZE_INVALID[\s\S]*more than 16384/);
  }
  const idx = await fetch(`${w.url}/${repo}/index.yaml`, { headers: owner });
  const size = (await idx.arrayBuffer()).byteLength;
  const res = await fetch(`${w.url}/api/${repo}/charts/innocent`, { headers: owner });
  const text = (await res.text()).slice(0, 200);
  const all = await fetch(`${w.url}/api/${repo}/charts`, { headers: owner });
  assert.equal(res.status, 200, `index.yaml is ${size} bytes; GET /api/${repo}/charts/innocent -> ${res.status} ${text}; GET /api/${repo}/charts -> ${all.status}`);
});

test("C2: control characters in a pushed config do not break helm's reading of index.yaml", async () => {
  const repo = "org1/ctl";
  const owner = bearer(`artifact-repository:${repo}:pull,push`);
  const tgz = makeChartRepo("ctl", "1.0.0").tgz;
  const p = await pushChart(`${repo}/ctl`, "1.0.0", { apiVersion: "v2", name: "ctl", version: "1.0.0", description: "a\u007fb\u0085c\u0080\ufeff\uffff", annotations: { "k\u0001": "v" } }, tgz, owner);
  assert.equal(p.status, 201, p.text);
  const env = helmEnv();
  helm(["repo", "add", "ctl", `${w.url}/${repo}`, "--username", "token", "--password-stdin"], { env, input: mint(key, `artifact-repository:${repo}:pull`) });
  const out = helm(["search", "repo", "ctl/"], { env });
  assert.match(out, /ctl\/ctl/);
});
