// Security round 3 (issue 22) in workerd: the review's findings on the registry (public globs,
// path-bound mounts, 10,000 chunks, Cache-Control of private content, non-distributable layers)
// and what real clients send (a client secret with `%` through helm's Docker token flow, helm's
// push plugin's form, a mirrored signed chart, a new repository's index, `helm pull --verify` of
// a `?token=` repository with helm 4 and helm 3). Each test is named after the item it pins; each
// failed on 8771687.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CHARTGATE,
  disposeAfter,
  HELM,
  HELM3,
  helm,
  helmAsync,
  helmEnv,
  keygen,
  localServer,
  makeChartRepo,
  mint,
  plainHttpFront,
  signingKey,
  startIssuer,
  startWorker,
  tmp,
} from "./harness.mjs";

const started = disposeAfter(after);
let key, w, pub;
const PUSH = "artifact-repository:org1/repo1:pull,push";

before(async () => {
  key = keygen();
  w = await startWorker({ JWKS: key.jwks, ALLOW_OVERWRITE: "true" }, { port: 0 });
  started.push(w);
  pub = await startWorker({ JWKS: key.jwks, PUBLIC_REPOS: "*-public" }, { port: 0 });
  started.push(pub);
});

const sha256 = (b) => "sha256:" + createHash("sha256").update(b).digest("hex");
const bearer = (scope, extra = []) => ({ Authorization: `Bearer ${mint(key, scope, { extra })}` });
const basicAuth = (user, password) => "Basic " + Buffer.from(`${user}:${password}`).toString("base64");

async function upload(base, repo, tgz, headers) {
  return fetch(`${base}/api/${repo}/charts`, { method: "POST", headers: { ...headers, "Content-Type": "application/octet-stream" }, body: tgz });
}

