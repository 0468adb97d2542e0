// The edge worker in workerd (miniflare 4): decisions, serving from R2 / cache / origin, headers,
// report-only mode, revocation, and agreement with the native engine on a token corpus.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  auditLines, basic, chartgate, CHARTGATE, keygen, localServer, makeChartRepo, mint, startWorker, tmp, writeFile,
} from "./harness.mjs";

const PULL = "artifact-repository:org1/repo1:pull";
const CHALLENGE = 'Bearer realm="http://127.0.0.1:8788/oauth/token",service="chartgate",scope="artifact-repository:org1/repo1:pull"';

let key, other, repo, origin, worker;

before(async () => {
  key = keygen();
  other = keygen();
  repo = makeChartRepo();
  origin = await localServer((req, res) => {
    const path = req.url.split("?")[0];
    if (path === "/org1/repo2/index.yaml") {
      res.writeHead(200, { "Content-Type": "application/x-yaml", ETag: '"origin-1"' });
      res.end("apiVersion: v1\nentries: {}\n");
    } else if (path === "/org1/repo3/index.yaml") {
      res.writeHead(503);
      res.end("down");
    } else if (path.startsWith("/api/")) {
      res.writeHead(201, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ saved: true, auth: req.headers.authorization ?? null, url: req.url }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  worker = await startWorker({ JWKS: key.jwks, ORIGIN_URL: origin.url });
  const bucket = await worker.mf.getR2Bucket("CHARTS");
  await bucket.put("org1/repo1/index.yaml", repo.index);
  await bucket.put(`org1/repo1/${repo.file}`, new Uint8Array(repo.tgz).buffer);
});

after(async () => {
  await worker?.mf.dispose();
  await origin?.close();
});

const get = (path, init = {}) => worker.mf.dispatchFetch(`http://charts.test${path}`, init);
const bearer = (token) => ({ headers: { Authorization: `Bearer ${token}` } });

async function denial(res) {
  const body = await res.json();
  return { status: res.status, reason: body.reason, error: body.error, challenge: res.headers.get("www-authenticate") };
}

test("no credential: 401 with the exact ChartMuseum challenge", async () => {
  const res = await get("/org1/repo1/index.yaml");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), CHALLENGE);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await res.json()).reason, "missing_credential");
});

test("bearer: 200 from R2, then HIT from the edge cache, with client headers", async () => {
  const token = mint(key, PULL);
  const first = await get(`/org1/repo1/charts/${repo.file}`, bearer(token));
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-chartgate-cache"), "R2");
  assert.deepEqual(Buffer.from(await first.arrayBuffer()), repo.tgz);
  const second = await get(`/org1/repo1/${repo.file}`, bearer(token));
  assert.equal(second.status, 200);
  assert.equal(second.headers.get("x-chartgate-cache"), "HIT");
  assert.deepEqual(Buffer.from(await second.arrayBuffer()), repo.tgz);
  for (const res of [first, second]) {
    assert.match(res.headers.get("cache-control"), /^private/);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("content-type"), "application/gzip");
  }
});

test("Basic auth password and URL token are accepted", async () => {
  const token = mint(key, PULL);
  const viaBasic = await get("/org1/repo1/index.yaml", { headers: { Authorization: basic("helm", token) } });
  assert.equal(viaBasic.status, 200);
  assert.equal(await viaBasic.text(), repo.index);
  const viaQuery = await get(`/org1/repo1/index.yaml?token=${token}`);
  assert.equal(viaQuery.status, 200);
  const both = await get(`/org1/repo1/index.yaml?token=${token}`, bearer(token));
  assert.deepEqual((await denial(both)).status, 400);
});

test("expired, bad signature, unknown key, wrong repo, push with pull-only", async () => {
  const expired = mint(key, PULL, { now: Math.floor(Date.now() / 1000) - 3600 });
  let d = await denial(await get("/org1/repo1/index.yaml", bearer(expired)));
  assert.deepEqual([d.status, d.error, d.reason], [401, "invalid_token", "expired"]);
  assert.ok(d.challenge.startsWith(CHALLENGE + ',error="invalid_token"'), d.challenge);

  const good = mint(key, PULL);
  const [h, p, s] = good.split(".");
  const forged = mint(key, "artifact-repository:org1/repo2:pull").split(".")[1];
  d = await denial(await get("/org1/repo1/index.yaml", bearer(`${h}.${forged}.${s}`)));
  assert.deepEqual([d.status, d.reason], [401, "bad_signature"]);

  d = await denial(await get("/org1/repo1/index.yaml", bearer(mint(other, PULL))));
  assert.deepEqual([d.status, d.reason], [401, "unknown_kid"]);

  d = await denial(await get("/org2/repo1/index.yaml", bearer(good)));
  assert.deepEqual([d.status, d.error], [403, "insufficient_scope"]);
  assert.match(d.challenge, /scope="artifact-repository:org2\/repo1:pull",error="insufficient_scope"/);

  d = await denial(await get("/api/org1/repo1/charts", { method: "POST", ...bearer(good), body: "x" }));
  assert.deepEqual([d.status, d.reason], [403, "insufficient_scope"]);
  assert.equal(origin.hits.get("/api/org1/repo1/charts"), undefined, "a denied push never reaches the origin");
});

