// docker-credential-chartgate (issue 25, first part): real helm 4 and helm 3 push and pull over OCI
// with no `helm registry login` and nothing written by helm, the credential coming fresh from the
// job's workload token each time (GitHub Actions' token service, played by oidc.mjs), against the
// edge with a trust policy and no issuer; and the protocol's answers for hosts, actions and
// configurations it cannot serve.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { CHARTGATE, HELM, HELM3, disposeAfter, helmEnv, helmFails, helmOk, makeChartRepo, plainHttpFront, runAsync, startWorker, tmp } from "./harness.mjs";
import { acmePolicy, startProvider } from "./oidc.mjs";

const started = disposeAfter(after);
let gh, worker, front, bin;

before(async () => {
  gh = await startProvider();
  started.push(gh);
  worker = await startWorker({ TRUST_POLICIES: JSON.stringify([acmePolicy(gh.issuer)]), REALM: "/token" }, { port: 0 });
  started.push(worker);
  front = await plainHttpFront(worker.url);
  started.push(front);
  // Installed as its own name, the chartgate binary is the helper.
  bin = tmp("helper-bin");
  symlinkSync(CHARTGATE, join(bin, "docker-credential-chartgate"));
});

/** A job's environment: helm's own files in a temp dir, the helper on PATH, GitHub's token service. */
function jobEnv(job, config) {
  gh.job = job;
  const env = {
    ...helmEnv(),
    PATH: `${bin}:${process.env.PATH}`,
    ACTIONS_ID_TOKEN_REQUEST_URL: gh.requestUrl,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: gh.requestToken,
    XDG_CONFIG_HOME: tmp("xdg"),
  };
  mkdirSync(join(env.XDG_CONFIG_HOME, "chartgate"), { recursive: true });
  writeFileSync(join(env.XDG_CONFIG_HOME, "chartgate/config.toml"), config ?? `[[registry]]\nhost = "${front.host}"\nsource = "github-actions"\naudience = "https://charts.example.com"\n`);
  const registryConfig = join(tmp("registry"), "config.json");
  writeFileSync(registryConfig, JSON.stringify({ credHelpers: { [front.host]: "chartgate" } }));
  return { env, registry: ["--registry-config", registryConfig] };
}

for (const h of [{ name: "helm 4", bin: HELM }, { name: "helm 3", bin: HELM3 }]) {
  test(`${h.name}: push and pull oci:// through the credential helper, no login, nothing stored by helm`, async () => {
    const name = h.name === "helm 4" ? "helped" : "helped3";
    const chart = makeChartRepo(name, "1.0.0");
    const release = jobEnv({ repository: "acme/app", ref: "refs/tags/v1.0.0" });
    const out = await helmOk(h, ["push", join(chart.dir, chart.file), `oci://${front.host}/acme/charts`, "--plain-http", ...release.registry], { env: release.env });
    assert.match(out, /Digest: sha256:/);
    const registryFile = release.registry[1];
    assert.deepEqual(JSON.parse(readFileSync(registryFile, "utf8")), { credHelpers: { [front.host]: "chartgate" } }, "helm wrote no credential");
    const pull = jobEnv({ repository: "acme/deploy", ref: "refs/heads/main" });
    const dest = tmp("helped-pull");
    await helmOk(h, ["pull", `oci://${front.host}/acme/charts/${name}`, "--version", "1.0.0", "--plain-http", "--destination", dest, ...pull.registry], { env: pull.env });
    assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
    // A pull-only job cannot push; a fork gets nothing at all.
    const next = makeChartRepo(name, "1.0.1");
    await helmFails(h, ["push", join(next.dir, next.file), `oci://${front.host}/acme/charts`, "--plain-http", ...pull.registry], { env: pull.env });
    const fork = jobEnv({ repository: "evil/app", ref: "refs/tags/v1.0.0" });
    const refused = await helmFails(h, ["pull", `oci://${front.host}/acme/charts/${name}`, "--version", "1.0.0", "--plain-http", "--destination", tmp("fork"), ...fork.registry], { env: fork.env });
    assert.match(refused, /401|unauthorized|denied/i);
  });
}