async function pushBlob(base, repo, bytes, headers) {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, { method: "POST", headers, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return sha256(bytes);
}

test("round 3, item 1: PUBLIC_REPOS=*-public never opens the chart x-public of a private repository over OCI", async () => {
  const chart = makeChartRepo("x-public", "1.0.0");
  assert.equal((await upload(pub.url, "acme/charts", chart.tgz, bearer("artifact-repository:acme/charts:pull,push"))).status, 201);
  assert.equal((await upload(pub.url, "acme/team-public", chart.tgz, bearer("artifact-repository:acme/team-public:pull,push"))).status, 201);
  for (const path of ["/v2/acme/charts/x-public/manifests/1.0.0", "/v2/acme/charts/x-public/tags/list", "/acme/charts/index.yaml"]) {
    const res = await fetch(`${pub.url}${path}`);
    assert.equal(res.status, 401, `${path} of the private repository acme/charts, anonymously`);
  }
  const blob = await fetch(`${pub.url}/v2/acme/charts/x-public/blobs/${sha256(chart.tgz)}`);
  assert.equal(blob.status, 401, "nor its archive by digest");
  // The public repository's chart is public over both protocols.
  assert.equal((await fetch(`${pub.url}/v2/acme/team-public/x-public/manifests/1.0.0`)).status, 200);
  assert.equal((await fetch(`${pub.url}/acme/team-public/index.yaml`)).status, 200);
  const env = helmEnv();
  const out = await new Promise((resolve) => {
    const child = spawn(HELM, ["pull", `oci://${new URL(pub.url).host}/acme/charts/x-public`, "--version", "1.0.0", "--plain-http", "-d", tmp("pull")], { env });
    let text = "";
    child.stderr.on("data", (d) => (text += d));
    child.on("close", (code) => resolve({ code, text }));
  });
  assert.notEqual(out.code, 0, "real helm cannot pull it anonymously");
});

test("round 3, item 2: a token bound by paths to one OCI repository cannot mount (and then read) a blob from outside it", async () => {
  const full = bearer(PUSH);
  const secret = Buffer.from(`a blob only org1/repo1/src holds ${Date.now()}`);
  const d = await pushBlob(w.url, "org1/repo1/src", secret, full);
  const bound = bearer(PUSH, ["--path", "/v2/org1/repo1/dst/*"]);
  const mount = await fetch(`${w.url}/v2/org1/repo1/dst/blobs/uploads/?mount=${d}&from=org1/repo1/src`, { method: "POST", headers: bound });
  assert.equal(mount.status, 202, "the mount becomes a plain upload (the spec's 202)");
  const read = await fetch(`${w.url}/v2/org1/repo1/dst/blobs/${d}`, { headers: bound });
  assert.equal(read.status, 404, "nothing was linked into the bound repository");
  assert.notEqual((await fetch(`${w.url}/v2/org1/repo1/src/blobs/${d}`, { headers: bound })).status, 200, "a direct read is refused too");
  // A binding that covers the source mounts it.
  const both = bearer(PUSH, ["--path", "/v2/org1/repo1/dst/*", "--path", "/v2/org1/repo1/src/*"]);
  const allowed = await fetch(`${w.url}/v2/org1/repo1/dst/blobs/uploads/?mount=${d}&from=org1/repo1/src`, { method: "POST", headers: both });
  assert.equal(allowed.status, 201);
  assert.deepEqual(Buffer.from(await (await fetch(`${w.url}/v2/org1/repo1/dst/blobs/${d}`, { headers: both })).arrayBuffer()), secret);
});

test("round 3, item 3: a chunked upload takes 10,000 chunks; the 10,001st is refused and the upload still completes", async () => {
  const headers = bearer(PUSH);
  const start = await fetch(`${w.url}/v2/org1/repo1/chunks/blobs/uploads/`, { method: "POST", headers });
  assert.equal(start.status, 202);
  let location = start.headers.get("location");
  const content = Buffer.alloc(10_000);
  for (let i = 0; i < 10_000; i++) {
    content[i] = i % 251;
    const res = await fetch(`${w.url}${location}`, {
      method: "PATCH",
      headers: { ...headers, "Content-Range": `${i}-${i}`, "Content-Type": "application/octet-stream" },
      body: content.subarray(i, i + 1),
    });
    if (res.status !== 202) assert.fail(`chunk ${i + 1}: ${res.status} ${await res.text()}`);
    location = res.headers.get("location");
    if (i === 999 || i === 1000 || i === 9_999) assert.equal(res.headers.get("range"), `0-${i}`, `after chunk ${i + 1}`);
  }
  const past = await fetch(`${w.url}${location}`, {
    method: "PATCH",
    headers: { ...headers, "Content-Range": "10000-10000" },
    body: Buffer.from([1]),
  });
  assert.equal(past.status, 400);
  assert.match(await past.text(), /BLOB_UPLOAD_INVALID[\s\S]*more than 10000 chunks/);
  const done = await fetch(`${w.url}${location}${location.includes("?") ? "&" : "?"}digest=${sha256(content)}`, { method: "PUT", headers });
  assert.equal(done.status, 201, await done.text());
  const blob = await fetch(`${w.url}/v2/org1/repo1/chunks/blobs/${sha256(content)}`, { headers });
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), content);
});

test("round 3, item 4: content by digest of a private repository is Cache-Control private; a public one's stays public", async () => {
  const chart = makeChartRepo("cc", "1.0.0");
  const headers = bearer("artifact-repository:org1/repo1:pull,push");
  assert.equal((await upload(w.url, "org1/repo1", chart.tgz, headers)).status, 201);
  const manifest = await fetch(`${w.url}/v2/org1/repo1/cc/manifests/1.0.0`, { headers });
  const digest = manifest.headers.get("docker-content-digest");
  for (let round = 0; round < 2; round++) {
    for (const [path, extra] of [
      [`/v2/org1/repo1/cc/blobs/${sha256(chart.tgz)}`, {}],
      [`/v2/org1/repo1/cc/blobs/${sha256(chart.tgz)}`, { Range: "bytes=0-9" }],
      [`/v2/org1/repo1/cc/manifests/${digest}`, {}],
    ]) {
      const res = await fetch(`${w.url}${path}`, { headers: { ...headers, ...extra } });
      assert.ok([200, 206].includes(res.status), `${path}: ${res.status}`);
      assert.equal(res.headers.get("cache-control"), "private, max-age=31536000, immutable", `${path} ${JSON.stringify(extra)} (round ${round})`);
      await res.arrayBuffer();
    }
  }
  const open = bearer("artifact-repository:acme/team-public:pull,push");
  const opened = makeChartRepo("cc", "1.0.0");
  assert.equal((await upload(pub.url, "acme/team-public", opened.tgz, open)).status, 201);
  const tgz = await fetch(`${pub.url}/v2/acme/team-public/cc/blobs/${sha256(opened.tgz)}`);
  assert.equal(tgz.status, 200);
  assert.equal(tgz.headers.get("cache-control"), "public, max-age=31536000, immutable");
});