test("push with a push token is forwarded to the origin without the token", async () => {
  // Another repository than the shared org1/repo1: a successful upload purges the index it makes stale.
  const token = mint(key, "artifact-repository:org1/repo9:push");
  const res = await get(`/api/org1/repo9/charts?force=true&token=${token}`, { method: "POST", body: "chart-bytes" });
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.auth, null, "credentials are not forwarded by default");
  assert.equal(body.url, "/api/org1/repo9/charts?force=true");
});

test("hostile paths: 400 before any decision", async () => {
  const token = mint(key, PULL);
  for (const path of [
    "/org1/repo1/%2e%2e%2fsecret/index.yaml",
    "/org1%2frepo1/index.yaml",
    "/org1/repo1/%252e%252e/index.yaml",
    "/org1/repo1/index.yaml%00",
    "/org1/repo1;x=1/index.yaml",
    "/org1//repo1/index.yaml",
    "/org1/repo1/index.yaml.",
    "/org1/repo1/%5cindex.yaml",
    `/org1/repo1/${"a".repeat(1100)}.tgz`,
  ]) {
    const res = await get(path, bearer(token));
    assert.equal(res.status, 400, path);
    assert.equal((await res.json()).reason, "bad_path", path);
  }
});

test("R2 miss goes to the origin once, then HIT; origin 5xx is never cached", async () => {
  const token = mint(key, "artifact-repository:org1/repo2:pull artifact-repository:org1/repo3:pull".split(" ")[0]);
  const r1 = await get("/org1/repo2/index.yaml", bearer(token));
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get("x-chartgate-cache"), "ORIGIN");
  const r2 = await get("/org1/repo2/index.yaml", bearer(token));
  assert.equal(r2.headers.get("x-chartgate-cache"), "HIT");
  assert.equal(origin.hits.get("/org1/repo2/index.yaml"), 1);

  const t3 = mint(key, "artifact-repository:org1/repo3:pull");
  for (let i = 0; i < 2; i++) {
    const res = await get("/org1/repo3/index.yaml", bearer(t3));
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error, "bad_gateway");
  }
  assert.equal(origin.hits.get("/org1/repo3/index.yaml"), 2, "a 5xx was cached");
});

test("a denial never fills the cache", async () => {
  const bucket = await worker.mf.getR2Bucket("CHARTS");
  await bucket.put("org9/x/index.yaml", "entries: {}\n");
  const wrong = mint(key, PULL);
  assert.equal((await get("/org9/x/index.yaml", bearer(wrong))).status, 403);
  const right = mint(key, "artifact-repository:org9/x:pull");
  const res = await get("/org9/x/index.yaml", bearer(right));
  assert.equal(res.headers.get("x-chartgate-cache"), "R2", "the first allowed request must not be a HIT");
});

