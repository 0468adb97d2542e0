// The repository ledger (issue 23) in workerd: the outside review's seven reproductions, each
// with real helm 4 (through a real issuer's Docker token flow) and curl-shaped API requests, 20
// concurrent writers over both protocols. Each review case failed on 8771687.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HELM_CHART, HELM_CONFIG, HELM_PROV, disposeAfter, helm, helmAsync, helmEnv, keygen, makeChartRepo, mint, plainHttpFront, sha256, signingKey, startIssuer, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, w, front, env;
const REPO = "org1/ledger";
const PUSH = `artifact-repository:${REPO}:pull,push`;

before(async () => {
  key = keygen();
  const issuer = await startIssuer(key, { ci: ["artifact-repository:org1/*:pull,push"] });
  started.push(issuer);
  w = await startWorker(
    { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate", ALLOW_OVERWRITE: "true" },
    { port: 0 },
  );
  started.push(w);
  front = await plainHttpFront(w.url);
  started.push(front);
  env = helmEnv();
  const login = await run(["registry", "login", front.host, "--plain-http", "--username", "ci", "--password-stdin"], "ci-secret");
  assert.ok(login.ok, login.out);
});

const hex = (b) => createHash("sha256").update(b).digest("hex");
const auth = (scope = PUSH) => ({ Authorization: `Bearer ${mint(key, scope, { extra: ["--iss", "https://issuer.test"] })}` });

/** helm 4 without blocking this process (the TLS front runs here). */
const run = (args, input) => helmAsync(args, { env, input });

async function push(chart, repo = REPO) {
  const r = await run(["push", join(chart.dir, chart.file), `oci://${front.host}/${repo}`, "--plain-http"]);
  assert.ok(r.ok, r.out);
}

async function pull(name, version, repo = REPO) {
  const dest = tmp("pull");
  const r = await run(["pull", `oci://${front.host}/${repo}/${name}`, "--version", version, "--plain-http", "-d", dest]);
  return r.ok ? readFileSync(join(dest, `${name}-${version}.tgz`)) : r.out;
}

const base = () => `http://${front.host}`;
const api = (path, init = {}) => fetch(`${base()}/api/${REPO}${path}`, { ...init, headers: { ...auth(), ...(init.headers ?? {}) } });
const get = (path, headers = auth()) => fetch(`${base()}${path}`, { headers });

async function index(repo = REPO) {
  const res = await get(`/${repo}/index.yaml`, auth(`artifact-repository:${repo}:pull`));
  assert.equal(res.status, 200);
  return JSON.parse(await res.text());
}

async function blob(repo, bytes, headers = auth()) {
  const res = await fetch(`${base()}/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return { digest: sha256(bytes), size: bytes.length };
}


/** PUTs a hand-made helm chart manifest (as a hostile client would) and answers the response. */
async function putChart(oci, ref, config, layers, headers = auth()) {
  const body = JSON.stringify({
    schemaVersion: 2,
    config: { mediaType: HELM_CONFIG, ...config },
    layers: layers.map(([mediaType, d]) => ({ mediaType, ...d })),
  });
  return fetch(`${base()}/v2/${oci}/manifests/${ref}`, {
    method: "PUT",
    headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
    body,
  });
}

test("review 1: a released tag never moves: extra chart and provenance layers on the released config are refused", async () => {
  const chart = makeChartRepo("moves", "1.0.0");
  await push(chart);
  const oci = `${REPO}/moves`;
  const manifest = await (await get(`/v2/${oci}/manifests/1.0.0`)).json();
  // Other real archives of moves 1.0.0 (they pass the entry gate, so the ledger's rule decides).
  const others = [makeChartRepo("moves", "1.0.0", ["--app-version", "2"]).tgz, makeChartRepo("moves", "1.0.0", ["--app-version", "3"]).tgz];
  const extra = [await blob(oci, others[0]), await blob(oci, others[1])];
  // A provenance file of the other chart layer (its digest listed), so the ledger's rule decides.
  const signs = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: moves\nversion: 1.0.0\n\n...\nfiles:\n  moves-1.0.0.tgz: sha256:${hex(others[0])}\n`;
  const prov = await blob(oci, Buffer.from(signs));
  const res = await putChart(oci, "1.0.0", manifest.config, [
    [HELM_CHART, manifest.layers[0]],
    [HELM_CHART, extra[0]],
    [HELM_CHART, extra[1]],
    [HELM_PROV, prov],
  ]);
  assert.equal(res.status, 400, "a helm chart's manifest has one chart layer");
  assert.match(await res.text(), /MANIFEST_INVALID/);
  const reordered = await putChart(oci, "1.0.0", manifest.config, [[HELM_CHART, extra[0]], [HELM_PROV, prov]]);
  assert.equal(reordered.status, 409, "nor another chart layer under the released config");
  assert.deepEqual(await pull("moves", "1.0.0"), chart.tgz, "helm pull gets the released chart");
});

test("review 2: a refused upload replaces nothing: the release pushed over OCI is served over HTTP as listed", async () => {
  const chart = makeChartRepo("refused", "1.0.0");
  await push(chart);
  const other = makeChartRepo("refused", "1.0.0", ["--app-version", "9.9.9"]);
  assert.notDeepEqual(other.tgz, chart.tgz);
  const form = new FormData();
  form.append("chart", new Blob([other.tgz]), other.file);
  // A provenance file of the other archive (it signs that archive's digest), so the ledger decides.
  const otherProv = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: refused\nversion: 1.0.0\n\n...\nfiles:\n  ${other.file}: sha256:${hex(other.tgz)}\n`;
  form.append("prov", new Blob([otherProv]), `${other.file}.prov`);
  const res = await api("/charts", { method: "POST", body: form });
  assert.equal(res.status, 409);
  const served = await get(`/${REPO}/charts/${chart.file}`);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), chart.tgz);
  const listed = (await index()).entries.refused[0];
  assert.equal(listed.digest, hex(chart.tgz));
  assert.equal((await get(`/${REPO}/charts/${chart.file}.prov`)).status, 404, "no provenance file appeared");
  const byDigest = await get(`/v2/${REPO}/refused/blobs/${sha256(other.tgz)}`);
  assert.equal(byDigest.status, 404, "the refused archive is reachable through no repository, not even by its digest");
});

test("review 3: <name>-<version>.tgz names one chart: no version that is not SemVer, no file of another chart, deletes stay in their chart", async () => {
  const ngIngress = makeChartRepo("ng-ingress", "1.0.0");
  assert.equal((await api("/charts", { method: "POST", body: ngIngress.tgz })).status, 201);
  const oci = `${REPO}/ng`;
  const layer = await blob(oci, Buffer.from("the ng chart"));
  const config = Buffer.from(JSON.stringify({ name: "ng", version: "ingress-1.0.0", apiVersion: "v2" }));
  const res = await putChart(oci, "ingress-1.0.0", await blob(oci, config), [[HELM_CHART, layer]]);
  assert.equal(res.status, 400);
  // Refused before the ledger is asked: the entry gate opens the layer, which is no chart.
  assert.match(await res.text(), /MANIFEST_INVALID.*(not a SemVer 2 version|archive_invalid)/);
  // A collision SemVer allows: chart a-1.0.0-b 2.0.0 and chart a 1.0.0-b-2.0.0.
  const first = makeChartRepo("a-1.0.0-b", "2.0.0");
  assert.equal((await api("/charts", { method: "POST", body: first.tgz })).status, 201);
  const aConfig = Buffer.from(JSON.stringify({ name: "a", version: "1.0.0-b-2.0.0", apiVersion: "v2" }));
  const aChart = makeChartRepo("a", "1.0.0-b-2.0.0").tgz;
  const clash = await putChart(`${REPO}/a`, "1.0.0-b-2.0.0", await blob(`${REPO}/a`, aConfig), [[HELM_CHART, await blob(`${REPO}/a`, aChart)]]);
  assert.equal(clash.status, 400);
  assert.match(await clash.text(), /already names chart a-1\.0\.0-b version 2\.0\.0/);
  assert.deepEqual(Buffer.from(await (await get(`/${REPO}/charts/${first.file}`)).arrayBuffer()), first.tgz);
  // ng's own manifest deleted: ng-ingress's upload stays.
  const ng = makeChartRepo("ng", "1.0.0");
  await push(ng);
  const digest = (await fetch(`${base()}/v2/${oci}/manifests/1.0.0`, { method: "HEAD", headers: auth() })).headers.get("docker-content-digest");
  assert.equal((await fetch(`${base()}/v2/${oci}/manifests/${digest}`, { method: "DELETE", headers: auth() })).status, 202);
  assert.deepEqual(Buffer.from(await (await get(`/${REPO}/charts/${ngIngress.file}`)).arrayBuffer()), ngIngress.tgz);
  assert.equal((await get(`/${REPO}/charts/${ng.file}`)).status, 404);
});

test("review 4: a signed release's provenance is not replaced through /prov when the chart came over OCI", async () => {
  const signer = signingKey();
  const chart = makeChartRepo("sealed4", "1.0.0", ["--sign", "--key", signer.name, "--keyring", signer.secring]);
  await push(chart);
  const prov = readFileSync(join(chart.dir, `${chart.file}.prov`));
  assert.deepEqual(Buffer.from(await (await get(`/${REPO}/charts/${chart.file}.prov`)).arrayBuffer()), prov);
  // A forged provenance file of the very archive (its digest listed), so the ledger's rule decides.
  const forged = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: sealed4\nversion: 1.0.0\n\n...\nfiles:\n  ${chart.file}: sha256:${hex(chart.tgz)}\nforged\n`;
  for (const query of ["", "?force"]) {
    const res = await api(`/prov${query}`, { method: "POST", body: forged });
    assert.equal(res.status, 409, `POST /prov${query}`);
  }
  assert.deepEqual(Buffer.from(await (await get(`/${REPO}/charts/${chart.file}.prov`)).arrayBuffer()), prov);
  const h = helmEnv();
  helm(["repo", "add", "l4", `${w.url}/${REPO}`, "--username", "token", "--password-stdin"], { env: h, input: mint(key, PUSH, { extra: ["--iss", "https://issuer.test"] }) });
  helm(["pull", "l4/sealed4", "--version", "1.0.0", "--verify", "--keyring", signer.pubring, "-d", tmp("v4")], { env: h });
});

test("review 5: delete-then-push cannot move a release: the version returns only as itself", async () => {
  const chart = makeChartRepo("again", "1.0.0");
  await push(chart);
  const oci = `${REPO}/again`;
  const del = await fetch(`${base()}/v2/${oci}/manifests/1.0.0`, { method: "DELETE", headers: auth() });
  assert.equal(del.status, 202);
  assert.equal((await index()).entries.again, undefined, "unlisted from index.yaml");
  assert.equal((await get(`/${REPO}/charts/${chart.file}`)).status, 404, "and its HTTP route");
  const other = makeChartRepo("again", "1.0.0", ["--app-version", "2.0.0"]);
  const r = await run(["push", join(other.dir, other.file), `oci://${front.host}/${REPO}`, "--plain-http"]);
  assert.ok(!r.ok, "other content under the deleted release's version is refused");
  assert.match(r.out, /immutable|409|denied/i);
  await push(chart);
  assert.deepEqual(await pull("again", "1.0.0"), chart.tgz);
  assert.equal((await index()).entries.again[0].digest, hex(chart.tgz));
});

test("review 6: a delete is a delete on every hostname (cache keys hold none)", async () => {
  const chart = makeChartRepo("hosts", "1.0.0");
  assert.equal((await api("/charts", { method: "POST", body: chart.tgz })).status, 201);
  const at = (host) => w.mf.dispatchFetch(`http://${host}/${REPO}/charts/${chart.file}`, { headers: auth() });
  for (const host of ["a.example", "b.example", "a.example", "b.example"]) {
    const res = await at(host);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  }
  const second = await at("c.example");
  assert.equal(second.headers.get("x-chartgate-cache"), "HIT", "one cached copy for every hostname");
  await second.arrayBuffer();
  const del = await w.mf.dispatchFetch(`http://a.example/api/${REPO}/charts/hosts/1.0.0`, { method: "DELETE", headers: auth() });
  assert.equal(del.status, 200);
  for (const host of ["a.example", "b.example", "c.example"]) {
    assert.equal((await at(host)).status, 404, `${host} after the delete on a.example`);
  }
});

test("review 7: a deeply nested config cannot brick the repository: refused if unreadable, otherwise listed by typed fields", async () => {
  const deep = (levels) => {
    let nested = "deep";
    for (let i = 0; i < levels; i++) nested = { a: [nested] };
    return nested;
  };
  const oci = `${REPO}/nested`;
  const nestedChart = makeChartRepo("nested", "1.0.0").tgz; // a real archive: it passes the entry gate
  const push = async (levels) => {
    const config = Buffer.from(JSON.stringify({ name: "nested", version: "1.0.0", apiVersion: "v2", description: "ok", extra: deep(levels), annotations: { n: deep(levels), k: "v" } }));
    return putChart(oci, "1.0.0", await blob(oci, config), [[HELM_CHART, await blob(oci, nestedChart)]]);
  };
  const review = await push(126);
  assert.equal(review.status, 400, "a config too deep to read is refused before anything is visible");
  assert.match(await review.text(), /MANIFEST_INVALID[\s\S]*config/);
  const res = await push(20);
  assert.equal(res.status, 201, await res.text());
  const listed = (await index()).entries.nested[0];
  assert.equal(listed.description, "ok");
  assert.equal(listed.extra, undefined, "only typed fields reach index.yaml");
  assert.deepEqual(listed.annotations, { k: "v" });
  const after = makeChartRepo("afterwards", "1.0.0");
  assert.equal((await api("/charts", { method: "POST", body: after.tgz })).status, 201, "uploads still work");
  assert.equal((await api("/charts/nested")).status, 200, "API listings still work");
  assert.equal((await api("/charts/nested/1.0.0", { method: "DELETE" })).status, 200, "and the entry can be removed");
});

test("20 concurrent writers over both protocols: index, tags and HTTP routes agree, nothing lost", async () => {
  const repo = "org1/busy";
  const scope = `artifact-repository:${repo}:pull,push`;
  const h = auth(scope);
  const doomed = [];
  for (let i = 0; i < 5; i++) {
    const c = makeChartRepo("old", `0.${i}.0`);
    doomed.push(c);
    assert.equal((await fetch(`${base()}/api/${repo}/charts`, { method: "POST", headers: h, body: c.tgz })).status, 201);
  }
  const uploads = Array.from({ length: 10 }, (_, i) => makeChartRepo("api", `1.${i}.0`));
  const pushes = Array.from({ length: 5 }, (_, i) => makeChartRepo("oci", `2.${i}.0`));
  const pushOne = async (c) => {
    const oci = `${repo}/oci`;
    const config = Buffer.from(JSON.stringify({ name: "oci", version: c.file.slice(4, -4), apiVersion: "v2" }));
    const res = await putChart(oci, c.file.slice(4, -4), await blob(oci, config, h), [[HELM_CHART, await blob(oci, c.tgz, h)]], h);
    return res.status;
  };
  const statuses = await Promise.all([
    ...uploads.map((c) => fetch(`${base()}/api/${repo}/charts`, { method: "POST", headers: h, body: c.tgz }).then((r) => r.status)),
    ...pushes.map(pushOne),
    ...doomed.map((c) => fetch(`${base()}/api/${repo}/charts/old/${c.file.slice(4, -4)}`, { method: "DELETE", headers: h }).then((r) => r.status)),
  ]);
  assert.deepEqual(statuses, [...Array(10).fill(201), ...Array(5).fill(201), ...Array(5).fill(200)]);
  const listed = JSON.parse(await (await fetch(`${base()}/${repo}/index.yaml`, { headers: h })).text()).entries;
  assert.deepEqual(Object.keys(listed).sort(), ["api", "oci"]);
  assert.equal(listed.api.length, 10);
  assert.equal(listed.oci.length, 5);
  const tags = await (await fetch(`${base()}/v2/${repo}/oci/tags/list`, { headers: h })).json();
  assert.deepEqual(tags.tags.sort(), pushes.map((c) => c.file.slice(4, -4)).sort());
  for (const c of [...uploads, ...pushes]) {
    const res = await fetch(`${base()}/${repo}/charts/${c.file}`, { headers: h });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), c.tgz, c.file);
  }
  for (const c of doomed) assert.equal((await fetch(`${base()}/${repo}/charts/${c.file}`, { headers: h })).status, 404);
});
