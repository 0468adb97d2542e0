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
  r = await get(front.host, clientEnv);
  assert.deepEqual(JSON.parse(r.out), { ServerURL: front.host, Username: "ci", Secret: "s3cret-value" });
  // A broken configuration names the file and the entry.
  const broken = jobEnv({}, `[[registry]]\nhost = "${front.host}"\nsource = "magic"\n`).env;
  r = await get(front.host, broken);
  assert.ok(!r.ok);
  assert.match(r.out, /config\.toml: registry\[0\].*is not github-actions/);
});
