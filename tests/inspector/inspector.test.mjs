// The inspector page in headless Chromium (Debian's, driven by playwright-core): decoding,
// WebCrypto verification, the edge's verdict, bad input, file:// use, and no request carrying
// the token. Saves a screenshot to tests/out/inspector.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { basic, keygen, localServer, mint, ROOT } from "../edge/harness.mjs";

const PAGE = join(ROOT, "www/dist/_chartgate/inspect/index.html");
const PULL = "artifact-repository:org1/repo1:pull";
let browser, server, key, other;
const requests = [];

before(async () => {
  key = keygen();
  other = keygen();
  const html = readFileSync(PAGE);
  server = await localServer((req, res) => {
    if (req.url === "/jwks.json") {
      res.writeHead(200, { "Content-Type": "application/json", "Access-Control-Allow-Origin": "*" });
      return res.end(key.jwks);
    }
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(html);
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function open(url = `${server.url}/_chartgate/inspect/`) {
  const page = await browser.newPage();
  const log = { requests: [], errors: [] };
  page.on("request", (r) => {
    log.requests.push({ url: r.url(), body: r.postData() ?? "", headers: r.headers() });
    requests.push(r.url());
  });
  page.on("pageerror", (e) => log.errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector("body[data-ready='1']", { timeout: 15000 });
  return { page, log };
}

async function run(page, { token, keys, request }) {
  await page.fill("#token", token);
  if (keys !== undefined) await page.fill("#keys", keys);
  if (request) await page.fill("#request", request);
  await page.click("#check");
  await page.waitForFunction(() => !document.getElementById("verdict").hidden || !document.getElementById("error").hidden);
  const text = async (id) => (await page.textContent(`#${id}`)) ?? "";
  return { signature: await text("signature"), decision: await text("decision"), error: await text("error"), challenge: await text("challenge") };
}

test("valid token and matching key: signature valid, allowed for its path", async () => {
  const { page, log } = await open();
  const token = mint(key, PULL, { sub: "page" });
  const r = await run(page, { token, keys: key.jwks });
  assert.match(r.signature, /signature valid/);
  assert.match(r.decision, /would allow GET \/org1\/repo1\/index\.yaml/);
  assert.match(await page.textContent("#access"), /artifact-repository\s*org1\/repo1\s*pull/);
  assert.match(await page.textContent("#times"), /exp.*in [45] min/s); // floor of the seconds left
  mkdirSync(join(ROOT, "tests/out"), { recursive: true });
  await page.screenshot({ path: join(ROOT, "tests/out/inspector.png"), fullPage: true });
  assert.deepEqual(log.errors, []);
  await page.close();
});

test("expired, wrong key, wrong repo: denied with the edge's reason and challenge", async () => {
  const { page } = await open();
  const expired = mint(key, PULL, { now: Math.floor(Date.now() / 1000) - 7200 });
  let r = await run(page, { token: expired, keys: key.jwks });
  assert.match(r.signature, /signature valid/);
  assert.match(r.decision, /would deny .*401 expired/);
  assert.match(r.challenge, /error="invalid_token"/);

  r = await run(page, { token: mint(other, PULL), keys: key.jwks });
  assert.match(r.signature, /invalid: unknown_kid/);
  assert.match(r.decision, /401 unknown_kid/);

  r = await run(page, { token: mint(key, PULL), keys: key.jwks, request: "GET /org2/repo1/index.yaml" });
  assert.match(r.decision, /403 insufficient_scope/);
  assert.match(r.challenge, /scope="artifact-repository:org2\/repo1:pull",error="insufficient_scope"/);
  await page.close();
});

test("OCI requests: a chart-repository token reaches its OCI names, a registry token only its own", async () => {
  const { page } = await open();
  let r = await run(page, { token: mint(key, PULL), keys: key.jwks, request: "GET /v2/org1/repo1/hello/manifests/0.1.0" });
  assert.match(r.decision, /would allow GET \/v2\/org1\/repo1\/hello\/manifests\/0\.1\.0/);
  r = await run(page, { token: mint(key, PULL), keys: key.jwks, request: "PUT /v2/org1/repo1/hello/manifests/0.1.0" });
  assert.match(r.decision, /401 insufficient_scope/);
  assert.match(r.challenge, /scope="repository:org1\/repo1\/hello:push"/);
  const oci = mint(key, "repository:org1/repo1/hello:pull,push");
  r = await run(page, { token: oci, keys: key.jwks, request: "PUT /v2/org1/repo1/hello/blobs/uploads/" });
  assert.match(r.decision, /405|would deny/, "POST only");
  r = await run(page, { token: oci, keys: key.jwks, request: "POST /v2/org1/repo1/hello/blobs/uploads/" });
  assert.match(r.decision, /would allow/);
  assert.match(await page.textContent("#access"), /repository\s*org1\/repo1\/hello\s*pull,push/);
  r = await run(page, { token: oci, keys: key.jwks, request: "GET /org1/repo1/index.yaml" });
  assert.match(r.decision, /403 insufficient_scope/, "an OCI grant never reaches the chart repository");
  r = await run(page, { token: oci, keys: key.jwks, request: "GET /v2/Org1/x/tags/list" });
  assert.match(r.decision, /400 bad_registry_path/);
  await page.close();
});

test("URL and Basic inputs; the request follows a pasted URL", async () => {
  const { page } = await open();
  const token = mint(key, PULL);
  let r = await run(page, { token: `https://charts.example.com/org1/repo1/charts/x-0.1.0.tgz?token=${token}`, keys: key.jwks });
  assert.match(await page.textContent("#found"), /query/);
  assert.equal(await page.inputValue("#request"), "GET /org1/repo1/charts/x-0.1.0.tgz");
  assert.match(r.decision, /would allow/);
  r = await run(page, { token: `Authorization: ${basic("helm", token)}`, keys: key.jwks });
  assert.match(await page.textContent("#found"), /basic/);
  assert.match(r.signature, /signature valid/);
  await page.close();
});

test("garbage input shows an error and nothing crashes", async () => {
  const { page, log } = await open();
  for (const garbage of ["not-a-token", "a.b.c", "Authorization: Digest x", "\u0000\u0001"]) {
    const r = await run(page, { token: garbage, keys: key.jwks });
    assert.ok(r.error.length > 0, `${JSON.stringify(garbage)} gave no error`);
  }
  const r = await run(page, { token: mint(key, PULL), keys: "not a key" });
  assert.match(r.error, /JWKS/);
  assert.deepEqual(log.errors, []);
  await page.close();
});

test("a JWKS URL fetch carries no token, and no other request is made", async () => {
  const { page, log } = await open();
  const token = mint(key, PULL);
  await page.fill("#token", token);
  await page.fill("#jwks-url", `${server.url}/jwks.json`);
  await page.click("#fetch-jwks");
  await page.waitForFunction(() => !document.getElementById("verdict").hidden);
  assert.match(await page.textContent("#signature"), /signature valid/);
  const after = log.requests.slice(1); // the first request loads the page itself
  assert.deepEqual(after.map((r) => r.url), [`${server.url}/jwks.json`]);
  const [sig] = token.split(".").slice(2);
  for (const r of log.requests) {
    const all = `${r.url} ${r.body} ${JSON.stringify(r.headers)}`;
    assert.ok(!all.includes(token) && !all.includes(sig), `request ${r.url} carried the token`);
  }
  await page.close();
});

test("works from file://", async () => {
  const { page, log } = await open(`file://${PAGE}`);
  const r = await run(page, { token: mint(key, PULL), keys: key.jwks });
  assert.match(r.signature, /signature valid/);
  assert.deepEqual(log.requests.map((q) => q.url), [`file://${PAGE}`]);
  await page.close();
});

test("finding 5 (security round 2): a second JWKS with the same kid and another key is not verified with the first", async () => {
  const { page } = await open();
  // Two key sets naming different keys by the same kid, as two issuers (or a careless rotation) can.
  const renamed = (k) => JSON.stringify({ keys: JSON.parse(k.jwks).keys.map((j) => ({ ...j, kid: "shared" })) });
  const token = (() => {
    const header = Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "shared" })).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const claims = { exp: now + 300, access: [{ type: "artifact-repository", name: "org1/repo1", actions: ["pull"] }] };
    return `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  })();
  const { createPrivateKey, sign } = await import("node:crypto");
  const signed = `${token}.${sign("sha256", Buffer.from(token), createPrivateKey(readFileSync(key.private))).toString("base64url")}`;
  let r = await run(page, { token: signed, keys: renamed(key) });
  assert.match(r.signature, /signature valid/);
  r = await run(page, { token: signed, keys: renamed(other) });
  assert.match(r.signature, /invalid: bad_signature/, "checked against the second key set's key");
  r = await run(page, { token: signed, keys: renamed(key) });
  assert.match(r.signature, /signature valid/, "and the first key again");
  await page.close();
});

test("a CI token and a trust policy: what it grants and which rule decided, as the edge would", async () => {
  const { github, keyPair, signJwt } = await import("../edge/oidc.mjs");
  const ci = keyPair("ES256");
  const issuer = "https://token.actions.githubusercontent.com";
  const policy = (keys) => JSON.stringify([{
    name: "github", issuer, audience: "https://charts.example.com", ...(keys ? { keys } : {}),
    rules: [
      { name: "release", match: { repository: "acme/app", ref: "refs/tags/v.*" }, scopes: ["artifact-repository:acme/charts:pull,push"] },
      { name: "org-pull", match: { repository_owner: "acme" }, scopes: ["artifact-repository:{repository_owner}/*:pull"] },
    ],
  }]);
  const jwks = JSON.stringify({ keys: [ci.jwk] });
  const { page, log } = await open();
  const mintCi = (extra) => signJwt(ci, { ...github({ aud: "https://charts.example.com", ...extra }), iss: issuer });
  await page.click("#trust-box summary");
  await page.fill("#trust", policy(jwks));
  let r = await run(page, { token: mintCi({}), keys: "", request: "PUT /v2/acme/charts/web/manifests/1.0.0" });
  assert.match(r.signature, /signature valid/);
  assert.match(await page.textContent("#trusted"), /trust policy "github", rule "release" grants artifact-repository:acme\/charts:pull,push/);
  assert.match(r.decision, /would allow PUT/);
  r = await run(page, { token: mintCi({ repository: "acme/deploy", ref: "refs/heads/main" }), keys: "", request: "PUT /v2/acme/charts/web/manifests/1.0.0" });
  assert.match(await page.textContent("#trusted"), /rule "org-pull" grants artifact-repository:acme\/\*:pull/);
  assert.match(r.decision, /401 insufficient_scope/);
  r = await run(page, { token: mintCi({ repository: "evil/app" }), keys: "" });
  assert.match(r.decision, /would deny .*401 no_trust_rule: trust policy "github"/);
  // A policy that fetches its keys is checked with the pasted JWKS (the page fetches nothing itself).
  await page.fill("#trust", policy(undefined));
  r = await run(page, { token: mintCi({}), keys: jwks, request: "GET /acme/charts/index.yaml" });
  assert.match(r.decision, /would allow/);
  r = await run(page, { token: mintCi({}), keys: key.jwks, request: "GET /acme/charts/index.yaml" });
  assert.match(r.decision, /401 (unknown_kid|alg_key_mismatch|kid_required)/);
  await page.fill("#trust", "[{\"issuer\": }]");
  r = await run(page, { token: mintCi({}), keys: jwks });
  assert.match(r.error, /TRUST_POLICIES: line 1 column/);
  assert.deepEqual(log.errors, []);
  await page.close();
});

test("trust policies: the page lists the engine's warnings for a push rule bound by name only, exactly as chartgate verify --trust prints them", async () => {
  const { github, keyPair, recipePolicy, signJwt } = await import("../edge/oidc.mjs");
  const { CHARTGATE, runAsync, tmp } = await import("../edge/harness.mjs");
  const { writeFileSync } = await import("node:fs");
  const ci = keyPair("ES256");
  const issuer = "https://token.actions.githubusercontent.com";
  const keys = JSON.stringify({ keys: [ci.jwk] });
  const byName = JSON.stringify([{
    name: "github", issuer, audience: "https://charts.example.com", keys,
    rules: [
      { name: "release", match: { repository: "acme/app", ref: "refs/tags/v.*" }, scopes: ["artifact-repository:acme/charts:pull,push"] },
      { name: "org-pull", match: { repository_owner: "acme" }, scopes: ["artifact-repository:{repository_owner}/*:pull"] },
    ],
  }]);
  const token = signJwt(ci, { ...github({ aud: "https://charts.example.com" }), iss: issuer });
  const { page, log } = await open();
  await page.click("#trust-box summary");
  await page.fill("#trust", byName);
  const r = await run(page, { token, keys: "", request: "PUT /v2/acme/charts/web/manifests/1.0.0" });
  assert.match(r.decision, /would allow PUT/, "a warning changes no decision");
  assert.equal(await page.isVisible("#trust-warnings"), true);
  const shown = (await page.locator("#trust-warnings li").allTextContents()).map((t) => t.replace(/^⚠ warning: /, ""));
  assert.equal(shown.length, 1, shown.join("\n"));
  assert.match(shown[0], /^trust policy "github", rule "release": name_without_id: grants push but matches `repository` by name only/);
  // The CLI prints the very same lines (one engine function), on stderr.
  const file = join(tmp("page-trust"), "trust.json");
  writeFileSync(file, byName);
  const cli = await runAsync(CHARTGATE, ["verify", "--trust", file, token]);
  const printed = cli.out.split("\n").filter((l) => l.startsWith("warning: ")).map((l) => l.slice(`warning: ${file}: `.length));
  assert.deepEqual(printed, shown);
  // docs/ci.md's recipe binds by id: no warning.
  await page.fill("#trust", JSON.stringify([recipePolicy("github", { keys })]));
  await run(page, { token, keys: "", request: "GET /acme/charts/index.yaml" });
  await page.waitForFunction(() => document.getElementById("trust-warnings").hidden);
  assert.deepEqual(log.errors, []);
  await page.close();
});
