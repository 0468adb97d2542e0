// Fail-closed faults in workerd: a JWKS endpoint that is slow or rotates under load, an origin
// that hangs, resets or fails, and an R2 bucket that errors. Each gets a clear status and error,
// nothing is cached, and no request is let through without a valid token.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { keygen, localServer, mint, startWorker } from "./harness.mjs";

const PULL = "artifact-repository:org1/repo1:pull";
const started = [];
after(async () => {
  for (const s of started) await (s.mf ? s.mf.dispose() : s.close());
});

async function worker(bindings, options) {
  const w = await startWorker(bindings, options);
  started.push(w);
  w.get = (path, token) =>
    w.mf.dispatchFetch(`http://charts.test${path}`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return w;
}

async function server(handler) {
  const s = await localServer(handler);
  started.push(s);
  return s;
}

const jwksOf = (...keys) => JSON.stringify({ keys: keys.flatMap((k) => JSON.parse(k.jwks).keys) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("a JWKS endpoint slower than JWKS_TIMEOUT is down: 503, then keys once it answers", async () => {
  const key = keygen();
  let delay = 2500;
  const jwks = await server(async (req, res) => {
    await sleep(delay);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(key.jwks);
  });
  const w = await worker({ JWKS_URL: `${jwks.url}/jwks.json`, JWKS_TIMEOUT: "1", JWKS_REFETCH_INTERVAL: "0" });
  const token = mint(key, PULL);
  const started = Date.now();
  const res = await w.get("/org1/repo1/index.yaml", token);
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error, "keys_unavailable");
  assert.ok(Date.now() - started < 2400, "the worker waited past JWKS_TIMEOUT");
  assert.equal(res.headers.get("cache-control"), "no-store");
  delay = 0;
  const bucket = await w.mf.getR2Bucket("CHARTS");
  await bucket.put("org1/repo1/index.yaml", "entries: {}\n");
  assert.equal((await w.get("/org1/repo1/index.yaml", token)).status, 200);
});

test("JWKS rotation under load: every request decided right, none 5xx", async () => {
  const [k1, k2, stranger] = [keygen(), keygen(), keygen()];
  let body = jwksOf(k1);
  const jwks = await server((req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(body);
  });
  const w = await worker({ JWKS_URL: `${jwks.url}/jwks.json`, JWKS_REFETCH_INTERVAL: "1" });
  await (await w.mf.getR2Bucket("CHARTS")).put("org1/repo1/index.yaml", "entries: {}\n");
  const tokens = { k1: mint(k1, PULL), k2: mint(k2, PULL), stranger: mint(stranger, PULL) };
  assert.equal((await w.get("/org1/repo1/index.yaml", tokens.k1)).status, 200);
  await sleep(1100); // past JWKS_REFETCH_INTERVAL since the first fetch
  body = jwksOf(k1, k2); // the issuer starts signing with k2 while k1 tokens are still in use
  const order = Array.from({ length: 90 }, (_, i) => ["k1", "k2", "stranger"][i % 3]);
  const results = await Promise.all(
    order.map(async (who) => {
      const res = await w.get("/org1/repo1/index.yaml", tokens[who]);
      return [who, res.status, res.status === 200 ? "" : (await res.json()).reason];
    }),
  );
  const wrong = results.filter(([who, status]) => status !== (who === "stranger" ? 401 : 200));
  assert.deepEqual(wrong, []);
  assert.ok(jwks.hits.get("/jwks.json") <= 3, `${jwks.hits.get("/jwks.json")} fetches: unknown kids must not storm the JWKS endpoint`);
});

test("origin hangs past ORIGIN_TIMEOUT: 504, resets: 502; neither is cached", async () => {
  const key = keygen();
  const origin = await server((req, res) => {
    if (req.url.startsWith("/org1/hang/")) return; // never answers
    if (req.url.startsWith("/org1/reset/")) return req.socket.destroy();
    res.writeHead(500);
    res.end("boom");
  });
  const w = await worker({ JWKS: key.jwks, ORIGIN_URL: origin.url, ORIGIN_TIMEOUT: "1" });
  const cases = [
    ["/org1/hang/index.yaml", 504, "gateway_timeout"],
    ["/org1/reset/index.yaml", 502, "bad_gateway"],
    ["/org1/fail/index.yaml", 502, "bad_gateway"],
  ];
  for (const [path, status, error] of cases) {
    const token = mint(key, `artifact-repository:${path.split("/").slice(1, 3).join("/")}:pull`);
    for (let i = 0; i < 2; i++) {
      const res = await w.get(path, token);
      assert.equal(res.status, status, path);
      const body = await res.json();
      assert.equal(body.error, error, path);
      assert.equal(res.headers.get("cache-control"), "no-store", path);
      assert.doesNotMatch(JSON.stringify(body), /eyJ/);
    }
    assert.equal(origin.hits.get(path), 2, `${path}: the failure was cached`);
  }
  // Without a token the origin is never asked.
  assert.equal((await w.get("/org1/hang/index.yaml")).status, 401);
  assert.equal(origin.hits.get("/org1/hang/index.yaml"), 2);
});

// R2 errors cannot be produced by miniflare's R2, so a wrapped binding stands in for the bucket:
// an object of the R2Bucket class whose reads fail.
const FAILING_R2 = {
  name: "failing-r2",
  modules: true,
  script: `class R2Bucket {
    async get() { throw new Error("R2 internal error (simulated)"); }
    async head() { throw new Error("R2 internal error (simulated)"); }
    async put() { throw new Error("R2 internal error (simulated)"); }
  }
  export default function () { return new R2Bucket(); }`,
};

test("R2 errors: 502 without an origin, the origin with one; the token is never the cause", async () => {
  const key = keygen();
  const token = mint(key, PULL);
  const options = { worker: { wrappedBindings: { CHARTS: { scriptName: "failing-r2" } } }, others: [FAILING_R2] };
  // Without an origin the ledger lists (index.yaml needs no R2); content by digest needs R2.
  const alone = await worker({ JWKS: key.jwks }, options);
  const blob = `/v2/org1/repo1/hello/blobs/sha256:${"a".repeat(64)}`;
  const res = await alone.get(blob, token);
  assert.equal(res.status, 502);
  assert.match((await res.json()).error_description, /R2/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await alone.get(blob)).status, 401, "still no door without a token");
  await sleep(100);
  assert.ok(alone.logs.some((l) => l.includes("serving failed") && l.includes("R2 internal error")), alone.logs.join("\n"));

  const origin = await server((req, res) => {
    res.writeHead(200, { "Content-Type": "application/x-yaml" });
    res.end("entries: {}\n");
  });
  const backed = await worker({ JWKS: key.jwks, ORIGIN_URL: origin.url }, options);
  const fallback = await backed.get("/org1/repo1/index.yaml", token);
  assert.equal(fallback.status, 200);
  assert.equal(fallback.headers.get("x-chartgate-cache"), "ORIGIN");
});
