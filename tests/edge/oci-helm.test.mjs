// Real helm 4 and helm 3 against the worker's OCI registry in workerd, logging in at a real
// issuer (`chartgate serve`): registry login, push, pull by version and by range, show,
// template, dependency update with an oci:// dependency, logout, a chartgate token as the
// password, and helm's messages for an expired token, a pull-only token pushing, a wrong
// repository and a released version pushed again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { HELM, HELM3, disposeAfter, helmEnv, helmFails, helmOk, keygen, makeChartRepo, mint, plainHttpFront, provOf, runAsync, signingKey, startIssuer, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, worker, front;

before(async () => {
  key = keygen();
  const issuer = await startIssuer(key, {
    ci: ["artifact-repository:org1/*:pull,push"],
    reader: ["artifact-repository:org1/*:pull"],
  });
  started.push(issuer);
  worker = await startWorker(
    { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" },
    { port: 0 },
  );
  started.push(worker);
  front = await plainHttpFront(worker.url);
  started.push(front);
});

// helm 3's `registry login` has no --plain-http; it talks http to a loopback registry with --insecure.
const HELMS = [
  { name: "helm 4", bin: HELM, login: ["--plain-http"], repo: "org1/repo1" },
  { name: "helm 3", bin: HELM3, login: ["--insecure"], repo: "org1/repo3" },
];

const ok = helmOk;
const fails = helmFails;
const run = (h, args, opts) => runAsync(h.bin, args, opts);

const login = (h, env, user, password, host = front.host) =>
  ok(h, ["registry", "login", host, ...h.login, "--username", user, "--password-stdin"], { env, input: password });

test("one publish, two protocols: a chart pushed with helm push is in index.yaml, served from the same blob", async () => {
  const h = HELMS[0];
  const env = helmEnv();
  await login(h, env, "ci", "ci-secret");
  const chart = makeChartRepo("both", "2.0.0");
  await ok(h, ["push", join(chart.dir, chart.file), `oci://${front.host}/org1/shared`, "--plain-http"], { env });
  const token = mint(key, "artifact-repository:org1/shared:pull", { extra: ["--iss", "https://issuer.test"] });
  const base = `http://${front.host}/org1/shared`;
  await ok(h, ["repo", "add", "shared", base, "--username", "token", "--password-stdin"], { env, input: token });
  assert.match(await ok(h, ["search", "repo", "shared/both", "--versions"], { env }), /shared\/both\s+2\.0\.0/);
  const dest = tmp("both");
  await ok(h, ["pull", "shared/both", "--version", "2.0.0", "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz, "the archive helm pushed, over HTTP");
  const index = JSON.parse(await (await fetch(`${base}/index.yaml`, { headers: { Authorization: `Bearer ${token}` } })).text());
  const entry = index.entries.both[0];
  assert.equal(entry.digest, createHash("sha256").update(chart.tgz).digest("hex"));
  assert.equal(entry.description, "A Helm chart for Kubernetes");
  const other = mint(key, "artifact-repository:org1/elsewhere:pull", { extra: ["--iss", "https://issuer.test"] });
  const denied = await fetch(`${base}/charts/${chart.file}`, { headers: { Authorization: `Bearer ${other}` } });
  assert.equal(denied.status, 403);
  // Deleting the OCI manifest unlists the chart: the index never lists an archive that is gone.
  const push = { Authorization: `Bearer ${mint(key, "artifact-repository:org1/shared:pull,push", { extra: ["--iss", "https://issuer.test"] })}` };
  const head = await fetch(`http://${front.host}/v2/org1/shared/both/manifests/2.0.0`, { method: "HEAD", headers: push });
  const digest = head.headers.get("docker-content-digest");
  const del = await fetch(`http://${front.host}/v2/org1/shared/both/manifests/${digest}`, { method: "DELETE", headers: push });
  assert.equal(del.status, 202);
  const after = JSON.parse(await (await fetch(`${base}/index.yaml`, { headers: push })).text());
  assert.equal(after.entries.both, undefined, "unlisted");
});

test("one publish, two protocols: a chart uploaded through ChartMuseum's API is pullable with helm pull oci://", async () => {
  const h = HELMS[0];
  const chart = makeChartRepo("uploaded", "0.3.0");
  const push = mint(key, "artifact-repository:org1/shared:push", { extra: ["--iss", "https://issuer.test"] });
  const res = await fetch(`http://${front.host}/api/org1/shared/charts`, {
    method: "POST",
    headers: { Authorization: `Bearer ${push}` },
    body: chart.tgz,
  });
  assert.equal(res.status, 201, await res.text());
  const env = helmEnv();
  await login(h, env, "ci", "ci-secret");
  const dest = tmp("uploaded");
  await ok(h, ["pull", `oci://${front.host}/org1/shared/uploaded`, "--version", "0.3.0", "--plain-http", "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
  assert.match(await ok(h, ["show", "chart", `oci://${front.host}/org1/shared/uploaded`, "--version", "0.3.0", "--plain-http"], { env }), /name: uploaded/);
  // Deleting it through the API removes its OCI form too.
  const del = await fetch(`http://${front.host}/api/org1/shared/charts/uploaded/0.3.0`, { method: "DELETE", headers: { Authorization: `Bearer ${push}` } });
  assert.equal(del.status, 200, await del.text());
  const out = await fails(h, ["pull", `oci://${front.host}/org1/shared/uploaded`, "--version", "0.3.0", "--plain-http"], { env });
  assert.match(out, /not found|404/i, out);
});

test("provenance follows the chart: signed through the API, verified by helm pull oci:// --verify; signed with helm push, verified over HTTP", async () => {
  const h = HELMS[0];
  const signer = signingKey();
  const stranger = signingKey("someone else");
  const sign = ["--sign", "--key", signer.name, "--keyring", signer.secring];
  const env = helmEnv();
  await login(h, env, "ci", "ci-secret");
  const push = { Authorization: `Bearer ${mint(key, "artifact-repository:org1/signed:pull,push", { extra: ["--iss", "https://issuer.test"] })}` };
  const api = `http://${front.host}/api/org1/signed`;
  const oci = (chart) => `oci://${front.host}/org1/signed/${chart}`;
  const verify = (chart, keyring, dest = tmp("verified")) =>
    run(h, ["pull", oci(chart), "--version", "1.0.0", "--plain-http", "--verify", "--keyring", keyring, "--destination", dest], { env });

  // ChartMuseum's form with chart and prov: the OCI form carries the provenance layer.
  const viaApi = makeChartRepo("viaapi", "1.0.0", sign);
  const viaApiProv = readFileSync(join(viaApi.dir, `${viaApi.file}.prov`));
  const form = new FormData();
  form.append("chart", new Blob([viaApi.tgz]), viaApi.file);
  form.append("prov", new Blob([viaApiProv]), `${viaApi.file}.prov`);
  assert.equal((await fetch(`${api}/charts`, { method: "POST", headers: push, body: form })).status, 201);
  const dest = tmp("verified");
  const verified = await verify("viaapi", signer.pubring, dest);
  assert.ok(verified.ok, verified.out);
  assert.deepEqual(readFileSync(join(dest, viaApi.file)), viaApi.tgz);
  assert.deepEqual(readFileSync(join(dest, `${viaApi.file}.prov`)), viaApiProv, "helm fetched the provenance layer");
  const forged = await verify("viaapi", stranger.pubring);
  assert.ok(!forged.ok, "another signer's keyring must not verify it");

  // A provenance file uploaded after its chart reaches the chart's OCI form (an immutable tag
  // may gain a signature, never another chart).
  const later = makeChartRepo("later", "1.0.0", sign);
  assert.equal((await fetch(`${api}/charts`, { method: "POST", headers: push, body: later.tgz })).status, 201);
  const unsigned = await verify("later", signer.pubring);
  assert.ok(!unsigned.ok, "no provenance yet: helm pull --verify fails");
  const laterProv = readFileSync(join(later.dir, `${later.file}.prov`));
  assert.equal((await fetch(`${api}/prov`, { method: "POST", headers: push, body: laterProv })).status, 201);
  const signedLater = await verify("later", signer.pubring);
  assert.ok(signedLater.ok, signedLater.out);
  // A signature is never replaced without ?force (ALLOW_OVERWRITE is off here): helm still verifies.
  const forgedProv = provOf("later", "1.0.0", later.tgz, "forged");
  const replaced = await fetch(`${api}/prov`, { method: "POST", headers: push, body: forgedProv });
  assert.equal(replaced.status, 409);
  assert.deepEqual(await replaced.json(), { error: "file already exists" });
  assert.equal((await fetch(`${api}/prov`, { method: "POST", headers: push, body: laterProv })).status, 409);
  const stillSigned = await verify("later", signer.pubring);
  assert.ok(stillSigned.ok, stillSigned.out);

  // helm push with the .prov beside the archive: helm over HTTP verifies it.
  const viaOci = makeChartRepo("viaoci", "1.0.0", sign);
  await ok(h, ["push", join(viaOci.dir, viaOci.file), `oci://${front.host}/org1/signed`, "--plain-http"], { env });
  const reader = mint(key, "artifact-repository:org1/signed:pull", { extra: ["--iss", "https://issuer.test"] });
  await ok(h, ["repo", "add", "signed", `http://${front.host}/org1/signed`, "--username", "token", "--password-stdin"], { env, input: reader });
  const httpDest = tmp("verified-http");
  await ok(h, ["pull", "signed/viaoci", "--version", "1.0.0", "--verify", "--keyring", signer.pubring, "--destination", httpDest], { env });
  assert.deepEqual(readFileSync(join(httpDest, viaOci.file)), viaOci.tgz);
  const provUrl = `http://${front.host}/org1/signed/charts/${viaOci.file}.prov`;
  const served = await fetch(provUrl, { headers: push });
  assert.equal(served.status, 200);
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), readFileSync(join(viaOci.dir, `${viaOci.file}.prov`)));

  // Deleting either chart's OCI manifest leaves nothing of it downloadable over HTTP.
  for (const [chart, file] of [["viaoci", viaOci.file], ["viaapi", viaApi.file]]) {
    const manifest = `http://${front.host}/v2/org1/signed/${chart}/manifests`;
    const digest = (await fetch(`${manifest}/1.0.0`, { method: "HEAD", headers: push })).headers.get("docker-content-digest");
    assert.equal((await fetch(`${manifest}/${digest}`, { method: "DELETE", headers: push })).status, 202);
    for (const gone of [file, `${file}.prov`]) {
      const res = await fetch(`http://${front.host}/org1/signed/charts/${gone}`, { headers: push });
      assert.equal(res.status, 404, `${gone} after its OCI delete`);
    }
  }
});

for (const h of HELMS) {
  const ref = (chart) => `oci://${front.host}/${h.repo}/${chart}`;

  test(`${h.name}: registry login, push, pull by version and range, show, template, logout`, async () => {
    const env = helmEnv();
    const chart = makeChartRepo("hello", "0.1.0");
    assert.match(await login(h, env, "ci", "ci-secret"), /Login Succeeded/);
    const pushed = await ok(h, ["push", join(chart.dir, chart.file), `oci://${front.host}/${h.repo}`, "--plain-http"], { env });
    assert.match(pushed, new RegExp(`Pushed: .*${h.repo}/hello:0\\.1\\.0`));
    assert.match(pushed, /Digest: sha256:[0-9a-f]{64}/);
    const dest = tmp("oci-pull");
    await ok(h, ["pull", ref("hello"), "--version", "0.1.0", "--plain-http", "--destination", dest], { env });
    assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz, "the same archive comes back");
    const ranged = tmp("oci-range");
    await ok(h, ["pull", ref("hello"), "--version", "^0.1", "--plain-http", "--destination", ranged], { env });
    assert.deepEqual(readdirSync(ranged), [chart.file]);
    assert.match(await ok(h, ["show", "chart", ref("hello"), "--version", "0.1.0", "--plain-http"], { env }), /name: hello/);
    const rendered = await ok(h, ["template", "demo", ref("hello"), "--version", "0.1.0", "--plain-http"], { env });
    assert.match(rendered, /name: demo-hello/);
    await ok(h, ["registry", "logout", front.host], { env });
    const out = await fails(h, ["pull", ref("hello"), "--version", "0.1.0", "--plain-http"], { env });
    assert.match(out, /401|unauthorized|authorization/i, out);
  });

  test(`${h.name}: dependency update with an oci:// dependency`, async () => {
    const env = helmEnv();
    await login(h, env, "ci", "ci-secret");
    const dep = makeChartRepo("dep", "1.2.3");
    await ok(h, ["push", join(dep.dir, dep.file), `oci://${front.host}/${h.repo}`, "--plain-http"], { env });
    const dir = tmp("umbrella-oci");
    writeFileSync(
      join(dir, "Chart.yaml"),
      `apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: dep\n    version: 1.2.3\n    repository: "oci://${front.host}/${h.repo}"\n`,
    );
    await ok(h, ["dependency", "update", dir, "--plain-http"], { env });
    assert.deepEqual(readdirSync(join(dir, "charts")), [dep.file]);
  });

  test(`${h.name}: a chartgate token as the registry password works for oci:// too`, async () => {
    const env = helmEnv();
    const token = mint(key, `artifact-repository:${h.repo}:pull,push`, { extra: ["--iss", "https://issuer.test"] });
    await login(h, env, "token", token);
    const chart = makeChartRepo("bytoken", "0.2.0");
    await ok(h, ["push", join(chart.dir, chart.file), `oci://${front.host}/${h.repo}`, "--plain-http"], { env });
    const dest = tmp("oci-token");
    await ok(h, ["pull", ref("bytoken"), "--version", "0.2.0", "--plain-http", "--destination", dest], { env });
    assert.deepEqual(readdirSync(dest), [chart.file]);
  });

  test(`${h.name}'s messages: expired token, pull-only token pushing, wrong repository, released version`, async () => {
    const expired = mint(key, `artifact-repository:${h.repo}:pull`, {
      now: Math.floor(Date.now() / 1000) - 3600,
      extra: ["--iss", "https://issuer.test"],
    });
    const loginArgs = ["registry", "login", front.host, ...h.login, "--username", "token", "--password-stdin"];
    const e1 = await fails(h, loginArgs, { env: helmEnv(), input: expired });
    assert.match(e1, /token expired/i, e1);

    const reader = helmEnv();
    await login(h, reader, "reader", "reader-secret");
    const other = makeChartRepo("readonly", "0.1.0");
    const e2 = await fails(h, ["push", join(other.dir, other.file), `oci://${front.host}/${h.repo}`, "--plain-http"], { env: reader });
    // helm 4 prints the registry's message; helm 3 (containerd) its own.
    assert.match(e2, new RegExp(`does not grant repository:${h.repo}/readonly:push|push access denied`), e2);

    const e3 = await fails(h, ["pull", `oci://${front.host}/org2/repo1/hello`, "--version", "0.1.0", "--plain-http"], { env: reader });
    assert.match(e3, /does not grant repository:org2\/repo1\/hello:pull|pull access denied/, e3);

    const writer = helmEnv();
    await login(h, writer, "ci", "ci-secret");
    const first = makeChartRepo("released", "1.0.0");
    await ok(h, ["push", join(first.dir, first.file), `oci://${front.host}/${h.repo}`, "--plain-http"], { env: writer });
    const rebuilt = makeChartRepo("released", "1.0.0", ["--app-version", "9.9.9"]); // changed content, same version
    const e4 = await fails(h, ["push", join(rebuilt.dir, rebuilt.file), `oci://${front.host}/${h.repo}`, "--plain-http"], {
      env: writer,
    });
    assert.match(e4, /immutable|409 Conflict/, e4); // helm 3 prints only the status
    if (process.env.SHOW_MESSAGES) console.log([h.name, e1, e2, e3, e4].join("\n---\n"));
  });
}
