// Regression tests of the second security round (issue 15) against the worker in workerd, one
// per finding of the edge, named after it. Each failed on 0ea6248. The issuer's side of the same
// findings is in tests/findings.rs.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { auditLines, chartgate, disposeAfter, keygen, localServer, makeChartRepo, mint, startIssuer, startWorker } from "./harness.mjs";

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
