// The attack corpus (tests/security/*.json) against the worker in workerd, over raw HTTP so the
// hostile paths reach workerd exactly as written. Expectations are the corpus's own, the same the
// native engine (tests/security.rs) and the inspector (tests/inspector/) are held to.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { ROOT, startWorker } from "./harness.mjs";

const read = (name) => JSON.parse(readFileSync(join(ROOT, "tests/security", name), "utf8"));
const tokens = read("tokens.json");
const paths = read("paths.json");
let worker;
const seen = []; // every response body and challenge, for the hygiene check

before(async () => {
  worker = await startWorker({ JWKS: JSON.stringify(read("jwks.json")), ...read("settings.json") }, { port: 0 });
  const bucket = await worker.mf.getR2Bucket("CHARTS");
  await bucket.put("org1/repo1/index.yaml", "apiVersion: v1\nentries: {}\n");
});

after(async () => {
  await worker?.mf.dispose();
});

/** One raw HTTP/1.1 request: the path goes on the wire byte for byte. */
function send({ method = "GET", path, query, authorization }) {
  const { hostname, port } = new URL(worker.url);
  return new Promise((resolve, reject) => {
    const headers = { Host: "charts.test", ...(authorization ? { Authorization: authorization } : {}) };
    const req = request({ hostname, port, method, path: query ? `${path}?${query}` : path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        seen.push(body, res.headers["www-authenticate"] ?? "");
        let reason = "";
        if (res.statusCode !== 200) {
          // The chart routes' body, or the registry's (`{"errors": [{code, message, detail}]}`).
          const parsed = JSON.parse(body);
          reason = parsed.reason ?? parsed.errors?.[0]?.detail?.reason;
        }
        resolve({ status: res.statusCode, reason });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("workerd: every hostile token is refused for the reason the corpus states", async () => {
  const wrong = [];
  for (const c of tokens.cases) {
    const got = await send(c);
    const want = { status: c.expect.status, reason: c.expect.reason ?? "" };
    if (got.status !== want.status || got.reason !== want.reason) wrong.push(`${c.name}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  assert.deepEqual(wrong, []);
  assert.ok(tokens.cases.filter((c) => c.expect.status !== 200).length >= 40);
});

test("workerd: every hostile path is refused", async () => {
  const wrong = [];
  for (const c of paths) {
    const got = await send({ path: c.path, authorization: `Bearer ${tokens.valid}` });
    assert.notEqual(got.status, 200, `${c.path} was served`);
    const want = c.edge ?? c.expect;
    if (got.status !== want.status || got.reason !== want.reason) wrong.push(`${c.path.slice(0, 80)}: want ${want.status} ${want.reason}, got ${got.status} ${got.reason}`);
  }
  assert.deepEqual(wrong, []);
});

test("workerd: no log line, body or challenge carries a token from the corpus", async () => {
  await new Promise((r) => setTimeout(r, 200));
  const text = [...worker.logs, ...seen].join("\n");
  assert.ok(worker.logs.length >= tokens.cases.length, "the worker logged one line per request");
  const secrets = new Set([tokens.valid, ...tokens.valid.split(".")]);
  for (const c of tokens.cases) {
    const t = c.authorization?.split(" ")[1] ?? c.query;
    if (t && t.length > 40) secrets.add(t.slice(-40));
  }
  for (const s of secrets) assert.ok(!text.includes(s), `a token fragment (${s.length} chars) leaked`);
});
