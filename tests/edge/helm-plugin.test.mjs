// The helm downloader plugin (helm-plugin/, issue 25, first part): `helm repo add … chartgate+http://…`
// then repo update, search, pull, template, install --dry-run=client (helm 4) and dependency update, with real
// helm 4 and helm 3, each fetch taking a fresh workload token (GitHub Actions' token service, played
// by oidc.mjs) against the edge with a trust policy and no issuer; repositories.yaml holds no token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { CHARTGATE, HELM, HELM3, ROOT, disposeAfter, helmEnv, helmFails, helmOk, makeChartRepo, startWorker, tmp } from "./harness.mjs";
import { acmePolicy, github, startProvider } from "./oidc.mjs";

const started = disposeAfter(after);
let gh, worker, host;

before(async () => {
  gh = await startProvider();
  started.push(gh);
  worker = await startWorker({ TRUST_POLICIES: JSON.stringify([acmePolicy(gh.issuer)]), REALM: "/token" }, { port: 0 });
  started.push(worker);
  host = new URL(worker.url).host;
  const release = gh.mint(github({ aud: "https://charts.example.com" }));
  for (const [name, version] of [["plugged", "1.0.0"], ["plugged", "1.1.0"], ["dep", "0.1.0"]]) {
    const chart = makeChartRepo(name, version);
    const r = await fetch(`${worker.url}/api/acme/charts/charts`, { method: "POST", headers: { Authorization: `Bearer ${release}` }, body: chart.tgz });
    assert.equal(r.status, 201, await r.text());
  }
});

function jobEnv(job) {
  gh.job = job;
  const env = {
    ...helmEnv(),
    CHARTGATE_BIN: CHARTGATE,
    ACTIONS_ID_TOKEN_REQUEST_URL: gh.requestUrl,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: gh.requestToken,
    XDG_CONFIG_HOME: tmp("xdg"),
  };
  mkdirSync(join(env.XDG_CONFIG_HOME, "chartgate"), { recursive: true });
  writeFileSync(join(env.XDG_CONFIG_HOME, "chartgate/config.toml"), `[[registry]]\nhost = "${host}"\nsource = "github-actions"\naudience = "https://charts.example.com"\n`);
  return env;
}

for (const h of [{ name: "helm 4", bin: HELM }, { name: "helm 3", bin: HELM3 }]) {
  test(`${h.name}: a chartgate+http:// repository through the plugin, a fresh token per fetch, none stored`, async () => {
    const env = jobEnv({ repository: "acme/deploy", ref: "refs/heads/main" });
    const install = h.name === "helm 4" ? ["plugin", "install", join(ROOT, "helm-plugin"), "--verify=false"] : ["plugin", "install", join(ROOT, "helm-plugin")];
    await helmOk(h, install, { env });
    const repo = `chartgate+http://${host}/acme/charts`;
    await helmOk(h, ["repo", "add", "acme", repo], { env });
    await helmOk(h, ["repo", "update"], { env });
    assert.match(await helmOk(h, ["search", "repo", "acme/plugged", "--versions"], { env }), /acme\/plugged\s+1\.1\.0[\s\S]*acme\/plugged\s+1\.0\.0/);
    const dest = tmp("plugged");
    await helmOk(h, ["pull", "acme/plugged", "--version", "1.0.0", "--destination", dest], { env });
    assert.ok(readFileSync(join(dest, "plugged-1.0.0.tgz")).length > 0);
    assert.match(await helmOk(h, ["template", "demo", "acme/plugged", "--version", "1.1.0"], { env }), /name: demo-plugged/);
    if (h.name === "helm 4") {
      // helm 3's client-side dry run still asks a cluster for its version; `template` above is its equivalent.
      assert.match(await helmOk(h, ["install", "demo", "acme/plugged", "--dry-run=client"], { env }), /NAME: demo/);
    }
    const umbrella = join(tmp("umbrella"), "umbrella");
    mkdirSync(umbrella);
    writeFileSync(join(umbrella, "Chart.yaml"), `apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: dep\n    version: 0.1.0\n    repository: "${repo}"\n`);
    await helmOk(h, ["dependency", "update", umbrella], { env });
    assert.ok(readFileSync(join(umbrella, "charts", "dep-0.1.0.tgz")).length > 0);
    const repositories = readFileSync(join(env.HELM_CONFIG_HOME, "repositories.yaml"), "utf8");
    assert.match(repositories, /password: ""/);
    assert.ok(!/password: "[^"]|username: "[^"]|token=|eyJ/.test(repositories), `repositories.yaml holds no credential:\n${repositories}`);
    // A job the policy does not know gets a clear refusal, not a chart.
    const fork = jobEnv({ repository: "evil/app", ref: "refs/heads/main" });
    await helmOk(h, install, { env: fork });
    const out = await helmFails(h, ["repo", "add", "evil", repo], { env: fork });
    assert.match(out, /401/);
  });
}

test("helm 4: a client of the issuer through the plugin: each fetch asks the issuer for a 15-minute token of the one scope the edge's challenge names", async () => {
  const { chmodSync } = await import("node:fs");
  const { keygen, mint, startIssuer } = await import("./harness.mjs");
  const key = keygen();
  const issuer = await startIssuer(key, { reader: ["artifact-repository:org1/*:pull"] });
  started.push(issuer);
  const edge = await startWorker({ JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/oauth/token` }, { port: 0 });
  started.push(edge);
  const chart = makeChartRepo("issued", "2.0.0");
  const push = mint(key, "artifact-repository:org1/repo1:push", { extra: ["--iss", "https://issuer.test"] });
  assert.equal((await fetch(`${edge.url}/api/org1/repo1/charts`, { method: "POST", headers: { Authorization: `Bearer ${push}` }, body: chart.tgz })).status, 201);
  const edgeHost = new URL(edge.url).host;
  const env = { ...helmEnv(), CHARTGATE_BIN: CHARTGATE, XDG_CONFIG_HOME: tmp("xdg") };
  const dir = join(env.XDG_CONFIG_HOME, "chartgate");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "reader.secret"), "reader-secret\n");
  chmodSync(join(dir, "reader.secret"), 0o600);
  writeFileSync(join(dir, "config.toml"), `[[registry]]\nhost = "${edgeHost}"\nsource = "client"\nclient_id = "reader"\nclient_secret_file = "reader.secret"\nissuer = "${issuer.url}"\n`);
  const h = { name: "helm 4", bin: HELM };
  await helmOk(h, ["plugin", "install", join(ROOT, "helm-plugin"), "--verify=false"], { env });
  await helmOk(h, ["repo", "add", "org1", `chartgate+http://${edgeHost}/org1/repo1`], { env });
  const dest = tmp("issued");
  await helmOk(h, ["pull", "org1/issued", "--version", "2.0.0", "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz);
  // The client may read org1 only: another organisation's repository is refused, by name.
  const out = await helmFails(h, ["repo", "add", "org2", `chartgate+http://${edgeHost}/org2/repo1`], { env });
  assert.match(out, /issuer refused the client|403|invalid_scope/);
});
