// Real helm 4 against the worker's OCI registry in workerd, logging in at a real issuer
// (`chartgate serve`): registry login, push, pull by version and by range, show, template,
// dependency update with an oci:// dependency, logout, and helm's messages for an expired token,
// a pull-only token pushing and a wrong repository.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { disposeAfter, HELM, helm, helmEnv, keygen, makeChartRepo, mint, startIssuer, startWorker, tmp } from "./harness.mjs";

const started = disposeAfter(after);
let key, chart, worker, host, issuer;

before(async () => {
  key = keygen();
  issuer = await startIssuer(key, {
    ci: ["artifact-repository:org1/*:pull,push"],
    reader: ["artifact-repository:org1/*:pull"],
  });
  started.push(issuer);
  chart = makeChartRepo("hello", "0.1.0");
  worker = await startWorker(
    { JWKS: key.jwks, ISSUER: "https://issuer.test", REALM: `${issuer.url}/token`, SERVICE: "chartgate" },
    { port: 0 },
  );
  started.push(worker);
  host = worker.url.replace(/^http:\/\//, "");
});

function helmFails(args, opts) {
  try {
    helm(args, opts);
  } catch (e) {
    return e.stderr;
  }
  assert.fail(`helm ${args.join(" ")} should have failed`);
}

/** helm's stdout and stderr together (push reports on stderr). */
function helmAll(args, { env }) {
  const r = spawnSync(HELM, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout + r.stderr;
}

function login(env, user, password) {
  helm(["registry", "login", host, "--plain-http", "--username", user, "--password-stdin"], { env, input: password });
}

test("helm 4: registry login, push, pull by version and range, show, template, logout", () => {
  const env = helmEnv();
  login(env, "ci", "ci-secret");
  const pushed = helmAll(["push", join(chart.dir, chart.file), `oci://${host}/org1/repo1`, "--plain-http"], { env });
  assert.match(pushed, /Pushed: .*org1\/repo1\/hello:0\.1\.0/);
  assert.match(pushed, /Digest: sha256:[0-9a-f]{64}/);
  const dest = tmp("oci-pull");
  helm(["pull", `oci://${host}/org1/repo1/hello`, "--version", "0.1.0", "--plain-http", "--destination", dest], {
    env,
  });
  assert.deepEqual(readFileSync(join(dest, chart.file)), chart.tgz, "the same archive comes back");
  const ranged = tmp("oci-range");
  helm(["pull", `oci://${host}/org1/repo1/hello`, "--version", "^0.1", "--plain-http", "--destination", ranged], {
    env,
  });
  assert.deepEqual(readdirSync(ranged), [chart.file]);
  const shown = helm(["show", "chart", `oci://${host}/org1/repo1/hello`, "--version", "0.1.0", "--plain-http"], { env });
  assert.match(shown, /name: hello/);
  const rendered = helm(
    ["template", "demo", `oci://${host}/org1/repo1/hello`, "--version", "0.1.0", "--plain-http"],
    { env },
  );
  assert.match(rendered, /name: demo-hello/);
  helm(["registry", "logout", host], { env });
  const out = helmFails(["pull", `oci://${host}/org1/repo1/hello`, "--version", "0.1.0", "--plain-http"], { env });
  assert.match(out, /401|unauthorized|authorization/i, out);
});

test("helm 4: dependency update with an oci:// dependency", () => {
  const env = helmEnv();
  login(env, "ci", "ci-secret");
  const other = makeChartRepo("dep", "1.2.3");
  helm(["push", join(other.dir, other.file), `oci://${host}/org1/repo1`, "--plain-http"], { env });
  const dir = tmp("umbrella-oci");
  writeFileSync(
    join(dir, "Chart.yaml"),
    `apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: dep\n    version: 1.2.3\n    repository: "oci://${host}/org1/repo1"\n`,
  );
  helm(["dependency", "update", dir, "--plain-http"], { env });
  assert.deepEqual(readdirSync(join(dir, "charts")), [other.file]);
});

test("helm 4: a chartgate token as the registry password works for oci:// too", () => {
  const env = helmEnv();
  const token = mint(key, "artifact-repository:org1/repo1:pull,push", { extra: ["--iss", "https://issuer.test"] });
  login(env, "token", token);
  const other = makeChartRepo("bytoken", "0.2.0");
  helm(["push", join(other.dir, other.file), `oci://${host}/org1/repo1`, "--plain-http"], { env });
  const dest = tmp("oci-token");
  helm(["pull", `oci://${host}/org1/repo1/bytoken`, "--version", "0.2.0", "--plain-http", "--destination", dest], {
    env,
  });
  assert.deepEqual(readdirSync(dest), [other.file]);
});

test("helm 4's messages: an expired token, a pull-only token pushing, a wrong repository, a released version", () => {
  const expired = mint(key, "artifact-repository:org1/repo1:pull", {
    now: Math.floor(Date.now() / 1000) - 3600,
    extra: ["--iss", "https://issuer.test"],
  });
  const e1 = helmFails(["registry", "login", host, "--plain-http", "--username", "token", "--password-stdin"], {
    input: expired,
  });
  assert.match(e1, /expired/i, e1);

  const reader = helmEnv();
  login(reader, "reader", "reader-secret");
  const other = makeChartRepo("readonly", "0.1.0");
  const e2 = helmFails(["push", join(other.dir, other.file), `oci://${host}/org1/repo1`, "--plain-http"], {
    env: reader,
  });
  assert.match(e2, /push/i, e2);
  assert.match(e2, /401|denied|unauthorized/i, e2);

  const e3 = helmFails(["pull", `oci://${host}/org2/repo1/hello`, "--version", "0.1.0", "--plain-http"], {
    env: reader,
  });
  assert.match(e3, /org2\/repo1\/hello/, e3);

  const writer = helmEnv();
  login(writer, "ci", "ci-secret");
  const again = makeChartRepo("hello", "0.1.0"); // a new build of a released version: another digest
  const e4 = helmFails(["push", join(again.dir, again.file), `oci://${host}/org1/repo1`, "--plain-http"], {
    env: writer,
  });
  assert.match(e4, /immutable/i, e4);
  if (process.env.SHOW_MESSAGES) console.log([e1, e2, e3, e4].join("\n---\n"));
});