test("the protocol: get for a host it has nothing for is `credentials not found`; list, erase, store; a readable secret is refused", async () => {
  const helper = join(bin, "docker-credential-chartgate");
  const { env } = jobEnv({ repository: "acme/app", ref: "refs/tags/v1.0.0" });
  const get = (host, e = env) => runAsync(helper, ["get"], { env: e, input: host });
  const ok = await get(`http://${front.host}/v2/`);
  assert.ok(ok.ok, ok.out);
  const answer = JSON.parse(ok.out);
  assert.equal(answer.Username, "oidc");
  assert.equal(answer.Secret.split(".").length, 3, "a fresh workload token");
  const again = JSON.parse((await get(front.host)).out);
  assert.notEqual(again.Secret, answer.Secret, "fresh each time");
  const noGithub = { ...env, ACTIONS_ID_TOKEN_REQUEST_URL: "", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "" };
  const missing = await get("elsewhere.example.com", noGithub);
  assert.ok(!missing.ok);
  assert.equal(missing.out.trim(), "credentials not found in native keychain");
  const list = await runAsync(helper, ["list"], { env });
  assert.deepEqual(JSON.parse(list.out), { [front.host]: "chartgate" });
  assert.ok((await runAsync(helper, ["erase"], { env, input: front.host })).ok);
  const store = await runAsync(helper, ["store"], { env, input: JSON.stringify({ ServerURL: front.host, Username: "u", Secret: "s" }) });
  assert.ok(!store.ok);
  assert.match(store.out, /stores no credentials/);
  // A client secret others may read is refused, as ssh refuses such a key; it is never printed.
  const dir = tmp("client");
  writeFileSync(join(dir, "ci.secret"), "s3cret-value");
  chmodSync(join(dir, "ci.secret"), 0o644);
  const clientEnv = { ...jobEnv({}, `[[registry]]\nhost = "${front.host}"\nsource = "client"\nclient_id = "ci"\nclient_secret_file = "${join(dir, "ci.secret")}"\nissuer = "http://127.0.0.1:1"\n`).env };
  let r = await get(front.host, clientEnv);
  assert.ok(!r.ok);
  assert.match(r.out, /chmod 600/);
  assert.ok(!r.out.includes("s3cret-value"));
  chmodSync(join(dir, "ci.secret"), 0o600);
  // This edge's challenge names its own /token, not the configured issuer: the secret stays here.
  r = await get(front.host, clientEnv);
  assert.ok(!r.ok);
  assert.match(r.out, /names the token endpoint "http:\/\/127\.0\.0\.1:\d+\/token", not one of the configured issuer "http:\/\/127\.0\.0\.1:1": the client secret is not sent/);
  assert.ok(!r.out.includes("s3cret-value"));
  // A broken configuration names the file and the entry.
  const broken = jobEnv({}, `[[registry]]\nhost = "${front.host}"\nsource = "magic"\n`).env;
  r = await get(front.host, broken);
  assert.ok(!r.ok);
  assert.match(r.out, /config\.toml: registry\[0\].*is not github-actions/);
});

