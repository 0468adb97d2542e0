// Real helm (v4, the binary from npm) against the worker in workerd on loopback: tokened repo
// URLs, Basic auth with --password-stdin, repo update, pull, template --repo, dependency update,
// and helm's failure messages for an expired and a wrong-scope token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { helm, helmEnv, keygen, makeChartRepo, mint, startWorker, tmp } from "./harness.mjs";

const PULL = "artifact-repository:org1/repo1:pull";
let key, repo, worker, base;

before(async () => {
  key = keygen();
  repo = makeChartRepo("hello", "0.1.0");
  worker = await startWorker({ JWKS: key.jwks }, { port: 0 });
  base = `${worker.url}/org1/repo1`;
  // Published through the edge's API: its index keeps chart URLs relative, as `helm repo index` does.
  const push = mint(key, "artifact-repository:org1/repo1:push");
  const res = await fetch(`${worker.url}/api/org1/repo1/charts`, { method: "POST", headers: { authorization: `Bearer ${push}` }, body: repo.tgz });
  assert.equal(res.status, 201, await res.text());
  const index = await (await fetch(`${base}/index.yaml`, { headers: { authorization: `Bearer ${mint(key, PULL)}` } })).text();
  assert.deepEqual(JSON.parse(index).entries.hello[0].urls, ["charts/hello-0.1.0.tgz"], "the index keeps chart URLs relative");
});

after(async () => worker?.mf.dispose());

function helmFails(args, opts) {
  try {
    helm(args, opts);
  } catch (e) {
    return e.stderr;
  }
  assert.fail(`helm ${args.join(" ")} should have failed`);
}

test("helm repo add with ?token=, repo update, pull", () => {
  const env = helmEnv();
  const token = mint(key, PULL);
  helm(["repo", "add", "charts", `${base}?token=${token}`], { env });
  helm(["repo", "update"], { env });
  const search = helm(["search", "repo", "charts/hello"], { env });
  assert.match(search, /charts\/hello\s+0\.1\.0/);
  const dest = tmp("pull");
  helm(["pull", "charts/hello", "--version", "0.1.0", "--destination", dest], { env });
  assert.deepEqual(readFileSync(join(dest, repo.file)), repo.tgz);
});

test("helm repo add --username --password-stdin (Basic auth), then pull", () => {
  const env = helmEnv();
  const token = mint(key, PULL);
  helm(["repo", "add", "basic", base, "--username", "token", "--password-stdin"], { env, input: token });
  const dest = tmp("pull-basic");
  helm(["pull", "basic/hello", "--destination", dest], { env });
  assert.ok(existsSync(join(dest, repo.file)));
});

test("helm template --repo with a tokened URL", () => {
  const token = mint(key, PULL);
  const out = helm(["template", "demo", "hello", "--repo", `${base}?token=${token}`, "--version", "0.1.0"]);
  assert.match(out, /kind: Deployment/);
  assert.match(out, /name: demo-hello/);
});

test("helm dependency update with a tokened repository URL", () => {
  const token = mint(key, PULL);
  const dir = tmp("umbrella");
  writeFileSync(
    join(dir, "Chart.yaml"),
    `apiVersion: v2\nname: umbrella\nversion: 1.0.0\ndependencies:\n  - name: hello\n    version: 0.1.0\n    repository: "${base}?token=${token}"\n`,
  );
  helm(["dependency", "update", dir]);
  assert.deepEqual(readdirSync(join(dir, "charts")), [repo.file]);
});

test("helm's failures: expired token (401) and wrong scope (403)", () => {
  const expired = mint(key, PULL, { now: Math.floor(Date.now() / 1000) - 3600 });
  const e1 = helmFails(["repo", "add", "expired", `${base}?token=${expired}`]);
  assert.match(e1, /401 Unauthorized/);
  const wrong = mint(key, "artifact-repository:org2/other:pull");
  const e2 = helmFails(["repo", "add", "wrong", `${base}?token=${wrong}`]);
  assert.match(e2, /403 Forbidden/);
  const none = helmFails(["repo", "add", "none", base]);
  assert.match(none, /401 Unauthorized/);
});
