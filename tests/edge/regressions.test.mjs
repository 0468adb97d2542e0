// Regression tests, one place: each test is named after the finding or the client bug it pins
// (docs/security.md lists them with their fixes), grouped by the review that found them. Each
// group starts its own worker; every test fails on the commit before its fix.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHARTGATE, HELM, HELM3, HELM_CHART, HELM_CONFIG, HELM_PROV, OCI_MANIFEST, auditLines, chartgate, disposeAfter, helm, helmAsync, helmEnv, keygen, localServer, makeChartRepo, mint, plainHttpFront, provOf, sha256, signingKey, startIssuer, startWorker, tmp } from "./harness.mjs";

  // Regression tests of the second security round (issue 15) against the worker in workerd, one
  // per finding of the edge, named after it. Each failed on 0ea6248. The issuer's side of the same
  // findings is in tests/findings.rs.
describe("the edge's findings of the second security review (issue 15)", () => {
  const PULL = "artifact-repository:org1/repo1:pull";
  const PUSH = "artifact-repository:org1/repo1:pull,push";
  const started = disposeAfter(after);

  async function worker(bindings, options) {
    const w = await startWorker(bindings, options);
    started.push(w);
    w.fetch = (path, { token, ...init } = {}) => {
      const headers = { ...(init.headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
      return w.mf.dispatchFetch(`http://charts.test${path}`, { ...init, headers });
    };
    return w;
  }

  async function server(handler) {
    const s = await localServer(handler);
    started.push(s);
    return s;
  }

  const jti = (token) => JSON.parse(chartgate("inspect", "--json", token)).claims.jti;

  /** Starts `chartgate serve` with a client `ci` / `ci-secret` (org1 pull and push); resolves to its URL. */
  async function issuer(key) {
    const started_ = await startIssuer(key);
    started.push(started_);
    return started_.url;
  }

  test("finding 2: a signed URL keeps its lineage: revoking the root token revokes the link at the edge", async () => {
    const key = keygen();
    const base = await issuer(key);
    const w = await worker({ JWKS: key.jwks, ISSUER: "https://issuer.test" });
    // The chart is published through the API: the repository ledger lists what is served.
    const chart = makeChartRepo("a", "1.0.0");
    const upload = await w.fetch("/api/org1/repo1/charts", { method: "POST", headers: { Authorization: `Bearer ${mint(key, "artifact-repository:org1/repo1:push", { extra: ["--iss", "https://issuer.test"] })}` }, body: chart.tgz });
    assert.equal(upload.status, 201);
    const form = (body) => ({ method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(body) });
    const auth = { Authorization: "Basic " + Buffer.from("ci:ci-secret").toString("base64") };
    const issued = await fetch(`${base}/oauth/token`, { ...form({ grant_type: "client_credentials", scope: PULL }), headers: { ...form({}).headers, ...auth } });
    assert.equal(issued.status, 200);
    const root = (await issued.json()).access_token;
    // root → exchanged child → signed URL of the child
    const exchanged = await fetch(`${base}/oauth/token`, form({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: root }));
    const child = (await exchanged.json()).access_token;
    const signed = await fetch(`${base}/sign-url`, {
      method: "POST",
      headers: { Authorization: `Bearer ${child}`, "Content-Type": "application/json" },
      body: JSON.stringify({ url: "https://charts.test/org1/repo1/charts/a-1.0.0.tgz" }),
    });
    assert.equal(signed.status, 200);
    const link = new URL((await signed.json()).url);
    const path = link.pathname + link.search;
    assert.equal((await w.fetch(path)).status, 200);
    const kv = await w.mf.getKVNamespace("REVOCATIONS");
    await kv.put(`jti:${jti(root)}`, "leaked");
    const res = await w.fetch(path);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, "revoked");
    // The link could not be widened by the link itself either (finding 1).
    const linkToken = link.searchParams.get("token");
    const wider = await fetch(`${base}/sign-url`, {
      method: "POST",
      headers: { Authorization: `Bearer ${linkToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ url: "https://charts.test/org1/repo1/index.yaml" }),
    });
    assert.equal(wider.status, 400);
    assert.equal((await wider.json()).error, "invalid_scope");
  });

  test("finding 3: JWKS and JWKS_URL: after an outage past max-stale, the URL's keys come back", async () => {
    const fixed = keygen();
    const remote = keygen();
    let up = true;
    const jwks = await server((req, res) => {
      if (!up) {
        res.writeHead(503);
        return res.end("down");
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(remote.jwks);
    });
    const w = await worker({ JWKS: fixed.jwks, JWKS_URL: `${jwks.url}/jwks.json`, JWKS_TTL: "0", JWKS_MAX_STALE: "0", JWKS_REFETCH_INTERVAL: "0" });
    await (await w.mf.getR2Bucket("CHARTS")).put("org1/repo1/index.yaml", "apiVersion: v1\nentries: {}\n");
    const remoteToken = mint(remote, PULL);
    assert.equal((await w.fetch("/org1/repo1/index.yaml", { token: remoteToken })).status, 200);
    up = false;
    const during = await w.fetch("/org1/repo1/index.yaml", { token: remoteToken });
    assert.equal(during.status, 401, "fail closed: only the static keys are trusted");
    assert.equal((await during.json()).reason, "unknown_kid");
    assert.equal((await w.fetch("/org1/repo1/index.yaml", { token: mint(fixed, PULL) })).status, 200, "static keys serve");
    up = true;
    assert.equal((await w.fetch("/org1/repo1/index.yaml", { token: remoteToken })).status, 200, "recovered");
  });

  test("finding 7: a client's If-None-Match never reaches the origin; the edge answers it", async () => {
    const key = keygen();
    const seen = [];
    const origin = await server((req, res) => {
      seen.push(req.headers["if-none-match"] ?? null);
      if (req.headers["if-none-match"]) {
        res.writeHead(304, { ETag: '"v1"' });
        return res.end();
      }
      res.writeHead(200, { "Content-Type": "application/gzip", ETag: '"v1"' });
      res.end("archive bytes");
    });
    const w = await worker({ JWKS: key.jwks, ORIGIN_URL: origin.url });
    const token = mint(key, PULL);
    const stale = await w.fetch("/org1/repo1/charts/a-1.0.0.tgz", { token, headers: { "If-None-Match": '"v0"' } });
    assert.equal(stale.status, 200);
    assert.equal(await stale.text(), "archive bytes");
    const fresh = await w.fetch("/org1/repo1/charts/b-1.0.0.tgz", { token, headers: { "If-None-Match": '"v1"' } });
    assert.equal(fresh.status, 304, "answered by the edge from the whole object");
    await fresh.arrayBuffer();
    assert.deepEqual(seen, [null, null]);
  });

  test("finding 8: methods the worker crate does not know get 405, and are logged as sent", async () => {
    const key = keygen();
    const w = await worker({ JWKS: key.jwks });
    await (await w.mf.getR2Bucket("CHARTS")).put("org1/repo1/index.yaml", "apiVersion: v1\nentries: {}\n");
    const token = mint(key, PULL);
    for (const method of ["PROPFIND", "MKCOL", "PURGE"]) {
      const res = await w.fetch("/org1/repo1/index.yaml", { method, token });
      assert.equal(res.status, 405, method);
      assert.equal((await res.json()).reason, "method_not_allowed");
    }
    await new Promise((r) => setTimeout(r, 200));
    const methods = auditLines(w.logs).map((l) => l.method);
    assert.deepEqual(methods, ["PROPFIND", "MKCOL", "PURGE"]);
  });

  test("finding 10: report-only mode enforces writes", async () => {
    const key = keygen();
    const origin = await server((req, res) => {
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end('{"saved":true}');
    });
    const w = await worker({ JWKS: key.jwks, MODE: "report-only", ORIGIN_URL: origin.url });
    const upload = await w.fetch("/api/org1/repo1/charts", { method: "POST", body: "not a chart" });
    assert.equal(upload.status, 401);
    const del = await w.fetch("/api/org1/repo1/charts/hello/0.1.0", { method: "DELETE", token: mint(key, PULL) });
    assert.equal(del.status, 403);
    assert.equal(origin.hits.size, 0, "nothing reached the origin");
    const read = await w.fetch("/api/org1/repo1/charts");
    assert.equal(read.status, 201, "reads are still passed in report-only mode");
  });

  test("finding 14: deletes and overwrites through the edge purge the cache and R2; uploads purge the index", async () => {
    const key = keygen();
    const repo = makeChartRepo("hello", "0.1.0");
    let served = repo.tgz; // what the origin holds for hello-0.1.0.tgz (null: deleted)
    let index = repo.index;
    let uploads = 0;
    const origin = await server((req, res) => {
      const path = req.url.split("?")[0];
      if (req.method === "DELETE" && path === "/api/org1/repo1/charts/hello/0.1.0") {
        served = null;
        index = "apiVersion: v1\nentries: {}\n";
        res.writeHead(200, { "Content-Type": "application/json" });
        return res.end('{"deleted":true}');
      }
      if (req.method === "POST" && path === "/api/org1/repo1/charts") {
        uploads += 1;
        served = Buffer.from(`overwritten archive ${uploads}`);
        index = `${repo.index}# upload ${uploads}\n`;
        req.resume();
        req.on("end", () => {
          res.writeHead(201, { "Content-Type": "application/json" });
          res.end('{"saved":true}');
        });
        return;
      }
      if (path === "/org1/repo1/index.yaml") {
        res.writeHead(200, { "Content-Type": "application/x-yaml" });
        return res.end(index);
      }
      if (path.endsWith(`/${repo.file}`) && served) {
        res.writeHead(200, { "Content-Type": "application/gzip" });
        return res.end(served);
      }
      res.writeHead(404);
      res.end();
    });
    const w = await worker({ JWKS: key.jwks, ORIGIN_URL: origin.url, R2_WRITE_THROUGH: "true" });
    const bucket = await w.mf.getR2Bucket("CHARTS");
    const pull = mint(key, PULL);
    const push = mint(key, PUSH);
    const archive = `/org1/repo1/charts/${repo.file}`;
    const body = async (path) => Buffer.from(await (await w.fetch(path, { token: pull })).arrayBuffer());
    assert.deepEqual(await body(archive), repo.tgz);
    assert.equal((await w.fetch(archive, { token: pull })).headers.get("x-chartgate-cache"), "HIT");
    assert.ok(await bucket.head(`org1/repo1/${repo.file}`), "written through to R2");
    assert.match((await body("/org1/repo1/index.yaml")).toString(), /hello/);

    // Overwrite with a raw .tgz body (curl --data-binary), then with ChartMuseum's multipart form.
    let upload = await w.fetch("/api/org1/repo1/charts?force", { method: "POST", token: push, body: repo.tgz });
    assert.equal(upload.status, 201);
    assert.equal((await body(archive)).toString(), "overwritten archive 1", "the replaced archive is not served");
    assert.match((await body("/org1/repo1/index.yaml")).toString(), /# upload 1/, "the index is the new one");
    const form = new FormData();
    form.append("chart", new Blob([repo.tgz]), repo.file);
    // Encoded here: miniflare's dispatchFetch would send a FormData body as "[object FormData]".
    const multipart = new Response(form);
    const headers = { "Content-Type": multipart.headers.get("content-type") };
    const encoded = Buffer.from(await multipart.arrayBuffer());
    upload = await w.fetch("/api/org1/repo1/charts?force", { method: "POST", token: push, headers, body: encoded });
    assert.equal(upload.status, 201);
    assert.equal((await body(archive)).toString(), "overwritten archive 2");
    assert.match((await body("/org1/repo1/index.yaml")).toString(), /# upload 2/);

    const del = await w.fetch("/api/org1/repo1/charts/hello/0.1.0", { method: "DELETE", token: push });
    assert.equal(del.status, 200);
    await del.arrayBuffer();
    assert.equal(await bucket.head(`org1/repo1/${repo.file}`), null, "gone from R2");
    const after = await w.fetch(archive, { token: pull });
    assert.equal(after.status, 404, "no longer downloadable");
    await after.arrayBuffer();
    assert.doesNotMatch((await body("/org1/repo1/index.yaml")).toString(), /hello/, "the index is the new one");
  });

  test("finding 13: claims with invalid UTF-8 in an ignored member are refused", async () => {
    // The attack corpus carries these cases for every front end; this one is minted here, with a
    // key of this run, so the worker's refusal cannot come from an unknown key.
    const key = keygen();
    const w = await worker({ JWKS: key.jwks });
    const header = Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid })).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const json = JSON.stringify({ exp: now + 300, access: [{ type: "artifact-repository", name: "org1/repo1", actions: ["pull"] }] });
    const payload = Buffer.concat([Buffer.from(json.slice(0, -1) + ',"note":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    const { createPrivateKey, sign } = await import("node:crypto");
    const { readFileSync } = await import("node:fs");
    const input = `${header}.${payload.toString("base64url")}`;
    const signature = sign("sha256", Buffer.from(input), createPrivateKey(readFileSync(key.private))).toString("base64url");
    const res = await w.fetch("/org1/repo1/index.yaml", { token: `${input}.${signature}` });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).reason, "malformed_token");
  });
});

  // Security round 3 (issue 22) in workerd: the review's findings on the registry (public globs,
  // path-bound mounts, 10,000 chunks, Cache-Control of private content, non-distributable layers)
  // and what real clients send (a client secret with `%` through helm's Docker token flow, helm's
  // push plugin's form, a mirrored signed chart, a new repository's index, `helm pull --verify` of
  // a `?token=` repository with helm 4 and helm 3). Each test is named after the item it pins; each
  // failed on 8771687.
describe("the registry review and what real clients send (issue 22)", () => {
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
});

  // An outside attack on the repository ledger (issue 23), one test per way in; each broke an
  // invariant of the first ledger and is refused since (see docs/security.md).
describe("attacks on the repository ledger, each of which broke an invariant of the first ledger (issue 23)", () => {
  const started = disposeAfter(after);
  let key, w;
  before(async () => {
    key = keygen();
    w = await startWorker({ JWKS: key.jwks, ALLOW_OVERWRITE: "true" }, { port: 0 });
    started.push(w);
  });

  const bearer = (scope, extra = []) => ({ Authorization: `Bearer ${mint(key, scope, { extra })}` });

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
    const p1 = Buffer.from(provOf("pv", "1.0.0", chart.tgz));
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
});

  // Outside review, part 2: attacks shown with real helm 4 (Docker token flow through a real issuer).
describe("attacks on the repository ledger with real helm 4 through a real issuer (issue 23)", () => {
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
  const auth = (scope = `artifact-repository:${REPO}:pull,push`) => ({ Authorization: `Bearer ${mint(key, scope, { extra: ["--iss", "https://issuer.test"] })}` });
  const base = () => `http://${front.host}`;

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
    const prov = provOf("later", "1.0.0", chart.tgz);
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
});

  // Outside review, part 3: bricking a repository through the typed, bounded index entries.
describe("bricking a repository through its typed, bounded index entries (issue 23)", () => {
  const started = disposeAfter(after);
  let key, w;
  before(async () => {
    key = keygen();
    w = await startWorker({ JWKS: key.jwks }, { port: 0 });
    started.push(w);
  });
  const bearer = (scope) => ({ Authorization: `Bearer ${mint(key, scope)}` });

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
    for (let i = 0; i < 11; i++) {
      // A real archive of each version, so the entry gate lets it through to the ledger's bound.
      const tgz = makeChartRepo("big", `1.0.${i}`).tgz;
      const p = await pushChart(`${repo}/big`, `1.0.${i}`, { apiVersion: "v2", name: "big", version: `1.0.${i}`, dependencies: deps }, tgz, attacker);
      assert.equal(p.status, 413, "an index entry is bounded as a whole: " + p.text.slice(0, 300));
      // Refused by a bound either way: the config read (1 MiB) or the index entry (16 KiB).
      assert.match(p.text, /SIZE_INVALID[\s\S]*more than (16384|1048576)/);
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
});

  // Security round 4 (issue 32) in workerd: one chart's grant cannot spend its repository's budget
  // (G2), no request body is read whole before its bound (G3), a chart helm packages with a name
  // that is no OCI name is served over HTTP (case 7), `latest` skips pre-releases (case 9), and
  // plain HTTP semantics on every route (case 10). Each test is named after the item it pins.
describe("what one grant may spend and what real clients send (issue 32)", () => {
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
    const res = await fetch(`${w.url}/v2/org1/repo1/app/manifests/${sha256(Buffer.from(manifest))}?${tags}`, {
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
});