test("ETag / If-None-Match → 304, HEAD, Range on archives", async () => {
  const token = mint(key, PULL);
  const path = `/org1/repo1/charts/${repo.file}`;
  const full = await get(path, bearer(token));
  const etag = full.headers.get("etag");
  assert.ok(etag);
  await full.arrayBuffer();
  const notModified = await get(path, { headers: { Authorization: `Bearer ${token}`, "If-None-Match": etag } });
  assert.equal(notModified.status, 304);
  const head = await get(path, { method: "HEAD", ...bearer(token) });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  const part = await get(path, { headers: { Authorization: `Bearer ${token}`, Range: "bytes=0-9" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 0-9/${repo.tgz.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), repo.tgz.subarray(0, 10));
  const bad = await get(path, { headers: { Authorization: `Bearer ${token}`, Range: `bytes=${repo.tgz.length}-` } });
  assert.equal(bad.status, 416);
});

test("revoked jti and sub are refused", async () => {
  const kv = await worker.mf.getKVNamespace("REVOCATIONS");
  const token = mint(key, PULL, { sub: "leaker" });
  assert.equal((await get("/org1/repo1/index.yaml", bearer(token))).status, 200);
  const jti = JSON.parse(chartgate("inspect", "--json", token)).claims.jti;
  await kv.put(`jti:${jti}`, "leaked");
  const d = await denial(await get("/org1/repo1/index.yaml", bearer(token)));
  assert.deepEqual([d.status, d.reason], [401, "revoked"]);
  await kv.put("sub:leaker", "offboarded");
  const fresh = mint(key, PULL, { sub: "leaker" });
  assert.equal((await denial(await get("/org1/repo1/index.yaml", bearer(fresh)))).reason, "revoked");
  // A subject longer than a KV key is looked up by its SHA-256, not refused.
  const longSub = "s".repeat(600);
  const long = mint(key, PULL, { sub: longSub });
  assert.equal((await get("/org1/repo1/index.yaml", bearer(long))).status, 200);
  const { createHash } = await import("node:crypto");
  await kv.put(`sub-sha256:${createHash("sha256").update(longSub).digest("hex")}`, "offboarded");
  assert.equal((await denial(await get("/org1/repo1/index.yaml", bearer(mint(key, PULL, { sub: longSub }))))).reason, "revoked");
});

test("audit log: one JSON line per request, repeat tokens skip the signature, never the token", async () => {
  const token = mint(key, PULL, { sub: "auditor" });
  worker.logs.length = 0;
  await (await get("/org1/repo1/index.yaml", bearer(token))).text();
  await (await get(`/org1/repo1/charts/${repo.file}`, bearer(token))).arrayBuffer();
  await (await get("/org2/repo1/index.yaml", bearer(token))).text();
  await new Promise((r) => setTimeout(r, 200));
  const lines = auditLines(worker.logs);
  assert.equal(lines.length, 3, worker.logs.join("\n"));
  assert.deepEqual(lines.map((l) => [l.decision, l.sub, l.repo, l.action]), [
    ["allow", "auditor", "org1/repo1", "pull"],
    ["allow", "auditor", "org1/repo1", "pull"],
    ["deny", "auditor", "org2/repo1", "pull"],
  ]);
  assert.equal(lines[0].token_cache_hit, false);
  assert.equal(lines[1].token_cache_hit, true);
  assert.equal(lines[2].reason, "insufficient_scope");
  assert.ok(lines.every((l) => typeof l.auth_us === "number" && l.jti));
});

test("the worker and the native engine agree on a token corpus", async () => {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (s) => Buffer.from(s).toString("base64url");
  const good = mint(key, PULL);
  const [h, p, s] = good.split(".");
  const corpus = {
    good,
    expired: mint(key, PULL, { now: now - 7200 }),
    future: mint(key, PULL, { now: now + 7200 }),
    wrongRepo: mint(key, "artifact-repository:org1/repo10:pull"),
    otherKey: mint(other, PULL),
    algNone: `${b64('{"alg":"none"}')}.${p}.`,
    hs256: `${b64('{"alg":"HS256"}')}.${p}.${s}`,
    tampered: `${h}.${b64('{"exp":9999999999,"access":["org1/repo1:pull"]}')}.${s}`,
    truncated: `${h}.${p}.${s.slice(0, 100)}`,
    twoParts: `${h}.${p}`,
    garbage: "not-a-token",
    crit: `${b64('{"alg":"RS256","crit":["exp"]}')}.${p}.${s}`,
  };
  const keys = writeFile(tmp("agree"), "jwks.json", key.jwks);
  for (const [name, token] of Object.entries(corpus)) {
    const res = await get("/org1/repo1/index.yaml", bearer(token));
    const edge = res.status === 200 ? "allowed" : (await res.json()).reason;
    let native;
    try {
      const out = execFileSync(CHARTGATE, ["verify", "--json", "--keys", keys, "--request", "GET /org1/repo1/index.yaml", token], { encoding: "utf8" });
      native = JSON.parse(out).allowed ? "allowed" : JSON.parse(out).reason;
    } catch (e) {
      native = JSON.parse(e.stdout).reason;
    }
    assert.equal(edge, native, `${name}: edge ${edge} vs native ${native}`);
    assert.equal(edge === "allowed", name === "good", `${name}: ${edge}`);
  }
});

test("logs and error bodies never contain a token", () => {
  const text = worker.logs.join("\n");
  assert.ok(text.length > 0);
  assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, "a token was logged");
});
