// `chartgate login` for people (issue 25), as a new developer meets it: `wrangler dev` serves the
// edge, `chartgate serve` is the issuer with a `[login]` section, and npm's `oidc-provider` is the
// organisation's OpenID provider; headless Chromium signs in and approves the device code. Then
// the helm plugin and the credential helper (from this clone) give real helm 4 and helm 3 a fresh
// token per call, with none typed or stored by helm: `repo add`, `install --dry-run` over HTTP,
// `pull oci://`. Then the ID token expires between two helm commands, and every hostile case of
// the issue: the person denying, the code expiring, the provider down, the refresh token revoked
// at the provider, a record with the wrong mode or corrupted, an identity the issuer refuses,
// `chartgate logout`, and no token on screen in any of it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { CHARTGATE, HELM, HELM3, ROOT, disposeAfter, freePort, helmEnv, helmFails, helmOk, keygen, makeChartRepo, mint, plainHttpFront, runAsync, tmp } from "./harness.mjs";
import { CLIENT_ID, approveDevice, closeBrowser, startSso } from "./sso.mjs";

const started = disposeAfter(after);
const ID_TOKEN_TTL = 8; // seconds: short, so a refresh happens between two helm commands
let sso, issuerUrl, edgeHost, edgePort, wrangler, helperBin, key;
const logs = [];

async function waitFor(url, what, child) {
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {}
    if (child && child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} did not start:\n${logs.join("")}`);
}

before(async () => {
  sso = await startSso({ idTokenTtl: ID_TOKEN_TTL });
  started.push(sso);
  key = keygen();
  // The edge's port first, and its plain-HTTP front (helm 3 tries TLS first on a registry; the
  // front answers a ClientHello at once): the issuer names the edge people log in to.
  const port = await freePort();
  edgePort = port;
  const front = await plainHttpFront(`http://127.0.0.1:${port}`);
  started.push(front);
  edgeHost = front.host;
  // The issuer: its own URL as identifier (RFC 8414 metadata must match), people admitted by the
  // provider's policy, and `[login]` naming the provider.
  const issuerPort = await freePort();
  issuerUrl = `http://127.0.0.1:${issuerPort}`;
  const dir = tmp("login-issuer");
  const config = `issuer = "${issuerUrl}"
[[keys]]
private = "${key.private}"
[[trust]]
name = "people"
issuer = "${sso.issuer}"
audience = "${CLIENT_ID}"
max_ttl = "15m"
[[trust.rules]]
name = "developers"
match = { email = "alice@example\\\\.com", email_verified = "true" }
scopes = ["artifact-repository:org1/repo1:pull"]
[login]
provider = "${sso.issuer}"
client_id = "${CLIENT_ID}"
scope = "openid offline_access email"
edges = ["http://${edgeHost}"]
`;
  writeFileSync(join(dir, "chartgate.toml"), config);
  const issuer = spawn(CHARTGATE, ["serve", "--config", join(dir, "chartgate.toml"), "--listen", `127.0.0.1:${issuerPort}`], { stdio: ["ignore", "ignore", "pipe"] });
  issuer.stderr.on("data", (d) => logs.push(String(d)));
  started.push({ close: async () => issuer.kill() });
  await waitFor(`${issuerUrl}/.well-known/jwks.json`, "the issuer", issuer);

  // The edge under `wrangler dev`, trusting the issuer's JWKS and naming its token endpoint.
  const wdir = tmp("login-edge");
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = .*$/m, `main = "${join(ROOT, "build/index.js")}"`)
    .replace(/^\[build\]\ncommand = .*\n/m, "")
    .replace(/^directory = "www\/dist"$/m, `directory = "${join(ROOT, "www/dist")}"`)
    .replace(/^REALM = .*$/m, `REALM = "${issuerUrl}/oauth/token"\nISSUER = "${issuerUrl}"\nJWKS_URL = "${issuerUrl}/.well-known/jwks.json"`);
  writeFileSync(join(wdir, "wrangler.toml"), toml);
  wrangler = spawn(join(ROOT, "node_modules/.bin/wrangler"), ["dev", "--config", join(wdir, "wrangler.toml"), "--port", String(port), "--ip", "127.0.0.1", "--persist-to", join(wdir, "state")], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  wrangler.stdout.on("data", (d) => logs.push(String(d)));
  wrangler.stderr.on("data", (d) => logs.push(String(d)));
  started.push({ close: async () => wrangler.kill("SIGTERM") });
  await waitFor(`http://127.0.0.1:${port}/health`, "wrangler dev", wrangler);

  // A release published by CI (a token minted with the issuer's key).
  const push = mint(key, "artifact-repository:org1/repo1:pull,push", { extra: ["--iss", issuerUrl] });
  for (const version of ["1.0.0", "1.1.0"]) {
    const chart = makeChartRepo("webapp", version);
    const r = await fetch(`http://${edgeHost}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${push}` }, body: chart.tgz });
    assert.equal(r.status, 201, await r.text());
  }
  helperBin = tmp("login-bin");
  symlinkSync(CHARTGATE, join(helperBin, "docker-credential-chartgate"));
  started.push({ close: closeBrowser });
  dev = developer();
});

