// The attack corpus (tests/security/*.json) through the inspector's wasm in headless Chromium:
// the page must give the answer the corpus states, the one the native engine and the worker in
// workerd give. Each case is pasted as a person would paste it (a header line or a URL).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { localServer, ROOT } from "../edge/harness.mjs";

const read = (name) => JSON.parse(readFileSync(join(ROOT, "tests/security", name), "utf8"));
const PAGE = readFileSync(join(ROOT, "www/dist/_chartgate/inspect/index.html"));
let browser, server, page;

before(async () => {
  server = await localServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(PAGE);
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  page = await browser.newPage();
  await page.goto(`${server.url}/_chartgate/inspect/`);
  await page.waitForSelector("body[data-ready='1']", { timeout: 15000 });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** What a person pastes for a case: the header line, or the URL carrying the token. */
function pasted({ path, query, authorization }) {
  if (authorization && query) {
    const token = authorization.replace(/^Bearer /, "");
    return `http://helm:${encodeURIComponent(token)}@charts.test${path}?${query}`;
  }
  if (authorization) return `Authorization: ${authorization}`;
  return `http://charts.test${path}?${query}`;
}

/** Runs the cases in the page and returns [name, {status, reason}] per case. */
async function run(cases) {
  const settings = JSON.stringify(read("settings.json"));
  const keys = JSON.stringify(read("jwks.json"));
  return page.evaluate(
    async ({ cases, settings, keys }) => {
      const now = Math.floor(Date.now() / 1000);
      const out = [];
      for (const c of cases) {
        // eslint-disable-next-line no-undef
        const r = JSON.parse(await wasm_bindgen.check(c.input, keys, settings, `${c.method} ${c.path}`, now));
        out.push([c.name, r.error ? { status: 0, reason: r.error } : { status: r.decision.status, reason: r.decision.reason ?? "" }]);
      }
      return out;
    },
    { cases, settings, keys },
  );
}

test("inspector: every hostile token gets the corpus's answer", async () => {
  const { cases } = read("tokens.json");
  const results = await run(cases.map((c) => ({ name: c.name, method: c.method, path: c.path, input: pasted(c) })));
  const wrong = results
    .map(([name, got], i) => [name, got, { status: cases[i].expect.status, reason: cases[i].expect.reason ?? "" }])
    .filter(([, got, want]) => got.status !== want.status || got.reason !== want.reason)
    .map(([name, got, want]) => `${name}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  assert.deepEqual(wrong, []);
  assert.equal(results.length, cases.length);
});

test("inspector: every hostile path gets the corpus's answer", async () => {
  const paths = read("paths.json");
  const { valid } = read("tokens.json");
  const results = await run(paths.map((c) => ({ name: c.path, method: "GET", path: c.path, input: valid })));
  const wrong = results
    .map(([name, got], i) => [name, got, paths[i].expect])
    .filter(([, got, want]) => got.status !== want.status || got.reason !== want.reason)
    .map(([name, got, want]) => `${name.slice(0, 80)}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  assert.deepEqual(wrong, []);
  assert.ok(results.every(([, got]) => got.status !== 200));
});