// Security round 4, G1: for a host configured with a client id and secret, `get` answered the raw
// secret, and helm 4 and helm 3 then sent `Basic id:secret` to whatever token endpoint the registry's
// 401 named. The helper now fetches a registry login (at most 15 minutes, nothing granted by itself)
// at the configured issuer, after checking the challenge's realm, and answers that; a workload token
// is answered only to a registry whose challenge names its own token endpoint or the issuer.
test("finding G1: the credential helper never hands a client secret or a workload token to a realm nobody configured", async () => {
  const { keygen, localServer, startIssuer } = await import("./harness.mjs");
  const key = keygen();
  const issuer = await startIssuer(key, { ci: ["artifact-repository:org1/*:pull,push"] });
  started.push(issuer);
  const edge = await startWorker({ JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token` }, { port: 0 });
  started.push(edge);
  const edgeFront = await plainHttpFront(edge.url);
  started.push(edgeFront);
  const dir = tmp("client");
  writeFileSync(join(dir, "ci.secret"), "ci-secret\n");
  chmodSync(join(dir, "ci.secret"), 0o600);
  const client = (host) => `[[registry]]\nhost = "${host}"\nsource = "client"\nclient_id = "ci"\nclient_secret_file = "${join(dir, "ci.secret")}"\nissuer = "${issuer.url}"\n`;
  const helper = join(bin, "docker-credential-chartgate");

  // What the helper answers: a registry login of the issuer, never the secret.
  const ci = jobEnv({}, client(edgeFront.host));
  const got = await runAsync(helper, ["get"], { env: ci.env, input: edgeFront.host });
  assert.ok(got.ok, got.out);
  const answer = JSON.parse(got.out);
  assert.equal(answer.Username, "token");
  assert.ok(!got.out.includes("ci-secret"), "the secret is not answered");
  const claims = JSON.parse(Buffer.from(answer.Secret.split(".")[1], "base64url"));
  assert.ok(claims.exp - claims.iat <= 900, "at most 15 minutes");
  assert.deepEqual(claims.access ?? [], [], "it grants nothing by itself");
  assert.equal((await fetch(`${edge.url}/org1/repo1/index.yaml`, { headers: { authorization: `Bearer ${answer.Secret}` } })).status, 403);

  // helm 4 and helm 3 push and pull with it: /token narrows it to the scope each request names.
  for (const [h, name] of [[{ name: "helm 4", bin: HELM }, "clientpush"], [{ name: "helm 3", bin: HELM3 }, "clientpush3"]]) {
    const chart = makeChartRepo(name, "1.0.0");
    const job = jobEnv({}, client(edgeFront.host));
    writeFileSync(job.registry[1], JSON.stringify({ credHelpers: { [edgeFront.host]: "chartgate" } }));
    await helmOk(h, ["push", join(chart.dir, chart.file), `oci://${edgeFront.host}/org1/repo1`, "--plain-http", ...job.registry], { env: job.env });
    const dest = tmp("client-pull");
    await helmOk(h, ["pull", `oci://${edgeFront.host}/org1/repo1/${name}`, "--version", "1.0.0", "--plain-http", "--destination", dest, ...job.registry], { env: job.env });
    assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
    const refused = await helmFails(h, ["push", join(chart.dir, chart.file), `oci://${edgeFront.host}/org2/repo1`, "--plain-http", ...job.registry], { env: job.env });
    assert.match(refused, /40[13]|denied|unauthorized/i, "nothing beyond the client's grant");
  }

  // A registry whose challenge names another token endpoint: a capture server on loopback.
  const seen = [];
  const capture = await localServer((req, res) => {
    seen.push(req.headers.authorization ?? "");
    res.writeHead(200, { "content-type": "application/json" }).end('{"token":"x","access_token":"x"}');
  });
  started.push(capture);
  const hostile = await localServer((req, res) => {
    res.writeHead(401, { "www-authenticate": `Bearer realm="${capture.url}/token",service="chartgate"` }).end();
  });
  started.push(hostile);
  const hostileHost = new URL(hostile.url).host;
  const victim = jobEnv({}, client(hostileHost));
  writeFileSync(victim.registry[1], JSON.stringify({ credHelpers: { [hostileHost]: "chartgate" } }));
  const refused = await runAsync(helper, ["get"], { env: victim.env, input: hostileHost });
  assert.ok(!refused.ok);
  assert.match(refused.out, /names the token endpoint "http:\/\/127\.0\.0\.1:\d+\/token", not one of the configured issuer/);
  for (const h of [{ name: "helm 4", bin: HELM }, { name: "helm 3", bin: HELM3 }]) {
    await helmFails(h, ["pull", `oci://${hostileHost}/org1/repo1/x`, "--version", "1.0.0", "--plain-http", "--destination", tmp("x"), ...victim.registry], { env: victim.env });
  }
  assert.ok(seen.every((a) => a === ""), `the capture server received no credential: ${JSON.stringify(seen)}`);

  // The same for a CI job's workload token: only to the registry's own /token or the issuer.
  const job = jobEnv({ repository: "acme/app", ref: "refs/tags/v1.0.0" }, `[[registry]]\nhost = "${hostileHost}"\nsource = "github-actions"\n`);
  writeFileSync(job.registry[1], JSON.stringify({ credHelpers: { [hostileHost]: "chartgate" } }));
  const workload = await runAsync(helper, ["get"], { env: job.env, input: hostileHost });
  assert.ok(!workload.ok);
  assert.match(workload.out, /neither its own nor the issuer configured for it/);
  assert.ok(!/eyJ/.test(workload.out), "no token handed out");
  await helmFails({ name: "helm 4", bin: HELM }, ["pull", `oci://${hostileHost}/org1/repo1/x`, "--version", "1.0.0", "--plain-http", "--destination", tmp("x"), ...job.registry], { env: job.env });
  assert.ok(seen.every((a) => a === ""), "nor the job's token");
});