test("round 3, item 5: a manifest with the conformance suite's non-distributable layers is accepted; no other missing blob is", async () => {
  const headers = bearer(PUSH);
  const repo = "org1/repo1/nondist";
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const layer = Buffer.from(`ordinary layer ${Date.now()}`);
  await pushBlob(w.url, repo, config, headers);
  await pushBlob(w.url, repo, layer, headers);
  const foreign = [Buffer.from("never pushed 1"), Buffer.from("never pushed 2")];
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: [
      { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: sha256(foreign[0]), size: 123456, urls: [`https://store.example.com/blobs/sha256/${sha256(foreign[0]).slice(7)}`] },
      { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar", digest: sha256(foreign[1]), size: 12345, urls: [`https://store.example.com/blobs/sha256/${sha256(foreign[1]).slice(7)}`] },
      { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(layer), size: layer.length },
    ],
  });
  const put = (ref, text) =>
    fetch(`${w.url}/v2/${repo}/manifests/${ref}`, { method: "PUT", headers: { ...headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json" }, body: text });
  const res = await put("non-distributable-image", body);
  assert.equal(res.status, 201, await res.text());
  const got = await fetch(`${w.url}/v2/${repo}/manifests/non-distributable-image`, { headers });
  assert.equal(await got.text(), body);
  assert.equal((await fetch(`${w.url}/v2/${repo}/blobs/${sha256(foreign[0])}`, { headers })).status, 404, "the layer itself is not served");
  // The same manifest with the unpushed layers as ordinary layers is refused, and so is one whose
  // missing layer only claims to be distributable elsewhere through `urls`.
  const ordinary = body.replaceAll("layer.nondistributable.v1", "layer.v1");
  const refused = await put("ordinary", ordinary);
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /MANIFEST_BLOB_UNKNOWN/);
});

test("round 3, item 6: a client secret with % works through helm's Docker token flow (registry login, push, pull)", async () => {
  const secret = `f%41x:q~"n;p+&w%zz!`;
  const issuer = await startIssuer(key, { pct: { scopes: ["artifact-repository:org1/*:pull,push"], secret } });
  started.push(issuer);
  const worker = await startWorker(
    { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" },
    { port: 0 },
  );
  started.push(worker);
  const front = await plainHttpFront(worker.url);
  started.push(front);
  const run = (bin, args, input) => helmAsync(args, { env, input, bin });
  const env = helmEnv();
  const chart = makeChartRepo("pct", "1.0.0");
  const login = await run(HELM, ["registry", "login", front.host, "--plain-http", "--username", "pct", "--password-stdin"], secret);
  assert.ok(login.ok, login.out);
  const push = await run(HELM, ["push", join(chart.dir, chart.file), `oci://${front.host}/org1/repo1`, "--plain-http"]);
  assert.ok(push.ok, push.out);
  const dest = tmp("pct");
  const pull = await run(HELM, ["pull", `oci://${front.host}/org1/repo1/pct`, "--version", "1.0.0", "--plain-http", "-d", dest]);
  assert.ok(pull.ok, pull.out);
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
  // The edge's own Basic door reads the user verbatim and never decodes it.
  const token = mint(key, PUSH);
  const res = await fetch(`${w.url}/org1/repo1/index.yaml`, { headers: { Authorization: basicAuth("f%41x~\"+&", token) } });
  assert.equal(res.status, 200);
});

/** The request helm's push plugin (`helm cm-push`) sends: Go's multipart writer, the part named with the local path. */
function pluginForm(tgz, localPath, prov) {
  const boundary = "1b9e0cf45d3e2a0f8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d";
  const part = (name, file, bytes) =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${file}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      bytes,
      Buffer.from("\r\n"),
    ]);
  const parts = [part("chart", localPath, tgz)];
  if (prov) parts.push(part("prov", `${localPath}.prov`, prov));
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

test("round 3, item 7: helm cm-push's request (local path as file name) with Basic user:token, with --access-token as Bearer, and ?force", async () => {
  const signer = signingKey();
  const chart = makeChartRepo("cmp", "0.3.1", ["--sign", "--key", signer.name, "--keyring", signer.secring]);
  const prov = readFileSync(join(chart.dir, `${chart.file}.prov`));
  const token = mint(key, PUSH);
  const form = pluginForm(chart.tgz, `/tmp/helm-push-2214883397/${chart.file}`, prov);
  const viaBasic = await fetch(`${w.url}/api/org1/repo1/charts`, {
    method: "POST",
    headers: { Authorization: basicAuth("ci-user", token), "Content-Type": form.type },
    body: form.body,
  });
  assert.equal(viaBasic.status, 201, await viaBasic.text());
  const served = await fetch(`${w.url}/org1/repo1/${chart.file}.prov`, { headers: { Authorization: `Bearer ${token}` } });
  assert.deepEqual(Buffer.from(await served.arrayBuffer()), prov, "the provenance part was stored");
  const rc = makeChartRepo("cmp", "0.4.0-rc.1");
  const rcForm = pluginForm(rc.tgz, `/tmp/helm-push-77/${rc.file}`);
  const send = (query) =>
    fetch(`${w.url}/api/org1/repo1/charts${query}`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": rcForm.type }, body: rcForm.body });
  assert.equal((await send("")).status, 201, "--access-token sends Bearer");
  assert.equal((await send("")).status, 409, "a second push without --force");
  assert.equal((await send("?force")).status, 201, "--force");
  const wrong = pluginForm(chart.tgz, "/tmp/helm-push-1/cmp-9.9.9.tgz");
  const refused = await fetch(`${w.url}/api/org1/repo1/charts?force`, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": wrong.type }, body: wrong.body });
  assert.equal(refused.status, 400, "a base name naming another version still disagrees");
});

test("round 3, item 8: chartgate mirror copies provenance files (as helm fetches them), so helm pull --verify works after the move", async () => {
  const signer = signingKey();
  const repo = makeChartRepo("sealedm", "1.2.0", ["--sign", "--key", signer.name, "--keyring", signer.secring]);
  // The archive under charts/, as an index.yaml with relative URLs in a subdirectory lists it.
  mkdirSync(join(repo.dir, "charts"));
  writeFileSync(join(repo.dir, "charts", repo.file), repo.tgz);
  writeFileSync(join(repo.dir, "charts", `${repo.file}.prov`), readFileSync(join(repo.dir, `${repo.file}.prov`)));
  writeFileSync(join(repo.dir, "index.yaml"), repo.index.replace(`- ${repo.file}`, `- charts/${repo.file}`));
  const source = await localServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.searchParams.get("token") !== "src-token") return res.writeHead(401).end();
    try {
      res.writeHead(200).end(readFileSync(join(repo.dir, url.pathname.replace(/^\/stable\//, ""))));
    } catch {
      res.writeHead(404).end();
    }
  });
  started.push(source);
  const mirror = (target) =>
    new Promise((resolve) => {
      const child = spawn(CHARTGATE, ["mirror", `${source.url}/stable?token=src-token`, `${w.url}/${target}`, "--token", "-"]);
      const out = { stdout: "", stderr: "" };
      child.stdout.on("data", (d) => (out.stdout += d));
      child.stderr.on("data", (d) => (out.stderr += d));
      child.on("close", (status) => resolve({ ...out, status }));
      child.stdin.end(mint(key, `artifact-repository:${target}:pull,push`));
    });
  const first = await mirror("org1/moved");
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /1 uploaded, 0 already there, 0 failed/);
  assert.ok(source.hits.get(`/stable/charts/${repo.file}.prov`) >= 1, "the provenance file was fetched where helm fetches it");
  const env = helmEnv();
  helm(["repo", "add", "moved", `${w.url}/org1/moved`, "--username", "token", "--password-stdin"], { env, input: mint(key, "artifact-repository:org1/moved:pull") });
  const dest = tmp("verified");
  helm(["pull", "moved/sealedm", "--version", "1.2.0", "--verify", "--keyring", signer.pubring, "-d", dest], { env });
  assert.deepEqual(readdirSync(dest).sort(), [repo.file, `${repo.file}.prov`]);
  const again = await mirror("org1/moved");
  assert.match(again.stdout, /0 uploaded, 1 already there, 0 failed/, again.stderr);
});

test("round 3, item 9: a new, empty repository serves a valid empty index.yaml; helm repo add and the API answer", async () => {
  const token = mint(key, "artifact-repository:org1/brand-new:pull,push");
  const res = await fetch(`${w.url}/org1/brand-new/index.yaml`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const index = JSON.parse(await res.text()); // JSON is YAML: the edge writes its indexes so
  assert.equal(index.apiVersion, "v1");
  assert.deepEqual(index.entries, {});
  assert.ok(index.generated);
  assert.equal(res.headers.get("cache-control"), "private, no-cache");
  assert.equal((await fetch(`${w.url}/org1/brand-new/index.yaml`)).status, 401, "still behind the token");
  const env = helmEnv();
  helm(["repo", "add", "fresh", `${w.url}/org1/brand-new`, "--username", "token", "--password-stdin"], { env, input: token });
  assert.match(helm(["search", "repo", "fresh/"], { env }), /No results found/);
  const api = await fetch(`${w.url}/api/org1/brand-new/charts`, { headers: { Authorization: `Bearer ${token}` } });
  assert.deepEqual(await api.json(), {});
  // The first upload shows at once (the empty index was never cached).
  assert.equal((await upload(w.url, "org1/brand-new", makeChartRepo("first", "0.1.0").tgz, { Authorization: `Bearer ${token}` })).status, 201);
  helm(["repo", "update", "fresh"], { env });
  assert.match(helm(["search", "repo", "fresh/"], { env }), /fresh\/first\s+0\.1\.0/);
});

for (const [name, bin] of [["helm 4", HELM], ["helm 3", HELM3]]) {
  test(`round 3, item 10 (${name}): helm pull --verify, --repo, template and dependency update with a ?token= repository URL`, async () => {
    const signer = signingKey();
    const repo = `org1/sealed${name.replace(" ", "")}`;
    const chart = makeChartRepo("sealed", "2.3.0", ["--sign", "--key", signer.name, "--keyring", signer.secring]);
    const form = new FormData();
    form.append("chart", new Blob([chart.tgz]), chart.file);
    form.append("prov", new Blob([readFileSync(join(chart.dir, `${chart.file}.prov`))]), `${chart.file}.prov`);
    const pushed = await fetch(`${w.url}/api/${repo}/charts`, { method: "POST", headers: bearer(`artifact-repository:${repo}:pull,push`), body: form });
    assert.equal(pushed.status, 201);
    const url = `${w.url}/${repo}?token=${mint(key, `artifact-repository:${repo}:pull`)}`;
    const env = helmEnv();
    const run = (args, opts = {}) => helm(args, { env, bin, ...opts });
    run(["repo", "add", "sealed", url]);
    const dest = tmp("verify");
    run(["pull", "sealed/sealed", "--version", "2.3.0", "--verify", "--keyring", signer.pubring, "-d", dest]);
    assert.deepEqual(readdirSync(dest).sort(), [chart.file, `${chart.file}.prov`]);
    const direct = tmp("verify-repo");
    run(["pull", "sealed", "--repo", url, "--version", "2.3.0", "--verify", "--keyring", signer.pubring, "-d", direct]);
    assert.deepEqual(readFileSync(join(direct, chart.file)), chart.tgz);
    assert.match(run(["template", "demo", "sealed", "--repo", url, "--version", "2.3.0"]), /name: demo-sealed/);
    const parent = join(tmp("parent"), "parent");
    run(["create", parent]);
    const yaml = readFileSync(join(parent, "Chart.yaml"), "utf8") + `dependencies:\n  - name: sealed\n    version: 2.3.0\n    repository: "${url}"\n`;
    writeFileSync(join(parent, "Chart.yaml"), yaml);
    run(["dependency", "update", parent]);
    assert.deepEqual(readFileSync(join(parent, "charts", chart.file)), chart.tgz);
    // The token never reaches a log line (the harness checks every minted token at exit) and a
    // wrong token with .prov glued on is still refused.
    const forged = await fetch(`${w.url}/${repo}/${chart.file}?token=not.a.jwt.prov`);
    assert.equal(forged.status, 401);
  });
}