/** A developer's machine: their own config home, helm's own files, the helper on PATH. */
function developer() {
  const env = { ...helmEnv(), XDG_CONFIG_HOME: tmp("xdg"), CHARTGATE_BIN: CHARTGATE, PATH: `${helperBin}:${process.env.PATH}`, BROWSER: "" };
  const registryConfig = join(tmp("registry"), "config.json");
  writeFileSync(registryConfig, JSON.stringify({ credHelpers: { [edgeHost]: "chartgate" } }));
  return { env, registryConfig, record: join(env.XDG_CONFIG_HOME, "chartgate/logins", `${edgeHost.replace(":", "_")}.json`), said: [] };
}

/**
 * Runs `chartgate login` as a person would: reads the URL it prints, and has Chromium open it
 * and approve (or deny, or do nothing). Resolves to `{ok, out}`.
 */
function login(dev, { user = "alice", action = "approve" } = {}) {
  return new Promise((resolve) => {
    const child = spawn(CHARTGATE, ["login", `http://${edgeHost}`, "--no-browser"], { env: dev.env, stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
    let out = "";
    let opened = false;
    const read = (d) => {
      out += d;
      const m = out.match(/open (http\S+)\s/);
      if (m && !opened) {
        opened = true;
        if (action !== "ignore") approveDevice(m[1], { user, approve: action === "approve" }).catch((e) => (out += `\nchromium: ${e}`));
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("close", (code) => {
      dev.said.push(out);
      resolve({ ok: code === 0, out });
    });
  });
}

const record = (dev) => JSON.parse(readFileSync(dev.record, "utf8"));

/** No output of `dev` ever showed a token the login holds. */
function assertNoSecretShown(dev, extra = []) {
  const r = existsSync(dev.record) ? record(dev) : {};
  for (const out of [...dev.said, ...extra]) {
    for (const secret of [r.refresh_token, r.id_token].filter(Boolean)) assert.ok(!out.includes(secret), `a token was printed:\n${out}`);
    assert.ok(!/eyJ[\w-]+\.eyJ/.test(out), `something like a JWT was printed:\n${out}`);
  }
}

const run = async (dev, bin, args, ok = true) => {
  const r = await runAsync(bin, args, { env: dev.env });
  dev.said.push(r.out);
  if (ok !== r.ok) throw new Error(`${bin} ${args.join(" ")} ${ok ? "failed" : "should have failed"}:\n${r.out}`);
  return r.out;
};

let dev;
const h4 = { name: "helm 4", bin: HELM };
const h3 = { name: "helm 3", bin: HELM3 };

test("a new developer: chartgate login (device flow in Chromium), the plugin and the helper, then helm over HTTP and OCI with no token typed or stored", async () => {
  const r = await login(dev);
  assert.ok(r.ok, r.out);
  assert.match(r.out, /Logged in to http:\/\/127\.0\.0\.1:\d+ as alice@example\.com/);
  assert.equal(statSync(dev.record).mode & 0o777, 0o600, "the record is the owner's only");
  assert.equal(statSync(join(dev.record, "..")).mode & 0o777, 0o700);
  const kept = record(dev);
  assert.equal(kept.issuer, issuerUrl);
  assert.equal(kept.provider, sso.issuer);
  assert.ok(kept.refresh_token.length > 10);

  const status = await run(dev, CHARTGATE, ["login", "--status"]);
  assert.match(status, /logged in as alice@example\.com/);
  assert.match(status, /may reach: artifact-repository:org1\/repo1:pull/);

  await helmOk(h4, ["plugin", "install", join(ROOT, "helm-plugin"), "--verify=false"], { env: dev.env });
  await helmOk(h4, ["repo", "add", "org1", `chartgate+http://${edgeHost}/org1/repo1`], { env: dev.env });
  await helmOk(h4, ["repo", "update"], { env: dev.env });
  assert.match(await helmOk(h4, ["search", "repo", "org1/webapp", "--versions"], { env: dev.env }), /org1\/webapp\s+1\.1\.0/);
  assert.match(await helmOk(h4, ["install", "demo", "org1/webapp", "--version", "1.0.0", "--dry-run=client"], { env: dev.env }), /NAME: demo/);
  const dest = tmp("login-pull");
  await helmOk(h4, ["pull", `oci://${edgeHost}/org1/repo1/webapp`, "--version", "1.1.0", "--plain-http", "--destination", dest, "--registry-config", dev.registryConfig], { env: dev.env });
  assert.ok(readFileSync(join(dest, "webapp-1.1.0.tgz")).length > 0);

  const repositories = readFileSync(join(dev.env.HELM_CONFIG_HOME, "repositories.yaml"), "utf8");
  assert.ok(!/password: "[^"]|token=|eyJ/.test(repositories), `repositories.yaml holds no credential:\n${repositories}`);
  assert.deepEqual(JSON.parse(readFileSync(dev.registryConfig, "utf8")), { credHelpers: { [edgeHost]: "chartgate" } }, "helm wrote no credential");
  // For OCI, helm is handed a registry login: the issuer's, at most 15 minutes, granting nothing
  // by itself; the issuer's /token turns it into one scope per request, at most 15 minutes.
  const got = await runAsync(join(helperBin, "docker-credential-chartgate"), ["get"], { env: dev.env, input: edgeHost });
  assert.ok(got.ok, got.out);
  const answer = JSON.parse(got.out);
  const claims = (t) => JSON.parse(Buffer.from(t.split(".")[1], "base64url"));
  const handed = claims(answer.Secret);
  assert.equal(answer.Username, "token");
  assert.equal(handed.iss, issuerUrl);
  assert.equal(handed.sub, "alice");
  assert.ok(handed.exp - handed.iat <= 900, `the registry login lives at most 15 minutes: ${handed.exp - handed.iat}`);
  assert.ok(!handed.access || handed.access.length === 0, "it grants nothing by itself");
  assert.deepEqual(handed.login_grant, ["artifact-repository:org1/repo1:pull"]);
  const direct = await fetch(`http://${edgeHost}/v2/org1/repo1/webapp/manifests/1.1.0`, { headers: { Authorization: `Bearer ${answer.Secret}` } });
  assert.ok([401, 403].includes(direct.status), `the edge refuses it as a bearer: ${direct.status}`);
  const basic = "Basic " + Buffer.from(`${answer.Username}:${answer.Secret}`).toString("base64");
  const docker = await fetch(`${issuerUrl}/token?service=chartgate&scope=repository:org1/repo1/webapp:pull`, { headers: { Authorization: basic } });
  assert.equal(docker.status, 200);
  const minted = claims((await docker.json()).token);
  assert.ok(minted.exp - minted.iat <= 900, `at most 15 minutes: ${minted.exp - minted.iat}`);
  assert.ok(minted.exp <= handed.exp, "never past the registry login");
  assert.equal(minted.sub, "alice");
  assert.ok(JSON.stringify(minted.access).includes("pull"), JSON.stringify(minted.access));
  const asked = await fetch(`${issuerUrl}/token?service=chartgate&scope=repository:org1/repo1/webapp:pull,push&scope=repository:org2/other/app:pull`, { headers: { Authorization: basic } });
  const wider = asked.status === 200 ? claims((await asked.json()).token) : { access: [] };
  assert.ok(!JSON.stringify(wider.access).includes("push") && !JSON.stringify(wider.access).includes("org2"), `never broader than the person's grant: ${JSON.stringify(wider.access)}`);
  // Exchanged as a subject token (RFC 8693), it is a chartgate token with nothing to downscope.
  const exchanged = await fetch(`${issuerUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: answer.Secret, scope: "artifact-repository:org1/repo1:pull" }) });
  const exchangedBody = await exchanged.json();
  assert.ok(exchanged.status !== 200 || !JSON.stringify(claims(exchangedBody.access_token).access ?? []).includes("org1"), `a registry login exchanges for nothing: ${JSON.stringify(exchangedBody)}`);
  assertNoSecretShown(dev);
});

test("helm 3 too: the plugin over HTTP and the helper over OCI from the same login", async () => {
  const env3 = { ...dev.env, ...helmEnv(), XDG_CONFIG_HOME: dev.env.XDG_CONFIG_HOME, PATH: dev.env.PATH };
  await helmOk(h3, ["plugin", "install", join(ROOT, "helm-plugin")], { env: env3 });
  await helmOk(h3, ["repo", "add", "org1", `chartgate+http://${edgeHost}/org1/repo1`], { env: env3 });
  const dest = tmp("login-pull3");
  await helmOk(h3, ["pull", "org1/webapp", "--version", "1.0.0", "--destination", dest], { env: env3 });
  assert.match(await helmOk(h3, ["template", "demo", "org1/webapp", "--version", "1.1.0"], { env: env3 }), /name: demo-webapp/);
  await helmOk(h3, ["pull", `oci://${edgeHost}/org1/repo1/webapp`, "--version", "1.0.0", "--plain-http", "--destination", dest, "--registry-config", dev.registryConfig], { env: env3 });
  assert.ok(readFileSync(join(dest, "webapp-1.0.0.tgz")).length > 0);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const helperGet = (d) => runAsync(join(helperBin, "docker-credential-chartgate"), ["get"], { env: d.env, input: edgeHost });

test("the ID token expires between two helm commands: the second still succeeds through a refresh; parallel fetches never spend a rotated refresh token twice", async () => {
  const first = record(dev);
  await sleep((ID_TOKEN_TTL + 1) * 1000); // every token of the commands before has expired now
  const dest = tmp("login-later");
  await helmOk(h4, ["pull", "org1/webapp", "--version", "1.1.0", "--destination", dest], { env: dev.env });
  await helmOk(h4, ["pull", `oci://${edgeHost}/org1/repo1/webapp`, "--version", "1.0.0", "--plain-http", "--destination", dest, "--registry-config", dev.registryConfig], { env: dev.env });
  const renewed = record(dev);
  assert.notEqual(renewed.id_token, first.id_token, "a new ID token");
  assert.notEqual(renewed.refresh_token, first.refresh_token, "the provider rotated the refresh token and the new one is kept");
  assert.equal(statSync(dev.record).mode & 0o777, 0o600);
  // Six helper calls at once: each renews under the record's lock, so none presents a refresh token already spent.
  const gets = await Promise.all(Array.from({ length: 6 }, () => helperGet(dev)));
  for (const g of gets) assert.ok(g.ok, g.out);
  assert.match(await run(dev, CHARTGATE, ["login", "--status"]), /logged in as alice@example\.com/);
  assertNoSecretShown(dev);
});

test("refused sign-ins: the person denies, the code expires, the issuer does not admit the identity; nothing is kept", async () => {
  const other = developer();
  const denied = await login(other, { action: "deny" });
  assert.ok(!denied.ok);
  assert.match(denied.out, /sign-in was denied at the provider: run `chartgate login http:\/\/127\.0\.0\.1:\d+` again/);
  assert.ok(!existsSync(other.record));

  sso.ttl.deviceCode = 2;
  try {
    const expired = await login(other, { action: "ignore" });
    assert.ok(!expired.ok);
    assert.match(expired.out, /the code expired before it was approved/);
  } finally {
    sso.ttl.deviceCode = 600;
  }
  assert.ok(!existsSync(other.record));

  const bob = await login(other, { user: "bob" });
  assert.ok(!bob.ok);
  assert.match(bob.out, /the issuer refused your login: .*no_trust_rule|the issuer refused your login: .*no rule/);
  assert.ok(!existsSync(other.record));
  assertNoSecretShown(other);
});

test("a broken login: the provider down, a record others may read, a corrupted record; each a clear message, no token shown", async () => {
  await sso.stop();
  try {
    const down = await helperGet(dev);
    assert.ok(!down.ok);
    assert.match(down.out, /the login provider http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    const pulled = await helmFails(h4, ["pull", "org1/webapp", "--version", "1.1.0", "--destination", tmp("down")], { env: dev.env });
    assert.match(pulled, /is unreachable/);
    dev.said.push(down.out, pulled);
  } finally {
    await sso.restart();
  }
  chmodSync(dev.record, 0o644);
  const readable = await helperGet(dev);
  chmodSync(dev.record, 0o600);
  assert.ok(!readable.ok);
  assert.match(readable.out, /mode 644 lets others read it: chmod 600 it/);

  const kept = readFileSync(dev.record);
  writeFileSync(dev.record, `{"host": "${edgeHost}", "refresh_token": "half-written`);
  const corrupted = await helperGet(dev);
  writeFileSync(dev.record, kept);
  assert.ok(!corrupted.ok);
  assert.match(corrupted.out, /is not a chartgate login \(line 1, column \d+\): run `chartgate logout` and log in again/);
  assert.ok(!corrupted.out.includes("half-written"), "the record's content is not quoted");
  dev.said.push(readable.out, corrupted.out);
  assert.ok((await helperGet(dev)).ok, "the restored record works again");
  assertNoSecretShown(dev);
});

test("an edge cannot borrow the issuer: a login through an edge the issuer does not list is refused; the helper refuses an edge that names another realm", async () => {
  // The same worker under another address: its challenge names the issuer, which does not list it.
  const other = developer();
  const borrowed = await runAsync(CHARTGATE, ["login", `http://127.0.0.1:${edgePort}`, "--no-browser"], { env: other.env });
  assert.ok(!borrowed.ok);
  assert.match(borrowed.out, /does not list http:\/\/127\.0\.0\.1:\d+ among the edges it serves/);
  assert.doesNotMatch(borrowed.out, /To sign in/, "refused before any sign-in");
  assert.ok(!existsSync(join(other.env.XDG_CONFIG_HOME, "chartgate/logins")) || !existsSync(other.record));

  // An edge that, after the login, names another token endpoint: the helper hands out nothing.
  const { localServer } = await import("./harness.mjs");
  const hostile = await localServer((req, res) => {
    res.writeHead(401, { "www-authenticate": `Bearer realm="http://127.0.0.1:9/oauth/token",service="chartgate"` }).end();
  });
  started.push(hostile);
  const hostileHost = new URL(hostile.url).host;
  const moved = { ...record(dev), host: hostileHost, edge: hostile.url };
  const file = join(dev.env.XDG_CONFIG_HOME, "chartgate/logins", `${hostileHost.replace(":", "_")}.json`);
  writeFileSync(file, JSON.stringify(moved), { mode: 0o600 });
  const got = await runAsync(join(helperBin, "docker-credential-chartgate"), ["get"], { env: dev.env, input: hostileHost });
  assert.ok(!got.ok);
  assert.match(got.out, /no longer names the issuer you logged in through/);
  assert.ok(!got.out.includes(moved.id_token) && !/eyJ/.test(got.out), "no token handed out");
  const { rmSync } = await import("node:fs");
  rmSync(file);
});

test("chartgate logout revokes at the provider (RFC 7009); helm then meets a 401 that says to log in", async () => {
  const r = record(dev);
  const out = await run(dev, CHARTGATE, ["logout", `http://${edgeHost}`]);
  assert.match(out, /Logged out of http:\/\/127\.0\.0\.1:\d+: the provider revoked the refresh token/);
  assert.ok(!existsSync(dev.record));
  const discovery = await (await fetch(`${sso.issuer}/.well-known/openid-configuration`)).json();
  const refresh = await fetch(discovery.token_endpoint, { method: "POST", body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: r.refresh_token, client_id: CLIENT_ID }) });
  assert.equal((await refresh.json()).error, "invalid_grant", "the provider no longer honours the refresh token");

  const notFound = await helperGet(dev);
  assert.ok(!notFound.ok);
  assert.equal(notFound.out.trim(), "credentials not found in native keychain", "helm goes on anonymously");
  const http = await helmFails(h4, ["pull", "org1/webapp", "--version", "1.1.0", "--destination", tmp("out")], { env: dev.env });
  assert.match(http, /401[\s\S]*run `chartgate login`/);
  const oci = await helmFails(h4, ["pull", `oci://${edgeHost}/org1/repo1/webapp`, "--version", "1.0.0", "--plain-http", "--destination", tmp("out"), "--registry-config", dev.registryConfig], { env: dev.env });
  assert.match(oci, /401[\s\S]*no credentials were sent: log in first \(`chartgate login`/);
  // helm 3 shows the token URL's status only, never the issuer's message (docs/issuer.md says so).
  const oci3 = await helmFails(h3, ["pull", `oci://${edgeHost}/org1/repo1/webapp`, "--version", "1.0.0", "--plain-http", "--destination", tmp("out"), "--registry-config", dev.registryConfig], { env: dev.env });
  assert.match(oci3, /failed to fetch anonymous token: unexpected status from GET request to \S+\/token\?\S*: 401 Unauthorized/);
  assert.doesNotMatch(oci3, /log in first/);
  const status = await runAsync(CHARTGATE, ["login", "--status"], { env: dev.env });
  assert.ok(!status.ok);
  assert.match(status.out, /not logged in/);
  dev.said.push(notFound.out, http, oci, oci3, status.out);
  assertNoSecretShown(dev, [http, oci, oci3]);
});

test("a refresh token revoked at the provider ends the login with a message to log in again", async () => {
  const again = developer();
  assert.ok((await login(again)).ok);
  const r = record(again);
  const discovery = await (await fetch(`${sso.issuer}/.well-known/openid-configuration`)).json();
  const revoked = await fetch(discovery.revocation_endpoint, { method: "POST", body: new URLSearchParams({ token: r.refresh_token, token_type_hint: "refresh_token", client_id: CLIENT_ID }) });
  assert.equal(revoked.status, 200);
  await sleep((ID_TOKEN_TTL + 1) * 1000);
  const ended = await helperGet(again);
  assert.ok(!ended.ok);
  assert.match(ended.out, /your login to 127\.0\.0\.1:\d+ has ended \(the provider no longer accepts its refresh token\): run `chartgate login http:\/\/127\.0\.0\.1:\d+` again/);
  again.said.push(ended.out);
  assertNoSecretShown(again);
});
