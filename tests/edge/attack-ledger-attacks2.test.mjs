// Outside review, part 2: attacks shown with real helm 4 (Docker token flow through a real issuer).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { disposeAfter, HELM, helmEnv, keygen, makeChartRepo, mint, plainHttpFront, startIssuer, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, front, env;
const REPO = "org1/att2";
before(async () => {
  key = keygen();
  const issuer = await startIssuer(key, { ci: ["artifact-repository:org1/*:pull,push"] });
  started.push(issuer);
  w = await startWorker({ JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" }, { port: 0 });
  started.push(w);
  front = await plainHttpFront(w.url);
  started.push(front);
  env = helmEnv();
  const login = await run(["registry", "login", front.host, "--plain-http", "--username", "ci", "--password-stdin"], "ci-secret");
  assert.ok(login.ok, login.out);
});

function run(args, input) {
  return new Promise((resolve) => {
    const child = spawn(HELM, args, { env, timeout: 60_000 });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code) => resolve({ ok: code === 0, out }));
    child.stdin.end(input ?? "");
  });
}
const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
const auth = (scope = `artifact-repository:${REPO}:pull,push`) => ({ Authorization: `Bearer ${mint(key, scope, { extra: ["--iss", "https://issuer.test"] })}` });
const base = () => `http://${front.host}`;
const HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

async function blob(oci, bytes, headers) {
  const res = await fetch(`${base()}/v2/${oci}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(bytes), size: bytes.length };
}

test("B1: after a release is deleted, a manifest spelling its layers as \"Layers\" passes as an artifact under the version tag; helm pull gets other content", async () => {
  const oci = `${REPO}/ghost`;
  const good = makeChartRepo("ghost", "1.0.0");
  const api = auth();
  assert.equal((await fetch(`${base()}/api/${REPO}/charts`, { method: "POST", headers: api, body: good.tgz })).status, 201);
  assert.equal((await fetch(`${base()}/api/${REPO}/charts/ghost/1.0.0`, { method: "DELETE", headers: api })).status, 200);
  const evil = makeChartRepo("ghost", "1.0.0", ["--app-version", "6.6.6"]);
  // A chart-only grant is enough.
  const h = auth(`repository:${oci}:pull,push`);
  const config = Buffer.from(JSON.stringify({ apiVersion: "v2", name: "ghost", version: "1.0.0", appVersion: "6.6.6" }));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: HELM_CONFIG, ...(await blob(oci, config, h)) },
    Layers: [{ mediaType: HELM_CHART, ...(await blob(oci, evil.tgz, h)) }],
  });
  const put = await fetch(`${base()}/v2/${oci}/manifests/1.0.0`, { method: "PUT", headers: { ...h, "Content-Type": OCI_MANIFEST }, body });
  const putText = await put.text();
  const dest = tmp("pull");
  const r = await run(["pull", `oci://${front.host}/${oci}`, "--version", "1.0.0", "--plain-http", "-d", dest]);
  let pulled = null;
  try { pulled = readFileSync(join(dest, "ghost-1.0.0.tgz")); } catch {}
  assert.ok(!(pulled && pulled.equals(evil.tgz)), `tombstoned ghost 1.0.0: PUT ${put.status} ${putText}; helm pull ${r.ok ? "succeeded" : "failed"} and got the attacker's archive (${r.out.trim()})`);
});

test("B2: a release signed later through /prov, then deleted, still serves its unsigned manifest by digest (and its layers)", async () => {
  const api = auth();
  const chart = makeChartRepo("later", "1.0.0");
  assert.equal((await fetch(`${base()}/api/${REPO}/charts`, { method: "POST", headers: api, body: chart.tgz })).status, 201);
  const first = (await fetch(`${base()}/v2/${REPO}/later/manifests/1.0.0`, { method: "HEAD", headers: api })).headers.get("docker-content-digest");
  const prov = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: later\nversion: 1.0.0\n...\n";
  assert.equal((await fetch(`${base()}/api/${REPO}/prov`, { method: "POST", headers: api, body: prov })).status, 201);
  const second = (await fetch(`${base()}/v2/${REPO}/later/manifests/1.0.0`, { method: "HEAD", headers: api })).headers.get("docker-content-digest");
  assert.notEqual(first, second);
  assert.equal((await fetch(`${base()}/api/${REPO}/charts/later/1.0.0`, { method: "DELETE", headers: api })).status, 200);
  assert.equal((await fetch(`${base()}/${REPO}/charts/later-1.0.0.tgz`, { headers: api })).status, 404, "deleted over HTTP");
  assert.equal((await fetch(`${base()}/v2/${REPO}/later/manifests/${second}`, { headers: api })).status, 404, "current manifest gone");
  const old = await fetch(`${base()}/v2/${REPO}/later/manifests/${first}`, { headers: api });
  const dest = tmp("pull");
  const r = await run(["pull", `oci://${front.host}/${REPO}/later@${first}`, "--plain-http", "-d", dest]);
  assert.equal(old.status, 404, `deleted release still pullable over OCI by its pre-signature manifest digest ${first}: GET ${old.status}; helm pull by digest ok=${r.ok}`);
});

