// docs/ci.md's recipes bind CI identities by what cannot be renamed: a repository, organisation,
// project or group deleted (or renamed) and registered again under the same name by someone else
// carries the same names in its jobs' tokens (`repository`, `sub`, `workflow_ref`,
// `project_path`…) but other numeric ids (`repository_id`, `repository_owner_id`, `project_id`,
// `namespace_id`), and a service account created again another `uid`. The recipes' policies, read
// from docs/ci.md, run in workerd against local providers (oidc.mjs); the re-created identity gets
// no push at the edge, with real helm 4 and over the upload API.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import { HELM, auditLines, disposeAfter, helmEnv, helmFails, helmOk, makeChartRepo, plainHttpFront, startWorker } from "./harness.mjs";
import { IDS, github, gitlab, kubernetes, recipePolicy, startProvider } from "./oidc.mjs";

const AUD = "https://charts.example.com";
const started = disposeAfter(after);
let gh, gl, k8s, worker, front, chart;

before(async () => {
  gh = await startProvider({ alg: "RS256" });
  gl = await startProvider({ alg: "RS256" });
  k8s = await startProvider({ alg: "ES256" });
  started.push(gh, gl, k8s);
  const policies = [
    recipePolicy("github", { issuer: gh.issuer }),
    recipePolicy("gitlab", { issuer: gl.issuer }),
    recipePolicy("kubernetes", { issuer: k8s.issuer, keys: JSON.stringify({ keys: [k8s.key.jwk] }) }),
  ];
  worker = await startWorker({ TRUST_POLICIES: JSON.stringify(policies), REALM: "/token", SERVICE: "chartgate" }, { port: 0 });
  started.push(worker);
  front = await plainHttpFront(worker.url);
  started.push(front);
  chart = makeChartRepo("ids", "1.0.0");
});

/** Uploads the chart through the ChartMuseum API of `repo` with `token`: the status and reason. */
async function upload(repo, token, tgz = chart.tgz) {
  const res = await fetch(`${worker.url}/api/${repo}/charts`, { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: tgz });
  const body = await res.json().catch(() => ({}));
  return { status: res.status, reason: body.reason ?? body.error };
}

/** What `token` may do on `repo`: [status of a read, status and reason of an upload]. */
async function reach(repo, token) {
  const read = await fetch(`${worker.url}/${repo}/index.yaml`, { headers: { Authorization: `Bearer ${token}` } });
  return { read: read.status, push: await upload(repo, token) };
}

test("GitHub Actions: a repository re-created under the same name (another repository_id) cannot push; its organisation re-registered gets nothing", async () => {
  // The real acme/app releases.
  const real = gh.mint(github({ aud: AUD }));
  assert.equal(github({ aud: AUD }).repository_id, IDS["acme/app"]);
  assert.equal((await upload("acme/charts", real)).status, 201);
  // acme/app deleted and created again in the organisation: same repository, sub and
  // workflow_ref, another id. The organisation's pull, never the release push.
  const recreated = gh.mint(github({ aud: AUD, repository_id: "999999999" }));
  assert.equal(JSON.parse(Buffer.from(recreated.split(".")[1], "base64url")).sub, "repo:acme/app:ref:refs/tags/v1.0.0");
  const r = await reach("acme/charts", recreated);
  assert.equal(r.read, 200);
  assert.deepEqual(r.push, { status: 403, reason: "insufficient_scope" });
  // With real helm: the login verifies (the organisation may pull), the push is refused.
  const env = helmEnv();
  await helmOk({ bin: HELM }, ["registry", "login", front.host, "--plain-http", "--username", "oidc", "--password-stdin"], { env, input: recreated });
  const next = makeChartRepo("ids", "1.0.1");
  const out = await helmFails({ bin: HELM }, ["push", join(next.dir, next.file), `oci://${front.host}/acme/charts`, "--plain-http"], { env });
  assert.match(out, /403|denied|forbidden|insufficient/i);
  // The organisation's name freed and registered again by someone else: nothing at all.
  const taken = gh.mint(github({ aud: AUD, repository_id: "999999999", repository_owner_id: "31337" }));
  const t = await reach("acme/charts", taken);
  assert.equal(t.read, 401);
  assert.deepEqual(t.push, { status: 401, reason: "no_trust_rule" });
  const line = auditLines(worker.logs).filter((l) => l.decision === "deny" && l.reason === "no_trust_rule").at(-1);
  assert.ok(line, "the refusal is audited");
});

test("GitLab CI: a project re-created under the same path (another project_id) cannot push; nor a branch named like the tag; its group re-registered gets nothing", async () => {
  // A release pipeline of grp/app as the recipe asks: a protected tag, its own .gitlab-ci.yml at that tag.
  const release = (extra = {}) => gl.mint(gitlab({ aud: AUD, ci_config_ref_uri: "gitlab.com/grp/app//.gitlab-ci.yml@refs/tags/v1.0.0", ...extra }));
  const real = release();
  assert.equal((await upload("grp/charts", real)).status, 201);
  const recreated = release({ project_id: "99999999" });
  assert.deepEqual((await reach("grp/charts", recreated)).push, { status: 403, reason: "insufficient_scope" });
  const branch = release({ ref: "v1.0.0", ref_type: "branch" });
  assert.deepEqual((await reach("grp/charts", branch)).push, { status: 403, reason: "insufficient_scope" });
  const unprotected = release({ ref_protected: "false" });
  assert.deepEqual((await reach("grp/charts", unprotected)).push, { status: 403, reason: "insufficient_scope" });
  const taken = release({ project_id: "99999999", namespace_id: "31337" });
  const t = await reach("grp/charts", taken);
  assert.equal(t.read, 401);
  assert.deepEqual(t.push, { status: 401, reason: "no_trust_rule" });
});

test("Kubernetes: the publisher's service account re-created under its name (another uid) cannot push", async () => {
  const real = k8s.mint(kubernetes({ aud: AUD, namespace: "release", serviceaccount: "chart-publisher" }));
  assert.equal((await upload("acme/charts", real, makeChartRepo("pub", "1.0.0").tgz)).status, 201);
  const claims = kubernetes({ aud: AUD, namespace: "release", serviceaccount: "chart-publisher" });
  claims["kubernetes.io"].serviceaccount.uid = "0b7c2d4e-1111-4a2b-8c3d-5e6f7a8b9c0d";
  const recreated = k8s.mint(claims);
  assert.deepEqual((await reach("acme/charts", recreated)).push, { status: 401, reason: "no_trust_rule" });
});