test("B3: manifests and blobs share one cache key: a blob with a manifest's bytes, read first, changes that manifest's Content-Type for everyone", async () => {
  // Victim: a chart uploaded over the API; its OCI manifest bytes are deterministic.
  const victimRepo = "org1/victim3";
  const v = auth(`artifact-repository:${victimRepo}:pull,push`);
  const chart = makeChartRepo("mt", "1.0.0");
  assert.equal((await fetch(`${base()}/api/${victimRepo}/charts`, { method: "POST", headers: v, body: chart.tgz })).status, 201);
  // The attacker learns the bytes (here: one read; a public chart's or a deterministic upload's
  // manifest is known), without the victim's manifest having been read through the cache yet.
  // (Reading via HEAD fills no cache.)
  const head = await fetch(`${base()}/v2/${victimRepo}/mt/manifests/1.0.0`, { method: "HEAD", headers: v });
  const digest = head.headers.get("docker-content-digest");
  // Rebuild it as the worker does (oci_artifacts): read it once from R2 via a second HEAD-free path is not
  // possible without caching, so the attacker reuses a copy of the manifest bytes it already holds:
  const m = await fetch(`${base()}/v2/${victimRepo}/mt/manifests/${digest}`, { headers: v });
  const bytes = Buffer.from(await m.arrayBuffer());
  assert.equal(m.headers.get("content-type"), OCI_MANIFEST);
  // Attacker's own repository (org9 is not the victim's).
  const a = auth("repository:org9/box/x:pull,push");
  await blob("org9/box/x", bytes, a);
  // The attacker predicts the manifest the edge will build for a chart it knows (mt 2.0.0) from
  // manifest 1.0.0's shape, and reads that digest's blob first in its own repository.
  const chart2 = makeChartRepo("mt", "2.0.0");
  const m1 = JSON.parse(bytes.toString());
  const cfg1 = Buffer.from(await (await fetch(`${base()}/v2/${victimRepo}/mt/blobs/${m1.config.digest}`, { headers: v })).arrayBuffer());
  const cfg2 = Buffer.from(cfg1.toString().replaceAll("1.0.0", "2.0.0"));
  const guess = Buffer.from(bytes.toString()
    .replace(m1.config.digest, sha256(cfg2)).replace(`"size":${cfg1.length}`, `"size":${cfg2.length}`)
    .replace(sha256(chart.tgz), sha256(chart2.tgz)).replace(`"size":${chart.tgz.length}`, `"size":${chart2.tgz.length}`)
    .replaceAll("1.0.0", "2.0.0"));
  await blob("org9/box/x", guess, a);
  const poison = await fetch(`${base()}/v2/org9/box/x/blobs/${sha256(guess)}`, { headers: a });
  assert.equal(poison.status, 200);
  await poison.arrayBuffer();
  // Now the victim publishes 2.0.0 and anyone pulls it.
  assert.equal((await fetch(`${base()}/api/${victimRepo}/charts`, { method: "POST", headers: v, body: chart2.tgz })).status, 201);
  const got = await fetch(`${base()}/v2/${victimRepo}/mt/manifests/2.0.0`, { headers: v });
  const ct = got.headers.get("content-type");
  assert.equal(got.headers.get("docker-content-digest"), sha256(guess), "the prediction was right");
  await got.arrayBuffer();
  const dest = tmp("pull");
  const r = await run(["pull", `oci://${front.host}/${victimRepo}/mt`, "--version", "2.0.0", "--plain-http", "-d", dest]);
  assert.equal(ct, OCI_MANIFEST, `victim manifest now served as ${ct} (cache ${got.headers.get("x-chartgate-cache")}); helm pull ok=${r.ok}: ${r.out.trim().slice(0, 300)}`);
});
